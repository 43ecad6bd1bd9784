//! Spans in through Zipkin v2 (JSON and protobuf, as Spring and Envoy send them), out
//! through the Tempo API as Grafana's Tempo datasource calls it: trace by id (v1, v2),
//! TraceQL and tag search, tag names and values, errors with Tempo's statuses, and tenants
//! that do not see each other's traces.

mod common;

use common::{enc, Server, TestDir, CLOCK_MS};
use serde_json::{json, Value};

const TRACE: &str = "5af7183fb1d4cf5f6b221d5bc9e6496c";

/// A checkout request: frontend server span, a client call to the backend, the backend's
/// server span that failed. Microseconds, around the test clock.
fn zipkin_checkout() -> Value {
    let t0 = CLOCK_MS * 1000 - 60_000_000;
    json!([
        {"traceId": TRACE, "id": "0000000000000001", "kind": "SERVER", "name": "get /checkout",
         "timestamp": t0, "duration": 250_000,
         "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"},
         "tags": {"http.method": "GET", "http.status_code": "500"}},
        {"traceId": TRACE, "id": "0000000000000002", "parentId": "0000000000000001", "kind": "CLIENT",
         "name": "get /price", "timestamp": t0 + 10_000, "duration": 200_000,
         "localEndpoint": {"serviceName": "frontend"},
         "remoteEndpoint": {"serviceName": "backend", "port": 9000}},
        {"traceId": TRACE, "id": "0000000000000003", "parentId": "0000000000000002", "kind": "SERVER",
         "name": "get /price", "timestamp": t0 + 20_000, "duration": 150_000,
         "localEndpoint": {"serviceName": "backend"},
         "annotations": [{"timestamp": t0 + 30_000, "value": "cache miss"}],
         "tags": {"error": "price service down", "db.system": "postgres"}}
    ])
}

fn post_zipkin(srv: &Server, body: &Value, tenant: Option<&str>) -> (u16, String) {
    srv.post_json("/api/v2/spans", body, tenant)
}

fn search(srv: &Server, q: &str) -> Value {
    let (code, v) = srv.get_json(&format!("/api/search?q={}&limit=20&spss=3", enc(q)), None);
    assert_eq!(code, 200, "{q}: {v}");
    v
}

#[test]
fn zipkin_in_tempo_api_out() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    let (code, body) = post_zipkin(&srv, &zipkin_checkout(), None);
    assert_eq!(code, 202, "{body}");

    // Save & test.
    let (code, body) = srv.get("/api/echo", None);
    assert_eq!((code, body.as_str()), (200, "echo"));

    // Trace by id, v2: the whole trace as OTLP JSON, grouped by service.
    let (code, v) = srv.get_json(&format!("/api/v2/traces/{TRACE}"), None);
    assert_eq!(code, 200, "{v}");
    let batches = v["trace"]["resourceSpans"]
        .as_array()
        .expect("resourceSpans");
    assert_eq!(batches.len(), 2, "{v}");
    let spans: Vec<&Value> = batches
        .iter()
        .flat_map(|b| b["scopeSpans"][0]["spans"].as_array().unwrap().iter())
        .collect();
    assert_eq!(spans.len(), 3);
    let failed = spans
        .iter()
        .find(|s| s["spanId"] == "0000000000000003")
        .expect("backend span");
    assert_eq!(failed["traceId"], TRACE);
    assert_eq!(failed["parentSpanId"], "0000000000000002");
    assert_eq!(failed["kind"], 2);
    assert_eq!(failed["status"]["code"], 2);
    assert_eq!(failed["status"]["message"], "price service down");
    assert_eq!(failed["events"][0]["name"], "cache miss");
    let start: i64 = failed["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: i64 = failed["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert_eq!(end - start, 150_000_000);
    // v1, and a time range that holds the trace; ids with leading zeros stripped.
    let secs = CLOCK_MS / 1000;
    let (code, v) = srv.get_json(
        &format!("/api/traces/{TRACE}?start={}&end={}", secs - 3600, secs),
        None,
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["batches"].as_array().unwrap().len(), 2);
    // Not there: 404 on both; a bad id: 400.
    assert_eq!(
        srv.get(&format!("/api/v2/traces/{}", "1".repeat(32)), None)
            .0,
        404
    );
    assert_eq!(
        srv.get(
            &format!("/api/traces/{TRACE}?start={}&end={}", secs + 60, secs + 120),
            None
        )
        .0,
        404
    );
    let (code, body) = srv.get("/api/v2/traces/not-hex", None);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("invalid trace id"), "{body}");

    // TraceQL search.
    let v = search(
        &srv,
        "{ status = error && resource.service.name = \"backend\" }",
    );
    let traces = v["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1, "{v}");
    assert_eq!(traces[0]["traceID"], TRACE);
    assert_eq!(traces[0]["rootServiceName"], "frontend");
    assert_eq!(traces[0]["rootTraceName"], "get /checkout");
    assert_eq!(traces[0]["durationMs"], 250);
    assert_eq!(traces[0]["spanSets"][0]["matched"], 1);
    assert_eq!(
        traces[0]["spanSets"][0]["spans"][0]["spanID"],
        "0000000000000003"
    );
    let v = search(&srv, "{ kind = server } >> { status = error }");
    assert_eq!(v["traces"].as_array().unwrap().len(), 1, "{v}");
    let v = search(
        &srv,
        "{ span.http.status_code = \"500\" } | select(span.http.method)",
    );
    let attrs = &v["traces"][0]["spanSets"][0]["spans"][0]["attributes"];
    assert!(
        attrs
            .as_array()
            .unwrap()
            .contains(&json!({"key": "http.method", "value": {"stringValue": "GET"}})),
        "{attrs}"
    );
    assert!(search(&srv, "{ duration > 1s }")["traces"]
        .as_array()
        .unwrap()
        .is_empty());
    let (code, body) = srv.get(&format!("/api/search?q={}", enc("{ .a = }")), None);
    assert_eq!(code, 400);
    assert!(
        body.contains("invalid TraceQL query: parse error at line 1, col 8"),
        "{body}"
    );
    // Tag search.
    let (code, v) = srv.get_json(
        "/api/search?tags=db.system%3Dpostgres&minDuration=100ms",
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(v["traces"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = srv.get_json("/api/search?tags=db.system%3Dmysql", None);
    assert!(v["traces"].as_array().unwrap().is_empty());

    // Tags and values.
    let (code, v) = srv.get_json("/api/v2/search/tags", None);
    assert_eq!(code, 200);
    let scope = |name: &str| -> Vec<String> {
        v["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| serde_json::from_value(s["tags"].clone()).unwrap())
            .unwrap_or_default()
    };
    assert_eq!(scope("resource"), ["service.name"]);
    assert!(scope("span").contains(&"db.system".to_string()));
    assert!(scope("intrinsic").contains(&"duration".to_string()));
    let (_, v) = srv.get_json("/api/search/tags", None);
    assert!(v["tagNames"]
        .as_array()
        .unwrap()
        .contains(&json!("http.method")));
    let (_, v) = srv.get_json("/api/v2/search/tag/resource.service.name/values", None);
    assert_eq!(
        v["tagValues"],
        json!([{"type": "string", "value": "backend"}, {"type": "string", "value": "frontend"}])
    );
    let (_, v) = srv.get_json(
        &format!(
            "/api/v2/search/tag/name/values?q={}",
            enc("{ kind = server }")
        ),
        None,
    );
    assert_eq!(
        v["tagValues"],
        json!([{"type": "string", "value": "get /checkout"}, {"type": "string", "value": "get /price"}])
    );
    let (_, v) = srv.get_json("/api/v2/search/tag/status/values", None);
    assert!(v["tagValues"]
        .as_array()
        .unwrap()
        .contains(&json!({"type": "keyword", "value": "error"})));
    let (_, v) = srv.get_json("/api/search/tag/service.name/values", None);
    assert_eq!(v["tagValues"], json!(["backend", "frontend"]));
}

#[test]
fn zipkin_refusals_and_protobuf() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    for (body, ct, want_code, want) in [
        ("{}", "application/json", 400, "invalid zipkin v2 JSON"),
        (
            r#"[{"traceId":"zz","id":"1"}]"#,
            "application/json",
            400,
            "traceId",
        ),
        ("[]", "text/plain", 415, "content-type"),
    ] {
        let resp = srv
            .client
            .post(srv.url("/api/v2/spans"))
            .header("Content-Type", ct)
            .body(body)
            .send()
            .unwrap();
        let code = resp.status().as_u16();
        let text = resp.text().unwrap();
        assert_eq!(code, want_code, "{body}: {text}");
        assert!(text.contains(want), "{text}");
    }
    // A protobuf ListOfSpans, as Envoy's Zipkin tracer sends it.
    use lookout_collector::zipkin::proto::{ListOfSpans, ProtoEndpoint, ProtoSpan};
    use prost::Message;
    let list = ListOfSpans {
        spans: vec![ProtoSpan {
            trace_id: vec![0xaa; 16],
            id: vec![0xbb; 8],
            kind: 2,
            name: "ingress".into(),
            timestamp: (CLOCK_MS * 1000) as u64,
            duration: 5_000,
            local_endpoint: Some(ProtoEndpoint {
                service_name: "envoy".into(),
                ..Default::default()
            }),
            ..Default::default()
        }],
    };
    let resp = srv
        .client
        .post(srv.url("/api/v2/spans"))
        .header("Content-Type", "application/x-protobuf")
        .body(list.encode_to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let (code, v) = srv.get_json(&format!("/api/traces/{}", "aa".repeat(16)), None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["batches"][0]["scopeSpans"][0]["spans"][0]["name"],
        "ingress"
    );
}

#[test]
fn tenants_do_not_see_each_others_traces() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some("multi_tenant: true\n"));
    assert_eq!(post_zipkin(&srv, &zipkin_checkout(), Some("team-a")).0, 202);
    let (code, _) = post_zipkin(&srv, &zipkin_checkout(), None);
    assert_eq!(code, 400, "no tenant, no write");
    let path = format!("/api/v2/traces/{TRACE}");
    assert_eq!(srv.get(&path, Some("team-a")).0, 200);
    assert_eq!(srv.get(&path, Some("team-b")).0, 404);
    let (_, v) = srv.get_json(&format!("/api/search?q={}", enc("{ }")), Some("team-b"));
    assert!(v["traces"].as_array().unwrap().is_empty(), "{v}");
    let (_, v) = srv.get_json(
        "/api/v2/search/tag/resource.service.name/values",
        Some("team-b"),
    );
    assert!(v["tagValues"].as_array().unwrap().is_empty(), "{v}");
}
