//! Vector aggregations (`sum by (x) (...)`, `topk`, `sort`) and binary operators with
//! Prometheus' semantics (LogQL's are the same): arithmetic and comparisons (filtering,
//! or 0/1 with `bool`), `and`/`or`/`unless`, and vector matching with `on`/`ignoring`
//! and `group_left`/`group_right`. Every operation works step by step on value slots.

use std::collections::HashMap;

use lookout_store::{Label, Labels};

use super::ast::{AggOp, BinOp, Binary, Card, Matching, VectorAgg};
use super::metric::{group_labels, StepSeries, Steps, Val};
use crate::error::{Error, Result};
use crate::promql::functions::kahan::kahan_sum_inc;

pub fn aggregate(a: &VectorAgg, input: Vec<StepSeries>, steps: &Steps) -> Result<Vec<StepSeries>> {
    let key = |l: &Labels| match &a.grouping {
        Some(g) => group_labels(l, g),
        None => Labels::default(),
    };
    match a.op {
        AggOp::Sort | AggOp::SortDesc => {
            let mut v = input;
            let desc = a.op == AggOp::SortDesc;
            // Only an instant query has an order to give; NaN sorts last both ways.
            v.sort_by(|x, y| {
                let (x, y) = (
                    x.values[0].unwrap_or(f64::NAN),
                    y.values[0].unwrap_or(f64::NAN),
                );
                let o = match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => return std::cmp::Ordering::Greater,
                    (false, true) => return std::cmp::Ordering::Less,
                    _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                };
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
            Ok(v)
        }
        AggOp::Topk | AggOp::Bottomk => {
            let k = a.param.unwrap_or(1.0) as usize;
            let mut groups: HashMap<Labels, Vec<usize>> = HashMap::new();
            for (i, s) in input.iter().enumerate() {
                groups.entry(key(&s.labels)).or_default().push(i);
            }
            let mut keep = vec![vec![false; steps.n]; input.len()];
            #[allow(clippy::needless_range_loop)] // `step` indexes input and keep alike
            for members in groups.values() {
                for step in 0..steps.n {
                    let mut present: Vec<(f64, usize)> = members
                        .iter()
                        .filter_map(|&i| input[i].values[step].map(|v| (v, i)))
                        .collect();
                    present.sort_by(|x, y| {
                        let o = x.0.partial_cmp(&y.0).unwrap_or_else(|| {
                            // NaN loses in both directions.
                            if x.0.is_nan() {
                                std::cmp::Ordering::Less
                            } else {
                                std::cmp::Ordering::Greater
                            }
                        });
                        if a.op == AggOp::Topk || x.0.is_nan() || y.0.is_nan() {
                            o.reverse()
                        } else {
                            o
                        }
                    });
                    for &(_, i) in present.iter().take(k) {
                        keep[i][step] = true;
                    }
                }
            }
            let mut out: Vec<StepSeries> = input
                .into_iter()
                .zip(keep)
                .map(|(mut s, keep)| {
                    for (v, k) in s.values.iter_mut().zip(keep) {
                        if !k {
                            *v = None;
                        }
                    }
                    s
                })
                .filter(|s| s.values.iter().any(Option::is_some))
                .collect();
            if steps.n == 1 {
                let desc = a.op == AggOp::Topk;
                out.sort_by(|x, y| {
                    let o = x.values[0]
                        .partial_cmp(&y.values[0])
                        .unwrap_or(std::cmp::Ordering::Equal);
                    if desc {
                        o.reverse()
                    } else {
                        o
                    }
                });
            }
            Ok(out)
        }
        _ => {
            let mut order: Vec<Labels> = Vec::new();
            let mut groups: HashMap<Labels, Vec<usize>> = HashMap::new();
            for (i, s) in input.iter().enumerate() {
                let k = key(&s.labels);
                groups
                    .entry(k.clone())
                    .or_insert_with(|| {
                        order.push(k);
                        Vec::new()
                    })
                    .push(i);
            }
            let mut out = Vec::with_capacity(order.len());
            for k in order {
                let members = &groups[&k];
                let mut values = Vec::with_capacity(steps.n);
                let mut buf: Vec<f64> = Vec::new();
                for step in 0..steps.n {
                    buf.clear();
                    buf.extend(members.iter().filter_map(|&i| input[i].values[step]));
                    values.push(if buf.is_empty() {
                        None
                    } else {
                        Some(reduce(a.op, &buf))
                    });
                }
                out.push(StepSeries { labels: k, values });
            }
            Ok(out)
        }
    }
}

fn reduce(op: AggOp, v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let sum = || {
        let (s, c) = v
            .iter()
            .fold((0.0, 0.0), |(s, c), x| kahan_sum_inc(*x, s, c));
        if s.is_infinite() {
            s
        } else {
            s + c
        }
    };
    let mean = || sum() / n;
    let var = || {
        let m = mean();
        v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n
    };
    match op {
        AggOp::Sum => sum(),
        AggOp::Avg => mean(),
        AggOp::Count => n,
        // Prometheus: NaN only when every value is NaN.
        AggOp::Min => v
            .iter()
            .copied()
            .fold(f64::NAN, |a, x| if a.is_nan() || x < a { x } else { a }),
        AggOp::Max => v
            .iter()
            .copied()
            .fold(f64::NAN, |a, x| if a.is_nan() || x > a { x } else { a }),
        AggOp::Stdvar => var(),
        AggOp::Stddev => var().sqrt(),
        _ => f64::NAN,
    }
}

/// `a op b` for arithmetic; for a comparison, `Some(a)` when it holds (or 0/1 with
/// `bool`), `None` when it filters the sample out.
fn apply(op: BinOp, a: f64, b: f64, return_bool: bool) -> Option<f64> {
    let cmp = |c: bool| {
        if return_bool {
            Some(if c { 1.0 } else { 0.0 })
        } else if c {
            Some(a)
        } else {
            None
        }
    };
    match op {
        BinOp::Add => Some(a + b),
        BinOp::Sub => Some(a - b),
        BinOp::Mul => Some(a * b),
        BinOp::Div => Some(a / b),
        BinOp::Mod => Some(a % b),
        BinOp::Pow => Some(a.powf(b)),
        BinOp::Eq => cmp(a == b),
        BinOp::Neq => cmp(a != b),
        BinOp::Gt => cmp(a > b),
        BinOp::Gte => cmp(a >= b),
        BinOp::Lt => cmp(a < b),
        BinOp::Lte => cmp(a <= b),
        BinOp::And | BinOp::Or | BinOp::Unless => None,
    }
}

pub fn binary(b: &Binary, lhs: Val, rhs: Val, steps: &Steps) -> Result<Val> {
    match (lhs, rhs) {
        (Val::Scalar(x), Val::Scalar(y)) => {
            Ok(Val::Scalar(apply(b.op, x, y, true).unwrap_or(f64::NAN)))
        }
        (Val::Vector(mut v), Val::Scalar(y)) => {
            for s in &mut v {
                for slot in &mut s.values {
                    *slot = slot.and_then(|x| apply(b.op, x, y, b.return_bool));
                }
            }
            Ok(Val::Vector(v))
        }
        (Val::Scalar(x), Val::Vector(mut v)) => {
            for s in &mut v {
                for slot in &mut s.values {
                    *slot = slot.and_then(|y| {
                        // A filtering comparison keeps the vector's value.
                        let r = apply(b.op, x, y, b.return_bool)?;
                        Some(if b.op.is_comparison() && !b.return_bool {
                            y
                        } else {
                            r
                        })
                    });
                }
            }
            Ok(Val::Vector(v))
        }
        (Val::Vector(l), Val::Vector(r)) => {
            if b.op.is_set() {
                Ok(Val::Vector(set_op(b, l, r, steps)))
            } else {
                vector_vector(b, l, r, steps).map(Val::Vector)
            }
        }
    }
}

fn signature(l: &Labels, m: Option<&Matching>) -> Labels {
    match m {
        Some(m) => Labels::from_sorted(
            l.iter()
                .filter(|x| m.labels.contains(&x.name) == m.on)
                .cloned()
                .collect(),
        ),
        None => l.clone(),
    }
}

fn set_op(b: &Binary, l: Vec<StepSeries>, r: Vec<StepSeries>, steps: &Steps) -> Vec<StepSeries> {
    let m = b.matching.as_ref();
    // For each signature, the steps where the other side has a sample.
    let present = |side: &[StepSeries]| {
        let mut map: HashMap<Labels, Vec<bool>> = HashMap::new();
        for s in side {
            let slot = map
                .entry(signature(&s.labels, m))
                .or_insert_with(|| vec![false; steps.n]);
            for (p, v) in slot.iter_mut().zip(&s.values) {
                *p |= v.is_some();
            }
        }
        map
    };
    match b.op {
        BinOp::And | BinOp::Unless => {
            let rp = present(&r);
            let want = b.op == BinOp::And;
            l.into_iter()
                .map(|mut s| {
                    let p = rp.get(&signature(&s.labels, m));
                    for (i, v) in s.values.iter_mut().enumerate() {
                        let has = p.is_some_and(|p| p[i]);
                        if has != want {
                            *v = None;
                        }
                    }
                    s
                })
                .filter(|s| s.values.iter().any(Option::is_some))
                .collect()
        }
        _ => {
            let lp = present(&l);
            let mut out = l;
            for mut s in r {
                let p = lp.get(&signature(&s.labels, m));
                for (i, v) in s.values.iter_mut().enumerate() {
                    if p.is_some_and(|p| p[i]) {
                        *v = None;
                    }
                }
                if !s.values.iter().any(Option::is_some) {
                    continue;
                }
                // A series of the same labels on both sides is one series.
                match out.iter_mut().find(|o| o.labels == s.labels) {
                    Some(o) => {
                        for (a, b) in o.values.iter_mut().zip(s.values) {
                            if a.is_none() {
                                *a = b;
                            }
                        }
                    }
                    None => out.push(s),
                }
            }
            out
        }
    }
}

fn vector_vector(
    b: &Binary,
    l: Vec<StepSeries>,
    r: Vec<StepSeries>,
    steps: &Steps,
) -> Result<Vec<StepSeries>> {
    let m = b.matching.as_ref();
    let card = m.map_or(Card::OneToOne, |m| m.card.clone());
    // The "one" side is looked up by signature; group_right swaps the roles.
    let (many, one, swapped) = match card {
        Card::OneToMany(_) => (r, l, true),
        _ => (l, r, false),
    };
    let mut one_by_sig: HashMap<Labels, Vec<usize>> = HashMap::new();
    for (i, s) in one.iter().enumerate() {
        one_by_sig
            .entry(signature(&s.labels, m))
            .or_default()
            .push(i);
    }
    let include: &[String] = match &card {
        Card::ManyToOne(v) | Card::OneToMany(v) => v,
        Card::OneToOne => &[],
    };
    let mut out: Vec<StepSeries> = Vec::new();
    let mut out_index: HashMap<Labels, usize> = HashMap::new();
    // One-to-one: a signature may meet only one series of the many side per step.
    let mut seen_many: HashMap<Labels, Vec<bool>> = HashMap::new();
    for s in &many {
        let sig = signature(&s.labels, m);
        let Some(cands) = one_by_sig.get(&sig) else {
            continue;
        };
        for step in 0..steps.n {
            let Some(mv) = s.values[step] else { continue };
            let mut found = None;
            for &c in cands {
                if let Some(ov) = one[c].values[step] {
                    if found.is_some() {
                        return Err(Error::Execution(format!(
                            "found duplicate series for the match group {sig} on the {} hand-side of the operation; \
                             many-to-many matching not allowed: matching labels must be unique on one side",
                            if swapped { "left" } else { "right" }
                        )));
                    }
                    found = Some((c, ov));
                }
            }
            let Some((c, ov)) = found else { continue };
            if card == Card::OneToOne {
                let seen = seen_many
                    .entry(sig.clone())
                    .or_insert_with(|| vec![false; steps.n]);
                if seen[step] {
                    return Err(Error::Execution(format!(
                        "multiple matches for labels {sig}: many-to-one matching must be explicit (group_left/group_right)"
                    )));
                }
                seen[step] = true;
            }
            let (a, bv) = if swapped { (ov, mv) } else { (mv, ov) };
            let Some(v) = apply(b.op, a, bv, b.return_bool) else {
                continue;
            };
            let labels = result_labels(&s.labels, &one[c].labels, m, &card, include);
            let i = match out_index.get(&labels) {
                Some(&i) => i,
                None => {
                    out.push(StepSeries {
                        labels: labels.clone(),
                        values: vec![None; steps.n],
                    });
                    out_index.insert(labels, out.len() - 1);
                    out.len() - 1
                }
            };
            if out[i].values[step].is_some() {
                return Err(Error::Execution(format!(
                    "multiple matches for labels: grouping labels must ensure unique matches (result {} twice)",
                    out[i].labels
                )));
            }
            out[i].values[step] = Some(v);
        }
    }
    Ok(out)
}

/// Prometheus' `resultMetric`: one-to-one keeps the `on` labels (or drops the ignored
/// ones); group_left/right keep the many side's labels and copy `include` from the one.
fn result_labels(
    many: &Labels,
    one: &Labels,
    m: Option<&Matching>,
    card: &Card,
    include: &[String],
) -> Labels {
    match card {
        Card::OneToOne => match m {
            Some(_) => signature(many, m),
            None => many.clone(),
        },
        _ => {
            let mut v: Vec<Label> = many
                .iter()
                .filter(|l| !include.contains(&l.name))
                .cloned()
                .collect();
            for name in include {
                if let Some(val) = one.get(name) {
                    v.push(Label::new(name.clone(), val));
                }
            }
            v.sort();
            Labels::from_sorted(v)
        }
    }
}
