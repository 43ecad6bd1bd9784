//! Rules in a running `lookout serve`: alert states over time (pending, firing, kept firing,
//! resolved) with templated labels and annotations, recording rules written back as
//! series, `/api/v1/rules`, `/api/v1/alerts` and their filters, reload of rule files, the
//! for-state restored after a restart, and rule metrics. The server runs on the real clock
//! with 1s evaluation intervals; every wait is bounded.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{enc, request, series, Server, TestDir};
use serde_json::Value;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Polls `f` every 100ms until it returns Some, for at most `secs` seconds.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alerts(s: &Server) -> Vec<Value> {
    s.api_data("/api/v1/alerts", None)["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn alert_named(s: &Server, name: &str) -> Option<Value> {
    alerts(s)
        .into_iter()
        .find(|a| a["labels"]["alertname"] == name)
}

fn write(s: &Server, name: &str, labels: &[(&str, &str)], v: f64) {
    let mut pairs = vec![("__name__", name)];
    pairs.extend_from_slice(labels);
    pairs.sort();
    s.write_ok(&request(vec![series(&pairs, &[(now_ms(), v)])]));
}

/// Parses the API's RFC 3339 UTC timestamps (`2026-12-04T19:01:02.345Z`) to ms.
fn rfc3339_ms(s: &str) -> i64 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let (y, m, day) = (d[0], d[1], d[2]);
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms_frac: i64 = format!("{:0<3}", &frac[..frac.len().min(3)])
        .parse()
        .unwrap();
    ((days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1000) + ms_frac
}

const RULES: &str = r#"
groups:
  - name: api
    interval: 1s
    labels:
      team: infra
    rules:
      - record: job:load:sum
        expr: sum by (job) (load)
      - alert: HighLoad
        expr: load > 5
        for: 2s
        keep_firing_for: 3s
        labels:
          severity: '{{ if gt $value 50.0 }}page{{ else }}ticket{{ end }}'
        annotations:
          summary: '{{ $labels.instance }} load is {{ humanize $value }} in {{ $externalLabels.region }}'
"#;

fn config(dir: &TestDir, extra: &str) -> String {
    dir.file("api.rules.yml", RULES);
    format!(
        "global:\n  evaluation_interval: 1s\n  external_labels: {{region: eu}}\nrule_files: ['{}/*.rules.yml']\n{extra}",
        dir.tmp.path().display()
    )
}

#[test]
fn alert_goes_pending_firing_kept_firing_then_resolved_and_records_series() {
    let dir = TestDir::new();
    let s = Server::start_real_clock(&dir.data(), Some(&config(&dir, "")));
    write(&s, "load", &[("job", "node"), ("instance", "a")], 20.0);

    let pending = wait_for(10, "HighLoad pending", || {
        alert_named(&s, "HighLoad").filter(|a| a["state"] == "pending")
    });
    assert_eq!(pending["labels"]["severity"], "ticket");
    assert_eq!(pending["labels"]["team"], "infra");
    assert_eq!(pending["labels"]["instance"], "a");
    assert_eq!(pending["annotations"]["summary"], "a load is 20 in eu");
    assert_eq!(pending["value"], "2e+01");
    let active_at = rfc3339_ms(pending["activeAt"].as_str().unwrap());

    let firing = wait_for(10, "HighLoad firing", || {
        alert_named(&s, "HighLoad").filter(|a| a["state"] == "firing")
    });
    assert_eq!(firing["activeAt"], pending["activeAt"], "activeAt stays");
    let rules = s.api_data("/api/v1/rules", None);
    let group = &rules["groups"][0];
    assert_eq!(group["name"], "api");
    assert_eq!(group["interval"], 1.0);
    let alerting = group["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "alerting")
        .unwrap();
    assert_eq!(alerting["state"], "firing");
    assert_eq!(alerting["duration"], 2.0);
    assert_eq!(alerting["keepFiringFor"], 3.0);
    assert_eq!(alerting["health"], "ok");
    // Firing happens at the first evaluation at least `for` after activeAt.
    let fired_eval = rfc3339_ms(alerting["lastEvaluation"].as_str().unwrap());
    assert!(fired_eval - active_at >= 2_000, "{fired_eval} {active_at}");

    // ALERTS and the recording rule's output are series.
    let q = s.api_data(
        &format!(
            "/api/v1/query?query={}",
            enc("ALERTS{alertname=\"HighLoad\"}")
        ),
        None,
    );
    let r = &q["result"][0];
    assert_eq!(r["metric"]["alertstate"], "firing");
    assert_eq!(r["metric"]["severity"], "ticket");
    let q = s.api_data(
        &format!("/api/v1/query?query={}", enc("job:load:sum")),
        None,
    );
    assert_eq!(q["result"][0]["metric"]["team"], "infra");
    assert_eq!(q["result"][0]["value"][1], "20");
    let q = s.api_data(
        &format!("/api/v1/query?query={}", enc("ALERTS_FOR_STATE")),
        None,
    );
    assert_eq!(q["result"][0]["value"][1], (active_at / 1000).to_string());

    // The condition clears: still firing for keep_firing_for, then gone.
    write(&s, "load", &[("job", "node"), ("instance", "a")], 1.0);
    let kept = wait_for(10, "keepFiringSince", || {
        alert_named(&s, "HighLoad").filter(|a| a.get("keepFiringSince").is_some())
    });
    assert_eq!(kept["state"], "firing");
    let since = rfc3339_ms(kept["keepFiringSince"].as_str().unwrap());
    wait_for(10, "HighLoad resolved", || {
        alert_named(&s, "HighLoad").is_none().then_some(())
    });
    let rules = s.api_data("/api/v1/rules?type=alert", None);
    let r = &rules["groups"][0]["rules"][0];
    assert_eq!(r["state"], "inactive");
    assert!(rfc3339_ms(r["lastEvaluation"].as_str().unwrap()) - since >= 3_000);
    // ALERTS went stale with the alert.
    let q = s.api_data(&format!("/api/v1/query?query={}", enc("ALERTS")), None);
    assert_eq!(q["result"].as_array().unwrap().len(), 0, "{q}");
}

#[test]
fn rules_api_filters_reload_and_metrics() {
    let dir = TestDir::new();
    let s = Server::start_real_clock(&dir.data(), Some(&config(&dir, "")));
    wait_for(10, "a first evaluation", || {
        let g = s.api_data("/api/v1/rules", None);
        (g["groups"][0]["rules"][0]["health"] == "ok").then_some(())
    });
    let only = |q: &str| -> Vec<String> {
        let d = s.api_data(&format!("/api/v1/rules?{q}"), None);
        d["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| {
                g["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["name"].as_str().unwrap().to_string())
            })
            .collect()
    };
    assert_eq!(only("type=record"), vec!["job:load:sum"]);
    assert_eq!(only("type=alert"), vec!["HighLoad"]);
    assert_eq!(
        only("rule_name[]=HighLoad&rule_name[]=nope"),
        vec!["HighLoad"]
    );
    assert_eq!(only("rule_group[]=other").len(), 0);
    let file = dir.tmp.path().join("api.rules.yml").display().to_string();
    assert_eq!(only(&format!("file[]={}", enc(&file))).len(), 2);
    let (code, _) = s.get("/api/v1/rules?type=bogus", None);
    assert_eq!(code, 400);

    let (_, metrics) = s.get("/metrics", None);
    let key = format!("rule_group=\"{file};api\"");
    for m in [
        "prometheus_rule_evaluations_total",
        "prometheus_rule_evaluation_failures_total",
        "prometheus_rule_group_iterations_missed_total",
        "prometheus_rule_group_last_duration_seconds",
        "prometheus_rule_group_interval_seconds",
    ] {
        assert!(
            metrics.contains(&format!("{m}{{{key}}}")),
            "{m} missing:\n{metrics}"
        );
    }

    // A new rule file appears on reload; a broken one leaves the running rules in place.
    dir.file(
        "more.rules.yml",
        "groups:\n  - name: more\n    rules:\n      - record: two\n        expr: vector(2)\n",
    );
    let r = s.client.post(s.url("/-/reload")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(only("rule_group[]=more"), vec!["two"]);
    dir.file(
        "broken.rules.yml",
        "groups:\n  - name: b\n    rules:\n      - record: x\n        expr: 'sum(('\n",
    );
    let r = s.client.post(s.url("/-/reload")).send().unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.text().unwrap().contains("could not parse expression"));
    assert_eq!(only("").len(), 3);
    let (code, body) = s.get("/api/v1/alertmanagers", None);
    assert_eq!(code, 200, "{body}");
}

#[test]
fn for_state_is_restored_after_a_restart() {
    let dir = TestDir::new();
    let cfg = config(&dir, "alerting:\n  for_grace_period: 1s\n");
    let mut s = Server::start_real_clock(&dir.data(), Some(&cfg));
    write(&s, "load", &[("job", "node"), ("instance", "a")], 20.0);
    let firing = wait_for(15, "HighLoad firing", || {
        alert_named(&s, "HighLoad").filter(|a| a["state"] == "firing")
    });
    let active_at = rfc3339_ms(firing["activeAt"].as_str().unwrap());
    // Let at least one more evaluation write ALERTS_FOR_STATE while firing.
    std::thread::sleep(Duration::from_millis(1500));
    s.terminate(Duration::from_secs(20)).expect("lookout stops");
    std::thread::sleep(Duration::from_millis(1500));
    let s = Server::start_real_clock(&dir.data(), Some(&cfg));
    let restart = now_ms();
    // The first evaluations see the alert as new; the restore after the second puts its
    // activeAt back, and it fires at once instead of waiting `for` again.
    let restored = wait_for(15, "restored activeAt", || {
        alert_named(&s, "HighLoad").filter(|a| {
            let at = rfc3339_ms(a["activeAt"].as_str().unwrap());
            at < restart
        })
    });
    let at = rfc3339_ms(restored["activeAt"].as_str().unwrap());
    assert_eq!(
        at,
        active_at / 1000 * 1000,
        "activeAt restored to the second"
    );
    let f = wait_for(5, "firing after restore", || {
        alert_named(&s, "HighLoad").filter(|a| a["state"] == "firing")
    });
    assert_eq!(f["activeAt"], restored["activeAt"]);
}
