//! A query's budget: its deadline, its cancellation and the memory it may hold. One
//! mechanism for every query language (PromQL now; LogQL and TraceQL reuse it), so a
//! timeout, a client that hangs up and a query that would hold too much all stop the work
//! the same way: the budget is marked stopped with a reason, every loop that checks it
//! returns that reason as its error, and the store's reads stop early on the same flag.
//!
//! Memory is counted, not measured: evaluators charge what they materialise (8 bytes a
//! step slot, 16 a point, the labels of each series) as they build it, and settle a node's
//! charge to the size of its output once its inputs are dropped. A charge that would pass
//! the limit fails before the memory is spent, which is what bounds a query's RSS.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Why a query stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    Timeout = 1,
    /// The client closed its connection before the answer was ready.
    ClientGone = 2,
    Memory = 3,
}

/// The budget of one query; shared between the evaluator, its worker threads and the
/// request that waits for it.
#[derive(Debug)]
pub struct Budget {
    deadline: Instant,
    max_bytes: usize,
    live: AtomicUsize,
    peak: AtomicUsize,
    stopped: Arc<AtomicBool>,
    reason: AtomicU8,
}

impl Budget {
    /// A budget that ends `timeout` after `start` and may hold `max_bytes` (0: unlimited).
    pub fn new(start: Instant, timeout: Duration, max_bytes: usize) -> Arc<Budget> {
        Arc::new(Budget {
            deadline: start
                .checked_add(timeout)
                .unwrap_or(start + Duration::from_secs(86_400 * 365)),
            max_bytes: if max_bytes == 0 {
                usize::MAX
            } else {
                max_bytes
            },
            live: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            stopped: Arc::new(AtomicBool::new(false)),
            reason: AtomicU8::new(0),
        })
    }

    /// A budget with no memory limit ending `timeout` from now.
    pub fn unlimited(timeout: Duration) -> Arc<Budget> {
        Budget::new(Instant::now(), timeout, 0)
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Stops the query; the first reason given is the one reported.
    pub fn stop(&self, reason: StopReason) {
        let _ = self
            .reason
            .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire);
        self.stopped.store(true, Ordering::Release);
    }

    /// Whether the query was stopped, without looking at the clock: the cheap check for
    /// per-series loops in the store.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// The flag the store's reads watch (`SelectHints::cancel`).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stopped.clone()
    }

    pub fn reason(&self) -> Option<StopReason> {
        match self.reason.load(Ordering::Acquire) {
            1 => Some(StopReason::Timeout),
            2 => Some(StopReason::ClientGone),
            3 => Some(StopReason::Memory),
            _ => None,
        }
    }

    /// Fails when the query was stopped or its deadline has passed.
    pub fn check(&self) -> Result<()> {
        if !self.stopped.load(Ordering::Relaxed) {
            if Instant::now() <= self.deadline {
                return Ok(());
            }
            self.stop(StopReason::Timeout);
        }
        Err(self.error())
    }

    /// The error that stands for the reason the query stopped.
    pub fn error(&self) -> Error {
        match self.reason() {
            Some(StopReason::ClientGone) => Error::Canceled,
            Some(StopReason::Memory) => self.memory_error(),
            _ => Error::Timeout("expression evaluation".into()),
        }
    }

    fn memory_error(&self) -> Error {
        Error::Execution(format!(
            "query would hold more than {} in memory (query.max_memory); select fewer series, \
             a shorter range or a larger step",
            bytes_text(self.max_bytes)
        ))
    }

    /// Counts `bytes` more held; fails, stopping the query, when that passes the limit.
    pub fn charge(&self, bytes: usize) -> Result<()> {
        let now = self
            .live
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        self.peak.fetch_max(now, Ordering::Relaxed);
        if now > self.max_bytes {
            self.stop(StopReason::Memory);
            return Err(self.error());
        }
        Ok(())
    }

    /// Fails, without counting anything, when `bytes` more would not fit: for a buffer
    /// about to be allocated whose owner is charged once it exists.
    pub fn fits(&self, bytes: usize) -> Result<()> {
        if self.live().saturating_add(bytes) > self.max_bytes {
            self.stop(StopReason::Memory);
            return Err(self.error());
        }
        Ok(())
    }

    /// Bytes held now, as charged.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The most bytes held at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Sets what is held to `before + bytes`: a node's inputs were dropped and its output
    /// of `bytes` remains. Fails when that is over the limit.
    pub fn settle(&self, before: usize, bytes: usize) -> Result<()> {
        let now = before.saturating_add(bytes);
        self.live.store(now, Ordering::Relaxed);
        self.peak.fetch_max(now, Ordering::Relaxed);
        if now > self.max_bytes {
            self.stop(StopReason::Memory);
            return Err(self.error());
        }
        Ok(())
    }
}

/// Stops a budget when dropped, unless disarmed: held by the request that waits for a
/// query, so a client that hangs up (its request future is dropped) stops the evaluation.
pub struct StopOnDrop {
    budget: Arc<Budget>,
    armed: bool,
}

impl StopOnDrop {
    pub fn new(budget: Arc<Budget>) -> StopOnDrop {
        StopOnDrop {
            budget,
            armed: true,
        }
    }

    /// The query finished; dropping the guard no longer stops anything.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.budget.stop(StopReason::ClientGone);
        }
    }
}

/// Debug builds only: waits `LOOKOUT_DEBUG_QUERY_STALL_MS` milliseconds, checking the
/// budget as an evaluation would, so end-to-end tests can hold a query in flight on
/// purpose (timeouts, hang-ups, the queue) instead of racing the clock. Release builds
/// compile this to nothing.
pub fn stall_for_tests(budget: &Budget) -> Result<()> {
    #[cfg(debug_assertions)]
    {
        static STALL: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let ms = *STALL.get_or_init(|| {
            std::env::var("LOOKOUT_DEBUG_QUERY_STALL_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        });
        let until = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < until {
            budget.check()?;
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = budget;
    Ok(())
}

/// `268435456` as `256MiB`, for messages.
pub fn bytes_text(n: usize) -> String {
    const UNITS: [(usize, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size && n.is_multiple_of(size) {
            return format!("{}{unit}", n / size);
        }
    }
    format!("{n}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_fail_past_the_limit_and_stop_the_query() {
        let b = Budget::new(Instant::now(), Duration::from_secs(60), 1000);
        b.charge(600).unwrap();
        assert!(b.check().is_ok());
        let e = b.charge(600).unwrap_err();
        assert!(e.to_string().contains("query.max_memory"), "{e}");
        assert!(b.is_stopped());
        assert_eq!(b.reason(), Some(StopReason::Memory));
        assert!(matches!(b.check(), Err(Error::Execution(_))));
    }

    #[test]
    fn settle_replaces_a_nodes_inputs_by_its_output() {
        let b = Budget::new(Instant::now(), Duration::from_secs(60), 1000);
        b.charge(100).unwrap();
        let before = b.live();
        b.charge(800).unwrap();
        b.settle(before, 50).unwrap();
        assert_eq!(b.live(), 150);
        assert_eq!(b.peak(), 900);
        assert!(b.fits(850).is_ok());
        assert!(b.fits(851).is_err());
    }

    #[test]
    fn the_first_reason_wins_and_deadlines_stop() {
        let b = Budget::new(Instant::now(), Duration::ZERO, 0);
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(b.check(), Err(Error::Timeout(_))));
        b.stop(StopReason::ClientGone);
        assert_eq!(b.reason(), Some(StopReason::Timeout));

        let b = Budget::unlimited(Duration::from_secs(60));
        drop(StopOnDrop::new(b.clone()));
        assert!(matches!(b.check(), Err(Error::Canceled)));
        let b = Budget::unlimited(Duration::from_secs(60));
        StopOnDrop::new(b.clone()).disarm();
        assert!(b.check().is_ok());
    }

    #[test]
    fn byte_sizes_read_as_config_values() {
        assert_eq!(bytes_text(256 << 20), "256MiB");
        assert_eq!(bytes_text(1 << 30), "1GiB");
        assert_eq!(bytes_text(1000), "1000B");
    }
}
