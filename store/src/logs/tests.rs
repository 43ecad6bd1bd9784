//! Engine tests: the contract on small data, commits, restarts and WAL replay.

use super::*;
use crate::model::{LineFilter, LogRecord, MatchOp};

fn rec(ts_ns: i64, line: &str) -> LogRecord {
    LogRecord {
        ts_ns,
        line: line.into(),
        metadata: vec![],
    }
}

fn opts() -> LogOptions {
    LogOptions {
        partition: 100,
        commit_interval: i64::MAX,
        clock: Clock::fixed(1_000),
        ..Default::default()
    }
}

fn lines(logs: &LogEngine, sel: &LogSelect) -> Vec<String> {
    let mut out = vec![];
    logs.select(sel, &mut |h| {
        out.push(h.line);
        true
    })
    .unwrap();
    out
}

fn sample(logs: &LogEngine) {
    let a = Labels::from_pairs([("job", "a")]);
    let b = Labels::from_pairs([("job", "b")]);
    logs.append(&[
        LogStream {
            labels: a.clone(),
            records: vec![rec(330, "a error 3"), rec(10, "a info 1")],
        },
        LogStream {
            labels: b,
            records: vec![rec(120, "b error 2")],
        },
    ])
    .unwrap();
}

fn check_sample(logs: &LogEngine) {
    let mut sel = LogSelect {
        matchers: vec![Matcher::new(MatchOp::RegexMatch, "job", "a|b").unwrap()],
        start_ns: 0,
        end_ns: 1000,
        ..Default::default()
    };
    assert_eq!(lines(logs, &sel), ["a error 3", "b error 2", "a info 1"]);
    sel.direction = Direction::Forward;
    sel.limit = 2;
    assert_eq!(lines(logs, &sel), ["a info 1", "b error 2"]);
    sel.limit = 0;
    sel.filters = vec![
        LineFilter::Contains("error".into()),
        LineFilter::NotRegex("^b".into()),
    ];
    assert_eq!(lines(logs, &sel), ["a error 3"]);
    sel.filters = vec![LineFilter::Contains("rror 2".into())];
    assert_eq!(lines(logs, &sel), ["b error 2"]);
    sel.filters = vec![LineFilter::Regex("(info|error) [12]".into())];
    assert_eq!(lines(logs, &sel), ["a info 1", "b error 2"]);
    sel.filters.clear();
    sel.end_ns = 330;
    assert_eq!(lines(logs, &sel), ["a info 1", "b error 2"]);
    assert_eq!(
        logs.streams(&[Matcher::equal("job", "a")], 0, 1000)
            .unwrap()
            .len(),
        1
    );
    assert!(logs
        .streams(&[Matcher::equal("job", "a")], 11, 330)
        .unwrap()
        .is_empty());
    let ab = [Matcher::new(MatchOp::RegexMatch, "job", "a|b").unwrap()];
    assert_eq!(logs.streams(&ab, 0, 1000).unwrap().len(), 2);
}

#[test]
fn selects_from_the_head_and_from_partitions_alike() {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogEngine::open(dir.path(), opts()).unwrap();
    sample(&logs);
    check_sample(&logs);
    logs.commit().unwrap();
    assert_eq!(logs.stats().head_lines, 0);
    assert_eq!(logs.stats().partitions.len(), 3, "{:?}", logs.stats());
    check_sample(&logs);
    // Half in partitions, half in the head: still one order.
    logs.append(&[LogStream {
        labels: Labels::from_pairs([("job", "a")]),
        records: vec![rec(150, "a late 1.5"), rec(500, "a new 5")],
    }])
    .unwrap();
    let sel = LogSelect {
        start_ns: 0,
        end_ns: 1000,
        ..Default::default()
    };
    assert_eq!(
        lines(&logs, &sel),
        [
            "a new 5",
            "a error 3",
            "a late 1.5",
            "b error 2",
            "a info 1"
        ]
    );
    let s = logs.stats();
    assert_eq!((s.lines, s.head_lines, s.streams), (5, 2, 2));
}

#[test]
fn an_entry_sent_again_is_returned_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogEngine::open(dir.path(), opts()).unwrap();
    let batch = [LogStream {
        labels: Labels::from_pairs([("job", "a")]),
        records: vec![rec(10, "one"), rec(20, "two"), rec(20, "two, again")],
    }];
    let fwd = LogSelect {
        start_ns: 0,
        end_ns: 1000,
        direction: Direction::Forward,
        ..Default::default()
    };
    let want = ["one", "two", "two, again"];
    // Twice in the head; committed together (stored once); then once more in the head
    // while the first copies are in a partition.
    logs.append(&batch).unwrap();
    logs.append(&batch).unwrap();
    assert_eq!(lines(&logs, &fwd), want);
    logs.commit().unwrap();
    assert_eq!(logs.stats().lines, 3, "the copies are stored once");
    logs.append(&batch).unwrap();
    assert_eq!(lines(&logs, &fwd), want);
    let back = LogSelect {
        direction: Direction::Backward,
        limit: 2,
        ..fwd.clone()
    };
    assert_eq!(lines(&logs, &back), ["two, again", "two"]);
    // The same line at another time, or in another stream, is another entry.
    logs.append(&[
        LogStream {
            labels: Labels::from_pairs([("job", "a")]),
            records: vec![rec(30, "one")],
        },
        LogStream {
            labels: Labels::from_pairs([("job", "b")]),
            records: vec![rec(10, "one")],
        },
    ])
    .unwrap();
    assert_eq!(
        lines(&logs, &fwd),
        ["one", "one", "two", "two, again", "one"]
    );
}

#[test]
fn restart_and_replay_keep_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let logs = LogEngine::open(dir.path(), opts()).unwrap();
        sample(&logs);
        logs.commit().unwrap();
        logs.append(&[LogStream {
            labels: Labels::from_pairs([("job", "c")]),
            records: vec![rec(700, "c only in the wal")],
        }])
        .unwrap();
        // Dropped without a flush: the last append lives only in the WAL.
    }
    let logs = LogEngine::open(dir.path(), opts()).unwrap();
    assert_eq!(logs.stats().head_lines, 1);
    check_sample(&logs);
    let all = LogSelect {
        start_ns: 0,
        end_ns: 1000,
        ..Default::default()
    };
    assert_eq!(lines(&logs, &all).len(), 4);
    logs.flush().unwrap();
    drop(logs);
    let logs = LogEngine::open(dir.path(), opts()).unwrap();
    assert_eq!(logs.stats().head_lines, 0);
    assert_eq!(lines(&logs, &all).len(), 4);
}

#[test]
fn a_commit_cut_short_before_the_wal_truncation_is_not_replayed_twice() {
    let dir = tempfile::tempdir().unwrap();
    {
        let logs = LogEngine::open(dir.path(), opts()).unwrap();
        sample(&logs);
        // Commit the partitions by hand, leaving the WAL as a crash would.
        let mut w = logs.writer.lock();
        let (head, seg) = {
            let mut wal = logs.wal.lock();
            let mut st = logs.state.write();
            let seg = wal.cut_segment().unwrap();
            (Arc::new(std::mem::take(&mut st.head)), seg)
        };
        logs.write_head(&mut w, &head, seg).unwrap();
    }
    let logs = LogEngine::open(dir.path(), opts()).unwrap();
    assert_eq!(logs.stats().head_lines, 0);
    check_sample(&logs);
}

#[test]
fn retention_drops_whole_partitions_by_the_store_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(0);
    let logs = LogEngine::open(
        dir.path(),
        LogOptions {
            partition: 1_000_000_000, // 1 s
            retention_time: 10_000,   // 10 s
            clock: clock.clone(),
            ..opts()
        },
    )
    .unwrap();
    let s = |t_s: i64| rec(t_s * 1_000_000_000, &format!("at {t_s}"));
    logs.append(&[LogStream {
        labels: Labels::from_pairs([("job", "a")]),
        records: vec![s(1), s(5), s(9), s(1_000_000)], // one line far in the future
    }])
    .unwrap();
    logs.maintain().unwrap();
    assert_eq!(logs.stats().partitions.len(), 4);
    clock.set(16_000);
    logs.maintain().unwrap();
    let all = LogSelect {
        start_ns: 0,
        end_ns: i64::MAX,
        direction: Direction::Forward,
        ..Default::default()
    };
    assert_eq!(lines(&logs, &all), ["at 9", "at 1000000"]);
    assert_eq!(logs.stats().partitions.len(), 2);
    assert!(!dir.path().join("partitions/1000000000").exists());
}
