//! `/api/v1/query_exemplars` (GET and POST form): exemplars of the series a query selects.
//!
//! Exemplars are not stored yet (remote_write decodes them and drops them), so every valid
//! request answers with an empty list. The parameters are checked as Prometheus checks
//! them; Grafana probes the endpoint at start-up with `query=test` and `start`/`end` in
//! milliseconds, which must succeed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::error::{Error, Result};
use crate::http::errors::success;
use crate::http::params::{Params, MAX_TIME, MIN_TIME};
use crate::http::QueryState;

pub fn routes() -> Router<QueryState> {
    Router::new().route("/api/v1/query_exemplars", get(exemplars).post(exemplars))
}

async fn exemplars(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &body);
    let start = p.time("start", MIN_TIME)?;
    let end = p.time("end", MAX_TIME)?;
    if end < start {
        return Err(Error::BadData(
            "invalid parameter \"end\": end timestamp must not be before start timestamp".into(),
        ));
    }
    st.engine.parse(p.get("query").unwrap_or(""))?;
    Ok(success(json!([])))
}
