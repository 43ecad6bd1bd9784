//! HTTP APIs in the shapes Grafana's datasources expect.

pub mod buildinfo;
pub mod errors;
pub mod exemplars;
pub mod format;
pub mod metadata;
pub mod params;
pub mod query;
pub mod selector;
pub mod series;
pub mod status;
pub mod task;

use std::sync::Arc;

use axum::Router;
use lookout_store::Store;

use crate::promql::Engine;

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
}

pub fn router(state: QueryState) -> Router {
    status::routes()
        .merge(series::routes())
        .merge(query::routes())
        .merge(metadata::routes())
        .merge(exemplars::routes())
        .merge(buildinfo::routes())
        .with_state(state)
}
