//! The collector's own metrics, declared once here and rendered in the text format by
//! [`render`] for Lookout's `/metrics`. Plain atomics: they are bumped once per scrape or
//! request, never per sample.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use lookout_store::Reason;

use crate::logs::{LogReason, Protocol};
use crate::scrape::cache::Outcome;

pub const SCRAPES_TOTAL: &str = "lookout_scrape_scrapes_total";
pub const SCRAPE_FAILURES_TOTAL: &str = "lookout_scrape_failures_total";
pub const SCRAPE_SAMPLES_TOTAL: &str = "lookout_scrape_samples_total";
pub const SCRAPE_STALE_MARKERS_TOTAL: &str = "lookout_scrape_stale_markers_total";
pub const SCRAPE_EXEMPLARS_TOTAL: &str = "lookout_scrape_exemplars_total";
pub const SCRAPE_DUPLICATES_TOTAL: &str = "lookout_scrape_duplicate_samples_total";
pub const SCRAPE_SECONDS_TOTAL: &str = "lookout_scrape_duration_seconds_total";
pub const REMOTE_WRITE_REQUESTS_TOTAL: &str = "lookout_remote_write_requests_total";
pub const REMOTE_WRITE_SAMPLES_TOTAL: &str = "lookout_remote_write_samples_total";
pub const SAMPLES_REJECTED_TOTAL: &str = "lookout_ingest_samples_rejected_total";
pub const SCRAPE_OUT_OF_BOUNDS_TOTAL: &str = "lookout_scrape_samples_out_of_bounds_total";
pub const LOG_LINES_TOTAL: &str = "lookout_logs_lines_received_total";
pub const LOG_BYTES_TOTAL: &str = "lookout_logs_bytes_received_total";
pub const LOG_LINES_REJECTED_TOTAL: &str = "lookout_logs_lines_rejected_total";
/// The label of [`SAMPLES_REJECTED_TOTAL`] and [`LOG_LINES_REJECTED_TOTAL`]: a
/// [`Reason::as_str`] or [`LogReason::as_str`].
pub const LABEL_REASON: &str = "reason";
/// The label of [`LOG_LINES_TOTAL`] and [`LOG_BYTES_TOTAL`]: a [`Protocol::as_str`].
pub const LABEL_PROTOCOL: &str = "protocol";

static SCRAPES: AtomicU64 = AtomicU64::new(0);
static FAILURES: AtomicU64 = AtomicU64::new(0);
static SAMPLES: AtomicU64 = AtomicU64::new(0);
static STALE: AtomicU64 = AtomicU64::new(0);
static EXEMPLARS: AtomicU64 = AtomicU64::new(0);
static DUPLICATES: AtomicU64 = AtomicU64::new(0);
static SCRAPE_MICROS: AtomicU64 = AtomicU64::new(0);
static RW_REQUESTS: AtomicU64 = AtomicU64::new(0);
static RW_SAMPLES: AtomicU64 = AtomicU64::new(0);
static OUT_OF_BOUNDS: AtomicU64 = AtomicU64::new(0);
static REJECTED: [AtomicU64; Reason::ALL.len()] = [const { AtomicU64::new(0) }; Reason::ALL.len()];
static LOG_LINES: [AtomicU64; Protocol::ALL.len()] =
    [const { AtomicU64::new(0) }; Protocol::ALL.len()];
static LOG_BYTES: [AtomicU64; Protocol::ALL.len()] =
    [const { AtomicU64::new(0) }; Protocol::ALL.len()];
static LOG_REJECTED: [AtomicU64; LogReason::ALL.len()] =
    [const { AtomicU64::new(0) }; LogReason::ALL.len()];

/// Counts log lines stored (and their bytes) from one request.
pub fn record_logs(protocol: Protocol, lines: u64, bytes: u64) {
    if let Some(i) = Protocol::ALL.iter().position(|p| *p == protocol) {
        LOG_LINES[i].fetch_add(lines, Relaxed);
        LOG_BYTES[i].fetch_add(bytes, Relaxed);
    }
}

/// Counts log lines a limit refused.
pub fn record_log_rejected(reason: LogReason, lines: u64) {
    if let Some(i) = LogReason::ALL.iter().position(|r| *r == reason) {
        LOG_REJECTED[i].fetch_add(lines, Relaxed);
    }
}

/// Counts the samples a store error refused, by reason; a reason that counts none (the
/// whole batch was refused) counts `batch_samples`.
pub fn record_rejected(e: &lookout_store::Error, batch_samples: u64) {
    for &(reason, n) in e.rejected() {
        if let Some(i) = Reason::ALL.iter().position(|r| *r == reason) {
            let n = if n == 0 { batch_samples } else { n };
            REJECTED[i].fetch_add(n, Relaxed);
        }
    }
}

/// Scraped samples dropped for timestamps outside the accepted window (Prometheus'
/// `prometheus_target_scrapes_sample_out_of_bounds_total`).
pub fn record_out_of_bounds(n: u64) {
    OUT_OF_BOUNDS.fetch_add(n, Relaxed);
}

pub fn record_scrape(o: &Outcome, ok: bool, took: Duration) {
    SCRAPES.fetch_add(1, Relaxed);
    if !ok {
        FAILURES.fetch_add(1, Relaxed);
    }
    SAMPLES.fetch_add(o.post_relabel, Relaxed);
    STALE.fetch_add(o.stale_markers, Relaxed);
    EXEMPLARS.fetch_add(o.exemplars, Relaxed);
    DUPLICATES.fetch_add(o.duplicates, Relaxed);
    SCRAPE_MICROS.fetch_add(took.as_micros() as u64, Relaxed);
}

pub fn record_remote_write(samples: u64) {
    RW_REQUESTS.fetch_add(1, Relaxed);
    RW_SAMPLES.fetch_add(samples, Relaxed);
}

/// Appends the collector's metrics, with HELP and TYPE, to `out`.
pub fn render(out: &mut String) {
    let counters: [(&str, &str, u64); 8] = [
        (SCRAPES_TOTAL, "Scrapes attempted.", SCRAPES.load(Relaxed)),
        (
            SCRAPE_FAILURES_TOTAL,
            "Scrapes that failed (up == 0).",
            FAILURES.load(Relaxed),
        ),
        (
            SCRAPE_SAMPLES_TOTAL,
            "Scraped samples after metric relabeling.",
            SAMPLES.load(Relaxed),
        ),
        (
            SCRAPE_STALE_MARKERS_TOTAL,
            "Staleness markers written for vanished series and targets.",
            STALE.load(Relaxed),
        ),
        (
            SCRAPE_EXEMPLARS_TOTAL,
            "OpenMetrics exemplars seen (counted, not stored).",
            EXEMPLARS.load(Relaxed),
        ),
        (
            SCRAPE_DUPLICATES_TOTAL,
            "Samples dropped because their series appeared twice in one scrape.",
            DUPLICATES.load(Relaxed),
        ),
        (
            REMOTE_WRITE_REQUESTS_TOTAL,
            "remote_write requests received.",
            RW_REQUESTS.load(Relaxed),
        ),
        (
            REMOTE_WRITE_SAMPLES_TOTAL,
            "remote_write samples received.",
            RW_SAMPLES.load(Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP {SCRAPE_OUT_OF_BOUNDS_TOTAL} Scraped samples dropped for timestamps too old or too far in the future.\n# TYPE {SCRAPE_OUT_OF_BOUNDS_TOTAL} counter\n{SCRAPE_OUT_OF_BOUNDS_TOTAL} {}",
        OUT_OF_BOUNDS.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP {SAMPLES_REJECTED_TOTAL} Samples refused by a limit (remote_write and scrape), by reason.\n# TYPE {SAMPLES_REJECTED_TOTAL} counter"
    );
    for (r, n) in Reason::ALL.iter().zip(&REJECTED) {
        let _ = writeln!(
            out,
            "{SAMPLES_REJECTED_TOTAL}{{{LABEL_REASON}=\"{}\"}} {}",
            r.as_str(),
            n.load(Relaxed)
        );
    }
    for (name, help, values) in [
        (
            LOG_LINES_TOTAL,
            "Log lines stored, by protocol.",
            &LOG_LINES,
        ),
        (
            LOG_BYTES_TOTAL,
            "Bytes of log lines stored, by protocol.",
            &LOG_BYTES,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (p, n) in Protocol::ALL.iter().zip(values) {
            let _ = writeln!(
                out,
                "{name}{{{LABEL_PROTOCOL}=\"{}\"}} {}",
                p.as_str(),
                n.load(Relaxed)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP {LOG_LINES_REJECTED_TOTAL} Log lines refused by a limit (Loki push, OTLP, syslog), by reason.\n# TYPE {LOG_LINES_REJECTED_TOTAL} counter"
    );
    for (r, n) in LogReason::ALL.iter().zip(&LOG_REJECTED) {
        let _ = writeln!(
            out,
            "{LOG_LINES_REJECTED_TOTAL}{{{LABEL_REASON}=\"{}\"}} {}",
            r.as_str(),
            n.load(Relaxed)
        );
    }
    let secs = SCRAPE_MICROS.load(Relaxed) as f64 / 1e6;
    let _ = writeln!(
        out,
        "# HELP {SCRAPE_SECONDS_TOTAL} Time spent scraping (fetch, parse, append).\n# TYPE {SCRAPE_SECONDS_TOTAL} counter\n{SCRAPE_SECONDS_TOTAL} {secs}"
    );
}
