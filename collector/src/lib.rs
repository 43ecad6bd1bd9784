//! Every way data comes into Lookout: for now Prometheus remote_write; scraping, OTLP, Loki
//! push, syslog and the agent's forwarder follow. The collector parses and validates input,
//! resolves the tenant, and hands batches to an [`lookout_store::Append`]. It never queries
//! and never knows how the store lays bytes on disk.

pub mod error;
pub mod http;
pub mod metrics;
pub mod remote_write;
pub mod scrape;
pub mod zipkin;

pub use error::{Error, Result};
pub use http::{router, IngestState};
