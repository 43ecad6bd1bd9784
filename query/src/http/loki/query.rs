//! `/loki/api/v1/query` (instant, metric queries) and `/loki/api/v1/query_range` (log and
//! metric queries), and `format_query`. Log answers are `streams` with nanosecond
//! timestamp strings, newest first for `direction=backward`; with the request header
//! `X-Loki-Response-Encoding-Flags: categorize-labels` each line is a 3-tuple carrying its
//! structured metadata and parsed labels, and `data.encodingFlags` says so. Metric answers
//! are Prometheus' `vector`/`matrix`/`scalar`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use lookout_store::Direction;

use super::error_response;
use super::params::{bounds, duration, now_ns, time, S};
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::http::errors::json_response;
use crate::http::format::{push_labels, push_result, push_str};
use crate::http::params::Params;
use crate::http::{task, tenant, QueryState};
use crate::logql::{Answer, Expr, LogRequest, ScanStats, StreamOut};

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/loki/api/v1/query", get(instant).post(instant))
        .route("/loki/api/v1/query_range", get(range).post(range))
        .route(
            "/loki/api/v1/format_query",
            get(format_query).post(format_query),
        )
}

const CATEGORIZE: &str = "categorize-labels";

fn wants_categories(headers: &HeaderMap) -> bool {
    headers
        .get_all("x-loki-response-encoding-flags")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|f| f.trim() == CATEGORIZE))
}

fn direction(p: &Params) -> Result<Direction> {
    match p.get("direction") {
        None => Ok(Direction::Backward),
        Some(d) if d.eq_ignore_ascii_case("backward") => Ok(Direction::Backward),
        Some(d) if d.eq_ignore_ascii_case("forward") => Ok(Direction::Forward),
        Some(d) => Err(Error::BadData(format!(
            "invalid parameter \"direction\": {d:?} is neither forward nor backward"
        ))),
    }
}

fn limit(p: &Params) -> Result<usize> {
    match p.usize("limit")? {
        None => Ok(100),
        Some(0) => Err(Error::BadData(
            "invalid parameter \"limit\": limit must be a positive value".into(),
        )),
        Some(l) => Ok(l),
    }
}

async fn format_query(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let p = Params::from_request(&uri, &headers, &body);
    match st.logql.parse(p.get("query").unwrap_or("")) {
        Ok(e) => crate::http::errors::success(serde_json::Value::String(e.to_string())),
        Err(e) => error_response(e),
    }
}

async fn instant(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let p = Params::from_request(&uri, &headers, &body);
    let r = async {
        let t = time(&p, "time", now_ns())?;
        run(
            st,
            &headers,
            &p,
            Span {
                start: t,
                end: t,
                step: 0,
                instant: true,
            },
        )
        .await
    };
    r.await.unwrap_or_else(error_response)
}

async fn range(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let p = Params::from_request(&uri, &headers, &body);
    let r = async {
        let (start, end) = bounds(&p, 3600 * S)?;
        // Loki's default: a step giving about 250 points, at least one second.
        let step = match duration(&p, "step")? {
            Some(s) if s <= 0 => {
                return Err(Error::BadData(
                    "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
                ))
            }
            Some(s) => s,
            None => ((end - start) / 250 / S).max(1) * S,
        };
        run(
            st,
            &headers,
            &p,
            Span {
                start,
                end,
                step,
                instant: false,
            },
        )
        .await
    };
    r.await.unwrap_or_else(error_response)
}

struct Span {
    start: i64,
    end: i64,
    step: i64,
    instant: bool,
}

async fn run(st: QueryState, headers: &HeaderMap, p: &Params, span: Span) -> Result<Response> {
    let received = Instant::now();
    let tenant = tenant(&st, headers)?;
    let text = p.get("query").unwrap_or("").to_string();
    let expr = st.logql.parse(&text)?;
    let mut timeout = st.engine.opts.timeout;
    if let Some(ns) = duration(p, "timeout")? {
        if ns > 0 {
            timeout = timeout.min(std::time::Duration::from_nanos(ns as u64));
        }
    }
    let budget = Budget::new(received, timeout, st.engine.opts.max_memory);
    let categorize = wants_categories(headers);
    let engine = st.logql.clone();
    let logs = st.logs.clone();
    let (lim, dir) = (limit(p)?, direction(p)?);
    let interval = duration(p, "interval")?.unwrap_or(0).max(0);
    if let Expr::Log(_) = &expr {
        if span.instant {
            return Err(Error::BadData(
                "log queries are not supported as an instant query type, please change your query to a range query type".into(),
            ));
        }
    }
    let body = task::run(&st, budget, "query evaluation", move |b| {
        crate::budget::stall_for_tests(b)?;
        let started = Instant::now();
        let (answer, stats) = match &expr {
            Expr::Log(l) => {
                let req = LogRequest {
                    start_ns: span.start,
                    end_ns: span.end,
                    limit: lim,
                    direction: dir,
                    interval_ns: interval,
                    categorize,
                };
                engine.logs(logs.as_ref(), &tenant, l, &req, b)?
            }
            Expr::Metric(m) => engine.metric(
                logs.as_ref(),
                &tenant,
                m,
                (span.start, span.end, span.step),
                span.instant,
                b,
            )?,
        };
        let exec = started.elapsed().as_secs_f64();
        let queue = started.duration_since(received).as_secs_f64();
        Ok(body(&answer, categorize, stats, exec, queue))
    })
    .await?;
    Ok(json_response(StatusCode::OK, body))
}

/// The success body of a query.
pub fn body(answer: &Answer, categorize: bool, stats: ScanStats, exec: f64, queue: f64) -> String {
    let mut s = String::from("{\"status\":\"success\",\"data\":{");
    match answer {
        Answer::Streams(streams) => {
            s.push_str("\"resultType\":\"streams\",");
            if categorize {
                s.push_str("\"encodingFlags\":[\"categorize-labels\"],");
            }
            s.push_str("\"result\":");
            push_streams(&mut s, streams, categorize);
        }
        Answer::Metric(v) => push_result(&mut s, v),
    }
    push_stats(&mut s, stats, exec, queue);
    s.push_str("}}");
    s
}

fn push_streams(s: &mut String, streams: &[StreamOut], categorize: bool) {
    s.push('[');
    for (i, st) in streams.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"stream\":");
        push_labels(s, &st.labels);
        s.push_str(",\"values\":[");
        for (j, l) in st.lines.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            s.push_str("[\"");
            s.push_str(itoa::Buffer::new().format(l.ts_ns));
            s.push_str("\",");
            push_str(s, &l.line);
            if categorize {
                s.push_str(",{");
                let mut first = true;
                for (key, labels) in [("structuredMetadata", &l.metadata), ("parsed", &l.parsed)] {
                    if labels.is_empty() {
                        continue;
                    }
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    push_str(s, key);
                    s.push(':');
                    push_labels(s, labels);
                }
                s.push('}');
            }
            s.push(']');
        }
        s.push_str("]}");
    }
    s.push(']');
}

/// Loki's `stats` object, its summary filled in.
fn push_stats(s: &mut String, st: ScanStats, exec: f64, queue: f64) {
    use std::fmt::Write as _;
    let per_s = |n: usize| {
        if exec > 0.0 {
            (n as f64 / exec) as u64
        } else {
            0
        }
    };
    let _ = write!(
        s,
        ",\"stats\":{{\"summary\":{{\"bytesProcessedPerSecond\":{},\"linesProcessedPerSecond\":{},\
         \"totalBytesProcessed\":{},\"totalLinesProcessed\":{},\"execTime\":{exec},\"queueTime\":{queue},\
         \"subqueries\":0,\"totalEntriesReturned\":0}}}}",
        per_s(st.bytes),
        per_s(st.lines),
        st.bytes,
        st.lines
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::{LineOut, StreamOut};
    use lookout_store::Labels;
    use std::sync::Arc;

    #[test]
    fn streams_plain_and_categorized() {
        let a = Answer::Streams(vec![StreamOut {
            labels: Arc::new(Labels::from_pairs([("app", "x")])),
            lines: vec![LineOut {
                ts_ns: 1_700_000_000_000_000_001,
                line: "a \"b\"".into(),
                metadata: Labels::from_pairs([("trace_id", "t")]),
                parsed: Labels::default(),
            }],
        }]);
        let plain: serde_json::Value =
            serde_json::from_str(&body(&a, false, ScanStats::default(), 0.0, 0.0)).unwrap();
        assert_eq!(plain["data"]["resultType"], "streams");
        assert_eq!(plain["data"]["result"][0]["stream"]["app"], "x");
        assert_eq!(
            plain["data"]["result"][0]["values"][0],
            serde_json::json!(["1700000000000000001", "a \"b\""])
        );
        assert!(plain["data"].get("encodingFlags").is_none());
        let cat: serde_json::Value =
            serde_json::from_str(&body(&a, true, ScanStats { lines: 1, bytes: 5 }, 0.5, 0.0))
                .unwrap();
        assert_eq!(
            cat["data"]["encodingFlags"],
            serde_json::json!(["categorize-labels"])
        );
        assert_eq!(
            cat["data"]["result"][0]["values"][0],
            serde_json::json!(["1700000000000000001", "a \"b\"", {"structuredMetadata": {"trace_id": "t"}}])
        );
        assert_eq!(cat["data"]["stats"]["summary"]["totalBytesProcessed"], 5);
    }
}
