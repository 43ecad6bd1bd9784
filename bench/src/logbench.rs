//! Store-level log benchmark: generates realistic lines from the Loghub corpus
//! (`../shared/logs/`, one stream per system) with their variable parts re-drawn (every
//! digit, every hex id), so repetition does not flatter compression; ingests them through
//! the store's `AppendLogs` over a 24 h span; and times searches through `ReadLogs`.
//!
//! `cargo run -p lookout-bench --bin logbench -- --mb 256 --corpus ../shared/logs`
//! (see bench/README.md for the build profile the published figures used).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lookout_store::{
    AppendLogs, Direction, Labels, LineFilter, LogRecord, LogSelect, LogStream, ReadLogs, Store,
    StoreOptions, TenantId,
};

#[derive(Parser)]
struct Args {
    /// The corpus directory (Loghub 2k samples).
    #[arg(long, default_value = "../shared/logs")]
    corpus: PathBuf,
    /// Raw megabytes of lines to generate and ingest.
    #[arg(long, default_value_t = 256)]
    mb: u64,
    /// Data directory (a fresh temporary one by default).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Lines per append call.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `line` with every digit re-drawn, and every hex letter inside a token that holds digits
/// and is at least 8 chars long (ids, hashes, addresses) re-drawn too.
fn redraw(line: &str, rng: &mut Rng, out: &mut String) {
    out.clear();
    for tok in line.split_inclusive(|c: char| !c.is_ascii_alphanumeric()) {
        let hexy = tok.len() >= 8
            && tok.bytes().any(|b| b.is_ascii_digit())
            && tok
                .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'x');
        for c in tok.chars() {
            let r = rng.next();
            if c.is_ascii_digit() {
                out.push((b'0' + (r % 10) as u8) as char);
            } else if hexy && c.is_ascii_hexdigit() {
                out.push(b"0123456789abcdef"[(r % 16) as usize] as char);
            } else {
                out.push(c);
            }
        }
    }
}

fn load_corpus(dir: &Path) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(system) = name.strip_suffix("_2k.log") else {
            continue;
        };
        let text = String::from_utf8_lossy(&std::fs::read(&p)?).to_string();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        out.push((system.to_lowercase(), lines));
    }
    out.sort();
    anyhow::ensure!(!out.is_empty(), "no *_2k.log files in {}", dir.display());
    Ok(out)
}

fn dir_bytes(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            match e.metadata() {
                Ok(m) if m.is_dir() => n += dir_bytes(&path),
                Ok(m) => n += m.len(),
                Err(_) => {}
            }
        }
    }
    n
}

const RARE: &str = "needle7f3a9c";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let corpus = load_corpus(&args.corpus)?;
    let tmp = tempfile::tempdir()?;
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let store = Store::open(&data, StoreOptions::default())?;
    let tenant = TenantId::default_tenant();
    let target = args.mb << 20;
    // Average line length, to spread the lines evenly over 24 h ending now.
    let avg: f64 = corpus
        .iter()
        .flat_map(|(_, l)| l.iter().map(|l| l.len() as f64 + 1.0))
        .sum::<f64>()
        / corpus.iter().map(|(_, l)| l.len()).sum::<usize>() as f64;
    let n_lines = (target as f64 / avg) as u64;
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as i64;
    let span = 86_400_000_000_000i64;
    let step = (span / n_lines.max(1) as i64).max(1);
    let mut ts = now_ns - span;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut raw = 0u64;
    let mut lines = 0u64;
    let mut buf = String::new();
    let labels: Vec<Labels> = corpus
        .iter()
        .map(|(s, _)| Labels::from_pairs([("job", s.as_str()), ("env", "bench")]))
        .collect();
    let mut cursor = vec![0usize; corpus.len()];
    let rare_every = n_lines / 3 + 1;
    let started = Instant::now();
    let mut gen_time = std::time::Duration::ZERO;
    while raw < target {
        let g = Instant::now();
        let mut batch: Vec<LogStream> = labels
            .iter()
            .map(|l| LogStream {
                labels: l.clone(),
                records: Vec::new(),
            })
            .collect();
        for _ in 0..args.batch {
            let s = (rng.next() % corpus.len() as u64) as usize;
            let src = &corpus[s].1;
            let line = &src[cursor[s] % src.len()];
            cursor[s] += 1;
            redraw(line, &mut rng, &mut buf);
            if lines % rare_every == rare_every / 2 {
                buf.push(' ');
                buf.push_str(RARE);
            }
            raw += buf.len() as u64 + 1;
            lines += 1;
            ts += step;
            batch[s].records.push(LogRecord {
                ts_ns: ts,
                line: buf.clone(),
                metadata: vec![],
            });
        }
        gen_time += g.elapsed();
        store.append_logs(&tenant, &batch)?;
    }
    store.flush()?;
    let ingest = started.elapsed() - gen_time;
    let disk = dir_bytes(&data.join("tenants").join("default").join("logs"));
    let mb = raw as f64 / (1u64 << 20) as f64;
    println!("lines            {lines}");
    println!("raw              {mb:.1} MiB");
    println!(
        "ingest           {:.1} MiB/s ({:.2} s, generation excluded)",
        mb / ingest.as_secs_f64(),
        ingest.as_secs_f64()
    );
    println!(
        "on disk          {:.1} MiB, {:.3} bytes per raw byte ({:.1}x)",
        disk as f64 / (1u64 << 20) as f64,
        disk as f64 / raw as f64,
        raw as f64 / disk as f64
    );
    let st = store.log_stats(&tenant);
    println!(
        "partitions       {}, streams {}",
        st.partitions.len(),
        st.streams
    );
    let queries: [(&str, LineFilter, usize); 4] = [
        ("rare term", LineFilter::Contains(RARE.into()), 100),
        (
            "|= \"error\" limit 100 backward",
            LineFilter::Contains("error".into()),
            100,
        ),
        (
            "|= \"Failed password\" limit 100",
            LineFilter::Contains("Failed password".into()),
            100,
        ),
        (
            "|~ \"(?i)connection (closed|reset)\" limit 100",
            LineFilter::Regex("(?i)connection (closed|reset)".into()),
            100,
        ),
    ];
    for (name, filter, limit) in queries {
        let sel = LogSelect {
            start_ns: now_ns - span - 1,
            end_ns: now_ns + 1,
            filters: vec![filter],
            label_eq: Vec::new(),
            direction: Direction::Backward,
            limit,
            ..Default::default()
        };
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..5 {
            let t = Instant::now();
            n = 0;
            store.select_logs(&tenant, &sel, &mut |_| {
                n += 1;
                true
            })?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let first = times[0];
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name:<48} {n:>4} hits  first {first:>8.1} ms  median {:>8.1} ms",
            times[2]
        );
    }
    Ok(())
}
