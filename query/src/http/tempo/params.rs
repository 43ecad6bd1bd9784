//! Tempo's request parameters: `start` and `end` in Unix seconds, trace ids in hex.

use lookout_store::model::span::TraceId;

use crate::http::params::Params;
use crate::{Error, Result};

/// `[start, end)` in nanoseconds from `start`/`end` (Unix seconds); unbounded when absent.
pub fn range(p: &Params) -> Result<(i64, i64)> {
    let secs = |key: &str| -> Result<Option<i64>> {
        p.get(key)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    Error::BadData(format!(
                        "invalid {key} {v:?}: expected Unix seconds, e.g. {key}=1700000000"
                    ))
                })
            })
            .transpose()
    };
    let start = secs("start")?.map_or(i64::MIN, |s| s.saturating_mul(1_000_000_000));
    // Tempo's end is inclusive at second precision.
    let end = secs("end")?.map_or(i64::MAX, |s| {
        s.saturating_add(1).saturating_mul(1_000_000_000)
    });
    if end <= start {
        return Err(Error::BadData(
            "invalid time range: end must be after start".into(),
        ));
    }
    Ok((start, end))
}

/// A trace id in hex, 1 to 32 digits (leading zeros may be stripped, as Grafana does).
pub fn trace_id(s: &str) -> Result<TraceId> {
    let bad = || {
        Error::BadData(format!(
            "invalid trace id {s:?}: expected up to 32 hexadecimal digits"
        ))
    };
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let padded = format!("{s:0>32}");
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&padded[i * 2..i * 2 + 2], 16).map_err(|_| bad())?;
    }
    Ok(id)
}

/// A positive count parameter with a default.
pub fn count(p: &Params, key: &str, default: usize) -> Result<usize> {
    match p.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(0) => Ok(default),
            Ok(n) => Ok(n),
            Err(_) => Err(Error::BadData(format!(
                "invalid {key} {v:?}: expected a positive integer"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_pad_and_refuse() {
        let id = trace_id("2f3e0cee77ae5dc9c17ade3689eb2e54").unwrap();
        assert_eq!(id[0], 0x2f);
        assert_eq!(id[15], 0x54);
        let short = trace_id("abc").unwrap();
        assert_eq!(&short[..14], &[0u8; 14]);
        assert_eq!(short[14..], [0x0a, 0xbc]);
        for bad in ["", "xyz", &"a".repeat(33), "12 4"] {
            assert!(trace_id(bad).is_err(), "{bad:?}");
        }
    }
}
