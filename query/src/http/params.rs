//! Request parameters as Prometheus reads them: from the query string and, for POST, from
//! an `application/x-www-form-urlencoded` body; repeated keys (`match[]`) kept in order.
//! Times are RFC 3339 or Unix seconds with a fraction; durations are Prometheus durations
//! or seconds.

use axum::body::Bytes;
use axum::http::{HeaderMap, Uri};

use crate::error::{Error, Result};

/// Earliest and latest times Prometheus accepts as "no bound" (ms).
pub const MIN_TIME: i64 = -9_223_372_036_854_775 / 1000 * 1000;
pub const MAX_TIME: i64 = 9_223_372_036_854_775 / 1000 * 1000;

#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn from_request(uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Params {
        let mut v: Vec<(String, String)> = uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = headers
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if is_form && !body.is_empty() {
            v.extend(form_urlencoded::parse(body).into_owned());
        }
        Params(v)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter in ms, or `default` when absent.
    pub fn time(&self, key: &str, default: i64) -> Result<i64> {
        match self.get(key) {
            None => Ok(default),
            Some(s) => parse_time(s)
                .map_err(|e| Error::BadData(format!("invalid parameter \"{key}\": {e}"))),
        }
    }

    pub fn usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key)
            .map(|s| {
                s.parse::<usize>().map_err(|_| {
                    Error::BadData(format!(
                        "invalid parameter \"{key}\": {s:?} is not a non-negative integer"
                    ))
                })
            })
            .transpose()
    }
}

/// Parses RFC 3339 or Unix seconds (with optional fraction) into ms.
pub fn parse_time(s: &str) -> std::result::Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(format!("cannot parse {s:?} to a valid timestamp"));
        }
        let ms = (f * 1000.0).round();
        return Ok(ms.clamp(MIN_TIME as f64, MAX_TIME as f64) as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000.123").unwrap(), 1_700_000_000_123);
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00").unwrap(),
            1_700_000_000_500
        );
        assert!(parse_time("yesterday").is_err());
    }
}
