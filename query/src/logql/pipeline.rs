//! Runs a log pipeline over the lines a read yields: line filters, parsers, label filters,
//! formatting, drop and keep, with Loki's label semantics. Each line carries a label set
//! in three categories (stream labels, structured metadata, labels parsed at query time);
//! a stage that fails on a line sets `__error__` (and `__error_details__`) and the line
//! goes on, as in Loki, so `| __error__=""` can drop it and a metric query can refuse it.
//!
//! A line whose labels no stage touches keeps its stream's shared label set: the common
//! case (selector and line filters) allocates nothing per line for labels.

use std::sync::Arc;

use lookout_store::{Label, Labels, LogHit};

use super::ast::{CmpKind, FilterOp, LabelFilter, LabelFormat, LabelSel, LineFilter, Stage};
use super::line_parsers;
use super::template::Context;
use super::units;

pub const ERROR: &str = "__error__";
pub const ERROR_DETAILS: &str = "__error_details__";

/// Loki's `__error__` values.
pub const JSON_ERR: &str = "JSONParserErr";
pub const LOGFMT_ERR: &str = "LogfmtParserErr";
pub const LABEL_FILTER_ERR: &str = "LabelFilterErr";
pub const TEMPLATE_ERR: &str = "TemplateFormatErr";
pub const SAMPLE_ERR: &str = "SampleExtractionErr";

/// Where a label of a line comes from (Loki's categories for `categorize-labels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cat {
    Stream,
    Meta,
    Parsed,
}

/// One line on its way through a pipeline.
#[derive(Debug, Clone)]
pub struct Entry {
    pub ts_ns: i64,
    pub line: String,
    stream: Arc<Labels>,
    metadata: Vec<(String, String)>,
    /// `None` until a stage changes a label; then every label, with its category.
    labels: Option<Vec<(String, String, Cat)>>,
}

impl Entry {
    pub fn new(hit: LogHit) -> Entry {
        Entry {
            ts_ns: hit.ts_ns,
            line: hit.line,
            stream: hit.stream,
            metadata: hit.metadata,
            labels: None,
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        match &self.labels {
            Some(v) => v
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, v, _)| v.as_str()),
            None => self.stream.get(name).or_else(|| {
                self.metadata
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            }),
        }
    }

    pub fn has_err(&self) -> bool {
        self.get(ERROR).is_some()
    }

    fn labels_mut(&mut self) -> &mut Vec<(String, String, Cat)> {
        let (stream, metadata) = (&self.stream, &self.metadata);
        self.labels.get_or_insert_with(|| {
            let mut v: Vec<(String, String, Cat)> = stream
                .iter()
                .map(|l| (l.name.clone(), l.value.clone(), Cat::Stream))
                .collect();
            for (n, val) in metadata {
                match v.iter_mut().find(|(name, _, _)| name == n) {
                    Some(slot) => slot.1 = val.clone(),
                    None => v.push((n.clone(), val.clone(), Cat::Meta)),
                }
            }
            v
        })
    }

    /// Sets a label, replacing a label of that name.
    pub fn set(&mut self, name: &str, value: String, cat: Cat) {
        let v = self.labels_mut();
        match v.iter_mut().find(|(n, _, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                slot.2 = cat;
            }
            None => v.push((name.to_string(), value, cat)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        if self.get(name).is_some() {
            self.labels_mut().retain(|(n, _, _)| n != name);
        }
    }

    /// Whether `name` is one of the line's stream labels (Loki's `BaseHas`): a parsed
    /// label of the same name gets the suffix `_extracted`.
    pub fn stream_has(&self, name: &str) -> bool {
        self.stream.get(name).is_some()
    }

    pub fn set_err(&mut self, err: &str, details: impl Into<String>) {
        self.set(ERROR, err.to_string(), Cat::Parsed);
        self.set(ERROR_DETAILS, details.into(), Cat::Parsed);
    }

    /// Every label (stream, metadata, parsed), empty values left out: the labels of a
    /// line in a log response without categories, and of a series in a metric query.
    pub fn all_labels(&self) -> Arc<Labels> {
        match &self.labels {
            None if self.metadata.is_empty() => self.stream.clone(),
            None => Arc::new(Labels::from_pairs(
                self.stream
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str()))
                    .chain(self.metadata.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                    .filter(|(_, v)| !v.is_empty()),
            )),
            Some(v) => Arc::new(sorted(v.iter().filter(|(_, val, _)| !val.is_empty()))),
        }
    }

    /// The labels of one category, sorted, empty values left out.
    pub fn labels_of(&self, cat: Cat) -> Labels {
        match &self.labels {
            None => match cat {
                Cat::Stream => (*self.stream).clone(),
                Cat::Meta => {
                    Labels::from_pairs(self.metadata.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                }
                Cat::Parsed => Labels::default(),
            },
            Some(v) => sorted(v.iter().filter(|(_, val, c)| *c == cat && !val.is_empty())),
        }
    }

    /// The stream labels as they stand after the pipeline (for `categorize-labels`).
    pub fn stream_labels(&self) -> Arc<Labels> {
        match &self.labels {
            None => self.stream.clone(),
            Some(_) => Arc::new(self.labels_of(Cat::Stream)),
        }
    }
}

fn sorted<'a>(it: impl Iterator<Item = &'a (String, String, Cat)>) -> Labels {
    let mut v: Vec<Label> = it
        .map(|(n, val, _)| Label::new(n.clone(), val.clone()))
        .collect();
    v.sort();
    v.dedup_by(|a, b| a.name == b.name);
    Labels::from_sorted(v)
}

impl Context for Entry {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
    fn line(&self) -> &str {
        &self.line
    }
    fn ts_ns(&self) -> i64 {
        self.ts_ns
    }
}

/// Whether a line filter keeps `line`. `or` alternatives: a positive filter keeps a line
/// matching any of them, a negated one drops a line matching any of them.
pub fn line_filter_keeps(f: &LineFilter, line: &str) -> bool {
    let any = match f.op {
        FilterOp::Contains | FilterOp::NotContains => {
            f.values.iter().any(|v| line.contains(v.as_str()))
        }
        FilterOp::Regex | FilterOp::NotRegex => f.regexes.iter().any(|r| r.is_match(line)),
        FilterOp::Pattern | FilterOp::NotPattern => f.patterns.iter().any(|p| p.test(line)),
    };
    any != f.op.negated()
}

/// Runs `stages` on `e`; `false` when a stage drops the line.
pub fn run(stages: &[Stage], e: &mut Entry) -> bool {
    for s in stages {
        match s {
            Stage::LineFilter(f) => {
                if !line_filter_keeps(f, &e.line) {
                    return false;
                }
            }
            Stage::Json(params) => line_parsers::json(e, params),
            Stage::Logfmt {
                strict,
                keep_empty,
                params,
            } => line_parsers::logfmt(e, *strict, *keep_empty, params),
            Stage::Regexp(re) => line_parsers::regexp(e, re),
            Stage::Pattern(p) => line_parsers::pattern(e, p),
            Stage::Unpack => line_parsers::unpack(e),
            Stage::LabelFilter(f) => {
                if !label_filter(f, e) {
                    return false;
                }
            }
            Stage::LineFormat(t) => match t.render(e) {
                Ok(line) => e.line = line,
                Err(msg) => e.set_err(TEMPLATE_ERR, msg),
            },
            Stage::LabelFormat(v) => label_format(v, e),
            Stage::Drop(sels) => {
                for s in sels {
                    let name = s.name();
                    let drop = match (s, e.get(name)) {
                        (_, None) => false,
                        (LabelSel::Name(_), Some(_)) => true,
                        (LabelSel::Matcher(m), Some(v)) => m.matches(v),
                    };
                    if drop {
                        e.remove(name);
                    }
                }
            }
            Stage::Keep(sels) => {
                let keep: Vec<(String, String, Cat)> = e
                    .labels_mut()
                    .iter()
                    .filter(|(n, v, _)| {
                        sels.iter().any(|s| match s {
                            LabelSel::Name(name) => name == n,
                            LabelSel::Matcher(m) => m.name == *n && m.matches(v),
                        })
                    })
                    .cloned()
                    .collect();
                e.labels = Some(keep);
            }
            Stage::Decolorize => {
                if e.line.contains('\x1b') {
                    e.line = decolorize(&e.line);
                }
            }
        }
    }
    true
}

fn label_format(v: &[LabelFormat], e: &mut Entry) {
    // Every assignment reads the labels as they were before the stage.
    let mut out: Vec<(String, Option<String>, Option<String>)> = Vec::with_capacity(v.len());
    for lf in v {
        match lf {
            LabelFormat::Rename { dst, src } => out.push((
                dst.clone(),
                Some(e.get(src).unwrap_or("").to_string()),
                Some(src.clone()),
            )),
            LabelFormat::Template { dst, tpl } => match tpl.render(e) {
                Ok(s) => out.push((dst.clone(), Some(s), None)),
                Err(msg) => {
                    e.set_err(TEMPLATE_ERR, msg);
                    return;
                }
            },
        }
    }
    for (dst, value, renamed_from) in out {
        if let Some(src) = renamed_from {
            if src != dst {
                e.remove(&src);
            }
        }
        match value {
            Some(v) if !v.is_empty() => e.set(&dst, v, Cat::Parsed),
            _ => e.remove(&dst),
        }
    }
}

/// Whether a label filter keeps the line. A comparison on a label that does not read as
/// its kind marks the line with `LabelFilterErr` and keeps it; a line that already has an
/// error passes every comparison (only a string filter, e.g. on `__error__`, drops it).
pub fn label_filter(f: &LabelFilter, e: &mut Entry) -> bool {
    match f {
        LabelFilter::And(a, b) => label_filter(a, e) && label_filter(b, e),
        LabelFilter::Or(a, b) => label_filter(a, e) || label_filter(b, e),
        LabelFilter::Str(m) => m.matches(e.get(&m.name).unwrap_or("")),
        LabelFilter::Cmp {
            name,
            op,
            value,
            kind,
            ..
        } => {
            if e.has_err() {
                return true;
            }
            let Some(v) = e.get(name) else {
                return false;
            };
            let parsed = match kind {
                CmpKind::Number => v.trim().parse::<f64>().ok(),
                CmpKind::Duration => units::go_duration(v),
                CmpKind::Bytes => units::bytes(v),
            };
            match parsed {
                Some(x) => op.test(x, *value),
                None => {
                    let details = format!(
                        "cannot read label {name}={v:?} as a {}",
                        match kind {
                            CmpKind::Number => "number",
                            CmpKind::Duration => "duration",
                            CmpKind::Bytes => "byte size",
                        }
                    );
                    e.set_err(LABEL_FILTER_ERR, details);
                    true
                }
            }
        }
    }
}

/// The line without ANSI escape sequences (colours, cursor moves).
pub fn decolorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates up to the final byte (@ to ~).
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::logql::ast::{Expr, LogExpr};

    pub(crate) fn pipeline(q: &str) -> LogExpr {
        match crate::logql::parse(q).unwrap() {
            Expr::Log(l) => l,
            e => panic!("not a log query: {e}"),
        }
    }

    pub(crate) fn entry(stream: &[(&str, &str)], line: &str) -> Entry {
        Entry::new(LogHit {
            stream: Arc::new(Labels::from_pairs(stream.iter().copied())),
            ts_ns: 1_000,
            line: line.into(),
            metadata: vec![("trace_id".into(), "abc".into())],
        })
    }

    /// The line and labels after `q`'s pipeline, or None when dropped.
    fn through(q: &str, line: &str) -> Option<(String, String)> {
        let p = pipeline(q);
        let mut e = entry(&[("app", "a")], line);
        run(&p.stages, &mut e).then(|| (e.line.clone(), e.all_labels().to_string()))
    }

    #[test]
    fn line_filters_with_or_and_negation() {
        assert!(through(r#"{app="a"} |= "x" or "y""#, "a y").is_some());
        assert!(through(r#"{app="a"} != "x" or "y""#, "a y").is_none());
        assert!(through(r#"{app="a"} |~ "(?i)ERR" !~ "ok$""#, "an error").is_some());
        assert!(through(r#"{app="a"} |> "<_> b <_>""#, "a b c").is_some());
        assert!(through(r#"{app="a"} !> "<_> b <_>""#, "a b c").is_none());
    }

    #[test]
    fn label_filters_and_errors() {
        let q = r#"{app="a"} | logfmt | status >= 400"#;
        assert!(through(q, "status=500").is_some());
        assert!(through(q, "status=200").is_none());
        assert!(through(q, "other=1").is_none());
        let (_, l) = through(q, "status=abc").unwrap();
        assert!(l.contains("__error__=\"LabelFilterErr\""), "{l}");
        assert!(through(
            r#"{app="a"} | logfmt | status >= 400 | __error__="""#,
            "status=abc"
        )
        .is_none());
        assert!(through(
            r#"{app="a"} | logfmt | d > 1s and size < 1KB"#,
            "d=1.5s size=20B"
        )
        .is_some());
        assert!(through(
            r#"{app="a"} | logfmt | d > 1s or size < 1KB"#,
            "d=0.5s size=2KB"
        )
        .is_none());
        assert!(through(r#"{app="a"} | trace_id="abc""#, "x").is_some());
    }

    #[test]
    fn formatting_drop_keep_decolorize() {
        let (line, labels) = through(
            r#"{app="a"} | logfmt | line_format "{{.level | upper}}: {{.msg}}" | label_format lvl=level, app2="{{.app}}!""#,
            r#"level=info msg="hi there""#,
        )
        .unwrap();
        assert_eq!(line, "INFO: hi there");
        assert_eq!(
            labels,
            r#"{app="a", app2="a!", lvl="info", msg="hi there", trace_id="abc"}"#
        );
        let (_, labels) = through(
            r#"{app="a"} | logfmt | drop msg, level="warn", trace_id"#,
            "level=info msg=x",
        )
        .unwrap();
        assert_eq!(labels, r#"{app="a", level="info"}"#);
        let (_, labels) = through(
            r#"{app="a"} | logfmt | keep level, app="b""#,
            "level=info msg=x",
        )
        .unwrap();
        assert_eq!(labels, r#"{level="info"}"#);
        let (line, _) = through(r#"{app="a"} | decolorize"#, "\x1b[31mred\x1b[0m text").unwrap();
        assert_eq!(line, "red text");
        let (line, labels) = through(r#"{app="a"} | line_format "{{ div 1 0 }}""#, "x").unwrap();
        assert_eq!(line, "x");
        assert!(labels.contains("TemplateFormatErr"));
    }

    #[test]
    fn untouched_lines_share_their_stream_labels() {
        let p = pipeline(r#"{app="a"} |= "x""#);
        let mut e = Entry::new(LogHit {
            stream: Arc::new(Labels::from_pairs([("app", "a")])),
            ts_ns: 1,
            line: "x".into(),
            metadata: vec![],
        });
        let stream = e.stream.clone();
        assert!(run(&p.stages, &mut e));
        assert!(Arc::ptr_eq(&e.all_labels(), &stream));
    }
}
