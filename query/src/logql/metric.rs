//! Metric queries, every node evaluated for all steps at once: a range aggregation reads
//! its lines once, keeps each series' samples in time order, and slides Loki's window
//! `(t - offset - range, t - offset]` over them step by step. Vector aggregations and
//! binary operators ([`super::vector`]) then work on one value slot per step.

use std::collections::HashMap;
use std::sync::Arc;

use lookout_store::{Direction, Label, Labels, LogHit, LogSelect, MatchOp};

use super::ast::{Conv, Grouping, MetricExpr, RangeAgg, RangeOp};
use super::engine::{Ctx, LogqlOptions};
use super::pipeline::{self, Entry, ERROR, ERROR_DETAILS, SAMPLE_ERR};
use super::units;
use crate::error::{Error, Result};
use crate::promql::functions::range::{self as f, Window};
use crate::promql::{Point, RangeSeries, Sample, Value};

/// The evaluation times of a query: `start + i * step` for `i < n`, in ns.
#[derive(Debug, Clone, Copy)]
pub struct Steps {
    pub start: i64,
    pub step: i64,
    pub n: usize,
}

impl Steps {
    pub fn at(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    pub fn end(&self) -> i64 {
        self.at(self.n.saturating_sub(1))
    }
}

/// One series of an intermediate result: a value slot per step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSeries {
    pub labels: Labels,
    pub values: Vec<Option<f64>>,
}

/// An intermediate value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A number literal: the same at every step.
    Scalar(f64),
    Vector(Vec<StepSeries>),
}

pub fn eval(ctx: &mut Ctx<'_>, e: &MetricExpr, steps: &Steps) -> Result<Val> {
    ctx.budget.check()?;
    match e {
        MetricExpr::Number(n) => Ok(Val::Scalar(*n)),
        MetricExpr::VectorOf(n) => Ok(Val::Vector(vec![StepSeries {
            labels: Labels::default(),
            values: vec![Some(*n); steps.n],
        }])),
        MetricExpr::Range(r) => range(ctx, r, steps).map(Val::Vector),
        MetricExpr::Vector(a) => {
            let inner = match eval(ctx, &a.expr, steps)? {
                Val::Vector(v) => v,
                Val::Scalar(_) => {
                    return Err(Error::BadData(format!(
                        "{} takes a vector, not a number",
                        a.op.name()
                    )))
                }
            };
            super::vector::aggregate(a, inner, steps).map(Val::Vector)
        }
        MetricExpr::Binary(b) => {
            let lhs = eval(ctx, &b.lhs, steps)?;
            let rhs = eval(ctx, &b.rhs, steps)?;
            super::vector::binary(b, lhs, rhs, steps)
        }
    }
}

/// Keeps or drops labels as `by`/`without` says.
pub fn group_labels(labels: &Labels, g: &Grouping) -> Labels {
    Labels::from_sorted(
        labels
            .iter()
            .filter(|l| g.labels.contains(&l.name) != g.without)
            .cloned()
            .collect(),
    )
}

/// Samples of each series, in time order.
type Samples = Vec<(Labels, Vec<Point>)>;

/// A range aggregation's value for each series and step.
fn range(ctx: &mut Ctx<'_>, r: &RangeAgg, steps: &Steps) -> Result<Vec<StepSeries>> {
    let super::select::Plan {
        filters,
        label_eq,
        stages,
    } = super::select::plan(&r.log);
    let sizes_only = ctx.opts.size_reads
        && filters.is_empty()
        && label_eq.is_empty()
        && stages.is_empty()
        && r.unwrap.is_none()
        && matches!(
            r.op,
            RangeOp::Count | RangeOp::Rate | RangeOp::Bytes | RangeOp::BytesRate | RangeOp::Absent
        );
    // The windows of all steps together: (first - offset - range, last - offset].
    let sel = LogSelect {
        matchers: r.log.matchers.clone(),
        start_ns: steps.start - r.offset_ns - r.range_ns + 1,
        end_ns: steps.end() - r.offset_ns + 1,
        filters,
        label_eq,
        direction: Direction::Forward,
        limit: 0,
        cancel: Some(ctx.budget.stop_flag()),
    };
    let range_s = r.range_ns as f64 / 1e9;
    if sizes_only {
        let edges = tally::Edges::new(steps, r.range_ns, r.offset_ns);
        let series = read_tallies(ctx, r, &sel, &edges)?;
        ctx.budget.check()?;
        no_pipeline_error(series.iter().map(|(l, _)| l))?;
        let windows: Vec<(Labels, Vec<(u64, u64)>)> = series
            .into_iter()
            .map(|(labels, t)| (labels, t.windows(&edges)))
            .collect();
        if r.op == RangeOp::Absent {
            let present = (0..steps.n)
                .map(|i| windows.iter().any(|(_, w)| w[i].0 > 0))
                .collect();
            return Ok(absent(r, present));
        }
        let mut out = Vec::with_capacity(windows.len());
        for (labels, w) in windows {
            ctx.budget.charge(steps.n * 16)?;
            let values: Vec<Option<f64>> = w
                .into_iter()
                .map(|(lines, bytes)| {
                    (lines > 0).then(|| match r.op {
                        RangeOp::Count => lines as f64,
                        RangeOp::Rate => lines as f64 / range_s,
                        RangeOp::Bytes => bytes as f64,
                        _ => bytes as f64 / range_s,
                    })
                })
                .collect();
            if values.iter().any(Option::is_some) {
                out.push(StepSeries { labels, values });
            }
        }
        return Ok(out);
    }
    let series = read_lines(ctx, r, &sel, &stages)?;
    ctx.budget.check()?;
    no_pipeline_error(series.iter().map(|(l, _)| l))?;
    if r.op == RangeOp::Absent {
        let present = (0..steps.n)
            .map(|i| {
                let end = steps.at(i) - r.offset_ns;
                let start = end - r.range_ns;
                series
                    .iter()
                    .any(|(_, p)| p.iter().any(|p| p.t > start && p.t <= end))
            })
            .collect();
        return Ok(absent(r, present));
    }
    let mut out = Vec::with_capacity(series.len());
    for (labels, points) in series {
        ctx.budget.charge(steps.n * 16)?;
        let mut values = Vec::with_capacity(steps.n);
        let (mut lo, mut hi) = (0usize, 0usize);
        for i in 0..steps.n {
            let end = steps.at(i) - r.offset_ns;
            let start = end - r.range_ns;
            while hi < points.len() && points[hi].t <= end {
                hi += 1;
            }
            while lo < hi && points[lo].t <= start {
                lo += 1;
            }
            let w = &points[lo..hi];
            values.push(if w.is_empty() {
                None
            } else {
                window_value(r, w, start, end, range_s)
            });
        }
        if values.iter().any(Option::is_some) {
            out.push(StepSeries { labels, values });
        }
    }
    Ok(out)
}

/// The series labels of a line with labels `labels` after the pipeline: without the
/// unwrapped label and error details, grouped as the aggregation says.
fn series_labels(r: &RangeAgg, mut labels: Arc<Labels>) -> Arc<Labels> {
    if let Some(u) = &r.unwrap {
        if labels.get(&u.label).is_some() || labels.get(ERROR_DETAILS).is_some() {
            labels = Arc::new(Labels::from_sorted(
                labels
                    .iter()
                    .filter(|l| l.name != u.label && l.name != ERROR_DETAILS)
                    .cloned()
                    .collect(),
            ));
        }
    } else if labels.get(ERROR_DETAILS).is_some() {
        labels = Arc::new(Labels::from_sorted(
            labels
                .iter()
                .filter(|l| l.name != ERROR_DETAILS)
                .cloned()
                .collect(),
        ));
    }
    if let Some(g) = &r.grouping {
        labels = Arc::new(group_labels(&labels, g));
    }
    labels
}

/// The index of the series `labels` in `series`, added (and its memory charged) when new.
fn series_slot<T: Default>(
    ctx: &Ctx<'_>,
    series: &mut Vec<(Labels, T)>,
    index: &mut HashMap<Arc<Labels>, usize>,
    labels: Arc<Labels>,
) -> Result<usize> {
    if let Some(&i) = index.get(&labels) {
        return Ok(i);
    }
    ctx.budget.charge(labels_bytes(&labels))?;
    series.push(((*labels).clone(), T::default()));
    index.insert(labels, series.len() - 1);
    Ok(series.len() - 1)
}

/// The samples of each series, reading every selected line through the pipeline.
fn read_lines(
    ctx: &mut Ctx<'_>,
    r: &RangeAgg,
    sel: &LogSelect,
    stages: &[super::ast::Stage],
) -> Result<Samples> {
    // Samples of each series in time order (the read is oldest first).
    let mut series: Samples = Vec::new();
    let mut index: HashMap<Arc<Labels>, usize> = HashMap::new();
    let mut failed: Option<Error> = None;
    let logs = ctx.logs;
    let tenant = ctx.tenant;
    logs.select_logs(tenant, sel, &mut |hit| {
        if let Err(e) = ctx.scanned(hit.line.len()) {
            failed = Some(e);
            return false;
        }
        let mut e = Entry::new(hit);
        if !pipeline::run(stages, &mut e) {
            return true;
        }
        let Some(v) = sample_value(r, &mut e) else {
            return true;
        };
        let labels = series_labels(r, e.all_labels());
        let i = match series_slot(ctx, &mut series, &mut index, labels) {
            Ok(i) => i,
            Err(err) => {
                failed = Some(err);
                return false;
            }
        };
        if let Err(err) = ctx.budget.charge(16) {
            failed = Some(err);
            return false;
        }
        series[i].1.push(Point { t: e.ts_ns, v });
        true
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(series),
    }
}

/// Each series' tally for a query that counts lines or bytes with no pipeline: only each
/// line's timestamp and length are read. It counts what [`read_lines`] would: the same
/// lines (the store yields each entry `select_logs` would, repeats dropped alike), the
/// same labels (a line's structured metadata joins its stream labels as
/// `Entry::all_labels` has it), and the same scan accounting, charged a batch at a time.
/// Memory is charged per run of a tally ([`tally::RUN_BYTES`]) instead of per line.
fn read_tallies(
    ctx: &mut Ctx<'_>,
    r: &RangeAgg,
    sel: &LogSelect,
    edges: &tally::Edges,
) -> Result<Vec<(Labels, tally::Tally)>> {
    let mut series: Vec<(Labels, tally::Tally)> = Vec::new();
    let mut index: HashMap<Arc<Labels>, usize> = HashMap::new();
    let mut failed: Option<Error> = None;
    let logs = ctx.logs;
    let tenant = ctx.tenant;
    logs.select_log_sizes(tenant, sel, &mut |stream, lines| {
        let mut add = || -> Result<()> {
            let bytes: usize = lines.iter().map(|l| l.len).sum();
            ctx.scanned_lines(lines.len(), bytes)?;
            let mut plain: Option<usize> = None;
            let mut hint = 0usize;
            let mut runs = 0usize;
            // Lines of one series and interval in a row (the batch is in time order) are
            // added together: (series, interval, lines, bytes).
            let mut pending: Option<(usize, u32, u64, u64)> = None;
            for l in lines {
                let i = if l.metadata.is_empty() {
                    match plain {
                        Some(i) => i,
                        None => {
                            let labels = series_labels(r, stream.clone());
                            let i = series_slot(ctx, &mut series, &mut index, labels)?;
                            plain = Some(i);
                            i
                        }
                    }
                } else {
                    let e = Entry::new(LogHit {
                        stream: stream.clone(),
                        ts_ns: l.ts_ns,
                        line: String::new(),
                        metadata: l.metadata.clone(),
                    });
                    let labels = series_labels(r, e.all_labels());
                    series_slot(ctx, &mut series, &mut index, labels)?
                };
                // A line outside every window (ranges shorter than the step leave gaps)
                // still makes its series, as in the full read.
                let Some(j) = edges.interval(l.ts_ns, &mut hint) else {
                    continue;
                };
                match &mut pending {
                    Some((pi, pj, n, b)) if *pi == i && *pj == j => {
                        *n += 1;
                        *b += l.len as u64;
                    }
                    _ => {
                        if let Some((pi, pj, n, b)) = pending.take() {
                            runs += usize::from(series[pi].1.add(pj, n, b));
                        }
                        pending = Some((i, j, 1, l.len as u64));
                    }
                }
            }
            if let Some((pi, pj, n, b)) = pending {
                runs += usize::from(series[pi].1.add(pj, n, b));
            }
            ctx.budget.charge(runs * tally::RUN_BYTES)
        };
        match add() {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(series),
    }
}

/// Bytes a series' labels take, for the query's memory budget.
fn labels_bytes(labels: &Labels) -> usize {
    labels
        .iter()
        .map(|l| l.name.len() + l.value.len() + 48)
        .sum::<usize>()
        + 64
}

/// Loki's error when a series still carries a pipeline error label.
fn no_pipeline_error<'a>(mut labels: impl Iterator<Item = &'a Labels>) -> Result<()> {
    let Some(labels) = labels.find(|l| l.get(ERROR).is_some()) else {
        return Ok(());
    };
    let err = labels.get(ERROR).unwrap_or("");
    Err(Error::BadData(format!(
        "pipeline error: '{err}' for series: '{labels}'. Use a label filter to intentionally skip this error. \
         (e.g | __error__!=\"{err}\"). To skip all potential errors you can match empty errors.(e.g __error__=\"\") \
         The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )"
    )))
}

/// The value a line contributes: 1 per line, its length, or the unwrapped label (a label
/// that does not convert marks the line `SampleExtractionErr`). `None` when a filter after
/// unwrap drops the line.
fn sample_value(r: &RangeAgg, e: &mut Entry) -> Option<f64> {
    let Some(u) = &r.unwrap else {
        return Some(match r.op {
            RangeOp::Bytes | RangeOp::BytesRate => e.line.len() as f64,
            _ => 1.0,
        });
    };
    let raw = e.get(&u.label).unwrap_or("").trim().to_string();
    let v = match u.conv {
        Conv::Float => raw.parse::<f64>().ok(),
        Conv::Duration | Conv::DurationSeconds => units::go_duration(&raw),
        Conv::Bytes => units::bytes(&raw),
    };
    let v = match v {
        Some(v) => v,
        None => {
            if !e.has_err() {
                e.set_err(
                    SAMPLE_ERR,
                    format!("cannot convert label {}={raw:?} to a number", u.label),
                );
            }
            0.0
        }
    };
    for f in &u.filters {
        if !pipeline::label_filter(f, e) {
            return None;
        }
    }
    Some(v)
}

fn window_value(r: &RangeAgg, w: &[Point], start: i64, end: i64, range_s: f64) -> Option<f64> {
    let win = Window {
        points: w,
        range_start: start,
        range_end: end,
    };
    let sum = || w.iter().map(|p| p.v).sum::<f64>();
    match r.op {
        RangeOp::Count => Some(w.len() as f64),
        RangeOp::Rate if r.unwrap.is_none() => Some(w.len() as f64 / range_s),
        RangeOp::Rate => Some(sum() / range_s),
        RangeOp::Bytes => Some(sum()),
        RangeOp::BytesRate => Some(sum() / range_s),
        RangeOp::Absent => None,
        RangeOp::Sum => f::sum_over_time(&win),
        RangeOp::Avg => f::avg_over_time(&win),
        RangeOp::Min => f::min_over_time(&win),
        RangeOp::Max => f::max_over_time(&win),
        RangeOp::Stddev => f::stddev_over_time(&win),
        RangeOp::Stdvar => f::stdvar_over_time(&win),
        RangeOp::Quantile => f::quantile_over_time(&win, r.param.unwrap_or(f64::NAN)),
        RangeOp::First => f::first_over_time(&win),
        RangeOp::Last => f::last_over_time(&win),
        RangeOp::RateCounter => {
            // Prometheus' extrapolated rate works in milliseconds.
            let ms: Vec<Point> = w
                .iter()
                .map(|p| Point {
                    t: p.t.div_euclid(1_000_000),
                    v: p.v,
                })
                .collect();
            f::rate(&Window {
                points: &ms,
                range_start: start.div_euclid(1_000_000),
                range_end: end.div_euclid(1_000_000),
            })
        }
    }
}

/// `absent_over_time`: 1 at the steps whose window holds no line of any series
/// (`present` is false), labelled with the selector's equality matchers.
fn absent(r: &RangeAgg, present: Vec<bool>) -> Vec<StepSeries> {
    let values: Vec<Option<f64>> = present.into_iter().map(|p| (!p).then_some(1.0)).collect();
    if values.iter().all(Option::is_none) {
        return Vec::new();
    }
    let mut labels: Vec<Label> = Vec::new();
    for m in &r.log.matchers {
        if m.op == MatchOp::Equal && !labels.iter().any(|l| l.name == m.name) {
            labels.push(Label::new(m.name.clone(), m.value.clone()));
        }
    }
    labels.sort();
    vec![StepSeries {
        labels: Labels::from_sorted(labels),
        values,
    }]
}

/// The answer in PromQL's value shapes (ms timestamps): a scalar or vector for an
/// instant query (sorted by labels unless `ordered`: the query ends in sort, sort_desc,
/// topk or bottomk), a matrix sorted by labels for a range query.
pub fn to_value(
    v: Val,
    steps: &Steps,
    instant: bool,
    ordered: bool,
    opts: &LogqlOptions,
) -> Result<Value> {
    let t_ms = |i: usize| steps.at(i).div_euclid(1_000_000);
    let series = match v {
        Val::Scalar(x) if instant => return Ok(Value::Scalar { t: t_ms(0), v: x }),
        Val::Scalar(x) => vec![StepSeries {
            labels: Labels::default(),
            values: vec![Some(x); steps.n],
        }],
        Val::Vector(s) => s,
    };
    let series: Vec<StepSeries> = series
        .into_iter()
        .filter(|s| s.values.iter().any(Option::is_some))
        .collect();
    if series.len() > opts.max_series {
        return Err(Error::Execution(format!(
            "maximum of series ({}) reached for a single query (query.max_query_series); \
             aggregate with sum by (...) or narrow the selector",
            opts.max_series
        )));
    }
    if instant {
        let mut series = series;
        if !ordered {
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        return Ok(Value::Vector(
            series
                .into_iter()
                .filter_map(|s| {
                    s.values[0].map(|v| Sample {
                        labels: s.labels,
                        t: t_ms(0),
                        v,
                    })
                })
                .collect(),
        ));
    }
    let mut m: Vec<RangeSeries> = series
        .into_iter()
        .map(|s| RangeSeries {
            points: s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| Point { t: t_ms(i), v }))
                .collect(),
            labels: s.labels,
        })
        .collect();
    m.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Value::Matrix(m))
}

mod tally;
#[cfg(test)]
mod tests;
