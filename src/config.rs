//! `lookout.yaml`: every key optional, unknown keys are errors that name their line.
//! Sections that are not implemented yet are not accepted, so a pasted config never has a
//! part silently ignored.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::duration::{ByteSize, Duration};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of every HTTP API.
    pub listen: String,
    /// Data directory.
    pub data: PathBuf,
    pub retention: Retention,
    /// Length of a block cut from the head.
    pub block_duration: Duration,
    /// Take the tenant from X-Scope-OrgID instead of using `default`.
    pub multi_tenant: bool,
    pub limits: Limits,
    pub admin: Admin,
    /// How often head cuts, compaction and retention are checked.
    pub maintenance_interval: Duration,
    pub query: Query,
    /// Prometheus' `global:` section (scrape defaults).
    pub global: lookout_collector::scrape::GlobalConfig,
    /// Prometheus' `scrape_configs:`. Absent: Lookout scrapes its own `/metrics`
    /// (job `lookout`); `[]`: no scraping.
    pub scrape_configs: Option<Vec<lookout_collector::scrape::ScrapeConfig>>,
    /// Prometheus' `rule_files:`: globs of rule files, relative to this file.
    pub rule_files: Vec<String>,
    /// Globs of rule files whose expressions are LogQL (Loki's ruler format), relative to
    /// this file. Their recording rules write series into the metrics store.
    pub log_rule_files: Vec<String>,
    /// Prometheus' `alerting:`, plus Lookout's `webhooks` and rule settings.
    pub alerting: crate::alerting::AlertingConfig,
    pub otlp: Otlp,
    /// Syslog listeners (none by default).
    pub syslog: Vec<lookout_collector::syslog::ListenerConfig>,
    /// Prometheus' `storage:` section (exemplars).
    pub storage: Storage,
    pub traces: Traces,
}

/// Prometheus' `storage:` section; only `exemplars` so far.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    pub exemplars: Exemplars,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Exemplars {
    /// Exemplars kept per tenant, in one circular buffer (Prometheus' default 100000; 0: none).
    pub max_exemplars: usize,
}

impl Default for Exemplars {
    fn default() -> Self {
        Exemplars {
            max_exemplars: lookout_store::DEFAULT_MAX_EXEMPLARS,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Traces {
    pub span_metrics: SpanMetrics,
}

/// Span metrics and the service graph (Tempo's metrics-generator processors).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetrics {
    pub enabled: bool,
    /// How often the counters are written into the metrics store.
    pub flush_interval: Duration,
    /// Latency histogram buckets, seconds.
    pub histogram_buckets: Vec<f64>,
    /// Most span-metrics and service-graph label sets per tenant.
    pub max_active_series: usize,
    /// A series no span counted into for this long is no longer written (Tempo's
    /// `stale_duration`).
    pub stale_after: Duration,
    pub service_graph: ServiceGraph,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceGraph {
    pub enabled: bool,
    /// How long half of a client/server span pair waits for the other half.
    pub wait: Duration,
    /// Most unpaired halves kept per tenant.
    pub max_items: usize,
    pub histogram_buckets: Vec<f64>,
}

impl Default for SpanMetrics {
    fn default() -> Self {
        let d = lookout_collector::spanmetrics::SpanMetricsOptions::default();
        SpanMetrics {
            enabled: true,
            flush_interval: Duration(d.flush_interval_ms as i64),
            histogram_buckets: d.histogram_buckets,
            max_active_series: d.max_series,
            stale_after: Duration(d.stale_after_ms),
            service_graph: ServiceGraph::default(),
        }
    }
}

impl Default for ServiceGraph {
    fn default() -> Self {
        let d = lookout_collector::spanmetrics::SpanMetricsOptions::default();
        ServiceGraph {
            enabled: d.service_graph,
            wait: Duration(d.service_graph_wait_ms),
            max_items: d.service_graph_max_items,
            histogram_buckets: d.service_graph_buckets,
        }
    }
}

impl SpanMetrics {
    pub fn options(&self) -> lookout_collector::spanmetrics::SpanMetricsOptions {
        lookout_collector::spanmetrics::SpanMetricsOptions {
            flush_interval_ms: self.flush_interval.0.max(1) as u64,
            histogram_buckets: self.histogram_buckets.clone(),
            max_series: self.max_active_series,
            service_graph: self.service_graph.enabled,
            service_graph_wait_ms: self.service_graph.wait.0,
            service_graph_max_items: self.service_graph.max_items,
            service_graph_buckets: self.service_graph.histogram_buckets.clone(),
            stale_after_ms: self.stale_after.0,
        }
    }
}

/// OTLP receivers. OTLP/HTTP is served on `listen:` with every other HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Otlp {
    /// OTLP/gRPC address; "" turns it off.
    pub grpc_listen: String,
}

/// The OTLP/gRPC address when the config does not name one. Failing to bind it is a
/// warning, not an error (another collector may hold the port); a configured one must bind.
pub const DEFAULT_OTLP_GRPC_LISTEN: &str = "0.0.0.0:4317";

impl Default for Otlp {
    fn default() -> Self {
        Otlp {
            grpc_listen: DEFAULT_OTLP_GRPC_LISTEN.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    pub time: Duration,
    pub size: ByteSize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted on ingest routes (compressed, as sent).
    pub max_body_size: ByteSize,
    /// Largest remote_write body after snappy decoding.
    pub max_decoded_body_size: ByteSize,
    /// Samples further ahead of the server's clock are refused (Mimir's
    /// `creation_grace_period`); 0: no bound.
    pub max_future: Duration,
    /// Longest label name, bytes (0: no limit).
    pub max_label_name_length: usize,
    /// Longest label value, bytes (0: no limit).
    pub max_label_value_length: usize,
    /// Most labels on one series, `__name__` included (0: no limit).
    pub max_label_names_per_series: usize,
    /// Most head series of one metric name in a tenant (0: no limit).
    pub max_series_per_metric: usize,
    /// Most head series of one tenant (0: no limit).
    pub max_active_series_per_tenant: usize,
    /// Most tenants with data; a write for a new tenant beyond is refused (0: no limit).
    pub max_tenants: usize,
    /// A tenant not read or written for this long is flushed and closed (0: never).
    pub tenant_idle_close: Duration,
    /// Samples per second one tenant may write (0: no limit)...
    pub ingestion_rate: f64,
    /// ...with bursts up to this many samples (at least one second's worth).
    pub ingestion_burst_size: u64,
    /// Most samples in one write request (0: no limit).
    pub max_samples_per_request: usize,
    /// Longest log line, bytes (0: no limit).
    pub max_line_size: ByteSize,
    /// Cut longer log lines to `max_line_size` instead of refusing them.
    pub max_line_size_truncate: bool,
    /// Most bytes of structured metadata on one log line (0: no limit).
    pub max_structured_metadata_size: ByteSize,
    /// Most structured metadata entries on one log line (0: no limit).
    pub max_structured_metadata_entries_count: usize,
    /// Most active log streams of one tenant (0: no limit).
    pub max_global_streams_per_user: usize,
}

/// Admin endpoints (`POST /api/v1/admin/*`, `/-/reload`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// With `multi_tenant: true`, admin endpoints answer 403 unless this is true; then
    /// they act on the tenant named in X-Scope-OrgID only (reload is for the whole server).
    pub enabled_in_multi_tenant: bool,
}

/// PromQL engine settings (Prometheus' `--query.*` flags).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Query {
    /// How far back an instant selector looks for a sample.
    pub lookback_delta: Duration,
    /// Longest a query may run; a request's `timeout` parameter can only shorten it.
    pub timeout: Duration,
    /// Most samples a query may hold in memory at once.
    pub max_samples: usize,
    /// Most memory one query may hold while it is evaluated and answered.
    pub max_memory: ByteSize,
    /// Longest query text accepted.
    pub max_length: ByteSize,
    /// Deepest query accepted: operators plus nested brackets.
    pub max_depth: usize,
    /// Queries evaluated at once; 0: one per CPU core (more would share the cores and
    /// only add memory).
    pub max_concurrency: usize,
    /// Queries that may wait for a slot; more are refused with a 503.
    pub max_queued: usize,
    /// CPU priority (Unix nice, 0-19) of query threads, so heavy queries yield to ingestion.
    pub nice: i32,
    /// LogQL: most lines a log query may ask for with `limit` (Loki's name).
    pub max_entries_limit_per_query: usize,
    /// LogQL: most series a metric query may return (Loki's name).
    pub max_query_series: usize,
    /// LogQL: most bytes of log lines one query may read; 0: no limit (Loki's name).
    pub max_query_bytes_read: ByteSize,
}

impl Query {
    /// Queries evaluated at once: `max_concurrency`, or one per CPU core when it is 0.
    pub fn concurrency(&self) -> usize {
        match self.max_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    pub fn logql_options(&self) -> lookout_query::logql::LogqlOptions {
        lookout_query::logql::LogqlOptions {
            max_entries_limit: self.max_entries_limit_per_query,
            max_series: self.max_query_series,
            max_bytes_read: self.max_query_bytes_read.0 as usize,
            max_length: self.max_length.0 as usize,
            ..Default::default()
        }
    }

    pub fn engine_options(&self) -> lookout_query::promql::EngineOptions {
        lookout_query::promql::EngineOptions {
            lookback_delta_ms: self.lookback_delta.0,
            max_samples: self.max_samples,
            timeout: std::time::Duration::from_millis(self.timeout.0.max(1) as u64),
            max_memory: self.max_memory.0 as usize,
            max_length: self.max_length.0 as usize,
            max_depth: self.max_depth,
            ..Default::default()
        }
    }
}

impl Default for Query {
    fn default() -> Self {
        Query {
            lookback_delta: Duration(5 * 60_000),
            timeout: Duration(2 * 60_000),
            max_samples: 50_000_000,
            max_memory: ByteSize(256 << 20),
            max_length: ByteSize(128 << 10),
            max_depth: 500,
            max_concurrency: 0,
            max_queued: 64,
            nice: 10,
            max_entries_limit_per_query: 5000,
            max_query_series: 500,
            max_query_bytes_read: ByteSize(0),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:9700".into(),
            data: PathBuf::from("./data"),
            retention: Retention::default(),
            block_duration: Duration(2 * 3_600_000),
            multi_tenant: false,
            limits: Limits::default(),
            admin: Admin::default(),
            maintenance_interval: Duration(30_000),
            query: Query::default(),
            global: Default::default(),
            scrape_configs: None,
            rule_files: Vec::new(),
            log_rule_files: Vec::new(),
            alerting: Default::default(),
            otlp: Otlp::default(),
            syslog: Vec::new(),
            storage: Storage::default(),
            traces: Traces::default(),
        }
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            time: Duration(15 * 86_400_000),
            size: ByteSize(0),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        let series = lookout_store::SeriesLimits::default();
        let tenants = lookout_store::TenantLimits::default();
        let logs = lookout_collector::logs::LogLimits::default();
        Limits {
            max_body_size: ByteSize(32 << 20),
            max_decoded_body_size: ByteSize(128 << 20),
            max_future: Duration(series.max_future),
            max_label_name_length: series.max_label_name_length,
            max_label_value_length: series.max_label_value_length,
            max_label_names_per_series: series.max_label_names_per_series,
            max_series_per_metric: series.max_series_per_metric,
            max_active_series_per_tenant: series.max_active_series,
            max_tenants: tenants.max_tenants,
            tenant_idle_close: Duration(tenants.idle_close),
            ingestion_rate: tenants.ingestion_rate,
            ingestion_burst_size: tenants.ingestion_burst_size,
            max_samples_per_request: tenants.max_samples_per_request,
            max_line_size: ByteSize(logs.max_line_size as u64),
            max_line_size_truncate: logs.max_line_size_truncate,
            max_structured_metadata_size: ByteSize(logs.max_structured_metadata_size as u64),
            max_structured_metadata_entries_count: logs.max_structured_metadata_entries,
            max_global_streams_per_user: logs.max_streams_per_tenant,
        }
    }
}

impl Limits {
    pub fn series_limits(&self) -> lookout_store::SeriesLimits {
        lookout_store::SeriesLimits {
            max_future: self.max_future.0,
            max_label_name_length: self.max_label_name_length,
            max_label_value_length: self.max_label_value_length,
            max_label_names_per_series: self.max_label_names_per_series,
            max_series_per_metric: self.max_series_per_metric,
            max_active_series: self.max_active_series_per_tenant,
        }
    }

    /// The limits on log lines (Loki push, OTLP, syslog); label limits are the series'.
    pub fn log_limits(&self) -> lookout_collector::logs::LogLimits {
        lookout_collector::logs::LogLimits {
            max_line_size: self.max_line_size.0 as usize,
            max_line_size_truncate: self.max_line_size_truncate,
            max_label_names_per_stream: self.max_label_names_per_series,
            max_label_name_length: self.max_label_name_length,
            max_label_value_length: self.max_label_value_length,
            max_structured_metadata_size: self.max_structured_metadata_size.0 as usize,
            max_structured_metadata_entries: self.max_structured_metadata_entries_count,
            max_future_ms: self.max_future.0,
            max_streams_per_tenant: self.max_global_streams_per_user,
            max_decoded_bytes: self.max_decoded_body_size.0 as usize,
        }
    }

    pub fn tenant_limits(&self) -> lookout_store::TenantLimits {
        lookout_store::TenantLimits {
            max_tenants: self.max_tenants,
            idle_close: self.tenant_idle_close.0,
            ingestion_rate: self.ingestion_rate,
            ingestion_burst_size: self.ingestion_burst_size,
            max_samples_per_request: self.max_samples_per_request,
        }
    }
}

/// How often Lookout scrapes its own `/metrics` when the config has no `scrape_configs`.
const SELF_SCRAPE_INTERVAL_MS: u64 = 15_000;

impl Config {
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let cfg: Config = serde_yaml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{}", locate(text, &e.to_string())))?;
        let errors = cfg.validate();
        if !errors.is_empty() {
            let located: Vec<String> = errors.iter().map(|e| locate(text, e)).collect();
            anyhow::bail!("{}", located.join("\n"));
        }
        Ok(cfg)
    }

    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("config file {} is invalid", path.display()))
    }

    /// Every problem a parsed config has, each its own message (the YAML itself parsed, so
    /// these are values out of range; a YAML error stops at the first, as serde does).
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Err(e) = check_listen(&self.listen) {
            errors.push(e);
        }
        if !self.otlp.grpc_listen.is_empty() {
            if let Err(e) = check_listen(&self.otlp.grpc_listen) {
                errors.push(format!("otlp.grpc_{e}"));
            }
        }
        for (i, l) in self.syslog.iter().enumerate() {
            if let Err(e) = l.check() {
                errors.push(format!("syslog[{i}]: {e}"));
            }
        }
        if self.block_duration.0 < 60_000 {
            errors.push(format!(
                "block_duration: {} is too short: use at least 1m (2h is the default)",
                self.block_duration
            ));
        }
        if self.maintenance_interval.0 < 100 {
            errors.push(format!(
                "maintenance_interval: {} is too short: use at least 100ms (30s is the default)",
                self.maintenance_interval
            ));
        }
        if self.query.lookback_delta.0 < 1 {
            errors.push("query.lookback_delta must be positive (5m is the default)".into());
        }
        if self.query.timeout.0 < 1 {
            errors.push("query.timeout must be positive (2m is the default)".into());
        }
        if self.query.max_samples == 0 {
            errors.push("query.max_samples must be positive (50000000 is the default)".into());
        }
        if self.query.max_length.0 == 0 {
            errors.push("query.max_length must be positive (128KiB is the default)".into());
        }
        if !(1..=2000).contains(&self.query.max_depth) {
            errors.push(
                "query.max_depth must be between 1 and 2000: deeper queries would overflow the \
                 evaluator's stack (500 is the default)"
                    .into(),
            );
        }
        if !(0..=19).contains(&self.query.nice) {
            errors.push("query.nice must be between 0 and 19 (10 is the default)".into());
        }
        if self.limits.ingestion_rate < 0.0 || !self.limits.ingestion_rate.is_finite() {
            errors.push(format!(
                "limits.ingestion_rate: {} is invalid: use samples per second, 0 for no limit",
                self.limits.ingestion_rate
            ));
        }
        errors.extend(self.alerting.validate());
        match self.scrape_jobs(None) {
            Ok(jobs) => {
                if let Err(e) = lookout_collector::scrape::manager::check(&jobs) {
                    errors.push(e.to_string());
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
        errors
    }

    /// The scrape jobs with `global:` defaults applied. Without a `scrape_configs` key,
    /// one job scrapes Lookout itself at `self_addr` (none when `self_addr` is None).
    pub fn scrape_jobs(
        &self,
        self_addr: Option<&str>,
    ) -> anyhow::Result<Vec<lookout_collector::scrape::ScrapeConfig>> {
        let jobs = match (&self.scrape_configs, self_addr) {
            (Some(j), _) => j.clone(),
            (None, Some(a)) => {
                // Every 15s whatever `global.scrape_interval` says, as documented.
                let mut j = lookout_collector::scrape::ScrapeConfig::static_job("lookout", a);
                j.scrape_interval = Some(lookout_collector::scrape::config::PromDuration(
                    SELF_SCRAPE_INTERVAL_MS,
                ));
                vec![j]
            }
            (None, None) => vec![],
        };
        lookout_collector::scrape::config::resolve(&self.global, &jobs)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// `listen:` must be host:port (`0.0.0.0:9700`, `[::1]:9700`, `localhost:9700`).
fn check_listen(listen: &str) -> Result<(), String> {
    let bad = |why: &str| {
        format!("listen: {listen:?} is invalid: {why}; write host:port, e.g. 0.0.0.0:9700")
    };
    let (host, port) = listen
        .rsplit_once(':')
        .ok_or_else(|| bad("there is no port"))?;
    port.parse::<u16>()
        .map_err(|_| bad(&format!("{port:?} is not a port number")))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad("the host is missing"));
    }
    if host.parse::<std::net::IpAddr>().is_err()
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(bad(&format!(
            "{host:?} is neither an IP address nor a host name"
        )));
    }
    Ok(())
}

/// Gives an error the line it is about. serde_yaml places errors raised while reading a
/// value at the start of the enclosing mapping, or nowhere; the offending value or key,
/// quoted in the message, finds the right line.
fn locate(text: &str, msg: &str) -> String {
    let base = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    let key_line = |k: &str| {
        text.lines().position(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .starts_with(&format!("{k}:"))
        })
    };
    let unknown = base
        .split("unknown field `")
        .nth(1)
        .and_then(|r| r.split('`').next());
    let quoted = base.split('"').nth(1).filter(|q| !q.is_empty());
    let key = base
        .split(':')
        .next()
        .and_then(|k| k.rsplit('.').next())
        .filter(|k| !k.contains(' '));
    let found = match (unknown, quoted) {
        (Some(u), _) => key_line(u),
        (None, Some(q)) => text.lines().position(|l| l.contains(q)),
        (None, None) if msg.contains(" at line ") => return msg.to_string(),
        (None, None) => key.and_then(key_line),
    };
    match found {
        Some(n) => format!("{base} at line {}", n + 1),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_default() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.listen, "0.0.0.0:9700");
        assert_eq!(c.retention.time.0, 15 * 86_400_000);
    }

    #[test]
    fn reads_keys() {
        let c = Config::parse("listen: 127.0.0.1:1\nretention: {time: 1d, size: 10GiB}\nmulti_tenant: true\nblock_duration: 1h\n").unwrap();
        assert_eq!(c.listen, "127.0.0.1:1");
        assert_eq!(c.retention.size.0, 10 << 30);
        assert!(c.multi_tenant);
        assert_eq!(c.block_duration.0, 3_600_000);
    }

    #[test]
    fn unknown_keys_name_their_line() {
        let e = Config::parse("listen: 127.0.0.1:1\nretention:\n  time: 1d\n  sise: 1GB\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sise") && e.contains("line 4"), "{e}");
        let e = Config::parse("data: ./d\nbogus: 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn bad_values_say_what_to_write_and_where() {
        let e = Config::parse("block_duration: 2 hours\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("15s") && e.contains("line 1"), "{e}");
        let e = Config::parse("listen: x\nretention:\n  time: 1d\n  size: -5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("negative") && e.contains("line 4"), "{e}");
        let e = Config::parse("data: d\nretention:\n  time: 1d\n  size: lots\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("512MiB") && e.contains("line 4"), "{e}");
        let e = Config::parse("data: d\nblock_duration: 10s\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("too short") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn every_error_is_reported_and_listen_is_checked() {
        let e = Config::parse("listen: nowhere\nblock_duration: 10s\nmaintenance_interval: 1ms\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen") && e.contains("line 1"), "{e}");
        assert!(e.contains("too short") && e.contains("line 2"), "{e}");
        assert!(
            e.contains("maintenance_interval") && e.contains("line 3"),
            "{e}"
        );
        for ok in ["0.0.0.0:9700", "[::1]:9700", "localhost:1", "127.0.0.1:0"] {
            assert!(check_listen(ok).is_ok(), "{ok}");
        }
        for bad in ["x", ":9700", "host:port", "a b:1", "1.2.3.4:70000"] {
            assert!(check_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_section() {
        let c =
            Config::parse("query:\n  lookback_delta: 1m\n  timeout: 30s\n  max_samples: 1000\n")
                .unwrap();
        assert_eq!(c.query.lookback_delta.0, 60_000);
        assert_eq!(c.query.timeout.0, 30_000);
        assert_eq!(c.query.max_samples, 1000);
        assert_eq!(Config::default().query.timeout.0, 120_000);
        let e = Config::parse("query:\n  lookback: 1m\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lookback") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn without_scrape_configs_lookout_scrapes_itself() {
        let jobs = Config::default()
            .scrape_jobs(Some("127.0.0.1:9700"))
            .unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].job_name, "lookout");
        assert_eq!(jobs[0].static_configs[0].targets, vec!["127.0.0.1:9700"]);
        // The documented 15s (lookout.example.yaml, README), not global's 1m.
        assert_eq!(jobs[0].scrape_interval.unwrap().0, 15_000);
        let c = Config::parse("scrape_configs: []\n").unwrap();
        assert!(c.scrape_jobs(Some("127.0.0.1:9700")).unwrap().is_empty());
        let c = Config::parse("global: {scrape_interval: 15s}\nscrape_configs:\n  - job_name: a\n")
            .unwrap();
        assert_eq!(
            c.scrape_jobs(None).unwrap()[0].scrape_interval.unwrap().0,
            15_000
        );
    }

    #[test]
    fn scrape_config_errors_name_their_line() {
        let e =
            Config::parse("listen: x\nscrape_configs:\n  - job_name: a\n    honor_lables: true\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("honor_lables") && e.contains("line 4"), "{e}");
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../lookout.example.yaml");
        Config::parse(text).unwrap();
    }
}
