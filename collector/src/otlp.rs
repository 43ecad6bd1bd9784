//! OTLP ingest: the OTLP/HTTP routes (`/v1/logs`, protobuf and JSON) and the OTLP/gRPC
//! listener (`otlp.grpc_listen`). Logs only for now; traces and metrics join the same
//! listener as services of their own ([`grpc::serve`] takes the list).
//!
//! Messages are `opentelemetry-proto`'s prost types; OTLP/JSON is read by [`json`] into
//! the same types, so both encodings share one mapping ([`logs`]).

pub mod grpc;
pub mod http;
pub mod json;
pub mod logs;

pub use opentelemetry_proto::tonic as proto;
