//! The log data model every crate shares: a record (timestamp, line, structured metadata),
//! a stream (stream labels and its records) as writers hand them in, and what a log read
//! asks for and yields.
//!
//! Stream labels are the low-cardinality set a LogQL stream selector matches (`job`,
//! `host`, `service_name`, `level`). Everything per line that is not a stream label
//! (OTel attributes, trace and span ids, Loki's structured metadata) is the record's
//! `metadata`: kept with the line, returned with it, never indexed as a stream.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{Labels, Matcher};

/// One log line as it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    pub line: String,
    /// Structured metadata: (name, value) pairs, sorted by name, names unique. OTLP's
    /// `trace_id` and `span_id` live here, hex-encoded, under those names.
    pub metadata: Vec<(String, String)>,
}

/// The records of one stream in a write batch.
#[derive(Debug, Clone, PartialEq)]
pub struct LogStream {
    /// The stream labels, sorted by name (no `__name__`).
    pub labels: Labels,
    pub records: Vec<LogRecord>,
}

/// The order a log read yields its hits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Newest first (Loki's default, `direction=backward`).
    #[default]
    Backward,
    /// Oldest first (`direction=forward`).
    Forward,
}

/// A line filter a log read applies exactly: a hit the store yields satisfies every filter
/// of its [`LogSelect`], checked on the stored line (the index only narrows candidates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFilter {
    /// `|= "text"`: the line contains `text` (byte-exact, case-sensitive).
    Contains(String),
    /// `!= "text"`.
    NotContains(String),
    /// `|~ "re"`: the regex (Rust `regex` syntax, unanchored) matches somewhere in the line.
    Regex(String),
    /// `!~ "re"`.
    NotRegex(String),
}

/// What a log read selects: the streams whose labels match every matcher, their records
/// with `start_ns <= ts_ns < end_ns` that pass every line filter, in `direction` order,
/// at most `limit` of them (0: all).
#[derive(Debug, Clone, Default)]
pub struct LogSelect {
    pub matchers: Vec<Matcher>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub filters: Vec<LineFilter>,
    /// Label equalities every record must satisfy, as LogQL's `| name="value"` reads them
    /// before any parser stage: the stream's label `name` when the stream has one, else the
    /// record's first structured metadata entry `name` (absent reads ""). Applied exactly;
    /// the index narrows by them (how `| trace_id="..."` finds a trace's lines fast).
    pub label_eq: Vec<(String, String)>,
    pub direction: Direction,
    pub limit: usize,
    /// Set by the reader when it no longer wants the answer; the read stops soon after.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl LogSelect {
    /// Whether the reader has cancelled the read.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// One line of a size-only read ([`crate::ReadLogs::select_log_sizes`]): what a metric
/// query that counts lines or their bytes needs, without the line's text.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSize {
    pub ts_ns: i64,
    /// The line's length in bytes.
    pub len: usize,
    /// Empty for nearly every line, so it costs no allocation.
    pub metadata: Vec<(String, String)>,
}

/// One line a log read yields.
#[derive(Debug, Clone, PartialEq)]
pub struct LogHit {
    /// The stream's labels; shared by every hit of the stream.
    pub stream: Arc<Labels>,
    pub ts_ns: i64,
    pub line: String,
    pub metadata: Vec<(String, String)>,
}
