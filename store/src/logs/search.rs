//! Reading partitions: a select's hits in direction order without reading the whole range.
//!
//! Partitions hold disjoint time ranges, so they are searched one at a time, newest first
//! for a backward read (oldest first for forward), and the read stops once the limit is
//! met. Within a partition the candidate chunks are those of matching streams whose time
//! range meets the select's and, when a filter requires tokens, whose indexed terms have
//! them (one tantivy query). Candidates are opened newest (oldest) first; each yields at
//! most the hits the read still needs; a hit is emitted once no unopened chunk can hold
//! one before it, so a limit-100 read opens the few newest chunks, not the partition.
//!
//! Order: time, then stream labels, then the line (all reversed for backward), so equal
//! timestamps come out the same way every time, and entries equal in all three (a batch a
//! client sent again because it crashed before it saw the acknowledgement) come out next
//! to each other, where [`Repeats`] drops all but the first, as Loki's querier does.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;

use tantivy::collector::DocSetCollector;
use tantivy::query::{BooleanQuery, Occur, Query, RegexQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

use super::chunk::Chunk;
use super::filter::{filter_needs, Filter, Need, Target};
use super::head::stream_matches;
use super::hex_probe::HexProbe;
use super::id_filter;
use super::partition::{ChunkRef, Partition};
use super::schema::{self, Fields, FRAGS_VERSION, LONG_TOKEN};
use super::ReadCounters;
use crate::error::{Error, Result};
use crate::model::{Direction, Labels, LineFilter, LogHit, LogSelect, Matcher};

/// The order hits come out in.
pub(super) fn cmp_hits(a: &LogHit, b: &LogHit, dir: Direction) -> Ordering {
    let o = a
        .ts_ns
        .cmp(&b.ts_ns)
        .then_with(|| a.stream.cmp(&b.stream))
        .then_with(|| a.line.cmp(&b.line));
    match dir {
        Direction::Forward => o,
        Direction::Backward => o.reverse(),
    }
}

/// Whether two hits are the same entry: stream, timestamp and line (Loki's identity of an
/// entry; structured metadata is not part of it).
pub(super) fn same_entry(a: &LogHit, b: &LogHit) -> bool {
    a.ts_ns == b.ts_ns
        && a.line == b.line
        && (Arc::ptr_eq(&a.stream, &b.stream) || a.stream == b.stream)
}

/// The last hit emitted, to drop its repeats: a stream in order holds an entry's copies
/// next to each other. The line is copied into a buffer kept across hits, so this costs
/// no allocation per hit.
#[derive(Default)]
pub(super) struct Repeats {
    last: Option<(i64, Arc<Labels>)>,
    line: String,
}

impl Repeats {
    /// True when `h` repeats the hit before it; otherwise remembers `h`.
    pub(super) fn repeat(&mut self, h: &LogHit) -> bool {
        if let Some((ts, stream)) = &self.last {
            if *ts == h.ts_ns
                && self.line == h.line
                && (Arc::ptr_eq(stream, &h.stream) || **stream == *h.stream)
            {
                return true;
            }
        }
        self.last = Some((h.ts_ns, h.stream.clone()));
        self.line.clear();
        self.line.push_str(&h.line);
        false
    }
}

/// A select compiled once for every partition it visits.
pub(super) struct Compiled<'a> {
    pub sel: &'a LogSelect,
    pub filters: Vec<Filter>,
    /// One index query per narrowing filter; a candidate must match all. For partitions
    /// before [`FRAGS_VERSION`].
    narrowing: Vec<Box<dyn Query>>,
    /// The same for partitions from [`FRAGS_VERSION`] on.
    split: Vec<SplitNarrowing>,
    /// One index query per narrowing label equality, for partitions with label terms.
    label_narrowing: Vec<Box<dyn Query>>,
    /// The hex runs of the positive substring filters, looked for in a format 4 chunk's
    /// packed hex digits before it is decompressed (`hex_probe.rs`).
    hex: Vec<HexProbe>,
}

impl<'a> Compiled<'a> {
    pub(super) fn new(sel: &'a LogSelect, fields: Fields) -> Result<Compiled<'a>> {
        let line = fields.terms;
        let filters = sel
            .filters
            .iter()
            .map(Filter::compile)
            .collect::<Result<Vec<_>>>()?;
        let mut narrowing = Vec::new();
        let mut split = Vec::new();
        for f in &sel.filters {
            if let Some(alts) = filter_needs(f, false) {
                narrowing.push(alternatives_query(fields, &alts)?);
            }
            if let Some(alts) = filter_needs(f, true) {
                split.push(SplitNarrowing::new(fields, &alts)?);
            }
        }
        let mut label_narrowing = Vec::new();
        for (name, value) in &sel.label_eq {
            // `name=""` also matches lines without the label: nothing to require.
            if value.is_empty() {
                continue;
            }
            let (Some(t), Some(u)) = (
                schema::label_term(name, value),
                schema::label_unindexed_term(name),
            ) else {
                continue;
            };
            let term = |t: &str| -> Box<dyn Query> {
                Box::new(TermQuery::new(
                    Term::from_field_text(line, t),
                    IndexRecordOption::Basic,
                ))
            };
            label_narrowing.push(Box::new(BooleanQuery::new(vec![
                (Occur::Should, term(&t)),
                (Occur::Should, term(&u)),
            ])) as Box<dyn Query>);
        }
        let hex = sel
            .filters
            .iter()
            .filter_map(|f| match f {
                LineFilter::Contains(s) => HexProbe::of(s),
                _ => None,
            })
            .collect();
        Ok(Compiled {
            sel,
            filters,
            narrowing,
            split,
            label_narrowing,
            hex,
        })
    }
}

/// Format 4's narrowing by one filter: an index query over `frags`, and the whole id-like
/// tokens a chunk's id filter must hold; each None when some alternative needs nothing
/// of it. A chunk must pass both (when present); passing them through different
/// alternatives only keeps a few more candidates, which the exact check removes.
struct SplitNarrowing {
    query: Option<Box<dyn Query>>,
    /// Per alternative, the ids it needs.
    ids: Option<Vec<Vec<String>>>,
}

impl SplitNarrowing {
    fn new(fields: Fields, alts: &[Vec<(Target, Need)>]) -> Result<SplitNarrowing> {
        let frags: Vec<Vec<(Target, Need)>> = alts
            .iter()
            .map(|a| {
                a.iter()
                    .filter(|(t, _)| *t == Target::Frags)
                    .cloned()
                    .collect()
            })
            .collect();
        let ids: Vec<Vec<String>> = alts
            .iter()
            .map(|a| {
                a.iter()
                    .filter_map(|(t, n)| match (t, n) {
                        (Target::Terms, Need::Term(id)) => Some(id.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        Ok(SplitNarrowing {
            query: if frags.iter().all(|a| !a.is_empty()) {
                Some(alternatives_query(fields, &frags)?)
            } else {
                None
            },
            ids: ids.iter().all(|a| !a.is_empty()).then_some(ids),
        })
    }
}

/// The index field of a need's target.
fn target_field(fields: Fields, target: Target) -> Result<Field> {
    match target {
        Target::Terms => Ok(fields.terms),
        Target::Frags => fields
            .frags
            .ok_or_else(|| Error::BadInput("the log index schema lacks the frags field".into())),
    }
}

fn need_query(line: Field, need: &Need) -> Result<Box<dyn Query>> {
    let regex = |pattern: String| -> Result<Box<dyn Query>> {
        RegexQuery::from_pattern(&pattern, line)
            .map(|q| Box::new(q) as Box<dyn Query>)
            .map_err(|e| Error::BadInput(format!("cannot search the index for {pattern:?}: {e}")))
    };
    let term = |t: &str| -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(line, t),
            IndexRecordOption::Basic,
        ))
    };
    let or_long = |q: Box<dyn Query>| -> Box<dyn Query> {
        Box::new(BooleanQuery::new(vec![
            (Occur::Should, q),
            (Occur::Should, term(LONG_TOKEN)),
        ]))
    };
    Ok(match need {
        Need::Term(t) => term(t),
        Need::Prefix(t) => regex(format!("{}.*", regex_syntax::escape(t)))?,
        Need::Suffix(t) => or_long(regex(format!(".*{}", regex_syntax::escape(t)))?),
        Need::Infix(t) => or_long(regex(format!(".*{}.*", regex_syntax::escape(t)))?),
    })
}

/// A line matching one of `alts` (each: all of its needs).
fn alternatives_query(fields: Fields, alts: &[Vec<(Target, Need)>]) -> Result<Box<dyn Query>> {
    let mut should = Vec::with_capacity(alts.len());
    for needs in alts {
        let must = needs
            .iter()
            .map(|(t, n)| Ok((Occur::Must, need_query(target_field(fields, *t)?, n)?)))
            .collect::<Result<Vec<_>>>()?;
        should.push((
            Occur::Should,
            Box::new(BooleanQuery::new(must)) as Box<dyn Query>,
        ));
    }
    Ok(Box::new(BooleanQuery::new(should)))
}

/// A hit in a heap that pops hits in direction order.
/// The next hit of one opened chunk (its index in the run list), ordered for a min-heap.
struct Next(LogHit, Direction, usize);

impl PartialEq for Next {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Next {}
impl PartialOrd for Next {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Next {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_hits(&other.0, &self.0, self.1)
    }
}

/// The partition's chunks that may hold a hit of `q` in `[lo, hi)`: matching stream,
/// overlapping time range, (when the filters require tokens) the tokens indexed, and (from
/// format 4, when they require whole ids) the ids in the chunks' id filters.
fn candidates(p: &Partition, q: &Compiled<'_>, lo: i64, hi: i64) -> Result<Vec<ChunkRef>> {
    let keep = |c: &ChunkRef| {
        c.min_ts < hi && lo <= c.max_ts && stream_matches(&c.stream, &q.sel.matchers)
    };
    let split = p.meta.format_version >= FRAGS_VERSION;
    let mut narrowing: Vec<(Occur, Box<dyn Query>)> = if split {
        q.split
            .iter()
            .filter_map(|n| n.query.as_ref())
            .map(|b| (Occur::Must, b.box_clone()))
            .collect()
    } else {
        q.narrowing
            .iter()
            .map(|b| (Occur::Must, b.box_clone()))
            .collect()
    };
    if p.meta.format_version >= schema::LABEL_TERMS_VERSION {
        narrowing.extend(
            q.label_narrowing
                .iter()
                .map(|b| (Occur::Must, b.box_clone())),
        );
    }
    let mut cands = index_candidates(p, narrowing, &keep)?;
    if split {
        let ids: Vec<&Vec<Vec<String>>> = q.split.iter().filter_map(|n| n.ids.as_ref()).collect();
        if !ids.is_empty() {
            let mut kept = Vec::with_capacity(cands.len());
            for c in cands {
                let Some((offset, len)) = c.ids else {
                    kept.push(c);
                    continue;
                };
                let filter = p.chunks.read_at(offset, len)?;
                let holds = |alts: &&Vec<Vec<String>>| {
                    alts.iter()
                        .any(|a| a.iter().all(|id| id_filter::may_contain(&filter, id)))
                };
                if ids.iter().all(holds) {
                    kept.push(c);
                }
            }
            cands = kept;
        }
    }
    Ok(cands)
}

/// The partition's chunks that `keep` keeps and that match every query of `narrowing`.
fn index_candidates(
    p: &Partition,
    narrowing: Vec<(Occur, Box<dyn Query>)>,
    keep: &dyn Fn(&ChunkRef) -> bool,
) -> Result<Vec<ChunkRef>> {
    if narrowing.is_empty() {
        return Ok(p
            .catalog
            .read()
            .iter()
            .filter(|c| keep(c))
            .cloned()
            .collect());
    }
    let searcher = p.searcher();
    let query = BooleanQuery::new(narrowing);
    let docs = searcher
        .search(&query, &DocSetCollector)
        .map_err(Error::index("searching a log partition", &p.dir))?;
    let mut columns = std::collections::HashMap::new();
    let mut out = Vec::new();
    for addr in docs {
        let col = match columns.entry(addr.segment_ord) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                searcher
                    .segment_reader(addr.segment_ord)
                    .fast_fields()
                    .u64("offset")
                    .map_err(Error::index("reading chunk offsets", &p.dir))?,
            ),
        };
        let Some(offset) = col.first(addr.doc_id) else {
            continue;
        };
        let c = p.chunk_at(offset).ok_or_else(|| Error::Corrupt {
            what: "log partition",
            path: p.dir.clone(),
            detail: format!("the index names a chunk at {offset} the catalog lacks"),
        })?;
        if keep(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// The chunk `c`, or None when a format 4 chunk's packed hex digits lack one of `hex` and
/// its id filter says every hex run of its lines is among them (`hex_probe.rs`): then no
/// line holds it. The filter stands just before the chunk, so both come in one read.
fn read_unless_ruled_out(
    p: &Partition,
    c: &ChunkRef,
    hex: &[HexProbe],
    counters: &ReadCounters,
) -> Result<Option<Chunk>> {
    let Some((at, len)) = c
        .ids
        .filter(|&(at, len)| !hex.is_empty() && at + len == c.offset)
    else {
        counters.chunks.fetch_add(1, AtomicOrdering::Relaxed);
        return p.read_chunk(c).map(Some);
    };
    let buf = p.chunks.read_at(at, len + c.len)?;
    let (filter, blob) = buf.split_at(len as usize);
    if !id_filter::may_hold_long_ids(filter) {
        if let Some(tail) = p.chunks.v4_tail(c.offset, blob)? {
            if !hex.iter().all(|h| h.found_in(tail)) {
                counters.ruled_out.fetch_add(1, AtomicOrdering::Relaxed);
                return Ok(None);
            }
        }
    }
    counters.chunks.fetch_add(1, AtomicOrdering::Relaxed);
    p.chunks.decode(c.offset, blob, c.raw).map(Some)
}

/// Searches one partition, giving each hit in order to `emit` until it returns false
/// (then returns false). `want` is how many hits the read still needs (0: all).
pub(super) fn search_partition(
    p: &Partition,
    q: &Compiled<'_>,
    want: usize,
    counters: &ReadCounters,
    emit: &mut dyn FnMut(LogHit) -> bool,
) -> Result<bool> {
    let sel = q.sel;
    let (lo, hi) = (
        sel.start_ns.max(p.meta.start_ns),
        sel.end_ns.min(p.meta.end_ns),
    );
    if lo >= hi {
        return Ok(true);
    }
    let mut cands = candidates(p, q, lo, hi)?;
    if cands.is_empty() {
        return Ok(true);
    }
    counters.partitions.fetch_add(1, AtomicOrdering::Relaxed);
    let dir = sel.direction;
    let backward = dir == Direction::Backward;
    if backward {
        cands.sort_by_key(|c| std::cmp::Reverse(c.max_ts));
    } else {
        cands.sort_by_key(|c| c.min_ts);
    }
    // A k-way merge: each opened chunk's hits are one sorted run, and the heap holds the
    // next hit of each run, so it stays as small as the number of open chunks.
    let mut runs: Vec<std::vec::IntoIter<LogHit>> = Vec::new();
    let mut heap = BinaryHeap::new();
    let mut hits = Vec::new();
    for (i, c) in cands.iter().enumerate() {
        if sel.cancelled() {
            return Ok(false);
        }
        // A chunk ruled out has no hits, but what it would have let out still goes below.
        if let Some(chunk) = read_unless_ruled_out(p, c, &q.hex, counters)? {
            chunk.hits(
                &c.stream,
                &q.filters,
                &sel.label_eq,
                lo,
                hi,
                backward,
                want,
                counters,
                &mut hits,
            );
        }
        if !hits.is_empty() {
            // Already in order but for ties; a stable sort of a sorted run is one pass.
            hits.sort_by(|a, b| cmp_hits(a, b, dir));
            let mut run = std::mem::take(&mut hits).into_iter();
            if let Some(h) = run.next() {
                heap.push(Next(h, dir, runs.len()));
            }
            runs.push(run);
        }
        // Emit what no unopened chunk can precede.
        let next = cands.get(i + 1);
        while let Some(top) = heap.peek() {
            let ready = match next {
                None => true,
                Some(n) if backward => top.0.ts_ns > n.max_ts,
                Some(n) => top.0.ts_ns < n.min_ts,
            };
            if !ready {
                break;
            }
            let Some(Next(h, _, r)) = heap.pop() else {
                break;
            };
            if let Some(n) = runs[r].next() {
                heap.push(Next(n, dir, r));
            }
            if !emit(h) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The partition's streams matching `matchers` with a line in `[start_ns, end_ns)`.
pub(super) fn partition_streams(
    p: &Partition,
    matchers: &[Matcher],
    start_ns: i64,
    end_ns: i64,
    out: &mut Vec<Arc<Labels>>,
) -> Result<()> {
    let (lo, hi) = (start_ns.max(p.meta.start_ns), end_ns.min(p.meta.end_ns));
    if lo >= hi {
        return Ok(());
    }
    let cands: Vec<ChunkRef> = p
        .catalog
        .read()
        .iter()
        .filter(|c| c.min_ts < hi && lo <= c.max_ts && stream_matches(&c.stream, matchers))
        .cloned()
        .collect();
    let mut found: Vec<Arc<Labels>> = Vec::new();
    for c in cands {
        if found.contains(&c.stream) {
            continue;
        }
        // A chunk wholly inside the range has a line in it; one that straddles an end is
        // looked into.
        if (lo <= c.min_ts && c.max_ts < hi) || p.read_chunk(&c)?.any_in(lo, hi) {
            found.push(c.stream);
        }
    }
    out.extend(found);
    Ok(())
}
