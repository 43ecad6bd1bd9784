//! The Prometheus HTTP API (`/api/v1/...`) as Prometheus and Grafana's Prometheus
//! datasource know it.

pub mod buildinfo;
pub mod exemplars;
pub mod metadata;
pub mod query;
pub mod rules;
pub mod selector;
pub mod series;
pub mod status;
pub mod storage_status;

use axum::Router;

use super::QueryState;

pub fn routes() -> Router<QueryState> {
    status::routes()
        .merge(series::routes())
        .merge(query::routes())
        .merge(metadata::routes())
        .merge(exemplars::routes())
        .merge(buildinfo::routes())
        .merge(storage_status::routes())
}
