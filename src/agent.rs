//! `lookout agent`: the small process on every node. It gathers host metrics (node_exporter's
//! names) and scrapes local exporters, and forwards everything to a Lookout server through
//! a disk-backed queue, so a server outage or an agent crash loses nothing. Its own
//! `/metrics`, `/-/healthy` and `/-/ready` are served on `--listen`.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use lookout_collector::agent::forward::{
    send_metrics, ForwardStats, ForwardTarget, MetricsForwarder,
};
use lookout_collector::agent::host::{HostCollector, HostPaths};
use lookout_collector::agent::queue::Queue;
use lookout_store::{Append, Label, Labels, TenantId};
use serde::Deserialize;

use crate::duration::{ByteSize, Duration};

#[derive(clap::Args)]
pub struct AgentArgs {
    /// The Lookout server to forward to, e.g. http://lookout:9700.
    #[arg(long)]
    server: String,
    /// agent.yaml (every key optional).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where the queue lives.
    #[arg(long, default_value = "data/agent")]
    data: PathBuf,
    /// Address of the agent's own /metrics, /-/healthy and /-/ready.
    #[arg(long, default_value = "127.0.0.1:9701")]
    listen: String,
}

/// `agent.yaml`. Unknown keys are errors, so a section that is not implemented yet
/// (`logs`, `otlp`) is refused rather than silently ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Host metrics: `true`/`false`, or `{enabled, interval, labels}`.
    pub host_metrics: HostMetrics,
    /// Prometheus' `global:` section (scrape defaults).
    pub global: lookout_collector::scrape::GlobalConfig,
    /// Prometheus' `scrape_configs:` for local exporters.
    pub scrape_configs: Vec<lookout_collector::scrape::ScrapeConfig>,
    /// `X-Scope-OrgID` sent to the server (none: no header).
    pub tenant: Option<String>,
    /// `Authorization` header sent to the server, e.g. `Bearer abc`.
    pub authorization: Option<String>,
    pub queue: QueueConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            host_metrics: HostMetrics::Enabled(true),
            global: Default::default(),
            scrape_configs: Vec::new(),
            tenant: None,
            authorization: None,
            queue: QueueConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum HostMetrics {
    Enabled(bool),
    Detailed(HostMetricsConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostMetricsConfig {
    pub enabled: bool,
    pub interval: Duration,
    /// Labels on every host series; `job` defaults to `node` and `instance` to the host
    /// name, as a Prometheus scrape of node_exporter would set them.
    pub labels: std::collections::BTreeMap<String, String>,
}

impl Default for HostMetricsConfig {
    fn default() -> Self {
        HostMetricsConfig {
            enabled: true,
            interval: Duration(15_000),
            labels: Default::default(),
        }
    }
}

impl HostMetrics {
    fn resolved(&self) -> HostMetricsConfig {
        match self {
            HostMetrics::Enabled(e) => HostMetricsConfig {
                enabled: *e,
                ..Default::default()
            },
            HostMetrics::Detailed(c) => c.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Most bytes each signal's queue keeps on disk; beyond it the oldest data is dropped
    /// (counted in `lookout_agent_queue_dropped_*`).
    pub max_size: ByteSize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_size: ByteSize(1 << 30),
        }
    }
}

impl AgentConfig {
    fn load(path: Option<&Path>) -> anyhow::Result<AgentConfig> {
        let Some(path) = path else {
            return Ok(AgentConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if text.trim().is_empty() {
            return Ok(AgentConfig::default());
        }
        serde_yaml::from_str(&text).with_context(|| format!("{} is invalid", path.display()))
    }
}

pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    let cfg = AgentConfig::load(args.config.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(agent(args, cfg))
}

async fn agent(args: AgentArgs, cfg: AgentConfig) -> anyhow::Result<()> {
    let queue = Arc::new(
        Queue::open(&args.data.join("queue/metrics"), cfg.queue.max_size.0)
            .context("cannot open the agent's metrics queue")?,
    );
    let forwarder: Arc<dyn Append> = Arc::new(MetricsForwarder::new(queue.clone()));
    let stats = Arc::new(ForwardStats::default());
    let stop = Arc::new(tokio::sync::Notify::new());
    let target = ForwardTarget {
        server: args.server.clone(),
        tenant: cfg.tenant.clone(),
        authorization: cfg.authorization.clone(),
        timeout: StdDuration::from_secs(30),
    };
    let sender = tokio::spawn(send_metrics(
        queue.clone(),
        target,
        stats.clone(),
        stop.clone(),
    ));

    let host = cfg.host_metrics.resolved();
    let host_task = host
        .enabled
        .then(|| tokio::spawn(host_loop(forwarder.clone(), host.clone(), stop.clone())));
    let syncer = {
        let queue = queue.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(StdDuration::from_secs(1)) => {}
                    _ = stop.notified() => return,
                }
                let q = queue.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || q.sync()).await {
                    tracing::warn!(error = %e, "queue sync task failed");
                }
            }
        })
    };

    let scrape = lookout_collector::scrape::Manager::new(forwarder.clone());
    let jobs = lookout_collector::scrape::config::resolve(&cfg.global, &cfg.scrape_configs)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    scrape.apply(jobs).await.context("cannot start scraping")?;

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let metrics_state = (queue.clone(), stats.clone());
    let app = Router::new()
        .route(
            "/-/healthy",
            get(|| async { "Lookout agent is Healthy.\n" }),
        )
        .route("/-/ready", get(|| async { "Lookout agent is Ready.\n" }))
        .route(
            "/metrics",
            get(move || {
                let (q, s) = metrics_state.clone();
                async move { own_metrics(&q, &s) }
            }),
        );
    println!("lookout agent listening on http://{addr}");
    tracing::info!(%addr, server = %args.server, "agent running");
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::serve::shutdown_signal())
        .await?;
    tracing::info!("agent shutting down");
    scrape.stop().await;
    stop.notify_waiters();
    if let Some(t) = host_task {
        t.abort();
    }
    syncer.abort();
    let _ = tokio::time::timeout(StdDuration::from_secs(5), sender).await;
    queue.sync().context("cannot sync the agent queue")?;
    Ok(())
}

/// Gathers host metrics every interval, aligned to the interval like a scrape.
async fn host_loop(sink: Arc<dyn Append>, cfg: HostMetricsConfig, stop: Arc<tokio::sync::Notify>) {
    let interval = StdDuration::from_millis(cfg.interval.0.max(1000) as u64);
    let hostname = hostname();
    let mut extra: Vec<Label> = vec![Label::new("job", "node"), Label::new("instance", hostname)];
    for (k, v) in &cfg.labels {
        extra.retain(|l| l.name != *k);
        extra.push(Label::new(k.clone(), v.clone()));
    }
    let collector = HostCollector::new(HostPaths::default());
    let tenant = TenantId::default_tenant();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.notified() => return,
        }
        let now = now_ms();
        let mut batch = collector.collect(now);
        for s in &mut batch {
            let mut v: Vec<Label> = s.labels.iter().cloned().collect();
            for l in &extra {
                if !v.iter().any(|x| x.name == l.name) {
                    v.push(l.clone());
                }
            }
            s.labels = Labels::from_pairs(v.into_iter().map(|l| (l.name, l.value)));
        }
        let (sink, t) = (sink.clone(), tenant.clone());
        match tokio::task::spawn_blocking(move || sink.append(&t, &batch)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot queue host metrics"),
            Err(e) => tracing::warn!(error = %e, "host metrics task failed"),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The agent's own metrics in Prometheus' text format.
fn own_metrics(q: &Queue, s: &ForwardStats) -> String {
    let qs = q.stats();
    let mut out = String::new();
    let mut put = |name: &str, kind: &str, help: &str, v: u64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{signal=\"metrics\"}} {v}\n"
        ));
    };
    put(
        "lookout_agent_queue_bytes",
        "gauge",
        "Bytes waiting in the queue, not yet acknowledged by the server.",
        q.pending_bytes(),
    );
    put(
        "lookout_agent_queue_disk_bytes",
        "gauge",
        "Bytes of queue segments on disk.",
        qs.bytes,
    );
    put(
        "lookout_agent_queue_pushed_total",
        "counter",
        "Batches queued since start.",
        qs.pushed,
    );
    put(
        "lookout_agent_queue_dropped_records_total",
        "counter",
        "Batches dropped unsent because the queue was over queue.max_size.",
        qs.dropped_records,
    );
    put(
        "lookout_agent_queue_dropped_bytes_total",
        "counter",
        "Bytes dropped unsent because the queue was over queue.max_size.",
        qs.dropped_bytes,
    );
    put(
        "lookout_agent_sent_batches_total",
        "counter",
        "Batches the server acknowledged.",
        s.sent_records.load(Ordering::Relaxed),
    );
    put(
        "lookout_agent_sent_bytes_total",
        "counter",
        "Compressed bytes the server acknowledged.",
        s.sent_bytes.load(Ordering::Relaxed),
    );
    put(
        "lookout_agent_send_failures_total",
        "counter",
        "Sends that failed and will be retried (server unreachable, 5xx, 429).",
        s.failed_sends.load(Ordering::Relaxed),
    );
    put(
        "lookout_agent_rejected_batches_total",
        "counter",
        "Batches the server refused with a 4xx; they are not retried.",
        s.rejected_records.load(Ordering::Relaxed),
    );
    put(
        "lookout_agent_server_failing",
        "gauge",
        "1 while the last send to the server failed.",
        s.failing.load(Ordering::Relaxed),
    );
    out
}
