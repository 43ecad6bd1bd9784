//! `/api/v1/metadata`: metric type, help and unit per metric name, as
//! `{"<metric>":[{"type":"counter","help":"…","unit":""}]}`.
//!
//! Lookout keeps no metric metadata yet (remote_write and scrapes carry it, but the store
//! has no place for it), so the answer is an empty object; the parameters are still
//! checked so that clients see Prometheus' errors.

use axum::body::Bytes;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::errors::success;
use super::params::Params;
use super::QueryState;
use crate::error::{Error, Result};

pub fn routes() -> Router<QueryState> {
    Router::new().route("/api/v1/metadata", get(metadata))
}

async fn metadata(headers: HeaderMap, uri: Uri) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &Bytes::new());
    for key in ["limit", "limit_per_metric"] {
        if let Some(v) = p.get(key) {
            v.parse::<i64>().map_err(|_| {
                Error::BadData(format!(
                    "invalid parameter \"{key}\": {v:?} is not an integer"
                ))
            })?;
        }
    }
    Ok(success(json!({})))
}
