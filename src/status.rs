//! The two status endpoints that report on the configuration, which only the binary knows:
//! `/api/v1/status/config` answers with the loaded `lookout.yaml` (as Prometheus answers
//! with its YAML), and `/api/v1/status/runtimeinfo`'s `reloadConfigSuccess` and
//! `lastConfigTime` follow reloads. The query crate serves the rest of runtimeinfo; this
//! middleware fills in those two fields on its way out.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use parking_lot::Mutex;
use serde_json::json;

/// The configuration as last loaded, and how the last reload went.
pub struct ConfigStatus {
    inner: Mutex<Inner>,
}

struct Inner {
    yaml: String,
    reload_ok: bool,
    loaded_at: SystemTime,
}

impl ConfigStatus {
    pub fn new(yaml: String) -> Arc<ConfigStatus> {
        Arc::new(ConfigStatus {
            inner: Mutex::new(Inner {
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

/// The YAML `/api/v1/status/config` shows for a server started without `--config`.
pub const DEFAULTS_YAML: &str =
    "# no config file: Lookout's built-in defaults (documented in lookout.example.yaml)\n";

pub async fn middleware(State(st): State<Arc<ConfigStatus>>, req: Request, next: Next) -> Response {
    match req.uri().path() {
        "/api/v1/status/config" => {
            let yaml = st.inner.lock().yaml.clone();
            Json(json!({"status": "success", "data": {"yaml": yaml}})).into_response()
        }
        "/api/v1/status/runtimeinfo" => {
            let resp = next.run(req).await;
            if !resp.status().is_success() {
                return resp;
            }
            let (parts, body) = resp.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
                return (parts, Body::empty()).into_response();
            };
            let mut v: serde_json::Value = match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) => return (parts, Body::from(bytes)).into_response(),
            };
            let (ok, at) = {
                let i = st.inner.lock();
                (i.reload_ok, i.loaded_at)
            };
            if let Some(d) = v.get_mut("data").and_then(|d| d.as_object_mut()) {
                d.insert("reloadConfigSuccess".into(), json!(ok));
                d.insert(
                    "lastConfigTime".into(),
                    json!(lookout_collector::scrape::api::rfc3339(at)),
                );
            }
            let mut parts = parts;
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            (parts, Json(v)).into_response()
        }
        _ => next.run(req).await,
    }
}
