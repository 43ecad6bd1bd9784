//! Log benchmark: Lookout's log store against ClickHouse and grep on the same lines, in one
//! run.
//!
//! 1. Generates `--mb` MiB of lines from the Loghub corpus (`gen.rs` says exactly what is
//!    re-drawn and how), spread evenly over the last 24 h, one stream per (system, level).
//!    Each batch is appended to a fresh Lookout store through `AppendLogs` (below HTTP), and
//!    the same lines are written to raw files (one per stream, the grep baseline) and to a
//!    TabSeparated file for ClickHouse.
//! 2. Lookout: ingest CPU seconds (the process's, minus the generator thread's own), peak RSS,
//!    bytes on disk (chunks vs index), and queries (a)-(c) through `ReadLogs` and the metric
//!    queries (d)-(g) through the LogQL engine (`LogqlEngine::metric`), `--runs` runs each.
//! 3. grep over the raw files: `grep -F` / `grep -E` for (a)-(c).
//! 4. ClickHouse (`clickhouse.rs`): insert, `OPTIMIZE TABLE ... FINAL`, CPU seconds from
//!    /proc, bytes of the table's directory, peak RSS, and (a)-(g) as SQL.
//! 5. A markdown table, printed and written to `--out`.
//!
//! The bench runs the server's allocator and purge policy (`src/allocator.rs`, included
//! below): under glibc malloc the same ingest took 20-30% less CPU than under the server's
//! mimalloc with immediate purge, so a glibc figure would flatter the server.
//!
//! `cargo build --release --locked -p lookout-bench --bin logbench && target/release/logbench --mb 256`

#[path = "../../src/allocator.rs"]
mod allocator;
#[path = "logbench/clickhouse.rs"]
mod clickhouse;
#[path = "logbench/gen.rs"]
mod gen;
#[path = "logbench/procfs.rs"]
mod procfs;
#[path = "logbench/serve.rs"]
mod serve;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lookout_query::budget::Budget;
use lookout_query::logql::ast::Expr;
use lookout_query::logql::engine::{Answer, LogqlEngine, LogqlOptions};
use lookout_query::promql::{RangeSeries, Value};
use lookout_store::{
    AppendLogs, Direction, Labels, LineFilter, LogRecord, LogSelect, LogStream, ReadLogs, Store,
    StoreOptions, TenantId,
};

use self::gen::{Corpus, Rng};

#[derive(Parser)]
struct Args {
    /// The corpus directory (Loghub 2k samples).
    #[arg(long, default_value = "../shared/logs")]
    corpus: PathBuf,
    /// Raw MiB of lines to generate and ingest.
    #[arg(long, default_value_t = 256)]
    mb: u64,
    /// Work directory for the Lookout store, raw files and ClickHouse (a fresh temporary one
    /// by default, removed at the end).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Lines per append call.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Timed runs per query and system (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Skip the ClickHouse baseline.
    #[arg(long)]
    no_clickhouse: bool,
    /// Skip the grep baseline.
    #[arg(long)]
    no_grep: bool,
    /// Also evaluate each metric query with the full read (every line through the
    /// pipeline) and fail unless its answer equals the size-only read's.
    #[arg(long)]
    check_full: bool,
    /// Where the markdown report goes.
    #[arg(long, default_value = "bench/out/logbench.md")]
    out: PathBuf,
    /// Each line's entry time is its in-line timestamp plus a delay drawn uniformly from 0
    /// to this many whole milliseconds, as when a shipper stamps lines on arrival; 0 (the
    /// default): the entry time is the in-line time, as when the shipper parses it.
    #[arg(long, default_value_t = 0)]
    arrival_ms: u64,
    /// Push the lines to this `lookout` binary's server over HTTP (Loki's snappy protobuf)
    /// instead of appending them in-process: ingest CPU and peak RSS are then the server's,
    /// protocol decoding included. The queries read its data directory afterwards.
    #[arg(long)]
    serve: Option<PathBuf>,
}

/// Where the generated batches go.
enum Sink<'a> {
    Store(&'a Store),
    Serve(serve::Served),
}

/// A term in exactly 3 lines, with a letter part (`needle`).
const RARE: &str = "needle7f3a9c";
/// A hex id in exactly 3 lines (`req=<id>`): no letter-only part to find it by.
const RARE_ID: &str = "c0ffee42d15ea5e7";
const FIVE_MIN_NS: i64 = 300_000_000_000;
const DAY_NS: i64 = 86_400_000_000_000;

/// One timed figure: first run and median, ms, and the rows it returned.
#[derive(Clone, Copy, Default)]
struct Timing {
    first: f64,
    median: f64,
    rows: usize,
}

fn time_runs(runs: usize, mut f: impl FnMut() -> anyhow::Result<usize>) -> anyhow::Result<Timing> {
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        rows = f()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let first = times[0];
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(Timing {
        first,
        median: times[times.len() / 2],
        rows,
    })
}

struct Query {
    key: &'static str,
    what: String,
    filter: Option<LineFilter>,
    /// `grep` arguments before the files, and whether its output goes through `tail -100`.
    grep: Option<(Vec<String>, bool)>,
    sql: String,
    /// A metric query: the LogQL and its step, evaluated over the 24 h.
    metric: Option<(&'static str, i64)>,
}

fn queries() -> Vec<Query> {
    let sel = |cond: &str| {
        format!("SELECT ts, job, level, line FROM logs WHERE {cond} ORDER BY ts DESC LIMIT 100")
    };
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        Query {
            key: "(a) rare term",
            what: format!("`|= \"{RARE}\"` (3 lines), limit 100 newest first"),
            filter: Some(LineFilter::Contains(RARE.into())),
            grep: Some((s(&["-F", "-h", "--", RARE]), false)),
            sql: sel(&format!("position(line, '{RARE}') > 0")),
            metric: None,
        },
        Query {
            key: "(a') rare hex id",
            what: format!("`|= \"{RARE_ID}\"` (3 lines), limit 100 newest first"),
            filter: Some(LineFilter::Contains(RARE_ID.into())),
            grep: Some((s(&["-F", "-h", "--", RARE_ID]), false)),
            sql: sel(&format!("position(line, '{RARE_ID}') > 0")),
            metric: None,
        },
        Query {
            key: "(b) substring",
            what: "`|= \"error\"` limit 100 newest first".into(),
            filter: Some(LineFilter::Contains("error".into())),
            grep: Some((s(&["-F", "-h", "--", "error"]), true)),
            sql: sel("position(line, 'error') > 0"),
            metric: None,
        },
        Query {
            key: "(c) regex",
            what: "`|~ \"[Cc]onnection (closed|reset)\"` limit 100 newest first".into(),
            filter: Some(LineFilter::Regex("[Cc]onnection (closed|reset)".into())),
            grep: Some((s(&["-E", "-h", "--", "[Cc]onnection (closed|reset)"]), true)),
            sql: sel("match(line, '[Cc]onnection (closed|reset)')"),
            metric: None,
        },
        Query {
            key: "(d) metric",
            what: "`sum by (level) (count_over_time({env=\"bench\"}[5m]))` over 24 h, step 5m"
                .into(),
            filter: None,
            grep: None,
            sql: "SELECT level, intDiv(ts, 300000000000) AS b, count() FROM logs GROUP BY level, b"
                .into(),
            metric: Some((
                r#"sum by (level) (count_over_time({env="bench"}[5m]))"#,
                FIVE_MIN_NS,
            )),
        },
        // Out of sample for the size-only read: other functions, ranges, steps, groupings.
        // ClickHouse's SQL buckets by the step (tumbling windows): the same lines read and
        // grouped, where LogQL's windows slide.
        Query {
            key: "(e) bytes",
            what: "`sum by (level) (bytes_over_time({env=\"bench\"}[5m]))` over 24 h, step 5m"
                .into(),
            filter: None,
            grep: None,
            sql: "SELECT level, intDiv(ts, 300000000000) AS b, sum(length(line)) FROM logs GROUP BY level, b"
                .into(),
            metric: Some((
                r#"sum by (level) (bytes_over_time({env="bench"}[5m]))"#,
                FIVE_MIN_NS,
            )),
        },
        Query {
            key: "(f) count 1h",
            what: "`sum by (job) (count_over_time({env=\"bench\"}[1h]))` over 24 h, step 10m"
                .into(),
            filter: None,
            grep: None,
            sql: "SELECT job, intDiv(ts, 600000000000) AS b, count() FROM logs GROUP BY job, b"
                .into(),
            metric: Some((
                r#"sum by (job) (count_over_time({env="bench"}[1h]))"#,
                2 * FIVE_MIN_NS,
            )),
        },
        Query {
            key: "(g) rate",
            what: "`sum(rate({env=\"bench\", level=\"error\"}[1m]))` over 24 h, step 1m".into(),
            filter: None,
            grep: None,
            sql: "SELECT intDiv(ts, 60000000000) AS b, count() / 60 FROM logs WHERE level = 'error' GROUP BY b"
                .into(),
            metric: Some((
                r#"sum(rate({env="bench", level="error"}[1m]))"#,
                FIVE_MIN_NS / 5,
            )),
        },
    ]
}

/// TabSeparated escaping of a field.
fn tsv_escape(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// What ingesting into Lookout measured.
struct Ingest {
    lines: u64,
    raw: u64,
    /// Bits of randomness the generator drew: the information any lossless store of the
    /// lines must keep (templates, times and labels aside).
    floor_bits: f64,
    start_ns: i64,
    end_ns: i64,
    wall_s: f64,
    cpu_s: f64,
    peak_rss: f64,
}

/// Generates the lines, appends them to `store`, and writes the raw files and the TSV file.
fn generate_and_ingest(
    args: &Args,
    corpus: &Corpus,
    sink: Sink,
    raw_dir: &Path,
    tsv: &Path,
) -> anyhow::Result<Ingest> {
    let tenant = TenantId::default_tenant();
    let target = args.mb << 20;
    let n_lines = (target as f64 / corpus.avg_line_bytes()) as u64;
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as i64;
    let step = (DAY_NS / n_lines.max(1) as i64).max(1);
    let start_ns = now_ns - DAY_NS;
    let mut ts = start_ns;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // One stream per (system, level).
    let mut streams: HashMap<(usize, usize), usize> = HashMap::new();
    let mut labels: Vec<Labels> = Vec::new();
    let mut files: Vec<std::io::BufWriter<std::fs::File>> = Vec::new();
    for (si, s) in corpus.systems.iter().enumerate() {
        for t in &s.lines {
            if let std::collections::hash_map::Entry::Vacant(e) = streams.entry((si, t.level)) {
                let level = &corpus.levels[t.level];
                e.insert(labels.len());
                labels.push(Labels::from_pairs([
                    ("env", "bench"),
                    ("job", s.name.as_str()),
                    ("level", level.as_str()),
                ]));
                let path = raw_dir.join(format!("{}-{level}.log", s.name));
                files.push(std::io::BufWriter::with_capacity(
                    64 << 10,
                    std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?,
                ));
            }
        }
    }
    let mut tsv_out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(tsv)?);
    let mut cursor = vec![0usize; corpus.systems.len()];
    let rare_every = n_lines / 3 + 1;
    // Each line's system is drawn uniformly; its template then follows a fixed cycle.
    let system_bits = (corpus.systems.len() as f64).log2();
    let mut floor_bits = 0.0f64;
    let (mut raw, mut lines) = (0u64, 0u64);
    let mut buf = String::new();
    let mut row = Vec::new();
    let cpu0 = procfs::self_cpu();
    let started = Instant::now();
    let mut gen_cpu = 0.0;
    let mut gen_wall = 0.0;
    while raw < target {
        let (g, gc) = (Instant::now(), procfs::thread_cpu());
        let mut batch: Vec<LogStream> = labels
            .iter()
            .map(|l| LogStream {
                labels: l.clone(),
                records: Vec::new(),
            })
            .collect();
        for _ in 0..args.batch {
            let si = (rng.next() % corpus.systems.len() as u64) as usize;
            let sys = &corpus.systems[si];
            let t = &sys.lines[cursor[si] % sys.lines.len()];
            cursor[si] += 1;
            ts += step;
            floor_bits += t.render(ts, &mut rng, &mut buf) + system_bits;
            let at = if args.arrival_ms == 0 {
                ts
            } else {
                floor_bits += ((args.arrival_ms + 1) as f64).log2();
                ts + (rng.next() % (args.arrival_ms + 1)) as i64 * 1_000_000
            };
            if lines % rare_every == rare_every / 2 {
                buf.push(' ');
                buf.push_str(RARE);
            }
            if lines % rare_every == rare_every / 3 {
                buf.push_str(" req=");
                buf.push_str(RARE_ID);
            }
            raw += buf.len() as u64 + 1;
            lines += 1;
            let st = streams[&(si, t.level)];
            files[st].write_all(buf.as_bytes())?;
            files[st].write_all(b"\n")?;
            row.clear();
            row.extend_from_slice(sys.name.as_bytes());
            row.push(b'\t');
            row.extend_from_slice(corpus.levels[t.level].as_bytes());
            row.push(b'\t');
            row.extend_from_slice(at.to_string().as_bytes());
            row.push(b'\t');
            tsv_escape(&buf, &mut row);
            row.push(b'\n');
            tsv_out.write_all(&row)?;
            batch[st].records.push(LogRecord {
                ts_ns: at,
                line: buf.clone(),
                metadata: vec![],
            });
        }
        gen_cpu += procfs::thread_cpu() - gc;
        gen_wall += g.elapsed().as_secs_f64();
        match &sink {
            Sink::Store(store) => store.append_logs(&tenant, batch)?,
            Sink::Serve(server) => server.push(&batch)?,
        }
    }
    let (g, gc) = (Instant::now(), procfs::thread_cpu());
    for f in &mut files {
        f.flush()?;
    }
    tsv_out.flush()?;
    gen_cpu += procfs::thread_cpu() - gc;
    gen_wall += g.elapsed().as_secs_f64();
    let (cpu_s, peak_rss, idle_s) = match sink {
        Sink::Store(store) => {
            store.flush()?;
            // Background index merges are ingest work too.
            procfs::settle(std::process::id(), 60.0);
            (
                procfs::self_cpu() - cpu0 - gen_cpu,
                procfs::status_mib(std::process::id(), "VmHWM").unwrap_or(0.0),
                0.0,
            )
        }
        // Its start-up is a few ms of CPU, counted in.
        Sink::Serve(server) => {
            let u = server.stop()?;
            (u.cpu_s, u.peak_rss_mib, u.idle_s)
        }
    };
    let wall_s = started.elapsed().as_secs_f64() - gen_wall - idle_s;
    Ok(Ingest {
        lines,
        raw,
        floor_bits,
        start_ns,
        end_ns: ts + args.arrival_ms as i64 * 1_000_000 + 1,
        wall_s,
        cpu_s,
        peak_rss,
    })
}

/// A metric query through the LogQL engine, as the HTTP API runs it (below HTTP): 24 h of
/// steps; with `size_reads` off, every line goes through the pipeline.
fn lookout_metric(
    store: &Store,
    logql: &str,
    step: i64,
    ing: &Ingest,
    size_reads: bool,
) -> anyhow::Result<Vec<RangeSeries>> {
    let _memory = lookout_store::memory::Hint::query();
    let engine = LogqlEngine::new(LogqlOptions {
        size_reads,
        ..Default::default()
    });
    let Expr::Metric(e) = engine.parse(logql)? else {
        anyhow::bail!("{logql} is not a metric query");
    };
    let budget = Budget::unlimited(std::time::Duration::from_secs(600));
    let (start, end) = (ing.end_ns - DAY_NS, ing.end_ns);
    let tenant = TenantId::default_tenant();
    let (a, _) = engine.metric(store, &tenant, &e, (start, end, step), false, &budget)?;
    let Answer::Metric(Value::Matrix(m)) = a else {
        anyhow::bail!("{logql}: not a matrix");
    };
    Ok(m)
}

/// Lookout's answer to a query: rows returned (lines, or series x steps for (d)).
fn lookout_query(store: &Store, q: &Query, ing: &Ingest) -> anyhow::Result<usize> {
    // The HTTP API holds this hint for every query (`query/src/http/task.rs`).
    let _memory = lookout_store::memory::Hint::query();
    let tenant = TenantId::default_tenant();
    if let Some((logql, step)) = q.metric {
        let m = lookout_metric(store, logql, step, ing, true)?;
        return Ok(m.iter().map(|s| s.points.len()).sum());
    }
    let Some(filter) = &q.filter else {
        anyhow::bail!("{}: neither a line filter nor a metric query", q.key);
    };
    let sel = LogSelect {
        start_ns: ing.start_ns,
        end_ns: ing.end_ns,
        filters: vec![filter.clone()],
        direction: Direction::Backward,
        limit: 100,
        ..Default::default()
    };
    let mut n = 0;
    store.select_logs(&tenant, &sel, &mut |_| {
        n += 1;
        true
    })?;
    Ok(n)
}

fn grep_query(raw_dir: &Path, args: &[String], tail: bool) -> anyhow::Result<usize> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(raw_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut grep = Command::new("grep")
        .args(args)
        .args(&files)
        .stdout(Stdio::piped())
        .spawn()
        .context("running grep")?;
    let out = grep.stdout.take().context("grep stdout")?;
    let rows = if tail {
        let o = Command::new("tail")
            .args(["-n", "100"])
            .stdin(out)
            .output()
            .context("running tail")?;
        o.stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    } else {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut std::io::BufReader::new(out), &mut s)?;
        s.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count()
    };
    grep.wait()?;
    Ok(rows)
}

/// Bytes of the Lookout store: (chunks.bin, index files, WAL).
fn lookout_bytes(data: &Path) -> (u64, u64, u64) {
    let logs = data.join("tenants").join("default").join("logs");
    let (mut chunks, mut index) = (0, 0);
    if let Ok(rd) = std::fs::read_dir(logs.join("partitions")) {
        for p in rd.flatten() {
            for f in std::fs::read_dir(p.path()).into_iter().flatten().flatten() {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                if f.file_name() == "chunks.bin" {
                    chunks += len;
                } else {
                    index += len;
                }
            }
        }
    }
    (chunks, index, procfs::dir_bytes(&logs.join("wal")))
}

/// One system's column of the table.
#[derive(Default)]
struct Column {
    ingest_per_core: Option<f64>,
    ingest_wall: Option<f64>,
    cpu_s: Option<f64>,
    bytes: Option<u64>,
    peak_rss: Option<f64>,
    timings: BTreeMap<&'static str, Timing>,
    notes: Vec<String>,
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() -> anyhow::Result<()> {
    allocator::without_huge_pages();
    allocator::set_purge_policy();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let corpus = Corpus::load(&args.corpus)?;
    let tmp = tempfile::tempdir()?;
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let (data, raw_dir, tsv) = (
        work.join("lookout"),
        work.join("raw"),
        work.join("clickhouse.tsv"),
    );
    std::fs::create_dir_all(&raw_dir)?;
    eprintln!(
        "logbench: {} corpus lines ({} with a timestamp rewritten), {} levels; generating {} MiB",
        corpus.total_lines,
        corpus.stamped_lines,
        corpus.levels.len(),
        args.mb
    );
    let (ing, store) = match &args.serve {
        Some(bin) => {
            let server = serve::Served::start(bin, &data)?;
            let ing = generate_and_ingest(&args, &corpus, Sink::Serve(server), &raw_dir, &tsv)?;
            (ing, Store::open(&data, StoreOptions::default())?)
        }
        None => {
            let store = Store::open(&data, StoreOptions::default())?;
            let ing = generate_and_ingest(&args, &corpus, Sink::Store(&store), &raw_dir, &tsv)?;
            (ing, store)
        }
    };
    let qs = queries();
    let mut report = String::new();
    let st = store.log_stats(&TenantId::default_tenant());
    let (chunks, index, wal) = lookout_bytes(&data);
    let mut lk = Column {
        ingest_per_core: Some(mb(ing.raw) / ing.cpu_s),
        ingest_wall: Some(mb(ing.raw) / ing.wall_s),
        cpu_s: Some(ing.cpu_s),
        bytes: Some(chunks + index + wal),
        peak_rss: Some(ing.peak_rss),
        ..Default::default()
    };
    let ss = store.log_storage_stats(&TenantId::default_tenant(), 0)?;
    lk.notes.push(format!(
        "chunks.bin {:.1} MB ({:.1} MB zstd chunk blobs of {:.1} MB encoded, {:.1} MB id filters and headers), \
         index {:.1} MB, WAL {:.1} MB; {} partitions, {} streams",
        mb(chunks),
        mb(ss.compressed_bytes),
        mb(ss.uncompressed_bytes),
        mb(chunks.saturating_sub(ss.compressed_bytes)),
        mb(index),
        mb(wal),
        st.partitions.len(),
        st.streams
    ));
    if args.serve.is_some() {
        lk.notes.push(
            "ingest through `lookout serve` over HTTP (Loki's snappy protobuf push, \
             2000-line batches): the server's CPU seconds and peak RSS, decoding included"
                .to_string(),
        );
    }
    eprintln!(
        "logbench: lookout ingested {} lines, {:.1} MB in {:.1} s wall, {:.1} CPU s; {}",
        ing.lines,
        mb(ing.raw),
        ing.wall_s,
        ing.cpu_s,
        lk.notes[0]
    );
    for q in &qs {
        let t = time_runs(args.runs, || lookout_query(&store, q, &ing))?;
        eprintln!(
            "logbench: lookout {}: {:.1} ms (first {:.1}), {} rows",
            q.key, t.median, t.first, t.rows
        );
        lk.timings.insert(q.key, t);
        if let (true, Some((logql, step))) = (args.check_full, q.metric) {
            let t = Instant::now();
            let full = lookout_metric(&store, logql, step, &ing, false)?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            anyhow::ensure!(
                full == lookout_metric(&store, logql, step, &ing, true)?,
                "{}: the size-only read and the full read differ",
                q.key
            );
            lk.notes.push(format!(
                "{}: same answer as the full read ({ms:.0} ms with every line through the pipeline)",
                q.key
            ));
            eprintln!(
                "logbench: lookout {}: full read {ms:.1} ms, same answer",
                q.key
            );
        }
    }
    drop(store);

    let mut gr = Column {
        bytes: Some(ing.raw),
        ..Default::default()
    };
    if !args.no_grep {
        for q in &qs {
            if let Some((a, tail)) = &q.grep {
                let t = time_runs(args.runs, || grep_query(&raw_dir, a, *tail))?;
                eprintln!(
                    "logbench: grep {}: {:.1} ms (first {:.1}), {} rows",
                    q.key, t.median, t.first, t.rows
                );
                gr.timings.insert(q.key, t);
            }
        }
    }

    let mut ch = Column::default();
    if !args.no_clickhouse {
        let bin = clickhouse::ensure_installed()?;
        let server = clickhouse::ClickHouse::start(&bin, &work.join("clickhouse"))?;
        server.query(
            "CREATE TABLE logs (job String, level String, ts UInt64, line String) \
             ENGINE = MergeTree ORDER BY (job, level, ts)",
        )?;
        let (c0, t0) = (server.cpu(), Instant::now());
        server.insert_tsv("logs", &tsv, 16 << 20)?;
        let (c1, t1) = (server.cpu(), t0.elapsed().as_secs_f64());
        server.query("OPTIMIZE TABLE logs FINAL")?;
        procfs::settle(server.pid(), 60.0);
        let (c2, t2) = (server.cpu(), t0.elapsed().as_secs_f64());
        let rows: u64 = server
            .query("SELECT count() FROM logs")?
            .trim()
            .parse()
            .unwrap_or(0);
        ch.ingest_per_core = Some(mb(ing.raw) / (c1 - c0));
        ch.ingest_wall = Some(mb(ing.raw) / t1);
        ch.cpu_s = Some(c1 - c0);
        ch.bytes = Some(server.table_bytes("logs"));
        ch.peak_rss = procfs::status_mib(server.pid(), "VmHWM");
        ch.notes.push(format!(
            "{rows} rows; insert {t1:.1} s wall, {:.1} CPU s; OPTIMIZE FINAL {:.1} s wall, {:.1} CPU s more",
            c1 - c0,
            t2 - t1,
            c2 - c1
        ));
        eprintln!("logbench: clickhouse {}", ch.notes[0]);
        for q in &qs {
            let t = time_runs(args.runs, || {
                Ok(server
                    .query(&q.sql)?
                    .lines()
                    .filter(|l| !l.is_empty())
                    .count())
            })?;
            eprintln!(
                "logbench: clickhouse {}: {:.1} ms (first {:.1}), {} rows",
                q.key, t.median, t.first, t.rows
            );
            ch.timings.insert(q.key, t);
        }
    }

    // The report.
    let na = "—".to_string();
    let cols = [("Lookout", &lk), ("ClickHouse 18.16", &ch), ("grep", &gr)];
    let _ = writeln!(
        report,
        "{} lines, {:.1} MB raw ({} MiB asked), over 24 h, {} streams (system x level); \
         entry times {}.\n",
        ing.lines,
        mb(ing.raw),
        args.mb,
        st.streams,
        match args.arrival_ms {
            0 => "equal to the in-line timestamps".to_string(),
            n => format!("0-{n} ms after the in-line timestamps (--arrival-ms)"),
        }
    );
    let _ = writeln!(
        report,
        "| figure | Lookout | ClickHouse 18.16 | grep -F / -E |"
    );
    let _ = writeln!(report, "|---|---|---|---|");
    let row = |name: &str, f: &dyn Fn(&Column) -> Option<String>| {
        let cells: Vec<String> = cols
            .iter()
            .map(|(_, c)| f(c).unwrap_or_else(|| na.clone()))
            .collect();
        format!("| {name} | {} |\n", cells.join(" | "))
    };
    report += &row("ingest MB/s per core (raw MB / CPU s)", &|c: &Column| {
        Some(format!("{:.1} ({:.1} CPU s)", c.ingest_per_core?, c.cpu_s?))
    });
    report += &row("ingest MB/s wall", &|c: &Column| {
        Some(format!("{:.1}", c.ingest_wall?))
    });
    report += &row("bytes on disk per raw byte", &|c: &Column| {
        let b = c.bytes?;
        Some(format!(
            "{:.3} ({:.1}x, {:.1} MB)",
            b as f64 / ing.raw as f64,
            ing.raw as f64 / b as f64,
            mb(b)
        ))
    });
    report += &row("peak RSS MiB (ingest)", &|c: &Column| {
        Some(format!("{:.0}", c.peak_rss?))
    });
    for q in &qs {
        report += &row(
            &format!("{} {}: median ms (first; rows)", q.key, q.what),
            &|c: &Column| {
                let t = c.timings.get(q.key)?;
                Some(format!("{:.1} ({:.1}; {})", t.median, t.first, t.rows))
            },
        );
    }
    let _ = writeln!(report);
    let floor = ing.floor_bits / 8.0;
    let _ = writeln!(
        report,
        "- information floor: the generator drew {:.1} MB of randomness (re-drawn digits and \
         hex digits, each line's system and arrival delay), {:.3} per raw byte: no lossless \
         store of these lines can be smaller, so no compression beyond {:.1}x is possible \
         on this data",
        mb(floor as u64),
        floor / ing.raw as f64,
        ing.raw as f64 / floor
    );
    for (name, c) in cols {
        for n in &c.notes {
            let _ = writeln!(report, "- {name}: {n}");
        }
    }
    println!("{report}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &report)
        .with_context(|| format!("writing {}", args.out.display()))?;
    Ok(())
}
