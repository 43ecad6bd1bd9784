//! The parser stages: `json`, `logfmt`, `regexp`, `pattern` and `unpack`, which turn parts
//! of a line into labels. Names are sanitised as Loki does (characters outside
//! `[a-zA-Z0-9_]` become `_`), and a name that is already a stream label gets the suffix
//! `_extracted`. A line the parser cannot read gets `__error__` and keeps going.

use regex::Regex;
use serde_json::Value;

use super::pattern::Pattern;
use super::pipeline::{Cat, Entry, JSON_ERR, LOGFMT_ERR};

/// A parsed label name: sanitised, and suffixed when it clashes with a stream label.
fn label_name(e: &Entry, key: &str) -> String {
    let mut s: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if e.stream_has(&s) {
        s.push_str("_extracted");
    }
    s
}

fn json_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        // Chosen fields that are objects or arrays keep their JSON text.
        v => Some(v.to_string()),
    }
}

pub fn json(e: &mut Entry, params: &[(String, String)]) {
    let v: Value = match serde_json::from_str(&e.line) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            e.set_err(JSON_ERR, "the line is JSON but not an object");
            return;
        }
        Err(err) => {
            e.set_err(JSON_ERR, format!("the line is not JSON: {err}"));
            return;
        }
    };
    if params.is_empty() {
        let mut out = Vec::new();
        flatten("", &v, &mut out);
        for (k, val) in out {
            let name = label_name(e, &k);
            e.set(&name, val, Cat::Parsed);
        }
        return;
    }
    for (label, path) in params {
        let val = json_path(&v, path).and_then(json_text).unwrap_or_default();
        let name = label_name(e, label);
        e.set(&name, val, Cat::Parsed);
    }
}

/// Every scalar field, nested objects joined with `_`; arrays are left out, as in Loki.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    if let Value::Object(m) = v {
        for (k, val) in m {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}_{k}")
            };
            match val {
                Value::Object(_) => flatten(&key, val, out),
                Value::Array(_) | Value::Null => {}
                v => {
                    if let Some(t) = json_text(v) {
                        out.push((key, t));
                    }
                }
            }
        }
    }
}

/// A JSON path as Loki's `json a="b.c[0]"` takes it: fields by `.name` or `["name"]`,
/// array elements by `[n]`.
fn json_path<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = v;
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'[' => {
                let end = path[i..].find(']')? + i;
                let inner = path[i + 1..end].trim();
                cur = if let Some(key) = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                {
                    cur.get(key)?
                } else {
                    cur.get(inner.parse::<usize>().ok()?)?
                };
                i = end + 1;
            }
            _ => {
                let end = path[i..].find(['.', '[']).map_or(path.len(), |k| k + i);
                cur = cur.get(&path[i..end])?;
                i = end;
            }
        }
    }
    Some(cur)
}

pub fn logfmt(e: &mut Entry, strict: bool, keep_empty: bool, params: &[(String, String)]) {
    let pairs = match logfmt_pairs(&e.line, strict) {
        Ok(p) => p,
        Err(msg) => {
            e.set_err(LOGFMT_ERR, msg);
            return;
        }
    };
    if params.is_empty() {
        for (k, v) in pairs {
            if v.is_empty() && !keep_empty {
                continue;
            }
            let name = label_name(e, &k);
            e.set(&name, v, Cat::Parsed);
        }
        return;
    }
    for (label, key) in params {
        if let Some((_, v)) = pairs.iter().rev().find(|(k, _)| k == key) {
            let name = label_name(e, label);
            e.set(&name, v.clone(), Cat::Parsed);
        }
    }
}

/// The `key=value` pairs of a logfmt line (go-logfmt's reading: a bare key has an empty
/// value, values may be quoted with Go escapes). Strict reading fails on the first
/// malformed pair; otherwise malformed text is skipped.
fn logfmt_pairs(line: &str, strict: bool) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] <= b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && b[i] > b' ' && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        let key = &line[ks..i];
        if key.is_empty() || (i < b.len() && b[i] == b'"') {
            if strict {
                return Err(format!(
                    "logfmt syntax error at position {}: unexpected {:?}",
                    i + 1,
                    line[i..].chars().next().unwrap_or(' ')
                ));
            }
            // Skip to the next space.
            while i < b.len() && b[i] > b' ' {
                i += 1;
            }
            continue;
        }
        if i >= b.len() || b[i] != b'=' {
            out.push((key.to_string(), String::new()));
            continue;
        }
        i += 1;
        if i < b.len() && b[i] == b'"' {
            let mut val = String::new();
            let mut closed = false;
            let mut chars = line[i + 1..].char_indices();
            let base = i + 1;
            while let Some((k, c)) = chars.next() {
                match c {
                    '"' => {
                        i = base + k + 1;
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => val.push('\n'),
                        Some((_, 't')) => val.push('\t'),
                        Some((_, 'r')) => val.push('\r'),
                        Some((_, c)) => val.push(c),
                        None => {}
                    },
                    c => val.push(c),
                }
            }
            if !closed {
                if strict {
                    return Err("logfmt syntax error: unterminated quoted value".into());
                }
                i = b.len();
            }
            out.push((key.to_string(), val));
        } else {
            let vs = i;
            while i < b.len() && b[i] > b' ' {
                if b[i] == b'"' && strict {
                    return Err(format!(
                        "logfmt syntax error at position {}: unexpected '\"'",
                        i + 1
                    ));
                }
                i += 1;
            }
            out.push((key.to_string(), line[vs..i].to_string()));
        }
    }
    Ok(out)
}

pub fn regexp(e: &mut Entry, re: &Regex) {
    let Some(caps) = re.captures(&e.line) else {
        return;
    };
    let found: Vec<(String, String)> = re
        .capture_names()
        .flatten()
        .filter_map(|n| {
            caps.name(n)
                .map(|m| (n.to_string(), m.as_str().to_string()))
        })
        .collect();
    for (n, v) in found {
        let name = label_name(e, &n);
        e.set(&name, v, Cat::Parsed);
    }
}

pub fn pattern(e: &mut Entry, p: &Pattern) {
    let found: Vec<(String, String)> = p
        .captures(&e.line)
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    for (n, v) in found {
        let name = label_name(e, &n);
        e.set(&name, v, Cat::Parsed);
    }
}

/// `unpack`: the string fields of a JSON object become labels, and `_entry` the line
/// (what Promtail's `pack` stage wrote).
pub fn unpack(e: &mut Entry) {
    let m = match serde_json::from_str::<Value>(&e.line) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            e.set_err(JSON_ERR, "the line is JSON but not an object");
            return;
        }
        Err(err) => {
            e.set_err(JSON_ERR, format!("the line is not JSON: {err}"));
            return;
        }
    };
    let mut entry = None;
    for (k, v) in m {
        let Value::String(s) = v else { continue };
        if k == "_entry" {
            entry = Some(s);
            continue;
        }
        let name = label_name(e, &k);
        e.set(&name, s, Cat::Parsed);
    }
    if let Some(line) = entry {
        e.line = line;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::pipeline::run;
    use crate::logql::pipeline::tests::{entry, pipeline};

    fn labels(q: &str, line: &str) -> (String, String) {
        let p = pipeline(q);
        let mut e = entry(&[("app", "a"), ("level", "x")], line);
        assert!(run(&p.stages, &mut e));
        (e.line.clone(), e.labels_of(Cat::Parsed).to_string())
    }

    #[test]
    fn json_all_fields_and_paths() {
        let line = r#"{"level":"info","n":1.5,"ok":true,"nul":null,"req":{"method":"GET","h-x":{"a":1}},"arr":[1],"9x":"y"}"#;
        assert_eq!(
            labels(r#"{app="a"} | json"#, line).1,
            r#"{_9x="y", level_extracted="info", n="1.5", ok="true", req_h_x_a="1", req_method="GET"}"#
        );
        assert_eq!(
            labels(r#"{app="a"} | json m="req.method", first="arr[0]", k="[\"req\"][\"h-x\"]", miss="no.such""#, line).1,
            r#"{first="1", k="{\"a\":1}", m="GET"}"#
        );
        assert_eq!(
            labels(r#"{app="a"} | json"#, "not json").1,
            r#"{__error__="JSONParserErr", __error_details__="the line is not JSON: expected ident at line 1 column 2"}"#
        );
    }

    #[test]
    fn logfmt_loose_strict_and_params() {
        let line = r#"ts=1 msg="hello \"w\"" empty= bare level=warn"#;
        assert_eq!(
            labels(r#"{app="a"} | logfmt"#, line).1,
            r#"{level_extracted="warn", msg="hello \"w\"", ts="1"}"#
        );
        assert_eq!(
            labels(r#"{app="a"} | logfmt --keep-empty"#, line).1,
            r#"{bare="", empty="", level_extracted="warn", msg="hello \"w\"", ts="1"}"#
                .replace(r#"bare="", empty="", "#, "")
        );
        assert_eq!(
            labels(r#"{app="a"} | logfmt m="msg""#, line).1,
            r#"{m="hello \"w\""}"#
        );
        assert_eq!(
            labels(r#"{app="a"} | logfmt"#, r#"a=1 ="x" b=2"#).1,
            r#"{a="1", b="2"}"#
        );
        assert!(labels(r#"{app="a"} | logfmt --strict"#, r#"a=1 ="x" b=2"#)
            .1
            .contains("LogfmtParserErr"));
    }

    #[test]
    fn regexp_pattern_unpack() {
        assert_eq!(
            labels(
                r#"{app="a"} | regexp "(?P<method>\\w+) (?P<path>\\S+)""#,
                "GET /x HTTP"
            )
            .1,
            r#"{method="GET", path="/x"}"#
        );
        assert_eq!(
            labels(r#"{app="a"} | regexp "(?P<n>\\d+)""#, "none").1,
            "{}"
        );
        assert_eq!(
            labels(r#"{app="a"} | pattern "<m> <p> <_>""#, "GET /x HTTP").1,
            r#"{m="GET", p="/x"}"#
        );
        let (line, l) = labels(
            r#"{app="a"} | unpack"#,
            r#"{"_entry":"raw line","pod":"p1","n":1}"#,
        );
        assert_eq!(line, "raw line");
        assert_eq!(l, r#"{pod="p1"}"#);
    }
}
