//! The Prometheus query API over HTTP, as Grafana's Prometheus datasource uses it:
//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query`, `/api/v1/metadata`,
//! `/api/v1/query_exemplars`, `/api/v1/status/*` and label lookups, each by GET and by
//! POST form, with Prometheus' exact JSON and error envelopes; and `lookout query`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const S: i64 = 1000;
/// The data spans [BASE_MS - 30m, BASE_MS + 30m], every 15s.
const SPAN: i64 = 30 * 60 * S;

/// A ms timestamp as Prometheus writes it in results (a JSON number of seconds).
fn stamp(ms: i64) -> Value {
    let s = if ms % 1000 == 0 {
        format!("{}", ms / 1000)
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
    };
    serde_json::from_str(&s).unwrap()
}

/// Unix seconds of a ms timestamp, as a query parameter.
fn secs(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

fn steps(f: impl Fn(i64) -> f64) -> Vec<(i64, f64)> {
    (0..=2 * SPAN / (15 * S))
        .map(|k| {
            let t = BASE_MS - SPAN + k * 15 * S;
            (t, f(k))
        })
        .collect()
}

fn load(srv: &Server) {
    srv.write_ok(&request(vec![
        // Counters growing by 10 and 30 per 15s: rate 2/3 and 2 per second.
        series(
            &[
                ("__name__", "qa_requests_total"),
                ("code", "200"),
                ("instance", "a"),
                ("job", "api"),
            ],
            &steps(|k| 10.0 * k as f64),
        ),
        series(
            &[
                ("__name__", "qa_requests_total"),
                ("code", "500"),
                ("instance", "b"),
                ("job", "api"),
            ],
            &steps(|k| 30.0 * k as f64),
        ),
        series(
            &[("__name__", "qa_up"), ("instance", "a"), ("job", "api")],
            &steps(|_| 1.0),
        ),
        series(
            &[("__name__", "qa_up"), ("instance", "b"), ("job", "api")],
            &steps(|_| 0.0),
        ),
        series(&[("__name__", "qa_fmt"), ("v", "tiny")], &steps(|_| 1e-7)),
        series(&[("__name__", "qa_fmt"), ("v", "tenth")], &steps(|_| 0.1)),
        series(&[("__name__", "qa_fmt"), ("v", "big")], &steps(|_| 1e21)),
        series(
            &[("__name__", "qa_fmt"), ("v", "inf")],
            &steps(|_| f64::INFINITY),
        ),
        series(
            &[("__name__", "qa_fmt"), ("v", "ninf")],
            &steps(|_| f64::NEG_INFINITY),
        ),
        series(
            &[("__name__", "qa_fmt"), ("v", "nan")],
            &steps(|_| f64::NAN),
        ),
    ]));
}

fn qs(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// (status, content type, body) of a GET with `params` in the query string.
fn get(srv: &Server, path: &str, params: &[(&str, &str)]) -> (u16, String, String) {
    let resp = srv
        .client
        .get(srv.url(&format!("{path}?{}", qs(params))))
        .send()
        .expect("GET");
    let code = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (code, ct, resp.text().expect("body"))
}

/// (status, content type, body) of a POST with `params` as a form body.
fn post(srv: &Server, path: &str, params: &[(&str, &str)]) -> (u16, String, String) {
    let resp = srv
        .client
        .post(srv.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(qs(params))
        .send()
        .expect("POST");
    let code = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (code, ct, resp.text().expect("body"))
}

/// The body of a successful request, the same by GET and by POST form.
#[track_caller]
fn ok_both(srv: &Server, path: &str, params: &[(&str, &str)]) -> String {
    let (code, ct, body) = get(srv, path, params);
    assert_eq!(code, 200, "GET {path} {params:?}: {body}");
    assert!(ct.starts_with("application/json"), "GET {path}: {ct}");
    let (pcode, _, pbody) = post(srv, path, params);
    assert_eq!(pcode, 200, "POST {path} {params:?}: {pbody}");
    if !body.contains("Time\":") {
        assert_eq!(body, pbody, "GET and POST of {path} {params:?} differ");
    }
    body
}

#[track_caller]
fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// An error envelope by GET and by POST form: (status, errorType, error).
#[track_caller]
fn error_both(srv: &Server, path: &str, params: &[(&str, &str)]) -> (u16, String, String) {
    let mut out = Vec::new();
    for (code, ct, body) in [get(srv, path, params), post(srv, path, params)] {
        assert!(ct.starts_with("application/json"), "{path}: {ct} {body}");
        let v = json_of(&body);
        assert_eq!(v["status"], "error", "{path} {params:?}: {body}");
        out.push((
            code,
            v["errorType"].as_str().unwrap_or_default().to_string(),
            v["error"].as_str().unwrap_or_default().to_string(),
        ));
    }
    assert_eq!(out[0], out[1], "GET and POST errors differ");
    out.remove(0)
}

#[track_caller]
fn assert_error(
    srv: &Server,
    path: &str,
    params: &[(&str, &str)],
    status: u16,
    kind: &str,
    needle: &str,
) {
    let (code, k, msg) = error_both(srv, path, params);
    assert_eq!(
        (code, k.as_str()),
        (status, kind),
        "{path} {params:?}: {msg}"
    );
    assert!(
        msg.contains(needle),
        "{path} {params:?}: {msg:?} lacks {needle:?}"
    );
}

fn start() -> (TestDir, Server) {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    load(&srv);
    (dir, srv)
}

#[test]
fn grafana_health_check() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    // Exactly what Grafana's CheckHealth sends, and Prometheus' exact answer.
    let body = ok_both(&srv, "/api/v1/query", &[("query", "1+1"), ("time", "4")]);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#
    );
    // Grafana adds the datasource's timeout.
    let body = ok_both(
        &srv,
        "/api/v1/query",
        &[("query", "1+1"), ("time", "4"), ("timeout", "60s")],
    );
    assert!(body.contains(r#"[4,"2"]"#), "{body}");
    // Then buildinfo, for its heuristics: a Prometheus 3 version and no `features`.
    let b = srv.api_data("/api/v1/status/buildinfo", None);
    assert!(b["version"].as_str().unwrap().starts_with("3."), "{b}");
    assert!(b.get("features").is_none(), "{b}");
    for k in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(b[k].is_string(), "{k} missing: {b}");
    }
}

#[test]
fn instant_queries() {
    let (_dir, srv) = start();
    let t = BASE_MS + 500; // 0.5s after a sample: the sample is 500ms old
    let body = ok_both(
        &srv,
        "/api/v1/query",
        &[("query", "qa_up"), ("time", &secs(t))],
    );
    let v = json_of(&body);
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    let mut result = v["data"]["result"].as_array().unwrap().clone();
    result.sort_by_key(|s| s["metric"]["instance"].as_str().unwrap().to_string());
    assert_eq!(
        Value::Array(result),
        json!([
            {"metric":{"__name__":"qa_up","instance":"a","job":"api"},"value":[t as f64 / 1000.0,"1"]},
            {"metric":{"__name__":"qa_up","instance":"b","job":"api"},"value":[t as f64 / 1000.0,"0"]},
        ])
    );
    // Timestamps are written with three decimals, as Prometheus does.
    assert!(
        body.contains(&format!("[{}.500,\"1\"]", t / 1000)),
        "{body}"
    );

    // Aggregation with a rate: the counters grow by 2/3 and 2 per second.
    let v = json_of(&ok_both(
        &srv,
        "/api/v1/query",
        &[
            ("query", "sum by (job) (rate(qa_requests_total[5m]))"),
            ("time", &secs(BASE_MS)),
        ],
    ));
    let r = &v["data"]["result"];
    assert_eq!(r.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(r[0]["metric"], json!({"job": "api"}));
    let got: f64 = r[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((got - 8.0 / 3.0).abs() < 1e-9, "{got}");

    // Values are strings in Go's shortest form.
    let v = json_of(&ok_both(
        &srv,
        "/api/v1/query",
        &[("query", "qa_fmt"), ("time", &secs(BASE_MS))],
    ));
    let mut by_name = std::collections::BTreeMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        by_name.insert(
            s["metric"]["v"].as_str().unwrap().to_string(),
            s["value"][1].as_str().unwrap().to_string(),
        );
    }
    let want: std::collections::BTreeMap<String, String> = [
        ("tiny", "1e-07"),
        ("tenth", "0.1"),
        ("big", "1e+21"),
        ("inf", "+Inf"),
        ("ninf", "-Inf"),
        ("nan", "NaN"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(by_name, want);

    // Scalars and strings.
    let body = ok_both(
        &srv,
        "/api/v1/query",
        &[
            ("query", "scalar(qa_up{instance=\"a\"}) * 2.5"),
            ("time", "1700000000.123"),
        ],
    );
    let v = json_of(&body);
    assert_eq!(v["data"]["resultType"], "scalar", "{body}");
    let body = ok_both(
        &srv,
        "/api/v1/query",
        &[("query", "\"hello\""), ("time", "100")],
    );
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"string","result":[100,"hello"]}}"#
    );
    // RFC 3339 time.
    let body = ok_both(
        &srv,
        "/api/v1/query",
        &[("query", "1"), ("time", "2023-11-14T22:13:20.5Z")],
    );
    assert!(body.contains(r#"[1700000000.500,"1"]"#), "{body}");

    // An instant query of a range selector returns a matrix.
    let v = json_of(&ok_both(
        &srv,
        "/api/v1/query",
        &[
            ("query", "qa_up{instance=\"a\"}[1m]"),
            ("time", &secs(BASE_MS)),
        ],
    ));
    assert_eq!(v["data"]["resultType"], "matrix");
    assert_eq!(
        v["data"]["result"][0]["values"].as_array().unwrap().len(),
        4,
        "{v}"
    );
}

#[test]
fn range_queries() {
    let (_dir, srv) = start();
    let (from, to) = (BASE_MS - 10 * 60 * S, BASE_MS);
    let body = ok_both(
        &srv,
        "/api/v1/query_range",
        &[
            ("query", "qa_requests_total{instance=\"a\"}"),
            ("start", &secs(from)),
            ("end", &secs(to)),
            ("step", "60s"),
        ],
    );
    let v = json_of(&body);
    assert_eq!(v["data"]["resultType"], "matrix");
    let r = v["data"]["result"].as_array().unwrap();
    assert_eq!(r.len(), 1, "{v}");
    assert_eq!(
        r[0]["metric"],
        json!({"__name__":"qa_requests_total","code":"200","instance":"a","job":"api"})
    );
    let values = r[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 11);
    // 20m after the first sample: 80 steps of 10.
    assert_eq!(values[0], json!([stamp(from), "800"]));
    assert_eq!(values[10], json!([stamp(to), "1200"]));

    // Float seconds as step, as Grafana sends it; the same answer.
    let body2 = ok_both(
        &srv,
        "/api/v1/query_range",
        &[
            ("query", "qa_requests_total{instance=\"a\"}"),
            ("start", &secs(from)),
            ("end", &secs(to)),
            ("step", "60"),
        ],
    );
    assert_eq!(body, body2);

    // Several series, sorted by labels.
    let v = json_of(&ok_both(
        &srv,
        "/api/v1/query_range",
        &[
            ("query", "rate(qa_requests_total[5m])"),
            ("start", &secs(from)),
            ("end", &secs(to)),
            ("step", "15s"),
        ],
    ));
    let r = v["data"]["result"].as_array().unwrap();
    assert_eq!(r.len(), 2, "{v}");
    assert_eq!(
        r[0]["metric"],
        json!({"code":"200","instance":"a","job":"api"})
    );
    assert_eq!(r[1]["metric"]["instance"], "b");
    for (s, want) in r.iter().zip([2.0 / 3.0, 2.0]) {
        let values = s["values"].as_array().unwrap();
        assert_eq!(values.len(), 41);
        for p in values {
            let got: f64 = p[1].as_str().unwrap().parse().unwrap();
            assert!((got - want).abs() < 1e-9, "{p}");
        }
    }

    // A scalar expression becomes a matrix with one unlabelled series.
    let body = ok_both(
        &srv,
        "/api/v1/query_range",
        &[
            ("query", "1+1"),
            ("start", "1"),
            ("end", "3"),
            ("step", "1"),
        ],
    );
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2"],[2,"2"],[3,"2"]]}]}}"#
    );
}

#[test]
fn limit_stats_and_lookback() {
    let (_dir, srv) = start();
    let t = secs(BASE_MS);
    let v = json_of(&ok_both(
        &srv,
        "/api/v1/query",
        &[("query", "qa_up"), ("time", &t), ("limit", "1")],
    ));
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["warnings"], json!(["results truncated due to limit"]));
    let v = json_of(&ok_both(
        &srv,
        "/api/v1/query",
        &[("query", "qa_up"), ("time", &t), ("limit", "5")],
    ));
    assert!(v.get("warnings").is_none(), "{v}");

    let v = json_of(&ok_both(
        &srv,
        "/api/v1/query_range",
        &[
            ("query", "qa_up"),
            ("start", &t),
            ("end", &t),
            ("step", "15s"),
            ("stats", "all"),
        ],
    ));
    let stats = &v["data"]["stats"];
    assert!(stats["timings"]["evalTotalTime"].is_number(), "{v}");
    assert!(stats["samples"]["totalQueryableSamples"].is_number(), "{v}");

    // 31m after the last sample: gone with the default 5m lookback, found with 1h.
    let late = secs(BASE_MS + SPAN + 31 * 60 * S);
    let v = json_of(&ok_both(
        &srv,
        "/api/v1/query",
        &[("query", "qa_up"), ("time", &late)],
    ));
    assert_eq!(v["data"]["result"], json!([]));
    let v = json_of(&ok_both(
        &srv,
        "/api/v1/query",
        &[
            ("query", "qa_up"),
            ("time", &late),
            ("lookback_delta", "1h"),
        ],
    ));
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn bad_data_errors() {
    let (_dir, srv) = start();
    let q = "/api/v1/query";
    let r = "/api/v1/query_range";
    assert_error(
        &srv,
        q,
        &[("query", "sum(")],
        400,
        "bad_data",
        "invalid parameter \"query\": ",
    );
    assert_error(
        &srv,
        q,
        &[("query", "up{")],
        400,
        "bad_data",
        "invalid parameter \"query\"",
    );
    assert_error(&srv, q, &[], 400, "bad_data", "invalid parameter \"query\"");
    assert_error(
        &srv,
        q,
        &[("query", "up"), ("time", "yesterday")],
        400,
        "bad_data",
        "invalid parameter \"time\": cannot parse \"yesterday\" to a valid timestamp",
    );
    assert_error(
        &srv,
        q,
        &[("query", "up"), ("timeout", "soon")],
        400,
        "bad_data",
        "invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration",
    );
    assert_error(
        &srv,
        q,
        &[("query", "up"), ("limit", "-1")],
        400,
        "bad_data",
        "invalid parameter \"limit\"",
    );
    let range = |extra: &[(&'static str, &'static str)]| {
        let mut p = vec![
            ("query", "qa_up"),
            ("start", "100"),
            ("end", "200"),
            ("step", "15"),
        ];
        for &(k, v) in extra {
            p.retain(|&(pk, _)| pk != k);
            if !v.is_empty() {
                p.push((k, v));
            }
        }
        p
    };
    assert_error(
        &srv,
        r,
        &range(&[("start", "")]),
        400,
        "bad_data",
        "invalid parameter \"start\": cannot parse \"\" to a valid timestamp",
    );
    assert_error(
        &srv,
        r,
        &range(&[("end", "x")]),
        400,
        "bad_data",
        "invalid parameter \"end\"",
    );
    assert_error(
        &srv,
        r,
        &range(&[("end", "50")]),
        400,
        "bad_data",
        "end timestamp must not be before start time",
    );
    assert_error(
        &srv,
        r,
        &range(&[("step", "")]),
        400,
        "bad_data",
        "invalid parameter \"step\"",
    );
    assert_error(
        &srv,
        r,
        &range(&[("step", "0")]),
        400,
        "bad_data",
        "zero or negative query resolution step widths are not accepted. Try a positive integer",
    );
    assert_error(
        &srv,
        r,
        &range(&[("step", "-15")]),
        400,
        "bad_data",
        "zero or negative query resolution step widths",
    );
    assert_error(
        &srv,
        r,
        &range(&[("end", "100000"), ("step", "1")]),
        400,
        "bad_data",
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
    );
    assert_error(
        &srv,
        r,
        &range(&[("query", "rate(")]),
        400,
        "bad_data",
        "invalid parameter \"query\"",
    );
    // Exactly 11,000 steps is allowed.
    ok_both(
        &srv,
        r,
        &range(&[("end", "11100"), ("step", "1"), ("query", "1")]),
    );
}

#[test]
fn execution_errors() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some("query:\n  max_samples: 100\n"));
    load(&srv);
    let t = secs(BASE_MS);
    // Two qa_up series per `job` on the left: many-to-one without group_left.
    assert_error(
        &srv,
        "/api/v1/query",
        &[
            ("query", "qa_requests_total * on (job) qa_up"),
            ("time", &t),
        ],
        422,
        "execution",
        "many-to-many matching not allowed",
    );
    // More samples than the configured limit: 6 series of 241 points.
    assert_error(
        &srv,
        "/api/v1/query_range",
        &[
            ("query", "qa_fmt"),
            ("start", &secs(BASE_MS - SPAN)),
            ("end", &secs(BASE_MS + SPAN)),
            ("step", "15s"),
        ],
        422,
        "execution",
        "query processing would load too many samples into memory",
    );
}

#[test]
fn timeouts() {
    let (_dir, srv) = start();
    let (from, to) = (secs(BASE_MS - SPAN), secs(BASE_MS + SPAN));
    // A microsecond has passed before evaluation begins, and the deadline is checked
    // there, so this is a timeout however quick the query.
    {
        let timeout = "0.000001";
        assert_error(
            &srv,
            "/api/v1/query_range",
            &[
                ("query", "sum by (job) (rate(qa_requests_total[5m])) / on (job) group_left sum by (job) (qa_up)"),
                ("start", &from),
                ("end", &to),
                ("step", "1s"),
                ("timeout", timeout),
            ],
            503,
            "timeout",
            "query timed out in expression evaluation",
        );
    }
    // The configured timeout applies too. The (debug) server holds every evaluation for
    // 300ms, so the query is still running when its 50ms are up, however fast the machine.
    let dir = TestDir::new();
    let srv = Server::start_env(
        &dir.data(),
        Some("query:\n  timeout: 50ms\n"),
        &[("LOOKOUT_DEBUG_QUERY_STALL_MS", "300")],
    );
    load(&srv);
    assert_error(
        &srv,
        "/api/v1/query_range",
        &[
            ("query", "count_over_time({__name__=~\"qa_.+\"}[10m])"),
            ("start", &from),
            ("end", &to),
            ("step", "1s"),
        ],
        503,
        "timeout",
        "query timed out",
    );
}

#[test]
fn format_query() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    let body = ok_both(
        &srv,
        "/api/v1/format_query",
        &[(
            "query",
            "sum(rate(http_requests_total{job=\"api\"}[5m])) by (job)",
        )],
    );
    assert_eq!(
        body,
        r#"{"status":"success","data":"sum by (job) (rate(http_requests_total{job=\"api\"}[5m]))"}"#
    );
    assert_error(
        &srv,
        "/api/v1/format_query",
        &[("query", "sum(")],
        400,
        "bad_data",
        "invalid parameter \"query\"",
    );
}

#[test]
fn metadata_exemplars_and_status() {
    let (_dir, srv) = start();
    // No metadata is stored yet: an empty object, with the parameters Grafana may send.
    assert_eq!(srv.api_data("/api/v1/metadata", None), json!({}));
    assert_eq!(
        srv.api_data(
            "/api/v1/metadata?metric=qa_up&limit=10&limit_per_metric=1",
            None
        ),
        json!({})
    );
    let (code, _, _) = post(&srv, "/api/v1/metadata", &[]);
    assert_eq!(
        code, 405,
        "POST on a GET-only endpoint is 405, so Grafana retries with GET"
    );
    let (code, _, body) = get(&srv, "/api/v1/metadata", &[("limit", "many")]);
    assert_eq!(code, 400, "{body}");
    assert_eq!(json_of(&body)["errorType"], "bad_data");

    // Exemplars are not stored yet: an empty list. Grafana's probe sends milliseconds.
    let body = ok_both(
        &srv,
        "/api/v1/query_exemplars",
        &[
            ("query", "test"),
            ("start", "1700000000000"),
            ("end", "1700003600000"),
        ],
    );
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    let (code, ct, body) = get(&srv, "/api/v1/query_exemplars", &[("query", "sum(")]);
    assert_eq!(code, 400, "{body}");
    assert!(ct.starts_with("application/json"));
    assert_eq!(json_of(&body)["errorType"], "bad_data");
    assert_error(
        &srv,
        "/api/v1/query_exemplars",
        &[("query", "up"), ("start", "10"), ("end", "5")],
        400,
        "bad_data",
        "end timestamp must not be before start timestamp",
    );

    let rt = srv.api_data("/api/v1/status/runtimeinfo", None);
    assert!(rt["startTime"].is_string() && rt["CWD"].is_string(), "{rt}");
    let flags = srv.api_data("/api/v1/status/flags", None);
    assert_eq!(flags["query.lookback-delta"], "5m", "{flags}");
    assert_eq!(flags["query.timeout"], "2m", "{flags}");
    assert_eq!(flags["query.max-samples"], "50000000", "{flags}");
    let cfg = srv.api_data("/api/v1/status/config", None);
    assert!(cfg["yaml"].is_string(), "{cfg}");
}

#[test]
fn label_lookups_as_grafana_makes_them() {
    let (_dir, srv) = start();
    let (start, end) = (secs(BASE_MS - 3600 * S), secs(BASE_MS + 3600 * S));
    // Label values are GET-only, in Prometheus as in Grafana.
    let values = |path: &str, params: &[(&str, &str)]| -> Value {
        let body = if path.ends_with("/values") {
            let (code, _, body) = get(&srv, path, params);
            assert_eq!(code, 200, "GET {path} {params:?}: {body}");
            body
        } else {
            ok_both(&srv, path, params)
        };
        json_of(&body)["data"].clone()
    };
    // Metric names, for the metric browser.
    let names = values(
        "/api/v1/label/__name__/values",
        &[("start", &start), ("end", &end)],
    );
    for n in ["qa_fmt", "qa_requests_total", "qa_up"] {
        assert!(names.as_array().unwrap().contains(&json!(n)), "{names}");
    }
    // Label values of one metric: `label_values(qa_requests_total, code)`.
    assert_eq!(
        values(
            "/api/v1/label/code/values",
            &[
                ("start", &start),
                ("end", &end),
                ("match[]", "qa_requests_total")
            ]
        ),
        json!(["200", "500"])
    );
    // The plural alias some Grafana 12 builds use.
    assert_eq!(
        values(
            "/api/v1/labels/code/values",
            &[("match[]", "qa_requests_total{instance=\"b\"}")]
        ),
        json!(["500"])
    );
    // Label keys of a selection.
    assert_eq!(
        values(
            "/api/v1/labels",
            &[("start", &start), ("end", &end), ("match[]", "qa_up")]
        ),
        json!(["__name__", "instance", "job"])
    );
    // Series with a limit, as the ad-hoc filter fallback asks.
    let s = values(
        "/api/v1/series",
        &[
            ("start", &start),
            ("end", &end),
            ("match[]", "{__name__=~\"qa_up|qa_requests_total\"}"),
            ("limit", "40000"),
        ],
    );
    assert_eq!(s.as_array().unwrap().len(), 4, "{s}");
}

#[test]
fn tenants_query_their_own_data() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some("multi_tenant: true\n"));
    let (code, text) = srv.write_tenant(
        &request(vec![series(
            &[("__name__", "qa_t"), ("job", "x")],
            &[(BASE_MS, 7.0)],
        )]),
        "team-a",
    );
    assert_eq!(code, 204, "{text}");
    let t = secs(BASE_MS);
    let path = format!("/api/v1/query?query=qa_t&time={t}");
    let a = srv.api_data(&path, Some("team-a"));
    assert_eq!(a["result"][0]["value"][1], "7", "{a}");
    let b = srv.api_data(&path, Some("team-b"));
    assert_eq!(b["result"], json!([]), "{b}");
    let (code, v) = srv.get_json(&path, None);
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["errorType"], "bad_data");
}

#[test]
fn query_cli() {
    let (_dir, srv) = start();
    let server = format!("http://{}", srv.addr);
    let run = |args: &[&str]| {
        let mut all = vec!["query", "--server", server.as_str()];
        all.extend_from_slice(args);
        run_cli(&all, Duration::from_secs(30))
    };
    let t = secs(BASE_MS);
    let (code, out, err) = run(&["--time", &t, "qa_up"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        format!(
            "{:<30}  VALUE\n{:<30}  1\n{:<30}  0\n",
            "SERIES", "qa_up{instance=\"a\", job=\"api\"}", "qa_up{instance=\"b\", job=\"api\"}"
        )
    );

    let (code, out, err) = run(&["1+1"]);
    assert_eq!((code, out.as_str()), (Some(0), "2\n"), "{err}");

    let (from, to) = (secs(BASE_MS - 60 * S), secs(BASE_MS));
    let (code, out, err) = run(&[
        "--start",
        &from,
        "--end",
        &to,
        "--step",
        "30s",
        "qa_requests_total",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let b = BASE_MS / 1000;
    assert_eq!(
        out,
        format!(
            "qa_requests_total{{code=\"200\", instance=\"a\", job=\"api\"}} => 1160 @{}, 1180 @{}, 1200 @{}\n\
             qa_requests_total{{code=\"500\", instance=\"b\", job=\"api\"}} => 3480 @{}, 3540 @{}, 3600 @{}\n",
            b - 60, b - 30, b, b - 60, b - 30, b
        )
    );

    let (code, out, err) = run(&["sum("]);
    assert_ne!(code, Some(0));
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("invalid parameter \"query\""), "{err}");

    let (code, _, err) = run_cli(
        &["query", "--server", "http://127.0.0.1:1", "up"],
        Duration::from_secs(30),
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("cannot reach"), "{err}");
}
