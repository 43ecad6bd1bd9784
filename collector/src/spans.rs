//! Where spans come in over HTTP: Zipkin v2 (`POST /api/v2/spans`) and OTLP/HTTP
//! (`POST /v1/traces`, also at `/otlp/v1/traces`), sharing one sink, tenancy and the body
//! limits OTLP logs have (compressed size, then decompressed size).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use lookout_store::AppendSpans;

use crate::otlp;

/// Where spans go, with their limits.
#[derive(Clone)]
pub struct SpanIngest {
    pub sink: Arc<dyn AppendSpans>,
    pub multi_tenant: bool,
    /// Largest body as sent (413 beyond).
    pub max_body_bytes: usize,
    /// Largest body once decompressed (413 beyond; 0: no limit).
    pub max_decoded_bytes: usize,
}

impl SpanIngest {
    pub fn body_limits(&self) -> otlp::http::BodyLimits {
        otlp::http::BodyLimits {
            multi_tenant: self.multi_tenant,
            max_body_bytes: self.max_body_bytes,
            max_decoded_bytes: self.max_decoded_bytes,
        }
    }
}

pub fn router(state: SpanIngest) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/api/v2/spans", post(crate::zipkin::spans))
        .route("/v1/traces", post(otlp_traces))
        .route("/otlp/v1/traces", post(otlp_traces))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn otlp_traces(
    State(st): State<SpanIngest>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let limits = st.body_limits();
    otlp::http::handle(&headers, body, limits, move |tenant, req| {
        otlp::traces::export(&st, &tenant, req)
    })
    .await
}
