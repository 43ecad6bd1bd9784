//! `/api/v1/rules`, `/api/v1/alerts` and `/api/v1/alertmanagers` in Prometheus' JSON
//! shapes, over the running rule groups and the notifier. A separate router with its own
//! state (the rule manager), merged by the binary next to the query routes.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::http::errors::success;
use crate::http::params::Params;
use crate::rules::alert::{Alert, AlertState};
use crate::rules::group::{Group, Rule};
use crate::rules::notify::Notifier;
use crate::rules::Manager;

#[derive(Clone)]
pub struct RulesApi {
    pub manager: Manager,
    pub notifier: Notifier,
}

pub fn router(api: RulesApi) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules).post(rules))
        .route("/api/v1/alerts", get(alerts).post(alerts))
        .route("/api/v1/alertmanagers", get(alertmanagers))
        .with_state(api)
}

/// Go's RFC 3339 with nanoseconds, UTC; the zero time for "never".
pub fn rfc3339(ms: i64) -> String {
    if ms == 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

fn alert_json(a: &Alert) -> Value {
    let mut v = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": crate::rules::template::gofmt::format_e_shortest(a.value),
    });
    if a.keep_firing_since > 0 {
        v["keepFiringSince"] = json!(rfc3339(a.keep_firing_since));
    }
    v
}

fn active(rule_alerts: &BTreeMap<BTreeMap<String, String>, Alert>) -> impl Iterator<Item = &Alert> {
    rule_alerts
        .values()
        .filter(|a| a.state != AlertState::Inactive)
}

async fn rules(
    State(api): State<RulesApi>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &body);
    let kind = match p.get("type") {
        None | Some("") => None,
        Some("alert") => Some("alerting"),
        Some("record") => Some("recording"),
        Some(other) => {
            return Err(Error::BadData(format!(
                "invalid parameter \"type\": {other:?}: use alert or record"
            )))
        }
    };
    let names = p.all("rule_name[]");
    let groups_f = p.all("rule_group[]");
    let files_f = p.all("file[]");
    let exclude_alerts = p.get("exclude_alerts") == Some("true");
    let filtered =
        kind.is_some() || !names.is_empty() || !groups_f.is_empty() || !files_f.is_empty();
    let mut out = Vec::new();
    for g in api.manager.groups() {
        let g = g.lock();
        let file = g.file.display().to_string();
        if (!groups_f.is_empty() && !groups_f.contains(&g.name.as_str()))
            || (!files_f.is_empty() && !files_f.contains(&file.as_str()))
        {
            continue;
        }
        let mut rules = Vec::new();
        for r in &g.rules {
            if !names.is_empty() && !names.contains(&r.name()) {
                continue;
            }
            let v = rule_json(r, exclude_alerts);
            if kind.is_some_and(|k| v["type"] != k) {
                continue;
            }
            rules.push(v);
        }
        if filtered && rules.is_empty() {
            continue;
        }
        out.push(group_json(&g, &file, rules));
    }
    Ok(success(json!({ "groups": out })))
}

fn group_json(g: &Group, file: &str, rules: Vec<Value>) -> Value {
    json!({
        "name": g.name,
        "file": file,
        "rules": rules,
        "interval": g.interval_ms as f64 / 1000.0,
        "limit": g.limit,
        "evaluationTime": g.last_duration_s,
        "lastEvaluation": rfc3339(g.last_evaluation_ms),
    })
}

fn rule_json(r: &Rule, exclude_alerts: bool) -> Value {
    let st = r.status();
    let mut v = match r {
        Rule::Alerting(a) => {
            let mut v = json!({
                "state": a.state().as_str(),
                "name": a.name,
                "query": a.expr_text,
                "duration": a.for_ms as f64 / 1000.0,
                "keepFiringFor": a.keep_firing_for_ms as f64 / 1000.0,
                "labels": a.labels,
                "annotations": a.annotations,
                "type": "alerting",
            });
            if !exclude_alerts {
                v["alerts"] = Value::Array(active(&a.active).map(alert_json).collect());
            }
            v
        }
        Rule::Recording(rr) => json!({
            "name": rr.name,
            "query": rr.expr_text,
            "labels": rr.labels,
            "type": "recording",
        }),
    };
    v["health"] = json!(st.health.as_str());
    v["evaluationTime"] = json!(st.evaluation_seconds);
    v["lastEvaluation"] = json!(rfc3339(st.last_evaluation_ms));
    if let Some(e) = &st.last_error {
        v["lastError"] = json!(e);
    }
    v
}

async fn alerts(State(api): State<RulesApi>) -> Result<Response> {
    let mut out = Vec::new();
    for g in api.manager.groups() {
        let g = g.lock();
        for r in &g.rules {
            if let Rule::Alerting(a) = r {
                out.extend(active(&a.active).map(alert_json));
            }
        }
    }
    Ok(success(json!({ "alerts": out })))
}

async fn alertmanagers(State(api): State<RulesApi>) -> Result<Response> {
    let urls =
        |v: Vec<String>| -> Vec<Value> { v.into_iter().map(|u| json!({ "url": u })).collect() };
    Ok(success(json!({
        "activeAlertmanagers": urls(api.notifier.alertmanager_urls()),
        "droppedAlertmanagers": [],
    })))
}
