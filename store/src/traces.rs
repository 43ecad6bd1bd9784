//! The span engine. For now an in-memory stand-in that keeps each tenant's traces in a
//! map: it honours the whole span contract ([`crate::AppendSpans`], [`crate::ReadSpans`])
//! so the Tempo API and TraceQL can be built and tested end to end while the durable
//! columnar engine (Parquet partitions, WAL, trace-id index) replaces it behind the same
//! contract. Nothing here survives a restart.

use std::collections::{BTreeSet, HashMap};

use parking_lot::RwLock;

use crate::error::Result;
use crate::model::span::{AttrValue, Attributes, ResourceSpans, ScopeSpans, TraceId};
use crate::tenant::TenantId;
use crate::{SpanAttributeNames, SpanAttributeScope, TraceSelect};

/// One trace's spans as they arrived, with the span start times it covers.
#[derive(Default)]
struct Trace {
    batches: Vec<ResourceSpans>,
    min_start: i64,
    max_start: i64,
}

impl Trace {
    fn starts_in(&self, start_ns: i64, end_ns: i64) -> bool {
        self.batches
            .iter()
            .flat_map(|b| &b.scopes)
            .flat_map(|s| &s.spans)
            .any(|s| s.start_ns >= start_ns && s.start_ns < end_ns)
    }
}

#[derive(Default)]
pub(crate) struct MemoryTraces {
    tenants: RwLock<HashMap<TenantId, HashMap<TraceId, Trace>>>,
}

impl MemoryTraces {
    pub(crate) fn append(&self, tenant: &TenantId, batch: &[ResourceSpans]) -> Result<()> {
        let mut tenants = self.tenants.write();
        let traces = tenants.entry(tenant.clone()).or_default();
        for rs in batch {
            for ss in &rs.scopes {
                for span in &ss.spans {
                    let t = traces.entry(span.trace_id).or_insert_with(|| Trace {
                        min_start: i64::MAX,
                        max_start: i64::MIN,
                        ..Default::default()
                    });
                    t.min_start = t.min_start.min(span.start_ns);
                    t.max_start = t.max_start.max(span.start_ns);
                    let same = t.batches.iter_mut().find(|b| {
                        b.resource == rs.resource
                            && b.scopes.first().is_some_and(|s| s.scope == ss.scope)
                    });
                    match same {
                        Some(b) => b.scopes[0].spans.push(span.clone()),
                        None => t.batches.push(ResourceSpans {
                            resource: rs.resource.clone(),
                            scopes: vec![ScopeSpans {
                                scope: ss.scope.clone(),
                                spans: vec![span.clone()],
                            }],
                        }),
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: &TraceId,
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<ResourceSpans> {
        let tenants = self.tenants.read();
        match tenants.get(tenant).and_then(|t| t.get(id)) {
            Some(t) if t.starts_in(start_ns, end_ns) => t.batches.clone(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn scan(
        &self,
        tenant: &TenantId,
        sel: &TraceSelect,
        f: &mut dyn FnMut(Vec<ResourceSpans>) -> bool,
    ) -> Result<()> {
        let picked: Vec<(i64, Vec<ResourceSpans>)> = {
            let tenants = self.tenants.read();
            let Some(traces) = tenants.get(tenant) else {
                return Ok(());
            };
            let mut v: Vec<(i64, Vec<ResourceSpans>)> = traces
                .values()
                .filter(|t| t.max_start >= sel.start_ns && t.min_start < sel.end_ns)
                .filter(|t| t.starts_in(sel.start_ns, sel.end_ns))
                .map(|t| (t.max_start, t.batches.clone()))
                .collect();
            v.sort_by_key(|t| std::cmp::Reverse(t.0));
            v
        };
        for (_, t) in picked {
            if sel.cancelled() || !f(t) {
                break;
            }
        }
        Ok(())
    }

    /// Calls `f` with every (scope, attributes) of spans starting in the range.
    fn each_attrs(
        &self,
        tenant: &TenantId,
        start_ns: i64,
        end_ns: i64,
        f: &mut dyn FnMut(SpanAttributeScope, &Attributes),
    ) {
        let tenants = self.tenants.read();
        let Some(traces) = tenants.get(tenant) else {
            return;
        };
        for t in traces.values() {
            for rs in &t.batches {
                let mut resource_seen = false;
                for ss in &rs.scopes {
                    for span in &ss.spans {
                        if span.start_ns < start_ns || span.start_ns >= end_ns {
                            continue;
                        }
                        if !resource_seen {
                            f(SpanAttributeScope::Resource, &rs.resource);
                            f(SpanAttributeScope::Instrumentation, &ss.scope.attributes);
                            resource_seen = true;
                        }
                        f(SpanAttributeScope::Span, &span.attributes);
                        for e in &span.events {
                            f(SpanAttributeScope::Event, &e.attributes);
                        }
                        for l in &span.links {
                            f(SpanAttributeScope::Link, &l.attributes);
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn attribute_names(
        &self,
        tenant: &TenantId,
        start_ns: i64,
        end_ns: i64,
    ) -> SpanAttributeNames {
        let mut sets: [BTreeSet<String>; 5] = Default::default();
        self.each_attrs(tenant, start_ns, end_ns, &mut |scope, attrs| {
            let set = &mut sets[scope as usize];
            for (k, _) in attrs {
                if !set.contains(k) {
                    set.insert(k.clone());
                }
            }
        });
        let [resource, span, event, link, instrumentation] = sets.map(|s| s.into_iter().collect());
        SpanAttributeNames {
            resource,
            span,
            event,
            link,
            instrumentation,
        }
    }

    pub(crate) fn attribute_values(
        &self,
        tenant: &TenantId,
        scope: SpanAttributeScope,
        name: &str,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
    ) -> Vec<AttrValue> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        self.each_attrs(tenant, start_ns, end_ns, &mut |s, attrs| {
            if s != scope || (limit > 0 && out.len() >= limit) {
                return;
            }
            for (k, v) in attrs {
                if k == name && seen.insert(format!("{v:?}")) {
                    out.push(v.clone());
                }
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::span::{Scope, Span};

    fn batch(service: &str, trace: u8, span: u8, start_ns: i64) -> ResourceSpans {
        ResourceSpans {
            resource: vec![("service.name".into(), AttrValue::Str(service.into()))],
            scopes: vec![ScopeSpans {
                scope: Scope::default(),
                spans: vec![Span {
                    trace_id: [trace; 16],
                    span_id: [span; 8],
                    start_ns,
                    end_ns: start_ns + 10,
                    attributes: vec![("k".into(), AttrValue::Int(span as i64))],
                    ..Default::default()
                }],
            }],
        }
    }

    #[test]
    fn traces_gather_spans_across_appends_and_scan_newest_first() {
        let m = MemoryTraces::default();
        let t = TenantId::default_tenant();
        m.append(&t, &[batch("a", 1, 1, 100), batch("b", 2, 1, 300)])
            .unwrap();
        m.append(&t, &[batch("a", 1, 2, 200)]).unwrap();
        let one = m.trace_by_id(&t, &[1; 16], i64::MIN, i64::MAX);
        assert_eq!(one.len(), 1, "same resource and scope share a batch");
        assert_eq!(one[0].scopes[0].spans.len(), 2);
        assert!(m.trace_by_id(&t, &[1; 16], 250, 400).is_empty());
        assert!(m
            .trace_by_id(&TenantId::new("x").unwrap(), &[1; 16], i64::MIN, i64::MAX)
            .is_empty());
        let mut order = vec![];
        let sel = TraceSelect {
            start_ns: 0,
            end_ns: 1000,
            cancel: None,
        };
        m.scan(&t, &sel, &mut |b| {
            order.push(b[0].scopes[0].spans[0].trace_id[0]);
            true
        })
        .unwrap();
        assert_eq!(order, [2, 1]);
        let names = m.attribute_names(&t, 0, 1000);
        assert_eq!(names.resource, ["service.name"]);
        assert_eq!(names.span, ["k"]);
        let vals = m.attribute_values(&t, SpanAttributeScope::Resource, "service.name", 0, 250, 0);
        assert_eq!(vals, [AttrValue::Str("a".into())]);
        assert_eq!(
            m.attribute_values(&t, SpanAttributeScope::Span, "k", 0, 1000, 1)
                .len(),
            1
        );
    }
}
