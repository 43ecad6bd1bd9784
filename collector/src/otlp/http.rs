//! OTLP/HTTP: the request's encoding from `Content-Type` (binary protobuf or JSON), the
//! answer in the same encoding: 200 with an `Export…ServiceResponse` (a partial success
//! when records were refused), or an error status with a `google.rpc.Status` body. Per
//! the spec 429, 502, 503 and 504 are the retryable statuses.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message;

use super::proto::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use crate::error::{Error, Result};

/// An OTLP/HTTP body's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// `application/json` is JSON; anything else is read as protobuf
    /// (`application/x-protobuf`, the spec's binary encoding).
    pub fn of(content_type: Option<&str>) -> Format {
        match content_type {
            Some(ct)
                if ct
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json") =>
            {
                Format::Json
            }
            _ => Format::Protobuf,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// Reads a (decompressed) `/v1/logs` body.
pub fn decode_logs(format: Format, body: &[u8]) -> Result<ExportLogsServiceRequest> {
    match format {
        Format::Protobuf => ExportLogsServiceRequest::decode(body).map_err(|e| {
            Error::BadRequest(format!(
                "the body is not a valid protobuf ExportLogsServiceRequest: {e}; send Content-Type: application/json for OTLP/JSON"
            ))
        }),
        Format::Json => super::json::logs_request(body).map_err(|e| {
            Error::BadRequest(format!("the body is not a valid OTLP/JSON ExportLogsServiceRequest: {e}"))
        }),
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error.
#[derive(Clone, PartialEq, Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The gRPC code that goes with an error (also in OTLP/HTTP error bodies).
pub fn grpc_code(e: &Error) -> tonic::Code {
    match e.status() {
        400 | 415 => tonic::Code::InvalidArgument,
        413 | 429 => tonic::Code::ResourceExhausted,
        503 => tonic::Code::Unavailable,
        404 => tonic::Code::NotFound,
        _ => tonic::Code::Internal,
    }
}

/// The HTTP answer to an export.
pub fn respond(format: Format, result: Result<ExportLogsServiceResponse>) -> Response {
    let ct = [(header::CONTENT_TYPE, format.content_type())];
    match result {
        Ok(r) => {
            let body = match format {
                Format::Protobuf => r.encode_to_vec(),
                Format::Json => super::json::logs_response(&r).into_bytes(),
            };
            (StatusCode::OK, ct, body).into_response()
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status.is_server_error() {
                tracing::error!(error = %e, "otlp export failed");
            }
            let s = Status {
                code: grpc_code(&e) as i32,
                message: e.to_string(),
            };
            let body = match format {
                Format::Protobuf => s.encode_to_vec(),
                Format::Json => serde_json::json!({"code": s.code, "message": s.message})
                    .to_string()
                    .into_bytes(),
            };
            (status, ct, body).into_response()
        }
    }
}
