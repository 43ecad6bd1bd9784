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

    /// A time parameter that must be present (`start` and `end` of a range query).
    pub fn required_time(&self, key: &str) -> Result<i64> {
        parse_time(self.get(key).unwrap_or(""))
            .map_err(|e| Error::BadData(format!("invalid parameter \"{key}\": {e}")))
    }

    /// A duration parameter (`step`, `timeout`, `lookback_delta`) in nanoseconds, or None
    /// when absent.
    pub fn duration(&self, key: &str) -> Result<Option<i64>> {
        self.get(key)
            .map(|s| {
                parse_duration(s)
                    .map_err(|e| Error::BadData(format!("invalid parameter \"{key}\": {e}")))
            })
            .transpose()
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

/// Parses a duration as Prometheus' API does, into nanoseconds (Go's `time.Duration`):
/// float seconds (`"15"`, `"0.5"`, `"-1"`) or a Prometheus duration (`15s`, `1h30m`,
/// `500ms`; units y, w, d, h, m, s, ms). Callers reject negative values where they make
/// no sense, with their own message.
pub fn parse_duration(s: &str) -> std::result::Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ns = f * 1e9;
        if !ns.is_finite() || ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i64);
    }
    prometheus_duration(s)
        .and_then(|ms| i64::try_from(ms).ok()?.checked_mul(1_000_000))
        .ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// A Prometheus duration (`1h30m`, `500ms`) in ms; units must come largest first, each once.
fn prometheus_duration(s: &str) -> Option<u64> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    if s == "0" {
        return Some(0);
    }
    let b = s.as_bytes();
    let (mut i, mut total, mut last_unit) = (0usize, 0u64, 0usize);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n: u64 = s.get(start..i)?.parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = s.get(ustart..i)?;
        let (pos, (_, mult)) = UNITS.iter().enumerate().find(|(_, (u, _))| *u == unit)?;
        if pos < last_unit || (total > 0 && pos == last_unit) {
            return None;
        }
        last_unit = pos;
        total = total.checked_add(n.checked_mul(*mult)?)?;
    }
    (!b.is_empty()).then_some(total)
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

    #[test]
    fn durations() {
        const S: i64 = 1_000_000_000;
        assert_eq!(parse_duration("15").unwrap(), 15 * S);
        assert_eq!(parse_duration("0.5").unwrap(), S / 2);
        assert_eq!(parse_duration("0.000001").unwrap(), 1000);
        assert_eq!(parse_duration("-1").unwrap(), -S);
        assert_eq!(parse_duration("15s").unwrap(), 15 * S);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400 * S);
        assert_eq!(parse_duration("1m500ms").unwrap(), 60_500_000_000);
        assert_eq!(parse_duration("2d").unwrap(), 172_800 * S);
        assert_eq!(parse_duration("0").unwrap(), 0);
        for bad in ["", "1x", "s", "5m1h", "1ns", "NaN", "1e300"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
