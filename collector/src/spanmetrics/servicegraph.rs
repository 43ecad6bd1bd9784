//! The service graph: a CLIENT (or PRODUCER) span and the SERVER (or CONSUMER) span whose
//! parent it is make one request between two services. Either half may arrive first, so
//! each waits in a bounded table for its other half for `wait` (Tempo's default 10 s);
//! halves that never pair expire and are counted, and a full table refuses new halves.

use std::collections::HashMap;

use lookout_store::model::span::{SpanId, SpanKind, StatusCode, TraceId};

/// One request between two services, once both halves are known.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub client: String,
    pub server: String,
    /// `""` for a request, `messaging_system` for a producer/consumer pair.
    pub connection_type: &'static str,
    pub failed: bool,
    pub client_seconds: f64,
    pub server_seconds: f64,
    pub trace_id: TraceId,
    pub client_span: SpanId,
    /// When the client span ended, ms: the time of the edge's exemplars.
    pub client_end_ms: i64,
}

#[derive(Debug, Default)]
struct Half {
    client: Option<(String, f64, SpanId, i64)>,
    server: Option<(String, f64)>,
    failed: bool,
    messaging: bool,
    expires_ms: i64,
}

#[derive(Debug)]
pub struct ServiceGraph {
    wait_ms: i64,
    max_items: usize,
    pending: HashMap<(TraceId, SpanId), Half>,
    /// Halves that expired unpaired, and halves refused because the table was full.
    pub expired: u64,
    pub dropped: u64,
}

impl ServiceGraph {
    pub fn new(wait_ms: i64, max_items: usize) -> ServiceGraph {
        ServiceGraph {
            wait_ms,
            max_items,
            pending: HashMap::new(),
            expired: 0,
            dropped: 0,
        }
    }

    /// Takes one span (of `service`), returning the edge it completes, if any.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        now_ms: i64,
        service: &str,
        kind: SpanKind,
        trace_id: TraceId,
        span_id: SpanId,
        parent: Option<SpanId>,
        status: StatusCode,
        seconds: f64,
        end_ms: i64,
    ) -> Option<Edge> {
        let (key, is_client) = match kind {
            SpanKind::Client | SpanKind::Producer => ((trace_id, span_id), true),
            SpanKind::Server | SpanKind::Consumer => ((trace_id, parent?), false),
            _ => return None,
        };
        if !self.pending.contains_key(&key) && self.pending.len() >= self.max_items {
            self.dropped += 1;
            return None;
        }
        let half = self.pending.entry(key).or_insert_with(|| Half {
            expires_ms: now_ms + self.wait_ms,
            ..Default::default()
        });
        if is_client {
            half.client = Some((service.to_string(), seconds, span_id, end_ms));
        } else {
            half.server = Some((service.to_string(), seconds));
        }
        half.failed |= status == StatusCode::Error;
        half.messaging |= matches!(kind, SpanKind::Producer | SpanKind::Consumer);
        if half.client.is_none() || half.server.is_none() {
            return None;
        }
        let h = self.pending.remove(&key)?;
        let (client, client_seconds, client_span, client_end_ms) = h.client?;
        let (server, server_seconds) = h.server?;
        Some(Edge {
            client,
            server,
            connection_type: if h.messaging { "messaging_system" } else { "" },
            failed: h.failed,
            client_seconds,
            server_seconds,
            trace_id,
            client_span,
            client_end_ms,
        })
    }

    /// Drops halves whose wait is over.
    pub fn expire(&mut self, now_ms: i64) {
        let before = self.pending.len();
        self.pending.retain(|_, h| h.expires_ms > now_ms);
        self.expired += (before - self.pending.len()) as u64;
    }

    /// Whether no half waits for its other half.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_in_either_order_and_expires_bounded() {
        let mut g = ServiceGraph::new(10_000, 2);
        let t = [7; 16];
        let ok = StatusCode::Unset;
        assert!(g
            .observe(
                0,
                "api",
                SpanKind::Server,
                t,
                [2; 8],
                Some([1; 8]),
                ok,
                0.5,
                5
            )
            .is_none());
        let e = g
            .observe(
                1,
                "web",
                SpanKind::Client,
                t,
                [1; 8],
                None,
                StatusCode::Error,
                0.7,
                9,
            )
            .unwrap();
        assert_eq!((e.client.as_str(), e.server.as_str()), ("web", "api"));
        assert!(e.failed);
        assert_eq!((e.client_seconds, e.server_seconds), (0.7, 0.5));
        assert_eq!(e.client_end_ms, 9);
        assert_eq!(g.pending(), 0);
        // Internal spans and roots never wait.
        assert!(g
            .observe(0, "a", SpanKind::Internal, t, [3; 8], None, ok, 1.0, 0)
            .is_none());
        assert!(g
            .observe(0, "a", SpanKind::Server, t, [3; 8], None, ok, 1.0, 0)
            .is_none());
        assert_eq!(g.pending(), 0);
        for i in 0..3u8 {
            g.observe(0, "a", SpanKind::Client, t, [i + 10; 8], None, ok, 1.0, 0);
        }
        assert_eq!((g.pending(), g.dropped), (2, 1));
        g.expire(10_001);
        assert_eq!((g.pending(), g.expired), (0, 2));
    }
}
