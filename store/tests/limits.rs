//! What the store refuses: samples outside the window it keeps (measured from its clock,
//! never from the data) and series over the label and count limits; and that what it
//! refuses is said, while what it accepts is kept.

use lookout_store::metrics::{Tsdb, TsdbOptions};
use lookout_store::{
    Clock, ErrorClass, Labels, MatchOp, Matcher, Reason, Sample, SelectHints, SeriesLimits,
    SeriesSamples,
};

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;
const NOW: i64 = 1_800_000_000_000;

fn series(name: &str, samples: &[i64]) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs([("__name__", name)]),
        samples: samples.iter().map(|&t| Sample::new(t, 1.0)).collect(),
    }
}

fn all(db: &Tsdb) -> Vec<(String, Vec<i64>)> {
    let m = [Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
    db.select(&m, i64::MIN, i64::MAX, &SelectHints::default())
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.labels.metric_name().unwrap().to_string(),
                s.samples.iter().map(|x| x.t).collect(),
            )
        })
        .collect()
}

fn open(dir: &std::path::Path, clock: &Clock, limits: SeriesLimits) -> Tsdb {
    Tsdb::open(
        dir,
        TsdbOptions {
            block_duration: 2 * 60 * MINUTE,
            retention_time: DAY,
            clock: clock.clone(),
            limits,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn a_far_future_sample_does_not_expire_real_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    // Even with the future bound lifted, retention is measured from the clock.
    let limits = SeriesLimits {
        max_future: 60 * DAY,
        ..SeriesLimits::default()
    };
    let db = open(dir.path(), &clock, limits);
    db.append(&[series("real", &[NOW - 3 * 60 * MINUTE, NOW - MINUTE])])
        .unwrap();
    db.flush().unwrap();
    db.append(&[series("liar", &[NOW + 30 * DAY])]).unwrap();
    db.flush().unwrap();
    db.maintain().unwrap();
    let got = all(&db);
    assert_eq!(
        got,
        vec![
            ("liar".into(), vec![NOW + 30 * DAY]),
            ("real".into(), vec![NOW - 3 * 60 * MINUTE, NOW - MINUTE]),
        ]
    );
    // A day later, the real blocks age out by the clock.
    clock.set(NOW + DAY + 60 * MINUTE);
    db.maintain().unwrap();
    assert_eq!(all(&db), vec![("liar".into(), vec![NOW + 30 * DAY])]);
}

#[test]
fn samples_outside_the_window_are_refused_and_the_rest_stored() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let db = open(dir.path(), &clock, SeriesLimits::default());
    let e = db
        .append(&[
            series("ok", &[NOW - MINUTE, NOW + 5 * MINUTE]),
            series("future", &[NOW + 30 * DAY, i64::MAX]),
            series("old", &[NOW - 2 * DAY, i64::MIN]),
            series("mixed", &[NOW, NOW + 11 * MINUTE]),
        ])
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::BadInput);
    let msg = e.to_string();
    assert!(
        msg.contains("limits.max_future") && msg.contains("retention.time"),
        "{msg}"
    );
    assert!(msg.contains("3 other samples"), "{msg}");
    let mut r = e.rejected().to_vec();
    r.sort();
    assert_eq!(r, vec![(Reason::TooFarInFuture, 3), (Reason::TooOld, 2)]);
    assert_eq!(
        all(&db),
        vec![
            ("mixed".into(), vec![NOW]),
            ("ok".into(), vec![NOW - MINUTE, NOW + 5 * MINUTE]),
        ]
    );
}

#[test]
fn extreme_timestamps_are_refused_without_retention_or_future_bound() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(
        dir.path(),
        TsdbOptions {
            retention_time: 0,
            limits: SeriesLimits::none(),
            ..Default::default()
        },
    )
    .unwrap();
    for t in [i64::MAX, i64::MIN] {
        let e = db.append(&[series("x", &[t])]).unwrap_err();
        assert_eq!(e.class(), ErrorClass::BadInput, "{e}");
    }
    db.append(&[series("x", &[-5_000, 0])]).unwrap();
    db.flush().unwrap();
    assert_eq!(all(&db), vec![("x".into(), vec![-5_000, 0])]);
}

#[test]
fn series_limits_refuse_new_series_only() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let limits = SeriesLimits {
        max_series_per_metric: 2,
        max_active_series: 3,
        ..SeriesLimits::default()
    };
    let db = open(dir.path(), &clock, limits);
    let s = |name: &str, i: &str| SeriesSamples {
        labels: Labels::from_pairs([("__name__", name), ("i", i)]),
        samples: vec![Sample::new(NOW, 1.0)],
    };
    db.append(&[s("a", "1"), s("a", "2")]).unwrap();
    let e = db.append(&[s("a", "3")]).unwrap_err();
    assert_eq!(e.class(), ErrorClass::LimitExceeded);
    assert!(
        e.to_string().contains("limits.max_series_per_metric"),
        "{e}"
    );
    // Existing series still take samples.
    db.append(&[s("a", "1")]).unwrap();
    db.append(&[s("b", "1")]).unwrap();
    let e = db.append(&[s("c", "1")]).unwrap_err();
    assert_eq!(e.class(), ErrorClass::LimitExceeded);
    assert!(
        e.to_string()
            .contains("limits.max_active_series_per_tenant"),
        "{e}"
    );
}

#[test]
fn oversized_labels_are_refused_with_their_limit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let db = open(dir.path(), &clock, SeriesLimits::default());
    let huge = SeriesSamples {
        labels: Labels::from_pairs([("__name__", "x"), ("v", &*"x".repeat(10 << 20))]),
        samples: vec![Sample::new(NOW, 1.0)],
    };
    let e = db.append(&[huge]).unwrap_err();
    assert_eq!(e.class(), ErrorClass::BadInput);
    assert!(e.to_string().contains("limits.max_label_value_length"));
    let many: Vec<(String, String)> = (0..20_000)
        .map(|i| (format!("l{i}"), "v".to_string()))
        .chain([("__name__".to_string(), "x".to_string())])
        .collect();
    let wide = SeriesSamples {
        labels: Labels::from_pairs(many),
        samples: vec![Sample::new(NOW, 1.0)],
    };
    let e = db.append(&[wide]).unwrap_err();
    assert!(e.to_string().contains("limits.max_label_names_per_series"));
    assert!(all(&db).is_empty());
}

#[test]
fn a_refused_batch_leaves_no_series_behind() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let limits = SeriesLimits {
        max_active_series: 2,
        ..SeriesLimits::default()
    };
    let db = open(dir.path(), &clock, limits);
    let s = |i: &str| SeriesSamples {
        labels: Labels::from_pairs([("__name__", "a"), ("i", i)]),
        samples: vec![Sample::new(NOW, 1.0)],
    };
    // Three new series against a limit of two: refused whole, nothing created...
    let e = db.append(&[s("1"), s("2"), s("3")]).unwrap_err();
    assert!(e
        .to_string()
        .contains("limits.max_active_series_per_tenant"));
    assert_eq!(db.stats().head.series, 0);
    // ...so two still fit.
    db.append(&[s("1"), s("2")]).unwrap();
    assert_eq!(all(&db).len(), 2);
}
