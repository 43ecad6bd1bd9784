//! Span metrics end to end: spans sent over OTLP/HTTP (JSON, as an OTel SDK or collector
//! sends them) become `traces_spanmetrics_*` and `traces_service_graph_*` series that
//! PromQL answers, with exemplars that `/api/v1/query_exemplars` returns at their span's
//! end time and that lead back to the trace through the Tempo API, also after a restart. remote_write's exemplars are
//! stored too.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{enc, Exemplar, Server, TestDir};
use serde_json::{json, Value};

const CONFIG: &str =
    "otlp: {grpc_listen: ''}\ntraces:\n  span_metrics:\n    flush_interval: 300ms\n";

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64
}

/// One request: `web` calls `api` (CLIENT span of 30 ms, SERVER child of 20 ms that
/// failed), both ending at `end` (ns), as two resources of one OTLP JSON export.
fn request_trace(trace: &str, end: i64) -> Value {
    let span = |id: &str, parent: &str, name: &str, kind: i64, ms: i64, code: i64| {
        json!({"traceId": trace, "spanId": id, "parentSpanId": parent, "name": name,
               "kind": kind, "startTimeUnixNano": (end - ms * 1_000_000).to_string(),
               "endTimeUnixNano": end.to_string(), "status": {"code": code}})
    };
    let resource = |service: &str, spans: Vec<Value>| {
        json!({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
               "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]})
    };
    json!({"resourceSpans": [
        resource("web", vec![span("00000000000000a1", "", "GET /price", 3, 30, 0)]),
        resource("api", vec![span("00000000000000b2", "00000000000000a1", "price", 2, 20, 2)]),
    ]})
}

fn send(srv: &Server, body: &Value) {
    let (code, text) = srv.post_json("/v1/traces", body, None);
    assert_eq!(code, 200, "{text}");
}

fn query(srv: &Server, q: &str) -> Vec<Value> {
    let data = srv.api_data(&format!("/api/v1/query?query={}", enc(q)), None);
    data["result"].as_array().cloned().unwrap_or_default()
}

fn scalar(srv: &Server, q: &str) -> Option<f64> {
    let r = query(srv, q);
    r.first()
        .and_then(|s| s["value"][1].as_str())
        .and_then(|v| v.parse().ok())
}

/// Polls `q` until it answers `want` (flushes run every 300 ms), at most 30 s.
fn wait_for(srv: &Server, q: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for _ in 0..300 {
        if scalar(srv, q) == Some(want) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(scalar(srv, q), Some(want), "{q}");
}

fn exemplars(srv: &Server, q: &str) -> Vec<Value> {
    let now = now_ns() / 1_000_000_000;
    srv.api_data(
        &format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            enc(q),
            now - 3600,
            now + 3600
        ),
        None,
    )
    .as_array()
    .cloned()
    .unwrap_or_default()
}

#[test]
fn spans_become_red_metrics_service_graph_and_exemplars() {
    let dir = TestDir::new();
    let mut srv = Server::start_real_clock(&dir.data(), Some(CONFIG));
    let t1 = "11111111111111111111111111111111";
    let t2 = "22222222222222222222222222222222";

    // Spans that ended a few seconds ago, at odd milliseconds, so no flush time can
    // pass for their end.
    let end1 = now_ns() - 3_123_456_789;
    let end2 = now_ns() - 2_987_654_321;
    send(&srv, &request_trace(t1, end1));
    wait_for(&srv, "sum(traces_spanmetrics_calls_total)", 2.0);
    send(&srv, &request_trace(t2, end2));
    wait_for(&srv, "sum(traces_spanmetrics_calls_total)", 4.0);

    // The health gauge: four spans held for the tenant.
    let (code, m) = srv.get("/metrics", None);
    assert_eq!(code, 200);
    assert!(
        m.lines()
            .any(|l| l == "lookout_spans_stored{tenant=\"default\"} 4"),
        "{m}"
    );

    // Tempo's names and label values.
    let calls = query(&srv, "traces_spanmetrics_calls_total");
    let mut keys: Vec<(String, String, String, String)> = calls
        .iter()
        .map(|s| {
            let m = &s["metric"];
            let g = |k: &str| m[k].as_str().unwrap_or("").to_string();
            (
                g("service"),
                g("span_name"),
                g("span_kind"),
                g("status_code"),
            )
        })
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            (
                "api".into(),
                "price".into(),
                "SPAN_KIND_SERVER".into(),
                "STATUS_CODE_ERROR".into()
            ),
            (
                "web".into(),
                "GET /price".into(),
                "SPAN_KIND_CLIENT".into(),
                "STATUS_CODE_UNSET".into()
            ),
        ]
    );

    // RED: a rate per service (the counters rose between two flushes).
    let rates = query(
        &srv,
        "sum by (service)(rate(traces_spanmetrics_calls_total[1m]))",
    );
    let mut services: Vec<&str> = rates
        .iter()
        .map(|s| s["metric"]["service"].as_str().unwrap_or(""))
        .collect();
    services.sort();
    assert_eq!(services, vec!["api", "web"]);
    for s in &rates {
        let v: f64 = s["value"][1].as_str().unwrap_or("0").parse().unwrap_or(0.0);
        assert!(v > 0.0, "{s}");
    }

    // Latency: every web span took 30 ms, so the median lies in the (16 ms, 32 ms] bucket.
    let q = "histogram_quantile(0.5, sum by (le)(rate(traces_spanmetrics_latency_bucket{service=\"web\"}[1m])))";
    let p50 = scalar(&srv, q).expect("p50");
    assert!(p50 > 0.016 && p50 <= 0.032, "{p50}");
    assert_eq!(
        scalar(&srv, "traces_spanmetrics_latency_count{service=\"api\"}"),
        Some(2.0)
    );
    assert_eq!(
        scalar(&srv, "traces_spanmetrics_latency_sum{service=\"api\"}"),
        Some(0.04)
    );

    // Service graph: two web → api requests, both failed on the server side.
    assert_eq!(
        scalar(
            &srv,
            "traces_service_graph_request_total{client=\"web\",server=\"api\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        scalar(
            &srv,
            "traces_service_graph_request_failed_total{client=\"web\",server=\"api\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        scalar(
            &srv,
            "traces_service_graph_request_server_seconds_bucket{client=\"web\",le=\"0.1\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        scalar(
            &srv,
            "traces_service_graph_request_client_seconds_count{server=\"api\"}"
        ),
        Some(2.0)
    );

    // Exemplars: the latest trace of the web latency bucket, which the Tempo API finds.
    let ex = exemplars(
        &srv,
        "histogram_quantile(0.9, rate(traces_spanmetrics_latency_bucket{service=\"web\"}[5m]))",
    );
    assert_eq!(ex.len(), 1, "{ex:?}");
    assert_eq!(ex[0]["seriesLabels"]["le"], "0.032");
    let e = &ex[0]["exemplars"];
    let ids: Vec<&str> = e
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["labels"]["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.last(), Some(&t2), "{e}");
    assert_eq!(e[0]["value"], "0.03");
    // Each exemplar is at its span's end (ms precision, in seconds), not at a flush.
    for x in e.as_array().unwrap() {
        let end = if x["labels"]["trace_id"] == t1 {
            end1
        } else {
            end2
        };
        let want = (end / 1_000_000) as f64 / 1000.0;
        let got = x["timestamp"].as_f64().expect("numeric timestamp");
        assert!(
            (got - want).abs() < 1e-6,
            "exemplar at {got}, span ended at {want}: {x}"
        );
    }
    let (code, trace) = srv.get_json(&format!("/api/traces/{t2}"), None);
    assert_eq!(code, 200, "{trace}");
    assert!(trace.to_string().contains("GET /price"), "{trace}");

    // A restart keeps exemplars (the WAL) and the flushed series.
    srv.terminate(Duration::from_secs(30))
        .expect("graceful exit");
    let srv = Server::start_real_clock(&dir.data(), Some(CONFIG));
    let ex = exemplars(&srv, "traces_spanmetrics_latency_bucket{service=\"web\"}");
    let ids: Vec<&str> = ex
        .iter()
        .flat_map(|s| s["exemplars"].as_array().unwrap().iter())
        .map(|x| x["labels"]["trace_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&t2), "{ex:?}");
    assert_eq!(
        scalar(&srv, "traces_spanmetrics_calls_total{service=\"web\"}"),
        Some(2.0)
    );
}

#[test]
fn remote_write_exemplars_are_stored_per_tenant() {
    let dir = TestDir::new();
    let srv = Server::start_real_clock(
        &dir.data(),
        Some("otlp: {grpc_listen: ''}\nmulti_tenant: true\n"),
    );
    let now_ms = now_ns() / 1_000_000;
    let mut ts = common::series(
        &[
            ("__name__", "http_request_duration_seconds_bucket"),
            ("le", "0.5"),
        ],
        &[(now_ms, 3.0)],
    );
    ts.exemplars.push(Exemplar {
        labels: common::labels(&[("trace_id", "abc123")]),
        value: 0.25,
        timestamp: now_ms,
    });
    let (code, body) = srv.write_tenant(&common::request(vec![ts]), "team-a");
    assert_eq!(code, 204, "{body}");
    let path = format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        enc("http_request_duration_seconds_bucket"),
        now_ms / 1000 - 60,
        now_ms / 1000 + 60
    );
    let a = srv.api_data(&path, Some("team-a"));
    assert_eq!(a[0]["exemplars"][0]["labels"]["trace_id"], "abc123", "{a}");
    assert_eq!(a[0]["exemplars"][0]["value"], "0.25");
    assert_eq!(a[0]["seriesLabels"]["le"], "0.5");
    assert_eq!(srv.api_data(&path, Some("team-b")), json!([]));
    // Grafana's start-up probe.
    let probe = srv.api_data(
        "/api/v1/query_exemplars?query=test&start=1&end=2",
        Some("team-a"),
    );
    assert_eq!(probe, json!([]));
}
