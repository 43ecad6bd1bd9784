//! `/loki/api/v1/index/stats` (streams, chunks, entries and bytes a selector covers) and
//! `/loki/api/v1/index/volume` / `volume_range` (bytes per label set, as a vector or a
//! matrix), computed by reading the selected lines under the query budget. Grafana calls
//! stats to estimate a query's size and volume for Explore's histogram and Drilldown.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use lookout_store::{Direction, Label, Labels, LogSelect, Matcher};

use super::error_response;
use super::labels::selector;
use super::params::{bounds, duration, S};
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::http::errors::json_response;
use crate::http::format::push_result;
use crate::http::params::Params;
use crate::http::{task, tenant, QueryState};
use crate::promql::{Point, RangeSeries, Sample, Value};

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/loki/api/v1/index/stats", get(stats).post(stats))
        .route("/loki/api/v1/index/volume", get(volume).post(volume))
        .route(
            "/loki/api/v1/index/volume_range",
            get(volume_range).post(volume_range),
        )
}

fn budget(st: &QueryState) -> std::sync::Arc<Budget> {
    Budget::new(
        Instant::now(),
        st.engine.opts.timeout,
        st.engine.opts.max_memory,
    )
}

fn matchers(st: &QueryState, p: &Params) -> Result<Vec<Matcher>> {
    match p.get("query") {
        Some(q) => selector(st, "query", q),
        None => Err(Error::BadData(
            "invalid parameter \"query\": a stream selector is required".into(),
        )),
    }
}

async fn stats(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let p = Params::from_request(&uri, &headers, &body);
    let r = async {
        let tenant = tenant(&st, &headers)?;
        let (start, end) = bounds(&p, 3600 * S)?;
        let m = matchers(&st, &p)?;
        let logs = st.logs.clone();
        let (streams, entries, bytes) = task::run(&st, budget(&st), "index stats", move |b| {
            let sel = LogSelect {
                matchers: m,
                start_ns: start,
                end_ns: end,
                cancel: Some(b.stop_flag()),
                ..Default::default()
            };
            let mut seen = std::collections::HashSet::new();
            let (mut entries, mut bytes) = (0u64, 0u64);
            logs.select_logs(&tenant, &sel, &mut |h| {
                if !seen.contains(&h.stream) {
                    seen.insert(h.stream.clone());
                }
                entries += 1;
                bytes += h.line.len() as u64;
                true
            })?;
            b.check()?;
            Ok((seen.len(), entries, bytes))
        })
        .await?;
        // Lines are not kept in Loki's chunks here; one chunk a stream is the nearest count.
        Ok(json_response(
            StatusCode::OK,
            serde_json::json!({"streams": streams, "chunks": streams, "entries": entries, "bytes": bytes}).to_string(),
        ))
    };
    r.await.unwrap_or_else(error_response)
}

/// Bytes per label set in each of `buckets` windows `(t - width, t]`.
struct Volume {
    key_names: Option<Vec<String>>,
    matchers: Vec<Matcher>,
    start: i64,
    end: i64,
    limit: usize,
}

fn read_volume(st: &QueryState, p: &Params) -> Result<Volume> {
    let (start, end) = bounds(p, 3600 * S)?;
    let m = matchers(st, p)?;
    let key_names = match p.get("targetLabels") {
        Some(t) => Some(
            t.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        None if p.get("aggregateBy") == Some("labels") => None,
        // By series: the label names the selector names.
        None => Some(m.iter().map(|m| m.name.clone()).collect()),
    };
    Ok(Volume {
        key_names,
        matchers: m,
        start,
        end,
        limit: p.usize("limit")?.unwrap_or(100).max(1),
    })
}

fn compute(
    logs: &dyn lookout_store::ReadLogs,
    tenant: &lookout_store::TenantId,
    v: &Volume,
    step: i64,
    b: &Budget,
) -> Result<Vec<(Labels, Vec<f64>)>> {
    let n = if step > 0 {
        ((v.end - v.start) / step) as usize + 1
    } else {
        1
    };
    let sel = LogSelect {
        matchers: v.matchers.clone(),
        start_ns: v.start,
        end_ns: v.end + 1,
        direction: Direction::Forward,
        cancel: Some(b.stop_flag()),
        ..Default::default()
    };
    let mut out: HashMap<Labels, Vec<f64>> = HashMap::new();
    logs.select_logs(tenant, &sel, &mut |h| {
        let key = match &v.key_names {
            Some(names) => Labels::from_sorted(
                h.stream
                    .iter()
                    .filter(|l| names.contains(&l.name))
                    .cloned()
                    .collect::<Vec<Label>>(),
            ),
            None => (*h.stream).clone(),
        };
        let slot = if step > 0 {
            // The window (t - step, t] that holds the line.
            (((h.ts_ns - v.start) + step - 1).max(0) / step) as usize
        } else {
            0
        };
        let e = out.entry(key).or_insert_with(|| vec![0.0; n]);
        if let Some(x) = e.get_mut(slot.min(n - 1)) {
            *x += h.line.len() as f64;
        }
        true
    })?;
    b.check()?;
    let mut v2: Vec<(Labels, Vec<f64>)> = out.into_iter().collect();
    v2.sort_by(|a, b| {
        let (sa, sb) = (a.1.iter().sum::<f64>(), b.1.iter().sum::<f64>());
        sb.partial_cmp(&sa)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    v2.truncate(v.limit);
    Ok(v2)
}

fn respond(value: &Value) -> Response {
    let mut s = String::from("{\"status\":\"success\",\"data\":{");
    push_result(&mut s, value);
    s.push_str("}}");
    json_response(StatusCode::OK, s)
}

async fn volume(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let p = Params::from_request(&uri, &headers, &body);
    let r = async {
        let tenant = tenant(&st, &headers)?;
        let v = read_volume(&st, &p)?;
        let logs = st.logs.clone();
        let t_ms = v.end.div_euclid(1_000_000);
        let rows = task::run(&st, budget(&st), "index volume", move |b| {
            compute(logs.as_ref(), &tenant, &v, 0, b)
        })
        .await?;
        Ok(respond(&Value::Vector(
            rows.into_iter()
                .map(|(labels, v)| Sample {
                    labels,
                    t: t_ms,
                    v: v[0],
                })
                .collect(),
        )))
    };
    r.await.unwrap_or_else(error_response)
}

async fn volume_range(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let p = Params::from_request(&uri, &headers, &body);
    let r = async {
        let tenant = tenant(&st, &headers)?;
        let v = read_volume(&st, &p)?;
        let step = match duration(&p, "step")? {
            Some(s) if s > 0 => s,
            _ => ((v.end - v.start) / 250 / S).max(1) * S,
        };
        if (v.end - v.start) / step > 11_000 {
            return Err(Error::BadData("exceeded maximum resolution of 11000 points per timeseries. Try increasing the value of the step parameter".into()));
        }
        let start = v.start;
        let logs = st.logs.clone();
        let rows = task::run(&st, budget(&st), "index volume", move |b| {
            compute(logs.as_ref(), &tenant, &v, step, b)
        })
        .await?;
        let mut m: Vec<RangeSeries> = rows
            .into_iter()
            .map(|(labels, vals)| RangeSeries {
                labels,
                points: vals
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(i, v)| Point {
                        t: (start + i as i64 * step).div_euclid(1_000_000),
                        v: *v,
                    })
                    .collect(),
            })
            .collect();
        m.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(respond(&Value::Matrix(m)))
    };
    r.await.unwrap_or_else(error_response)
}
