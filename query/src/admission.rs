//! Admission: at most `max_concurrency` queries evaluate at once; up to `max_queued` more
//! wait for a slot (as long as their own timeout allows), and beyond that a query is
//! refused at once with a 503 that names the limits. With the per-query memory budget this
//! bounds what all queries together can hold, so a burst of heavy queries slows answers
//! instead of taking the server (and its ingestion) down. Shared by every query language.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};
use crate::metrics;

#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    max_concurrency: usize,
    max_queued: usize,
    waiting: AtomicUsize,
    nice: i32,
}

/// A query's evaluation slot; released when dropped.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    _running: metrics::Running,
}

impl Admission {
    /// `nice` is the CPU priority admitted queries run at (0: as the rest of the server).
    pub fn new(max_concurrency: usize, max_queued: usize, nice: i32) -> Arc<Admission> {
        let max_concurrency = max_concurrency.max(1);
        Arc::new(Admission {
            slots: Arc::new(Semaphore::new(max_concurrency)),
            max_concurrency,
            max_queued,
            waiting: AtomicUsize::new(0),
            nice,
        })
    }

    pub fn nice(&self) -> i32 {
        self.nice
    }

    /// Waits for a slot until `deadline`; refuses at once when the queue is full.
    pub async fn enter(&self, deadline: Instant) -> Result<Slot> {
        let slot = |permit| Slot {
            _permit: permit,
            _running: metrics::Running::start(),
        };
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(slot(p));
        }
        let _waiting = Waiting::join(&self.waiting, self.max_queued).ok_or_else(|| {
            metrics::record_queue_full();
            Error::Unavailable(format!(
                "too many queries: {} are running (query.max_concurrency) and {} are waiting \
                 (query.max_queued); retry later",
                self.max_concurrency, self.max_queued
            ))
        })?;
        let _queued = metrics::Queued::start();
        match tokio::time::timeout_at(deadline.into(), self.slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(slot(p)),
            Ok(Err(_)) => Err(Error::Internal("the query slots were closed".into())),
            Err(_) => {
                metrics::record_stopped(crate::budget::StopReason::Timeout);
                Err(Error::Timeout("query queue".into()))
            }
        }
    }
}

/// A place in the queue, left when dropped (also when the waiting request is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn join(count: &'a AtomicUsize, max: usize) -> Option<Waiting<'a>> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Waiting(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn queues_then_refuses_then_times_out() {
        let a = Admission::new(1, 1, 0);
        let far = Instant::now() + Duration::from_secs(60);
        let first = a.enter(far).await.unwrap();
        let a2 = a.clone();
        let waiter = tokio::spawn(async move { a2.enter(far).await.map(|_| ()) });
        while a.waiting.load(Ordering::Acquire) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let e = a.enter(far).await.err().unwrap();
        assert!(matches!(e, Error::Unavailable(_)), "{e}");
        assert!(e.to_string().contains("query.max_queued"), "{e}");
        drop(first);
        waiter.await.unwrap().unwrap();
        let held = a.enter(far).await.unwrap();
        let e = a
            .enter(Instant::now() + Duration::from_millis(20))
            .await
            .err()
            .unwrap();
        assert!(matches!(e, Error::Timeout(_)), "{e}");
        drop(held);
        assert_eq!(a.waiting.load(Ordering::Acquire), 0);
    }
}
