//! Every on-disk format version Lookout writes must stay readable. `tests/fixtures/v1` is a
//! data directory written by format version 1 (WAL segments and a block); this test opens
//! it and checks every sample. Regenerate (only when adding a new version's fixture) with
//! `LOOKOUT_WRITE_FIXTURES=1 cargo test -p lookout-store --test format_fixtures`.

use std::path::{Path, PathBuf};

use lookout_store::metrics::{Tsdb, TsdbOptions};
use lookout_store::model::STALE_NAN_BITS;
use lookout_store::{Labels, MatchOp, Matcher, Sample, SelectHints, SeriesSamples};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

fn expected() -> Vec<(Labels, Vec<Sample>)> {
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
    let all = expected();
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
    let fixture = fixture_dir();
    if std::env::var_os("LOOKOUT_WRITE_FIXTURES").is_some() {
        write_fixture(&fixture);
    }
    // Open a copy: opening writes a new WAL segment, and the fixture must stay as committed.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture, tmp.path());
    let db = Tsdb::open(tmp.path(), opts()).unwrap();
    assert_eq!(db.stats().blocks.len(), 1, "the fixture holds one block");
    let m = [Matcher::new(MatchOp::Equal, "__name__", "fixture_metric").unwrap()];
    let got = db
        .select(&m, i64::MIN, i64::MAX, &SelectHints::default())
        .unwrap();
    let want = expected();
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
