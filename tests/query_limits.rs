//! Queries as a hostile or careless client sends them: too long, too deep, too large, too
//! many at once, abandoned midway. Each is refused or stopped with a named error while the
//! server stays up, keeps ingesting, and keeps its memory under a bound.
//!
//! Tests that write data stamped with the real time run the server on the system clock.
//! Tests that need a query to be in flight for a while start the (debug) server with
//! `LOOKOUT_DEBUG_QUERY_STALL_MS`, which holds every evaluation that long while it checks
//! its budget, so nothing here races the clock.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `POST /api/v1/query` (form) with `params`; the status and the JSON body.
fn query(srv: &Server, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let resp = srv
        .client
        .post(srv.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(params))
        .send()
        .expect("query request");
    let code = resp.status().as_u16();
    let text = resp.text().expect("body");
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("{path} answered {code} with a body that is not JSON ({e}): {text}")
    });
    (code, v)
}

fn form(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Asserts an error envelope with this status, errorType and a message containing `msg`.
fn assert_refused(got: &(u16, Value), status: u16, kind: &str, msg: &str) {
    let (code, v) = got;
    assert_eq!(*code, status, "{v}");
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["errorType"], kind, "{v}");
    let e = v["error"].as_str().unwrap_or("");
    assert!(e.contains(msg), "error {e:?} does not contain {msg:?}");
}

/// A value of Lookout's own `/metrics` (the first line starting with `series`).
fn self_metric(srv: &Server, series: &str) -> f64 {
    let (code, text) = srv.get("/metrics", None);
    assert_eq!(code, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} is not in /metrics"))
}

/// Waits (bounded) until `f` holds.
fn eventually(what: &str, within: Duration, f: impl Fn() -> bool) {
    let until = Instant::now() + within;
    while !f() {
        assert!(
            Instant::now() < until,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Peak and current resident memory of a process in KiB (VmHWM, VmRSS).
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// The nice values of a process' `lookout-query` threads.
fn query_thread_nices(pid: u32) -> Vec<i64> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() != "lookout-query" {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, nice is field 19.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        if let Some(nice) = rest.split_whitespace().nth(16).and_then(|n| n.parse().ok()) {
            out.push(nice);
        }
    }
    out
}

/// `n` series of `hl_metric` with a sample every 15s over the last 15 minutes.
fn load_wide(srv: &Server, n: usize) {
    let now = now_ms();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let ts = chunk
            .iter()
            .map(|i| {
                let samples: Vec<(i64, f64)> = (0..60)
                    .map(|k| (now - 15 * 60_000 + k * 15_000, (i * k as usize) as f64))
                    .collect();
                series(
                    &[
                        ("__name__", "hl_metric_total"),
                        ("instance", &format!("host-{i}")),
                        ("job", "big"),
                    ],
                    &samples,
                )
            })
            .collect();
        srv.write_ok(&request(ts));
    }
}

#[test]
fn deep_and_long_queries_are_refused_before_parsing() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    let chain = vec!["1"; 8000].join("+");
    let parens = format!("{}1{}", "(".repeat(35_000), ")".repeat(35_000));
    let minus = format!("{}1", "-".repeat(20_000));
    let calls = format!("{}vector(1){}", "abs(".repeat(5_000), ")".repeat(5_000));
    let mut subqueries = "vector(1)".to_string();
    for _ in 0..600 {
        subqueries = format!("max_over_time(({subqueries})[1m:])");
    }
    for q in [&chain, &parens, &minus, &calls, &subqueries] {
        for path in ["/api/v1/query", "/api/v1/format_query"] {
            let got = query(&srv, path, &[("query", q)]);
            assert_refused(&got, 400, "bad_data", "(query.max_depth)");
        }
    }
    // Selectors (match[]) and exemplar queries go through the same limits.
    for path in ["/api/v1/series", "/api/v1/labels", "/api/v1/export"] {
        for q in [&chain, &parens] {
            let got = query(&srv, path, &[("match[]", q)]);
            assert_refused(&got, 400, "bad_data", "(query.max_depth)");
        }
    }
    let (code, body) = srv.get(
        &format!("/api/v1/label/job/values?match[]={}", enc(&chain)),
        None,
    );
    let got = (code, serde_json::from_str(&body).unwrap_or(Value::Null));
    assert_refused(&got, 400, "bad_data", "(query.max_depth)");
    let got = query(&srv, "/api/v1/query_exemplars", &[("query", &chain)]);
    assert_refused(&got, 400, "bad_data", "(query.max_depth)");
    let long = format!("up{{job=~\"{}\"}}", "a|".repeat(100_000));
    assert_refused(
        &query(&srv, "/api/v1/query", &[("query", &long)]),
        400,
        "bad_data",
        "more than the 131072 allowed (query.max_length)",
    );
    // Within the limits, every construct nests and evaluates correctly.
    let chain = vec!["1"; 400].join("+");
    let parens = format!("{}1{}", "(".repeat(450), ")".repeat(450));
    let minus = format!("{}1", "-(".repeat(200)) + &")".repeat(200);
    let calls = format!("{}vector(-1){}", "abs(".repeat(450), ")".repeat(450));
    let mut subqueries = "vector(1)".to_string();
    for _ in 0..60 {
        subqueries = format!("last_over_time(({subqueries})[1m:1m])");
    }
    let subqueries = format!("sum({subqueries})");
    for (q, want) in [
        (chain, "400"),
        (parens, "1"),
        (minus, "1"),
        (calls, "1"),
        (subqueries, "1"),
    ] {
        let (code, v) = query(&srv, "/api/v1/query", &[("query", &q), ("time", "1000")]);
        assert_eq!(code, 200, "{v}");
        let r = &v["data"]["result"];
        let value = match v["data"]["resultType"].as_str() {
            Some("vector") => r[0]["value"][1].clone(),
            _ => r[1].clone(),
        };
        assert_eq!(value, want, "{v}");
        let (code, v) = query(&srv, "/api/v1/format_query", &[("query", &q)]);
        assert_eq!(code, 200, "{v}");
    }
    assert_eq!(srv.get("/-/healthy", None).0, 200);
    assert!(
        self_metric(
            &srv,
            "lookout_query_rejected_total{reason=\"too_long_or_deep\"}"
        ) >= 11.0
    );
}

#[test]
fn a_timeout_stops_the_evaluation_not_only_the_answer() {
    let dir = TestDir::new();
    let srv = Server::start_env(
        &dir.data(),
        None,
        &[("LOOKOUT_DEBUG_QUERY_STALL_MS", "60000")],
    );
    let started = Instant::now();
    let got = query(
        &srv,
        "/api/v1/query",
        &[("query", "vector(1)"), ("timeout", "500ms")],
    );
    assert_refused(
        &got,
        503,
        "timeout",
        "query timed out in expression evaluation",
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the answer waited for the evaluation"
    );
    // The evaluation itself stops, giving its slot back, instead of running on.
    eventually(
        "the timed-out query stopped",
        Duration::from_secs(5),
        || self_metric(&srv, "lookout_query_running") == 0.0,
    );
    assert_eq!(
        self_metric(&srv, "lookout_query_stopped_total{reason=\"timeout\"}"),
        1.0
    );
    // A deadline that passed before evaluation began is a timeout however fast the query.
    let dir2 = TestDir::new();
    let quick = Server::start(&dir2.data(), None);
    let got = query(
        &quick,
        "/api/v1/query",
        &[("query", "1"), ("timeout", "0.000001")],
    );
    assert_refused(&got, 503, "timeout", "query timed out");
}

#[test]
fn a_client_that_hangs_up_stops_its_query() {
    let dir = TestDir::new();
    let srv = Server::start_env(
        &dir.data(),
        None,
        &[("LOOKOUT_DEBUG_QUERY_STALL_MS", "60000")],
    );
    let impatient = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(500))
        .no_proxy()
        .build()
        .unwrap();
    let r = impatient
        .post(srv.url("/api/v1/query"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[("query", "vector(1)")]))
        .send();
    assert!(
        r.is_err(),
        "the query answered although it stalls for a minute"
    );
    eventually(
        "the abandoned query stopped",
        Duration::from_secs(5),
        || self_metric(&srv, "lookout_query_running") == 0.0,
    );
    assert_eq!(
        self_metric(&srv, "lookout_query_stopped_total{reason=\"canceled\"}"),
        1.0
    );
}

#[test]
fn queries_beyond_the_concurrency_limit_wait_then_are_refused() {
    let dir = TestDir::new();
    let srv = Arc::new(Server::start_env(
        &dir.data(),
        Some("query:\n  max_concurrency: 1\n  max_queued: 1\n"),
        &[("LOOKOUT_DEBUG_QUERY_STALL_MS", "1500")],
    ));
    let running = {
        let srv = srv.clone();
        std::thread::spawn(move || query(&srv, "/api/v1/query", &[("query", "vector(1)")]).0)
    };
    eventually("the first query runs", Duration::from_secs(10), || {
        self_metric(&srv, "lookout_query_running") == 1.0
    });
    // It runs on a thread of its own at the configured lower priority (query.nice 10).
    assert_eq!(query_thread_nices(srv.pid()), vec![10]);
    let waiting = {
        let srv = srv.clone();
        std::thread::spawn(move || query(&srv, "/api/v1/query", &[("query", "vector(2)")]).0)
    };
    eventually("the second query waits", Duration::from_secs(10), || {
        self_metric(&srv, "lookout_query_queued") == 1.0
    });
    let got = query(&srv, "/api/v1/query", &[("query", "vector(3)")]);
    assert_refused(&got, 503, "unavailable", "(query.max_queued)");
    assert_eq!(running.join().unwrap(), 200);
    assert_eq!(waiting.join().unwrap(), 200);
    assert_eq!(
        self_metric(&srv, "lookout_query_rejected_total{reason=\"queue_full\"}"),
        1.0
    );
}

#[test]
fn memory_budget_stops_queries_before_they_hold_it() {
    let dir = TestDir::new();
    let srv = Server::start_real_clock(&dir.data(), Some("query:\n  max_memory: 32MiB\n"));
    load_wide(&srv, 2000);
    let now = now_ms() / 1000;
    let (start, end) = ((now - 11_000 * 60).to_string(), now.to_string());
    // 2,000 series x 11,000 steps of rate would be 176 MB before the sum.
    let got = query(
        &srv,
        "/api/v1/query_range",
        &[
            ("query", "sum(rate(hl_metric_total[5m]))"),
            ("start", &start),
            ("end", &end),
            ("step", "60"),
        ],
    );
    assert_refused(
        &got,
        422,
        "execution",
        "more than 32MiB in memory (query.max_memory)",
    );
    // A subquery's steps count before they exist: 315 million of them here.
    let got = query(
        &srv,
        "/api/v1/query",
        &[("query", "max_over_time(vector(1)[10y:1s])")],
    );
    assert_refused(&got, 422, "execution", "(query.max_memory)");
    // The same aggregation over a range that fits answers.
    let (start, end) = ((now - 600).to_string(), now.to_string());
    let (code, v) = query(
        &srv,
        "/api/v1/query_range",
        &[
            ("query", "sum(rate(hl_metric_total[5m]))"),
            ("start", &start),
            ("end", &end),
            ("step", "60"),
        ],
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["result"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(
        self_metric(&srv, "lookout_query_stopped_total{reason=\"memory\"}"),
        2.0
    );
}

/// The acceptance test of hostile queries: while remote_write goes on, every query below
/// is answered with a named 4xx/5xx (or a correct answer), the server stays up, every
/// acknowledged write is readable afterwards, and its peak RSS stays under a bound.
#[test]
fn hostile_queries_while_ingesting() {
    let dir = TestDir::new();
    let srv = Arc::new(Server::start_real_clock(
        &dir.data(),
        Some("query:\n  max_memory: 64MiB\n  max_concurrency: 2\n  max_queued: 4\n"),
    ));
    load_wide(&srv, 3000);
    let (_, before) = memory_kib(srv.pid());
    let now = now_ms() / 1000;
    let wide_start = (now - 10_999 * 60).to_string();
    let now_s = now.to_string();
    let chain = vec!["hl_metric_total"; 3000].join(" + ");
    let nested = format!("{}hl_metric_total{}", "sum(".repeat(3000), ")".repeat(3000));
    let hostile: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/api/v1/query", vec![("query", chain.as_str())]),
        ("/api/v1/query", vec![("query", nested.as_str())]),
        (
            "/api/v1/query",
            vec![("query", "max_over_time(vector(1)[10y:1s])")],
        ),
        (
            "/api/v1/query",
            vec![("query", "sum_over_time(vector(1)[1d:1ms])")],
        ),
        (
            "/api/v1/query",
            vec![("query", "count_over_time({__name__=~\".+\"}[100y])")],
        ),
        (
            "/api/v1/query",
            vec![(
                "query",
                "hl_metric_total{instance=~\"(a+)+b|(.*)*x{1000}\"}",
            )],
        ),
        (
            "/api/v1/query",
            vec![("query", "up{job=~\"a{1000}{1000}\"}")],
        ),
        (
            "/api/v1/query",
            vec![("query", "hl_metric_total * on() group_left hl_metric_total")],
        ),
        (
            "/api/v1/query_range",
            vec![
                ("query", "sum(rate(hl_metric_total[5m]))"),
                ("start", &wide_start),
                ("end", &now_s),
                ("step", "60"),
            ],
        ),
        (
            "/api/v1/query_range",
            vec![
                ("query", "rate(hl_metric_total[1m]) * 2 + hl_metric_total"),
                ("start", &wide_start),
                ("end", &now_s),
                ("step", "60"),
            ],
        ),
        (
            "/api/v1/query_range",
            vec![
                ("query", "max_over_time(hl_metric_total[1h:1s])"),
                ("start", &wide_start),
                ("end", &now_s),
                ("step", "60"),
            ],
        ),
        (
            "/api/v1/query_range",
            vec![
                ("query", "vector(1)"),
                ("start", "0"),
                ("end", &now_s),
                ("step", "0.001"),
            ],
        ),
        ("/api/v1/query", vec![("query", "sum(")]),
        ("/api/v1/query", vec![("query", "x"), ("time", "abc")]),
    ];

    // remote_write goes on the whole time: 100 series, one sample each, per request.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (srv, stop, written) = (srv.clone(), stop.clone(), written.clone());
        std::thread::spawn(move || {
            let base = now_ms() - 3_600_000;
            for k in 0..5_000i64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let ts = (0..100)
                    .map(|i| {
                        series(
                            &[("__name__", "probe"), ("i", &i.to_string())],
                            &[(base + k, 1.0)],
                        )
                    })
                    .collect();
                let (code, body) = srv.write(&request(ts));
                assert_eq!(code, 204, "a write failed while queries ran: {body}");
                written.fetch_add(100, Ordering::Relaxed);
            }
        })
    };

    // Every hostile query twice, four clients at once.
    let pending = Arc::new(std::sync::Mutex::new(
        hostile
            .iter()
            .chain(hostile.iter())
            .map(|(p, q)| {
                (
                    p.to_string(),
                    q.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
    ));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (srv, pending) = (srv.clone(), pending.clone());
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                loop {
                    let Some((path, params)) = pending.lock().unwrap().pop() else {
                        break;
                    };
                    let params: Vec<(&str, &str)> = params
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    let (code, v) = query(&srv, &path, &params);
                    answers.push((params[0].1.chars().take(80).collect::<String>(), code, v));
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for c in clients {
        answers.extend(c.join().unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    for (q, code, v) in &answers {
        if *code == 200 {
            assert_eq!(v["status"], "success", "{q}: {v}");
            continue;
        }
        assert!(
            [400, 422, 503].contains(code),
            "{q}: answered {code}, not a named refusal: {v}"
        );
        assert_eq!(v["status"], "error", "{q}: {v}");
        let kind = v["errorType"].as_str().unwrap_or("");
        assert!(
            ["bad_data", "execution", "timeout", "unavailable"].contains(&kind),
            "{q}: errorType {kind:?}"
        );
        assert!(!v["error"].as_str().unwrap_or("").is_empty(), "{q}: {v}");
    }
    // The heavy ones were refused for memory, not answered at 10 GB.
    let refused_for_memory = answers
        .iter()
        .filter(|(_, _, v)| {
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("(query.max_memory)"))
        })
        .count();
    assert!(refused_for_memory >= 6, "{answers:?}");

    assert_eq!(srv.get("/-/healthy", None).0, 200);
    let n = written.load(Ordering::Relaxed);
    assert!(n > 0);
    let (code, v) = query(
        &srv,
        "/api/v1/query",
        &[("query", "sum(count_over_time(probe[2h]))")],
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["result"][0]["value"][1], n.to_string(), "{v}");
    let (peak, _) = memory_kib(srv.pid());
    eprintln!(
        "RSS before the hostile queries {} MiB, peak {} MiB",
        before / 1024,
        peak / 1024
    );
    // Two queries at a time (query.max_concurrency) of at most 64 MiB each, counted
    // loosely (the budget counts values, not the allocator's slack): twice that, plus room
    // for ingestion's own buffers.
    let bound = before + 2 * 2 * 64 * 1024 + 128 * 1024;
    assert!(
        peak < bound,
        "peak RSS {} MiB is over {} MiB: hostile queries were not bounded",
        peak / 1024,
        bound / 1024
    );
}

#[test]
fn series_and_export_endpoints_answer_within_the_budget_too() {
    let dir = TestDir::new();
    let srv = Server::start_real_clock(&dir.data(), Some("query:\n  max_memory: 1MiB\n"));
    load_wide(&srv, 2000);
    // 2,000 label sets fit; 2,000 series of 60 samples as JSON lines do not.
    let (code, v) = query(&srv, "/api/v1/series", &[("match[]", "hl_metric_total")]);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2000));
    let got = query(&srv, "/api/v1/export", &[("match[]", "hl_metric_total")]);
    assert_refused(
        &got,
        422,
        "execution",
        "more than 1MiB in memory (query.max_memory)",
    );
    let body = srv
        .client
        .post(srv.url("/api/v1/export"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[(
            "match[]",
            "hl_metric_total{instance=~\"host-1.?\"}",
        )]))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(body.lines().count(), 11, "{body}");
}

/// Names a query makes follow the store's rule (Prometheus 3: any non-empty UTF-8), so a
/// query never returns a series that remote_write would refuse, nor refuses one it takes.
#[test]
fn names_made_by_queries_follow_the_store_rule() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    for (q, label) in [
        (r#"label_replace(vector(1), "é", "x", "", "")"#, "é"),
        (
            r#"label_join(label_replace(vector(1), "a", "v", "", ""), "0bad", "-", "a")"#,
            "0bad",
        ),
        (r#"count_values("ü", vector(1))"#, "ü"),
    ] {
        let (code, v) = query(&srv, "/api/v1/query", &[("query", q), ("time", "1000")]);
        assert_eq!(code, 200, "{q}: {v}");
        assert!(
            v["data"]["result"][0]["metric"].get(label).is_some(),
            "{q}: {v}"
        );
    }
    for q in [
        r#"label_replace(vector(1), "", "x", "", "")"#,
        r#"label_join(vector(1), "", "-", "a")"#,
        r#"count_values("", vector(1))"#,
    ] {
        let (code, v) = query(&srv, "/api/v1/query", &[("query", q), ("time", "1000")]);
        assert_eq!(code, 422, "{q}: {v}");
        assert_eq!(v["errorType"], "execution", "{q}: {v}");
    }
}
