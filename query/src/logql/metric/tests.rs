//! The size-only read of metric queries against the full read, on the real store: every
//! query shape that takes it, over duplicates, out-of-order pushes, head and chunks mixed,
//! several partitions and two tenants.

use std::collections::BTreeSet;
use std::time::Duration;

use lookout_store::{
    AppendLogs, Labels, LogOptions, LogRecord, LogStream, Store, StoreOptions, TenantId,
};

use crate::budget::Budget;
use crate::logql::ast::Expr;
use crate::logql::engine::{Answer, LogqlEngine, LogqlOptions, ScanStats};
use crate::promql::Value;

const S: i64 = 1_000_000_000;

/// Every shape that reads sizes only, and two that do not (as a control).
const QUERIES: &[&str] = &[
    r#"count_over_time({env="t"}[5s])"#,
    r#"sum by (level) (count_over_time({env="t"}[7s]))"#,
    r#"sum(count_over_time({env="t", level=~"info|warn"}[3s] offset 2s))"#,
    r#"rate({env="t"}[10s])"#,
    r#"sum by (app) (rate({env="t"}[4s]))"#,
    r#"bytes_over_time({env="t"}[6s])"#,
    r#"sum by (level) (bytes_over_time({env="t"}[5s]))"#,
    r#"bytes_rate({env="t", app="api"}[9s])"#,
    r#"absent_over_time({env="t", app="api"}[2s])"#,
    r#"absent_over_time({env="t", app="none"}[2s])"#,
    r#"sum by (trace) (count_over_time({env="t"}[5s]))"#,
    r#"sum by (level) (count_over_time({env="t"} |= "a" [5s]))"#,
];

/// A small deterministic generator (the test needs no more than shuffled choices).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Lines of few lengths and texts, so that equal times and lengths with different text
/// occur as well as true repeats; some with structured metadata.
fn batch(rng: &mut Lcg, n: usize, span_s: i64) -> Vec<LogStream> {
    const TEXTS: &[&str] = &["aa", "bb", "a ok", "b no", "abc", "", "long line a"];
    let mut out: Vec<LogStream> = Vec::new();
    for _ in 0..n {
        let app = ["api", "web"][rng.next(2) as usize];
        let level = ["info", "warn", "error"][rng.next(3) as usize];
        let labels = Labels::from_pairs([("env", "t"), ("app", app), ("level", level)]);
        let line = TEXTS[rng.next(TEXTS.len() as u64) as usize];
        // Timestamps on a coarse grid so that lines collide.
        let ts_ns = rng.next(span_s as u64 * 4) as i64 * (S / 4);
        // A function of the entry, so that copies agree (which copy's metadata counts when
        // they do not is unspecified, in the full read as well).
        let metadata = if line.starts_with('a') && (ts_ns / (S / 4)) % 5 == 0 {
            vec![("trace".to_string(), format!("t{}", line.len()))]
        } else {
            vec![]
        };
        let rec = LogRecord {
            ts_ns,
            line: line.to_string(),
            metadata,
        };
        match out.iter_mut().find(|s| s.labels == labels) {
            Some(s) => s.records.push(rec),
            None => out.push(LogStream {
                labels,
                records: vec![rec],
            }),
        }
    }
    out
}

fn engine(size_reads: bool, max_bytes_read: usize) -> LogqlEngine {
    LogqlEngine::new(LogqlOptions {
        size_reads,
        max_bytes_read,
        ..Default::default()
    })
}

fn run(
    store: &Store,
    tenant: &TenantId,
    e: &LogqlEngine,
    q: &str,
    span: (i64, i64, i64),
) -> crate::error::Result<(Vec<String>, ScanStats)> {
    let Expr::Metric(m) = e.parse(q).unwrap() else {
        panic!("{q}: not a metric query")
    };
    let budget = Budget::unlimited(Duration::from_secs(60));
    let (a, stats) = e.metric(store, tenant, &m, span, span.0 == span.1, &budget)?;
    let Answer::Metric(v) = a else { panic!() };
    let shown = match v {
        Value::Matrix(m) => m
            .iter()
            .map(|s| {
                let p: Vec<String> = s
                    .points
                    .iter()
                    .map(|p| format!("{}:{}", p.t, p.v))
                    .collect();
                format!("{} {}", s.labels, p.join(" "))
            })
            .collect(),
        Value::Vector(v) => v
            .iter()
            .map(|s| format!("{} {}:{}", s.labels, s.t, s.v))
            .collect(),
        v => vec![format!("{v:?}")],
    };
    Ok((shown, stats))
}

/// Every query, fast and full, range and instant: equal answers and equal scan figures.
fn check_all(store: &Store, tenant: &TenantId, what: &str) {
    for q in QUERIES {
        for span in [(0, 40 * S, S), (3 * S, 37 * S, 5 * S), (20 * S, 20 * S, 0)] {
            let fast = run(store, tenant, &engine(true, 0), q, span).unwrap();
            let full = run(store, tenant, &engine(false, 0), q, span).unwrap();
            assert_eq!(fast, full, "{what}: {q} over {span:?}");
        }
    }
}

/// The distinct entries (stream, ts, line) pushed to the tenant with a time in `[lo, hi)`.
fn distinct(pushed: &[Vec<LogStream>], lo: i64, hi: i64) -> usize {
    let mut set = BTreeSet::new();
    for b in pushed {
        for s in b {
            for r in &s.records {
                if lo <= r.ts_ns && r.ts_ns < hi {
                    set.insert((s.labels.clone(), r.ts_ns, r.line.clone()));
                }
            }
        }
    }
    set.len()
}

#[test]
fn size_reads_answer_as_full_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            // Partitions of 10 s: the data spans four.
            logs: LogOptions {
                partition: 10 * S,
                commit_interval: i64::MAX,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
    let mut rng = Lcg(7);
    let mut pushed = Vec::new();
    // The other tenant's lines must never show up in `a`'s answers.
    store.append_logs(&b, batch(&mut rng, 500, 40)).unwrap();
    for round in 0..4 {
        // Each round: two batches (out of order, with repeats) in the head, checked; then
        // committed, checked; then a batch sent again into the head over the chunks.
        for _ in 0..2 {
            let x = batch(&mut rng, 300, 40);
            store.append_logs(&a, x.clone()).unwrap();
            pushed.push(x);
        }
        check_all(&store, &a, &format!("round {round}, head"));
        store.flush().unwrap();
        check_all(&store, &a, &format!("round {round}, chunks"));
        let again = pushed[pushed.len() - 1 - rng.next(2) as usize].clone();
        store.append_logs(&a, again.clone()).unwrap();
        pushed.push(again);
        check_all(&store, &a, &format!("round {round}, chunks and head"));
        let (_, stats) = run(
            &store,
            &a,
            &engine(true, 0),
            r#"count_over_time({env="t"}[1s])"#,
            (0, 40 * S, S),
        )
        .unwrap();
        assert_eq!(
            stats.lines,
            distinct(&pushed, 0, 40 * S + 1),
            "round {round}"
        );
    }
}

#[test]
fn size_reads_stop_at_the_same_limits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let t = TenantId::default_tenant();
    let mut rng = Lcg(11);
    let x = batch(&mut rng, 2000, 40);
    store.append_logs(&t, x.clone()).unwrap();
    store.flush().unwrap();
    let q = r#"sum by (level) (bytes_over_time({env="t"}[5s]))"#;
    let (_, full) = run(&store, &t, &engine(false, 0), q, (0, 40 * S, S)).unwrap();
    for (limit, ok) in [(full.bytes, true), (full.bytes - 1, false)] {
        let fast = run(&store, &t, &engine(true, limit), q, (0, 40 * S, S));
        let slow = run(&store, &t, &engine(false, limit), q, (0, 40 * S, S));
        assert_eq!(fast.is_ok(), ok);
        match (fast, slow) {
            (Ok(f), Ok(s)) => assert_eq!(f, s),
            (Err(f), Err(s)) => assert_eq!(f.to_string(), s.to_string()),
            (f, s) => panic!("{f:?} vs {s:?}"),
        }
    }
    // A budget already spent (timeout or cancel) stops both alike.
    let Expr::Metric(m) = engine(true, 0).parse(q).unwrap() else {
        panic!()
    };
    for size_reads in [true, false] {
        let budget = Budget::unlimited(Duration::ZERO);
        let e = engine(size_reads, 0)
            .metric(&store, &t, &m, (0, 40 * S, S), false, &budget)
            .unwrap_err();
        assert!(e.to_string().contains("timed out"), "{e}");
    }
}
