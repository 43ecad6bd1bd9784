//! The metrics engine: an in-memory head of compressed chunks fed through the WAL, cut into
//! immutable Parquet blocks that are compacted and dropped at retention.

pub mod activity;
pub mod block;
pub mod chunk;
pub mod compact;
pub mod exemplars;
pub mod head;
pub mod merge;
pub mod order;
pub mod postings;
pub mod postings_file;
pub mod retention;
pub mod stats;
pub mod tsdb;

pub use tsdb::{Tsdb, TsdbOptions};
