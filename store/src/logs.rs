//! The log engine: one tenant's logs in tantivy indexes, one per time partition, fed
//! through a WAL.
//!
//! Write path: an append is logged to the WAL (so it survives a crash once acknowledged),
//! then kept in the head, which every read scans, so a line is searchable as soon as its
//! append returns. When the head holds `commit_bytes` or is `commit_interval` old (and at
//! every maintenance round) it is committed: its lines go into the partitions their
//! timestamps fall in (created as needed, so lines of any age are accepted), each
//! partition commit recording the WAL segment before which it holds everything, and the
//! WAL is truncated. One index writer is open per tenant at a time (`writer_heap` bytes),
//! so memory does not grow with the number of partitions written.
//!
//! Read path: `search.rs`. Layout on disk: `store/FORMAT.md`, "Logs".

mod chunk;
mod columns;
mod digits;
mod filter;
mod head;
mod hex_probe;
mod id_filter;
mod key_cache;
mod partition;
mod schema;
mod search;
mod shapes;
mod sizes;
mod stamp;
pub(crate) mod stats;
mod zstd_ctx;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tantivy::{IndexWriter, TantivyDocument};

use self::head::{Head, Stream};
use self::partition::{ChunkRef, Partition, META_FILE};
use self::search::{cmp_hits, same_entry, Compiled, Repeats};
use crate::clock::Clock;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::{Direction, Labels, LogHit, LogRecord, LogSelect, LogStream, Matcher};
use crate::wal::{Record, Wal, WalOptions};

pub use self::schema::FORMAT_VERSION as LOG_FORMAT_VERSION;
pub use self::stats::{LogStorageStats, NameCount};

const NS_PER_MS: i64 = 1_000_000;
const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// The log engine's knobs.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Length of a time partition, ns (one day by default; see FORMAT.md).
    pub partition: i64,
    /// The head is committed once it holds this many bytes of lines...
    pub commit_bytes: usize,
    /// ... or its oldest line is this old, ms.
    pub commit_interval: i64,
    /// Indexing memory of the tenant's one index writer, bytes (tantivy's floor is 15 MB).
    pub writer_heap: usize,
    /// Set from the metrics options when the tenant opens ([`LogOptions::inherit`]):
    /// partitions wholly older than this before the clock's now are dropped, ms (0: keep).
    pub retention_time: i64,
    /// Oldest partitions are dropped while partitions and WAL exceed this (0: no limit).
    pub retention_size: u64,
    pub clock: Clock,
    pub wal: WalOptions,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            partition: DAY_NS,
            commit_bytes: 16 << 20,
            commit_interval: 10_000,
            writer_heap: 32 << 20,
            retention_time: 0,
            retention_size: 0,
            clock: Clock::system(),
            wal: WalOptions::default(),
        }
    }
}

impl LogOptions {
    /// These options with the clock and retention of the tenant's metrics
    /// (`retention.time`, `retention.size` apply to each engine).
    pub(crate) fn inherit(mut self, tsdb: &crate::metrics::TsdbOptions) -> LogOptions {
        self.retention_time = tsdb.retention_time;
        self.retention_size = tsdb.retention_size;
        self.clock = tsdb.clock.clone();
        self
    }
}

/// Figures about one partition.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionStats {
    pub start_ns: i64,
    pub end_ns: i64,
    pub lines: u64,
    pub bytes: u64,
    pub streams: u64,
}

/// Figures about a tenant's logs (status endpoints, `/metrics`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogStats {
    /// Lines committed to partitions plus lines in the head.
    pub lines: u64,
    /// Lines not committed yet.
    pub head_lines: u64,
    /// Line and metadata bytes in the head.
    pub head_bytes: u64,
    /// Distinct streams across partitions and head.
    pub streams: u64,
    pub partitions: Vec<PartitionStats>,
    /// Bytes of partition files.
    pub partition_bytes: u64,
    pub wal_bytes: u64,
    pub wal_segments: u64,
    /// Since open: partitions a read searched, and stored lines it fetched and checked
    /// (what a limit saves shows here).
    pub partitions_searched: u64,
    pub lines_fetched: u64,
    /// Since open: chunks a search decompressed, and chunks it skipped because their
    /// packed hex digits lacked a hex id of a `|=` filter (`hex_probe.rs`).
    pub chunks_decompressed: u64,
    pub chunks_ruled_out_by_hex: u64,
}

/// What reads cost, counted since open.
#[derive(Default)]
pub(crate) struct ReadCounters {
    pub partitions: std::sync::atomic::AtomicU64,
    pub lines: std::sync::atomic::AtomicU64,
    pub chunks: std::sync::atomic::AtomicU64,
    pub ruled_out: std::sync::atomic::AtomicU64,
}

/// Lines in memory and the one lingering failed commit.
#[derive(Default)]
struct State {
    head: Head,
    /// A head being committed (or whose commit failed), with the WAL segment before which
    /// its lines are; still read until its lines are in the partitions.
    frozen: Option<(Arc<Head>, u64)>,
}

pub(crate) struct LogEngine {
    dir: PathBuf,
    opts: LogOptions,
    wal: Mutex<Wal>,
    state: RwLock<State>,
    /// By start time; their ranges never overlap.
    partitions: RwLock<BTreeMap<i64, Arc<Partition>>>,
    /// The tenant's one index writer and the partition it writes; holding the lock is
    /// what serializes commits.
    writer: Mutex<Option<(i64, IndexWriter<TantivyDocument>)>>,
    /// Streams by labels, so each appended record shares one allocation.
    streams: Mutex<HashMap<Labels, Arc<Stream>>>,
    counters: ReadCounters,
}

impl Engine for LogEngine {
    fn name(&self) -> &'static str {
        "logs"
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn maintain(&self) -> Result<()> {
        self.commit()?;
        self.apply_retention()?;
        self.wal.lock().sync()
    }
    fn flush(&self) -> Result<()> {
        self.commit()?;
        // Let background merges finish so a close leaves a tidy index.
        if let Some((_, w)) = self.writer.lock().take() {
            w.wait_merging_threads()
                .map_err(Error::index("finishing log index merges", &self.dir))?;
        }
        Ok(())
    }
    fn sync(&self) -> Result<()> {
        self.wal.lock().sync()
    }
}

impl LogEngine {
    /// The partitions overlapping `[lo, hi]` (ns), in time order: a snapshot, so a read
    /// does not hold the map's lock while it scans.
    fn partitions_overlapping(&self, lo: i64, hi: i64) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .values()
            .filter(|p| p.overlaps(lo, hi))
            .cloned()
            .collect()
    }

    /// Opens (creating) the engine in `dir`: its partitions, then the WAL, replaying into
    /// the head every line no partition has committed yet.
    pub(crate) fn open(dir: &Path, opts: LogOptions) -> Result<LogEngine> {
        if opts.partition <= 0 {
            return Err(Error::BadInput(format!(
                "log partition length must be positive, got {} ns",
                opts.partition
            )));
        }
        let pdir = dir.join("partitions");
        fs::create_dir_all(&pdir)
            .map_err(Error::io("creating the log partitions directory", &pdir))?;
        let mut partitions = BTreeMap::new();
        for entry in fs::read_dir(&pdir)
            .map_err(Error::io("listing log partitions", &pdir))?
            .flatten()
        {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if !path.join(META_FILE).exists() {
                // An unfinished creation: its lines are still in the WAL.
                tracing::warn!(dir = %path.display(), "removing an unfinished log partition");
                fs::remove_dir_all(&path)
                    .map_err(Error::io("removing an unfinished log partition", &path))?;
                continue;
            }
            let p = Partition::open(&path)?;
            partitions.insert(p.meta.start_ns, Arc::new(p));
        }
        let committed: Vec<(i64, i64, u64)> = partitions
            .values()
            .map(|p| Ok((p.meta.start_ns, p.meta.end_ns, p.wal_before()?)))
            .collect::<Result<_>>()?;
        let now = opts.clock.now_ms();
        let mut head = Head::default();
        let mut interned: HashMap<Labels, Arc<Stream>> = HashMap::new();
        let mut skipped = 0u64;
        let (wal, stats) = Wal::open_indexed(&dir.join("wal"), opts.wal.clone(), |seg, rec| {
            let Record::Logs(streams) = rec else {
                return Ok(());
            };
            for s in streams {
                let stream = intern(&mut interned, &s.labels);
                for r in s.records {
                    let done = committed
                        .iter()
                        .any(|&(lo, hi, before)| lo <= r.ts_ns && r.ts_ns < hi && seg < before);
                    if done {
                        skipped += 1;
                    } else {
                        head.push(stream.clone(), r, now);
                    }
                }
            }
            Ok(())
        })?;
        if stats.records > 0 {
            tracing::info!(dir = %dir.display(), lines = stats.log_lines, already_committed = skipped, "log wal replayed");
        }
        Ok(LogEngine {
            dir: dir.to_path_buf(),
            opts,
            wal: Mutex::new(wal),
            state: RwLock::new(State { head, frozen: None }),
            partitions: RwLock::new(partitions),
            writer: Mutex::new(None),
            streams: Mutex::new(interned),
            counters: ReadCounters::default(),
        })
    }

    /// Appends a batch: in the WAL when this returns, and searchable. The lines move into
    /// the head; tests may pass a slice, which is copied.
    pub(crate) fn append(&self, batch: impl Into<Vec<LogStream>>) -> Result<()> {
        let mut batch: Vec<LogStream> = batch.into();
        batch.retain(|s| !s.records.is_empty());
        if batch.is_empty() {
            return Ok(());
        }
        let streams: Vec<Arc<Stream>> = {
            let mut interned = self.streams.lock();
            batch
                .iter()
                .map(|s| intern(&mut interned, &s.labels))
                .collect()
        };
        let now = self.opts.clock.now_ms();
        let rec = [Record::Logs(batch)];
        let (bytes, since) = {
            let mut wal = self.wal.lock();
            wal.log(&rec)?;
            let [Record::Logs(batch)] = rec else {
                unreachable!("built just above")
            };
            // Under the WAL lock, so the head holds exactly the lines of the segments since
            // the last cut, in WAL order.
            let mut st = self.state.write();
            for (s, stream) in batch.into_iter().zip(streams) {
                for r in s.records {
                    st.head.push(stream.clone(), r, now);
                }
            }
            (st.head.bytes, st.head.since_ms)
        };
        let due = bytes >= self.opts.commit_bytes
            || now.saturating_sub(since) >= self.opts.commit_interval;
        if due {
            // Past four thresholds, writers wait for the commit (back-pressure); below,
            // one that finds a commit running goes on.
            if bytes >= self.opts.commit_bytes.saturating_mul(4) {
                self.commit()?;
            } else if let Some(mut w) = self.writer.try_lock() {
                self.commit_locked(&mut w)?;
            }
        }
        Ok(())
    }

    /// Commits the head into the partitions.
    pub(crate) fn commit(&self) -> Result<()> {
        let mut w = self.writer.lock();
        self.commit_locked(&mut w)
    }

    fn commit_locked(
        &self,
        writer: &mut Option<(i64, IndexWriter<TantivyDocument>)>,
    ) -> Result<()> {
        // Declared first so it outlives the head, whose lines are freed on return.
        let _keep_freed_pages = crate::memory::Hint::log_commit();
        // A head whose commit failed goes first.
        let pending = self.state.read().frozen.clone();
        if let Some((head, seg)) = pending {
            self.write_head(writer, &head, seg)?;
            self.state.write().frozen = None;
            self.wal.lock().truncate_before(seg)?;
        }
        let (head, seg) = {
            let mut wal = self.wal.lock();
            let mut st = self.state.write();
            if st.head.is_empty() {
                return Ok(());
            }
            let seg = wal.cut_segment()?;
            let room = st.head.entries.len();
            let head = Arc::new(std::mem::replace(&mut st.head, Head::with_room(room)));
            st.frozen = Some((head.clone(), seg));
            (head, seg)
        };
        self.write_head(writer, &head, seg)?;
        self.state.write().frozen = None;
        self.wal.lock().truncate_before(seg)
    }

    /// Writes a frozen head's lines into their partitions, one commit per partition, each
    /// recording `seg` (the WAL segment before which its lines are). A partition that
    /// already recorded `seg` (a retried commit) is skipped.
    fn write_head(
        &self,
        writer: &mut Option<(i64, IndexWriter<TantivyDocument>)>,
        head: &Head,
        seg: u64,
    ) -> Result<()> {
        // Lines mostly come in time order: the last line's partition is tried first.
        let mut groups: Vec<(Arc<Partition>, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<i64, usize> = HashMap::new();
        let mut last = usize::MAX;
        for (i, (_, r)) in head.entries.iter().enumerate() {
            if groups.get(last).is_none_or(|(p, _)| !p.contains(r.ts_ns)) {
                let p = self.partition_for(r.ts_ns)?;
                last = *group_of.entry(p.meta.start_ns).or_insert_with(|| {
                    groups.push((p, Vec::new()));
                    groups.len() - 1
                });
            }
            groups[last].1.push(i);
        }
        groups.sort_by_key(|(p, _)| p.meta.start_ns);
        // Oldest first, so the newest partition's writer is the one left open.
        for (p, idx) in groups {
            let start = p.meta.start_ns;
            if p.wal_before()? >= seg {
                continue;
            }
            if writer.as_ref().is_none_or(|(s, _)| *s != start) {
                if let Some((_, old)) = writer.take() {
                    old.wait_merging_threads()
                        .map_err(Error::index("finishing log index merges", &self.dir))?;
                }
                *writer = Some((start, p.writer(self.opts.writer_heap)?));
            }
            let Some((_, w)) = writer.as_mut() else {
                continue;
            };
            let added = write_chunks(&p, w, head, &idx)?;
            let mut prepared = w
                .prepare_commit()
                .map_err(Error::index("committing a log partition", &p.dir))?;
            prepared.set_payload(&seg.to_string());
            prepared
                .commit()
                .map_err(Error::index("committing a log partition", &p.dir))?;
            p.committed(added)?;
        }
        Ok(())
    }

    /// The partition a line at `ts` goes in: the one covering it, or a new one aligned to
    /// the partition length and cut where it would overlap a neighbour (the length may
    /// have changed since the neighbour was made).
    fn partition_for(&self, ts: i64) -> Result<Arc<Partition>> {
        {
            let parts = self.partitions.read();
            if let Some((_, p)) = parts.range(..=ts).next_back() {
                if p.contains(ts) {
                    return Ok(p.clone());
                }
            }
        }
        let mut parts = self.partitions.write();
        let len = self.opts.partition;
        let mut start = ts.div_euclid(len).saturating_mul(len);
        let mut end = start.saturating_add(len);
        if let Some((_, prev)) = parts.range(..=ts).next_back() {
            if prev.contains(ts) {
                return Ok(prev.clone());
            }
            start = start.max(prev.meta.end_ns);
        }
        if let Some((&next, _)) = parts.range(ts.saturating_add(1)..).next() {
            end = end.min(next);
        }
        if end <= ts {
            // Only at i64::MAX: the aligned range cannot hold it.
            end = i64::MAX;
        }
        let dir = self.dir.join("partitions").join(start.to_string());
        let p = Arc::new(Partition::create(&dir, start, end)?);
        tracing::info!(dir = %dir.display(), start_ns = start, end_ns = end, "log partition created");
        parts.insert(start, p.clone());
        Ok(p)
    }

    /// Drops partitions wholly older than the retention time, then the oldest while the
    /// engine's files exceed the retention size. Time is the store clock's, never the
    /// newest line's.
    fn apply_retention(&self) -> Result<()> {
        let mut drop = BTreeSet::new();
        let parts: Vec<Arc<Partition>> = self.partitions.read().values().cloned().collect();
        if self.opts.retention_time > 0 {
            let horizon = self
                .opts
                .clock
                .now_ms()
                .saturating_sub(self.opts.retention_time)
                .saturating_mul(NS_PER_MS);
            drop.extend(
                parts
                    .iter()
                    .filter(|p| p.meta.end_ns <= horizon)
                    .map(|p| p.meta.start_ns),
            );
        }
        if self.opts.retention_size > 0 {
            let (wal_bytes, _) = self.wal.lock().disk_usage();
            let mut total: u64 = wal_bytes
                + parts
                    .iter()
                    .filter(|p| !drop.contains(&p.meta.start_ns))
                    .map(|p| p.disk_bytes())
                    .sum::<u64>();
            for p in &parts {
                if total <= self.opts.retention_size {
                    break;
                }
                if drop.insert(p.meta.start_ns) {
                    total = total.saturating_sub(p.disk_bytes());
                }
            }
        }
        if drop.is_empty() {
            return Ok(());
        }
        // The writer may be on a dropped partition: close it first.
        let mut w = self.writer.lock();
        if w.as_ref().is_some_and(|(s, _)| drop.contains(s)) {
            if let Some((_, old)) = w.take() {
                old.wait_merging_threads()
                    .map_err(Error::index("finishing log index merges", &self.dir))?;
            }
        }
        let mut map = self.partitions.write();
        for start in drop {
            if let Some(p) = map.remove(&start) {
                tracing::info!(dir = %p.dir.display(), start_ns = p.meta.start_ns, end_ns = p.meta.end_ns, "retention drops log partition");
                p.mark_obsolete();
            }
        }
        Ok(())
    }

    /// Calls `f` with each hit of `sel` in order: the head's merged into the partitions'.
    pub(crate) fn select(&self, sel: &LogSelect, f: &mut dyn FnMut(LogHit) -> bool) -> Result<()> {
        if sel.start_ns >= sel.end_ns {
            return Ok(());
        }
        let (_, fields) = schema::schema();
        let q = Compiled::new(sel, fields)?;
        let dir = sel.direction;
        let limit = if sel.limit == 0 {
            usize::MAX
        } else {
            sel.limit
        };
        let mut head_hits = Vec::new();
        {
            let st = self.state.read();
            st.head.hits(sel, &q.filters, &mut head_hits);
            if let Some((h, _)) = &st.frozen {
                h.hits(sel, &q.filters, &mut head_hits);
            }
        }
        head_hits.sort_by(|a, b| cmp_hits(a, b, dir));
        head_hits.dedup_by(|a, b| same_entry(a, b));
        head_hits.truncate(limit);
        // An entry may be both in the head and in a partition (sent again after a commit).
        let mut repeats = Repeats::default();
        let mut head_hits = head_hits.into_iter().peekable();
        let mut parts = self.partitions_overlapping(sel.start_ns, sel.end_ns);
        if dir == Direction::Backward {
            parts.reverse();
        }
        let mut emitted = 0usize;
        let mut stopped = false;
        for p in parts {
            let want = if sel.limit == 0 { 0 } else { limit - emitted };
            let mut emit = |h: LogHit| -> bool {
                while let Some(x) = head_hits.peek() {
                    if cmp_hits(x, &h, dir) != std::cmp::Ordering::Less {
                        break;
                    }
                    let Some(x) = head_hits.next() else { break };
                    if repeats.repeat(&x) {
                        continue;
                    }
                    emitted += 1;
                    if !f(x) || emitted >= limit {
                        stopped = true;
                        return false;
                    }
                }
                if repeats.repeat(&h) {
                    return true;
                }
                emitted += 1;
                if !f(h) || emitted >= limit {
                    stopped = true;
                    return false;
                }
                true
            };
            if !search::search_partition(&p, &q, want, &self.counters, &mut emit)? || stopped {
                return Ok(());
            }
        }
        for h in head_hits {
            if sel.cancelled() || emitted >= limit {
                break;
            }
            if repeats.repeat(&h) {
                continue;
            }
            emitted += 1;
            if !f(h) {
                break;
            }
        }
        Ok(())
    }

    /// The streams matching `matchers` with a line in `[start_ns, end_ns)`, sorted.
    pub(crate) fn streams(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Arc<Labels>>> {
        let mut out = Vec::new();
        if start_ns >= end_ns {
            return Ok(out);
        }
        {
            let st = self.state.read();
            let heads = std::iter::once(&st.head).chain(st.frozen.as_ref().map(|(h, _)| &**h));
            for h in heads {
                for (s, r) in &h.entries {
                    if start_ns <= r.ts_ns
                        && r.ts_ns < end_ns
                        && head::stream_matches(&s.labels, matchers)
                    {
                        out.push(s.labels.clone());
                    }
                }
            }
        }
        let parts = self.partitions_overlapping(start_ns, end_ns);
        for p in parts {
            search::partition_streams(&p, matchers, start_ns, end_ns, &mut out)?;
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub(crate) fn stats(&self) -> LogStats {
        let mut s = LogStats::default();
        let mut streams: BTreeSet<String> = BTreeSet::new();
        {
            let st = self.state.read();
            let heads = std::iter::once(&st.head).chain(st.frozen.as_ref().map(|(h, _)| &**h));
            // Distinct streams first: a head holds ~100,000 lines of a few streams, and
            // `/metrics` asks on every scrape.
            let mut distinct: HashMap<*const Stream, &Arc<Stream>> = HashMap::new();
            for h in heads {
                s.head_lines += h.entries.len() as u64;
                s.head_bytes += h.bytes as u64;
                distinct.extend(h.entries.iter().map(|(st, _)| (Arc::as_ptr(st), st)));
            }
            streams.extend(distinct.values().map(|st| st.term.clone()));
        }
        let parts: Vec<Arc<Partition>> = self.partitions.read().values().cloned().collect();
        for p in parts {
            let known = p.streams.read();
            streams.extend(known.keys().cloned());
            let ps = PartitionStats {
                start_ns: p.meta.start_ns,
                end_ns: p.meta.end_ns,
                lines: p.num_lines(),
                bytes: p.disk_bytes(),
                streams: known.len() as u64,
            };
            s.partition_bytes += ps.bytes;
            s.lines += ps.lines;
            s.partitions.push(ps);
        }
        s.lines += s.head_lines;
        s.streams = streams.len() as u64;
        let (wal_bytes, wal_segments) = self.wal.lock().disk_usage();
        s.wal_bytes = wal_bytes;
        s.wal_segments = wal_segments as u64;
        s.partitions_searched = self.counters.partitions.load(Ordering::Relaxed);
        s.lines_fetched = self.counters.lines.load(Ordering::Relaxed);
        s.chunks_decompressed = self.counters.chunks.load(Ordering::Relaxed);
        s.chunks_ruled_out_by_hex = self.counters.ruled_out.load(Ordering::Relaxed);
        s
    }
}

/// Writes the head entries `idx` (all in partition `p`) as chunks: per stream, sorted by
/// time, cut every [`chunk::CHUNK_BYTES`], appended to the chunk file (synced), each added
/// to the index writer as one document. Returns the chunks for the catalog once committed.
fn write_chunks(
    p: &Partition,
    w: &mut IndexWriter<TantivyDocument>,
    head: &Head,
    idx: &[usize],
) -> Result<Vec<ChunkRef>> {
    let mut by_stream: HashMap<*const Stream, Vec<&LogRecord>> = HashMap::new();
    let mut streams: Vec<&Arc<Stream>> = Vec::new();
    for &i in idx {
        let (s, r) = &head.entries[i];
        by_stream
            .entry(Arc::as_ptr(s))
            .or_insert_with(|| {
                streams.push(s);
                Vec::new()
            })
            .push(r);
    }
    let f = p.fields;
    let mut added = Vec::new();
    for s in streams {
        let Some(mut recs) = by_stream.remove(&Arc::as_ptr(s)) else {
            continue;
        };
        recs.sort_by(|a, b| a.ts_ns.cmp(&b.ts_ns).then_with(|| a.line.cmp(&b.line)));
        // A batch sent again (see `search::Repeats`) is stored once when both copies are
        // committed together.
        recs.dedup_by(|a, b| a.ts_ns == b.ts_ns && a.line == b.line);
        let mut from = 0;
        while from < recs.len() {
            let mut to = from;
            let mut bytes = 0;
            while to < recs.len()
                && (to == from || (bytes < chunk::CHUNK_BYTES && to - from < chunk::CHUNK_LINES))
            {
                bytes += head::record_bytes(recs[to]);
                to += 1;
            }
            let part = &recs[from..to];
            from = to;
            let mut doc = TantivyDocument::default();
            doc.add_text(f.stream, &s.term);
            let lines = part.iter().map(|r| r.line.as_str());
            let shapes = shapes::ShapeIndex::of(part.iter().map(|r| r.line.as_bytes()));
            // Partitions from before format 4 keep every token in `terms`; from it, the
            // chunk's id filter goes just before the chunk, so the chunk ends the file.
            let (mut terms, ids) = match (f.frags, f.ids_offset, f.ids_len) {
                (Some(frags), Some(io), Some(il))
                    if p.meta.format_version >= schema::FRAGS_VERSION =>
                {
                    let (fr, ids) = schema::chunk_terms_split(lines, &shapes);
                    doc.add_text(frags, fr);
                    let filter = id_filter::build(ids);
                    let at = p.chunks.append(&filter)?;
                    doc.add_u64(io, at);
                    doc.add_u64(il, filter.len() as u64);
                    (String::new(), Some((at, filter.len() as u64)))
                }
                _ => (schema::chunk_terms(lines), None),
            };
            // A stream's chunks are compressed against its key chunk here (format 4): most
            // of a chunk's text repeats templates the key already holds.
            // A chunk that outgrows a small key is stored without one and becomes the key.
            let key = p
                .keys
                .lock()
                .get(&s.term)
                .copied()
                .filter(|k| !k.outgrown_by(bytes as u64));
            let dict = match key {
                Some(k) => Some(p.chunks.key_dict(p.chunks.end(), k.offset, k.len)?),
                None => None,
            };
            let key_ref = key.zip(dict.as_deref()).map(|(k, dict)| chunk::Key {
                offset: k.offset,
                len: k.len,
                dict,
            });
            let (blob, raw) = chunk::encode(part, key_ref, &shapes)
                .map_err(Error::io("compressing a log chunk", &p.dir))?;
            let offset = p.chunks.append(&blob)?;
            if key.is_none() && raw >= partition::KEY_MIN_RAW {
                p.keys.lock().insert(
                    s.term.clone(),
                    partition::KeyChunk {
                        offset,
                        len: blob.len() as u64,
                        raw,
                    },
                );
            }
            let c = ChunkRef {
                stream: s.labels.clone(),
                min_ts: part[0].ts_ns,
                max_ts: part[part.len() - 1].ts_ns,
                offset,
                len: blob.len() as u64,
                raw,
                lines: part.len() as u64,
                ids,
            };
            terms.push(' ');
            terms.push_str(&schema::chunk_label_terms(
                &s.labels,
                part.iter().map(|r| r.metadata.as_slice()),
            ));
            doc.add_text(f.terms, terms);
            doc.add_i64(f.min_ts, c.min_ts);
            doc.add_i64(f.max_ts, c.max_ts);
            doc.add_u64(f.offset, c.offset);
            doc.add_u64(f.len, c.len);
            doc.add_u64(f.raw, c.raw);
            doc.add_u64(f.lines, c.lines);
            w.add_document(doc)
                .map_err(Error::index("adding a chunk to a log partition", &p.dir))?;
            added.push(c);
        }
    }
    // The chunks are on disk before the index commit refers to them.
    p.chunks.sync()?;
    Ok(added)
}

fn intern(map: &mut HashMap<Labels, Arc<Stream>>, labels: &Labels) -> Arc<Stream> {
    if let Some(s) = map.get(labels) {
        return s.clone();
    }
    let s = Arc::new(Stream {
        labels: Arc::new(labels.clone()),
        term: schema::stream_term(labels),
    });
    map.insert(labels.clone(), s.clone());
    s
}

#[cfg(test)]
mod tests;
