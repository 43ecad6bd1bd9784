//! The head: lines acknowledged (in the WAL) but not yet committed to a partition index.
//! A read scans it, so a line is searchable as soon as its append returns; a commit moves
//! it into the partitions. Its size is bounded by the commit threshold.

use std::sync::Arc;

use super::filter::Filter;
use super::schema;
use crate::model::{Labels, LogHit, LogRecord, LogSelect, Matcher};

/// A stream as the engine knows it: its labels and their exact term.
#[derive(Debug)]
pub(super) struct Stream {
    pub labels: Arc<Labels>,
    pub term: String,
}

#[derive(Default)]
pub(super) struct Head {
    pub entries: Vec<(Arc<Stream>, LogRecord)>,
    /// Line and metadata bytes held.
    pub bytes: usize,
    /// Clock ms of the first entry (0 when empty).
    pub since_ms: i64,
}

impl Head {
    /// An empty head with room for `n` entries: the one after a commit takes the size of
    /// the one committed, so that a busy tenant's head is not grown by doubling, copying
    /// its entries and faulting in fresh pages at every step, once per commit.
    pub(super) fn with_room(n: usize) -> Head {
        Head {
            entries: Vec::with_capacity(n),
            ..Head::default()
        }
    }

    pub(super) fn push(&mut self, stream: Arc<Stream>, rec: LogRecord, now_ms: i64) {
        if self.entries.is_empty() {
            self.since_ms = now_ms;
        }
        self.bytes += record_bytes(&rec);
        self.entries.push((stream, rec));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Hits of `sel` here (unordered): in range, stream matching, every filter passed.
    pub(super) fn hits(&self, sel: &LogSelect, filters: &[Filter], out: &mut Vec<LogHit>) {
        for (s, r) in &self.entries {
            if r.ts_ns < sel.start_ns || r.ts_ns >= sel.end_ns {
                continue;
            }
            if !stream_matches(&s.labels, &sel.matchers) {
                continue;
            }
            if filters.iter().all(|f| f.keeps(&r.line))
                && sel
                    .label_eq
                    .iter()
                    .all(|(n, v)| schema::label_value(&s.labels, &r.metadata, n) == v)
            {
                out.push(LogHit {
                    stream: s.labels.clone(),
                    ts_ns: r.ts_ns,
                    line: r.line.clone(),
                    metadata: r.metadata.clone(),
                });
            }
        }
    }
}

/// Bytes a record holds: its line and metadata.
pub(super) fn record_bytes(r: &LogRecord) -> usize {
    r.line.len()
        + r.metadata
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
}

pub(super) fn stream_matches(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}
