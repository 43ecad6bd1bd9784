//! Test-only: LogQL conformance scripts in the spirit of Prometheus' promqltest, so a case
//! is a few lines of text (`query/testdata/logql/*.test`):
//!
//! ```text
//! line 10 {app="api"} level=error n=1        # a line at 10 s
//! logs 0 100 2 backward {app="api"} |= "error"
//!   {app="api"} 10 level=error n=1           # expected: labels, time in s, line
//! instant 60 sum(count_over_time({app="api"}[1m]))
//!   {} 3
//! range 0 60 30 count_over_time({app="api"}[30s])
//!   {app="api"} 30:1 60:2
//! error {app="api"} | xml
//!   "xml" is not a supported pipeline stage
//! ```
//!
//! An expectation block ends at the next unindented line; `#` starts a comment.

use lookout_store::{Direction, TenantId};

use super::engine::{Answer, LogRequest, LogqlEngine};
use super::fixture::{MemLogs, S};
use super::Expr;
use crate::budget::Budget;
use crate::promql::Value;

fn labels_and_rest(s: &str) -> (&str, &str) {
    let end = s.find('}').map_or(0, |i| i + 1);
    (&s[..end], s[end..].trim())
}

fn parse_labels(s: &str) -> Vec<(String, String)> {
    let inner = s.trim().trim_start_matches('{').trim_end_matches('}');
    inner
        .split(", ")
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

fn run_query(m: &MemLogs, cmd: &str, rest: &str) -> Result<Vec<String>, String> {
    let eng = LogqlEngine::default();
    let budget = Budget::unlimited(std::time::Duration::from_secs(60));
    let t = TenantId::default_tenant();
    let mut w = rest.splitn(
        if cmd == "logs" {
            5
        } else if cmd == "range" {
            4
        } else {
            2
        },
        ' ',
    );
    let mut num = || -> i64 { w.next().and_then(|x| x.parse().ok()).unwrap_or(0) };
    let out = match cmd {
        "logs" => {
            let (start, end, limit) = (num(), num(), num());
            let mut w2 = rest.splitn(5, ' ').skip(3);
            let dir = if w2.next() == Some("forward") {
                Direction::Forward
            } else {
                Direction::Backward
            };
            let q = w2.next().unwrap_or("");
            let Expr::Log(l) = eng.parse(q).map_err(|e| e.to_string())? else {
                return Err("not a log query".into());
            };
            let req = LogRequest {
                start_ns: start * S,
                end_ns: end * S,
                limit: limit as usize,
                direction: dir,
                interval_ns: 0,
                categorize: false,
            };
            match eng
                .logs(m, &t, &l, &req, &budget)
                .map_err(|e| e.to_string())?
                .0
            {
                Answer::Streams(s) => s
                    .iter()
                    .flat_map(|s| {
                        s.lines
                            .iter()
                            .map(|l| format!("{} {} {}", s.labels, l.ts_ns / S, l.line))
                            .collect::<Vec<_>>()
                    })
                    .collect(),
                _ => vec![],
            }
        }
        _ => {
            let (span, instant, q) = if cmd == "instant" {
                let t0 = num();
                (
                    (t0 * S, t0 * S, 0),
                    true,
                    rest.split_once(' ').map_or("", |x| x.1),
                )
            } else {
                let (a, b, c) = (num(), num(), num());
                (
                    (a * S, b * S, c * S),
                    false,
                    rest.splitn(4, ' ').nth(3).unwrap_or(""),
                )
            };
            let Expr::Metric(e) = eng.parse(q).map_err(|e| e.to_string())? else {
                return Err("not a metric query".into());
            };
            match eng
                .metric(m, &t, &e, span, instant, &budget)
                .map_err(|e| e.to_string())?
                .0
            {
                Answer::Metric(Value::Vector(v)) => v
                    .iter()
                    .map(|s| format!("{} {}", s.labels, crate::promql::value::format_float(s.v)))
                    .collect(),
                Answer::Metric(Value::Matrix(mx)) => mx
                    .iter()
                    .map(|s| {
                        let p: Vec<String> = s
                            .points
                            .iter()
                            .map(|p| {
                                format!(
                                    "{}:{}",
                                    p.t / 1000,
                                    crate::promql::value::format_float(p.v)
                                )
                            })
                            .collect();
                        format!("{} {}", s.labels, p.join(" "))
                    })
                    .collect(),
                Answer::Metric(Value::Scalar { v, .. }) => {
                    vec![format!("scalar {}", crate::promql::value::format_float(v))]
                }
                _ => vec![],
            }
        }
    };
    Ok(out)
}

/// Runs a script; returns a description of every failed case.
pub fn run(name: &str, text: &str) -> Vec<String> {
    let mut m = MemLogs::default();
    let mut failures = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        let line = raw.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        let mut expected = Vec::new();
        while i < lines.len() && lines[i].starts_with("  ") {
            expected.push(lines[i].trim().to_string());
            i += 1;
        }
        match cmd {
            "line" => {
                let (ts, rest) = rest.split_once(' ').unwrap_or(("0", ""));
                let (labels, text) = labels_and_rest(rest);
                let l = parse_labels(labels);
                let pairs: Vec<(&str, &str)> =
                    l.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                m.push(&pairs, ts.parse().unwrap_or(0.0), text);
            }
            "error" => match Ok::<_, String>(()).and_then(|_| {
                if rest.starts_with('{') && !rest.contains('[') {
                    run_query(&m, "logs", &format!("0 1000 100 backward {rest}"))
                } else {
                    run_query(&m, "instant", &format!("100 {rest}"))
                }
            }) {
                Ok(got) => failures.push(format!(
                    "{name}:{i}: {rest}: expected an error, got {got:?}"
                )),
                Err(e) => {
                    if !expected.iter().all(|x| e.contains(x.as_str())) {
                        failures.push(format!(
                            "{name}:{i}: {rest}: error {e:?} lacks {expected:?}"
                        ));
                    }
                }
            },
            "logs" | "instant" | "range" => match run_query(&m, cmd, rest) {
                Ok(got) if got == expected => {}
                Ok(got) => failures.push(format!(
                    "{name}:{i}: {line}\n  expected {expected:#?}\n  got {got:#?}"
                )),
                Err(e) => failures.push(format!("{name}:{i}: {line}: {e}")),
            },
            other => failures.push(format!("{name}:{i}: unknown command {other:?}")),
        }
    }
    failures
}

#[test]
fn conformance_scripts() {
    let scripts = [(
        "basic.test",
        include_str!("../../testdata/logql/basic.test"),
    )];
    let failures: Vec<String> = scripts.iter().flat_map(|(n, t)| run(n, t)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
