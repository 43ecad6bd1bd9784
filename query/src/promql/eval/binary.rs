//! Binary operators: arithmetic, comparisons (with and without `bool`), set operators,
//! and vector matching with `on`/`ignoring` and `group_left`/`group_right`.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinaryExpr, Expr, LabelModifier, VectorMatchCardinality};

use super::series::{self, is_absent, signature, Series};
use super::{Evaluator, Val};
use crate::error::{Error, Result};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn parse(s: &str) -> Result<Op> {
        Ok(match s {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            other => return Err(Error::BadData(format!("unknown binary operator {other:?}"))),
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    fn is_set(self) -> bool {
        matches!(self, Op::And | Op::Or | Op::Unless)
    }
}

/// The value of `l op r` and whether a filtering comparison keeps it.
fn apply(op: Op, l: f64, r: f64) -> (f64, bool) {
    match op {
        Op::Add => (l + r, true),
        Op::Sub => (l - r, true),
        Op::Mul => (l * r, true),
        Op::Div => (l / r, true),
        Op::Mod => (l % r, true),
        Op::Pow => (l.powf(r), true),
        Op::Atan2 => (l.atan2(r), true),
        Op::Eq => (l, l == r),
        Op::Ne => (l, l != r),
        Op::Gt => (l, l > r),
        Op::Lt => (l, l < r),
        Op::Ge => (l, l >= r),
        Op::Le => (l, l <= r),
        Op::And | Op::Or | Op::Unless => (l, true),
    }
}

impl Evaluator<'_> {
    pub(crate) fn eval_binary(&mut self, _node: &Expr, b: &BinaryExpr) -> Result<Val> {
        let op = Op::parse(&b.op.to_string())?;
        let return_bool = b.return_bool();
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
                l.iter()
                    .zip(r.iter())
                    .map(|(&a, &b)| {
                        let (v, keep) = apply(op, a, b);
                        if op.is_comparison() {
                            if keep {
                                1.0
                            } else {
                                0.0
                            }
                        } else {
                            v
                        }
                    })
                    .collect(),
            )),
            (Val::Vector(v), Val::Scalar(s)) => Ok(Val::Vector(self.vector_scalar(
                op,
                v,
                &s,
                false,
                return_bool,
            )?)),
            (Val::Scalar(s), Val::Vector(v)) => Ok(Val::Vector(self.vector_scalar(
                op,
                v,
                &s,
                true,
                return_bool,
            )?)),
            (Val::Vector(l), Val::Vector(r)) => {
                let (on, names) = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                    Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
                    Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
                    None => (false, Vec::new()),
                };
                if op.is_set() {
                    return Ok(Val::Vector(self.set_op(op, l, r, on, &names)?));
                }
                let card = b
                    .modifier
                    .as_ref()
                    .map(|m| m.card.clone())
                    .unwrap_or(VectorMatchCardinality::OneToOne);
                Ok(Val::Vector(self.vector_vector(
                    op,
                    l,
                    r,
                    on,
                    &names,
                    &card,
                    return_bool,
                )?))
            }
            _ => Err(Error::BadData(
                "binary expression must contain only scalar and instant vector types".into(),
            )),
        }
    }

    fn vector_scalar(
        &mut self,
        op: Op,
        mut v: Vec<Series>,
        s: &[f64],
        swap: bool,
        return_bool: bool,
    ) -> Result<Vec<Series>> {
        let drop = !op.is_comparison() || return_bool;
        for series in &mut v {
            for (i, x) in series.vals.iter_mut().enumerate() {
                if is_absent(*x) {
                    continue;
                }
                let (l, r) = if swap { (s[i], *x) } else { (*x, s[i]) };
                let (mut val, mut keep) = apply(op, l, r);
                if op.is_comparison() && swap {
                    val = r;
                }
                if return_bool {
                    val = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                *x = if keep { val } else { series::ABSENT };
            }
        }
        v.retain(|s| s.vals.iter().any(|x| !is_absent(*x)));
        if drop {
            self.drop_names(&mut v);
            v = self.merge_same_labels(v)?;
        }
        Ok(v)
    }

    fn set_op(
        &mut self,
        op: Op,
        lhs: Vec<Series>,
        rhs: Vec<Series>,
        on: bool,
        names: &[String],
    ) -> Result<Vec<Series>> {
        let steps = self.steps();
        let lsig: Vec<u64> = lhs
            .iter()
            .map(|s| signature(&s.labels, on, names, true))
            .collect();
        let rsig: Vec<u64> = rhs
            .iter()
            .map(|s| signature(&s.labels, on, names, true))
            .collect();
        let present = |side: &[Series], sigs: &[u64], i: usize| -> HashSet<u64> {
            side.iter()
                .zip(sigs)
                .filter(|(s, _)| !is_absent(s.vals[i]))
                .map(|(_, g)| *g)
                .collect()
        };
        match op {
            Op::And | Op::Unless => {
                let mut out = lhs;
                for i in 0..steps {
                    let rset = present(&rhs, &rsig, i);
                    for (s, g) in out.iter_mut().zip(&lsig) {
                        let has = rset.contains(g);
                        if (op == Op::And) != has {
                            s.vals[i] = series::ABSENT;
                        }
                    }
                }
                out.retain(|s| s.vals.iter().any(|x| !is_absent(*x)));
                Ok(out)
            }
            _ => {
                let mut rhs = rhs;
                for i in 0..steps {
                    let lset = present(&lhs, &lsig, i);
                    for (s, g) in rhs.iter_mut().zip(&rsig) {
                        if lset.contains(g) {
                            s.vals[i] = series::ABSENT;
                        }
                    }
                }
                let mut out = lhs;
                out.extend(
                    rhs.into_iter()
                        .filter(|s| s.vals.iter().any(|x| !is_absent(*x))),
                );
                self.merge_same_labels(out)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn vector_vector(
        &mut self,
        op: Op,
        lhs: Vec<Series>,
        rhs: Vec<Series>,
        on: bool,
        names: &[String],
        card: &VectorMatchCardinality,
        return_bool: bool,
    ) -> Result<Vec<Series>> {
        let steps = self.steps();
        let (many, one, swapped) = match card {
            VectorMatchCardinality::OneToMany(_) => (rhs, lhs, true),
            _ => (lhs, rhs, false),
        };
        let include: Vec<String> = card.labels().map(|l| l.labels.clone()).unwrap_or_default();
        let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
        // Matching is resolved once, not per step: each side's series get the index of
        // their signature's group, and each (many, one) pair its output series, so the
        // per-step loop does no hashing.
        let mut group_of: HashMap<u64, usize> = HashMap::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, s) in one.iter().enumerate() {
            let g = *group_of
                .entry(signature(&s.labels, on, names, true))
                .or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
            groups[g].push(i);
        }
        let many_group: Vec<Option<usize>> = many
            .iter()
            .map(|s| {
                group_of
                    .get(&signature(&s.labels, on, names, true))
                    .copied()
            })
            .collect();
        let drop = !op.is_comparison() || return_bool;
        let mut out: Vec<Series> = Vec::new();
        // Output series of each (many, one) pair, by many index.
        let mut pair_out: Vec<Vec<(usize, usize)>> = vec![Vec::new(); many.len()];
        let mut label_out: HashMap<(lookout_store::Labels, bool), usize> = HashMap::new();
        // The last step at which each group was matched (one-to-one uniqueness).
        let mut seen: Vec<usize> = vec![usize::MAX; groups.len()];
        for i in 0..steps {
            for (m, ms) in many.iter().enumerate() {
                let mv = ms.vals[i];
                if is_absent(mv) {
                    continue;
                }
                let Some(g) = many_group[m] else {
                    continue;
                };
                let group = &groups[g];
                let mut found = None;
                for &o in group {
                    if !is_absent(one[o].vals[i]) {
                        if let Some(prev) = found {
                            let prev: usize = prev;
                            return Err(Error::Execution(format!(
                                "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                                series::select_labels(&one[o].labels, on, names, true),
                                if swapped { "left" } else { "right" },
                                one[prev].labels,
                                one[o].labels
                            )));
                        }
                        found = Some(o);
                    }
                }
                let Some(o) = found else {
                    continue;
                };
                if one_to_one && std::mem::replace(&mut seen[g], i) == i {
                    return Err(Error::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
                let ov = one[o].vals[i];
                let (l, r) = if swapped { (ov, mv) } else { (mv, ov) };
                let (mut val, mut keep) = apply(op, l, r);
                if return_bool {
                    val = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                if !keep {
                    continue;
                }
                let idx = match pair_out[m].iter().find(|p| p.0 == o) {
                    Some(&(_, idx)) => idx,
                    None => {
                        let mut labels = ms.labels.clone();
                        let mut drop_name = ms.drop_name;
                        if drop {
                            if self.engine.opts.delayed_name_removal {
                                drop_name = true;
                            } else {
                                labels = series::without_name(&labels);
                            }
                        }
                        if one_to_one {
                            labels = series::select_labels(&labels, on, names, false);
                            if on && !names.iter().any(|n| n == "__name__") {
                                drop_name = false;
                            }
                        }
                        for name in &include {
                            let v = one[o].labels.get(name).unwrap_or("");
                            labels = series::with_label(&labels, name, v);
                        }
                        let key = (labels.clone(), drop_name);
                        let idx = match label_out.get(&key) {
                            Some(&idx) => idx,
                            None => {
                                out.push(Series {
                                    labels,
                                    drop_name,
                                    vals: vec![series::ABSENT; steps],
                                });
                                label_out.insert(key, out.len() - 1);
                                out.len() - 1
                            }
                        };
                        pair_out[m].push((o, idx));
                        idx
                    }
                };
                if !is_absent(out[idx].vals[i]) {
                    return Err(Error::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
                out[idx].vals[i] = val;
            }
        }
        Ok(out)
    }
}
