//! LogQL, Loki's query language, over the store's log contract ([`lookout_store::ReadLogs`]).
//!
//! The parser is hand-written (`lexer`, `parser`; no maintained Rust LogQL parser exists)
//! and compiles regexes, patterns and templates up front, so a query that parses can run
//! without another failure point. Log queries push their leading line filters down to
//! the store and run the rest of the pipeline (`pipeline`, `line_parsers`, `template`) on
//! each line read; metric queries (`metric`, `vector`) evaluate every node for all steps
//! at once, with Loki's windows `(t - range, t]`. The float arithmetic of the `*_over_time`
//! functions is PromQL's (`crate::promql::functions`), so both languages agree.
//!
//! Supported: stream selectors; line filters `|= != |~ !~ |> !>` with `or`; parsers json,
//! logfmt, regexp, pattern, unpack; label filters (string, number, duration, bytes;
//! and/or/parentheses); line_format and label_format (a Go-template subset); drop, keep,
//! decolorize; range aggregations count_over_time, rate, bytes_over_time, bytes_rate,
//! absent_over_time and, with unwrap, sum/avg/min/max/stddev/stdvar/quantile/first/last
//! _over_time, rate and rate_counter, with offset; vector aggregations sum, avg, min, max,
//! count, stddev, stdvar, topk, bottomk, sort, sort_desc with by/without; binary
//! operators with bool and vector matching; number literals and vector(n). Anything else
//! is a parse error naming it.

pub mod ast;
pub mod engine;
#[cfg(test)]
pub(crate) mod fixture;
pub mod lexer;
pub mod line_parsers;
pub mod metric;
pub mod parser;
pub mod pattern;
pub mod pipeline;
#[cfg(test)]
mod script;
pub mod select;
pub mod template;
pub mod units;
pub mod vector;

pub use ast::{Expr, LogExpr, MetricExpr};
pub use engine::{Answer, LineOut, LogRequest, LogqlEngine, LogqlOptions, ScanStats, StreamOut};
pub use parser::parse;
