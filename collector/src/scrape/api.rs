//! `/api/v1/targets` and `/api/v1/targets/metadata` in Prometheus' JSON shapes.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use lookout_store::TenantId;
use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Value};

use super::manager::{Manager, PoolView};
use super::relabel::LabelMap;

/// The targets routes. With `multi_tenant`, a request sees only the jobs whose `tenant:`
/// is its X-Scope-OrgID, and one without the header is refused like any other read.
pub fn router(m: Manager, multi_tenant: bool) -> Router {
    Router::new()
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/targets/metadata", get(metadata))
        .with_state(Api { m, multi_tenant })
}

#[derive(Clone)]
struct Api {
    m: Manager,
    multi_tenant: bool,
}

impl Api {
    /// The caller's tenant's pools, or the 400 for a request without a tenant.
    fn pools(&self, headers: &HeaderMap) -> Result<BTreeMap<String, PoolView>, String> {
        let org = headers.get("x-scope-orgid").and_then(|v| v.to_str().ok());
        let tenant = TenantId::from_request(self.multi_tenant, org).map_err(|e| e.to_string())?;
        let mut pools = self.m.pools();
        if self.multi_tenant {
            pools.retain(|_, v| v.tenant == tenant);
        }
        Ok(pools)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TargetsParams {
    state: Option<String>,
    #[serde(rename = "scrapePool")]
    scrape_pool: Option<String>,
}

fn bad(msg: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"status": "error", "errorType": "bad_data", "error": msg})),
    )
        .into_response()
}

async fn targets(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(p): Query<TargetsParams>,
) -> Response {
    let pools = match api.pools(&headers) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    let state = p.state.as_deref().unwrap_or("any").to_ascii_lowercase();
    let (want_active, want_dropped) = match state.as_str() {
        "" | "any" => (true, true),
        "active" => (true, false),
        "dropped" => (false, true),
        s => {
            return bad(format!(
                "state {s:?} is invalid: use active, dropped or any"
            ))
        }
    };
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut dropped_counts = BTreeMap::new();
    for (pool, view) in pools {
        if p.scrape_pool.as_ref().is_some_and(|w| *w != pool) {
            continue;
        }
        dropped_counts.insert(pool.clone(), view.dropped.len());
        if want_active {
            for t in &view.active {
                let st = t.status();
                active.push(json!({
                    "discoveredLabels": t.discovered,
                    "labels": t.labels,
                    "scrapePool": pool,
                    "scrapeUrl": t.url,
                    "globalUrl": t.url,
                    "lastError": st.last_error,
                    "lastScrape": st.last_scrape.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                    "lastScrapeDuration": st.last_duration.as_secs_f64(),
                    "health": st.health.as_str(),
                    "scrapeInterval": super::config::PromDuration(t.interval.as_millis() as u64).to_string(),
                    "scrapeTimeout": super::config::PromDuration(t.timeout.as_millis() as u64).to_string(),
                }));
            }
        }
        if want_dropped {
            for d in &view.dropped {
                dropped.push(json!({"discoveredLabels": d.discovered}));
            }
        }
    }
    let mut data = serde_json::Map::new();
    if want_active {
        data.insert("activeTargets".into(), Value::Array(active));
    }
    if want_dropped {
        data.insert("droppedTargets".into(), Value::Array(dropped));
        data.insert("droppedTargetCounts".into(), json!(dropped_counts));
    }
    Json(json!({"status": "success", "data": data})).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MetadataParams {
    match_target: Option<String>,
    metric: Option<String>,
    /// Parsed by hand, so `limit=abc` gets Prometheus' 400 envelope, not a bare text error.
    limit: Option<String>,
}

async fn metadata(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(p): Query<MetadataParams>,
) -> Response {
    let pools = match api.pools(&headers) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    let matchers = match p.match_target.as_deref() {
        Some(s) if !s.trim().is_empty() => match parse_matchers(s) {
            Ok(m) => m,
            Err(e) => return bad(e),
        },
        _ => Vec::new(),
    };
    let limit = match p.limit.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(l)) => usize::try_from(l).ok(),
        Some(Err(_)) => {
            return bad(format!(
                "invalid parameter \"limit\": {:?} is not an integer",
                p.limit.unwrap_or_default()
            ))
        }
    };
    let mut out = Vec::new();
    'pools: for view in pools.values() {
        for t in &view.active {
            if !matchers.iter().all(|mt| mt.matches(&t.labels)) {
                continue;
            }
            let md = t.status().metadata;
            for e in md.iter() {
                if p.metric.as_ref().is_some_and(|w| *w != e.metric) {
                    continue;
                }
                if limit.is_some_and(|l| out.len() >= l) {
                    break 'pools;
                }
                out.push(json!({
                    "target": t.labels,
                    "metric": e.metric,
                    "type": e.kind,
                    "help": e.help,
                    "unit": e.unit,
                }));
            }
        }
    }
    Json(json!({"status": "success", "data": out})).into_response()
}

enum Op {
    Eq(String),
    Ne(String),
    Re(Regex),
    Nre(Regex),
}

struct LabelMatcher {
    name: String,
    op: Op,
}

impl LabelMatcher {
    fn matches(&self, l: &LabelMap) -> bool {
        let v = l.get(&self.name).map(String::as_str).unwrap_or("");
        match &self.op {
            Op::Eq(w) => v == w,
            Op::Ne(w) => v != w,
            Op::Re(r) => r.is_match(v),
            Op::Nre(r) => !r.is_match(v),
        }
    }
}

/// `{name="v", name=~"re", ...}`: the label matchers of a `match_target`.
fn parse_matchers(s: &str) -> Result<Vec<LabelMatcher>, String> {
    let err = |m: &str| format!("match_target {s:?} is invalid: {m}; write e.g. {{job=\"node\"}}");
    let inner = s
        .trim()
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| err("it must be a label set in braces"))?;
    let b = inner.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ns = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = inner[ns..i].to_string();
        if name.is_empty() {
            return Err(err("a label name is missing"));
        }
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|o| inner[i..].starts_with(o))
            .ok_or_else(|| err("expected =, !=, =~ or !~"))?;
        i += op.len();
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'"' {
            return Err(err("label values must be in double quotes"));
        }
        i += 1;
        let mut v = String::new();
        while i < b.len() && b[i] != b'"' {
            if b[i] == b'\\' && i + 1 < b.len() {
                i += 1;
            }
            let c = inner[i..].chars().next().unwrap_or('\0');
            v.push(c);
            i += c.len_utf8();
        }
        if i >= b.len() {
            return Err(err("a label value is not closed"));
        }
        i += 1;
        let re = |v: &str| {
            Regex::new(&format!("^(?:{v})$")).map_err(|e| err(&format!("bad regex: {e}")))
        };
        let op = match op {
            "=" => Op::Eq(v),
            "!=" => Op::Ne(v),
            "=~" => Op::Re(re(&v)?),
            _ => Op::Nre(re(&v)?),
        };
        out.push(LabelMatcher { name, op });
    }
    Ok(out)
}

/// RFC 3339 in UTC with nanoseconds, as Go's time.Time marshals.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123000000Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn match_target_selectors() {
        let m = parse_matchers(r#"{job="node", instance=~"h.*", x!="y"}"#).unwrap();
        let l: LabelMap = [("job", "node"), ("instance", "h1")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert!(m.iter().all(|m| m.matches(&l)));
        assert!(parse_matchers("job=node").is_err());
        assert!(parse_matchers(r#"{job="x}"#).is_err());
    }
}
