//! Prometheus' JSON envelope: `{"status":"success","data":...}` or
//! `{"status":"error","errorType":...,"error":...}`, keys in Prometheus' order (its
//! `Response` struct: status, data, errorType, error, warnings, infos) and
//! `Content-Type: application/json` on both.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::format::{push_annotations, push_str};
use crate::error::Error;

/// A JSON body with its content type.
pub fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub fn success(data: serde_json::Value) -> Response {
    success_with_warnings(data, Vec::new())
}

/// Success with `warnings`, which Prometheus leaves out when empty.
pub fn success_with_warnings(data: serde_json::Value, warnings: Vec<String>) -> Response {
    let mut s = String::from("{\"status\":\"success\",\"data\":");
    // Writing a serde_json::Value to a String cannot fail.
    s.push_str(&serde_json::to_string(&data).unwrap_or_else(|_| "null".into()));
    push_annotations(&mut s, &warnings, &[]);
    s.push('}');
    json_response(StatusCode::OK, s)
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (kind, status) = self.error_type();
        if status >= 500 && !matches!(self, Error::Timeout(_) | Error::Unavailable(_)) {
            tracing::error!(error = %self, "query api failed");
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut s = String::from("{\"status\":\"error\",\"errorType\":\"");
        s.push_str(kind);
        s.push_str("\",\"error\":");
        push_str(&mut s, &self.to_string());
        s.push('}');
        json_response(status, s)
    }
}
