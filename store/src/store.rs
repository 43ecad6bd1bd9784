//! The store: one set of engines per tenant under `<data>/tenants/<tenant>/` (the metrics
//! database in `metrics/`, the log engine in `logs/`; see `engine.rs`), opened lazily (on a tenant's first read or write after start, replaying its WAL) and
//! closed again once idle, so a flood of tenant ids cannot exhaust file descriptors; the
//! per-tenant limits (number of tenants, ingest rate); and the maintenance loop that cuts
//! heads, compacts, applies retention and closes idle tenants.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::engine::Engines;
use crate::error::{Error, ErrorClass, Result};
use crate::limits::{refused, Reason};
use crate::logs::{LogOptions, LogStats};
use crate::metrics::TsdbOptions;
use crate::model::span::{AttrValue, ResourceSpans, TraceId};
use crate::model::{Labels, LineSize, LogHit, LogSelect, LogStream, Matcher, Sample};
use crate::traces::SpanOptions;
use crate::{
    Append, AppendLogs, AppendSpans, BorrowedSeries, LabelPairs, ReadLogs, ReadSpans, SelectHints,
    Series, SeriesExemplars, SeriesSamples, SpanAttributeNames, SpanAttributeScope, TenantId,
    TraceSelect, TsdbStats,
};

#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub tsdb: TsdbOptions,
    pub tenants: TenantLimits,
    /// The log engine's own knobs; its clock and retention are the metrics' (`tsdb`).
    pub logs: LogOptions,
    /// The span engine's own knobs; its clock and retention are the metrics' (`tsdb`).
    pub traces: SpanOptions,
}

/// Limits per tenant and on the number of tenants; 0 means no limit everywhere.
#[derive(Debug, Clone)]
pub struct TenantLimits {
    /// Most tenants with data (`limits.max_tenants`); a write for a new one beyond is refused.
    pub max_tenants: usize,
    /// A tenant not read or written for this long, ms, is flushed and closed
    /// (`limits.tenant_idle_close`); it reopens on its next read or write.
    pub idle_close: i64,
    /// Samples per second per tenant (`limits.ingestion_rate`), with bursts up to
    /// `ingestion_burst_size` samples.
    pub ingestion_rate: f64,
    pub ingestion_burst_size: u64,
    /// Most samples in one write (`limits.max_samples_per_request`).
    pub max_samples_per_request: usize,
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits {
            max_tenants: 1000,
            idle_close: 60 * 60_000,
            ingestion_rate: 0.0,
            ingestion_burst_size: 0,
            max_samples_per_request: 0,
        }
    }
}

/// An open tenant: its engines, when it was last used (clock ms), and its ingest budget.
struct Open {
    db: Arc<Engines>,
    used: AtomicI64,
    bucket: Mutex<Bucket>,
}

/// A token bucket of samples.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: i64,
}

pub struct Store {
    dir: PathBuf,
    opts: StoreOptions,
    /// Tenants open now.
    tenants: RwLock<HashMap<TenantId, Open>>,
    /// Tenants with a directory, open or not.
    known: RwLock<BTreeSet<TenantId>>,
    /// When closed tenants were last maintained (clock ms).
    maintained: Mutex<HashMap<TenantId, i64>>,
    /// Serializes opening and closing tenants.
    opening: Mutex<()>,
    /// Held for the store's life so two processes never write one directory.
    _lock: fs::File,
}

impl Store {
    /// Opens the data directory (creating it) and lists its tenants; each tenant's WAL is
    /// replayed when the tenant is first used.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<Store> {
        let tdir = dir.join("tenants");
        fs::create_dir_all(&tdir).map_err(Error::io("creating the data directory", &tdir))?;
        let lock_path = dir.join("lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(Error::io("opening the data directory lock", &lock_path))?;
        if lock.try_lock().is_err() {
            return Err(Error::Locked(dir.to_path_buf()));
        }
        let mut known = BTreeSet::new();
        for entry in fs::read_dir(&tdir)
            .map_err(Error::io("listing tenants", &tdir))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(id) = TenantId::new(&name) else {
                tracing::warn!(dir = %entry.path().display(), "ignoring a directory that is not a tenant id");
                continue;
            };
            known.insert(id);
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            opts,
            tenants: RwLock::new(HashMap::new()),
            known: RwLock::new(known),
            maintained: Mutex::new(HashMap::new()),
            opening: Mutex::new(()),
            _lock: lock,
        })
    }

    /// Opens every tenant now (replaying their WALs), as a server does at start so the
    /// first query does not wait for a replay.
    pub fn open_all(&self) -> Result<()> {
        for t in self.tenants() {
            self.get_or_open(&t, false)?;
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn now(&self) -> i64 {
        self.opts.tsdb.clock.now_ms()
    }

    fn tenant_dir(&self, tenant: &TenantId) -> PathBuf {
        self.dir.join("tenants").join(tenant.as_str())
    }

    /// The tenant's engines for a read: opened if it has data, None (and nothing created)
    /// for a tenant never written.
    pub(crate) fn get(&self, tenant: &TenantId) -> Result<Option<Arc<Engines>>> {
        if let Some(o) = self.tenants.read().get(tenant) {
            o.used.store(self.now(), Ordering::Relaxed);
            return Ok(Some(o.db.clone()));
        }
        if !self.known.read().contains(tenant) {
            return Ok(None);
        }
        self.get_or_open(tenant, false).map(Some)
    }

    /// The tenant's engines, opened (for a write, created) if need be.
    fn get_or_open(&self, tenant: &TenantId, create: bool) -> Result<Arc<Engines>> {
        if let Some(o) = self.tenants.read().get(tenant) {
            o.used.store(self.now(), Ordering::Relaxed);
            return Ok(o.db.clone());
        }
        // Never two databases on one directory: a tenant being closed is flushed under
        // this lock, and opened again only after.
        let _opening = self.opening.lock();
        let mut t = self.tenants.write();
        if let Some(o) = t.get(tenant) {
            return Ok(o.db.clone());
        }
        if !self.known.read().contains(tenant) {
            if !create {
                return Err(Error::BadInput(format!("tenant {tenant} has no data")));
            }
            let max = self.opts.tenants.max_tenants;
            let n = self.known.read().len();
            if max > 0 && n >= max {
                return Err(refused(
                    Reason::MaxTenants,
                    ErrorClass::LimitExceeded,
                    format!(
                        "tenant {tenant} refused: the store already holds {n} tenants, the limit (limits.max_tenants: {max})"
                    ),
                ));
            }
        }
        let db = Arc::new(Engines::open(
            &self.tenant_dir(tenant),
            self.opts.tsdb.clone(),
            self.opts.logs.clone(),
            self.opts.traces.clone(),
        )?);
        self.known.write().insert(tenant.clone());
        let now = self.now();
        t.insert(
            tenant.clone(),
            Open {
                db: db.clone(),
                used: AtomicI64::new(now),
                bucket: Mutex::new(Bucket {
                    tokens: self.burst(),
                    at: now,
                }),
            },
        );
        Ok(db)
    }

    /// Takes `n` samples from the tenant's ingest budget, or refuses the write.
    fn take_budget(&self, tenant: &TenantId, n: usize) -> Result<()> {
        let lim = &self.opts.tenants;
        if lim.max_samples_per_request > 0 && n > lim.max_samples_per_request {
            return Err(refused(
                Reason::RequestTooLarge,
                ErrorClass::BadInput,
                format!(
                    "the write holds {n} samples, over the limit of {} (limits.max_samples_per_request); send smaller batches (max_samples_per_send)",
                    lim.max_samples_per_request
                ),
            ));
        }
        if lim.ingestion_rate <= 0.0 {
            return Ok(());
        }
        let now = self.now();
        let t = self.tenants.read();
        let Some(o) = t.get(tenant) else {
            return Ok(());
        };
        let mut b = o.bucket.lock();
        let burst = self.burst();
        let elapsed = (now - b.at).max(0) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * lim.ingestion_rate).min(burst);
        b.at = now;
        if (n as f64) > b.tokens {
            return Err(refused(
                Reason::RateLimited,
                ErrorClass::LimitExceeded,
                format!(
                    "tenant {tenant} is over its ingest rate: {n} samples sent, {:.0} allowed now (limits.ingestion_rate: {} samples/s, limits.ingestion_burst_size: {}); retry later",
                    b.tokens, lim.ingestion_rate, lim.ingestion_burst_size
                ),
            ));
        }
        b.tokens -= n as f64;
        Ok(())
    }

    /// Flushes and closes tenants not used for `limits.tenant_idle_close`. A tenant some
    /// reader or writer still holds stays open until a later round.
    pub fn close_idle(&self) {
        let idle = self.opts.tenants.idle_close;
        if idle <= 0 {
            return;
        }
        let cutoff = self.now().saturating_sub(idle);
        let candidates: Vec<TenantId> = self
            .tenants
            .read()
            .iter()
            .filter(|(_, o)| o.used.load(Ordering::Relaxed) < cutoff)
            .map(|(t, _)| t.clone())
            .collect();
        for tenant in candidates {
            self.close_if_unused(&tenant);
        }
    }

    /// Flushes and closes a tenant unless a reader or writer holds it now.
    fn close_if_unused(&self, tenant: &TenantId) {
        if self.opts.tenants.idle_close <= 0 {
            return;
        }
        let _opening = self.opening.lock();
        let db = {
            let mut t = self.tenants.write();
            // Only the map holds it: nobody can start using it while the lock is held.
            match t.get(tenant) {
                Some(o) if Arc::strong_count(&o.db) == 1 => {}
                _ => return,
            }
            match t.remove(tenant) {
                Some(o) => o.db,
                None => return,
            }
        };
        // Out of the map, so no new user; flushing empties its WAL, so a reopen replays
        // nothing. A reopen waits on `opening` until the flush is done.
        match db.flush_and_sync() {
            Ok(()) => {
                tracing::info!(%tenant, "closed idle tenant");
                self.maintained.lock().insert(tenant.clone(), self.now());
            }
            Err(e) => {
                tracing::error!(%tenant, error = %e, "cannot flush an idle tenant; it stays open");
                let now = self.now();
                self.tenants.write().entry(tenant.clone()).or_insert(Open {
                    db,
                    used: AtomicI64::new(now),
                    bucket: Mutex::new(Bucket {
                        tokens: self.burst(),
                        at: now,
                    }),
                });
            }
        }
    }

    fn burst(&self) -> f64 {
        let lim = &self.opts.tenants;
        (lim.ingestion_burst_size as f64).max(lim.ingestion_rate)
    }

    /// Whether a tenant's database is open now (for tests and stats).
    pub fn is_open(&self, tenant: &TenantId) -> bool {
        self.tenants.read().contains_key(tenant)
    }

    /// Every tenant with data, open or not, sorted.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.known.read().iter().cloned().collect()
    }

    /// Series matching `matchers` with samples in `[mint, maxt]`, sorted by labels.
    pub fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
    ) -> Result<Vec<Series>> {
        match self.get(tenant)? {
            Some(db) => db.metrics.select(matchers, mint, maxt, hints),
            None => Ok(Vec::new()),
        }
    }

    /// [`Tsdb::select_map`] for a tenant: each matching series' samples go to `f`, whose
    /// results come back in label order.
    pub fn select_map<R: Send>(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
        f: &(dyn Fn(&Labels, &[Sample]) -> R + Sync),
    ) -> Result<Vec<(Labels, R)>> {
        match self.get(tenant)? {
            Some(db) => db.metrics.select_map(matchers, mint, maxt, hints, f),
            None => Ok(Vec::new()),
        }
    }

    /// Exemplars in `[start, end]` (ms) of the tenant's series matching one of the
    /// matcher groups, sorted by series labels.
    pub fn select_exemplars(
        &self,
        tenant: &TenantId,
        groups: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesExemplars>> {
        match self.get(tenant)? {
            Some(db) => Ok(db.metrics.select_exemplars(groups, start, end)),
            None => Ok(Vec::new()),
        }
    }

    /// Sorted label names of matching series (all series when `matchers` is empty).
    pub fn label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>> {
        match self.get(tenant)? {
            Some(db) => db.metrics.label_names_values(matchers, mint, maxt, None),
            None => Ok(Vec::new()),
        }
    }

    /// Sorted values of label `name` among matching series.
    pub fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>> {
        match self.get(tenant)? {
            Some(db) => db
                .metrics
                .label_names_values(matchers, mint, maxt, Some(name)),
            None => Ok(Vec::new()),
        }
    }

    /// Persists what every open tenant's engines hold in memory (metrics heads cut into
    /// blocks, pending log lines committed); closed tenants hold nothing.
    pub fn flush(&self) -> Result<()> {
        for db in self.all() {
            for e in db.each() {
                e.flush()?;
            }
        }
        Ok(())
    }

    /// The same for one tenant (nothing for a tenant without data).
    pub fn flush_tenant(&self, tenant: &TenantId) -> Result<()> {
        if let Some(db) = self.get(tenant)? {
            for e in db.each() {
                e.flush()?;
            }
        }
        Ok(())
    }

    /// One round of maintenance of every engine of a tenant; errors are logged.
    fn maintain_engines(db: &Engines) {
        for e in db.each() {
            if let Err(err) = e.maintain() {
                tracing::error!(engine = e.name(), dir = %e.dir().display(), error = %err, "maintenance failed; will retry");
            }
        }
    }

    /// One round of maintenance for every open tenant, and for each closed one once per
    /// `limits.tenant_idle_close` (retention applies to them too); then idle tenants are
    /// closed. Errors are logged, not returned, so one tenant's trouble does not stop the
    /// others'.
    pub fn maintain(&self) {
        let open: BTreeSet<TenantId> = self.tenants.read().keys().cloned().collect();
        let now = self.now();
        let due: Vec<TenantId> = {
            let maintained = self.maintained.lock();
            self.known
                .read()
                .iter()
                .filter(|t| !open.contains(*t))
                .filter(|t| {
                    maintained.get(*t).is_none_or(|&at| {
                        now.saturating_sub(at) >= self.opts.tenants.idle_close.max(1)
                    })
                })
                .cloned()
                .collect()
        };
        // One closed tenant at a time: opened, maintained and closed again, so a store of
        // many tenants never holds them all open at once.
        for t in due {
            match self.get_or_open(&t, false) {
                Ok(db) => Self::maintain_engines(&db),
                Err(e) => {
                    tracing::error!(tenant = %t, error = %e, "cannot open a tenant for maintenance; will retry");
                    continue;
                }
            }
            self.close_if_unused(&t);
            self.maintained.lock().insert(t, now);
        }
        for db in self.all() {
            Self::maintain_engines(&db);
        }
        self.close_idle();
    }

    /// Runs [`Store::maintain`] every `every` on a background thread until the store is dropped.
    pub fn spawn_maintenance(
        self: &Arc<Self>,
        every: Duration,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("lookout-maintenance".into())
            .spawn(move || loop {
                let mut slept = Duration::ZERO;
                while slept < every {
                    std::thread::sleep(Duration::from_millis(200));
                    slept += Duration::from_millis(200);
                    if weak.strong_count() == 0 {
                        return;
                    }
                }
                match weak.upgrade() {
                    Some(s) => s.maintain(),
                    None => return,
                }
            })
    }

    /// A tenant's metrics stats (`/api/v1/status/tsdb`, `lookout tsdb stats`).
    pub fn stats(&self, tenant: &TenantId) -> TsdbStats {
        self.tenant_stats(tenant).metrics
    }

    /// A tenant's log stats (lines, bytes, streams, partitions).
    pub fn log_stats(&self, tenant: &TenantId) -> LogStats {
        self.tenant_stats(tenant).logs
    }

    /// Every engine's stats of a tenant (all zero for a tenant without data).
    pub fn tenant_stats(&self, tenant: &TenantId) -> TenantStats {
        match self.get(tenant) {
            Ok(Some(db)) => TenantStats::of(&db),
            Ok(None) => TenantStats::default(),
            Err(e) => {
                tracing::error!(%tenant, error = %e, "cannot open a tenant for its stats");
                TenantStats::default()
            }
        }
    }

    /// Metrics stats of the tenants open now, without opening closed ones (for /metrics).
    pub fn open_stats(&self) -> Vec<(TenantId, TsdbStats)> {
        self.open_tenant_stats()
            .into_iter()
            .map(|(t, s)| (t, s.metrics))
            .collect()
    }

    /// Every engine's stats of the tenants open now, without opening closed ones.
    pub fn open_tenant_stats(&self) -> Vec<(TenantId, TenantStats)> {
        let open: Vec<(TenantId, Arc<Engines>)> = self
            .tenants
            .read()
            .iter()
            .map(|(t, o)| (t.clone(), o.db.clone()))
            .collect();
        let mut v: Vec<_> = open
            .into_iter()
            .map(|(t, db)| (t, TenantStats::of(&db)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// fsyncs every WAL: the last step of a graceful shutdown. Span heads are first cut
    /// into span files, so a restart does not replay a large span WAL (metric heads stay
    /// in their WAL; a failed cut leaves the spans there too).
    pub fn close(&self) -> Result<()> {
        for db in self.all() {
            if let Err(err) = db.traces.cut() {
                tracing::error!(error = %err, "cutting the span head at shutdown failed; its WAL keeps the spans");
            }
            for e in db.each() {
                e.sync()?;
            }
        }
        Ok(())
    }

    fn all(&self) -> Vec<Arc<Engines>> {
        self.tenants.read().values().map(|o| o.db.clone()).collect()
    }
}

impl Append for Store {
    fn append(&self, tenant: &TenantId, batch: &[SeriesSamples]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let db = self.get_or_open(tenant, true)?;
        self.take_budget(tenant, batch.iter().map(|s| s.samples.len()).sum())?;
        db.metrics.append(batch)
    }

    fn append_borrowed(&self, tenant: &TenantId, batch: &[BorrowedSeries<'_>]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let db = self.get_or_open(tenant, true)?;
        self.take_budget(tenant, batch.iter().map(|s| s.samples.len()).sum())?;
        let views: Vec<(&LabelPairs, &[Sample])> =
            batch.iter().map(|s| (s.labels, s.samples)).collect();
        db.metrics.append_views(&views)
    }

    fn append_exemplars(&self, tenant: &TenantId, batch: &[SeriesExemplars]) -> Result<()> {
        if batch.iter().all(|s| s.exemplars.is_empty()) {
            return Ok(());
        }
        let db = self.get_or_open(tenant, true)?;
        db.metrics.append_exemplars(batch)
    }
}

/// Stats of every engine of a tenant.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TenantStats {
    pub metrics: TsdbStats,
    pub logs: LogStats,
    pub traces: crate::SpanStats,
}

impl TenantStats {
    fn of(db: &Engines) -> TenantStats {
        TenantStats {
            metrics: db.metrics.stats(),
            logs: db.logs.stats(),
            traces: db.traces.stats(),
        }
    }
}

impl AppendLogs for Store {
    fn append_logs(&self, tenant: &TenantId, batch: Vec<LogStream>) -> Result<()> {
        if batch.iter().all(|s| s.records.is_empty()) {
            return Ok(());
        }
        let db = self.get_or_open(tenant, true)?;
        db.logs.append(batch)
    }
}

impl ReadLogs for Store {
    fn select_logs(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
        f: &mut dyn FnMut(LogHit) -> bool,
    ) -> Result<()> {
        match self.get(tenant)? {
            Some(db) => db.logs.select(sel, f),
            None => Ok(()),
        }
    }

    fn select_log_sizes(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
        f: &mut dyn FnMut(&Arc<Labels>, &[LineSize]) -> bool,
    ) -> Result<()> {
        match self.get(tenant)? {
            Some(db) => db.logs.sizes(sel, f),
            None => Ok(()),
        }
    }

    fn log_streams(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>> {
        match self.get(tenant)? {
            Some(db) => Ok(db
                .logs
                .streams(matchers, start_ns, end_ns)?
                .into_iter()
                .map(|l| (*l).clone())
                .collect()),
            None => Ok(Vec::new()),
        }
    }

    fn log_label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>> {
        let Some(db) = self.get(tenant)? else {
            return Ok(Vec::new());
        };
        let names: BTreeSet<String> = db
            .logs
            .streams(matchers, start_ns, end_ns)?
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        Ok(names.into_iter().collect())
    }

    fn log_label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>> {
        let Some(db) = self.get(tenant)? else {
            return Ok(Vec::new());
        };
        let values: BTreeSet<String> = db
            .logs
            .streams(matchers, start_ns, end_ns)?
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        Ok(values.into_iter().collect())
    }
}

impl AppendSpans for Store {
    fn append_spans(&self, tenant: &TenantId, batch: &[ResourceSpans]) -> Result<()> {
        if batch
            .iter()
            .all(|rs| rs.scopes.iter().all(|s| s.spans.is_empty()))
        {
            return Ok(());
        }
        self.get_or_open(tenant, true)?.traces.append(batch)
    }
}

impl ReadSpans for Store {
    fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: &TraceId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<ResourceSpans>> {
        match self.get(tenant)? {
            Some(db) => db.traces.trace_by_id(id, start_ns, end_ns),
            None => Ok(Vec::new()),
        }
    }

    fn scan_traces(
        &self,
        tenant: &TenantId,
        sel: &TraceSelect,
        f: &mut dyn FnMut(Vec<ResourceSpans>) -> bool,
    ) -> Result<()> {
        match self.get(tenant)? {
            Some(db) => db.traces.scan(sel, f),
            None => Ok(()),
        }
    }

    fn span_attribute_names(
        &self,
        tenant: &TenantId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<SpanAttributeNames> {
        match self.get(tenant)? {
            Some(db) => db.traces.attribute_names(start_ns, end_ns),
            None => Ok(SpanAttributeNames::default()),
        }
    }

    fn span_attribute_values(
        &self,
        tenant: &TenantId,
        scope: SpanAttributeScope,
        name: &str,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
    ) -> Result<Vec<AttrValue>> {
        match self.get(tenant)? {
            Some(db) => db
                .traces
                .attribute_values(scope, name, start_ns, end_ns, limit),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::Clock;

    fn batch(v: f64, t: i64) -> Vec<SeriesSamples> {
        vec![SeriesSamples {
            labels: Labels::from_pairs([("__name__", "x")]),
            samples: vec![Sample::new(t, v)],
        }]
    }

    fn count(s: &Store, t: &TenantId) -> usize {
        let m = [Matcher::equal("__name__", "x")];
        s.select(t, &m, i64::MIN, i64::MAX, &SelectHints::default())
            .unwrap()
            .iter()
            .map(|s| s.samples.len())
            .sum()
    }

    #[test]
    fn tenants_open_lazily_close_when_idle_and_reopen_on_use() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::fixed(1_000_000);
        let opts = StoreOptions {
            tsdb: TsdbOptions {
                clock: clock.clone(),
                retention_time: 0,
                ..Default::default()
            },
            tenants: TenantLimits {
                idle_close: 60_000,
                ..Default::default()
            },
            ..Default::default()
        };
        let a = TenantId::new("a").unwrap();
        let nobody = TenantId::new("nobody").unwrap();
        {
            let s = Store::open(dir.path(), opts.clone()).unwrap();
            s.append(&a, &batch(1.0, 1_000)).unwrap();
            assert_eq!(count(&s, &nobody), 0);
            assert!(!dir.path().join("tenants/nobody").exists());
            clock.set(1_000_000 + 61_000);
            s.maintain();
            assert!(!s.is_open(&a), "an idle tenant stays open");
            // A read reopens it with everything it had.
            assert_eq!(count(&s, &a), 1);
            assert!(s.is_open(&a));
            s.append(&a, &batch(2.0, 2_000)).unwrap();
            assert_eq!(count(&s, &a), 2);
        }
        // Opening a store replays nothing until a tenant is used.
        let s = Store::open(dir.path(), opts).unwrap();
        assert_eq!(s.tenants(), vec![a.clone()]);
        assert!(!s.is_open(&a));
        assert_eq!(count(&s, &a), 2);
    }

    #[test]
    fn new_tenants_stop_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions {
            tsdb: TsdbOptions {
                retention_time: 0,
                ..Default::default()
            },
            tenants: TenantLimits {
                max_tenants: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        let s = Store::open(dir.path(), opts).unwrap();
        s.append(&TenantId::new("a").unwrap(), &batch(1.0, 1_000))
            .unwrap();
        let e = s
            .append(&TenantId::new("b").unwrap(), &batch(1.0, 1_000))
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::LimitExceeded);
        assert!(e.to_string().contains("limits.max_tenants"), "{e}");
        assert!(!dir.path().join("tenants/b").exists());
    }
}
