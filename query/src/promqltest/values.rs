//! The literals of the test-script language: Prometheus durations, numbers, Go-quoted
//! strings, and value sequences (`1 2 _ stale`, `a+bxN`, `_xN`, `{{…}}` histograms).

use std::fmt;

/// One position of a value sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum SeqValue {
    /// `_`: no sample at this position; time still advances.
    Omitted,
    /// A float sample (`stale` is the StaleNaN bit pattern).
    Float(f64),
    /// A native histogram. The engine has none, so nothing ever compares these values.
    Histogram(Box<HistogramLiteral>),
}

/// A `{{key:value …}}` native histogram literal, as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramLiteral {
    pub schema: i64,
    pub sum: f64,
    pub count: f64,
    pub zero_count: f64,
    pub zero_threshold: f64,
    pub buckets: Vec<f64>,
    pub offset: i64,
    pub n_buckets: Vec<f64>,
    pub n_offset: i64,
    pub custom_values: Vec<f64>,
    /// `None` when the literal does not name one: then any hint is accepted.
    pub counter_reset_hint: Option<String>,
}

impl fmt::Display for SeqValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqValue::Omitted => f.write_str("_"),
            SeqValue::Float(v) => f.write_str(&format_float(*v)),
            SeqValue::Histogram(h) => write!(f, "{{{{sum:{} count:{}}}}}", h.sum, h.count),
        }
    }
}

/// Formats a float the way the scripts write them: `stale` for the staleness marker,
/// `NaN`, `+Inf`, `-Inf`, otherwise the shortest round-tripping decimal.
pub fn format_float(v: f64) -> String {
    if lookout_store::model::sample::is_stale_nan(v) {
        "stale".into()
    } else {
        crate::promql::value::format_float(v)
    }
}

/// Parses a Prometheus duration (`model.ParseDuration`): `0`, or non-negative integers
/// with units `y w d h m s ms`, largest first, each at most once. Returns milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let bad = || format!("not a valid duration string: {s:?}");
    let mut rest = s;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let idx = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(bad)?
            + next_unit;
        next_unit = idx + 1;
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {s:?} is out of range"))?;
    }
    Ok(total)
}

/// Parses a sample value as series descriptions write it: a decimal float with optional
/// sign and exponent, or `Inf`/`NaN` in any case. Hex is not accepted.
pub fn parse_float(s: &str) -> Result<f64, String> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let word = body.to_ascii_lowercase();
    let ok = word == "inf"
        || word == "nan"
        || (!body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')));
    if !ok {
        return Err(format!("invalid number {s:?}"));
    }
    s.parse::<f64>()
        .map_err(|_| format!("invalid number {s:?}"))
}

/// Go's `parseNumber` for a bare expected scalar: an integer in any Go base syntax
/// (`0x10`, `0o17`, `0b1`, `017`) or else a Go float (which includes `Inf`, `NaN`).
pub fn parse_go_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(&h.replace('_', ""), 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(&o.replace('_', ""), 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(&b.replace('_', ""), 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        let v = i as f64;
        return Some(if neg { -v } else { v });
    }
    let word_ok = matches!(lower.as_str(), "inf" | "infinity" | "nan");
    let num_ok = !lower.is_empty()
        && lower.bytes().any(|b| b.is_ascii_digit())
        && lower
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'));
    if !(word_ok || num_ok) {
        return None;
    }
    let v: f64 = lower.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Go's `strconv.Unquote` for double-quoted and back-quoted strings (and single-quoted
/// ones, which PromQL also allows for label values).
pub fn unquote(s: &str) -> Result<String, String> {
    let bad = || format!("invalid quoted string {s:?}");
    let quote = s.chars().next().ok_or_else(bad)?;
    if s.len() < 2 || !s.ends_with(quote) {
        return Err(bad());
    }
    let inner = &s[1..s.len() - 1];
    match quote {
        '`' if !inner.contains('`') => Ok(inner.to_string()),
        '"' | '\'' => unescape(inner, quote).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// Resolves Go escape sequences; `None` on a malformed escape or an unescaped quote.
fn unescape(s: &str, quote: char) -> Option<String> {
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let mut chars = s.char_indices();
    while let Some((_, c)) = chars.next() {
        if c == quote {
            return None;
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let (_, e) = chars.next()?;
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            '\'' => Some(b'\''),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let mut take = |n: usize, radix: u32| -> Option<u32> {
            let mut v = 0u32;
            for _ in 0..n {
                let (_, d) = chars.next()?;
                v = v * radix + d.to_digit(radix)?;
            }
            Some(v)
        };
        match e {
            'x' => out.push(u8::try_from(take(2, 16)?).ok()?),
            'u' | 'U' => {
                let c = char::from_u32(take(if e == 'u' { 4 } else { 8 }, 16)?)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            '0'..='7' => {
                let rest = take(2, 8)?;
                let v = e.to_digit(8)? * 64 + rest;
                out.push(u8::try_from(v).ok()?);
            }
            _ => return None,
        }
    }
    // Go strings may hold arbitrary bytes (`\xc5`); keep what is valid UTF-8 and replace
    // the rest, since Lookout's labels are Rust strings.
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Expands a value sequence (everything after the series on a `load` or expected line).
pub fn parse_sequence(s: &str) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let len = item_len(rest)?;
        expand_item(&rest[..len], &mut out)?;
        rest = rest[len..].trim_start();
    }
    Ok(out)
}

/// Length of the next item: up to white space, except that `{{…}}` may hold spaces.
fn item_len(s: &str) -> Result<usize, String> {
    let mut i = 0;
    let bytes = s.as_bytes();
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
        if s[i..].starts_with("{{") {
            let close = s[i..]
                .find("}}")
                .ok_or_else(|| format!("unterminated histogram literal in {s:?}"))?;
            i += close + 2;
        } else {
            i += 1;
        }
    }
    Ok(i)
}

fn parse_count(s: &str, item: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .map_err(|_| format!("invalid repetition count {s:?} in {item:?}"))
}

fn expand_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    if item == "_" {
        out.push(SeqValue::Omitted);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n = parse_count(n, item)?;
        out.extend((0..n).map(|_| SeqValue::Omitted));
        return Ok(());
    }
    if item == "stale" {
        out.push(SeqValue::Float(lookout_store::model::sample::STALE_NAN));
        return Ok(());
    }
    if item.starts_with("{{") {
        return expand_histogram_item(item, out);
    }
    let first = leading_number_len(item);
    if first == 0 {
        return Err(format!("invalid value {item:?}"));
    }
    let a = parse_float(&item[..first])?;
    let rest = &item[first..];
    if rest.is_empty() {
        out.push(SeqValue::Float(a));
        return Ok(());
    }
    let (b, n) = if let Some(n) = rest.strip_prefix('x') {
        (0.0, parse_count(n, item)?)
    } else if rest.starts_with(['+', '-']) {
        let x = rest
            .rfind('x')
            .ok_or_else(|| format!("invalid value {item:?}: expected a+bxN"))?;
        let b = parse_float(&rest[1..x])?;
        let b = if rest.starts_with('-') { -b } else { b };
        (b, parse_count(&rest[x + 1..], item)?)
    } else {
        return Err(format!("invalid value {item:?}"));
    };
    // Prometheus computes each value as a + i·b (not by repeated addition).
    for i in 0..=n {
        out.push(SeqValue::Float(a + (i as f64) * b));
    }
    Ok(())
}

/// Length of the number at the start of `s`: a sign, then `Inf`/`NaN` or a decimal with
/// an optional exponent (whose sign is not an `a+b` operator).
fn leading_number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let lower = s[i..].to_ascii_lowercase();
    if lower.starts_with("inf") || lower.starts_with("nan") {
        return i + 3;
    }
    let start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if i == start {
        return 0;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let digits = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            i = j + digits;
        }
    }
    i
}

fn expand_histogram_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    let close = item
        .find("}}")
        .ok_or_else(|| format!("unterminated histogram literal {item:?}"))?;
    let h = parse_histogram(&item[2..close])?;
    let rest = &item[close + 2..];
    if rest.is_empty() {
        out.push(SeqValue::Histogram(Box::new(h)));
        return Ok(());
    }
    let n = if let Some(n) = rest.strip_prefix('x') {
        parse_count(n, item)?
    } else if rest.starts_with(['+', '-']) && rest[1..].starts_with("{{") {
        let close2 = rest[1..]
            .find("}}")
            .ok_or_else(|| format!("unterminated histogram literal {item:?}"))?
            + 1;
        parse_histogram(&rest[3..close2])?;
        let n = rest[close2 + 2..]
            .strip_prefix('x')
            .ok_or_else(|| format!("invalid histogram sequence {item:?}: expected xN"))?;
        parse_count(n, item)?
    } else {
        return Err(format!("invalid histogram sequence {item:?}"));
    };
    // The increments of `{{h}}+{{d}}xN` are not applied: the engine has no native
    // histograms, so these values only need to occupy their positions.
    for _ in 0..=n {
        out.push(SeqValue::Histogram(Box::new(h.clone())));
    }
    Ok(())
}

/// Parses the inside of `{{…}}`: `key:value` pairs separated by white space.
pub fn parse_histogram(s: &str) -> Result<HistogramLiteral, String> {
    let mut h = HistogramLiteral::default();
    let mut seen: Vec<&str> = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let colon = rest
            .find(':')
            .ok_or_else(|| format!("histogram literal {{{{{s}}}}}: expected key:value"))?;
        let key = rest[..colon].trim();
        rest = rest[colon + 1..].trim_start();
        let vlen = if rest.starts_with('[') {
            rest.find(']')
                .ok_or_else(|| format!("histogram literal {{{{{s}}}}}: unterminated list"))?
                + 1
        } else {
            rest.find(char::is_whitespace).unwrap_or(rest.len())
        };
        let val = &rest[..vlen];
        rest = rest[vlen..].trim_start();
        if seen.contains(&key) {
            return Err(format!(
                "histogram literal {{{{{s}}}}}: duplicate key {key:?}"
            ));
        }
        seen.push(key);
        let float = || parse_float(val);
        let int = || {
            val.parse::<i64>()
                .map_err(|_| format!("histogram literal: {key} must be an integer, got {val:?}"))
        };
        let list = || -> Result<Vec<f64>, String> {
            val.trim_start_matches('[')
                .trim_end_matches(']')
                .split_whitespace()
                .map(parse_float)
                .collect()
        };
        match key {
            "schema" => h.schema = int()?,
            "sum" => h.sum = float()?,
            "count" => h.count = float()?,
            "z_bucket" => h.zero_count = float()?,
            "z_bucket_w" => h.zero_threshold = float()?,
            "buckets" => h.buckets = list()?,
            "offset" => h.offset = int()?,
            "n_buckets" => h.n_buckets = list()?,
            "n_offset" => h.n_offset = int()?,
            "custom_values" => h.custom_values = list()?,
            "counter_reset_hint" => match val {
                "unknown" | "reset" | "not_reset" | "gauge" => {
                    h.counter_reset_hint = Some(val.to_string())
                }
                _ => {
                    return Err(format!(
                        "histogram literal: invalid counter_reset_hint {val:?}"
                    ))
                }
            },
            _ => return Err(format!("histogram literal: unknown key {key:?}")),
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_store::model::sample::is_stale_nan;

    fn floats(s: &str) -> Vec<Option<f64>> {
        parse_sequence(s)
            .unwrap()
            .into_iter()
            .map(|v| match v {
                SeqValue::Float(f) => Some(f),
                SeqValue::Omitted => None,
                SeqValue::Histogram(_) => panic!("histogram"),
            })
            .collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("9m10s"), Ok(550_000));
        assert_eq!(parse_duration("59999ms"), Ok(59_999));
        assert_eq!(parse_duration("1y"), Ok(365 * 86_400_000));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1.5m").is_err());
        assert!(parse_duration("-1m").is_err());
        assert!(parse_duration("1s1m").is_err());
        assert!(parse_duration("10").is_err());
    }

    #[test]
    fn expansions() {
        assert_eq!(
            floats("0+10x3"),
            vec![Some(0.0), Some(10.0), Some(20.0), Some(30.0)]
        );
        assert_eq!(
            floats("-5-2x3"),
            vec![Some(-5.0), Some(-7.0), Some(-9.0), Some(-11.0)]
        );
        assert_eq!(floats("1x2"), vec![Some(1.0); 3]);
        assert_eq!(
            floats("1 _x3 2"),
            vec![Some(1.0), None, None, None, Some(2.0)]
        );
        assert_eq!(floats("1e-5 2E3"), vec![Some(1e-5), Some(2000.0)]);
        assert_eq!(floats("1e3+1e2x1"), vec![Some(1000.0), Some(1100.0)]);
        assert_eq!(floats("8000-10x1"), vec![Some(8000.0), Some(7990.0)]);
        let v = floats("NaN +Inf -inf");
        assert!(v[0].unwrap().is_nan());
        assert_eq!(v[1], Some(f64::INFINITY));
        assert_eq!(v[2], Some(f64::NEG_INFINITY));
        let s = floats("0 stale");
        assert!(is_stale_nan(s[1].unwrap()));
        // Hex is not a series value: `0x10` is eleven zeros.
        assert_eq!(floats("0x10"), vec![Some(0.0); 11]);
        assert!(parse_sequence("1 2 # x").is_err());
        assert!(parse_sequence("abc").is_err());
    }

    #[test]
    fn histogram_literals() {
        let v = parse_sequence("0 {{schema:0 sum:1 count:1}} {{sum:2 count:2}}+{{sum:3 count:3}}x2 {{buckets:[1 2] counter_reset_hint:gauge}}x1")
            .unwrap();
        assert_eq!(v.len(), 1 + 1 + 3 + 2);
        match &v[6] {
            SeqValue::Histogram(h) => {
                assert_eq!(h.buckets, vec![1.0, 2.0]);
                assert_eq!(h.counter_reset_hint.as_deref(), Some("gauge"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_histogram("sum:1 sum:2").is_err());
        assert!(parse_histogram("bogus:1").is_err());
    }

    #[test]
    fn go_numbers_and_strings() {
        assert_eq!(parse_go_number("0x10"), Some(16.0));
        assert_eq!(parse_go_number("017"), Some(15.0));
        assert_eq!(parse_go_number("-2"), Some(-2.0));
        assert_eq!(parse_go_number("0.00001234"), Some(0.00001234));
        assert_eq!(parse_go_number("+Inf"), Some(f64::INFINITY));
        assert!(parse_go_number("NaN").unwrap().is_nan());
        assert_eq!(parse_go_number("{}"), None);
        assert_eq!(parse_go_number("foo"), None);
        assert_eq!(unquote(r#""a\"b\n""#).unwrap(), "a\"b\n");
        assert_eq!(unquote("`a\\b`").unwrap(), "a\\b");
        assert_eq!(unquote(r#""\u00e9\x41""#).unwrap(), "éA");
        assert!(unquote("\"abc").is_err());
    }
}
