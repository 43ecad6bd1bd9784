//! `lookout agent`: the small process on every node. It gathers host metrics (node_exporter's
//! names), scrapes local exporters, tails log files and the systemd journal, receives OTLP,
//! and forwards everything to a Lookout server through disk-backed queues
//! (`<data>/queue/{metrics,logs,traces}`, tail positions and the journal cursor in
//! `<data>/positions.json`), so a server outage or an agent crash loses nothing. Its own
//! `/metrics`, `/-/healthy`, `/-/ready` and OTLP/HTTP (`/v1/{metrics,logs,traces}`) are
//! served on `--listen`; OTLP/gRPC on `otlp.grpc_listen` when set.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use lookout_collector::agent::forward::{
    send, ForwardStats, ForwardTarget, MetricsForwarder, Signal,
};
use lookout_collector::agent::host::{HostCollector, HostPaths};
use lookout_collector::agent::otlp::{Receiver, ReceiverStats};
use lookout_collector::agent::queue::Queue;
use lookout_collector::agent::tail::journal::{JournalReader, JournalSource, JournalStats};
use lookout_collector::agent::tail::multiline::Multiline;
use lookout_collector::agent::tail::writer::LogsWriter;
use lookout_collector::agent::tail::{Source, TailStats, Tailer};
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

/// `agent.yaml`. Unknown keys are errors, so a misspelt section is refused rather than
/// silently ignored.
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
    /// Log files to tail.
    pub logs: Vec<LogsConfig>,
    /// How tailing looks for changes besides inotify.
    pub tail: TailConfig,
    /// The systemd journal (read through journalctl); off unless the section is present.
    pub journal: Option<JournalConfig>,
    /// The local OTLP receiver: OTLP/HTTP is always on `--listen`; gRPC where this says.
    pub otlp: OtlpConfig,
}

/// `tail: {poll_interval: 1s}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// Tailed files are read at once when inotify reports a change, and every this long in
    /// any case (globs rescanned then): the fallback for filesystems without inotify.
    pub poll_interval: Duration,
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            poll_interval: Duration(1_000),
        }
    }
}

/// `otlp: {grpc_listen: 127.0.0.1:4317}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// OTLP/gRPC address; empty (the default) disables it, so the agent does not take
    /// 4317 from a server on the same machine.
    pub grpc_listen: String,
}

/// `journal: {enabled, journalctl_path, labels, matches, max_age, max_line_size}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    pub enabled: bool,
    /// The journalctl to run (looked up in PATH unless absolute).
    pub journalctl_path: PathBuf,
    /// Labels on every journal stream; `job` is `systemd-journal` unless set.
    pub labels: std::collections::BTreeMap<String, String>,
    /// journalctl matches, e.g. `_SYSTEMD_UNIT=ssh.service` (all entries when empty).
    pub matches: Vec<String>,
    /// How far back the first start reads (later starts resume at the saved cursor).
    pub max_age: Duration,
    pub max_line_size: ByteSize,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            enabled: true,
            journalctl_path: "journalctl".into(),
            labels: Default::default(),
            matches: Vec::new(),
            max_age: Duration(7 * 3600 * 1000),
            max_line_size: default_max_line(),
        }
    }
}

impl JournalConfig {
    fn source(&self) -> JournalSource {
        let mut labels = self.labels.clone();
        labels
            .entry("job".into())
            .or_insert_with(|| "systemd-journal".into());
        JournalSource {
            journalctl: self.journalctl_path.clone(),
            labels,
            matches: self.matches.clone(),
            max_age: StdDuration::from_millis(self.max_age.0.max(0) as u64),
            max_line_size: self.max_line_size.0.max(1) as usize,
        }
    }
}

/// One `logs:` entry: `{paths: [globs], labels: {...}, multiline: {...}, max_line_size}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    pub paths: Vec<String>,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// Longer lines are cut (Loki's default limit).
    #[serde(default = "default_max_line")]
    pub max_line_size: ByteSize,
}

fn default_max_line() -> ByteSize {
    ByteSize(256 << 10)
}

/// `multiline: {start: '^\d{4}-', max_lines: 128, timeout: 3s}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A line matching this starts a new event; others join the one before.
    pub start: String,
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// An event that got no line for this long is complete.
    #[serde(default = "default_multiline_timeout")]
    pub timeout: Duration,
}

fn default_max_lines() -> usize {
    128
}

fn default_multiline_timeout() -> Duration {
    Duration(3_000)
}

impl LogsConfig {
    fn source(&self) -> anyhow::Result<Source> {
        let multiline = match &self.multiline {
            None => None,
            Some(m) => Some(Multiline::new(
                &m.start,
                m.max_lines,
                StdDuration::from_millis(m.timeout.0.max(0) as u64),
            )?),
        };
        let source = Source {
            paths: self.paths.clone(),
            labels: self.labels.clone(),
            multiline,
            max_line_size: self.max_line_size.0.max(1) as usize,
        };
        source.check()?;
        Ok(source)
    }
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
            logs: Vec::new(),
            tail: TailConfig::default(),
            journal: None,
            otlp: OtlpConfig::default(),
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
    let sources = cfg
        .logs
        .iter()
        .map(LogsConfig::source)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let queue = Arc::new(
        Queue::open(&args.data.join("queue/metrics"), cfg.queue.max_size.0)
            .context("cannot open the agent's metrics queue")?,
    );
    let logs_queue = Arc::new(
        Queue::open(&args.data.join("queue/logs"), cfg.queue.max_size.0)
            .context("cannot open the agent's logs queue")?,
    );
    let traces_queue = Arc::new(
        Queue::open(&args.data.join("queue/traces"), cfg.queue.max_size.0)
            .context("cannot open the agent's traces queue")?,
    );
    let forwarder: Arc<dyn Append> = Arc::new(MetricsForwarder::new(queue.clone()));
    let stats = Arc::new(ForwardStats::default());
    let logs_stats = Arc::new(ForwardStats::default());
    let traces_stats = Arc::new(ForwardStats::default());
    let tail_stats = Arc::new(TailStats::default());
    let stop = Arc::new(tokio::sync::Notify::new());
    let target = ForwardTarget {
        server: args.server.clone(),
        tenant: cfg.tenant.clone(),
        authorization: cfg.authorization.clone(),
        timeout: StdDuration::from_secs(30),
    };
    let sender = tokio::spawn(send(
        Signal::Metrics,
        queue.clone(),
        target.clone(),
        stats.clone(),
        stop.clone(),
    ));
    let logs_sender = tokio::spawn(send(
        Signal::Logs,
        logs_queue.clone(),
        target.clone(),
        logs_stats.clone(),
        stop.clone(),
    ));
    let traces_sender = tokio::spawn(send(
        Signal::Traces,
        traces_queue.clone(),
        target,
        traces_stats.clone(),
        stop.clone(),
    ));

    let logs_writer = Arc::new(
        LogsWriter::open(logs_queue.clone(), &args.data.join("positions.json"))
            .context("cannot recover the log positions")?,
    );
    let tail_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let journal_stats = Arc::new(JournalStats::default());
    let journal_thread = match cfg.journal.as_ref().filter(|j| j.enabled) {
        None => None,
        Some(j) => {
            let reader = JournalReader::new(j.source(), logs_writer.clone(), journal_stats.clone());
            let stop = tail_stop.clone();
            Some(
                std::thread::Builder::new()
                    .name("journal".into())
                    .spawn(move || reader.run(stop))
                    .context("cannot start the journal thread")?,
            )
        }
    };
    let tail_thread = if sources.is_empty() {
        None
    } else {
        let tailer = Tailer::open(sources, logs_writer.clone(), tail_stats.clone())
            .context("cannot start tailing")?;
        let stop = tail_stop.clone();
        let every = StdDuration::from_millis(cfg.tail.poll_interval.0.max(10) as u64);
        Some(
            std::thread::Builder::new()
                .name("tail".into())
                .spawn(move || tailer.run(every, stop))
                .context("cannot start the tail thread")?,
        )
    };

    let host = cfg.host_metrics.resolved();
    let host_task = host
        .enabled
        .then(|| tokio::spawn(host_loop(forwarder.clone(), host.clone(), stop.clone())));
    let syncer = {
        let queues = [queue.clone(), traces_queue.clone()];
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(StdDuration::from_secs(1)) => {}
                    _ = stop.notified() => return,
                }
                let qs = queues.clone();
                let synced =
                    tokio::task::spawn_blocking(move || qs.iter().try_for_each(|q| q.sync())).await;
                match synced {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot sync an agent queue"),
                    Err(e) => tracing::warn!(error = %e, "queue sync task failed"),
                }
            }
        })
    };

    let scrape = lookout_collector::scrape::Manager::new(forwarder.clone());
    let jobs = lookout_collector::scrape::config::resolve(&cfg.global, &cfg.scrape_configs)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    scrape.apply(jobs).await.context("cannot start scraping")?;

    let receiver_stats = Arc::new(ReceiverStats::default());
    let receiver = Arc::new(Receiver {
        traces: traces_queue.clone(),
        logs: logs_writer.clone(),
        metrics: forwarder.clone(),
        stats: receiver_stats.clone(),
    });
    let grpc = if cfg.otlp.grpc_listen.trim().is_empty() {
        None
    } else {
        let l = tokio::net::TcpListener::bind(cfg.otlp.grpc_listen.trim())
            .await
            .with_context(|| format!("cannot listen for OTLP/gRPC on {}", cfg.otlp.grpc_listen))?;
        let grpc_addr = l.local_addr()?;
        println!("lookout agent otlp grpc listening on {grpc_addr}");
        let receiver = receiver.clone();
        let stop = stop.clone();
        Some(tokio::spawn(async move {
            if let Err(e) = lookout_collector::agent::otlp::serve_grpc(l, receiver, async move {
                stop.notified().await
            })
            .await
            {
                tracing::error!(error = %e, "the OTLP/gRPC listener failed");
            }
        }))
    };

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let metrics_state = Arc::new(OwnMetrics {
        queues: vec![
            (Signal::Metrics, queue.clone(), stats.clone()),
            (Signal::Logs, logs_queue.clone(), logs_stats.clone()),
            (Signal::Traces, traces_queue.clone(), traces_stats.clone()),
        ],
        receiver: receiver_stats.clone(),
        tail: tail_stats.clone(),
        journal: journal_thread.is_some().then(|| journal_stats.clone()),
    });
    let app = Router::new()
        .route(
            "/-/healthy",
            get(|| async { "Lookout agent is Healthy.\n" }),
        )
        .route("/-/ready", get(|| async { "Lookout agent is Ready.\n" }))
        .route(
            "/metrics",
            get(move || {
                let m = metrics_state.clone();
                async move { m.render() }
            }),
        )
        .merge(lookout_collector::agent::otlp::routes(receiver));
    println!("lookout agent listening on http://{addr}");
    tracing::info!(%addr, server = %args.server, "agent running");
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::serve::shutdown_signal())
        .await?;
    tracing::info!("agent shutting down");
    scrape.stop().await;
    tail_stop.store(true, Ordering::Relaxed);
    stop.notify_waiters();
    if let Some(t) = host_task {
        t.abort();
    }
    if let Some(t) = grpc {
        t.abort();
    }
    syncer.abort();
    if let Some(t) = tail_thread {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    if let Some(t) = journal_thread {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    let _ = tokio::time::timeout(StdDuration::from_secs(5), sender).await;
    let _ = tokio::time::timeout(StdDuration::from_secs(5), logs_sender).await;
    let _ = tokio::time::timeout(StdDuration::from_secs(5), traces_sender).await;
    queue.sync().context("cannot sync the agent queue")?;
    traces_queue
        .sync()
        .context("cannot sync the agent traces queue")?;
    logs_queue
        .sync()
        .context("cannot sync the agent logs queue")?;
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

/// What the agent's own `/metrics` shows.
struct OwnMetrics {
    queues: Vec<(Signal, Arc<Queue>, Arc<ForwardStats>)>,
    tail: Arc<TailStats>,
    journal: Option<Arc<JournalStats>>,
    receiver: Arc<ReceiverStats>,
}

impl OwnMetrics {
    /// Prometheus' text format: per signal queue and sender counters, and tail counters.
    fn render(&self) -> String {
        type Get = fn(&Queue, &ForwardStats) -> u64;
        let per_signal: [(&str, &str, &str, Get); 10] = [
            (
                "lookout_agent_queue_bytes",
                "gauge",
                "Bytes waiting in the queue, not yet acknowledged by the server.",
                |q, _| q.pending_bytes(),
            ),
            (
                "lookout_agent_queue_records",
                "gauge",
                "Records (batches) waiting in the queue, not yet acknowledged by the server.",
                |q, _| q.pending_records(),
            ),
            (
                "lookout_agent_queue_disk_bytes",
                "gauge",
                "Bytes of queue segments on disk.",
                |q, _| q.stats().bytes,
            ),
            (
                "lookout_agent_queue_pushed_total",
                "counter",
                "Batches queued since start.",
                |q, _| q.stats().pushed,
            ),
            (
                "lookout_agent_queue_dropped_records_total",
                "counter",
                "Batches dropped unsent because the queue was over queue.max_size.",
                |q, _| q.stats().dropped_records,
            ),
            (
                "lookout_agent_queue_dropped_bytes_total",
                "counter",
                "Bytes dropped unsent because the queue was over queue.max_size.",
                |q, _| q.stats().dropped_bytes,
            ),
            (
                "lookout_agent_sent_batches_total",
                "counter",
                "Batches the server acknowledged.",
                |_, s| s.sent_records.load(Ordering::Relaxed),
            ),
            (
                "lookout_agent_sent_bytes_total",
                "counter",
                "Compressed bytes the server acknowledged.",
                |_, s| s.sent_bytes.load(Ordering::Relaxed),
            ),
            (
                "lookout_agent_send_failures_total",
                "counter",
                "Sends that failed and will be retried (server unreachable, 5xx, 429).",
                |_, s| s.failed_sends.load(Ordering::Relaxed),
            ),
            (
                "lookout_agent_rejected_batches_total",
                "counter",
                "Batches the server refused with a 4xx; they are not retried.",
                |_, s| s.rejected_records.load(Ordering::Relaxed),
            ),
        ];
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, u64)>| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, v) in samples {
                out.push_str(&format!("{name}{labels} {v}\n"));
            }
        };
        for (name, kind, help, get) in per_signal {
            let samples = self
                .queues
                .iter()
                .map(|(sig, q, s)| (format!("{{signal=\"{}\"}}", sig.name()), get(q, s)))
                .collect();
            family(name, kind, help, samples);
        }
        let failing = self
            .queues
            .iter()
            .map(|(sig, _, s)| {
                (
                    format!("{{signal=\"{}\"}}", sig.name()),
                    s.failing.load(Ordering::Relaxed),
                )
            })
            .collect();
        family(
            "lookout_agent_server_failing",
            "gauge",
            "1 while the last send to the server failed.",
            failing,
        );
        let t = &self.tail;
        for (name, kind, help, v) in [
            (
                "lookout_agent_tail_files",
                "gauge",
                "Files being tailed.",
                &t.files_watched,
            ),
            (
                "lookout_agent_tail_read_bytes_total",
                "counter",
                "Bytes of complete lines read from tailed files.",
                &t.bytes_read,
            ),
            (
                "lookout_agent_tail_read_lines_total",
                "counter",
                "Lines read from tailed files.",
                &t.lines_read,
            ),
            (
                "lookout_agent_tail_truncated_lines_total",
                "counter",
                "Lines cut at logs.max_line_size.",
                &t.lines_truncated,
            ),
        ] {
            family(
                name,
                kind,
                help,
                vec![(String::new(), v.load(Ordering::Relaxed))],
            );
        }
        let r = &self.receiver;
        for (name, help, v) in [
            (
                "lookout_agent_otlp_received_spans_total",
                "Spans the OTLP receiver queued.",
                &r.spans,
            ),
            (
                "lookout_agent_otlp_received_log_records_total",
                "Log records the OTLP receiver queued.",
                &r.log_records,
            ),
            (
                "lookout_agent_otlp_received_samples_total",
                "Samples the OTLP receiver made of metric data points and queued.",
                &r.data_points,
            ),
            (
                "lookout_agent_otlp_refused_data_points_total",
                "Metric data points with no Prometheus series (delta, exponential histograms).",
                &r.refused_data_points,
            ),
        ] {
            family(
                name,
                "counter",
                help,
                vec![(String::new(), v.load(Ordering::Relaxed))],
            );
        }
        if let Some(j) = &self.journal {
            for (name, help, v) in [
                (
                    "lookout_agent_journal_entries_total",
                    "Journal entries queued.",
                    &j.entries,
                ),
                (
                    "lookout_agent_journal_read_bytes_total",
                    "Bytes of journalctl JSON output read.",
                    &j.bytes,
                ),
                (
                    "lookout_agent_journal_skipped_total",
                    "journalctl output lines that were not journal entries.",
                    &j.skipped,
                ),
                (
                    "lookout_agent_journal_restarts_total",
                    "Times journalctl exited and was started again.",
                    &j.restarts,
                ),
            ] {
                family(
                    name,
                    "counter",
                    help,
                    vec![(String::new(), v.load(Ordering::Relaxed))],
                );
            }
        }
        out
    }
}
