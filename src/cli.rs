//! Subcommands other than `serve`.

pub mod check;
pub mod logs;
pub mod query;
pub mod rules;
pub mod test_promql;
pub mod traces;
pub mod tsdb;
