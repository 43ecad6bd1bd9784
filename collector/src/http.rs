//! The ingest routes: `POST /api/v1/write` (remote_write).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use lookout_store::{Append, TenantId};

use crate::error::Error;
use crate::remote_write::{self, Limits};

#[derive(Clone)]
pub struct IngestState {
    pub sink: Arc<dyn Append>,
    pub multi_tenant: bool,
    pub limits: Limits,
    /// Largest compressed body accepted (413 beyond).
    pub max_body_bytes: usize,
}

pub fn router(state: IngestState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/api/v1/write", post(write))
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
