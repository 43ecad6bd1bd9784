//! TraceQL's syntax tree: spanset filters over span fields, spanset operators (logical and
//! structural), pipelines of scalar filters, grouping and selection, and the metrics
//! functions that turn spans into series. `Display` writes a tree back as canonical
//! TraceQL, so a parsed query can be echoed and re-parsed to the same tree.

use std::fmt;

/// A whole query: a pipeline and its `with (...)` hints.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub pipeline: Pipeline,
    pub hints: Vec<(String, Static)>,
}

/// A spanset expression followed by stages: `{ ... } | count() > 2 | by(.x)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub source: SpansetExpr,
    pub stages: Vec<Stage>,
}

/// Something that yields spansets.
#[derive(Debug, Clone, PartialEq)]
pub enum SpansetExpr {
    /// `{ expr }`; `{}` is a filter of `true`.
    Filter(FieldExpr),
    /// Two spanset expressions joined by a logical or structural operator.
    Binary {
        op: SpansetOp,
        lhs: Box<SpansetExpr>,
        rhs: Box<SpansetExpr>,
    },
    /// A parenthesized pipeline used as a spanset expression.
    Group(Box<Pipeline>),
}

/// Operators between spansets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpansetOp {
    And,
    Or,
    /// `>`: spans of the right that are children of spans of the left.
    Child,
    /// `<`
    Parent,
    /// `>>`
    Descendant,
    /// `<<`
    Ancestor,
    /// `~`
    Sibling,
    NotChild,
    NotParent,
    NotDescendant,
    NotAncestor,
    NotSibling,
    UnionChild,
    UnionParent,
    UnionDescendant,
    UnionAncestor,
    UnionSibling,
}

impl SpansetOp {
    pub fn as_str(self) -> &'static str {
        use SpansetOp::*;
        match self {
            And => "&&",
            Or => "||",
            Child => ">",
            Parent => "<",
            Descendant => ">>",
            Ancestor => "<<",
            Sibling => "~",
            NotChild => "!>",
            NotParent => "!<",
            NotDescendant => "!>>",
            NotAncestor => "!<<",
            NotSibling => "!~",
            UnionChild => "&>",
            UnionParent => "&<",
            UnionDescendant => "&>>",
            UnionAncestor => "&<<",
            UnionSibling => "&~",
        }
    }
}

/// One stage after a `|`.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Another spanset expression: keeps the spans that also pass it.
    Spanset(SpansetExpr),
    /// `count() > 2`, `avg(duration) >= 1s`: keeps the spansets for which it holds.
    ScalarFilter {
        op: BinaryOp,
        lhs: ScalarExpr,
        rhs: ScalarExpr,
    },
    /// `by(resource.service.name)`: regroups spans by the values of the fields.
    By(Vec<FieldExpr>),
    /// `coalesce()`: merges the spansets of a trace back into one.
    Coalesce,
    /// `select(span.http.url, duration)`: adds fields to the spans returned.
    Select(Vec<FieldExpr>),
    /// A metrics function; only the last stages of a query (topk/bottomk may follow).
    Metrics(Metrics),
    /// `topk(n)` / `bottomk(n)` over the series of a metrics stage.
    TopK { bottom: bool, k: i64 },
}

/// A metrics function and its grouping.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    pub func: MetricsFunc,
    pub by: Vec<FieldExpr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetricsFunc {
    Rate,
    CountOverTime,
    MinOverTime(FieldExpr),
    MaxOverTime(FieldExpr),
    AvgOverTime(FieldExpr),
    SumOverTime(FieldExpr),
    QuantileOverTime(FieldExpr, Vec<f64>),
    HistogramOverTime(FieldExpr),
    /// `compare({selection}, topN, start, end)`: the selection against the rest.
    Compare {
        selection: Box<SpansetExpr>,
        top: Option<i64>,
        range: Option<(i64, i64)>,
    },
}

/// A value computed per spanset.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarExpr {
    /// `count()`, `avg(duration)`, `sum(span.bytes)`, …
    Aggregate {
        op: AggregateOp,
        field: Option<FieldExpr>,
    },
    Static(Static),
    Binary {
        op: BinaryOp,
        lhs: Box<ScalarExpr>,
        rhs: Box<ScalarExpr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateOp {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

impl AggregateOp {
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Count => "count",
            AggregateOp::Avg => "avg",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Sum => "sum",
        }
    }
}

/// An expression over one span's fields.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldExpr {
    Static(Static),
    Attribute(Attribute),
    Intrinsic(Intrinsic),
    Binary {
        op: BinaryOp,
        lhs: Box<FieldExpr>,
        rhs: Box<FieldExpr>,
    },
    Unary {
        op: UnaryOp,
        expr: Box<FieldExpr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

/// Operators between field or scalar values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Regex,
    NotRegex,
    And,
    Or,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Eq => "=",
            Neq => "!=",
            Gt => ">",
            Gte => ">=",
            Lt => "<",
            Lte => "<=",
            Regex => "=~",
            NotRegex => "!~",
            And => "&&",
            Or => "||",
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            Pow => "^",
        }
    }

    /// Whether the operator compares (its result is a boolean).
    pub fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Neq | Gt | Gte | Lt | Lte | Regex | NotRegex)
    }
}

/// Where an attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeScope {
    /// `.name`: the span's attributes, then the resource's.
    Unscoped,
    Span,
    Resource,
    Event,
    Link,
    Instrumentation,
}

/// `span.http.method`, `resource.service.name`, `.foo`, `parent.span.x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub scope: AttributeScope,
    /// `parent.`: the attribute of the span's parent.
    pub parent: bool,
    pub name: String,
}

/// The fields every span has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intrinsic {
    Duration,
    Name,
    Status,
    StatusMessage,
    Kind,
    ChildCount,
    SpanId,
    ParentId,
    TraceId,
    TraceDuration,
    RootName,
    RootServiceName,
    EventName,
    EventTimeSinceStart,
    LinkTraceId,
    LinkSpanId,
    InstrumentationName,
    InstrumentationVersion,
}

impl Intrinsic {
    /// Every spelling TraceQL accepts for an intrinsic, with the intrinsic.
    pub const NAMES: &'static [(&'static str, Intrinsic)] = &[
        ("duration", Intrinsic::Duration),
        ("span:duration", Intrinsic::Duration),
        ("name", Intrinsic::Name),
        ("span:name", Intrinsic::Name),
        ("status", Intrinsic::Status),
        ("span:status", Intrinsic::Status),
        ("statusMessage", Intrinsic::StatusMessage),
        ("span:statusMessage", Intrinsic::StatusMessage),
        ("kind", Intrinsic::Kind),
        ("span:kind", Intrinsic::Kind),
        ("childCount", Intrinsic::ChildCount),
        ("span:childCount", Intrinsic::ChildCount),
        ("span:id", Intrinsic::SpanId),
        ("span:parentID", Intrinsic::ParentId),
        ("trace:id", Intrinsic::TraceId),
        ("traceDuration", Intrinsic::TraceDuration),
        ("trace:duration", Intrinsic::TraceDuration),
        ("rootName", Intrinsic::RootName),
        ("trace:rootName", Intrinsic::RootName),
        ("rootServiceName", Intrinsic::RootServiceName),
        ("trace:rootService", Intrinsic::RootServiceName),
        ("event:name", Intrinsic::EventName),
        ("event:timeSinceStart", Intrinsic::EventTimeSinceStart),
        ("link:traceID", Intrinsic::LinkTraceId),
        ("link:spanID", Intrinsic::LinkSpanId),
        ("instrumentation:name", Intrinsic::InstrumentationName),
        ("instrumentation:version", Intrinsic::InstrumentationVersion),
    ];

    pub fn lookup(name: &str) -> Option<Intrinsic> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, i)| *i)
    }

    /// The canonical (scoped) spelling.
    pub fn as_str(self) -> &'static str {
        use Intrinsic::*;
        match self {
            Duration => "span:duration",
            Name => "span:name",
            Status => "span:status",
            StatusMessage => "span:statusMessage",
            Kind => "span:kind",
            ChildCount => "span:childCount",
            SpanId => "span:id",
            ParentId => "span:parentID",
            TraceId => "trace:id",
            TraceDuration => "trace:duration",
            RootName => "trace:rootName",
            RootServiceName => "trace:rootService",
            EventName => "event:name",
            EventTimeSinceStart => "event:timeSinceStart",
            LinkTraceId => "link:traceID",
            LinkSpanId => "link:spanID",
            InstrumentationName => "instrumentation:name",
            InstrumentationVersion => "instrumentation:version",
        }
    }
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Static {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Nanoseconds.
    Duration(i64),
    Status(SpanStatus),
    Kind(SpanKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanStatus {
    Unset,
    Ok,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

impl SpanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Unset => "unset",
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
        }
    }
}

/// A duration in TraceQL's shortest unit form: `1500ms` → `1.5s`.
fn fmt_duration(f: &mut fmt::Formatter<'_>, ns: i64) -> fmt::Result {
    const UNITS: [(i64, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    for (size, unit) in UNITS {
        if ns != 0 && ns % size == 0 {
            return write!(f, "{}{unit}", ns / size);
        }
    }
    write!(f, "{ns}ns")
}

fn quote(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Static {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Static::Nil => f.write_str("nil"),
            Static::Bool(b) => write!(f, "{b}"),
            Static::Int(i) => write!(f, "{i}"),
            Static::Float(x) => {
                if x.fract() == 0.0 && x.is_finite() {
                    write!(f, "{x:.1}")
                } else {
                    write!(f, "{x}")
                }
            }
            Static::Str(s) => quote(f, s),
            Static::Duration(ns) => fmt_duration(f, *ns),
            Static::Status(s) => f.write_str(s.as_str()),
            Static::Kind(k) => f.write_str(k.as_str()),
        }
    }
}

/// Whether an attribute name can be written without quotes.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !"{}()=~!<>&|^,\"".contains(c) && !c.is_control())
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.parent {
            f.write_str("parent")?;
        }
        let scope = match self.scope {
            AttributeScope::Unscoped => "",
            AttributeScope::Span => "span",
            AttributeScope::Resource => "resource",
            AttributeScope::Event => "event",
            AttributeScope::Link => "link",
            AttributeScope::Instrumentation => "instrumentation",
        };
        if self.parent && !scope.is_empty() {
            f.write_str(".")?;
        }
        write!(f, "{scope}.")?;
        if plain_name(&self.name) {
            f.write_str(&self.name)
        } else {
            quote(f, &self.name)
        }
    }
}

impl fmt::Display for FieldExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldExpr::Static(s) => write!(f, "{s}"),
            FieldExpr::Attribute(a) => write!(f, "{a}"),
            FieldExpr::Intrinsic(i) => f.write_str(i.as_str()),
            FieldExpr::Binary { op, lhs, rhs } => write!(f, "({lhs} {} {rhs})", op.as_str()),
            FieldExpr::Unary { op, expr } => match op {
                UnaryOp::Not => write!(f, "!{expr}"),
                UnaryOp::Neg => write!(f, "-{expr}"),
            },
        }
    }
}

impl fmt::Display for ScalarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Aggregate { op, field } => match field {
                Some(e) => write!(f, "{}({e})", op.as_str()),
                None => write!(f, "{}()", op.as_str()),
            },
            ScalarExpr::Static(s) => write!(f, "{s}"),
            ScalarExpr::Binary { op, lhs, rhs } => write!(f, "({lhs} {} {rhs})", op.as_str()),
        }
    }
}

impl fmt::Display for SpansetExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpansetExpr::Filter(FieldExpr::Static(Static::Bool(true))) => f.write_str("{ }"),
            SpansetExpr::Filter(e) => write!(f, "{{ {e} }}"),
            SpansetExpr::Binary { op, lhs, rhs } => write!(f, "({lhs} {} {rhs})", op.as_str()),
            SpansetExpr::Group(p) => write!(f, "({p})"),
        }
    }
}

fn list(f: &mut fmt::Formatter<'_>, items: &[FieldExpr]) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.func {
            MetricsFunc::Rate => f.write_str("rate()")?,
            MetricsFunc::CountOverTime => f.write_str("count_over_time()")?,
            MetricsFunc::MinOverTime(e) => write!(f, "min_over_time({e})")?,
            MetricsFunc::MaxOverTime(e) => write!(f, "max_over_time({e})")?,
            MetricsFunc::AvgOverTime(e) => write!(f, "avg_over_time({e})")?,
            MetricsFunc::SumOverTime(e) => write!(f, "sum_over_time({e})")?,
            MetricsFunc::HistogramOverTime(e) => write!(f, "histogram_over_time({e})")?,
            MetricsFunc::QuantileOverTime(e, qs) => {
                write!(f, "quantile_over_time({e}")?;
                for q in qs {
                    write!(f, ", {}", Static::Float(*q))?;
                }
                f.write_str(")")?;
            }
            MetricsFunc::Compare {
                selection,
                top,
                range,
            } => {
                write!(f, "compare({selection}")?;
                if let Some(t) = top {
                    write!(f, ", {t}")?;
                }
                if let Some((s, e)) = range {
                    write!(f, ", {s}, {e}")?;
                }
                f.write_str(")")?;
            }
        }
        if !self.by.is_empty() {
            f.write_str(" by (")?;
            list(f, &self.by)?;
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Spanset(s) => write!(f, "{s}"),
            Stage::ScalarFilter { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.as_str()),
            Stage::By(v) => {
                f.write_str("by(")?;
                list(f, v)?;
                f.write_str(")")
            }
            Stage::Coalesce => f.write_str("coalesce()"),
            Stage::Select(v) => {
                f.write_str("select(")?;
                list(f, v)?;
                f.write_str(")")
            }
            Stage::Metrics(m) => write!(f, "{m}"),
            Stage::TopK { bottom, k } => {
                write!(f, "{}({k})", if *bottom { "bottomk" } else { "topk" })
            }
        }
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        for s in &self.stages {
            write!(f, " | {s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.pipeline)?;
        if !self.hints.is_empty() {
            f.write_str(" with (")?;
            for (i, (k, v)) in self.hints.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}
