//! `/loki/api/v1/detected_fields` and `/loki/api/v1/detected_field/<name>/values`: the
//! fields Grafana's query builder and Logs Drilldown offer, found by parsing the newest
//! lines of a query (up to `line_limit`, default 1000) as JSON when they look like an
//! object and as logfmt otherwise, plus their structured metadata. `detected_labels` is
//! left unanswered (404) so Grafana falls back to `labels` and `series`.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::error_response;
use super::newest::newest_lines;
use crate::error::Result;
use crate::http::errors::json_response;
use crate::http::params::Params;
use crate::http::QueryState;
use crate::logql::line_parsers;
use crate::logql::pipeline::{Cat, Entry};

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/loki/api/v1/detected_fields", get(fields))
        .route("/loki/api/v1/detected_field/{name}/values", get(values))
}

/// Values and parser of each field seen.
type Found = BTreeMap<String, (BTreeSet<String>, Option<&'static str>)>;

async fn scan(st: &QueryState, headers: &HeaderMap, p: &Params) -> Result<Found> {
    newest_lines(st, headers, p, 1000, "detected fields", |streams, _, _| {
        let mut found = Found::new();
        for s in streams {
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
        found
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
