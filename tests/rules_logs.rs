//! Log rules: LogQL expressions in Loki's ruler format, named by `log_rule_files:`. Lines
//! pushed with Loki's JSON push API make a log alerting rule fire (seen in
//! `/api/v1/alerts` and as `ALERTS`) and a log recording rule write a series that PromQL
//! answers. A log query where a metric query belongs is refused at startup, and
//! `lookout check rules --logql` checks log rule files.

mod common;
mod rules_common;

use common::{enc, Server, TestDir};
use rules_common::{now_ms, wait_for};
use serde_json::{json, Value};

const LOG_RULES: &str = r#"
groups:
  - name: api-logs
    interval: 1s
    labels:
      source: logs
    rules:
      - record: app:log_errors:count5m
        expr: sum by (app) (count_over_time({app="api"} |= "level=error" [5m]))
      - alert: ApiErrors
        expr: sum by (app) (count_over_time({app="api"} |= "level=error" [5m])) > 2
        labels:
          severity: page
        annotations:
          summary: '{{ $labels.app }} logged {{ $value }} errors'
"#;

fn push(s: &Server, lines: &[(i64, String)]) {
    let values: Vec<Value> = lines
        .iter()
        .map(|(ms, l)| json!([(ms * 1_000_000).to_string(), l]))
        .collect();
    let body = json!({"streams": [{"stream": {"app": "api", "env": "prod"}, "values": values}]});
    let (code, text) = s.post_json("/loki/api/v1/push", &body, None);
    assert!((200..300).contains(&code), "push: {code} {text}");
}

fn instant(s: &Server, q: &str) -> Vec<Value> {
    s.api_data(&format!("/api/v1/query?query={}", enc(q)), None)["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn log_alert_fires_and_log_recording_rule_answers_promql() {
    let dir = TestDir::new();
    dir.file("api.logrules.yml", LOG_RULES);
    let cfg = format!(
        "global: {{evaluation_interval: 1s}}\nlog_rule_files: ['{}/*.logrules.yml']\n",
        dir.tmp.path().display()
    );
    let s = Server::start_real_clock(&dir.data(), Some(&cfg));
    let t = now_ms() - 2_000;
    let mut lines = Vec::new();
    for i in 0..7 {
        let level = if i % 2 == 0 { "error" } else { "info" };
        lines.push((t + i, format!("level={level} n={i}")));
    }
    push(&s, &lines);

    let alert = wait_for(20, "ApiErrors firing", || {
        s.api_data("/api/v1/alerts", None)["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "ApiErrors" && a["state"] == "firing")
            .cloned()
    });
    assert_eq!(alert["labels"]["app"], "api");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["source"], "logs", "group labels apply");
    assert_eq!(alert["annotations"]["summary"], "api logged 4 errors");

    // The recording rule's series, through PromQL.
    let rec = wait_for(20, "the recorded series", || {
        instant(&s, "app:log_errors:count5m")
            .into_iter()
            .find(|r| r["value"][1] == "4")
    });
    assert_eq!(rec["metric"]["app"], "api");
    assert_eq!(rec["metric"]["source"], "logs");
    assert_eq!(rec["metric"]["__name__"], "app:log_errors:count5m");
    let sum = instant(&s, "sum(app:log_errors:count5m) * 10");
    assert_eq!(sum[0]["value"][1], "40", "{sum:?}");
    // The alert is in the metrics store like any other.
    // (written once the for-state restore has run, after the second evaluation)
    let alerts = wait_for(20, "ALERTS for the log alert", || {
        let v = instant(&s, "ALERTS{alertname=\"ApiErrors\", alertstate=\"firing\"}");
        (!v.is_empty()).then_some(v)
    });
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["metric"]["app"], "api");

    // /api/v1/rules lists the group with its LogQL.
    let groups = s.api_data("/api/v1/rules", None)["groups"].clone();
    let g = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "api-logs")
        .cloned()
        .unwrap_or_else(|| panic!("{groups}"));
    assert_eq!(g["rules"].as_array().unwrap().len(), 2);
    assert!(g["rules"][0]["query"]
        .as_str()
        .unwrap()
        .contains("count_over_time({app=\"api\"}"));
    assert_eq!(g["rules"][0]["health"], "ok", "{g}");
}

#[test]
fn check_rules_with_logql_checks_log_rule_files() {
    let dir = TestDir::new();
    let good = dir.file("good.yml", LOG_RULES);
    let bad = dir.file(
        "bad.yml",
        "groups:\n  - name: bad\n    rules:\n      - record: x\n        expr: 'sum(rate(up[5m]))'\n",
    );
    let t = std::time::Duration::from_secs(30);
    let (code, out, _) = common::run_cli(&["check", "rules", "--logql", good.to_str().unwrap()], t);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("SUCCESS: 2 rules found"), "{out}");
    // LogQL is not PromQL: the same file fails the PromQL check, and PromQL fails LogQL's.
    let (code, _, err) = common::run_cli(&["check", "rules", good.to_str().unwrap()], t);
    assert_eq!(code, Some(1), "{err}");
    let (code, _, err) = common::run_cli(&["check", "rules", "--logql", bad.to_str().unwrap()], t);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("bad.yml:4"), "{err}");
}

#[test]
fn a_log_query_in_a_log_rule_is_refused_at_startup() {
    let dir = TestDir::new();
    dir.file(
        "bad.logrules.yml",
        "groups:\n  - name: bad\n    rules:\n      - alert: Lines\n        expr: '{app=\"api\"} |= \"error\"'\n",
    );
    let cfg = format!(
        "log_rule_files: ['{}/*.logrules.yml']\n",
        dir.tmp.path().display()
    );
    let err = match Server::try_start_at(&dir.data(), Some(&cfg), None) {
        Ok(_) => panic!("lookout started with a log query as a rule"),
        Err(e) => e,
    };
    assert!(err.contains("bad.logrules.yml:4"), "{err}");
    assert!(err.contains("LogQL metric query"), "{err}");
}
