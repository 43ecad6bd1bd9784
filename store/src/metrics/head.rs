//! The head: recent samples in memory, per series in compressed chunks, with the inverted
//! index. In-order samples go to Gorilla chunks; a sample at or before a series' last
//! timestamp (out of order, backfill, or a repeated timestamp) goes to that series'
//! out-of-order buffer, which is sorted into its own chunks as it fills. Reads merge both,
//! the later write winning a repeated timestamp.

use std::collections::HashMap;

use parking_lot::RwLock;
use roaring::RoaringBitmap;

use super::chunk::{Chunk, ChunkAppender};
use super::merge::{merge_runs, sort_dedup_last};
use super::order::LabelOrder;
use super::postings::Index;
use crate::limits::SeriesLimits;
use crate::model::labels::METRIC_NAME;
use crate::model::{LabelSet, Labels, Matcher, Projection, Sample};

/// Hashes a key that already is a label set's xxh3 as itself: SipHash on top would only
/// cost time on every lookup of the write path.
#[derive(Debug, Default, Clone, Copy)]
struct PrehashedKey(u64);

impl std::hash::Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type ByHash<V> = HashMap<u64, V, std::hash::BuildHasherDefault<PrehashedKey>>;

/// Out-of-order samples buffered raw before being sorted into a chunk.
const OOO_BUFFER: usize = 64;

#[derive(Debug, Default)]
struct MemSeries {
    chunks: Vec<Chunk>,
    open: ChunkAppender,
    /// Out-of-order chunks, oldest write first; each sorted and deduplicated.
    ooo_chunks: Vec<Chunk>,
    ooo_buf: Vec<Sample>,
    last_t: i64,
    /// Whether a Series record for it is in the WAL. A series is created before its record
    /// is logged; if logging fails, the next write that uses it must log it again.
    logged: bool,
}

impl MemSeries {
    fn append(&mut self, t: i64, v: f64) {
        if self.open.is_empty() && self.chunks.is_empty() || t > self.last_t {
            if self.open.is_full() {
                let full = std::mem::take(&mut self.open);
                self.chunks.push(full.finish());
            }
            self.open.append(t, v);
            self.last_t = t;
            return;
        }
        self.ooo_buf.push(Sample { t, v });
        if self.ooo_buf.len() >= OOO_BUFFER {
            let sorted = sort_dedup_last(std::mem::take(&mut self.ooo_buf));
            self.ooo_chunks.push(Chunk::from_sorted(&sorted));
        }
    }

    fn mint(&self) -> i64 {
        let mut m = self
            .chunks
            .first()
            .map(|c| c.mint)
            .unwrap_or(if self.open.is_empty() {
                i64::MAX
            } else {
                self.open.mint()
            });
        for c in &self.ooo_chunks {
            m = m.min(c.mint);
        }
        for s in &self.ooo_buf {
            m = m.min(s.t);
        }
        m
    }

    fn is_empty(&self) -> bool {
        self.open.is_empty()
            && self.chunks.is_empty()
            && self.ooo_chunks.is_empty()
            && self.ooo_buf.is_empty()
    }

    /// Samples in `[mint, maxt]`, sorted, deduplicated.
    /// Appends [`MemSeries::samples`] to `out`. Without out-of-order data the in-order
    /// chunks are decoded straight into `out`, sparing a rule round's thousands of small
    /// reads their intermediate vectors.
    fn samples_into(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        if !self.ooo_buf.is_empty()
            || self
                .ooo_chunks
                .iter()
                .any(|c| c.maxt >= mint && c.mint <= maxt)
        {
            out.extend(self.samples(mint, maxt));
            return;
        }
        let start = out.len();
        for c in self
            .chunks
            .iter()
            .filter(|c| c.maxt >= mint && c.mint <= maxt)
        {
            c.samples_into(out);
        }
        if !self.open.is_empty() && self.open.maxt() >= mint && self.open.mint() <= maxt {
            self.open.samples_into(out);
        }
        // In-order samples ascend strictly: the range is one slice of them.
        let got = &out[start..];
        let lo = got.partition_point(|s| s.t < mint);
        let hi = got.partition_point(|s| s.t <= maxt);
        out.truncate(start + hi);
        out.drain(start..start + lo);
    }

    /// Appends the newest of [`MemSeries::samples`] to `out`, if any. Without out-of-order
    /// data in the range that is the open chunk's last sample, read without decoding.
    fn newest_into(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let ooo = !self.ooo_buf.is_empty()
            || self
                .ooo_chunks
                .iter()
                .any(|c| c.maxt >= mint && c.mint <= maxt);
        if !ooo && !self.open.is_empty() && self.open.maxt() <= maxt {
            if self.open.maxt() >= mint {
                out.extend(self.open.last());
            }
            return;
        }
        let start = out.len();
        self.samples_into(mint, maxt, out);
        if out.len() > start + 1 {
            out.drain(start..out.len() - 1);
        }
    }

    fn samples(&self, mint: i64, maxt: i64) -> Vec<Sample> {
        let mut inorder = Vec::new();
        for c in self
            .chunks
            .iter()
            .filter(|c| c.maxt >= mint && c.mint <= maxt)
        {
            c.samples_into(&mut inorder);
        }
        if !self.open.is_empty() && self.open.maxt() >= mint && self.open.mint() <= maxt {
            self.open.samples_into(&mut inorder);
        }
        let mut runs = vec![inorder];
        for c in self
            .ooo_chunks
            .iter()
            .filter(|c| c.maxt >= mint && c.mint <= maxt)
        {
            let mut r = Vec::with_capacity(c.num as usize);
            c.samples_into(&mut r);
            runs.push(r);
        }
        if !self.ooo_buf.is_empty() {
            runs.push(sort_dedup_last(self.ooo_buf.clone()));
        }
        let mut out = merge_runs(runs);
        out.retain(|s| s.t >= mint && s.t <= maxt);
        out
    }

    fn bytes(&self) -> usize {
        self.chunks
            .iter()
            .chain(&self.ooo_chunks)
            .map(|c| c.bytes_len() + 32)
            .sum::<usize>()
            + self.open.bytes_len()
            + self.ooo_buf.len() * 16
            + std::mem::size_of::<Self>()
    }
}

#[derive(Debug, Default)]
struct HeadInner {
    index: Index,
    /// Label order of the series, for reads that return them sorted.
    order: LabelOrder,
    series: Vec<MemSeries>,
    by_hash: ByHash<u32>,
    /// Series whose hash collided with another's; rare, so a side table.
    collisions: ByHash<Vec<u32>>,
    mint: i64,
    maxt: i64,
    num_samples: u64,
}

/// The in-memory head. `generation` distinguishes heads across cuts, so WAL references
/// (`generation << 32 | series id`) never repeat within a WAL directory's life.
#[derive(Debug)]
pub struct Head {
    pub generation: u32,
    /// WAL refs of series replayed into this head, by id: they keep the refs their Series
    /// records in the WAL already have, so a restart logs no series again.
    replayed_refs: Vec<u64>,
    inner: RwLock<HeadInner>,
}

/// Head figures for stats.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HeadStats {
    pub series: u64,
    pub samples: u64,
    pub min_time: i64,
    pub max_time: i64,
    pub chunk_bytes: u64,
    pub index_bytes: u64,
}

impl Head {
    pub fn new(generation: u32) -> Head {
        Head {
            generation,
            replayed_refs: Vec::new(),
            inner: RwLock::new(HeadInner {
                mint: i64::MAX,
                maxt: i64::MIN,
                ..Default::default()
            }),
        }
    }

    pub fn wal_ref(&self, id: u32) -> u64 {
        match self.replayed_refs.get(id as usize) {
            Some(&r) => r,
            None => ((self.generation as u64) << 32) | id as u64,
        }
    }

    /// Finds or creates the series for each label set: pushes their ids, and the positions
    /// (in `labels`) of those whose Series record is not in the WAL yet (new ones).
    /// A label set is validated (and checked against `limits`) when its series is created,
    /// so invalid labels never enter the index; an invalid one fails the call, and then no
    /// series of the call is created.
    /// Takes each label set with its [`Labels::hash64`], computed by the caller outside
    /// the write path's locks.
    pub fn get_or_create<L: LabelSet + ?Sized>(
        &self,
        labels: &[(&L, u64)],
        limits: &SeriesLimits,
        ids: &mut Vec<u32>,
        unlogged: &mut Vec<usize>,
    ) -> crate::Result<()> {
        // Nearly always every series exists: look them up under the read lock, so
        // concurrent writers do it in parallel, and take the write lock only for new ones.
        let start = ids.len();
        {
            let h = self.inner.read();
            for (i, &(l, hash)) in labels.iter().enumerate() {
                let Some(id) = h.lookup(l, hash) else {
                    break;
                };
                ids.push(id);
                if !h.series[id as usize].logged {
                    unlogged.push(i);
                }
            }
        }
        if ids.len() - start == labels.len() {
            return Ok(());
        }
        let mut h = self.inner.write();
        let skip = ids.len() - start;
        // Every new series is checked before any is created, so a refused batch leaves no
        // empty series behind to count against the series limits. (A series new twice in
        // one batch counts twice here: stricter by one at the limit's edge, never looser.)
        let mut new: Vec<(usize, Labels)> = Vec::new();
        let mut per_metric: HashMap<String, u64> = HashMap::new();
        for (i, &(l, hash)) in labels.iter().enumerate().skip(skip) {
            if h.lookup(l, hash).is_some() {
                continue;
            }
            let labels = l.to_labels();
            labels.validate()?;
            limits.check_labels(&labels)?;
            limits.check_active_series(&labels, (h.series.len() + new.len()) as u64)?;
            if limits.max_series_per_metric > 0 {
                let name = labels.metric_name().unwrap_or_default();
                let n = per_metric.entry(name.to_string()).or_default();
                limits.check_series_per_metric(&labels, h.index.count(METRIC_NAME, name) + *n)?;
                *n += 1;
            }
            new.push((i, labels));
        }
        let mut new = new.into_iter().peekable();
        for (i, &(l, hash)) in labels.iter().enumerate().skip(skip) {
            let checked = new.next_if(|(j, _)| *j == i).map(|(_, labels)| labels);
            let id = match (h.lookup(l, hash), checked) {
                (Some(id), _) => id,
                (None, Some(labels)) => h.get_or_create_hashed(&labels, hash).0,
                (None, None) => h.get_or_create_valid(l, hash, limits)?.0,
            };
            ids.push(id);
            if !h.series[id as usize].logged {
                unlogged.push(i);
            }
        }
        Ok(())
    }

    /// Records that these series' Series records are now in the WAL.
    pub fn mark_logged(&self, ids: impl Iterator<Item = u32>) {
        let mut h = self.inner.write();
        for id in ids {
            if let Some(s) = h.series.get_mut(id as usize) {
                s.logged = true;
            }
        }
    }

    /// Replay path: appends `(series id, t, v)` rows.
    pub fn append_rows(&self, rows: &[(u32, i64, f64)]) {
        let mut h = self.inner.write();
        let h = &mut *h;
        for &(id, t, v) in rows {
            let Some(s) = h.series.get_mut(id as usize) else {
                continue;
            };
            s.append(t, v);
            h.mint = h.mint.min(t);
            h.maxt = h.maxt.max(t);
        }
        h.num_samples += rows.len() as u64;
    }

    /// The head a WAL replay built, as the live head of `generation`: series `id` keeps
    /// WAL ref `refs[id]` (the ref of a Series record already in the WAL), so nothing is
    /// logged again; series created later get refs of `generation`, which no replayed ref
    /// has (it is above every generation in the WAL).
    pub fn from_replay(generation: u32, replayed: Head, refs: Vec<u64>) -> Head {
        Head {
            generation,
            replayed_refs: refs,
            inner: replayed.inner,
        }
    }

    /// The `n` metric names with the most series.
    pub fn series_by_metric(&self, n: usize) -> Vec<(String, usize)> {
        let h = self.inner.read();
        let mut v: Vec<(String, usize)> = h
            .index
            .values_of(crate::model::labels::METRIC_NAME)
            .map(|(name, p)| (name.to_string(), p.len() as usize))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Appends samples to series by id (ids from [`Head::get_or_create`]).
    pub fn append<'a>(&self, items: impl Iterator<Item = (u32, &'a [Sample])>) {
        let mut h = self.inner.write();
        let h = &mut *h;
        for (id, samples) in items {
            let Some(s) = h.series.get_mut(id as usize) else {
                continue;
            };
            for x in samples {
                s.append(x.t, x.v);
                h.mint = h.mint.min(x.t);
                h.maxt = h.maxt.max(x.t);
            }
            h.num_samples += samples.len() as u64;
        }
    }

    /// Replay path: a series with a known id must land on that id (ids are dense and
    /// logged in creation order, so creating in log order reproduces them).
    pub fn replay_series(&self, labels: &Labels) -> u32 {
        let mut h = self.inner.write();
        let id = h.get_or_create(labels).0;
        h.series[id as usize].logged = true;
        id
    }

    pub fn time_range(&self) -> Option<(i64, i64)> {
        let h = self.inner.read();
        (h.num_samples > 0).then_some((h.mint, h.maxt))
    }

    pub fn num_series(&self) -> usize {
        self.inner.read().series.len()
    }

    /// Series matching `matchers` with their samples in `[mint, maxt]`; series without
    /// samples there are left out.
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        series_only: bool,
    ) -> Vec<(Labels, Vec<Sample>)> {
        let h = self.inner.read();
        let ids: Vec<u32> = h.index.select(matchers).into_iter().collect();
        let one = |id: u32| -> Option<(Labels, Vec<Sample>)> {
            let s = h.series.get(id as usize)?;
            let samples = s.samples(mint, maxt);
            if samples.is_empty() {
                return None;
            }
            Some((
                h.index.labels(id),
                if series_only { Vec::new() } else { samples },
            ))
        };
        // Decoding chunks is most of a large select: spread it over the cores.
        let threads = if ids.len() < 2048 {
            1
        } else {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(8)
        };
        if threads == 1 {
            return ids.into_iter().filter_map(one).collect();
        }
        let chunk = ids.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = ids
                .chunks(chunk)
                .map(|part| {
                    let one = &one;
                    scope.spawn(move || part.iter().filter_map(|&id| one(id)).collect::<Vec<_>>())
                })
                .collect();
            let mut out = Vec::with_capacity(ids.len());
            for p in parts {
                match p.join() {
                    Ok(v) => out.extend(v),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            out
        })
    }

    /// Ids and labels of the series matching `matchers` that hold samples, in label order
    /// (samples are read one series at a time with [`Head::samples_of`]); `None`, with
    /// no label copied, when there are more than `max` of them (0: no limit), so an
    /// oversized read is refused without holding the head's lock for long.
    ///
    /// With `project`, each series carries only the labels it names.
    pub fn select_ids(
        &self,
        matchers: &[Matcher],
        max: usize,
        project: Option<&Projection>,
    ) -> Option<Vec<(u32, Labels)>> {
        let h = self.inner.read();
        let limit = if max == 0 { usize::MAX } else { max };
        let mut ids = Vec::new();
        // Stops at the first id over the limit: refusing a huge selection costs as much
        // as reading `max` ids, not every match.
        for id in h.index.select(matchers) {
            if h.series.get(id as usize).is_some_and(|s| !s.is_empty()) {
                if ids.len() == limit {
                    return None;
                }
                ids.push(id);
            }
        }
        h.order.sort(&h.index, &mut ids);
        Some(match project.map(|p| h.index.resolve(p)) {
            Some(p) => ids
                .into_iter()
                .map(|id| (id, h.index.projected_labels(id, &p)))
                .collect(),
            None => ids.into_iter().map(|id| (id, h.index.labels(id))).collect(),
        })
    }

    /// Appends the samples of series `id` in `[mint, maxt]` to `out`.
    pub fn samples_into(&self, id: u32, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let h = self.inner.read();
        if let Some(s) = h.series.get(id as usize) {
            s.samples_into(mint, maxt, out);
        }
    }

    /// Appends the newest sample of series `id` in `[mint, maxt]` to `out`, if it has one.
    pub fn newest_into(&self, id: u32, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let h = self.inner.read();
        if let Some(s) = h.series.get(id as usize) {
            s.newest_into(mint, maxt, out);
        }
    }

    /// Label names (or, with `name`, that label's values) of series matching `matchers`
    /// that have samples in `[mint, maxt]`.
    pub fn label_names_values(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        name: Option<&str>,
        out: &mut std::collections::BTreeSet<String>,
    ) {
        let h = self.inner.read();
        if h.num_samples == 0 || h.maxt < mint || h.mint > maxt {
            return;
        }
        let ids: RoaringBitmap = if matchers.is_empty() {
            h.index.all()
        } else {
            h.index.select(matchers)
        };
        let whole_range = h.mint >= mint && h.maxt <= maxt;
        for id in ids {
            let Some(s) = h.series.get(id as usize) else {
                continue;
            };
            if !whole_range && s.samples(mint, maxt).is_empty() {
                continue;
            }
            if whole_range && s.is_empty() {
                continue;
            }
            let labels = h.index.labels(id);
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

    /// Every series with samples, sorted by labels, with all its samples: the block writer's input.
    /// Ids of the series with samples, in label order: the block writer's input order.
    pub fn sorted_ids(&self) -> Vec<u32> {
        let h = self.inner.read();
        let mut ids: Vec<u32> = (0..h.series.len() as u32)
            .filter(|&id| !h.series[id as usize].is_empty())
            .collect();
        // Compare through the symbol table: materializing every label set at once would
        // cost as much memory as the head's whole index.
        let sym = &h.index.symbols;
        ids.sort_unstable_by(|&a, &b| {
            let (pa, pb) = (h.index.series_pairs(a), h.index.series_pairs(b));
            let ka = pa.iter().map(|&(n, v)| (sym.get(n), sym.get(v)));
            let kb = pb.iter().map(|&(n, v)| (sym.get(n), sym.get(v)));
            ka.cmp(kb)
        });
        ids
    }

    /// Calls `f` with each of `ids` that has samples in `[mint, maxt]`, and those samples.
    pub fn for_each_in(
        &self,
        ids: &[u32],
        mint: i64,
        maxt: i64,
        mut f: impl FnMut(&Labels, &[Sample]) -> crate::Result<()>,
    ) -> crate::Result<()> {
        let h = self.inner.read();
        for &id in ids {
            let Some(s) = h.series.get(id as usize) else {
                continue;
            };
            let samples = s.samples(mint, maxt);
            if !samples.is_empty() {
                f(&h.index.labels(id), &samples)?;
            }
        }
        Ok(())
    }

    /// The aligned periods (`t.div_euclid(period)`) that hold samples.
    pub fn periods(&self, period: i64) -> std::collections::BTreeSet<i64> {
        let h = self.inner.read();
        let mut out = std::collections::BTreeSet::new();
        let mut add = |mint: i64, maxt: i64| {
            out.extend(mint.div_euclid(period)..=maxt.div_euclid(period));
        };
        let mut buf = Vec::new();
        for s in &h.series {
            for c in s.chunks.iter().chain(&s.ooo_chunks) {
                if (c.maxt.div_euclid(period) - c.mint.div_euclid(period)) < 4 {
                    add(c.mint, c.maxt);
                } else {
                    // Backfill can put samples years apart in one chunk: only their periods count.
                    buf.clear();
                    c.samples_into(&mut buf);
                    for x in &buf {
                        add(x.t, x.t);
                    }
                }
            }
            if !s.open.is_empty() {
                add(s.open.mint(), s.open.maxt());
            }
            for x in &s.ooo_buf {
                add(x.t, x.t);
            }
        }
        out
    }

    pub fn stats(&self) -> (HeadStats, Vec<(String, usize)>) {
        let h = self.inner.read();
        let chunk_bytes: usize = h.series.iter().map(MemSeries::bytes).sum();
        let stats = HeadStats {
            series: h.series.len() as u64,
            samples: h.num_samples,
            min_time: if h.num_samples > 0 { h.mint } else { 0 },
            max_time: if h.num_samples > 0 { h.maxt } else { 0 },
            chunk_bytes: chunk_bytes as u64,
            index_bytes: h.index.approx_bytes() as u64,
        };
        let card = h
            .index
            .label_names()
            .map(|(n, m)| (n.to_string(), m.len()))
            .collect();
        (stats, card)
    }

    /// The earliest sample time still in the head (for block cut planning).
    pub fn series_mint(&self) -> i64 {
        let h = self.inner.read();
        h.series
            .iter()
            .map(MemSeries::mint)
            .min()
            .unwrap_or(i64::MAX)
    }
}

impl HeadInner {
    fn get_or_create_valid<L: LabelSet + ?Sized>(
        &mut self,
        labels: &L,
        hash: u64,
        limits: &SeriesLimits,
    ) -> crate::Result<(u32, bool)> {
        if let Some(id) = self.lookup(labels, hash) {
            return Ok((id, false));
        }
        let labels = labels.to_labels();
        labels.validate()?;
        limits.check_labels(&labels)?;
        limits.check_active_series(&labels, self.series.len() as u64)?;
        if limits.max_series_per_metric > 0 {
            let name = labels.metric_name().unwrap_or_default();
            limits.check_series_per_metric(&labels, self.index.count(METRIC_NAME, name))?;
        }
        Ok(self.get_or_create_hashed(&labels, hash))
    }

    fn lookup<L: LabelSet + ?Sized>(&self, labels: &L, hash: u64) -> Option<u32> {
        let &id = self.by_hash.get(&hash)?;
        if self.index.labels_equal(id, labels) {
            return Some(id);
        }
        self.collisions
            .get(&hash)?
            .iter()
            .copied()
            .find(|&id| self.index.labels_equal(id, labels))
    }

    fn get_or_create(&mut self, labels: &Labels) -> (u32, bool) {
        self.get_or_create_hashed(labels, labels.hash64())
    }

    fn get_or_create_hashed(&mut self, labels: &Labels, hash: u64) -> (u32, bool) {
        if let Some(&id) = self.by_hash.get(&hash) {
            if self.index.labels_equal(id, labels) {
                return (id, false);
            }
            if let Some(ids) = self.collisions.get(&hash) {
                for &id in ids {
                    if self.index.labels_equal(id, labels) {
                        return (id, false);
                    }
                }
            }
            let id = self.index.add(labels);
            self.series.push(MemSeries::default());
            self.collisions.entry(hash).or_default().push(id);
            return (id, true);
        }
        let id = self.index.add(labels);
        self.series.push(MemSeries::default());
        self.by_hash.insert(hash, id);
        (id, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(i: &str) -> Labels {
        Labels::from_pairs([("__name__", "up"), ("instance", i)])
    }

    fn append(h: &Head, l: &Labels, samples: &[Sample]) {
        let mut ids = Vec::new();
        h.get_or_create(
            &[(l, l.hash64())],
            &SeriesLimits::none(),
            &mut ids,
            &mut Vec::new(),
        )
        .unwrap();
        h.append(std::iter::once((ids[0], samples)));
    }

    #[test]
    fn out_of_order_and_dedup_last_write_wins() {
        let h = Head::new(0);
        let l = up("a");
        let inorder: Vec<Sample> = (0..500).map(|i| Sample::new(i * 10, i as f64)).collect();
        append(&h, &l, &inorder);
        // backfill older than everything, overwrite some, and a repeat of the last timestamp
        let backfill: Vec<Sample> = (-300..0).map(|i| Sample::new(i * 10, -1.0)).collect();
        append(&h, &l, &backfill);
        append(
            &h,
            &l,
            &[
                Sample::new(100, 42.0),
                Sample::new(4990, 7.0),
                Sample::new(100, 43.0),
            ],
        );
        let m = [Matcher::equal("__name__", "up")];
        let got = h.select(&m, i64::MIN, i64::MAX, false);
        assert_eq!(got.len(), 1);
        let s = &got[0].1;
        assert_eq!(s.len(), 800);
        assert!(s.windows(2).all(|w| w[0].t < w[1].t));
        assert_eq!(s[0], Sample::new(-3000, -1.0));
        let at = |t: i64| s.iter().find(|x| x.t == t).map(|x| x.v);
        assert_eq!(at(100), Some(43.0));
        assert_eq!(at(4990), Some(7.0));
        assert_eq!(at(50), Some(5.0));
        // range restriction
        let got = h.select(&m, 0, 95, false);
        assert_eq!(got[0].1.len(), 10);
    }

    #[test]
    fn hash_collision_side_table_keeps_series_apart() {
        let h = Head::new(0);
        let a = up("a");
        let b = up("b");
        {
            let mut inner = h.inner.write();
            let (ia, _) = inner.get_or_create(&a);
            // Force b under a's hash, as a real collision would.
            let hash = a.hash64();
            let ib = inner.index.add(&b);
            inner.series.push(MemSeries::default());
            inner.collisions.entry(hash).or_default().push(ib);
            assert_ne!(ia, ib);
            assert_eq!(inner.get_or_create(&a), (ia, false));
        }
        assert_eq!(h.num_series(), 2);
    }
}
