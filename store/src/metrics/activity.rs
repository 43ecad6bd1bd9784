//! Process-wide counters of the metrics store's background work (compactions), read by
//! `/metrics` under Prometheus' names. They live here, beside the work they count, so the
//! figures are exact whatever tenants open and close meanwhile.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

static COMPACTIONS: AtomicU64 = AtomicU64::new(0);
static COMPACTIONS_FAILED: AtomicU64 = AtomicU64::new(0);
static COMPACTION_MICROS: AtomicU64 = AtomicU64::new(0);

/// What the metrics store's compactor has done since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Compactions {
    /// Compactions that wrote a merged block (`prometheus_tsdb_compactions_total`).
    pub done: u64,
    /// Compactions that failed (`prometheus_tsdb_compactions_failed_total`).
    pub failed: u64,
    /// Seconds spent in compactions, failed ones included.
    pub seconds: f64,
}

pub fn compactions() -> Compactions {
    Compactions {
        done: COMPACTIONS.load(Relaxed),
        failed: COMPACTIONS_FAILED.load(Relaxed),
        seconds: COMPACTION_MICROS.load(Relaxed) as f64 / 1e6,
    }
}

pub(super) fn record_compaction(ok: bool, took: Duration) {
    if ok {
        COMPACTIONS.fetch_add(1, Relaxed);
    } else {
        COMPACTIONS_FAILED.fetch_add(1, Relaxed);
    }
    let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    COMPACTION_MICROS.fetch_add(micros, Relaxed);
}
