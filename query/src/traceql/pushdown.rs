//! What of a TraceQL search the span store can check itself: span predicates a trace must
//! satisfy for the query to match it, so the store reads only candidate traces. Only
//! conditions that are necessary are derived, conservatively: the spanset filters of the
//! query's source joined by `&&` (each becomes one predicate some span must satisfy), and
//! in each filter its top-level `&&` conjuncts of the forms `name = "x"`, `status = s`,
//! `kind = k`, `duration </<=/>/>= d` and string equality on `span.x`, `resource.x` or `.x`
//! (the span's or its resource's). Anything else (`||`, negation, regexes, structural
//! operators, parent attributes, other intrinsics) is left for the evaluator, which still
//! runs on every trace the store returns. Pipeline stages only narrow or regroup what the
//! source selects (the evaluator stops at an empty source), so they never widen it.

use lookout_store::model::span::{SpanKind as StoreKind, StatusCode};
use lookout_store::{AttrWhere, SpanCond, SpanPredicate, StrMatch};

use super::ast::{
    Attribute, AttributeScope, BinaryOp, FieldExpr, Intrinsic, Pipeline, Query, SpanKind,
    SpanStatus, SpansetExpr, SpansetOp, Stage, Static,
};

/// Predicates every trace the query matches satisfies (empty: the store must scan all).
pub fn predicates(q: &Query) -> Vec<SpanPredicate> {
    if q.pipeline
        .stages
        .iter()
        .any(|s| matches!(s, Stage::Metrics(_)))
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    source(&q.pipeline, &mut out);
    out.retain(|p| !p.all.is_empty());
    out
}

fn source(p: &Pipeline, out: &mut Vec<SpanPredicate>) {
    spanset(&p.source, out);
}

fn spanset(e: &SpansetExpr, out: &mut Vec<SpanPredicate>) {
    match e {
        SpansetExpr::Filter(f) => {
            let mut all = Vec::new();
            conjuncts(f, &mut all);
            out.push(SpanPredicate { all });
        }
        SpansetExpr::Binary {
            op: SpansetOp::And,
            lhs,
            rhs,
        } => {
            spanset(lhs, out);
            spanset(rhs, out);
        }
        SpansetExpr::Group(p) => source(p, out),
        // `||` and structural operators: no necessary condition taken from either side.
        SpansetExpr::Binary { .. } => {}
    }
}

fn conjuncts(f: &FieldExpr, out: &mut Vec<SpanCond>) {
    if let FieldExpr::Binary { op, lhs, rhs } = f {
        if *op == BinaryOp::And {
            conjuncts(lhs, out);
            conjuncts(rhs, out);
            return;
        }
        if let Some(c) = comparison(*op, lhs, rhs) {
            out.push(c);
        }
    }
}

/// The condition of `lhs op rhs` when it is one the store checks.
fn comparison(op: BinaryOp, lhs: &FieldExpr, rhs: &FieldExpr) -> Option<SpanCond> {
    let (field, op, value) = match (lhs, rhs) {
        (f, FieldExpr::Static(v)) => (f, op, v),
        (FieldExpr::Static(v), f) => (f, flip(op)?, v),
        _ => return None,
    };
    match (field, op, value) {
        (FieldExpr::Intrinsic(Intrinsic::Name), BinaryOp::Eq, Static::Str(s)) => {
            Some(SpanCond::Name(StrMatch::Eq(s.clone())))
        }
        (FieldExpr::Intrinsic(Intrinsic::Status), BinaryOp::Eq, Static::Status(s)) => {
            Some(SpanCond::Status(match s {
                SpanStatus::Unset => StatusCode::Unset,
                SpanStatus::Ok => StatusCode::Ok,
                SpanStatus::Error => StatusCode::Error,
            }))
        }
        (FieldExpr::Intrinsic(Intrinsic::Kind), BinaryOp::Eq, Static::Kind(k)) => {
            Some(SpanCond::Kind(match k {
                SpanKind::Unspecified => StoreKind::Unspecified,
                SpanKind::Internal => StoreKind::Internal,
                SpanKind::Server => StoreKind::Server,
                SpanKind::Client => StoreKind::Client,
                SpanKind::Producer => StoreKind::Producer,
                SpanKind::Consumer => StoreKind::Consumer,
            }))
        }
        (FieldExpr::Intrinsic(Intrinsic::Duration), op, Static::Duration(d)) => match op {
            BinaryOp::Gt => Some(SpanCond::MinDuration(d.checked_add(1)?)),
            BinaryOp::Gte => Some(SpanCond::MinDuration(*d)),
            BinaryOp::Lt => Some(SpanCond::MaxDuration(d.checked_sub(1)?)),
            BinaryOp::Lte => Some(SpanCond::MaxDuration(*d)),
            _ => None,
        },
        (
            FieldExpr::Attribute(Attribute {
                scope,
                parent: false,
                name,
            }),
            BinaryOp::Eq,
            Static::Str(s),
        ) => {
            let scope = match scope {
                AttributeScope::Span => AttrWhere::Span,
                AttributeScope::Resource => AttrWhere::Resource,
                AttributeScope::Unscoped => AttrWhere::Either,
                _ => return None,
            };
            Some(SpanCond::Attr {
                scope,
                key: name.clone(),
                value: StrMatch::Eq(s.clone()),
            })
        }
        _ => None,
    }
}

/// `op` with its operands swapped, for the comparisons the store checks.
fn flip(op: BinaryOp) -> Option<BinaryOp> {
    Some(match op {
        BinaryOp::Eq => BinaryOp::Eq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Gte => BinaryOp::Lte,
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Lte => BinaryOp::Gte,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preds(q: &str) -> Vec<SpanPredicate> {
        predicates(&crate::traceql::parse(q).unwrap())
    }

    #[test]
    fn conjunctions_of_simple_comparisons_push_down() {
        let p = preds(
            r#"{ resource.service.name = "api" && duration > 50ms && kind = server && .x = "1" } | select(.y)"#,
        );
        assert_eq!(
            p,
            [SpanPredicate {
                all: vec![
                    SpanCond::service("api"),
                    SpanCond::MinDuration(50_000_001),
                    SpanCond::Kind(StoreKind::Server),
                    SpanCond::Attr {
                        scope: AttrWhere::Either,
                        key: "x".into(),
                        value: StrMatch::Eq("1".into()),
                    },
                ]
            }]
        );
        let p = preds(r#"{ name = "a" } && { status = error && 100ms >= duration }"#);
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[1].all,
            [
                SpanCond::Status(StatusCode::Error),
                SpanCond::MaxDuration(100_000_000)
            ]
        );
    }

    #[test]
    fn anything_not_necessary_stays_with_the_evaluator() {
        assert!(preds(r#"{ name = "a" || name = "b" }"#).is_empty());
        assert!(preds(r#"{ name = "a" } || { name = "b" }"#).is_empty());
        assert!(preds(r#"{ name = "a" } >> { name = "b" }"#).is_empty());
        assert!(preds(r#"{ !(name = "a") }"#).is_empty());
        assert!(preds(r#"{ name =~ "a.*" }"#).is_empty());
        assert!(preds(r#"{ name != "a" }"#).is_empty());
        assert!(preds(r#"{ parent.span.x = "a" }"#).is_empty());
        assert!(preds(r#"{ span.x = 1 }"#).is_empty());
        assert!(preds("{ }").is_empty());
        assert_eq!(
            preds(r#"{ name = "a" || name = "b" && duration > 1s }"#).len(),
            0
        );
        assert_eq!(
            preds(r#"{ name = "a" && (status = error || kind = client) }"#)[0]
                .all
                .len(),
            1
        );
    }
}
