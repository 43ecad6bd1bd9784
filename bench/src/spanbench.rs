//! Span store load generator: realistic trace trees (several services, 5-50 spans a
//! trace, attributes with real cardinality) generated and appended through the store's
//! span contract a batch at a time (memory stays bounded at any span count: only a sample
//! of trace ids is kept for the lookups), then flushed; prints a markdown table of ingest
//! spans/s, bytes per span on disk beside the raw OTLP protobuf bytes per span of the same
//! batches, peak RSS, trace-by-id latency with and without a time range, a selective and a
//! broad scan, and searches with span predicates (the newest 20 matches, as `/api/search`
//! asks, and every match; with `--full-scan` also filtering every trace, the brute-force
//! baseline), with what the store read for each; then the same lookups after the store's
//! compaction has merged each partition's files.
//!
//! `cargo run --release -p lookout-bench --bin spanbench -- --spans 10000000`

use std::path::Path;
use std::time::Instant;

use clap::Parser;
use lookout_store::model::span::{
    AttrValue, ResourceSpans, Scope, ScopeSpans, Span, SpanKind, StatusCode, TraceId,
};
use lookout_store::{
    AppendSpans, AttrWhere, ReadSpans, ScanStats, SpanCond, SpanPredicate, Store, StoreOptions,
    StrMatch, TenantId, TraceSelect,
};

const HOUR_NS: i64 = 3_600_000_000_000;

#[derive(Parser)]
struct Args {
    /// Spans to generate.
    #[arg(long, default_value_t = 1_000_000)]
    spans: usize,
    /// Spans per append call (about).
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Trace ids kept (a uniform sample) for the trace-by-id probes.
    #[arg(long, default_value_t = 10_000)]
    sample: usize,
    /// Trace-by-id probes per measurement.
    #[arg(long, default_value_t = 200)]
    probes: usize,
    /// Also run each search as a filter over every trace the store holds (no pushdown),
    /// the brute-force baseline. It fetches every trace, so it takes minutes past 1M spans.
    #[arg(long)]
    full_scan: bool,
    /// Run only the first search this many times after the ingest (for profiling it).
    #[arg(long, default_value_t = 0)]
    profile_search: usize,
}

const SERVICES: [&str; 8] = [
    "frontend", "checkout", "cart", "payment", "shipping", "currency", "email", "ads",
];
const ROUTES: [&str; 12] = [
    "/",
    "/cart",
    "/checkout",
    "/product/{id}",
    "/api/pay",
    "/api/ship",
    "/api/quote",
    "/api/convert",
    "/api/ads",
    "/login",
    "/logout",
    "/search",
];

/// xorshift64*: deterministic and cheap.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn trace(rng: &mut Rng, start_ns: i64) -> (TraceId, Vec<ResourceSpans>, usize) {
    let mut tid = [0u8; 16];
    tid[..8].copy_from_slice(&rng.next().to_le_bytes());
    tid[8..].copy_from_slice(&rng.next().to_le_bytes());
    let n = 5 + rng.below(46) as usize;
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    let mut ids: Vec<[u8; 8]> = Vec::with_capacity(n);
    for i in 0..n {
        let sid = rng.next().to_le_bytes();
        let parent = (i > 0).then(|| ids[rng.below(i as u64) as usize]);
        ids.push(sid);
        let svc = if i == 0 { 0 } else { 1 + rng.below(7) as usize };
        let s = start_ns + i as i64 * 1_000_000 + rng.below(1_000_000) as i64;
        let dur = 100_000 + rng.below(200_000_000) as i64;
        let route = ROUTES[rng.below(ROUTES.len() as u64) as usize];
        let error = rng.below(50) == 0;
        by_service[svc].push(Span {
            trace_id: tid,
            span_id: sid,
            parent_span_id: parent,
            name: format!("{} {}", if i % 3 == 0 { "GET" } else { "POST" }, route),
            kind: if i == 0 {
                SpanKind::Server
            } else if i % 2 == 0 {
                SpanKind::Client
            } else {
                SpanKind::Internal
            },
            start_ns: s,
            end_ns: s + dur,
            status: if error {
                StatusCode::Error
            } else {
                StatusCode::Unset
            },
            status_message: if error {
                "upstream failed".into()
            } else {
                String::new()
            },
            attributes: vec![
                (
                    "http.request.method".into(),
                    AttrValue::Str(if i % 3 == 0 { "GET" } else { "POST" }.into()),
                ),
                ("http.route".into(), AttrValue::Str(route.into())),
                (
                    "http.response.status_code".into(),
                    AttrValue::Int(if error { 500 } else { 200 }),
                ),
                (
                    "user.id".into(),
                    AttrValue::Str(format!("u{}", rng.below(10_000))),
                ),
                (
                    "net.peer.port".into(),
                    AttrValue::Int(1024 + rng.below(60_000) as i64),
                ),
            ],
            ..Default::default()
        });
    }
    let batch = by_service
        .into_iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(i, spans)| ResourceSpans {
            resource: vec![
                ("service.name".into(), AttrValue::Str(SERVICES[i].into())),
                (
                    "host.name".into(),
                    AttrValue::Str(format!("{}-{}", SERVICES[i], i % 3)),
                ),
                (
                    "telemetry.sdk.language".into(),
                    AttrValue::Str("java".into()),
                ),
            ],
            scopes: vec![ScopeSpans {
                scope: Scope {
                    name: "io.opentelemetry.http".into(),
                    version: "1.30.0".into(),
                    attributes: vec![],
                },
                spans,
            }],
        })
        .collect();
    (tid, batch, n)
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_bytes(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn file_count(p: &Path) -> usize {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        file_count(&p)
                    } else {
                        usize::from(p.extension().is_some_and(|x| x == "parquet"))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The report: (measure, value) rows of a markdown table.
#[derive(Default)]
struct Table(Vec<(String, String)>);

impl Table {
    fn row(&mut self, measure: impl Into<String>, value: impl Into<String>) {
        let (m, v) = (measure.into(), value.into());
        eprintln!("{m}: {v}");
        self.0.push((m, v));
    }

    fn print(&self) {
        println!("| measure | value |\n|---|---|");
        for (m, v) in &self.0 {
            println!("| {m} | {v} |");
        }
    }
}

/// A uniform sample of at most `cap` items (reservoir sampling).
struct Reservoir<T> {
    cap: usize,
    seen: u64,
    items: Vec<T>,
}

impl<T> Reservoir<T> {
    fn push(&mut self, rng: &mut Rng, item: T) {
        self.seen += 1;
        if self.items.len() < self.cap {
            self.items.push(item);
        } else {
            let j = rng.below(self.seen) as usize;
            if j < self.cap {
                self.items[j] = item;
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreOptions::default())?;
    let t = TenantId::default_tenant();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Traces spread over the hour that ended 3 h ago, so every partition they land in is
    // past its head window and the compaction at the end merges it.
    let base: i64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as i64
        - 4 * HOUR_NS;
    let traces_est = (args.spans as i64 / 27).max(1);
    let mut ids = Reservoir {
        cap: args.sample.max(1),
        seen: 0,
        items: Vec::new(),
    };
    let (mut total, mut traces, mut otlp_bytes) = (0usize, 0u64, 0u64);
    let (mut batch, mut in_batch) = (Vec::new(), 0usize);
    let mut append_time = std::time::Duration::ZERO;
    let mut k = 0i64;
    let t0 = Instant::now();
    let mut send = |batch: &mut Vec<ResourceSpans>| -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // An OTLP ExportTraceServiceRequest of the batch is wire-identical to TracesData.
        otlp_bytes += lookout_query::http::tempo::otlp_proto::trace(batch).len() as u64;
        let ta = Instant::now();
        store.append_spans(&t, batch)?;
        append_time += ta.elapsed();
        batch.clear();
        Ok(())
    };
    while total < args.spans {
        let start = base + (k * HOUR_NS / traces_est).min(HOUR_NS);
        k += 1;
        let (tid, rs, n) = trace(&mut rng, start);
        ids.push(&mut rng, (tid, start));
        traces += 1;
        batch.extend(rs);
        in_batch += n;
        total += n;
        if in_batch >= args.batch {
            send(&mut batch)?;
            in_batch = 0;
        }
    }
    send(&mut batch)?;
    let ingest = t0.elapsed();
    let t1 = Instant::now();
    store.flush()?;
    let flush = t1.elapsed();
    let parts = dir
        .path()
        .join("tenants")
        .join(t.as_str())
        .join("traces")
        .join("parts");
    let disk = dir_bytes(&parts);
    let ids = ids.items;
    let mut table = Table::default();
    table.row("spans", format!("{total} in {traces} traces"));
    table.row(
        "ingest, append calls only (WAL + head)",
        format!(
            "{:.0} spans/s ({append_time:.2?})",
            total as f64 / append_time.as_secs_f64()
        ),
    );
    table.row(
        "ingest incl. generation, OTLP encoding and flush",
        format!(
            "{:.0} spans/s ({:.2?}, flush {flush:.2?})",
            total as f64 / (ingest + flush).as_secs_f64(),
            ingest + flush
        ),
    );
    table.row(
        "raw OTLP protobuf bytes/span",
        format!("{:.1}", otlp_bytes as f64 / total as f64),
    );
    table.row(
        "bytes/span on disk (span files, after cuts)",
        format!(
            "{:.1} ({disk} bytes in {} files)",
            disk as f64 / total as f64,
            file_count(&parts)
        ),
    );
    if args.profile_search > 0 {
        let sel = TraceSelect {
            start_ns: base,
            end_ns: base + HOUR_NS + HOUR_NS / 10,
            spans: searches()[0].1.clone(),
            ..Default::default()
        };
        let t1 = Instant::now();
        for _ in 0..args.profile_search {
            let mut n = 0;
            store.scan_traces(&t, &sel, &mut |_| {
                n += 1;
                n < 20
            })?;
        }
        println!(
            "first search, first 20: {:.1} ms a run",
            t1.elapsed().as_secs_f64() * 1000.0 / args.profile_search as f64
        );
        return Ok(());
    }
    measure(&store, &ids, base, &args, &mut rng, &mut table, "")?;
    let tc = Instant::now();
    store.maintain();
    let compact = tc.elapsed();
    let disk = dir_bytes(&parts);
    table.row(
        "compaction (one maintenance round)",
        format!("{compact:.2?}"),
    );
    table.row(
        "bytes/span on disk (span files, compacted)",
        format!(
            "{:.1} ({disk} bytes in {} files)",
            disk as f64 / total as f64,
            file_count(&parts)
        ),
    );
    measure(
        &store,
        &ids,
        base,
        &args,
        &mut rng,
        &mut table,
        ", compacted",
    )?;
    table.row("peak RSS", format!("{:.0} MB", peak_rss_mb()));
    table.print();
    Ok(())
}

/// Trace-by-id latency, scans and searches, as rows of `table` suffixed with `when`.
fn measure(
    store: &Store,
    ids: &[(TraceId, i64)],
    base: i64,
    args: &Args,
    rng: &mut Rng,
    table: &mut Table,
    when: &str,
) -> anyhow::Result<()> {
    let t = TenantId::default_tenant();
    for range in [false, true] {
        let t0 = Instant::now();
        for _ in 0..args.probes {
            let (id, s) = ids[rng.below(ids.len() as u64) as usize];
            let (lo, hi) = if range {
                (s - 60_000_000_000, s + 60_000_000_000)
            } else {
                (i64::MIN, i64::MAX)
            };
            let got = store.trace_by_id(&t, &id, lo, hi)?;
            anyhow::ensure!(!got.is_empty(), "trace not found");
        }
        table.row(
            format!(
                "trace by id, {}{when}",
                if range { "±1 min range" } else { "no range" }
            ),
            format!(
                "{:.2} ms",
                t0.elapsed().as_secs_f64() * 1000.0 / args.probes.max(1) as f64
            ),
        );
    }
    for (what, lo, hi) in [
        (
            "selective (1 s window)",
            base + HOUR_NS / 2,
            base + HOUR_NS / 2 + 1_000_000_000,
        ),
        (
            "broad (whole hour, first 20)",
            base,
            base + HOUR_NS + HOUR_NS / 10,
        ),
    ] {
        let sel = TraceSelect {
            start_ns: lo,
            end_ns: hi,
            cancel: None,
            ..Default::default()
        };
        let t1 = Instant::now();
        let mut n = 0;
        store.scan_traces(&t, &sel, &mut |_| {
            n += 1;
            n < 20
        })?;
        table.row(
            format!("scan {what}{when}"),
            format!("{:.1} ms ({n} traces)", t1.elapsed().as_secs_f64() * 1000.0),
        );
    }
    let searches = searches();
    // Each search as /api/search runs it (the newest 20 matching traces), then every
    // match, then (with --full-scan) every match by filtering all traces.
    for (what, preds) in searches {
        // Every match of the broad search is a third of all traces: fetching them all is
        // not what a search asks for, so it runs as /api/search does only.
        let broad = what.contains("kind = client");
        let modes: &[(&str, bool, usize)] = if broad {
            &[("first 20", true, 20)]
        } else if args.full_scan {
            &[
                ("first 20", true, 20),
                ("all", true, usize::MAX),
                ("all, full scan", false, usize::MAX),
            ]
        } else {
            &[("first 20", true, 20), ("all", true, usize::MAX)]
        };
        for &(mode, pushdown, limit) in modes {
            let stats = std::sync::Arc::new(ScanStats::default());
            let sel = TraceSelect {
                start_ns: base,
                end_ns: base + HOUR_NS + HOUR_NS / 10,
                spans: if pushdown { preds.clone() } else { Vec::new() },
                stats: Some(stats.clone()),
                ..Default::default()
            };
            let t1 = Instant::now();
            let (mut inspected, mut matched) = (0u64, 0u64);
            store.scan_traces(&t, &sel, &mut |tr| {
                inspected += 1;
                let hit = preds.iter().all(|p| {
                    tr.iter().any(|rs| {
                        rs.scopes
                            .iter()
                            .flat_map(|s| &s.spans)
                            .any(|s| p.matches(&rs.resource, s))
                    })
                });
                matched += hit as u64;
                (matched as usize) < limit
            })?;
            let (files, groups, rows, bytes) = stats.get();
            table.row(
                format!("search `{what}`, {mode}{when}"),
                format!(
                    "{:.1} ms ({matched} of {inspected} traces; read {files} files, {groups} row groups, {rows} rows, {bytes} bytes)",
                    t1.elapsed().as_secs_f64() * 1000.0
                ),
            );
        }
    }
    Ok(())
}

/// The searches measured: a selective one on dedicated columns, one on an attribute, a
/// broad one.
fn searches() -> Vec<(&'static str, Vec<SpanPredicate>)> {
    vec![
        (
            "{ status = error && name = \"POST /api/pay\" && duration > 190ms }",
            vec![SpanPredicate {
                all: vec![
                    SpanCond::Status(StatusCode::Error),
                    SpanCond::Name(StrMatch::Eq("POST /api/pay".into())),
                    SpanCond::MinDuration(190_000_001),
                ],
            }],
        ),
        (
            "{ span.user.id = \"u42\" }",
            vec![SpanPredicate {
                all: vec![SpanCond::Attr {
                    scope: AttrWhere::Span,
                    key: "user.id".into(),
                    value: StrMatch::Eq("u42".into()),
                }],
            }],
        ),
        (
            "{ resource.service.name = \"ads\" && kind = client }",
            vec![SpanPredicate {
                all: vec![SpanCond::service("ads"), SpanCond::Kind(SpanKind::Client)],
            }],
        ),
    ]
}
