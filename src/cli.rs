//! Subcommands other than `serve`.

pub mod check;
pub mod query;
pub mod tsdb;
