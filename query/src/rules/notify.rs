//! Sends alerts: to Alertmanagers through their API v2 (`POST /api/v2/alerts`) and to
//! plain webhooks (grouped, in Alertmanager's webhook payload), each receiver through its
//! own on-disk queue with retries and backoff, so nothing accepted is lost while a
//! receiver is down or Lookout restarts. External labels are added and
//! `alert_relabel_configs` applied (through a hook: relabeling lives in the collector,
//! which this crate must not depend on) before anything is queued.

pub mod queue;
pub mod webhook;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use lookout_store::Clock;
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::{watch, Notify};

use self::queue::DiskQueue;
use self::webhook::{Aggregator, WebhookConfig};
use super::alert::Notification;
use super::AlertSender;
use crate::http::prometheus::rules::rfc3339;

/// Applies relabeling to an alert's labels; false drops the alert.
pub type RelabelFn = Arc<dyn Fn(&mut BTreeMap<String, String>) -> bool + Send + Sync>;

/// One Alertmanager to send to.
#[derive(Clone)]
pub struct AlertmanagerTarget {
    /// `scheme://host:port/path_prefix/api/v2/alerts`.
    pub url: String,
    pub timeout: Duration,
    /// That Alertmanager's own `alert_relabel_configs` (after the global ones).
    pub relabel: Option<RelabelFn>,
}

/// What the notifier sends where.
#[derive(Clone, Default)]
pub struct NotifierConfig {
    pub alertmanagers: Vec<AlertmanagerTarget>,
    pub webhooks: Vec<WebhookConfig>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    /// Global `alert_relabel_configs`.
    pub relabel: Option<RelabelFn>,
}

/// A receiver a config asks for: URL, kind, webhook settings, relabeling, timeout.
type Wanted = (
    String,
    &'static str,
    Option<WebhookConfig>,
    Option<RelabelFn>,
    Duration,
);

/// Most payloads a receiver's queue holds before the oldest are dropped.
const QUEUE_CAPACITY: usize = 10_000;
/// Longest wait between two delivery attempts to a receiver that is down.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
}

struct Receiver {
    /// The label value in metrics: the Alertmanager's or the webhook's URL.
    url: String,
    kind: &'static str,
    queue: Arc<DiskQueue>,
    counters: Arc<Counters>,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    aggregator: Option<Arc<Mutex<Aggregator>>>,
    relabel: Option<RelabelFn>,
}

struct Inner {
    dir: PathBuf,
    clock: Clock,
    client: reqwest::Client,
    config: Mutex<NotifierConfig>,
    receivers: Mutex<Vec<Receiver>>,
}

/// Cheap to clone; all clones share the receivers.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

impl Notifier {
    /// A notifier keeping its queues under `dir` (`<data>/notify`).
    pub fn new(dir: PathBuf, clock: Clock) -> Notifier {
        Notifier {
            inner: Arc::new(Inner {
                dir,
                clock,
                client: reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .unwrap_or_else(|_| reqwest::Client::new()),
                config: Mutex::new(NotifierConfig::default()),
                receivers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Applies a configuration: receivers that stay keep their queues and groups.
    pub fn apply(&self, cfg: NotifierConfig) -> std::io::Result<()> {
        let mut wanted: Vec<Wanted> = Vec::new();
        for am in &cfg.alertmanagers {
            wanted.push((
                am.url.clone(),
                "alertmanager",
                None,
                am.relabel.clone(),
                am.timeout,
            ));
        }
        for w in &cfg.webhooks {
            wanted.push((
                w.url.clone(),
                "webhook",
                Some(w.clone()),
                None,
                Duration::from_millis(w.timeout.max(1) as u64),
            ));
        }
        let mut receivers = self.inner.receivers.lock();
        let mut old: Vec<Receiver> = receivers.drain(..).collect();
        for (url, kind, wh, relabel, timeout) in wanted {
            let id = format!("{kind}-{:016x}", xxhash_rust::xxh3::xxh3_64(url.as_bytes()));
            if let Some(i) = old.iter().position(|r| r.url == url && r.kind == kind) {
                let mut r = old.remove(i);
                r.relabel = relabel;
                if let (Some(agg), Some(w)) = (&r.aggregator, wh) {
                    agg.lock().cfg = w;
                }
                receivers.push(r);
                continue;
            }
            let dir = self.inner.dir.join(&id);
            let queue = Arc::new(DiskQueue::open(&dir.join("queue"), QUEUE_CAPACITY)?);
            let aggregator = wh.map(|w| {
                Arc::new(Mutex::new(Aggregator::open(
                    w,
                    &dir.join("groups.json"),
                    self.inner.clock.now_ms(),
                )))
            });
            let (stop, stop_rx) = watch::channel(false);
            let r = Receiver {
                url: url.clone(),
                kind,
                queue: queue.clone(),
                counters: Arc::default(),
                wake: Arc::new(Notify::new()),
                stop,
                aggregator: aggregator.clone(),
                relabel,
            };
            tokio::spawn(deliver(
                self.inner.client.clone(),
                url.clone(),
                timeout,
                queue,
                r.counters.clone(),
                r.wake.clone(),
                stop_rx.clone(),
            ));
            if let Some(agg) = aggregator {
                tokio::spawn(flush_loop(self.clone(), agg, id, r.wake.clone(), stop_rx));
            }
            receivers.push(r);
        }
        for r in old {
            let _ = r.stop.send(true);
        }
        *self.inner.config.lock() = cfg;
        Ok(())
    }

    /// The API v2 endpoints of the configured Alertmanagers.
    pub fn alertmanager_urls(&self) -> Vec<String> {
        self.inner
            .receivers
            .lock()
            .iter()
            .filter(|r| r.kind == "alertmanager")
            .map(|r| r.url.clone())
            .collect()
    }

    /// Stops every receiver's tasks; queued payloads stay on disk for the next start.
    pub fn stop(&self) {
        for r in self.inner.receivers.lock().iter() {
            let _ = r.stop.send(true);
        }
    }

    /// Prometheus' notifier metrics, one series per receiver.
    pub fn render_metrics(&self, out: &mut String) {
        let receivers = self.inner.receivers.lock();
        let metrics: [(&str, &str, &str); 5] = [
            (
                "prometheus_notifications_sent_total",
                "counter",
                "Total number of alerts sent.",
            ),
            (
                "prometheus_notifications_errors_total",
                "counter",
                "Total number of sent alerts affected by errors.",
            ),
            (
                "prometheus_notifications_dropped_total",
                "counter",
                "Total number of alerts dropped due to errors when sending to Alertmanager.",
            ),
            (
                "prometheus_notifications_queue_length",
                "gauge",
                "The number of alert notifications in the queue.",
            ),
            (
                "prometheus_notifications_queue_capacity",
                "gauge",
                "The capacity of the alert notifications queue.",
            ),
        ];
        for (name, kind, help) in metrics {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for r in receivers.iter() {
                let v = match name {
                    "prometheus_notifications_sent_total" => r.counters.sent.load(Relaxed),
                    "prometheus_notifications_errors_total" => r.counters.errors.load(Relaxed),
                    "prometheus_notifications_dropped_total" => r.counters.dropped.load(Relaxed),
                    "prometheus_notifications_queue_length" => r.queue.len() as u64,
                    _ => r.queue.capacity() as u64,
                };
                let url = r.url.replace('\\', "\\\\").replace('"', "\\\"");
                let _ = writeln!(out, "{name}{{{}=\"{url}\"}} {v}", r.kind);
            }
        }
        let n = receivers
            .iter()
            .filter(|r| r.kind == "alertmanager")
            .count();
        let _ = writeln!(out, "# HELP prometheus_notifications_alertmanagers_discovered The number of alertmanagers discovered and active.\n# TYPE prometheus_notifications_alertmanagers_discovered gauge\nprometheus_notifications_alertmanagers_discovered {n}");
    }
}

impl AlertSender for Notifier {
    fn send(&self, alerts: Vec<Notification>) {
        let cfg = self.inner.config.lock().clone();
        let mut labelled = Vec::with_capacity(alerts.len());
        for mut a in alerts {
            for (k, v) in &cfg.external_labels {
                a.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            if let Some(f) = &cfg.relabel {
                if !f(&mut a.labels) {
                    continue;
                }
            }
            labelled.push(a);
        }
        if labelled.is_empty() {
            return;
        }
        let now = self.inner.clock.now_ms();
        for r in self.inner.receivers.lock().iter() {
            let mine: Vec<Notification> = match &r.relabel {
                Some(f) => labelled
                    .iter()
                    .cloned()
                    .filter_map(|mut a| f(&mut a.labels).then_some(a))
                    .collect(),
                None => labelled.clone(),
            };
            if mine.is_empty() {
                continue;
            }
            match &r.aggregator {
                Some(agg) => {
                    agg.lock().add(&mine, now);
                    r.wake.notify_one();
                }
                None => {
                    let body: Vec<serde_json::Value> = mine.iter().map(postable).collect();
                    enqueue(r, &serde_json::Value::Array(body));
                }
            }
        }
    }
}

fn enqueue(r: &Receiver, body: &serde_json::Value) {
    match r.queue.push(body) {
        Ok(dropped) => {
            r.counters.dropped.fetch_add(dropped as u64, Relaxed);
            r.wake.notify_one();
        }
        Err(e) => {
            r.counters.dropped.fetch_add(1, Relaxed);
            tracing::error!(error = %e, receiver = %r.url, "cannot queue a notification");
        }
    }
}

/// Alertmanager API v2's `postableAlert`.
fn postable(a: &Notification) -> serde_json::Value {
    json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": rfc3339(a.starts_at_ms),
        "endsAt": rfc3339(a.ends_at_ms),
        "generatorURL": a.generator_url,
    })
}

/// A receiver's delivery loop: the oldest queued payload until the receiver takes it,
/// waiting longer after every failure (up to [`MAX_BACKOFF`]).
async fn deliver(
    client: reqwest::Client,
    url: String,
    timeout: Duration,
    queue: Arc<DiskQueue>,
    counters: Arc<Counters>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if *stop.borrow() {
            return;
        }
        let Some((seq, body)) = queue.peek() else {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
            continue;
        };
        let alerts = body
            .as_array()
            .map_or_else(|| body["alerts"].as_array().map_or(1, Vec::len), Vec::len)
            as u64;
        let r = client
            .post(&url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("user-agent", concat!("Lookout/", env!("CARGO_PKG_VERSION")))
            .body(body.to_string())
            .send()
            .await;
        match r {
            Ok(resp) if resp.status().is_success() => {
                queue.remove(seq);
                counters.sent.fetch_add(alerts, Relaxed);
                backoff = Duration::from_millis(200);
                continue;
            }
            Ok(resp) if resp.status().is_client_error() && resp.status().as_u16() != 429 => {
                // The receiver refuses this payload; retrying cannot help.
                tracing::warn!(receiver = %url, status = resp.status().as_u16(), "notification refused; dropping it");
                queue.remove(seq);
                counters.errors.fetch_add(alerts, Relaxed);
                counters.dropped.fetch_add(alerts, Relaxed);
                continue;
            }
            Ok(resp) => {
                tracing::warn!(receiver = %url, status = resp.status().as_u16(), "notification failed; will retry");
            }
            Err(e) => {
                tracing::warn!(receiver = %url, error = %e, "notification failed; will retry");
            }
        }
        counters.errors.fetch_add(alerts, Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A webhook's grouping loop: flushes due groups into the queue.
async fn flush_loop(
    n: Notifier,
    agg: Arc<Mutex<Aggregator>>,
    receiver: String,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let now = n.inner.clock.now_ms();
        let external_url = n.inner.config.lock().external_url.clone();
        let payloads = agg.lock().flush(now, &receiver, &external_url);
        if !payloads.is_empty() {
            let receivers = n.inner.receivers.lock();
            if let Some(r) = receivers
                .iter()
                .find(|r| r.aggregator.as_ref().is_some_and(|a| Arc::ptr_eq(a, &agg)))
            {
                for p in &payloads {
                    enqueue(r, p);
                }
            }
        }
        let next = agg.lock().next_due();
        let wait = next.map_or(1_000, |t| (t - n.inner.clock.now_ms()).clamp(10, 1_000));
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => return,
        }
    }
}
