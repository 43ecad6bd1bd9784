//! Tag names and values: `/api/search/tags` (v1: every attribute name), `/api/v2/search/tags`
//! (per scope: resource, span, event, link, instrumentation, intrinsic), and the values
//! of one tag (v1: strings; v2: typed, with TraceQL's scoped names such as
//! `resource.service.name`, `.http.method` or the intrinsics `name`, `status`, `kind`).
//! A v2 `q` (a TraceQL filter) narrows names and values to the spans it matches.

use std::collections::BTreeSet;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use lookout_store::model::span::AttrValue;
use lookout_store::{SpanAttributeScope, TraceSelect};
use serde_json::{json, Value as Json};

use super::params::{count, range};
use super::TempoResult;
use crate::budget::Budget;
use crate::http::params::Params;
use crate::http::{task, tenant, QueryState};
use crate::traceql::ast::{Attribute, AttributeScope, FieldExpr, Intrinsic};
use crate::traceql::eval::Search;
use crate::traceql::trace::TraceView;
use crate::traceql::value::Value;
use crate::{traceql, Error, Result};

/// The intrinsics v2 lists, in Tempo's unscoped spellings.
const INTRINSICS: &[&str] = &[
    "duration",
    "event:name",
    "event:timeSinceStart",
    "instrumentation:name",
    "instrumentation:version",
    "kind",
    "link:spanID",
    "link:traceID",
    "name",
    "rootName",
    "rootServiceName",
    "span:childCount",
    "span:duration",
    "span:id",
    "span:kind",
    "span:name",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:id",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
];

struct Req {
    p: Params,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
}

fn req(headers: &HeaderMap, uri: &Uri) -> Result<Req> {
    let p = Params::from_request(uri, headers, &Bytes::new());
    let (start_ns, end_ns) = range(&p)?;
    let limit = count(&p, "limit", 0)?;
    Ok(Req {
        p,
        start_ns,
        end_ns,
        limit,
    })
}

fn capped(mut v: Vec<String>, limit: usize) -> Vec<String> {
    if limit > 0 {
        v.truncate(limit);
    }
    v
}

pub async fn names_v1(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
) -> TempoResult<Response> {
    let r = req(&headers, &uri)?;
    let scope = r.p.get("scope").unwrap_or("all").to_string();
    let tenant = tenant(&st, &headers)?;
    let names = st
        .traces
        .span_attribute_names(&tenant, r.start_ns, r.end_ns)
        .map_err(Error::from)?;
    let mut all: BTreeSet<String> = BTreeSet::new();
    if matches!(scope.as_str(), "all" | "resource") {
        all.extend(names.resource);
    }
    if matches!(scope.as_str(), "all" | "span") {
        all.extend(names.span);
    }
    if scope == "intrinsic" {
        all.extend(INTRINSICS.iter().map(|s| s.to_string()));
    }
    let v = capped(all.into_iter().collect(), r.limit);
    Ok(axum::Json(json!({"tagNames": v, "metrics": {}})).into_response())
}

pub async fn names_v2(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
) -> TempoResult<Response> {
    let r = req(&headers, &uri)?;
    let want = r.p.get("scope").unwrap_or("all").to_string();
    let known = [
        "all",
        "resource",
        "span",
        "event",
        "link",
        "instrumentation",
        "intrinsic",
    ];
    if !known.contains(&want.as_str()) {
        return Err(Error::BadData(format!(
            "invalid scope {want:?}: use one of {}",
            known.join(", ")
        ))
        .into());
    }
    let tenant = tenant(&st, &headers)?;
    let names = match filter_of(&r.p)? {
        None => st
            .traces
            .span_attribute_names(&tenant, r.start_ns, r.end_ns)
            .map_err(Error::from)?,
        Some(filter) => names_matching(&st, tenant, filter, r.start_ns, r.end_ns).await?,
    };
    let scopes = [
        ("resource", names.resource),
        ("span", names.span),
        ("event", names.event),
        ("link", names.link),
        ("instrumentation", names.instrumentation),
        (
            "intrinsic",
            INTRINSICS.iter().map(|s| s.to_string()).collect(),
        ),
    ];
    let out: Vec<Json> = scopes
        .into_iter()
        .filter(|(name, tags)| (want == "all" || want == *name) && !tags.is_empty())
        .map(|(name, tags)| json!({"name": name, "tags": capped(tags, r.limit)}))
        .collect();
    Ok(axum::Json(json!({"scopes": out, "metrics": {}})).into_response())
}

pub async fn values_v1(
    State(st): State<QueryState>,
    Path(tag): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> TempoResult<Response> {
    let field = field_of(&tag, true)?;
    let typed = values(&st, &headers, &uri, field).await?;
    let mut v: Vec<String> = typed.into_iter().map(|(_, v)| v).collect();
    v.dedup();
    Ok(axum::Json(json!({"tagValues": v, "metrics": {}})).into_response())
}

pub async fn values_v2(
    State(st): State<QueryState>,
    Path(tag): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> TempoResult<Response> {
    let field = field_of(&tag, false)?;
    let typed = values(&st, &headers, &uri, field).await?;
    let v: Vec<Json> = typed
        .into_iter()
        .map(|(t, v)| json!({"type": t, "value": v}))
        .collect();
    Ok(axum::Json(json!({"tagValues": v, "metrics": {}})).into_response())
}

/// The field a tag names: v1 names are bare attribute names (span, then resource); v2
/// names are TraceQL fields.
fn field_of(tag: &str, v1: bool) -> Result<FieldExpr> {
    if v1 {
        if let Some(i) = Intrinsic::lookup(tag).filter(|_| !tag.contains('.')) {
            return Ok(FieldExpr::Intrinsic(i));
        }
        return Ok(FieldExpr::Attribute(Attribute {
            scope: AttributeScope::Unscoped,
            parent: false,
            name: tag.to_string(),
        }));
    }
    let q = traceql::parse(&format!("{{ {tag} != nil }}"))
        .map_err(|_| Error::BadData(format!("invalid tag {tag:?}: use a TraceQL field such as resource.service.name, span.http.method, .foo or name")))?;
    match q.pipeline.source {
        traceql::ast::SpansetExpr::Filter(FieldExpr::Binary { lhs, .. }) => match *lhs {
            f @ (FieldExpr::Attribute(_) | FieldExpr::Intrinsic(_)) => Ok(f),
            _ => Err(Error::BadData(format!("invalid tag {tag:?}"))),
        },
        _ => Err(Error::BadData(format!("invalid tag {tag:?}"))),
    }
}

/// The TraceQL filter `q` of a v2 call; None when absent or empty.
fn filter_of(p: &Params) -> Result<Option<Search>> {
    match p.get("q").map(str::trim) {
        None | Some("") | Some("{}") | Some("{ }") => Ok(None),
        Some(q) => Ok(Some(Search::new(traceql::parse(q).map_err(|e| {
            Error::BadData(format!("invalid TraceQL query: {e}"))
        })?)?)),
    }
}

/// Attribute names, per scope, of the spans `filter` matches (v2 tags with `q`, which
/// Grafana's TraceQL editor sends to suggest tags that go with what is typed already).
async fn names_matching(
    st: &QueryState,
    tenant: lookout_store::TenantId,
    filter: Search,
    start_ns: i64,
    end_ns: i64,
) -> Result<lookout_store::SpanAttributeNames> {
    let traces = st.traces.clone();
    let budget = Budget::new(
        Instant::now(),
        st.engine.opts.timeout,
        st.engine.opts.max_memory,
    );
    task::run(st, budget, "tag names", move |b| {
        let mut sets: [BTreeSet<String>; 5] = Default::default();
        let sel = TraceSelect {
            start_ns,
            end_ns,
            cancel: Some(b.stop_flag()),
            // Only traces `q` can match are read: the store narrows to those.
            spans: traceql::pushdown::predicates(filter.query()),
            ..Default::default()
        };
        traces.scan_traces(&tenant, &sel, &mut |batches| {
            let t = TraceView::new(&batches);
            for i in filter.run(&t).into_iter().flat_map(|s| s.spans) {
                let r = &t.spans[i];
                let names = |a: &lookout_store::model::span::Attributes| {
                    a.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
                };
                sets[0].extend(names(&r.resource.resource));
                sets[1].extend(names(&r.span.attributes));
                for e in &r.span.events {
                    sets[2].extend(names(&e.attributes));
                }
                for l in &r.span.links {
                    sets[3].extend(names(&l.attributes));
                }
                sets[4].extend(names(&r.scope.attributes));
            }
            true
        })?;
        b.check()?;
        let [resource, span, event, link, instrumentation] = sets.map(|s| s.into_iter().collect());
        Ok(lookout_store::SpanAttributeNames {
            resource,
            span,
            event,
            link,
            instrumentation,
        })
    })
    .await
}

/// Distinct (type, value) pairs of a field, sorted by value.
async fn values(
    st: &QueryState,
    headers: &HeaderMap,
    uri: &Uri,
    field: FieldExpr,
) -> TempoResult<Vec<(&'static str, String)>> {
    let received = Instant::now();
    let r = req(headers, uri)?;
    let tenant = tenant(st, headers)?;
    let filter = filter_of(&r.p)?;
    // Keyword intrinsics have a fixed set of values.
    match (&field, &filter) {
        (FieldExpr::Intrinsic(Intrinsic::Status), None) => {
            return Ok(["error", "ok", "unset"]
                .map(|v| ("keyword", v.to_string()))
                .to_vec())
        }
        (FieldExpr::Intrinsic(Intrinsic::Kind), None) => {
            return Ok([
                "client",
                "consumer",
                "internal",
                "producer",
                "server",
                "unspecified",
            ]
            .map(|v| ("keyword", v.to_string()))
            .to_vec())
        }
        _ => {}
    }
    // An attribute without a filter: the store's value lookup.
    if let (FieldExpr::Attribute(a), None) = (&field, &filter) {
        if !a.parent {
            let scopes: &[SpanAttributeScope] = match a.scope {
                AttributeScope::Unscoped => {
                    &[SpanAttributeScope::Span, SpanAttributeScope::Resource]
                }
                AttributeScope::Span => &[SpanAttributeScope::Span],
                AttributeScope::Resource => &[SpanAttributeScope::Resource],
                AttributeScope::Event => &[SpanAttributeScope::Event],
                AttributeScope::Link => &[SpanAttributeScope::Link],
                AttributeScope::Instrumentation => &[SpanAttributeScope::Instrumentation],
            };
            let mut set = BTreeSet::new();
            for s in scopes {
                for v in st
                    .traces
                    .span_attribute_values(&tenant, *s, &a.name, r.start_ns, r.end_ns, r.limit)
                    .map_err(Error::from)?
                {
                    if let Some(tv) = typed(&v) {
                        set.insert((tv.1, tv.0));
                    }
                }
            }
            return Ok(limit_sorted(set, r.limit));
        }
    }
    // Otherwise scan spans (matching `q` when given) and read the field.
    let traces = st.traces.clone();
    let budget = Budget::new(received, st.engine.opts.timeout, st.engine.opts.max_memory);
    let (start_ns, end_ns, limit) = (r.start_ns, r.end_ns, r.limit);
    let out = task::run(st, budget, "tag values", move |b| {
        let probe = Search::new(traceql::parse("{ }")?)?;
        let mut set: BTreeSet<(String, &'static str)> = BTreeSet::new();
        let sel = TraceSelect {
            start_ns,
            end_ns,
            cancel: Some(b.stop_flag()),
            // Only spans of traces `q` matches are read: the store narrows to those.
            spans: filter
                .as_ref()
                .map(|f| traceql::pushdown::predicates(f.query()))
                .unwrap_or_default(),
            ..Default::default()
        };
        traces.scan_traces(&tenant, &sel, &mut |batches| {
            let t = TraceView::new(&batches);
            let spans: Vec<usize> = match &filter {
                Some(f) => f.run(&t).into_iter().flat_map(|s| s.spans).collect(),
                None => (0..t.spans.len()).collect(),
            };
            for i in spans {
                for v in probe.field_values(&field, &t, i) {
                    if let Some(tv) = typed_value(&v) {
                        set.insert((tv.1, tv.0));
                    }
                }
            }
            limit == 0 || set.len() < limit
        })?;
        b.check()?;
        let set: BTreeSet<(String, &'static str)> = set;
        Ok(limit_sorted(set, limit))
    })
    .await?;
    Ok(out)
}

fn limit_sorted(
    set: BTreeSet<(String, &'static str)>,
    limit: usize,
) -> Vec<(&'static str, String)> {
    let mut v: Vec<(&'static str, String)> = set.into_iter().map(|(v, t)| (t, v)).collect();
    if limit > 0 {
        v.truncate(limit);
    }
    v
}

/// An attribute value as (value, type) for v2; arrays, maps and bytes are not listed.
fn typed(v: &AttrValue) -> Option<(&'static str, String)> {
    Some(match v {
        AttrValue::Str(s) => ("string", s.clone()),
        AttrValue::Int(i) => ("int", i.to_string()),
        AttrValue::Float(f) => ("float", f.to_string()),
        AttrValue::Bool(b) => ("bool", b.to_string()),
        _ => return None,
    })
}

/// A field's value as (type, value) for v2.
fn typed_value(v: &Value<'_>) -> Option<(&'static str, String)> {
    let t = match v {
        Value::Nil => return None,
        Value::Str(_) => "string",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Bool(_) => "bool",
        Value::Duration(_) => "duration",
        Value::Status(_) | Value::Kind(_) => "keyword",
    };
    Some((t, v.render()))
}
