//! Runs every Prometheus PromQL test script in `../shared/promqltest/` (relative to the
//! workspace root) through Lookout's engine. The stable scripts must pass completely; the
//! `experimental/` ones are a later goal, so their count is printed, not asserted.

use std::path::{Path, PathBuf};

use lookout_query::promqltest::{run_file, FileReport, Totals};

/// `../shared/promqltest` from the workspace root (the parent of this crate).
fn scripts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/promqltest");
    dir.canonicalize()
        .unwrap_or_else(|e| panic!("cannot find the scripts at {}: {e}", dir.display()))
}

fn scripts(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    files
}

fn run_all(dir: &Path) -> Vec<FileReport> {
    scripts(dir).iter().map(|p| run_file(p)).collect()
}

#[test]
fn prometheus_promql_scripts() {
    let dir = scripts_dir();
    let experimental = run_all(&dir.join("experimental"));
    let exp_totals = Totals::of(&experimental);
    println!("experimental/ (not asserted):");
    for r in &experimental {
        println!("  {}", r.summary());
    }
    println!("experimental/: {exp_totals}\n");

    let stable = run_all(&dir);
    assert!(!stable.is_empty(), "no scripts in {}", dir.display());
    let mut out = String::new();
    for r in &stable {
        out.push_str(&r.to_string());
    }
    let totals = Totals::of(&stable);
    println!("{out}{totals}");
    assert_eq!(
        totals.failed, 0,
        "{} evals of the stable PromQL scripts failed; the report above lists each one",
        totals.failed
    );
}
