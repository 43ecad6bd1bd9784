//! The real log corpus in `../shared/logs/` pushed through the Loki push API (one stream per
//! system) and searched through the Loki query API: every filter query (substring, regex,
//! case-insensitive, negated, chained, a rare term) returns exactly the lines `grep` finds
//! in the same input, newest first or oldest first, with the limit honoured; and a SIGKILL
//! right after the pushes were acknowledged loses none of them.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{enc, Server, TestDir, BASE_MS};

/// Where the corpus lives, beside the repository.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/logs")
}

/// One system's lines (CR stripped, as a shipper would), with the file they were written
/// to for grep.
struct System {
    name: String,
    lines: Vec<String>,
    file: PathBuf,
}

/// Nanosecond timestamps: unique over the whole corpus and interleaving the systems, so
/// ordering is global, not per stream.
fn ts_ns(system: usize, line: usize) -> i64 {
    BASE_MS * 1_000_000 + ((line * 16 + system) as i64) * 1_000_000
}

fn load(dir: &TestDir) -> Vec<System> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("../shared/logs is beside the repository")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 10,
        "the corpus has its 16 systems: {names:?}"
    );
    names
        .iter()
        .map(|n| {
            let raw = std::fs::read(corpus_dir().join(n)).expect("read corpus file");
            let text = String::from_utf8_lossy(&raw);
            let lines: Vec<String> = text
                .split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
                .filter(|l| !l.is_empty())
                .collect();
            let name = n
                .trim_end_matches("_2k.log")
                .trim_end_matches(".log")
                .to_string();
            let file = dir.file(&format!("{name}.txt"), &(lines.join("\n") + "\n"));
            System { name, lines, file }
        })
        .collect()
}

fn push(srv: &Server, systems: &[System]) {
    for (si, s) in systems.iter().enumerate() {
        let values: Vec<serde_json::Value> = s
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| serde_json::json!([ts_ns(si, i).to_string(), l]))
            .collect();
        let body = serde_json::json!({"streams": [{
            "stream": {"job": "corpus", "system": s.name},
            "values": values,
        }]});
        let (code, text) = srv.post_json("/loki/api/v1/push", &body, None);
        assert_eq!(code, 204, "push {}: {text}", s.name);
    }
}

/// A grep over one system's file: `-F` fixed or `-E` extended, optionally `-i`/`-v`.
struct Grep {
    args: &'static [&'static str],
    pattern: &'static str,
}

/// The 0-based line numbers of `file` that pass every grep.
fn grep_lines(file: &Path, greps: &[Grep]) -> BTreeSet<usize> {
    let mut keep: Option<BTreeSet<usize>> = None;
    for g in greps {
        let out = Command::new("grep")
            .arg("-n")
            .args(g.args)
            .arg("--")
            .arg(g.pattern)
            .arg(file)
            .output()
            .expect("run grep");
        // 0: matches, 1: none; anything else is an error.
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "grep failed: {out:?}"
        );
        let got: BTreeSet<usize> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(':').next()?.parse::<usize>().ok())
            .map(|n| n - 1)
            .collect();
        keep = Some(match keep {
            None => got,
            Some(k) => k.intersection(&got).copied().collect(),
        });
    }
    keep.unwrap_or_default()
}

/// (timestamp, system, line) of every corpus line that passes the greps, in `systems`
/// (indices), newest first or oldest first, the first `limit`.
fn expected(
    all: &[System],
    systems: &[usize],
    greps: &[Grep],
    backward: bool,
    limit: usize,
) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for &si in systems {
        let s = &all[si];
        for i in grep_lines(&s.file, greps) {
            out.push((ts_ns(si, i), s.name.clone(), s.lines[i].clone()));
        }
    }
    out.sort();
    if backward {
        out.reverse();
    }
    out.truncate(limit);
    out
}

/// The lines a Loki `query_range` returns, flattened over streams and put in the
/// requested order.
fn query(srv: &Server, q: &str, backward: bool, limit: usize) -> Vec<(i64, String, String)> {
    let start = BASE_MS * 1_000_000 - 1;
    let end = BASE_MS * 1_000_000 + 3_600_000_000_000;
    let dir = if backward { "backward" } else { "forward" };
    let path = format!(
        "/loki/api/v1/query_range?query={}&start={start}&end={end}&limit={limit}&direction={dir}",
        enc(q)
    );
    let (code, v) = srv.get_json(&path, None);
    assert_eq!(code, 200, "{q}: {v}");
    assert_eq!(v["status"], "success", "{q}: {v}");
    assert_eq!(v["data"]["resultType"], "streams", "{q}: {v}");
    let mut out = Vec::new();
    for stream in v["data"]["result"].as_array().expect("result array") {
        assert_eq!(stream["stream"]["job"], "corpus", "{q}: {stream}");
        let system = stream["stream"]["system"].as_str().expect("system label");
        let values = stream["values"].as_array().expect("values");
        // Within a stream, entries come in the requested order.
        let ts: Vec<i64> = values
            .iter()
            .map(|e| e[0].as_str().expect("ns string").parse().expect("ns"))
            .collect();
        let mut sorted = ts.clone();
        sorted.sort();
        if backward {
            sorted.reverse();
        }
        assert_eq!(ts, sorted, "{q}: stream {system} out of order");
        for e in values {
            out.push((
                e[0].as_str()
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or_default(),
                system.to_string(),
                e[1].as_str().expect("line").to_string(),
            ));
        }
    }
    out.sort();
    if backward {
        out.reverse();
    }
    out
}

struct Case {
    query: &'static str,
    /// Which systems the selector selects (None: all).
    systems: Option<&'static [&'static str]>,
    greps: Vec<Grep>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            query: r#"{job="corpus"} |= "error""#,
            systems: None,
            greps: vec![Grep {
                args: &["-F"],
                pattern: "error",
            }],
        },
        Case {
            query: r#"{job="corpus"} |~ "Failed password for (invalid user )?root""#,
            systems: None,
            greps: vec![Grep {
                args: &["-E"],
                pattern: "Failed password for (invalid user )?root",
            }],
        },
        Case {
            query: r#"{job="corpus", system=~"Hadoop|Zookeeper|HPC"} |~ "(?i)warn""#,
            systems: Some(&["HPC", "Hadoop", "Zookeeper"]),
            greps: vec![Grep {
                args: &["-F", "-i"],
                pattern: "warn",
            }],
        },
        Case {
            query: r#"{system="OpenSSH"} != "Failed""#,
            systems: Some(&["OpenSSH"]),
            greps: vec![Grep {
                args: &["-F", "-v"],
                pattern: "Failed",
            }],
        },
        Case {
            query: r#"{job="corpus"} |= "session" != "closed" |~ "uid=[0-9]+""#,
            systems: None,
            greps: vec![
                Grep {
                    args: &["-F"],
                    pattern: "session",
                },
                Grep {
                    args: &["-F", "-v"],
                    pattern: "closed",
                },
                Grep {
                    args: &["-E"],
                    pattern: "uid=[0-9]+",
                },
            ],
        },
        Case {
            query: r#"{job="corpus"} |= "blk_-1030832046197982436""#,
            systems: None,
            greps: vec![Grep {
                args: &["-F"],
                pattern: "blk_-1030832046197982436",
            }],
        },
        Case {
            query: r#"{job="corpus", system!="Windows"} !~ "[0-9]{3}" |= "INFO""#,
            systems: None,
            greps: vec![
                Grep {
                    args: &["-E", "-v"],
                    pattern: "[0-9]{3}",
                },
                Grep {
                    args: &["-F"],
                    pattern: "INFO",
                },
            ],
        },
    ]
}

fn check_all(srv: &Server, all: &[System]) {
    for c in cases() {
        let idx: Vec<usize> = (0..all.len())
            .filter(|&i| match c.systems {
                Some(names) => names.contains(&all[i].name.as_str()),
                None => !(c.query.contains("system!=\"Windows\"") && all[i].name == "Windows"),
            })
            .collect();
        let full = expected(all, &idx, &c.greps, true, usize::MAX);
        assert!(
            full.len() < 5000,
            "{}: {} lines is more than one answer holds",
            c.query,
            full.len()
        );
        assert!(!full.is_empty(), "{}: grep finds lines", c.query);
        assert_eq!(query(srv, c.query, true, 5000), full, "{} (all)", c.query);
        for (backward, limit) in [(true, 100), (false, 100), (true, 7), (false, 1)] {
            let want = expected(all, &idx, &c.greps, backward, limit);
            let got = query(srv, c.query, backward, limit);
            assert_eq!(got, want, "{} backward={backward} limit={limit}", c.query);
        }
    }
}

#[test]
fn filters_equal_grep_and_survive_a_kill() {
    let dir = TestDir::new();
    let all = load(&dir);
    let mut srv = Server::start(&dir.data(), None);
    push(&srv, &all);
    check_all(&srv, &all);

    // Acknowledged is durable: SIGKILL right after the pushes, then the same answers.
    let dir2 = TestDir::new();
    let mut fresh = Server::start(&dir2.data(), None);
    push(&fresh, &all);
    fresh.kill9();
    let restarted = Server::start(&dir2.data(), None);
    check_all(&restarted, &all);

    srv.kill9();
}
