//! Lookout's storage: the data model and the engines that keep metrics (and later logs and
//! traces) on disk.
//!
//! The contract is small. Writes go through [`Store::append`], which returns only once the
//! batch is in the write-ahead log, so an acknowledged write survives a process crash.
//! Reads go through [`Store::select`], [`Store::label_names`] and [`Store::label_values`],
//! bounded by `[mint, maxt]` and filtered by label matchers. This crate never knows about
//! HTTP, PromQL or scraping; nothing outside it sees WAL segments, chunks or Parquet files.

pub mod clock;
mod engine;
pub mod error;
pub mod limits;
mod logs;
pub mod memory;
pub mod metadata;
pub mod metrics;
pub mod model;
pub mod tenant;
pub(crate) mod traces;
pub mod wal;

mod store;

pub use clock::Clock;
pub use error::{Error, ErrorClass, Result};
pub use limits::{Reason, SeriesLimits};
pub use logs::{
    LogOptions, LogStats, LogStorageStats, NameCount, PartitionStats, LOG_FORMAT_VERSION,
};
pub use metadata::{MetadataSource, MetricMetadata};
pub use metrics::exemplars::{Exemplar, SeriesExemplars, DEFAULT_MAX_EXEMPLARS};
pub use metrics::stats::TsdbStats;
pub use model::{
    Direction, Label, LabelSet, Labels, LineFilter, LineSize, LogHit, LogRecord, LogSelect,
    LogStream, MatchOp, Matcher, Projection, Sample,
};
pub use store::{Store, StoreOptions, TenantLimits, TenantStats};
pub use tenant::TenantId;
pub use traces::{SpanOptions, SpanStats, TraceStorageStats, SPAN_FORMAT_VERSION};

/// Samples for one series in a write batch.
#[derive(Debug, Clone)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// A label set borrowed from a request buffer: (name, value) pairs sorted by name.
pub type LabelPairs<'a> = [(&'a str, &'a str)];

/// One series of a write batch whose labels borrow from a request buffer (remote_write's
/// zero-copy path): (name, value) pairs sorted by name, and the samples.
#[derive(Debug, Clone, Copy)]
pub struct BorrowedSeries<'a> {
    pub labels: &'a LabelPairs<'a>,
    pub samples: &'a [Sample],
}

/// A series as a read returns it: its labels and its samples in `[mint, maxt]`, sorted by
/// time, one sample per timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// Optional hints a reader passes to a select; the store may ignore them.
#[derive(Debug, Clone, Default)]
pub struct SelectHints {
    /// Only the label sets are needed (`/api/v1/series`), not the samples.
    pub series_only: bool,
    /// Stop after this many series (0: no limit).
    pub limit: usize,
    /// Set by the reader when it no longer wants the answer (a timeout, a client that hung
    /// up, a memory budget spent): the read stops between series and returns what it has,
    /// which the reader then discards.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The most series the reader can take (0: no limit): a selection with more is
    /// refused with [`Error::LimitExceeded`] before any sample is read, so a reader that
    /// knows what each series will cost it can refuse an oversized read for free.
    pub max_series: usize,
    /// The labels the reader will look at (an aggregation's grouping). The store may then
    /// return each series with only those labels, so that two series of the answer can
    /// carry the same label set; each series still comes once and in the order of its
    /// full label set.
    pub project: Option<Projection>,
    /// The reader looks only at each series' newest sample in the range (an instant
    /// selector): the store returns just that one, which the head has without decoding.
    pub newest_only: bool,
}

impl SelectHints {
    /// Whether the reader has cancelled the read.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Anything that takes metric writes: the local store, or the agent's forwarder.
pub trait Append: Send + Sync {
    /// Appends a batch. When this returns `Ok`, the batch is durable against a process crash.
    fn append(&self, tenant: &TenantId, batch: &[SeriesSamples]) -> Result<()>;

    /// The same for label sets borrowed from a request buffer. The default copies them
    /// into a [`SeriesSamples`] batch; the store looks series up without copying.
    fn append_borrowed(&self, tenant: &TenantId, batch: &[BorrowedSeries<'_>]) -> Result<()> {
        let owned: Vec<SeriesSamples> = batch
            .iter()
            .map(|s| SeriesSamples {
                labels: s.labels.to_labels(),
                samples: s.samples.to_vec(),
            })
            .collect();
        self.append(tenant, &owned)
    }

    /// Appends exemplars (trace ids attached to samples); durable when it returns `Ok`.
    /// The default drops them: a sink without exemplar storage (the agent's forwarder,
    /// whose remote_write does not carry them yet) takes the samples alone.
    fn append_exemplars(&self, tenant: &TenantId, batch: &[SeriesExemplars]) -> Result<()> {
        let _ = (tenant, batch);
        Ok(())
    }
}

/// Anything that takes log writes: the local store, or the agent's forwarder.
pub trait AppendLogs: Send + Sync {
    /// Appends a batch of streams. When this returns `Ok`, every record is durable against
    /// a process crash and becomes searchable within seconds. The batch is taken by value:
    /// its lines move into the store's head without a copy.
    fn append_logs(&self, tenant: &TenantId, batch: Vec<LogStream>) -> Result<()>;
}

/// Reads a tenant's logs. Every method bounds its work by `[start_ns, end_ns)`.
pub trait ReadLogs: Send + Sync {
    /// Calls `f` with each hit of `sel`, in `sel.direction` order, until the limit, the
    /// end, a cancel, or `f` returning `false`.
    fn select_logs(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
        f: &mut dyn FnMut(LogHit) -> bool,
    ) -> Result<()>;

    /// The timestamp, length and metadata of each line `sel` selects, in batches of one
    /// stream's lines (`f` gets the stream and a batch; batches come in no particular
    /// order) until the end, a cancel, or `f` returning `false`. Each entry `select_logs`
    /// would yield comes exactly once (repeats dropped as there); `sel.direction` and
    /// `sel.limit` are ignored. The default reads the lines through `select_logs`; the store
    /// reads only the leading columns of the chunks where that is exact.
    fn select_log_sizes(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
        f: &mut dyn FnMut(&std::sync::Arc<Labels>, &[LineSize]) -> bool,
    ) -> Result<()> {
        let sel = LogSelect {
            direction: Direction::Forward,
            limit: 0,
            ..sel.clone()
        };
        self.select_logs(tenant, &sel, &mut |h| {
            let size = LineSize {
                ts_ns: h.ts_ns,
                len: h.line.len(),
                metadata: h.metadata,
            };
            f(&h.stream, std::slice::from_ref(&size))
        })
    }

    /// The label sets of the streams matching `matchers` with a record in the range.
    fn log_streams(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>>;

    /// Stream label names of streams matching `matchers` (all streams when empty), sorted.
    fn log_label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>>;

    /// Values of stream label `name` among streams matching `matchers`, sorted.
    fn log_label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>>;
}

/// What a trace scan reads: traces with a span starting in `[start_ns, end_ns)`, newest
/// first, until the reader stops or `cancel` is set.
///
/// With `spans` set, only traces in which, for every predicate, some span starting in the
/// range satisfies it: a necessary condition the reader derives from its query and then
/// checks in full on each trace it gets, so the store may return more, never fewer. The
/// store prunes files and row groups that cannot hold such a span and assembles only the
/// traces that have one.
#[derive(Debug, Clone, Default)]
pub struct TraceSelect {
    pub start_ns: i64,
    pub end_ns: i64,
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Each must be satisfied by some span of the trace (not necessarily the same span).
    pub spans: Vec<SpanPredicate>,
    /// When set, the scan adds what it read to it.
    pub stats: Option<std::sync::Arc<ScanStats>>,
}

impl TraceSelect {
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// How a string field must match.
#[derive(Debug, Clone, PartialEq)]
pub enum StrMatch {
    /// Equal to a string value (TraceQL `=`; values of other types never match).
    Eq(String),
    /// The value (strings, numbers and booleans rendered as text) contains this, compared
    /// lowercase (the `tags` search); hold the needle lowercase.
    ContainsFold(String),
}

impl StrMatch {
    /// Whether `v` matches.
    pub fn matches_str(&self, v: &str) -> bool {
        match self {
            StrMatch::Eq(w) => v == w,
            StrMatch::ContainsFold(w) => v.to_lowercase().contains(w.as_str()),
        }
    }

    /// Whether an attribute value matches.
    pub fn matches_value(&self, v: &model::span::AttrValue) -> bool {
        use model::span::AttrValue;
        match (self, v) {
            (StrMatch::Eq(w), AttrValue::Str(s)) => s == w,
            (StrMatch::Eq(_), _) => false,
            (StrMatch::ContainsFold(_), AttrValue::Str(s)) => self.matches_str(s),
            (StrMatch::ContainsFold(_), AttrValue::Int(i)) => self.matches_str(&i.to_string()),
            (StrMatch::ContainsFold(_), AttrValue::Float(f)) => self.matches_str(&f.to_string()),
            (StrMatch::ContainsFold(_), AttrValue::Bool(b)) => self.matches_str(&b.to_string()),
            (StrMatch::ContainsFold(_), _) => false,
        }
    }
}

/// Which attributes an attribute condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrWhere {
    Resource,
    Span,
    /// The span's or its resource's (TraceQL's unscoped `.x`, a `tags` key).
    Either,
}

/// One condition on one span.
#[derive(Debug, Clone, PartialEq)]
pub enum SpanCond {
    Name(StrMatch),
    Status(model::span::StatusCode),
    Kind(model::span::SpanKind),
    /// Duration ≥ this many ns.
    MinDuration(i64),
    /// Duration ≤ this many ns.
    MaxDuration(i64),
    /// Some attribute `key` in `scope` matches.
    Attr {
        scope: AttrWhere,
        key: String,
        value: StrMatch,
    },
}

impl SpanCond {
    /// `resource.service.name = service`.
    pub fn service(service: &str) -> SpanCond {
        SpanCond::Attr {
            scope: AttrWhere::Resource,
            key: "service.name".into(),
            value: StrMatch::Eq(service.into()),
        }
    }

    /// Whether a span (with its resource's attributes) satisfies the condition.
    pub fn matches(&self, resource: &model::span::Attributes, span: &model::span::Span) -> bool {
        let any = |attrs: &model::span::Attributes, key: &str, m: &StrMatch| {
            attrs.iter().any(|(k, v)| k == key && m.matches_value(v))
        };
        match self {
            SpanCond::Name(m) => m.matches_str(&span.name),
            SpanCond::Status(s) => span.status == *s,
            SpanCond::Kind(k) => span.kind == *k,
            SpanCond::MinDuration(d) => span.end_ns.wrapping_sub(span.start_ns) >= *d,
            SpanCond::MaxDuration(d) => span.end_ns.wrapping_sub(span.start_ns) <= *d,
            SpanCond::Attr { scope, key, value } => {
                (*scope != AttrWhere::Resource && any(&span.attributes, key, value))
                    || (*scope != AttrWhere::Span && any(resource, key, value))
            }
        }
    }

    /// Whether it reads attributes beyond the dedicated service name column.
    pub(crate) fn reads_attributes(&self) -> bool {
        match self {
            SpanCond::Attr { scope, key, value } => {
                !(*scope == AttrWhere::Resource
                    && key == "service.name"
                    && matches!(value, StrMatch::Eq(_)))
            }
            _ => false,
        }
    }
}

/// A conjunction of conditions one span must satisfy (empty: any span).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanPredicate {
    pub all: Vec<SpanCond>,
}

impl SpanPredicate {
    pub fn matches(&self, resource: &model::span::Attributes, span: &model::span::Span) -> bool {
        self.all.iter().all(|c| c.matches(resource, span))
    }
}

/// What a trace scan read, for tests, benchmarks and a search's `inspected*` figures.
#[derive(Debug, Default)]
pub struct ScanStats {
    /// Span files opened for reading.
    pub files: std::sync::atomic::AtomicU64,
    /// Parquet row groups decoded.
    pub row_groups: std::sync::atomic::AtomicU64,
    /// Rows (spans) of files and heads looked at.
    pub rows: std::sync::atomic::AtomicU64,
    /// Compressed bytes of the column chunks decoded.
    pub bytes: std::sync::atomic::AtomicU64,
}

impl ScanStats {
    /// (files, row groups, rows, bytes) so far.
    pub fn get(&self) -> (u64, u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.files.load(Relaxed),
            self.row_groups.load(Relaxed),
            self.rows.load(Relaxed),
            self.bytes.load(Relaxed),
        )
    }

    pub(crate) fn add(&self, files: u64, row_groups: u64, rows: u64, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.files.fetch_add(files, Relaxed);
        self.row_groups.fetch_add(row_groups, Relaxed);
        self.rows.fetch_add(rows, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
    }
}

/// Attribute names seen in a time range, per scope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanAttributeNames {
    pub resource: Vec<String>,
    pub span: Vec<String>,
    pub event: Vec<String>,
    pub link: Vec<String>,
    pub instrumentation: Vec<String>,
}

/// Where an attribute lives, for value lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanAttributeScope {
    Resource,
    Span,
    Event,
    Link,
    Instrumentation,
}

/// Anything that takes spans: the local store, or the agent's forwarder.
pub trait AppendSpans: Send + Sync {
    /// Appends spans. When this returns `Ok`, they are durable against a process crash.
    fn append_spans(&self, tenant: &TenantId, batch: &[model::span::ResourceSpans]) -> Result<()>;
}

/// Reads a tenant's traces.
pub trait ReadSpans: Send + Sync {
    /// Every span of a trace with a span in `[start_ns, end_ns)` (the whole trace, not only
    /// the spans in the range), grouped by resource and scope; empty when there is none.
    fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: &model::span::TraceId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<model::span::ResourceSpans>>;

    /// Calls `f` with each trace of `sel` (all its spans), newest first, until `f`
    /// returns `false`.
    fn scan_traces(
        &self,
        tenant: &TenantId,
        sel: &TraceSelect,
        f: &mut dyn FnMut(Vec<model::span::ResourceSpans>) -> bool,
    ) -> Result<()>;

    /// Attribute names of spans in the range, per scope, sorted.
    fn span_attribute_names(
        &self,
        tenant: &TenantId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<SpanAttributeNames>;

    /// Distinct values of an attribute in the range, at most `limit` (0: all).
    fn span_attribute_values(
        &self,
        tenant: &TenantId,
        scope: SpanAttributeScope,
        name: &str,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
    ) -> Result<Vec<model::span::AttrValue>>;
}
