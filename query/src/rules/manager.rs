//! The running rule groups of `lookout serve`: one task per group on the server's clock,
//! evaluations off the async runtime, reloads that keep the state of groups that stay,
//! and the for-state restored at startup. Alerts due for sending go to an [`AlertSender`].

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use lookout_store::{Append, Clock, ReadLogs, SeriesSamples, Store, TenantId};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use super::alert::Notification;
use super::eval::{Env, Sink};
use super::expr::LogSource;
use super::file::LoadedFile;
use super::group::{Group, GroupDefaults};
use crate::logql::LogqlEngine;
use crate::promql::{Engine, StoreQueryable};

/// Where alerts due for sending go (the notifier in `lookout serve`).
pub trait AlertSender: Send + Sync {
    fn send(&self, alerts: Vec<Notification>);
}

/// Settings from `global:` and `alerting:` that rules read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub defaults: GroupDefaults,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    /// How far back the for-state is looked for at startup (Prometheus'
    /// `--rules.alert.for-outage-tolerance`, 1h).
    pub outage_tolerance_ms: i64,
    /// The least time an alert waits after a restart before it fires again
    /// (`--rules.alert.for-grace-period`, 10m).
    pub for_grace_period_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            defaults: GroupDefaults {
                interval_ms: 60_000,
                resend_delay_ms: 60_000,
            },
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
        }
    }
}

struct Running {
    key: String,
    group: Arc<Mutex<Group>>,
    stop: watch::Sender<bool>,
}

/// What the manager's LogQL rules read.
#[derive(Clone)]
pub struct LogRules {
    pub logs: Arc<dyn ReadLogs>,
    pub engine: LogqlEngine,
}

struct Inner {
    store: Arc<Store>,
    logs: Option<LogRules>,
    tenant: TenantId,
    engine: Engine,
    clock: Clock,
    settings: RwLock<Settings>,
    groups: Mutex<Vec<Running>>,
    sender: Arc<dyn AlertSender>,
    /// Whether the first set of groups was applied: groups added by later reloads have
    /// no for-state to restore.
    started: Mutex<bool>,
}

/// The rule groups evaluating now. Cheap to clone.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

/// Writes rule output through the store's normal append path.
struct StoreSink<'a> {
    store: &'a Store,
    tenant: &'a TenantId,
}

impl Sink for StoreSink<'_> {
    fn append(&self, batch: &[SeriesSamples]) -> Result<(), String> {
        Append::append(self.store, self.tenant, batch).map_err(|e| e.to_string())
    }
}

impl Manager {
    pub fn new(
        store: Arc<Store>,
        engine: Engine,
        clock: Clock,
        sender: Arc<dyn AlertSender>,
        logs: Option<LogRules>,
    ) -> Manager {
        Manager {
            inner: Arc::new(Inner {
                store,
                logs,
                tenant: TenantId::default_tenant(),
                engine,
                clock,
                settings: RwLock::new(Settings::default()),
                groups: Mutex::new(Vec::new()),
                sender,
                started: Mutex::new(false),
            }),
        }
    }

    /// Replaces the running groups with those of `files`. A group with the same file and
    /// name as a running one takes over its alerts and health; removed groups stop and
    /// their series get staleness markers. Nothing changes if a group cannot be built.
    pub fn apply(&self, files: &[LoadedFile], settings: Settings) -> Result<(), String> {
        let mut new_groups = Vec::new();
        for f in files {
            for spec in &f.file.groups {
                new_groups.push(Group::new(
                    f.path.clone(),
                    spec,
                    f.lang,
                    &settings.defaults,
                )?);
            }
        }
        *self.inner.settings.write() = settings;
        let first = {
            let mut s = self.inner.started.lock();
            let first = !*s;
            *s = true;
            first
        };
        let mut running = self.inner.groups.lock();
        let mut old: BTreeMap<String, Running> =
            running.drain(..).map(|r| (r.key.clone(), r)).collect();
        for mut g in new_groups {
            let key = g.key();
            let restore = match old.remove(&key) {
                Some(prev) => {
                    let _ = prev.stop.send(true);
                    g.copy_state(&prev.group.lock());
                    false
                }
                None if first => true,
                None => {
                    g.set_restored();
                    false
                }
            };
            let group = Arc::new(Mutex::new(g));
            let (tx, rx) = watch::channel(false);
            tokio::spawn(run(self.inner.clone(), group.clone(), rx, restore));
            running.push(Running {
                key,
                group,
                stop: tx,
            });
        }
        for (_, gone) in old {
            let _ = gone.stop.send(true);
            let series = gone.group.lock().written_series();
            self.write_stale(series);
        }
        Ok(())
    }

    fn write_stale(&self, series: Vec<lookout_store::Labels>) {
        if series.is_empty() {
            return;
        }
        let t = self.inner.clock.now_ms();
        let batch: Vec<SeriesSamples> = series
            .into_iter()
            .map(|labels| SeriesSamples {
                labels,
                samples: vec![lookout_store::Sample::new(
                    t,
                    lookout_store::model::STALE_NAN,
                )],
            })
            .collect();
        if let Err(e) = Append::append(&*self.inner.store, &self.inner.tenant, &batch) {
            tracing::warn!(error = %e, "cannot mark a removed group's series stale");
        }
    }

    /// Stops every group.
    pub fn stop(&self) {
        for r in self.inner.groups.lock().iter() {
            let _ = r.stop.send(true);
        }
    }

    /// The running groups, in file and group order.
    pub fn groups(&self) -> Vec<Arc<Mutex<Group>>> {
        self.inner
            .groups
            .lock()
            .iter()
            .map(|r| r.group.clone())
            .collect()
    }

    pub fn settings(&self) -> Settings {
        self.inner.settings.read().clone()
    }

    /// Prometheus' rule metrics (`prometheus_rule_*`), one series per group.
    pub fn render_metrics(&self, out: &mut String) {
        // Only the figures are copied under each group's lock: cloning a group would copy
        // every active alert, which costs more than the group's own evaluation.
        let groups: Vec<(String, [f64; 9])> = self
            .groups()
            .iter()
            .map(|g| {
                let g = g.lock();
                let figures = [
                    g.evaluations as f64,
                    g.evaluation_failures as f64,
                    (g.iterations + g.iterations_missed) as f64,
                    g.iterations_missed as f64,
                    g.interval_ms as f64 / 1000.0,
                    g.last_duration_s,
                    g.last_evaluation_ms as f64 / 1000.0,
                    g.last_samples as f64,
                    g.rules.len() as f64,
                ];
                (g.key().replace('\\', "\\\\").replace('"', "\\\""), figures)
            })
            .collect();
        let metrics: [(&str, &str, &str); 9] = [
            ("prometheus_rule_evaluations_total", "counter", "The total number of rule evaluations."),
            ("prometheus_rule_evaluation_failures_total", "counter", "The total number of rule evaluation failures."),
            ("prometheus_rule_group_iterations_total", "counter", "The total number of scheduled rule group evaluations, whether executed or missed."),
            ("prometheus_rule_group_iterations_missed_total", "counter", "The total number of rule group evaluations missed due to slow rule group evaluation."),
            ("prometheus_rule_group_interval_seconds", "gauge", "The interval of a rule group."),
            ("prometheus_rule_group_last_duration_seconds", "gauge", "The duration of the last rule group evaluation."),
            ("prometheus_rule_group_last_evaluation_timestamp_seconds", "gauge", "The timestamp of the last rule group evaluation in seconds."),
            ("prometheus_rule_group_last_evaluation_samples", "gauge", "The number of samples returned during the last rule group evaluation."),
            ("prometheus_rule_group_rules", "gauge", "The number of rules."),
        ];
        for (i, (name, kind, help)) in metrics.into_iter().enumerate() {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (key, figures) in &groups {
                let _ = writeln!(out, "{name}{{rule_group=\"{key}\"}} {}", figures[i]);
            }
        }
    }
}

/// One group's loop: wait for its slot, evaluate, send what is due, count missed slots.
async fn run(
    inner: Arc<Inner>,
    group: Arc<Mutex<Group>>,
    mut stop: watch::Receiver<bool>,
    restore: bool,
) {
    let (interval, mut next) = {
        let g = group.lock();
        (g.interval_ms, g.next_eval_at(inner.clock.now_ms()))
    };
    let mut iteration: u64 = 0;
    loop {
        let wait = next - inner.clock.now_ms();
        if wait > 0 {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(wait as u64)) => {}
                _ = stop.changed() => return,
            }
        }
        if *stop.borrow() {
            return;
        }
        let late = inner.clock.now_ms() - next;
        if late >= interval {
            let missed = late / interval;
            group.lock().iterations_missed += missed as u64;
            next += missed * interval;
        }
        let ts = next;
        let restore_now = restore && iteration == 1;
        let (g, inn) = (group.clone(), inner.clone());
        let due = tokio::task::spawn_blocking(move || {
            // A group's rules are queries back to back: freed buffers are worth keeping
            // for the next rule rather than faulting them in again.
            let _memory = lookout_store::memory::Hint::query();
            let settings = inn.settings.read().clone();
            let storage = StoreQueryable {
                store: inn.store.clone(),
                tenant: inn.tenant.clone(),
            };
            let sink = StoreSink {
                store: &inn.store,
                tenant: &inn.tenant,
            };
            let log_source = inn.logs.as_ref().map(|l| LogSource {
                engine: &l.engine,
                logs: l.logs.as_ref(),
                tenant: &inn.tenant,
            });
            let env = Env {
                engine: &inn.engine,
                storage: &storage,
                sink: &sink,
                external_labels: &settings.external_labels,
                external_url: &settings.external_url,
                logs: log_source.as_ref(),
            };
            let mut g = g.lock();
            let due = g.eval(&env, ts, settings.defaults.resend_delay_ms);
            if restore_now {
                g.restore_for_state(
                    &env,
                    ts,
                    settings.outage_tolerance_ms,
                    settings.for_grace_period_ms,
                );
            }
            due
        })
        .await;
        match due {
            Ok(d) if !d.is_empty() => inner.sender.send(d),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "rule group evaluation panicked"),
        }
        iteration += 1;
        next += interval;
    }
}
