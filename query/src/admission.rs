//! Admission: at most `max_concurrency` queries evaluate at once; up to `max_queued` more
//! wait for a slot (as long as their own timeout allows), and beyond that a query is
//! refused at once with a 503 that names the limits. With the per-query memory budget this
//! bounds what all queries together can hold, so a burst of heavy queries slows answers
//! instead of taking the server (and its ingestion) down. Shared by every query language.
//!
//! Admitted queries run on `max_concurrency` long-lived threads of their own, at a lower
//! CPU priority (`query.nice`) than ingestion, scraping and maintenance: on a small
//! machine a burst of heavy queries slows the queries, not the writes the server has to
//! keep acknowledging (the threads a query starts for parallel reads inherit the
//! priority). Long-lived, so each keeps its allocator pages warm between queries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};
use crate::metrics;

/// Work handed to a query thread.
type Job = Box<dyn FnOnce() + Send>;

pub struct Admission {
    slots: Arc<Semaphore>,
    max_concurrency: usize,
    max_queued: usize,
    waiting: AtomicUsize,
    /// The query threads' inbox. Never more than `max_concurrency` jobs hold a slot, so a
    /// job never waits here for longer than a thread takes to pick it up.
    jobs: Mutex<SyncSender<Job>>,
}

/// Stack of a query thread: the parser and the evaluator recurse once per level of a
/// query (`query.max_depth`); reserved address space, paid for only as used.
const STACK_BYTES: usize = 16 << 20;

/// A query's evaluation slot; released when dropped.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    _running: metrics::Running,
}

impl Admission {
    /// Starts the query threads; `nice` is the CPU priority they run at (0: as the rest
    /// of the server).
    pub fn new(
        max_concurrency: usize,
        max_queued: usize,
        nice: i32,
    ) -> std::io::Result<Arc<Admission>> {
        let max_concurrency = max_concurrency.max(1);
        let (tx, rx) = sync_channel::<Job>(max_concurrency);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..max_concurrency {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name("lookout-query".into())
                .stack_size(STACK_BYTES)
                .spawn(move || worker(&rx, nice))?;
        }
        Ok(Arc::new(Admission {
            slots: Arc::new(Semaphore::new(max_concurrency)),
            max_concurrency,
            max_queued,
            waiting: AtomicUsize::new(0),
            jobs: Mutex::new(tx),
        }))
    }

    /// Waits for a slot until `deadline` (refused at once when the queue is full), then
    /// runs `job` on a query thread; its result arrives on the returned channel.
    pub async fn run<T: Send + 'static>(
        &self,
        deadline: Instant,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<T>> {
        let slot = self.enter(deadline).await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let r = job();
            drop(slot);
            // The request may be gone (timeout, hang-up); then nobody wants the answer.
            let _ = tx.send(r);
        });
        self.jobs
            .lock()
            .map_err(|_| Error::Internal("the query threads' inbox is poisoned".into()))?
            .send(job)
            .map_err(|_| Error::Internal("the query threads have stopped".into()))?;
        Ok(rx)
    }

    /// Waits for a slot until `deadline`; refuses at once when the queue is full.
    async fn enter(&self, deadline: Instant) -> Result<Slot> {
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

/// A query thread: takes jobs until the inbox closes.
fn worker(jobs: &Mutex<Receiver<Job>>, nice: i32) {
    lower_priority(nice);
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            // A panicking query must not take its thread (and slot) with it.
            Ok(job) => {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                    tracing::error!("a query panicked; its request gets no answer");
                }
            }
            Err(_) => return,
        }
    }
}

/// Lowers the calling thread's CPU priority to `nice` (0 leaves it). Raising a nice value
/// needs no privilege; a failure only costs the priority, so it is logged, not returned.
fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take and return plain integers; on Linux,
        // PRIO_PROCESS with a thread id applies to that thread alone.
        let r = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
        };
        if r != 0 {
            tracing::warn!(nice, error = %std::io::Error::last_os_error(), "cannot lower the query threads' priority");
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
        let a = Admission::new(1, 1, 0).unwrap();
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
