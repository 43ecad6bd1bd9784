//! `/loki/api/v1/detected_fields` and `/loki/api/v1/detected_field/<name>/values`: the
//! fields Grafana's query builder and Logs Drilldown offer, found by parsing the newest
//! lines of a query (up to `line_limit`, default 1000) as JSON when they look like an
//! object and as logfmt otherwise, plus their structured metadata. `detected_labels` is
//! left unanswered (404) so Grafana falls back to `labels` and `series`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use lookout_store::{Direction, TenantId};

use super::error_response;
use super::params::{bounds, S};
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::http::errors::json_response;
use crate::http::params::Params;
use crate::http::{task, tenant, QueryState};
use crate::logql::line_parsers;
use crate::logql::pipeline::{Cat, Entry};
use crate::logql::{Expr, LogRequest};

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/loki/api/v1/detected_fields", get(fields))
        .route("/loki/api/v1/detected_field/{name}/values", get(values))
}

/// Values and parser of each field seen.
type Found = BTreeMap<String, (BTreeSet<String>, Option<&'static str>)>;

async fn scan(st: &QueryState, headers: &HeaderMap, p: &Params) -> Result<Found> {
    let tenant: TenantId = tenant(st, headers)?;
    let (start, end) = bounds(p, 3600 * S)?;
    let expr = match st.logql.parse(p.get("query").unwrap_or(""))? {
        Expr::Log(l) => l,
        Expr::Metric(_) => {
            return Err(Error::BadData(
                "invalid parameter \"query\": detected fields need a log query".into(),
            ))
        }
    };
    let limit = p
        .usize("line_limit")?
        .unwrap_or(1000)
        .clamp(1, st.logql.opts.max_entries_limit.max(1000));
    let req = LogRequest {
        start_ns: start,
        end_ns: end,
        limit,
        direction: Direction::Backward,
        interval_ns: 0,
        categorize: true,
    };
    let (engine, logs) = (st.logql.clone(), st.logs.clone());
    let budget = Budget::new(
        Instant::now(),
        st.engine.opts.timeout,
        st.engine.opts.max_memory,
    );
    task::run(st, budget, "detected fields", move |b| {
        let mut mem = engine.clone();
        mem.opts.max_entries_limit = mem.opts.max_entries_limit.max(limit);
        let (answer, _) = mem.logs(logs.as_ref(), &tenant, &expr, &req, b)?;
        let mut found = Found::new();
        let crate::logql::Answer::Streams(streams) = answer else {
            return Ok(found);
        };
        for s in &streams {
            for l in &s.lines {
                for m in l.metadata.iter() {
                    found
                        .entry(m.name.clone())
                        .or_default()
                        .0
                        .insert(m.value.clone());
                }
                let mut e = Entry::new(lookout_store::LogHit {
                    stream: s.labels.clone(),
                    ts_ns: l.ts_ns,
                    line: l.line.clone(),
                    metadata: Vec::new(),
                });
                let parser = if l.line.trim_start().starts_with('{') {
                    line_parsers::json(&mut e, &[]);
                    "json"
                } else {
                    line_parsers::logfmt(&mut e, false, false, &[]);
                    "logfmt"
                };
                if e.has_err() {
                    continue;
                }
                for lab in e.labels_of(Cat::Parsed).iter() {
                    let slot = found.entry(lab.name.clone()).or_default();
                    slot.0.insert(lab.value.clone());
                    slot.1 = Some(parser);
                }
            }
        }
        Ok(found)
    })
    .await
}

/// The narrowest type every value reads as.
fn kind(values: &BTreeSet<String>) -> &'static str {
    let all = |f: &dyn Fn(&str) -> bool| values.iter().all(|v| f(v));
    if all(&|v| v.parse::<i64>().is_ok()) {
        "int"
    } else if all(&|v| v.parse::<f64>().is_ok()) {
        "float"
    } else if all(&|v| v == "true" || v == "false") {
        "boolean"
    } else if all(&|v| crate::logql::units::go_duration(v).is_some()) {
        "duration"
    } else if all(&|v| v.ends_with(['B', 'b']) && crate::logql::units::bytes(v).is_some()) {
        "bytes"
    } else {
        "string"
    }
}

async fn fields(State(st): State<QueryState>, headers: HeaderMap, uri: Uri) -> Response {
    let p = Params::from_request(&uri, &headers, &Bytes::new());
    let r = async {
        let limit = p.usize("limit")?.unwrap_or(1000);
        let found = scan(&st, &headers, &p).await?;
        let fields: Vec<serde_json::Value> = found
            .iter()
            .take(limit)
            .map(|(name, (vals, parser))| {
                serde_json::json!({
                    "label": name,
                    "type": kind(vals),
                    "cardinality": vals.len(),
                    "parsers": parser.map(|p| vec![p]),
                    "jsonPath": if *parser == Some("json") { vec![name.clone()] } else { vec![] },
                })
            })
            .collect();
        Ok(json_response(
            StatusCode::OK,
            serde_json::json!({"fields": fields, "limit": limit}).to_string(),
        ))
    };
    r.await.unwrap_or_else(error_response)
}

async fn values(
    State(st): State<QueryState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let p = Params::from_request(&uri, &headers, &Bytes::new());
    let r = async {
        let limit = p.usize("limit")?.unwrap_or(1000);
        let found = scan(&st, &headers, &p).await?;
        let vals: Vec<&String> = found
            .get(&name)
            .map(|(v, _)| v.iter().take(limit).collect())
            .unwrap_or_default();
        Ok(json_response(
            StatusCode::OK,
            serde_json::json!({"values": vals, "limit": limit}).to_string(),
        ))
    };
    r.await.unwrap_or_else(error_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_types() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(kind(&set(&["1", "20"])), "int");
        assert_eq!(kind(&set(&["1", "2.5"])), "float");
        assert_eq!(kind(&set(&["1.5s", "20ms"])), "duration");
        assert_eq!(kind(&set(&["20MB", "1KiB"])), "bytes");
        assert_eq!(kind(&set(&["true"])), "boolean");
        assert_eq!(kind(&set(&["GET", "1"])), "string");
    }
}
