//! `multi_tenant: true`: the tenant comes from X-Scope-OrgID on every request, and tenants
//! never see each other's data.

mod common;

use common::*;
use serde_json::json;

const CFG: &str = "multi_tenant: true\n";

fn req(job: &str, v: f64) -> WriteRequest {
    request(vec![series(
        &[("__name__", "tn_test"), ("job", job)],
        &[(BASE_MS, v), (BASE_MS + 1000, v + 0.5)],
    )])
}

#[test]
fn tenants_are_isolated() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some(CFG));

    // Same series, different values, plus a series of A's own.
    let (code, text) = srv.write_tenant(&req("shared", 1.0), "team-a");
    assert_eq!(code, 204, "{text}");
    let (code, text) = srv.write_tenant(&req("shared", 100.0), "team_b.prod");
    assert_eq!(code, 204, "{text}");
    let (code, text) = srv.write_tenant(
        &request(vec![series(
            &[("__name__", "only_a"), ("secret", "yes")],
            &[(BASE_MS, 7.0)],
        )]),
        "team-a",
    );
    assert_eq!(code, 204, "{text}");

    let a = srv.export(r#"{job="shared"}"#, Some("team-a"));
    let b = srv.export(r#"{job="shared"}"#, Some("team_b.prod"));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(a[0].samples, vec![(BASE_MS, 1.0), (BASE_MS + 1000, 1.5)]);
    assert_eq!(
        b[0].samples,
        vec![(BASE_MS, 100.0), (BASE_MS + 1000, 100.5)]
    );
    assert!(srv.export("only_a", Some("team_b.prod")).is_empty());
    assert_eq!(srv.export("only_a", Some("team-a")).len(), 1);

    let sel = enc(r#"{__name__=~".+"}"#);
    let series_a = srv.api_data(&format!("/api/v1/series?match[]={sel}"), Some("team-a"));
    let series_b = srv.api_data(
        &format!("/api/v1/series?match[]={sel}"),
        Some("team_b.prod"),
    );
    assert_eq!(
        series_a,
        json!([{"__name__": "only_a", "secret": "yes"}, {"__name__": "tn_test", "job": "shared"}])
    );
    assert_eq!(series_b, json!([{"__name__": "tn_test", "job": "shared"}]));

    assert_eq!(
        srv.api_data("/api/v1/labels", Some("team-a")),
        json!(["__name__", "job", "secret"])
    );
    assert_eq!(
        srv.api_data("/api/v1/labels", Some("team_b.prod")),
        json!(["__name__", "job"])
    );
    assert_eq!(
        srv.api_data("/api/v1/label/__name__/values", Some("team_b.prod")),
        json!(["tn_test"])
    );
    // A tenant that never wrote sees nothing (and is not an error).
    assert_eq!(srv.api_data("/api/v1/labels", Some("nobody")), json!([]));
    assert!(srv.export(r#"{job="shared"}"#, Some("nobody")).is_empty());

    let st_b = srv.tsdb_status(Some("team_b.prod"));
    assert_eq!(st_b["headStats"]["numSeries"], 1, "{st_b}");
    let st_a = srv.tsdb_status(Some("team-a"));
    assert_eq!(st_a["headStats"]["numSeries"], 2, "{st_a}");

    // Isolation holds across a restart (WAL replay per tenant).
    drop(srv);
    let srv = Server::start(&dir.data(), Some(CFG));
    let b = srv.export(r#"{job="shared"}"#, Some("team_b.prod"));
    assert_eq!(b.len(), 1);
    assert_eq!(
        b[0].samples,
        vec![(BASE_MS, 100.0), (BASE_MS + 1000, 100.5)]
    );
    assert!(srv.export("only_a", Some("team_b.prod")).is_empty());
}

#[test]
fn the_tenant_header_is_required() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some(CFG));

    let (code, text) = srv.write(&req("x", 1.0));
    assert_eq!(code, 400, "{text}");
    assert!(
        text.contains("X-Scope-OrgID"),
        "the reason should name the header: {text}"
    );
    let (code, text) = srv.post_write_raw(encode(&req("x", 1.0)), &[("X-Scope-OrgID", "  ")]);
    assert_eq!(code, 400, "blank tenant: {text}");

    let sel = enc(r#"{job="x"}"#);
    for path in [
        format!("/api/v1/export?match[]={sel}"),
        format!("/api/v1/series?match[]={sel}"),
        "/api/v1/labels".to_string(),
        "/api/v1/label/job/values".to_string(),
        "/api/v1/status/tsdb".to_string(),
    ] {
        let (code, body) = srv.get(&path, None);
        assert_eq!(code, 400, "GET {path} without a tenant: {body}");
        assert!(body.contains("X-Scope-OrgID"), "GET {path}: {body}");
        if !path.starts_with("/api/v1/export") {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["status"], "error", "{v}");
            assert_eq!(v["errorType"], "bad_data", "{v}");
        }
    }
    // Nothing was written by the rejected requests.
    for t in ["default", "x"] {
        assert!(srv.export(r#"{job="x"}"#, Some(t)).is_empty());
    }
}

#[test]
fn path_like_tenant_ids_are_rejected() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some(CFG));
    for bad in ["a/b", "..", ".", "../etc", "a\\b", "x y"] {
        let (code, text) = srv.write_tenant(&req("p", 1.0), bad);
        assert_eq!(code, 400, "tenant {bad:?}: {text}");
        assert!(text.contains("tenant id"), "tenant {bad:?}: {text}");
        let (code, body) = srv.get("/api/v1/labels", Some(bad));
        assert_eq!(code, 400, "read as tenant {bad:?}: {body}");
    }
    // No directory escaped the data directory's tenants folder.
    let tenants = dir.data().join("tenants");
    let names: Vec<String> = std::fs::read_dir(&tenants)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        names.is_empty(),
        "rejected tenants created directories: {names:?}"
    );
    let top: Vec<String> = std::fs::read_dir(dir.tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        top.iter()
            .all(|n| n == "data" || n.ends_with(".lookout.yaml")),
        "unexpected files next to the data dir: {top:?}"
    );
}

fn post(srv: &Server, path: &str, tenant: Option<&str>) -> (u16, String) {
    let mut rb = client().post(srv.url(path));
    if let Some(t) = tenant {
        rb = rb.header("X-Scope-OrgID", t);
    }
    let resp = rb.send().expect("POST");
    let code = resp.status().as_u16();
    (code, resp.text().unwrap_or_default())
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Scrape jobs feed the tenant their `tenant:` names; targets and metadata answer from the
/// caller's tenant only, and refuse a request without X-Scope-OrgID.
#[test]
fn targets_and_metadata_belong_to_the_jobs_tenant() {
    let a = serve_exposition(
        "# HELP tn_a_total A's counter.\n# TYPE tn_a_total counter\ntn_a_total 1\n",
    );
    let d = serve_exposition("# HELP tn_d Default's gauge.\n# TYPE tn_d gauge\ntn_d 1\n");
    let cfg = format!(
        "multi_tenant: true\nglobal: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: ja\n    tenant: team-a\n    static_configs: [{{targets: ['{a}']}}]\n  - job_name: jd\n    static_configs: [{{targets: ['{d}']}}]\n"
    );
    let dir = TestDir::new();
    let srv = Server::start_real_clock(&dir.data(), Some(&cfg));
    wait_until("both jobs scraped with metadata", || {
        let a = srv.api_data("/api/v1/metadata", Some("team-a"));
        let d = srv.api_data("/api/v1/metadata", Some("default"));
        a.get("tn_a_total").is_some() && d.get("tn_d").is_some()
    });
    let a_md = srv.api_data("/api/v1/metadata", Some("team-a"));
    assert!(a_md.get("tn_d").is_none(), "{a_md}");
    assert_eq!(srv.api_data("/api/v1/metadata", Some("team-b")), json!({}));

    let pools = |tenant: &str| -> Vec<String> {
        let d = srv.api_data("/api/v1/targets", Some(tenant));
        d["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["scrapePool"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(pools("team-a"), vec!["ja"]);
    assert_eq!(pools("default"), vec!["jd"]);
    assert!(pools("team-b").is_empty());
    let tmd = srv.api_data("/api/v1/targets/metadata", Some("team-a"));
    let metrics: Vec<&str> = tmd
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metric"].as_str().unwrap())
        .collect();
    assert_eq!(metrics, vec!["tn_a_total"], "{tmd}");
    // The scraped samples are in the job's tenant.
    assert!(!srv.export("tn_a_total", Some("team-a")).is_empty());
    assert!(srv.export("tn_a_total", Some("default")).is_empty());

    for path in [
        "/api/v1/metadata",
        "/api/v1/targets",
        "/api/v1/targets/metadata",
    ] {
        let (code, body) = srv.get(path, None);
        assert_eq!(code, 400, "{path}: {body}");
        assert!(body.contains("X-Scope-OrgID"), "{path}: {body}");
    }
}

/// Admin endpoints are refused with multi-tenancy unless allowed, and then act on the
/// caller's tenant only.
#[test]
fn admin_endpoints_are_refused_or_scoped_to_the_tenant() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some(CFG));
    for path in ["/api/v1/admin/flush", "/-/reload"] {
        let (code, body) = post(&srv, path, Some("team-a"));
        assert_eq!(code, 403, "{path}: {body}");
        assert!(body.contains("admin.enabled_in_multi_tenant"), "{body}");
    }
    drop(srv);

    let cfg = "multi_tenant: true\nadmin:\n  enabled_in_multi_tenant: true\n";
    let srv = Server::start(&dir.data(), Some(cfg));
    srv.write_tenant(&req("x", 1.0), "team-a");
    srv.write_tenant(&req("x", 2.0), "team-b");
    let (code, body) = post(&srv, "/api/v1/admin/flush", None);
    assert_eq!(code, 400, "{body}");
    let (code, body) = post(&srv, "/api/v1/admin/flush", Some("team-a"));
    assert_eq!(code, 204, "{body}");
    let head = |t: &str| srv.tsdb_status(Some(t))["lookout"]["head"]["samples"].clone();
    assert_eq!(head("team-a"), 0);
    assert_eq!(head("team-b"), 2, "another tenant's head was flushed");
}

/// A flood of tenant ids: reads of unknown tenants create nothing; writes for new tenants
/// stop at limits.max_tenants; idle tenants are closed and reopen transparently.
#[test]
fn tenants_are_bounded_opened_lazily_and_closed_when_idle() {
    let cfg = "multi_tenant: true\nmaintenance_interval: 100ms\nlimits:\n  max_tenants: 2\n  tenant_idle_close: 1s\n";
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some(cfg));
    for i in 0..20 {
        let t = format!("junk-{i}");
        assert_eq!(srv.api_data("/api/v1/labels", Some(&t)), json!([]));
        assert!(srv.export("tn_test", Some(&t)).is_empty());
    }
    assert!(
        !dir.data().join("tenants").join("junk-0").exists(),
        "a read created a tenant directory"
    );
    assert_eq!(srv.write_tenant(&req("x", 1.0), "t1").0, 204);
    assert_eq!(srv.write_tenant(&req("x", 2.0), "t2").0, 204);
    let (code, body) = srv.write_tenant(&req("x", 3.0), "t3");
    assert_eq!(code, 429, "{body}");
    assert!(body.contains("limits.max_tenants"), "{body}");
    // Known tenants still write.
    assert_eq!(srv.write_tenant(&req("y", 1.0), "t1").0, 204);

    let open = |srv: &Server| -> String {
        let (_, m) = srv.get("/metrics", None);
        m.lines()
            .find(|l| l.starts_with("lookout_tenants{state=\"open\"}"))
            .unwrap_or("")
            .to_string()
    };
    wait_until("idle tenants closed", || open(&srv).ends_with(" 0"));
    // Reads reopen a closed tenant and see everything it had.
    let got = srv.export("tn_test", Some("t1"));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(srv.write_tenant(&req("z", 1.0), "t2").0, 204);
    assert_eq!(srv.export("tn_test", Some("t2")).len(), 2);
    // Restarted, the data is all there (closing flushed it; nothing replayed twice).
    drop(srv);
    let srv = Server::start(&dir.data(), Some(cfg));
    assert_eq!(srv.export("tn_test", Some("t1")).len(), 2);
    assert_eq!(srv.export("tn_test", Some("t2")).len(), 2);
}

/// Per-tenant ingest limits answer 429 and name the limit.
#[test]
fn per_tenant_rate_and_series_limits_are_429() {
    let cfg = "multi_tenant: true\nlimits:\n  ingestion_rate: 10\n  ingestion_burst_size: 20\n  max_active_series_per_tenant: 2\n";
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some(cfg));
    let many = |job: &str, n: i64| {
        request(vec![series(
            &[("__name__", "tn_rate"), ("job", job)],
            &(0..n)
                .map(|k| (BASE_MS + k * 1000, 1.0))
                .collect::<Vec<_>>(),
        )])
    };
    assert_eq!(srv.write_tenant(&many("a", 15), "r").0, 204);
    let (code, body) = srv.write_tenant(&many("a", 15), "r");
    assert_eq!(code, 429, "{body}");
    assert!(body.contains("limits.ingestion_rate"), "{body}");
    // Another tenant has its own budget.
    assert_eq!(srv.write_tenant(&many("a", 15), "s").0, 204);
    assert_eq!(srv.write_tenant(&many("b", 1), "s").0, 204);
    let (code, body) = srv.write_tenant(&many("c", 1), "s");
    assert_eq!(code, 429, "{body}");
    assert!(
        body.contains("limits.max_active_series_per_tenant"),
        "{body}"
    );
}
