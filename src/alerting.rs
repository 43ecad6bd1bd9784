//! `rule_files:`, `log_rule_files:` and `alerting:` in lookout.yaml: Prometheus' keys (`alertmanagers` with
//! `static_configs`, `scheme`, `path_prefix`, `timeout`, `api_version`;
//! `alert_relabel_configs`), Lookout's `webhooks`, and the rule manager's settings that
//! Prometheus takes as flags (`external_url`, `resend_delay`, `for_grace_period`,
//! `for_outage_tolerance`). Loads rule files and applies all of it to the running rule
//! manager and notifier, at start and on every reload.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use lookout_collector::scrape::config::StaticConfig;
use lookout_collector::scrape::relabel::{RelabelConfig, Relabeler};
use lookout_query::rules::expr::Lang;
use lookout_query::rules::file::{self, LoadedFile};
use lookout_query::rules::group::GroupDefaults;
use lookout_query::rules::notify::webhook::WebhookConfig;
use lookout_query::rules::notify::{AlertmanagerTarget, NotifierConfig, RelabelFn};
use lookout_query::rules::{Manager, Settings};
use serde::Deserialize;

use crate::config::Config;
use crate::duration::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    pub alertmanagers: Vec<AlertmanagerConfig>,
    pub alert_relabel_configs: Vec<RelabelConfig>,
    pub webhooks: Vec<WebhookConfig>,
    /// The URL Lookout is reached at: `$externalURL` and alerts' generatorURL
    /// (Prometheus' `--web.external-url`).
    pub external_url: String,
    /// Least time between two sends of a still-firing alert (`--rules.alert.resend-delay`).
    pub resend_delay: Duration,
    /// Least time an alert restored after a restart waits before it fires
    /// (`--rules.alert.for-grace-period`).
    pub for_grace_period: Duration,
    /// How long an outage may be for an alert's pending time to be restored
    /// (`--rules.alert.for-outage-tolerance`).
    pub for_outage_tolerance: Duration,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            alertmanagers: vec![],
            alert_relabel_configs: vec![],
            webhooks: vec![],
            external_url: String::new(),
            resend_delay: Duration(60_000),
            for_grace_period: Duration(600_000),
            for_outage_tolerance: Duration(3_600_000),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    #[serde(default = "http")]
    pub scheme: String,
    #[serde(default)]
    pub path_prefix: String,
    #[serde(default = "ten_seconds")]
    pub timeout: Duration,
    #[serde(default = "v2")]
    pub api_version: String,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default)]
    pub alert_relabel_configs: Vec<RelabelConfig>,
}

fn http() -> String {
    "http".into()
}
fn ten_seconds() -> Duration {
    Duration(10_000)
}
fn v2() -> String {
    "v2".into()
}

impl AlertingConfig {
    /// Problems serde cannot see, each its own message.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (i, am) in self.alertmanagers.iter().enumerate() {
            if am.api_version != "v2" {
                errors.push(format!("alerting.alertmanagers[{i}].api_version: {:?} is not supported: Alertmanager has only API v2 since 0.27; write v2", am.api_version));
            }
            if am.scheme != "http" && am.scheme != "https" {
                errors.push(format!(
                    "alerting.alertmanagers[{i}].scheme: {:?} is invalid: use http or https",
                    am.scheme
                ));
            }
            if let Err(e) = Relabeler::new(&am.alert_relabel_configs) {
                errors.push(format!(
                    "alerting.alertmanagers[{i}].alert_relabel_configs: {e}"
                ));
            }
        }
        if let Err(e) = Relabeler::new(&self.alert_relabel_configs) {
            errors.push(format!("alerting.alert_relabel_configs: {e}"));
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                errors.push(format!(
                    "alerting.webhooks[{i}].url: {:?} is invalid: write an http:// or https:// URL",
                    w.url
                ));
            }
            if w.group_interval <= 0 || w.repeat_interval <= 0 {
                errors.push(format!(
                    "alerting.webhooks[{i}]: group_interval and repeat_interval must be positive"
                ));
            }
        }
        errors
    }

    pub fn notifier_config(&self, cfg: &Config) -> anyhow::Result<NotifierConfig> {
        let mut ams = Vec::new();
        for am in &self.alertmanagers {
            let relabel = relabel_fn(&am.alert_relabel_configs)?;
            let prefix = am.path_prefix.trim_matches('/');
            for sc in &am.static_configs {
                for t in &sc.targets {
                    let base = if prefix.is_empty() {
                        format!("{}://{t}", am.scheme)
                    } else {
                        format!("{}://{t}/{prefix}", am.scheme)
                    };
                    ams.push(AlertmanagerTarget {
                        url: format!("{base}/api/v2/alerts"),
                        timeout: std::time::Duration::from_millis(am.timeout.0.max(1) as u64),
                        relabel: relabel.clone(),
                    });
                }
            }
        }
        Ok(NotifierConfig {
            alertmanagers: ams,
            webhooks: self.webhooks.clone(),
            external_labels: cfg.global.external_labels.clone(),
            external_url: self.external_url.clone(),
            relabel: relabel_fn(&self.alert_relabel_configs)?,
        })
    }

    pub fn rule_settings(&self, cfg: &Config) -> Settings {
        Settings {
            defaults: GroupDefaults {
                interval_ms: cfg.global.evaluation_interval.0 as i64,
                resend_delay_ms: self.resend_delay.0,
            },
            external_labels: cfg.global.external_labels.clone(),
            external_url: self.external_url.clone(),
            outage_tolerance_ms: self.for_outage_tolerance.0,
            for_grace_period_ms: self.for_grace_period.0,
        }
    }
}

fn relabel_fn(cfgs: &[RelabelConfig]) -> anyhow::Result<Option<RelabelFn>> {
    if cfgs.is_empty() {
        return Ok(None);
    }
    let r = Relabeler::new(cfgs).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(Arc::new(
        move |labels: &mut std::collections::BTreeMap<String, String>| r.process(labels),
    )))
}

/// Every rule file `rule_files` (PromQL) and `log_rule_files` (LogQL) name, loaded and
/// checked; relative patterns are read from the config file's directory.
pub fn load_rule_files(
    cfg: &Config,
    config_path: Option<&Path>,
) -> anyhow::Result<Vec<LoadedFile>> {
    let base = config_path
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for (patterns, lang) in [
        (&cfg.rule_files, Lang::Promql),
        (&cfg.log_rule_files, Lang::Logql),
    ] {
        let paths = file::expand(patterns, &base).map_err(|e| anyhow::anyhow!("{e}"))?;
        for p in paths {
            match file::load_as(&p, lang) {
                Ok(f) => files.push(f),
                Err(e) => errors.extend(e),
            }
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(files)
}

/// Loads the rule files and applies rules and notification settings.
pub fn apply(
    cfg: &Config,
    config_path: Option<&Path>,
    manager: &Manager,
    notifier: &lookout_query::rules::notify::Notifier,
) -> anyhow::Result<usize> {
    let files = load_rule_files(cfg, config_path)?;
    notifier
        .apply(cfg.alerting.notifier_config(cfg)?)
        .context("cannot open the notification queues")?;
    manager
        .apply(&files, cfg.alerting.rule_settings(cfg))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(files.iter().map(|f| f.file.groups.len()).sum())
}
