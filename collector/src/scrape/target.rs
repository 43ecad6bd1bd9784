//! A scrape target: what discovery found (`discoveredLabels`), what relabeling made of it
//! (`labels`, the URL, interval and timeout), and its health as the API shows it.
//! [`populate`] follows Prometheus' `PopulateLabels`: defaults for `job`, `__scheme__`,
//! `__metrics_path__`, `__param_*`, `__scrape_interval__`, `__scrape_timeout__`, then
//! `relabel_configs`, then `instance` defaulting to `__address__`, then every `__` label
//! removed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lookout_store::MetricMetadata;
use parking_lot::Mutex;

use super::config::{PromDuration, ScrapeConfig};
use super::relabel::{LabelMap, Relabeler};

/// Targets with common labels, from `static_configs` or a file_sd file. `source` labels
/// (`__meta_filepath`) are merged under the group's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// What the last scrape left; read by `/api/v1/targets`.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    pub health: Health,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_duration: Duration,
    pub last_samples: u64,
    /// HELP/TYPE/UNIT of the target's last successful scrape, sorted by metric.
    pub metadata: Arc<Vec<MetricMetadata>>,
}

#[derive(Debug)]
pub struct Target {
    pub pool: String,
    /// Final labels: attached to every scraped series.
    pub labels: LabelMap,
    /// Labels before relabeling.
    pub discovered: LabelMap,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Identity within its pool: labels and URL. A reload that yields the same hash (and an
    /// unchanged job) keeps the running scrape loop.
    pub hash: u64,
    pub status: Mutex<TargetStatus>,
}

impl Target {
    pub fn status(&self) -> TargetStatus {
        self.status.lock().clone()
    }
}

/// A target that relabeling dropped (or whose labels are unusable).
#[derive(Debug, Clone)]
pub struct DroppedTarget {
    pub discovered: LabelMap,
    pub reason: String,
}

/// Builds the targets of a job from its discovered groups, deduplicated by hash.
pub fn populate(
    cfg: &ScrapeConfig,
    relabel: &Relabeler,
    groups: &[TargetGroup],
) -> (Vec<Target>, Vec<DroppedTarget>) {
    let mut active: Vec<Target> = Vec::new();
    let mut dropped = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for g in groups {
        for addr in &g.targets {
            let mut lb: LabelMap = g.labels.clone();
            if !g.source.is_empty() && !lb.contains_key("__meta_filepath") {
                lb.insert("__meta_filepath".into(), g.source.clone());
            }
            lb.insert("__address__".into(), addr.clone());
            let defaults = [
                ("job", cfg.job_name.clone()),
                ("__scheme__", cfg.scheme.clone()),
                ("__metrics_path__", cfg.metrics_path.clone()),
                (
                    "__scrape_interval__",
                    cfg.scrape_interval.unwrap_or_default().to_string(),
                ),
                (
                    "__scrape_timeout__",
                    cfg.scrape_timeout.unwrap_or_default().to_string(),
                ),
            ];
            for (k, v) in defaults {
                lb.entry(k.into()).or_insert(v);
            }
            for (k, vs) in &cfg.params {
                if let Some(v) = vs.first() {
                    lb.entry(format!("__param_{k}"))
                        .or_insert_with(|| v.clone());
                }
            }
            let discovered = lb.clone();
            match finish(cfg, relabel, lb) {
                Ok(t) => {
                    if seen.insert(t.hash) {
                        active.push(Target { discovered, ..t });
                    }
                }
                Err(reason) => dropped.push(DroppedTarget { discovered, reason }),
            }
        }
    }
    (active, dropped)
}

fn finish(cfg: &ScrapeConfig, relabel: &Relabeler, mut lb: LabelMap) -> Result<Target, String> {
    if !relabel.process(&mut lb) {
        return Err("dropped by relabel_configs".into());
    }
    let addr = match lb.get("__address__") {
        Some(a) if !a.is_empty() => a.clone(),
        _ => return Err("no __address__ label after relabeling".into()),
    };
    if addr.contains('/') {
        return Err(format!("__address__ {addr:?} must be host:port"));
    }
    let get = |k: &str| lb.get(k).cloned().unwrap_or_default();
    let interval = PromDuration::parse(&get("__scrape_interval__"))
        .map_err(|e| format!("__scrape_interval__: {e}"))?;
    let timeout = PromDuration::parse(&get("__scrape_timeout__"))
        .map_err(|e| format!("__scrape_timeout__: {e}"))?;
    if interval.0 == 0 || timeout.0 == 0 || timeout > interval {
        return Err(format!(
            "scrape timeout {timeout} must be above 0 and at most the interval {interval}"
        ));
    }
    let scheme = get("__scheme__");
    let path = get("__metrics_path__");
    let mut url = reqwest::Url::parse(&format!("{scheme}://{addr}{path}"))
        .map_err(|e| format!("cannot build a URL from {scheme}://{addr}{path}: {e}"))?;
    {
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, vs) in &cfg.params {
            let first = lb.get(&format!("__param_{k}"));
            for (i, v) in vs.iter().enumerate() {
                let v = if i == 0 { first.unwrap_or(v) } else { v };
                params.push((k.clone(), v.clone()));
            }
        }
        for (k, v) in &lb {
            if let Some(p) = k.strip_prefix("__param_") {
                if !cfg.params.contains_key(p) {
                    params.push((p.to_string(), v.clone()));
                }
            }
        }
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
    }
    if !lb.contains_key("instance") {
        lb.insert("instance".into(), addr);
    }
    lb.retain(|k, v| !k.starts_with("__") && !v.is_empty());
    for k in lb.keys() {
        if !lookout_store::model::labels::is_valid_label_name(k) {
            return Err(format!("label name {k:?} is invalid"));
        }
    }
    let url = url.to_string();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (k, v) in &lb {
        h.update(k.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
        h.update(&[0xff]);
    }
    h.update(url.as_bytes());
    Ok(Target {
        pool: cfg.job_name.clone(),
        labels: lb,
        discovered: LabelMap::new(),
        url,
        interval: interval.as_std(),
        timeout: timeout.as_std(),
        hash: h.digest(),
        status: Mutex::new(TargetStatus {
            health: Health::Unknown,
            last_error: String::new(),
            last_scrape: None,
            last_duration: Duration::ZERO,
            last_samples: 0,
            metadata: Arc::new(Vec::new()),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::config::{resolve, GlobalConfig};

    fn job(y: &str) -> (ScrapeConfig, Relabeler) {
        let j: Vec<ScrapeConfig> = serde_yaml::from_str(y).unwrap();
        let j = resolve(&GlobalConfig::default(), &j).unwrap().remove(0);
        let r = Relabeler::new(&j.relabel_configs).unwrap();
        (j, r)
    }

    fn group(targets: &[&str], labels: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            targets: targets.iter().map(|s| s.to_string()).collect(),
            labels: labels
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            source: String::new(),
        }
    }

    #[test]
    fn defaults_instance_and_url() {
        let (j, r) = job("- job_name: node\n  params:\n    collect[]: [cpu, meminfo]\n");
        let (a, d) = populate(&j, &r, &[group(&["h:9100"], &[("env", "prod")])]);
        assert!(d.is_empty());
        let t = &a[0];
        assert_eq!(t.labels.get("instance").unwrap(), "h:9100");
        assert_eq!(t.labels.get("job").unwrap(), "node");
        assert_eq!(t.labels.get("env").unwrap(), "prod");
        assert!(!t.labels.keys().any(|k| k.starts_with("__")));
        assert_eq!(
            t.url,
            "http://h:9100/metrics?collect%5B%5D=cpu&collect%5B%5D=meminfo"
        );
        assert_eq!(t.discovered.get("__metrics_path__").unwrap(), "/metrics");
        assert_eq!(t.discovered.get("__param_collect[]").unwrap(), "cpu");
        assert_eq!(t.interval, Duration::from_secs(60));
    }

    #[test]
    fn relabeling_shapes_targets() {
        let (j, r) = job("- job_name: bb
  metrics_path: /probe
  relabel_configs:
    - {source_labels: [__address__], target_label: __param_target}
    - {source_labels: [__param_target], target_label: instance}
    - {target_label: __address__, replacement: '127.0.0.1:9115'}
    - {source_labels: [__meta_filepath], regex: '.*skip.*', action: drop}
    - {source_labels: [__address__], target_label: __tmp_x}
    - {target_label: __scrape_interval__, replacement: 5s}
    - {target_label: __scrape_timeout__, replacement: 2s}
");
        let mut g = group(&["example.com", "example.com"], &[]);
        let mut skip = group(&["other"], &[]);
        skip.source = "/etc/skip.json".into();
        g.source = "/etc/t.json".into();
        let (a, d) = populate(&j, &r, &[g, skip]);
        assert_eq!(a.len(), 1, "duplicates collapse");
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].discovered.get("__meta_filepath").unwrap(),
            "/etc/skip.json"
        );
        let t = &a[0];
        assert_eq!(t.url, "http://127.0.0.1:9115/probe?target=example.com");
        assert_eq!(t.labels.get("instance").unwrap(), "example.com");
        assert!(!t.labels.contains_key("__tmp_x"));
        assert_eq!(t.interval, Duration::from_secs(5));
    }
}
