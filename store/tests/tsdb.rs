//! The metrics engine end to end through its public API: every write is checked against a
//! model (a map with last-write-wins), across head cuts, compaction, out-of-order and
//! backfilled writes, restarts, and retention.

use std::collections::BTreeMap;
use std::path::Path;

use lookout_store::metrics::{Tsdb, TsdbOptions};
use lookout_store::model::STALE_NAN_BITS;
use lookout_store::{
    Clock, LabelPairs, Labels, MatchOp, Matcher, Projection, Sample, SelectHints, SeriesSamples,
};

const PERIOD: i64 = 10_000;

type Model = BTreeMap<Labels, BTreeMap<i64, u64>>;

fn opts() -> TsdbOptions {
    TsdbOptions {
        block_duration: PERIOD,
        retention_time: 0,
        ..Default::default()
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        (
            "__name__",
            if i.is_multiple_of(3) {
                "node_cpu_seconds_total"
            } else {
                "node_memory_bytes"
            },
        ),
        ("instance", &*format!("host-{}", i % 7)),
        ("series", &*i.to_string()),
    ])
}

/// Values of every kind the store must keep bit-exact.
fn value(i: usize, t: i64, salt: u64) -> f64 {
    match (i + t as usize / 1000) % 9 {
        0 => f64::from_bits(STALE_NAN_BITS),
        1 => f64::NAN,
        2 => -0.0,
        3 => f64::INFINITY,
        4 => (t / 1000) as f64 + salt as f64,
        5 => (t as f64) * 0.001 + 0.1,
        6 => 1e300 / (1 + i) as f64,
        7 => ((t as u64).wrapping_mul(2654435761) ^ salt) as f64 / 7.0,
        _ => 42.0,
    }
}

fn write(
    db: &Tsdb,
    model: &mut Model,
    series: std::ops::Range<usize>,
    times: impl Iterator<Item = i64> + Clone,
    salt: u64,
) {
    let mut batch = Vec::new();
    for i in series {
        let l = labels(i);
        let samples: Vec<Sample> = times
            .clone()
            .map(|t| Sample::new(t, value(i, t, salt)))
            .collect();
        let m = model.entry(l.clone()).or_default();
        for s in &samples {
            m.insert(s.t, s.v.to_bits());
        }
        batch.push(SeriesSamples { labels: l, samples });
    }
    db.append(&batch).unwrap();
}

fn check(db: &Tsdb, model: &Model) {
    let all = [Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
    let got = db
        .select(&all, i64::MIN, i64::MAX, &SelectHints::default())
        .unwrap();
    assert_eq!(got.len(), model.len(), "series count");
    for s in got {
        let want = &model[&s.labels];
        assert_eq!(s.samples.len(), want.len(), "sample count of {}", s.labels);
        for (x, (t, v)) in s.samples.iter().zip(want) {
            assert_eq!((x.t, x.v.to_bits()), (*t, *v), "sample of {}", s.labels);
        }
    }
}

fn block_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("meta.json").exists())
        .count()
}

#[test]
fn head_cut_and_compaction_keep_every_sample_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    let mut model = Model::new();
    // 3 block periods of data, in order.
    write(&db, &mut model, 0..60, (0..30).map(|k| k * 1000), 0);
    check(&db, &model);
    db.flush().unwrap();
    assert_eq!(block_count(dir.path()), 3, "one block per aligned period");
    check(&db, &model);
    // More data into the same periods (backfill) and beyond, with overwrites.
    write(&db, &mut model, 30..90, (0..60).map(|k| k * 500 + 250), 1);
    write(&db, &mut model, 0..10, (0..30).map(|k| k * 1000), 2);
    check(&db, &model);
    db.flush().unwrap();
    check(&db, &model);
    // Overlapping blocks are merged; complete 3-period ranges are merged into longer ones.
    db.maintain().unwrap();
    check(&db, &model);
    let n = block_count(dir.path());
    assert!(n < 6, "compaction left {n} blocks");
    drop(db);
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    check(&db, &model);
}

#[test]
fn wal_replay_restores_head_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let db = Tsdb::open(dir.path(), opts()).unwrap();
        write(&db, &mut model, 0..20, (0..5).map(|k| k * 1000), 0);
    }
    {
        // Writes after a replay use new WAL references; both generations must replay.
        let db = Tsdb::open(dir.path(), opts()).unwrap();
        check(&db, &model);
        write(&db, &mut model, 10..30, (5..8).map(|k| k * 1000), 0);
        write(&db, &mut model, 0..5, (0..3).map(|k| k * 1000), 9);
    }
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    check(&db, &model);
    // A cut, then more writes, then a restart: blocks plus the remaining WAL.
    db.flush().unwrap();
    write(&db, &mut model, 0..30, (8..9).map(|k| k * 1000), 3);
    drop(db);
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    check(&db, &model);
}

#[test]
fn out_of_order_backfill_and_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    let l = labels(1);
    let put = |samples: &[(i64, f64)]| {
        db.append(&[SeriesSamples {
            labels: l.clone(),
            samples: samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        }])
        .unwrap()
    };
    put(&[(100_000, 1.0), (101_000, 2.0), (102_000, 3.0)]);
    // Backfill far older than the head, out of order within the batch.
    put(&[(5_000, 10.0), (1_000, 11.0), (3_000, 12.0)]);
    // A repeated timestamp with a new value: last write wins, in the head...
    put(&[(101_000, 20.0), (102_000, 30.0)]);
    let m = [Matcher::equal("series", "1")];
    let read = |db: &Tsdb| -> Vec<(i64, f64)> {
        db.select(&m, i64::MIN, i64::MAX, &SelectHints::default())
            .unwrap()[0]
            .samples
            .iter()
            .map(|s| (s.t, s.v))
            .collect()
    };
    let want = vec![
        (1_000, 11.0),
        (3_000, 12.0),
        (5_000, 10.0),
        (100_000, 1.0),
        (101_000, 20.0),
        (102_000, 30.0),
    ];
    assert_eq!(read(&db), want);
    db.flush().unwrap();
    assert_eq!(read(&db), want);
    // ...and across a block and the head, and across blocks after compaction.
    put(&[(3_000, 99.0), (101_000, 21.0)]);
    let want2 = vec![
        (1_000, 11.0),
        (3_000, 99.0),
        (5_000, 10.0),
        (100_000, 1.0),
        (101_000, 21.0),
        (102_000, 30.0),
    ];
    assert_eq!(read(&db), want2);
    db.flush().unwrap();
    db.maintain().unwrap();
    assert_eq!(read(&db), want2);
    // Time bounds are inclusive.
    let got = db
        .select(&m, 3_000, 100_000, &SelectHints::default())
        .unwrap();
    assert_eq!(got[0].samples.len(), 3);
}

#[test]
fn retention_drops_whole_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(99_000);
    let db = Tsdb::open(
        dir.path(),
        TsdbOptions {
            block_duration: PERIOD,
            retention_time: 3 * PERIOD,
            clock: clock.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut model = Model::new();
    write(&db, &mut model, 0..5, (70..100).map(|k| k * 1000), 0);
    db.flush().unwrap();
    // Time passes: the clock, not the data, decides what is old.
    clock.set(129_000);
    write(&db, &mut model, 0..5, (100..130).map(|k| k * 1000), 0);
    db.flush().unwrap();
    clock.set(159_000);
    write(&db, &mut model, 0..5, (130..160).map(|k| k * 1000), 0);
    db.flush().unwrap();
    db.maintain().unwrap();
    let all = [Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
    let got = db
        .select(&all, i64::MIN, i64::MAX, &SelectHints::default())
        .unwrap();
    let oldest = got.iter().map(|s| s.samples[0].t).min().unwrap();
    // Now 159s; blocks ending before 159s - 30s are gone, the rest whole.
    assert_eq!(
        oldest, 120_000,
        "blocks older than the retention are dropped whole"
    );
    let stats = db.stats();
    assert!(stats.blocks.iter().all(|b| b.max_time >= 129_000));
}

#[test]
fn label_names_and_values_follow_matchers_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    let mut model = Model::new();
    write(&db, &mut model, 0..6, (0..5).map(|k| k * 1000), 0);
    db.flush().unwrap();
    write(&db, &mut model, 100..101, (50..51).map(|k| k * 1000), 0);
    let cpu = [Matcher::equal("__name__", "node_cpu_seconds_total")];
    let v = db
        .label_names_values(&cpu, i64::MIN, i64::MAX, Some("series"))
        .unwrap();
    assert_eq!(v, vec!["0", "3"]);
    let v = db
        .label_names_values(&[], 40_000, 60_000, Some("series"))
        .unwrap();
    assert_eq!(v, vec!["100"]);
    let names = db
        .label_names_values(&[], i64::MIN, i64::MAX, None)
        .unwrap();
    assert_eq!(names, vec!["__name__", "instance", "series"]);
    let none = db.label_names_values(&[], 10_000, 20_000, None).unwrap();
    assert!(none.is_empty());
}

#[test]
fn blocks_are_compact_for_regular_counters() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(
        dir.path(),
        TsdbOptions {
            block_duration: 2 * 3_600_000,
            ..opts()
        },
    )
    .unwrap();
    let mut batch = Vec::new();
    for i in 0..1000usize {
        let mut c = 0u64;
        let samples = (0..480)
            .map(|k| {
                c += 7 + (k as u64 * 31 + i as u64) % 13;
                Sample::new(k * 15_000, c as f64)
            })
            .collect();
        batch.push(SeriesSamples {
            labels: labels(i),
            samples,
        });
    }
    db.append(&batch).unwrap();
    db.flush().unwrap();
    let s = db.stats();
    let bps = s.block_bytes as f64 / 480_000.0;
    assert!(bps < 1.0, "{bps} bytes per sample");
}

#[test]
fn large_selections_read_on_several_threads_keep_every_sample() {
    // Above 2,048 series the head and block reads split the work across threads; the
    // result must be the same series, in label order, with every sample.
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    let mut model = Model::new();
    write(&db, &mut model, 0..5000, (0..12).map(|k| k * 1000), 0);
    db.flush().unwrap();
    write(&db, &mut model, 0..5000, (12..16).map(|k| k * 1000), 1);
    check(&db, &model);
    let got = db
        .select(
            &[Matcher::equal("__name__", "node_cpu_seconds_total")],
            3000,
            13_000,
            &SelectHints::default(),
        )
        .unwrap();
    let want: Vec<&Labels> = model
        .keys()
        .filter(|l| l.get("__name__") == Some("node_cpu_seconds_total"))
        .collect();
    assert_eq!(got.len(), want.len());
    for (s, l) in got.iter().zip(want) {
        assert_eq!(&s.labels, l);
        let expect: Vec<(i64, u64)> = model[l]
            .range(3000..=13_000)
            .map(|(t, v)| (*t, *v))
            .collect();
        let have: Vec<(i64, u64)> = s.samples.iter().map(|x| (x.t, x.v.to_bits())).collect();
        assert_eq!(have, expect, "samples of {l}");
    }
}

/// Writers look series up outside the WAL lock; a head cut between a lookup and the WAL
/// write must not lose or misplace a sample, and the WAL must replay to the same data.
#[test]
fn concurrent_borrowed_writes_during_head_cuts_keep_every_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Tsdb::open(tmp.path(), opts()).unwrap();
    let writers = 4usize;
    let rounds = 60i64;
    std::thread::scope(|scope| {
        for w in 0..writers {
            let db = &db;
            scope.spawn(move || {
                for r in 0..rounds {
                    // Every writer shares series 0..20 (distinct timestamps per writer) and
                    // creates its own 20 new series each round.
                    let t = r * 1000 + w as i64;
                    let owned: Vec<(Labels, Vec<Sample>)> = (0..20)
                        .chain((0..20).map(|k| 100 + (w * 1000) + (r as usize * 20) + k))
                        .map(|i| (labels(i), vec![Sample::new(t, value(i, t, 1))]))
                        .collect();
                    let pairs: Vec<Vec<(&str, &str)>> = owned
                        .iter()
                        .map(|(l, _)| l.iter().map(|x| (&*x.name, &*x.value)).collect())
                        .collect();
                    let views: Vec<(&LabelPairs, &[Sample])> = pairs
                        .iter()
                        .zip(&owned)
                        .map(|(p, (_, s))| (&p[..], &s[..]))
                        .collect();
                    db.append_views(&views).unwrap();
                }
            });
        }
        scope.spawn(|| {
            for _ in 0..15 {
                db.flush().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
    });
    let mut model = Model::new();
    for w in 0..writers {
        for r in 0..rounds {
            let t = r * 1000 + w as i64;
            for i in (0..20).chain((0..20).map(|k| 100 + (w * 1000) + (r as usize * 20) + k)) {
                model
                    .entry(labels(i))
                    .or_default()
                    .insert(t, value(i, t, 1).to_bits());
            }
        }
    }
    check(&db, &model);
    drop(db);
    let db = Tsdb::open(tmp.path(), opts()).unwrap();
    check(&db, &model);
}

/// The streaming select hands `f` exactly what `select` returns: the same series in label
/// order with the same samples, merged across blocks and the head (overlapping and
/// out-of-order writes included), on one thread and on several.
#[test]
fn select_map_sees_what_select_returns() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    let mut model = Model::new();
    write(&db, &mut model, 0..6000, (0..12).map(|k| k * 1000), 0);
    db.flush().unwrap();
    // Rewrites of block samples (later write wins), and new ones in the head.
    write(&db, &mut model, 0..6000, (10..16).map(|k| k * 1000), 1);
    let samples = |l: &Labels, s: &[Sample]| -> (Labels, Vec<(i64, u64)>) {
        (l.clone(), s.iter().map(|x| (x.t, x.v.to_bits())).collect())
    };
    for (matchers, mint, maxt) in [
        (
            vec![Matcher::equal("__name__", "node_cpu_seconds_total")],
            3000,
            13_000,
        ),
        (vec![Matcher::equal("instance", "host-3")], 0, 20_000),
        // 6,000 series: read on several threads.
        (
            vec![Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()],
            5000,
            15_000,
        ),
        (vec![Matcher::equal("series", "7")], 14_000, 14_000),
        (vec![Matcher::equal("series", "7")], 100_000, 200_000),
    ] {
        let want: Vec<(Labels, Vec<(i64, u64)>)> = db
            .select(&matchers, mint, maxt, &SelectHints::default())
            .unwrap()
            .iter()
            .map(|s| samples(&s.labels, &s.samples))
            .collect();
        let got: Vec<(Labels, Vec<(i64, u64)>)> = db
            .select_map(&matchers, mint, maxt, &Default::default(), &samples)
            .unwrap()
            .into_iter()
            .map(|(l, r)| {
                assert_eq!(l, r.0);
                r
            })
            .collect();
        assert_eq!(got, want, "{matchers:?} in [{mint}, {maxt}]");
    }
}

/// A read that can take at most `max_series` series is refused before anything is read
/// when more match, in a block and in the head alike, and answered whole when they fit.
#[test]
fn selections_over_max_series_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    let mut model = Model::new();
    write(&db, &mut model, 0..300, (0..4).map(|k| k * 1000), 0);
    db.flush().unwrap();
    write(&db, &mut model, 300..600, (4..8).map(|k| k * 1000), 0);
    let all = vec![Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
    let read = std::sync::atomic::AtomicUsize::new(0);
    let count = |_: &Labels, _: &[Sample]| {
        read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    for (mint, maxt) in [(0, 3000), (4000, 8000), (0, 8000)] {
        let hints = SelectHints {
            max_series: 299,
            ..Default::default()
        };
        let e = db.select_map(&all, mint, maxt, &hints, &count).unwrap_err();
        assert_eq!(e.class(), lookout_store::ErrorClass::LimitExceeded, "{e}");
    }
    assert_eq!(read.load(std::sync::atomic::Ordering::Relaxed), 0);
    let hints = SelectHints {
        max_series: 600,
        ..Default::default()
    };
    assert_eq!(
        db.select_map(&all, 0, 8000, &hints, &count).unwrap().len(),
        600
    );
    assert_eq!(read.load(std::sync::atomic::Ordering::Relaxed), 600);
}

/// A projected read returns the same series, in the same order and with the same samples,
/// as a whole one, each with only the labels the projection wants, whether the series are
/// in the head alone (projected as labels are read) or merged across blocks and the head
/// (projected after merging), on one thread and on several.
#[test]
fn projected_selections_keep_every_series_and_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    let mut model = Model::new();
    write(&db, &mut model, 0..6000, (0..4).map(|k| k * 1000), 0);
    db.flush().unwrap();
    write(&db, &mut model, 0..6000, (2..8).map(|k| k * 1000), 1);
    let samples = |_: &Labels, s: &[Sample]| -> Vec<(i64, u64)> {
        s.iter().map(|x| (x.t, x.v.to_bits())).collect()
    };
    let projections = [
        Projection::Keep(vec!["instance".into()]),
        Projection::Keep(vec!["instance".into(), "absent".into()]),
        Projection::Drop(vec!["series".into(), "__name__".into()]),
        Projection::Keep(vec![]),
    ];
    for (matchers, mint, maxt) in [
        // Head only: 2,000 series (one thread), then 6,000 (several).
        (
            vec![Matcher::equal("__name__", "node_cpu_seconds_total")],
            5000,
            7000,
        ),
        (
            vec![Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()],
            5000,
            7000,
        ),
        // Blocks and the head merged.
        (
            vec![Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()],
            0,
            7000,
        ),
        (vec![Matcher::equal("instance", "host-3")], 0, 7000),
    ] {
        let whole = db
            .select_map(&matchers, mint, maxt, &SelectHints::default(), &samples)
            .unwrap();
        assert!(!whole.is_empty());
        for p in &projections {
            let hints = SelectHints {
                project: Some(p.clone()),
                ..Default::default()
            };
            let got = db
                .select_map(&matchers, mint, maxt, &hints, &samples)
                .unwrap();
            let want: Vec<(Labels, Vec<(i64, u64)>)> = whole
                .iter()
                .map(|(l, s)| (p.apply(l.clone()), s.clone()))
                .collect();
            assert_eq!(got, want, "{p:?} of {matchers:?} in [{mint}, {maxt}]");
        }
    }
}

/// A newest-only read gives each series the last sample a whole read would give it, for
/// series in the head alone (read without decoding), in blocks and the head, with
/// out-of-order writes (one overwriting the newest sample), with a staleness marker as the
/// newest sample, and for ranges that end before a series' newest sample or start after it.
#[test]
fn newest_only_selections_give_the_last_sample_of_a_whole_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    let mut model = Model::new();
    write(&db, &mut model, 0..600, (0..4).map(|k| k * 1000), 0);
    db.flush().unwrap();
    write(&db, &mut model, 0..600, (2..8).map(|k| k * 1000), 1);
    // Out of order: older samples for some series, a rewrite of the newest for others.
    write(&db, &mut model, 0..100, [4500, 1500].into_iter(), 2);
    write(&db, &mut model, 100..200, [7000].into_iter(), 3);
    let stale = f64::from_bits(STALE_NAN_BITS);
    let batch: Vec<SeriesSamples> = (200..210)
        .map(|i| SeriesSamples {
            labels: labels(i),
            samples: vec![Sample::new(8000, stale)],
        })
        .collect();
    db.append(&batch).unwrap();
    let samples = |_: &Labels, s: &[Sample]| -> Vec<(i64, u64)> {
        s.iter().map(|x| (x.t, x.v.to_bits())).collect()
    };
    let all = vec![Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
    for (mint, maxt) in [
        (0, 9000),
        (5000, 9000),
        (5000, 6500),
        (0, 4600),
        (7500, 9000),
        (8001, 9000),
    ] {
        let whole = db
            .select_map(&all, mint, maxt, &SelectHints::default(), &samples)
            .unwrap();
        let hints = SelectHints {
            newest_only: true,
            ..Default::default()
        };
        let got = db.select_map(&all, mint, maxt, &hints, &samples).unwrap();
        let want: Vec<(Labels, Vec<(i64, u64)>)> = whole
            .into_iter()
            .map(|(l, s)| (l, s[s.len() - 1..].to_vec()))
            .collect();
        assert_eq!(got, want, "newest in [{mint}, {maxt}]");
    }
}

#[test]
fn restarts_add_no_wal_segments_and_log_no_series_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let db = Tsdb::open(dir.path(), opts()).unwrap();
        write(&db, &mut model, 0..50, (0..5).map(|k| k * 1000), 0);
    }
    let wal_files = || std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    let first = wal_files();
    let mut sizes = Vec::new();
    for _ in 0..5 {
        let db = Tsdb::open(dir.path(), opts()).unwrap();
        check(&db, &model);
        sizes.push(db.stats().wal_bytes);
    }
    assert!(
        wal_files() <= first + 1,
        "{} segments after 5 restarts",
        wal_files()
    );
    assert!(
        sizes.windows(2).all(|w| w[0] == w[1]),
        "the WAL grew across restarts without writes: {sizes:?}"
    );
    // Writes after a restart land on the replayed series and replay again.
    {
        let db = Tsdb::open(dir.path(), opts()).unwrap();
        write(&db, &mut model, 0..60, (5..8).map(|k| k * 1000), 1);
    }
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    check(&db, &model);
    db.flush().unwrap();
    check(&db, &model);
    drop(db);
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    check(&db, &model);
    assert_eq!(
        wal_files(),
        1,
        "after a head cut only the current segment is left"
    );
}
