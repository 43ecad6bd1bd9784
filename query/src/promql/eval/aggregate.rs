//! Aggregation operators (`sum`, `avg`, `topk`, `quantile`, `count_values`, …) with
//! `by`/`without` grouping, evaluated for every step at once.

use std::collections::HashMap;

use lookout_store::model::labels::METRIC_NAME;
use lookout_store::{Labels, Projection};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::series::{self, is_absent, signature, Series, ABSENT};
use super::{format_float, Evaluator, Val};
use crate::error::{Error, Result};
use crate::promql::functions::kahan::kahan_sum_inc;
use crate::promql::functions::quantile::quantile;

/// Running state of one group at one step.
#[derive(Clone, Copy, Default)]
struct Acc {
    count: f64,
    value: f64,
    c: f64,
    mean: f64,
    incremental: bool,
}

impl Evaluator<'_> {
    pub(crate) fn eval_aggregate(&mut self, node: &Expr, a: &AggregateExpr) -> Result<Val> {
        let op = a.op.to_string().to_lowercase();
        let steps = self.steps();
        // Parameters are evaluated before the vector, as Prometheus does.
        let mut param_vals: Option<Vec<f64>> = None;
        let mut param_str: Option<String> = None;
        if let Some(p) = &a.param {
            match self.eval(p)? {
                Val::Scalar(v) => param_vals = Some(v),
                Val::String(s) => param_str = Some(s),
                _ => {
                    return Err(Error::BadData(format!(
                        "expected scalar or string parameter for {op}"
                    )))
                }
            }
        }
        let (include, names): (bool, Vec<String>) = match &a.modifier {
            Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
            Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
            None => (true, Vec::new()),
        };
        // Over a plain selector, only the grouping labels are read: every operator but
        // the ones that return their input series keeps nothing else of a series.
        let keeps_series = matches!(op.as_str(), "topk" | "bottomk" | "limitk" | "limit_ratio");
        if !keeps_series && matches!(super::unwrap_parens(&a.expr), Expr::VectorSelector(_)) {
            self.project = Some(if include {
                Projection::Keep(names.clone())
            } else {
                let mut drop = names.clone();
                drop.push(METRIC_NAME.to_string());
                Projection::Drop(drop)
            });
        }
        let input = self.eval_vector(&a.expr);
        self.project = None;
        let input = input?;
        // Group membership, in order of first appearance.
        let mut group_of: Vec<usize> = Vec::with_capacity(input.len());
        let mut groups: Vec<(Labels, bool)> = Vec::new();
        let mut index: HashMap<u64, usize> = HashMap::new();
        let by_name = include && names.iter().any(|n| n == "__name__");
        for s in &input {
            let sig = signature(&s.labels, include, &names, !include);
            let g = *index.entry(sig).or_insert_with(|| {
                groups.push((
                    series::select_labels(&s.labels, include, &names, !include),
                    false,
                ));
                groups.len() - 1
            });
            if by_name && s.drop_name {
                groups[g].1 = true;
            }
            group_of.push(g);
        }
        match op.as_str() {
            "topk" | "bottomk" | "limitk" | "limit_ratio" => {
                let param = param_vals.unwrap_or_else(|| vec![f64::NAN; steps]);
                self.select_k(node, &op, &param, input, &group_of, groups.len())
            }
            "count_values" => {
                let label = param_str.unwrap_or_default();
                if !super::call::valid_label_name(&label) {
                    return Err(Error::Execution(format!("invalid label name {label:?}")));
                }
                let mut out: Vec<Series> = Vec::new();
                let mut out_index: HashMap<(usize, u64), usize> = HashMap::new();
                for i in 0..steps {
                    for (s, &g) in input.iter().zip(&group_of) {
                        let v = s.vals[i];
                        if is_absent(v) {
                            continue;
                        }
                        let text = format_float(v);
                        let key = (g, xxhash_rust::xxh3::xxh3_64(text.as_bytes()));
                        let idx = *out_index.entry(key).or_insert_with(|| {
                            let labels = series::with_label(&groups[g].0, &label, &text);
                            out.push(Series::new(labels, steps));
                            out.len() - 1
                        });
                        let slot = &mut out[idx].vals[i];
                        *slot = if is_absent(*slot) { 1.0 } else { *slot + 1.0 };
                    }
                }
                Ok(Val::Vector(self.merge_same_labels(out)?))
            }
            "quantile" => {
                let q = param_vals.unwrap_or_else(|| vec![f64::NAN; steps]);
                if let Some(bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                    self.warn(
                        a.param.as_deref().unwrap_or(node),
                        format!(
                            "quantile value should be between 0 and 1, got {}",
                            format_float(*bad)
                        ),
                    );
                }
                let mut out: Vec<Series> = groups
                    .iter()
                    .map(|(l, d)| Series {
                        labels: l.clone(),
                        drop_name: *d,
                        vals: vec![ABSENT; steps],
                    })
                    .collect();
                let mut buf: Vec<Vec<f64>> = vec![Vec::new(); groups.len()];
                for (i, &qi) in q.iter().enumerate() {
                    for b in buf.iter_mut() {
                        b.clear();
                    }
                    for (s, &g) in input.iter().zip(&group_of) {
                        if !is_absent(s.vals[i]) {
                            buf[g].push(s.vals[i]);
                        }
                    }
                    for (g, b) in buf.iter_mut().enumerate() {
                        if !b.is_empty() {
                            out[g].vals[i] = quantile(qi, b);
                        }
                    }
                }
                out.retain(|s| s.vals.iter().any(|v| !is_absent(*v)));
                Ok(Val::Vector(out))
            }
            "sum" | "avg" | "count" | "group" | "min" | "max" | "stddev" | "stdvar" => {
                let ng = groups.len();
                let mut acc = vec![Acc::default(); ng * steps];
                let agg = AggOp::parse(&op);
                for (s, &g) in input.iter().zip(&group_of) {
                    let row = &mut acc[g * steps..(g + 1) * steps];
                    for (st, &v) in row.iter_mut().zip(&s.vals) {
                        if is_absent(v) {
                            continue;
                        }
                        accumulate(agg, st, v);
                    }
                }
                let mut out = Vec::with_capacity(ng);
                for (g, (labels, drop)) in groups.into_iter().enumerate() {
                    let row = &acc[g * steps..(g + 1) * steps];
                    let mut vals = vec![ABSENT; steps];
                    let mut any = false;
                    for (slot, st) in vals.iter_mut().zip(row) {
                        if st.count == 0.0 {
                            continue;
                        }
                        any = true;
                        *slot = finish(agg, st);
                    }
                    if any {
                        out.push(Series {
                            labels,
                            drop_name: drop,
                            vals,
                        });
                    }
                }
                Ok(Val::Vector(out))
            }
            other => Err(Error::BadData(format!(
                "aggregation {other} is not supported"
            ))),
        }
    }

    fn select_k(
        &mut self,
        node: &Expr,
        op: &str,
        param: &[f64],
        input: Vec<Series>,
        group_of: &[usize],
        ngroups: usize,
    ) -> Result<Val> {
        let steps = self.steps();
        let mut keep: Vec<Vec<f64>> = vec![vec![ABSENT; steps]; input.len()];
        // Instant queries keep the order topk/bottomk put the series in.
        let mut order: Vec<usize> = Vec::new();
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); ngroups];
        for (i, &g) in group_of.iter().enumerate() {
            members[g].push(i);
        }
        if op == "limit_ratio" {
            let r = param.first().copied().unwrap_or(f64::NAN);
            if param.iter().any(|r| r.is_nan()) {
                return Err(Error::Execution("Ratio value is NaN".into()));
            }
            if !(-1.0..=1.0).contains(&r) {
                self.warn(
                    node,
                    format!(
                        "ratio value should be between -1 and 1, got {}",
                        format_float(r)
                    ),
                );
            }
        }
        let mut present: Vec<usize> = Vec::new();
        for i in 0..steps {
            let p = param[i];
            if p.is_nan() {
                return Err(Error::Execution("Parameter value is NaN".into()));
            }
            if op == "limit_ratio" {
                let r = p.clamp(-1.0, 1.0);
                for (j, s) in input.iter().enumerate() {
                    let v = s.vals[i];
                    if is_absent(v) {
                        continue;
                    }
                    let offset = ratio_offset(&s.labels);
                    if (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r) {
                        keep[j][i] = v;
                        if i == 0 {
                            order.push(j);
                        }
                    }
                }
                continue;
            }
            if p >= i64::MAX as f64 || p < i64::MIN as f64 {
                return Err(Error::Execution(format!(
                    "Scalar value {} overflows int64",
                    format_float(p)
                )));
            }
            let k = p as i64;
            if k < 1 {
                continue;
            }
            for m in &members {
                present.clear();
                present.extend(m.iter().copied().filter(|&j| !is_absent(input[j].vals[i])));
                let take = k.min(present.len() as i64) as usize;
                let order_of: Option<fn(f64, f64) -> std::cmp::Ordering> = match op {
                    "topk" => Some(desc_nan_last),
                    "bottomk" => Some(asc_nan_last),
                    _ => None,
                };
                if let (Some(ord), true) = (order_of, take > 0) {
                    // The first `take` of a stable sort: members are in input order, so
                    // the index breaks ties as a stable sort would. Selecting first saves
                    // sorting every series at every step for a small k.
                    let cmp = |a: &usize, b: &usize| {
                        ord(input[*a].vals[i], input[*b].vals[i]).then(a.cmp(b))
                    };
                    if take < present.len() {
                        present.select_nth_unstable_by(take - 1, cmp);
                        present.truncate(take);
                    }
                    present.sort_unstable_by(cmp);
                }
                for &j in present.iter().take(take) {
                    keep[j][i] = input[j].vals[i];
                    if i == 0 {
                        order.push(j);
                    }
                }
            }
        }
        let mut out = Vec::new();
        let mut input: Vec<Option<Series>> = input.into_iter().map(Some).collect();
        let mut emit = |j: usize, out: &mut Vec<Series>, keep: &mut Vec<Vec<f64>>| {
            if let Some(mut s) = input[j].take() {
                if keep[j].iter().any(|v| !is_absent(*v)) {
                    s.vals = std::mem::take(&mut keep[j]);
                    out.push(s);
                }
            }
        };
        for &j in &order {
            emit(j, &mut out, &mut keep);
        }
        for j in 0..keep.len() {
            emit(j, &mut out, &mut keep);
        }
        Ok(Val::Vector(out))
    }
}

fn desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

fn asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Where a series falls in `[0, 1)` for `limit_ratio`: its label hash (xxHash64 of
/// `name\xffvalue\xff…`, as Prometheus hashes labels) over the whole u64 range.
fn ratio_offset(labels: &Labels) -> f64 {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    for l in labels.iter() {
        h.update(l.name.as_bytes());
        h.update(&[0xff]);
        h.update(l.value.as_bytes());
        h.update(&[0xff]);
    }
    h.digest() as f64 / u64::MAX as f64
}

/// The aggregations that fold values one at a time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AggOp {
    Sum,
    Avg,
    Count,
    Group,
    Min,
    Max,
    Stddev,
    Stdvar,
}

impl AggOp {
    fn parse(op: &str) -> AggOp {
        match op {
            "sum" => AggOp::Sum,
            "avg" => AggOp::Avg,
            "count" => AggOp::Count,
            "group" => AggOp::Group,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "stddev" => AggOp::Stddev,
            _ => AggOp::Stdvar,
        }
    }
}

fn accumulate(op: AggOp, st: &mut Acc, v: f64) {
    // Welford from an empty state, so a lone Inf or NaN gives NaN as in Prometheus.
    if st.count == 0.0 && !matches!(op, AggOp::Stddev | AggOp::Stdvar) {
        st.count = 1.0;
        st.value = v;
        return;
    }
    st.count += 1.0;
    match op {
        AggOp::Sum => {
            let (s, c) = kahan_sum_inc(v, st.value, st.c);
            st.value = s;
            st.c = c;
        }
        AggOp::Avg => {
            if !st.incremental {
                let (s, c) = kahan_sum_inc(v, st.value, st.c);
                if !s.is_infinite() {
                    st.value = s;
                    st.c = c;
                    return;
                }
                st.incremental = true;
                st.mean = st.value / (st.count - 1.0);
                st.c /= st.count - 1.0;
            }
            let q = (st.count - 1.0) / st.count;
            let (m, c) = kahan_sum_inc(v / st.count, q * st.mean, q * st.c);
            st.mean = m;
            st.c = c;
        }
        AggOp::Max if st.value < v || st.value.is_nan() => st.value = v,
        AggOp::Min if st.value > v || st.value.is_nan() => st.value = v,
        AggOp::Stddev | AggOp::Stdvar => {
            let delta = v - st.mean;
            st.mean += delta / st.count;
            st.value += delta * (v - st.mean);
        }
        _ => {}
    }
}

fn finish(op: AggOp, st: &Acc) -> f64 {
    match op {
        AggOp::Sum => st.value + st.c,
        AggOp::Avg => {
            if st.incremental {
                st.mean + st.c
            } else {
                (st.value + st.c) / st.count
            }
        }
        AggOp::Count => st.count,
        AggOp::Group => 1.0,
        AggOp::Stdvar => st.value / st.count,
        AggOp::Stddev => (st.value / st.count).sqrt(),
        _ => st.value,
    }
}
