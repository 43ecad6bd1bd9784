//! Runs one read request's work as a query: admitted by the concurrency limit
//! (`query.max_concurrency`, `query.max_queued`), on a blocking thread, under a budget whose
//! deadline and memory limit bound it, and stopped when the client hangs up or the
//! deadline passes. PromQL queries and the series, label and export endpoints all go
//! through here, so none of them can hold the server longer or larger than a query may.
//!
//! Each query runs on a thread of its own, at a lower CPU priority (`query.nice`) than
//! ingestion, scraping and maintenance: on a small machine a burst of heavy queries slows
//! the queries, not the writes the server has to keep acknowledging. The threads a query
//! starts for parallel reads inherit that priority.

use std::sync::Arc;

use crate::budget::{Budget, StopOnDrop, StopReason};
use crate::error::{Error, Result};
use crate::metrics;

use super::QueryState;

/// Runs `f` under `budget`; `what` names the stage in a timeout's message.
pub async fn run<T: Send + 'static>(
    st: &QueryState,
    budget: Arc<Budget>,
    what: &'static str,
    f: impl FnOnce(&Budget) -> Result<T> + Send + 'static,
) -> Result<T> {
    // Dropped with this request when the client hangs up: the work then stops.
    let hang_up = StopOnDrop::new(budget.clone());
    let slot = st.admission.enter(budget.deadline()).await?;
    let b = budget.clone();
    let nice = st.admission.nice();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let work = move || {
        let _slot = slot;
        lower_priority(nice);
        let _memory = lookout_store::memory::Hint::query();
        // A deadline that passed while the request waited is a timeout, however quickly
        // the work itself would have finished.
        let r = b.check().and_then(|()| f(&b));
        metrics::record_peak(b.peak());
        if r.is_err() {
            if let Some(reason) = b.reason() {
                metrics::record_stopped(reason);
            }
        }
        // The request may be gone (timeout, hang-up); then nobody wants the answer.
        let _ = tx.send(r);
    };
    std::thread::Builder::new()
        .name("lookout-query".into())
        .stack_size(STACK_BYTES)
        .spawn(work)
        .map_err(|e| {
            Error::Unavailable(format!("cannot start a query thread: {e}; retry later"))
        })?;
    let answer = tokio::time::timeout_at(budget.deadline().into(), rx).await;
    hang_up.disarm();
    match answer {
        Err(_) => {
            // The work notices at its next check and gives its slot back.
            budget.stop(StopReason::Timeout);
            Err(Error::Timeout(what.into()))
        }
        Ok(Err(_)) => Err(Error::Internal(
            "a query thread ended without an answer".into(),
        )),
        Ok(Ok(r)) => r,
    }
}

/// Stack of a query thread: the parser and the evaluator recurse once per level of a
/// query (`query.max_depth`); reserved address space, paid for only as used.
const STACK_BYTES: usize = 16 << 20;

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
            tracing::debug!(nice, error = %std::io::Error::last_os_error(), "cannot lower the query thread's priority");
        }
    }
}
