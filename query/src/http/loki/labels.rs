//! `/loki/api/v1/labels`, `/loki/api/v1/label/<name>/values` and `/loki/api/v1/series`:
//! stream labels over `[start, end)` (default: the last 6 hours), optionally narrowed by a
//! stream selector (`query`, or `match[]` for series).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use lookout_store::{Labels, Matcher};

use super::error_response;
use super::params::{bounds, S};
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::http::errors::success;
use crate::http::params::Params;
use crate::http::{task, tenant, QueryState};
use crate::logql::Expr;

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/loki/api/v1/labels", get(labels).post(labels))
        .route("/loki/api/v1/label", get(labels))
        .route("/loki/api/v1/label/{name}/values", get(values))
        .route("/loki/api/v1/series", get(series).post(series))
}

const SIX_HOURS: i64 = 6 * 3600 * S;

/// The matchers of a stream selector parameter (`{app="x"}`, optionally with a pipeline,
/// which is ignored as Loki does for these endpoints).
pub fn selector(st: &QueryState, key: &str, s: &str) -> Result<Vec<Matcher>> {
    match st.logql.parse(s) {
        Ok(Expr::Log(l)) => Ok(l.matchers),
        Ok(_) => Err(Error::BadData(format!(
            "invalid parameter \"{key}\": {s:?} is a metric query, not a stream selector such as {{app=\"api\"}}"
        ))),
        Err(e) => Err(Error::BadData(format!("invalid parameter \"{key}\": {e}"))),
    }
}

fn budget(st: &QueryState) -> std::sync::Arc<Budget> {
    Budget::new(
        Instant::now(),
        st.engine.opts.timeout,
        st.engine.opts.max_memory,
    )
}

async fn labels(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let p = Params::from_request(&uri, &headers, &body);
    let r = async {
        let tenant = tenant(&st, &headers)?;
        let (start, end) = bounds(&p, SIX_HOURS)?;
        let m = match p.get("query") {
            Some(q) => selector(&st, "query", q)?,
            None => Vec::new(),
        };
        let logs = st.logs.clone();
        let names = task::run(&st, budget(&st), "label names", move |_| {
            Ok(logs.log_label_names(&tenant, &m, start, end)?)
        })
        .await?;
        Ok(success(serde_json::json!(names)))
    };
    r.await.unwrap_or_else(error_response)
}

async fn values(
    State(st): State<QueryState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let p = Params::from_request(&uri, &headers, &body);
    let r = async {
        let tenant = tenant(&st, &headers)?;
        let (start, end) = bounds(&p, SIX_HOURS)?;
        let m = match p.get("query") {
            Some(q) => selector(&st, "query", q)?,
            None => Vec::new(),
        };
        let logs = st.logs.clone();
        let vals = task::run(&st, budget(&st), "label values", move |_| {
            Ok(logs.log_label_values(&tenant, &name, &m, start, end)?)
        })
        .await?;
        Ok(success(serde_json::json!(vals)))
    };
    r.await.unwrap_or_else(error_response)
}

async fn series(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let p = Params::from_request(&uri, &headers, &body);
    let r = async {
        let tenant = tenant(&st, &headers)?;
        let (start, end) = bounds(&p, SIX_HOURS)?;
        let mut groups = Vec::new();
        for s in p.all("match[]").into_iter().chain(p.all("match")) {
            groups.push(selector(&st, "match[]", s)?);
        }
        if groups.is_empty() {
            return Err(Error::BadData(
                "invalid parameter \"match[]\": at least one stream selector is required".into(),
            ));
        }
        let logs = st.logs.clone();
        let out = task::run(&st, budget(&st), "series", move |b| {
            let mut all: Vec<Labels> = Vec::new();
            for m in &groups {
                b.check()?;
                all.extend(logs.log_streams(&tenant, m, start, end)?);
            }
            all.sort();
            all.dedup();
            Ok(all)
        })
        .await?;
        let v: Vec<serde_json::Value> = out
            .iter()
            .map(|l| {
                serde_json::Value::Object(
                    l.iter()
                        .map(|l| (l.name.clone(), serde_json::Value::String(l.value.clone())))
                        .collect(),
                )
            })
            .collect();
        Ok(success(serde_json::Value::Array(v)))
    };
    r.await.unwrap_or_else(error_response)
}
