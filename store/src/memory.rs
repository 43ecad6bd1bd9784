//! Hints from the store and the query engine to the process' allocator about what is
//! running: bulk rewrites (head cuts, compactions) that free and allocate hundreds of MB in
//! a burst, and queries that free and reallocate buffers within milliseconds. The store
//! does not pick the allocator; the binary does, and registers [`set_hook`] to act on the
//! hints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

static HOOK: OnceLock<fn(bool)> = OnceLock::new();
static BULK: AtomicUsize = AtomicUsize::new(0);
static QUERIES: AtomicUsize = AtomicUsize::new(0);

/// Registers `hook`, called with whether freed pages are worth keeping for a while:
/// `true` while a query runs and no bulk write does, `false` otherwise. Only the first
/// registration counts.
pub fn set_hook(hook: fn(bool)) {
    let _ = HOOK.set(hook);
}

fn notify() {
    if let Some(h) = HOOK.get() {
        let keep = QUERIES.load(Ordering::SeqCst) > 0 && BULK.load(Ordering::SeqCst) == 0;
        h(keep);
    }
}

/// What a [`Hint`] says is running.
#[derive(Clone, Copy)]
enum Kind {
    Bulk,
    Query,
}

impl Kind {
    fn counter(self) -> &'static AtomicUsize {
        match self {
            Kind::Bulk => &BULK,
            Kind::Query => &QUERIES,
        }
    }
}

/// Held while a bulk write or a query runs.
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

    fn begin(kind: Kind) -> Hint {
        if kind.counter().fetch_add(1, Ordering::SeqCst) == 0 {
            notify();
        }
        Hint(kind)
    }
}

impl Drop for Hint {
    fn drop(&mut self) {
        if self.0.counter().fetch_sub(1, Ordering::SeqCst) == 1 {
            notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages are kept only while a query runs and no bulk write does.
    #[test]
    fn keeps_pages_only_for_queries_outside_bulk_writes() {
        static SEEN: std::sync::Mutex<Vec<bool>> = std::sync::Mutex::new(Vec::new());
        set_hook(|keep| SEEN.lock().map(|mut s| s.push(keep)).unwrap_or(()));
        let q = Hint::query();
        let q2 = Hint::query();
        let b = Hint::bulk_write();
        drop(q);
        drop(b);
        drop(q2);
        let seen = SEEN.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen, vec![true, false, true, false]);
    }
}
