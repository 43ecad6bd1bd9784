//! Alerting rules: the states an alert goes through (pending, firing, inactive), `for` and
//! `keep_firing_for`, templated labels and annotations, the `ALERTS` and
//! `ALERTS_FOR_STATE` series, the for-state restored after a restart, and which alerts are
//! due to be sent. The transitions follow Prometheus' `rules/alerting.go` step by step.

use std::collections::BTreeMap;

use lookout_store::{Labels, Matcher};

use super::eval::{to_labels, to_map, write_with_staleness, Env, Health, RuleStatus};
use super::expr::RuleExpr;
use super::template::{alert_dot, expand_alert_text};

/// How long a resolved alert is still sent to Alertmanager, so it learns of the resolution
/// even if a send failed (Prometheus' `resolvedRetention`).
const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule: one label set of the rule's result. Times are ms since the
/// epoch; 0 means "not yet".
#[derive(Debug, Clone)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: i64,
    pub resolved_at: i64,
    pub last_sent_at: i64,
    pub valid_until: i64,
    pub keep_firing_since: i64,
    /// The rule's evaluation (its `generation`) that last returned this label set.
    pub seen_in: u64,
    /// The labels of its `ALERTS` and `ALERTS_FOR_STATE` series, built once per state
    /// rather than on every evaluation.
    series: Option<AlertSeries>,
}

#[derive(Debug, Clone)]
struct AlertSeries {
    state: AlertState,
    alerts: Labels,
    for_state: Labels,
}

impl Alert {
    /// The labels of its `ALERTS` series (in its current state) and `ALERTS_FOR_STATE`.
    fn series_labels(&mut self) -> (Labels, Labels) {
        let state = self.state;
        if self.series.as_ref().is_some_and(|s| s.state != state) {
            self.series = None;
        }
        let labels = &self.labels;
        let s = self.series.get_or_insert_with(|| AlertSeries {
            state,
            alerts: series_labels(labels, "ALERTS", Some(state)),
            for_state: series_labels(labels, "ALERTS_FOR_STATE", None),
        });
        (s.alerts.clone(), s.for_state.clone())
    }

    fn needs_sending(&self, ts: i64, resend_delay: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        // Resolved since it was last sent: send the resolution now.
        if self.resolved_at > 0 && self.resolved_at > self.last_sent_at {
            return true;
        }
        self.last_sent_at + resend_delay <= ts
    }
}

/// An alert as handed to notifiers (Alertmanager's `postableAlert`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    /// When the alert stops being valid unless re-sent; the resolution time once resolved.
    pub ends_at_ms: i64,
    pub resolved: bool,
    pub generator_url: String,
}

#[derive(Debug, Clone)]
pub struct AlertingRule {
    pub name: String,
    pub expr_text: String,
    pub expr: RuleExpr,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    /// The group's labels overlaid with the rule's (templates, expanded per alert).
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Active alerts by label set.
    pub active: BTreeMap<BTreeMap<String, String>, Alert>,
    /// Whether the for-state was restored (or needs no restoring); until then `ALERTS`
    /// and `ALERTS_FOR_STATE` are not written, as in Prometheus.
    pub restored: bool,
    pub status: RuleStatus,
    /// Counts evaluations, to tell which active alerts the latest one returned.
    pub generation: u64,
}

impl AlertingRule {
    /// One evaluation at `ts` (the group's time; queries run at `ts - offset`). Returns
    /// how many series it wrote.
    pub fn eval(
        &mut self,
        env: &Env<'_>,
        ts: i64,
        offset: i64,
        limit: usize,
    ) -> Result<usize, String> {
        let qt = ts - offset;
        let vector = env.eval_rule(&self.expr_text, &self.expr, qt)?;
        let query = env.template_query(qt);
        self.generation += 1;
        let generation = self.generation;
        let mut found: BTreeMap<BTreeMap<String, String>, Alert> = BTreeMap::new();
        let external = std::sync::Arc::new(env.external_labels.clone());
        for s in &vector {
            let smap = to_map(&s.labels);
            let mut labels = smap.clone();
            let dot = alert_dot(smap, &external, env.external_url, s.v);
            let expand = |text: &str| expand_alert_text(text, &dot, env.external_url, &query);
            labels.remove("__name__");
            for (k, v) in &self.labels {
                let e = expand(v);
                if e.is_empty() {
                    labels.remove(k);
                } else {
                    labels.insert(k.clone(), e);
                }
            }
            labels.insert("alertname".into(), self.name.clone());
            let annotations: BTreeMap<String, String> = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), expand(v)))
                .collect();
            if found.contains_key(&labels) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            found.insert(
                labels.clone(),
                Alert {
                    labels,
                    annotations,
                    state: AlertState::Pending,
                    value: s.v,
                    active_at: ts,
                    fired_at: 0,
                    resolved_at: 0,
                    last_sent_at: 0,
                    valid_until: 0,
                    keep_firing_since: 0,
                    seen_in: generation,
                    series: None,
                },
            );
        }
        for (key, a) in found {
            match self.active.get_mut(&key) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations;
                    old.seen_in = generation;
                }
                _ => {
                    self.active.insert(key, a);
                }
            }
        }
        let mut out: Vec<(Labels, f64)> = Vec::new();
        let mut active_count = 0;
        let mut gone = Vec::new();
        for (key, a) in self.active.iter_mut() {
            if a.seen_in != generation {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    if a.keep_firing_since == 0 {
                        a.keep_firing_since = ts;
                    }
                    keep_firing = ts - a.keep_firing_since < self.keep_firing_for_ms;
                }
                if !keep_firing {
                    if a.state == AlertState::Pending
                        || (a.resolved_at > 0 && ts - a.resolved_at > RESOLVED_RETENTION_MS)
                    {
                        gone.push(key.clone());
                    }
                    if a.state != AlertState::Inactive {
                        a.state = AlertState::Inactive;
                        a.resolved_at = ts;
                    }
                    continue;
                }
            } else {
                a.keep_firing_since = 0;
            }
            active_count += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= self.for_ms {
                a.state = AlertState::Firing;
                a.fired_at = ts;
            }
            if self.restored {
                let (alerts, for_state) = a.series_labels();
                out.push((alerts, 1.0));
                out.push((for_state, (a.active_at / 1000) as f64));
            }
        }
        for k in gone {
            self.active.remove(&k);
        }
        if limit > 0 && active_count > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {active_count} alerts"
            ));
        }
        let n = out.len();
        write_with_staleness(env, &mut self.status, out, qt)?;
        Ok(n)
    }

    pub fn record(&mut self, t_ms: i64, took: f64, r: &Result<usize, String>) {
        self.status.last_evaluation_ms = t_ms;
        self.status.evaluation_seconds = took;
        match r {
            Ok(_) => {
                self.status.health = Health::Ok;
                self.status.last_error = None;
            }
            Err(e) => {
                self.status.health = Health::Err;
                self.status.last_error = Some(e.clone());
            }
        }
    }

    /// The rule's state: the most advanced of its alerts'.
    pub fn state(&self) -> AlertState {
        let mut s = AlertState::Inactive;
        for a in self.active.values() {
            if a.state == AlertState::Firing {
                return AlertState::Firing;
            }
            if a.state == AlertState::Pending {
                s = AlertState::Pending;
            }
        }
        s
    }

    /// Alerts due to be sent at `ts`, marked as sent (Prometheus' `sendAlerts`).
    pub fn due(
        &mut self,
        ts: i64,
        resend_delay: i64,
        interval: i64,
        external_url: &str,
    ) -> Vec<Notification> {
        let url = generator_url(external_url, &self.expr_text);
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if !a.needs_sending(ts, resend_delay) {
                continue;
            }
            a.last_sent_at = ts;
            a.valid_until = ts + 4 * interval.max(resend_delay);
            let resolved = a.resolved_at > 0 && a.state == AlertState::Inactive;
            out.push(Notification {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at_ms: a.fired_at,
                ends_at_ms: if resolved {
                    a.resolved_at
                } else {
                    a.valid_until
                },
                resolved,
                generator_url: url.clone(),
            });
        }
        out
    }

    /// Prometheus' `RestoreForState` for this rule: each active alert takes back the
    /// `activeAt` its last `ALERTS_FOR_STATE` sample (within `outage_tolerance` of `ts`)
    /// recorded, shifted so that the downtime does not count against `for`, and never
    /// firing sooner than `grace` after the restart.
    pub fn restore_for_state(&mut self, env: &Env<'_>, ts: i64, outage_tolerance: i64, grace: i64) {
        self.restored = true;
        if self.for_ms < grace {
            return;
        }
        let budget = crate::budget::Budget::unlimited(std::time::Duration::from_secs(60));
        for a in self.active.values_mut() {
            let labels = series_labels(&a.labels, "ALERTS_FOR_STATE", None);
            let mut matchers = Vec::with_capacity(labels.len());
            for l in labels.iter() {
                matchers.push(Matcher::equal(l.name.clone(), l.value.clone()));
            }
            let Ok(series) = env
                .storage
                .select(&matchers, ts - outage_tolerance, ts, &budget)
            else {
                continue;
            };
            let Some(last) = series
                .iter()
                .filter(|s| s.labels == labels)
                .flat_map(|s| s.samples.iter())
                .filter(|s| !lookout_store::model::is_stale_nan(s.v))
                .max_by_key(|s| s.t)
            else {
                continue;
            };
            let mut active_at = (last.v as i64) * 1000;
            let down_at = (last.t / 1000) * 1000;
            let remaining = self.for_ms - (down_at - active_at);
            if remaining <= 0 {
                // It was firing when Lookout stopped: it fires again at the next evaluation.
            } else if remaining < grace {
                active_at = ts + grace - self.for_ms;
            } else {
                active_at += ts - down_at;
            }
            a.active_at = active_at;
        }
    }
}

/// `ALERTS{alertstate=…, <alert labels>}` or `ALERTS_FOR_STATE{<alert labels>}`.
fn series_labels(
    labels: &BTreeMap<String, String>,
    name: &str,
    state: Option<AlertState>,
) -> Labels {
    let mut m = labels.clone();
    m.insert("__name__".into(), name.into());
    if let Some(s) = state {
        m.insert("alertstate".into(), s.as_str().into());
    }
    to_labels(&m)
}

/// Prometheus' link back to the expression: `<external URL>/graph?g0.expr=…&g0.tab=1`.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let q: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
    format!(
        "{}/graph?g0.expr={q}&g0.tab=1",
        external_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests;
