//! Scrape configuration through the real binary: `POST /-/reload` starts a job that
//! scrapes Lookout's own `/metrics`, a bad reload is refused and leaves scraping running,
//! and `lookout check config` names the line of a bad scrape config.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn post(srv: &Server, path: &str) -> (u16, String) {
    let r = srv.client.post(srv.url(path)).send().expect("POST");
    let code = r.status().as_u16();
    (code, r.text().unwrap_or_default())
}

fn last(srv: &Server, sel: &str) -> Option<f64> {
    srv.export(sel, None)
        .into_iter()
        .next()
        .and_then(|s| s.samples.last().map(|x| x.1))
}

fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn reload_over_http_scrapes_lookout_itself() {
    let dir = TestDir::new();
    let srv = Server::start_real_clock(&dir.data(), Some("scrape_configs: []\n"));
    let d = srv.api_data("/api/v1/targets", None);
    assert_eq!(d["activeTargets"].as_array().map(Vec::len), Some(0));

    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{}']\n        labels: {{env: test}}\n",
        srv.addr
    );
    std::fs::write(config_path(&dir.data()), &cfg).expect("write config");
    let (code, body) = post(&srv, "/-/reload");
    assert_eq!(code, 200, "{body}");
    wait("up{job=\"self\"} == 1", || {
        last(&srv, "up{job=\"self\"}") == Some(1.0)
    });
    wait("Lookout's own metrics stored", || {
        last(
            &srv,
            "lookout_scrape_scrapes_total{job=\"self\",env=\"test\"}",
        )
        .is_some_and(|v| v >= 1.0)
            && last(
                &srv,
                "lookout_tsdb_head_series{job=\"self\",tenant=\"default\"}",
            )
            .is_some()
    });
    // The scrape manager's metadata is what /api/v1/metadata serves.
    let md = srv.api_data("/api/v1/metadata?metric=lookout_scrape_scrapes_total", None);
    assert_eq!(
        md["lookout_scrape_scrapes_total"][0]["type"], "counter",
        "{md}"
    );
    let md = srv.api_data("/api/v1/metadata?limit=2", None);
    assert_eq!(md.as_object().map(|m| m.len()), Some(2), "{md}");
    let t = srv.api_data("/api/v1/targets?state=active", None)["activeTargets"][0].clone();
    assert_eq!(t["health"], "up");
    assert_eq!(t["scrapePool"], "self");
    assert_eq!(t["discoveredLabels"]["env"], "test");
    assert!(srv
        .api_data("/api/v1/targets?state=active", None)
        .get("droppedTargets")
        .is_none());

    // A broken config is refused with its reason; the running job keeps going.
    std::fs::write(
        config_path(&dir.data()),
        "scrape_configs:\n  - job_name: x\n    scrape_interval: often\n",
    )
    .expect("write config");
    let (code, body) = post(&srv, "/-/reload");
    assert_eq!(code, 500);
    assert!(body.contains("often") && body.contains("line 3"), "{body}");
    let before = srv.export("up{job=\"self\"}", None)[0].samples.len();
    wait("more scrapes after the refused reload", || {
        srv.export("up{job=\"self\"}", None)[0].samples.len() > before
    });

    let (code, _) = srv.get("/api/v1/targets?state=bogus", None);
    assert_eq!(code, 400);
}

#[test]
fn check_config_reports_scrape_errors_with_their_line() {
    let dir = TestDir::new();
    let bad = dir.file(
        "bad.yaml",
        "listen: 127.0.0.1:0\nscrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['h:1']}]\n    honor_lables: true\n",
    );
    let (code, _out, err) = run_cli(
        &["check", "config", bad.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("honor_lables") && err.contains("line 5"),
        "{err}"
    );

    let bad = dir.file(
        "relabel.yaml",
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: hashmod\n        target_label: shard\n",
    );
    let (code, _out, err) = run_cli(
        &["check", "config", bad.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("modulus"), "{err}");

    let bad = dir.file(
        "tls.yaml",
        "scrape_configs:\n  - job_name: a\n    scheme: https\n    tls_config: {ca_file: /nonexistent/ca.pem}\n",
    );
    let (code, _out, err) = run_cli(
        &["check", "config", bad.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");

    let good = dir.file(
        "good.yaml",
        "global: {scrape_interval: 15s}\nscrape_configs:\n  - job_name: node\n    file_sd_configs: [{files: ['/etc/targets/*.json']}]\n    metric_relabel_configs:\n      - {source_labels: [__name__], regex: 'go_.*', action: drop}\n",
    );
    let (code, out, err) = run_cli(
        &["check", "config", good.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("OK"));
}
