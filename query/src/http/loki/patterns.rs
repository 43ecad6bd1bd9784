//! `/loki/api/v1/patterns`: the line patterns of a log query over time, as Logs
//! Drilldown's pattern tab reads them. Loki mines patterns with Drain in its pattern
//! ingester; here they are found at query time over the newest lines (up to
//! `line_limit`, default 5000): each whitespace-separated token holding a digit becomes
//! `<_>` (a `key=value` token keeps its key), runs of `<_>` merge, and lines with the same
//! mask share a pattern. Samples count the lines of a pattern per `step` bucket.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::error_response;
use super::newest::newest_lines;
use super::params::{duration, S};
use crate::http::errors::json_response;
use crate::http::params::Params;
use crate::http::QueryState;

/// Patterns answered at most (the most frequent first).
const MAX_PATTERNS: usize = 500;

pub fn routes() -> Router<QueryState> {
    Router::new().route("/loki/api/v1/patterns", get(patterns).post(patterns))
}

/// The pattern of one line.
pub fn pattern(line: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for tok in line.split_whitespace() {
        let masked = if !tok.bytes().any(|b| b.is_ascii_digit()) {
            tok.to_string()
        } else {
            match tok.split_once('=') {
                Some((k, _)) if !k.is_empty() && !k.bytes().any(|b| b.is_ascii_digit()) => {
                    format!("{k}=<_>")
                }
                _ => "<_>".to_string(),
            }
        };
        if masked == "<_>" && out.last().is_some_and(|l| l == "<_>") {
            continue;
        }
        out.push(masked);
    }
    out.join(" ")
}

async fn patterns(State(st): State<QueryState>, headers: HeaderMap, uri: Uri) -> Response {
    let p = Params::from_request(&uri, &headers, &Bytes::new());
    let r = async {
        let step = duration(&p, "step")?.filter(|s| *s > 0);
        let counts = newest_lines(
            &st,
            &headers,
            &p,
            5000,
            "patterns",
            move |streams, start, end| {
                let step = step.unwrap_or(((end - start) / 100).max(S));
                let mut counts: HashMap<String, BTreeMap<i64, u64>> = HashMap::new();
                for s in streams {
                    for l in &s.lines {
                        let bucket = start + (l.ts_ns - start).div_euclid(step) * step;
                        *counts
                            .entry(pattern(&l.line))
                            .or_default()
                            .entry(bucket / S)
                            .or_default() += 1;
                    }
                }
                counts
            },
        )
        .await?;
        let mut out: Vec<(u64, String, BTreeMap<i64, u64>)> = counts
            .into_iter()
            .map(|(pat, samples)| (samples.values().sum(), pat, samples))
            .collect();
        out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let data: Vec<serde_json::Value> = out
            .into_iter()
            .take(MAX_PATTERNS)
            .map(|(_, pat, samples)| {
                let samples: Vec<[i64; 2]> =
                    samples.into_iter().map(|(t, n)| [t, n as i64]).collect();
                serde_json::json!({"pattern": pat, "samples": samples})
            })
            .collect();
        Ok(json_response(
            StatusCode::OK,
            serde_json::json!({"status": "success", "data": data}).to_string(),
        ))
    };
    r.await.unwrap_or_else(error_response)
}

#[cfg(test)]
mod tests {
    use super::pattern;

    #[test]
    fn numbers_are_masked_and_runs_merge() {
        assert_eq!(
            pattern("level=info msg=\"request 12 done\" n=12"),
            "level=info msg=\"request <_> done\" n=<_>"
        );
        assert_eq!(pattern("GET /pay 200 in 3 ms"), "GET /pay <_> in <_> ms");
        assert_eq!(pattern("10.0.0.1 - 2024-01-01 hello"), "<_> - <_> hello");
        assert_eq!(pattern("no digits here"), "no digits here");
    }
}
