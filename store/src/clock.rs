//! The store's idea of "now": wall-clock time, or for tests a clock they set. Retention
//! and the bounds on accepted sample timestamps are measured from it, never from the data,
//! so one sample stamped far in the future cannot make every real block look expired.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, from the system clock or a test's.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>, i64);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None, 0)
    }

    /// The system clock shifted so that it reads `start_ms` now and advances in real time
    /// from there (`lookout serve`'s hidden test flag, so end-to-end tests can write data at
    /// a fixed date and still see retention and bounds apply).
    pub fn starting_at(start_ms: i64) -> Clock {
        Clock(None, start_ms.saturating_sub(system_ms()))
    }

    /// A clock that stands still at `ms` until [`Clock::set`] moves it.
    pub fn fixed(ms: i64) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(ms))), 0)
    }

    /// Moves a [`Clock::fixed`] clock (and every clone of it); no effect on others.
    pub fn set(&self, ms: i64) {
        if let Some(a) = &self.0 {
            a.store(ms, Ordering::SeqCst);
        }
    }

    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            Some(a) => a.load(Ordering::SeqCst),
            None => system_ms().saturating_add(self.1),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.0, self.1) {
            (Some(a), _) => write!(f, "Clock::fixed({})", a.load(Ordering::SeqCst)),
            (None, 0) => f.write_str("Clock::system()"),
            (None, off) => write!(f, "Clock::system() shifted by {off}ms"),
        }
    }
}

fn system_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clocks_move_only_when_set_and_shifted_ones_advance() {
        let c = Clock::fixed(1_000);
        let clone = c.clone();
        assert_eq!(c.now_ms(), 1_000);
        clone.set(5_000);
        assert_eq!(c.now_ms(), 5_000);
        let s = Clock::starting_at(42_000);
        let now = s.now_ms();
        assert!((42_000..42_000 + 60_000).contains(&now), "{now}");
        assert!(Clock::system().now_ms() > 1_600_000_000_000);
    }
}
