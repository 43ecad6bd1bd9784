//! The log store through its contract (`AppendLogs`, `ReadLogs` on `Store`): round trips,
//! equality with a naive scan on random data and filters, restarts, a real crash (the
//! process aborts after acknowledgements), retention by the store clock, and reads with a
//! limit that touch only the partitions they need.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use lookout_store::metrics::TsdbOptions;
use lookout_store::{
    AppendLogs, Clock, Direction, Labels, LineFilter, LogHit, LogOptions, LogRecord, LogSelect,
    LogStream, MatchOp, Matcher, ReadLogs, Store, StoreOptions, TenantId,
};
use proptest::prelude::*;

/// A store whose log partitions are `partition_ns` long and whose head commits only when
/// told to.
fn open(dir: &Path, partition_ns: i64, clock: Clock, retention_ms: i64) -> Store {
    Store::open(
        dir,
        StoreOptions {
            tsdb: TsdbOptions {
                retention_time: retention_ms,
                clock,
                ..Default::default()
            },
            logs: LogOptions {
                partition: partition_ns,
                commit_interval: i64::MAX,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap()
}

fn rec(ts_ns: i64, line: &str) -> LogRecord {
    LogRecord {
        ts_ns,
        line: line.into(),
        metadata: vec![],
    }
}

fn select(s: &Store, t: &TenantId, sel: &LogSelect) -> Vec<LogHit> {
    let mut out = vec![];
    s.select_logs(t, sel, &mut |h| {
        out.push(h);
        true
    })
    .unwrap();
    out
}

fn all(start_ns: i64, end_ns: i64) -> LogSelect {
    LogSelect {
        start_ns,
        end_ns,
        ..Default::default()
    }
}

#[test]
fn append_select_round_trip_with_metadata_labels_and_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 1_000, Clock::system(), 0);
    let t = TenantId::default_tenant();
    let other = TenantId::new("other").unwrap();
    let api = Labels::from_pairs([("job", "api"), ("level", "error")]);
    let db = Labels::from_pairs([("job", "db"), ("level", "info")]);
    let mut r = rec(1_500, "GET /users/42 500 took=12ms");
    r.metadata = vec![
        ("span_id".into(), "00f067aa0ba902b7".into()),
        ("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into()),
    ];
    s.append_logs(
        &t,
        vec![
            LogStream {
                labels: api.clone(),
                records: vec![r.clone(), rec(2_500, "GET /health 200")],
            },
            LogStream {
                labels: db.clone(),
                records: vec![rec(1_500, "checkpoint complete"), rec(10, "db up")],
            },
        ],
    )
    .unwrap();
    s.append_logs(&t, vec![]).unwrap();
    let check = |s: &Store| {
        let hits = select(s, &t, &all(0, 10_000));
        let got: Vec<(i64, &str)> = hits.iter().map(|h| (h.ts_ns, h.line.as_str())).collect();
        // Equal times: stream labels decide, reversed when newest first.
        assert_eq!(
            got,
            [
                (2_500, "GET /health 200"),
                (1_500, "checkpoint complete"),
                (1_500, "GET /users/42 500 took=12ms"),
                (10, "db up"),
            ]
        );
        assert_eq!(*hits[2].stream, api);
        assert_eq!(hits[2].metadata, r.metadata);
        assert!(select(s, &other, &all(0, 10_000)).is_empty());
        assert_eq!(
            s.log_label_names(&t, &[], 0, 10_000).unwrap(),
            ["job", "level"]
        );
        assert_eq!(
            s.log_label_values(&t, "job", &[Matcher::equal("level", "info")], 0, 10_000)
                .unwrap(),
            ["db"]
        );
        assert_eq!(
            s.log_streams(&t, &[], 2_000, 3_000).unwrap(),
            vec![api.clone()]
        );
        assert!(s.log_streams(&other, &[], 0, 10_000).unwrap().is_empty());
    };
    check(&s);
    let st = s.log_stats(&t);
    assert_eq!((st.lines, st.streams, st.head_lines), (4, 2, 4));
    s.flush_tenant(&t).unwrap();
    check(&s);
    let st = s.log_stats(&t);
    assert_eq!((st.lines, st.streams, st.head_lines), (4, 2, 0));
    assert_eq!(st.partitions.len(), 3);
    assert!(!dir.path().join("tenants/other").exists());
}

/// A tiny deterministic generator, so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const WORDS: &[&str] = &[
    "error",
    "Error",
    "warn",
    "GET",
    "/api/v1/users",
    "user=42",
    "id=0x1f",
    "timeout",
    "Connection",
    "refused",
    "a",
    "é",
    "10.0.0.1",
    "x_y",
    "errors",
    "mirror",
    "took=12ms",
    "😀",
    // Uuids, which id filters hold whole (format 4), and what makes one not a uuid
    // when it stands next to it with no separator (a hex digit) or still one (`req_`).
    "5e4e8f2a-4b3c-11e5-9c3b-0800200c9a66",
    "0800200c-9a66-4b3c-a1b2-5e4e8f2a11e5",
    "ab12",
    "req_",
    // Hex ids, which a search looks for among a chunk's packed hex digits before reading
    // its text (an odd one, and one longer than an id filter's entries, which a chunk
    // never skips on).
    "trace=4bf92f3577b34da6a3ce929d0e0e4736",
    "c0ffee42d15ea5e7",
    "abc123def",
    "f00d1234f00d1234f00d1234f00d1234f00d1234f00d1234f00d1234f00d1234f00d1234f00d1234f00d1234",
];
const SEPS: &[&str] = &[" ", " ", " ", "", ":", "=", ", ", "/"];
const REGEXES: &[&str] = &[
    "err(or)?",
    "(?i)error",
    r"user=\d+",
    "^GET",
    "refused$",
    r"[0-9]+\.[0-9]+",
    "a|b",
    "rror",
    "Conn.*fused",
    "é|😀",
    r"\bmirror\b",
    "x_y|timeout",
];

fn line(rng: &mut Rng) -> String {
    let mut s = String::new();
    for i in 0..1 + rng.below(6) {
        if i > 0 {
            s.push_str(rng.pick::<&str>(SEPS));
        }
        s.push_str(rng.pick::<&str>(WORDS));
    }
    s
}

/// A substring of `s` at char boundaries.
fn substring(rng: &mut Rng, s: &str) -> String {
    let b: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    let i = rng.below(b.len());
    let j = i + rng.below(b.len() - i);
    s[b[i]..b[j]].to_string()
}

fn filter(rng: &mut Rng, lines: &[String]) -> LineFilter {
    let l = rng.pick(lines).clone();
    match rng.below(6) {
        0 | 1 => LineFilter::Contains(substring(rng, &l)),
        2 => LineFilter::NotContains(rng.pick(WORDS).to_string()),
        3 | 4 => LineFilter::Regex(rng.pick(REGEXES).to_string()),
        _ => LineFilter::NotRegex(rng.pick(REGEXES).to_string()),
    }
}

fn naive(data: &[(Arc<Labels>, LogRecord)], sel: &LogSelect) -> Vec<(i64, Labels, String)> {
    let keep = |l: &str| {
        sel.filters.iter().all(|f| match f {
            LineFilter::Contains(s) => l.contains(s.as_str()),
            LineFilter::NotContains(s) => !l.contains(s.as_str()),
            LineFilter::Regex(r) => regex::Regex::new(r).unwrap().is_match(l),
            LineFilter::NotRegex(r) => !regex::Regex::new(r).unwrap().is_match(l),
        })
    };
    let mut v: Vec<(i64, Labels, String)> = data
        .iter()
        .filter(|(l, r)| {
            sel.start_ns <= r.ts_ns
                && r.ts_ns < sel.end_ns
                && sel
                    .matchers
                    .iter()
                    .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
                && keep(&r.line)
                && sel.label_eq.iter().all(|(n, v)| {
                    let got = l
                        .get(n)
                        .or_else(|| {
                            r.metadata
                                .iter()
                                .find(|(m, _)| m == n)
                                .map(|(_, v)| v.as_str())
                        })
                        .unwrap_or("");
                    got == v
                })
        })
        .map(|(l, r)| (r.ts_ns, (**l).clone(), r.line.clone()))
        .collect();
    v.sort();
    if sel.direction == Direction::Backward {
        v.reverse();
    }
    if sel.limit > 0 {
        v.truncate(sel.limit);
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn select_equals_a_naive_scan(seed in 1u64..u64::MAX) {
        let mut rng = Rng(seed);
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), 1_000, Clock::system(), 0);
        let t = TenantId::default_tenant();
        let streams = [
            Labels::from_pairs([("job", "a")]),
            Labels::from_pairs([("host", "x"), ("job", "b")]),
            Labels::from_pairs([("host", "y"), ("job", "c")]),
            // A stream label decides over the lines' metadata of the same name.
            Labels::from_pairs([("job", "d"), ("trace_id", "t1")]),
        ];
        // Metadata values: indexable ones, one with a space (no label term: its chunks
        // are kept by the unindexed-value term), an empty one; a name twice (the first
        // counts).
        let metas: [&[(&str, &str)]; 6] = [
            &[],
            &[("trace_id", "t1")],
            &[("trace_id", "t2"), ("span_id", "s")],
            &[("trace_id", "t3 x")],
            &[("trace_id", "")],
            &[("trace_id", "t2"), ("trace_id", "t1")],
        ];
        let label_eqs: [&[(&str, &str)]; 7] = [
            &[],
            &[("trace_id", "t1")],
            &[("trace_id", "t2")],
            &[("trace_id", "t3 x")],
            &[("trace_id", "")],
            &[("trace_id", "t2"), ("span_id", "s")],
            &[("job", "d"), ("trace_id", "t1")],
        ];
        let mut data: Vec<(Arc<Labels>, LogRecord)> = vec![];
        // The store keeps one copy of an entry pushed twice (same stream, time and line,
        // as Loki does), and which copy's metadata counts is not specified; the naive
        // scan keeps every record, so the data holds no such repeats.
        let mut seen = std::collections::HashSet::new();
        for batch in 0..8 {
            let mut b = vec![];
            for (si, l) in streams.iter().enumerate() {
                let records: Vec<LogRecord> = (0..rng.below(40))
                    .map(|_| {
                        let mut r = rec(rng.below(5_000) as i64, &line(&mut rng));
                        r.metadata = rng
                            .pick(&metas)
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_string()))
                            .collect();
                        r
                    })
                    .filter(|r| seen.insert((si, r.ts_ns, r.line.clone())))
                    .collect();
                data.extend(records.iter().map(|r| (Arc::new(l.clone()), r.clone())));
                b.push(LogStream { labels: l.clone(), records });
            }
            s.append_logs(&t, b.clone()).unwrap();
            // Half the batches end in partitions, the rest stay in the head.
            if batch == 3 {
                s.flush_tenant(&t).unwrap();
            }
        }
        let lines: Vec<String> = data.iter().map(|(_, r)| r.line.clone()).collect();
        let matchers = [
            vec![],
            vec![Matcher::equal("job", "a")],
            vec![Matcher::new(MatchOp::RegexMatch, "job", "a|b").unwrap()],
            vec![Matcher::new(MatchOp::NotEqual, "host", "x").unwrap()],
            vec![Matcher::equal("job", "nope")],
        ];
        for _ in 0..25 {
            let start = rng.below(5_200) as i64 - 100;
            let sel = LogSelect {
                matchers: rng.pick(&matchers).clone(),
                start_ns: start,
                end_ns: start + rng.below(5_200) as i64,
                filters: (0..rng.below(3)).map(|_| filter(&mut rng, &lines)).collect(),
                label_eq: rng
                    .pick(&label_eqs)
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                direction: if rng.below(2) == 0 { Direction::Backward } else { Direction::Forward },
                limit: [0, 1, 5, 30][rng.below(4)],
                cancel: None,
            };
            let got: Vec<(i64, Labels, String)> = select(&s, &t, &sel)
                .into_iter()
                .map(|h| (h.ts_ns, (*h.stream).clone(), h.line))
                .collect();
            prop_assert_eq!(got, naive(&data, &sel), "{:?}", sel);
        }
    }
}

#[test]
fn restart_keeps_every_line_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let t = TenantId::default_tenant();
    let job = Labels::from_pairs([("job", "a")]);
    {
        let s = open(dir.path(), 1_000, Clock::system(), 0);
        for i in 0..50 {
            s.append_logs(
                &t,
                vec![LogStream {
                    labels: job.clone(),
                    records: vec![rec(i * 100, &format!("line {i}"))],
                }],
            )
            .unwrap();
            if i == 25 {
                s.flush_tenant(&t).unwrap();
            }
        }
        s.close().unwrap();
    }
    let s = open(dir.path(), 1_000, Clock::system(), 0);
    let hits = select(&s, &t, &all(0, i64::MAX));
    assert_eq!(hits.len(), 50);
    assert_eq!(hits[0].line, "line 49");
    let mut sel = all(0, i64::MAX);
    sel.filters = vec![LineFilter::Contains("line 7".into())];
    assert_eq!(select(&s, &t, &sel).len(), 1);
    // A flush then a reopen replays nothing and still finds everything.
    s.flush().unwrap();
    drop(s);
    let s = open(dir.path(), 1_000, Clock::system(), 0);
    assert_eq!(s.log_stats(&t).head_lines, 0);
    assert_eq!(select(&s, &t, &all(0, i64::MAX)).len(), 50);
}

/// Run by `a_crash_after_acknowledgement_loses_nothing` in a child process: appends, notes
/// each acknowledged batch in a file, and aborts (no destructor, no flush) midway.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("LOOKOUT_LOG_CRASH_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    let s = open(&dir.join("data"), 1_000_000, Clock::system(), 0);
    let t = TenantId::default_tenant();
    let mut acked = std::fs::File::create(dir.join("acked")).unwrap();
    for i in 0..300i64 {
        s.append_logs(
            &t,
            vec![LogStream {
                labels: Labels::from_pairs([("job", "crash")]),
                records: vec![rec(i * 10_000, &format!("acked line {i}"))],
            }],
        )
        .unwrap();
        use std::io::Write;
        writeln!(acked, "{i}").unwrap();
        if i == 100 || i == 200 {
            s.flush_tenant(&t).unwrap();
        }
    }
    std::process::abort();
}

#[test]
fn a_crash_after_acknowledgement_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("LOOKOUT_LOG_CRASH_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must die, not exit");
    let acked: Vec<i64> = std::fs::read_to_string(dir.path().join("acked"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(acked.len(), 300);
    let s = open(&dir.path().join("data"), 1_000_000, Clock::system(), 0);
    let t = TenantId::default_tenant();
    let mut sel = all(0, i64::MAX);
    sel.direction = Direction::Forward;
    let got: Vec<String> = select(&s, &t, &sel).into_iter().map(|h| h.line).collect();
    let want: Vec<String> = acked.iter().map(|i| format!("acked line {i}")).collect();
    assert_eq!(got, want, "every acknowledged line, each once");
}

#[test]
fn retention_by_age_follows_the_store_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(100_000);
    let s = open(dir.path(), 1_000_000_000, clock.clone(), 10_000); // 1 s partitions, 10 s
    let t = TenantId::default_tenant();
    let sec = |s: i64| s * 1_000_000_000;
    s.append_logs(
        &t,
        vec![LogStream {
            labels: Labels::from_pairs([("job", "a")]),
            // Old lines are accepted; one stamped far ahead must not expire the rest.
            records: vec![
                rec(sec(1), "very old"),
                rec(sec(95), "recent"),
                rec(sec(99), "newest"),
                rec(sec(10_000), "future"),
            ],
        }],
    )
    .unwrap();
    s.maintain();
    let lines = |s: &Store| -> BTreeSet<String> {
        select(s, &t, &all(0, i64::MAX))
            .into_iter()
            .map(|h| h.line)
            .collect()
    };
    assert_eq!(
        lines(&s),
        ["future", "newest", "recent"].map(String::from).into()
    );
    clock.set(107_000);
    s.maintain();
    assert_eq!(lines(&s), ["future", "newest"].map(String::from).into());
    assert_eq!(s.log_stats(&t).partitions.len(), 2);
}

#[test]
fn a_limited_read_touches_only_the_partitions_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 1_000_000, Clock::system(), 0);
    let t = TenantId::default_tenant();
    let job = Labels::from_pairs([("job", "a")]);
    // Ten partitions of 2,000 lines each; every line has "common", every 500th "rare".
    for p in 0..10i64 {
        let records = (0..2_000i64)
            .map(|i| {
                let ts = p * 1_000_000 + i * 100;
                let rare = if i % 500 == 7 { " rare" } else { "" };
                rec(ts, &format!("common line {p}-{i}{rare}"))
            })
            .collect();
        s.append_logs(
            &t,
            vec![LogStream {
                labels: job.clone(),
                records,
            }],
        )
        .unwrap();
    }
    s.flush_tenant(&t).unwrap();
    let before = s.log_stats(&t);
    assert_eq!(before.partitions.len(), 10);
    let mut sel = all(0, i64::MAX);
    sel.limit = 100;
    sel.filters = vec![LineFilter::Contains("common".into())];
    let hits = select(&s, &t, &sel);
    assert_eq!(hits.len(), 100);
    assert_eq!(hits[0].line, "common line 9-1999");
    let after = s.log_stats(&t);
    assert_eq!(after.partitions_searched - before.partitions_searched, 1);
    assert!(
        after.lines_fetched - before.lines_fetched <= 400,
        "{} lines read for 100 hits",
        after.lines_fetched - before.lines_fetched
    );
    // Oldest first, the same from the other end.
    sel.direction = Direction::Forward;
    let hits = select(&s, &t, &sel);
    assert_eq!(hits[0].line, "common line 0-0");
    // A rare term reads its few lines, not the partitions'.
    let before = s.log_stats(&t);
    sel.limit = 0;
    sel.filters = vec![LineFilter::Contains("rare".into())];
    assert_eq!(select(&s, &t, &sel).len(), 40);
    let after = s.log_stats(&t);
    assert_eq!(after.lines_fetched - before.lines_fetched, 40);
}

#[test]
fn size_retention_drops_the_oldest_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::system();
    let s = Store::open(
        dir.path(),
        StoreOptions {
            tsdb: TsdbOptions {
                retention_time: 0,
                retention_size: 1,
                clock,
                ..Default::default()
            },
            logs: LogOptions {
                partition: 1_000,
                commit_interval: i64::MAX,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    let t = TenantId::default_tenant();
    s.append_logs(
        &t,
        vec![LogStream {
            labels: Labels::from_pairs([("job", "a")]),
            records: (0..5).map(|i| rec(i * 1_000, "x")).collect(),
        }],
    )
    .unwrap();
    s.maintain();
    // One byte is less than any partition: all go (the WAL alone is left).
    assert!(s.log_stats(&t).partitions.is_empty());
}

#[test]
fn a_label_equality_reads_only_the_chunks_holding_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 1_000_000, Clock::system(), 0);
    let t = TenantId::default_tenant();
    let job = Labels::from_pairs([("job", "api")]);
    // 20 commits, one chunk each, 50 lines a chunk; one line of chunk 13 carries the trace.
    for c in 0..20i64 {
        let records = (0..50i64)
            .map(|i| {
                let mut r = rec(c * 1_000 + i, &format!("GET /x {c} {i}"));
                let trace = if c == 13 && i == 7 {
                    "4bf92f3577b34da6a3ce929d0e0e4736"
                } else {
                    "other"
                };
                r.metadata = vec![(
                    "trace_id".into(),
                    format!(
                        "{trace}{}",
                        if trace == "other" {
                            c.to_string()
                        } else {
                            String::new()
                        }
                    ),
                )];
                r
            })
            .collect();
        s.append_logs(
            &t,
            vec![LogStream {
                labels: job.clone(),
                records,
            }],
        )
        .unwrap();
        s.flush_tenant(&t).unwrap();
    }
    let before = s.log_stats(&t).lines_fetched;
    let mut sel = all(0, i64::MAX);
    sel.label_eq = vec![("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into())];
    let hits = select(&s, &t, &sel);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].line, "GET /x 13 7");
    let fetched = s.log_stats(&t).lines_fetched - before;
    assert_eq!(fetched, 50, "only the one chunk holding the trace is read");
    // A stream label of the same name decides for every line of its stream.
    sel.label_eq = vec![
        ("job".into(), "api".into()),
        ("trace_id".into(), "other3".into()),
    ];
    assert_eq!(select(&s, &t, &sel).len(), 50);
    sel.label_eq = vec![("job".into(), "web".into())];
    assert!(select(&s, &t, &sel).is_empty());
}
