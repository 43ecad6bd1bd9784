//! The script grammar: lines, comments (which become blank lines and so end blocks),
//! `clear`, `load`/`load_with_nhcb` blocks and `eval` blocks with their `expect` lines and
//! expected results, parsed into commands the runner executes in file order.

use lookout_store::Labels;

use super::series::{parse_series_desc, parse_series_line};
use super::values::{parse_duration, parse_go_number, unquote, SeqValue};

/// A parse error: 1-based line and message. It fails the whole file.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

/// A parsed script.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub commands: Vec<Command>,
}

#[derive(Debug, Clone)]
pub enum Command {
    Clear,
    Load(Load),
    Eval(Box<Eval>),
}

/// A `load` block: every series with its samples, last definition of a series winning.
#[derive(Debug, Clone)]
pub struct Load {
    pub line: usize,
    pub step_ms: i64,
    pub with_nhcb: bool,
    /// Series in first-definition order; samples at `i * step_ms` from 0.
    pub series: Vec<(Labels, Vec<SeqValue>)>,
}

/// What kind of query an eval runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EvalKind {
    Instant {
        at_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// `expect fail|warn|info …`: a message to match exactly, a regex to search for, or any.
#[derive(Debug, Clone)]
pub enum TextMatch {
    Any,
    Exact(String),
    Regex {
        source: String,
        re: lookout_store::Matcher,
    },
}

impl TextMatch {
    pub fn matches(&self, text: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(m) => m == text,
            TextMatch::Regex { re, .. } => re.matches(text),
        }
    }

    fn regex(source: &str) -> Result<TextMatch, String> {
        // Go's MatchString searches anywhere in the text; the store's matchers are fully
        // anchored, so the pattern is wrapped in `.*(?:…).*` with `.` matching newlines.
        let re = lookout_store::Matcher::new(
            lookout_store::MatchOp::RegexMatch,
            "",
            format!(".*(?:{source}).*"),
        )
        .map_err(|e| format!("invalid regex {source:?}: {e}"))?;
        Ok(TextMatch::Regex {
            source: source.to_string(),
            re,
        })
    }
}

impl std::fmt::Display for TextMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextMatch::Any => f.write_str("any"),
            TextMatch::Exact(m) => write!(f, "message {m:?}"),
            TextMatch::Regex { source, .. } => write!(f, "regex {source:?}"),
        }
    }
}

/// The result an eval expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A list of series (possibly empty: an empty vector or matrix).
    Series(Vec<ExpectedSeries>),
    /// A bare number: the result must be a scalar.
    Scalar(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedSeries {
    /// 1-based position among the block's result lines (for `expect ordered`).
    pub pos: usize,
    pub line: usize,
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

/// An `eval` block.
#[derive(Debug, Clone)]
pub struct Eval {
    pub line: usize,
    /// The whole header line, for reports.
    pub header: String,
    pub expr: String,
    pub kind: EvalKind,
    /// `expect range vector from … to … step …` on an instant eval: (start, end, step).
    pub range_vector: Option<(i64, i64, i64)>,
    pub expect_fail: bool,
    pub fail_match: Option<TextMatch>,
    pub expect_warn: bool,
    pub warn: Vec<TextMatch>,
    pub no_warn: bool,
    pub expect_info: bool,
    pub info: Vec<TextMatch>,
    pub no_info: bool,
    pub ordered: bool,
    pub expected_string: Option<String>,
    pub expected: Expected,
}

impl Eval {
    /// Excluded from the range-mode check by its expectations (1.10.2).
    pub fn excluded_from_range_mode(&self) -> bool {
        self.expected_string.is_some() || self.range_vector.is_some()
    }

    /// Whether the expected result or the expected values hold a native histogram.
    pub fn expects_histograms(&self) -> bool {
        match &self.expected {
            Expected::Series(s) => s
                .iter()
                .any(|s| s.values.iter().any(|v| matches!(v, SeqValue::Histogram(_)))),
            Expected::Scalar(_) => false,
        }
    }
}

/// Splits the input into trimmed lines, comments turned into blank lines.
fn lines(input: &str) -> Vec<&str> {
    input
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect()
}

/// Parses a whole script. The first error fails the file, as in Prometheus' runner.
pub fn parse(input: &str) -> Result<Script, ScriptError> {
    let lines = lines(input);
    let mut script = Script::default();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let cmd = if word == "clear" {
            i += 1;
            Command::Clear
        } else if word.starts_with("load") {
            let (next, load) = parse_load(&lines, i)?;
            i = next;
            Command::Load(load)
        } else if word.starts_with("eval") {
            let (next, eval) = parse_eval(&lines, i)?;
            i = next;
            Command::Eval(Box::new(eval))
        } else {
            return Err(err(i, format!("invalid command {l:?}")));
        };
        script.commands.push(cmd);
    }
    Ok(script)
}

fn err(i: usize, message: impl Into<String>) -> ScriptError {
    ScriptError {
        line: i + 1,
        message: message.into(),
    }
}

/// Whitespace-separated words with their byte offsets.
fn words(l: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in l.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &l[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &l[s..]));
    }
    out
}

/// Parses a load block starting at line `i`; returns the index of the line after it.
fn parse_load(lines: &[&str], i: usize) -> Result<(usize, Load), ScriptError> {
    let w = words(lines[i]);
    let with_nhcb = match w.first().map(|(_, s)| *s) {
        Some("load") => false,
        Some("load_with_nhcb") => true,
        _ => {
            return Err(err(
                i,
                "invalid load command. (load[_with_nhcb] <step:duration>)",
            ))
        }
    };
    if w.len() != 2 {
        return Err(err(
            i,
            "invalid load command. (load[_with_nhcb] <step:duration>)",
        ));
    }
    let step_ms = parse_duration(w[1].1)
        .map_err(|e| err(i, format!("invalid step definition {:?}: {e}", w[1].1)))?;
    let mut load = Load {
        line: i + 1,
        step_ms,
        with_nhcb,
        series: Vec::new(),
    };
    let mut j = i + 1;
    let mut pending_st: Option<(usize, Labels, usize)> = None;
    while j < lines.len() && !lines[j].is_empty() {
        let l = lines[j];
        if is_st_line(l) {
            if let Some((line, _, _)) = pending_st {
                return Err(err(line, "@st line has no following sample line"));
            }
            // Start timestamps (`@st`, experimental) are parsed for their shape only: the
            // engine does not store or use start timestamps, so the offsets are dropped.
            let space = l.find(char::is_whitespace).unwrap_or(l.len());
            let metric = &l[..space].trim_end_matches("@st");
            let count = count_st_items(&l[space..]).map_err(|e| err(j, e))?;
            if !metric.is_empty() {
                let (labels, _) = parse_series_desc(metric).map_err(|e| err(j, e))?;
                pending_st = Some((j, labels, count));
            }
            j += 1;
            continue;
        }
        let s = parse_series_line(l).map_err(|e| err(j, e))?;
        if let Some((line, labels, count)) = pending_st.take() {
            if labels != s.labels {
                return Err(err(
                    line,
                    "@st metric does not match the following sample line metric",
                ));
            }
            if count != s.values.len() {
                return Err(err(
                    line,
                    format!(
                        "@st line has {count} values but sample line has {}",
                        s.values.len()
                    ),
                ));
            }
        }
        // Inside one block the last definition of a series wins (Prometheus keeps the
        // definitions in a map keyed by label set).
        match load.series.iter_mut().find(|(l, _)| *l == s.labels) {
            Some(slot) => slot.1 = s.values,
            None => load.series.push((s.labels, s.values)),
        }
        j += 1;
    }
    if let Some((line, _, _)) = pending_st {
        return Err(err(line, "@st line has no following sample line"));
    }
    Ok((j, load))
}

fn is_st_line(l: &str) -> bool {
    l.find(char::is_whitespace)
        .is_some_and(|sp| l[..sp].ends_with("@st"))
}

/// Counts the positions of an `@st` offset sequence (`_`, `_xN`, `<dur>`, `<dur>xN`,
/// `<dur>±<dur>xN`, `*`, `*xN`), checking each item's shape.
fn count_st_items(s: &str) -> Result<usize, String> {
    let mut n = 0usize;
    for item in s.split_whitespace() {
        let bad = || format!("invalid @st item {item:?}");
        if item == "_" || item == "*" {
            n += 1;
        } else if let Some(c) = item.strip_prefix("_x") {
            n += c.parse::<usize>().map_err(|_| bad())?;
        } else if let Some(c) = item.strip_prefix("*x") {
            n += c.parse::<usize>().map_err(|_| bad())? + 1;
        } else {
            let body = item.strip_prefix(['+', '-']).unwrap_or(item);
            let dur_len = body
                .char_indices()
                .find(|&(_, c)| !(c.is_ascii_alphanumeric()) || c == 'x')
                .map_or(body.len(), |(i, _)| i);
            parse_duration(&body[..dur_len]).map_err(|_| bad())?;
            let rest = &body[dur_len..];
            let count = match rest.rfind('x') {
                None if rest.is_empty() => 0,
                None => return Err(bad()),
                Some(x) => {
                    let step = &rest[..x];
                    if !step.is_empty() {
                        let step = step.strip_prefix(['+', '-']).ok_or_else(bad)?;
                        parse_duration(step).map_err(|_| bad())?;
                    }
                    rest[x + 1..].parse::<usize>().map_err(|_| bad())?
                }
            };
            n += count + 1;
        }
    }
    Ok(n)
}

/// Parses an eval block starting at line `i`; returns the index of the line after it.
fn parse_eval(lines: &[&str], i: usize) -> Result<(usize, Eval), ScriptError> {
    let l = lines[i];
    let w = words(l);
    let usage = "invalid evaluation command. Must be either 'eval[_fail|_warn|_ordered|_info] instant [at <offset:duration>] <query>' or 'eval[_fail|_warn|_info] range from <from> to <to> step <step> <query>'";
    let keyword = w.first().map_or("", |(_, s)| *s);
    let modifier = match keyword {
        "eval" => "",
        "eval_fail" => "fail",
        "eval_warn" => "warn",
        "eval_info" => "info",
        "eval_ordered" => "ordered",
        _ => return Err(err(i, usage)),
    };
    let word = |k: usize| w.get(k).map(|(_, s)| *s);
    let expr_from = |k: usize| -> Result<String, ScriptError> {
        w.get(k)
            .map(|(off, _)| l[*off..].to_string())
            .ok_or_else(|| err(i, usage))
    };
    let time = |s: &str, what: &str| {
        parse_duration(s).map_err(|e| err(i, format!("invalid {what} definition {s:?}: {e}")))
    };
    let (kind, expr) = match word(1) {
        Some("instant") if word(2) == Some("at") => {
            let at = word(3).ok_or_else(|| err(i, usage))?;
            (
                EvalKind::Instant {
                    at_ms: time(at, "timestamp")?,
                },
                expr_from(4)?,
            )
        }
        Some("instant") => return Err(err(i, format!("{usage} (the 'at <time>' is required)"))),
        Some("range")
            if modifier != "ordered"
                && word(2) == Some("from")
                && word(4) == Some("to")
                && word(6) == Some("step") =>
        {
            let (Some(from), Some(to), Some(step)) = (word(3), word(5), word(7)) else {
                return Err(err(i, usage));
            };
            let (start_ms, end_ms) = (time(from, "start timestamp")?, time(to, "end timestamp")?);
            if end_ms < start_ms {
                return Err(err(i, format!("invalid test definition, end timestamp ({to}) is before start timestamp ({from})")));
            }
            (
                EvalKind::Range {
                    start_ms,
                    end_ms,
                    step_ms: time(step, "step")?,
                },
                expr_from(8)?,
            )
        }
        _ => return Err(err(i, usage)),
    };
    let mut ev = Eval {
        line: i + 1,
        header: l.to_string(),
        expr,
        kind,
        range_vector: None,
        expect_fail: modifier == "fail",
        fail_match: None,
        expect_warn: modifier == "warn",
        warn: Vec::new(),
        no_warn: false,
        expect_info: modifier == "info",
        info: Vec::new(),
        no_info: false,
        ordered: modifier == "ordered",
        expected_string: None,
        expected: Expected::Series(Vec::new()),
    };
    let is_instant = matches!(kind, EvalKind::Instant { .. });
    let mut series: Vec<ExpectedSeries> = Vec::new();
    let mut pos = 0;
    let mut j = i + 1;
    let expr = ev.expr.clone();
    while j < lines.len() && !lines[j].is_empty() {
        let d = lines[j];
        let in_block = |m: String| err(j, format!("error in eval {expr} (line {}): {m}", i + 1));
        pos += 1;
        if ev.expect_fail && d.starts_with("expected_fail_message") {
            let m = d.trim_start_matches("expected_fail_message").trim();
            ev.fail_match = Some(TextMatch::Exact(m.to_string()));
            j += 1;
            break;
        }
        if ev.expect_fail && d.starts_with("expected_fail_regexp") {
            let m = d.trim_start_matches("expected_fail_regexp").trim();
            ev.fail_match = Some(TextMatch::regex(m).map_err(in_block)?);
            j += 1;
            break;
        }
        if d.starts_with("expect range vector") {
            let rw = words(d);
            let ok = rw.len() == 9 && rw[3].1 == "from" && rw[5].1 == "to" && rw[7].1 == "step";
            if !ok {
                return Err(in_block(format!("invalid range vector definition {d:?}")));
            }
            let from = parse_duration(rw[4].1).map_err(&in_block)?;
            let to = parse_duration(rw[6].1).map_err(&in_block)?;
            let step = parse_duration(rw[8].1).map_err(&in_block)?;
            if to < from {
                return Err(in_block("end timestamp is before start timestamp".into()));
            }
            ev.range_vector = Some((from, to, step));
            j += 1;
            continue;
        }
        if d.starts_with("expect string") {
            let s = d.strip_prefix("expect string ").unwrap_or("").trim();
            let s = unquote(s).map_err(|_| {
                in_block(
                    "expected string literal not valid - check that the string is correctly quoted"
                        .into(),
                )
            })?;
            ev.expected_string = Some(s);
            j += 1;
            continue;
        }
        if d.split(' ').next() == Some("expect") {
            parse_expect(d, &mut ev).map_err(&in_block)?;
            pos -= 1;
            j += 1;
            continue;
        }
        if let Some(v) = parse_go_number(d) {
            ev.expected = Expected::Scalar(v);
            j += 1;
            break;
        }
        let s = parse_series_line(d).map_err(|e| err(j, e))?;
        if s.values.len() > 1 && is_instant && ev.range_vector.is_none() {
            return Err(in_block("expecting multiple values in instant evaluation not allowed. consider using 'expect range vector' directive to enable a range vector result for an instant query".into()));
        }
        let e = ExpectedSeries {
            pos,
            line: j + 1,
            labels: s.labels,
            values: s.values,
        };
        match series.iter_mut().find(|x| x.labels == e.labels) {
            Some(slot) => *slot = e,
            None => series.push(e),
        }
        j += 1;
    }
    if !matches!(ev.expected, Expected::Scalar(_)) {
        ev.expected = Expected::Series(series);
    }
    if !ev.info.is_empty() && ev.no_info {
        return Err(err(
            i,
            "invalid expect lines, info and no_info cannot be used together",
        ));
    }
    if !ev.warn.is_empty() && ev.no_warn {
        return Err(err(
            i,
            "invalid expect lines, warn and no_warn cannot be used together",
        ));
    }
    Ok((j, ev))
}

/// Parses `expect <ordered|fail|warn|no_warn|info|no_info>[ <msg|regex>: <text>]`.
fn parse_expect(d: &str, ev: &mut Eval) -> Result<(), String> {
    let rest = d["expect".len()..].trim_start();
    let kind_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let kind = &rest[..kind_len];
    let opt = rest[kind_len..].trim();
    let matcher = if opt.is_empty() {
        TextMatch::Any
    } else if let Some(m) = opt.strip_prefix("msg:") {
        TextMatch::Exact(m.trim().to_string())
    } else if let Some(r) = opt.strip_prefix("regex:") {
        TextMatch::regex(r.trim())?
    } else {
        return Err(
            "invalid expect statement, must match `expect <type> <match_type>: <string>` format"
                .into(),
        );
    };
    match kind {
        "ordered" if matches!(matcher, TextMatch::Any) => ev.ordered = true,
        "fail" => {
            if ev.fail_match.is_some() && ev.expect_fail {
                return Err(
                    "invalid expect lines, multiple expect fail lines are not allowed".into(),
                );
            }
            ev.expect_fail = true;
            ev.fail_match = Some(matcher);
        }
        "warn" => ev.warn.push(matcher),
        "info" => ev.info.push(matcher),
        "no_warn" if matches!(matcher, TextMatch::Any) => ev.no_warn = true,
        "no_info" if matches!(matcher, TextMatch::Any) => ev.no_info = true,
        _ => {
            return Err(format!(
                "invalid expect statement {d:?}, must match `expect <type> <match_type>: <string>` format"
            ))
        }
    }
    Ok(())
}

/// A rough count of the evals in a script that failed to parse, so that a broken file
/// still counts its evals as failed.
pub fn count_eval_lines(input: &str) -> usize {
    lines(input)
        .iter()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.to_ascii_lowercase().starts_with("eval"))
        })
        .count()
}

/// Values of a sequence as written, for reports: `1 2 _ stale`.
pub fn format_values(values: &[SeqValue]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(cmd: &Command) -> &Eval {
        match cmd {
            Command::Eval(e) => e,
            other => panic!("not an eval: {other:?}"),
        }
    }

    #[test]
    fn blocks_comments_and_clear() {
        let s = parse(
            "load 10s\n  metric 0 1 stale 2\n  metric 5\n  other{a=\"b\"} 1\n\n# comment\neval instant at 10s metric\n  {__name__=\"metric\"} 1\n# empty\nclear\neval instant at 20s metric\n",
        )
        .unwrap();
        assert_eq!(s.commands.len(), 4);
        match &s.commands[0] {
            Command::Load(l) => {
                assert_eq!(l.step_ms, 10_000);
                // The second definition of `metric` replaces the first.
                assert_eq!(l.series.len(), 2);
                assert_eq!(l.series[0].1, vec![SeqValue::Float(5.0)]);
            }
            other => panic!("{other:?}"),
        }
        let e = eval(&s.commands[1]);
        assert_eq!(e.kind, EvalKind::Instant { at_ms: 10_000 });
        assert_eq!(e.expr, "metric");
        assert_eq!(e.line, 7);
        match &e.expected {
            Expected::Series(v) => assert_eq!(v.len(), 1),
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.commands[2], Command::Clear));
        let e = eval(&s.commands[3]);
        assert_eq!(e.expected, Expected::Series(vec![]));
    }

    #[test]
    fn comment_ends_a_block() {
        // The comment line ends the eval block, so the series after it is a stray line.
        let r = parse("eval instant at 0 foo\n# x\n  foo 1\n");
        assert_eq!(r.unwrap_err().line, 3);
        assert!(parse("foo 1\n").is_err());
        assert!(parse("load 1m\n  foo 1 2 # trailing\n").is_err());
    }

    #[test]
    fn eval_headers() {
        let s = parse(
            "eval range from 0 to 2m step 1m foo  >  2 or bar\n  foo{job=\"1\"} _ 3 5\n\neval_fail instant at 0 -{job=\"api\"}\n\neval_ordered instant at 50m topk(3, x)\n",
        )
        .unwrap();
        let e = eval(&s.commands[0]);
        assert_eq!(
            e.kind,
            EvalKind::Range {
                start_ms: 0,
                end_ms: 120_000,
                step_ms: 60_000
            }
        );
        assert_eq!(e.expr, "foo  >  2 or bar");
        assert!(eval(&s.commands[1]).expect_fail);
        assert_eq!(eval(&s.commands[1]).expr, "-{job=\"api\"}");
        assert!(eval(&s.commands[2]).ordered);
        assert!(parse("eval range from 2m to 0 step 1m foo\n").is_err());
        assert!(parse("eval instant 0 foo\n").is_err());
        assert!(parse("eval_ordered range from 0 to 1m step 1m foo\n").is_err());
        assert!(parse("evalx instant at 0 foo\n").is_err());
    }

    #[test]
    fn expect_lines() {
        let s = parse(
            "eval instant at 50m 12.34e6\n\t12340000\n\neval instant at 50m \"Foo\"\n\texpect string `Foo`\n\neval instant at 1m x\n  expect fail msg: Parameter value is NaN\n  expect warn regex: bad \\(1:2\\)\n  expect warn\n  expect no_info\n  expect ordered\n  a 1\n  b 2\n\neval instant at 1m some_metric[1m]\n  expect range vector from 10s to 1m step 10s\n  some_metric{env=\"a\"} 2 3 4 5 6\n",
        )
        .unwrap();
        assert_eq!(
            eval(&s.commands[0]).expected,
            Expected::Scalar(12_340_000.0)
        );
        assert_eq!(eval(&s.commands[1]).expected_string.as_deref(), Some("Foo"));
        let e = eval(&s.commands[2]);
        assert!(e.expect_fail && e.no_info && e.ordered);
        assert!(
            matches!(&e.fail_match, Some(TextMatch::Exact(m)) if m == "Parameter value is NaN")
        );
        assert_eq!(e.warn.len(), 2);
        assert!(e.warn[0].matches("PromQL warning: bad (1:2)"));
        assert!(!e.warn[0].matches("PromQL warning: bad (1:3)"));
        match &e.expected {
            Expected::Series(v) => {
                assert_eq!(v[0].pos, 1);
                assert_eq!(v[1].pos, 2);
            }
            other => panic!("{other:?}"),
        }
        let e = eval(&s.commands[3]);
        assert_eq!(e.range_vector, Some((10_000, 60_000, 10_000)));
        assert!(e.excluded_from_range_mode());
        // Several values on an instant eval need `expect range vector`.
        assert!(parse("eval instant at 0 x\n  x 1 2\n").is_err());
        // A number is the last line of its block.
        assert!(parse("eval instant at 0 x\n  1\n  x 2\n").is_err());
        assert!(parse("eval instant at 0 x\n  expect warn\n  expect no_warn\n").is_err());
        assert!(parse("eval instant at 0 x\n  expect fail\n  expect fail\n").is_err());
        assert!(parse("eval instant at 0 x\n  expect bogus\n").is_err());
    }

    #[test]
    fn legacy_fail_message() {
        let s = parse("eval_fail instant at 0 x\n  expected_fail_message boom here\n").unwrap();
        let e = eval(&s.commands[0]);
        assert!(matches!(&e.fail_match, Some(TextMatch::Exact(m)) if m == "boom here"));
    }

    #[test]
    fn st_lines_are_checked_and_dropped() {
        let s = parse(
            "load 1m\n  c{type=\"s\"}@st _ _ -30s-1mx2 -1ms-1mx2\n  c{type=\"s\"} _ _ 0+60x5\n",
        )
        .unwrap();
        match &s.commands[0] {
            Command::Load(l) => assert_eq!(l.series.len(), 1),
            other => panic!("{other:?}"),
        }
        assert!(parse("load 1m\n  c@st _ _\n  c 1 2 3\n").is_err());
    }

    #[test]
    fn counts_evals_of_broken_files() {
        assert_eq!(count_eval_lines("eval instant at 0 x\nEVAL x\n# eval\n"), 2);
    }
}
