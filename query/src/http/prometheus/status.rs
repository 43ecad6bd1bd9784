//! `GET /api/v1/status/tsdb` (Prometheus' fields plus Lookout's block figures) and
//! `POST /api/v1/admin/flush` (cut the head into blocks now; returns when on disk; with
//! multi-tenancy only the caller's tenant, and only where the server allows admin calls).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::error::{Error, Result};
use crate::http::errors::success;
use crate::http::{tenant, QueryState};

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/api/v1/status/tsdb", get(tsdb_status))
        .route("/api/v1/admin/flush", post(flush))
}

fn name_values(v: &[(String, usize)]) -> serde_json::Value {
    v.iter()
        .map(|(n, c)| json!({"name": n, "value": c}))
        .collect()
}

async fn tsdb_status(State(st): State<QueryState>, headers: HeaderMap) -> Result<Response> {
    let tenant = tenant(&st, &headers)?;
    let store = st.store.clone();
    let s = tokio::task::spawn_blocking(move || store.stats(&tenant))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(success(json!({
        "headStats": {
            "numSeries": s.head.series,
            "chunkCount": 0,
            "minTime": s.head.min_time,
            "maxTime": s.head.max_time,
        },
        "seriesCountByMetricName": name_values(&s.series_by_metric),
        "labelValueCountByLabelName": name_values(&s.top_label_names),
        "lookout": s,
    })))
}

/// Flushes every tenant, or with multi-tenancy on only the caller's (X-Scope-OrgID).
async fn flush(State(st): State<QueryState>, headers: HeaderMap) -> Result<StatusCode> {
    let tenant = tenant(&st, &headers)?;
    let store = st.store.clone();
    let multi_tenant = st.multi_tenant;
    tokio::task::spawn_blocking(move || {
        if multi_tenant {
            store.flush_tenant(&tenant)
        } else {
            store.flush()
        }
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}
