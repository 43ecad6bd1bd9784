//! `lookout test rules`: rule unit tests in promtool's format (`rule_files`,
//! `evaluation_interval`, `tests:` with `input_series` in the expanding notation,
//! `alert_rule_test` with `exp_alerts`, `promql_expr_test` with `exp_samples`), run the way
//! `promtool test rules` runs them: every group evaluated at every `evaluation_interval`
//! step over an in-memory storage that also receives the rules' output; an alert test
//! compares the rule's firing alerts after the evaluation at or after its `eval_time`; a
//! PromQL test queries the storage once all evaluations are done. Output and exit status
//! follow promtool's.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use parking_lot::RwLock;
use serde::Deserialize;

use super::alert::AlertState;
use super::eval::{Env, Sink};
use super::file::RuleDuration;
use super::group::{Group, GroupDefaults, Rule};
use crate::promql::{Engine, Queryable};
use crate::promqltest::compare::almost_equal;
use crate::promqltest::script::Load;
use crate::promqltest::series::{parse_series_desc, parse_series_line};
use crate::promqltest::storage::MemStorage;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<RuleDuration>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    fuzzy_compare: bool,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<RuleDuration>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: RuleDuration,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: RuleDuration,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    labels: String,
    value: f64,
}

/// What one test file printed and whether it passed.
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub passed: bool,
}

/// The test's storage: input series, then every rule's output.
pub(crate) struct TestStorage(pub(crate) RwLock<MemStorage>);

impl Queryable for TestStorage {
    fn select(
        &self,
        matchers: &[lookout_store::Matcher],
        mint: i64,
        maxt: i64,
        budget: &crate::budget::Budget,
    ) -> crate::Result<Vec<lookout_store::Series>> {
        self.0.read().select(matchers, mint, maxt, budget)
    }
}

impl Sink for TestStorage {
    fn append(&self, batch: &[lookout_store::SeriesSamples]) -> Result<(), String> {
        let mut s = self.0.write();
        for ss in batch {
            for smp in &ss.samples {
                s.add(ss.labels.clone(), smp.t, smp.v);
            }
        }
        Ok(())
    }
}

/// Runs one unit-test file.
pub fn run_file(path: &Path) -> Outcome {
    let mut out = Outcome {
        stdout: format!("Unit Testing:  {}\n", path.display()),
        stderr: String::new(),
        passed: false,
    };
    let errors = match std::fs::read_to_string(path) {
        Err(e) => vec![format!("cannot read {}: {e}", path.display())],
        Ok(text) => match serde_yaml::from_str::<TestFile>(&text) {
            Err(e) => vec![e.to_string()],
            Ok(tf) => run(&tf, path.parent().unwrap_or(Path::new("."))),
        },
    };
    if errors.is_empty() {
        out.stdout.push_str("  SUCCESS\n\n");
        out.passed = true;
    } else {
        out.stdout.push('\n');
        out.stderr.push_str("  FAILED:\n");
        for e in errors {
            out.stderr.push_str(&e);
            out.stderr.push('\n');
        }
    }
    out
}

fn run(tf: &TestFile, dir: &Path) -> Vec<String> {
    let paths = match super::file::expand(&tf.rule_files, dir) {
        Ok(p) => p,
        Err(e) => return vec![e],
    };
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for p in &paths {
        match super::file::load(p) {
            Ok(f) => loaded.push(f),
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    let eval_ms = tf.evaluation_interval.map_or(60_000, |d| d.0).max(1);
    let mut failures = Vec::new();
    for t in &tf.tests {
        match run_group(t, &loaded, &tf.group_eval_order, eval_ms, tf.fuzzy_compare) {
            Ok(f) => failures.extend(f),
            Err(e) => failures.push(format!("    {e}")),
        }
    }
    failures
}

fn run_group(
    t: &TestGroup,
    files: &[super::file::LoadedFile],
    order: &[String],
    eval_ms: i64,
    fuzzy: bool,
) -> Result<Vec<String>, String> {
    let prefix = if t.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", t.name)
    };
    let step = t.interval.map_or(eval_ms, |d| d.0).max(1);
    let mut load = Load {
        line: 0,
        step_ms: step,
        with_nhcb: false,
        series: Vec::new(),
    };
    for s in &t.input_series {
        let line = parse_series_line(&format!("{} {}", s.series, s.values))?;
        load.series.push((line.labels, line.values));
    }
    let mut mem = MemStorage::new();
    mem.load(&load);
    let storage = TestStorage(RwLock::new(mem));
    let defaults = GroupDefaults {
        interval_ms: eval_ms,
        resend_delay_ms: 60_000,
    };
    let mut groups = Vec::new();
    for f in files {
        for spec in &f.file.groups {
            let mut g = Group::new(f.path.clone(), spec, f.lang, &defaults)?;
            g.set_restored();
            groups.push(g);
        }
    }
    if !order.is_empty() {
        let mut ordered = Vec::new();
        for name in order {
            let i = groups
                .iter()
                .position(|g| &g.name == name)
                .ok_or_else(|| format!("group {name:?} in group_eval_order not found"))?;
            ordered.push(groups.remove(i));
        }
        ordered.append(&mut groups);
        groups = ordered;
    }
    let engine = Engine::default();
    let env = Env {
        engine: &engine,
        storage: &storage,
        sink: &storage,
        external_labels: &t.external_labels,
        external_url: &t.external_url,
        logs: None,
    };
    let mut alert_tests: Vec<&AlertTest> = t.alert_rule_test.iter().collect();
    alert_tests.sort_by_key(|a| a.eval_time.0);
    let maxt = alert_tests
        .iter()
        .map(|a| a.eval_time.0)
        .chain(t.promql_expr_test.iter().map(|e| e.eval_time.0))
        .max()
        .unwrap_or(0);
    let mut failures = Vec::new();
    let mut next_test = 0;
    let mut ts = 0;
    while ts <= maxt {
        for g in &mut groups {
            g.eval(&env, ts, 60_000);
        }
        while next_test < alert_tests.len() && alert_tests[next_test].eval_time.0 <= ts {
            let at = alert_tests[next_test];
            next_test += 1;
            if let Some(f) = check_alerts(at, &groups) {
                failures.push(format!("{prefix}{f}"));
            }
        }
        ts += eval_ms;
    }
    for et in &t.promql_expr_test {
        if let Some(f) = check_expr(et, &env, fuzzy) {
            failures.push(format!("{prefix}{f}"));
        }
    }
    Ok(failures)
}

/// `{a="1", b="2"}` as promtool prints label sets.
fn fmt_map(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", super::template::gofmt::go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

type LabelsAndAnnotations = Vec<(BTreeMap<String, String>, BTreeMap<String, String>)>;

fn fmt_alerts(v: &LabelsAndAnnotations) -> String {
    let mut s = String::from("[\n");
    for (i, (l, a)) in v.iter().enumerate() {
        let _ = write!(
            s,
            "            {i}:\n              Labels:{}\n              Annotations:{}\n",
            fmt_map(l),
            fmt_map(a)
        );
    }
    s.push_str("            ]");
    s
}

fn check_alerts(at: &AlertTest, groups: &[Group]) -> Option<String> {
    let mut got: LabelsAndAnnotations = Vec::new();
    for g in groups {
        for r in &g.rules {
            if let Rule::Alerting(a) = r {
                if a.name != at.alertname {
                    continue;
                }
                for alert in a.active.values() {
                    if alert.state == AlertState::Firing {
                        got.push((alert.labels.clone(), alert.annotations.clone()));
                    }
                }
            }
        }
    }
    let mut exp: LabelsAndAnnotations = at
        .exp_alerts
        .iter()
        .map(|e| {
            let mut l = e.exp_labels.clone();
            l.insert("alertname".into(), at.alertname.clone());
            (l, e.exp_annotations.clone())
        })
        .collect();
    got.sort();
    exp.sort();
    if got == exp {
        return None;
    }
    Some(format!(
        "    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
        at.alertname,
        fmt_duration(at.eval_time.0),
        fmt_alerts(&exp),
        fmt_alerts(&got)
    ))
}

fn check_expr(et: &ExprTest, env: &Env<'_>, fuzzy: bool) -> Option<String> {
    let head = format!(
        "    expr: {}, time: {},\n",
        super::template::gofmt::go_quote(&et.expr),
        fmt_duration(et.eval_time.0)
    );
    let got = match env.query(&et.expr, et.eval_time.0) {
        Ok(v) => v,
        Err(e) => return Some(format!("{head}        err: {e}")),
    };
    let mut got: Vec<(BTreeMap<String, String>, f64)> = got
        .into_iter()
        .map(|s| (super::eval::to_map(&s.labels), s.v))
        .collect();
    let mut exp = Vec::new();
    for s in &et.exp_samples {
        match parse_series_desc(&s.labels) {
            Ok((l, _)) => exp.push((super::eval::to_map(&l), s.value)),
            Err(e) => return Some(format!("{head}        err: could not parse labels: {e}")),
        }
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    let same = got.len() == exp.len()
        && got.iter().zip(&exp).all(|(g, e)| {
            g.0 == e.0
                && (if fuzzy {
                    almost_equal(g.1, e.1)
                } else {
                    g.1 == e.1 || (g.1.is_nan() && e.1.is_nan())
                })
        });
    if same {
        return None;
    }
    let fmt = |v: &[(BTreeMap<String, String>, f64)]| {
        v.iter()
            .map(|(l, x)| {
                format!(
                    "{} {}",
                    fmt_map(l),
                    super::template::gofmt::format_e_shortest(*x).to_uppercase()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "{head}        exp: {}\n        got: {}",
        fmt(&exp),
        fmt(&got)
    ))
}

/// Prometheus' `model.Duration` spelling: `1h30m`, `5m`, `0s`.
fn fmt_duration(mut ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut s = String::new();
    for (unit, len) in [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= len {
            let _ = write!(s, "{}{unit}", ms / len);
            ms %= len;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared rule tests (also run under promtool by tests/rules_promtool.rs): every
    /// state transition, `for`, `keep_firing_for`, templates, recording rules.
    #[test]
    fn shared_rule_tests_pass() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/rules");
        let o = run_file(&dir.join("node.test.yml"));
        assert!(o.passed, "{}{}", o.stdout, o.stderr);
    }

    #[test]
    fn passing_and_failing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rules.yml"),
            "groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: Down\n        expr: up == 0\n        for: 2m\n        labels: {severity: page}\n        annotations: {summary: '{{ $labels.instance }} is {{ $value }}'}\n",
        )
        .unwrap();
        let test = |exp_value: &str, exp_summary: &str| {
            format!("rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'up{{job=\"a\", instance=\"x\"}}'\n        values: '1 1 0 0 0 0'\n    alert_rule_test:\n      - eval_time: 3m\n        alertname: Down\n        exp_alerts: []\n      - eval_time: 4m\n        alertname: Down\n        exp_alerts:\n          - exp_labels: {{severity: page, instance: x, job: a}}\n            exp_annotations: {{summary: '{exp_summary}'}}\n    promql_expr_test:\n      - expr: job:up:sum\n        eval_time: 1m\n        exp_samples:\n          - labels: 'job:up:sum{{job=\"a\"}}'\n            value: {exp_value}\n")
        };
        std::fs::write(dir.path().join("ok.yml"), test("1", "x is 0")).unwrap();
        let o = run_file(&dir.path().join("ok.yml"));
        assert!(o.passed, "{}{}", o.stdout, o.stderr);
        assert!(o.stdout.ends_with("  SUCCESS\n\n"));
        std::fs::write(dir.path().join("bad.yml"), test("2", "x is 1")).unwrap();
        let o = run_file(&dir.path().join("bad.yml"));
        assert!(!o.passed);
        assert!(
            o.stderr.contains("alertname: Down, time: 4m"),
            "{}",
            o.stderr
        );
        assert!(
            o.stderr.contains("expr: \"job:up:sum\", time: 1m"),
            "{}",
            o.stderr
        );
        assert!(
            o.stderr
                .contains("got: {__name__=\"job:up:sum\", job=\"a\"} 1E+00"),
            "{}",
            o.stderr
        );
    }
}
