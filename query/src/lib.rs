//! Answers questions about stored data: PromQL over the metrics store and LogQL over the
//! log store, behind the Prometheus- and Loki-shaped HTTP APIs (traces and rules follow). The
//! query crate sees series, samples and label values through the store's read API, never
//! files, and never depends on the collector.

pub mod admission;
pub mod budget;
pub mod error;
pub mod http;
pub mod logql;
pub mod metrics;
pub mod promql;
pub mod promqltest;
pub mod rules;
pub mod traceql;

pub use error::{Error, Result};
pub use http::{router, QueryState};
