//! The agent's local OTLP receiver end to end: spans (OTLP/HTTP and OTLP/gRPC), log
//! records and metrics are sent to the agent while the server is down; the agent is
//! SIGKILLed and restarted with them queued; when the server comes up each span, log
//! record and sample is there exactly once (Tempo's trace by id, Loki's query_range, the
//! export API), and the agent's /metrics shows the traces queue filling and draining.
//! Requests are built with opentelemetry-proto. Only loopback; every wait is bounded.

mod common;

use std::time::Duration;

use common::agent::Agent;
use common::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

const WAIT: Duration = Duration::from_secs(90);
const HTTP_TRACE: &str = "5b8efff798038103d269b633813fc60c";
const GRPC_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", service)],
        ..Default::default()
    })
}

fn spans(trace: &str, n: usize, start: u64) -> ExportTraceServiceRequest {
    let spans = (0..n)
        .map(|i| Span {
            trace_id: hex(trace),
            span_id: vec![0, 0, 0, 0, 0, 0, 0, i as u8 + 1],
            parent_span_id: if i == 0 {
                vec![]
            } else {
                vec![0, 0, 0, 0, 0, 0, 0, 1]
            },
            name: format!("op {i}"),
            kind: 2,
            start_time_unix_nano: start + i as u64 * 1_000_000,
            end_time_unix_nano: start + i as u64 * 1_000_000 + 500_000,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("shop"),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs(range: std::ops::Range<usize>, start: u64) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("otlp-shop"),
            scope_logs: vec![ScopeLogs {
                log_records: range
                    .map(|i| LogRecord {
                        time_unix_nano: start + i as u64 * 1_000_000,
                        severity_text: "INFO".into(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(format!("otlp log {i:03}"))),
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gauge(v: f64, at: u64) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("shop"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "room.temperature".into(),
                    unit: "Cel".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            attributes: vec![kv("room", "lab")],
                            time_unix_nano: at,
                            value: Some(number_data_point::Value::AsDouble(v)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn post(agent: &Agent, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let r = client()
        .post(format!("http://{}{path}", agent.addr))
        .header("Content-Type", "application/x-protobuf")
        .body(body)
        .send()
        .expect("agent answers");
    (
        r.status().as_u16(),
        r.bytes().map(|b| b.to_vec()).unwrap_or_default(),
    )
}

fn trace_spans(srv: &Server, id: &str) -> Vec<String> {
    let (code, v) = srv.get_json(&format!("/api/v2/traces/{id}"), None);
    if code != 200 {
        return Vec::new();
    }
    let mut names: Vec<String> = v["trace"]["resourceSpans"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|b| {
            b["scopeSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
        })
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

fn log_lines(srv: &Server) -> Vec<String> {
    agent::log_lines(srv, "{service_name=\"otlp-shop\"}")
}

#[test]
fn otlp_sent_to_the_agent_during_an_outage_arrives_once() {
    let dir = TestDir::new();
    let listen = format!("127.0.0.1:{}", free_tcp_port());
    let grpc = free_tcp_port();
    let agent_dir = dir.tmp.path().join("agent");
    let cfg = format!("host_metrics: false\notlp: {{grpc_listen: '127.0.0.1:{grpc}'}}\n");
    let server = format!("http://{listen}");
    let mut agent = Agent::start(&server, &agent_dir, &cfg);
    let start = now_ns() - 30_000_000_000;

    // The server is down: everything is answered once queued.
    let (code, body) = post(
        &agent,
        "/v1/traces",
        spans(HTTP_TRACE, 2, start).encode_to_vec(),
    );
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
            .await
            .expect("grpc connect");
        c.export(spans(GRPC_TRACE, 3, start))
            .await
            .expect("grpc export");
    });
    let (code, _) = post(&agent, "/v1/logs", logs(0..5, start).encode_to_vec());
    assert_eq!(code, 200);
    let (code, _) = post(&agent, "/v1/metrics", gauge(21.5, start).encode_to_vec());
    assert_eq!(code, 200);
    // A body that is not OTLP is refused with the reason, and nothing is queued.
    let (code, body) = post(&agent, "/v1/traces", b"\xff\xffnot protobuf".to_vec());
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));

    assert_eq!(
        agent.metric("lookout_agent_otlp_received_spans_total"),
        Some(5.0)
    );
    assert_eq!(
        agent.metric("lookout_agent_queue_records{signal=\"traces\"}"),
        Some(2.0)
    );
    assert_eq!(
        agent.metric("lookout_agent_queue_records{signal=\"logs\"}"),
        Some(1.0)
    );
    wait_for(
        WAIT,
        "the traces sender to fail against the absent server",
        || {
            (agent.metric("lookout_agent_server_failing{signal=\"traces\"}") == Some(1.0))
                .then_some(())
        },
    );

    // SIGKILL with all of it queued; a little more after the restart.
    agent.kill9();
    let agent = Agent::start(&server, &agent_dir, &cfg);
    assert_eq!(
        agent.metric("lookout_agent_queue_records{signal=\"traces\"}"),
        Some(2.0)
    );
    let (code, _) = post(&agent, "/v1/logs", logs(5..8, start).encode_to_vec());
    assert_eq!(code, 200);

    let srv = Server::start_real_clock_on(&dir.data(), Some("scrape_configs: []\n"), &listen);
    wait_for(WAIT, "every queue to drain", || {
        ["traces", "logs", "metrics"]
            .iter()
            .all(|s| {
                agent.metric(&format!("lookout_agent_queue_records{{signal=\"{s}\"}}")) == Some(0.0)
            })
            .then_some(())
    });
    assert_eq!(trace_spans(&srv, HTTP_TRACE), ["op 0", "op 1"]);
    assert_eq!(trace_spans(&srv, GRPC_TRACE), ["op 0", "op 1", "op 2"]);
    let want: Vec<String> = (0..8).map(|i| format!("otlp log {i:03}")).collect();
    assert_eq!(
        wait_for(WAIT, "the OTLP logs", || {
            let got = log_lines(&srv);
            (got.len() >= 8).then_some(got)
        }),
        want,
        "every record once, in order"
    );
    let temps = wait_for(WAIT, "the OTLP gauge", || {
        let s = srv.export("room_temperature_celsius", None);
        (!s.is_empty()).then_some(s)
    });
    assert_eq!(temps.len(), 1);
    assert_eq!(temps[0].samples, [((start / 1_000_000) as i64, 21.5)]);
    assert_eq!(temps[0].labels.get("job").map(String::as_str), Some("shop"));
    assert_eq!(temps[0].labels.get("room").map(String::as_str), Some("lab"));
    assert!(
        agent
            .metric("lookout_agent_sent_batches_total{signal=\"traces\"}")
            .unwrap_or(0.0)
            >= 2.0
    );
    assert_eq!(
        agent.metric("lookout_agent_rejected_batches_total{signal=\"traces\"}"),
        Some(0.0)
    );
}
