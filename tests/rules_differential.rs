//! The same rule file and the same data in Debian's Prometheus and in Lookout give the same
//! `ALERTS` series and recording-rule values. Both run on loopback on the real clock with
//! 1s groups; the data (written to both with remote_write, Prometheus' receiver enabled)
//! holds still, so every evaluation after the `for` has elapsed has the same answer and
//! both servers are compared once each shows every alert firing.

mod common;
mod rules_common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{enc, encode, request, series, Server, TestDir};
use rules_common::{free_port, now_ms, wait_for, Program};
use serde_json::Value;

const PROMETHEUS: &str = "/usr/bin/prometheus";

const RULES: &str = r#"
groups:
  - name: diff
    interval: 1s
    rules:
      - record: job:cpu:sum
        expr: sum by (job) (cpu)
      - record: instance:cpu:share
        expr: cpu / on (job) group_left sum by (job) (cpu)
      - record: job:cpu:q90
        expr: quantile by (job) (0.9, cpu)
        labels:
          team: infra
      - record: cpu:count_high
        expr: count(cpu > bool 50)
      - alert: CpuHigh
        expr: cpu > 50
        for: 2s
        labels:
          severity: '{{ if gt $value 80.0 }}page{{ else }}ticket{{ end }}'
          instance: 'host-{{ $labels.instance }}'
      - alert: JobBusy
        expr: job:cpu:sum > 100
        labels:
          severity: ticket
          team: infra
      - alert: NeverFires
        expr: absent(cpu)
"#;

const CPU: [(&str, &str, f64); 7] = [
    ("a", "1", 10.0),
    ("a", "2", 60.0),
    ("a", "3", 90.5),
    ("a", "4", 30.25),
    ("b", "1", 55.0),
    ("b", "2", 5.0),
    ("b", "3", 45.125),
];

type Result = BTreeMap<BTreeMap<String, String>, String>;

fn parse(v: &Value) -> Result {
    v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|r| {
            let m = r["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            (m, r["value"][1].as_str().unwrap().to_string())
        })
        .collect()
}

fn query(client: &reqwest::blocking::Client, base: &str, q: &str) -> Result {
    let body = client
        .get(format!("{base}/api/v1/query?query={}", enc(q)))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("{base} {q}: {e}"));
    let v: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{base} {q}: {e}: {body}"));
    assert_eq!(v["status"], "success", "{base} {q}: {v}");
    parse(&v)
}

#[test]
fn prometheus_and_lookout_agree_on_alerts_and_recorded_values() {
    // test.sh installs it; a test that passed without it would show nothing.
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is not installed: run ./test.sh, or apt-get install prometheus"
    );
    let dir = TestDir::new();
    let rules = dir.file("diff.rules.yml", RULES);
    let prom_port = free_port();
    let prom_cfg = dir.file(
        "prometheus.yml",
        &format!(
            "global: {{evaluation_interval: 1s}}\nrule_files: ['{}']\n",
            rules.display()
        ),
    );
    let prom_data = dir.tmp.path().join("prom-data");
    let mut prom = Program::start(
        PROMETHEUS,
        &[
            format!("--config.file={}", prom_cfg.display()),
            format!("--storage.tsdb.path={}", prom_data.display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
            "--web.enable-remote-write-receiver".into(),
        ],
        &dir.tmp.path().join("prometheus.log"),
    );
    let prom_url = format!("http://127.0.0.1:{prom_port}");
    prom.wait_ready(&format!("{prom_url}/-/ready"), 60);

    let cfg = format!(
        "global: {{evaluation_interval: 1s}}\nrule_files: ['{}']\n",
        rules.display()
    );
    let s = Server::start_real_clock(&dir.data(), Some(&cfg));

    // The same samples, at the same timestamp, to both.
    let t = now_ms();
    let req = request(
        CPU.iter()
            .map(|(job, inst, v)| {
                series(
                    &[("__name__", "cpu"), ("instance", inst), ("job", job)],
                    &[(t, *v)],
                )
            })
            .collect(),
    );
    s.write_ok(&req);
    let client = common::client();
    let resp = client
        .post(format!("{prom_url}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(encode(&req))
        .send()
        .expect("remote write to prometheus");
    assert!(resp.status().is_success(), "{:?}", resp.text());

    let lookout_url = s.url("");
    let lookout_url = lookout_url.trim_end_matches('/');
    // CpuHigh (a/2, a/3, b/1) and JobBusy (a, b) firing.
    let firing = "ALERTS{alertstate=\"firing\"}";
    for base in [prom_url.as_str(), lookout_url] {
        wait_for(40, &format!("five firing alerts in {base}"), || {
            (query(&client, base, firing).len() == 5).then_some(())
        });
    }
    for q in [
        "ALERTS",
        "job:cpu:sum",
        "instance:cpu:share",
        "job:cpu:q90",
        "cpu:count_high",
        "count by (alertname) (ALERTS_FOR_STATE)",
    ] {
        let want = query(&client, &prom_url, q);
        let got = query(&client, lookout_url, q);
        assert!(!want.is_empty(), "{q}: Prometheus has nothing");
        assert_eq!(got, want, "{q}: Lookout (left) vs Prometheus (right)");
    }
    drop(prom);
}
