//! Answers questions about stored data: the Prometheus-shaped HTTP API over the metrics
//! store (status and admin endpoints for now; PromQL, LogQL, traces and rules follow). The
//! query crate sees series, samples and label values through the store's read API, never
//! files, and never depends on the collector.

pub mod admission;
pub mod budget;
pub mod error;
pub mod http;
pub mod metrics;
pub mod promql;
pub mod promqltest;
pub mod rules;

pub use error::{Error, Result};
pub use http::{router, QueryState};
