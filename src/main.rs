//! `lookout`: parses the command line and hands off to the command's module.

mod agent;
mod alerting;
mod cli;
mod config;
mod duration;
mod reload;
mod self_metrics;
mod serve;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

// glibc malloc spent ~40% of ingest CPU on the many small label strings of remote_write
// decoding; mimalloc's thread-local free lists make that a few percent.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "lookout",
    version,
    about = "Metrics, logs and traces in one binary"
)]
struct Cli {
    /// Log filter, e.g. info, debug, lookout_store=debug
    #[arg(long, global = true, default_value = "info", env = "LOOKOUT_LOG")]
    log: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server: ingest, store, and every query API on one port.
    Serve(serve::ServeArgs),
    /// Run the node agent: host metrics and local scrapes, forwarded to a server through a
    /// disk-backed queue.
    Agent(agent::AgentArgs),
    /// Inspect the metrics store.
    Tsdb {
        #[command(subcommand)]
        cmd: cli::tsdb::TsdbCmd,
    },
    /// Run a PromQL query on a server and print the result.
    Query(cli::query::QueryArgs),
    /// Run a LogQL query on a server and print the lines with their labels.
    Logs(cli::logs::LogsArgs),
    /// Print a trace as a waterfall, or search traces with TraceQL.
    Traces {
        #[command(subcommand)]
        cmd: cli::traces::TracesCmd,
    },
    /// Run test scripts: `lookout test promql FILE...`, `lookout test rules FILE...`.
    Test {
        #[command(subcommand)]
        cmd: cli::test_promql::TestCmd,
    },
    /// Check a configuration file and report every error with its line.
    Check {
        #[command(subcommand)]
        cmd: CheckCmd,
    },
}

#[derive(Subcommand)]
enum CheckCmd {
    /// Validate lookout.yaml.
    Config { file: PathBuf },
    /// Validate Prometheus rule files, as `promtool check rules` does.
    Rules {
        /// The files are log rules (`log_rule_files`): every expression LogQL.
        #[arg(long)]
        logql: bool,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

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

/// Raises the soft limit on open files to the hard limit, as Go programs (Prometheus) get
/// by default: every open tenant holds its WAL segment open, and the soft limit is often
/// 1024 while `limits.max_tenants` allows 1000 tenants.
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct passed by pointer, which lives
    // on this stack frame for the duration of each call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() -> std::process::ExitCode {
    // The agent runs on every node and must stay small: mimalloc commits its arenas
    // eagerly by default, and the kernel backs them with huge pages, which doubled the idle
    // agent's RSS (36 MB against 18 MB with lazy commit; `bench/agent_load.sh`).
    if std::env::args_os().nth(1).is_some_and(|a| a == "agent")
        && std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none()
    {
        // SAFETY: sets an integer option before any other thread exists; prctl takes
        // plain integers.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    raise_open_files_limit();
    // reqwest is built with rustls but no default crypto provider (the scraper brings
    // ring); without one installed, building any client panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Freed pages go back to the OS at once, except while a query runs: queries free and
    // reallocate buffers within milliseconds, and purging at once made them fault those in
    // afresh (15-25% of a small query's time); a delay while idle too held up to ~70 MB
    // more peak RSS during ingestion and head cuts. MIMALLOC_PURGE_DELAY fixes it.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        set_purge_delay(false);
        lookout_store::memory::set_hook(set_purge_delay);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a log file or journald.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.cmd {
        Cmd::Serve(args) => serve::run(args),
        Cmd::Agent(args) => agent::run(args),
        Cmd::Tsdb { cmd } => cli::tsdb::run(cmd),
        Cmd::Query(args) => cli::query::run(args),
        Cmd::Logs(args) => cli::logs::run(args),
        Cmd::Traces { cmd } => cli::traces::run(cmd),
        Cmd::Test { cmd } => cli::test_promql::run(cmd),
        Cmd::Check {
            cmd: CheckCmd::Config { file },
        } => cli::check::config(&file),
        Cmd::Check {
            cmd: CheckCmd::Rules { logql, files },
        } => cli::rules::check(&files, logql),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
