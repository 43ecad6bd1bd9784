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

/// An engine whose every line falls in one partition.
fn one_partition() -> (tempfile::TempDir, LogEngine) {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogEngine::open(
        dir.path(),
        LogOptions {
            partition: i64::MAX / 4,
            ..opts()
        },
    )
    .unwrap();
    (dir, logs)
}

/// Lines of a stream that compress against each other, `bytes` of them at least.
fn template_lines(from_ts: i64, bytes: usize) -> Vec<LogRecord> {
    let mut out = vec![];
    let mut size = 0;
    let mut i = from_ts;
    while size < bytes {
        let r = rec(
            i,
            &format!("GET /api/v1/items/{i} status=200 took {}ms", i % 97),
        );
        size += head::record_bytes(&r);
        out.push(r);
        i += 1;
    }
    out
}

#[test]
fn a_small_key_is_replaced_by_a_chunk_that_outgrows_it_and_every_line_reads_back() {
    let (dir, logs) = one_partition();
    let labels = Labels::from_pairs([("job", "api")]);
    let term = schema::stream_term(&labels);
    let mut all = 0;
    let mut keys = vec![];
    // 12 KiB (the first key), 20 KiB (keyed), 100 KiB (replaces it), 300 KiB (keyed:
    // three times the key, not four).
    for (i, kib) in [12usize, 20, 100, 300].into_iter().enumerate() {
        let recs = template_lines(1_000_000 * i as i64, kib << 10);
        all += recs.len();
        logs.append(&[LogStream {
            labels: labels.clone(),
            records: recs,
        }])
        .unwrap();
        logs.commit().unwrap();
        let parts = logs.partitions.read();
        let p = parts.values().next().unwrap();
        keys.push(p.keys.lock().get(&term).map(|k| (k.offset, k.raw)));
    }
    let raws: Vec<u64> = keys.iter().map(|k| k.unwrap().1).collect();
    assert!(raws[0] >= 12 << 10 && raws[0] < 13 << 10, "{raws:?}");
    assert_eq!(keys[1], keys[0]);
    assert!(raws[2] >= 100 << 10 && keys[2].unwrap().0 > keys[1].unwrap().0);
    assert_eq!(keys[3], keys[2]);
    let sel = LogSelect {
        matchers: vec![Matcher::equal("job", "api")],
        start_ns: 0,
        end_ns: i64::MAX,
        direction: Direction::Forward,
        ..Default::default()
    };
    let got = lines(&logs, &sel);
    assert_eq!(got.len(), all);
    assert!(got[0].starts_with("GET /api/v1/items/0 "));
    drop(logs);
    let logs = LogEngine::open(dir.path(), opts()).unwrap();
    assert_eq!(lines(&logs, &sel), got);
}

/// A 16-digit hex id for line `i` of stream `job`: its letters are the same in every id,
/// so the index (which knows an id by its letters) cannot tell the chunks apart.
fn hex_id(job: &str, i: u64) -> String {
    let j = u64::from(job.as_bytes()[0]);
    format!("{j:04}ab{i:04}cd{:04}", (i * 7919 + j * 31) % 10_000)
}

#[test]
fn a_hex_id_is_looked_for_in_packed_hex_digits_and_other_chunks_are_not_read() {
    let (_dir, logs) = one_partition();
    let long = "0f1e2d3c".repeat(12); // 96 hex digits: too long for an id filter entry
    let streams: Vec<LogStream> = ["a", "b", "c", "d"]
        .into_iter()
        .map(|job| LogStream {
            labels: Labels::from_pairs([("job", job)]),
            records: (0..200)
                .map(|i| {
                    let id = if job == "d" && i == 7 {
                        long.clone()
                    } else {
                        hex_id(job, i)
                    };
                    rec(i as i64, &format!("GET /x req={id} took {i}ms"))
                })
                .collect(),
        })
        .collect();
    logs.append(&streams[..]).unwrap();
    logs.commit().unwrap();
    let search = |needle: &str| {
        let sel = LogSelect {
            start_ns: 0,
            end_ns: 1_000,
            filters: vec![LineFilter::Contains(needle.into())],
            ..Default::default()
        };
        let before = logs.stats();
        let got = lines(&logs, &sel);
        let after = logs.stats();
        (
            got,
            after.chunks_decompressed - before.chunks_decompressed,
            after.chunks_ruled_out_by_hex - before.chunks_ruled_out_by_hex,
        )
    };
    let id = hex_id("b", 123);
    for needle in [
        id.clone(),
        id[1..].to_string(),
        format!("req={}", &id[..12]),
    ] {
        let (got, read, ruled_out) = search(&needle);
        assert_eq!(got, [format!("GET /x req={id} took 123ms")], "{needle}");
        // Only b's chunk and d's (whose long id keeps it from being ruled out) are read.
        assert_eq!((read, ruled_out), (2, 2), "{needle}");
    }
    let (got, read, _) = search(&long[3..40]);
    assert_eq!(got, [format!("GET /x req={long} took 7ms")]);
    assert_eq!(read, 1);
    let (got, read, ruled_out) = search(&hex_id("z", 1));
    assert!(got.is_empty());
    assert_eq!((read, ruled_out), (1, 3));
    // Without a hex run to look for, every chunk is read.
    let (_, read, ruled_out) = search("took 5ms");
    assert_eq!((read, ruled_out), (4, 0));
}
