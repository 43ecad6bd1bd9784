//! The span head: spans appended since the last cut, in memory, indexed by trace id. Every
//! read looks here as well as in the files.

use std::collections::{HashMap, HashSet};

use super::row::{SpanKey, SpanRow};
use crate::model::span::{AttrValue, Attributes, TraceId};

#[derive(Default)]
pub(crate) struct Head {
    pub(crate) rows: Vec<SpanRow>,
    by_trace: HashMap<TraceId, Vec<u32>>,
    seen: HashSet<SpanKey>,
    /// Rough bytes held, for the cut threshold.
    pub(crate) bytes: usize,
    /// Store-clock time of the first row, ms (0 when empty).
    pub(crate) since_ms: i64,
}

fn attrs_bytes(a: &Attributes) -> usize {
    a.iter()
        .map(|(k, v)| {
            k.len()
                + 16
                + match v {
                    AttrValue::Str(s) => s.len(),
                    AttrValue::Bytes(b) => b.len(),
                    _ => 8,
                }
        })
        .sum()
}

impl Head {
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds rows, skipping any span the head already holds (a re-sent batch).
    pub(crate) fn push(&mut self, rows: Vec<SpanRow>, now_ms: i64) {
        if self.rows.is_empty() {
            self.since_ms = now_ms;
        }
        for r in rows {
            if !self.seen.insert(r.key()) {
                continue;
            }
            let s = &r.span;
            self.bytes += 160
                + s.name.len()
                + s.status_message.len()
                + attrs_bytes(&s.attributes)
                + s.events
                    .iter()
                    .map(|e| 32 + e.name.len() + attrs_bytes(&e.attributes))
                    .sum::<usize>()
                + s.links
                    .iter()
                    .map(|l| 48 + attrs_bytes(&l.attributes))
                    .sum::<usize>();
            self.by_trace
                .entry(s.trace_id)
                .or_default()
                .push(self.rows.len() as u32);
            self.rows.push(r);
        }
    }

    /// The rows of a trace.
    pub(crate) fn trace(&self, id: &TraceId) -> impl Iterator<Item = &SpanRow> {
        self.by_trace
            .get(id)
            .into_iter()
            .flatten()
            .map(|&i| &self.rows[i as usize])
    }
}
