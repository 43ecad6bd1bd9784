//! Size-only reads: each selected line's timestamp and length (and metadata, when it has
//! any), for metric queries that count lines or bytes and never look at a line's text.
//!
//! A chunk's timestamp and length columns stand ahead of its compressed text
//! (`columns.rs`), so a chunk is read by its columns section alone. What makes that exact is the dedup a full read
//! does: [`super::search::Repeats`] drops an entry (stream, timestamp, line) equal to the
//! one before it in global order, which with (ts, stream, line) ordering means every copy
//! but one. Copies of an entry are in different sources of the same stream (a chunk holds
//! none: a commit dedups its lines, and a chunk that still shows two lines with the same
//! time and length is read in full to make sure, see [`may_repeat`]), so they overlap in
//! time. Per stream,
//! the sources (chunks, and the head's lines) are grouped into runs that overlap in time:
//! a run that is one chunk has no copies and is counted from its columns; any other run
//! is read in full and its lines deduped by (ts, line), exactly as the full read does.
//! With lines in time order chunks do not overlap, so nearly everything takes the fast
//! way; out-of-order streams fall back to full reads of their overlapping chunks.

use std::collections::HashMap;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;

use super::head::stream_matches;
use super::partition::{ChunkRef, Partition};
use super::LogEngine;
use crate::error::Result;
use crate::model::{Labels, LineSize, LogSelect};

/// A line whose text a run needs to dedup.
struct Full {
    ts: i64,
    line: String,
    metadata: Vec<(String, String)>,
}

/// One stream's sources in the range.
#[derive(Default)]
struct StreamSources {
    chunks: Vec<(Arc<Partition>, ChunkRef)>,
    /// The head's lines, in range.
    head: Vec<Full>,
}

impl LogEngine {
    /// The sizes of the lines `sel` selects; see [`crate::ReadLogs::select_log_sizes`]. Line
    /// filters and label equalities need the text, so a select with any is read in full.
    pub(crate) fn sizes(
        &self,
        sel: &LogSelect,
        f: &mut dyn FnMut(&Arc<Labels>, &[LineSize]) -> bool,
    ) -> Result<()> {
        if !sel.filters.is_empty() || !sel.label_eq.is_empty() {
            let all = LogSelect {
                limit: 0,
                ..sel.clone()
            };
            return self.select(&all, &mut |h| {
                let size = LineSize {
                    ts_ns: h.ts_ns,
                    len: h.line.len(),
                    metadata: h.metadata,
                };
                f(&h.stream, std::slice::from_ref(&size))
            });
        }
        let (lo, hi) = (sel.start_ns, sel.end_ns);
        if lo >= hi {
            return Ok(());
        }
        let mut streams: HashMap<Arc<Labels>, StreamSources> = HashMap::new();
        // The head before the partitions, as `select`: a line committed in between is seen
        // twice and deduped, never missed.
        {
            let st = self.state.read();
            let heads = std::iter::once(&st.head).chain(st.frozen.as_ref().map(|(h, _)| &**h));
            for h in heads {
                for (s, r) in &h.entries {
                    if r.ts_ns < lo || r.ts_ns >= hi || !stream_matches(&s.labels, &sel.matchers) {
                        continue;
                    }
                    streams
                        .entry(s.labels.clone())
                        .or_default()
                        .head
                        .push(Full {
                            ts: r.ts_ns,
                            line: r.line.clone(),
                            metadata: r.metadata.clone(),
                        });
                }
            }
        }
        let parts = self.partitions_overlapping(lo, hi);
        for p in parts {
            let (plo, phi) = (lo.max(p.meta.start_ns), hi.min(p.meta.end_ns));
            let cands: Vec<ChunkRef> = p
                .catalog
                .read()
                .iter()
                .filter(|c| {
                    c.min_ts < phi && plo <= c.max_ts && stream_matches(&c.stream, &sel.matchers)
                })
                .cloned()
                .collect();
            if cands.is_empty() {
                continue;
            }
            self.counters
                .partitions
                .fetch_add(1, AtomicOrdering::Relaxed);
            for c in cands {
                streams
                    .entry(c.stream.clone())
                    .or_default()
                    .chunks
                    .push((p.clone(), c));
            }
        }
        let mut batch: Vec<LineSize> = Vec::new();
        for (labels, src) in streams {
            if !self.stream_sizes(sel, &labels, src, &mut batch, f)? {
                break;
            }
        }
        Ok(())
    }

    /// One stream's sizes, run by run (see the module doc). False when `f` or a cancel
    /// stopped the read.
    fn stream_sizes(
        &self,
        sel: &LogSelect,
        labels: &Arc<Labels>,
        mut src: StreamSources,
        batch: &mut Vec<LineSize>,
        f: &mut dyn FnMut(&Arc<Labels>, &[LineSize]) -> bool,
    ) -> Result<bool> {
        let (lo, hi) = (sel.start_ns, sel.end_ns);
        src.chunks.sort_by_key(|(_, c)| (c.min_ts, c.max_ts));
        src.head.sort_by_key(|l| l.ts);
        let mut head = src.head.into_iter().peekable();
        let mut chunks = src.chunks.into_iter().peekable();
        loop {
            // The next run: starts with the earliest source, takes every source that
            // begins at or before the run's end so far.
            let first_chunk = chunks.peek().map(|(_, c)| c.min_ts);
            let first_head = head.peek().map(|l| l.ts);
            let (mut end, mut run_chunks, mut run_head) = match (first_chunk, first_head) {
                (None, None) => return Ok(true),
                (Some(c), h) if h.is_none_or(|h| c <= h) => {
                    let Some((p, c)) = chunks.next() else {
                        return Ok(true);
                    };
                    (c.max_ts, vec![(p, c)], Vec::new())
                }
                _ => {
                    let Some(l) = head.next() else {
                        return Ok(true);
                    };
                    (l.ts, Vec::new(), vec![l])
                }
            };
            loop {
                if let Some((_, c)) = chunks.peek() {
                    if c.min_ts <= end {
                        if let Some((p, c)) = chunks.next() {
                            end = end.max(c.max_ts);
                            run_chunks.push((p, c));
                        }
                        continue;
                    }
                }
                if let Some(l) = head.peek() {
                    if l.ts <= end {
                        if let Some(l) = head.next() {
                            run_head.push(l);
                        }
                        continue;
                    }
                }
                break;
            }
            if sel.cancelled() {
                return Ok(false);
            }
            batch.clear();
            if run_head.is_empty() && run_chunks.len() == 1 {
                let (p, c) = &run_chunks[0];
                let s = p.chunks.read_sizes(c.offset, c.len, c.raw, c.lines)?;
                if !s.has_meta && !may_repeat(&s.ts, &s.len) {
                    let a = s.ts.partition_point(|&t| t < lo);
                    let b = s.ts.partition_point(|&t| t < hi);
                    batch.extend((a..b).map(|i| LineSize {
                        ts_ns: s.ts[i],
                        len: s.len[i] as usize,
                        metadata: Vec::new(),
                    }));
                    if !self.give(labels, batch, f) {
                        return Ok(false);
                    }
                    continue;
                }
            }
            // Read in full and dedup by (ts, line), as the full read's `Repeats` does. When
            // copies differ in metadata, the full read keeps a chunk's copy over the head's
            // (and between chunks, whichever its merge puts first); so does this, by putting
            // the head's lines last before a stable sort.
            let mut lines = Vec::new();
            for (p, c) in &run_chunks {
                if sel.cancelled() {
                    return Ok(false);
                }
                let chunk = p.read_chunk(c)?;
                let a = chunk.ts.partition_point(|&t| t < lo);
                let b = chunk.ts.partition_point(|&t| t < hi);
                lines.extend((a..b).map(|i| Full {
                    ts: chunk.ts[i],
                    line: chunk.line(i).to_string(),
                    metadata: chunk.metadata(i),
                }));
            }
            lines.extend(run_head);
            lines.sort_by(|x, y| x.ts.cmp(&y.ts).then_with(|| x.line.cmp(&y.line)));
            lines.dedup_by(|x, y| x.ts == y.ts && x.line == y.line);
            batch.extend(lines.into_iter().map(|l| LineSize {
                ts_ns: l.ts,
                len: l.line.len(),
                metadata: l.metadata,
            }));
            if !self.give(labels, batch, f) {
                return Ok(false);
            }
        }
    }

    /// Hands a batch to the reader, counting its lines as fetched.
    fn give(
        &self,
        labels: &Arc<Labels>,
        batch: &[LineSize],
        f: &mut dyn FnMut(&Arc<Labels>, &[LineSize]) -> bool,
    ) -> bool {
        if batch.is_empty() {
            return true;
        }
        self.counters
            .lines
            .fetch_add(batch.len() as u64, AtomicOrdering::Relaxed);
        f(labels, batch)
    }
}

/// Whether two lines of a chunk (sorted by time) have the same time and length, so may be
/// copies of one entry. A commit sorts by (time, line) and dedups, so this is false but
/// for lines that differ in text only; it is checked rather than assumed so that an exact
/// answer does not rest on how every past version wrote its chunks.
fn may_repeat(ts: &[i64], len: &[u32]) -> bool {
    if !ts.windows(2).any(|w| w[0] == w[1]) {
        return false;
    }
    let mut i = 0;
    while i < ts.len() {
        let mut j = i + 1;
        while j < ts.len() && ts[j] == ts[i] {
            j += 1;
        }
        if j - i > 1 {
            let mut run = len[i..j].to_vec();
            run.sort_unstable();
            if run.windows(2).any(|w| w[0] == w[1]) {
                return true;
            }
        }
        i = j;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogOptions;
    use crate::model::{LogRecord, LogStream, MatchOp, Matcher};
    use crate::Clock;

    /// (stream, ts, len, metadata) of every line, sorted.
    type Seen = Vec<(String, i64, usize, Vec<(String, String)>)>;

    fn by_sizes(logs: &LogEngine, sel: &LogSelect) -> Seen {
        let mut out = Seen::new();
        logs.sizes(sel, &mut |s, b| {
            out.extend(
                b.iter()
                    .map(|l| (s.to_string(), l.ts_ns, l.len, l.metadata.clone())),
            );
            true
        })
        .unwrap();
        out.sort();
        out
    }

    fn by_select(logs: &LogEngine, sel: &LogSelect) -> Seen {
        let mut out = Seen::new();
        logs.select(sel, &mut |h| {
            out.push((h.stream.to_string(), h.ts_ns, h.line.len(), h.metadata));
            true
        })
        .unwrap();
        out.sort();
        out
    }

    #[test]
    fn lines_of_one_time_and_length_may_repeat_wherever_they_stand() {
        assert!(!may_repeat(&[1, 1, 2, 3], &[2, 3, 2, 2]));
        assert!(may_repeat(&[1, 1, 1, 3], &[2, 3, 2, 2]));
        assert!(may_repeat(&[5, 5], &[0, 0]));
        assert!(!may_repeat(&[], &[]));
    }

    /// Out-of-order pushes with repeats (in the head, across commits, head over chunks),
    /// lines of equal time and length but other text, metadata, several partitions: the
    /// size read yields exactly the entries the full read does.
    #[test]
    fn sizes_are_the_full_reads_entries() {
        let dir = tempfile::tempdir().unwrap();
        let logs = LogEngine::open(
            dir.path(),
            LogOptions {
                partition: 100,
                commit_interval: i64::MAX,
                clock: Clock::fixed(1_000),
                ..Default::default()
            },
        )
        .unwrap();
        let mut seed = 3u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            (seed >> 33) % n
        };
        let texts = ["aa", "bb", "abc", "", "a longer line"];
        let sels = [
            LogSelect {
                start_ns: 0,
                end_ns: 400,
                ..Default::default()
            },
            LogSelect {
                matchers: vec![Matcher::new(MatchOp::RegexMatch, "job", "a|c").unwrap()],
                start_ns: 37,
                end_ns: 251,
                ..Default::default()
            },
        ];
        for round in 0..6 {
            let mut batch = Vec::new();
            for job in ["a", "b", "c"] {
                let records = (0..200)
                    .map(|_| {
                        let line = texts[next(texts.len() as u64) as usize];
                        LogRecord {
                            ts_ns: next(400) as i64,
                            line: line.into(),
                            metadata: if job == "c" && line == "abc" {
                                vec![("k".into(), "v".into())]
                            } else {
                                vec![]
                            },
                        }
                    })
                    .collect();
                batch.push(LogStream {
                    labels: Labels::from_pairs([("job", job)]),
                    records,
                });
            }
            logs.append(&batch[..]).unwrap();
            if round % 2 == 1 {
                logs.append(&batch[..]).unwrap();
            }
            for sel in &sels {
                assert_eq!(by_sizes(&logs, sel), by_select(&logs, sel), "round {round}");
            }
            if round % 3 != 2 {
                logs.commit().unwrap();
            }
            for sel in &sels {
                assert_eq!(by_sizes(&logs, sel), by_select(&logs, sel), "round {round}");
            }
        }
        // In-order lines, one commit each: chunks that do not overlap, read by their
        // columns alone.
        for i in 0..3 {
            logs.append(&[LogStream {
                labels: Labels::from_pairs([("job", "d")]),
                records: (0..50)
                    .map(|t| LogRecord {
                        ts_ns: 400 + i * 50 + t,
                        line: "x".repeat(t as usize),
                        metadata: vec![],
                    })
                    .collect(),
            }])
            .unwrap();
            logs.commit().unwrap();
        }
        let sel = LogSelect {
            matchers: vec![Matcher::equal("job", "d")],
            start_ns: 420,
            end_ns: 530,
            ..Default::default()
        };
        let got = by_sizes(&logs, &sel);
        assert_eq!(got.len(), 110);
        assert_eq!(got, by_select(&logs, &sel));
    }
}
