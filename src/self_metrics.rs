//! Lookout's own `/metrics` in the Prometheus text format: the collector's ingest and
//! scrape counters, scrape target health, each tenant's head, WAL and blocks, the log and
//! span stores, spans received (counted by [`CountingSpans`]), and HTTP request latency by
//! API handler, measured by a middleware here. Where Prometheus, Loki or Tempo have a name
//! for the same thing (`prometheus_tsdb_head_series`, `loki_distributor_lines_received_total`,
//! `tempo_distributor_spans_received_total`, ...), it is exposed under that name too, so
//! their dashboards work.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lookout_collector::scrape::Manager;
use lookout_store::model::span::ResourceSpans;
use lookout_store::{AppendSpans, LogStats, Store, TenantId, TenantStats, TsdbStats};
use parking_lot::Mutex;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Handlers whose latency is recorded; anything else counts as `other`.
const HANDLERS: [&str; 30] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/query_exemplars",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/export",
    "/api/v1/write",
    "/api/v1/metadata",
    "/api/v1/targets",
    "/api/v1/rules",
    "/api/v1/alerts",
    "/api/v1/status/buildinfo",
    "/metrics",
    "/loki/api/v1/push",
    "/loki/api/v1/query",
    "/loki/api/v1/query_range",
    "/loki/api/v1/labels",
    "/loki/api/v1/series",
    "/loki/api/v1/index/stats",
    "/loki/api/v1/index/volume",
    "/loki/api/v1/index/volume_range",
    "/loki/api/v1/detected_fields",
    "/loki/api/v1/tail",
    "/api/search",
    "/api/search/tags",
    "/api/v2/search/tags",
    "/api/echo",
    "/v1/traces",
    "/v1/logs",
    "/api/v2/spans",
];

/// Spans stored since start (every ingest path), read by `/metrics`.
static SPANS_RECEIVED: AtomicU64 = AtomicU64::new(0);

/// The span sink every ingest path writes through, wrapped once around the final sink so
/// each stored span is counted once (`lookout_spans_received_total`).
pub struct CountingSpans {
    pub inner: Arc<dyn AppendSpans>,
}

impl AppendSpans for CountingSpans {
    fn append_spans(
        &self,
        tenant: &TenantId,
        batch: &[ResourceSpans],
    ) -> lookout_store::Result<()> {
        self.inner.append_spans(tenant, batch)?;
        let n: usize = batch
            .iter()
            .flat_map(|r| &r.scopes)
            .map(|s| s.spans.len())
            .sum();
        SPANS_RECEIVED.fetch_add(n as u64, Relaxed);
        Ok(())
    }
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A gauge family: name, help, and its value from a tenant's stats.
type Gauge<S> = (&'static str, &'static str, fn(&S) -> u64);

#[derive(Clone)]
pub struct SelfMetrics {
    store: Arc<Store>,
    scrape: Manager,
    http: Arc<Mutex<BTreeMap<(&'static str, u16), Histogram>>>,
    rules: Option<(
        lookout_query::rules::Manager,
        lookout_query::rules::notify::Notifier,
    )>,
}

impl SelfMetrics {
    pub fn new(store: Arc<Store>, scrape: Manager) -> SelfMetrics {
        SelfMetrics {
            store,
            scrape,
            http: Arc::default(),
            rules: None,
        }
    }

    /// Adds the rule groups' and notifier's metrics (Prometheus' names).
    pub fn with_rules(
        mut self,
        rules: lookout_query::rules::Manager,
        notifier: lookout_query::rules::notify::Notifier,
    ) -> SelfMetrics {
        self.rules = Some((rules, notifier));
        self
    }

    pub fn routes(&self) -> Router {
        Router::new()
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }

    fn render(&self) -> String {
        let mut out = String::with_capacity(8 << 10);
        lookout_collector::metrics::render(&mut out);
        lookout_query::metrics::render(&mut out);
        if let Some((rules, notifier)) = &self.rules {
            rules.render_metrics(&mut out);
            notifier.render_metrics(&mut out);
        }
        let mut health: BTreeMap<(String, &str), u64> = BTreeMap::new();
        for (pool, view) in self.scrape.pools() {
            for t in &view.active {
                *health
                    .entry((pool.clone(), t.status().health.as_str()))
                    .or_default() += 1;
            }
        }
        out.push_str("# HELP lookout_scrape_targets Active scrape targets by job and health.\n# TYPE lookout_scrape_targets gauge\n");
        for ((pool, h), n) in health {
            let _ = writeln!(
                out,
                "lookout_scrape_targets{{scrape_job=\"{}\",health=\"{h}\"}} {n}",
                escape(&pool)
            );
        }
        let gauges: [(&str, &str); 6] = [
            ("lookout_tsdb_head_series", "Series in the head."),
            ("lookout_tsdb_head_samples", "Samples in the head."),
            (
                "lookout_tsdb_wal_bytes",
                "Bytes of write-ahead log on disk.",
            ),
            (
                "lookout_tsdb_wal_segments",
                "Write-ahead log segments on disk.",
            ),
            ("lookout_tsdb_blocks", "Persisted blocks."),
            ("lookout_tsdb_block_bytes", "Bytes of persisted blocks."),
        ];
        // Open tenants only: reading a closed one's stats would open it and keep idle
        // tenants from ever closing.
        let all: Vec<_> = self
            .store
            .open_tenant_stats()
            .into_iter()
            .map(|(t, s)| (t.to_string(), s))
            .collect();
        let stats: Vec<_> = all.iter().map(|(t, s)| (t.clone(), &s.metrics)).collect();
        let _ = writeln!(
            out,
            "# HELP lookout_tenants Tenants with data, and how many are open.\n# TYPE lookout_tenants gauge\nlookout_tenants{{state=\"known\"}} {}\nlookout_tenants{{state=\"open\"}} {}",
            self.store.tenants().len(),
            stats.len()
        );
        for (name, help) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (t, s) in &stats {
                let v = match name {
                    "lookout_tsdb_head_series" => s.head.series,
                    "lookout_tsdb_head_samples" => s.head.samples,
                    "lookout_tsdb_wal_bytes" => s.wal_bytes,
                    "lookout_tsdb_wal_segments" => s.wal_segments,
                    "lookout_tsdb_blocks" => s.blocks.len() as u64,
                    _ => s.block_bytes,
                };
                let _ = writeln!(out, "{name}{{tenant=\"{}\"}} {v}", escape(t));
            }
        }
        self.render_prometheus_tsdb(&mut out, &stats);
        render_log_store(&mut out, &all);
        self.render_spans(&mut out, &all);
        render_loki_distributor(&mut out);
        let name = "lookout_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP request latency by handler and status code.\n# TYPE {name} histogram"
        );
        for ((handler, code), h) in self.http.lock().iter() {
            let l = format!("handler=\"{handler}\",code=\"{code}\"");
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(out, "{name}_bucket{{{l},le=\"{b}\"}} {c}");
            }
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{{l}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{l}}} {}", h.count);
        }
        self.render_prometheus_http(&mut out);
        out
    }

    /// Prometheus' own TSDB names for what Lookout's TSDB holds, per tenant.
    fn render_prometheus_tsdb(&self, out: &mut String, stats: &[(String, &TsdbStats)]) {
        let gauges: [Gauge<TsdbStats>; 4] = [
            ("prometheus_tsdb_head_series", "Series in the head.", |s| {
                s.head.series
            }),
            (
                "prometheus_tsdb_blocks_loaded",
                "Persisted blocks loaded.",
                |s| s.blocks.len() as u64,
            ),
            (
                "prometheus_tsdb_wal_storage_size_bytes",
                "Bytes of write-ahead log on disk.",
                |s| s.wal_bytes,
            ),
            (
                "prometheus_tsdb_storage_blocks_bytes",
                "Bytes of persisted blocks.",
                |s| s.block_bytes,
            ),
        ];
        for (name, help, f) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (t, s) in stats {
                let _ = writeln!(out, "{name}{{tenant=\"{}\"}} {}", escape(t), f(s));
            }
        }
        let c = lookout_store::metrics::activity::compactions();
        for (name, help, v) in [
            (
                "prometheus_tsdb_compactions_total",
                "Compactions of metrics blocks done since start.",
                c.done as f64,
            ),
            (
                "prometheus_tsdb_compactions_failed_total",
                "Compactions of metrics blocks that failed since start.",
                c.failed as f64,
            ),
            (
                "lookout_tsdb_compaction_seconds_total",
                "Seconds spent compacting metrics blocks since start.",
                c.seconds,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
    }

    /// Spans received (Lookout's and Tempo's names), the span store's bytes on disk and
    /// the spans it holds.
    fn render_spans(&self, out: &mut String, all: &[(String, TenantStats)]) {
        let n = SPANS_RECEIVED.load(Relaxed);
        for (name, help) in [
            (
                "lookout_spans_received_total",
                "Spans stored (OTLP and Zipkin).",
            ),
            (
                "tempo_distributor_spans_received_total",
                "Spans stored (OTLP and Zipkin).",
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}"
            );
        }
        let name = "lookout_traces_disk_bytes";
        let _ = writeln!(
            out,
            "# HELP {name} Bytes of the span store (WAL and Parquet files) on disk.\n# TYPE {name} gauge"
        );
        let root = self.store.dir().join("tenants");
        for (t, _) in all {
            let bytes = dir_bytes(&root.join(t).join("traces"));
            let _ = writeln!(out, "{name}{{tenant=\"{}\"}} {bytes}", escape(t));
        }
        let name = "lookout_spans_stored";
        let _ = writeln!(
            out,
            "# HELP {name} Spans in the span store (files and head).\n# TYPE {name} gauge"
        );
        for (t, s) in all {
            let _ = writeln!(out, "{name}{{tenant=\"{}\"}} {}", escape(t), s.traces.spans);
        }
    }

    /// Prometheus' request metrics: latency by handler, requests by handler and code.
    fn render_prometheus_http(&self, out: &mut String) {
        let mut by_handler: BTreeMap<&str, Histogram> = BTreeMap::new();
        let name = "prometheus_http_requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP requests by handler and status code.\n# TYPE {name} counter"
        );
        for ((handler, code), h) in self.http.lock().iter() {
            let _ = writeln!(
                out,
                "{name}{{handler=\"{handler}\",code=\"{code}\"}} {}",
                h.count
            );
            let a = by_handler.entry(handler).or_default();
            for (i, c) in h.counts.iter().enumerate() {
                a.counts[i] += c;
            }
            a.count += h.count;
            a.sum += h.sum;
        }
        let name = "prometheus_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP request latency by handler.\n# TYPE {name} histogram"
        );
        for (handler, h) in by_handler {
            let l = format!("handler=\"{handler}\"");
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(out, "{name}_bucket{{{l},le=\"{b}\"}} {c}");
            }
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{{l}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{l}}} {}", h.count);
        }
    }

    fn observe(&self, handler: &'static str, code: u16, secs: f64) {
        let mut m = self.http.lock();
        let h = m.entry((handler, code)).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }
}

/// The log store of each open tenant: streams, lines (in the head and in all), WAL and
/// partition bytes.
fn render_log_store(out: &mut String, all: &[(String, TenantStats)]) {
    let gauges: [Gauge<LogStats>; 6] = [
        ("lookout_logs_streams", "Distinct log streams.", |s| {
            s.streams
        }),
        (
            "lookout_logs_lines",
            "Log lines stored (head and partitions).",
            |s| s.lines,
        ),
        (
            "lookout_logs_head_lines",
            "Log lines not yet committed to a partition.",
            |s| s.head_lines,
        ),
        (
            "lookout_logs_wal_bytes",
            "Bytes of the log write-ahead log on disk.",
            |s| s.wal_bytes,
        ),
        (
            "lookout_logs_partition_bytes",
            "Bytes of log partition files.",
            |s| s.partition_bytes,
        ),
        ("lookout_logs_partitions", "Log partitions.", |s| {
            s.partitions.len() as u64
        }),
    ];
    for (name, help, f) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (t, s) in all {
            let _ = writeln!(out, "{name}{{tenant=\"{}\"}} {}", escape(t), f(&s.logs));
        }
    }
}

/// Loki's distributor counters, summed over the protocols of Lookout's own (rendered just
/// before into `out`).
fn render_loki_distributor(out: &mut String) {
    use lookout_collector::metrics::{LOG_BYTES_TOTAL, LOG_LINES_TOTAL};
    for (name, from, help) in [
        (
            "loki_distributor_lines_received_total",
            LOG_LINES_TOTAL,
            "Log lines received (Loki push, OTLP, syslog).",
        ),
        (
            "loki_distributor_bytes_received_total",
            LOG_BYTES_TOTAL,
            "Bytes of log lines received (Loki push, OTLP, syslog).",
        ),
    ] {
        let v = sum_samples(out, from);
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
}

/// The sum of every sample of metric `name` in a text exposition.
fn sum_samples(text: &str, name: &str) -> u64 {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            (rest.starts_with('{') || rest.starts_with(' ')).then_some(())?;
            l.rsplit(' ').next()?.parse::<u64>().ok()
        })
        .sum()
}

/// Bytes of the files under `dir` (0 when it does not exist).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn metrics(State(m): State<SelfMetrics>) -> Response {
    let text = tokio::task::spawn_blocking(move || m.render())
        .await
        .unwrap_or_default();
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The handler label of a request path: a known route, a route with a path parameter
/// written as `:name`/`:id`, or `other`.
fn handler_of(path: &str) -> &'static str {
    const WITH_PARAM: [(&str, &str, &str); 5] = [
        ("/api/v1/label/", "/values", "/api/v1/label/:name/values"),
        (
            "/loki/api/v1/label/",
            "/values",
            "/loki/api/v1/label/:name/values",
        ),
        (
            "/api/v2/search/tag/",
            "/values",
            "/api/v2/search/tag/:name/values",
        ),
        ("/api/v2/traces/", "", "/api/v2/traces/:id"),
        ("/api/traces/", "", "/api/traces/:id"),
    ];
    if let Some(h) = HANDLERS.iter().find(|h| **h == path) {
        return h;
    }
    WITH_PARAM
        .iter()
        .find(|(pre, suf, _)| {
            path.len() > pre.len() + suf.len() && path.starts_with(pre) && path.ends_with(suf)
        })
        .map(|(_, _, h)| *h)
        .unwrap_or("other")
}

/// Middleware: times every request and records it under its handler.
pub async fn track(State(m): State<SelfMetrics>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let handler = handler_of(path);
    let start = Instant::now();
    let resp = next.run(req).await;
    m.observe(
        handler,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_with_path_parameters_are_grouped() {
        assert_eq!(handler_of("/api/v1/query"), "/api/v1/query");
        assert_eq!(
            handler_of("/api/v1/label/job/values"),
            "/api/v1/label/:name/values"
        );
        assert_eq!(
            handler_of("/loki/api/v1/label/job/values"),
            "/loki/api/v1/label/:name/values"
        );
        assert_eq!(handler_of("/api/v2/traces/abc"), "/api/v2/traces/:id");
        assert_eq!(handler_of("/api/traces/abc"), "/api/traces/:id");
        assert_eq!(handler_of("/api/traces/"), "other");
        assert_eq!(handler_of("/nope"), "other");
    }

    #[test]
    fn samples_of_a_family_are_summed() {
        let text = "# TYPE a_total counter\na_total{p=\"x\"} 3\na_total{p=\"y\"} 4\na_totalx 9\n";
        assert_eq!(sum_samples(text, "a_total"), 7);
    }
}
