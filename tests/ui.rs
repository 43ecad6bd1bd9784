//! The web UI as a user meets it: the real binary serves the embedded bundle at `/`, deep
//! links load the app, API routes are not shadowed; the committed bundle matches its
//! sources; and headless Chromium (ui/e2e/run.mjs) drives every page against a server fed
//! with metrics, exemplars, logs, traces, a firing alert and scrape targets: live tail over
//! the WebSocket and its polling fallback, completion from the fed data, and the status
//! page's storage figures for each signal (see ui/README.md, "Tests").
//!
//! The Node/Chromium tests skip with a message when `node`, `ui/node_modules` or
//! `/usr/bin/chromium` is missing, unless `LOOKOUT_UI_TESTS_REQUIRED=1` (test.sh sets it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::json;

const TRACE: &str = "5b8efff798038103d269b633813fc60c";

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui")
}

/// None when the browser tests can run; otherwise why not (a failure when required).
fn node_tooling_missing(need_chromium: bool) -> Option<String> {
    let mut missing = Vec::new();
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node".to_string());
    }
    if !ui_dir().join("node_modules/.package-lock.json").exists() {
        missing.push("ui/node_modules (run `cd ui && npm ci`)".to_string());
    }
    if need_chromium && !Path::new("/usr/bin/chromium").exists() {
        missing.push("/usr/bin/chromium (apt-get install chromium)".to_string());
    }
    if missing.is_empty() {
        return None;
    }
    let why = format!("missing {}", missing.join(", "));
    assert!(
        std::env::var("LOOKOUT_UI_TESTS_REQUIRED").as_deref() != Ok("1"),
        "LOOKOUT_UI_TESTS_REQUIRED=1 but {why}"
    );
    eprintln!("skipping: {why}");
    Some(why)
}

fn get(srv: &Server, path: &str) -> (u16, String, String) {
    let r = srv.client.get(srv.url(path)).send().expect("GET");
    let code = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (code, ct, r.text().unwrap_or_default())
}

/// The `/assets/...` files index.html references.
fn asset_refs(html: &str) -> Vec<String> {
    html.split('"')
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_string)
        .collect()
}

#[test]
fn serves_the_app_deep_links_and_leaves_apis_alone() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);

    let (code, ct, html) = get(&srv, "/");
    assert_eq!(code, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    let assets = asset_refs(&html);
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "index.html references hashed JS and CSS: {html}"
    );
    for a in &assets {
        let r = srv.client.get(srv.url(a)).send().expect("GET asset");
        assert_eq!(r.status().as_u16(), 200, "{a}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        let cache = r.headers()["cache-control"].to_str().unwrap().to_string();
        let want = if a.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(ct.starts_with(want), "{a}: {ct}");
        assert!(cache.contains("immutable"), "{a}: {cache}");
        assert!(!r.bytes().unwrap().is_empty(), "{a} is empty");
    }

    for deep in [
        "/graph?expr=up&range=1h",
        "/logs?q=%7Bapp%3D%22x%22%7D",
        "/traces",
        &format!("/traces/{TRACE}"),
        "/alerts",
        "/targets",
        "/status",
    ] {
        let (code, ct, body) = get(&srv, deep);
        assert_eq!((code, body == html), (200, true), "{deep} loads index.html");
        assert!(ct.starts_with("text/html"), "{deep}: {ct}");
    }

    // APIs keep answering as APIs.
    let (code, ct, body) = get(&srv, "/api/v1/query?query=1%2B1");
    assert_eq!(code, 200, "{body}");
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"]["result"][1],
        json!("2")
    );
    for unknown in [
        "/api/v1/xyz",
        "/loki/api/v1/nope",
        "/api/v2/nothing",
        "/otlp/v9",
    ] {
        let (code, ct, body) = get(&srv, unknown);
        assert_eq!(code, 404, "{unknown}: {body}");
        assert!(ct.starts_with("application/json"), "{unknown}: {ct}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON 404");
        assert_eq!(v["status"], "error", "{body}");
    }
    let (code, ct, body) = get(&srv, "/metrics");
    assert_eq!(code, 200);
    assert!(
        !ct.starts_with("text/html") && body.contains("# TYPE"),
        "{ct}"
    );
    let (code, _, body) = get(&srv, "/-/healthy");
    assert_eq!((code, body.contains("Healthy")), (200, true));
    // A missing asset is a 404, not the app (a stale hashed name must not load HTML as JS).
    let (code, ct, _) = get(&srv, "/assets/index-nothere.js");
    assert_eq!(code, 404);
    assert!(!ct.starts_with("text/html"), "{ct}");
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn committed_bundle_matches_its_sources() {
    if node_tooling_missing(false).is_some() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("npm")
        .args(["run", "build", "--silent"])
        .current_dir(ui_dir())
        .env("LOOKOUT_UI_OUT_DIR", out.path())
        .status()
        .expect("run npm");
    assert!(status.success(), "npm run build failed");
    let fresh = tree(out.path());
    let committed = tree(&ui_dir().join("dist"));
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&fresh),
        "ui/dist is stale: run `npm run build` in ui/ and commit ui/dist"
    );
    for ((name, a), (_, b)) in committed.iter().zip(&fresh) {
        assert!(a == b, "ui/dist/{name} differs from a fresh build: run `npm run build` in ui/ and commit ui/dist");
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn post_json(srv: &Server, path: &str, body: &serde_json::Value) {
    let (code, text) = srv.post_json(path, body, None);
    assert!((200..300).contains(&code), "{path}: {code} {text}");
}

/// Two counters (rate 4/s and 2/s) over the last 30 minutes, the first with exemplars that
/// carry the trace id.
fn feed_metrics(srv: &Server, now: i64) {
    let start = now - 30 * 60_000;
    let mut ts = Vec::new();
    for (path, per_step) in [("/a", 60.0), ("/b", 30.0)] {
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|i| (start + i * 15_000, i as f64 * per_step))
            .collect();
        let mut s = series(
            &[
                ("__name__", "ui_requests_total"),
                ("job", "web"),
                ("path", path),
            ],
            &samples,
        );
        if path == "/a" {
            s.exemplars = [20, 60, 100]
                .iter()
                .map(|&i| Exemplar {
                    labels: labels(&[("trace_id", TRACE)]),
                    value: 4.0,
                    timestamp: start + i * 15_000,
                })
                .collect();
        }
        ts.push(s);
    }
    srv.write_ok(&request(ts));
}

/// Six lines of service `checkout` in two streams; two carry the trace id (one in the
/// text, both in structured metadata).
fn feed_logs(srv: &Server, now: i64) {
    let ns = |ago_s: i64| ((now - ago_s * 1000) * 1_000_000).to_string();
    let info: Vec<_> = (0..4)
        .map(|i| {
            json!([
                ns(600 - i * 60),
                format!("level=info msg=\"request served\" n={i}")
            ])
        })
        .collect();
    let err = vec![
        json!([ns(290), format!("level=error msg=\"payment failed\" trace_id={TRACE}"), {"trace_id": TRACE}]),
        json!([ns(280), format!("level=error msg=\"retry gave up\" trace_id={TRACE}"), {"trace_id": TRACE}]),
    ];
    post_json(
        srv,
        "/loki/api/v1/push",
        &json!({"streams": [
            {"stream": {"service_name": "checkout", "level": "info"}, "values": info},
            {"stream": {"service_name": "checkout", "level": "error"}, "values": err},
        ]}),
    );
}

/// One trace of four spans over two services, as OTLP/JSON.
fn feed_trace(srv: &Server, now: i64) {
    let t0 = (now - 300_000) as u128 * 1_000_000;
    let span = |id: &str, parent: &str, name: &str, from_ms: u128, dur_ms: u128| {
        json!({
            "traceId": TRACE, "spanId": id, "parentSpanId": parent, "name": name, "kind": 2,
            "startTimeUnixNano": (t0 + from_ms * 1_000_000).to_string(),
            "endTimeUnixNano": (t0 + (from_ms + dur_ms) * 1_000_000).to_string(),
            "attributes": [{"key": "http.route", "value": {"stringValue": name}}],
            "status": {"code": if name.contains("charge") { 2 } else { 0 }}
        })
    };
    let resource =
        |svc: &str| json!({"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]});
    post_json(
        srv,
        "/v1/traces",
        &json!({"resourceSpans": [
            {"resource": resource("checkout"), "scopeSpans": [{"spans": [
                span("1000000000000001", "", "POST /checkout", 0, 400),
                span("1000000000000002", "1000000000000001", "load cart", 10, 50),
            ]}]},
            {"resource": resource("payments"), "scopeSpans": [{"spans": [
                span("2000000000000001", "1000000000000001", "POST /charge", 80, 300),
                span("2000000000000002", "2000000000000001", "SELECT card", 90, 40),
            ]}]},
        ]}),
    );
}

#[test]
fn browser_drives_every_page() {
    if node_tooling_missing(true).is_some() {
        return;
    }
    let dir = TestDir::new();
    let port = free_tcp_port();
    dir.file(
        "ui.rules.yml",
        "groups:\n  - name: checkout\n    interval: 1s\n    rules:\n      - alert: CheckoutErrors\n        expr: vector(3)\n        labels: {severity: page}\n        annotations: {summary: 'checkout is failing'}\n      - record: job:ui_requests:rate1m\n        expr: sum by (job) (rate(ui_requests_total[1m]))\n",
    );
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files: ['{}/*.rules.yml']\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n  - job_name: gone\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        dir.tmp.path().display(),
        free_tcp_port(),
    );
    let srv = Server::start_real_clock_on(&dir.data(), Some(&cfg), &format!("127.0.0.1:{port}"));
    let now = now_ms();
    feed_metrics(&srv, now);
    feed_logs(&srv, now);
    feed_trace(&srv, now);

    wait_for(Duration::from_secs(20), "a firing alert", || {
        let d = srv.api_data("/api/v1/alerts", None);
        (d["alerts"]
            .as_array()?
            .iter()
            .any(|a| a["state"] == "firing"))
        .then_some(())
    });
    wait_for(
        Duration::from_secs(20),
        "one target up and one down",
        || {
            let d = srv.api_data("/api/v1/targets", None);
            let h: Vec<_> = d["activeTargets"]
                .as_array()?
                .iter()
                .map(|t| t["health"].as_str().unwrap_or("").to_string())
                .collect();
            (h.contains(&"up".to_string()) && h.contains(&"down".to_string())).then_some(())
        },
    );
    wait_for(Duration::from_secs(20), "the trace", || {
        let (code, _) = srv.get_json(&format!("/api/v2/traces/{TRACE}"), None);
        (code == 200).then_some(())
    });

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
    let out = Command::new("node")
        .arg(ui_dir().join("e2e/run.mjs"))
        .arg(srv.url(""))
        .env("LOOKOUT_UI_SCREENSHOTS", &shots)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}\n{stdout}");
    assert!(
        out.status.success(),
        "browser checks failed:\n{stderr}\n{stdout}\nserver log:\n{}",
        srv.logs()
    );
    for page in [
        "metrics-dark",
        "metrics-light",
        "logs",
        "trace",
        "traces",
        "alerts",
        "targets",
        "status",
    ] {
        assert!(shots.join(format!("{page}.png")).exists(), "{page}.png");
    }
}
