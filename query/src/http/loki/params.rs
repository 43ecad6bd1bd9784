//! Loki's parameter forms: times as Unix nanoseconds (an integer of more than 10 digits),
//! Unix seconds (10 digits or fewer, or with a fraction) or RFC 3339; durations as
//! Prometheus durations or float seconds; `start`/`end` defaults and `since`.

use crate::error::{Error, Result};
use crate::http::params::{parse_duration, Params};

pub const S: i64 = 1_000_000_000;

/// Parses a Loki time into ns.
pub fn parse_time_ns(s: &str) -> std::result::Result<i64, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
        || s.starts_with('-') && s[1..].bytes().all(|b| b.is_ascii_digit())
    {
        let v: i64 = s
            .parse()
            .map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))?;
        let digits = s.trim_start_matches('-').len();
        return Ok(if digits <= 10 { v.saturating_mul(S) } else { v });
    }
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            return Ok((f * 1e9) as i64);
        }
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| format!("cannot parse {s:?} to a valid timestamp"))
}

pub fn time(p: &Params, key: &str, default: i64) -> Result<i64> {
    match p.get(key) {
        None => Ok(default),
        Some(s) => parse_time_ns(s)
            .map_err(|e| Error::BadData(format!("invalid parameter \"{key}\": {e}"))),
    }
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// `start` and `end` with Loki's defaults: `end` now, `start` `end - since` or
/// `end - default_since`.
pub fn bounds(p: &Params, default_since: i64) -> Result<(i64, i64)> {
    let end = time(p, "end", now_ns())?;
    let since = duration(p, "since")?.unwrap_or(default_since);
    let start = time(p, "start", end - since)?;
    if end < start {
        return Err(Error::BadData(
            "invalid parameter \"end\": end timestamp must not be before or equal to start time"
                .into(),
        ));
    }
    Ok((start, end))
}

pub fn duration(p: &Params, key: &str) -> Result<Option<i64>> {
    p.get(key)
        .map(|s| {
            parse_duration(s)
                .map_err(|e| Error::BadData(format!("invalid parameter \"{key}\": {e}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_loki_reads_them() {
        assert_eq!(parse_time_ns("4000000000").unwrap(), 4_000_000_000 * S);
        assert_eq!(
            parse_time_ns("1700000000000000000").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time_ns("1700000000.5").unwrap(),
            1_700_000_000_500_000_000
        );
        assert_eq!(
            parse_time_ns("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000 * S
        );
        assert!(parse_time_ns("soon").is_err());
    }
}
