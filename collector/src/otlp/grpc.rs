//! The OTLP/gRPC listener (`otlp.grpc_listen`, 4317 by default): one tonic server whose
//! services are the signals Lookout takes. Logs today (`LogsService/Export`); the trace and
//! metrics services are added to [`serve`]'s builder the same way.
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
use crate::error::Error;
use crate::logs::LogIngest;

/// What the gRPC listener serves.
#[derive(Clone)]
pub struct Services {
    pub logs: LogIngest,
    pub multi_tenant: bool,
}

struct Logs(Services);

fn status(e: Error) -> Status {
    if e.status() >= 500 {
        tracing::error!(error = %e, "otlp grpc export failed");
    }
    Status::new(super::http::grpc_code(&e), e.to_string())
}

#[tonic::async_trait]
impl LogsService for Logs {
    async fn export(
        &self,
        req: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let org = req
            .metadata()
            .get("x-scope-orgid")
            .and_then(|v| v.to_str().ok());
        let tenant = TenantId::from_request(self.0.multi_tenant, org)
            .map_err(|e| status(Error::Store(e)))?;
        let ingest = self.0.logs.clone();
        let msg = req.into_inner();
        let r = tokio::task::spawn_blocking(move || super::logs::export(&ingest, &tenant, msg))
            .await
            .map_err(|e| Status::internal(format!("ingest task failed: {e}")))?;
        r.map(Response::new).map_err(status)
    }
}

/// Serves OTLP/gRPC on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    services: Services,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let max = match services.logs.limits.max_decoded_bytes {
        0 => usize::MAX,
        n => n,
    };
    let logs = LogsServiceServer::new(Logs(services))
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max);
    tonic::transport::Server::builder()
        .add_service(logs)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await
}
