//! The PromQL engine: parses with the `promql-parser` crate and evaluates instant and range
//! queries with Prometheus' semantics (lookback, staleness, offset, `@`, subqueries).
//!
//! The evaluator is Lookout's own: every node of the expression is evaluated for all steps
//! of the query at once, so a range query reads each series once and walks its samples
//! with sliding windows instead of re-selecting per step.

pub mod engine;
pub mod eval;
pub mod float;
pub mod functions;
pub mod nesting;
mod positions;
pub mod storage;
pub mod value;

pub use engine::{Engine, EngineOptions, QueryOutput};
pub use storage::{Queryable, StoreQueryable};
pub use value::{Point, RangeSeries, Sample, Value};
