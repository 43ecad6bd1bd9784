//! `/api/v1/status/logs` and `/api/v1/status/traces` against the real binary: logs pushed
//! through the Loki API and spans through OTLP/JSON give exactly the figures and top
//! lists expected, first from the heads, then (after an admin flush) from partitions and
//! span files whose sizes are checked against the data directory; each tenant sees only
//! its own data; `limit` bounds the top lists.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

const CFG: &str =
    "multi_tenant: true\nmaintenance_interval: 1h\nadmin:\n  enabled_in_multi_tenant: true\n";
const TENANT: &str = "acme";

/// One pushed line: ms after BASE_MS, the line, its structured metadata.
type Line = (i64, &'static str, Value);

/// The lines pushed, by stream labels.
fn log_data() -> Vec<(Value, Vec<Line>)> {
    vec![
        (
            json!({"service_name": "api", "level": "info"}),
            vec![
                (1_000, "GET /a 200", json!({})),
                (2_000, "GET /b 200", json!({})),
            ],
        ),
        (
            json!({"service_name": "api", "level": "error"}),
            vec![(3_000, "GET /c 500", json!({"trace_id": "abc"}))],
        ),
        (
            json!({"service_name": "db"}),
            vec![(4_000, "slow query", json!({}))],
        ),
    ]
}

fn push_logs(srv: &Server, tenant: &str) {
    let streams: Vec<Value> = log_data()
        .into_iter()
        .map(|(stream, lines)| {
            let values: Vec<Value> = lines
                .iter()
                .map(|(ms, line, meta)| {
                    let ts = ((BASE_MS + ms) * 1_000_000).to_string();
                    if meta.as_object().is_some_and(|m| m.is_empty()) {
                        json!([ts, line])
                    } else {
                        json!([ts, line, meta])
                    }
                })
                .collect();
            json!({"stream": stream, "values": values})
        })
        .collect();
    let (code, body) = srv.post_json(
        "/loki/api/v1/push",
        &json!({ "streams": streams }),
        Some(tenant),
    );
    assert_eq!(code, 204, "push: {body}");
}

/// Four spans: three of `api` (two named `GET /a`, in two traces), one of `db`.
fn push_spans(srv: &Server, tenant: &str) {
    let t0 = BASE_MS as u128 * 1_000_000;
    let span = |trace: &str, id: &str, name: &str, from_ms: u128| {
        json!({
            "traceId": trace, "spanId": id, "name": name, "kind": 2,
            "startTimeUnixNano": (t0 + from_ms * 1_000_000).to_string(),
            "endTimeUnixNano": (t0 + (from_ms + 5) * 1_000_000).to_string(),
        })
    };
    let resource =
        |svc: &str| json!({"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]});
    let (a, b) = (
        "0af7651916cd43dd8448eb211c80319c",
        "1bf7651916cd43dd8448eb211c80319c",
    );
    let body = json!({"resourceSpans": [
        {"resource": resource("api"), "scopeSpans": [{"spans": [
            span(a, "00f067aa0ba902b7", "GET /a", 1_000),
            span(a, "01f067aa0ba902b7", "POST /b", 1_010),
            span(b, "02f067aa0ba902b7", "GET /a", 2_000),
        ]}]},
        {"resource": resource("db"), "scopeSpans": [{"spans": [
            span(a, "03f067aa0ba902b7", "SELECT", 1_020),
        ]}]},
    ]});
    let (code, text) = srv.post_json("/v1/traces", &body, Some(tenant));
    assert!((200..300).contains(&code), "push spans: {code} {text}");
}

fn status(srv: &Server, signal: &str, query: &str, tenant: &str) -> Value {
    srv.api_data(&format!("/api/v1/status/{signal}{query}"), Some(tenant))
}

fn tops(v: &Value) -> Vec<(String, u64)> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, u64)]) -> Vec<(String, u64)> {
    v.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

/// Bytes of the files directly in each subdirectory of `dir` (and in `dir`), recursively.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

fn check_log_tops(d: &Value) {
    assert_eq!(
        tops(&d["streamCountByLabelName"]),
        pairs(&[("service_name", 3), ("level", 2)])
    );
    assert_eq!(
        tops(&d["labelValueCountByLabelName"]),
        pairs(&[("level", 2), ("service_name", 2)])
    );
    assert_eq!(
        tops(&d["streamCountByLabelValuePair"]),
        pairs(&[
            ("service_name=api", 2),
            ("level=error", 1),
            ("level=info", 1),
            ("service_name=db", 1)
        ])
    );
    assert_eq!(
        tops(&d["lineCountByStream"]),
        pairs(&[
            (r#"{level="info", service_name="api"}"#, 2),
            (r#"{level="error", service_name="api"}"#, 1),
            (r#"{service_name="db"}"#, 1)
        ])
    );
}

fn check_trace_tops(d: &Value) {
    assert_eq!(
        tops(&d["spanCountByService"]),
        pairs(&[("api", 3), ("db", 1)])
    );
    assert_eq!(
        tops(&d["spanCountByName"]),
        pairs(&[("GET /a", 2), ("POST /b", 1), ("SELECT", 1)])
    );
}

#[test]
fn log_and_span_storage_figures_are_exact_per_tenant() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some(CFG));
    push_logs(&srv, TENANT);
    push_spans(&srv, TENANT);
    // Another tenant's data never shows.
    let (code, body) = srv.post_json(
        "/loki/api/v1/push",
        &json!({"streams": [{"stream": {"job": "other"}, "values": [[((BASE_MS + 9_000) * 1_000_000).to_string(), "x"]]}]}),
        Some("other"),
    );
    assert_eq!(code, 204, "{body}");

    // From the heads: nothing is committed (maintenance is an hour away, one push each).
    let raw: u64 = log_data()
        .iter()
        .flat_map(|(_, lines)| lines)
        .map(|(_, line, meta)| {
            let meta: usize = meta
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| k.len() + v.as_str().unwrap().len())
                .sum();
            (line.len() + meta) as u64
        })
        .sum();
    let d = status(&srv, "logs", "", TENANT);
    assert_eq!(d["streams"], 3, "{d}");
    assert_eq!(d["lines"], 4, "{d}");
    assert_eq!(d["headLines"], 4, "{d}");
    assert_eq!(d["uncompressedBytes"], raw, "{d}");
    assert_eq!(
        (d["compressedBytes"].as_u64(), d["partitions"].as_u64()),
        (Some(0), Some(0)),
        "{d}"
    );
    assert_eq!(d["minTime"], BASE_MS + 1_000, "{d}");
    assert_eq!(d["maxTime"], BASE_MS + 4_000, "{d}");
    assert_eq!(
        d["diskBytes"].as_u64(),
        Some(d["partitionBytes"].as_u64().unwrap() + d["walBytes"].as_u64().unwrap())
    );
    assert!(
        d["walBytes"].as_u64().unwrap() > 0,
        "the WAL holds the lines: {d}"
    );
    check_log_tops(&d);

    let t = status(&srv, "traces", "", TENANT);
    assert_eq!(
        (t["spans"].as_u64(), t["headSpans"].as_u64()),
        (Some(4), Some(4)),
        "{t}"
    );
    assert_eq!(
        (t["files"].as_u64(), t["fileBytes"].as_u64()),
        (Some(0), Some(0)),
        "{t}"
    );
    check_trace_tops(&t);

    let other = status(&srv, "logs", "", "other");
    assert_eq!(
        (other["streams"].as_u64(), other["lines"].as_u64()),
        (Some(1), Some(1)),
        "{other}"
    );
    assert_eq!(
        tops(&other["streamCountByLabelValuePair"]),
        pairs(&[("job=other", 1)])
    );
    let none = status(&srv, "traces", "", "other");
    assert_eq!(
        (none["spans"].as_u64(), none["files"].as_u64()),
        (Some(0), Some(0)),
        "{none}"
    );
    assert_eq!(tops(&none["spanCountByService"]), vec![]);

    // `limit` bounds every top list; a bad one is refused.
    let l = status(&srv, "logs", "?limit=1", TENANT);
    assert_eq!(
        tops(&l["streamCountByLabelValuePair"]),
        pairs(&[("service_name=api", 2)])
    );
    assert_eq!(tops(&l["lineCountByStream"]).len(), 1);
    let l = status(&srv, "traces", "?limit=1", TENANT);
    assert_eq!(tops(&l["spanCountByName"]), pairs(&[("GET /a", 2)]));
    for bad in ["0", "x", "10001"] {
        let (code, v) = srv.get_json(&format!("/api/v1/status/logs?limit={bad}"), Some(TENANT));
        assert_eq!(
            (code, v["errorType"].as_str()),
            (400, Some("bad_data")),
            "limit={bad}: {v}"
        );
    }
    // Multi-tenancy: a read without a tenant is refused.
    let (code, _) = srv.get("/api/v1/status/traces", None);
    assert!((400..500).contains(&code), "{code}");

    // After a flush: the same lines and spans, now in one log partition and one span file,
    // whose sizes are the files' in the data directory.
    let resp = srv
        .client
        .post(srv.url("/api/v1/admin/flush"))
        .header("X-Scope-OrgID", TENANT)
        .send()
        .expect("flush");
    assert_eq!(resp.status().as_u16(), 204);
    let tdir = dir.data().join("tenants").join(TENANT);

    let d = status(&srv, "logs", "", TENANT);
    assert_eq!(
        (d["streams"].as_u64(), d["lines"].as_u64()),
        (Some(3), Some(4)),
        "{d}"
    );
    assert_eq!(
        (d["headLines"].as_u64(), d["partitions"].as_u64()),
        (Some(0), Some(1)),
        "{d}"
    );
    assert_eq!(
        d["partitionBytes"],
        dir_bytes(&tdir.join("logs/partitions")),
        "{d}"
    );
    assert_eq!(
        d["diskBytes"].as_u64(),
        Some(d["partitionBytes"].as_u64().unwrap() + d["walBytes"].as_u64().unwrap())
    );
    // Chunks hold the lines and metadata plus timestamps and lengths, compressed below that.
    let unc = d["uncompressedBytes"].as_u64().unwrap();
    assert!(unc > raw && unc < raw + 40 * 4, "{d}");
    let comp = d["compressedBytes"].as_u64().unwrap();
    assert!(
        comp > 0 && comp < d["partitionBytes"].as_u64().unwrap(),
        "{d}"
    );
    assert_eq!(
        (d["minTime"].as_i64(), d["maxTime"].as_i64()),
        (Some(BASE_MS + 1_000), Some(BASE_MS + 4_000))
    );
    check_log_tops(&d);

    let t = status(&srv, "traces", "", TENANT);
    assert_eq!(
        (t["spans"].as_u64(), t["headSpans"].as_u64()),
        (Some(4), Some(0)),
        "{t}"
    );
    assert_eq!(
        (t["files"].as_u64(), t["partitions"].as_u64()),
        (Some(1), Some(1)),
        "{t}"
    );
    assert_eq!(t["fileBytes"], dir_bytes(&tdir.join("traces/parts")), "{t}");
    assert_eq!(
        t["diskBytes"].as_u64(),
        Some(t["fileBytes"].as_u64().unwrap() + t["walBytes"].as_u64().unwrap())
    );
    // Span partitions are two hours long and BASE_MS starts one.
    assert_eq!(
        (t["minTime"].as_i64(), t["maxTime"].as_i64()),
        (Some(BASE_MS), Some(BASE_MS + 7_200_000))
    );
    check_trace_tops(&t);
    // Read a second time, the remembered per-file counts answer the same.
    assert_eq!(status(&srv, "traces", "", TENANT), t);
}
