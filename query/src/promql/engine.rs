//! The engine's entry points, its settings and what a query returns besides its value.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use promql_parser::parser::Expr;

use super::storage::Queryable;
use super::value::Value;
use crate::budget::Budget;
use crate::error::{Error, Result};

/// Engine settings. The defaults are Prometheus' (`--query.lookback-delta=5m`,
/// `--query.max-samples=50000000`, `--query.timeout=2m`), and Lookout's bounds on a
/// query's text and memory.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample: the window is `(t - delta, t]`.
    pub lookback_delta_ms: i64,
    /// Most samples a query may hold in memory at once before it fails.
    pub max_samples: usize,
    pub timeout: Duration,
    /// Most points a range query may return per series (Prometheus: 11,000).
    pub max_points_per_series: usize,
    /// Step of a subquery written without one (`x[5m:]`).
    pub default_subquery_step_ms: i64,
    /// Keep `__name__` on series until the end of the query, dropping it only where a
    /// function or operator would have (Prometheus' `promql-delayed-name-removal`).
    pub delayed_name_removal: bool,
    /// Longest query text accepted, in bytes.
    pub max_length: usize,
    /// Deepest syntax tree accepted (operators plus nested brackets, see
    /// [`super::nesting::depth_bound`]).
    pub max_depth: usize,
    /// Most bytes a query may hold while it is evaluated (0: no limit).
    pub max_memory: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            max_points_per_series: 11_000,
            default_subquery_step_ms: 60_000,
            delayed_name_removal: false,
            max_length: 128 << 10,
            max_depth: 500,
            max_memory: 256 << 20,
        }
    }
}

/// Whether an annotation is a warning or an info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationKind {
    Warning,
    Info,
}

/// A warning or info about a query's result, as Prometheus renders them in `warnings` and
/// `infos`: `PromQL warning: <message> (<line>:<col>)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub kind: AnnotationKind,
    pub message: String,
    /// 1-based line and column of the sub-expression the annotation is about.
    pub position: Option<(usize, usize)>,
}

impl fmt::Display for Annotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            AnnotationKind::Warning => "warning",
            AnnotationKind::Info => "info",
        };
        write!(f, "PromQL {kind}: {}", self.message)?;
        if let Some((line, col)) = self.position {
            write!(f, " ({line}:{col})")?;
        }
        Ok(())
    }
}

/// A query's value and its annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    pub value: Value,
    pub annotations: Vec<Annotation>,
    /// Samples read from storage (Prometheus' `stats.samples.totalQueryableSamples`).
    pub samples_read: usize,
}

impl QueryOutput {
    pub fn warnings(&self) -> impl Iterator<Item = &Annotation> {
        self.annotations
            .iter()
            .filter(|a| a.kind == AnnotationKind::Warning)
    }

    pub fn infos(&self) -> impl Iterator<Item = &Annotation> {
        self.annotations
            .iter()
            .filter(|a| a.kind == AnnotationKind::Info)
    }
}

/// Evaluates PromQL. Cheap to share: it holds only its settings.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        Engine { opts }
    }

    /// Parses a query; a syntax error is `Error::BadData` with the parser's message. A
    /// query longer or deeper than the engine's limits is refused before the parser sees
    /// it (the parser recurses per level of nesting).
    pub fn parse(&self, query: &str) -> Result<Expr> {
        self.check_text(query)?;
        super::eval::parse(query)
    }

    /// The refusals [`Engine::parse`] makes before parsing (length, then a one-pass bound
    /// on the nesting depth): cheap enough to run on the request's own thread.
    pub fn check_text(&self, query: &str) -> Result<()> {
        if query.len() > self.opts.max_length {
            crate::metrics::record_too_complex();
            return Err(Error::BadData(format!(
                "query is {} bytes long, more than the {} allowed (query.max_length)",
                query.len(),
                self.opts.max_length
            )));
        }
        let depth = super::nesting::depth_bound(query);
        if depth > self.opts.max_depth {
            crate::metrics::record_too_complex();
            return Err(Error::BadData(format!(
                "query nests {depth} operators and brackets, more than the {} allowed \
                 (query.max_depth); split it into recording rules or shorter queries",
                self.opts.max_depth
            )));
        }
        Ok(())
    }

    /// A budget for one query under this engine's timeout and memory limit, starting now.
    pub fn budget(&self) -> Arc<Budget> {
        Budget::new(Instant::now(), self.opts.timeout, self.opts.max_memory)
    }

    /// Evaluates `expr` at `t` (milliseconds). `query` is the text `expr` was parsed
    /// from; annotations use it for their positions.
    pub fn instant(
        &self,
        storage: &dyn Queryable,
        query: &str,
        expr: &Expr,
        t: i64,
    ) -> Result<QueryOutput> {
        self.instant_in(storage, query, expr, t, &self.budget())
    }

    /// [`Engine::instant`] under a budget the caller holds (and may stop).
    pub fn instant_in(
        &self,
        storage: &dyn Queryable,
        query: &str,
        expr: &Expr,
        t: i64,
        budget: &Budget,
    ) -> Result<QueryOutput> {
        super::eval::run(self, storage, query, expr, (t, t, 0), true, budget)
    }

    /// Evaluates `expr` at `start, start + step, …, end` (milliseconds). The value is
    /// always a matrix sorted by labels.
    pub fn range(
        &self,
        storage: &dyn Queryable,
        query: &str,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput> {
        self.range_in(storage, query, expr, (start, end, step), &self.budget())
    }

    /// [`Engine::range`] under a budget the caller holds (and may stop); `span` is
    /// `(start, end, step)`.
    pub fn range_in(
        &self,
        storage: &dyn Queryable,
        query: &str,
        expr: &Expr,
        span: (i64, i64, i64),
        budget: &Budget,
    ) -> Result<QueryOutput> {
        let (start, end, step) = span;
        if step <= 0 {
            return Err(Error::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(Error::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        super::eval::run(self, storage, query, expr, span, false, budget)
    }
}
