//! `lookout test promql FILE...`: runs Prometheus PromQL test scripts against Lookout's
//! engine and prints every failing eval, a summary per file and the totals.

use std::path::PathBuf;

use clap::Subcommand;
use lookout_query::promqltest::{run_file, Totals};

#[derive(Subcommand)]
pub enum TestCmd {
    /// Run PromQL test scripts (Prometheus' promqltest language); a directory runs its
    /// *.test files. Exits with 1 if any eval failed.
    Promql {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run rule unit tests in promtool's format (`promtool test rules`).
    Rules {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

pub fn run(cmd: TestCmd) -> anyhow::Result<()> {
    let files = match cmd {
        TestCmd::Promql { files } => files,
        TestCmd::Rules { files } => return super::rules::test(&files),
    };
    let mut reports = Vec::new();
    for path in expand(files)? {
        let report = run_file(&path);
        print!("{report}");
        reports.push(report);
    }
    let totals = Totals::of(&reports);
    println!("{totals}");
    if totals.failed > 0 {
        anyhow::bail!(
            "{} of {} evals failed",
            totals.failed,
            totals.passed + totals.failed
        );
    }
    Ok(())
}

/// Files as given; a directory becomes its `*.test` files in name order.
fn expand(paths: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&p)
                .map_err(|e| anyhow::anyhow!("cannot read directory {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "test"))
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}
