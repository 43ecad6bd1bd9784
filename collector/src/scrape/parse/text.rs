//! The line parser shared by the text format and OpenMetrics, which differ in comments,
//! timestamps (milliseconds vs seconds), exemplars and the `# EOF` terminator.

use std::borrow::Cow;

use super::Format;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

/// One meaningful line of a payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    Help {
        name: &'a str,
        text: Cow<'a, str>,
    },
    Type {
        name: &'a str,
        kind: &'a str,
    },
    Unit {
        name: &'a str,
        unit: &'a str,
    },
    Sample {
        /// The raw `name{labels}` text: the scrape cache's key; see [`parse_series`].
        series: &'a [u8],
        value: f64,
        /// Milliseconds, when the line carries a timestamp.
        timestamp: Option<i64>,
        /// The line carries an OpenMetrics exemplar (counted, not stored).
        exemplar: bool,
    },
}

pub struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    line: usize,
    format: Format,
    eof_seen: bool,
}

impl<'a> Parser<'a> {
    pub fn new(buf: &'a [u8], format: Format) -> Parser<'a> {
        Parser {
            buf,
            pos: 0,
            line: 0,
            format,
            eof_seen: false,
        }
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line: self.line,
            msg: msg.into(),
        })
    }

    /// The next entry; `Ok(None)` at the end. An OpenMetrics payload must end in `# EOF`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        loop {
            if self.pos >= self.buf.len() {
                if self.format == Format::OpenMetrics && !self.eof_seen {
                    self.line += 1;
                    return self.err("OpenMetrics payload does not end with \"# EOF\"");
                }
                return Ok(None);
            }
            let rest = &self.buf[self.pos..];
            let end = memchr(b'\n', rest).unwrap_or(rest.len());
            let mut line = &rest[..end];
            self.pos += end + 1;
            self.line += 1;
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            if self.eof_seen {
                return self.err("content after \"# EOF\"");
            }
            match self.format {
                Format::Text => {
                    let t = trim_start(line);
                    if t.is_empty() {
                        continue;
                    }
                    if t[0] == b'#' {
                        if let Some(e) = self.comment(t)? {
                            return Ok(Some(e));
                        }
                        continue;
                    }
                    return self.sample(t).map(Some);
                }
                Format::OpenMetrics => {
                    if line.is_empty() {
                        return self.err("empty lines are not allowed in OpenMetrics");
                    }
                    if line[0] == b'#' {
                        if line == b"# EOF" {
                            self.eof_seen = true;
                            continue;
                        }
                        match self.comment(line)? {
                            Some(e) => return Ok(Some(e)),
                            None => return self.err(
                                "OpenMetrics allows only # HELP, # TYPE, # UNIT and # EOF comments",
                            ),
                        }
                    }
                    return self.sample(line).map(Some);
                }
            }
        }
    }

    /// `# HELP`, `# TYPE`, `# UNIT`; None for a plain comment.
    fn comment(&self, line: &'a [u8]) -> Result<Option<Entry<'a>>, ParseError> {
        let s = self.utf8(line)?;
        let body = s[1..].trim_start_matches([' ', '\t']);
        let (kw, rest) = split_ws(body);
        let (name, rest) = split_ws(rest);
        let kw = match kw {
            "HELP" | "TYPE" => kw,
            "UNIT" if self.format == Format::OpenMetrics => kw,
            _ => return Ok(None),
        };
        if !is_metric_name(name) {
            return self.err(format!("# {kw}: metric name {name:?} is invalid"));
        }
        Ok(Some(match kw {
            "HELP" => Entry::Help {
                name,
                text: unescape(rest, false),
            },
            "TYPE" => {
                let kind = rest.trim();
                let ok = match self.format {
                    Format::Text => matches!(
                        kind,
                        "counter" | "gauge" | "histogram" | "summary" | "untyped"
                    ),
                    Format::OpenMetrics => matches!(
                        kind,
                        "counter"
                            | "gauge"
                            | "histogram"
                            | "gaugehistogram"
                            | "summary"
                            | "info"
                            | "stateset"
                            | "unknown"
                    ),
                };
                if !ok {
                    return self.err(format!("# TYPE {name}: unknown metric type {kind:?}"));
                }
                Entry::Type { name, kind }
            }
            _ => Entry::Unit {
                name,
                unit: rest.trim(),
            },
        }))
    }

    fn utf8(&self, b: &'a [u8]) -> Result<&'a str, ParseError> {
        std::str::from_utf8(b).or_else(|_| self.err("line is not valid UTF-8"))
    }

    /// `name{labels} value [timestamp] [# {labels} value [timestamp]]`. Only the extent of
    /// the series text is found here (quotes and escapes respected); its labels are parsed
    /// by [`parse_series`] when the series is new.
    fn sample(&self, line: &'a [u8]) -> Result<Entry<'a>, ParseError> {
        let mut i = 0;
        while i < line.len() && is_name_byte(line[i]) {
            i += 1;
        }
        if i == 0 || line[0].is_ascii_digit() {
            return self.err(format!(
                "expected a metric name at the start of {:?}",
                String::from_utf8_lossy(&line[..line.len().min(60)])
            ));
        }
        let mut j = i;
        while j < line.len() && (line[j] == b' ' || line[j] == b'\t') {
            j += 1;
        }
        let series_end = if j < line.len() && line[j] == b'{' {
            let mut k = j + 1;
            let mut in_quote = false;
            loop {
                if k >= line.len() {
                    return self.err("label set is not closed with '}'");
                }
                match line[k] {
                    b'\\' if in_quote => k += 1,
                    b'"' => in_quote = !in_quote,
                    b'}' if !in_quote => break,
                    _ => {}
                }
                k += 1;
            }
            k + 1
        } else {
            i
        };
        let series = &line[..series_end];
        let rest = self.utf8(&line[series_end..])?;
        let (vtok, rest) = split_ws(rest.trim_start_matches([' ', '\t']));
        if vtok.is_empty() {
            return self.err(format!(
                "sample {:?} has no value",
                String::from_utf8_lossy(series)
            ));
        }
        let value = parse_float(vtok).ok_or_else(|| ParseError {
            line: self.line,
            msg: format!("value {vtok:?} is not a number"),
        })?;
        let rest = rest.trim_start_matches([' ', '\t']);
        let (timestamp, rest) = if rest.is_empty() || rest.starts_with('#') {
            (None, rest)
        } else {
            let (ttok, rest) = split_ws(rest);
            let ts = match self.format {
                Format::Text => ttok.parse::<i64>().ok(),
                Format::OpenMetrics => parse_float(ttok)
                    .filter(|f| f.is_finite())
                    .map(|f| (f * 1000.0).round() as i64),
            };
            match ts {
                Some(t) => (Some(t), rest),
                None => return self.err(format!("timestamp {ttok:?} is invalid")),
            }
        };
        let rest = rest.trim();
        let mut exemplar = false;
        if !rest.is_empty() {
            if self.format == Format::OpenMetrics && rest.starts_with('#') {
                let ex = rest[1..].trim_start();
                if !ex.starts_with('{') || !ex.contains('}') {
                    return self.err(format!("exemplar {rest:?} is invalid"));
                }
                exemplar = true;
            } else {
                return self.err(format!("unexpected {rest:?} after the sample value"));
            }
        }
        Ok(Entry::Sample {
            series,
            value,
            timestamp,
            exemplar,
        })
    }
}

/// Go's ParseFloat spellings that matter here: `+Inf`, `-Inf`, `Inf`, `NaN` in any case.
fn parse_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| c == b)
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    &s[n..]
}

/// The first whitespace-separated token and what follows the single separator.
fn split_ws(s: &str) -> (&str, &str) {
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn is_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && !b[0].is_ascii_digit() && b.iter().all(|&c| is_name_byte(c))
}

/// Resolves `\\`, `\n` and (in label values) `\"`; other backslashes stay as written, as
/// in Prometheus.
fn unescape(s: &str, quotes: bool) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// The metric name and labels of a sample's raw series text, labels in written order.
/// Empty label values are left out (an empty value means "no such label").
pub fn parse_series(series: &[u8]) -> Result<(String, Vec<(String, String)>), String> {
    let s = std::str::from_utf8(series).map_err(|_| "series is not valid UTF-8".to_string())?;
    let name_end = s
        .find(|c: char| !is_name_byte(c as u8) || !c.is_ascii())
        .unwrap_or(s.len());
    let name = &s[..name_end];
    if !is_metric_name(name) {
        return Err(format!("metric name {name:?} is invalid"));
    }
    let mut labels = Vec::new();
    let rest = s[name_end..].trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return Ok((name.to_string(), labels));
    }
    let b = rest.as_bytes();
    if b[0] != b'{' {
        return Err(format!("unexpected {rest:?} after metric name {name}"));
    }
    let mut i = 1;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            return Err(format!("label set of {name} is not closed"));
        }
        if b[i] == b'}' {
            i += 1;
            break;
        }
        let ns = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let lname = &rest[ns..i];
        if lname.is_empty() || lname.as_bytes()[0].is_ascii_digit() {
            return Err(format!(
                "label name at {:?} of {name} is invalid: must match [a-zA-Z_][a-zA-Z0-9_]*",
                &rest[ns..rest.len().min(ns + 20)]
            ));
        }
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' {
            return Err(format!("label {lname} of {name} has no '='"));
        }
        i += 1;
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'"' {
            return Err(format!("value of label {lname} of {name} is not quoted"));
        }
        i += 1;
        let vs = i;
        while i < b.len() && b[i] != b'"' {
            if b[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        if i >= b.len() {
            return Err(format!("value of label {lname} of {name} is not closed"));
        }
        let value = unescape(&rest[vs..i], true).into_owned();
        i += 1;
        if lname == "__name__" {
            return Err(format!("series {name} sets __name__ as a label"));
        }
        if labels.iter().any(|(n, _): &(String, String)| n == lname) {
            return Err(format!("label {lname} appears twice in a series of {name}"));
        }
        if !value.is_empty() {
            labels.push((lname.to_string(), value));
        }
        skip_ws(&mut i);
        if i < b.len() && b[i] == b',' {
            i += 1;
        } else if i < b.len() && b[i] != b'}' {
            return Err(format!(
                "expected ',' or '}}' after label {lname} of {name}"
            ));
        }
    }
    if i != b.len() {
        return Err(format!("unexpected text after the label set of {name}"));
    }
    Ok((name.to_string(), labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str, f: Format) -> Result<Vec<Entry<'_>>, ParseError> {
        let mut p = Parser::new(text.as_bytes(), f);
        let mut v = Vec::new();
        while let Some(e) = p.next()? {
            v.push(e);
        }
        Ok(v)
    }

    fn samples(text: &str, f: Format) -> Vec<(String, f64, Option<i64>)> {
        all(text, f)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                Entry::Sample {
                    series,
                    value,
                    timestamp,
                    ..
                } => Some((
                    String::from_utf8(series.to_vec()).unwrap(),
                    value,
                    timestamp,
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn text_format_basics() {
        let t = "# HELP http_requests_total The total number of HTTP requests.\n\
                 # TYPE http_requests_total counter\n\
                 http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                 http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n\
                 \n\
                 # a plain comment\n\
                 metric_without_timestamp_and_labels 12.47\n\
                 something_weird{problem=\"division by zero\"} +Inf -3982045\n";
        let e = all(t, Format::Text).unwrap();
        assert_eq!(
            e[0],
            Entry::Help {
                name: "http_requests_total",
                text: "The total number of HTTP requests.".into()
            }
        );
        assert_eq!(
            e[1],
            Entry::Type {
                name: "http_requests_total",
                kind: "counter"
            }
        );
        let s = samples(t, Format::Text);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].2, Some(1395066363000));
        assert_eq!(s[1].1, 3.0);
        assert_eq!(
            s[2],
            ("metric_without_timestamp_and_labels".into(), 12.47, None)
        );
        assert_eq!(s[3].1, f64::INFINITY);
        assert_eq!(s[3].2, Some(-3982045));
    }

    #[test]
    fn special_values() {
        let s = samples(
            "a +Inf\nb -Inf\nc NaN\nd Inf\ne nan\nf 1e3\ng -0.5\n",
            Format::Text,
        );
        assert_eq!(s[0].1, f64::INFINITY);
        assert_eq!(s[1].1, f64::NEG_INFINITY);
        assert!(s[2].1.is_nan() && s[4].1.is_nan());
        assert_eq!(s[3].1, f64::INFINITY);
        assert_eq!(s[5].1, 1000.0);
        assert_eq!(s[6].1, -0.5);
    }

    #[test]
    fn missing_trailing_newline_and_crlf() {
        assert_eq!(samples("a 1\nb 2", Format::Text).len(), 2);
        assert_eq!(samples("a 1\r\nb 2\r\n", Format::Text)[1].1, 2.0);
    }

    #[test]
    fn escapes() {
        let (name, l) =
            parse_series(br#"msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\"",x="a\tb"}"#)
                .unwrap();
        assert_eq!(name, "msdos_file_access_time_seconds");
        assert_eq!(l[0], ("path".into(), r"C:\DIR\FILE.TXT".into()));
        assert_eq!(
            l[1],
            ("error".into(), "Cannot find file:\n\"FILE.TXT\"".into())
        );
        assert_eq!(l[2].1, r"a\tb", "unknown escapes stay as written");
        // A '}' or an escaped quote inside a value does not end the label set.
        let s = samples("m{a=\"x}\\\"y\"} 1\n", Format::Text);
        assert_eq!(s[0].0, "m{a=\"x}\\\"y\"}");
        let e = all("# HELP m a \\\\ b\\nc\n", Format::Text).unwrap();
        assert_eq!(
            e[0],
            Entry::Help {
                name: "m",
                text: "a \\ b\nc".into()
            }
        );
    }

    #[test]
    fn label_corner_cases() {
        let (_, l) = parse_series(b"m{a=\"1\",}").unwrap();
        assert_eq!(l, vec![("a".into(), "1".into())]);
        let (_, l) = parse_series(b"m{ a = \"1\" , b=\"\" }").unwrap();
        assert_eq!(
            l,
            vec![("a".into(), "1".into())],
            "empty values are dropped"
        );
        let (n, l) = parse_series(b"m{}").unwrap();
        assert_eq!((n.as_str(), l.len()), ("m", 0));
        for bad in [
            &b"m{a=\"1\",a=\"2\"}"[..],
            b"m{1a=\"1\"}",
            b"m{a=1}",
            b"m{a=\"1\"",
            b"m{a=\"1\" b=\"2\"}",
            b"m{__name__=\"x\"}",
        ] {
            assert!(
                parse_series(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn invalid_lines_fail_with_their_line_number() {
        for (t, line) in [
            ("a 1\nb\n", 2),
            ("a 1\nb x\n", 2),
            ("a 1\n\nc 1 2 3\n", 3),
            ("a{b=\"1\" 1\n", 1),
            ("# TYPE a gauge\n# TYPE a bogus\n", 2),
            ("a 1 1.5\n", 1),
            ("9a 1\n", 1),
            ("a 1\n{b=\"1\"} 2\n", 2),
        ] {
            let e = all(t, Format::Text).unwrap_err();
            assert_eq!(e.line, line, "{t:?}: {e}");
        }
    }

    #[test]
    fn duplicate_series_are_all_reported() {
        // The parser reports what is written; the scrape loop keeps the first of duplicates.
        assert_eq!(samples("a 1\na 2\n", Format::Text).len(), 2);
    }

    #[test]
    fn openmetrics() {
        let t = "# TYPE acme_http_router_request_seconds summary\n\
                 # UNIT acme_http_router_request_seconds seconds\n\
                 # HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.\n\
                 acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32\n\
                 acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0 1520879607.789\n\
                 # TYPE foo counter\n\
                 foo_total 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
                 # EOF\n";
        let e = all(t, Format::OpenMetrics).unwrap();
        assert_eq!(
            e[1],
            Entry::Unit {
                name: "acme_http_router_request_seconds",
                unit: "seconds"
            }
        );
        let s = samples(t, Format::OpenMetrics);
        assert_eq!(s[1].2, Some(1520879607789), "seconds become milliseconds");
        match &e[6] {
            Entry::Sample {
                exemplar, value, ..
            } => assert!(*exemplar && *value == 17.0),
            other => panic!("{other:?}"),
        }
        // Missing # EOF, content after it, empty lines, stray comments: all refused.
        assert!(all("a 1\n", Format::OpenMetrics).is_err());
        assert!(all("a 1\n# EOF\nb 1\n", Format::OpenMetrics).is_err());
        assert!(all("a 1\n\n# EOF\n", Format::OpenMetrics).is_err());
        assert!(all("# hello\n# EOF\n", Format::OpenMetrics).is_err());
        // In the text format an exemplar is an error.
        assert!(all("a 1 # {x=\"y\"} 1\n", Format::Text).is_err());
        // "# EOF" with no trailing newline is fine.
        assert_eq!(samples("a 1\n# EOF", Format::OpenMetrics).len(), 1);
    }

    proptest::proptest! {
        /// Whatever a target sends, parsing ends in entries or an error, never a panic.
        #[test]
        fn arbitrary_payloads_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
                                          om in proptest::prelude::any::<bool>()) {
            let f = if om { Format::OpenMetrics } else { Format::Text };
            let mut p = Parser::new(&body, f);
            while let Ok(Some(e)) = p.next() {
                if let Entry::Sample { series, .. } = e {
                    let _ = parse_series(series);
                }
            }
        }

        /// Payloads made of plausible pieces: the same, and every parsed series re-parses.
        #[test]
        fn plausible_payloads_never_panic(lines in proptest::collection::vec(
            "(# (HELP|TYPE|UNIT|EOF) ?[a-z_]{0,4} ?[a-z ]{0,6}|[a-z_:]{1,6}(\\{([a-z]{1,3}=\"([a-z\\\\\"n}{,]{0,4})\",?){0,3}\\})? ?(-?[0-9.e+]{1,6}|NaN|[+-]Inf)( -?[0-9.]{1,5})?( # \\{[a-z]=\"x\"\\} 1)?)?", 0..12)) {
            for f in [Format::Text, Format::OpenMetrics] {
                let body = lines.join("\n");
                let mut p = Parser::new(body.as_bytes(), f);
                while let Ok(Some(e)) = p.next() {
                    if let Entry::Sample { series, .. } = e {
                        let _ = parse_series(series);
                    }
                }
            }
        }
    }

    #[test]
    fn content_type_negotiation() {
        assert_eq!(
            Format::from_content_type(Some(
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            )),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_content_type(Some("text/plain; version=0.0.4")),
            Format::Text
        );
        assert_eq!(Format::from_content_type(None), Format::Text);
    }
}
