//! Every way data comes into Lookout: Prometheus remote_write and scraping; logs by Loki
//! push, OTLP (HTTP and gRPC) and syslog; spans by OTLP and Zipkin; host metrics and the
//! agent's forwarder (`agent`). The collector parses and validates input,
//! resolves the tenant, and hands batches to an [`lookout_store::Append`]. It never queries
//! and never knows how the store lays bytes on disk.

pub mod agent;
pub mod error;
pub mod http;
pub mod logs;
pub mod loki_push;
pub mod metrics;
pub mod otlp;
mod protowire;
pub mod remote_write;
pub mod scrape;
pub mod spanmetrics;
pub mod spans;
pub mod syslog;
pub mod timestamp;
pub mod zipkin;

pub use error::{Error, Result};
pub use http::{router, IngestState};
