//! Evaluates a TraceQL search query over one trace at a time: spanset filters pick spans,
//! spanset operators combine what each side picked (logically, or by the parent/child
//! relations), and the pipeline's stages filter, regroup and merge the spansets. A trace
//! matches when at least one spanset comes out. Metrics functions are not search: they
//! are answered over time ranges, not per trace.

use std::collections::BTreeMap;

use lookout_store::model::span::{attr, hex_id};

use super::ast::*;
use super::trace::TraceView;
use super::value::{arith, compare, Regexes, Value};
use crate::{Error, Result};

/// Spans of one trace that came out of a query together, with the values they were
/// grouped by.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanset {
    /// Indices into the trace's [`TraceView::spans`], ascending.
    pub spans: Vec<usize>,
    /// `by(...)` fields and their values, as written and as found.
    pub by: Vec<(String, Value<'static>)>,
}

/// A search query ready to run over traces.
pub struct Search {
    query: Query,
    regexes: Regexes,
    /// Attributes the query reads or selects: returned with each matched span.
    shown: Vec<FieldExpr>,
}

/// Where a field is read: a span, and for event and link fields one of its events/links.
#[derive(Clone, Copy)]
struct Ctx {
    span: usize,
    event: Option<usize>,
    link: Option<usize>,
}

impl Search {
    pub fn new(query: Query) -> Result<Search> {
        if query
            .pipeline
            .stages
            .iter()
            .any(|s| matches!(s, Stage::Metrics(_) | Stage::TopK { .. }))
        {
            return Err(Error::BadData(
                "metrics functions are answered by /api/metrics/query_range, not by search".into(),
            ));
        }
        let mut regexes = Regexes::default();
        let mut shown = Vec::new();
        walk_pipeline(&query.pipeline, &mut |e| match e {
            FieldExpr::Binary {
                op: BinaryOp::Regex | BinaryOp::NotRegex,
                rhs,
                ..
            } => {
                if let FieldExpr::Static(Static::Str(p)) = rhs.as_ref() {
                    regexes.compile(p)?;
                }
                Ok(())
            }
            FieldExpr::Attribute(_) => {
                if !shown.contains(e) {
                    shown.push(e.clone());
                }
                Ok(())
            }
            _ => Ok(()),
        })?;
        for s in &query.pipeline.stages {
            if let Stage::Select(fields) = s {
                for f in fields {
                    if !shown.contains(f) {
                        shown.push(f.clone());
                    }
                }
            }
        }
        Ok(Search {
            query,
            regexes,
            shown,
        })
    }

    pub fn query(&self) -> &Query {
        &self.query
    }

    /// The spansets `trace` yields; empty when the trace does not match.
    pub fn run(&self, trace: &TraceView<'_>) -> Vec<Spanset> {
        self.pipeline(&self.query.pipeline, trace, None)
    }

    /// The attributes to show for a matched span: those the query reads or selects, where
    /// the span has them.
    pub fn shown_attributes(
        &self,
        trace: &TraceView<'_>,
        span: usize,
    ) -> Vec<(String, Value<'static>)> {
        let ctx = Ctx {
            span,
            event: None,
            link: None,
        };
        let mut out = Vec::new();
        for f in &self.shown {
            let v = self.field(f, trace, ctx);
            if v != Value::Nil {
                let name = match f {
                    FieldExpr::Attribute(a) => a.name.clone(),
                    other => other.to_string(),
                };
                out.push((name, v.into_owned()));
            }
        }
        out
    }

    /// The values field `f` takes on span `i`: one, or one per event (link) for event
    /// (link) fields; missing values left out.
    pub fn field_values(&self, f: &FieldExpr, t: &TraceView<'_>, i: usize) -> Vec<Value<'static>> {
        let span = t.spans[i].span;
        let events: Vec<Option<usize>> = if reads_scope(f, AttributeScope::Event) {
            (0..span.events.len()).map(Some).collect()
        } else {
            vec![None]
        };
        let links: Vec<Option<usize>> = if reads_scope(f, AttributeScope::Link) {
            (0..span.links.len()).map(Some).collect()
        } else {
            vec![None]
        };
        let mut out = Vec::new();
        for &event in &events {
            for &link in &links {
                let v = self.field(
                    f,
                    t,
                    Ctx {
                        span: i,
                        event,
                        link,
                    },
                );
                if v != Value::Nil {
                    out.push(v.into_owned());
                }
            }
        }
        out
    }

    fn pipeline(&self, p: &Pipeline, t: &TraceView<'_>, within: Option<&[bool]>) -> Vec<Spanset> {
        let mut sets = self.spanset(&p.source, t, within);
        for stage in &p.stages {
            if sets.is_empty() {
                break;
            }
            sets = self.stage(stage, t, sets);
        }
        sets
    }

    fn stage(&self, stage: &Stage, t: &TraceView<'_>, sets: Vec<Spanset>) -> Vec<Spanset> {
        match stage {
            Stage::Spanset(e) => sets
                .into_iter()
                .flat_map(|ss| {
                    let mut mask = vec![false; t.spans.len()];
                    for &i in &ss.spans {
                        mask[i] = true;
                    }
                    self.spanset(e, t, Some(&mask))
                        .into_iter()
                        .map(move |mut out| {
                            out.by = ss.by.clone();
                            out
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
            Stage::ScalarFilter { op, lhs, rhs } => sets
                .into_iter()
                .filter(|ss| {
                    let a = self.scalar(lhs, t, &ss.spans);
                    let b = self.scalar(rhs, t, &ss.spans);
                    compare(*op, &a, &b, &self.regexes).is_true()
                })
                .collect(),
            Stage::By(fields) => {
                let mut out = Vec::new();
                for ss in sets {
                    let mut groups: BTreeMap<Vec<String>, Spanset> = BTreeMap::new();
                    for &i in &ss.spans {
                        let ctx = Ctx {
                            span: i,
                            event: None,
                            link: None,
                        };
                        let vals: Vec<Value<'static>> = fields
                            .iter()
                            .map(|f| self.field(f, t, ctx).into_owned())
                            .collect();
                        let key = vals.iter().map(Value::render).collect();
                        let g = groups.entry(key).or_insert_with(|| Spanset {
                            spans: Vec::new(),
                            by: fields
                                .iter()
                                .zip(vals)
                                .map(|(f, v)| (f.to_string(), v))
                                .collect(),
                        });
                        g.spans.push(i);
                    }
                    out.extend(groups.into_values());
                }
                out
            }
            Stage::Coalesce => {
                let mut all: Vec<usize> = sets.into_iter().flat_map(|s| s.spans).collect();
                all.sort_unstable();
                all.dedup();
                vec![Spanset {
                    spans: all,
                    by: Vec::new(),
                }]
            }
            // Selection changes what is shown, not what matches.
            Stage::Select(_) => sets,
            Stage::Metrics(_) | Stage::TopK { .. } => Vec::new(),
        }
    }

    fn scalar<'t>(&self, e: &'t ScalarExpr, t: &'t TraceView<'t>, spans: &[usize]) -> Value<'t> {
        match e {
            ScalarExpr::Static(s) => Value::from_static(s),
            ScalarExpr::Binary { op, lhs, rhs } => {
                let a = self.scalar(lhs, t, spans);
                let b = self.scalar(rhs, t, spans);
                arith(*op, &a, &b)
            }
            ScalarExpr::Aggregate { op, field } => {
                let Some(field) = field else {
                    return Value::Int(spans.len() as i64);
                };
                let vals: Vec<Value<'_>> = spans
                    .iter()
                    .map(|&i| {
                        self.field(
                            field,
                            t,
                            Ctx {
                                span: i,
                                event: None,
                                link: None,
                            },
                        )
                    })
                    .filter(|v| matches!(v, Value::Int(_) | Value::Float(_) | Value::Duration(_)))
                    .collect();
                aggregate(*op, &vals)
            }
        }
    }

    fn spanset(&self, e: &SpansetExpr, t: &TraceView<'_>, within: Option<&[bool]>) -> Vec<Spanset> {
        match e {
            SpansetExpr::Filter(f) => {
                let events = reads_scope(f, AttributeScope::Event);
                let links = reads_scope(f, AttributeScope::Link);
                let spans: Vec<usize> = (0..t.spans.len())
                    .filter(|&i| within.is_none_or(|m| m[i]))
                    .filter(|&i| self.keeps(f, t, i, events, links))
                    .collect();
                if spans.is_empty() {
                    Vec::new()
                } else {
                    vec![Spanset {
                        spans,
                        by: Vec::new(),
                    }]
                }
            }
            SpansetExpr::Group(p) => self.pipeline(p, t, within),
            SpansetExpr::Binary { op, lhs, rhs } => {
                let l = mask(t, &self.spanset(lhs, t, within));
                let r = mask(t, &self.spanset(rhs, t, within));
                let picked = relate(*op, t, &l, &r);
                let spans: Vec<usize> = (0..t.spans.len()).filter(|&i| picked[i]).collect();
                if spans.is_empty() {
                    Vec::new()
                } else {
                    vec![Spanset {
                        spans,
                        by: Vec::new(),
                    }]
                }
            }
        }
    }

    /// Whether span `i` passes filter `f`: for event or link fields, whether some event
    /// (link) of the span makes it true.
    fn keeps(&self, f: &FieldExpr, t: &TraceView<'_>, i: usize, events: bool, links: bool) -> bool {
        let span = t.spans[i].span;
        let event_choices: Vec<Option<usize>> = if events && !span.events.is_empty() {
            (0..span.events.len()).map(Some).collect()
        } else {
            vec![None]
        };
        let link_choices: Vec<Option<usize>> = if links && !span.links.is_empty() {
            (0..span.links.len()).map(Some).collect()
        } else {
            vec![None]
        };
        event_choices.iter().any(|&event| {
            link_choices.iter().any(|&link| {
                self.field(
                    f,
                    t,
                    Ctx {
                        span: i,
                        event,
                        link,
                    },
                )
                .is_true()
            })
        })
    }

    fn field<'t>(&self, e: &'t FieldExpr, t: &'t TraceView<'t>, ctx: Ctx) -> Value<'t> {
        match e {
            FieldExpr::Static(s) => Value::from_static(s),
            FieldExpr::Attribute(a) => attribute(a, t, ctx),
            FieldExpr::Intrinsic(i) => intrinsic(*i, t, ctx),
            FieldExpr::Binary {
                op: op @ (BinaryOp::Eq | BinaryOp::Neq),
                lhs,
                rhs,
            } if is_nil(lhs) || is_nil(rhs) => {
                // `= nil` finds what is missing, `!= nil` what exists.
                let other = if is_nil(lhs) { rhs } else { lhs };
                let missing = self.field(other, t, ctx) == Value::Nil;
                Value::Bool(missing == (*op == BinaryOp::Eq))
            }
            FieldExpr::Binary { op, lhs, rhs } => {
                let a = self.field(lhs, t, ctx);
                // Short-circuit the logical operators.
                match (op, a.is_true()) {
                    (BinaryOp::And, false) => return Value::Bool(false),
                    (BinaryOp::Or, true) => return Value::Bool(true),
                    _ => {}
                }
                let b = self.field(rhs, t, ctx);
                compare(*op, &a, &b, &self.regexes)
            }
            FieldExpr::Unary { op, expr } => match (op, self.field(expr, t, ctx)) {
                (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                (UnaryOp::Neg, Value::Int(i)) => Value::Int(i.wrapping_neg()),
                (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
                (UnaryOp::Neg, Value::Duration(d)) => Value::Duration(d.wrapping_neg()),
                _ => Value::Nil,
            },
        }
    }
}

fn is_nil(e: &FieldExpr) -> bool {
    matches!(e, FieldExpr::Static(Static::Nil))
}

fn attribute<'t>(a: &Attribute, t: &'t TraceView<'t>, ctx: Ctx) -> Value<'t> {
    let span_idx = if a.parent {
        match t.parent[ctx.span] {
            Some(p) => p,
            None => return Value::Nil,
        }
    } else {
        ctx.span
    };
    let s = &t.spans[span_idx];
    let found = match a.scope {
        AttributeScope::Unscoped => {
            attr(&s.span.attributes, &a.name).or_else(|| attr(&s.resource.resource, &a.name))
        }
        AttributeScope::Span => attr(&s.span.attributes, &a.name),
        AttributeScope::Resource => attr(&s.resource.resource, &a.name),
        AttributeScope::Instrumentation => attr(&s.scope.attributes, &a.name),
        AttributeScope::Event => ctx
            .event
            .and_then(|e| s.span.events.get(e))
            .and_then(|e| attr(&e.attributes, &a.name)),
        AttributeScope::Link => ctx
            .link
            .and_then(|l| s.span.links.get(l))
            .and_then(|l| attr(&l.attributes, &a.name)),
    };
    found.map_or(Value::Nil, Value::from_attr)
}

fn intrinsic<'t>(i: Intrinsic, t: &'t TraceView<'t>, ctx: Ctx) -> Value<'t> {
    use std::borrow::Cow;
    let s = &t.spans[ctx.span];
    let span = s.span;
    let str = |v: &'t str| Value::Str(Cow::Borrowed(v));
    match i {
        Intrinsic::Duration => Value::Duration(span.duration_ns()),
        Intrinsic::Name => str(&span.name),
        Intrinsic::Status => Value::Status(span.status),
        Intrinsic::StatusMessage => str(&span.status_message),
        Intrinsic::Kind => Value::Kind(span.kind),
        Intrinsic::ChildCount => Value::Int(t.children[ctx.span].len() as i64),
        Intrinsic::SpanId => Value::Str(Cow::Owned(hex_id(&span.span_id))),
        Intrinsic::ParentId => span
            .parent_span_id
            .map_or(Value::Nil, |p| Value::Str(Cow::Owned(hex_id(&p)))),
        Intrinsic::TraceId => Value::Str(Cow::Owned(hex_id(&span.trace_id))),
        Intrinsic::TraceDuration => Value::Duration(t.duration_ns()),
        Intrinsic::RootName => t.root_name().map_or(Value::Nil, str),
        Intrinsic::RootServiceName => t.root_service().map_or(Value::Nil, str),
        Intrinsic::EventName => ctx
            .event
            .and_then(|e| span.events.get(e))
            .map_or(Value::Nil, |e| str(&e.name)),
        Intrinsic::EventTimeSinceStart => ctx
            .event
            .and_then(|e| span.events.get(e))
            .map_or(Value::Nil, |e| Value::Duration(e.time_ns - span.start_ns)),
        Intrinsic::LinkTraceId => ctx
            .link
            .and_then(|l| span.links.get(l))
            .map_or(Value::Nil, |l| Value::Str(Cow::Owned(hex_id(&l.trace_id)))),
        Intrinsic::LinkSpanId => ctx
            .link
            .and_then(|l| span.links.get(l))
            .map_or(Value::Nil, |l| Value::Str(Cow::Owned(hex_id(&l.span_id)))),
        Intrinsic::InstrumentationName => str(&s.scope.name),
        Intrinsic::InstrumentationVersion => str(&s.scope.version),
    }
}

fn aggregate(op: AggregateOp, vals: &[Value<'_>]) -> Value<'static> {
    if vals.is_empty() {
        return Value::Nil;
    }
    let durations = vals.iter().all(|v| matches!(v, Value::Duration(_)));
    let ints = vals.iter().all(|v| matches!(v, Value::Int(_)));
    let num = |v: &Value<'_>| match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Duration(d) => *d as f64,
        _ => 0.0,
    };
    let xs: Vec<f64> = vals.iter().map(num).collect();
    let r = match op {
        AggregateOp::Count => return Value::Int(vals.len() as i64),
        AggregateOp::Sum => xs.iter().sum(),
        AggregateOp::Avg => xs.iter().sum::<f64>() / xs.len() as f64,
        AggregateOp::Min => xs.iter().copied().fold(f64::INFINITY, f64::min),
        AggregateOp::Max => xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    };
    if durations {
        Value::Duration(r as i64)
    } else if ints && op != AggregateOp::Avg {
        Value::Int(r as i64)
    } else {
        Value::Float(r)
    }
}

/// Which spans of the trace some spanset holds.
fn mask(t: &TraceView<'_>, sets: &[Spanset]) -> Vec<bool> {
    let mut m = vec![false; t.spans.len()];
    for s in sets {
        for &i in &s.spans {
            m[i] = true;
        }
    }
    m
}

/// The spans `l op r` picks, given which spans each side picked.
fn relate(op: SpansetOp, t: &TraceView<'_>, l: &[bool], r: &[bool]) -> Vec<bool> {
    use SpansetOp::*;
    let n = t.spans.len();
    let any = |m: &[bool]| m.iter().any(|&b| b);
    match op {
        And => {
            if any(l) && any(r) {
                (0..n).map(|i| l[i] || r[i]).collect()
            } else {
                vec![false; n]
            }
        }
        Or => (0..n).map(|i| l[i] || r[i]).collect(),
        _ => {
            // For each span of the right side: is it related to some span of the left?
            let child_of_l = |i: usize| t.parent[i].is_some_and(|p| l[p]);
            let parent_of_l = |i: usize| t.children[i].iter().any(|&c| l[c]);
            let descendant_of_l = |i: usize| t.ancestors(i).any(|a| l[a]);
            let ancestor_of_l = |i: usize| (0..n).any(|j| l[j] && t.ancestors(j).any(|a| a == i));
            let sibling_of_l = |i: usize| {
                t.parent[i].is_some_and(|p| t.children[p].iter().any(|&c| c != i && l[c]))
            };
            let rel: &dyn Fn(usize) -> bool = match op {
                Child | NotChild | UnionChild => &child_of_l,
                Parent | NotParent | UnionParent => &parent_of_l,
                Descendant | NotDescendant | UnionDescendant => &descendant_of_l,
                Ancestor | NotAncestor | UnionAncestor => &ancestor_of_l,
                _ => &sibling_of_l,
            };
            let negated = matches!(
                op,
                NotChild | NotParent | NotDescendant | NotAncestor | NotSibling
            );
            let union = matches!(
                op,
                UnionChild | UnionParent | UnionDescendant | UnionAncestor | UnionSibling
            );
            let mut out: Vec<bool> = (0..n).map(|i| r[i] && (rel(i) != negated)).collect();
            if union {
                // The left spans that have a related span on the right, too.
                let inverse = relate(mirror(op), t, r, l);
                for i in 0..n {
                    out[i] |= inverse[i];
                }
            }
            out
        }
    }
}

/// The relation seen from the other side: `a &> b` also keeps the `a` that are parents
/// of some `b`, i.e. `b < a`.
fn mirror(op: SpansetOp) -> SpansetOp {
    use SpansetOp::*;
    match op {
        UnionChild => Parent,
        UnionParent => Child,
        UnionDescendant => Ancestor,
        UnionAncestor => Descendant,
        _ => Sibling,
    }
}

/// Whether `f` reads fields of the given scope (event or link), so it must be tried per
/// event or link.
fn reads_scope(f: &FieldExpr, scope: AttributeScope) -> bool {
    match f {
        FieldExpr::Attribute(a) => a.scope == scope,
        FieldExpr::Intrinsic(i) => match scope {
            AttributeScope::Event => {
                matches!(i, Intrinsic::EventName | Intrinsic::EventTimeSinceStart)
            }
            AttributeScope::Link => matches!(i, Intrinsic::LinkTraceId | Intrinsic::LinkSpanId),
            _ => false,
        },
        FieldExpr::Binary { lhs, rhs, .. } => reads_scope(lhs, scope) || reads_scope(rhs, scope),
        FieldExpr::Unary { expr, .. } => reads_scope(expr, scope),
        FieldExpr::Static(_) => false,
    }
}

/// Calls `f` on every field expression of a pipeline, outermost first.
fn walk_pipeline(p: &Pipeline, f: &mut dyn FnMut(&FieldExpr) -> Result<()>) -> Result<()> {
    walk_spanset(&p.source, f)?;
    for s in &p.stages {
        match s {
            Stage::Spanset(e) => walk_spanset(e, f)?,
            Stage::By(v) | Stage::Select(v) => {
                for e in v {
                    walk_field(e, f)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn walk_spanset(e: &SpansetExpr, f: &mut dyn FnMut(&FieldExpr) -> Result<()>) -> Result<()> {
    match e {
        SpansetExpr::Filter(x) => walk_field(x, f),
        SpansetExpr::Binary { lhs, rhs, .. } => {
            walk_spanset(lhs, f)?;
            walk_spanset(rhs, f)
        }
        SpansetExpr::Group(p) => walk_pipeline(p, f),
    }
}

fn walk_field(e: &FieldExpr, f: &mut dyn FnMut(&FieldExpr) -> Result<()>) -> Result<()> {
    f(e)?;
    match e {
        FieldExpr::Binary { lhs, rhs, .. } => {
            walk_field(lhs, f)?;
            walk_field(rhs, f)
        }
        FieldExpr::Unary { expr, .. } => walk_field(expr, f),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
