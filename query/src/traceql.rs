//! TraceQL, Tempo's trace query language: the parser and the search evaluator over one
//! trace at a time (`eval`, `trace`, `value`); metrics functions are parsed, and answered
//! once the span store lands. No maintained Rust crate parses TraceQL, so the lexer and
//! a recursive-descent parser are written here, following the grammar and operator
//! precedence of Tempo's `pkg/traceql` (its yacc grammar, read for the facts, not copied).
//!
//! ```text
//! { resource.service.name = "api" && duration > 100ms } >> { status = error }
//!     | count() > 1 | select(span.http.url)
//! { } | quantile_over_time(duration, .5, .99) by (resource.service.name)
//! ```

pub mod ast;
pub mod eval;
pub mod lexer;
pub mod parser;
pub mod pushdown;
pub mod trace;
pub mod value;

use std::fmt;

pub use ast::Query;

/// The deepest nesting a query may have (brackets and unary operators), so hostile input
/// cannot exhaust the stack.
pub const MAX_DEPTH: usize = 200;

/// A syntax error and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the query.
    pub pos: usize,
    pub message: String,
}

impl ParseError {
    /// The 1-based line and column of the error in `src`, as Tempo reports them.
    pub fn line_col(&self, src: &str) -> (usize, usize) {
        let before = &src[..self.pos.min(src.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.pos)
    }
}

/// Parses a TraceQL query. Errors read `parse error at line L, col C: …`, as Tempo's do.
pub fn parse(src: &str) -> crate::Result<Query> {
    parse_detailed(src).map_err(|e| {
        let (line, col) = e.line_col(src);
        crate::Error::BadData(format!(
            "parse error at line {line}, col {col}: {}",
            e.message
        ))
    })
}

/// [`parse`] with the error's offset kept.
pub fn parse_detailed(src: &str) -> Result<Query, ParseError> {
    let toks = lexer::tokenize(src)?;
    parser::Parser::new(toks, MAX_DEPTH).query()
}

#[cfg(test)]
mod tests;
