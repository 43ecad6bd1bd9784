//! Parse throughput on a real node_exporter payload (`bench/data/node_exporter.txt`, taken
//! from Debian's prometheus-node-exporter 1.5.0): Lookout's parser (lines only; lines and
//! every series' labels, as on a first scrape; and a steady-state scrape through the
//! series cache, as on every later scrape) against the `prometheus-parse` crate.
//!
//! `cargo run --release -p lookout-bench --bin parsebench [-- FILE]`

use std::hint::black_box;
use std::time::{Duration, Instant};

use lookout_collector::scrape::cache::{SeriesCache, Settings};
use lookout_collector::scrape::parse::{parse_series, Entry, Format, Parser};
use lookout_collector::scrape::relabel::LabelMap;

/// Runs `f` (one pass over the payload) for at least `MIN` and returns passes per second.
fn rate(mut f: impl FnMut() -> usize) -> (f64, usize) {
    const MIN: Duration = Duration::from_secs(2);
    let mut samples = f(); // warm-up
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < MIN {
        samples = black_box(f());
        n += 1;
    }
    (n as f64 / start.elapsed().as_secs_f64(), samples)
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/node_exporter.txt").into());
    let body = std::fs::read(&path)?;
    let text = String::from_utf8(body.clone())?;
    let mb = body.len() as f64 / 1e6;

    let lines_only = || {
        let mut p = Parser::new(&body, Format::Text);
        let mut n = 0;
        while let Ok(Some(e)) = p.next() {
            if let Entry::Sample { value, .. } = e {
                black_box(value);
                n += 1;
            }
        }
        n
    };
    let with_labels = || {
        let mut p = Parser::new(&body, Format::Text);
        let mut n = 0;
        while let Ok(Some(e)) = p.next() {
            if let Entry::Sample { series, .. } = e {
                black_box(parse_series(series).ok());
                n += 1;
            }
        }
        n
    };
    let target: LabelMap = [("instance", "127.0.0.1:9100"), ("job", "node")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let settings = Settings {
        honor_timestamps: true,
        ..Default::default()
    };
    let mut cache = SeriesCache::new();
    let mut ts = 0;
    let mut cached = || {
        ts += 15_000;
        let o = cache.ingest(&body, Format::Text, &target, &settings, ts);
        black_box(cache.batch().len());
        cache.restore();
        o.map(|o| o.scraped as usize).unwrap_or(0)
    };
    let crate_parse = || {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        match prometheus_parse::Scrape::parse(lines) {
            Ok(s) => s.samples.len(),
            Err(_) => 0,
        }
    };

    println!(
        "payload: {path}: {} bytes, {} samples",
        body.len(),
        lines_only()
    );
    println!("| parser | MB/s | samples/s |\n|---|---:|---:|");
    let mut rows = Vec::new();
    for (name, r) in [
        ("lookout: lines and values", rate(lines_only)),
        (
            "lookout: lines, values and labels (first scrape)",
            rate(with_labels),
        ),
        (
            "lookout: steady-state scrape through the series cache",
            rate(&mut cached),
        ),
        (
            "prometheus-parse 0.2 (lines, values, labels)",
            rate(crate_parse),
        ),
    ] {
        let (per_s, samples) = r;
        println!(
            "| {name} | {:.0} | {:.0} |",
            per_s * mb,
            per_s * samples as f64
        );
        rows.push((name, per_s));
    }
    let ours = rows[1].1;
    let theirs = rows[3].1;
    println!(
        "\nlookout (with labels) / prometheus-parse: {:.1}x",
        ours / theirs
    );
    Ok(())
}
