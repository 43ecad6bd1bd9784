//! Series description lines (`name{l="v"} <values>`), the exact label sets that `load`
//! blocks write and expected results list, and how the runner prints label sets.

use lookout_store::{Label, Labels};

use super::values::{parse_sequence, unquote, SeqValue};

/// One parsed series line.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesLine {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

/// Parses `name`, `name{…}`, `{…}` (also `{}`, the empty label set) followed by a value
/// sequence. Label values use PromQL string syntax; labels with an empty value are left
/// out, as PromQL treats them as absent.
pub fn parse_series_line(line: &str) -> Result<SeriesLine, String> {
    let (labels, rest) = parse_series_desc(line)?;
    let values = parse_sequence(rest).map_err(|e| format!("{e} in series line {line:?}"))?;
    Ok(SeriesLine { labels, values })
}

/// Parses the series part of a line and returns its labels and the text after it.
pub fn parse_series_desc(line: &str) -> Result<(Labels, &str), String> {
    let s = line.trim_start();
    let name_len = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .map_or(s.len(), |(i, _)| i);
    let name = &s[..name_len];
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("invalid metric name {name:?} in {line:?}"));
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.into()));
    }
    let mut rest = &s[name_len..];
    if let Some(body) = rest.strip_prefix('{') {
        let (more, after) = parse_label_body(body, line)?;
        if !name.is_empty() && more.iter().any(|(n, _)| n == "__name__") {
            return Err(format!("metric name given twice in {line:?}"));
        }
        pairs.extend(more);
        rest = after;
    } else if name.is_empty() {
        return Err(format!("expected a metric name or '{{' in {line:?}"));
    }
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!(
            "unexpected {:?} after the series in {line:?}",
            rest.chars().next().unwrap_or(' ')
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for (n, _) in &pairs {
        if seen.contains(&n.as_str()) {
            return Err(format!("label {n:?} given twice in {line:?}"));
        }
        seen.push(n);
    }
    let labels = Labels::from_pairs(pairs.into_iter().filter(|(_, v)| !v.is_empty()));
    Ok((labels, rest))
}

/// Label name/value pairs in the order written.
type Pairs = Vec<(String, String)>;

/// Parses `l="v", …}` (after the opening brace); a lone quoted string is the metric name
/// (`{"my.metric", l="v"}`). Returns the pairs and the text after `}`.
fn parse_label_body<'a>(mut s: &'a str, line: &str) -> Result<(Pairs, &'a str), String> {
    let mut pairs = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Ok((pairs, after));
        }
        let (name, after) = if s.starts_with(['"', '\'', '`']) {
            let (q, after) = take_quoted(s, line)?;
            (q, after)
        } else {
            let len = s
                .char_indices()
                .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(s.len(), |(i, _)| i);
            if len == 0 || s.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(format!("expected a label name in {line:?}"));
            }
            (s[..len].to_string(), &s[len..])
        };
        s = after.trim_start();
        if let Some(after) = s.strip_prefix('=') {
            let after = after.trim_start();
            if !after.starts_with(['"', '\'', '`']) {
                return Err(format!(
                    "expected a quoted value for label {name:?} in {line:?}"
                ));
            }
            let (value, after) = take_quoted(after, line)?;
            pairs.push((name, value));
            s = after.trim_start();
        } else if s.starts_with([',', '}']) {
            // `{"metric.name", …}`: a quoted metric name on its own.
            pairs.push(("__name__".into(), name));
        } else {
            return Err(format!(
                "expected '=' after label {name:?} in {line:?} (series lines take exact labels, not matchers)"
            ));
        }
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return Err(format!("expected ',' or '}}' in {line:?}"));
        }
    }
}

/// Takes one quoted string from the start of `s`; returns its value and the rest.
fn take_quoted<'a>(s: &'a str, line: &str) -> Result<(String, &'a str), String> {
    let quote = s.as_bytes()[0];
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == b'\\' && quote != b'`' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            let value = unquote(&s[..=i]).map_err(|e| format!("{e} in {line:?}"))?;
            return Ok((value, &s[i + 1..]));
        }
        i += 1;
    }
    Err(format!("unterminated string in {line:?}"))
}

/// Prints a label set the way PromQL writes series: `name{a="1", b="2"}`, or `{}`.
pub fn format_labels(labels: &Labels) -> String {
    let name = labels.metric_name();
    let rest: Vec<&Label> = labels.iter().filter(|l| l.name != "__name__").collect();
    let mut out = String::new();
    if let Some(n) = name {
        out.push_str(n);
    }
    if rest.is_empty() && name.is_some() {
        return out;
    }
    out.push('{');
    for (i, l) in rest.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&l.name);
        out.push('=');
        out.push_str(&format!("{:?}", l.value));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn descriptors() {
        let s = parse_series_line(r#"http_requests{job="api", instance="0"} 0+10x2"#).unwrap();
        assert_eq!(
            s.labels,
            labels(&[
                ("__name__", "http_requests"),
                ("job", "api"),
                ("instance", "0")
            ])
        );
        assert_eq!(s.values.len(), 3);
        let s = parse_series_line(r#"{__name__="m", a="b",} 1"#).unwrap();
        assert_eq!(s.labels, labels(&[("__name__", "m"), ("a", "b")]));
        let s = parse_series_line("{} 3").unwrap();
        assert!(s.labels.is_empty());
        let s = parse_series_line("foo{} 3").unwrap();
        assert_eq!(s.labels, labels(&[("__name__", "foo")]));
        let s = parse_series_line("foo:bar_total 3").unwrap();
        assert_eq!(s.labels, labels(&[("__name__", "foo:bar_total")]));
        let s = parse_series_line(r#"{"my.metric", "a.b"="x y}"} 1"#).unwrap();
        assert_eq!(
            s.labels,
            labels(&[("__name__", "my.metric"), ("a.b", "x y}")])
        );
        let s = parse_series_line(r#"m{a="", b='c\n'} 1"#).unwrap();
        assert_eq!(s.labels, labels(&[("__name__", "m"), ("b", "c\n")]));
        assert!(parse_series_line(r#"m{a=~"x"} 1"#).is_err());
        assert!(parse_series_line(r#"m{a="x" 1"#).is_err());
        assert!(parse_series_line(r#"m{a="x", a="y"} 1"#).is_err());
    }

    #[test]
    fn printing() {
        assert_eq!(format_labels(&labels(&[])), "{}");
        assert_eq!(format_labels(&labels(&[("__name__", "up")])), "up");
        assert_eq!(
            format_labels(&labels(&[("__name__", "up"), ("job", "a")])),
            r#"up{job="a"}"#
        );
        assert_eq!(format_labels(&labels(&[("job", "a")])), r#"{job="a"}"#);
    }
}
