//! Every on-disk format version Lookout writes must stay readable. `tests/fixtures/vN` is a
//! data directory written by block format version N (WAL segments and a block); these tests
//! open each and check every sample. Version 2 (zig-zagged mantissa differences) adds series
//! whose scaled values fall, so negative differences are covered. Write the current
//! version's fixture (only when adding a new version) with
//! `LOOKOUT_WRITE_FIXTURES=1 cargo test -p lookout-store --test format_fixtures`.

use std::path::{Path, PathBuf};

use lookout_store::metrics::{Tsdb, TsdbOptions};
use lookout_store::model::STALE_NAN_BITS;
use lookout_store::{Labels, MatchOp, Matcher, Sample, SelectHints, SeriesSamples};

const CURRENT: u32 = 2;

fn fixture_dir(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{version}"))
}

fn expected(version: u32) -> Vec<(Labels, Vec<Sample>)> {
    let mut all = mixed();
    if version >= 2 {
        for i in 4..6 {
            let labels =
                Labels::from_pairs([("__name__", "fixture_metric"), ("series", &*i.to_string())]);
            // Scaled values (scale 2) that fall and rise: negative mantissa differences.
            let samples = (0..30)
                .map(|k| Sample::new(k * 15_000, 100.0 - (k % 7) as f64 * 0.25 * i as f64))
                .collect();
            all.push((labels, samples));
        }
    }
    all
}

/// Series that mix floats, staleness markers and -0.0: every value lands in `vf`.
fn mixed() -> Vec<(Labels, Vec<Sample>)> {
    (0..4)
        .map(|i| {
            let labels =
                Labels::from_pairs([("__name__", "fixture_metric"), ("series", &*i.to_string())]);
            let samples = (0..30)
                .map(|k| {
                    let v = match k % 5 {
                        0 => f64::from_bits(STALE_NAN_BITS),
                        1 => k as f64 * 0.25,
                        2 => 1.0 / 3.0 + i as f64,
                        3 => -0.0,
                        _ => (k * 1000 + i) as f64,
                    };
                    Sample::new(k * 15_000, v)
                })
                .collect();
            (labels, samples)
        })
        .collect()
}

fn opts() -> TsdbOptions {
    TsdbOptions {
        block_duration: 3_600_000,
        retention_time: 0,
        ..Default::default()
    }
}

fn write_fixture(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let db = Tsdb::open(dir, opts()).unwrap();
    let all = expected(CURRENT);
    // The first half goes into a block, the second half stays in the WAL.
    let first: Vec<SeriesSamples> = all
        .iter()
        .map(|(l, s)| SeriesSamples {
            labels: l.clone(),
            samples: s[..15].to_vec(),
        })
        .collect();
    db.append(&first).unwrap();
    db.flush().unwrap();
    let second: Vec<SeriesSamples> = all
        .iter()
        .map(|(l, s)| SeriesSamples {
            labels: l.clone(),
            samples: s[15..].to_vec(),
        })
        .collect();
    db.append(&second).unwrap();
    db.sync().unwrap();
}

#[test]
fn version_1_data_directory_reads_back_exactly() {
    reads_back_exactly(1);
}

#[test]
fn version_2_data_directory_reads_back_exactly() {
    if std::env::var_os("LOOKOUT_WRITE_FIXTURES").is_some() {
        write_fixture(&fixture_dir(CURRENT));
    }
    reads_back_exactly(2);
}

fn reads_back_exactly(version: u32) {
    let fixture = fixture_dir(version);
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture.join("blocks/000000000001/meta.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        meta["version"], version,
        "the fixture's block format version"
    );
    // Open a copy: opening writes a new WAL segment, and the fixture must stay as committed.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture, tmp.path());
    let db = Tsdb::open(tmp.path(), opts()).unwrap();
    assert_eq!(db.stats().blocks.len(), 1, "the fixture holds one block");
    let m = [Matcher::new(MatchOp::Equal, "__name__", "fixture_metric").unwrap()];
    let got = db
        .select(&m, i64::MIN, i64::MAX, &SelectHints::default())
        .unwrap();
    let want = expected(version);
    assert_eq!(got.len(), want.len());
    for (g, (l, s)) in got.iter().zip(&want) {
        assert_eq!(&g.labels, l);
        assert_eq!(&g.samples, s, "samples of {l}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("fixture {} missing: {e}", from.display()))
        .flatten()
    {
        let p = e.path();
        let dst = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, &dst).unwrap();
        }
    }
}
