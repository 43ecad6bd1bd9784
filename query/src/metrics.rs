//! The query crate's own metrics, declared once here and rendered in the text format by
//! [`render`] for Lookout's `/metrics`. Plain atomics, bumped once per query.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::budget::StopReason;

pub const QUERIES_RUNNING: &str = "lookout_query_running";
pub const QUERIES_QUEUED: &str = "lookout_query_queued";
pub const QUERIES_STOPPED_TOTAL: &str = "lookout_query_stopped_total";
pub const QUERIES_REJECTED_TOTAL: &str = "lookout_query_rejected_total";
pub const QUERY_PEAK_BYTES: &str = "lookout_query_peak_memory_bytes";
/// Label of [`QUERIES_STOPPED_TOTAL`] and [`QUERIES_REJECTED_TOTAL`].
pub const LABEL_REASON: &str = "reason";

static RUNNING: AtomicI64 = AtomicI64::new(0);
static QUEUED: AtomicI64 = AtomicI64::new(0);
static STOPPED_TIMEOUT: AtomicU64 = AtomicU64::new(0);
static STOPPED_CLIENT_GONE: AtomicU64 = AtomicU64::new(0);
static STOPPED_MEMORY: AtomicU64 = AtomicU64::new(0);
static REJECTED_QUEUE_FULL: AtomicU64 = AtomicU64::new(0);
static REJECTED_TOO_LONG: AtomicU64 = AtomicU64::new(0);
static PEAK_BYTES: AtomicU64 = AtomicU64::new(0);

/// Counts a running query for as long as it lives.
pub struct Running(());

impl Running {
    pub fn start() -> Running {
        RUNNING.fetch_add(1, Relaxed);
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Relaxed);
    }
}

/// Counts a query waiting for a slot for as long as it waits.
pub struct Queued(());

impl Queued {
    pub fn start() -> Queued {
        QUEUED.fetch_add(1, Relaxed);
        Queued(())
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        QUEUED.fetch_sub(1, Relaxed);
    }
}

/// Queries evaluating now (not waiting).
pub fn running() -> i64 {
    RUNNING.load(Relaxed)
}

pub fn record_stopped(reason: StopReason) {
    match reason {
        StopReason::Timeout => &STOPPED_TIMEOUT,
        StopReason::ClientGone => &STOPPED_CLIENT_GONE,
        StopReason::Memory => &STOPPED_MEMORY,
    }
    .fetch_add(1, Relaxed);
}

pub fn record_queue_full() {
    REJECTED_QUEUE_FULL.fetch_add(1, Relaxed);
}

pub fn record_too_complex() {
    REJECTED_TOO_LONG.fetch_add(1, Relaxed);
}

/// Keeps the largest budget any query has used.
pub fn record_peak(bytes: usize) {
    PEAK_BYTES.fetch_max(bytes as u64, Relaxed);
}

/// Appends the query crate's metrics, with HELP and TYPE, to `out`.
pub fn render(out: &mut String) {
    for (name, help, v) in [
        (
            QUERIES_RUNNING,
            "Queries evaluating now.",
            RUNNING.load(Relaxed),
        ),
        (
            QUERIES_QUEUED,
            "Queries waiting for an evaluation slot (query.max_concurrency).",
            QUEUED.load(Relaxed),
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
    let name = QUERY_PEAK_BYTES;
    let _ = writeln!(
        out,
        "# HELP {name} Most memory one query has held, as its budget counts it (query.max_memory).\n# TYPE {name} gauge\n{name} {}",
        PEAK_BYTES.load(Relaxed)
    );
    let name = QUERIES_STOPPED_TOTAL;
    let _ = writeln!(
        out,
        "# HELP {name} Queries stopped before they finished, by reason.\n# TYPE {name} counter"
    );
    for (reason, c) in [
        ("timeout", &STOPPED_TIMEOUT),
        ("canceled", &STOPPED_CLIENT_GONE),
        ("memory", &STOPPED_MEMORY),
    ] {
        let _ = writeln!(
            out,
            "{name}{{{LABEL_REASON}=\"{reason}\"}} {}",
            c.load(Relaxed)
        );
    }
    let name = QUERIES_REJECTED_TOTAL;
    let _ = writeln!(
        out,
        "# HELP {name} Queries refused before evaluation, by reason.\n# TYPE {name} counter"
    );
    for (reason, c) in [
        ("queue_full", &REJECTED_QUEUE_FULL),
        ("too_long_or_deep", &REJECTED_TOO_LONG),
    ] {
        let _ = writeln!(
            out,
            "{name}{{{LABEL_REASON}=\"{reason}\"}} {}",
            c.load(Relaxed)
        );
    }
}
