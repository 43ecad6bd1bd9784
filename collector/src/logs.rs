//! The path every log source shares (Loki push, OTLP, syslog): a request's lines are
//! gathered into a [`Batch`] that checks each stream and line against [`LogLimits`] as it
//! is built, then [`LogIngest::ingest`] checks the tenant's stream limit and appends the
//! batch to the store.
//!
//! Refusals follow Loki: a line or stream that breaks a limit is left out and named in the
//! answer (400), the rest of the request is stored, so one bad line does not cost a
//! client its whole batch; a refusal that a retry may cure (the active-stream limit, 429)
//! refuses the whole request, so a retry does not store the same lines twice.

use std::collections::HashMap;
use std::sync::Arc;

use lookout_store::model::labels::is_valid_label_name;
use lookout_store::{AppendLogs, Clock, Label, Labels, LogRecord, LogStream, TenantId};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::metrics;

/// Limits on log writes. 0 means no limit for every size and count.
#[derive(Debug, Clone)]
pub struct LogLimits {
    /// Longest line, bytes (`limits.max_line_size`).
    pub max_line_size: usize,
    /// Cut longer lines to `max_line_size` instead of refusing them
    /// (`limits.max_line_size_truncate`).
    pub max_line_size_truncate: bool,
    /// Most labels on a stream (`limits.max_label_names_per_series`).
    pub max_label_names_per_stream: usize,
    /// Longest label name, bytes (`limits.max_label_name_length`).
    pub max_label_name_length: usize,
    /// Longest label value, bytes (`limits.max_label_value_length`).
    pub max_label_value_length: usize,
    /// Most bytes of structured metadata on one line, names and values
    /// (`limits.max_structured_metadata_size`).
    pub max_structured_metadata_size: usize,
    /// Most structured metadata entries on one line
    /// (`limits.max_structured_metadata_entries_count`).
    pub max_structured_metadata_entries: usize,
    /// Lines stamped more than this many ms ahead of the clock are refused
    /// (`limits.max_future`).
    pub max_future_ms: i64,
    /// Most active streams of one tenant (`limits.max_global_streams_per_user`).
    pub max_streams_per_tenant: usize,
    /// Largest request body once decompressed (`limits.max_decoded_body_size`).
    pub max_decoded_bytes: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            max_line_size: 256 << 10,
            max_line_size_truncate: false,
            max_label_names_per_stream: 64,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_structured_metadata_size: 64 << 10,
            max_structured_metadata_entries: 128,
            max_future_ms: 10 * 60_000,
            max_streams_per_tenant: 5000,
            max_decoded_bytes: 128 << 20,
        }
    }
}

/// Why log lines were refused: the `reason` label of `lookout_logs_lines_rejected_total`,
/// named as Loki names its discarded-samples reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogReason {
    LineTooLong,
    TooFarInFuture,
    InvalidTimestamp,
    InvalidLabels,
    TooManyLabels,
    LabelNameTooLong,
    LabelValueTooLong,
    MetadataTooLarge,
    MetadataTooMany,
    StreamLimit,
}

impl LogReason {
    pub const ALL: [LogReason; 10] = [
        LogReason::LineTooLong,
        LogReason::TooFarInFuture,
        LogReason::InvalidTimestamp,
        LogReason::InvalidLabels,
        LogReason::TooManyLabels,
        LogReason::LabelNameTooLong,
        LogReason::LabelValueTooLong,
        LogReason::MetadataTooLarge,
        LogReason::MetadataTooMany,
        LogReason::StreamLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LogReason::LineTooLong => "line_too_long",
            LogReason::TooFarInFuture => "too_far_in_future",
            LogReason::InvalidTimestamp => "invalid_timestamp",
            LogReason::InvalidLabels => "invalid_labels",
            LogReason::TooManyLabels => "max_label_names_per_series",
            LogReason::LabelNameTooLong => "label_name_too_long",
            LogReason::LabelValueTooLong => "label_value_too_long",
            LogReason::MetadataTooLarge => "structured_metadata_too_large",
            LogReason::MetadataTooMany => "structured_metadata_too_many",
            LogReason::StreamLimit => "stream_limit",
        }
    }
}

/// Where a batch's lines came from: the `protocol` label of the ingest counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    LokiPush,
    Otlp,
    Syslog,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::LokiPush, Protocol::Otlp, Protocol::Syslog];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::LokiPush => "loki_push",
            Protocol::Otlp => "otlp",
            Protocol::Syslog => "syslog",
        }
    }
}

/// One request's streams as they are built, with the lines refused on the way.
pub struct Batch<'l> {
    limits: &'l LogLimits,
    max_ts_ns: i64,
    now_ns: i64,
    index: HashMap<Labels, usize>,
    streams: Vec<LogStream>,
    bytes: usize,
    /// Bytes of lines and metadata held: a request may not expand past
    /// `max_decoded_bytes` (OTLP repeats resource attributes on every line).
    held: usize,
    overflow: bool,
    rejected: Vec<(LogReason, u64)>,
    first_error: Option<String>,
}

/// A stream of a [`Batch`]: where its lines go, or the refusal they share.
#[derive(Debug, Clone, Copy)]
pub enum StreamRef {
    Index(usize),
    Refused(LogReason),
}

impl<'l> Batch<'l> {
    /// An empty batch checked against `limits`, with the clock reading `now_ms`.
    pub fn new(limits: &'l LogLimits, now_ms: i64) -> Batch<'l> {
        let now_ns = now_ms.saturating_mul(1_000_000);
        let max_ts_ns = if limits.max_future_ms > 0 {
            now_ns.saturating_add(limits.max_future_ms.saturating_mul(1_000_000))
        } else {
            i64::MAX
        };
        Batch {
            limits,
            max_ts_ns,
            now_ns,
            index: HashMap::new(),
            streams: Vec::new(),
            bytes: 0,
            held: 0,
            overflow: false,
            rejected: Vec::new(),
            first_error: None,
        }
    }

    pub fn limits(&self) -> &LogLimits {
        self.limits
    }

    /// The clock's reading, ns: the timestamp of lines that come without one.
    pub fn now_ns(&self) -> i64 {
        self.now_ns
    }

    fn refuse(&mut self, reason: LogReason, n: u64, msg: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        match self.rejected.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, c)) => *c += n,
            None => self.rejected.push((reason, n)),
        }
        if self.first_error.is_none() {
            self.first_error = Some(msg());
        }
    }

    /// Counts `n` lines refused for a reason found outside the batch (a decoder's).
    pub fn refuse_lines(&mut self, reason: LogReason, n: u64, msg: String) {
        self.refuse(reason, n, || msg);
    }

    /// Registers a stream by its labels (in any order; empty values are dropped, as an
    /// empty value is the same as no label). Invalid label sets give a [`StreamRef::Refused`]
    /// whose lines [`Batch::push`] counts as refused.
    pub fn stream(&mut self, pairs: Vec<(String, String)>) -> StreamRef {
        match self.check_labels(pairs) {
            Ok(labels) => {
                if let Some(&i) = self.index.get(&labels) {
                    return StreamRef::Index(i);
                }
                let i = self.streams.len();
                self.index.insert(labels.clone(), i);
                self.streams.push(LogStream {
                    labels,
                    records: Vec::new(),
                });
                StreamRef::Index(i)
            }
            Err((reason, msg)) => {
                if self.first_error.is_none() {
                    self.first_error = Some(msg);
                }
                StreamRef::Refused(reason)
            }
        }
    }

    fn check_labels(
        &self,
        mut pairs: Vec<(String, String)>,
    ) -> std::result::Result<Labels, (LogReason, String)> {
        pairs.retain(|(_, v)| !v.is_empty());
        pairs.sort();
        let shown = || {
            let mut s = String::from("{");
            for (i, (n, v)) in pairs.iter().take(8).enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(&format!("{}={:?}", prefix(n, 64), prefix(v, 64)));
            }
            if pairs.len() > 8 {
                s.push_str(", …");
            }
            s.push('}');
            s
        };
        if pairs.is_empty() {
            return Err((
                LogReason::InvalidLabels,
                "a stream has no labels: at least one label with a non-empty value is required per stream".into(),
            ));
        }
        let l = self.limits;
        if l.max_label_names_per_stream > 0 && pairs.len() > l.max_label_names_per_stream {
            return Err((
                LogReason::TooManyLabels,
                format!(
                    "stream {} has {} labels, over the limit of {} (limits.max_label_names_per_series)",
                    shown(),
                    pairs.len(),
                    l.max_label_names_per_stream
                ),
            ));
        }
        for (i, (n, v)) in pairs.iter().enumerate() {
            if !is_valid_label_name(n) {
                return Err((
                    LogReason::InvalidLabels,
                    format!(
                        "label name {:?} of stream {} is invalid: stream label names must match [a-zA-Z_][a-zA-Z0-9_]*",
                        prefix(n, 64),
                        shown()
                    ),
                ));
            }
            if i > 0 && pairs[i - 1].0 == *n {
                return Err((
                    LogReason::InvalidLabels,
                    format!("stream {} has the label {n:?} twice", shown()),
                ));
            }
            if l.max_label_name_length > 0 && n.len() > l.max_label_name_length {
                return Err((
                    LogReason::LabelNameTooLong,
                    format!(
                        "label name {:?}… is {} bytes, over the limit of {} (limits.max_label_name_length)",
                        prefix(n, 64),
                        n.len(),
                        l.max_label_name_length
                    ),
                ));
            }
            if l.max_label_value_length > 0 && v.len() > l.max_label_value_length {
                return Err((
                    LogReason::LabelValueTooLong,
                    format!(
                        "value of label {n:?} of stream {} is {} bytes, over the limit of {} (limits.max_label_value_length)",
                        shown(),
                        v.len(),
                        l.max_label_value_length
                    ),
                ));
            }
        }
        Ok(Labels::from_sorted(
            pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect(),
        ))
    }

    /// Adds a line to a stream, or counts it refused. `metadata` may come in any order;
    /// a name given twice keeps its last value.
    pub fn push(
        &mut self,
        stream: StreamRef,
        ts_ns: i64,
        mut line: String,
        mut metadata: Vec<(String, String)>,
    ) {
        let i = match stream {
            StreamRef::Index(i) => i,
            StreamRef::Refused(reason) => {
                self.refuse(reason, 1, String::new);
                return;
            }
        };
        let l = self.limits;
        if l.max_line_size > 0 && line.len() > l.max_line_size {
            if l.max_line_size_truncate {
                let mut cut = l.max_line_size;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
            } else {
                let labels = &self.streams[i].labels;
                let msg = format!(
                    "a line of stream {} is {} bytes, over the limit of {} (limits.max_line_size)",
                    short(labels),
                    line.len(),
                    l.max_line_size
                );
                self.refuse(LogReason::LineTooLong, 1, || msg);
                return;
            }
        }
        if ts_ns > self.max_ts_ns {
            let msg = format!(
                "a line of stream {} has timestamp {ts_ns} ns, more than {} ahead of the server's clock (limits.max_future)",
                short(&self.streams[i].labels),
                lookout_store::limits::fmt_ms(l.max_future_ms)
            );
            self.refuse(LogReason::TooFarInFuture, 1, || msg);
            return;
        }
        if !metadata.is_empty() {
            // Stable sort then keep the last of equal names: the last value given wins.
            metadata.sort_by(|a, b| a.0.cmp(&b.0));
            let mut j = 0;
            while j + 1 < metadata.len() {
                if metadata[j].0 == metadata[j + 1].0 {
                    metadata.remove(j);
                } else {
                    j += 1;
                }
            }
            metadata.retain(|(n, _)| !n.is_empty());
            if l.max_structured_metadata_entries > 0
                && metadata.len() > l.max_structured_metadata_entries
            {
                let msg = format!(
                    "a line of stream {} has {} structured metadata entries, over the limit of {} (limits.max_structured_metadata_entries_count)",
                    short(&self.streams[i].labels),
                    metadata.len(),
                    l.max_structured_metadata_entries
                );
                self.refuse(LogReason::MetadataTooMany, 1, || msg);
                return;
            }
            let size: usize = metadata.iter().map(|(n, v)| n.len() + v.len()).sum();
            if l.max_structured_metadata_size > 0 && size > l.max_structured_metadata_size {
                let msg = format!(
                    "a line of stream {} has {size} bytes of structured metadata, over the limit of {} (limits.max_structured_metadata_size)",
                    short(&self.streams[i].labels),
                    l.max_structured_metadata_size
                );
                self.refuse(LogReason::MetadataTooLarge, 1, || msg);
                return;
            }
        }
        let size = line.len()
            + metadata
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
        self.held += size;
        if l.max_decoded_bytes > 0 && self.held > l.max_decoded_bytes {
            self.overflow = true;
            return;
        }
        self.bytes += line.len();
        self.streams[i].records.push(LogRecord {
            ts_ns,
            line,
            metadata,
        });
    }

    /// Whether the request has expanded past what one request may hold; a decoder stops
    /// adding lines then, and [`LogIngest::ingest`] refuses the request (413).
    pub fn full(&self) -> bool {
        self.overflow
    }

    /// Lines accepted so far.
    pub fn lines(&self) -> usize {
        self.streams.iter().map(|s| s.records.len()).sum()
    }

    /// Lines refused so far.
    pub fn refused(&self) -> u64 {
        self.rejected.iter().map(|(_, n)| n).sum()
    }

    /// The streams with at least one line, for tests and doubles.
    pub fn into_streams(self) -> Vec<LogStream> {
        self.streams
            .into_iter()
            .filter(|s| !s.records.is_empty())
            .collect()
    }
}

/// What became of a request's lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub accepted: u64,
    pub rejected: u64,
    /// The first refusal, with counts, when any line was refused.
    pub message: Option<String>,
}

/// Streams that received a line recently, per tenant: what `limits.max_global_streams_per_user`
/// counts. A stream idle for [`STREAM_IDLE_MS`] stops counting.
#[derive(Default)]
struct ActiveStreams {
    tenants: Mutex<HashMap<TenantId, HashMap<u64, i64>>>,
}

/// How long a stream without new lines still counts as active (Loki's streams stay in an
/// ingester's memory for about as long after their last line).
pub const STREAM_IDLE_MS: i64 = 3_600_000;

impl ActiveStreams {
    /// Marks the streams active at `now_ms`, or refuses them all if the new ones would take
    /// the tenant past `max`.
    fn admit(
        &self,
        tenant: &TenantId,
        streams: &[LogStream],
        max: usize,
        now_ms: i64,
    ) -> Result<()> {
        let hashes: Vec<u64> = streams.iter().map(|s| s.labels.hash64()).collect();
        let mut tenants = self.tenants.lock();
        let active = tenants.entry(tenant.clone()).or_default();
        let new = |active: &HashMap<u64, i64>| {
            let mut seen: Vec<u64> = hashes
                .iter()
                .copied()
                .filter(|h| !active.contains_key(h))
                .collect();
            seen.sort_unstable();
            seen.dedup();
            seen.len()
        };
        let mut fresh = new(active);
        if fresh > 0 && active.len() + fresh > max {
            active.retain(|_, seen| now_ms.saturating_sub(*seen) < STREAM_IDLE_MS);
            fresh = new(active);
        }
        if fresh > 0 && active.len() + fresh > max {
            return Err(Error::LimitExceeded(format!(
                "stream limit reached: the tenant has {} active streams and this request adds {fresh}, over the limit of {max} (limits.max_global_streams_per_user); reduce the number of label values or raise the limit (a stream without lines for 1h stops counting)",
                active.len()
            )));
        }
        for h in hashes {
            active.insert(h, now_ms);
        }
        Ok(())
    }
}

/// Everything a log source needs to store what it decoded: the sink, the limits, the clock
/// and the active-stream counts they share.
#[derive(Clone)]
pub struct LogIngest {
    pub sink: Arc<dyn AppendLogs>,
    pub limits: Arc<LogLimits>,
    pub clock: Clock,
    active: Arc<ActiveStreams>,
}

impl LogIngest {
    pub fn new(sink: Arc<dyn AppendLogs>, limits: LogLimits, clock: Clock) -> LogIngest {
        LogIngest {
            sink,
            limits: Arc::new(limits),
            clock,
            active: Arc::default(),
        }
    }

    /// A new batch under these limits, at the clock's time.
    pub fn batch(&self) -> Batch<'_> {
        Batch::new(&self.limits, self.clock.now_ms())
    }

    /// Checks the stream limit and appends the batch (blocking: call it off the async
    /// threads). `Ok` says what was stored and what was refused; the caller decides how a
    /// partial refusal is answered.
    pub fn ingest(
        &self,
        tenant: &TenantId,
        protocol: Protocol,
        batch: Batch<'_>,
    ) -> Result<Outcome> {
        if batch.overflow {
            return Err(Error::TooLarge(format!(
                "the request's lines and structured metadata take more than {} bytes once decoded (limits.max_decoded_body_size); send smaller batches",
                self.limits.max_decoded_bytes
            )));
        }
        let refused = batch.refused();
        let mut message = batch.first_error.clone();
        let rejected = batch.rejected.clone();
        let bytes = batch.bytes;
        let streams = batch.into_streams();
        let accepted: u64 = streams.iter().map(|s| s.records.len() as u64).sum();
        if !streams.is_empty() {
            let max = self.limits.max_streams_per_tenant;
            if max > 0 {
                if let Err(e) = self
                    .active
                    .admit(tenant, &streams, max, self.clock.now_ms())
                {
                    metrics::record_log_rejected(LogReason::StreamLimit, accepted + refused);
                    return Err(e);
                }
            }
            self.sink.append_logs(tenant, streams)?;
        }
        for (reason, n) in &rejected {
            metrics::record_log_rejected(*reason, *n);
        }
        metrics::record_logs(protocol, accepted, bytes as u64);
        if refused > 0 {
            let first = message.take().unwrap_or_default();
            let kinds: Vec<String> = rejected
                .iter()
                .map(|(r, n)| format!("{n} {}", r.as_str()))
                .collect();
            message = Some(format!(
                "{refused} of {} lines were refused ({}), the other {accepted} were stored; first refusal: {first}",
                refused + accepted,
                kinds.join(", ")
            ));
        }
        Ok(Outcome {
            accepted,
            rejected: refused,
            message,
        })
    }
}

/// The first `n` bytes of `s` (cut at a character boundary), for messages.
pub(crate) fn prefix(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut cut = n;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// A label set for a message, shortened.
fn short(labels: &Labels) -> String {
    let s = labels.to_string();
    if s.len() <= 200 {
        s
    } else {
        format!("{}…", prefix(&s, 200))
    }
}

/// Reads `body`, decompressed per `Content-Encoding` (gzip, deflate, snappy framed or
/// none), refusing more than `max` decoded bytes with a 413 that names the limit.
pub fn decode_body(encoding: Option<&str>, body: &[u8], max: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let too_large = || {
        Error::TooLarge(format!(
            "the decompressed body is over the limit of {max} bytes (limits.max_decoded_body_size); send smaller batches"
        ))
    };
    let read_all = |mut r: Box<dyn Read + '_>, what: &str| -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let cap = if max == 0 { u64::MAX } else { max as u64 + 1 };
        (&mut r)
            .take(cap)
            .read_to_end(&mut out)
            .map_err(|e| Error::BadRequest(format!("the body is not valid {what}: {e}")))?;
        if max > 0 && out.len() > max {
            return Err(too_large());
        }
        Ok(out)
    };
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => {
            if max > 0 && body.len() > max {
                return Err(too_large());
            }
            Ok(body.to_vec())
        }
        Some("gzip") | Some("x-gzip") => {
            read_all(Box::new(flate2::read::MultiGzDecoder::new(body)), "gzip")
        }
        Some("deflate") => read_all(Box::new(flate2::read::ZlibDecoder::new(body)), "deflate (zlib)"),
        Some(other) => Err(Error::UnsupportedMediaType(format!(
            "Content-Encoding {other:?} is not supported: send gzip, deflate or an uncompressed body"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An [`AppendLogs`] that keeps what it is given.
    #[derive(Default)]
    pub(crate) struct Capture(pub Mutex<Vec<(TenantId, Vec<LogStream>)>>);

    impl AppendLogs for Capture {
        fn append_logs(
            &self,
            tenant: &TenantId,
            batch: Vec<LogStream>,
        ) -> lookout_store::Result<()> {
            self.0.lock().push((tenant.clone(), batch));
            Ok(())
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn streams_merge_and_labels_sort() {
        let limits = LogLimits::default();
        let mut b = Batch::new(&limits, 1000);
        let s1 = b.stream(pairs(&[("job", "a"), ("env", "p"), ("empty", "")]));
        let s2 = b.stream(pairs(&[("env", "p"), ("job", "a")]));
        b.push(s1, 1, "x".into(), vec![]);
        b.push(
            s2,
            2,
            "y".into(),
            pairs(&[("b", "1"), ("a", "2"), ("b", "3")]),
        );
        let streams = b.into_streams();
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].labels.to_string(), r#"{env="p", job="a"}"#);
        assert_eq!(
            streams[0].records[1].metadata,
            pairs(&[("a", "2"), ("b", "3")])
        );
    }

    #[test]
    fn limits_refuse_lines_and_name_the_key() {
        let limits = LogLimits {
            max_line_size: 4,
            max_label_names_per_stream: 2,
            max_structured_metadata_entries: 1,
            ..Default::default()
        };
        let mut b = Batch::new(&limits, 1000);
        let ok = b.stream(pairs(&[("job", "a")]));
        let bad = b.stream(pairs(&[("a", "1"), ("b", "1"), ("c", "1")]));
        let bad_name = b.stream(pairs(&[("a.b", "1")]));
        b.push(ok, 1, "12345".into(), vec![]);
        b.push(ok, 1, "1234".into(), vec![]);
        b.push(ok, 1, "1".into(), pairs(&[("x", "1"), ("y", "2")]));
        b.push(ok, 1_000_000_000_000, "1".into(), vec![]);
        b.push(bad, 1, "1".into(), vec![]);
        b.push(bad_name, 1, "1".into(), vec![]);
        assert_eq!(b.lines(), 1);
        assert_eq!(b.refused(), 5);
        let sink = Arc::new(Capture::default());
        let ingest = LogIngest::new(sink.clone(), limits.clone(), Clock::fixed(1000));
        let mut b = ingest.batch();
        let ok = b.stream(pairs(&[("job", "a")]));
        b.push(ok, 1, "12345".into(), vec![]);
        b.push(ok, 1, "1".into(), vec![]);
        let out = ingest
            .ingest(&TenantId::default_tenant(), Protocol::LokiPush, b)
            .unwrap();
        assert_eq!((out.accepted, out.rejected), (1, 1));
        let msg = out.message.unwrap();
        assert!(
            msg.contains("limits.max_line_size") && msg.contains("line_too_long"),
            "{msg}"
        );
        assert_eq!(sink.0.lock().len(), 1);
    }

    #[test]
    fn truncation_keeps_utf8() {
        let limits = LogLimits {
            max_line_size: 4,
            max_line_size_truncate: true,
            ..Default::default()
        };
        let mut b = Batch::new(&limits, 0);
        let s = b.stream(pairs(&[("job", "a")]));
        b.push(s, 0, "abcé".into(), vec![]);
        assert_eq!(b.into_streams()[0].records[0].line, "abc");
    }

    #[test]
    fn stream_limit_refuses_the_whole_request() {
        let limits = LogLimits {
            max_streams_per_tenant: 2,
            ..Default::default()
        };
        let sink = Arc::new(Capture::default());
        let clock = Clock::fixed(0);
        let ingest = LogIngest::new(sink.clone(), limits, clock.clone());
        let t = TenantId::default_tenant();
        let push = |vals: &[&str]| {
            let mut b = ingest.batch();
            for v in vals {
                let s = b.stream(pairs(&[("job", v)]));
                b.push(s, 0, "l".into(), vec![]);
            }
            ingest.ingest(&t, Protocol::LokiPush, b)
        };
        push(&["a", "b"]).unwrap();
        push(&["a", "b"]).unwrap();
        let e = push(&["a", "c"]).unwrap_err();
        assert_eq!(e.status(), 429);
        assert!(e.to_string().contains("max_global_streams_per_user"), "{e}");
        assert_eq!(sink.0.lock().len(), 2);
        clock.set(STREAM_IDLE_MS + 1);
        push(&["c"]).unwrap();
    }

    #[test]
    fn bodies_are_bounded_when_decompressed() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![b'a'; 10_000]).unwrap();
        let z = gz.finish().unwrap();
        assert_eq!(decode_body(Some("gzip"), &z, 10_000).unwrap().len(), 10_000);
        let e = decode_body(Some("gzip"), &z, 9_999).unwrap_err();
        assert_eq!(e.status(), 413);
        assert!(e.to_string().contains("max_decoded_body_size"));
        assert_eq!(
            decode_body(Some("gzip"), b"nope", 10).unwrap_err().status(),
            400
        );
        assert_eq!(decode_body(Some("br"), b"x", 10).unwrap_err().status(), 415);
    }
}
