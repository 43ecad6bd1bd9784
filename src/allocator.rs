//! The process' allocator and its policy: mimalloc without transparent huge pages, with
//! freed pages returned to the OS at once except while a query runs (the store's
//! [`lookout_store::memory`] hints say when). `logbench` includes this file too, so the log store is measured under the
//! allocator the server runs.

// glibc malloc spent ~40% of ingest CPU on the many small label strings of remote_write
// decoding; mimalloc's thread-local free lists make that a few percent.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h, which libmimalloc-sys does not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// `mi_option_arena_eager_commit` in mimalloc.h.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
/// How long freed pages are kept while a query runs, in ms. A query frees and reallocates
/// its buffers within milliseconds, but a large selection (a rule over 50,000 series) runs
/// long enough that mimalloc's default 10 ms purged pages it then faulted in again: 1 s
/// made the mixed rule round 10-18% faster (`rulebench`). Idle, the delay is 0 anyway.
const QUERY_PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// Memory hint hook: keep freed pages for [`QUERY_PURGE_DELAY_MS`], or purge at once.
fn set_purge_delay(keep_freed_pages: bool) {
    let delay = if keep_freed_pages {
        QUERY_PURGE_DELAY_MS
    } else {
        0
    };
    // SAFETY: sets a word-sized integer option; a thread reading it concurrently sees the
    // old or the new delay, either of which is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay) };
}

/// Freed pages go back to the OS at once, except while a query runs: queries free and
/// reallocate buffers within milliseconds, and purging at once made them fault those in
/// afresh (15-25% of a small query's time); a delay while idle too held up to ~70 MB more
/// peak RSS during ingestion and head cuts. `MIMALLOC_PURGE_DELAY` overrides it.
pub fn set_purge_policy() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        set_purge_delay(false);
        lookout_store::memory::set_hook(set_purge_delay);
    }
}

/// No transparent huge pages for this process. mimalloc asks for them (its arenas are
/// madvised), and the kernel then faults in and zeroes 2 MiB at a time wherever a buffer
/// first touches a page, also after a purge gave the pages back. Measured on the server
/// (`MIMALLOC_ALLOW_THP=0`, the same switch): remote_write of 100,000 series
/// (`bench/ingest.sh`, two alternating pairs) peaked at 254 and 261 instead of 306 and 305
/// MiB, at 2.13 and 2.10 instead of 2.08 and 1.96 M samples/s; log pushes of 256 MB
/// (`logbench --serve`, three pairs) at 122-132 instead of 166-175 MiB, CPU within noise.
/// `MIMALLOC_ALLOW_THP` set in the environment leaves the choice to mimalloc.
pub fn without_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: prctl takes plain integers; the flag is the process' and only read by
        // the kernel when it faults pages in.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

/// For the agent, which runs on every node and must stay small: mimalloc commits its
/// arenas eagerly by default, and the kernel backs them with huge pages, which doubled the
/// idle agent's RSS (36 MB against 18 MB with lazy commit; `bench/agent_load.sh`). Call
/// before any other thread exists.
#[allow(dead_code)] // logbench includes this file and runs no agent
pub fn commit_lazily() {
    if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
        // SAFETY: sets an integer option before any other thread exists.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        }
    }
}
