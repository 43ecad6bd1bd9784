//! Scraping Debian's `prometheus-node-exporter` end to end: every series a direct GET of its
//! `/metrics` shows is in Lookout with `job` and `instance`, `up` is 1, the targets API
//! reports it healthy with metadata; once the exporter is stopped, `up` is 0 and every
//! one of its series ends in a staleness marker. Then a reload (SIGHUP) drops the job and
//! `up` itself goes stale. Only loopback; every wait is bounded.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use lookout_collector::scrape::parse::{parse_series, Entry, Format, Parser};

const EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const WAIT: Duration = Duration::from_secs(60);

struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

type L = BTreeMap<String, String>;

/// The label sets of a text-format payload.
fn series_of(body: &str) -> BTreeSet<L> {
    let mut p = Parser::new(body.as_bytes(), Format::Text);
    let mut out = BTreeSet::new();
    while let Some(e) = p.next().expect("node exporter payload parses") {
        if let Entry::Sample { series, .. } = e {
            let (name, labels) = parse_series(series).expect("series parses");
            let mut l: L = labels.into_iter().collect();
            l.insert("__name__".into(), name);
            out.insert(l);
        }
    }
    out
}

fn last(srv: &Server, sel: &str) -> Option<f64> {
    srv.export(sel, None)
        .into_iter()
        .next()
        .and_then(|s| s.samples.last().map(|x| x.1))
}

#[test]
fn scrapes_node_exporter_and_marks_it_stale_when_it_stops() {
    assert!(
        std::path::Path::new(EXPORTER).exists(),
        "{EXPORTER} is missing: install Debian's prometheus-node-exporter (./test.sh does)"
    );
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut exporter = Exporter(
        Command::new(EXPORTER)
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-node-exporter"),
    );
    let http = client();
    let metrics_url = format!("http://{addr}/metrics");
    wait_for(WAIT, "node exporter to answer", || {
        http.get(&metrics_url)
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });

    let dir = TestDir::new();
    let cfg = format!(
        "global: {{scrape_interval: 2s, scrape_timeout: 2s}}\n\
         scrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['{addr}']}}]\n"
    );
    let srv = Server::start_real_clock(&dir.data(), Some(&cfg));

    let target = wait_for(WAIT, "the target to be up", || {
        let d = srv.api_data("/api/v1/targets", None);
        let t = d["activeTargets"][0].clone();
        (t["health"] == "up").then_some(t)
    });
    assert_eq!(t_str(&target["labels"]["job"]), "node");
    assert_eq!(t_str(&target["labels"]["instance"]), addr);
    assert_eq!(t_str(&target["scrapeUrl"]), metrics_url);
    assert_eq!(target["lastError"], "");

    // Every series of a direct GET is in Lookout. A series that only the later GET shows
    // appears at the next scrape, hence the retry.
    let missing = wait_for(WAIT, "every exporter series in Lookout", || {
        let body = http.get(&metrics_url).send().ok()?.text().ok()?;
        let want = series_of(&body);
        assert!(want.len() > 100, "a node exporter shows hundreds of series");
        let have: BTreeSet<L> = srv
            .export("{job=\"node\"}", None)
            .into_iter()
            .map(|s| s.labels)
            .collect();
        let missing: Vec<L> = want
            .into_iter()
            .map(|mut l| {
                l.insert("job".into(), "node".into());
                l.insert("instance".into(), addr.clone());
                l
            })
            .filter(|l| !have.contains(l))
            .collect();
        missing.is_empty().then_some(missing)
    });
    assert!(missing.is_empty());
    wait_for(WAIT, "up == 1", || {
        (last(&srv, "up{job=\"node\"}") == Some(1.0)).then_some(())
    });
    for m in [
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ] {
        assert!(last(&srv, &format!("{m}{{job=\"node\"}}")).is_some(), "{m}");
    }
    let md = srv.api_data(
        "/api/v1/targets/metadata?match_target=%7Bjob%3D%22node%22%7D&metric=node_load1",
        None,
    );
    assert_eq!(md[0]["type"], "gauge", "{md}");
    assert_eq!(md[0]["target"]["instance"], addr.as_str());

    // The exporter stops: up goes to 0 and every node series ends stale.
    let _ = exporter.0.kill();
    let _ = exporter.0.wait();
    wait_for(WAIT, "up == 0", || {
        (last(&srv, "up{job=\"node\"}") == Some(0.0)).then_some(())
    });
    let (code, raw) = srv.get(
        &format!(
            "/api/v1/export?match[]={}",
            enc("{job=\"node\",__name__=~\"node_.*\"}")
        ),
        None,
    );
    assert_eq!(code, 200);
    let series = parse_export(&raw);
    assert!(series.len() > 100);
    for (line, s) in raw.lines().zip(&series) {
        // Staleness markers export as NaN; a live node series is never NaN here.
        assert!(
            s.samples.last().is_some_and(|x| x.1.is_nan()),
            "series {:?} did not end stale: {line}",
            s.labels
        );
    }
    let t = srv.api_data("/api/v1/targets", None)["activeTargets"][0].clone();
    assert_eq!(t["health"], "down");
    assert!(!t_str(&t["lastError"]).is_empty());

    // A reload on SIGHUP that removes the job makes `up` itself stale.
    std::fs::write(config_path(&dir.data()), "scrape_configs: []\n").expect("rewrite config");
    let st = Command::new("kill")
        .arg("-HUP")
        .arg(srv.pid().to_string())
        .status()
        .expect("kill -HUP");
    assert!(st.success());
    wait_for(WAIT, "up to go stale", || {
        let v = last(&srv, "up{job=\"node\"}")?;
        v.is_nan().then_some(())
    });
    let d = srv.api_data("/api/v1/targets", None);
    assert_eq!(d["activeTargets"].as_array().map(Vec::len), Some(0), "{d}");
}

fn t_str(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}
