//! The agent's local OTLP receiver: OTLP/HTTP (`/v1/metrics`, `/v1/logs`, `/v1/traces`,
//! protobuf or JSON for logs and traces, protobuf for metrics) on the agent's listen
//! address and OTLP/gRPC on `otlp.grpc_listen`. An export is answered once its data is in
//! a disk queue, so a server outage or an agent SIGKILL after the answer loses nothing:
//!
//! - spans go to the traces queue (gzipped protobuf, shipped to the server's `/v1/traces`);
//! - log records go to the logs queue as OTLP records (shipped to `/v1/logs`, in order with
//!   the tailed lines, see [`positions`](super::tail::positions));
//! - metrics are translated to Prometheus series ([`metrics`]) and go through the metrics
//!   forwarder like scraped samples (remote_write), since the server takes no OTLP metrics.
//!
//! Requests are decoded with the server's OTLP code ([`crate::otlp::http`]).

pub mod metrics;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use lookout_store::{Append, TenantId};
use prost::Message;
use tonic::codec::CompressionEncoding;

use super::forward::record;
use super::queue::Queue;
use super::tail::positions::Body;
use super::tail::writer::LogsWriter;
use crate::error::{Error, Result};
use crate::otlp::http::{BodyLimits, ExportRequest, ExportResponse};
use crate::otlp::proto::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use crate::otlp::proto::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use crate::otlp::proto::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use crate::otlp::proto::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use crate::otlp::proto::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use crate::otlp::proto::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// Largest OTLP request body the agent takes, as sent and decompressed.
const MAX_BODY: usize = 16 << 20;

/// Receiver counters, for the agent's `/metrics`.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    pub spans: AtomicU64,
    pub log_records: AtomicU64,
    pub data_points: AtomicU64,
    pub refused_data_points: AtomicU64,
}

/// Where received data goes.
pub struct Receiver {
    pub traces: Arc<Queue>,
    pub logs: Arc<LogsWriter>,
    pub metrics: Arc<dyn Append>,
    pub stats: Arc<ReceiverStats>,
}

fn gzip(body: &[u8]) -> Result<Vec<u8>> {
    let mut z = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    z.write_all(body)
        .and_then(|_| z.finish())
        .map_err(|e| Error::Internal(format!("cannot compress an OTLP batch: {e}")))
}

impl Receiver {
    pub fn traces(&self, req: ExportTraceServiceRequest) -> Result<ExportTraceServiceResponse> {
        let spans: usize = req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        if spans > 0 {
            let body = gzip(&req.encode_to_vec())?;
            self.traces
                .push(&record(&TenantId::default_tenant(), &body))?;
            self.stats.spans.fetch_add(spans as u64, Ordering::Relaxed);
        }
        Ok(ExportTraceServiceResponse::default())
    }

    pub fn logs(&self, req: ExportLogsServiceRequest) -> Result<ExportLogsServiceResponse> {
        let records: usize = req
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        if records > 0 {
            let body = gzip(&req.encode_to_vec())?;
            self.logs.push(Body::OtlpLogs, &body, |_| {})?;
            self.stats
                .log_records
                .fetch_add(records as u64, Ordering::Relaxed);
        }
        Ok(ExportLogsServiceResponse::default())
    }

    pub fn metrics(
        &self,
        req: ExportMetricsServiceRequest,
    ) -> Result<ExportMetricsServiceResponse> {
        let t = metrics::translate(&req);
        if !t.series.is_empty() {
            self.metrics
                .append(&TenantId::default_tenant(), &t.series)?;
        }
        self.stats
            .data_points
            .fetch_add(t.series.len() as u64, Ordering::Relaxed);
        self.stats
            .refused_data_points
            .fetch_add(t.refused.max(0) as u64, Ordering::Relaxed);
        Ok(ExportMetricsServiceResponse {
            partial_success: (t.refused > 0).then(|| ExportMetricsPartialSuccess {
                rejected_data_points: t.refused,
                error_message: t.reason.unwrap_or_default(),
            }),
        })
    }
}

impl ExportRequest for ExportMetricsServiceRequest {
    const NAME: &'static str = "ExportMetricsServiceRequest";
    fn from_json(_body: &[u8]) -> std::result::Result<Self, String> {
        Err("the agent takes OTLP metrics as protobuf (application/x-protobuf) only".into())
    }
}

impl ExportResponse for ExportMetricsServiceResponse {
    fn to_json(&self) -> String {
        let p = self.partial_success.as_ref();
        crate::otlp::json::partial_success(
            "rejectedDataPoints",
            p.map(|p| (p.rejected_data_points, p.error_message.as_str())),
        )
    }
}

const LIMITS: BodyLimits = BodyLimits {
    multi_tenant: false,
    max_body_bytes: MAX_BODY,
    max_decoded_bytes: MAX_BODY,
};

async fn http_traces(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    crate::otlp::http::handle(&headers, body, LIMITS, move |_, req| r.traces(req)).await
}

async fn http_logs(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    crate::otlp::http::handle(&headers, body, LIMITS, move |_, req| r.logs(req)).await
}

async fn http_metrics(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    crate::otlp::http::handle(&headers, body, LIMITS, move |_, req| r.metrics(req)).await
}

/// The OTLP/HTTP routes.
pub fn routes(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/v1/traces", post(http_traces))
        .route("/v1/logs", post(http_logs))
        .route("/v1/metrics", post(http_metrics))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(receiver)
}

#[derive(Clone)]
struct Grpc(Arc<Receiver>);

async fn grpc_export<Req: Send + 'static, Resp: Send + 'static>(
    req: tonic::Request<Req>,
    export: impl FnOnce(Req) -> Result<Resp> + Send + 'static,
) -> std::result::Result<tonic::Response<Resp>, tonic::Status> {
    let msg = req.into_inner();
    let r = tokio::task::spawn_blocking(move || export(msg))
        .await
        .map_err(|e| tonic::Status::internal(format!("export task failed: {e}")))?;
    r.map(tonic::Response::new).map_err(|e| {
        tracing::warn!(error = %e, "otlp grpc export failed");
        tonic::Status::new(crate::otlp::http::grpc_code(&e), e.to_string())
    })
}

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> std::result::Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let r = self.0.clone();
        grpc_export(req, move |m| r.traces(m)).await
    }
}

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        req: tonic::Request<ExportLogsServiceRequest>,
    ) -> std::result::Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let r = self.0.clone();
        grpc_export(req, move |m| r.logs(m)).await
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> std::result::Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let r = self.0.clone();
        grpc_export(req, move |m| r.metrics(m)).await
    }
}

/// Serves OTLP/gRPC on `listener` until `shutdown` completes.
pub async fn serve_grpc(
    listener: tokio::net::TcpListener,
    receiver: Arc<Receiver>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::result::Result<(), tonic::transport::Error> {
    let g = Grpc(receiver);
    tonic::transport::Server::builder()
        .add_service(
            TraceServiceServer::new(g.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(MAX_BODY),
        )
        .add_service(
            LogsServiceServer::new(g.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(MAX_BODY),
        )
        .add_service(
            MetricsServiceServer::new(g)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(MAX_BODY),
        )
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await
}
