//! Every panel query of every dashboard in `dashboards/`, run as Grafana runs it against a
//! Lookout fed by real data: `lookout serve` scraping itself and the agent, evaluating a
//! rule group and notifying a webhook, with span metrics on; `lookout agent` sending host
//! metrics (node_exporter names) and a tailed log file; OTLP spans posted meanwhile.
//!
//! Template variables are expanded as Grafana does: datasource variables, query variables
//! resolved through the API (`label_values(metric, label)` as label values with `match[]`,
//! Loki's label values), multi-value "All" as a regex alternation `(a|b)` (or the
//! variable's `allValue`), single values, `$__interval`, `$__rate_interval`, `$__range`,
//! `$__auto`, in the `$var`, `${var}`, `${var:fmt}` and `[[var]]` spellings. A query that
//! does not parse fails the test, and so does one that answers no data, unless listed in
//! [`no_data_allowed`] with the reason its data cannot exist here. Targets with exemplars
//! on must also get exemplars carrying a `trace_id` (the RED view's links to traces).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::agent::Agent;
use common::*;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(120);
/// Grafana aligns range queries down to a multiple of the step (15 s here): data must span
/// two steps for the last aligned points' rate windows to hold two samples.
const MIN_FEED: Duration = Duration::from_secs(35);

/// Grafana's default scrape interval for the Prometheus datasource (`timeInterval` in
/// `dashboards/provisioning/datasources.yaml`): the floor of `$__interval` and the base of
/// `$__rate_interval`.
const PROM_MIN_INTERVAL_MS: i64 = 15_000;
/// The max data points Grafana asks for when a panel sets none (about a panel's width).
const DEFAULT_MAX_DATA_POINTS: i64 = 1_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// Panels whose data cannot exist in this test, each with its reason. Keep it short.
fn no_data_allowed(expr: &str) -> Option<&'static str> {
    // Pressure stall information needs a kernel with PSI (CONFIG_PSI, /proc/pressure);
    // the agent reports it only where the kernel has it.
    if expr.contains("node_pressure_") && !Path::new("/proc/pressure/cpu").exists() {
        return Some("no /proc/pressure on this kernel");
    }
    None
}

// ---- feeding ----

fn log_line(i: u64) -> String {
    let (level, msg) = match i % 4 {
        0 => ("error", format!("payment {i} failed after {} ms", i * 3)),
        1 => ("warn", format!("slow request {i} took {} ms", 100 + i)),
        _ => ("info", format!("request {i} served in {} ms", i % 50)),
    };
    format!("ts={i} level={level} msg=\"{msg}\" trace_id={:032x}", i + 1)
}

fn append_lines(path: &Path, from: u64, n: u64) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log file");
    let mut text = String::new();
    for i in from..from + n {
        text.push_str(&log_line(i));
        text.push('\n');
    }
    f.write_all(text.as_bytes()).expect("append");
}

fn now_ns() -> i64 {
    now_ms() * 1_000_000
}

/// One request: `web` serves it (SERVER) and calls `api` (CLIENT), `api` serves the call
/// (SERVER) and fails every third time.
fn send_trace(srv: &Server, n: u64) {
    let trace = format!("{:032x}", 0xabc000 + n);
    let end = now_ns() - 50_000_000;
    let span = |id: &str, parent: &str, name: &str, kind: i64, ms: i64, code: i64| {
        json!({"traceId": trace, "spanId": id, "parentSpanId": parent, "name": name,
               "kind": kind, "startTimeUnixNano": (end - ms * 1_000_000).to_string(),
               "endTimeUnixNano": end.to_string(), "status": {"code": code}})
    };
    let resource = |service: &str, spans: Vec<Value>| {
        json!({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
               "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]})
    };
    let failed = if n.is_multiple_of(3) { 2 } else { 0 };
    let body = json!({"resourceSpans": [
        resource("web", vec![
            span("00000000000000a1", "", "GET /checkout", 2, 40, failed),
            span("00000000000000a2", "00000000000000a1", "GET /price", 3, 30, 0),
        ]),
        resource("api", vec![span("00000000000000b1", "00000000000000a2", "price", 2, 20 + n as i64 % 7, failed)]),
    ]});
    let (code, text) = srv.post_json("/v1/traces", &body, None);
    assert_eq!(code, 200, "{text}");
}

fn server_config(listen: &str, agent: Option<&str>, rules: &Path, hook: &str) -> String {
    let agent_job = agent
        .map(|a| {
            format!("  - job_name: lookout-agent\n    static_configs: [{{targets: ['{a}']}}]\n")
        })
        .unwrap_or_default();
    format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
         scrape_configs:\n  - job_name: lookout\n    static_configs: [{{targets: ['{listen}']}}]\n{agent_job}\
         otlp: {{grpc_listen: ''}}\n\
         traces:\n  span_metrics:\n    flush_interval: 300ms\n\
         rule_files: ['{}']\n\
         alerting:\n  resend_delay: 1s\n  webhooks:\n    - {{url: 'http://{hook}/hook', group_by: [alertname], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}}\n",
        rules.display()
    )
}

fn has_data(srv: &Server, q: &str) -> bool {
    let (code, v) = srv.get_json(&format!("/api/v1/query?query={}", enc(q)), None);
    code == 200
        && v["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
}

// ---- Grafana's variable expansion ----

/// A Grafana time range and the intervals derived from it for one panel.
struct Range {
    from_ms: i64,
    to_ms: i64,
    interval_ms: i64,
}

impl Range {
    fn range_ms(&self) -> i64 {
        self.to_ms - self.from_ms
    }

    /// `$__rate_interval`: max(`$__interval` + scrape interval, 4 × scrape interval).
    fn rate_interval_ms(&self) -> i64 {
        (self.interval_ms + PROM_MIN_INTERVAL_MS).max(4 * PROM_MIN_INTERVAL_MS)
    }
}

/// Grafana's `rangeUtil.secondsToHms`-like duration text (`15s`, `1m`, `1h`, `250ms`).
fn duration_text(ms: i64) -> String {
    if ms % 3_600_000 == 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Grafana's `roundInterval`: the raw interval snapped to a "nice" one.
fn round_interval(ms: i64) -> i64 {
    const STEPS: [(i64, i64); 17] = [
        (15, 10),
        (35, 20),
        (75, 50),
        (150, 100),
        (350, 200),
        (750, 500),
        (1_500, 1_000),
        (3_500, 2_000),
        (7_500, 5_000),
        (12_500, 10_000),
        (17_500, 15_000),
        (25_000, 20_000),
        (45_000, 30_000),
        (90_000, 60_000),
        (210_000, 120_000),
        (450_000, 300_000),
        (1_050_000, 600_000),
    ];
    STEPS
        .iter()
        .find(|(below, _)| ms < *below)
        .map(|(_, v)| *v)
        .unwrap_or(3_600_000)
}

/// Parses Grafana's relative time (`now`, `now-1h`, `now-30m`) against `now`.
fn relative(t: &str, now: i64) -> i64 {
    let Some(rest) = t.strip_prefix("now-") else {
        assert_eq!(t, "now", "unsupported dashboard time {t}");
        return now;
    };
    let (n, unit) = rest.split_at(rest.len() - 1);
    let n: i64 = n.parse().expect("relative time");
    now - n * match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        u => panic!("unit {u} in {t}"),
    }
}

/// How a multi-value or "All" variable is written into a query.
#[derive(Clone)]
enum VarValue {
    Single(String),
    /// Several values: a regex alternation `(a|b)` in queries.
    Multi(Vec<String>),
    /// "All" with a custom all value (written as is, e.g. `.*`).
    Raw(String),
}

/// Grafana's `prometheusSpecialRegexEscape` (Loki's datasource does the same): regex
/// metacharacters get a backslash, itself escaped for the double-quoted string the value
/// lands in (`a.b` becomes `a\\.b` in the query text).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\\\\\");
            continue;
        }
        if "$^*{}[]'+?.()|".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

impl VarValue {
    fn text(&self) -> String {
        match self {
            VarValue::Single(v) => regex_escape(v),
            VarValue::Multi(vs) if vs.len() == 1 => regex_escape(&vs[0]),
            VarValue::Multi(vs) => format!(
                "({})",
                vs.iter()
                    .map(|v| regex_escape(v))
                    .collect::<Vec<_>>()
                    .join("|")
            ),
            VarValue::Raw(v) => v.clone(),
        }
    }
}

/// Replaces `$name`, `${name}`, `${name:format}` and `[[name]]` whose name `lookup` knows.
fn interpolate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let (name, end) = if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
            match text[i + 2..].find('}') {
                Some(j) => {
                    let inner = &text[i + 2..i + 2 + j];
                    (Some(inner.split(':').next().unwrap_or(inner)), i + 3 + j)
                }
                None => (None, i + 1),
            }
        } else if b[i] == b'$' {
            let mut j = i + 1;
            while j < b.len() && word(b[j]) {
                j += 1;
            }
            (Some(&text[i + 1..j]), j)
        } else if text[i..].starts_with("[[") {
            match text[i + 2..].find("]]") {
                Some(j) => (Some(&text[i + 2..i + 2 + j]), i + 4 + j),
                None => (None, i + 1),
            }
        } else {
            (None, i + 1)
        };
        match name.and_then(lookup) {
            Some(v) => {
                out.push_str(&v);
                i = end;
            }
            None => {
                let ch = text[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// The dashboard's variables: datasource variables (name → datasource type) and the
/// values of query and textbox variables.
struct Vars {
    datasources: BTreeMap<String, String>,
    values: BTreeMap<String, VarValue>,
}

impl Vars {
    fn lookup(&self, name: &str, range: &Range, instant: bool) -> Option<String> {
        let ms = match name {
            "__interval" => Some(range.interval_ms),
            "__rate_interval" => Some(range.rate_interval_ms()),
            "__range" => Some(range.range_ms()),
            "__auto" => Some(if instant {
                range.range_ms()
            } else {
                range.interval_ms
            }),
            _ => None,
        };
        if let Some(ms) = ms {
            return Some(duration_text(ms));
        }
        match name {
            "__interval_ms" => return Some(range.interval_ms.to_string()),
            "__range_s" => return Some((range.range_ms() / 1000).to_string()),
            "__range_ms" => return Some(range.range_ms().to_string()),
            _ => {}
        }
        if self.datasources.contains_key(name) {
            return Some(name.to_string());
        }
        self.values.get(name).map(VarValue::text)
    }

    fn expand(&self, text: &str, range: &Range, instant: bool) -> String {
        interpolate(text, &|n| self.lookup(n, range, instant))
    }

    /// The type of a panel's or target's datasource (`{"type": .., "uid": "${DS_X}"}`).
    fn ds_type(&self, ds: &Value) -> Option<String> {
        if let Some(t) = ds["type"].as_str() {
            return Some(t.to_string());
        }
        let uid = ds["uid"].as_str()?;
        let name = uid.trim_start_matches("${").trim_end_matches('}');
        self.datasources.get(name).cloned()
    }
}

/// Resolves a query variable's values through the API as Grafana does.
fn resolve_query_var(
    srv: &Server,
    var: &Value,
    ds_type: &str,
    vars: &Vars,
    range: &Range,
) -> Vec<String> {
    let (s, e) = (range.from_ms / 1000, range.to_ms / 1000);
    match ds_type {
        "prometheus" => {
            let def = var["query"]["query"]
                .as_str()
                .or(var["definition"].as_str())
                .expect("variable query");
            let def = vars.expand(def, range, false);
            let inner = def
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or_else(|| panic!("unsupported variable query {def}"));
            // label_values(selector, label) or label_values(label).
            let (selector, label) = match inner.rfind(',') {
                Some(i) => (Some(inner[..i].trim()), inner[i + 1..].trim()),
                None => (None, inner.trim()),
            };
            let mut path = format!("/api/v1/label/{label}/values?start={s}&end={e}");
            if let Some(sel) = selector {
                path.push_str(&format!("&match[]={}", enc(sel)));
            }
            let (code, v) = srv.get_json(&path, None);
            assert_eq!(code, 200, "variable {}: {path}: {v}", var["name"]);
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        }
        "loki" => {
            let q = &var["query"];
            assert_eq!(q["type"], 1, "only label-values Loki variables: {var}");
            let label = q["label"].as_str().expect("label");
            let mut path = format!(
                "/loki/api/v1/label/{label}/values?start={}&end={}",
                range.from_ms * 1_000_000,
                range.to_ms * 1_000_000
            );
            if let Some(st) = q["stream"].as_str().filter(|s| !s.is_empty()) {
                path.push_str(&format!("&query={}", enc(&vars.expand(st, range, false))));
            }
            let (code, v) = srv.get_json(&path, None);
            assert_eq!(code, 200, "variable {}: {path}: {v}", var["name"]);
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        }
        t => panic!("query variable on a {t} datasource"),
    }
}

/// How the variables are set for one pass over the dashboard.
#[derive(Clone, Copy, Debug)]
enum Selection {
    /// Every query variable on "All" (what a dashboard opens with).
    All,
    /// Every query variable on its first value.
    First,
}

fn resolve_vars(srv: &Server, dash: &Value, range: &Range, sel: Selection) -> Vars {
    let mut vars = Vars {
        datasources: BTreeMap::new(),
        values: BTreeMap::new(),
    };
    for var in dash["templating"]["list"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap().to_string();
        match var["type"].as_str().unwrap() {
            "datasource" => {
                vars.datasources
                    .insert(name, var["query"].as_str().unwrap().to_string());
            }
            "textbox" | "constant" | "custom" => {
                let v = var["current"]["value"].as_str().unwrap_or("").to_string();
                vars.values.insert(name, VarValue::Raw(v));
            }
            "query" => {
                let ds = vars
                    .ds_type(&var["datasource"])
                    .expect("variable datasource");
                let values = resolve_query_var(srv, var, &ds, &vars, range);
                assert!(
                    !values.is_empty(),
                    "variable {name} of {} has no values",
                    dash["title"]
                );
                let v = match sel {
                    Selection::First => VarValue::Single(values[0].clone()),
                    Selection::All => match var["allValue"].as_str() {
                        Some(a) if !a.is_empty() => VarValue::Raw(a.to_string()),
                        _ => VarValue::Multi(values),
                    },
                };
                vars.values.insert(name, v);
            }
            t => panic!("variable type {t} ({name}) is not handled by this test"),
        }
    }
    vars
}

// ---- running panels ----

fn panels(dash: &Value) -> Vec<Value> {
    fn walk(ps: &[Value], out: &mut Vec<Value>) {
        for p in ps {
            if let Some(inner) = p["panels"].as_array() {
                walk(inner, out);
            }
            if p["targets"].is_array() {
                out.push(p.clone());
            }
        }
    }
    let mut out = Vec::new();
    walk(dash["panels"].as_array().unwrap(), &mut out);
    out
}

/// The outcome of one target: Ok(has data) or Err(why it failed).
fn run_target(
    srv: &Server,
    ds: &str,
    target: &Value,
    vars: &Vars,
    range: &Range,
) -> Result<(String, bool), String> {
    match ds {
        "prometheus" => {
            let instant = target["instant"] == true && target["range"] != true;
            let expr = vars.expand(target["expr"].as_str().unwrap_or(""), range, instant);
            let step = (range.interval_ms / 1000).max(1);
            let (path, form) = if instant {
                (
                    "/api/v1/query",
                    format!("query={}&time={}", enc(&expr), range.to_ms / 1000),
                )
            } else {
                // Grafana aligns start and end down to a multiple of the step.
                let (s, e) = (range.from_ms / 1000, range.to_ms / 1000);
                (
                    "/api/v1/query_range",
                    format!(
                        "query={}&start={}&end={}&step={step}",
                        enc(&expr),
                        s - s % step,
                        e - e % step
                    ),
                )
            };
            // The provisioned datasource uses POST.
            let (code, body) = srv.post_form(path, &form, None);
            let v: Value =
                serde_json::from_str(&body).map_err(|e| format!("{expr}: {e}: {body}"))?;
            if code != 200 || v["status"] != "success" {
                return Err(format!("{expr}: {code} {body}"));
            }
            let data = v["data"]["result"].as_array().is_some_and(|r| {
                r.iter().any(|s| {
                    s["value"].is_array() || s["values"].as_array().is_some_and(|v| !v.is_empty())
                })
            });
            // Targets with exemplars on also ask for them (the links to traces): span
            // metrics carry them, so they must be there and hold a trace id.
            if target["exemplar"] == true && !instant {
                let form = format!(
                    "query={}&start={}&end={}",
                    enc(&expr),
                    range.from_ms / 1000,
                    range.to_ms / 1000
                );
                let (code, body) = srv.post_form("/api/v1/query_exemplars", &form, None);
                let v: Value =
                    serde_json::from_str(&body).map_err(|e| format!("{expr}: {e}: {body}"))?;
                if code != 200 || v["status"] != "success" {
                    return Err(format!("exemplars of {expr}: {code} {body}"));
                }
                let linked = v["data"].as_array().is_some_and(|series| {
                    series.iter().any(|s| {
                        s["exemplars"].as_array().is_some_and(|es| {
                            es.iter()
                                .any(|e| e["labels"]["trace_id"].as_str().is_some())
                        })
                    })
                });
                if !linked {
                    return Err(format!("no exemplars with a trace_id for {expr}: {body}"));
                }
            }
            Ok((expr, data))
        }
        "loki" => {
            let instant = target["queryType"] == "instant";
            let expr = vars.expand(target["expr"].as_str().unwrap_or(""), range, instant);
            let (from, to) = (range.from_ms * 1_000_000, range.to_ms * 1_000_000);
            let path = if instant {
                format!(
                    "/loki/api/v1/query?query={}&time={to}&direction=backward",
                    enc(&expr)
                )
            } else {
                let limit = target["maxLines"].as_i64().unwrap_or(1000);
                format!(
                    "/loki/api/v1/query_range?query={}&start={from}&end={to}&step={}ms&limit={limit}&direction=backward",
                    enc(&expr),
                    range.interval_ms
                )
            };
            let (code, body) = srv.get(&path, None);
            if code != 200 {
                return Err(format!("{expr}: {code} {body}"));
            }
            let v: Value =
                serde_json::from_str(&body).map_err(|e| format!("{expr}: {e}: {body}"))?;
            let data = v["data"]["result"].as_array().is_some_and(|r| {
                r.iter().any(|s| {
                    s["value"].is_array() || s["values"].as_array().is_some_and(|v| !v.is_empty())
                })
            });
            Ok((expr, data))
        }
        "tempo" => {
            assert_eq!(target["queryType"], "traceql", "{target}");
            let expr = vars.expand(target["query"].as_str().unwrap_or(""), range, true);
            let limit = target["limit"].as_i64().unwrap_or(20);
            let path = format!(
                "/api/search?q={}&limit={limit}&spss=3&start={}&end={}",
                enc(&expr),
                range.from_ms / 1000,
                range.to_ms / 1000
            );
            let (code, body) = srv.get(&path, None);
            if code != 200 {
                return Err(format!("{expr}: {code} {body}"));
            }
            let v: Value =
                serde_json::from_str(&body).map_err(|e| format!("{expr}: {e}: {body}"))?;
            let data = v["traces"].as_array().is_some_and(|t| !t.is_empty());
            Ok((expr, data))
        }
        t => Err(format!("datasource type {t} is not handled by this test")),
    }
}

/// Runs every target of `dash` with the variables set as `sel` says; returns the failures
/// and how many targets ran.
fn run_dashboard(srv: &Server, dash: &Value, sel: Selection) -> (Vec<String>, usize) {
    let now = now_ms();
    let from = relative(dash["time"]["from"].as_str().unwrap_or("now-1h"), now);
    let to = relative(dash["time"]["to"].as_str().unwrap_or("now"), now);
    let base = Range {
        from_ms: from,
        to_ms: to,
        interval_ms: PROM_MIN_INTERVAL_MS,
    };
    let vars = resolve_vars(srv, dash, &base, sel);
    let title = dash["title"].as_str().unwrap_or("?");
    let mut failures = Vec::new();
    let mut ran = 0;
    for p in panels(dash) {
        let max_points = p["maxDataPoints"]
            .as_i64()
            .unwrap_or(DEFAULT_MAX_DATA_POINTS);
        for t in p["targets"].as_array().unwrap() {
            if t["hide"] == true {
                continue;
            }
            let ds = vars
                .ds_type(&t["datasource"])
                .or_else(|| vars.ds_type(&p["datasource"]))
                .expect("panel datasource");
            // $__interval: range / max data points, snapped, floored by the datasource's
            // minimum interval (the Prometheus scrape interval) and the panel's.
            let floor = match ds.as_str() {
                "prometheus" => PROM_MIN_INTERVAL_MS,
                _ => 1,
            };
            let interval = round_interval((to - from) / max_points).max(floor);
            let range = Range {
                from_ms: from,
                to_ms: to,
                interval_ms: interval,
            };
            ran += 1;
            let what = format!("{title} / {} / {}", p["title"], t["refId"]);
            match run_target(srv, &ds, t, &vars, &range) {
                Err(e) => failures.push(format!("{what} ({sel:?}): query failed: {e}")),
                Ok((expr, false)) => match no_data_allowed(&expr) {
                    Some(why) => eprintln!("{what}: no data, allowed: {why}"),
                    None => failures.push(format!("{what} ({sel:?}): no data: {expr}")),
                },
                Ok(_) => {}
            }
        }
    }
    (failures, ran)
}

#[test]
fn every_dashboard_panel_answers_with_data() {
    let dir = TestDir::new();
    let logs = dir.tmp.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let app_log = logs.join("app.log");
    append_lines(&app_log, 0, 20);
    let rules = dir.file(
        "health.rules.yml",
        "groups:\n  - name: health\n    interval: 1s\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: AlwaysFiring\n        expr: vector(1)\n",
    );
    let hook = serve_exposition("");
    let listen = format!("127.0.0.1:{}", free_tcp_port());
    let srv = Server::start_real_clock_on(
        &dir.data(),
        Some(&server_config(&listen, None, &rules, &hook)),
        &listen,
    );
    let agent = Agent::start(
        &format!("http://{listen}"),
        &dir.tmp.path().join("agent"),
        &format!(
            "host_metrics: {{interval: 1s}}\nlogs:\n  - paths: ['{}/*.log']\n    labels: {{job: app}}\n",
            logs.display()
        ),
    );
    // Scrape the agent too (its queue and send metrics are on the health dashboard).
    std::fs::write(
        config_path(&dir.data()),
        server_config(&listen, Some(&agent.addr), &rules, &hook),
    )
    .expect("rewrite config");
    let resp = srv
        .client
        .post(srv.url("/-/reload"))
        .send()
        .expect("reload");
    assert!(resp.status().is_success(), "reload: {:?}", resp.text());

    // Feed until every signal has arrived, at least a few seconds so rates have two points.
    let started = Instant::now();
    let mut n = 0u64;
    let mut line = 20u64;
    loop {
        send_trace(&srv, n);
        append_lines(&app_log, line, 5);
        n += 1;
        line += 5;
        std::thread::sleep(Duration::from_millis(500));
        let missing: Vec<&str> = [
            "node_cpu_seconds_total",
            "node_uname_info",
            "lookout_agent_sent_batches_total",
            "lookout_spans_received_total",
            "traces_spanmetrics_calls_total",
            "prometheus_notifications_sent_total",
            "prometheus_rule_evaluations_total",
        ]
        .into_iter()
        .filter(|m| !has_data(&srv, &format!("count_over_time({m}[1m]) >= 3")))
        .collect();
        if missing.is_empty() && started.elapsed() > MIN_FEED {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "{missing:?} did not arrive within {WAIT:?}; server log:\n{}",
            srv.logs()
        );
    }

    let mut files: Vec<PathBuf> = std::fs::read_dir(dashboards_dir())
        .expect("dashboards/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    let mut failures = Vec::new();
    let mut ran = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read dashboard");
        let dash: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", f.display()));
        for sel in [Selection::All, Selection::First] {
            let (fails, n) = run_dashboard(&srv, &dash, sel);
            failures.extend(fails);
            ran += n;
        }
    }
    assert!(ran > 100, "only {ran} targets ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} panel queries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn grafana_variable_expansion() {
    let range = Range {
        from_ms: 0,
        to_ms: 3_600_000,
        interval_ms: 15_000,
    };
    let vars = Vars {
        datasources: [("DS_PROMETHEUS".to_string(), "prometheus".to_string())].into(),
        values: [
            (
                "job".to_string(),
                VarValue::Multi(vec!["node".into(), "a.b".into()]),
            ),
            ("one".to_string(), VarValue::Single("x".into())),
            ("all".to_string(), VarValue::Raw(".*".into())),
        ]
        .into(),
    };
    assert_eq!(
        vars.expand(
            "rate(x{job=~\"$job\",i=~\"${one}\",k=~\"[[all]]\",l=\"${one:raw}\"}[$__rate_interval])",
            &range,
            false
        ),
        "rate(x{job=~\"(node|a\\\\.b)\",i=~\"x\",k=~\".*\",l=\"x\"}[1m])"
    );
    assert_eq!(
        vars.expand("[$__interval] [$__range] [$__auto] $unknown", &range, false),
        "[15s] [1h] [15s] $unknown"
    );
    assert_eq!(vars.expand("[$__auto]", &range, true), "[1h]");
    assert_eq!(round_interval(3_600_000 / 200), 20_000);
    assert_eq!(round_interval(3_600), 5_000);
}
