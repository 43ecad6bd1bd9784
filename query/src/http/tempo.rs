//! The Tempo HTTP API, as Grafana's Tempo datasource calls it: trace by id (v1 and v2),
//! search by TraceQL or tags, tag names and values (v1 and v2), echo and buildinfo.
//! Errors are plain text with Tempo's statuses (400 for a bad query or id, 404 for a trace
//! that is not there), not Prometheus' JSON envelope.

pub mod otlp_json;
pub mod otlp_proto;
pub mod params;
pub mod search;
pub mod tags;
pub mod trace;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::QueryState;

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/api/echo", get(|| async { "echo" }))
        .route("/api/status/buildinfo", get(buildinfo))
        .route("/api/traces/{id}", get(trace::v1))
        .route("/api/v2/traces/{id}", get(trace::v2))
        .route("/api/search", get(search::search))
        .route("/api/search/tags", get(tags::names_v1))
        .route("/api/v2/search/tags", get(tags::names_v2))
        .route("/api/search/tag/{tag}/values", get(tags::values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(tags::values_v2))
}

async fn buildinfo() -> Response {
    axum::Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildDate": "",
        "buildUser": "",
        "goVersion": "",
    }))
    .into_response()
}

/// A Tempo API error: the query crate's error as plain text with its status.
pub struct TempoError(pub crate::Error);

impl From<crate::Error> for TempoError {
    fn from(e: crate::Error) -> Self {
        TempoError(e)
    }
}

impl IntoResponse for TempoError {
    fn into_response(self) -> Response {
        let (_, code) = self.0.error_type();
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, format!("{}\n", self.0)).into_response()
    }
}

pub type TempoResult<T> = std::result::Result<T, TempoError>;
