//! The agent's forwarder: an [`Append`] that, instead of storing, encodes each batch as a
//! remote_write request into the metrics [`Queue`], and a sender that ships a queue (of
//! metrics over remote_write, of logs over Loki push or OTLP, of spans over OTLP) to the
//! server in order. Sources (the scrape manager, host metrics) cannot tell it from the
//! local store.
//!
//! A batch is acknowledged to its source once it is in the queue. The sender posts records
//! oldest first; a 2xx acknowledges the record in the queue; a 4xx other than 429 means the
//! server will never take it (a sample out of bounds, a refused label), so it is counted
//! as rejected and skipped, as Prometheus' remote_write does; anything else (connection
//! refused, 5xx, 429) is retried with exponential backoff, keeping the order.
//!
//! A crash after the server's 2xx but before the cursor moves sends that record once more
//! after the restart. Every resend is byte for byte the same request, which the server
//! absorbs: a remote_write sample again at the same timestamp with the same value is a
//! no-op, and the log store returns entries equal in stream, timestamp and line once (as
//! Loki does); the tailer gives every line of a stream its own timestamp, so only a resend
//! is ever such a repeat.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lookout_store::{Append, Result, SeriesSamples, TenantId};

use super::queue::Queue;
use crate::remote_write::{encode, ProtoLabel, ProtoSample, TimeSeries, WriteRequest};

/// Where and how the sender ships.
#[derive(Debug, Clone)]
pub struct ForwardTarget {
    /// The server's base URL, e.g. `http://lookout:9700`.
    pub server: String,
    /// `X-Scope-OrgID` for batches of the default tenant (none: no header).
    pub tenant: Option<String>,
    /// `Authorization` header value (`Bearer …` or `Basic …`), if any.
    pub authorization: Option<String>,
    /// Timeout of one request.
    pub timeout: Duration,
}

/// Sender counters, for the agent's `/metrics`.
#[derive(Debug, Default)]
pub struct ForwardStats {
    pub sent_records: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub failed_sends: AtomicU64,
    pub rejected_records: AtomicU64,
    /// 1 while the last send failed (the server unreachable or refusing).
    pub failing: AtomicU64,
}

/// The queue of one signal with its encoder.
pub struct MetricsForwarder {
    queue: Arc<Queue>,
}

impl MetricsForwarder {
    pub fn new(queue: Arc<Queue>) -> MetricsForwarder {
        MetricsForwarder { queue }
    }
}

/// A metrics or traces queue record: `u8 tenant length | tenant | body`.
pub(crate) fn record(tenant: &TenantId, body: &[u8]) -> Vec<u8> {
    let t = tenant.as_str().as_bytes();
    let t = &t[..t.len().min(255)];
    let mut r = Vec::with_capacity(1 + t.len() + body.len());
    r.push(t.len() as u8);
    r.extend_from_slice(t);
    r.extend_from_slice(body);
    r
}

fn split_record(r: &[u8]) -> Option<(&str, &[u8])> {
    let n = usize::from(*r.first()?);
    let tenant = std::str::from_utf8(r.get(1..1 + n)?).ok()?;
    Some((tenant, r.get(1 + n..)?))
}

impl Append for MetricsForwarder {
    fn append(&self, tenant: &TenantId, batch: &[SeriesSamples]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let req = WriteRequest {
            timeseries: batch
                .iter()
                .map(|s| TimeSeries {
                    labels: s
                        .labels
                        .iter()
                        .map(|l| ProtoLabel {
                            name: l.name.to_string(),
                            value: l.value.to_string(),
                        })
                        .collect(),
                    samples: s
                        .samples
                        .iter()
                        .map(|x| ProtoSample {
                            value: x.v,
                            timestamp: x.t,
                        })
                        .collect(),
                    exemplars: vec![],
                    histograms: vec![],
                })
                .collect(),
            metadata: vec![],
        };
        self.queue.push(&record(tenant, &encode(&req)))
    }
}

/// What a queue holds, which says where and how its records are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `u8 tenant length | tenant | snappy remote_write body` to `/api/v1/write`.
    Metrics,
    /// Logs queue records ([`positions`](super::tail::positions)) whose snappy protobuf
    /// Loki push body goes to `/loki/api/v1/push`, or OTLP logs body to `/v1/logs`.
    Logs,
    /// `u8 tenant length | tenant | gzipped protobuf ExportTraceServiceRequest` to
    /// `/v1/traces`.
    Traces,
}

/// One request the sender makes for a record.
struct Outgoing<'a> {
    tenant: Option<&'a str>,
    path: &'static str,
    body: &'a [u8],
    headers: &'static [(&'static str, &'static str)],
}

const REMOTE_WRITE_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];
const PROTOBUF: &[(&str, &str)] = &[("Content-Type", "application/x-protobuf")];
const PROTOBUF_GZIP: &[(&str, &str)] = &[
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "gzip"),
];

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Traces => "traces",
        }
    }

    /// The request that ships a record: its tenant (`None`: the default one), path, body
    /// and headers.
    fn outgoing(self, rec: &[u8]) -> Option<Outgoing<'_>> {
        use super::tail::positions::{decode_record_of, Body};
        let tenanted = |path, headers| {
            let (t, body) = split_record(rec)?;
            Some(Outgoing {
                tenant: (t != TenantId::default_tenant().as_str()).then_some(t),
                path,
                body,
                headers,
            })
        };
        match self {
            Signal::Metrics => tenanted("/api/v1/write", REMOTE_WRITE_HEADERS),
            Signal::Traces => tenanted("/v1/traces", PROTOBUF_GZIP),
            Signal::Logs => {
                let (_, kind, body) = decode_record_of(rec).ok()?;
                let (path, headers) = match kind {
                    Body::LokiPush => ("/loki/api/v1/push", PROTOBUF),
                    Body::OtlpLogs => ("/v1/logs", PROTOBUF_GZIP),
                };
                Some(Outgoing {
                    tenant: None,
                    path,
                    body,
                    headers,
                })
            }
        }
    }
}

/// Debug builds only: with `LOOKOUT_DEBUG_AGENT_KILL_AFTER_SEND=<signal>` (`logs`,
/// `metrics`, `traces`) the agent SIGKILLs itself right after the server acknowledged a
/// record of that signal and before the queue cursor moves past it: the window in which a
/// crash sends a batch twice, which end-to-end tests cannot hit by timing. Release builds
/// compile this to nothing.
fn crash_after_send_for_tests(signal: Signal) {
    #[cfg(debug_assertions)]
    {
        static KILL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let target = KILL.get_or_init(|| std::env::var("LOOKOUT_DEBUG_AGENT_KILL_AFTER_SEND").ok());
        if target.as_deref() == Some(signal.name()) {
            tracing::warn!(
                signal = signal.name(),
                "LOOKOUT_DEBUG_AGENT_KILL_AFTER_SEND: killing the agent before the queue cursor moves"
            );
            // SAFETY: getpid and kill have no memory effects; SIGKILL ends the process
            // like `kill -9`, without unwinding or flushing anything.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = signal;
}

/// Ships `queue` to the server until `stop` is set: oldest record first, the next only
/// after the server acknowledged (or refused) the previous, so the order holds. The
/// cursor moves past a record (durably) right after its 2xx, so an acknowledged record is
/// never sent again, also after a restart.
pub async fn send(
    signal: Signal,
    queue: Arc<Queue>,
    target: ForwardTarget,
    stats: Arc<ForwardStats>,
    stop: Arc<tokio::sync::Notify>,
) {
    let client = match reqwest::Client::builder().timeout(target.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the forwarding HTTP client");
            return;
        }
    };
    let server = target.server.trim_end_matches('/');
    let mut backoff = Duration::from_millis(100);
    loop {
        let batch = match tokio::task::block_in_place(|| queue.peek(64, 16 << 20)) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, signal = signal.name(), "cannot read the agent queue");
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
                _ = stop.notified() => return,
            }
        }
        for (pos, rec) in batch {
            loop {
                let Some(out) = signal.outgoing(&rec) else {
                    tracing::warn!(
                        signal = signal.name(),
                        "unreadable agent queue record; skipping it"
                    );
                    stats.rejected_records.fetch_add(1, Ordering::Relaxed);
                    break;
                };
                let body = out.body;
                let mut req = client
                    .post(format!("{server}{}", out.path))
                    .body(body.to_vec());
                for (k, v) in out.headers {
                    req = req.header(*k, *v);
                }
                if let Some(t) = out.tenant.or(target.tenant.as_deref()) {
                    req = req.header("X-Scope-OrgID", t);
                }
                if let Some(a) = &target.authorization {
                    req = req.header("Authorization", a);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        crash_after_send_for_tests(signal);
                        stats.sent_records.fetch_add(1, Ordering::Relaxed);
                        stats
                            .sent_bytes
                            .fetch_add(body.len() as u64, Ordering::Relaxed);
                        stats.failing.store(0, Ordering::Relaxed);
                        backoff = Duration::from_millis(100);
                        break;
                    }
                    Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        tracing::warn!(%status, signal = signal.name(), error = %text.trim(), "server refused a forwarded batch; skipping it");
                        stats.rejected_records.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    outcome => {
                        let why = match outcome {
                            Ok(r) => r.status().to_string(),
                            Err(e) => e.to_string(),
                        };
                        tracing::debug!(error = %why, signal = signal.name(), "forwarding failed; retrying");
                        stats.failed_sends.fetch_add(1, Ordering::Relaxed);
                        stats.failing.store(1, Ordering::Relaxed);
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stop.notified() => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            if let Err(e) = tokio::task::block_in_place(|| queue.ack(pos)) {
                tracing::error!(error = %e, "cannot persist the agent queue cursor");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let t = TenantId::default_tenant();
        let r = record(&t, b"body");
        assert_eq!(split_record(&r), Some((t.as_str(), &b"body"[..])));
        assert_eq!(split_record(&[5, b'a']), None);
    }
}
