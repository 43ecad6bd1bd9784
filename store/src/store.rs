//! The store: one metrics database per tenant under `<data>/tenants/<tenant>/metrics`,
//! opened at start (replaying WALs) or on a tenant's first write, and the maintenance loop
//! that cuts heads, compacts and applies retention.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::metrics::{Tsdb, TsdbOptions};
use crate::model::{Labels, Matcher, Sample};
use crate::{
    Append, BorrowedSeries, LabelPairs, SelectHints, Series, SeriesSamples, TenantId, TsdbStats,
};

#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub tsdb: TsdbOptions,
}

pub struct Store {
    dir: PathBuf,
    opts: StoreOptions,
    tenants: RwLock<HashMap<TenantId, Arc<Tsdb>>>,
    /// Held for the store's life so two processes never write one directory.
    _lock: fs::File,
}

impl Store {
    /// Opens the data directory, replaying every tenant's WAL.
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
        let mut tenants = HashMap::new();
        for entry in fs::read_dir(&tdir)
            .map_err(Error::io("listing tenants", &tdir))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(id) = TenantId::new(&name) else {
                tracing::warn!(dir = %entry.path().display(), "ignoring a directory that is not a tenant id");
                continue;
            };
            let db = Tsdb::open(&entry.path().join("metrics"), opts.tsdb.clone())?;
            tenants.insert(id, Arc::new(db));
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            opts,
            tenants: RwLock::new(tenants),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn get(&self, tenant: &TenantId) -> Option<Arc<Tsdb>> {
        self.tenants.read().get(tenant).cloned()
    }

    fn get_or_open(&self, tenant: &TenantId) -> Result<Arc<Tsdb>> {
        if let Some(db) = self.get(tenant) {
            return Ok(db);
        }
        let mut t = self.tenants.write();
        if let Some(db) = t.get(tenant) {
            return Ok(db.clone());
        }
        let dir = self
            .dir
            .join("tenants")
            .join(tenant.as_str())
            .join("metrics");
        let db = Arc::new(Tsdb::open(&dir, self.opts.tsdb.clone())?);
        t.insert(tenant.clone(), db.clone());
        Ok(db)
    }

    pub fn tenants(&self) -> Vec<TenantId> {
        let mut v: Vec<TenantId> = self.tenants.read().keys().cloned().collect();
        v.sort();
        v
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
        match self.get(tenant) {
            Some(db) => db.select(matchers, mint, maxt, hints),
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
        match self.get(tenant) {
            Some(db) => db.select_map(matchers, mint, maxt, hints, f),
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
        match self.get(tenant) {
            Some(db) => db.label_names_values(matchers, mint, maxt, None),
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
        match self.get(tenant) {
            Some(db) => db.label_names_values(matchers, mint, maxt, Some(name)),
            None => Ok(Vec::new()),
        }
    }

    /// Cuts every tenant's head into blocks now.
    pub fn flush(&self) -> Result<()> {
        for db in self.all() {
            db.flush()?;
        }
        Ok(())
    }

    /// One round of maintenance for every tenant; errors are logged, not returned, so one
    /// tenant's trouble does not stop the others'.
    pub fn maintain(&self) {
        for db in self.all() {
            if let Err(e) = db.maintain() {
                tracing::error!(dir = %db.dir().display(), error = %e, "metrics maintenance failed; will retry");
            }
        }
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

    pub fn stats(&self, tenant: &TenantId) -> TsdbStats {
        self.get(tenant).map(|db| db.stats()).unwrap_or_default()
    }

    /// fsyncs every WAL: the last step of a graceful shutdown.
    pub fn close(&self) -> Result<()> {
        for db in self.all() {
            db.sync()?;
        }
        Ok(())
    }

    fn all(&self) -> Vec<Arc<Tsdb>> {
        self.tenants.read().values().cloned().collect()
    }
}

impl Append for Store {
    fn append(&self, tenant: &TenantId, batch: &[SeriesSamples]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.get_or_open(tenant)?.append(batch)
    }

    fn append_borrowed(&self, tenant: &TenantId, batch: &[BorrowedSeries<'_>]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let views: Vec<(&LabelPairs, &[Sample])> =
            batch.iter().map(|s| (s.labels, s.samples)).collect();
        self.get_or_open(tenant)?.append_views(&views)
    }
}
