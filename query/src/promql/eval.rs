//! The evaluator (being written).

use promql_parser::parser::Expr;

use super::engine::{Engine, QueryOutput};
use super::storage::Queryable;
use crate::error::{Error, Result};

pub fn parse(query: &str) -> Result<Expr> {
    promql_parser::parser::parse(query).map_err(Error::BadData)
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    _engine: &Engine,
    _storage: &dyn Queryable,
    _query: &str,
    _expr: &Expr,
    _start: i64,
    _end: i64,
    _step: i64,
    _instant: bool,
) -> Result<QueryOutput> {
    Err(Error::Internal("evaluator not written yet".into()))
}
