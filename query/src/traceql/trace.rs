//! One trace as the evaluator sees it: every span with its resource and scope, and the
//! parent/child relations that structural operators and `parent.` attributes follow.

use std::collections::HashMap;

use lookout_store::model::span::{ResourceSpans, Scope, Span, SpanId};

/// A span with where it came from.
#[derive(Debug, Clone, Copy)]
pub struct SpanRef<'a> {
    pub span: &'a Span,
    pub resource: &'a ResourceSpans,
    pub scope: &'a Scope,
}

/// A trace's spans, indexed.
pub struct TraceView<'a> {
    pub spans: Vec<SpanRef<'a>>,
    /// Index of each span's parent within `spans`.
    pub parent: Vec<Option<usize>>,
    pub children: Vec<Vec<usize>>,
    /// The root span (no parent id), when the trace has one.
    pub root: Option<usize>,
    pub start_ns: i64,
    pub end_ns: i64,
}

impl<'a> TraceView<'a> {
    pub fn new(batches: &'a [ResourceSpans]) -> TraceView<'a> {
        let mut spans = Vec::new();
        for rs in batches {
            for ss in &rs.scopes {
                for span in &ss.spans {
                    spans.push(SpanRef {
                        span,
                        resource: rs,
                        scope: &ss.scope,
                    });
                }
            }
        }
        let by_id: HashMap<SpanId, usize> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span.span_id, i))
            .collect();
        let mut parent = vec![None; spans.len()];
        let mut children = vec![Vec::new(); spans.len()];
        let mut root = None;
        for (i, s) in spans.iter().enumerate() {
            match s.span.parent_span_id {
                Some(p) => {
                    if let Some(&pi) = by_id.get(&p) {
                        if pi != i {
                            parent[i] = Some(pi);
                            children[pi].push(i);
                        }
                    }
                }
                None => {
                    // The earliest root wins if a broken trace has several.
                    if root.is_none_or(|r: usize| s.span.start_ns < spans[r].span.start_ns) {
                        root = Some(i);
                    }
                }
            }
        }
        let start_ns = spans.iter().map(|s| s.span.start_ns).min().unwrap_or(0);
        let end_ns = spans.iter().map(|s| s.span.end_ns).max().unwrap_or(0);
        TraceView {
            spans,
            parent,
            children,
            root,
            start_ns,
            end_ns,
        }
    }

    /// Ancestors of span `i`, nearest first (bounded, so a cycle in bad data ends).
    pub fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let mut at = self.parent[i];
        let mut left = self.spans.len();
        std::iter::from_fn(move || {
            let p = at?;
            if left == 0 {
                return None;
            }
            left -= 1;
            at = self.parent[p];
            Some(p)
        })
    }

    pub fn root_name(&self) -> Option<&'a str> {
        self.root.map(|r| self.spans[r].span.name.as_str())
    }

    pub fn root_service(&self) -> Option<&'a str> {
        self.root
            .and_then(|r| self.spans[r].resource.service_name())
    }

    pub fn duration_ns(&self) -> i64 {
        (self.end_ns - self.start_ns).max(0)
    }
}
