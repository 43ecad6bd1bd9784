//! Limits on ingest, end to end. Time bounds: retention is measured from the server's clock (one
//! sample stamped a month ahead no longer makes maintenance drop every real block), and
//! samples the store would not keep (too far ahead, older than retention, i64::MIN/MAX)
//! are refused with a 400 that names the limit, counted in /metrics, never acknowledged
//! and then lost. A scrape with such timestamps keeps its other samples and says so.
//! Series limits (`limits.max_label_*`, `limits.max_series_per_metric`) apply to scrapes
//! as to remote_write (whose cases are in remote_write_api.rs).

mod common;

use std::time::{Duration, Instant};

use common::*;

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

fn samples_of(srv: &Server, sel: &str) -> Vec<i64> {
    srv.export(sel, None)
        .first()
        .map(|s| s.samples.iter().map(|x| x.0).collect())
        .unwrap_or_default()
}

fn metric(srv: &Server, line_prefix: &str) -> f64 {
    let (code, body) = srv.get("/metrics", None);
    assert_eq!(code, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line_prefix} not in /metrics:\n{body}"))
}

#[test]
fn out_of_bounds_samples_are_refused_and_named() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    let now = CLOCK_MS;
    let cases: [(i64, &str); 4] = [
        (now + 30 * DAY, "limits.max_future"),
        (i64::MAX, "limits.max_future"),
        (now - 16 * DAY, "retention.time"),
        (i64::MIN, "retention.time"),
    ];
    for (t, key) in cases {
        let (code, body) = srv.write(&request(vec![series(
            &[("__name__", "rc_bad")],
            &[(t, 1.0)],
        )]));
        assert_eq!(code, 400, "sample at {t}: {body}");
        assert!(body.contains(key), "sample at {t}: {body}");
    }
    assert!(samples_of(&srv, "rc_bad").is_empty());

    // A mixed request: the good samples are stored, the response says what was not.
    let (code, body) = srv.write(&request(vec![
        series(
            &[("__name__", "rc_mixed")],
            &[(now - MINUTE, 1.0), (now + 30 * DAY, 2.0)],
        ),
        series(&[("__name__", "rc_good")], &[(now - MINUTE, 3.0)]),
    ]));
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("2 other samples") && body.contains("were stored"),
        "{body}"
    );
    assert_eq!(samples_of(&srv, "rc_mixed"), vec![now - MINUTE]);
    assert_eq!(samples_of(&srv, "rc_good"), vec![now - MINUTE]);

    assert_eq!(
        metric(
            &srv,
            "lookout_ingest_samples_rejected_total{reason=\"too_far_in_future\"} "
        ),
        3.0
    );
    assert_eq!(
        metric(
            &srv,
            "lookout_ingest_samples_rejected_total{reason=\"too_old\"} "
        ),
        2.0
    );
}

#[test]
fn a_far_future_sample_does_not_expire_real_data() {
    // Even where the future bound is lifted, retention is measured from the clock.
    let cfg = "retention:\n  time: 1d\nlimits:\n  max_future: 60d\nmaintenance_interval: 100ms\n";
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some(cfg));
    let now = CLOCK_MS;
    let real: Vec<(i64, f64)> = (0..60)
        .map(|k| (now - 3 * 60 * MINUTE + k * MINUTE, 1.0))
        .collect();
    srv.write_ok(&request(vec![series(&[("__name__", "rc_real")], &real)]));
    srv.flush();
    srv.write_ok(&request(vec![series(
        &[("__name__", "rc_liar")],
        &[(now + 30 * DAY, 1.0)],
    )]));
    srv.flush();
    // Several maintenance rounds.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(samples_of(&srv, "rc_real").len(), 60, "{}", srv.logs());
    assert!(
        !srv.logs().contains("retention drops block"),
        "{}",
        srv.logs()
    );
    drop(srv);
    // Two days later the real data has aged out; the far-future sample has not.
    let srv = Server::start_at(&dir.data(), Some(cfg), now + 2 * DAY);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !samples_of(&srv, "rc_real").is_empty() {
        assert!(
            Instant::now() < deadline,
            "retention not applied: {}",
            srv.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(samples_of(&srv, "rc_liar"), vec![now + 30 * DAY]);
}

#[test]
fn a_scrape_drops_far_future_samples_and_says_so() {
    // 4102444800000 is 2100-01-01: beyond any sane clock's max_future.
    let addr = serve_exposition("rc_now 1\nrc_future 2 4102444800000\n");
    let cfg = format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: clock\n    static_configs: [{{targets: ['{addr}']}}]\n"
    );
    let dir = TestDir::new();
    let srv = Server::start_real_clock(&dir.data(), Some(&cfg));
    let deadline = Instant::now() + Duration::from_secs(20);
    let target = loop {
        let d = srv.api_data("/api/v1/targets", None);
        let t = d["activeTargets"][0].clone();
        if t["lastError"].as_str().is_some_and(|e| !e.is_empty()) {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "no scrape reported: {d}\n{}",
            srv.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(target["health"], "up", "{target}");
    let err = target["lastError"].as_str().unwrap();
    assert!(
        err.contains("dropped") && err.contains("limits.max_future"),
        "{err}"
    );
    assert!(!samples_of(&srv, "rc_now").is_empty());
    assert!(samples_of(&srv, "rc_future").is_empty());
    assert!(metric(&srv, "lookout_scrape_samples_out_of_bounds_total ") >= 1.0);
}

#[test]
fn a_scrape_over_a_global_series_limit_fails_naming_it() {
    let addr = serve_exposition("il_a{i=\"1\"} 1\nil_a{i=\"2\"} 1\nil_a{i=\"3\"} 1\n");
    let cfg = format!(
        "limits:\n  max_series_per_metric: 2\nglobal: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: lim\n    static_configs: [{{targets: ['{addr}']}}]\n"
    );
    let dir = TestDir::new();
    let srv = Server::start_real_clock(&dir.data(), Some(&cfg));
    let deadline = Instant::now() + Duration::from_secs(20);
    let target = loop {
        let d = srv.api_data("/api/v1/targets", None);
        let t = d["activeTargets"][0].clone();
        if t["lastError"].as_str().is_some_and(|e| !e.is_empty()) {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "no scrape reported: {d}\n{}",
            srv.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(target["health"], "down", "{target}");
    let err = target["lastError"].as_str().unwrap();
    assert!(err.contains("limits.max_series_per_metric"), "{err}");
    assert!(
        metric(
            &srv,
            "lookout_ingest_samples_rejected_total{reason=\"max_series_per_metric\"} "
        ) >= 1.0
    );
}
