//! Series metadata and raw export: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values` (GET and POST form, `match[]`, `start`, `end`, `limit`),
//! and `/api/v1/export`, which streams raw samples as JSON lines
//! (`{"metric":{...},"values":[...],"timestamps":[...]}`, the VictoriaMetrics shape).

use std::collections::BTreeSet;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lookout_store::{Labels, Matcher, Sample, SelectHints, TenantId};
use serde_json::{json, Map, Value};

use super::selector::parse_all;
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::http::errors::success_with_warnings;
use crate::http::params::{Params, MAX_TIME, MIN_TIME};
use crate::http::tenant;
use crate::http::{task, QueryState};

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        // Some Grafana 12 builds ask for the plural path.
        .route("/api/v1/labels/{name}/values", get(label_values))
        .route("/api/v1/export", get(export).post(export))
}

pub fn labels_json(l: &Labels) -> Value {
    let mut m = Map::with_capacity(l.len());
    for x in l {
        m.insert(x.name.clone(), Value::String(x.value.clone()));
    }
    Value::Object(m)
}

/// What a label set holds, as the query budget counts it.
fn label_bytes(l: &Labels) -> usize {
    l.iter()
        .map(|x| x.name.len() + x.value.len() + 48)
        .sum::<usize>()
        + 24
}

/// Store hints that stop a read once `budget` is stopped.
fn hints(budget: &Budget, series_only: bool) -> SelectHints {
    SelectHints {
        series_only,
        cancel: Some(budget.stop_flag()),
        ..Default::default()
    }
}

fn limited<T>(mut v: Vec<T>, limit: Option<usize>) -> (Vec<T>, Vec<String>) {
    match limit {
        Some(l) if l > 0 && v.len() > l => {
            v.truncate(l);
            (v, vec![format!("results truncated due to limit of {l}")])
        }
        _ => (v, Vec::new()),
    }
}

/// What `/api/v1/series` and `/api/v1/export` select: the tenant, the matcher groups of
/// the required `match[]` parameters, and the time range.
fn selection(
    st: &QueryState,
    headers: &HeaderMap,
    p: &Params,
) -> Result<(TenantId, Vec<Vec<Matcher>>, i64, i64)> {
    let tenant = tenant(st, headers)?;
    let sels = p.all("match[]");
    if sels.is_empty() {
        return Err(Error::BadData("no match[] parameter provided".into()));
    }
    let groups = parse_all(&st.engine, &sels)?;
    Ok((
        tenant,
        groups,
        p.time("start", MIN_TIME)?,
        p.time("end", MAX_TIME)?,
    ))
}

async fn series(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &body);
    let (tenant, groups, start, end) = selection(&st, &headers, &p)?;
    let limit = p.usize("limit")?;
    let store = st.store.clone();
    let found = task::run(&st, st.engine.budget(), "series lookup", move |b| {
        let mut all: BTreeSet<Labels> = BTreeSet::new();
        for g in &groups {
            let found = store.select(&tenant, g, start, end, &hints(b, true))?;
            b.check()?;
            b.charge(found.iter().map(|s| label_bytes(&s.labels)).sum())?;
            all.extend(found.into_iter().map(|s| s.labels));
        }
        Ok(all.into_iter().collect::<Vec<_>>())
    })
    .await?;
    let (found, warnings) = limited(found, limit);
    let data: Vec<Value> = found.iter().map(labels_json).collect();
    Ok(success_with_warnings(Value::Array(data), warnings))
}

async fn labels(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &body);
    names_or_values(st, &headers, p, None).await
}

async fn label_values(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &Bytes::new());
    let name = unescape_label_name(&name);
    // Prometheus 3's rule, the store's: any non-empty UTF-8 name.
    if lookout_store::model::labels::validate_label_name(&name).is_err() {
        return Err(Error::BadData(format!("invalid label name: {name:?}")));
    }
    names_or_values(st, &headers, p, Some(name)).await
}

/// Decodes Prometheus' "values" escaping of a label name in a path (`U__` prefix, `__` for
/// `_`, `_<hex>_` for any other code point), which Grafana applies to names that are not
/// legacy-valid. A name that does not decode is returned as it is.
fn unescape_label_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("U__") else {
        return name.to_string();
    };
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        let mut hex = String::new();
        let mut closed = false;
        for h in chars.by_ref() {
            if h == '_' {
                closed = true;
                break;
            }
            hex.push(h);
        }
        if !closed {
            return name.to_string();
        }
        if hex.is_empty() {
            out.push('_');
            continue;
        }
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(c) => out.push(c),
            None => return name.to_string(),
        }
    }
    out
}

async fn names_or_values(
    st: QueryState,
    headers: &HeaderMap,
    p: Params,
    name: Option<String>,
) -> Result<Response> {
    let tenant = tenant(&st, headers)?;
    let groups = parse_all(&st.engine, &p.all("match[]"))?;
    let (start, end) = (p.time("start", MIN_TIME)?, p.time("end", MAX_TIME)?);
    let limit = p.usize("limit")?;
    let store = st.store.clone();
    let out = task::run(&st, st.engine.budget(), "label lookup", move |b| {
        let groups = if groups.is_empty() {
            vec![Vec::new()]
        } else {
            groups
        };
        let mut all = BTreeSet::new();
        for g in &groups {
            let v = match &name {
                None => store.label_names(&tenant, g, start, end)?,
                Some(n) => store.label_values(&tenant, n, g, start, end)?,
            };
            b.check()?;
            b.charge(v.iter().map(|s| s.len() + 24).sum())?;
            all.extend(v);
        }
        Ok(all.into_iter().collect::<Vec<String>>())
    })
    .await?;
    let (out, warnings) = limited(out, limit);
    Ok(success_with_warnings(json!(out), warnings))
}

fn value_json(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("+Inf")
    } else {
        json!("-Inf")
    }
}

fn export_line(labels: &Labels, samples: &[Sample], out: &mut Vec<u8>) {
    let line = json!({
        "metric": labels_json(labels),
        "values": samples.iter().map(|x| value_json(x.v)).collect::<Vec<_>>(),
        "timestamps": samples.iter().map(|x| x.t).collect::<Vec<_>>(),
    });
    // Serializing a json! value cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
    out.push(b'\n');
}

async fn export(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &body);
    let (tenant, groups, start, end) = selection(&st, &headers, &p)?;
    let store = st.store.clone();
    let body = task::run(&st, st.engine.budget(), "export", move |b| {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for g in &groups {
            // Each series becomes its JSON line as it is read, charged to the budget, so
            // an export too large to answer stops at the limit instead of after it.
            let lines = store.select_map(&tenant, g, start, end, &hints(b, false), &|l, smp| {
                let mut line = Vec::new();
                export_line(l, smp, &mut line);
                b.charge(line.len() + label_bytes(l))?;
                Ok::<_, Error>(line)
            })?;
            b.check()?;
            for (labels, line) in lines {
                let line = line?;
                if seen.insert(labels) {
                    out.extend_from_slice(&line);
                }
            }
        }
        Ok(out)
    })
    .await?;
    Ok((
        [(header::CONTENT_TYPE, "application/stream+json")],
        Body::from(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_label_names() {
        assert_eq!(unescape_label_name("job"), "job");
        assert_eq!(
            unescape_label_name("U__http_2e_status__code"),
            "http.status_code"
        );
        assert_eq!(unescape_label_name("U__a_1F600_"), "a\u{1F600}");
        assert_eq!(unescape_label_name("U__bad_zz_"), "U__bad_zz_");
        assert_eq!(unescape_label_name("U__open_2e"), "U__open_2e");
    }
}
