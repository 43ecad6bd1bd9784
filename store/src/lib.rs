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
pub use logs::{LogOptions, LogStats, PartitionStats, LOG_FORMAT_VERSION};
pub use metadata::{MetadataSource, MetricMetadata};
pub use metrics::exemplars::{Exemplar, SeriesExemplars, DEFAULT_MAX_EXEMPLARS};
pub use metrics::stats::TsdbStats;
pub use model::{
    Direction, Label, LabelSet, Labels, LineFilter, LogHit, LogRecord, LogSelect, LogStream,
    MatchOp, Matcher, Sample,
};
pub use store::{Store, StoreOptions, TenantLimits, TenantStats};
pub use tenant::TenantId;
pub use traces::{SpanOptions, SPAN_FORMAT_VERSION};

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
    /// a process crash and becomes searchable within seconds.
    fn append_logs(&self, tenant: &TenantId, batch: &[LogStream]) -> Result<()>;
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
#[derive(Debug, Clone, Default)]
pub struct TraceSelect {
    pub start_ns: i64,
    pub end_ns: i64,
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl TraceSelect {
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
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
