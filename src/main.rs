//! `lookout`: parses the command line and hands off to the command's module.

mod agent;
mod alerting;
mod allocator;
mod cli;
mod config;
mod duration;
mod reload;
mod self_metrics;
mod serve;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    allocator::without_huge_pages();
    if std::env::args_os().nth(1).is_some_and(|a| a == "agent") {
        allocator::commit_lazily();
    }
    raise_open_files_limit();
    // reqwest is built with rustls but no default crypto provider (the scraper brings
    // ring); without one installed, building any client panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    allocator::set_purge_policy();
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
