//! Plain webhooks without an Alertmanager: alerts grouped by `group_by` and notified with
//! Alertmanager's timing (`group_wait` before a new group's first notification,
//! `group_interval` between notifications of a changed group, `repeat_interval` before an
//! unchanged one is sent again) in Alertmanager's webhook payload (version 4).
//!
//! The groups and what each last notified are saved next to the receiver's queue after
//! every change, so a restart neither forgets a pending notification nor repeats one
//! before `repeat_interval`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::alert::Notification;
use crate::http::prometheus::rules::rfc3339;

/// One `alerting.webhooks` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// Labels that group alerts into one notification; `[...]`: every label (one alert per
    /// group); empty: all alerts in one group.
    #[serde(default)]
    pub group_by: Vec<String>,
    #[serde(default = "d30s", with = "dur")]
    pub group_wait: i64,
    #[serde(default = "d5m", with = "dur")]
    pub group_interval: i64,
    #[serde(default = "d4h", with = "dur")]
    pub repeat_interval: i64,
    /// Whether resolved alerts are notified (Alertmanager's `send_resolved`).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Most alerts in one payload (0: all); the rest are counted in `truncatedAlerts`.
    #[serde(default)]
    pub max_alerts: usize,
    #[serde(default = "d10s", with = "dur")]
    pub timeout: i64,
}

fn d30s() -> i64 {
    30_000
}
fn d5m() -> i64 {
    300_000
}
fn d4h() -> i64 {
    4 * 3_600_000
}
fn d10s() -> i64 {
    10_000
}
fn yes() -> bool {
    true
}

/// Durations as Prometheus writes them, in milliseconds.
pub mod dur {
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        crate::promqltest::values::parse_duration(&s)
            .map_err(|e| de::Error::custom(format!("{e}: use e.g. 30s, 5m, 4h")))
    }

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v}ms"))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct GroupState {
    labels: BTreeMap<String, String>,
    /// Alerts by fingerprint.
    alerts: BTreeMap<String, Notification>,
    /// When the group is next looked at (ms); the first time, creation + group_wait.
    next_flush: i64,
    /// When it was last notified (ms; 0: never).
    last_notified: i64,
    /// Fingerprints notified as firing, and as resolved, at the last notification.
    firing_sent: BTreeSet<String>,
    resolved_sent: BTreeSet<String>,
}

/// The saved aggregation state's format version.
const STATE_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    groups: BTreeMap<String, GroupState>,
}

/// A webhook's groups.
pub struct Aggregator {
    pub cfg: WebhookConfig,
    groups: BTreeMap<String, GroupState>,
    path: PathBuf,
}

/// Alertmanager's fingerprint of a label set (hex of a 64-bit hash).
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
        h.update(&[0xff]);
    }
    format!("{:016x}", h.digest())
}

impl Aggregator {
    /// Loads the saved groups from `path` (none: a fresh start). Saved groups are not
    /// looked at before one `group_interval` from `now`: the rules need a few evaluations
    /// after a restart to re-send their alerts, which would otherwise look expired.
    pub fn open(cfg: WebhookConfig, path: &Path, now: i64) -> Aggregator {
        let mut groups: BTreeMap<String, GroupState> = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Saved>(&b).ok())
            .filter(|s| s.format == STATE_FORMAT)
            .map(|s| s.groups)
            .unwrap_or_default();
        for g in groups.values_mut() {
            g.next_flush = g.next_flush.max(now + cfg.group_interval);
        }
        Aggregator {
            cfg,
            groups,
            path: path.to_path_buf(),
        }
    }

    fn save(&self) {
        let saved = Saved {
            format: STATE_FORMAT,
            groups: self.groups.clone(),
        };
        let tmp = self.path.with_extension("tmp");
        let r = serde_json::to_vec(&saved)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = r {
            tracing::warn!(error = %e, path = %self.path.display(), "cannot save webhook groups");
        }
    }

    fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        if self.cfg.group_by.iter().any(|g| g == "...") {
            return labels.clone();
        }
        self.cfg
            .group_by
            .iter()
            .filter_map(|k| labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    }

    /// Takes alerts from the rules.
    pub fn add(&mut self, alerts: &[Notification], now: i64) {
        for a in alerts {
            let gl = self.group_labels(&a.labels);
            let key = group_key(&gl);
            let fp = fingerprint(&a.labels);
            if a.resolved
                && !self
                    .groups
                    .get(&key)
                    .is_some_and(|g| g.alerts.contains_key(&fp))
            {
                // Resolved before this receiver held it (or already notified and gone).
                continue;
            }
            let wait = self.cfg.group_wait;
            let g = self.groups.entry(key).or_insert_with(|| GroupState {
                labels: gl,
                next_flush: now + wait,
                ..Default::default()
            });
            g.alerts.insert(fp, a.clone());
        }
        self.save();
    }

    /// The payloads due at `now`, with the groups updated as notified.
    pub fn flush(
        &mut self,
        now: i64,
        receiver: &str,
        external_url: &str,
    ) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let mut changed = false;
        let cfg = self.cfg.clone();
        for (key, g) in self.groups.iter_mut() {
            if g.next_flush > now {
                continue;
            }
            changed = true;
            // An alert the rules stopped re-sending has expired: it counts as resolved.
            for a in g.alerts.values_mut() {
                if !a.resolved && a.ends_at_ms > 0 && a.ends_at_ms < now {
                    a.resolved = true;
                }
            }
            let firing: BTreeSet<String> = g
                .alerts
                .iter()
                .filter(|(_, a)| !a.resolved)
                .map(|(f, _)| f.clone())
                .collect();
            let resolved: BTreeSet<String> = g
                .alerts
                .iter()
                .filter(|(f, a)| {
                    a.resolved && (g.firing_sent.contains(*f) || g.resolved_sent.contains(*f))
                })
                .map(|(f, _)| f.clone())
                .collect();
            let new_firing = !firing.is_subset(&g.firing_sent);
            let new_resolved = cfg.send_resolved && !resolved.is_subset(&g.resolved_sent);
            let repeat = !firing.is_empty()
                && g.last_notified > 0
                && now - g.last_notified >= cfg.repeat_interval;
            if new_firing || new_resolved || repeat {
                let mut alerts: Vec<&Notification> = g
                    .alerts
                    .iter()
                    .filter(|(f, _)| {
                        firing.contains(*f) || (cfg.send_resolved && resolved.contains(*f))
                    })
                    .map(|(_, a)| a)
                    .collect();
                alerts.sort_by_key(|a| a.resolved);
                out.push(payload(
                    &cfg,
                    key,
                    &g.labels,
                    &alerts,
                    receiver,
                    external_url,
                ));
                g.last_notified = now;
                g.firing_sent = firing.clone();
                g.resolved_sent = resolved.clone();
            }
            // Resolved alerts that were notified (or never were firing) leave the group.
            let fs = &g.firing_sent;
            g.alerts.retain(|f, a| {
                !a.resolved || (fs.contains(f) && !g.resolved_sent.contains(f) && cfg.send_resolved)
            });
            g.next_flush = now + cfg.group_interval;
        }
        self.groups.retain(|_, g| !g.alerts.is_empty());
        if changed {
            self.save();
        }
        out
    }

    /// When the next group is due (ms), if any.
    pub fn next_due(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush).min()
    }
}

/// Alertmanager's group key for a route without matchers: `{}:{a="1"}`.
fn group_key(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", super::super::template::gofmt::go_quote(v)))
        .collect();
    format!("{{}}:{{{}}}", parts.join(", "))
}

/// Alertmanager's webhook payload, version 4.
fn payload(
    cfg: &WebhookConfig,
    key: &str,
    group_labels: &BTreeMap<String, String>,
    alerts: &[&Notification],
    receiver: &str,
    external_url: &str,
) -> serde_json::Value {
    let common = |f: &dyn Fn(&Notification) -> &BTreeMap<String, String>| {
        let mut c: BTreeMap<String, String> =
            alerts.first().map(|a| f(a).clone()).unwrap_or_default();
        for a in alerts.iter().skip(1) {
            c.retain(|k, v| f(a).get(k) == Some(v));
        }
        c
    };
    let firing = alerts.iter().any(|a| !a.resolved);
    let total = alerts.len();
    let shown = if cfg.max_alerts > 0 {
        total.min(cfg.max_alerts)
    } else {
        total
    };
    let items: Vec<serde_json::Value> = alerts[..shown]
        .iter()
        .map(|a| {
            json!({
                "status": if a.resolved { "resolved" } else { "firing" },
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at_ms),
                "endsAt": if a.resolved { rfc3339(a.ends_at_ms) } else { rfc3339(0) },
                "generatorURL": a.generator_url,
                "fingerprint": fingerprint(&a.labels),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": key,
        "truncatedAlerts": total - shown,
        "status": if firing { "firing" } else { "resolved" },
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": common(&|a| &a.labels),
        "commonAnnotations": common(&|a| &a.annotations),
        "externalURL": external_url,
        "alerts": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, inst: &str, resolved: bool, ends: i64) -> Notification {
        let labels: BTreeMap<String, String> = [("alertname", name), ("instance", inst)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Notification {
            labels,
            annotations: BTreeMap::new(),
            starts_at_ms: 1_000,
            ends_at_ms: ends,
            resolved,
            generator_url: String::new(),
        }
    }

    #[test]
    fn groups_wait_repeat_and_resolve_like_alertmanager() {
        let dir = tempfile::tempdir().unwrap();
        let cfg: WebhookConfig = serde_yaml::from_str(
            "{url: 'http://x', group_by: [alertname], group_wait: 10s, group_interval: 1m, repeat_interval: 1h}",
        )
        .unwrap();
        let path = dir.path().join("groups.json");
        let mut agg = Aggregator::open(cfg.clone(), &path, 0);
        agg.add(
            &[
                alert("A", "1", false, 1e9 as i64),
                alert("A", "2", false, 1e9 as i64),
            ],
            0,
        );
        assert!(agg.flush(5_000, "r", "").is_empty(), "group_wait not over");
        let p = agg.flush(10_000, "r", "");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0]["alerts"].as_array().unwrap().len(), 2);
        assert_eq!(p[0]["groupKey"], "{}:{alertname=\"A\"}");
        assert_eq!(p[0]["commonLabels"]["alertname"], "A");
        // Same alerts re-sent by the rules: nothing new until repeat_interval.
        agg.add(&[alert("A", "1", false, 1e9 as i64)], 60_000);
        assert!(agg.flush(70_000, "r", "").is_empty());
        // A restart keeps what was notified.
        let mut agg = Aggregator::open(cfg, &path, 70_000);
        assert!(agg.flush(130_000, "r", "").is_empty());
        agg.add(&[alert("A", "1", true, 140_000)], 140_000);
        let p = agg.flush(190_000, "r", "");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0]["status"], "firing");
        assert_eq!(p[0]["alerts"][1]["status"], "resolved");
        let p = agg.flush(3_800_000, "r", "");
        assert_eq!(p.len(), 1, "repeat after repeat_interval");
        assert_eq!(p[0]["alerts"].as_array().unwrap().len(), 1);
    }
}
