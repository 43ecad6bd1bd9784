//! `GET /api/traces/<id>` and `GET /api/v2/traces/<id>` (optional `start`, `end` in Unix
//! seconds): every span of the trace as OTLP JSON, v1 as `{"batches": [...]}`, v2 wrapped
//! as `{"trace": {"resourceSpans": [...]}}`; 404 when the trace is not there. With
//! `Accept: application/protobuf` (as Grafana's Tempo datasource asks) the same as
//! protobuf: v1 `tempopb.Trace`, v2 `tempopb.TraceByIDResponse` ([`otlp_proto`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lookout_store::model::span::ResourceSpans;
use serde_json::json;

use super::params::{range, trace_id};
use super::{otlp_json, otlp_proto, TempoResult};
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

/// Whether the client asked for protobuf (`application/protobuf` or
/// `application/x-protobuf`, as Tempo's own handler accepts both).
fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.split(';').next().unwrap_or("").trim();
            t.eq_ignore_ascii_case("application/protobuf")
                || t.eq_ignore_ascii_case("application/x-protobuf")
        })
}

fn protobuf(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/protobuf")], body).into_response()
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
    if wants_protobuf(&headers) {
        return Ok(protobuf(otlp_proto::trace(&batches)));
    }
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
    if wants_protobuf(&headers) {
        return Ok(protobuf(otlp_proto::trace_by_id(&batches)));
    }
    let batches: Vec<_> = batches.iter().map(otlp_json::resource_spans).collect();
    Ok(axum::Json(json!({
        "trace": { "resourceSpans": batches },
        "status": "COMPLETE",
    }))
    .into_response())
}
