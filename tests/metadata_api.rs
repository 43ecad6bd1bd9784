//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`: selectors, time
//! ranges, limits, POST forms and errors, read from the head, from blocks and after a
//! restart.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{json, Value};

const S: i64 = 1000;

/// Unix seconds of a ms timestamp, as a query parameter.
fn secs(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

fn five(start: i64) -> Vec<(i64, f64)> {
    (0..5)
        .map(|k| (start + k * 15 * S, k as f64 + 0.5))
        .collect()
}

fn load(srv: &Server) {
    let now = five(BASE_MS);
    srv.write_ok(&request(vec![
        series(
            &[
                ("__name__", "md_http_requests"),
                ("code", "200"),
                ("instance", "a"),
                ("job", "api"),
            ],
            &now,
        ),
        series(
            &[
                ("__name__", "md_http_requests"),
                ("code", "500"),
                ("instance", "b"),
                ("job", "api"),
            ],
            &now,
        ),
        series(
            &[
                ("__name__", "md_http_requests"),
                ("code", "200"),
                ("instance", "c"),
                ("job", "web"),
            ],
            &now,
        ),
        series(
            &[("__name__", "md_up"), ("instance", "a"), ("job", "api")],
            &now,
        ),
        series(
            &[("__name__", "md_up"), ("instance", "d"), ("job", "db")],
            &now,
        ),
        // Only an hour before the others (the previous block period).
        series(
            &[("__name__", "md_old"), ("job", "batch"), ("legacy", "yes")],
            &five(BASE_MS - 3600 * S),
        ),
        // Only an hour after the others (same block period).
        series(
            &[("__name__", "md_late"), ("job", "late"), ("late_only", "1")],
            &five(BASE_MS + 3600 * S),
        ),
    ]));
}

type L = BTreeMap<String, String>;

fn l(pairs: &[(&str, &str)]) -> L {
    lmap(pairs)
}

fn http(code: &str, instance: &str, job: &str) -> L {
    l(&[
        ("__name__", "md_http_requests"),
        ("code", code),
        ("instance", instance),
        ("job", job),
    ])
}

fn up(instance: &str, job: &str) -> L {
    l(&[("__name__", "md_up"), ("instance", instance), ("job", job)])
}

fn old() -> L {
    l(&[("__name__", "md_old"), ("job", "batch"), ("legacy", "yes")])
}

fn late() -> L {
    l(&[("__name__", "md_late"), ("job", "late"), ("late_only", "1")])
}

fn all_series() -> Vec<L> {
    let mut v = vec![
        http("200", "a", "api"),
        http("500", "b", "api"),
        http("200", "c", "web"),
        up("a", "api"),
        up("d", "db"),
        old(),
        late(),
    ];
    v.sort();
    v
}

fn query(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// GET `path?params`: asserts a success envelope; returns (data, warnings).
fn get_ok(srv: &Server, path: &str, params: &[(&str, &str)]) -> (Value, Option<Value>) {
    let q = query(params);
    let (code, v) = srv.get_json(&format!("{path}?{q}"), None);
    assert_eq!(code, 200, "GET {path}?{q}: {v}");
    assert_eq!(v["status"], "success", "{v}");
    (v["data"].clone(), v.get("warnings").cloned())
}

fn series_of(srv: &Server, params: &[(&str, &str)]) -> Vec<L> {
    let (data, w) = get_ok(srv, "/api/v1/series", params);
    assert!(w.is_none(), "unexpected warnings {w:?} for {params:?}");
    serde_json::from_value(data).expect("series data is a list of label sets")
}

fn strings(srv: &Server, path: &str, params: &[(&str, &str)]) -> Vec<String> {
    let (data, w) = get_ok(srv, path, params);
    assert!(
        w.is_none(),
        "unexpected warnings {w:?} for {path} {params:?}"
    );
    serde_json::from_value(data).expect("a list of strings")
}

fn sorted(mut v: Vec<L>) -> Vec<L> {
    v.sort();
    v
}

/// Every read assertion; run against the head, blocks, and a restarted server.
fn check_reads(srv: &Server, phase: &str) {
    eprintln!("checking reads: {phase}");
    // --- series: selectors ---
    assert_eq!(
        series_of(srv, &[("match[]", "md_http_requests")]),
        sorted(vec![
            http("200", "a", "api"),
            http("500", "b", "api"),
            http("200", "c", "web")
        ]),
        "{phase}"
    );
    assert_eq!(
        series_of(srv, &[("match[]", r#"md_http_requests{code=~"5.."}"#)]),
        vec![http("500", "b", "api")],
        "{phase}: regex"
    );
    assert_eq!(
        series_of(srv, &[("match[]", r#"{__name__=~"md_.*", job!="api"}"#)]),
        sorted(vec![http("200", "c", "web"), up("d", "db"), old(), late()]),
        "{phase}: !="
    );
    assert_eq!(
        series_of(srv, &[("match[]", r#"md_up{job!~"a.*"}"#)]),
        vec![up("d", "db")],
        "{phase}: !~"
    );
    assert_eq!(
        series_of(srv, &[("match[]", r#"{job=~"db|batch"}"#)]),
        sorted(vec![up("d", "db"), old()]),
        "{phase}: alternation"
    );
    assert_eq!(
        series_of(
            srv,
            &[
                ("match[]", "md_up"),
                ("match[]", "md_old"),
                ("match[]", r#"md_up{job="db"}"#)
            ]
        ),
        sorted(vec![up("a", "api"), up("d", "db"), old()]),
        "{phase}: several match[] are united without duplicates"
    );
    assert_eq!(
        series_of(srv, &[("match[]", "md_nonexistent")]),
        Vec::<L>::new()
    );
    assert_eq!(
        series_of(srv, &[("match[]", r#"{__name__=~"md_.+"}"#)]),
        all_series(),
        "{phase}: sorted by label set"
    );

    // --- series: time ranges ---
    let (a, b) = (secs(BASE_MS), secs(BASE_MS + 60 * S));
    assert_eq!(
        series_of(
            srv,
            &[
                ("match[]", r#"{__name__=~"md_.+"}"#),
                ("start", &a),
                ("end", &b)
            ]
        ),
        sorted(vec![
            http("200", "a", "api"),
            http("500", "b", "api"),
            http("200", "c", "web"),
            up("a", "api"),
            up("d", "db"),
        ]),
        "{phase}: series with samples only outside [start, end] are left out"
    );
    assert_eq!(
        series_of(
            srv,
            &[
                ("match[]", r#"{__name__=~"md_.+"}"#),
                ("start", &secs(BASE_MS + 61 * S))
            ]
        ),
        vec![late()],
        "{phase}: start only"
    );
    assert_eq!(
        series_of(
            srv,
            &[
                ("match[]", r#"{__name__=~"md_.+"}"#),
                ("end", &secs(BASE_MS - S))
            ]
        ),
        vec![old()],
        "{phase}: end only"
    );
    // Bounds are inclusive: the old series' last sample is at BASE - 3540s.
    let edge = secs(BASE_MS - 3540 * S);
    assert_eq!(
        series_of(
            srv,
            &[
                ("match[]", r#"{__name__=~"md_.+"}"#),
                ("start", &edge),
                ("end", &edge)
            ]
        ),
        vec![old()],
        "{phase}: inclusive bounds"
    );
    assert_eq!(
        series_of(
            srv,
            &[
                ("match[]", r#"{__name__=~"md_.+"}"#),
                ("start", &secs(BASE_MS - 3539 * S)),
                ("end", &secs(BASE_MS - S)),
            ]
        ),
        Vec::<L>::new(),
        "{phase}: a range between samples"
    );
    // RFC 3339 works as well as Unix seconds (BASE_MS is 2023-11-15T00:00:00Z).
    assert_eq!(BASE_MS, 1_700_006_400_000);
    assert_eq!(
        series_of(
            srv,
            &[
                ("match[]", "md_up"),
                ("start", "2023-11-15T00:00:00Z"),
                ("end", "2023-11-15T00:01:00Z")
            ]
        ),
        sorted(vec![up("a", "api"), up("d", "db")]),
        "{phase}: RFC 3339"
    );

    // --- export: samples limited to [start, end] ---
    let (code, body) = srv.get(
        &format!(
            "/api/v1/export?{}",
            query(&[
                ("match[]", r#"md_up{instance="d"}"#),
                ("match[]", "md_old"),
                ("start", &secs(BASE_MS + 15 * S)),
                ("end", &secs(BASE_MS + 45 * S)),
            ])
        ),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let got = parse_export(&body);
    assert_eq!(
        got.len(),
        1,
        "{phase}: only md_up has samples in range: {body}"
    );
    assert_eq!(got[0].labels, up("d", "db"));
    assert_eq!(
        got[0].samples,
        vec![
            (BASE_MS + 15 * S, 1.5),
            (BASE_MS + 30 * S, 2.5),
            (BASE_MS + 45 * S, 3.5)
        ],
        "{phase}"
    );

    // --- labels ---
    assert_eq!(
        strings(srv, "/api/v1/labels", &[]),
        ["__name__", "code", "instance", "job", "late_only", "legacy"],
        "{phase}"
    );
    assert_eq!(
        strings(srv, "/api/v1/labels", &[("match[]", "md_up")]),
        ["__name__", "instance", "job"],
        "{phase}"
    );
    assert_eq!(
        strings(
            srv,
            "/api/v1/labels",
            &[("match[]", "md_up"), ("match[]", "md_old")]
        ),
        ["__name__", "instance", "job", "legacy"],
        "{phase}"
    );
    assert_eq!(
        strings(srv, "/api/v1/labels", &[("start", &a), ("end", &b)]),
        ["__name__", "code", "instance", "job"],
        "{phase}: label names of series outside the range are left out"
    );
    assert_eq!(
        strings(
            srv,
            "/api/v1/labels",
            &[
                ("match[]", r#"{job!="api", job=~".+"}"#),
                ("start", &a),
                ("end", &b)
            ]
        ),
        ["__name__", "code", "instance", "job"],
        "{phase}"
    );

    // --- label values ---
    assert_eq!(
        strings(srv, "/api/v1/label/job/values", &[]),
        ["api", "batch", "db", "late", "web"],
        "{phase}"
    );
    assert_eq!(
        strings(
            srv,
            "/api/v1/label/job/values",
            &[("match[]", r#"md_http_requests{code!="500"}"#)]
        ),
        ["api", "web"],
        "{phase}"
    );
    assert_eq!(
        strings(
            srv,
            "/api/v1/label/job/values",
            &[("match[]", r#"{instance=~"a|d"}"#)]
        ),
        ["api", "db"],
        "{phase}"
    );
    assert_eq!(
        strings(
            srv,
            "/api/v1/label/job/values",
            &[("start", &a), ("end", &b)]
        ),
        ["api", "db", "web"],
        "{phase}: values of series outside the range are left out"
    );
    assert_eq!(
        strings(srv, "/api/v1/label/__name__/values", &[]),
        ["md_http_requests", "md_late", "md_old", "md_up"],
        "{phase}"
    );
    assert_eq!(
        strings(srv, "/api/v1/label/nope/values", &[]),
        Vec::<String>::new()
    );

    // --- limits ---
    let (data, w) = get_ok(
        srv,
        "/api/v1/series",
        &[("match[]", r#"{__name__=~"md_.+"}"#), ("limit", "2")],
    );
    let got: Vec<L> = serde_json::from_value(data).unwrap();
    assert_eq!(
        got,
        all_series()[..2].to_vec(),
        "{phase}: the first two in order"
    );
    assert_warned(w, 2, phase);
    let (data, w) = get_ok(srv, "/api/v1/labels", &[("limit", "3")]);
    assert_eq!(data, json!(["__name__", "code", "instance"]), "{phase}");
    assert_warned(w, 3, phase);
    let (data, w) = get_ok(srv, "/api/v1/label/job/values", &[("limit", "1")]);
    assert_eq!(data, json!(["api"]), "{phase}");
    assert_warned(w, 1, phase);
    // A limit that is not reached, or 0, truncates nothing and warns nothing.
    assert_eq!(
        strings(srv, "/api/v1/label/job/values", &[("limit", "5")]).len(),
        5
    );
    assert_eq!(
        strings(srv, "/api/v1/label/job/values", &[("limit", "0")]).len(),
        5
    );
    assert_eq!(
        series_of(
            srv,
            &[("match[]", r#"{__name__=~"md_.+"}"#), ("limit", "7")]
        )
        .len(),
        7
    );

    // --- POST forms equal GET ---
    for (path, params) in [
        (
            "/api/v1/series",
            vec![
                ("match[]", r#"{__name__=~"md_.+", job!="api"}"#),
                ("start", a.as_str()),
                ("end", b.as_str()),
            ],
        ),
        (
            "/api/v1/series",
            vec![("match[]", "md_up"), ("match[]", "md_old")],
        ),
        (
            "/api/v1/series",
            vec![("match[]", r#"{__name__=~"md_.+"}"#), ("limit", "3")],
        ),
        ("/api/v1/labels", vec![("match[]", "md_old")]),
        (
            "/api/v1/labels",
            vec![("start", a.as_str()), ("end", b.as_str())],
        ),
    ] {
        let q = query(&params);
        let (gc, gb) = srv.get(&format!("{path}?{q}"), None);
        let (pc, pb) = srv.post_form(path, &q, None);
        assert_eq!(
            (gc, &gb),
            (200, &pb),
            "{phase}: POST {path} {q} differs from GET (status {pc})"
        );
    }
}

#[track_caller]
fn assert_warned(w: Option<Value>, limit: usize, phase: &str) {
    let w = w.unwrap_or_else(|| panic!("{phase}: truncated result without warnings"));
    let w = w.as_array().expect("warnings list");
    assert_eq!(w.len(), 1, "{w:?}");
    let s = w[0].as_str().unwrap();
    assert!(
        s.contains("truncated") && s.contains(&limit.to_string()),
        "{phase}: {s}"
    );
}

#[test]
fn series_labels_and_values_from_head_blocks_and_after_restart() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    load(&srv);
    check_reads(&srv, "head");
    srv.flush();
    let st = srv.tsdb_status(None);
    assert_eq!(
        st["lookout"]["blocks"].as_array().unwrap().len(),
        2,
        "two block periods: {st}"
    );
    assert_eq!(st["lookout"]["head"]["series"], 0, "{st}");
    check_reads(&srv, "blocks");
    drop(srv);
    let srv = Server::start(&dir.data(), None);
    check_reads(&srv, "blocks after restart");
    // Half in blocks, half in the head: the same series written again, newer.
    srv.write_ok(&request(vec![series(
        &[("__name__", "md_up"), ("instance", "d"), ("job", "db")],
        &[(BASE_MS + 7 * S, 9.0)],
    )]));
    check_reads(&srv, "blocks and head");
}

#[track_caller]
fn assert_bad_data(srv: &Server, path: &str, params: &[(&str, &str)], needle: &str) {
    let q = query(params);
    for (code, body) in [
        srv.get(&format!("{path}?{q}"), None),
        srv.post_form(path, &q, None),
    ] {
        if path.contains("/label/") && code == 405 {
            continue; // label values are GET only, as in Prometheus
        }
        assert_eq!(code, 400, "{path}?{q}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(v["status"], "error", "{v}");
        assert_eq!(v["errorType"], "bad_data", "{v}");
        let msg = v["error"].as_str().unwrap();
        assert!(
            msg.contains(needle),
            "{path}?{q}: error {msg:?} should mention {needle:?}"
        );
    }
}

#[test]
fn bad_parameters_are_400_bad_data() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    load(&srv);
    for path in [
        "/api/v1/series",
        "/api/v1/labels",
        "/api/v1/label/job/values",
        "/api/v1/export",
    ] {
        if path == "/api/v1/export" {
            // Export answers errors in the same envelope.
        }
        assert_bad_data(&srv, path, &[("match[]", "md_up{")], "match[]");
        assert_bad_data(&srv, path, &[("match[]", "sum(md_up)")], "match[]");
        assert_bad_data(
            &srv,
            path,
            &[("match[]", r#"{job=""}"#)],
            "non-empty matcher",
        );
        assert_bad_data(&srv, path, &[("match[]", r#"{job=~"("}"#)], "(");
        assert_bad_data(
            &srv,
            path,
            &[("match[]", "md_up"), ("match[]", "md_up{")],
            "match[]",
        );
        assert_bad_data(
            &srv,
            path,
            &[("match[]", "md_up"), ("start", "yesterday")],
            "start",
        );
        assert_bad_data(&srv, path, &[("match[]", "md_up"), ("end", "NaN")], "end");
    }
    for path in [
        "/api/v1/series",
        "/api/v1/labels",
        "/api/v1/label/job/values",
    ] {
        assert_bad_data(
            &srv,
            path,
            &[("match[]", "md_up"), ("limit", "-1")],
            "limit",
        );
    }
    assert_bad_data(&srv, "/api/v1/series", &[], "match[]");
    assert_bad_data(&srv, "/api/v1/export", &[], "match[]");
    // Any non-empty UTF-8 name is valid (Prometheus 3); an empty one (escaped) is not.
    assert_bad_data(&srv, "/api/v1/label/U__/values", &[], "invalid label name");
    let (code, _) = srv.get("/api/v1/label/1bad/values", None);
    assert_eq!(code, 200);
}
