//! HTTP APIs in the shapes Grafana's datasources expect, one module per API family
//! (`prometheus/`, `loki/`, `tempo/`), sharing what every family needs: parameter
//! parsing (`params`), the error-to-status mapping (`errors`), the tenant of a request, and
//! running read work admitted and under a budget (`task`).

pub mod errors;
pub mod format;
pub mod loki;
pub mod params;
pub mod prometheus;
pub mod task;
pub mod tempo;

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::Router;
use lookout_store::{Store, TenantId};

use crate::error::Result;
use crate::promql::Engine;

pub use prometheus::buildinfo;

#[derive(Clone)]
pub struct QueryState {
    pub store: Arc<Store>,
    pub multi_tenant: bool,
    /// Evaluates PromQL with the configured lookback, timeout and sample limit.
    pub engine: Engine,
    /// HELP/TYPE/UNIT for `/api/v1/metadata` (the scrape manager in `lookout serve`).
    pub metadata: Arc<dyn lookout_store::MetadataSource>,
    /// The loaded configuration and how its last reload went, for the status endpoints.
    pub config: Arc<buildinfo::ConfigStatus>,
    /// How many queries evaluate and wait at once.
    pub admission: Arc<crate::admission::Admission>,
    /// Traces, for the Tempo API.
    pub traces: Arc<dyn lookout_store::ReadSpans>,
    /// The logs LogQL reads (the store in `lookout serve`).
    pub logs: Arc<dyn lookout_store::ReadLogs>,
    /// Evaluates LogQL with the configured limits.
    pub logql: crate::logql::LogqlEngine,
}

/// The tenant a request reads: `X-Scope-OrgID` with multi-tenancy, `default` without.
pub(crate) fn tenant(st: &QueryState, headers: &HeaderMap) -> Result<TenantId> {
    let org = headers.get("x-scope-orgid").and_then(|v| v.to_str().ok());
    Ok(TenantId::from_request(st.multi_tenant, org)?)
}

pub fn router(state: QueryState) -> Router {
    prometheus::routes()
        .merge(loki::routes())
        .merge(tempo::routes())
        .with_state(state)
}
