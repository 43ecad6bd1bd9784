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
