//! Function calls: windows for range-vector functions, element-wise math, label
//! functions, sorting, `absent`, `timestamp` and classic-histogram functions. The
//! arithmetic itself lives in [`crate::promql::functions`].

use std::collections::HashMap;

use lookout_store::Labels;
use promql_parser::parser::{Call, Expr};

use super::series::{self, is_absent, Series, ABSENT};
use super::{duration_ms, format_float, unwrap_parens, Evaluator, Val};
use crate::error::{Error, Result};
use crate::promql::functions::quantile::{bucket_fraction, bucket_quantile, Bucket};
use crate::promql::functions::range::{self as rf, Window};
use crate::promql::functions::time as tf;
use crate::promql::storage::Mapped;
use crate::promql::value::Point;
use crate::promql::value::RangeSeries;

/// Range-vector functions and the index of their range-vector argument.
fn range_arg(name: &str) -> Option<usize> {
    Some(match name {
        "quantile_over_time" => 1,
        "rate"
        | "increase"
        | "delta"
        | "irate"
        | "idelta"
        | "deriv"
        | "predict_linear"
        | "resets"
        | "changes"
        | "avg_over_time"
        | "sum_over_time"
        | "min_over_time"
        | "max_over_time"
        | "count_over_time"
        | "last_over_time"
        | "first_over_time"
        | "present_over_time"
        | "stddev_over_time"
        | "stdvar_over_time"
        | "mad_over_time"
        | "ts_of_min_over_time"
        | "ts_of_max_over_time"
        | "ts_of_last_over_time"
        | "ts_of_first_over_time"
        | "double_exponential_smoothing"
        | "holt_winters"
        | "absent_over_time" => 0,
        _ => return None,
    })
}

fn math_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => |v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        },
        "acos" => f64::acos,
        "acosh" => f64::acosh,
        "asin" => f64::asin,
        "asinh" => f64::asinh,
        "atan" => f64::atan,
        "atanh" => f64::atanh,
        "cos" => f64::cos,
        "cosh" => f64::cosh,
        "sin" => f64::sin,
        "sinh" => f64::sinh,
        "tan" => f64::tan,
        "tanh" => f64::tanh,
        "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
        "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
        "minute" => tf::minute,
        "hour" => tf::hour,
        "day_of_week" => tf::day_of_week,
        "day_of_month" => tf::day_of_month,
        "day_of_year" => tf::day_of_year,
        "days_in_month" => tf::days_in_month,
        "month" => tf::month,
        "year" => tf::year,
        _ => return None,
    })
}

fn is_time_fn(name: &str) -> bool {
    matches!(
        name,
        "minute"
            | "hour"
            | "day_of_week"
            | "day_of_month"
            | "day_of_year"
            | "days_in_month"
            | "month"
            | "year"
    )
}

fn string_arg(e: &Expr) -> Result<String> {
    match unwrap_parens(e) {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        _ => Err(Error::BadData("expected a string literal argument".into())),
    }
}

/// The labels `absent()` and `absent_over_time()` give their series: the selector's
/// equality matchers, except names matched more than once or by other operators.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut has: Vec<String> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == "__name__" {
            continue;
        }
        let equal = matches!(m.op, promql_parser::label::MatchOp::Equal);
        if equal && !has.contains(&m.name) {
            labels.retain(|(n, _)| *n != m.name);
            labels.push((m.name.clone(), m.value.clone()));
            has.push(m.name.clone());
        } else {
            labels.retain(|(n, _)| *n != m.name);
        }
    }
    Labels::from_pairs(labels)
}

/// Natural order for `sort_by_label`: runs of digits compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].trim_start_matches('0');
            let nb = b[sj..j].trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let si = i;
            while i < ab.len() && !ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && !bb[j].is_ascii_digit() {
                j += 1;
            }
            let o = a[si..i].cmp(&b[sj..j]);
            if o != Ordering::Equal {
                return o;
            }
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

fn nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if desc => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

impl Evaluator<'_> {
    pub(crate) fn eval_call(&mut self, node: &Expr, c: &Call) -> Result<Val> {
        let name = c.func.name;
        let args: Vec<&Expr> = c.args.args.iter().map(|b| b.as_ref()).collect();
        let steps = self.steps();
        if let Some(idx) = range_arg(name) {
            return self.eval_range_fn(name, &args, idx);
        }
        if let Some(f) = math_fn(name) {
            if args.is_empty() && is_time_fn(name) {
                let mut s = Series::new(Labels::default(), steps);
                for (i, v) in s.vals.iter_mut().enumerate() {
                    *v = f(self.grid.time(i) as f64 / 1000.0);
                }
                return Ok(Val::Vector(vec![s]));
            }
            let mut v = self.eval_vector(args[0])?;
            for s in &mut v {
                for x in &mut s.vals {
                    if !is_absent(*x) {
                        *x = f(*x);
                    }
                }
            }
            self.drop_names(&mut v);
            return Ok(Val::Vector(self.merge_same_labels(v)?));
        }
        match name {
            "time" => Ok(Val::Scalar(
                (0..steps)
                    .map(|i| self.grid.time(i) as f64 / 1000.0)
                    .collect(),
            )),
            "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; steps])),
            "start" => Ok(Val::Scalar(vec![self.query_start as f64 / 1000.0; steps])),
            "end" => Ok(Val::Scalar(vec![self.query_end as f64 / 1000.0; steps])),
            "range" => Ok(Val::Scalar(vec![
                (self.query_end - self.query_start) as f64
                    / 1000.0;
                steps
            ])),
            "step" => Ok(Val::Scalar(vec![self.query_step as f64 / 1000.0; steps])),
            "min_of" | "max_of" => {
                let mut acc: Option<Vec<f64>> = None;
                for a in &args {
                    let v = self.eval_scalar(a)?;
                    acc = Some(match acc {
                        None => v,
                        Some(prev) => prev
                            .into_iter()
                            .zip(v)
                            .map(|(x, y)| {
                                if name == "min_of" {
                                    go_min(x, y)
                                } else {
                                    go_max(x, y)
                                }
                            })
                            .collect(),
                    });
                }
                Ok(Val::Scalar(acc.unwrap_or_else(|| vec![f64::NAN; steps])))
            }
            "vector" => {
                let v = self.eval_scalar(args[0])?;
                Ok(Val::Vector(vec![Series {
                    labels: Labels::default(),
                    drop_name: false,
                    vals: v,
                }]))
            }
            "scalar" => {
                let v = self.eval_vector(args[0])?;
                let mut out = vec![f64::NAN; steps];
                let mut count = vec![0u32; steps];
                for s in &v {
                    for (i, x) in s.vals.iter().enumerate() {
                        if !is_absent(*x) {
                            count[i] += 1;
                            out[i] = *x;
                        }
                    }
                }
                for (o, c) in out.iter_mut().zip(count) {
                    if c != 1 {
                        *o = f64::NAN;
                    }
                }
                Ok(Val::Scalar(out))
            }
            "round" => {
                let to = match args.get(1) {
                    Some(e) => self.eval_scalar(e)?,
                    None => vec![1.0; steps],
                };
                let mut v = self.eval_vector(args[0])?;
                for s in &mut v {
                    for (i, x) in s.vals.iter_mut().enumerate() {
                        if !is_absent(*x) {
                            let inv = 1.0 / to[i];
                            *x = (*x * inv + 0.5).floor() / inv;
                        }
                    }
                }
                self.drop_names(&mut v);
                Ok(Val::Vector(self.merge_same_labels(v)?))
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let (lo, hi) = match name {
                    "clamp" => (
                        Some(self.eval_scalar(args[1])?),
                        Some(self.eval_scalar(args[2])?),
                    ),
                    "clamp_min" => (Some(self.eval_scalar(args[1])?), None),
                    _ => (None, Some(self.eval_scalar(args[1])?)),
                };
                let mut v = self.eval_vector(args[0])?;
                for s in &mut v {
                    for (i, x) in s.vals.iter_mut().enumerate() {
                        if is_absent(*x) {
                            continue;
                        }
                        let (l, h) = (lo.as_ref().map(|l| l[i]), hi.as_ref().map(|h| h[i]));
                        if let (Some(l), Some(h)) = (l, h) {
                            if h < l {
                                *x = ABSENT;
                                continue;
                            }
                        }
                        let mut y = *x;
                        if let Some(h) = h {
                            y = go_min(h, y);
                        }
                        if let Some(l) = l {
                            y = go_max(l, y);
                        }
                        *x = y;
                    }
                }
                v.retain(|s| s.vals.iter().any(|x| !is_absent(*x)));
                self.drop_names(&mut v);
                Ok(Val::Vector(self.merge_same_labels(v)?))
            }
            "timestamp" => {
                let mut v = match unwrap_parens(args[0]) {
                    Expr::VectorSelector(vs) => self.eval_vector_selector(vs, true)?,
                    other => {
                        let mut v = self.eval_vector(other)?;
                        for s in &mut v {
                            for (i, x) in s.vals.iter_mut().enumerate() {
                                if !is_absent(*x) {
                                    *x = self.grid.time(i) as f64 / 1000.0;
                                }
                            }
                        }
                        v
                    }
                };
                self.drop_names(&mut v);
                Ok(Val::Vector(self.merge_same_labels(v)?))
            }
            "absent" => {
                let v = self.eval_vector(args[0])?;
                let mut s = Series::new(absent_labels(unwrap_parens(args[0])), steps);
                for i in 0..steps {
                    if v.iter().all(|s| is_absent(s.vals[i])) {
                        s.vals[i] = 1.0;
                    }
                }
                Ok(Val::Vector(if s.vals.iter().any(|x| !is_absent(*x)) {
                    vec![s]
                } else {
                    Vec::new()
                }))
            }
            "label_replace" => {
                let dst = string_arg(args[1])?;
                let repl = string_arg(args[2])?;
                let src = string_arg(args[3])?;
                let re_text = string_arg(args[4])?;
                let re = regex::Regex::new(&format!("^(?s:{re_text})$")).map_err(|e| {
                    Error::Execution(format!(
                        "invalid regular expression in label_replace(): {re_text}: {e}"
                    ))
                })?;
                if !valid_label_name(&dst) {
                    return Err(Error::Execution(format!(
                        "invalid destination label name in label_replace(): {dst}"
                    )));
                }
                let mut v = self.eval_vector(args[0])?;
                for s in &mut v {
                    let value = s.labels.get(&src).unwrap_or("").to_string();
                    if let Some(caps) = re.captures(&value) {
                        let mut res = String::new();
                        caps.expand(&repl, &mut res);
                        s.labels = series::with_label(&s.labels, &dst, &res);
                        if dst == "__name__" {
                            s.drop_name = false;
                        }
                    }
                }
                Ok(Val::Vector(self.merge_same_labels(v)?))
            }
            "label_join" => {
                let dst = string_arg(args[1])?;
                let sep = string_arg(args[2])?;
                let mut srcs = Vec::new();
                for a in &args[3..] {
                    srcs.push(string_arg(a)?);
                }
                if !valid_label_name(&dst) {
                    return Err(Error::Execution(format!(
                        "invalid destination label name in label_join(): {dst}"
                    )));
                }
                let mut v = self.eval_vector(args[0])?;
                for s in &mut v {
                    let joined = srcs
                        .iter()
                        .map(|n| s.labels.get(n).unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join(&sep);
                    s.labels = series::with_label(&s.labels, &dst, &joined);
                    if dst == "__name__" {
                        s.drop_name = false;
                    }
                }
                Ok(Val::Vector(self.merge_same_labels(v)?))
            }
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
                let mut labels = Vec::new();
                for a in args.iter().skip(1) {
                    labels.push(string_arg(a)?);
                }
                let mut v = self.eval_vector(args[0])?;
                if self.is_range_query {
                    self.warn(
                        node,
                        "sort is ineffective for range queries since results are always ordered by labels".into(),
                    );
                    return Ok(Val::Vector(v));
                }
                match name {
                    "sort" => v.sort_by(|a, b| nan_last(a.vals[0], b.vals[0], false)),
                    "sort_desc" => v.sort_by(|a, b| nan_last(a.vals[0], b.vals[0], true)),
                    _ => {
                        let desc = name == "sort_by_label_desc";
                        v.sort_by(|a, b| {
                            let mut o = std::cmp::Ordering::Equal;
                            for l in &labels {
                                let (x, y) =
                                    (a.labels.get(l).unwrap_or(""), b.labels.get(l).unwrap_or(""));
                                o = natural_cmp(x, y);
                                if o != std::cmp::Ordering::Equal {
                                    break;
                                }
                            }
                            if o == std::cmp::Ordering::Equal {
                                o = a.labels.cmp(&b.labels);
                            }
                            if desc {
                                o.reverse()
                            } else {
                                o
                            }
                        });
                    }
                }
                Ok(Val::Vector(v))
            }
            "histogram_quantile" | "histogram_fraction" | "histogram_quantiles" => {
                self.eval_histogram_fn(node, name, &args)
            }
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
            | "histogram_stdvar" => {
                // Native histograms only: float samples give no result.
                let _ = self.eval_vector(args[0])?;
                Ok(Val::Vector(Vec::new()))
            }
            other => Err(Error::BadData(format!(
                "function {other}() is not supported yet"
            ))),
        }
    }

    /// A range-vector function over every series and step.
    fn eval_range_fn(&mut self, name: &str, args: &[&Expr], idx: usize) -> Result<Val> {
        let steps = self.steps();
        // Scalar parameters first, as Prometheus evaluates arguments in order.
        let mut params: Vec<Vec<f64>> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i != idx {
                params.push(self.eval_scalar(a)?);
            }
        }
        let marg = unwrap_parens(args[idx]);
        // A matrix selector streams: each series goes from the store straight into the
        // function, so only the per-step output of the whole selection is held.
        let streamed = name != "absent_over_time";
        let (input, times, range) = match marg {
            Expr::MatrixSelector(ms) => {
                let s = if streamed {
                    Vec::new()
                } else {
                    self.matrix_points(ms)?
                };
                let t = self.read_times(&ms.vs.at, &ms.vs.offset);
                (s, t, duration_ms(&ms.range))
            }
            Expr::Subquery(sq) => {
                let (s, t) = self.subquery_points(sq)?;
                (s, t, duration_ms(&sq.range))
            }
            _ => {
                return Err(Error::BadData(format!(
                    "expected type range vector in call to function \"{name}\""
                )))
            }
        };
        if name == "quantile_over_time" {
            if let Some(bad) = params[0].iter().find(|q| !(0.0..=1.0).contains(*q)) {
                self.warn(
                    args[0],
                    format!(
                        "quantile value should be between 0 and 1, got {}",
                        format_float(*bad)
                    ),
                );
            }
        }
        if name == "absent_over_time" {
            let mut s = Series::new(absent_labels(marg), steps);
            for (i, &t) in times.iter().enumerate() {
                let any = input
                    .iter()
                    .any(|s| s.points.iter().any(|p| p.t > t - range && p.t <= t));
                if !any {
                    s.vals[i] = 1.0;
                }
            }
            return Ok(Val::Vector(if s.vals.iter().any(|x| !is_absent(*x)) {
                vec![s]
            } else {
                Vec::new()
            }));
        }
        let keep_name = matches!(name, "last_over_time" | "first_over_time");
        let counter_fn = matches!(name, "rate" | "increase" | "irate");
        let grid = self.grid;
        let job = RangeJob {
            name,
            times: &times,
            range,
            params: &params,
            grid,
        };
        if let (true, Expr::MatrixSelector(ms)) = (streamed, marg) {
            let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
                return Ok(Val::Vector(Vec::new()));
            };
            let results =
                self.select_map(&ms.vs, (first - range + 1, last), false, &|samples| {
                    let owned: Vec<Point>;
                    let points: &[Point] = if samples.iter().any(|p| p.v.is_nan()) {
                        owned = samples
                            .iter()
                            .filter(|p| !lookout_store::model::is_stale_nan(p.v))
                            .map(|p| Point::new(p.t, series::canonical(p.v)))
                            .collect();
                        &owned
                    } else {
                        samples
                    };
                    if points.is_empty() {
                        return Ok((None, 0));
                    }
                    Ok((job.series(points)?, job.widest_window(points)))
                })?;
            return self.finish_range_fn(results, counter_fn, keep_name, args[idx]);
        }
        let work: usize = input.iter().map(|s| s.points.len()).sum::<usize>() + input.len() * steps;
        let threads = if work < 200_000 {
            1
        } else {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(8)
        };
        let chunk = input.len().div_ceil(threads.max(1)).max(1);
        let results: Vec<Result<Vec<Option<Vec<f64>>>>> = if threads <= 1 {
            vec![input.iter().map(|s| job.series(&s.points)).collect()]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = input
                    .chunks(chunk)
                    .map(|part| {
                        let job = &job;
                        scope.spawn(move || part.iter().map(|s| job.series(&s.points)).collect())
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::Internal("query worker panicked".into()))
                        })
                    })
                    .collect()
            })
        };
        self.check_deadline()?;
        let mut results = results.into_iter();
        let mut current = Vec::new().into_iter();
        let mut mapped = Vec::with_capacity(input.len());
        for RangeSeries { labels, points } in input {
            let vals = loop {
                if let Some(v) = current.next() {
                    break v;
                }
                match results.next() {
                    Some(r) => current = r?.into_iter(),
                    None => return Err(Error::Internal("range function lost a series".into())),
                }
            };
            let widest = job.widest_window(&points);
            mapped.push((labels, Ok((vals, widest))));
        }
        self.finish_range_fn(mapped, counter_fn, keep_name, args[idx])
    }

    /// The output vector of a range function from its per-series results, with the
    /// counter-name info and the sample limit: Prometheus holds one series' window at a
    /// time plus the output so far.
    fn finish_range_fn(
        &mut self,
        results: Vec<(Labels, Mapped)>,
        counter_fn: bool,
        keep_name: bool,
        arg: &Expr,
    ) -> Result<Val> {
        let mut widest = 0;
        let mut held = 0;
        let mut out = Vec::with_capacity(results.len());
        for (labels, r) in results {
            let (vals, w) = r?;
            widest = widest.max(w);
            let Some(vals) = vals else {
                continue;
            };
            held += vals.iter().filter(|v| !is_absent(**v)).count();
            if counter_fn {
                if let Some(metric) = labels.metric_name() {
                    if !["_total", "_sum", "_count", "_bucket"]
                        .iter()
                        .any(|s| metric.ends_with(s))
                    {
                        let msg = format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}");
                        self.info(arg, msg);
                    }
                }
            }
            let mut s = Series {
                labels,
                drop_name: false,
                vals,
            };
            if !keep_name {
                self.drop_name(&mut s);
            }
            out.push(s);
        }
        self.account(widest + held)?;
        Ok(Val::Vector(self.merge_same_labels(out)?))
    }

    fn eval_histogram_fn(&mut self, node: &Expr, name: &str, args: &[&Expr]) -> Result<Val> {
        let steps = self.steps();
        // Parameters and the vector, in argument order.
        type Bounds = Option<(Vec<f64>, Vec<f64>)>;
        let (vec_arg, qs, bounds, label): (&Expr, Vec<Vec<f64>>, Bounds, Option<String>) =
            match name {
                "histogram_quantile" => (args[1], vec![self.eval_scalar(args[0])?], None, None),
                "histogram_fraction" => {
                    let lo = self.eval_scalar(args[0])?;
                    let hi = self.eval_scalar(args[1])?;
                    (args[2], Vec::new(), Some((lo, hi)), None)
                }
                _ => {
                    let label = string_arg(args[1])?;
                    let mut qs = Vec::new();
                    for a in &args[2..] {
                        qs.push(self.eval_scalar(a)?);
                    }
                    (args[0], qs, None, Some(label))
                }
            };
        for q in &qs {
            if let Some(bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                let at = if name == "histogram_quantile" {
                    args[0]
                } else {
                    node
                };
                self.warn(
                    at,
                    format!(
                        "quantile value should be between 0 and 1, got {}",
                        format_float(*bad)
                    ),
                );
            }
        }
        let input = self.eval_vector(vec_arg)?;
        // Group buckets by their labels without `le`.
        let mut groups: Vec<(Labels, Vec<(f64, usize)>)> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for (j, s) in input.iter().enumerate() {
            let le = s.labels.get("le").unwrap_or("");
            let Some(upper) = parse_le(le) else {
                let metric = s.labels.metric_name().unwrap_or("").to_string();
                self.warn(
                    vec_arg,
                    format!("bucket label \"le\" is missing or has a malformed value of \"{le}\" for metric name \"{metric}\""),
                );
                continue;
            };
            let key = series::without(&s.labels, &["le"]);
            let g = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push((upper, j));
        }
        let mut out: Vec<Series> = Vec::new();
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut monotonic_warned: Vec<String> = Vec::new();
        for (labels, members) in &groups {
            let metric = labels.metric_name().unwrap_or("").to_string();
            let base = series::without_name(labels);
            let outputs: Vec<Labels> = match &label {
                None => vec![base.clone()],
                Some(l) => qs
                    .iter()
                    .map(|q| series::with_label(&base, l, &format_float(q[0])))
                    .collect(),
            };
            let first_out = out.len();
            for l in outputs {
                out.push(Series::new(l, steps));
            }
            for i in 0..steps {
                buckets.clear();
                for &(upper, j) in members {
                    let v = input[j].vals[i];
                    if !is_absent(v) {
                        buckets.push(Bucket { upper, count: v });
                    }
                }
                if buckets.is_empty() {
                    continue;
                }
                if let Some((lo, hi)) = &bounds {
                    let mut b = buckets.clone();
                    out[first_out].vals[i] = bucket_fraction(lo[i], hi[i], &mut b);
                    continue;
                }
                for (k, q) in qs.iter().enumerate() {
                    let mut b = buckets.clone();
                    let r = bucket_quantile(q[i], &mut b);
                    if r.forced_monotonic && !monotonic_warned.contains(&metric) {
                        monotonic_warned.push(metric.clone());
                        self.info(
                            vec_arg,
                            format!("input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"{metric}\""),
                        );
                    }
                    out[first_out + k].vals[i] = r.value;
                }
            }
        }
        out.retain(|s| s.vals.iter().any(|v| !is_absent(*v)));
        Ok(Val::Vector(self.merge_same_labels(out)?))
    }
}

/// One range function over one series: everything but the series is shared, so series
/// can be evaluated on several threads.
struct RangeJob<'a> {
    name: &'a str,
    /// The time each step reads at (after `@` and `offset`).
    times: &'a [i64],
    range: i64,
    params: &'a [Vec<f64>],
    grid: super::Grid,
}

/// A range function resolved once per query instead of by name at every step.
#[derive(Clone, Copy)]
enum RangeKind {
    Plain(fn(&Window) -> Option<f64>),
    Rate,
    Increase,
    PredictLinear,
    Quantile,
    Smoothing,
    Unknown,
}

impl RangeKind {
    fn of(name: &str) -> RangeKind {
        match name {
            "rate" => RangeKind::Rate,
            "increase" => RangeKind::Increase,
            "predict_linear" => RangeKind::PredictLinear,
            "quantile_over_time" => RangeKind::Quantile,
            "double_exponential_smoothing" | "holt_winters" => RangeKind::Smoothing,
            "delta" => RangeKind::Plain(rf::delta),
            "irate" => RangeKind::Plain(rf::irate),
            "idelta" => RangeKind::Plain(rf::idelta),
            "deriv" => RangeKind::Plain(rf::deriv),
            "resets" => RangeKind::Plain(rf::resets),
            "changes" => RangeKind::Plain(rf::changes),
            "avg_over_time" => RangeKind::Plain(rf::avg_over_time),
            "sum_over_time" => RangeKind::Plain(rf::sum_over_time),
            "min_over_time" => RangeKind::Plain(rf::min_over_time),
            "max_over_time" => RangeKind::Plain(rf::max_over_time),
            "count_over_time" => RangeKind::Plain(rf::count_over_time),
            "last_over_time" => RangeKind::Plain(rf::last_over_time),
            "first_over_time" => RangeKind::Plain(rf::first_over_time),
            "present_over_time" => RangeKind::Plain(rf::present_over_time),
            "stddev_over_time" => RangeKind::Plain(rf::stddev_over_time),
            "stdvar_over_time" => RangeKind::Plain(rf::stdvar_over_time),
            "mad_over_time" => RangeKind::Plain(rf::mad_over_time),
            "ts_of_min_over_time" => RangeKind::Plain(rf::ts_of_min_over_time),
            "ts_of_max_over_time" => RangeKind::Plain(rf::ts_of_max_over_time),
            "ts_of_last_over_time" => RangeKind::Plain(rf::ts_of_last_over_time),
            "ts_of_first_over_time" => RangeKind::Plain(rf::ts_of_first_over_time),
            _ => RangeKind::Unknown,
        }
    }
}

impl RangeJob<'_> {
    /// The most points any one step's window of this series holds.
    fn widest_window(&self, points: &[crate::promql::value::Point]) -> usize {
        let (mut lo, mut hi, mut widest) = (0usize, 0usize, 0usize);
        let mut prev_t = i64::MIN;
        for &t in self.times {
            if t < prev_t {
                lo = 0;
                hi = 0;
            }
            prev_t = t;
            while hi < points.len() && points[hi].t <= t {
                hi += 1;
            }
            while lo < hi && points[lo].t <= t - self.range {
                lo += 1;
            }
            widest = widest.max(hi - lo);
        }
        widest
    }

    /// The function's value per step, or `None` if the series gives no value at any step.
    fn series(&self, points: &[crate::promql::value::Point]) -> Result<Option<Vec<f64>>> {
        let (name, params, range) = (self.name, self.params, self.range);
        // Counter resets seen up to each point, so a window without one skips the scan.
        let resets: Vec<u32> = if matches!(name, "rate" | "increase") {
            let mut n = 0u32;
            let mut v = Vec::with_capacity(points.len());
            for (k, p) in points.iter().enumerate() {
                if k > 0 && p.v < points[k - 1].v {
                    n += 1;
                }
                v.push(n);
            }
            v
        } else {
            Vec::new()
        };
        let kind = RangeKind::of(name);
        let mut vals = vec![ABSENT; self.times.len()];
        let mut any = false;
        let (mut lo, mut hi) = (0usize, 0usize);
        let mut prev_t = i64::MIN;
        let mut cached: Option<(i64, Option<f64>)> = None;
        for (i, &t) in self.times.iter().enumerate() {
            if t < prev_t {
                lo = 0;
                hi = 0;
            }
            prev_t = t;
            while hi < points.len() && points[hi].t <= t {
                hi += 1;
            }
            while lo < hi && points[lo].t <= t - range {
                lo += 1;
            }
            if lo == hi {
                continue;
            }
            // With `@`, every step reads the same window.
            if let Some((ct, cv)) = cached {
                if ct == t && params.is_empty() {
                    if let Some(v) = cv {
                        vals[i] = v;
                        any = true;
                    }
                    continue;
                }
            }
            let w = Window {
                points: &points[lo..hi],
                range_start: t - range,
                range_end: t,
            };
            let no_resets = !resets.is_empty() && resets[hi - 1] == resets[lo];
            let v = match kind {
                RangeKind::Plain(f) => f(&w),
                RangeKind::Rate if no_resets => rf::rate_without_resets(&w),
                RangeKind::Increase if no_resets => rf::increase_without_resets(&w),
                RangeKind::Rate => rf::rate(&w),
                RangeKind::Increase => rf::increase(&w),
                RangeKind::PredictLinear => rf::predict_linear(&w, self.grid.time(i), params[0][i]),
                RangeKind::Quantile => rf::quantile_over_time(&w, params[0][i]),
                RangeKind::Smoothing => {
                    rf::double_exponential_smoothing(&w, params[0][i], params[1][i])
                        .map_err(Error::Execution)?
                }
                RangeKind::Unknown => None,
            };
            cached = Some((t, v));
            if let Some(v) = v {
                vals[i] = v;
                any = true;
            }
        }
        Ok(any.then_some(vals))
    }
}

fn parse_le(s: &str) -> Option<f64> {
    let v: f64 = match s {
        "+Inf" | "Inf" | "inf" | "+inf" => f64::INFINITY,
        _ => s.parse().ok()?,
    };
    Some(v)
}

/// The store's name rule (Prometheus 3: any non-empty UTF-8), for names a query makes. A
/// string literal with bytes that are not UTF-8 (`"\xff"`) reaches us with U+FFFD in their
/// place; Prometheus refuses such a name as invalid UTF-8, so it is refused here too.
pub(crate) fn valid_label_name(s: &str) -> bool {
    lookout_store::model::labels::validate_label_name(s).is_ok() && !s.contains('\u{fffd}')
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}
