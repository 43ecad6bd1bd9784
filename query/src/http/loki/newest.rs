//! The newest lines of a log query, as `detected_fields` and `patterns` mine them: the
//! request's tenant, range (default the last hour), log query and `line_limit`, read
//! newest first as an admitted, budgeted query.

use std::time::Instant;

use axum::http::HeaderMap;
use lookout_store::{Direction, TenantId};

use super::params::{bounds, S};
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::http::params::Params;
use crate::http::{task, tenant, QueryState};
use crate::logql::{Answer, Expr, LogRequest, StreamOut};

/// Reads up to `line_limit` (default `default_limit`) of the newest lines of the log
/// query `query` in the request's range, with categorized labels, and calls `f` with
/// their streams and the range's start and end (ns) on the query thread. `what` names
/// the endpoint in errors ("patterns need a log query") and in a timeout's message.
pub(super) async fn newest_lines<T: Send + 'static>(
    st: &QueryState,
    headers: &HeaderMap,
    p: &Params,
    default_limit: usize,
    what: &'static str,
    f: impl FnOnce(&[StreamOut], i64, i64) -> T + Send + 'static,
) -> Result<T> {
    let tenant: TenantId = tenant(st, headers)?;
    let (start, end) = bounds(p, 3600 * S)?;
    let expr = match st.logql.parse(p.get("query").unwrap_or(""))? {
        Expr::Log(l) => l,
        Expr::Metric(_) => {
            return Err(Error::BadData(format!(
                "invalid parameter \"query\": {what} need a log query"
            )))
        }
    };
    let limit = p
        .usize("line_limit")?
        .unwrap_or(default_limit)
        .clamp(1, st.logql.opts.max_entries_limit.max(default_limit));
    let req = LogRequest {
        start_ns: start,
        end_ns: end,
        limit,
        direction: Direction::Backward,
        interval_ns: 0,
        categorize: true,
    };
    let (engine, logs) = (st.logql.clone(), st.logs.clone());
    let budget = Budget::new(
        Instant::now(),
        st.engine.opts.timeout,
        st.engine.opts.max_memory,
    );
    task::run(st, budget, what, move |b| {
        // The line limit here is the endpoint's, not a query's `limit` parameter.
        let mut mem = engine.clone();
        mem.opts.max_entries_limit = mem.opts.max_entries_limit.max(limit);
        let (answer, _) = mem.logs(logs.as_ref(), &tenant, &expr, &req, b)?;
        let streams = match answer {
            Answer::Streams(s) => s,
            Answer::Metric(_) => Vec::new(),
        };
        Ok(f(&streams, start, end))
    })
    .await
}
