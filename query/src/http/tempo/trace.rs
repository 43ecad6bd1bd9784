//! `GET /api/traces/<id>` and `GET /api/v2/traces/<id>` (optional `start`, `end` in Unix
//! seconds): every span of the trace as OTLP JSON, v1 as `{"batches": [...]}`, v2 wrapped
//! as `{"trace": {"resourceSpans": [...]}}`; 404 when the trace is not there.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lookout_store::model::span::ResourceSpans;
use serde_json::json;

use super::params::{range, trace_id};
use super::{otlp_json, TempoResult};
use crate::http::params::Params;
use crate::http::{tenant, QueryState};
use crate::Error;

async fn find(
    st: &QueryState,
    headers: &HeaderMap,
    uri: &Uri,
    id: &str,
) -> TempoResult<Option<Vec<ResourceSpans>>> {
    let p = Params::from_request(uri, headers, &Bytes::new());
    let id = trace_id(id)?;
    let (start, end) = range(&p)?;
    let tenant = tenant(st, headers)?;
    let traces = st.traces.clone();
    let found = tokio::task::spawn_blocking(move || traces.trace_by_id(&tenant, &id, start, end))
        .await
        .map_err(|e| Error::Internal(format!("trace lookup failed: {e}")))?
        .map_err(Error::from)?;
    Ok((!found.is_empty()).then_some(found))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "trace not found\n").into_response()
}

pub async fn v1(
    State(st): State<QueryState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> TempoResult<Response> {
    let Some(batches) = find(&st, &headers, &uri, &id).await? else {
        return Ok(not_found());
    };
    let batches: Vec<_> = batches.iter().map(otlp_json::resource_spans).collect();
    Ok(axum::Json(json!({ "batches": batches })).into_response())
}

pub async fn v2(
    State(st): State<QueryState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> TempoResult<Response> {
    let Some(batches) = find(&st, &headers, &uri, &id).await? else {
        return Ok(not_found());
    };
    let batches: Vec<_> = batches.iter().map(otlp_json::resource_spans).collect();
    Ok(axum::Json(json!({
        "trace": { "resourceSpans": batches },
        "status": "COMPLETE",
    }))
    .into_response())
}
