//! Rule files and unit tests under tests/rules/ pass under both `lookout test rules` and
//! Debian's `promtool test rules` (package `prometheus`, installed by test.sh), so their
//! expectations are Prometheus' own; `lookout check rules` agrees with `promtool check
//! rules` on good and bad files.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{run_cli, TestDir};

const PROMTOOL: &str = "/usr/bin/promtool";

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/rules")
}

fn test_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(rules_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

fn promtool(args: &[&str]) -> (Option<i32>, String, String) {
    assert!(
        std::path::Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: install Debian's prometheus package (test.sh does)"
    );
    let out = Command::new(PROMTOOL)
        .args(args)
        .output()
        .expect("run promtool");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn unit_tests_pass_under_lookout_and_promtool() {
    for f in test_files() {
        let path = f.to_string_lossy().to_string();
        let (code, out, err) = run_cli(&["test", "rules", &path], Duration::from_secs(60));
        assert_eq!(code, Some(0), "lookout test rules {path}:\n{out}\n{err}");
        assert!(out.contains("  SUCCESS"), "{out}");
        let (code, out, err) = promtool(&["test", "rules", &path]);
        assert_eq!(code, Some(0), "promtool test rules {path}:\n{out}\n{err}");
    }
}

#[test]
fn a_wrong_expectation_fails_in_both_with_the_same_exit_status() {
    let dir = TestDir::new();
    std::fs::copy(
        rules_dir().join("node.rules.yml"),
        dir.tmp.path().join("node.rules.yml"),
    )
    .unwrap();
    let text = std::fs::read_to_string(rules_dir().join("node.test.yml"))
        .unwrap()
        .replace("summary: 'a:9100 of job node is down'", "summary: 'wrong'");
    let t = dir.file("bad.test.yml", &text);
    let path = t.to_string_lossy().to_string();
    let (code, out, err) = run_cli(&["test", "rules", &path], Duration::from_secs(60));
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("alertname: InstanceDown, time: 4m"), "{err}");
    assert!(
        err.contains("summary=\"a:9100 of job node is down\""),
        "{err}"
    );
    let (pcode, _, perr) = promtool(&["test", "rules", &path]);
    assert_eq!(pcode, Some(1), "{perr}");
    assert!(perr.contains("alertname: InstanceDown, time: 4m"), "{perr}");
}

#[test]
fn check_rules_agrees_with_promtool() {
    let good = rules_dir()
        .join("node.rules.yml")
        .to_string_lossy()
        .to_string();
    let (code, out, _) = run_cli(&["check", "rules", &good], Duration::from_secs(30));
    assert_eq!(code, Some(0));
    let (pcode, pout, _) = promtool(&["check", "rules", &good]);
    assert_eq!(pcode, Some(0));
    assert_eq!(out, pout, "same output for a good file");

    let dir = TestDir::new();
    let bad = dir.file(
        "bad.yml",
        "groups:\n  - name: g\n    rules:\n      - record: 'a b'\n        expr: up\n      - alert: X\n        expr: 'sum(('\n",
    );
    let bad = bad.to_string_lossy().to_string();
    let (code, _, err) = run_cli(&["check", "rules", &bad], Duration::from_secs(30));
    assert_eq!(code, Some(1));
    let (pcode, _, perr) = promtool(&["check", "rules", &bad]);
    assert_eq!(pcode, Some(1));
    for want in [
        "invalid recording rule name: a b",
        "could not parse expression",
    ] {
        assert!(
            err.contains(want) && perr.contains(want),
            "{err}\n---\n{perr}"
        );
    }
    assert!(
        err.contains("bad.yml:4: group \"g\", rule 1, \"a b\""),
        "{err}"
    );
}
