//! Prometheus' JSON envelope: `{"status":"success","data":...}` or
//! `{"status":"error","errorType":...,"error":...}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::Error;

pub fn success(data: serde_json::Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

/// Success with `warnings`, which Prometheus leaves out when empty.
pub fn success_with_warnings(data: serde_json::Value, warnings: Vec<String>) -> Response {
    if warnings.is_empty() {
        return success(data);
    }
    Json(json!({"status": "success", "data": data, "warnings": warnings})).into_response()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (kind, status) = self.error_type();
        if status >= 500 {
            tracing::error!(error = %self, "query api failed");
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(json!({"status": "error", "errorType": kind, "error": self.to_string(), "data": null}))).into_response()
    }
}
