//! HTTP APIs in the shapes Grafana's datasources expect.

pub mod errors;
pub mod params;
pub mod selector;
pub mod series;
pub mod status;

use std::sync::Arc;

use axum::Router;
use lookout_store::Store;

#[derive(Clone)]
pub struct QueryState {
    pub store: Arc<Store>,
    pub multi_tenant: bool,
}

pub fn router(state: QueryState) -> Router {
    status::routes().merge(series::routes()).with_state(state)
}
