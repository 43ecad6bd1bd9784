//! One span as the engine handles it between the wire batch and the Parquet row: the span
//! with shared pointers to its resource and scope. Turning rows back into OTLP's
//! resource → scope → spans shape, and dropping re-sent duplicates, happens here.

use std::collections::HashSet;
use std::sync::Arc;

use crate::model::span::{Attributes, ResourceSpans, Scope, ScopeSpans, Span, SpanId, TraceId};
use crate::SpanAttributeScope;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanRow {
    pub(crate) resource: Arc<Attributes>,
    pub(crate) scope: Arc<Scope>,
    pub(crate) span: Span,
}

/// What makes two spans the same span: a batch sent twice yields equal keys.
pub(crate) type SpanKey = (TraceId, SpanId, i64);

impl SpanRow {
    pub(crate) fn key(&self) -> SpanKey {
        (self.span.trace_id, self.span.span_id, self.span.start_ns)
    }

    /// Calls `f` with each (scope, attributes) the row carries.
    pub(crate) fn each_attrs(&self, f: &mut dyn FnMut(SpanAttributeScope, &Attributes)) {
        f(SpanAttributeScope::Resource, &self.resource);
        f(SpanAttributeScope::Instrumentation, &self.scope.attributes);
        f(SpanAttributeScope::Span, &self.span.attributes);
        for e in &self.span.events {
            f(SpanAttributeScope::Event, &e.attributes);
        }
        for l in &self.span.links {
            f(SpanAttributeScope::Link, &l.attributes);
        }
    }
}

/// Flattens a wire batch into rows sharing one allocation per resource and scope.
pub(crate) fn rows_of(batch: &[ResourceSpans]) -> Vec<SpanRow> {
    let mut out = Vec::new();
    for rs in batch {
        let resource = Arc::new(rs.resource.clone());
        for ss in &rs.scopes {
            let scope = Arc::new(ss.scope.clone());
            out.extend(ss.spans.iter().map(|s| SpanRow {
                resource: resource.clone(),
                scope: scope.clone(),
                span: s.clone(),
            }));
        }
    }
    out
}

/// A scope's spans while a trace is assembled.
type ScopeGroup = (Arc<Scope>, Vec<Span>);

/// One trace's rows (from head and files, duplicates allowed) in OTLP's shape: duplicates
/// dropped, spans by start time, one [`ResourceSpans`] per distinct resource (in order of
/// its first span) with one [`ScopeSpans`] per distinct scope.
pub(crate) fn assemble(mut rows: Vec<SpanRow>) -> Vec<ResourceSpans> {
    rows.sort_by_key(|r| (r.span.start_ns, r.span.span_id));
    let mut seen: HashSet<SpanKey> = HashSet::with_capacity(rows.len());
    let mut out: Vec<(Arc<Attributes>, Vec<ScopeGroup>)> = Vec::new();
    for r in rows {
        if !seen.insert(r.key()) {
            continue;
        }
        let ri = match out
            .iter()
            .position(|(res, _)| Arc::ptr_eq(res, &r.resource) || **res == *r.resource)
        {
            Some(i) => i,
            None => {
                out.push((r.resource.clone(), Vec::new()));
                out.len() - 1
            }
        };
        let scopes = &mut out[ri].1;
        match scopes
            .iter_mut()
            .find(|(s, _)| Arc::ptr_eq(s, &r.scope) || **s == *r.scope)
        {
            Some((_, spans)) => spans.push(r.span),
            None => scopes.push((r.scope, vec![r.span])),
        }
    }
    out.into_iter()
        .map(|(resource, scopes)| ResourceSpans {
            resource: Arc::unwrap_or_clone(resource),
            scopes: scopes
                .into_iter()
                .map(|(scope, spans)| ScopeSpans {
                    scope: Arc::unwrap_or_clone(scope),
                    spans,
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::span::AttrValue;

    fn rs(service: &str, spans: &[(u8, i64)]) -> ResourceSpans {
        ResourceSpans {
            resource: vec![("service.name".into(), AttrValue::Str(service.into()))],
            scopes: vec![ScopeSpans {
                scope: Scope::default(),
                spans: spans
                    .iter()
                    .map(|&(id, start_ns)| Span {
                        trace_id: [1; 16],
                        span_id: [id; 8],
                        start_ns,
                        ..Default::default()
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn assemble_groups_by_resource_and_drops_resent_spans() {
        let mut rows = rows_of(&[rs("a", &[(1, 10), (2, 30)]), rs("b", &[(3, 20)])]);
        rows.extend(rows_of(&[rs("a", &[(2, 30)])]));
        let got = assemble(rows);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].service_name(), Some("a"));
        let ids: Vec<u8> = got[0].scopes[0]
            .spans
            .iter()
            .map(|s| s.span_id[0])
            .collect();
        assert_eq!(ids, [1, 2], "the re-sent span appears once");
        assert_eq!(got[1].scopes[0].spans.len(), 1);
    }
}
