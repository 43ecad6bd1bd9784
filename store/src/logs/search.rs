//! Reading partitions: a select's hits in direction order without reading the whole range.
//!
//! Partitions hold disjoint time ranges, so they are searched one at a time, newest first
//! for a backward read (oldest first for forward), and the read stops once the limit is
//! met. Within a partition the index query (matching streams as exact terms, the line
//! filters' required tokens, a time window) yields the top `k` candidates by the `ts` fast
//! field; only those lines are fetched from the docstore and checked against every filter.
//! The window starts at the newest (oldest) 1/64 of the partition's range and grows
//! eightfold while it comes back short, and `k` grows when candidates fail their check, so a
//! limit-100 read of a busy partition touches a few hundred lines, not the partition.
//!
//! Order: time, then stream labels, then the line (all reversed for backward), so equal
//! timestamps come out the same way every time.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;

use tantivy::collector::{Count, TopDocs};
use tantivy::columnar::StrColumn;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, RegexQuery, TermQuery, TermSetQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

use super::filter::{filter_needs, Filter, Need};
use super::head::stream_matches;
use super::partition::Partition;
use super::schema::{self, Fields, LONG_TOKEN};
use super::ReadCounters;
use crate::error::{Error, Result};
use crate::model::{Direction, Labels, LogHit, LogSelect, Matcher};

/// Fewest and most candidates one round of a partition asks the index for.
const MIN_K: usize = 64;
const MAX_K: usize = 1 << 16;
/// Candidates per round when the read has no limit.
const UNLIMITED_K: usize = 8192;

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

/// A select compiled once for every partition it visits.
pub(super) struct Compiled<'a> {
    pub sel: &'a LogSelect,
    pub filters: Vec<Filter>,
    /// One index query per narrowing filter; a candidate must match all.
    narrowing: Vec<Box<dyn Query>>,
}

impl<'a> Compiled<'a> {
    pub(super) fn new(sel: &'a LogSelect, line: Field) -> Result<Compiled<'a>> {
        let filters = sel
            .filters
            .iter()
            .map(Filter::compile)
            .collect::<Result<Vec<_>>>()?;
        let mut narrowing = Vec::new();
        for f in &sel.filters {
            if let Some(alts) = filter_needs(f) {
                narrowing.push(alternatives_query(line, &alts)?);
            }
        }
        Ok(Compiled {
            sel,
            filters,
            narrowing,
        })
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
fn alternatives_query(line: Field, alts: &[Vec<Need>]) -> Result<Box<dyn Query>> {
    let mut should = Vec::with_capacity(alts.len());
    for needs in alts {
        let must = needs
            .iter()
            .map(|n| Ok((Occur::Must, need_query(line, n)?)))
            .collect::<Result<Vec<_>>>()?;
        should.push((
            Occur::Should,
            Box::new(BooleanQuery::new(must)) as Box<dyn Query>,
        ));
    }
    Ok(Box::new(BooleanQuery::new(should)))
}

fn ts_range(ts: Field, lo: i64, hi: i64) -> Box<dyn Query> {
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_i64(ts, lo)),
        Bound::Excluded(Term::from_field_i64(ts, hi)),
    ))
}

/// The partition's streams matching `matchers`: None when every stream matches (no
/// stream clause needed), else their terms and labels.
fn matching_streams(p: &Partition, matchers: &[Matcher]) -> Option<Vec<(String, Arc<Labels>)>> {
    if matchers.is_empty() {
        return None;
    }
    Some(
        p.streams
            .read()
            .iter()
            .filter(|(_, l)| stream_matches(l, matchers))
            .map(|(t, l)| (t.clone(), l.clone()))
            .collect(),
    )
}

/// Reads a hit's stream labels through the `stream` fast field, caching per segment.
struct StreamOf<'s> {
    searcher: &'s Searcher,
    field: &'static str,
    columns: HashMap<u32, Option<StrColumn>>,
    labels: HashMap<(u32, u64), Arc<Labels>>,
    known: &'s HashMap<String, Arc<Labels>>,
    buf: String,
}

impl StreamOf<'_> {
    fn get(&mut self, addr: DocAddress) -> Option<Arc<Labels>> {
        let col = self
            .columns
            .entry(addr.segment_ord)
            .or_insert_with(|| {
                self.searcher
                    .segment_reader(addr.segment_ord)
                    .fast_fields()
                    .str(self.field)
                    .ok()
                    .flatten()
            })
            .as_ref()?;
        let ord = col.term_ords(addr.doc_id).next()?;
        if let Some(l) = self.labels.get(&(addr.segment_ord, ord)) {
            return Some(l.clone());
        }
        self.buf.clear();
        col.ord_to_str(ord, &mut self.buf).ok()?;
        let l = match self.known.get(&self.buf) {
            Some(l) => l.clone(),
            None => schema::parse_stream_term(&self.buf)?,
        };
        self.labels.insert((addr.segment_ord, ord), l.clone());
        Some(l)
    }
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
    let fields = p.fields;
    let mut base: Vec<Box<dyn Query>> = q.narrowing.iter().map(|b| b.box_clone()).collect();
    let streams = matching_streams(p, &sel.matchers);
    if let Some(s) = &streams {
        if s.is_empty() {
            return Ok(true);
        }
        let terms = s
            .iter()
            .map(|(t, _)| Term::from_field_text(fields.stream, t));
        base.push(Box::new(TermSetQuery::new(terms)));
    }
    let searcher = p.searcher();
    if searcher.num_docs() == 0 {
        return Ok(true);
    }
    counters.partitions.fetch_add(1, AtomicOrdering::Relaxed);
    let known = p.streams.read().clone();
    let mut stream_of = StreamOf {
        searcher: &searcher,
        field: "stream",
        columns: HashMap::new(),
        labels: HashMap::new(),
        known: &known,
        buf: String::new(),
    };
    let backward = sel.direction == Direction::Backward;
    let mut w = ((hi - lo) / 64).max(1);
    let mut k = if want == 0 {
        UNLIMITED_K
    } else {
        want.saturating_mul(2).clamp(MIN_K, MAX_K)
    };
    let (mut cur_lo, mut cur_hi) = (lo, hi);
    while cur_lo < cur_hi {
        if sel.cancelled() {
            return Ok(false);
        }
        let (rlo, rhi) = if backward {
            (cur_lo.max(cur_hi.saturating_sub(w)), cur_hi)
        } else {
            (cur_lo, cur_hi.min(cur_lo.saturating_add(w)))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            base.iter().map(|b| (Occur::Must, b.box_clone())).collect();
        clauses.push((Occur::Must, ts_range(fields.ts, rlo, rhi)));
        let query = BooleanQuery::new(clauses);
        let order = if backward { Order::Desc } else { Order::Asc };
        let mut cands: Vec<(Option<i64>, DocAddress)> = searcher
            .search(
                &query,
                &TopDocs::with_limit(k).order_by_fast_field::<i64>("ts", order),
            )
            .map_err(Error::index("searching a log partition", &p.dir))?;
        let full = cands.len() == k;
        let mut boundary = None;
        if full {
            let b = cands.last().and_then(|c| c.0);
            cands.retain(|c| c.0 != b);
            if cands.is_empty() {
                // Every candidate shares one timestamp: ask for more at once.
                k = k.saturating_mul(8);
                continue;
            }
            boundary = b;
        }
        let n = cands.len();
        counters.lines.fetch_add(n as u64, AtomicOrdering::Relaxed);
        let mut hits = Vec::with_capacity(n);
        for (ts, addr) in cands {
            if sel.cancelled() {
                return Ok(false);
            }
            let Some(ts) = ts else { continue };
            if let Some(h) = fetch(&searcher, &fields, q, &mut stream_of, ts, addr, &p.dir)? {
                hits.push(h);
            }
        }
        let confirmed = hits.len();
        hits.sort_by(|a, b| cmp_hits(a, b, sel.direction));
        for h in hits {
            if !emit(h) {
                return Ok(false);
            }
        }
        match boundary {
            Some(b) => {
                if backward {
                    cur_hi = b.saturating_add(1).min(cur_hi);
                } else {
                    cur_lo = b.max(cur_lo);
                }
                if confirmed < n / 4 {
                    k = k.saturating_mul(4).min(MAX_K);
                }
            }
            None => {
                if backward {
                    cur_hi = rlo;
                } else {
                    cur_lo = rhi;
                }
                w = w.saturating_mul(8);
            }
        }
    }
    Ok(true)
}

/// Reads a candidate and checks it against every filter.
fn fetch(
    searcher: &Searcher,
    fields: &Fields,
    q: &Compiled<'_>,
    stream_of: &mut StreamOf<'_>,
    ts: i64,
    addr: DocAddress,
    dir: &std::path::Path,
) -> Result<Option<LogHit>> {
    let doc: TantivyDocument = searcher
        .doc(addr)
        .map_err(Error::index("reading a stored log line", dir))?;
    let line = doc
        .get_first(fields.line)
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if !q.filters.iter().all(|f| f.keeps(line)) {
        return Ok(None);
    }
    let Some(stream) = stream_of.get(addr) else {
        return Err(Error::Corrupt {
            what: "log partition",
            path: dir.to_path_buf(),
            detail: format!("the line at {addr:?} has no stream"),
        });
    };
    let metadata = doc
        .get_first(fields.meta)
        .and_then(|v| v.as_bytes())
        .map(schema::decode_meta)
        .unwrap_or_default();
    Ok(Some(LogHit {
        stream,
        ts_ns: ts,
        line: line.to_string(),
        metadata,
    }))
}

/// The partition's streams matching `matchers` with a line in `[start_ns, end_ns)`.
pub(super) fn partition_streams(
    p: &Partition,
    matchers: &[Matcher],
    start_ns: i64,
    end_ns: i64,
    out: &mut Vec<Arc<Labels>>,
) -> Result<()> {
    let all: Vec<(String, Arc<Labels>)> = p
        .streams
        .read()
        .iter()
        .filter(|(_, l)| stream_matches(l, matchers))
        .map(|(t, l)| (t.clone(), l.clone()))
        .collect();
    if start_ns <= p.meta.start_ns && p.meta.end_ns <= end_ns {
        out.extend(all.into_iter().map(|(_, l)| l));
        return Ok(());
    }
    let (lo, hi) = (start_ns.max(p.meta.start_ns), end_ns.min(p.meta.end_ns));
    if lo >= hi {
        return Ok(());
    }
    let searcher = p.searcher();
    for (t, l) in all {
        let q = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(p.fields.stream, &t),
                    IndexRecordOption::Basic,
                )) as Box<dyn Query>,
            ),
            (Occur::Must, ts_range(p.fields.ts, lo, hi)),
        ]);
        let n = searcher
            .search(&q, &Count)
            .map_err(Error::index("counting a stream's lines", &p.dir))?;
        if n > 0 {
            out.push(l);
        }
    }
    Ok(())
}
