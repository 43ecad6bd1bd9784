//! The requests Grafana's Prometheus, Loki and Tempo datasources send (see
//! `shared/contracts/README.md`: health checks, buildinfo, feature probes, label and value
//! lookups with `match[]` over GET and POST form, `query_range` with step, Loki
//! `query_range` with direction and limit, volume and stats, Tempo search, tags and trace
//! by id in JSON and protobuf), replayed against the real binary fed with real data
//! (remote_write, Loki push, OTLP spans). Every answer is checked for shape and content.

mod common;

use std::collections::BTreeSet;

use common::*;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use serde_json::{json, Value};

/// Seconds of the metric samples: every 15 s over ten minutes from [`BASE_MS`].
const STEP_MS: i64 = 15_000;
const SAMPLES: i64 = 41;
const BASE_S: i64 = BASE_MS / 1000;

fn feed_metrics(srv: &Server) {
    let pts = |f: &dyn Fn(i64) -> f64| -> Vec<(i64, f64)> {
        (0..SAMPLES)
            .map(|i| (BASE_MS + i * STEP_MS, f(i)))
            .collect()
    };
    let mut err = series(
        &[
            ("__name__", "http_requests_total"),
            ("code", "500"),
            ("instance", "a:80"),
            ("job", "api"),
        ],
        &pts(&|i| i as f64),
    );
    err.exemplars.push(Exemplar {
        labels: labels(&[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]),
        value: 20.0,
        timestamp: BASE_MS + 300_000,
    });
    let req = WriteRequest {
        timeseries: vec![
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("code", "200"),
                    ("instance", "a:80"),
                    ("job", "api"),
                ],
                &pts(&|i| (i * 10) as f64),
            ),
            err,
            series(
                &[
                    ("__name__", "node_load1"),
                    ("instance", "h:9100"),
                    ("job", "node"),
                ],
                &pts(&|_| 0.5),
            ),
            series(
                &[("__name__", "up"), ("instance", "a:80"), ("job", "api")],
                &pts(&|_| 1.0),
            ),
        ],
        metadata: vec![MetricMetadata {
            r#type: 1,
            metric_family_name: "http_requests_total".into(),
            help: "Requests served (remote_write metadata is accepted, not stored).".into(),
            unit: String::new(),
        }],
    };
    srv.write_ok(&req);
}

fn prom_ok(code: u16, v: &Value, what: &str) -> Value {
    assert_eq!(code, 200, "{what}: {v}");
    assert_eq!(v["status"], "success", "{what}: {v}");
    v["data"].clone()
}

fn post_json(srv: &Server, path: &str, form: &str) -> (u16, Value) {
    let (code, body) = srv.post_form(path, form, None);
    let v = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("POST {path}: {code} not JSON ({e}): {body}"));
    (code, v)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

/// The window Grafana's metadata calls send: integer seconds around the data.
fn meta_range() -> String {
    format!("start={}&end={}", BASE_S - 3600, BASE_S + 3600)
}

#[test]
fn prometheus_datasource() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    feed_metrics(&srv);

    // Save & test: `1+1` over 1s..4s, GET and POST; then buildinfo.
    let want = json!({"resultType": "scalar", "result": [4, "2"]});
    let (code, v) = srv.get_json("/api/v1/query?query=1%2B1&time=4", None);
    assert_eq!(prom_ok(code, &v, "health GET"), want);
    let (code, v) = post_json(&srv, "/api/v1/query", "query=1%2B1&time=4");
    assert_eq!(prom_ok(code, &v, "health POST"), want);
    let (code, v) = srv.get_json("/api/v1/status/buildinfo", None);
    let b = prom_ok(code, &v, "buildinfo");
    let version = b["version"].as_str().expect("version");
    let major: u32 = version.split('.').next().unwrap().parse().expect("semver");
    assert!(major >= 2, "{b}");
    for k in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(b[k].is_string(), "buildinfo lacks {k}: {b}");
    }
    // A `features` key would make Grafana take Lookout for Mimir and use a ruler API.
    assert!(b.get("features").is_none(), "{b}");

    // Metric names for the language provider.
    let (code, v) = srv.get_json(
        &format!("/api/v1/label/__name__/values?{}", meta_range()),
        None,
    );
    assert_eq!(
        strings(&prom_ok(code, &v, "names")),
        ["http_requests_total", "node_load1", "up"]
    );
    // Label keys, with and without match[], GET and POST form.
    let path = format!(
        "/api/v1/labels?{}&match[]=http_requests_total",
        meta_range()
    );
    let (code, v) = srv.get_json(&path, None);
    let want = ["__name__", "code", "instance", "job"];
    assert_eq!(strings(&prom_ok(code, &v, "labels GET")), want);
    let (code, v) = post_json(
        &srv,
        "/api/v1/labels",
        &format!("{}&match%5B%5D=http_requests_total", meta_range()),
    );
    assert_eq!(strings(&prom_ok(code, &v, "labels POST")), want);
    let (code, v) = post_json(
        &srv,
        "/api/v1/labels",
        &format!("{}&match%5B%5D=up&match%5B%5D=node_load1", meta_range()),
    );
    assert_eq!(
        strings(&prom_ok(code, &v, "labels POST, two match[]")),
        ["__name__", "instance", "job"]
    );
    // Label values with match[] (what `label_values(metric, label)` sends), the plural
    // alias of some Grafana 12 builds, and a values-escaped label name.
    let (code, v) = srv.get_json(&format!("/api/v1/label/job/values?{}", meta_range()), None);
    assert_eq!(strings(&prom_ok(code, &v, "job values")), ["api", "node"]);
    for p in ["label", "labels"] {
        let (code, v) = srv.get_json(
            &format!(
                "/api/v1/{p}/job/values?{}&match[]={}",
                meta_range(),
                enc("node_load1")
            ),
            None,
        );
        assert_eq!(strings(&prom_ok(code, &v, p)), ["node"]);
    }
    let (code, v) = srv.get_json(
        &format!(
            "/api/v1/label/U__code/values?{}&match[]={}",
            meta_range(),
            enc("{job=\"api\",__name__=~\"http_.*\"}")
        ),
        None,
    );
    assert_eq!(strings(&prom_ok(code, &v, "code values")), ["200", "500"]);
    // `limit` on metadata calls (Grafana sends it for large label sets).
    let (code, v) = srv.get_json(
        &format!("/api/v1/label/__name__/values?{}&limit=2", meta_range()),
        None,
    );
    assert_eq!(strings(&prom_ok(code, &v, "names limit")).len(), 2);
    let (code, v) = srv.get_json(
        &format!(
            "/api/v1/series?{}&match[]=http_requests_total&limit=1",
            meta_range()
        ),
        None,
    );
    assert_eq!(
        prom_ok(code, &v, "series limit").as_array().unwrap().len(),
        1
    );
    // Label values are GET-only in Grafana: a POST gets 405, so its POST-then-GET
    // fallback works.
    let (code, _) = srv.post_form("/api/v1/label/job/values", "", None);
    assert_eq!(code, 405);

    // query_range: step as Grafana sends it (float seconds) and as a duration; GET and POST.
    let (start, end) = (BASE_S + 60, BASE_S + 600);
    let q = enc("http_requests_total{code=\"200\"}");
    let want: Vec<Value> = (0..10)
        .map(|k| {
            let t = start + k * 60;
            json!([t, ((t - BASE_S) / 15 * 10).to_string()])
        })
        .collect();
    let check_range = |data: &Value, what: &str| {
        assert_eq!(data["resultType"], "matrix", "{what}: {data}");
        let r = data["result"].as_array().unwrap();
        assert_eq!(r.len(), 1, "{what}: {data}");
        assert_eq!(
            r[0]["metric"],
            json!({"__name__": "http_requests_total", "code": "200", "instance": "a:80", "job": "api"})
        );
        assert_eq!(r[0]["values"].as_array().unwrap(), &want, "{what}");
    };
    let form = format!("query={q}&start={start}&end={end}&step=60");
    let (code, v) = srv.get_json(&format!("/api/v1/query_range?{form}"), None);
    check_range(&prom_ok(code, &v, "range GET"), "range GET");
    let (code, v) = post_json(&srv, "/api/v1/query_range", &form);
    check_range(&prom_ok(code, &v, "range POST"), "range POST");
    let (code, v) = srv.get_json(
        &format!("/api/v1/query_range?query={q}&start={start}.000&end={end}&step=1m&timeout=30s"),
        None,
    );
    check_range(&prom_ok(code, &v, "range 1m"), "range 1m");
    // An aggregate over both series, and series sorted by labels.
    let (code, v) = srv.get_json(
        &format!(
            "/api/v1/query_range?query={}&start={end}&end={end}&step=15",
            enc("sum by (code) (http_requests_total)")
        ),
        None,
    );
    let d = prom_ok(code, &v, "sum by");
    assert_eq!(
        d["result"],
        json!([{"metric": {"code": "200"}, "values": [[end, "400"]]},
               {"metric": {"code": "500"}, "values": [[end, "40"]]}])
    );
    // Instant query as the backend sends it (time = end, float seconds).
    let (code, v) = srv.get_json(
        &format!(
            "/api/v1/query?query={}&time={end}.5",
            enc("rate(http_requests_total{code=\"500\"}[5m])")
        ),
        None,
    );
    let d = prom_ok(code, &v, "instant");
    assert_eq!(d["resultType"], "vector");
    let r = d["result"].as_array().unwrap();
    assert_eq!(r.len(), 1, "{d}");
    assert_eq!(r[0]["value"][0], json!(end as f64 + 0.5));
    let rate: f64 = r[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((rate - 1.0 / 15.0).abs() < 1e-9, "{d}");
    // A parse error: bad_data, 400.
    let (code, v) = srv.get_json("/api/v1/query?query=sum(", None);
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "bad_data");

    // Series (GET and POST form), the fallback and ad-hoc filter path.
    let want = json!([
        {"__name__": "http_requests_total", "code": "200", "instance": "a:80", "job": "api"},
        {"__name__": "http_requests_total", "code": "500", "instance": "a:80", "job": "api"}
    ]);
    let (code, v) = srv.get_json(
        &format!(
            "/api/v1/series?{}&match[]=http_requests_total&limit=40000",
            meta_range()
        ),
        None,
    );
    let mut got = prom_ok(code, &v, "series GET");
    sort_objects(&mut got);
    assert_eq!(got, want);
    let (code, v) = post_json(
        &srv,
        "/api/v1/series",
        &format!(
            "{}&match%5B%5D={}&limit=40000",
            meta_range(),
            enc("{__name__=\"http_requests_total\"}")
        ),
    );
    let mut got = prom_ok(code, &v, "series POST");
    sort_objects(&mut got);
    assert_eq!(got, want);

    // Exemplars: the availability probe (start/end in ms, a Grafana quirk), then a query.
    let (code, v) = srv.get_json(
        &format!(
            "/api/v1/query_exemplars?query=test&start={}&end={}",
            BASE_MS,
            BASE_MS + 3_600_000
        ),
        None,
    );
    prom_ok(code, &v, "exemplar probe");
    let form = format!(
        "query={}&start={}&end={}",
        enc("http_requests_total"),
        BASE_S,
        BASE_S + 600
    );
    for (code, v) in [
        srv.get_json(&format!("/api/v1/query_exemplars?{form}"), None),
        post_json(&srv, "/api/v1/query_exemplars", &form),
    ] {
        let d = prom_ok(code, &v, "exemplars");
        assert_eq!(
            d,
            json!([{
                "seriesLabels": {"__name__": "http_requests_total", "code": "500", "instance": "a:80", "job": "api"},
                "exemplars": [{"labels": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"},
                               "value": "20", "timestamp": BASE_S + 300}]
            }])
        );
    }
    // Recording-rule expansion map at datasource init.
    let (code, v) = srv.get_json("/api/v1/rules", None);
    assert_eq!(prom_ok(code, &v, "rules")["groups"], json!([]));
}

/// Metadata (help and type tooltips) comes from scrapes: Grafana asks with no params.
#[test]
fn prometheus_metadata_from_scrapes() {
    let target = serve_exposition(
        "# HELP jobs_done_total Jobs done.\n# TYPE jobs_done_total counter\njobs_done_total 3\n# HELP queue_depth Jobs waiting.\n# TYPE queue_depth gauge\nqueue_depth 7\n",
    );
    let dir = TestDir::new();
    let cfg = format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: worker\n    static_configs: [{{targets: ['{target}']}}]\n"
    );
    let srv = Server::start_real_clock(&dir.data(), Some(&cfg));
    let d = wait_for(std::time::Duration::from_secs(30), "metadata", || {
        let d = srv.api_data("/api/v1/metadata", None);
        d.get("queue_depth").is_some().then_some(d)
    });
    assert_eq!(
        d["jobs_done_total"],
        json!([{"type": "counter", "help": "Jobs done.", "unit": ""}]),
        "{d}"
    );
    assert_eq!(
        d["queue_depth"],
        json!([{"type": "gauge", "help": "Jobs waiting.", "unit": ""}]),
        "{d}"
    );
    let d = srv.api_data("/api/v1/metadata?metric=queue_depth", None);
    assert_eq!(d.as_object().unwrap().len(), 1, "{d}");
    let d = srv.api_data("/api/v1/metadata?limit=1", None);
    assert_eq!(d.as_object().unwrap().len(), 1, "{d}");
    // And the scraped sample answers a query, for the tooltips' metric.
    let d = srv.api_data("/api/v1/query?query=queue_depth", None);
    assert_eq!(d["result"][0]["value"][1], "7", "{d}");
    assert_eq!(d["result"][0]["metric"]["job"], "worker", "{d}");
}

/// Sorts an array of objects by their JSON text (series order is not part of the contract).
fn sort_objects(v: &mut Value) {
    if let Some(a) = v.as_array_mut() {
        a.sort_by_key(|x| x.to_string());
    }
}

// ---- Loki ----

const NS: i64 = 1_000_000;

/// The log lines are at CLOCK - 60 s + i s.
fn lt(i: i64) -> i64 {
    (CLOCK_MS - 60_000) * NS + i * 1_000_000_000
}

fn app_line(i: i64) -> String {
    let level = if i % 3 == 0 { "error" } else { "info" };
    format!("level={level} msg=\"request {i} done\" n={i}")
}

fn feed_logs(srv: &Server) {
    let app: Vec<Value> = (0..10)
        .map(|i| json!([lt(i).to_string(), app_line(i)]))
        .collect();
    let web = vec![
        json!([lt(2).to_string(), "GET /pay 500", {"trace_id": "4bf92f3577b34da6"}]),
        json!([lt(5).to_string(), "GET /pay 200", {"trace_id": "00f067aa0ba902b7"}]),
    ];
    let body = json!({"streams": [
        {"stream": {"job": "app", "env": "prod"}, "values": app},
        {"stream": {"job": "web"}, "values": web},
    ]});
    let (code, text) = srv.post_json("/loki/api/v1/push", &body, None);
    assert_eq!(code, 204, "{text}");
}

fn loki_range(from: i64, to: i64) -> String {
    format!("start={}&end={}", lt(from), lt(to))
}

fn stream_values(data: &Value) -> Vec<(i64, String)> {
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().clone())
        .map(|v| {
            (
                v[0].as_str().expect("ns as string").parse().unwrap(),
                v[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn loki_datasource() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    feed_logs(&srv);

    // Save & test: instant `vector(1)+vector(1)` at time=4000000000, one sample of 2.
    let (code, v) = srv.get_json(
        "/loki/api/v1/query?query=vector(1)%2Bvector(1)&direction=backward&time=4000000000",
        None,
    );
    let d = prom_ok(code, &v, "loki health");
    assert_eq!(d["resultType"], "vector", "{d}");
    let r = d["result"].as_array().unwrap();
    assert_eq!(r.len(), 1, "{d}");
    assert_eq!(r[0]["value"][1], "2");
    let (code, v) = srv.get_json("/loki/api/v1/status/buildinfo", None);
    assert_eq!(code, 200);
    assert!(v["version"].is_string(), "{v}");
    let (code, body) = srv.get("/ready", None);
    assert_eq!(code, 200, "{body}");

    // Log query_range as Grafana sends it: ns times, step in ms, limit, direction.
    let sel = enc("{job=\"app\"}");
    for (dir, want) in [("backward", [9, 8, 7]), ("forward", [0, 1, 2])] {
        let (code, v) = srv.get_json(
            &format!(
                "/loki/api/v1/query_range?query={sel}&{}&limit=3&direction={dir}&step=1000ms",
                loki_range(0, 60)
            ),
            None,
        );
        let d = prom_ok(code, &v, dir);
        assert_eq!(d["resultType"], "streams", "{d}");
        assert_eq!(
            d["result"][0]["stream"],
            json!({"job": "app", "env": "prod"})
        );
        let want: Vec<(i64, String)> = want.iter().map(|&i| (lt(i), app_line(i))).collect();
        assert_eq!(stream_values(&d), want, "{dir}");
    }
    // Supporting queries carry X-Query-Tags (ignored), and a tenant header is optional.
    let resp = srv
        .client
        .get(srv.url(&format!(
            "/loki/api/v1/query_range?query={sel}&{}&limit=1&direction=backward&step=1000ms",
            loki_range(0, 60)
        )))
        .header("X-Query-Tags", "Source=logsample")
        .header("X-Grafana-Org-Id", "1")
        .send()
        .expect("tagged query");
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = serde_json::from_str(&resp.text().expect("body")).expect("json");
    assert_eq!(stream_values(&v["data"]), [(lt(9), app_line(9))]);
    // A line filter, and `end` exclusive.
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/query_range?query={}&{}&limit=100&direction=forward",
            enc("{job=\"app\"} |= \"level=error\""),
            loki_range(0, 9)
        ),
        None,
    );
    let d = prom_ok(code, &v, "filter");
    let got: Vec<i64> = stream_values(&d).iter().map(|x| x.0).collect();
    assert_eq!(got, [lt(0), lt(3), lt(6)]);
    // Structured metadata: folded into the labels by default, categorized on request.
    let web = enc("{job=\"web\"}");
    let path = format!(
        "/loki/api/v1/query_range?query={web}&{}&limit=10&direction=backward",
        loki_range(0, 60)
    );
    let (code, v) = srv.get_json(&path, None);
    let d = prom_ok(code, &v, "web");
    let mut labels: Vec<String> = d["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stream"]["trace_id"].as_str().unwrap_or("").to_string())
        .collect();
    labels.sort();
    assert_eq!(labels, ["00f067aa0ba902b7", "4bf92f3577b34da6"], "{d}");
    let resp = srv
        .client
        .get(srv.url(&path))
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .send()
        .expect("categorized");
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = serde_json::from_str(&resp.text().expect("body")).expect("json");
    let d = &v["data"];
    assert_eq!(d["encodingFlags"], json!(["categorize-labels"]), "{v}");
    assert_eq!(d["result"][0]["stream"], json!({"job": "web"}), "{v}");
    let vals = d["result"][0]["values"].as_array().unwrap();
    assert_eq!(vals.len(), 2);
    assert_eq!(vals[0][1], "GET /pay 200");
    assert_eq!(
        vals[0][2]["structuredMetadata"]["trace_id"], "00f067aa0ba902b7",
        "{v}"
    );

    // Metric query_range: a matrix, oldest first.
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/query_range?query={}&start={}&end={}&step=30000ms",
            enc("sum(count_over_time({job=\"app\"}[1m]))"),
            lt(0),
            lt(30)
        ),
        None,
    );
    let d = prom_ok(code, &v, "metric range");
    assert_eq!(d["resultType"], "matrix", "{d}");
    let t0 = lt(0) / 1_000_000_000;
    assert_eq!(
        d["result"],
        json!([{"metric": {}, "values": [[t0, "1"], [t0 + 30, "10"]]}]),
        "{d}"
    );
    // Instant metric query with the parser, as the logs dashboard's tables run.
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/query?query={}&time={}&direction=backward",
            enc("sum by (level) (count_over_time({job=\"app\"} | logfmt [10m]))"),
            lt(30)
        ),
        None,
    );
    let d = prom_ok(code, &v, "instant by level");
    let mut got: Vec<(String, String)> = d["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["level"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [("error".into(), "4".into()), ("info".into(), "6".into())]
    );
    // A log query is refused by the instant endpoint; a parse error is a 400 with text.
    let (code, body) = srv.get(&format!("/loki/api/v1/query?query={}", enc("{job=")), None);
    assert_eq!(code, 400, "{body}");
    assert!(!body.trim().is_empty());

    // Labels and values, with and without the `query` selector.
    let (code, v) = srv.get_json(
        &format!("/loki/api/v1/labels?{}", loki_range(-60, 60)),
        None,
    );
    let names = strings(&prom_ok(code, &v, "labels"));
    assert!(
        names.contains(&"job".to_string()) && names.contains(&"env".to_string()),
        "{names:?}"
    );
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/labels?{}&query={}",
            loki_range(-60, 60),
            enc("{job=\"web\"}")
        ),
        None,
    );
    let names = strings(&prom_ok(code, &v, "labels of web"));
    assert!(!names.contains(&"env".to_string()), "{names:?}");
    let (code, v) = srv.get_json(
        &format!("/loki/api/v1/label/job/values?{}", loki_range(-60, 60)),
        None,
    );
    assert_eq!(strings(&prom_ok(code, &v, "job values")), ["app", "web"]);
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/label/job/values?{}&query={}",
            loki_range(-60, 60),
            enc("{env=\"prod\"}")
        ),
        None,
    );
    assert_eq!(strings(&prom_ok(code, &v, "job values of prod")), ["app"]);
    // Series, GET and POST form.
    let (code, v) = srv.get_json(
        &format!("/loki/api/v1/series?{}&match[]={sel}", loki_range(-60, 60)),
        None,
    );
    assert_eq!(
        prom_ok(code, &v, "series GET"),
        json!([{"job": "app", "env": "prod"}])
    );
    let (code, v) = post_json(
        &srv,
        "/loki/api/v1/series",
        &format!("{}&match%5B%5D={sel}", loki_range(-60, 60)),
    );
    assert_eq!(
        prom_ok(code, &v, "series POST"),
        json!([{"job": "app", "env": "prod"}])
    );

    // Index stats: a bare object.
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/index/stats?query={sel}&{}",
            loki_range(-60, 60)
        ),
        None,
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["streams"], 1, "{v}");
    assert_eq!(v["entries"], 10, "{v}");
    let app_bytes: u64 = (0..10).map(|i| app_line(i).len() as u64).sum();
    assert_eq!(v["bytes"], app_bytes, "{v}");
    assert!(v["chunks"].as_u64().is_some_and(|c| c >= 1), "{v}");
    // Volume (logs volume in Explore): bytes per job, vector; range: matrix.
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/index/volume?query={}&{}&limit=100",
            enc("{job=~\".+\"}"),
            loki_range(-60, 60)
        ),
        None,
    );
    let d = prom_ok(code, &v, "volume");
    assert_eq!(d["resultType"], "vector", "{d}");
    let mut vol: Vec<(String, u64)> = d["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["job"].as_str().unwrap_or("").to_string(),
                s["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    vol.sort();
    assert_eq!(vol.len(), 2, "{d}");
    assert_eq!(vol[0], ("app".to_string(), app_bytes), "{d}");
    assert_eq!(vol[1].0, "web");
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/index/volume_range?query={sel}&{}&step=60000ms&limit=100",
            loki_range(-60, 60)
        ),
        None,
    );
    let d = prom_ok(code, &v, "volume_range");
    assert_eq!(d["resultType"], "matrix", "{d}");
    let total: u64 = d["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, app_bytes, "{d}");

    // Detected fields (query builder, Drilldown): no envelope.
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/detected_fields?query={sel}&{}&limit=1000",
            loki_range(-60, 60)
        ),
        None,
    );
    assert_eq!(code, 200, "{v}");
    let fields = v["fields"].as_array().expect("fields");
    let level = fields
        .iter()
        .find(|f| f["label"] == "level")
        .unwrap_or_else(|| panic!("no level in {v}"));
    assert_eq!(level["type"], "string");
    assert_eq!(level["cardinality"], 2);
    assert_eq!(level["parsers"], json!(["logfmt"]));
    let n = fields.iter().find(|f| f["label"] == "n").expect("n");
    assert_eq!(n["type"], "int", "{v}");
    assert_eq!(n["cardinality"], 10, "{v}");
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/detected_field/level/values?query={sel}&{}",
            loki_range(-60, 60)
        ),
        None,
    );
    assert_eq!(code, 200, "{v}");
    let mut vals = strings(&v["values"]);
    vals.sort();
    assert_eq!(vals, ["error", "info"]);
    // Patterns (Logs Drilldown): numbers masked, counted per step, most frequent first.
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/patterns?query={sel}&start={}&end={}&step=30s",
            lt(0),
            lt(60)
        ),
        None,
    );
    let d = prom_ok(code, &v, "patterns");
    let t0 = lt(0) / 1_000_000_000;
    assert_eq!(
        d,
        json!([
            {"pattern": "level=info msg=\"request <_> done\" n=<_>", "samples": [[t0, 6]]},
            {"pattern": "level=error msg=\"request <_> done\" n=<_>", "samples": [[t0, 4]]}
        ])
    );
    // detected_labels and the v2 tail probe answer 404, so Grafana falls back to
    // /labels + /series and to the v1 tail protocol.
    for p in ["/loki/api/v1/detected_labels", "/loki/api/v2alpha/tail"] {
        assert_eq!(srv.get(p, None).0, 404, "{p}");
    }
}

// ---- Tempo ----

const CART: &str = "2f3e0cee77ae5dc9c17ade3689eb2e54";
const HEALTH: &str = "0af7651916cd43dd8448eb211c80319c";

fn span(trace: &str, id: &str, parent: &str, name: &str, kind: i64, end: i64, ms: i64) -> Value {
    json!({"traceId": trace, "spanId": id, "parentSpanId": parent, "name": name, "kind": kind,
           "startTimeUnixNano": (end - ms * 1_000_000).to_string(),
           "endTimeUnixNano": end.to_string(), "status": {"code": 0}})
}

/// Span end time: a minute before the server's clock.
fn span_end() -> i64 {
    (CLOCK_MS - 60_000) * NS
}

fn feed_spans(srv: &Server) {
    let end = span_end();
    let mut cart = span(CART, "563d623c76514f8e", "", "GET /cart", 2, end, 120);
    cart["attributes"] = json!([{"key": "http.method", "value": {"stringValue": "GET"}}]);
    let mut db = span(
        CART,
        "00000000000000d1",
        "563d623c76514f8e",
        "SELECT cart",
        3,
        end - 10_000_000,
        80,
    );
    db["status"] = json!({"code": 2, "message": "timeout"});
    db["attributes"] = json!([{"key": "db.system", "value": {"stringValue": "postgres"}}]);
    let health = span(
        HEALTH,
        "00000000000000e1",
        "",
        "GET /health",
        2,
        end - 30_000_000_000,
        2,
    );
    let resource = |svc: &str, spans: Vec<Value>| {
        json!({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
               "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]})
    };
    let body = json!({"resourceSpans": [
        resource("shop", vec![cart, health]),
        resource("db", vec![db]),
    ]});
    let (code, text) = srv.post_json("/v1/traces", &body, None);
    assert_eq!(code, 200, "{text}");
}

fn tempo_range() -> String {
    let s = CLOCK_MS / 1000;
    format!("start={}&end={}", s - 3600, s)
}

fn search(srv: &Server, params: &str) -> Vec<Value> {
    let (code, v) = srv.get_json(&format!("/api/search?{params}&{}", tempo_range()), None);
    assert_eq!(code, 200, "{params}: {v}");
    v["traces"].as_array().cloned().unwrap_or_default()
}

/// Spans (trace id hex, name) of an OTLP `TracesData`.
fn proto_spans(t: &TracesData) -> BTreeSet<(String, String)> {
    t.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| {
            let id: String = s.trace_id.iter().map(|b| format!("{b:02x}")).collect();
            (id, s.name.clone())
        })
        .collect()
}

/// `tempopb.TraceByIDResponse`: the trace wrapped in field 1.
#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
    #[prost(int32, tag = "3")]
    status: i32,
}

#[test]
fn tempo_datasource() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    feed_spans(&srv);

    // Save & test, readiness, buildinfo.
    assert_eq!(srv.get("/api/echo", None), (200, "echo".to_string()));
    assert_eq!(srv.get("/ready", None).0, 200);
    let (code, v) = srv.get_json("/api/status/buildinfo", None);
    assert_eq!(code, 200, "{v}");
    assert!(v["version"].is_string(), "{v}");

    // Tag search (logfmt tags, minDuration, limit) and TraceQL.
    let traces = search(
        &srv,
        &format!(
            "tags={}&minDuration=50ms&limit=20",
            enc("service.name=shop")
        ),
    );
    assert_eq!(traces.len(), 1, "{traces:?}");
    let t = &traces[0];
    assert_eq!(t["traceID"], CART);
    assert_eq!(t["rootServiceName"], "shop");
    assert_eq!(t["rootTraceName"], "GET /cart");
    assert_eq!(t["durationMs"], 120);
    let start: i64 = t["startTimeUnixNano"]
        .as_str()
        .expect("string")
        .parse()
        .unwrap();
    assert_eq!(start, span_end() - 120_000_000);
    let traces = search(
        &srv,
        &format!(
            "tags={}&maxDuration=10ms&limit=20",
            enc("service.name=shop")
        ),
    );
    assert_eq!(traces.len(), 1, "{traces:?}");
    assert_eq!(traces[0]["traceID"], HEALTH);
    assert_eq!(traces[0]["rootTraceName"], "GET /health");
    let traces = search(
        &srv,
        &format!(
            "tags={}&limit=20",
            enc("service.name=\"shop\" http.method=GET")
        ),
    );
    assert_eq!(traces.len(), 1, "{traces:?}");
    assert_eq!(traces[0]["traceID"], CART);
    let traces = search(&srv, &format!("tags={}&limit=20", enc("service.name=shop")));
    let mut ids: Vec<&str> = traces
        .iter()
        .map(|t| t["traceID"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, [HEALTH, CART]);
    let traces = search(
        &srv,
        &format!("q={}&limit=20&spss=3", enc("{ status = error }")),
    );
    assert_eq!(traces.len(), 1, "{traces:?}");
    assert_eq!(traces[0]["traceID"], CART);
    let set = &traces[0]["spanSets"][0];
    assert_eq!(set["matched"], 1);
    assert_eq!(set["spans"][0]["spanID"], "00000000000000d1");
    assert_eq!(set["spans"][0]["durationNanos"], "80000000");
    let traces = search(
        &srv,
        &format!(
            "q={}&limit=20&spss=3",
            enc("{ resource.service.name = \"shop\" && span.http.method = \"GET\" }")
        ),
    );
    assert_eq!(traces.len(), 1, "{traces:?}");
    let traces = search(&srv, &format!("q={}&limit=1&spss=3", enc("{ }")));
    assert_eq!(traces.len(), 1, "limit=1: {traces:?}");

    // Tag names (v2 first, v1 fallback) and values.
    let (code, v) = srv.get_json(&format!("/api/v2/search/tags?{}", tempo_range()), None);
    assert_eq!(code, 200, "{v}");
    let scope = |name: &str| -> Vec<String> {
        v["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| strings(&s["tags"]))
            .unwrap_or_default()
    };
    assert!(
        scope("resource").contains(&"service.name".to_string()),
        "{v}"
    );
    let span_tags = scope("span");
    assert!(span_tags.contains(&"http.method".to_string()), "{v}");
    assert!(span_tags.contains(&"db.system".to_string()), "{v}");
    let intrinsic = scope("intrinsic");
    for i in ["name", "status", "kind", "duration"] {
        assert!(intrinsic.contains(&i.to_string()), "{i}: {v}");
    }
    let (code, v) = srv.get_json(
        &format!("/api/v2/search/tags?scope=span&{}", tempo_range()),
        None,
    );
    assert_eq!(code, 200, "{v}");
    assert!(
        v["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["name"] == "span"),
        "{v}"
    );
    // With `q` (what the TraceQL editor has typed so far): the tags of matching spans.
    let (code, v) = srv.get_json(
        &format!(
            "/api/v2/search/tags?scope=span&q={}&{}",
            enc("{ resource.service.name = \"db\" }"),
            tempo_range()
        ),
        None,
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["scopes"],
        json!([{"name": "span", "tags": ["db.system"]}]),
        "{v}"
    );
    let (code, v) = srv.get_json(&format!("/api/search/tags?{}", tempo_range()), None);
    assert_eq!(code, 200, "{v}");
    let names = strings(&v["tagNames"]);
    for n in ["service.name", "http.method", "db.system"] {
        assert!(names.contains(&n.to_string()), "{n}: {v}");
    }
    let (code, v) = srv.get_json(
        &format!("/api/search/tag/service.name/values?{}", tempo_range()),
        None,
    );
    assert_eq!(code, 200, "{v}");
    let mut vals = strings(&v["tagValues"]);
    vals.sort();
    assert_eq!(vals, ["db", "shop"]);
    let (code, v) = srv.get_json(
        &format!(
            "/api/v2/search/tag/resource.service.name/values?{}",
            tempo_range()
        ),
        None,
    );
    assert_eq!(code, 200, "{v}");
    let mut vals: Vec<Value> = v["tagValues"].as_array().unwrap().clone();
    vals.sort_by_key(|x| x.to_string());
    assert_eq!(
        vals,
        [
            json!({"type": "string", "value": "db"}),
            json!({"type": "string", "value": "shop"})
        ]
    );
    let (code, v) = srv.get_json(
        &format!("/api/v2/search/tag/status/values?{}", tempo_range()),
        None,
    );
    assert_eq!(code, 200, "{v}");
    let vals: Vec<&Value> = v["tagValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["value"])
        .collect();
    assert!(vals.contains(&&json!("error")), "{v}");

    // Trace by id: JSON v1 and v2.
    let (code, v) = srv.get_json(&format!("/api/traces/{CART}"), None);
    assert_eq!(code, 200, "{v}");
    let batches = v["batches"].as_array().expect("batches");
    assert_eq!(batches.len(), 2, "{v}");
    let (code, v) = srv.get_json(&format!("/api/v2/traces/{CART}?{}", tempo_range()), None);
    assert_eq!(code, 200, "{v}");
    let spans: usize = v["trace"]["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scopeSpans"][0]["spans"].as_array().unwrap().len())
        .sum();
    assert_eq!(spans, 2, "{v}");

    // What Grafana itself reads: protobuf, v2 wrapped in TraceByIDResponse, v1 bare.
    let want: BTreeSet<(String, String)> = [
        (CART.to_string(), "GET /cart".to_string()),
        (CART.to_string(), "SELECT cart".to_string()),
    ]
    .into();
    let proto = |path: &str| {
        let r = srv
            .client
            .get(srv.url(path))
            .header("Accept", "application/protobuf")
            .send()
            .expect("proto trace");
        let code = r.status().as_u16();
        (code, r.bytes().expect("body").to_vec())
    };
    let (code, body) = proto(&format!("/api/v2/traces/{CART}?{}", tempo_range()));
    assert_eq!(code, 200);
    let r = TraceByIdResponse::decode(body.as_slice()).expect("TraceByIDResponse");
    assert_eq!(r.status, 0, "COMPLETE");
    assert_eq!(proto_spans(&r.trace.expect("trace")), want);
    let (code, body) = proto(&format!("/api/traces/{CART}"));
    assert_eq!(code, 200);
    let t = TracesData::decode(body.as_slice()).expect("Trace");
    assert_eq!(proto_spans(&t), want);
    // Unknown: 404 on v2 (Grafana then tries v1), and on v1.
    let unknown = "1".repeat(32);
    assert_eq!(proto(&format!("/api/v2/traces/{unknown}")).0, 404);
    assert_eq!(proto(&format!("/api/traces/{unknown}")).0, 404);
}

// ---- Lookout's own /metrics under Prometheus', Loki's and Tempo's names ----

/// The samples of `name` (any labels) in a text exposition, by their label text.
fn samples(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => {
                    let end = r.find('}')?;
                    (&r[..end], r[end + 1..].trim())
                }
                None if rest.starts_with(' ') => ("", rest.trim()),
                None => return None,
            };
            Some((labels.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn total(text: &str, name: &str) -> f64 {
    samples(text, name).iter().map(|s| s.1).sum()
}

#[test]
fn self_metrics_under_upstream_names() {
    let dir = TestDir::new();
    // Span metrics on: spans pass through both sinks and must still be counted once.
    let srv = Server::start(
        &dir.data(),
        Some("otlp: {grpc_listen: ''}\ntraces:\n  span_metrics:\n    flush_interval: 300ms\n"),
    );
    feed_metrics(&srv);
    feed_logs(&srv);
    feed_spans(&srv);
    let (code, _) = srv.get("/api/v1/query?query=up", None);
    assert_eq!(code, 200);
    let (code, _) = srv.get(&format!("/api/v2/traces/{CART}"), None);
    assert_eq!(code, 200);
    let (code, m) = srv.get("/metrics", None);
    assert_eq!(code, 200);

    // Spans: three sent, three counted, under both names.
    assert_eq!(total(&m, "lookout_spans_received_total"), 3.0, "{m}");
    assert_eq!(total(&m, "tempo_distributor_spans_received_total"), 3.0);
    assert!(
        samples(&m, "lookout_traces_disk_bytes")
            .iter()
            .any(|(l, v)| l == "tenant=\"default\"" && *v > 0.0),
        "{m}"
    );
    // Logs: twelve lines pushed; Loki's distributor names sum Lookout's per-protocol ones.
    assert_eq!(total(&m, "loki_distributor_lines_received_total"), 12.0);
    let bytes = total(&m, "lookout_logs_bytes_received_total");
    assert!(bytes > 0.0);
    assert_eq!(total(&m, "loki_distributor_bytes_received_total"), bytes);
    assert_eq!(total(&m, "lookout_logs_streams"), 2.0, "{m}");
    assert_eq!(total(&m, "lookout_logs_lines"), 12.0, "{m}");
    assert!(total(&m, "lookout_logs_wal_bytes") > 0.0, "{m}");
    // TSDB under Prometheus' names: the four written series (span metrics may add more).
    let head = samples(&m, "prometheus_tsdb_head_series");
    assert_eq!(head.len(), 1, "{m}");
    assert_eq!(head[0].0, "tenant=\"default\"");
    assert!(head[0].1 >= 4.0, "{m}");
    assert_eq!(total(&m, "prometheus_tsdb_blocks_loaded"), 0.0);
    assert_eq!(total(&m, "prometheus_tsdb_compactions_total"), 0.0);
    assert!(total(&m, "prometheus_tsdb_wal_storage_size_bytes") > 0.0);
    // Requests by handler: the query above, and remote_write's.
    let q = samples(&m, "prometheus_http_requests_total");
    assert!(
        q.iter()
            .any(|(l, v)| l == "handler=\"/api/v1/query\",code=\"200\"" && *v == 1.0),
        "{q:?}"
    );
    let lat = samples(&m, "prometheus_http_request_duration_seconds_count");
    assert!(
        lat.iter()
            .any(|(l, v)| l == "handler=\"/api/v1/write\"" && *v == 1.0),
        "{lat:?}"
    );
    assert!(
        lat.iter().any(|(l, _)| l == "handler=\"/v1/traces\""),
        "{lat:?}"
    );
    assert!(
        lat.iter()
            .any(|(l, v)| l == "handler=\"/api/v2/traces/:id\"" && *v == 1.0),
        "{lat:?}"
    );
    // Every family has HELP and TYPE.
    for name in [
        "prometheus_tsdb_head_series",
        "prometheus_tsdb_compactions_total",
        "prometheus_http_request_duration_seconds",
        "loki_distributor_lines_received_total",
        "tempo_distributor_spans_received_total",
        "lookout_spans_received_total",
        "lookout_logs_head_lines",
    ] {
        assert!(m.contains(&format!("# TYPE {name} ")), "{name}");
        assert!(m.contains(&format!("# HELP {name} ")), "{name}");
    }
}

/// `prometheus_tsdb_compactions_total` is counted by the compactor: two overlapping blocks
/// (a backfill) are merged by the next maintenance round, and the counter says so.
#[test]
fn compactions_are_counted_by_the_compactor() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), Some("maintenance_interval: 200ms\n"));
    let (_, m) = srv.get("/metrics", None);
    assert_eq!(total(&m, "prometheus_tsdb_compactions_total"), 0.0, "{m}");
    assert_eq!(total(&m, "prometheus_tsdb_compactions_failed_total"), 0.0);
    let pts: Vec<(i64, f64)> = (0..SAMPLES).map(|i| (BASE_MS + i * STEP_MS, 1.0)).collect();
    for job in ["first", "backfill"] {
        srv.write_ok(&request(vec![series(
            &[("__name__", "compacted"), ("job", job)],
            &pts,
        )]));
        srv.flush();
    }
    let m = wait_for(std::time::Duration::from_secs(30), "a compaction", || {
        let (_, m) = srv.get("/metrics", None);
        (total(&m, "prometheus_tsdb_compactions_total") >= 1.0).then_some(m)
    });
    assert_eq!(total(&m, "prometheus_tsdb_compactions_total"), 1.0, "{m}");
    assert_eq!(total(&m, "prometheus_tsdb_compactions_failed_total"), 0.0);
    assert_eq!(total(&m, "prometheus_tsdb_blocks_loaded"), 1.0, "{m}");
    assert!(
        total(&m, "lookout_tsdb_compaction_seconds_total") > 0.0,
        "{m}"
    );
    // Both series survive the merge.
    let t = BASE_S + 300;
    let v = srv.api_data(
        &format!("/api/v1/query?query=count(compacted)&time={t}"),
        None,
    );
    assert_eq!(v["result"][0]["value"][1], "2", "{v}");
}
