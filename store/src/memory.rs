//! Hints from the store and the query engine to the process' allocator about what is
//! running: bulk rewrites (head cuts, compactions) that free and allocate hundreds of MB in
//! a burst; queries that free and reallocate buffers within milliseconds; log commits,
//! which free what the next commit and the appends in between allocate again; and log
//! pushes being handled, whose bodies and decoded lines the next push allocates again. The store
//! does not pick the allocator; the binary does, and registers [`set_hook`] to act on the
//! hints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

static HOOK: OnceLock<fn(bool)> = OnceLock::new();
static RUNNING: Running = Running::new();

/// Registers `hook`, called with whether freed pages are worth keeping for a while:
/// `true` while a query, a log commit or a log push runs and no bulk write does, `false`
/// otherwise.
/// Only the first registration counts.
pub fn set_hook(hook: fn(bool)) {
    let _ = HOOK.set(hook);
}

fn notify() {
    if let Some(h) = HOOK.get() {
        h(RUNNING.keep());
    }
}

/// What a [`Hint`] says is running.
#[derive(Clone, Copy)]
enum Kind {
    Bulk,
    Query,
    LogCommit,
    LogIngest,
}

/// How many of each kind run.
struct Running {
    bulk: AtomicUsize,
    queries: AtomicUsize,
    log_commits: AtomicUsize,
    log_ingests: AtomicUsize,
}

impl Running {
    const fn new() -> Running {
        Running {
            bulk: AtomicUsize::new(0),
            queries: AtomicUsize::new(0),
            log_commits: AtomicUsize::new(0),
            log_ingests: AtomicUsize::new(0),
        }
    }

    fn counter(&self, kind: Kind) -> &AtomicUsize {
        match kind {
            Kind::Bulk => &self.bulk,
            Kind::Query => &self.queries,
            Kind::LogCommit => &self.log_commits,
            Kind::LogIngest => &self.log_ingests,
        }
    }

    /// Whether freed pages are worth keeping now.
    fn keep(&self) -> bool {
        let busy = |c: &AtomicUsize| c.load(Ordering::SeqCst) > 0;
        (busy(&self.queries) || busy(&self.log_commits) || busy(&self.log_ingests))
            && !busy(&self.bulk)
    }

    /// Counts one more of `kind`; true when it is the only one (the answer may change).
    fn enter(&self, kind: Kind) -> bool {
        self.counter(kind).fetch_add(1, Ordering::SeqCst) == 0
    }

    /// Counts one fewer of `kind`; true when none is left (the answer may change).
    fn leave(&self, kind: Kind) -> bool {
        self.counter(kind).fetch_sub(1, Ordering::SeqCst) == 1
    }
}

/// Held while a bulk write, a query, a log commit or a log push runs.
pub struct Hint(Kind);

impl Hint {
    /// A head cut or compaction.
    pub(crate) fn bulk_write() -> Hint {
        Hint::begin(Kind::Bulk)
    }

    /// A query.
    pub fn query() -> Hint {
        Hint::begin(Kind::Query)
    }

    /// A log commit. It frees the head's lines and the index writer's segment buffers
    /// (~15 MB of zeroed hash tables and arenas per commit), which the appends and the next
    /// commit allocate again within about a second; purged at once, every page of them was
    /// faulted in again (10-15% of log ingest CPU under mimalloc, `logbench`).
    pub(crate) fn log_commit() -> Hint {
        Hint::begin(Kind::LogCommit)
    }

    /// A log push (Loki, OTLP or syslog) from its body to its append. The body, its
    /// decompressed copy, the decoded request and the streams are freed after every push
    /// and allocated again by the next one; purged at once, their pages were faulted in
    /// again for every request (15-25% of the server's CPU for Loki snappy pushes,
    /// `logbench --serve`).
    pub fn log_ingest() -> Hint {
        Hint::begin(Kind::LogIngest)
    }

    fn begin(kind: Kind) -> Hint {
        if RUNNING.enter(kind) {
            notify();
        }
        Hint(kind)
    }
}

impl Drop for Hint {
    fn drop(&mut self) {
        if RUNNING.leave(self.0) {
            notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages are kept only while a query, a log commit or a log push runs and no bulk write
    /// does, and the hook hears of every change. (A local count: the process' one is
    /// shared with the tests that run alongside.)
    #[test]
    fn keeps_pages_only_for_queries_and_log_work_outside_bulk_writes() {
        let r = Running::new();
        let mut seen = Vec::new();
        let mut step = |changed: bool| {
            if changed {
                seen.push(r.keep());
            }
        };
        step(r.enter(Kind::Query));
        step(r.enter(Kind::Query));
        step(r.enter(Kind::Bulk));
        step(r.leave(Kind::Query));
        step(r.leave(Kind::Bulk));
        step(r.leave(Kind::Query));
        step(r.enter(Kind::LogCommit));
        step(r.enter(Kind::Bulk));
        step(r.leave(Kind::Bulk));
        step(r.leave(Kind::LogCommit));
        step(r.enter(Kind::LogIngest));
        step(r.enter(Kind::LogCommit));
        step(r.leave(Kind::LogIngest));
        step(r.leave(Kind::LogCommit));
        step(r.enter(Kind::Bulk));
        step(r.enter(Kind::LogIngest));
        step(r.leave(Kind::Bulk));
        step(r.leave(Kind::LogIngest));
        let (t, f) = (true, false);
        assert_eq!(seen, [t, f, t, f, t, f, t, f, t, t, t, f, f, f, t, f]);
    }
}
