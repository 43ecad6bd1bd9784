//! The functions rule templates can call: Go's template builtins (`printf`, `eq`, `len`,
//! `index`, …) and Prometheus' library (`humanize*`, `query`, `first`, `label`, `value`,
//! `reReplaceAll`, `title`, `toUpper`, …), with Prometheus' output formats.

use std::collections::BTreeMap;

use super::gofmt::{format_g, sprintf};
use super::{Context, QuerySample, Value};

const NAMES: &[&str] = &[
    "and",
    "or",
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    "query",
    "first",
    "label",
    "value",
    "strvec",
    "sortByLabel",
    "stripPort",
    "stripDomain",
    "toTime",
    "toDuration",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "reReplaceAll",
    "match",
    "safeHtml",
    "args",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "urlQueryEscape",
];

pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

fn nargs(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "error calling {name}: wrong number of args: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

/// Prometheus' `convertToFloat`: numbers, and strings that parse as floats.
fn to_float(name: &str, v: &Value) -> Result<f64, String> {
    match v {
        Value::Num(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => s
            .trim()
            .parse::<f64>()
            .or_else(|_| match s.trim() {
                "+Inf" | "Inf" => Ok(f64::INFINITY),
                "-Inf" => Ok(f64::NEG_INFINITY),
                "NaN" => Ok(f64::NAN),
                _ => Err(()),
            })
            .map_err(|_| {
                format!("error calling {name}: strconv.ParseFloat: parsing {s:?}: invalid syntax")
            }),
        other => Err(format!(
            "error calling {name}: can't convert {} to float",
            other.go_type()
        )),
    }
}

fn to_str(v: &Value) -> String {
    v.to_string()
}

pub fn call(name: &str, args: Vec<Value>, ctx: &Context<'_>) -> Result<Value, String> {
    let s = |v: String| Ok(Value::Str(v));
    match name {
        "not" => {
            nargs(name, &args, 1)?;
            Ok(Value::Bool(!args[0].truth()))
        }
        "len" => {
            nargs(name, &args, 1)?;
            Ok(Value::Int(match &args[0] {
                Value::Str(x) => x.len(),
                Value::Map(m) => m.len(),
                Value::Samples(v) => v.len(),
                Value::List(l) => l.len(),
                other => {
                    return Err(format!(
                        "error calling len: len of type {}",
                        other.go_type()
                    ))
                }
            } as i64))
        }
        "index" => {
            let mut it = args.into_iter();
            let mut v = it.next().ok_or("error calling index: missing argument")?;
            for k in it {
                v = match (v, k) {
                    (Value::Map(m), k) => {
                        Value::Str(m.get(&to_str(&k)).cloned().unwrap_or_default())
                    }
                    (Value::Samples(x), Value::Int(i)) => x
                        .get(i as usize)
                        .cloned()
                        .map(Value::Sample)
                        .ok_or_else(|| format!("error calling index: index out of range: {i}"))?,
                    (Value::List(x), Value::Int(i)) => x
                        .get(i as usize)
                        .cloned()
                        .ok_or_else(|| format!("error calling index: index out of range: {i}"))?,
                    (v, _) => {
                        return Err(format!(
                            "error calling index: can't index item of type {}",
                            v.go_type()
                        ))
                    }
                };
            }
            Ok(v)
        }
        "print" => {
            // Go's Sprint: spaces between operands when neither is a string.
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = matches!(a, Value::Str(_));
                if i > 0 && !is_str && !matches!(args[i - 1], Value::Str(_)) {
                    out.push(' ');
                }
                out.push_str(&a.to_string());
            }
            s(out)
        }
        "println" => s(args.iter().map(to_str).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => {
            let f = args.first().ok_or("error calling printf: missing format")?;
            s(sprintf(&to_str(f), &args[1..]))
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => compare(name, &args),
        "safeHtml" => s(args.iter().map(to_str).collect()),
        "html" => s(args
            .iter()
            .map(to_str)
            .collect::<String>()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;")),
        "js" => s(args
            .iter()
            .map(to_str)
            .collect::<String>()
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('"', "\\\"")),
        "urlquery" | "urlQueryEscape" => s(form_urlencoded::byte_serialize(
            args.iter().map(to_str).collect::<String>().as_bytes(),
        )
        .collect()),
        "query" => {
            nargs(name, &args, 1)?;
            let q = to_str(&args[0]);
            (ctx.query)(&q)
                .map(Value::Samples)
                .map_err(|e| format!("error calling query: {e}"))
        }
        "first" => {
            nargs(name, &args, 1)?;
            match &args[0] {
                Value::Samples(v) => v.first().cloned().map(Value::Sample).ok_or_else(|| {
                    "error calling first: first() called on vector with no elements".into()
                }),
                other => Err(format!(
                    "error calling first: wrong type {}",
                    other.go_type()
                )),
            }
        }
        "label" => {
            nargs(name, &args, 2)?;
            match &args[1] {
                Value::Sample(x) => s(x.labels.get(&to_str(&args[0])).cloned().unwrap_or_default()),
                other => Err(format!(
                    "error calling label: wrong type {}",
                    other.go_type()
                )),
            }
        }
        "value" => {
            nargs(name, &args, 1)?;
            match &args[0] {
                Value::Sample(x) => Ok(Value::Num(x.value)),
                other => Err(format!(
                    "error calling value: wrong type {}",
                    other.go_type()
                )),
            }
        }
        "strvec" => {
            nargs(name, &args, 1)?;
            match &args[0] {
                Value::Samples(v) => Ok(Value::List(
                    v.iter()
                        .map(|x| Value::Str(x.labels.get("__value__").cloned().unwrap_or_default()))
                        .collect(),
                )),
                other => Err(format!(
                    "error calling strvec: wrong type {}",
                    other.go_type()
                )),
            }
        }
        "sortByLabel" => {
            nargs(name, &args, 2)?;
            let l = to_str(&args[0]);
            match &args[1] {
                Value::Samples(v) => {
                    let mut v: Vec<QuerySample> = v.clone();
                    v.sort_by(|a, b| a.labels.get(&l).cmp(&b.labels.get(&l)));
                    Ok(Value::Samples(v))
                }
                other => Err(format!(
                    "error calling sortByLabel: wrong type {}",
                    other.go_type()
                )),
            }
        }
        "stripPort" => {
            nargs(name, &args, 1)?;
            let h = to_str(&args[0]);
            s(strip_port(&h))
        }
        "stripDomain" => {
            nargs(name, &args, 1)?;
            let h = to_str(&args[0]);
            let (host, port) = match h.rsplit_once(':') {
                Some((a, p)) if !a.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => {
                    (a.to_string(), format!(":{p}"))
                }
                _ => (h.clone(), String::new()),
            };
            if host.parse::<std::net::IpAddr>().is_ok() || h.starts_with('[') {
                return s(h);
            }
            s(format!("{}{port}", host.split('.').next().unwrap_or("")))
        }
        "humanize" => {
            nargs(name, &args, 1)?;
            s(humanize(to_float(name, &args[0])?))
        }
        "humanize1024" => {
            nargs(name, &args, 1)?;
            s(humanize1024(to_float(name, &args[0])?))
        }
        "humanizeDuration" => {
            nargs(name, &args, 1)?;
            s(humanize_duration(to_float(name, &args[0])?))
        }
        "humanizePercentage" => {
            nargs(name, &args, 1)?;
            s(format!(
                "{}%",
                format_g(to_float(name, &args[0])? * 100.0, Some(4))
            ))
        }
        "humanizeTimestamp" => {
            nargs(name, &args, 1)?;
            let v = to_float(name, &args[0])?;
            if v.is_nan() || v.is_infinite() {
                return s(format_g(v, Some(4)));
            }
            s(go_time(v))
        }
        "toTime" => {
            nargs(name, &args, 1)?;
            s(go_time(to_float(name, &args[0])?))
        }
        "toDuration" => {
            nargs(name, &args, 1)?;
            s(go_duration(to_float(name, &args[0])?))
        }
        "parseDuration" => {
            nargs(name, &args, 1)?;
            let d = crate::promqltest::values::parse_duration(&to_str(&args[0]))
                .map_err(|e| format!("error calling parseDuration: {e}"))?;
            Ok(Value::Num(d as f64 / 1000.0))
        }
        "title" => {
            nargs(name, &args, 1)?;
            s(title(&to_str(&args[0])))
        }
        "toUpper" => {
            nargs(name, &args, 1)?;
            s(to_str(&args[0]).to_uppercase())
        }
        "toLower" => {
            nargs(name, &args, 1)?;
            s(to_str(&args[0]).to_lowercase())
        }
        "graphLink" | "tableLink" => {
            nargs(name, &args, 1)?;
            let q: String = form_urlencoded::byte_serialize(to_str(&args[0]).as_bytes()).collect();
            let tab = if name == "graphLink" { 0 } else { 1 };
            s(format!("/graph?g0.expr={q}&g0.tab={tab}"))
        }
        "reReplaceAll" => {
            nargs(name, &args, 3)?;
            let re = regex::Regex::new(&to_str(&args[0]))
                .map_err(|e| format!("error calling reReplaceAll: {e}"))?;
            s(re.replace_all(&to_str(&args[2]), to_str(&args[1]).as_str())
                .into_owned())
        }
        "match" => {
            nargs(name, &args, 2)?;
            let re = regex::Regex::new(&to_str(&args[0]))
                .map_err(|e| format!("error calling match: {e}"))?;
            Ok(Value::Bool(re.is_match(&to_str(&args[1]))))
        }
        "args" => {
            let mut m = BTreeMap::new();
            for (i, a) in args.iter().enumerate() {
                m.insert(format!("arg{i}"), to_str(a));
            }
            Ok(Value::Map(std::sync::Arc::new(m)))
        }
        "pathPrefix" => {
            let u = ctx.external_url;
            let path = u
                .split_once("://")
                .map_or("", |(_, r)| r.find('/').map_or("", |i| &r[i..]));
            s(path.trim_end_matches('/').to_string())
        }
        "externalURL" => s(ctx.external_url.to_string()),
        other => Err(format!("function {other:?} not defined")),
    }
}

fn strip_port(h: &str) -> String {
    if let Some(rest) = h.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return rest[..end].to_string();
        }
    }
    match h.rsplit_once(':') {
        Some((a, _)) if !a.contains(':') => a.to_string(),
        _ => h.to_string(),
    }
}

fn compare(name: &str, args: &[Value]) -> Result<Value, String> {
    if args.len() < 2 {
        return Err(format!(
            "error calling {name}: missing argument for comparison"
        ));
    }
    let ord = |a: &Value, b: &Value| -> Result<std::cmp::Ordering, String> {
        match (a, b) {
            (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
            (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
            (Value::Num(_) | Value::Int(_), Value::Num(_) | Value::Int(_)) => {
                let f = |v: &Value| match v {
                    Value::Num(f) => *f,
                    Value::Int(i) => *i as f64,
                    _ => 0.0,
                };
                f(a).partial_cmp(&f(b))
                    .ok_or_else(|| "NaN in comparison".into())
            }
            (Value::Bool(x), Value::Bool(y)) if name == "eq" || name == "ne" => Ok(x.cmp(y)),
            (Value::Nil, Value::Nil) if name == "eq" || name == "ne" => {
                Ok(std::cmp::Ordering::Equal)
            }
            _ => Err(format!(
                "error calling {name}: incompatible types for comparison"
            )),
        }
    };
    use std::cmp::Ordering::*;
    if name == "eq" {
        // eq a b c …: a equals any of the others.
        for b in &args[1..] {
            if ord(&args[0], b)? == Equal {
                return Ok(Value::Bool(true));
            }
        }
        return Ok(Value::Bool(false));
    }
    nargs(name, args, 2)?;
    let o = ord(&args[0], &args[1])?;
    Ok(Value::Bool(match name {
        "ne" => o != Equal,
        "lt" => o == Less,
        "le" => o != Greater,
        "gt" => o == Greater,
        _ => o != Less,
    }))
}

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return format_g(v, Some(4));
    }
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", format_g(v, Some(4)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", format_g(v, Some(4)))
}

/// Prometheus' `humanize1024`: binary prefixes.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return format_g(v, Some(4));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", format_g(v, Some(4)))
}

/// Prometheus' `humanizeDuration`: `1d 2h 3m 4s`, or seconds with a prefix below 1s.
pub fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return format_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", format_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {mins}m {secs}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {mins}m {secs}s");
        }
        if mins != 0 {
            return format!("{sign}{mins}m {secs}s");
        }
        return format!("{sign}{}s", format_g(v, Some(4)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_g(v, Some(4)))
}

/// Prometheus' `floatToTime` then Go's `time.Time.String()` in UTC: the seconds become
/// milliseconds (`model.Time`), printed `2006-01-02 15:04:05.999 +0000 UTC`.
fn go_time(secs: f64) -> String {
    let ms = ((secs * 1e9) as i64).div_euclid(1_000_000);
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return format_g(secs, Some(4));
    };
    let mut frac = format!(".{:03}", ms.rem_euclid(1000));
    while frac.ends_with('0') {
        frac.pop();
    }
    if frac == "." {
        frac.clear();
    }
    format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
}

/// Go's `time.Duration.String()` for seconds: `1h2m3.5s`, `500ms`.
fn go_duration(secs: f64) -> String {
    let ns = (secs * 1e9).round() as i64;
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    if ns < 1_000_000_000 {
        let (unit, div) = if ns < 1_000 {
            ("ns", 1.0)
        } else if ns < 1_000_000 {
            ("µs", 1e3)
        } else {
            ("ms", 1e6)
        };
        return format!("{sign}{}{unit}", format_g(ns as f64 / div, None));
    }
    let (h, rem) = (ns / 3_600_000_000_000, ns % 3_600_000_000_000);
    let (m, rem) = (rem / 60_000_000_000, rem % 60_000_000_000);
    let s = format_g(rem as f64 / 1e9, None);
    let mut out = sign.to_string();
    if h > 0 {
        out.push_str(&format!("{h}h{m}m"));
    } else if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&s);
    out.push('s');
    out
}

/// Go's deprecated `strings.Title`: upper-cases the first letter of every word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        let is_word = c.is_alphanumeric() || c == '_' || c == '\'';
        if is_word && !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = is_word;
    }
    out
}
