//! The Loki HTTP API (`/loki/api/v1/...`) as Loki and Grafana's Loki datasource know it:
//! `query`, `query_range`, `labels`, `label/<name>/values`, `series`, `index/stats`,
//! `index/volume`, `index/volume_range`, `tail` (WebSocket), `detected_fields` and their
//! values, `patterns`, `format_query`, `status/buildinfo` and `/ready`.
//! Errors are plain text with Loki's status codes (400 for a bad query, with the parse
//! error), which Grafana shows as they are.

pub mod detected;
pub mod index;
pub mod labels;
mod newest;
pub mod params;
pub mod patterns;
pub mod query;
pub mod tail;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::QueryState;
use crate::error::Error;

pub fn routes() -> Router<QueryState> {
    Router::new()
        .merge(query::routes())
        .merge(labels::routes())
        .merge(index::routes())
        .merge(tail::routes())
        .merge(detected::routes())
        .merge(patterns::routes())
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
        .route("/ready", get(|| async { "ready\n" }))
}

/// An error as Loki answers it: the message as plain text, with the error's status.
pub fn error_response(e: Error) -> Response {
    let (_, status) = e.error_type();
    if status >= 500 && !matches!(e, Error::Timeout(_) | Error::Unavailable(_)) {
        tracing::error!(error = %e, "loki api failed");
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, format!("{e}\n")).into_response()
}

async fn buildinfo() -> Response {
    super::errors::json_response(
        StatusCode::OK,
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        })
        .to_string(),
    )
}
