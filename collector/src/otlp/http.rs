//! OTLP/HTTP: the request's encoding from `Content-Type` (binary protobuf or JSON), the
//! answer in the same encoding: 200 with an `Export…ServiceResponse` (a partial success
//! when records were refused), or an error status with a `google.rpc.Status` body. Per
//! the spec 429, 502, 503 and 504 are the retryable statuses.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lookout_store::TenantId;
use prost::Message;

use super::proto::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use super::proto::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
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

/// An OTLP export request (`Export…ServiceRequest`) in either encoding.
pub trait ExportRequest: Message + Default + Send + 'static {
    /// The message's name, for errors.
    const NAME: &'static str;
    fn from_json(body: &[u8]) -> std::result::Result<Self, String>;
}

/// An OTLP export answer (`Export…ServiceResponse`) in either encoding.
pub trait ExportResponse: Message + Send + 'static {
    fn to_json(&self) -> String;
}

impl ExportRequest for ExportLogsServiceRequest {
    const NAME: &'static str = "ExportLogsServiceRequest";
    fn from_json(body: &[u8]) -> std::result::Result<Self, String> {
        super::json::logs_request(body)
    }
}

impl ExportResponse for ExportLogsServiceResponse {
    fn to_json(&self) -> String {
        let p = self.partial_success.as_ref();
        super::json::partial_success(
            "rejectedLogRecords",
            p.map(|p| (p.rejected_log_records, p.error_message.as_str())),
        )
    }
}

impl ExportRequest for ExportTraceServiceRequest {
    const NAME: &'static str = "ExportTraceServiceRequest";
    fn from_json(body: &[u8]) -> std::result::Result<Self, String> {
        super::json::traces_request(body)
    }
}

impl ExportResponse for ExportTraceServiceResponse {
    fn to_json(&self) -> String {
        let p = self.partial_success.as_ref();
        super::json::partial_success(
            "rejectedSpans",
            p.map(|p| (p.rejected_spans, p.error_message.as_str())),
        )
    }
}

/// Reads a (decompressed) body.
pub fn decode<R: ExportRequest>(format: Format, body: &[u8]) -> Result<R> {
    match format {
        Format::Protobuf => R::decode(body).map_err(|e| {
            Error::BadRequest(format!(
                "the body is not a valid protobuf {}: {e}; send Content-Type: application/json for OTLP/JSON",
                R::NAME
            ))
        }),
        Format::Json => R::from_json(body).map_err(|e| {
            Error::BadRequest(format!(
                "the body is not a valid OTLP/JSON {}: {e}",
                R::NAME
            ))
        }),
    }
}

/// What an OTLP/HTTP route accepts.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub multi_tenant: bool,
    /// Largest body as sent (413 beyond).
    pub max_body_bytes: usize,
    /// Largest body once decompressed (413 beyond).
    pub max_decoded_bytes: usize,
}

/// An OTLP/HTTP export from request to answer: the tenant, the body within its limits,
/// decompressed and decoded, then `export` on a blocking thread.
pub async fn handle<Req: ExportRequest, Resp: ExportResponse>(
    headers: &HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
    limits: BodyLimits,
    export: impl FnOnce(TenantId, Req) -> Result<Resp> + Send + 'static,
) -> Response {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let format = Format::of(header("content-type"));
    let result = async {
        let body = crate::http::body_or_limit(body, limits.max_body_bytes)?;
        let tenant = TenantId::from_request(limits.multi_tenant, header("x-scope-orgid"))?;
        let encoding = header("content-encoding").map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let raw =
                crate::logs::decode_body(encoding.as_deref(), &body, limits.max_decoded_bytes)?;
            export(tenant, decode(format, &raw)?)
        })
        .await
        .map_err(|e| Error::Internal(format!("ingest task failed: {e}")))?
    }
    .await;
    respond(format, result)
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
pub fn respond<R: ExportResponse>(format: Format, result: Result<R>) -> Response {
    let ct = [(header::CONTENT_TYPE, format.content_type())];
    match result {
        Ok(r) => {
            let body = match format {
                Format::Protobuf => r.encode_to_vec(),
                Format::Json => r.to_json().into_bytes(),
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
