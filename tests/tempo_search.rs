//! Tempo search through the real binary with span pushdown: OTLP spans in, then
//! `/api/search` by `tags` (with maxDuration) and by TraceQL returns exactly the traces a
//! brute-force filter over the sent spans selects, from the head and again from span files
//! after a flush, while inspecting fewer traces than a search without conditions.

mod common;

use std::collections::BTreeSet;

use common::{enc, Server, TestDir, CLOCK_MS};
use serde_json::{json, Value};

const TRACES: u32 = 30;

/// One sent span, for the brute-force filter.
struct Sent {
    trace: u32,
    service: String,
    name: &'static str,
    kind: u8,
    error: bool,
    dur_ms: i64,
    user: Option<String>,
}

/// Trace `i`: a server root in `svc-{i%3}` lasting (i+1)·10 ms and a `db` child `query`
/// that fails when i%5 = 0 and carries `user=u{i%4}`; trace 17 alone has a `rare` span.
fn corpus() -> Vec<Sent> {
    let mut out = Vec::new();
    for i in 0..TRACES {
        out.push(Sent {
            trace: i,
            service: format!("svc-{}", i % 3),
            name: if i % 2 == 0 { "root-0" } else { "root-1" },
            kind: 2,
            error: false,
            dur_ms: (i as i64 + 1) * 10,
            user: None,
        });
        out.push(Sent {
            trace: i,
            service: if i == 17 { "rare".into() } else { "db".into() },
            name: "query",
            kind: 3,
            error: i % 5 == 0,
            dur_ms: 5,
            user: Some(format!("u{}", i % 4)),
        });
    }
    out
}

fn trace_hex(i: u32) -> String {
    format!("{:032x}", 0xabc0_0000_u64 + i as u64)
}

fn otlp(spans: &[Sent]) -> Value {
    let t0 = (CLOCK_MS - 600_000) * 1_000_000;
    let resource_spans: Vec<Value> = spans
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let start = t0 + s.trace as i64 * 1_000_000_000 + (n % 2) as i64 * 1_000_000;
            let mut attrs = vec![];
            if let Some(u) = &s.user {
                attrs.push(json!({"key": "user", "value": {"stringValue": u}}));
            }
            json!({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": s.service}}]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": [{
                    "traceId": trace_hex(s.trace),
                    "spanId": format!("{:016x}", n + 1),
                    "parentSpanId": if n % 2 == 1 { format!("{:016x}", n) } else { String::new() },
                    "name": s.name,
                    "kind": s.kind,
                    "startTimeUnixNano": start.to_string(),
                    "endTimeUnixNano": (start + s.dur_ms * 1_000_000).to_string(),
                    "status": {"code": if s.error { 2 } else { 0 }},
                    "attributes": attrs,
                }]}],
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

/// (trace ids found, inspectedTraces, inspectedBytes) of a search.
fn search(srv: &Server, query: &str) -> (BTreeSet<String>, u64, u64) {
    let (code, v) = srv.get_json(&format!("/api/search?{query}&limit=100"), None);
    assert_eq!(code, 200, "{query}: {v}");
    let ids = v["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {v}"))
        .iter()
        .map(|t| format!("{:0>32}", t["traceID"].as_str().unwrap()))
        .collect();
    let m = &v["metrics"];
    let bytes = m["inspectedBytes"]
        .as_str()
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    (ids, m["inspectedTraces"].as_u64().unwrap_or(0), bytes)
}

fn traces_where(spans: &[Sent], f: impl Fn(&Sent) -> bool) -> BTreeSet<u32> {
    spans.iter().filter(|s| f(s)).map(|s| s.trace).collect()
}

fn hexes(ids: &BTreeSet<u32>) -> BTreeSet<String> {
    ids.iter().map(|&i| trace_hex(i)).collect()
}

#[test]
fn searches_with_pushdown_find_exactly_the_matching_traces_before_and_after_flush() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    let spans = corpus();
    let resp = srv
        .client
        .post(srv.url("/v1/traces"))
        .header("content-type", "application/json")
        .body(otlp(&spans).to_string())
        .send()
        .expect("post spans");
    assert_eq!(resp.status().as_u16(), 200);

    let root_dur = |t: u32| (t as i64 + 1) * 10;
    let cases: Vec<(String, BTreeSet<u32>)> = vec![
        (
            "tags=service.name%3Dsvc-1".into(),
            traces_where(&spans, |s| s.service == "svc-1"),
        ),
        // Case-insensitive containment, Tempo's tag search.
        (format!("tags={}", enc("service.name=RAR")), [17].into()),
        (
            format!("tags={}&maxDuration=100ms", enc("name=root-0 user=u2")),
            traces_where(&spans, |s| {
                s.trace % 2 == 0 && s.trace % 4 == 2 && root_dur(s.trace) <= 100
            }),
        ),
        (
            format!(
                "q={}",
                enc(r#"{ resource.service.name = "svc-2" && duration > 150ms }"#)
            ),
            traces_where(&spans, |s| s.service == "svc-2" && s.dur_ms > 150),
        ),
        (
            format!("q={}", enc("{ status = error }")),
            traces_where(&spans, |s| s.error),
        ),
        (
            format!(
                "q={}",
                enc(
                    r#"{ .user = "u3" && kind = client } && { name = "root-1" && duration <= 200ms }"#
                )
            ),
            traces_where(&spans, |s| s.user.as_deref() == Some("u3"))
                .intersection(&traces_where(&spans, |s| {
                    s.name == "root-1" && s.dur_ms <= 200
                }))
                .copied()
                .collect(),
        ),
        (
            format!("q={}", enc(r#"{ resource.service.name = "rare" }"#)),
            [17].into(),
        ),
        // Not pushed down (`||`): still exact.
        (
            format!(
                "q={}",
                enc(r#"{ resource.service.name = "rare" || status = error }"#)
            ),
            traces_where(&spans, |s| s.service == "rare" || s.error),
        ),
    ];
    for when in ["head", "files"] {
        if when == "files" {
            srv.flush();
        }
        // Tag values under a filter: only the spans of the traces it selects.
        let (code, v) = srv.get_json(
            &format!(
                "/api/v2/search/tag/span.user/values?q={}",
                enc(r#"{ resource.service.name = "rare" }"#)
            ),
            None,
        );
        assert_eq!(code, 200, "{v}");
        assert_eq!(
            v["tagValues"],
            json!([{"type": "string", "value": "u1"}]),
            "{when}"
        );
        let (all, all_inspected, _) = search(&srv, &format!("q={}", enc("{ }")));
        assert_eq!(all.len(), TRACES as usize, "{when}");
        assert_eq!(all_inspected, TRACES as u64, "{when}");
        for (query, want) in &cases {
            assert!(!want.is_empty(), "{query}: the case selects nothing");
            let (got, inspected, bytes) = search(&srv, query);
            assert_eq!(got, hexes(want), "{when}: {query}");
            if !query.contains("%7C%7C") {
                assert!(
                    inspected < all_inspected,
                    "{when}: {query} inspected {inspected} traces"
                );
                if when == "files" {
                    assert!(bytes > 0, "{when}: {query}: no bytes counted");
                }
            }
        }
    }
}

fn wal_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

/// A graceful stop cuts the span head into files: after SIGTERM the span WAL holds no
/// spans, and after a restart search and trace by id find every trace in files.
#[test]
fn sigterm_writes_the_span_head_to_files() {
    let dir = TestDir::new();
    let mut srv = Server::start(&dir.data(), None);
    let spans = corpus();
    let resp = srv
        .client
        .post(srv.url("/v1/traces"))
        .header("content-type", "application/json")
        .body(otlp(&spans).to_string())
        .send()
        .expect("post spans");
    assert_eq!(resp.status().as_u16(), 200);
    let traces = dir.data().join("tenants/default/traces");
    let before = wal_bytes(&traces.join("wal"));
    assert!(
        before > 1000,
        "the spans are in the WAL first: {before} bytes"
    );
    let st = srv
        .terminate(std::time::Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no exit within 15s of SIGTERM"));
    assert!(st.success(), "{st:?}");
    let after = wal_bytes(&traces.join("wal"));
    assert!(after < 100, "span WAL after a graceful stop: {after} bytes");
    let parts: usize = std::fs::read_dir(traces.join("parts"))
        .unwrap()
        .flatten()
        .map(|p| std::fs::read_dir(p.path()).unwrap().count())
        .sum();
    assert!(parts >= 1, "no span file written at shutdown");

    let srv = Server::start(&dir.data(), None);
    let (all, ..) = search(&srv, &format!("q={}", enc("{ }")));
    assert_eq!(all, hexes(&(0..TRACES).collect()));
    let (rare, _, bytes) = search(
        &srv,
        &format!("q={}", enc(r#"{ resource.service.name = "rare" }"#)),
    );
    assert_eq!(rare, hexes(&[17].into()));
    assert!(bytes > 0, "read from span files");
    let (code, v) = srv.get_json(&format!("/api/v2/traces/{}", trace_hex(17)), None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["trace"]["resourceSpans"].as_array().map(Vec::len),
        Some(2),
        "{v}"
    );
}
