//! Lookout's own `/metrics` in the Prometheus text format: the collector's ingest and
//! scrape counters, scrape target health, each tenant's head, WAL and blocks, and HTTP
//! request latency by API handler (PromQL queries included), measured by a middleware
//! here so the query crate needs no metrics of its own yet.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lookout_collector::scrape::Manager;
use lookout_store::Store;
use parking_lot::Mutex;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Handlers whose latency is recorded; anything else counts as `other`.
const HANDLERS: [&str; 10] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/export",
    "/api/v1/write",
    "/api/v1/metadata",
    "/api/v1/targets",
    "/metrics",
    "/api/v1/label/:name/values",
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

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
        let stats: Vec<_> = self
            .store
            .open_stats()
            .into_iter()
            .map(|(t, s)| (t.to_string(), s))
            .collect();
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
        out
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

/// Middleware: times every request and records it under its handler.
pub async fn track(State(m): State<SelfMetrics>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let handler = if path.starts_with("/api/v1/label/") && path.ends_with("/values") {
        "/api/v1/label/:name/values"
    } else {
        HANDLERS
            .iter()
            .find(|h| **h == path)
            .copied()
            .unwrap_or("other")
    };
    let start = Instant::now();
    let resp = next.run(req).await;
    m.observe(
        handler,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}
