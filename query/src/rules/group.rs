//! A rule group: its rules evaluated in order at every iteration (so a rule sees what the
//! rules before it recorded), its timing, and the counters behind its self-metrics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use super::alert::{AlertingRule, Notification};
use super::eval::{Env, RuleStatus};
use super::expr::{Lang, RuleExpr};
use super::file::GroupSpec;
use super::recording::RecordingRule;

#[derive(Debug, Clone)]
pub enum Rule {
    Recording(RecordingRule),
    Alerting(AlertingRule),
}

impl Rule {
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.name,
            Rule::Alerting(r) => &r.name,
        }
    }

    pub fn status(&self) -> &RuleStatus {
        match self {
            Rule::Recording(r) => &r.status,
            Rule::Alerting(r) => &r.status,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Rule::Recording(_) => "recording",
            Rule::Alerting(_) => "alerting",
        }
    }
}

/// Settings shared by every group.
#[derive(Debug, Clone)]
pub struct GroupDefaults {
    /// `global.evaluation_interval`, for groups without `interval`.
    pub interval_ms: i64,
    /// Prometheus' `--rules.alert.resend-delay`.
    pub resend_delay_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub file: PathBuf,
    pub name: String,
    pub lang: Lang,
    pub interval_ms: i64,
    pub query_offset_ms: i64,
    pub limit: usize,
    pub rules: Vec<Rule>,
    /// Evaluation time of the last iteration (ms; 0: never) and how long it took.
    pub last_evaluation_ms: i64,
    pub last_duration_s: f64,
    pub last_samples: usize,
    pub iterations: u64,
    pub iterations_missed: u64,
    pub evaluations: u64,
    pub evaluation_failures: u64,
}

impl Group {
    /// Builds a group from its spec, its expressions in `lang`; they were checked when
    /// the file loaded.
    pub fn new(
        file: PathBuf,
        spec: &GroupSpec,
        lang: Lang,
        defaults: &GroupDefaults,
    ) -> Result<Group, String> {
        let mut rules = Vec::with_capacity(spec.rules.len());
        for r in &spec.rules {
            let expr = RuleExpr::parse(lang, &r.expr)
                .map_err(|e| format!("group {:?}, rule {:?}: {e}", spec.name, r.name()))?;
            let mut labels = spec.labels.clone();
            labels.extend(r.labels.clone());
            rules.push(match (&r.record, &r.alert) {
                (Some(name), None) => Rule::Recording(RecordingRule {
                    name: name.clone(),
                    expr_text: r.expr.clone(),
                    expr,
                    labels,
                    status: RuleStatus::default(),
                }),
                (None, Some(name)) => Rule::Alerting(AlertingRule {
                    name: name.clone(),
                    expr_text: r.expr.clone(),
                    expr,
                    for_ms: r.for_.map_or(0, |d| d.0),
                    keep_firing_for_ms: r.keep_firing_for.map_or(0, |d| d.0),
                    labels,
                    annotations: r.annotations.clone(),
                    active: BTreeMap::new(),
                    restored: false,
                    status: RuleStatus::default(),
                    generation: 0,
                }),
                _ => {
                    return Err(format!(
                        "group {:?}: a rule must be record or alert",
                        spec.name
                    ))
                }
            });
        }
        Ok(Group {
            file,
            name: spec.name.clone(),
            lang,
            interval_ms: spec.interval.map_or(defaults.interval_ms, |d| d.0).max(1),
            query_offset_ms: spec.query_offset.map_or(0, |d| d.0),
            limit: spec.limit,
            rules,
            last_evaluation_ms: 0,
            last_duration_s: 0.0,
            last_samples: 0,
            iterations: 0,
            iterations_missed: 0,
            evaluations: 0,
            evaluation_failures: 0,
        })
    }

    /// `file;name`, the `rule_group` label of the group's metrics.
    pub fn key(&self) -> String {
        format!("{};{}", self.file.display(), self.name)
    }

    /// The first evaluation time at or after `now`: groups are spread over their interval
    /// by a hash of their key (Prometheus' `EvalTimestamp`), so a thousand groups with the
    /// same interval do not all run at the same instant.
    pub fn next_eval_at(&self, now: i64) -> i64 {
        let offset =
            (xxhash_rust::xxh3::xxh3_64(self.key().as_bytes()) % self.interval_ms as u64) as i64;
        let base = now - (now - offset).rem_euclid(self.interval_ms);
        if base < now {
            base + self.interval_ms
        } else {
            base
        }
    }

    /// Evaluates every rule at `ts`, in order; returns the alerts due for sending.
    pub fn eval(&mut self, env: &Env<'_>, ts: i64, resend_delay_ms: i64) -> Vec<Notification> {
        let started = Instant::now();
        let mut samples = 0;
        let mut due = Vec::new();
        let (offset, limit, interval) = (self.query_offset_ms, self.limit, self.interval_ms);
        for rule in &mut self.rules {
            let t0 = Instant::now();
            self.evaluations += 1;
            let r = match rule {
                Rule::Recording(r) => {
                    let res = r.eval(env, ts - offset, limit);
                    r.record(ts, t0.elapsed().as_secs_f64(), &res);
                    res
                }
                Rule::Alerting(r) => {
                    let res = r.eval(env, ts, offset, limit);
                    r.record(ts, t0.elapsed().as_secs_f64(), &res);
                    due.extend(r.due(ts, resend_delay_ms, interval, env.external_url));
                    res
                }
            };
            match r {
                Ok(n) => samples += n,
                Err(e) => {
                    self.evaluation_failures += 1;
                    tracing::warn!(group = %self.name, rule = %rule.name(), kind = rule.kind(), error = %e, "rule evaluation failed");
                }
            }
        }
        self.iterations += 1;
        self.last_evaluation_ms = ts;
        self.last_duration_s = started.elapsed().as_secs_f64();
        self.last_samples = samples;
        due
    }

    /// Restores the for-state of every alerting rule (after the evaluation that follows
    /// the first one, as Prometheus does, so recording rules had a round to catch up).
    pub fn restore_for_state(&mut self, env: &Env<'_>, ts: i64, outage_tolerance: i64, grace: i64) {
        for rule in &mut self.rules {
            if let Rule::Alerting(r) = rule {
                r.restore_for_state(env, ts, outage_tolerance, grace);
            }
        }
    }

    /// Marks every alerting rule restored (the test runner, and groups that replaced a
    /// running one on reload).
    pub fn set_restored(&mut self) {
        for rule in &mut self.rules {
            if let Rule::Alerting(r) = rule {
                r.restored = true;
            }
        }
    }

    /// Takes over the state of the group this one replaces on reload: alerts, health and
    /// series written, rule by rule where name and kind match (Prometheus' `CopyState`).
    pub fn copy_state(&mut self, old: &Group) {
        self.last_evaluation_ms = old.last_evaluation_ms;
        self.last_duration_s = old.last_duration_s;
        self.iterations = old.iterations;
        self.iterations_missed = old.iterations_missed;
        self.evaluations = old.evaluations;
        self.evaluation_failures = old.evaluation_failures;
        let mut used = vec![false; old.rules.len()];
        for rule in &mut self.rules {
            let Some(i) =
                old.rules.iter().enumerate().position(|(i, o)| {
                    !used[i] && o.name() == rule.name() && o.kind() == rule.kind()
                })
            else {
                continue;
            };
            used[i] = true;
            match (rule, &old.rules[i]) {
                (Rule::Recording(n), Rule::Recording(o)) => n.status = o.status.clone(),
                (Rule::Alerting(n), Rule::Alerting(o)) => {
                    n.status = o.status.clone();
                    n.active = o.active.clone();
                    n.restored = o.restored;
                }
                _ => {}
            }
        }
    }

    /// Every series the group's rules last wrote: a removed group marks them stale.
    pub fn written_series(&self) -> Vec<lookout_store::Labels> {
        self.rules
            .iter()
            .flat_map(|r| r.status().last_series.iter().cloned())
            .collect()
    }
}
