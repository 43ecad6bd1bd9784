//! OTLP ingest: the OTLP/HTTP routes (`/v1/logs`, `/v1/traces`, protobuf and JSON) and
//! the OTLP/gRPC listener (`otlp.grpc_listen`) with the logs and trace services.
//!
//! Messages are `opentelemetry-proto`'s prost types; OTLP/JSON is read by [`json`] into
//! the same types, so both encodings share one mapping per signal ([`logs`], [`traces`]).

pub mod grpc;
pub mod http;
pub mod json;
pub mod logs;
pub mod traces;

pub use opentelemetry_proto::tonic as proto;
