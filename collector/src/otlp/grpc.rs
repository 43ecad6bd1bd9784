//! The OTLP/gRPC listener (`otlp.grpc_listen`, 4317 by default): one tonic server whose
//! services are the signals Lookout takes: logs (`LogsService/Export`) and traces
//! (`TraceService/Export`).
//!
//! The tenant comes from the `x-scope-orgid` metadata as over HTTP. Refused records are
//! answered with a partial success; errors map to the codes OTLP clients act on
//! (`INVALID_ARGUMENT` is not retried, `UNAVAILABLE` and `RESOURCE_EXHAUSTED` are).

use std::future::Future;

use lookout_store::TenantId;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::proto::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use super::proto::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use super::proto::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use super::proto::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use crate::error::{Error, Result};
use crate::logs::LogIngest;
use crate::spans::SpanIngest;

/// What the gRPC listener serves.
#[derive(Clone)]
pub struct Services {
    pub logs: LogIngest,
    pub spans: SpanIngest,
    pub multi_tenant: bool,
}

struct Logs(Services);

struct Traces(Services);

fn status(e: Error) -> Status {
    if e.status() >= 500 {
        tracing::error!(error = %e, "otlp grpc export failed");
    }
    Status::new(super::http::grpc_code(&e), e.to_string())
}

/// Runs `export` on a blocking thread for the request's tenant.
async fn export<Req: Send + 'static, Resp: Send + 'static>(
    multi_tenant: bool,
    req: Request<Req>,
    export: impl FnOnce(TenantId, Req) -> Result<Resp> + Send + 'static,
) -> std::result::Result<Response<Resp>, Status> {
    let org = req
        .metadata()
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok());
    let tenant = TenantId::from_request(multi_tenant, org).map_err(|e| status(Error::Store(e)))?;
    let msg = req.into_inner();
    let r = tokio::task::spawn_blocking(move || export(tenant, msg))
        .await
        .map_err(|e| Status::internal(format!("ingest task failed: {e}")))?;
    r.map(Response::new).map_err(status)
}

#[tonic::async_trait]
impl LogsService for Logs {
    async fn export(
        &self,
        req: Request<ExportLogsServiceRequest>,
    ) -> std::result::Result<Response<ExportLogsServiceResponse>, Status> {
        let ingest = self.0.logs.clone();
        export(self.0.multi_tenant, req, move |tenant, msg| {
            let _keep_freed_pages = lookout_store::memory::Hint::log_ingest();
            super::logs::export(&ingest, &tenant, msg)
        })
        .await
    }
}

#[tonic::async_trait]
impl TraceService for Traces {
    async fn export(
        &self,
        req: Request<ExportTraceServiceRequest>,
    ) -> std::result::Result<Response<ExportTraceServiceResponse>, Status> {
        let ingest = self.0.spans.clone();
        export(self.0.multi_tenant, req, move |tenant, msg| {
            super::traces::export(&ingest, &tenant, msg)
        })
        .await
    }
}

fn max_message(limit: usize) -> usize {
    match limit {
        0 => usize::MAX,
        n => n,
    }
}

/// Serves OTLP/gRPC on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    services: Services,
    shutdown: impl Future<Output = ()> + Send,
) -> std::result::Result<(), tonic::transport::Error> {
    let logs = LogsServiceServer::new(Logs(services.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message(services.logs.limits.max_decoded_bytes));
    let traces = TraceServiceServer::new(Traces(services.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message(services.spans.max_decoded_bytes));
    tonic::transport::Server::builder()
        .add_service(logs)
        .add_service(traces)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await
}
