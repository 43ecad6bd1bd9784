//! `/api/v1/metadata`: metric type, help and unit per metric name, as
//! `{"<metric>":[{"type":"counter","help":"…","unit":""}]}`.
//!
//! The metadata comes from a [`lookout_store::MetadataSource`] (in `lookout serve`, the
//! scrape manager's HELP/TYPE/UNIT of what it scrapes; remote_write's metadata is not kept
//! yet). `limit` caps the metrics, `limit_per_metric` the entries per metric; negative or
//! absent means no limit, as in Prometheus. Only the caller's tenant's metadata: with
//! multi-tenancy, that of the scrape jobs whose `tenant:` is the X-Scope-OrgID.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::error::{Error, Result};
use crate::http::errors::success;
use crate::http::params::Params;
use crate::http::tenant;
use crate::http::QueryState;

pub fn routes() -> Router<QueryState> {
    Router::new().route("/api/v1/metadata", get(metadata))
}

async fn metadata(State(st): State<QueryState>, headers: HeaderMap, uri: Uri) -> Result<Response> {
    let tenant = tenant(&st, &headers)?;
    let p = Params::from_request(&uri, &headers, &Bytes::new());
    let mut limits = [-1i64; 2];
    for (i, key) in ["limit", "limit_per_metric"].into_iter().enumerate() {
        if let Some(v) = p.get(key) {
            limits[i] = v.parse::<i64>().map_err(|_| {
                Error::BadData(format!(
                    "invalid parameter \"{key}\": {v:?} is not an integer"
                ))
            })?;
        }
    }
    let [limit, per_metric] = limits.map(|l| usize::try_from(l).ok());
    let metric = p.get("metric").filter(|m| !m.is_empty());
    let source = st.metadata.clone();
    let entries = source.metadata(&tenant, metric, 0);
    let mut out: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for e in entries {
        if !out.contains_key(&e.metric) && limit.is_some_and(|l| out.len() >= l) {
            continue;
        }
        let list = out.entry(e.metric.clone()).or_default();
        if per_metric.is_some_and(|l| list.len() >= l) {
            continue;
        }
        list.push(json!({"type": e.kind, "help": e.help, "unit": e.unit}));
    }
    out.retain(|_, v| !v.is_empty());
    Ok(success(json!(out)))
}
