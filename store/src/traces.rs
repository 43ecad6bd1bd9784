//! The span engine: one tenant's traces in immutable Parquet files per time partition,
//! fed through a WAL.
//!
//! Write path: an append is logged to the WAL (so it survives a crash once acknowledged),
//! then kept in the head, which every read looks at, so a span is readable as soon as its
//! append returns. When the head holds `cut_bytes` or is `cut_interval` old (checked on
//! append and at every maintenance round), and on flush, it is cut: its spans go into one
//! new file per time partition their start times fall in, and the WAL before the cut is
//! deleted. A crash between writing the files and deleting the WAL replays spans that are
//! already in files; reads drop such duplicates (same trace id, span id and start), as
//! they drop a batch a client sent twice.
//!
//! Read path: a trace by id checks the head and, in every file, only the row groups whose
//! trace-id range holds it and whose bloom filter says it may be there; a time range first
//! narrows that to the partitions it overlaps. A scan finds trace ids in a time range from
//! two columns of row groups whose start times overlap it, then fetches whole traces in
//! batches. A scan with span predicates first finds, per predicate, the traces with a
//! matching span in the range (head rows, and the file row groups whose term summaries
//! do not rule it out), and orders and fetches only the traces every predicate found.
//!
//! Maintenance cuts a due head, applies retention, and compacts: a partition whose end is
//! `compact_after` before the clock's now and that has several files gets them merged
//! into one (`compact.rs`).
//! Layout on disk: `store/FORMAT.md`, "Traces".

pub(crate) mod codec;
mod compact;
mod file;
mod head;
mod row;
mod stats;
mod terms;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use self::file::{Part, SpanFile};
use self::head::Head;
use self::row::{assemble, rows_of, SpanRow};
use crate::clock::Clock;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::span::{AttrValue, ResourceSpans, TraceId};
use crate::wal::{Record, Wal, WalOptions};
use crate::{ScanStats, SpanAttributeNames, SpanAttributeScope, TraceSelect};

pub use self::file::FORMAT_VERSION as SPAN_FORMAT_VERSION;
pub use self::stats::TraceStorageStats;

const NS_PER_MS: i64 = 1_000_000;
const HOUR_NS: i64 = 3_600 * 1_000_000_000;
/// Traces a scan fetches at a time: amortizes the per-file row-group reads.
const SCAN_BATCH: usize = 64;
/// Below this many stored rows a read stays on one thread: a thread costs tens of
/// microseconds, a row group of the files hundreds.
const PARALLEL_ROWS: u64 = 1 << 17;

/// Runs `f` over a read of about `rows` rows: as one share on one thread when it is small,
/// else split into as many shares as the machine has cores (at most 8), each on its own
/// thread; the shares' results in order.
fn in_parts<R: Send>(rows: u64, f: impl Fn(Part) -> Result<R> + Sync) -> Result<Vec<R>> {
    let n = if rows < PARALLEL_ROWS {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8)
    };
    if n == 1 {
        return Ok(vec![f(Part::ALL)?]);
    }
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = (0..n)
            .map(|k| scope.spawn(move || f(Part { k, n })))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

fn stored_rows(files: &[Arc<SpanFile>]) -> u64 {
    files.iter().map(|f| f.rows).sum()
}

/// The span engine's knobs.
#[derive(Debug, Clone)]
pub struct SpanOptions {
    /// Length of a time partition, ns (two hours by default, like metric blocks).
    pub partition: i64,
    /// The head is cut once it holds about this many bytes...
    pub cut_bytes: usize,
    /// ... or its oldest span arrived this long ago, ms.
    pub cut_interval: i64,
    /// Set from the metrics options when the tenant opens: partitions wholly older than
    /// this before the clock's now are dropped, ms (0: keep).
    pub retention_time: i64,
    /// Oldest partitions are dropped while files and WAL exceed this (0: no limit).
    pub retention_size: u64,
    /// A partition whose end is this long before the clock's now gets its files merged
    /// into one, ms: two head cut intervals, after which a live span rarely lands in it
    /// (a late one makes a new small file, merged at the next round).
    pub compact_after: i64,
    pub clock: Clock,
    pub wal: WalOptions,
}

impl Default for SpanOptions {
    fn default() -> Self {
        SpanOptions {
            partition: 2 * HOUR_NS,
            cut_bytes: 64 << 20,
            cut_interval: 5 * 60_000,
            retention_time: 0,
            retention_size: 0,
            compact_after: 10 * 60_000,
            clock: Clock::system(),
            wal: WalOptions::default(),
        }
    }
}

impl SpanOptions {
    /// These options with the clock and retention of the tenant's metrics.
    pub(crate) fn inherit(mut self, tsdb: &crate::metrics::TsdbOptions) -> SpanOptions {
        self.retention_time = tsdb.retention_time;
        self.retention_size = tsdb.retention_size;
        self.clock = tsdb.clock.clone();
        self
    }
}

#[derive(Default)]
struct State {
    head: Head,
    /// A head being cut (or whose cut failed), with the WAL segment before which its spans
    /// are; still read until its files are in place.
    frozen: Option<(Arc<Head>, u64)>,
}

pub(crate) struct SpanEngine {
    dir: PathBuf,
    opts: SpanOptions,
    wal: Mutex<Wal>,
    state: RwLock<State>,
    /// Files by partition start.
    files: RwLock<BTreeMap<i64, Vec<Arc<SpanFile>>>>,
    /// Held while cutting, so cuts do not interleave.
    cutting: Mutex<()>,
    /// Held by retention and compaction, so neither removes what the other works on.
    maintaining: Mutex<()>,
    next_seq: AtomicU64,
}

/// What the span engine holds, for `/metrics`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SpanStats {
    /// Spans in files and in the head (a span re-sent before its first copy was compacted
    /// counts twice until then).
    pub spans: u64,
    /// Spans in the head, not yet in a file.
    pub head_spans: u64,
    pub files: u64,
    pub partitions: u64,
    pub file_bytes: u64,
}

impl Engine for SpanEngine {
    fn name(&self) -> &'static str {
        "traces"
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn maintain(&self) -> Result<()> {
        if self.cut_due() {
            self.cut()?;
        }
        {
            let _g = self.maintaining.lock();
            self.apply_retention()?;
            self.compact_due()?;
        }
        self.wal.lock().sync()
    }
    fn flush(&self) -> Result<()> {
        self.cut()
    }
    fn sync(&self) -> Result<()> {
        self.wal.lock().sync()
    }
}

impl SpanEngine {
    /// Opens (creating) the engine in `dir`: its files, then the WAL, replayed into the head.
    pub(crate) fn open(dir: &Path, opts: SpanOptions) -> Result<SpanEngine> {
        if opts.partition <= 0 {
            return Err(Error::BadInput(format!(
                "trace partition length must be positive, got {} ns",
                opts.partition
            )));
        }
        let pdir = dir.join("parts");
        fs::create_dir_all(&pdir).map_err(Error::io("creating the span files directory", &pdir))?;
        let mut files: BTreeMap<i64, Vec<Arc<SpanFile>>> = BTreeMap::new();
        let mut max_seq = 0u64;
        for part in fs::read_dir(&pdir)
            .map_err(Error::io("listing span partitions", &pdir))?
            .flatten()
        {
            let ppath = part.path();
            if !ppath.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&ppath)
                .map_err(Error::io("listing span files", &ppath))?
                .flatten()
            {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".tmp") {
                    // An unfinished cut: its spans are still in the WAL.
                    tracing::warn!(path = %path.display(), "removing an unfinished span file");
                    fs::remove_file(&path)
                        .map_err(Error::io("removing an unfinished span file", &path))?;
                    continue;
                }
                let Some(seq) = name
                    .strip_suffix(".parquet")
                    .and_then(|s| s.parse::<u64>().ok())
                else {
                    continue;
                };
                max_seq = max_seq.max(seq);
                let f = SpanFile::open(&path)?;
                files.entry(f.partition.0).or_default().push(Arc::new(f));
            }
        }
        // A compaction that crashed after renaming its file into place and before deleting
        // its inputs: the inputs go now, so no span is counted twice.
        let replaced: HashSet<u64> = files
            .values()
            .flatten()
            .flat_map(|f| f.replaces.iter().copied())
            .collect();
        for fs_of in files.values_mut() {
            fs_of.retain(|f| {
                let gone = f.seq.is_some_and(|s| replaced.contains(&s));
                if gone {
                    tracing::warn!(path = %f.path.display(), "removing a span file a compaction replaced");
                    f.retire();
                }
                !gone
            });
        }
        files.retain(|_, v| !v.is_empty());
        let now = opts.clock.now_ms();
        let mut head = Head::default();
        let (wal, stats) = Wal::open(&dir.join("wal"), opts.wal.clone(), |rec| {
            if let Record::Spans(batch) = rec {
                head.push(rows_of(&batch), now);
            }
            Ok(())
        })?;
        if stats.records > 0 {
            tracing::info!(dir = %dir.display(), spans = head.rows.len(), "span wal replayed");
        }
        Ok(SpanEngine {
            dir: dir.to_path_buf(),
            opts,
            wal: Mutex::new(wal),
            state: RwLock::new(State { head, frozen: None }),
            files: RwLock::new(files),
            cutting: Mutex::new(()),
            maintaining: Mutex::new(()),
            next_seq: AtomicU64::new(max_seq + 1),
        })
    }

    /// Appends a batch: in the WAL when this returns, and readable.
    pub(crate) fn append(&self, batch: &[ResourceSpans]) -> Result<()> {
        let rows = rows_of(batch);
        if rows.is_empty() {
            return Ok(());
        }
        let now = self.opts.clock.now_ms();
        let rec = [Record::Spans(batch.to_vec())];
        let bytes = {
            let mut wal = self.wal.lock();
            wal.log(&rec)?;
            // Under the WAL lock, so the head holds exactly the spans of the segments since
            // the last cut.
            let mut st = self.state.write();
            st.head.push(rows, now);
            st.head.bytes
        };
        if bytes >= self.opts.cut_bytes.saturating_mul(4) {
            // Back-pressure: writers wait for the cut.
            self.cut()?;
        } else if self.cut_due() {
            if let Some(g) = self.cutting.try_lock() {
                self.cut_locked(&g)?;
            }
        }
        Ok(())
    }

    fn cut_due(&self) -> bool {
        let st = self.state.read();
        !st.head.is_empty()
            && (st.head.bytes >= self.opts.cut_bytes
                || self.opts.clock.now_ms().saturating_sub(st.head.since_ms)
                    >= self.opts.cut_interval)
    }

    /// Cuts the head into files.
    pub(crate) fn cut(&self) -> Result<()> {
        let g = self.cutting.lock();
        self.cut_locked(&g)
    }

    fn cut_locked(&self, _g: &parking_lot::MutexGuard<'_, ()>) -> Result<()> {
        // A head whose cut failed goes first.
        let pending = self.state.read().frozen.clone();
        if let Some((head, seg)) = pending {
            self.write_head(&head)?;
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
            let head = Arc::new(std::mem::take(&mut st.head));
            st.frozen = Some((head.clone(), seg));
            (head, seg)
        };
        self.write_head(&head)?;
        self.state.write().frozen = None;
        self.wal.lock().truncate_before(seg)
    }

    /// Writes a head's spans into one new file per partition they start in.
    fn write_head(&self, head: &Head) -> Result<()> {
        let len = self.opts.partition;
        let mut by_partition: BTreeMap<i64, Vec<SpanRow>> = BTreeMap::new();
        for r in &head.rows {
            let start = r.span.start_ns.div_euclid(len).saturating_mul(len);
            by_partition.entry(start).or_default().push(r.clone());
        }
        for (start, mut rows) in by_partition {
            let pdir = self.dir.join("parts").join(start.to_string());
            fs::create_dir_all(&pdir)
                .map_err(Error::io("creating a span partition directory", &pdir))?;
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            let path = pdir.join(format!("{seq:020}.parquet"));
            let f = SpanFile::write(&path, (start, start.saturating_add(len)), &mut rows)?;
            tracing::debug!(path = %path.display(), spans = f.rows, bytes = f.bytes, "span file written");
            self.files
                .write()
                .entry(start)
                .or_default()
                .push(Arc::new(f));
        }
        Ok(())
    }

    /// Drops partitions wholly older than the retention time, then the oldest while the
    /// engine's files exceed the retention size. Time is the store clock's.
    fn apply_retention(&self) -> Result<()> {
        let parts: Vec<(i64, i64, u64)> = self
            .files
            .read()
            .iter()
            .map(|(&s, fs)| {
                let end = fs.iter().map(|f| f.partition.1).max().unwrap_or(s);
                (s, end, fs.iter().map(|f| f.bytes).sum())
            })
            .collect();
        let mut drop = BTreeSet::new();
        if self.opts.retention_time > 0 {
            let horizon = self
                .opts
                .clock
                .now_ms()
                .saturating_sub(self.opts.retention_time)
                .saturating_mul(NS_PER_MS);
            drop.extend(parts.iter().filter(|p| p.1 <= horizon).map(|p| p.0));
        }
        if self.opts.retention_size > 0 {
            let (wal_bytes, _) = self.wal.lock().disk_usage();
            let mut total: u64 = wal_bytes
                + parts
                    .iter()
                    .filter(|p| !drop.contains(&p.0))
                    .map(|p| p.2)
                    .sum::<u64>();
            for p in &parts {
                if total <= self.opts.retention_size {
                    break;
                }
                if drop.insert(p.0) {
                    total = total.saturating_sub(p.2);
                }
            }
        }
        for start in drop {
            self.files.write().remove(&start);
            let pdir = self.dir.join("parts").join(start.to_string());
            tracing::info!(dir = %pdir.display(), start_ns = start, "retention drops span partition");
            fs::remove_dir_all(&pdir).map_err(Error::io("removing a span partition", &pdir))?;
        }
        Ok(())
    }

    /// Merges the files of every partition past its head window that has more than one.
    /// Returns how many partitions it compacted.
    pub(crate) fn compact_due(&self) -> Result<usize> {
        let horizon = self
            .opts
            .clock
            .now_ms()
            .saturating_sub(self.opts.compact_after.max(0))
            .saturating_mul(NS_PER_MS);
        let due: Vec<(i64, Vec<Arc<SpanFile>>)> = self
            .files
            .read()
            .iter()
            .filter(|(_, fs)| fs.len() > 1 && fs.iter().all(|f| f.partition.1 <= horizon))
            .map(|(&s, fs)| (s, fs.clone()))
            .collect();
        // One partition failing (a damaged file) does not hold back the others.
        let (mut done, mut first_err) = (0, None);
        for (start, inputs) in due {
            match self.compact_partition(start, &inputs) {
                Ok(()) => done += 1,
                Err(e) => {
                    tracing::warn!(start_ns = start, error = %e, "span partition compaction failed; will retry");
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(done), Err)
    }

    fn compact_partition(&self, start: i64, inputs: &[Arc<SpanFile>]) -> Result<()> {
        let partition = inputs
            .first()
            .map_or((start, start.saturating_add(self.opts.partition)), |f| {
                f.partition
            });
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let path = self
            .dir
            .join("parts")
            .join(start.to_string())
            .join(format!("{seq:020}.parquet"));
        let merged = compact::merge(inputs, &path, partition)?;
        tracing::info!(
            path = %path.display(),
            inputs = inputs.len(),
            spans = merged.rows,
            bytes = merged.bytes,
            "span partition compacted"
        );
        let mut files = self.files.write();
        let v = files.entry(start).or_default();
        // Files a cut added meanwhile stay.
        v.retain(|f| !inputs.iter().any(|i| Arc::ptr_eq(i, f)));
        v.push(Arc::new(merged));
        drop(files);
        for f in inputs {
            f.retire();
        }
        Ok(())
    }

    /// Spans, files and bytes held.
    pub(crate) fn stats(&self) -> SpanStats {
        let (head_spans, files, partitions, file_bytes, file_rows) = {
            let st = self.state.read();
            let head = st.head.rows.len() + st.frozen.as_ref().map_or(0, |(h, _)| h.rows.len());
            let files = self.files.read();
            let all = files.values().flatten();
            (
                head as u64,
                all.clone().count() as u64,
                files.len() as u64,
                all.clone().map(|f| f.bytes).sum::<u64>(),
                all.map(|f| f.rows).sum::<u64>(),
            )
        };
        SpanStats {
            spans: head_spans + file_rows,
            head_spans,
            files,
            partitions,
            file_bytes,
        }
    }

    fn all_files(&self) -> Vec<Arc<SpanFile>> {
        self.files.read().values().flatten().cloned().collect()
    }

    /// Files whose partition overlaps `[start_ns, end_ns)`.
    fn files_in(&self, start_ns: i64, end_ns: i64) -> Vec<Arc<SpanFile>> {
        self.files
            .read()
            .values()
            .flatten()
            .filter(|f| f.partition.0 < end_ns && f.partition.1 > start_ns)
            .cloned()
            .collect()
    }

    /// Head (and frozen head) rows of the traces `ids`.
    fn head_rows(&self, ids: &[TraceId], out: &mut Vec<SpanRow>) {
        let st = self.state.read();
        for id in ids {
            out.extend(st.head.trace(id).cloned());
            if let Some((h, _)) = &st.frozen {
                out.extend(h.trace(id).cloned());
            }
        }
    }

    /// All rows of the traces `ids` (sorted) from head and `files`.
    fn rows_of_traces(
        &self,
        ids: &[TraceId],
        files: &[Arc<SpanFile>],
        stats: Option<&ScanStats>,
    ) -> Result<Vec<SpanRow>> {
        let mut rows = Vec::new();
        self.head_rows(ids, &mut rows);
        let parts = in_parts(stored_rows(files), |part| {
            let mut rows = Vec::new();
            for f in files {
                rows.extend(f.read_traces(ids, part, stats)?);
            }
            Ok(rows)
        })?;
        rows.extend(parts.into_iter().flatten());
        Ok(rows)
    }

    pub(crate) fn trace_by_id(
        &self,
        id: &TraceId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<ResourceSpans>> {
        if start_ns >= end_ns {
            return Ok(Vec::new());
        }
        let ids = [*id];
        let in_range = |r: &SpanRow| (start_ns..end_ns).contains(&r.span.start_ns);
        let unbounded = start_ns == i64::MIN && end_ns == i64::MAX;
        let rows = if unbounded {
            self.rows_of_traces(&ids, &self.all_files(), None)?
        } else {
            // The partitions of the range first: when the trace has no span there, no
            // other file is read.
            let near = self.files_in(start_ns, end_ns);
            let mut rows = self.rows_of_traces(&ids, &near, None)?;
            if !rows.iter().any(in_range) {
                return Ok(Vec::new());
            }
            for f in self.all_files() {
                if !near.iter().any(|n| Arc::ptr_eq(n, &f)) {
                    rows.extend(f.read_traces(&ids, Part::ALL, None)?);
                }
            }
            rows
        };
        if !rows.iter().any(in_range) {
            return Ok(Vec::new());
        }
        Ok(assemble(rows))
    }

    pub(crate) fn scan(
        &self,
        sel: &TraceSelect,
        f: &mut dyn FnMut(Vec<ResourceSpans>) -> bool,
    ) -> Result<()> {
        if sel.start_ns >= sel.end_ns {
            return Ok(());
        }
        let stats = sel.stats.as_deref();
        let in_range = |t: i64| t >= sel.start_ns && t < sel.end_ns;
        let mut newest: HashMap<TraceId, i64> = HashMap::new();
        let candidates = if sel.spans.is_empty() {
            None
        } else {
            Some(self.matching_traces(sel)?)
        };
        {
            let st = self.state.read();
            let heads = std::iter::once(&st.head).chain(st.frozen.as_ref().map(|(h, _)| &**h));
            for h in heads {
                if candidates.is_none() {
                    if let Some(s) = stats {
                        s.add(0, 0, h.rows.len() as u64, 0);
                    }
                }
                for r in &h.rows {
                    let t = r.span.start_ns;
                    if in_range(t)
                        && candidates
                            .as_ref()
                            .is_none_or(|c| c.contains(&r.span.trace_id))
                    {
                        let e = newest.entry(r.span.trace_id).or_insert(t);
                        *e = (*e).max(t);
                    }
                }
            }
        }
        let only: Option<Vec<TraceId>> = match &candidates {
            None => None,
            Some(c) if c.is_empty() => Some(Vec::new()),
            Some(c) => {
                let mut ids: Vec<TraceId> = c.iter().copied().collect();
                ids.sort_unstable();
                Some(ids)
            }
        };
        if only.as_ref().is_none_or(|ids| !ids.is_empty()) {
            let files = self.files_in(sel.start_ns, sel.end_ns);
            let parts = in_parts(stored_rows(&files), |part| {
                let mut newest = HashMap::new();
                for file in &files {
                    if sel.cancelled() {
                        break;
                    }
                    file.trace_starts(
                        only.as_deref(),
                        sel.start_ns,
                        sel.end_ns,
                        part,
                        &mut newest,
                        stats,
                    )?;
                }
                Ok(newest)
            })?;
            for part in parts {
                for (id, t) in part {
                    let e = newest.entry(id).or_insert(t);
                    *e = (*e).max(t);
                }
            }
            if sel.cancelled() {
                return Ok(());
            }
        }
        let mut order: Vec<(i64, TraceId)> = newest.into_iter().map(|(id, t)| (t, id)).collect();
        order.sort_by(|a, b| b.cmp(a));
        let files = self.all_files();
        for chunk in order.chunks(SCAN_BATCH) {
            if sel.cancelled() {
                break;
            }
            let mut ids: Vec<TraceId> = chunk.iter().map(|(_, id)| *id).collect();
            ids.sort_unstable();
            let mut by_trace: HashMap<TraceId, Vec<SpanRow>> = HashMap::new();
            for r in self.rows_of_traces(&ids, &files, stats)? {
                by_trace.entry(r.span.trace_id).or_default().push(r);
            }
            for (_, id) in chunk {
                let Some(rows) = by_trace.remove(id) else {
                    continue;
                };
                if sel.cancelled() || !f(assemble(rows)) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The traces in which every predicate of `sel` is satisfied by some span starting in
    /// its range.
    fn matching_traces(&self, sel: &TraceSelect) -> Result<HashSet<TraceId>> {
        let stats = sel.stats.as_deref();
        let preds = &sel.spans;
        let mut found: Vec<HashSet<TraceId>> = vec![HashSet::new(); preds.len()];
        {
            let st = self.state.read();
            let heads = std::iter::once(&st.head).chain(st.frozen.as_ref().map(|(h, _)| &**h));
            for h in heads {
                if let Some(s) = stats {
                    s.add(0, 0, h.rows.len() as u64, 0);
                }
                for r in &h.rows {
                    if !(sel.start_ns..sel.end_ns).contains(&r.span.start_ns) {
                        continue;
                    }
                    for (p, set) in preds.iter().zip(found.iter_mut()) {
                        if p.matches(&r.resource, &r.span) {
                            set.insert(r.span.trace_id);
                        }
                    }
                }
            }
        }
        let files = self.files_in(sel.start_ns, sel.end_ns);
        let parts = in_parts(stored_rows(&files), |part| {
            let mut found: Vec<HashSet<TraceId>> = vec![HashSet::new(); preds.len()];
            for file in &files {
                if sel.cancelled() {
                    break;
                }
                file.match_traces(sel.start_ns, sel.end_ns, preds, part, &mut found, stats)?;
            }
            Ok(found)
        })?;
        for part in parts {
            for (all, some) in found.iter_mut().zip(part) {
                all.extend(some);
            }
        }
        found.sort_by_key(|s| s.len());
        let mut sets = found.into_iter();
        let mut out = sets.next().unwrap_or_default();
        for s in sets {
            out.retain(|id| s.contains(id));
        }
        Ok(out)
    }

    /// Calls `f` with every (scope, attributes) of spans starting in the range, each
    /// distinct span once.
    fn each_attrs(
        &self,
        start_ns: i64,
        end_ns: i64,
        f: &mut dyn FnMut(SpanAttributeScope, &crate::model::span::Attributes),
    ) -> Result<()> {
        let in_range = |r: &&SpanRow| (start_ns..end_ns).contains(&r.span.start_ns);
        {
            let st = self.state.read();
            for r in st.head.rows.iter().filter(in_range) {
                r.each_attrs(f);
            }
            if let Some((h, _)) = &st.frozen {
                for r in h.rows.iter().filter(in_range) {
                    r.each_attrs(f);
                }
            }
        }
        for file in self.files_in(start_ns, end_ns) {
            for r in file.rows_in(start_ns, end_ns)? {
                r.each_attrs(f);
            }
        }
        Ok(())
    }

    pub(crate) fn attribute_names(&self, start_ns: i64, end_ns: i64) -> Result<SpanAttributeNames> {
        let mut sets: [BTreeSet<String>; 5] = Default::default();
        self.each_attrs(start_ns, end_ns, &mut |scope, attrs| {
            let set = &mut sets[scope as usize];
            for (k, _) in attrs {
                if !set.contains(k) {
                    set.insert(k.clone());
                }
            }
        })?;
        let [resource, span, event, link, instrumentation] = sets.map(|s| s.into_iter().collect());
        Ok(SpanAttributeNames {
            resource,
            span,
            event,
            link,
            instrumentation,
        })
    }

    pub(crate) fn attribute_values(
        &self,
        scope: SpanAttributeScope,
        name: &str,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
    ) -> Result<Vec<AttrValue>> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        self.each_attrs(start_ns, end_ns, &mut |s, attrs| {
            if s != scope || (limit > 0 && out.len() >= limit) {
                return;
            }
            for (k, v) in attrs {
                if k == name && seen.insert(format!("{v:?}")) {
                    out.push(v.clone());
                }
            }
        })?;
        Ok(out)
    }

    /// Bytes of span files, and their count.
    #[cfg(test)]
    pub(crate) fn file_usage(&self) -> (u64, usize) {
        let files = self.all_files();
        (files.iter().map(|f| f.bytes).sum(), files.len())
    }
}

#[cfg(test)]
mod tests;
