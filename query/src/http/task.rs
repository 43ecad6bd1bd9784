//! Runs one read request's work as a query: admitted by the concurrency limit
//! (`query.max_concurrency`, `query.max_queued`), on a query thread, under a budget whose
//! deadline and memory limit bound it, and stopped when the client hangs up or the
//! deadline passes. PromQL queries and the series, label and export endpoints all go
//! through here, so none of them can hold the server longer or larger than a query may.

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
    let b = budget.clone();
    let rx = st
        .admission
        .run(budget.deadline(), move || {
            let _memory = lookout_store::memory::Hint::query();
            // A deadline that passed while the request waited is a timeout, however
            // quickly the work itself would have finished.
            let r = b.check().and_then(|()| f(&b));
            metrics::record_peak(b.peak());
            if r.is_err() {
                if let Some(reason) = b.reason() {
                    metrics::record_stopped(reason);
                }
            }
            r
        })
        .await?;
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
