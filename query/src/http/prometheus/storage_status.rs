//! `GET /api/v1/status/logs` and `GET /api/v1/status/traces`: the log store's and the span
//! store's figures for the caller's tenant, in the envelope and spirit of Prometheus'
//! `/api/v1/status/tsdb` (totals, then top lists of `{"name","value"}`, each at most
//! `limit` long, default 10). Admitted and budgeted like any other read.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::http::errors::success;
use crate::http::params::Params;
use crate::http::{task, tenant, QueryState};

/// Entries per top list unless `limit` says otherwise (Prometheus' default for tsdb).
const DEFAULT_LIMIT: usize = 10;
/// Most entries per top list a request may ask for.
const MAX_LIMIT: usize = 10_000;

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/api/v1/status/logs", get(logs))
        .route("/api/v1/status/traces", get(traces))
}

/// The `limit` parameter: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
fn limit(p: &Params) -> Result<usize> {
    match p.usize("limit")? {
        None => Ok(DEFAULT_LIMIT),
        Some(n @ 1..=MAX_LIMIT) => Ok(n),
        Some(n) => Err(Error::BadData(format!(
            "invalid parameter \"limit\": {n} is outside 1 to {MAX_LIMIT}"
        ))),
    }
}

/// Runs `stats` for the request's tenant as an admitted read and answers its figures.
async fn answer<T: Serialize + Send + 'static>(
    st: QueryState,
    headers: HeaderMap,
    uri: Uri,
    what: &'static str,
    stats: fn(&lookout_store::Store, &lookout_store::TenantId, usize) -> lookout_store::Result<T>,
) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &Bytes::new());
    let tenant = tenant(&st, &headers)?;
    let limit = limit(&p)?;
    let store = st.store.clone();
    let figures = task::run(&st, st.engine.budget(), what, move |_| {
        Ok(stats(&store, &tenant, limit)?)
    })
    .await?;
    let data = serde_json::to_value(figures).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(success(data))
}

async fn logs(State(st): State<QueryState>, headers: HeaderMap, uri: Uri) -> Result<Response> {
    answer(st, headers, uri, "log storage stats", |s, t, n| {
        s.log_storage_stats(t, n)
    })
    .await
}

async fn traces(State(st): State<QueryState>, headers: HeaderMap, uri: Uri) -> Result<Response> {
    answer(st, headers, uri, "trace storage stats", |s, t, n| {
        s.trace_storage_stats(t, n)
    })
    .await
}
