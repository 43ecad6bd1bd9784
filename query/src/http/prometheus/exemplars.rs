//! `/api/v1/query_exemplars` (GET and POST form): the stored exemplars, in `[start, end]`,
//! of the series any selector of the query picks, in Prometheus' shape
//! (`[{seriesLabels, exemplars: [{labels, value, timestamp}]}]`, timestamps in seconds).
//! Grafana probes the endpoint at start-up with `query=test` and `start`/`end` in
//! milliseconds, which must succeed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use lookout_store::{Matcher, SeriesExemplars};
use promql_parser::parser::Expr;

use crate::error::{Error, Result};
use crate::http::errors::json_response;
use crate::http::format::{format_value, push_labels, push_str, push_timestamp};
use crate::http::params::{Params, MAX_TIME, MIN_TIME};
use crate::http::QueryState;

pub fn routes() -> Router<QueryState> {
    Router::new().route("/api/v1/query_exemplars", get(exemplars).post(exemplars))
}

async fn exemplars(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response> {
    let p = Params::from_request(&uri, &headers, &body);
    let start = p.time("start", MIN_TIME)?;
    let end = p.time("end", MAX_TIME)?;
    if end < start {
        return Err(Error::BadData(
            "invalid parameter \"end\": end timestamp must not be before start timestamp".into(),
        ));
    }
    let expr = st.engine.parse(p.get("query").unwrap_or(""))?;
    let mut groups = Vec::new();
    selector_groups(&expr, &mut groups)?;
    let tenant = crate::http::tenant(&st, &headers)?;
    let store = st.store.clone();
    let found =
        tokio::task::spawn_blocking(move || store.select_exemplars(&tenant, &groups, start, end))
            .await
            .map_err(|e| Error::Internal(format!("exemplar read failed: {e}")))??;
    let mut body = String::from("{\"status\":\"success\",\"data\":");
    body.push_str(&render(&found));
    body.push('}');
    Ok(json_response(axum::http::StatusCode::OK, body))
}

/// The matcher groups of every vector and matrix selector in `e`.
fn selector_groups(e: &Expr, out: &mut Vec<Vec<Matcher>>) -> Result<()> {
    match e {
        Expr::VectorSelector(vs) => out.extend(crate::promql::storage::matcher_groups(vs)?),
        Expr::MatrixSelector(ms) => out.extend(crate::promql::storage::matcher_groups(&ms.vs)?),
        Expr::Aggregate(a) => {
            selector_groups(&a.expr, out)?;
            if let Some(p) = &a.param {
                selector_groups(p, out)?;
            }
        }
        Expr::Unary(u) => selector_groups(&u.expr, out)?,
        Expr::Binary(b) => {
            selector_groups(&b.lhs, out)?;
            selector_groups(&b.rhs, out)?;
        }
        Expr::Paren(p) => selector_groups(&p.expr, out)?,
        Expr::Subquery(s) => selector_groups(&s.expr, out)?,
        Expr::Call(c) => {
            for a in &c.args.args {
                selector_groups(a, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn render(found: &[SeriesExemplars]) -> String {
    let mut s = String::from("[");
    for (i, se) in found.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"seriesLabels\":");
        push_labels(&mut s, &se.labels);
        s.push_str(",\"exemplars\":[");
        for (j, e) in se.exemplars.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            s.push_str("{\"labels\":");
            push_labels(&mut s, &e.labels);
            s.push_str(",\"value\":");
            push_str(&mut s, &format_value(e.value));
            s.push_str(",\"timestamp\":");
            push_timestamp(&mut s, e.ts);
            s.push('}');
        }
        s.push_str("]}");
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_store::{Exemplar, Labels};

    #[test]
    fn selectors_of_nested_expressions_and_the_response_shape() {
        let e = crate::promql::Engine::default()
            .parse(r#"histogram_quantile(0.9, sum by (le) (rate(a_bucket{x="1"}[5m]))) / b"#)
            .unwrap();
        let mut groups = Vec::new();
        selector_groups(&e, &mut groups).unwrap();
        assert_eq!(groups.len(), 2);
        let out = render(&[SeriesExemplars {
            labels: Labels::from_pairs([("__name__", "a_bucket")]),
            exemplars: vec![Exemplar {
                labels: Labels::from_pairs([("trace_id", "ab")]),
                value: 0.5,
                ts: 1_600_000_000_123,
            }],
        }]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["seriesLabels"]["__name__"], "a_bucket");
        assert_eq!(v[0]["exemplars"][0]["labels"]["trace_id"], "ab");
        assert_eq!(v[0]["exemplars"][0]["value"], "0.5");
        assert_eq!(v[0]["exemplars"][0]["timestamp"], 1_600_000_000.123);
    }
}
