//! Configuration reloads: `POST /-/reload` and SIGHUP re-read the config file and apply
//! its `global:` and `scrape_configs:` to the running scrape manager, which keeps the
//! targets that did not change, and `rule_files:` and `alerting:` to the rule manager and
//! notifier, which keep the state of groups and receivers that stay. Other sections take effect at the next start. A config
//! that does not load leaves the running one in place and says why.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use lookout_collector::scrape::Manager;

use crate::config::Config;
use lookout_query::http::buildinfo::ConfigStatus;

/// The YAML `/api/v1/status/config` shows for a server started without `--config`.
pub const DEFAULTS_YAML: &str =
    "# no config file: Lookout's built-in defaults (documented in lookout.example.yaml)\n";

pub struct Reloader {
    /// The config file; None: the embedded defaults.
    pub path: Option<PathBuf>,
    /// Where Lookout scrapes itself when the config has no `scrape_configs`; None: never.
    pub self_addr: Option<String>,
    pub manager: Manager,
    /// What `/api/v1/status/config` and runtimeinfo report.
    pub status: Arc<ConfigStatus>,
    pub rules: lookout_query::rules::Manager,
    pub notifier: lookout_query::rules::notify::Notifier,
}

impl Reloader {
    pub async fn reload(&self) -> anyhow::Result<()> {
        let r = self.try_reload().await;
        if r.is_err() {
            self.status.failed();
        }
        r
    }

    async fn try_reload(&self) -> anyhow::Result<()> {
        let (cfg, yaml) = match &self.path {
            Some(p) => (
                Config::load(p)?,
                std::fs::read_to_string(p).unwrap_or_default(),
            ),
            None => (Config::default(), DEFAULTS_YAML.to_string()),
        };
        let jobs = cfg.scrape_jobs(self.self_addr.as_deref())?;
        let n = jobs.len();
        // Rule files first: a broken one leaves everything as it was.
        let groups =
            crate::alerting::apply(&cfg, self.path.as_deref(), &self.rules, &self.notifier)?;
        self.manager.apply(jobs).await?;
        self.status.loaded(yaml);
        tracing::info!(jobs = n, groups, "configuration reloaded");
        Ok(())
    }
}

pub fn routes(r: Arc<Reloader>) -> Router {
    Router::new()
        .route("/-/reload", post(reload).put(reload))
        .with_state(r)
}

async fn reload(State(r): State<Arc<Reloader>>) -> (StatusCode, String) {
    match r.reload().await {
        Ok(()) => (StatusCode::OK, String::new()),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "reload failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {e:#}\n"),
            )
        }
    }
}

/// Reloads on every SIGHUP until the process ends.
pub fn spawn_sighup(r: Arc<Reloader>) {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP");
                return;
            }
        };
        while hup.recv().await.is_some() {
            if let Err(e) = r.reload().await {
                tracing::warn!(error = format!("{e:#}"), "reload on SIGHUP failed");
            }
        }
    });
}
