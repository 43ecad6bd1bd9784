//! `/api/v1/query` and `/api/v1/query_range` (GET and POST form): parameters read and
//! checked with Prometheus' wording, the query evaluated off the async runtime under its
//! timeout, the result written in Prometheus' JSON.
//!
//! Parameters: `query`, `time` (default now) or `start`, `end`, `step`; optional
//! `timeout` (capped by the configured one), `lookback_delta`, `limit` (most series
//! returned, Prometheus 3) and `stats` (any value adds `data.stats`).

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::http::errors::{json_response, success};
use crate::http::format::{annotations, push_annotations, push_result};
use crate::http::params::Params;
use crate::http::task;
use crate::http::tenant;
use crate::http::QueryState;
use crate::promql::{Engine, QueryOutput, StoreQueryable, Value};
use promql_parser::parser::Expr;

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/api/v1/query", get(instant).post(instant))
        .route("/api/v1/query_range", get(range).post(range))
        .route("/api/v1/format_query", get(format_query).post(format_query))
}

/// `/api/v1/format_query`: the query pretty-printed as Prometheus' `Expr.Pretty` does.
async fn format_query(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &body);
    let expr = st
        .engine
        .parse(p.get("query").unwrap_or(""))
        .map_err(query_param_error)?;
    Ok(success(serde_json::Value::String(expr.prettify())))
}

/// A parse error as the `query` parameter's.
fn query_param_error(e: Error) -> Error {
    match e {
        Error::BadData(m) => bad_param("query", &m),
        e => e,
    }
}

/// What a request asks to evaluate.
enum Span {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

/// A query request after its parameters were checked.
struct Request {
    /// When the request arrived: its timeout counts from here, queueing included.
    received: Instant,
    text: String,
    span: Span,
    engine: Engine,
    limit: Option<usize>,
    stats: bool,
}

async fn instant(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &body);
    let t = p.time("time", now_ms())?;
    let req = request(&st, &p, Span::Instant(t))?;
    execute(st, &headers, req).await
}

async fn range(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &body);
    let start = p.required_time("start")?;
    let end = p.required_time("end")?;
    if end < start {
        return Err(Error::BadData(
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        ));
    }
    let step_ns = p
        .duration("step")?
        .ok_or_else(|| bad_param("step", "cannot parse \"\" to a valid duration"))?;
    // The engine works in milliseconds; a step under 1ms would be a step of zero.
    let step = step_ns / 1_000_000;
    if step <= 0 {
        return Err(bad_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let max_points = st.engine.opts.max_points_per_series;
    // Prometheus compares the number of whole steps in the range, not the point count.
    if ((end - start) / step) as u128 > max_points as u128 {
        return Err(Error::BadData(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            thousands(max_points)
        )));
    }
    let req = request(&st, &p, Span::Range { start, end, step })?;
    execute(st, &headers, req).await
}

fn bad_param(name: &str, msg: &str) -> Error {
    Error::BadData(format!("invalid parameter \"{name}\": {msg}"))
}

/// Reads the parameters both endpoints share and makes the query's engine settings.
fn request(st: &QueryState, p: &Params, span: Span) -> Result<Request> {
    let mut engine = st.engine.clone();
    if let Some(ns) = p.duration("timeout")? {
        if ns <= 0 {
            return Err(bad_param("timeout", "timeout must be positive, e.g. 30s"));
        }
        // The configured timeout is the ceiling (Prometheus: the request context's
        // deadline and the engine's timeout both apply).
        engine.opts.timeout = engine.opts.timeout.min(Duration::from_nanos(ns as u64));
    }
    if let Some(ns) = p.duration("lookback_delta")? {
        if ns < 0 {
            return Err(bad_param(
                "lookback_delta",
                "lookback delta must not be negative",
            ));
        }
        // Zero keeps the configured delta, as in Prometheus.
        if ns >= 1_000_000 {
            engine.opts.lookback_delta_ms = ns / 1_000_000;
        }
    }
    Ok(Request {
        received: Instant::now(),
        text: p.get("query").unwrap_or("").to_string(),
        span,
        engine,
        limit: p.usize("limit")?.filter(|&l| l > 0),
        stats: p.get("stats").is_some(),
    })
}

async fn execute(st: QueryState, headers: &HeaderMap, req: Request) -> Result<Response> {
    let tenant = tenant(&st, headers)?;
    // Cheap refusals first, here; parsing itself runs on a (niced) query thread like the
    // evaluation, so a flood of large queries competes with ingestion only as queries do.
    req.engine
        .check_text(&req.text)
        .map_err(query_param_error)?;
    let budget = Budget::new(
        req.received,
        req.engine.opts.timeout,
        req.engine.opts.max_memory,
    );
    let storage = StoreQueryable {
        store: st.store.clone(),
        tenant,
    };
    let body = task::run(&st, budget, "expression evaluation", move |b| {
        let expr = req.engine.parse(&req.text).map_err(query_param_error)?;
        let started = Instant::now();
        let out = evaluate(&req, &storage, &expr, b)?;
        let stats = req.stats.then(|| Stats {
            queue: started.duration_since(req.received),
            eval: started.elapsed(),
            samples_read: out.samples_read,
        });
        body(out, req.limit, stats.as_ref(), b)
    })
    .await?;
    Ok(json_response(StatusCode::OK, body))
}

/// Evaluates a request's query under its budget, on the calling (blocking) thread.
fn evaluate(
    req: &Request,
    storage: &StoreQueryable,
    expr: &Expr,
    budget: &Budget,
) -> Result<QueryOutput> {
    crate::budget::stall_for_tests(budget)?;
    match req.span {
        Span::Instant(t) => req.engine.instant_in(storage, &req.text, expr, t, budget),
        Span::Range { start, end, step } => {
            req.engine
                .range_in(storage, &req.text, expr, (start, end, step), budget)
        }
    }
}

/// Timings and counts for `data.stats`.
struct Stats {
    queue: Duration,
    eval: Duration,
    samples_read: usize,
}

/// The whole success envelope of a query; its buffer is charged to the query's budget
/// before it is allocated.
fn body(
    mut out: QueryOutput,
    limit: Option<usize>,
    stats: Option<&Stats>,
    budget: &Budget,
) -> Result<String> {
    let (mut warnings, infos) = annotations(&out);
    if let Some(l) = limit {
        let truncated = match &mut out.value {
            Value::Vector(v) if v.len() > l => {
                v.truncate(l);
                true
            }
            Value::Matrix(m) if m.len() > l => {
                m.truncate(l);
                true
            }
            _ => false,
        };
        if truncated {
            warnings.push("results truncated due to limit".into());
        }
    }
    let points = match &out.value {
        Value::Vector(v) => v.len(),
        Value::Matrix(m) => m.iter().map(|s| s.points.len()).sum(),
        _ => 1,
    };
    let series = match &out.value {
        Value::Vector(v) => v.len(),
        Value::Matrix(m) => m.len(),
        _ => 1,
    };
    // About 24 bytes a point and a hundred a series' labels in JSON.
    let size = 64 + points * 24 + series * 100;
    budget.charge(size)?;
    let mut s = String::with_capacity(size);
    s.push_str("{\"status\":\"success\",\"data\":{");
    push_result(&mut s, &out.value);
    if let Some(st) = stats {
        push_stats(&mut s, st, out.samples_read.max(points));
    }
    s.push('}');
    push_annotations(&mut s, &warnings, &infos);
    s.push('}');
    Ok(s)
}

/// `"stats":{…}` in Prometheus' shape. The engine does not track its peak sample count,
/// so `peakSamples` is the larger of the samples read and the points returned, a lower
/// bound of the real peak.
fn push_stats(s: &mut String, st: &Stats, peak: usize) {
    use std::fmt::Write as _;
    let eval = st.eval.as_secs_f64();
    let queue = st.queue.as_secs_f64();
    let _ = write!(
        s,
        ",\"stats\":{{\"timings\":{{\"evalTotalTime\":{eval},\"resultSortTime\":0,\
         \"queryPreparationTime\":0,\"innerEvalTime\":{eval},\"execQueueTime\":{queue},\
         \"execTotalTime\":{}}},\"samples\":{{\"totalQueryableSamples\":{},\"peakSamples\":{peak}}}}}",
        eval + queue,
        st.samples_read
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `11000` → `11,000`, as in Prometheus' resolution error.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::engine::{Annotation, AnnotationKind};
    use crate::promql::Sample;
    use lookout_store::Labels;

    #[test]
    fn separators() {
        assert_eq!(thousands(11_000), "11,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn envelope_with_limit_and_warnings() {
        let s = |v: f64| Sample {
            labels: Labels::from_pairs([("a", v.to_string())]),
            t: 1000,
            v,
        };
        let out = QueryOutput {
            value: Value::Vector(vec![s(1.0), s(2.0)]),
            annotations: vec![Annotation {
                kind: AnnotationKind::Warning,
                message: "w".into(),
                position: None,
            }],
            samples_read: 2,
        };
        let b = body(
            out,
            Some(1),
            None,
            &Budget::unlimited(Duration::from_secs(60)),
        )
        .unwrap();
        assert_eq!(
            b,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]}]},"warnings":["PromQL warning: w","results truncated due to limit"]}"#
        );
        let out = QueryOutput {
            value: Value::Scalar { t: 4000, v: 2.0 },
            annotations: vec![],
            samples_read: 0,
        };
        let st = Stats {
            queue: Duration::ZERO,
            eval: Duration::from_millis(1),
            samples_read: 0,
        };
        let v: serde_json::Value = serde_json::from_str(
            &body(
                out,
                Some(1),
                Some(&st),
                &Budget::unlimited(Duration::from_secs(60)),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(v["data"]["result"], serde_json::json!([4, "2"]));
        assert_eq!(v["data"]["stats"]["samples"]["peakSamples"], 1);
        assert!(v.get("warnings").is_none());
    }
}
