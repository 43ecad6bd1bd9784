//! One tenant, several engines. A tenant's storage is a directory with one subdirectory per
//! signal (`metrics/`, `logs/`, `traces/`), each owned by an engine. The engines share one lifecycle,
//! so the store opens, maintains, flushes, syncs and closes a tenant by looping over them
//! instead of special-casing one signal:
//!
//! - **open**: replay the engine's WAL (done by each engine's constructor);
//! - **maintain**: due background work (head cuts, commits, compaction, retention);
//! - **flush**: persist everything held in memory now (an idle close, an admin flush);
//! - **sync**: fsync the WAL (the last step of a graceful shutdown).

use std::path::Path;

use crate::error::Result;
use crate::logs::{LogEngine, LogOptions};
use crate::metrics::{Tsdb, TsdbOptions};
use crate::traces::{SpanEngine, SpanOptions};

/// The lifecycle every engine of a tenant implements.
pub(crate) trait Engine: Send + Sync {
    /// The signal it keeps, for logs and errors (`metrics`, `logs`, `traces`).
    fn name(&self) -> &'static str;
    /// Its directory.
    fn dir(&self) -> &Path;
    /// Due maintenance. Errors are retried at the next round.
    fn maintain(&self) -> Result<()>;
    /// Persists everything held in memory, so a reopen replays nothing.
    fn flush(&self) -> Result<()>;
    /// fsyncs the WAL.
    fn sync(&self) -> Result<()>;
}

impl Engine for Tsdb {
    fn name(&self) -> &'static str {
        "metrics"
    }
    fn dir(&self) -> &Path {
        Tsdb::dir(self)
    }
    fn maintain(&self) -> Result<()> {
        Tsdb::maintain(self)
    }
    fn flush(&self) -> Result<()> {
        Tsdb::flush(self)
    }
    fn sync(&self) -> Result<()> {
        Tsdb::sync(self)
    }
}

/// One tenant's engines, opened together from `<data>/tenants/<tenant>/`.
pub(crate) struct Engines {
    pub(crate) metrics: Tsdb,
    pub(crate) logs: LogEngine,
    pub(crate) traces: SpanEngine,
}

impl Engines {
    /// Opens (creating) every engine of the tenant directory `dir`, replaying their WALs.
    pub(crate) fn open(
        dir: &Path,
        tsdb: TsdbOptions,
        logs: LogOptions,
        traces: SpanOptions,
    ) -> Result<Engines> {
        let logs = LogEngine::open(&dir.join("logs"), logs.inherit(&tsdb))?;
        let traces = SpanEngine::open(&dir.join("traces"), traces.inherit(&tsdb))?;
        let metrics = Tsdb::open(&dir.join("metrics"), tsdb)?;
        Ok(Engines {
            metrics,
            logs,
            traces,
        })
    }

    /// Every engine, in a fixed order.
    pub(crate) fn each(&self) -> [&dyn Engine; 3] {
        [&self.metrics, &self.logs, &self.traces]
    }

    /// Flushes then fsyncs every engine; stops at the first error.
    pub(crate) fn flush_and_sync(&self) -> Result<()> {
        for e in self.each() {
            e.flush()?;
            e.sync()?;
        }
        Ok(())
    }
}
