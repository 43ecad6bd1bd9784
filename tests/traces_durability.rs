//! Span durability end to end: spans sent through Zipkin v2 JSON and answered 202 survive
//! a SIGKILL of the server (from the WAL), a graceful stop, and a
//! SIGKILL with some spans in files and some only in the WAL. Every trace comes back whole
//! from `/api/traces/<id>` and is found by `/api/search`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{enc, Server, TestDir, CLOCK_MS};
use serde_json::{json, Value};

const SPANS_PER_TRACE: usize = 5;

fn trace_id(n: usize) -> String {
    format!("{:016x}{:016x}", 0xfeed_0000_u64 + n as u64, n as u64 + 1)
}

/// One trace in Zipkin v2 JSON: a root and a chain of children across two services,
/// starting `n` seconds before the test clock minus ten minutes.
fn zipkin_trace(n: usize) -> Vec<Value> {
    let t0 = (CLOCK_MS - 600_000) * 1000 + n as i64 * 1_000_000;
    (0..SPANS_PER_TRACE)
        .map(|i| {
            let mut s = json!({
                "traceId": trace_id(n),
                "id": format!("{:016x}", i + 1),
                "kind": if i == 0 { "SERVER" } else { "CLIENT" },
                "name": format!("op-{i}"),
                "timestamp": t0 + i as i64 * 1000,
                "duration": 50_000 - i as i64 * 1000,
                "localEndpoint": {"serviceName": if i % 2 == 0 { "front" } else { "back" }},
                "tags": {"http.method": "GET", "n": n.to_string()},
            });
            if i > 0 {
                s["parentId"] = json!(format!("{:016x}", i));
            }
            s
        })
        .collect()
}

fn post(srv: &Server, traces: std::ops::Range<usize>) {
    let body: Vec<Value> = traces.flat_map(zipkin_trace).collect();
    let (code, text) = srv.post_json("/api/v2/spans", &Value::Array(body), None);
    assert_eq!(code, 202, "{text}");
}

/// Every trace in `0..n` comes back whole by id (without and with a time range), and a
/// search over the whole window finds each of them.
fn verify(srv: &Server, n: usize, when: &str) {
    let secs = CLOCK_MS / 1000;
    for t in 0..n {
        let id = trace_id(t);
        for query in [
            "".to_string(),
            format!("?start={}&end={}", secs - 3600, secs),
        ] {
            let (code, v) = srv.get_json(&format!("/api/traces/{id}{query}"), None);
            assert_eq!(code, 200, "{when}: trace {id}{query}: {v}");
            let spans: Vec<&Value> = v["batches"]
                .as_array()
                .expect("batches")
                .iter()
                .flat_map(|b| b["scopeSpans"].as_array().expect("scopeSpans"))
                .flat_map(|s| s["spans"].as_array().expect("spans"))
                .collect();
            assert_eq!(spans.len(), SPANS_PER_TRACE, "{when}: trace {id}: {v}");
            let ids: BTreeSet<&str> = spans.iter().filter_map(|s| s["spanId"].as_str()).collect();
            assert_eq!(
                ids.len(),
                SPANS_PER_TRACE,
                "{when}: duplicate spans in {id}: {v}"
            );
            let child = spans
                .iter()
                .find(|s| s["spanId"] == "0000000000000003")
                .expect("span 3");
            assert_eq!(child["parentSpanId"], "0000000000000002", "{when}");
            assert_eq!(child["name"], "op-2", "{when}");
        }
    }
    let (code, v) = srv.get_json(
        &format!(
            "/api/search?tags={}&limit=1000&start={}&end={}",
            enc("service.name=front"),
            secs - 3600,
            secs
        ),
        None,
    );
    assert_eq!(code, 200, "{when}: {v}");
    let found: BTreeSet<String> = v["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .filter_map(|t| {
            t["traceID"]
                .as_str()
                .map(|s| s.trim_start_matches('0').to_string())
        })
        .collect();
    for t in 0..n {
        let id = trace_id(t);
        assert!(
            found.contains(id.trim_start_matches('0')),
            "{when}: search misses {id}: {v}"
        );
    }
}

#[test]
fn acknowledged_spans_survive_sigkill_and_graceful_restarts() {
    let dir = TestDir::new();
    let mut srv = Server::start(&dir.data(), None);
    // In the WAL only, then SIGKILL.
    for chunk in 0..4 {
        post(&srv, chunk * 5..chunk * 5 + 5);
    }
    srv.kill9();
    let mut srv = Server::start(&dir.data(), None);
    verify(&srv, 20, "after SIGKILL with spans in the WAL only");

    // A graceful stop fsyncs the WAL; the restart replays it.
    post(&srv, 20..30);
    assert!(
        srv.terminate(Duration::from_secs(30)).is_some(),
        "the server did not stop on SIGTERM"
    );
    let mut srv = Server::start(&dir.data(), None);
    verify(&srv, 30, "after a graceful restart");

    // Some spans in files (flushed), more only in the WAL, a re-sent batch, then SIGKILL.
    post(&srv, 30..35);
    srv.flush();
    let files = count_files(&dir.data().join("tenants"));
    assert!(files > 0, "a flush left no span files");
    post(&srv, 35..40);
    post(&srv, 35..40);
    srv.kill9();
    let srv = Server::start(&dir.data(), None);
    verify(&srv, 40, "after SIGKILL with spans in files and the WAL");
}

/// Span files (Parquet files under a `traces` directory) under `dir`, recursively.
fn count_files(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                count_files(&p)
            } else {
                usize::from(
                    p.extension().is_some_and(|x| x == "parquet")
                        && p.components().any(|c| c.as_os_str() == "traces"),
                )
            }
        })
        .sum()
}
