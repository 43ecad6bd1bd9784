//! `GET /api/search`: traces matching a TraceQL query (`q`) or, the older way, logfmt
//! `tags` with `minDuration`/`maxDuration`; `limit` traces (default 20) with up to `spss`
//! spans per spanset (default 3), newest first, in Tempo's response shape. The scan runs
//! as a query: admitted, under the timeout, stopped when the client hangs up. What the
//! store can check itself (span name, status, kind, duration bounds, attribute values) is
//! passed down as span predicates, so it assembles only candidate traces; every trace it
//! returns is still matched here in full. A pushed-down condition is looked for in the
//! spans that start in the searched range, as Tempo looks in the blocks of the range.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use lookout_store::model::span::{hex_id, AttrValue, ResourceSpans, StatusCode};
use lookout_store::{AttrWhere, ScanStats, SpanCond, SpanPredicate, StrMatch, TraceSelect};
use serde_json::{json, Value as Json};

use super::params::{count, range};
use super::TempoResult;
use crate::budget::Budget;
use crate::http::params::{parse_duration, Params};
use crate::http::{task, tenant, QueryState};
use crate::traceql::eval::{Search, Spanset};
use crate::traceql::trace::TraceView;
use crate::traceql::value::Value;
use crate::{traceql, Error, Result};

/// What Tempo writes for a trace whose root span has not arrived.
const NO_ROOT: &str = "<root span not yet received>";

/// How a search picks traces.
enum Matcher {
    TraceQL(Box<Search>),
    /// Every (key, value) must be found in some span (its name, or a span or resource
    /// attribute containing the value, case-insensitively); the trace's duration within
    /// the bounds.
    Tags {
        tags: Vec<(String, String)>,
        min_ns: Option<i64>,
        max_ns: Option<i64>,
    },
}

pub async fn search(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
) -> TempoResult<Response> {
    let received = Instant::now();
    let p = Params::from_request(&uri, &headers, &Bytes::new());
    let (start_ns, end_ns) = range(&p)?;
    let limit = count(&p, "limit", 20)?;
    let spss = count(&p, "spss", 3)?;
    let matcher = match p.get("q") {
        Some(q) => {
            if q.len() > st.engine.opts.max_length {
                return Err(Error::BadData(format!(
                    "query is {} bytes long, more than the {} allowed (query.max_length)",
                    q.len(),
                    st.engine.opts.max_length
                ))
                .into());
            }
            let parsed = traceql::parse(q)
                .map_err(|e| Error::BadData(format!("invalid TraceQL query: {e}")))?;
            Matcher::TraceQL(Box::new(Search::new(parsed)?))
        }
        None => Matcher::Tags {
            tags: parse_logfmt(p.get("tags").unwrap_or(""))?,
            min_ns: p.get("minDuration").map(go_duration).transpose()?,
            max_ns: p.get("maxDuration").map(go_duration).transpose()?,
        },
    };
    let spans = pushdown(&matcher);
    let tenant = tenant(&st, &headers)?;
    let traces = st.traces.clone();
    let budget = Budget::new(received, st.engine.opts.timeout, st.engine.opts.max_memory);
    let body = task::run(&st, budget, "trace search", move |b| {
        let stats = std::sync::Arc::new(ScanStats::default());
        let sel = TraceSelect {
            start_ns,
            end_ns,
            cancel: Some(b.stop_flag()),
            spans,
            stats: Some(stats.clone()),
        };
        let mut found = Vec::new();
        let mut inspected = 0u64;
        traces.scan_traces(&tenant, &sel, &mut |t| {
            inspected += 1;
            if let Some(j) = matched(&matcher, &t, spss) {
                found.push(j);
            }
            found.len() < limit
        })?;
        b.check()?;
        Ok(json!({
            "traces": found,
            "metrics": {
                "inspectedTraces": inspected,
                "inspectedBytes": stats.get().3.to_string(),
                "inspectedSpans": stats.get().2.to_string(),
                "completedJobs": 1,
                "totalJobs": 1,
            },
        }))
    })
    .await?;
    Ok(axum::Json(body).into_response())
}

/// What the store can check of a search itself (see `TraceSelect::spans`): for TraceQL,
/// [`traceql::pushdown`]; for tags, each tag found in some span (its name, or a span or
/// resource attribute, containing the value), and with a maximum trace duration, no span
/// longer (a span lies within its trace). The minimum trace duration says nothing about
/// any one span.
fn pushdown(m: &Matcher) -> Vec<SpanPredicate> {
    match m {
        Matcher::TraceQL(search) => traceql::pushdown::predicates(search.query()),
        Matcher::Tags { tags, max_ns, .. } => {
            let max = max_ns.map(SpanCond::MaxDuration);
            let mut out: Vec<SpanPredicate> = tags
                .iter()
                .map(|(k, v)| {
                    let value = StrMatch::ContainsFold(v.to_lowercase());
                    let c = if k == "name" {
                        SpanCond::Name(value)
                    } else {
                        SpanCond::Attr {
                            scope: AttrWhere::Either,
                            key: k.clone(),
                            value,
                        }
                    };
                    SpanPredicate {
                        all: std::iter::once(c).chain(max.clone()).collect(),
                    }
                })
                .collect();
            if out.is_empty() {
                out.extend(max.map(|c| SpanPredicate { all: vec![c] }));
            }
            out
        }
    }
}

/// The search result for a trace when it matches.
fn matched(m: &Matcher, batches: &[ResourceSpans], spss: usize) -> Option<Json> {
    let t = TraceView::new(batches);
    let sets: Vec<Json> = match m {
        Matcher::TraceQL(search) => {
            let sets = search.run(&t);
            if sets.is_empty() {
                return None;
            }
            sets.iter()
                .map(|ss| spanset_json(&t, ss, spss, |i| search.shown_attributes(&t, i)))
                .collect()
        }
        Matcher::Tags {
            tags,
            min_ns,
            max_ns,
        } => {
            let d = t.duration_ns();
            if min_ns.is_some_and(|m| d < m) || max_ns.is_some_and(|m| d > m) {
                return None;
            }
            let mut hits = Vec::new();
            for (k, v) in tags {
                let hit: Vec<usize> = (0..t.spans.len())
                    .filter(|&i| span_has_tag(&t, i, k, v))
                    .collect();
                if hit.is_empty() {
                    return None;
                }
                hits.extend(hit);
            }
            hits.sort_unstable();
            hits.dedup();
            if tags.is_empty() {
                hits = t.root.into_iter().collect();
            }
            let ss = Spanset {
                spans: hits,
                by: Vec::new(),
            };
            vec![spanset_json(&t, &ss, spss, |_| Vec::new())]
        }
    };
    let mut services: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for s in &t.spans {
        let e = services
            .entry(s.resource.service_name().unwrap_or(""))
            .or_default();
        e.0 += 1;
        if s.span.status == StatusCode::Error {
            e.1 += 1;
        }
    }
    let service_stats: serde_json::Map<String, Json> = services
        .into_iter()
        .map(|(k, (spans, errors))| {
            (
                k.to_string(),
                json!({"spanCount": spans, "errorCount": errors}),
            )
        })
        .collect();
    let trace_id = t.spans.first().map(|s| hex_id(&s.span.trace_id))?;
    let mut out = json!({
        "traceID": trace_id,
        "rootServiceName": t.root_service().unwrap_or(NO_ROOT),
        "rootTraceName": t.root_name().unwrap_or(NO_ROOT),
        "startTimeUnixNano": t.start_ns.to_string(),
        "spanSet": sets.first().cloned().unwrap_or(Json::Null),
        "spanSets": sets,
        "serviceStats": service_stats,
    });
    let ms = t.duration_ns() / 1_000_000;
    if ms > 0 {
        out["durationMs"] = json!(ms);
    }
    Some(out)
}

fn spanset_json(
    t: &TraceView<'_>,
    ss: &Spanset,
    spss: usize,
    shown: impl Fn(usize) -> Vec<(String, Value<'static>)>,
) -> Json {
    let mut spans = ss.spans.clone();
    spans.sort_by_key(|&i| t.spans[i].span.start_ns);
    let spans: Vec<Json> = spans
        .iter()
        .take(spss)
        .map(|&i| {
            let s = t.spans[i].span;
            json!({
                "spanID": hex_id(&s.span_id),
                "name": s.name,
                "startTimeUnixNano": s.start_ns.to_string(),
                "durationNanos": s.duration_ns().to_string(),
                "attributes": shown(i).iter().map(|(k, v)| json!({"key": k, "value": value_json(v)})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut out = json!({"spans": spans, "matched": ss.spans.len()});
    if !ss.by.is_empty() {
        out["attributes"] = ss
            .by
            .iter()
            .map(|(k, v)| json!({"key": format!("by({k})"), "value": value_json(v)}))
            .collect();
    }
    out
}

/// A TraceQL value as an OTLP `AnyValue`.
pub fn value_json(v: &Value<'_>) -> Json {
    match v {
        Value::Int(i) => json!({"intValue": i.to_string()}),
        Value::Float(f) => json!({"doubleValue": f}),
        Value::Bool(b) => json!({"boolValue": b}),
        other => json!({"stringValue": other.render()}),
    }
}

fn span_has_tag(t: &TraceView<'_>, i: usize, key: &str, want: &str) -> bool {
    let s = &t.spans[i];
    let want = want.to_lowercase();
    let contains = |v: &str| v.to_lowercase().contains(&want);
    if key == "name" {
        return contains(&s.span.name);
    }
    let render = |v: &AttrValue| match v {
        AttrValue::Str(s) => s.clone(),
        AttrValue::Int(i) => i.to_string(),
        AttrValue::Float(f) => f.to_string(),
        AttrValue::Bool(b) => b.to_string(),
        _ => String::new(),
    };
    s.span
        .attributes
        .iter()
        .chain(s.resource.resource.iter())
        .any(|(k, v)| k == key && contains(&render(v)))
}

/// A Go duration (`100ms`, `1.5s`, `2m`) in nanoseconds.
fn go_duration(s: &str) -> Result<i64> {
    parse_duration(s).map_err(|e| Error::BadData(format!("invalid duration {s:?}: {e}")))
}

/// `k=v k2="v 2"` into pairs.
fn parse_logfmt(s: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(|| {
            Error::BadData(format!("invalid tags {s:?}: expected key=value pairs"))
        })?;
        let key = rest[..eq].trim().to_string();
        rest = &rest[eq + 1..];
        let value = if let Some(r) = rest.strip_prefix('"') {
            let close = r.find('"').ok_or_else(|| {
                Error::BadData(format!("invalid tags {s:?}: a quoted value is not closed"))
            })?;
            let v = r[..close].to_string();
            rest = &r[close + 1..];
            v
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let v = rest[..end].to_string();
            rest = &rest[end..];
            v
        };
        if key.is_empty() {
            return Err(Error::BadData(format!(
                "invalid tags {s:?}: a key is empty"
            )));
        }
        out.push((key, value));
        rest = rest.trim_start();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_store::model::span::{ScopeSpans, Span, SpanKind};

    fn trace() -> Vec<ResourceSpans> {
        let span = |id: u8, parent: Option<u8>, name: &str, start_ms: i64, dur_ms: i64| Span {
            trace_id: [0xab; 16],
            span_id: [id; 8],
            parent_span_id: parent.map(|p| [p; 8]),
            name: name.into(),
            kind: SpanKind::Server,
            start_ns: 1_700_000_000_000_000_000 + start_ms * 1_000_000,
            end_ns: 1_700_000_000_000_000_000 + (start_ms + dur_ms) * 1_000_000,
            ..Default::default()
        };
        let mut root = span(1, None, "GET /", 0, 120);
        root.attributes = vec![("http.status_code".into(), AttrValue::Int(500))];
        let mut children: Vec<Span> = (2..7)
            .map(|i| span(i, Some(1), "child", i as i64, 10))
            .collect();
        children[4].status = StatusCode::Error;
        let rs = |service: &str, spans: Vec<Span>| ResourceSpans {
            resource: vec![("service.name".into(), AttrValue::Str(service.into()))],
            scopes: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
        };
        vec![rs("web", vec![root]), rs("db", children)]
    }

    fn search(q: &str, spss: usize) -> Option<Json> {
        let m = Matcher::TraceQL(Box::new(Search::new(traceql::parse(q).unwrap()).unwrap()));
        matched(&m, &trace(), spss)
    }

    #[test]
    fn traceql_results_in_tempos_shape() {
        let j = search("{ .http.status_code >= 500 }", 3).unwrap();
        assert_eq!(j["traceID"], "abababababababababababababababab");
        assert_eq!(j["rootServiceName"], "web");
        assert_eq!(j["rootTraceName"], "GET /");
        assert_eq!(j["startTimeUnixNano"], "1700000000000000000");
        assert_eq!(j["durationMs"], 120);
        let set = &j["spanSets"][0];
        assert_eq!(set["matched"], 1);
        assert_eq!(set["spans"][0]["spanID"], "0101010101010101");
        assert_eq!(set["spans"][0]["durationNanos"], "120000000");
        assert_eq!(
            set["spans"][0]["attributes"][0],
            json!({"key": "http.status_code", "value": {"intValue": "500"}})
        );
        assert_eq!(j["spanSet"], *set);
        assert_eq!(
            j["serviceStats"]["db"],
            json!({"spanCount": 5, "errorCount": 1})
        );
        assert_eq!(
            j["serviceStats"]["web"],
            json!({"spanCount": 1, "errorCount": 0})
        );
    }

    #[test]
    fn spans_per_spanset_caps_spans_not_the_count() {
        let j = search("{ name = \"child\" }", 2).unwrap();
        assert_eq!(j["spanSets"][0]["matched"], 5);
        assert_eq!(j["spanSets"][0]["spans"].as_array().unwrap().len(), 2);
        let j = search("{ } | by(resource.service.name)", 3).unwrap();
        assert_eq!(j["spanSets"].as_array().unwrap().len(), 2);
        assert_eq!(
            j["spanSets"][0]["attributes"][0],
            json!({"key": "by(resource.service.name)", "value": {"stringValue": "db"}})
        );
        assert!(search("{ name = \"nope\" }", 3).is_none());
    }

    #[test]
    fn tag_search_and_durations() {
        let tags = |t: &str, min: Option<i64>, max: Option<i64>| {
            let m = Matcher::Tags {
                tags: parse_logfmt(t).unwrap(),
                min_ns: min,
                max_ns: max,
            };
            matched(&m, &trace(), 3)
        };
        assert!(tags("service.name=DB", None, None).is_some());
        assert!(tags("service.name=cache", None, None).is_none());
        assert!(tags("name=child http.status_code=500", None, None).is_some());
        assert!(tags("", Some(100_000_000), Some(200_000_000)).is_some());
        assert!(tags("", Some(200_000_000), None).is_none());
        assert_eq!(go_duration("150ms").unwrap(), 150_000_000);
    }

    #[test]
    fn logfmt_tags() {
        assert_eq!(
            parse_logfmt(r#"service.name=cart http.url="/a b"  x=1"#).unwrap(),
            [
                ("service.name".to_string(), "cart".to_string()),
                ("http.url".to_string(), "/a b".to_string()),
                ("x".to_string(), "1".to_string()),
            ]
        );
        assert!(parse_logfmt("").unwrap().is_empty());
        assert!(parse_logfmt("novalue").is_err());
        assert!(parse_logfmt("a=\"open").is_err());
    }
}
