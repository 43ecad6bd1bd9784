//! One tenant's metrics database: the WAL, the head, and the blocks, with the write path
//! (WAL first, then head), the read path (blocks by seq, then heads, merged per label set),
//! head cuts, compaction and retention.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::block::{Block, BlockWriter};
use super::exemplars::{
    ExemplarBuffer, SeriesExemplars, DEFAULT_MAX_EXEMPLARS, MAX_EXEMPLAR_LABELS_LEN,
};
use super::head::Head;
use super::merge::merge_runs;
use super::stats::{BlockStats, TsdbStats};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::limits::{Bounds, SeriesLimits};
use crate::model::{LabelSet, Labels, Matcher, Sample};
use crate::wal::{Record, Wal, WalOptions};
use crate::{SelectHints, Series, SeriesSamples};

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

#[derive(Debug, Clone)]
pub struct TsdbOptions {
    /// Length of a head-cut block, ms (2h by default).
    pub block_duration: i64,
    /// Drop blocks whose newest sample is older than this before the clock's now, ms
    /// (0: keep); samples older than that are refused.
    pub retention_time: i64,
    /// Drop oldest blocks while blocks and WAL together exceed this many bytes (0: no limit).
    pub retention_size: u64,
    pub wal: WalOptions,
    /// Where "now" comes from for retention and the accepted sample window.
    pub clock: Clock,
    /// Limits on new series and on how far ahead of the clock samples may be.
    pub limits: SeriesLimits,
    /// Exemplars kept in memory (`storage.exemplars.max_exemplars`; 0: none kept).
    pub max_exemplars: usize,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        TsdbOptions {
            block_duration: 2 * HOUR,
            retention_time: 15 * DAY,
            retention_size: 0,
            wal: WalOptions::default(),
            clock: Clock::system(),
            limits: SeriesLimits::default(),
            max_exemplars: DEFAULT_MAX_EXEMPLARS,
        }
    }
}

pub(super) struct State {
    pub head: Arc<Head>,
    /// Heads cut off and being written as blocks; still read until their blocks are in.
    pub frozen: Vec<Arc<Head>>,
    /// Sorted by seq (write order).
    pub blocks: Vec<Arc<Block>>,
}

pub struct Tsdb {
    dir: PathBuf,
    pub(super) opts: TsdbOptions,
    wal: Mutex<Wal>,
    pub(super) state: RwLock<State>,
    /// Serializes head cuts, compaction and retention.
    pub(super) maintenance: Mutex<()>,
    next_seq: AtomicU64,
    exemplars: ExemplarBuffer,
}

impl Tsdb {
    pub fn open(dir: &Path, opts: TsdbOptions) -> Result<Tsdb> {
        let blocks_dir = dir.join("blocks");
        fs::create_dir_all(&blocks_dir)
            .map_err(Error::io("creating the blocks directory", &blocks_dir))?;
        let blocks = super::compact::open_blocks(&blocks_dir)?;
        let next_seq = blocks.iter().map(|b| b.meta.seq + 1).max().unwrap_or(1);

        // Replay into a head whose refs are rebound as Series records come by; each series
        // then keeps the ref of its last Series record, so a restart logs nothing again (the
        // records stay in the WAL until the next head cut, which persists the series).
        let replay_head = Head::new(0);
        let mut refs: HashMap<u64, u32> = HashMap::new();
        let mut ref_of: Vec<u64> = Vec::new();
        let mut max_gen = 0u32;
        let mut unknown = 0u64;
        let mut rows: Vec<(u32, i64, f64)> = Vec::new();
        let exemplars = ExemplarBuffer::new(opts.max_exemplars);
        let (wal, stats) = Wal::open(&dir.join("wal"), opts.wal.clone(), |rec| {
            match rec {
                Record::Series(series) => {
                    for (r, labels) in series {
                        max_gen = max_gen.max((r >> 32) as u32);
                        let id = replay_head.replay_series(&labels);
                        refs.insert(r, id);
                        if ref_of.len() <= id as usize {
                            ref_of.resize(id as usize + 1, 0);
                        }
                        ref_of[id as usize] = r;
                    }
                }
                Record::Samples(samples) => {
                    rows.clear();
                    for (r, t, v) in samples {
                        match refs.get(&r) {
                            Some(&id) => rows.push((id, t, v)),
                            None => unknown += 1,
                        }
                    }
                    replay_head.append_rows(&rows);
                }
                Record::Exemplars(batch) => {
                    exemplars.add(&batch);
                }
                Record::Logs(_) | Record::Spans(_) => unknown += 1,
            }
            Ok(())
        })?;
        if unknown > 0 {
            tracing::warn!(dir = %dir.display(), samples = unknown, "wal replay skipped samples of series that were never logged");
        }
        let head = Head::from_replay(max_gen + 1, replay_head, ref_of);
        if stats.records > 0 {
            tracing::info!(dir = %dir.display(), segments = stats.segments, samples = stats.samples, series = stats.series, "wal replayed");
        }
        Ok(Tsdb {
            dir: dir.to_path_buf(),
            opts,
            wal: Mutex::new(wal),
            state: RwLock::new(State {
                head: Arc::new(head),
                frozen: Vec::new(),
                blocks,
            }),
            maintenance: Mutex::new(()),
            next_seq: AtomicU64::new(next_seq),
            exemplars,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn blocks_dir(&self) -> PathBuf {
        self.dir.join("blocks")
    }

    pub(super) fn alloc_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::SeqCst)
    }

    /// Appends a batch; durable (in the WAL) when it returns.
    pub fn append(&self, batch: &[SeriesSamples]) -> Result<()> {
        let views: Vec<(&Labels, &[Sample])> =
            batch.iter().map(|s| (&s.labels, &s.samples[..])).collect();
        self.append_views(&views)
    }

    /// The timestamps an append accepts now.
    pub fn bounds(&self) -> Bounds {
        Bounds::at(
            self.opts.clock.now_ms(),
            self.opts.retention_time,
            self.opts.limits.max_future,
        )
    }

    /// Appends series given as any [`LabelSet`] (remote_write passes label sets borrowed
    /// from the request buffer); durable (in the WAL) when it returns.
    ///
    /// A series whose labels are invalid or over a limit fails the whole batch (nothing is
    /// stored). Samples outside [`Tsdb::bounds`] are left out and the rest is stored; the
    /// error then counts what was refused, so a caller that acknowledges nothing after an
    /// error loses nothing silently (Prometheus' remote_write handler does the same).
    pub fn append_views<L: LabelSet + ?Sized>(&self, batch: &[(&L, &[Sample])]) -> Result<()> {
        let bounds = self.bounds();
        // One pass of comparisons; the common case (everything in bounds) allocates nothing.
        if batch
            .iter()
            .all(|(_, s)| s.iter().all(|x| bounds.contains(x.t)))
        {
            return self.append_valid(batch);
        }
        let (mut too_old, mut too_new) = (0u64, 0u64);
        let mut example = None;
        let kept: Vec<Vec<Sample>> = batch
            .iter()
            .map(|&(l, s)| {
                s.iter()
                    .copied()
                    .filter(|x| {
                        if bounds.contains(x.t) {
                            return true;
                        }
                        if x.t < bounds.min {
                            too_old += 1;
                        } else {
                            too_new += 1;
                        }
                        example.get_or_insert((l, x.t));
                        false
                    })
                    .collect()
            })
            .collect();
        let views: Vec<(&L, &[Sample])> = batch
            .iter()
            .zip(&kept)
            .filter(|(_, k)| !k.is_empty())
            .map(|(&(l, _), k)| (l, &k[..]))
            .collect();
        let stored: usize = kept.iter().map(Vec::len).sum();
        if !views.is_empty() {
            self.append_valid(&views)?;
        }
        let (l, t) = example.map_or((Labels::default(), 0), |(l, t)| (l.to_labels(), t));
        Err(bounds.refusal(too_old, too_new, (&l, t), stored))
    }

    /// [`Tsdb::append_views`] once every timestamp is in bounds.
    fn append_valid<L: LabelSet + ?Sized>(&self, batch: &[(&L, &[Sample])]) -> Result<()> {
        // Hashing happens before the lock, so concurrent writers do it in parallel.
        let labels: Vec<(&L, u64)> = batch.iter().map(|&(l, _)| (l, l.hash64())).collect();
        // Series lookup and record building run outside the WAL lock, so concurrent
        // writers overlap them; only the WAL write and the head append are serialized (in
        // the same order, so the head and a replay agree on which write came last).
        // A series another writer created but has not logged yet is logged here too: a
        // repeated Series record replays to the same series.
        let mut ids = Vec::with_capacity(batch.len());
        let mut unlogged = Vec::new();
        loop {
            let head = self.state.read().head.clone();
            ids.clear();
            unlogged.clear();
            head.get_or_create(&labels, &self.opts.limits, &mut ids, &mut unlogged)?;
            let mut records = Vec::with_capacity(2);
            if !unlogged.is_empty() {
                records.push(Record::Series(
                    unlogged
                        .iter()
                        .map(|&i| (head.wal_ref(ids[i]), batch[i].0.to_labels()))
                        .collect(),
                ));
            }
            let n: usize = batch.iter().map(|s| s.1.len()).sum();
            let mut rows = Vec::with_capacity(n);
            for (s, &id) in batch.iter().zip(&ids) {
                let r = head.wal_ref(id);
                rows.extend(s.1.iter().map(|x| (r, x.t, x.v)));
            }
            records.push(Record::Samples(rows));
            let mut wal = self.wal.lock();
            // A head cut swaps the head under the WAL lock; ids from the old head would
            // land in a head that is already being written out, so look up again.
            if !Arc::ptr_eq(&self.state.read().head, &head) {
                continue;
            }
            wal.log(&records)?;
            head.mark_logged(unlogged.iter().map(|&i| ids[i]));
            head.append(ids.iter().copied().zip(batch.iter().map(|s| s.1)));
            drop(wal);
            return Ok(());
        }
    }

    /// Stores exemplars; durable (in the WAL) when it returns. Exemplars outside
    /// [`Tsdb::bounds`], with invalid series labels or with exemplar labels longer than
    /// OpenMetrics' 128 runes are refused with the reason; nothing is stored then.
    pub fn append_exemplars(&self, batch: &[SeriesExemplars]) -> Result<()> {
        if self.opts.max_exemplars == 0 || batch.iter().all(|s| s.exemplars.is_empty()) {
            return Ok(());
        }
        let bounds = self.bounds();
        for s in batch {
            s.labels.validate()?;
            for e in &s.exemplars {
                if !bounds.contains(e.ts) {
                    return Err(Error::BadInput(format!(
                        "exemplar of series {} at {} ms is outside the accepted time range [{}, {}] ms",
                        s.labels, e.ts, bounds.min, bounds.max
                    )));
                }
                let len: usize = e
                    .labels
                    .iter()
                    .map(|l| l.name.chars().count() + l.value.chars().count())
                    .sum();
                if len > MAX_EXEMPLAR_LABELS_LEN {
                    return Err(Error::BadInput(format!(
                        "exemplar labels of series {} are {len} runes long, more than the {MAX_EXEMPLAR_LABELS_LEN} OpenMetrics allows",
                        s.labels
                    )));
                }
            }
        }
        let mut wal = self.wal.lock();
        wal.log(&[Record::Exemplars(batch.to_vec())])?;
        self.exemplars.add(batch);
        Ok(())
    }

    /// Exemplars in `[start, end]` (ms) of series matching one of the matcher groups.
    pub fn select_exemplars(
        &self,
        groups: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Vec<SeriesExemplars> {
        self.exemplars.select(groups, start, end)
    }

    /// What [`Tsdb::select`] returns, but each series' samples go to `f` as soon as they
    /// are read and only `f`'s result is kept, so a large selection never holds every
    /// series' samples at once (the query engine's range functions and instant selectors
    /// turn a few hundred samples into one value per step). Runs on several threads for
    /// large selections; results come back in label order. A cancelled read
    /// ([`SelectHints::cancel`]) stops between series with what it has.
    pub fn select_map<R: Send>(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
        f: &(dyn Fn(&Labels, &[Sample]) -> R + Sync),
    ) -> Result<Vec<(Labels, R)>> {
        let (blocks, heads) = self.snapshot();
        let blocks: Vec<Arc<Block>> = blocks
            .into_iter()
            .filter(|b| b.overlaps(mint, maxt))
            .collect();
        // Where each series' samples are: (source, id), sources being the blocks in write
        // order, then the heads; that is also the order in which merge_runs lets later
        // writes win, as in `select`.
        let too_many = |n: usize| {
            Error::LimitExceeded(format!(
                "the selection has {n} series or more, more than the {} its reader can hold",
                hints.max_series
            ))
        };
        let max = hints.max_series;
        // Every (labels, source, id) in one vector. Each source lists its series in label
        // order (a block's ids follow it, a head sorts by its ranks), so the vector is a
        // few sorted runs, one per source that has any.
        let mut found: Vec<(Labels, (usize, u32))> = Vec::new();
        let mut runs = 0;
        for (bi, b) in blocks.iter().enumerate() {
            let ids = b.select_ids(matchers, mint, maxt);
            // One source over the limit is enough to refuse, before any label is read.
            if max > 0 && ids.len() > max as u64 {
                return Err(too_many(ids.len() as usize));
            }
            runs += usize::from(!ids.is_empty());
            found.extend(ids.into_iter().map(|id| (b.labels(id), (bi, id))));
        }
        // A projection can be applied as labels are read only where no series is in two
        // sources: merging finds a series' sources by its whole label set.
        let direct = (runs == 0 && heads.len() == 1)
            .then_some(hints.project.as_ref())
            .flatten();
        for (hi, h) in heads.iter().enumerate() {
            let ids = h
                .select_ids(matchers, max, direct)
                .ok_or_else(|| too_many(max + 1))?;
            runs += usize::from(!ids.is_empty());
            found.extend(
                ids.into_iter()
                    .map(|(id, labels)| (labels, (blocks.len() + hi, id))),
            );
        }
        let late = if direct.is_none() {
            hints.project.as_ref()
        } else {
            None
        };
        // With one run, every entry is its own series (and with a projection, two series
        // may show equal labels). With several, one series' entries are adjacent after a
        // stable sort, its sources in write order (blocks, then heads).
        let merging = runs > 1;
        let mut series = found.len();
        if merging {
            found.sort_by(|a, b| a.0.cmp(&b.0));
            series = 1 + found.windows(2).filter(|w| w[0].0 != w[1].0).count();
        }
        if max > 0 && series > max {
            return Err(too_many(series));
        }
        // Threads only for thousands of series: a fresh thread also starts with an empty
        // allocator heap and faults its pages in, which cost more CPU than it saved for a
        // few hundred series (rule rounds: -17% CPU with this threshold against 256).
        let threads = if series < 4096 {
            1
        } else {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(8)
        };
        let chunk = found.len().div_ceil(threads).max(1);
        let mut parts = Vec::with_capacity(threads);
        while !found.is_empty() {
            // Parts end between series, never inside one series' sources.
            let mut cut = chunk.min(found.len());
            while merging && cut < found.len() && found[cut].0 == found[cut - 1].0 {
                cut += 1;
            }
            let tail = found.split_off(cut);
            parts.push(std::mem::replace(&mut found, tail));
        }
        let one_part = |mut part: Vec<(Labels, (usize, u32))>| -> Result<Vec<(Labels, R)>> {
            // Within a block, ids follow label order, so each block's ids of this part
            // come out of its reader in the order the part asks for them.
            let mut readers = Vec::with_capacity(blocks.len());
            for (bi, b) in blocks.iter().enumerate() {
                let ids: Vec<u32> = part
                    .iter()
                    .filter(|(_, src)| src.0 == bi)
                    .map(|(_, src)| src.1)
                    .collect();
                readers.push(b.series_reader(&ids)?);
            }
            let mut read = |src: usize, id: u32, out: &mut Vec<Sample>| -> Result<()> {
                if src < blocks.len() {
                    let got = readers[src].next_into(mint, maxt, out)?;
                    if got != Some(id) {
                        return Err(Error::Corrupt {
                            what: "block samples",
                            path: blocks[src].dir.clone(),
                            detail: format!("series {id} read out of order (got {got:?})"),
                        });
                    }
                } else if hints.newest_only {
                    heads[src - blocks.len()].newest_into(id, mint, maxt, out);
                } else {
                    heads[src - blocks.len()].samples_into(id, mint, maxt, out);
                }
                Ok(())
            };
            let mut out = Vec::with_capacity(part.len());
            let mut buf = Vec::new();
            let mut i = 0;
            while i < part.len() {
                if hints.cancelled() {
                    break;
                }
                let mut j = i + 1;
                while merging && j < part.len() && part[j].0 == part[i].0 {
                    j += 1;
                }
                let labels = std::mem::take(&mut part[i].0);
                let r = if j == i + 1 {
                    let (src, id) = part[i].1;
                    buf.clear();
                    read(src, id, &mut buf)?;
                    if buf.is_empty() {
                        i = j;
                        continue;
                    }
                    f(&labels, crate::model::newest(&buf, hints.newest_only))
                } else {
                    let mut runs = Vec::with_capacity(j - i);
                    for &(_, (src, id)) in &part[i..j] {
                        let mut run = Vec::new();
                        read(src, id, &mut run)?;
                        runs.push(run);
                    }
                    let samples = merge_runs(runs);
                    if samples.is_empty() {
                        i = j;
                        continue;
                    }
                    f(&labels, crate::model::newest(&samples, hints.newest_only))
                };
                i = j;
                let labels = match late {
                    Some(p) => p.apply(labels),
                    None => labels,
                };
                out.push((labels, r));
            }
            Ok(out)
        };
        if parts.len() <= 1 {
            return parts.pop().map_or(Ok(Vec::new()), one_part);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|part| {
                    let one_part = &one_part;
                    scope.spawn(move || one_part(part))
                })
                .collect();
            let mut out = Vec::new();
            for h in handles {
                match h.join() {
                    Ok(r) => out.extend(r?),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            Ok(out)
        })
    }

    /// Series matching `matchers` with samples in `[mint, maxt]`, merged across blocks and
    /// the head, sorted by labels.
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
    ) -> Result<Vec<Series>> {
        let (blocks, heads) = self.snapshot();
        let mut by_labels: BTreeMap<Labels, Vec<Vec<Sample>>> = BTreeMap::new();
        for b in blocks.iter().filter(|b| b.overlaps(mint, maxt)) {
            let ids = b.select_ids(matchers, mint, maxt);
            if hints.series_only {
                for id in ids {
                    by_labels.entry(b.labels(id)).or_default();
                }
                continue;
            }
            for (id, samples) in b.read_samples(&ids, mint, maxt)? {
                if !samples.is_empty() {
                    by_labels.entry(b.labels(id)).or_default().push(samples);
                }
            }
        }
        for h in &heads {
            for (labels, samples) in h.select(matchers, mint, maxt, hints.series_only) {
                by_labels.entry(labels).or_default().push(samples);
            }
        }
        let limit = if hints.limit == 0 {
            usize::MAX
        } else {
            hints.limit
        };
        Ok(by_labels
            .into_iter()
            .take(limit)
            .map(|(labels, runs)| Series {
                labels,
                samples: merge_runs(runs),
            })
            .collect())
    }

    /// Label names, or with `name` that label's values, of series matching `matchers`
    /// (all series when empty) with samples in `[mint, maxt]`.
    pub fn label_names_values(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        name: Option<&str>,
    ) -> Result<Vec<String>> {
        let (blocks, heads) = self.snapshot();
        let mut out = BTreeSet::new();
        for b in blocks.iter().filter(|b| b.overlaps(mint, maxt)) {
            let whole = matchers.is_empty() && b.meta.min_time >= mint && b.meta.max_time <= maxt;
            if whole {
                // Every value in the block's index has a series with samples in range.
                match name {
                    None => out.extend(b.index().label_names().map(|(n, _)| n.to_string())),
                    Some(n) => out.extend(b.index().values_of(n).map(|(v, _)| v.to_string())),
                }
                continue;
            }
            for id in b.select_ids(matchers, mint, maxt) {
                let labels = b.labels(id);
                match name {
                    None => out.extend(labels.iter().map(|l| l.name.clone())),
                    Some(n) => {
                        if let Some(v) = labels.get(n) {
                            out.insert(v.to_string());
                        }
                    }
                }
            }
        }
        for h in &heads {
            h.label_names_values(matchers, mint, maxt, name, &mut out);
        }
        Ok(out.into_iter().collect())
    }

    /// Blocks (by seq) and heads (frozen first, then the live one): oldest write first.
    pub(super) fn snapshot(&self) -> (Vec<Arc<Block>>, Vec<Arc<Head>>) {
        let st = self.state.read();
        let mut heads = st.frozen.clone();
        heads.push(st.head.clone());
        (st.blocks.clone(), heads)
    }

    /// Cuts the head into blocks now, whatever its span. Returns when they are on disk.
    pub fn flush(&self) -> Result<()> {
        let _m = self.maintenance.lock();
        self.persist_frozen()?;
        self.cut_head()
    }

    /// Runs due maintenance: a head cut once the head spans 1.5 block periods,
    /// then compaction and retention.
    pub fn maintain(&self) -> Result<()> {
        let _m = self.maintenance.lock();
        self.persist_frozen()?;
        let head = self.state.read().head.clone();
        if let Some((mint, maxt)) = head.time_range() {
            if maxt - mint >= self.opts.block_duration * 3 / 2 {
                self.cut_head()?;
            }
        }
        loop {
            let start = std::time::Instant::now();
            match self.compact_once() {
                Ok(false) => break,
                Ok(true) => super::activity::record_compaction(true, start.elapsed()),
                Err(e) => {
                    super::activity::record_compaction(false, start.elapsed());
                    return Err(e);
                }
            }
        }
        self.apply_retention()?;
        self.wal.lock().sync()
    }

    pub(super) fn stats_wal(&self) -> (u64, usize) {
        self.wal.lock().disk_usage()
    }

    /// fsyncs the WAL (at shutdown).
    pub fn sync(&self) -> Result<()> {
        self.wal.lock().sync()
    }

    fn cut_head(&self) -> Result<()> {
        let (old, segment) = {
            let mut wal = self.wal.lock();
            let mut st = self.state.write();
            if st.head.time_range().is_none() {
                return Ok(());
            }
            let segment = wal.cut_segment()?;
            // Exemplars live only in the WAL: log them again into the new segment so
            // truncating the old ones keeps them.
            let kept = self.exemplars.snapshot();
            if !kept.is_empty() {
                wal.log(&[Record::Exemplars(kept)])?;
            }
            let new = Arc::new(Head::new(st.head.generation + 1));
            let old = std::mem::replace(&mut st.head, new);
            st.frozen.push(old.clone());
            (old, segment)
        };
        self.persist_head(&old)?;
        self.wal.lock().truncate_before(segment)
    }

    /// Writes heads left frozen by a failed cut.
    fn persist_frozen(&self) -> Result<()> {
        let frozen = self.state.read().frozen.clone();
        for h in frozen {
            self.persist_head(&h)?;
        }
        Ok(())
    }

    /// Writes a frozen head as one block per aligned block period it covers, then swaps the
    /// blocks in for the head in one step.
    fn persist_head(&self, head: &Arc<Head>) -> Result<()> {
        let _bulk = crate::memory::Hint::bulk_write();
        let blocks_dir = self.blocks_dir();
        let period = self.opts.block_duration.max(1);
        // One period at a time, so only one writer's index and buffers are alive at once.
        let ids = head.sorted_ids();
        let mut opened = Vec::new();
        for k in head.periods(period) {
            let (mint, maxt) = (
                k.saturating_mul(period),
                (k + 1).saturating_mul(period).saturating_sub(1),
            );
            let seq = self.alloc_seq();
            let mut w = BlockWriter::create(&blocks_dir, &block_name(seq), seq, 0, Vec::new())?;
            head.for_each_in(&ids, mint, maxt, |labels, samples| {
                w.add_series(labels, samples)
            })?;
            if let Some(meta) = w.finish()? {
                opened.push(Arc::new(Block::open(&blocks_dir.join(&meta.name))?));
            }
        }
        let mut st = self.state.write();
        st.blocks.extend(opened);
        st.blocks.sort_by_key(|b| b.meta.seq);
        st.frozen.retain(|h| !Arc::ptr_eq(h, head));
        Ok(())
    }

    pub fn stats(&self) -> TsdbStats {
        let (blocks, heads) = self.snapshot();
        let mut s = TsdbStats::default();
        let mut card: HashMap<String, usize> = HashMap::new();
        for h in &heads {
            let (hs, c) = h.stats();
            s.head.series += hs.series;
            s.head.samples += hs.samples;
            s.head.chunk_bytes += hs.chunk_bytes;
            s.head.index_bytes += hs.index_bytes;
            if hs.samples > 0 {
                s.head.min_time = if s.head.min_time == 0 {
                    hs.min_time
                } else {
                    s.head.min_time.min(hs.min_time)
                };
                s.head.max_time = s.head.max_time.max(hs.max_time);
            }
            for (n, k) in c {
                let e = card.entry(n).or_default();
                *e = (*e).max(k);
            }
        }
        for b in &blocks {
            s.blocks.push(BlockStats {
                name: b.meta.name.clone(),
                min_time: b.meta.min_time,
                max_time: b.meta.max_time,
                series: b.meta.num_series,
                samples: b.meta.num_samples,
                bytes: b.bytes(),
                level: b.meta.level,
                bytes_per_sample: if b.meta.num_samples > 0 {
                    b.bytes() as f64 / b.meta.num_samples as f64
                } else {
                    0.0
                },
            });
            for (n, k) in b.label_cardinality() {
                let e = card.entry(n).or_default();
                *e = (*e).max(k);
            }
        }
        let (wal_bytes, wal_segments) = self.wal.lock().disk_usage();
        s.wal_bytes = wal_bytes;
        s.wal_segments = wal_segments as u64;
        let mut card: Vec<(String, usize)> = card.into_iter().collect();
        card.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        card.truncate(10);
        s.top_label_names = card;
        s.series_by_metric = heads
            .last()
            .map(|h| h.series_by_metric(10))
            .unwrap_or_default();
        s.finish();
        s
    }
}

pub(super) fn block_name(seq: u64) -> String {
    format!("{seq:012}")
}
