//! Spans in from the real OpenTelemetry Python SDK (OTLP/HTTP, OTLP/gRPC and Zipkin JSON
//! exporters, from test.sh's venv under target/otel-venv), out through the Tempo API as
//! JSON and as the protobuf Grafana asks for, found by tags, duration and TraceQL, and
//! drawn by `lookout traces get`. Then hostile clients: bad protobuf and JSON, zero and
//! short ids, oversize bodies and gzip bombs, each answered with a named 4xx.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use common::{enc, run_cli, Server, TestDir};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1 as otlp;
use prost::Message;
use serde_json::Value;

fn start(dir: &TestDir, extra: &str) -> (Server, u16) {
    let grpc = common::free_tcp_port();
    let config = format!("otlp: {{grpc_listen: '127.0.0.1:{grpc}'}}\n{extra}");
    (Server::start_real_clock(&dir.data(), Some(&config)), grpc)
}

/// One checkout trace across three services, each exported by another exporter:
/// frontend (OTLP/HTTP) → checkout (OTLP/gRPC) → payments (Zipkin JSON), which fails.
const SCRIPT: &str = r#"
import sys, time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.zipkin.json import ZipkinExporter

http_url, grpc_url, zipkin_url = sys.argv[1:4]

def provider(service, exporter):
    p = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "test"}))
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p

front = provider("frontend", HttpExporter(endpoint=http_url))
check = provider("checkout", GrpcExporter(endpoint=grpc_url, insecure=True))
pay = provider("payments", ZipkinExporter(endpoint=zipkin_url))

ft = front.get_tracer("shop.web", "1.2.0")
ct = check.get_tracer("shop.checkout")
pt = pay.get_tracer("shop.payments")

with ft.start_as_current_span("GET /checkout", kind=SpanKind.SERVER,
        attributes={"http.route": "/checkout", "http.status_code": 500, "sampled.ratio": 0.25,
                    "user.premium": True, "cart.skus": ["a-1", "b-2"]}) as root:
    with ft.start_as_current_span("call checkout", kind=SpanKind.CLIENT):
        with ct.start_as_current_span("process order", kind=SpanKind.SERVER,
                attributes={"order.items": 3}) as order:
            order.add_event("order.validated", {"items": 3, "currency": "EUR"})
            with ct.start_as_current_span("compute total", attributes={"total": 42.5}):
                time.sleep(0.03)
            with pt.start_as_current_span("charge card", kind=SpanKind.CLIENT,
                    attributes={"card.brand": "visa"}) as charge:
                time.sleep(0.03)
                charge.set_status(Status(StatusCode.ERROR, "card declined"))
    print(format(root.get_span_context().trace_id, "032x"))

for p in (front, check, pay):
    p.shutdown()
"#;

fn send_checkout(dir: &TestDir, srv: &Server, grpc: u16) -> String {
    let script = dir.file("send.py", SCRIPT);
    let out = Command::new(common::otel_python())
        .arg(&script)
        .arg(srv.url("/v1/traces"))
        .arg(format!("http://127.0.0.1:{grpc}"))
        .arg(srv.url("/api/v2/spans"))
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A span as the test checks it: (service, span).
fn spans_of_json(v: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for b in v.as_array().unwrap() {
        let svc = attr_json(&b["resource"]["attributes"], "service.name")["stringValue"]
            .as_str()
            .unwrap()
            .to_string();
        for ss in b["scopeSpans"].as_array().unwrap() {
            for s in ss["spans"].as_array().unwrap() {
                out.push((svc.clone(), s.clone()));
            }
        }
    }
    out
}

fn attr_json<'a>(attrs: &'a Value, key: &str) -> &'a Value {
    attrs
        .as_array()
        .and_then(|a| a.iter().find(|kv| kv["key"] == key))
        .map_or(&Value::Null, |kv| &kv["value"])
}

fn by_name<'a>(spans: &'a [(String, Value)], name: &str) -> &'a (String, Value) {
    spans
        .iter()
        .find(|(_, s)| s["name"] == name)
        .unwrap_or_else(|| panic!("no span {name:?} in {spans:?}"))
}

/// Tempo's `TraceByIDResponse`, as Grafana decodes it.
#[derive(Clone, PartialEq, Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<otlp::TracesData>,
    #[prost(int32, tag = "3")]
    status: i32,
}

fn get_protobuf(srv: &Server, path: &str) -> (u16, Vec<u8>) {
    let r = srv
        .client
        .get(srv.url(path))
        .header("Accept", "application/protobuf")
        .send()
        .unwrap();
    let code = r.status().as_u16();
    (code, r.bytes().unwrap().to_vec())
}

fn search_ids(srv: &Server, query: &str) -> Vec<String> {
    let (code, v) = srv.get_json(&format!("/api/search?{query}&limit=50"), None);
    assert_eq!(code, 200, "{query}: {v}");
    v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t["traceID"]
                .as_str()
                .unwrap()
                .trim_start_matches('0')
                .to_string()
        })
        .collect()
}

#[test]
fn python_sdk_spans_come_back_whole() {
    let dir = TestDir::new();
    let (srv, grpc) = start(&dir, "");
    let trace = send_checkout(&dir, &srv, grpc);
    assert_eq!(trace.len(), 32, "{trace}");

    // JSON, v1: every span once, under its own service, with its parent.
    let (code, v) = srv.get_json(&format!("/api/traces/{trace}"), None);
    assert_eq!(code, 200, "{v}");
    let spans = spans_of_json(&v["batches"]);
    assert_eq!(spans.len(), 5, "{v}");
    let (svc, root) = by_name(&spans, "GET /checkout");
    assert_eq!(svc, "frontend");
    assert!(root.get("parentSpanId").is_none(), "{root}");
    assert_eq!(root["kind"], 2);
    let attrs = &root["attributes"];
    assert_eq!(attr_json(attrs, "http.route")["stringValue"], "/checkout");
    assert_eq!(attr_json(attrs, "http.status_code")["intValue"], "500");
    assert_eq!(attr_json(attrs, "sampled.ratio")["doubleValue"], 0.25);
    assert_eq!(attr_json(attrs, "user.premium")["boolValue"], true);
    assert_eq!(
        attr_json(attrs, "cart.skus")["arrayValue"]["values"][1]["stringValue"],
        "b-2"
    );
    let (_, call) = by_name(&spans, "call checkout");
    assert_eq!(call["parentSpanId"], root["spanId"]);
    let (svc, order) = by_name(&spans, "process order");
    assert_eq!(svc, "checkout");
    assert_eq!(order["parentSpanId"], call["spanId"]);
    assert_eq!(order["events"][0]["name"], "order.validated");
    let ev = &order["events"][0]["attributes"];
    assert_eq!(attr_json(ev, "items")["intValue"], "3");
    assert_eq!(attr_json(ev, "currency")["stringValue"], "EUR");
    let (_, total) = by_name(&spans, "compute total");
    assert_eq!(total["parentSpanId"], order["spanId"]);
    let (svc, charge) = by_name(&spans, "charge card");
    assert_eq!(svc, "payments");
    assert_eq!(charge["parentSpanId"], order["spanId"]);
    assert_eq!(charge["status"]["code"], 2, "{charge}");
    assert_eq!(charge["status"]["message"], "card declined");
    assert_eq!(
        attr_json(&charge["attributes"], "card.brand")["stringValue"],
        "visa"
    );

    // Protobuf, v2 as Grafana asks for it: the same spans in a TraceByIDResponse.
    let (code, body) = get_protobuf(&srv, &format!("/api/v2/traces/{trace}"));
    assert_eq!(code, 200);
    let resp = TraceByIdResponse::decode(body.as_slice()).expect("TraceByIDResponse");
    assert_eq!(resp.status, 0);
    let data = resp.trace.expect("trace");
    let mut pb: Vec<(String, otlp::Span)> = Vec::new();
    for rs in &data.resource_spans {
        let svc = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .expect("service.name");
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                pb.push((svc.clone(), s.clone()));
            }
        }
    }
    assert_eq!(pb.len(), 5);
    let pspan = |name: &str| pb.iter().find(|(_, s)| s.name == name).expect(name);
    let (svc, charge_pb) = pspan("charge card");
    assert_eq!(svc, "payments");
    assert_eq!(charge_pb.parent_span_id, pspan("process order").1.span_id);
    assert_eq!(charge_pb.status.as_ref().unwrap().code, 2);
    let (_, order_pb) = pspan("process order");
    assert_eq!(order_pb.events[0].name, "order.validated");
    assert_eq!(
        order_pb.events[0].attributes[0]
            .value
            .as_ref()
            .unwrap()
            .value,
        Some(any_value::Value::IntValue(3))
    );
    assert!(pspan("GET /checkout").1.parent_span_id.is_empty());
    assert_eq!(hex(&charge_pb.trace_id), trace);
    // v1 as protobuf is the bare trace.
    let (code, body) = get_protobuf(&srv, &format!("/api/traces/{trace}"));
    assert_eq!(code, 200);
    assert_eq!(otlp::TracesData::decode(body.as_slice()).unwrap(), data);

    // Search: tags, duration, TraceQL by service, name, status and attribute.
    let want = trace.trim_start_matches('0').to_string();
    for q in [
        "tags=service.name%3Dcheckout".to_string(),
        format!("tags={}", enc("service.name=payments card.brand=visa")),
        "minDuration=50ms".to_string(),
        format!("q={}", enc(r#"{ resource.service.name = "payments" }"#)),
        format!("q={}", enc(r#"{ name = "compute total" }"#)),
        format!("q={}", enc("{ status = error }")),
        format!("q={}", enc("{ span.order.items = 3 }")),
        format!(
            "q={}",
            enc(r#"{ .http.route = "/checkout" && kind = server }"#)
        ),
        format!(
            "q={}",
            enc("{ duration > 20ms && resource.service.name = \"checkout\" }")
        ),
    ] {
        assert!(
            search_ids(&srv, &q).contains(&want),
            "{q} does not find {trace}"
        );
    }
    for q in [
        "tags=service.name%3Dnobody".to_string(),
        "minDuration=1h".to_string(),
        format!(
            "q={}",
            enc(r#"{ resource.service.name = "payments" && status = ok }"#)
        ),
    ] {
        assert!(!search_ids(&srv, &q).contains(&want), "{q} finds {trace}");
    }

    // The CLI draws the tree.
    let (code, out, err) = run_cli(
        &["traces", "get", &trace, "--server", &srv.url("")],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("trace 5 spans, 3 services,") && lines[0].ends_with("1 errors"),
        "{out}"
    );
    let starts = [
        "frontend GET /checkout ",
        "  frontend call checkout ",
        "    checkout process order ",
        "      checkout compute total ",
        "      payments charge card ",
    ];
    for (line, want) in lines[1..].iter().zip(starts) {
        assert!(line.starts_with(want), "{want:?} in\n{out}");
        assert!(line.contains("|") && line.contains('█'), "{out}");
    }
    assert!(lines[5].ends_with("✗ error: card declined"), "{out}");
    assert!(lines[1].contains("+0ns"), "{out}");

    let (code, out, err) = run_cli(
        &[
            "traces",
            "search",
            "{ status = error }",
            "--server",
            &srv.url(""),
            "--since",
            "1h",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{err}");
    let row = out
        .lines()
        .find(|l| l.contains(&trace[trace.len() - 16..]))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains("frontend") && row.ends_with("GET /checkout"),
        "{out}"
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
    }
}

fn request(spans: Vec<otlp::Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![otlp::ResourceSpans {
            resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                attributes: vec![kv(
                    "service.name",
                    any_value::Value::StringValue("h".into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![otlp::ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn span(trace: u8, id: u8) -> otlp::Span {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    otlp::Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        name: format!("s{id}"),
        start_time_unix_nano: now - 1_000_000,
        end_time_unix_nano: now,
        ..Default::default()
    }
}

fn post(srv: &Server, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    let mut rb = srv.client.post(srv.url(path)).body(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().unwrap();
    let code = r.status().as_u16();
    (code, r.bytes().unwrap().to_vec())
}

/// `google.rpc.Status`, an OTLP/HTTP error body.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

const PB: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

#[test]
fn otlp_http_partial_success_and_hostile_bodies() {
    let dir = TestDir::new();
    let (srv, _) = start(
        &dir,
        "limits: {max_body_size: 64KiB, max_decoded_body_size: 256KiB}\n",
    );

    // Protobuf, gzip: one good span, one with a zero trace id, one with a short span id.
    let mut short = span(7, 3);
    short.span_id.truncate(7);
    let req = request(vec![span(7, 1), span(0, 2), short]);
    let (code, body) = post(
        &srv,
        "/v1/traces",
        gzip(&req.encode_to_vec()),
        &[PB, ("content-encoding", "gzip")],
    );
    assert_eq!(code, 200);
    let resp = ExportTraceServiceResponse::decode(body.as_slice()).unwrap();
    let partial = resp.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 2);
    assert!(
        partial.error_message.contains("all-zero trace_id"),
        "{}",
        partial.error_message
    );
    let (code, v) = srv.get_json(&format!("/api/traces/{}", "07".repeat(16)), None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(spans_of_json(&v["batches"]).len(), 1);

    // JSON: hex ids, camelCase, enums by number or name; the answer is JSON too.
    let body = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"js"}}}}]}},
          "scopeSpans":[{{"spans":[{{"traceId":"{t}","spanId":"00000000000000a1","name":"json root","kind":"SPAN_KIND_SERVER",
          "startTimeUnixNano":"{s}","endTimeUnixNano":"{e}","status":{{"code":2}},
          "attributes":[{{"key":"m","value":{{"kvlistValue":{{"values":[{{"key":"a","value":{{"intValue":"1"}}}}]}}}}}}]}},
          {{"traceId":"{t}","spanId":"0000000000000000","name":"zero"}}]}}]}}]}}"#,
        t = "0a".repeat(16),
        s = span(1, 1).start_time_unix_nano,
        e = span(1, 1).end_time_unix_nano,
    );
    let (code, body) = post(&srv, "/v1/traces", body.into_bytes(), &[JSON]);
    assert_eq!(code, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["partialSuccess"]["rejectedSpans"], "1", "{v}");
    assert!(v["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap()
        .contains("all-zero span_id"));
    let (code, v) = srv.get_json(&format!("/api/traces/{}", "0a".repeat(16)), None);
    assert_eq!(code, 200);
    let s = &spans_of_json(&v["batches"])[0].1;
    assert_eq!(
        (s["kind"].clone(), s["status"]["code"].clone()),
        (2.into(), 2.into())
    );
    assert_eq!(
        attr_json(&s["attributes"], "m")["kvlistValue"]["values"][0]["value"]["intValue"],
        "1"
    );

    // Only bad spans: a 400 that says why.
    let (code, body) = post(
        &srv,
        "/v1/traces",
        request(vec![span(0, 1)]).encode_to_vec(),
        &[PB],
    );
    assert_eq!(code, 400);
    let st = RpcStatus::decode(body.as_slice()).unwrap();
    assert_eq!(st.code, 3, "INVALID_ARGUMENT");
    assert!(st.message.contains("all-zero trace_id"), "{}", st.message);

    // Garbage protobuf and JSON.
    let (code, body) = post(&srv, "/v1/traces", vec![0xff, 0xff, 0xff, 0x01], &[PB]);
    assert_eq!(code, 400);
    let st = RpcStatus::decode(body.as_slice()).unwrap();
    assert!(
        st.message
            .contains("not a valid protobuf ExportTraceServiceRequest"),
        "{}",
        st.message
    );
    let (code, body) = post(
        &srv,
        "/v1/traces",
        b"{\"resourceSpans\":[{".to_vec(),
        &[JSON],
    );
    assert_eq!(code, 400);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("OTLP/JSON ExportTraceServiceRequest"),
        "{v}"
    );
    let (code, body) = post(
        &srv,
        "/v1/traces",
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#.to_vec(),
        &[JSON],
    );
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));

    // Over the body limit, and a gzip bomb over the decoded limit.
    let (code, body) = post(&srv, "/v1/traces", vec![0u8; 100 << 10], &[PB]);
    assert_eq!(code, 413);
    let st = RpcStatus::decode(body.as_slice()).unwrap();
    assert!(
        st.message.contains("limits.max_body_size"),
        "{}",
        st.message
    );
    let bomb = gzip(&vec![0u8; 4 << 20]);
    assert!(bomb.len() < 64 << 10);
    for (path, ct) in [
        ("/v1/traces", PB),
        ("/v1/traces", JSON),
        ("/api/v2/spans", JSON),
        ("/api/v2/spans", ("content-type", "application/x-protobuf")),
    ] {
        let (code, body) = post(
            &srv,
            path,
            bomb.clone(),
            &[ct, ("content-encoding", "gzip")],
        );
        assert_eq!(code, 413, "{path}");
        let text = match RpcStatus::decode(body.as_slice()) {
            Ok(st) if ct == PB && path == "/v1/traces" => st.message,
            _ => String::from_utf8_lossy(&body).to_string(),
        };
        assert!(
            text.contains("limits.max_decoded_body_size"),
            "{path}: {text}"
        );
    }
}

#[test]
fn zipkin_gzip_and_zero_ids() {
    let dir = TestDir::new();
    let (srv, _) = start(&dir, "");
    let now_us = span(1, 1).start_time_unix_nano / 1000;
    let body = serde_json::json!([{
        "traceId": "0b".repeat(16), "id": "00000000000000b1", "name": "zipped",
        "timestamp": now_us, "duration": 1500, "kind": "SERVER",
        "localEndpoint": {"serviceName": "gz"}, "tags": {"http.method": "GET"}
    }]);
    let (code, body_text) = post(
        &srv,
        "/api/v2/spans",
        gzip(body.to_string().as_bytes()),
        &[JSON, ("content-encoding", "gzip")],
    );
    assert_eq!(code, 202, "{}", String::from_utf8_lossy(&body_text));
    let (code, v) = srv.get_json(&format!("/api/traces/{}", "0b".repeat(16)), None);
    assert_eq!(code, 200, "{v}");
    let spans = spans_of_json(&v["batches"]);
    assert_eq!(spans[0].0, "gz");
    assert_eq!(spans[0].1["name"], "zipped");

    let zero = serde_json::json!([{
        "traceId": "0".repeat(32), "id": "00000000000000b1", "name": "z",
        "timestamp": now_us, "duration": 1
    }]);
    let (code, body) = post(
        &srv,
        "/api/v2/spans",
        zero.to_string().into_bytes(),
        &[JSON],
    );
    assert_eq!(code, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("all-zero traceId"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (code, body) = post(
        &srv,
        "/api/v2/spans",
        b"\x1f\x8b not gzip".to_vec(),
        &[JSON, ("content-encoding", "gzip")],
    );
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("gzip"));
}

fn with_tenant<T>(msg: T, tenant: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("x-scope-orgid", tenant.parse().unwrap());
    req
}

#[test]
fn otlp_grpc_partial_success_refusal_and_tenants() {
    let dir = TestDir::new();
    let (srv, grpc) = start(&dir, "multi_tenant: true\n");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
            .await
            .expect("connect");
        let resp = client
            .export(with_tenant(
                request(vec![span(0x0c, 1), span(0x0c, 0)]),
                "t1",
            ))
            .await
            .expect("export")
            .into_inner();
        let p = resp.partial_success.expect("partial success");
        assert_eq!(p.rejected_spans, 1);
        assert!(
            p.error_message.contains("all-zero span_id"),
            "{}",
            p.error_message
        );
        let err = client
            .export(with_tenant(request(vec![span(0, 1)]), "t1"))
            .await
            .expect_err("all spans bad");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("all-zero trace_id"),
            "{}",
            err.message()
        );
        let err = client
            .export(request(vec![span(0x0d, 1)]))
            .await
            .expect_err("no tenant");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("X-Scope-OrgID"), "{}", err.message());
    });
    let path = format!("/api/traces/{}", "0c".repeat(16));
    assert_eq!(srv.get(&path, Some("t1")).0, 200);
    assert_eq!(srv.get(&path, Some("t2")).0, 404);
    // Over HTTP the tenant is the header, as for logs.
    let (code, _) = post(
        &srv,
        "/v1/traces",
        request(vec![span(0x0e, 1)]).encode_to_vec(),
        &[PB, ("x-scope-orgid", "t2")],
    );
    assert_eq!(code, 200);
    let path = format!("/api/traces/{}", "0e".repeat(16));
    assert_eq!(srv.get(&path, Some("t2")).0, 200);
    assert_eq!(srv.get(&path, Some("t1")).0, 404);
}
