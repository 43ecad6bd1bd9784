//! The ingest routes: `POST /api/v1/write` (remote_write), `POST /loki/api/v1/push` (and
//! the legacy `/api/prom/push`), `POST /v1/logs` (OTLP/HTTP logs, also at Loki's
//! `/otlp/v1/logs`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use lookout_store::{Append, TenantId};

use crate::error::Error;
use crate::logs::{LogIngest, Protocol};
use crate::remote_write::{self, Limits};
use crate::{loki_push, otlp};

#[derive(Clone)]
pub struct IngestState {
    pub sink: Arc<dyn Append>,
    pub multi_tenant: bool,
    pub limits: Limits,
    /// Largest compressed body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Where log lines go, with their limits.
    pub logs: LogIngest,
}

pub fn router(state: IngestState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/api/v1/write", post(write))
        .route("/loki/api/v1/push", post(loki_push))
        .route("/api/prom/push", post(loki_push))
        .route("/v1/logs", post(otlp_logs))
        .route("/otlp/v1/logs", post(otlp_logs))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, "ingest failed");
        }
        (status, format!("{self}\n")).into_response()
    }
}

async fn write(
    State(st): State<IngestState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Error> {
    if let Some(ct) = headers.get("content-type").and_then(|v| v.to_str().ok()) {
        if ct.contains("io.prometheus.write.v2") {
            return Err(Error::UnsupportedMediaType(
                "remote_write 2.0 is not supported yet; configure the sender for protobuf_message: prometheus.WriteRequest (1.0)".into(),
            ));
        }
    }
    if let Some(enc) = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
    {
        if !enc.eq_ignore_ascii_case("snappy") {
            return Err(Error::UnsupportedMediaType(format!("content-encoding {enc:?} is not supported; remote_write bodies are snappy-compressed")));
        }
    }
    let org = headers.get("x-scope-orgid").and_then(|v| v.to_str().ok());
    let tenant = TenantId::from_request(st.multi_tenant, org)?;
    let sink = st.sink.clone();
    let limits = st.limits;
    let histograms = tokio::task::spawn_blocking(move || -> Result<usize, Error> {
        remote_write::decode(&body, limits, |d| {
            crate::metrics::record_remote_write(d.samples() as u64);
            if let Err(e) = sink.append_borrowed(&tenant, d.batch()) {
                crate::metrics::record_rejected(&e, d.samples() as u64);
                return Err(e.into());
            }
            if d.exemplars() > 0 {
                sink.append_exemplars(&tenant, &d.exemplar_batch()?)?;
            }
            Ok(d.histograms())
        })
    })
    .await
    .map_err(|e| Error::Internal(format!("ingest task failed: {e}")))??;
    if histograms > 0 {
        return Err(Error::BadRequest(format!(
            "{histograms} native histogram samples were not stored: native histograms are not supported yet (the float samples of this request were stored)"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The body, or a 413 that names the limit (axum's own rejection does not).
pub(crate) fn body_or_limit(
    body: std::result::Result<Bytes, BytesRejection>,
    max: usize,
) -> Result<Bytes, Error> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge(format!(
                "the request body is over the limit of {max} bytes (limits.max_body_size); send smaller batches"
            ))
        } else {
            Error::BadRequest(format!("cannot read the request body: {e}"))
        }
    })
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn loki_push(
    State(st): State<IngestState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Error> {
    let body = body_or_limit(body, st.max_body_bytes)?;
    let tenant = TenantId::from_request(st.multi_tenant, header(&headers, "x-scope-orgid"))?;
    let encoding = header(&headers, "content-encoding").map(str::to_string);
    let content_type = header(&headers, "content-type").map(str::to_string);
    let logs = st.logs.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let _keep_freed_pages = lookout_store::memory::Hint::log_ingest();
        let max = logs.limits.max_decoded_bytes;
        let raw = crate::logs::decode_body(encoding.as_deref(), &body, max)?;
        let format = loki_push::Format::of(content_type.as_deref(), &raw);
        let mut batch = logs.batch();
        loki_push::decode(format, &raw, max, &mut batch)?;
        logs.ingest(&tenant, Protocol::LokiPush, batch)
    })
    .await
    .map_err(|e| Error::Internal(format!("ingest task failed: {e}")))??;
    match outcome.message {
        Some(m) => Err(Error::BadRequest(m)),
        None => Ok(StatusCode::NO_CONTENT),
    }
}

async fn otlp_logs(
    State(st): State<IngestState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let limits = otlp::http::BodyLimits {
        multi_tenant: st.multi_tenant,
        max_body_bytes: st.max_body_bytes,
        max_decoded_bytes: st.logs.limits.max_decoded_bytes,
    };
    let logs = st.logs;
    let _keep_freed_pages = lookout_store::memory::Hint::log_ingest();
    otlp::http::handle(&headers, body, limits, move |tenant, req| {
        otlp::logs::export(&logs, &tenant, req)
    })
    .await
}
