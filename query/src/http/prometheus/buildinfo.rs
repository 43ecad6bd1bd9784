//! What this server is, in Prometheus' shapes: `/api/v1/status/buildinfo`,
//! `/api/v1/status/runtimeinfo`, `/api/v1/status/flags` and `/api/v1/status/config`.
//!
//! buildinfo claims a Prometheus version: Grafana's datasource gates features on it
//! (`match[]` on label endpoints from 2.24, and more in 3.x), and it must carry no
//! `features` key, which would make Grafana take the server for Mimir and try its ruler
//! API. Lookout's own version travels in the extra `lookoutVersion` field.

use std::sync::OnceLock;
use std::time::SystemTime;

use parking_lot::Mutex;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::http::errors::success;
use crate::http::QueryState;

/// The Prometheus release whose HTTP API and PromQL this server follows.
pub const PROMETHEUS_VERSION: &str = "3.5.0";

/// The configuration as last loaded and how the last reload went: the binary, which owns
/// `lookout.yaml`, records each load here; `/api/v1/status/config` and runtimeinfo read it.
pub struct ConfigStatus {
    inner: Mutex<ConfigState>,
}

struct ConfigState {
    yaml: String,
    reload_ok: bool,
    loaded_at: SystemTime,
}

impl ConfigStatus {
    pub fn new(yaml: String) -> std::sync::Arc<ConfigStatus> {
        std::sync::Arc::new(ConfigStatus {
            inner: Mutex::new(ConfigState {
                yaml,
                reload_ok: true,
                loaded_at: SystemTime::now(),
            }),
        })
    }

    /// A reload applied `yaml`.
    pub fn loaded(&self, yaml: String) {
        let mut i = self.inner.lock();
        i.yaml = yaml;
        i.reload_ok = true;
        i.loaded_at = SystemTime::now();
    }

    /// A reload failed; the running configuration stays.
    pub fn failed(&self) {
        self.inner.lock().reload_ok = false;
    }
}

/// When the query API was built (the process start, near enough); for runtimeinfo.
static STARTED: OnceLock<SystemTime> = OnceLock::new();

pub fn routes() -> Router<QueryState> {
    STARTED.get_or_init(SystemTime::now);
    Router::new()
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/status/runtimeinfo", get(runtimeinfo))
        .route("/api/v1/status/flags", get(flags))
        .route("/api/v1/status/config", get(config))
}

async fn buildinfo() -> Response {
    success(json!({
        "version": PROMETHEUS_VERSION,
        "revision": option_env!("LOOKOUT_GIT_REVISION").unwrap_or("unknown"),
        "branch": option_env!("LOOKOUT_GIT_BRANCH").unwrap_or("unknown"),
        "buildUser": "lookout",
        "buildDate": option_env!("LOOKOUT_BUILD_DATE").unwrap_or("unknown"),
        // Not Go: the field is kept because clients read it.
        "goVersion": "n/a",
        "lookoutVersion": env!("CARGO_PKG_VERSION"),
    }))
}

fn rfc3339(t: SystemTime) -> String {
    let t: chrono::DateTime<chrono::Utc> = t.into();
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn runtimeinfo(State(st): State<QueryState>) -> Response {
    let started = STARTED.get().copied().unwrap_or_else(SystemTime::now);
    let (reload_ok, loaded_at) = {
        let c = st.config.inner.lock();
        (c.reload_ok, c.loaded_at)
    };
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    success(json!({
        "startTime": rfc3339(started),
        "CWD": cwd,
        "reloadConfigSuccess": reload_ok,
        "lastConfigTime": rfc3339(loaded_at),
        "corruptionCount": 0,
        "goroutineCount": 0,
        "GOMAXPROCS": threads,
        "GOMEMLIMIT": i64::MAX,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": "",
    }))
}

/// Prometheus' flag names for the settings Lookout has, with their values.
async fn flags(State(st): State<QueryState>) -> Response {
    let o = &st.engine.opts;
    success(json!({
        "query.lookback-delta": duration_text(o.lookback_delta_ms),
        "query.max-samples": o.max_samples.to_string(),
        "query.timeout": duration_text(o.timeout.as_millis() as i64),
    }))
}

/// The loaded `lookout.yaml`, as Prometheus answers with its own YAML.
async fn config(State(st): State<QueryState>) -> Response {
    let yaml = st.config.inner.lock().yaml.clone();
    success(json!({ "yaml": yaml }))
}

/// Milliseconds as a Prometheus duration string: `5m`, `1h30m`, `1500ms` (the store's one
/// writer of durations, which its limit messages use too).
fn duration_text(ms: i64) -> String {
    lookout_store::limits::fmt_ms(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_text(300_000), "5m");
        assert_eq!(duration_text(120_000), "2m");
        assert_eq!(duration_text(5_400_500), "1h30m500ms");
        assert_eq!(duration_text(0), "0s");
    }
}
