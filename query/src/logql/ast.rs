//! The syntax tree of a LogQL query. Regexes, patterns and templates are compiled while
//! parsing, so a query that parses can be run without another failure point; `Display`
//! writes the canonical text (`/loki/api/v1/format_query`, and the parser's tests).

use std::fmt;

use lookout_store::{MatchOp, Matcher};
use regex::Regex;

use super::pattern::Pattern;
use super::template::Template;

/// A whole query: a log query (yields lines) or a metric query (yields samples).
#[derive(Debug, Clone)]
pub enum Expr {
    Log(LogExpr),
    Metric(MetricExpr),
}

/// A stream selector and the pipeline its lines go through.
#[derive(Debug, Clone)]
pub struct LogExpr {
    pub matchers: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

/// One stage of a log pipeline.
#[derive(Debug, Clone)]
pub enum Stage {
    LineFilter(LineFilter),
    /// `| json` (every field) or `| json a="x.y", b` (chosen fields: label and path).
    Json(Vec<(String, String)>),
    /// `| logfmt [--strict] [--keep-empty] [a, b="c"]`.
    Logfmt {
        strict: bool,
        keep_empty: bool,
        params: Vec<(String, String)>,
    },
    /// `| regexp "(?P<name>...)"`.
    Regexp(Regex),
    /// `| pattern "<ip> - <_>"`.
    Pattern(Pattern),
    Unpack,
    LabelFilter(LabelFilter),
    LineFormat(Template),
    LabelFormat(Vec<LabelFormat>),
    /// `| drop a, b="v"`: names, or name and value matchers.
    Drop(Vec<LabelSel>),
    Keep(Vec<LabelSel>),
    Decolorize,
}

/// A line filter: one operator and one or more values joined with `or`.
#[derive(Debug, Clone)]
pub struct LineFilter {
    pub op: FilterOp,
    pub values: Vec<String>,
    /// The compiled regexes of `|~` / `!~`, or patterns of `|>` / `!>`, one per value.
    pub regexes: Vec<Regex>,
    pub patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Contains,
    NotContains,
    Regex,
    NotRegex,
    Pattern,
    NotPattern,
}

impl FilterOp {
    pub fn negated(self) -> bool {
        matches!(
            self,
            FilterOp::NotContains | FilterOp::NotRegex | FilterOp::NotPattern
        )
    }

    fn text(self) -> &'static str {
        match self {
            FilterOp::Contains => "|=",
            FilterOp::NotContains => "!=",
            FilterOp::Regex => "|~",
            FilterOp::NotRegex => "!~",
            FilterOp::Pattern => "|>",
            FilterOp::NotPattern => "!>",
        }
    }
}

/// A label filter expression (`| status >= 400 and level="error"`).
#[derive(Debug, Clone)]
pub enum LabelFilter {
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// String comparison (`=`, `!=`, `=~`, `!~`); an absent label reads as "".
    Str(Matcher),
    /// The label read as a number, a Go duration (in seconds) or a byte size.
    Cmp {
        name: String,
        op: CmpOp,
        value: f64,
        kind: CmpKind,
        /// The value as written (`1.5s`, `20MB`), for `Display`.
        text: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpKind {
    Number,
    Duration,
    Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CmpOp {
    pub fn test(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Neq => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Gte => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Lte => a <= b,
        }
    }

    fn text(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Neq => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }
}

/// One assignment of `label_format`.
#[derive(Debug, Clone)]
pub enum LabelFormat {
    /// `dst=src`: renames `src` to `dst`.
    Rename { dst: String, src: String },
    /// `dst="{{ template }}"`.
    Template { dst: String, tpl: Template },
}

/// A `drop`/`keep` argument: a label name, or a matcher on a label's value.
#[derive(Debug, Clone)]
pub enum LabelSel {
    Name(String),
    Matcher(Matcher),
}

impl LabelSel {
    pub fn name(&self) -> &str {
        match self {
            LabelSel::Name(n) => n,
            LabelSel::Matcher(m) => &m.name,
        }
    }
}

/// A query that yields samples.
#[derive(Debug, Clone)]
pub enum MetricExpr {
    Range(Box<RangeAgg>),
    Vector(Box<VectorAgg>),
    Binary(Box<Binary>),
    /// A scalar literal.
    Number(f64),
    /// `vector(1)`: one sample without labels at every step.
    VectorOf(f64),
}

/// A range aggregation over a log range (`count_over_time({...}[5m])`).
#[derive(Debug, Clone)]
pub struct RangeAgg {
    pub op: RangeOp,
    pub log: LogExpr,
    pub range_ns: i64,
    pub offset_ns: i64,
    pub unwrap: Option<Unwrap>,
    /// `quantile_over_time`'s φ.
    pub param: Option<f64>,
    pub grouping: Option<Grouping>,
    /// How `[range]` and `offset` were written, for `Display`.
    pub range_text: String,
    pub offset_text: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    Count,
    Rate,
    Bytes,
    BytesRate,
    Absent,
    Sum,
    Avg,
    Min,
    Max,
    Stddev,
    Stdvar,
    Quantile,
    First,
    Last,
    RateCounter,
}

impl RangeOp {
    pub fn from_name(s: &str) -> Option<RangeOp> {
        Some(match s {
            "count_over_time" => RangeOp::Count,
            "rate" => RangeOp::Rate,
            "bytes_over_time" => RangeOp::Bytes,
            "bytes_rate" => RangeOp::BytesRate,
            "absent_over_time" => RangeOp::Absent,
            "sum_over_time" => RangeOp::Sum,
            "avg_over_time" => RangeOp::Avg,
            "min_over_time" => RangeOp::Min,
            "max_over_time" => RangeOp::Max,
            "stddev_over_time" => RangeOp::Stddev,
            "stdvar_over_time" => RangeOp::Stdvar,
            "quantile_over_time" => RangeOp::Quantile,
            "first_over_time" => RangeOp::First,
            "last_over_time" => RangeOp::Last,
            "rate_counter" => RangeOp::RateCounter,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            RangeOp::Count => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::Bytes => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::Absent => "absent_over_time",
            RangeOp::Sum => "sum_over_time",
            RangeOp::Avg => "avg_over_time",
            RangeOp::Min => "min_over_time",
            RangeOp::Max => "max_over_time",
            RangeOp::Stddev => "stddev_over_time",
            RangeOp::Stdvar => "stdvar_over_time",
            RangeOp::Quantile => "quantile_over_time",
            RangeOp::First => "first_over_time",
            RangeOp::Last => "last_over_time",
            RangeOp::RateCounter => "rate_counter",
        }
    }

    /// Whether the operation needs `| unwrap label` (it works on values, not lines).
    pub fn needs_unwrap(self) -> bool {
        !matches!(
            self,
            RangeOp::Count | RangeOp::Rate | RangeOp::Bytes | RangeOp::BytesRate | RangeOp::Absent
        )
    }
}

/// `| unwrap [duration|duration_seconds|bytes](label)` and the label filters after it.
#[derive(Debug, Clone)]
pub struct Unwrap {
    pub label: String,
    pub conv: Conv,
    pub filters: Vec<LabelFilter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    Float,
    Duration,
    DurationSeconds,
    Bytes,
}

/// `by (a, b)` or `without (a)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct VectorAgg {
    pub op: AggOp,
    /// `topk`/`bottomk`'s k.
    pub param: Option<f64>,
    pub grouping: Option<Grouping>,
    pub expr: MetricExpr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
}

impl AggOp {
    pub fn from_name(s: &str) -> Option<AggOp> {
        Some(match s {
            "sum" => AggOp::Sum,
            "avg" => AggOp::Avg,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "count" => AggOp::Count,
            "stddev" => AggOp::Stddev,
            "stdvar" => AggOp::Stdvar,
            "topk" => AggOp::Topk,
            "bottomk" => AggOp::Bottomk,
            "sort" => AggOp::Sort,
            "sort_desc" => AggOp::SortDesc,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::Count => "count",
            AggOp::Stddev => "stddev",
            AggOp::Stdvar => "stdvar",
            AggOp::Topk => "topk",
            AggOp::Bottomk => "bottomk",
            AggOp::Sort => "sort",
            AggOp::SortDesc => "sort_desc",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Binary {
    pub op: BinOp,
    pub lhs: MetricExpr,
    pub rhs: MetricExpr,
    /// `bool` after a comparison: 0/1 instead of filtering.
    pub return_bool: bool,
    pub matching: Option<Matching>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte
        )
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    /// Binding strength, Prometheus' order: `or` < `and unless` < comparisons < `+ -` <
    /// `* / %` < `^`.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Eq => "==",
            BinOp::Neq => "!=",
            BinOp::Gt => ">",
            BinOp::Gte => ">=",
            BinOp::Lt => "<",
            BinOp::Lte => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
        }
    }
}

/// `on (a)` / `ignoring (b)`, with `group_left (c)` / `group_right`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matching {
    pub on: bool,
    pub labels: Vec<String>,
    pub card: Card,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Card {
    OneToOne,
    /// `group_left (include)`: many on the left.
    ManyToOne(Vec<String>),
    /// `group_right (include)`: many on the right.
    OneToMany(Vec<String>),
}

// ---- Display: the canonical text ----

fn quote(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "{s:?}")
}

fn write_matcher(f: &mut fmt::Formatter<'_>, m: &Matcher) -> fmt::Result {
    let op = match m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::RegexMatch => "=~",
        MatchOp::RegexNoMatch => "!~",
    };
    write!(f, "{}{op}", m.name)?;
    quote(f, &m.value)
}

fn write_list(f: &mut fmt::Formatter<'_>, names: &[String]) -> fmt::Result {
    write!(f, "({})", names.join(", "))
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => l.fmt(f),
            Expr::Metric(m) => m.fmt(f),
        }
    }
}

impl fmt::Display for LogExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write_matcher(f, m)?;
        }
        f.write_str("}")?;
        for s in &self.stages {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[(String, String)]) -> fmt::Result {
    for (i, (label, path)) in params.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { ", " })?;
        f.write_str(label)?;
        if label != path {
            f.write_str("=")?;
            quote(f, path)?;
        }
    }
    Ok(())
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(lf) => {
                write!(f, "{} ", lf.op.text())?;
                for (i, v) in lf.values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    quote(f, v)?;
                }
                Ok(())
            }
            Stage::Json(params) => {
                f.write_str("| json")?;
                write_params(f, params)
            }
            Stage::Logfmt {
                strict,
                keep_empty,
                params,
            } => {
                f.write_str("| logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                write_params(f, params)
            }
            Stage::Regexp(re) => {
                f.write_str("| regexp ")?;
                quote(f, re.as_str())
            }
            Stage::Pattern(p) => {
                f.write_str("| pattern ")?;
                quote(f, p.source())
            }
            Stage::Unpack => f.write_str("| unpack"),
            Stage::LabelFilter(lf) => write!(f, "| {lf}"),
            Stage::LineFormat(t) => {
                f.write_str("| line_format ")?;
                quote(f, t.source())
            }
            Stage::LabelFormat(v) => {
                f.write_str("| label_format ")?;
                for (i, lf) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match lf {
                        LabelFormat::Rename { dst, src } => write!(f, "{dst}={src}")?,
                        LabelFormat::Template { dst, tpl } => {
                            write!(f, "{dst}=")?;
                            quote(f, tpl.source())?;
                        }
                    }
                }
                Ok(())
            }
            Stage::Drop(v) | Stage::Keep(v) => {
                f.write_str(if matches!(self, Stage::Drop(_)) {
                    "| drop "
                } else {
                    "| keep "
                })?;
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match s {
                        LabelSel::Name(n) => f.write_str(n)?,
                        LabelSel::Matcher(m) => write_matcher(f, m)?,
                    }
                }
                Ok(())
            }
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

impl fmt::Display for LabelFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilter::And(a, b) => write!(f, "({a} and {b})"),
            LabelFilter::Or(a, b) => write!(f, "({a} or {b})"),
            LabelFilter::Str(m) => write_matcher(f, m),
            LabelFilter::Cmp { name, op, text, .. } => write!(f, "{name}{}{text}", op.text()),
        }
    }
}

impl fmt::Display for MetricExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricExpr::Range(r) => {
                write!(f, "{}(", r.op.name())?;
                if let Some(p) = r.param {
                    write!(f, "{p},")?;
                }
                write!(f, "{}", r.log)?;
                if let Some(u) = &r.unwrap {
                    f.write_str(" | unwrap ")?;
                    match u.conv {
                        Conv::Float => f.write_str(&u.label)?,
                        Conv::Duration => write!(f, "duration({})", u.label)?,
                        Conv::DurationSeconds => write!(f, "duration_seconds({})", u.label)?,
                        Conv::Bytes => write!(f, "bytes({})", u.label)?,
                    }
                    for lf in &u.filters {
                        write!(f, " | {lf}")?;
                    }
                }
                write!(f, "[{}]", r.range_text)?;
                if let Some(o) = &r.offset_text {
                    write!(f, " offset {o}")?;
                }
                f.write_str(")")?;
                if let Some(g) = &r.grouping {
                    write!(f, " {g}")?;
                }
                Ok(())
            }
            MetricExpr::Vector(v) => {
                f.write_str(v.op.name())?;
                if let Some(g) = &v.grouping {
                    write!(f, " {g} ")?;
                }
                f.write_str("(")?;
                if let Some(p) = v.param {
                    write!(f, "{p},")?;
                }
                write!(f, "{})", v.expr)
            }
            MetricExpr::Binary(b) => {
                write!(f, "({} {}", b.lhs, b.op.text())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = &b.matching {
                    f.write_str(if m.on { " on" } else { " ignoring" })?;
                    write_list(f, &m.labels)?;
                    match &m.card {
                        Card::OneToOne => {}
                        Card::ManyToOne(l) => {
                            f.write_str(" group_left")?;
                            write_list(f, l)?;
                        }
                        Card::OneToMany(l) => {
                            f.write_str(" group_right")?;
                            write_list(f, l)?;
                        }
                    }
                }
                write!(f, " {})", b.rhs)
            }
            MetricExpr::Number(n) => write!(f, "{n}"),
            MetricExpr::VectorOf(n) => write!(f, "vector({n})"),
        }
    }
}

impl fmt::Display for Grouping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.without { "without " } else { "by " })?;
        write_list(f, &self.labels)
    }
}
