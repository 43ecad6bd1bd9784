//! The evaluator: walks the parsed expression and evaluates every node for all steps of
//! the query at once.
//!
//! An instant vector is held as a set of [`Series`], each with one slot per step; a slot
//! without a value holds [`ABSENT`]. Range vectors never exist as values between nodes:
//! the functions that take one read their windows straight from the selected samples (or
//! from a subquery's points), which is what lets a range query read each series once.
//! An instant query is a range query with one step.

mod aggregate;
mod binary;
mod call;
mod series;

use std::time::{SystemTime, UNIX_EPOCH};

use lookout_store::model::sample::is_stale_nan;
use lookout_store::Labels;
use promql_parser::parser::{self as ast, AtModifier, Expr, Offset};

use super::engine::{Annotation, AnnotationKind, Engine, QueryOutput};
use super::positions;
use super::storage::{Mapped, Queryable};
use super::value::{Point, RangeSeries, Sample, Value};
use crate::budget::Budget;
use crate::error::{Error, Result};

pub(crate) use series::{is_absent, Series, ABSENT};

pub fn parse(query: &str) -> Result<Expr> {
    promql_parser::parser::parse(query).map_err(Error::BadData)
}

/// A node's value over every step of the evaluation.
pub(crate) enum Val {
    Scalar(Vec<f64>),
    String(String),
    Vector(Vec<Series>),
}

impl Val {
    /// What the value holds, as the query budget counts it.
    pub fn bytes(&self) -> usize {
        match self {
            Val::Scalar(v) => v.len() * 8,
            Val::String(s) => s.len(),
            Val::Vector(series) => series
                .iter()
                .map(|s| series::bytes(&s.labels, s.vals.len()))
                .sum(),
        }
    }
}

/// The time grid a node is evaluated on.
#[derive(Clone, Copy)]
pub(crate) struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Grid {
    pub fn len(&self) -> usize {
        if self.step == 0 {
            1
        } else {
            ((self.end - self.start) / self.step) as usize + 1
        }
    }

    pub fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// Everything a query's evaluation shares.
pub(crate) struct Evaluator<'a> {
    pub engine: &'a Engine,
    pub storage: &'a dyn Queryable,
    /// The top-level query's start and end, which `start()` and `end()` stand for.
    pub query_start: i64,
    pub query_end: i64,
    /// The top-level query's step (0 for an instant query), which `step()` stands for.
    pub query_step: i64,
    pub grid: Grid,
    /// The query's deadline, cancellation and memory; every loop checks it.
    pub budget: &'a Budget,
    pub annotations: Vec<(AnnotationKind, String, *const Expr)>,
    pub samples_read: usize,
    pub is_range_query: bool,
    /// Set by an aggregation for the vector selector it is about to read: the labels it
    /// groups by, so the store copies only those. Taken by the next select.
    pub project: Option<lookout_store::Projection>,
}

/// Evaluates `expr` over `span` (`(start, end, step)`, step 0 for an instant query).
pub fn run(
    engine: &Engine,
    storage: &dyn Queryable,
    query: &str,
    expr: &Expr,
    span: (i64, i64, i64),
    instant: bool,
    budget: &Budget,
) -> Result<QueryOutput> {
    let (start, end, step) = span;
    let grid = Grid { start, end, step };
    let mut ev = Evaluator {
        engine,
        storage,
        query_start: start,
        query_end: end,
        query_step: step,
        grid,
        budget,
        annotations: Vec::new(),
        samples_read: 0,
        is_range_query: !instant,
        project: None,
    };
    let val = if instant {
        ev.eval_top_instant(expr)?
    } else {
        if matches!(expr.value_type(), ast::value::ValueType::Matrix)
            || matches!(expr.value_type(), ast::value::ValueType::String)
        {
            return Err(Error::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                type_word(expr)
            )));
        }
        let v = ev.eval(expr)?;
        ev.range_result(v)?
    };
    let mut annotations: Vec<Annotation> = Vec::new();
    for (kind, message, node) in &ev.annotations {
        let a = Annotation {
            kind: *kind,
            message: message.clone(),
            position: positions::locate(query, expr, *node),
        };
        if !annotations.contains(&a) {
            annotations.push(a);
        }
    }
    Ok(QueryOutput {
        value: val,
        annotations,
        samples_read: ev.samples_read,
    })
}

fn type_word(expr: &Expr) -> &'static str {
    match expr.value_type() {
        ast::value::ValueType::Matrix => "range vector",
        ast::value::ValueType::String => "string",
        ast::value::ValueType::Scalar => "scalar",
        ast::value::ValueType::Vector => "instant vector",
    }
}

pub(crate) fn duration_ms(d: &std::time::Duration) -> i64 {
    d.as_millis() as i64
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

pub(crate) use super::value::format_float;

impl<'a> Evaluator<'a> {
    pub fn steps(&self) -> usize {
        self.grid.len()
    }

    /// Fails once the query's deadline has passed or it was stopped (client gone, memory).
    pub fn check_deadline(&self) -> Result<()> {
        self.budget.check()
    }

    pub fn warn(&mut self, node: &Expr, msg: String) {
        self.annotations
            .push((AnnotationKind::Warning, msg, node as *const Expr));
    }

    pub fn info(&mut self, node: &Expr, msg: String) {
        self.annotations
            .push((AnnotationKind::Info, msg, node as *const Expr));
    }

    fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    /// The timestamps a selector with `@` and `offset` reads at, one per step.
    fn read_times(&self, at: &Option<AtModifier>, offset: &Option<Offset>) -> Vec<i64> {
        let off = offset_ms(offset);
        match self.at_ms(at) {
            Some(t) => vec![t - off; self.steps()],
            None => (0..self.steps()).map(|i| self.grid.time(i) - off).collect(),
        }
    }

    /// Counts points a node holds against the query's sample limit.
    pub fn account(&mut self, points: usize) -> Result<()> {
        if points > self.engine.opts.max_samples {
            return Err(Error::Execution(
                "query processing would load too many samples into memory in query execution"
                    .into(),
            ));
        }
        Ok(())
    }

    fn eval_top_instant(&mut self, expr: &Expr) -> Result<Value> {
        let t = self.grid.start;
        match unwrap_parens(expr) {
            Expr::MatrixSelector(ms) => {
                let series = self.matrix_points(ms)?;
                let times = self.read_times(&ms.vs.at, &ms.vs.offset);
                Ok(Value::Matrix(window_at(
                    series,
                    times[0],
                    duration_ms(&ms.range),
                )))
            }
            Expr::Subquery(sq) => {
                let (series, times) = self.subquery_points(sq)?;
                let out = window_at(series, times[0], duration_ms(&sq.range));
                let out = self.finish_matrix(out.into_iter().map(|s| (s, false)).collect())?;
                Ok(Value::Matrix(out))
            }
            _ => match self.eval(expr)? {
                Val::Scalar(v) => Ok(Value::Scalar { t, v: v[0] }),
                Val::String(s) => Ok(Value::String { t, s }),
                Val::Vector(series) => {
                    let mut out = Vec::with_capacity(series.len());
                    let mut dropped = false;
                    for mut s in series {
                        let v = s.vals[0];
                        if is_absent(v) {
                            continue;
                        }
                        if s.drop_name {
                            s.labels = series::without_name(&s.labels);
                            dropped = true;
                        }
                        out.push(Sample {
                            labels: s.labels,
                            t,
                            v,
                        });
                    }
                    if dropped {
                        let mut seen = std::collections::HashSet::new();
                        for s in &out {
                            if !seen.insert(&s.labels) {
                                return Err(Error::Execution(
                                    "vector cannot contain metrics with the same labelset".into(),
                                ));
                            }
                        }
                    }
                    Ok(Value::Vector(out))
                }
            },
        }
    }

    /// A range query's result: a matrix sorted by labels, names dropped where marked.
    fn range_result(&mut self, v: Val) -> Result<Value> {
        match v {
            Val::Scalar(vals) => {
                let points = vals
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| !is_absent(**v))
                    .map(|(i, v)| Point {
                        t: self.grid.time(i),
                        v: *v,
                    })
                    .collect();
                Ok(Value::Matrix(vec![RangeSeries {
                    labels: Labels::default(),
                    points,
                }]))
            }
            Val::Vector(series) => {
                let mut out = Vec::with_capacity(series.len());
                for s in series {
                    let points: Vec<Point> = s
                        .vals
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| !is_absent(**v))
                        .map(|(i, v)| Point {
                            t: self.grid.time(i),
                            v: *v,
                        })
                        .collect();
                    if !points.is_empty() {
                        out.push((
                            RangeSeries {
                                labels: s.labels,
                                points,
                            },
                            s.drop_name,
                        ));
                    }
                }
                Ok(Value::Matrix(self.finish_matrix(out)?))
            }
            Val::String(_) => Err(Error::BadData(
                "invalid expression type for range query, must be Scalar or instant Vector".into(),
            )),
        }
    }

    /// Drops names where marked, merges series that end up with the same labels when
    /// their points do not collide, and sorts by labels.
    fn finish_matrix(&mut self, series: Vec<(RangeSeries, bool)>) -> Result<Vec<RangeSeries>> {
        let mut out: Vec<RangeSeries> = Vec::with_capacity(series.len());
        let mut index: std::collections::HashMap<Labels, usize> = Default::default();
        for (mut s, drop) in series {
            if drop {
                s.labels = series::without_name(&s.labels);
            }
            match index.get(&s.labels) {
                Some(&i) => {
                    let target = &mut out[i];
                    let mut merged = Vec::with_capacity(target.points.len() + s.points.len());
                    let (mut a, mut b) = (0, 0);
                    while a < target.points.len() || b < s.points.len() {
                        if b == s.points.len()
                            || (a < target.points.len() && target.points[a].t < s.points[b].t)
                        {
                            merged.push(target.points[a]);
                            a += 1;
                        } else if a == target.points.len() || s.points[b].t < target.points[a].t {
                            merged.push(s.points[b]);
                            b += 1;
                        } else {
                            return Err(Error::Execution(
                                "vector cannot contain metrics with the same labelset".into(),
                            ));
                        }
                    }
                    target.points = merged;
                }
                None => {
                    index.insert(s.labels.clone(), out.len());
                    out.push(s);
                }
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Evaluates a node; what it holds afterwards is its output alone (its inputs are
    /// dropped by then), and that is what the budget keeps counting.
    pub fn eval(&mut self, expr: &Expr) -> Result<Val> {
        self.check_deadline()?;
        let before = self.budget.live();
        let val = self.eval_node(expr)?;
        self.budget.settle(before, val.bytes())?;
        Ok(val)
    }

    fn eval_node(&mut self, expr: &Expr) -> Result<Val> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; self.steps()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => match self.eval(&u.expr)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(mut series) => {
                    for s in &mut series {
                        for v in &mut s.vals {
                            if !is_absent(*v) {
                                *v = -*v;
                            }
                        }
                    }
                    self.drop_names(&mut series);
                    Ok(Val::Vector(self.merge_same_labels(series)?))
                }
                _ => Err(Error::BadData(
                    "unary expression only allowed on expressions of type scalar or instant vector"
                        .into(),
                )),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.eval_vector_selector(vs, false)?)),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => Err(Error::BadData(
                "range vectors are only allowed as function arguments or as the whole of an instant query".into(),
            )),
            Expr::Binary(b) => self.eval_binary(expr, b),
            Expr::Aggregate(a) => self.eval_aggregate(expr, a),
            Expr::Call(c) => self.eval_call(expr, c),
            Expr::Extension(_) => Err(Error::BadData("unsupported expression".into())),
        }
    }

    /// Evaluates an expression that must be a scalar (a function's or aggregation's
    /// parameter): one value per step.
    pub fn eval_scalar(&mut self, expr: &Expr) -> Result<Vec<f64>> {
        match self.eval(expr)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(Error::BadData(format!(
                "expected type scalar, got {}",
                type_word(expr)
            ))),
        }
    }

    pub fn eval_vector(&mut self, expr: &Expr) -> Result<Vec<Series>> {
        match self.eval(expr)? {
            Val::Vector(v) => Ok(v),
            _ => Err(Error::BadData(format!(
                "expected type instant vector, got {}",
                type_word(expr)
            ))),
        }
    }

    /// Marks (delayed removal) or strips `__name__` on every series.
    pub fn drop_names(&self, series: &mut [Series]) {
        for s in series.iter_mut() {
            self.drop_name(s);
        }
    }

    pub fn drop_name(&self, s: &mut Series) {
        if self.engine.opts.delayed_name_removal {
            s.drop_name = true;
        } else if s.labels.get("__name__").is_some() {
            s.labels = series::without_name(&s.labels);
        }
    }

    /// Series whose labels became equal are one series, unless both have a value at the
    /// same step: Prometheus' "vector cannot contain metrics with the same labelset".
    pub fn merge_same_labels(&self, series: Vec<Series>) -> Result<Vec<Series>> {
        series::merge_same_labels(series)
    }

    /// Selects series in `[mint, maxt]` for a selector (all of its `or` groups).
    fn select(
        &mut self,
        vs: &ast::VectorSelector,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<lookout_store::Series>> {
        let groups = super::storage::matcher_groups(vs)?;
        let mut all: Vec<lookout_store::Series> = Vec::new();
        for g in &groups {
            all.extend(self.storage.select(g, mint, maxt, self.budget)?);
        }
        self.check_deadline()?;
        if groups.len() > 1 {
            all.sort_by(|a, b| a.labels.cmp(&b.labels));
            all.dedup_by(|a, b| a.labels == b.labels);
        }
        let n: usize = all.iter().map(|s| s.samples.len()).sum();
        self.samples_read += n;
        Ok(all)
    }

    /// Streams a selector's series (all of its `or` groups) in `[mint, maxt]` through `f`,
    /// keeping only `f`'s results, in label order; with `newest_only`, `f` sees only each
    /// series' newest sample in the range. Stops with a timeout once the query's deadline
    /// passes.
    pub fn select_map(
        &mut self,
        vs: &ast::VectorSelector,
        (mint, maxt): (i64, i64),
        newest_only: bool,
        f: &(dyn Fn(&[lookout_store::Sample]) -> Mapped + Sync),
    ) -> Result<Vec<(Labels, Mapped)>> {
        let groups = super::storage::matcher_groups(vs)?;
        // Across `or` groups, series are told apart by their whole label sets.
        let project = self.project.take().filter(|_| groups.len() == 1);
        let budget = self.budget;
        let read = std::sync::atomic::AtomicUsize::new(0);
        let g = |labels: &Labels, samples: &[lookout_store::Sample]| -> Mapped {
            read.fetch_add(samples.len(), std::sync::atomic::Ordering::Relaxed);
            budget.check()?;
            let out = f(samples)?;
            if let Some(vals) = &out.0 {
                budget.charge(series::bytes(labels, vals.len()))?;
            }
            Ok(out)
        };
        // Each series becomes one value per step: refuse a selection whose outputs alone
        // would not fit before any of it is read.
        let per_series = self.steps() * 8 + 256;
        let room = self.budget.max_bytes().saturating_sub(self.budget.live());
        let need = super::storage::Need {
            max_series: (room / per_series).saturating_add(1),
            project,
            newest_only,
        };
        let mut all = Vec::new();
        for grp in &groups {
            all.extend(
                self.storage
                    .select_map(grp, mint, maxt, self.budget, &need, &g)?,
            );
        }
        if groups.len() > 1 {
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all.dedup_by(|a, b| a.0 == b.0);
        }
        self.samples_read += read.into_inner();
        self.check_deadline()?;
        Ok(all)
    }

    /// An instant vector selector over the grid: the newest sample in `(t - lookback, t]`
    /// unless it is a staleness marker. With `timestamps`, the value is the sample's
    /// timestamp in seconds (for `timestamp()`).
    pub fn eval_vector_selector(
        &mut self,
        vs: &ast::VectorSelector,
        timestamps: bool,
    ) -> Result<Vec<Series>> {
        let lookback = self.engine.opts.lookback_delta_ms;
        let off = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let (grid, steps) = (self.grid, self.steps());
        // The grid is ascending, so its ends bound the read; the step times themselves
        // (megabytes for a fine subquery) are laid out only once a series is read, after
        // the store has checked that the selection fits the budget.
        let (first, last) = match at {
            Some(t) => (t - off, t - off),
            None => (grid.time(0) - off, grid.time(steps - 1) - off),
        };
        let laid_out = std::sync::OnceLock::new();
        let step_times = || -> &Vec<i64> {
            laid_out.get_or_init(|| match at {
                Some(t) => vec![t - off; steps],
                None => (0..steps).map(|i| grid.time(i) - off).collect(),
            })
        };
        // At one time (an instant query, or `@`), the newest sample is all a series gives.
        let newest_only = first == last;
        let results =
            self.select_map(vs, (first - lookback + 1, last), newest_only, &|samples| {
                let times = step_times();
                let mut vals = vec![ABSENT; times.len()];
                let mut any = false;
                let mut j = 0usize; // index of the first sample after the current time
                let mut prev_t = i64::MIN;
                for (i, &t) in times.iter().enumerate() {
                    if t < prev_t {
                        j = 0;
                    }
                    prev_t = t;
                    while j < samples.len() && samples[j].t <= t {
                        j += 1;
                    }
                    if j == 0 {
                        continue;
                    }
                    let smp = samples[j - 1];
                    if smp.t <= t - lookback || is_stale_nan(smp.v) {
                        continue;
                    }
                    vals[i] = if timestamps {
                        smp.t as f64 / 1000.0
                    } else {
                        series::canonical(smp.v)
                    };
                    any = true;
                }
                Ok((any.then_some(vals), 0))
            })?;
        let mut out = Vec::with_capacity(results.len());
        let mut held = 0usize;
        for (labels, r) in results {
            if let (Some(vals), _) = r? {
                held += vals.iter().filter(|v| !series::is_absent(**v)).count();
                out.push(Series {
                    labels,
                    drop_name: false,
                    vals,
                });
            }
        }
        self.account(held)?;
        Ok(out)
    }

    /// The float points of a matrix selector's series over the whole query (staleness
    /// markers removed), for windowing per step.
    pub fn matrix_points(&mut self, ms: &ast::MatrixSelector) -> Result<Vec<RangeSeries>> {
        let times = self.read_times(&ms.vs.at, &ms.vs.offset);
        let range = duration_ms(&ms.range);
        let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
            return Ok(Vec::new());
        };
        let selected = self.select(&ms.vs, first - range + 1, last)?;
        let mut out = Vec::with_capacity(selected.len());
        for s in selected {
            let mut points = s.samples;
            if points.iter().any(|p| p.v.is_nan()) {
                points.retain(|p| !is_stale_nan(p.v));
                for p in &mut points {
                    p.v = series::canonical(p.v);
                }
            }
            if !points.is_empty() {
                out.push(RangeSeries {
                    labels: s.labels,
                    points,
                });
            }
        }
        Ok(out)
    }

    /// A subquery's points per series and the time each outer step reads at (after `@`
    /// and `offset`).
    pub fn subquery_points(
        &mut self,
        sq: &ast::SubqueryExpr,
    ) -> Result<(Vec<RangeSeries>, Vec<i64>)> {
        let times = self.read_times(&sq.at, &sq.offset);
        let range = duration_ms(&sq.range);
        let step = match &sq.step {
            Some(d) if !d.is_zero() => duration_ms(d),
            _ => self.engine.opts.default_subquery_step_ms,
        };
        let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
            return Ok((Vec::new(), times));
        };
        let lower = first - range;
        let mut start = step * (lower / step);
        if start <= lower {
            start += step;
        }
        if start > last {
            return Ok((Vec::new(), times));
        }
        let end = start + (last - start) / step * step;
        // Every node on the inner grid holds at least one value per inner step; refuse a
        // grid that alone would not fit before anything is allocated for it.
        let inner_steps = ((end - start) / step) as usize + 1;
        self.budget.fits(inner_steps.saturating_mul(8))?;
        let saved = self.grid;
        self.grid = Grid { start, end, step };
        let inner = self.eval(&sq.expr);
        let inner_grid = self.grid;
        self.grid = saved;
        let to_points = |vals: &[f64]| -> Vec<Point> {
            vals.iter()
                .enumerate()
                .filter(|(_, v)| !is_absent(**v))
                .map(|(i, v)| Point {
                    t: inner_grid.time(i),
                    v: *v,
                })
                .collect()
        };
        let inner = inner?;
        // The points below take twice the inner value's slots.
        self.budget.charge(inner.bytes().saturating_mul(2))?;
        let series = match inner {
            Val::Scalar(v) => vec![RangeSeries {
                labels: Labels::default(),
                points: to_points(&v),
            }],
            Val::Vector(vs) => {
                let mut out = Vec::with_capacity(vs.len());
                for s in vs {
                    let mut labels = s.labels;
                    if s.drop_name {
                        labels = series::without_name(&labels);
                    }
                    out.push(RangeSeries {
                        labels,
                        points: to_points(&s.vals),
                    });
                }
                out
            }
            _ => {
                return Err(Error::BadData(
                    "subquery is only allowed on an instant vector or scalar expression".into(),
                ))
            }
        };
        Ok((series, times))
    }
}

/// Each series' points in `(t - range, t]`; series left without points are dropped.
fn window_at(series: Vec<RangeSeries>, t: i64, range: i64) -> Vec<RangeSeries> {
    series
        .into_iter()
        .filter_map(|mut s| {
            s.points.retain(|p| p.t > t - range && p.t <= t);
            (!s.points.is_empty()).then_some(s)
        })
        .collect()
}

pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}
