//! Span metrics and the service graph, as Tempo's metrics-generator makes them: every span
//! that is stored also counts into in-memory cumulative counters and histograms per tenant
//! (`traces_spanmetrics_*`, `traces_service_graph_*`), which a flush writes into the
//! tenant's metrics store through the normal append path, with the latest trace of each
//! latency bucket as an exemplar. PromQL then has RED metrics with no second instrumentation.
//!
//! Counters live in memory only: a restart starts them again from zero, which PromQL's
//! `rate()` reads as a counter reset, as it does for a restarted Prometheus target. A
//! series no span has counted into for `stale_after` (Tempo's `stale_duration`, 15 min)
//! is forgotten at the next flush: it is no longer written and its memory is freed (if
//! its spans come back it starts again from zero, a counter reset, as in Tempo).
//!
//! An exemplar carries the end time of its span, so Grafana draws it where the request
//! happened rather than at the flush after it. (Tempo's classic-histogram registry stamps
//! exemplars with the collection time; the span's own time is the more precise link.) A
//! span ending after the clock's now or more than `stale_after` before it (a client clock
//! far off) takes the time it was counted instead, so it stays inside the time range the
//! metrics store accepts.

mod histogram;
mod servicegraph;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lookout_store::model::span::{ResourceSpans, Span, SpanKind, StatusCode};
use lookout_store::{
    Append, AppendSpans, Clock, Label, Result, Sample, SeriesExemplars, SeriesSamples, TenantId,
};
use parking_lot::Mutex;

use histogram::{series_labels, Histogram};
pub use histogram::{SERVICE_GRAPH_BUCKETS, SPAN_LATENCY_BUCKETS};
use servicegraph::ServiceGraph;

/// The knobs of `traces.span_metrics` in `lookout.yaml`.
#[derive(Debug, Clone)]
pub struct SpanMetricsOptions {
    /// How often counters are written into the metrics store, ms.
    pub flush_interval_ms: u64,
    /// Latency buckets, seconds.
    pub histogram_buckets: Vec<f64>,
    /// Most span-metrics label sets per tenant (Tempo's `max_active_series`); spans of
    /// new label sets beyond it are not counted (and are counted as dropped).
    pub max_series: usize,
    pub service_graph: bool,
    /// How long half of a client/server pair waits for the other, ms.
    pub service_graph_wait_ms: i64,
    /// Most unpaired halves kept per tenant.
    pub service_graph_max_items: usize,
    pub service_graph_buckets: Vec<f64>,
    /// A series no span counted into for this long is dropped, ms.
    pub stale_after_ms: i64,
}

impl Default for SpanMetricsOptions {
    fn default() -> Self {
        SpanMetricsOptions {
            flush_interval_ms: 15_000,
            histogram_buckets: SPAN_LATENCY_BUCKETS.to_vec(),
            max_series: 10_000,
            service_graph: true,
            service_graph_wait_ms: 10_000,
            service_graph_max_items: 10_000,
            service_graph_buckets: SERVICE_GRAPH_BUCKETS.to_vec(),
            stale_after_ms: 15 * 60_000,
        }
    }
}

/// The labels of one span-metrics series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SpanKey {
    service: String,
    span_name: String,
    kind: SpanKind,
    status: StatusCode,
}

struct SpanCounters {
    calls: u64,
    size: u64,
    latency: Histogram,
    /// When a span last counted into it (clock ms).
    seen_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EdgeKey {
    client: String,
    server: String,
    connection_type: &'static str,
}

struct EdgeCounters {
    total: u64,
    failed: u64,
    client: Histogram,
    server: Histogram,
    seen_ms: i64,
}

struct TenantState {
    spans: HashMap<SpanKey, SpanCounters>,
    edges: HashMap<EdgeKey, EdgeCounters>,
    graph: ServiceGraph,
    dropped_series: u64,
}

/// The generator: counters per tenant, fed by [`SpanMetrics::observe`], written out by
/// [`SpanMetrics::flush`].
pub struct SpanMetrics {
    opts: SpanMetricsOptions,
    sink: Arc<dyn Append>,
    clock: Clock,
    tenants: Mutex<HashMap<TenantId, TenantState>>,
}

impl SpanMetrics {
    pub fn new(opts: SpanMetricsOptions, sink: Arc<dyn Append>, clock: Clock) -> SpanMetrics {
        SpanMetrics {
            opts,
            sink,
            clock,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// Counts stored spans.
    pub fn observe(&self, tenant: &TenantId, batch: &[ResourceSpans]) {
        let now = self.clock.now_ms();
        let o = &self.opts;
        let mut tenants = self.tenants.lock();
        let st = tenants
            .entry(tenant.clone())
            .or_insert_with(|| TenantState {
                spans: HashMap::new(),
                edges: HashMap::new(),
                graph: ServiceGraph::new(o.service_graph_wait_ms, o.service_graph_max_items),
                dropped_series: 0,
            });
        for rs in batch {
            let service = rs.service_name().unwrap_or("unknown_service");
            for sc in &rs.scopes {
                for span in &sc.spans {
                    let seconds = span.duration_ns() as f64 / 1e9;
                    let end_ms = exemplar_ms(span.end_ns, now, o.stale_after_ms);
                    let key = SpanKey {
                        service: service.to_string(),
                        span_name: span.name.clone(),
                        kind: span.kind,
                        status: span.status,
                    };
                    let full = st.spans.len() >= o.max_series;
                    match st.spans.get_mut(&key) {
                        Some(c) => count_span(c, o, span, seconds, now, end_ms),
                        None if full => st.dropped_series += 1,
                        None => {
                            let mut c = SpanCounters {
                                calls: 0,
                                size: 0,
                                latency: Histogram::new(&o.histogram_buckets),
                                seen_ms: now,
                            };
                            count_span(&mut c, o, span, seconds, now, end_ms);
                            st.spans.insert(key, c);
                        }
                    }
                    if !o.service_graph {
                        continue;
                    }
                    let edge = st.graph.observe(
                        now,
                        service,
                        span.kind,
                        span.trace_id,
                        span.span_id,
                        span.parent_span_id,
                        span.status,
                        seconds,
                        end_ms,
                    );
                    let Some(e) = edge else { continue };
                    let key = EdgeKey {
                        client: e.client,
                        server: e.server,
                        connection_type: e.connection_type,
                    };
                    if !st.edges.contains_key(&key) && st.edges.len() >= o.max_series {
                        st.dropped_series += 1;
                        continue;
                    }
                    let c = st.edges.entry(key).or_insert_with(|| EdgeCounters {
                        total: 0,
                        failed: 0,
                        client: Histogram::new(&o.service_graph_buckets),
                        server: Histogram::new(&o.service_graph_buckets),
                        seen_ms: now,
                    });
                    c.total += 1;
                    c.failed += u64::from(e.failed);
                    c.seen_ms = now;
                    let b = &o.service_graph_buckets;
                    let at = e.client_end_ms;
                    c.client
                        .observe(b, e.client_seconds, e.trace_id, e.client_span, at);
                    c.server
                        .observe(b, e.server_seconds, e.trace_id, e.client_span, at);
                }
            }
        }
    }

    /// Writes every tenant's counters at the clock's now into its metrics store.
    pub fn flush(&self) -> Result<()> {
        let now = self.clock.now_ms();
        let mut batches: Vec<(TenantId, Vec<SeriesSamples>, Vec<SeriesExemplars>)> = Vec::new();
        {
            let mut tenants = self.tenants.lock();
            if self.opts.stale_after_ms > 0 {
                let stale = now.saturating_sub(self.opts.stale_after_ms);
                for st in tenants.values_mut() {
                    st.forget_older_than(stale);
                }
            }
            // A tenant with nothing left (and no drop to report) is forgotten too.
            tenants.retain(|_, st| {
                !(st.spans.is_empty()
                    && st.edges.is_empty()
                    && st.graph.is_empty()
                    && st.dropped_series == 0
                    && st.graph.expired == 0
                    && st.graph.dropped == 0)
            });
            for (tenant, st) in tenants.iter_mut() {
                st.graph.expire(now);
                let (mut out, mut ex) = (Vec::new(), Vec::new());
                self.emit_spans(st, now, &mut out, &mut ex);
                self.emit_edges(st, now, &mut out, &mut ex);
                if !out.is_empty() {
                    batches.push((tenant.clone(), out, ex));
                }
            }
        }
        // Written outside the lock, so ingest never waits for the WAL of a flush.
        let mut first_err = None;
        for (tenant, out, ex) in batches {
            let r = self
                .sink
                .append(&tenant, &out)
                .and_then(|()| self.sink.append_exemplars(&tenant, &ex));
            if let Err(e) = r {
                tracing::warn!(tenant = %tenant, error = %e, "span metrics flush failed");
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn emit_spans(
        &self,
        st: &mut TenantState,
        now: i64,
        out: &mut Vec<SeriesSamples>,
        ex: &mut Vec<SeriesExemplars>,
    ) {
        for (k, c) in st.spans.iter_mut() {
            let labels = [
                Label::new("service", k.service.as_str()),
                Label::new("span_kind", kind_name(k.kind)),
                Label::new("span_name", k.span_name.as_str()),
                Label::new("status_code", status_name(k.status)),
            ];
            counter(out, "traces_spanmetrics_calls_total", &labels, now, c.calls);
            counter(out, "traces_spanmetrics_size_total", &labels, now, c.size);
            c.latency.emit(
                "traces_spanmetrics_latency",
                &labels,
                &self.opts.histogram_buckets,
                now,
                out,
                ex,
            );
        }
        if st.dropped_series > 0 {
            counter(
                out,
                "traces_spanmetrics_dropped_series_total",
                &[],
                now,
                st.dropped_series,
            );
        }
    }

    fn emit_edges(
        &self,
        st: &mut TenantState,
        now: i64,
        out: &mut Vec<SeriesSamples>,
        ex: &mut Vec<SeriesExemplars>,
    ) {
        let b = &self.opts.service_graph_buckets;
        for (k, c) in st.edges.iter_mut() {
            let mut labels = vec![
                Label::new("client", k.client.as_str()),
                Label::new("server", k.server.as_str()),
            ];
            // An empty label value is no label in Prometheus' data model.
            if !k.connection_type.is_empty() {
                labels.push(Label::new("connection_type", k.connection_type));
            }
            counter(
                out,
                "traces_service_graph_request_total",
                &labels,
                now,
                c.total,
            );
            counter(
                out,
                "traces_service_graph_request_failed_total",
                &labels,
                now,
                c.failed,
            );
            c.client.emit(
                "traces_service_graph_request_client_seconds",
                &labels,
                b,
                now,
                out,
                ex,
            );
            c.server.emit(
                "traces_service_graph_request_server_seconds",
                &labels,
                b,
                now,
                out,
                ex,
            );
        }
        if self.opts.service_graph && (st.graph.expired > 0 || st.graph.dropped > 0) {
            let expired = st.graph.expired;
            let dropped = st.graph.dropped;
            counter(
                out,
                "traces_service_graph_unpaired_spans_total",
                &[],
                now,
                expired,
            );
            counter(
                out,
                "traces_service_graph_dropped_spans_total",
                &[],
                now,
                dropped,
            );
        }
    }

    /// Flushes every `flush_interval_ms` until `stop` completes, then once more (a graceful
    /// shutdown keeps the last counts).
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let mut tick =
            tokio::time::interval(Duration::from_millis(self.opts.flush_interval_ms.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut stop => break,
            }
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.flush()).await;
        }
        let _ = tokio::task::spawn_blocking(move || self.flush()).await;
    }
}

impl TenantState {
    /// Drops the series no span counted into since `stale_ms`, and frees their memory.
    fn forget_older_than(&mut self, stale_ms: i64) {
        let before = self.spans.len() + self.edges.len();
        self.spans.retain(|_, c| c.seen_ms >= stale_ms);
        self.edges.retain(|_, c| c.seen_ms >= stale_ms);
        if self.spans.len() + self.edges.len() < before {
            self.spans.shrink_to_fit();
            self.edges.shrink_to_fit();
        }
    }
}

/// The time of a span's exemplar: its end (ns → ms), unless that lies after `now` or more
/// than `max_age_ms` (15 min when not positive) before it, then `now`.
fn exemplar_ms(end_ns: i64, now: i64, max_age_ms: i64) -> i64 {
    let max_age_ms = if max_age_ms > 0 {
        max_age_ms
    } else {
        15 * 60_000
    };
    let end = end_ns.div_euclid(1_000_000);
    if end <= now && end >= now.saturating_sub(max_age_ms) {
        end
    } else {
        now
    }
}

fn count_span(
    c: &mut SpanCounters,
    o: &SpanMetricsOptions,
    span: &Span,
    seconds: f64,
    now: i64,
    end_ms: i64,
) {
    c.calls += 1;
    c.size += approx_size(span);
    c.seen_ms = now;
    c.latency.observe(
        &o.histogram_buckets,
        seconds,
        span.trace_id,
        span.span_id,
        end_ms,
    );
}

/// A span's size as Tempo counts it is its protobuf size; this adds up the same fields'
/// payload bytes (ids, times, name, attribute keys and values) without encoding the span.
fn approx_size(span: &Span) -> u64 {
    use lookout_store::model::span::AttrValue;
    fn value(v: &AttrValue) -> usize {
        match v {
            AttrValue::Str(s) => s.len(),
            AttrValue::Bytes(b) => b.len(),
            AttrValue::Array(a) => a.iter().map(value).sum(),
            AttrValue::Map(m) => m.iter().map(|(k, v)| k.len() + value(v)).sum(),
            _ => 8,
        }
    }
    let attrs = |a: &[(String, AttrValue)]| -> usize {
        a.iter().map(|(k, v)| k.len() + value(v) + 4).sum()
    };
    let n = 16
        + 8
        + 8
        + 8
        + 8
        + 2
        + 2
        + span.name.len()
        + span.status_message.len()
        + attrs(&span.attributes)
        + span
            .events
            .iter()
            .map(|e| 8 + e.name.len() + attrs(&e.attributes))
            .sum::<usize>()
        + span
            .links
            .iter()
            .map(|l| 24 + attrs(&l.attributes))
            .sum::<usize>();
    n as u64
}

fn counter(out: &mut Vec<SeriesSamples>, name: &str, labels: &[Label], now: i64, v: u64) {
    out.push(SeriesSamples {
        labels: series_labels(name, labels, None),
        samples: vec![Sample::new(now, v as f64)],
    });
}

/// OTLP's enum names, as Tempo writes `span_kind`.
fn kind_name(k: SpanKind) -> &'static str {
    match k {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

fn status_name(s: StatusCode) -> &'static str {
    match s {
        StatusCode::Unset => "STATUS_CODE_UNSET",
        StatusCode::Ok => "STATUS_CODE_OK",
        StatusCode::Error => "STATUS_CODE_ERROR",
    }
}

/// The span sink every ingest path writes to (OTLP gRPC and HTTP, Zipkin): spans go to
/// the store first, and only spans it acknowledged are counted.
pub struct SpanMetricsSink {
    pub inner: Arc<dyn AppendSpans>,
    pub metrics: Arc<SpanMetrics>,
}

impl AppendSpans for SpanMetricsSink {
    fn append_spans(&self, tenant: &TenantId, batch: &[ResourceSpans]) -> Result<()> {
        self.inner.append_spans(tenant, batch)?;
        self.metrics.observe(tenant, batch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_store::model::span::Attributes;
    use lookout_store::model::span::{Scope, ScopeSpans};

    #[derive(Default)]
    struct Capture(Mutex<Vec<SeriesSamples>>, Mutex<Vec<SeriesExemplars>>);

    impl Append for Capture {
        fn append(&self, _: &TenantId, batch: &[SeriesSamples]) -> Result<()> {
            self.0.lock().extend_from_slice(batch);
            Ok(())
        }
        fn append_exemplars(&self, _: &TenantId, batch: &[SeriesExemplars]) -> Result<()> {
            self.1.lock().extend_from_slice(batch);
            Ok(())
        }
    }

    fn rs(service: &str, spans: Vec<Span>) -> ResourceSpans {
        let resource: Attributes = vec![(
            "service.name".into(),
            lookout_store::model::span::AttrValue::Str(service.into()),
        )];
        ResourceSpans {
            resource,
            scopes: vec![ScopeSpans {
                scope: Scope::default(),
                spans,
            }],
        }
    }

    fn span(id: u8, parent: Option<u8>, kind: SpanKind, ms: i64) -> Span {
        Span {
            trace_id: [9; 16],
            span_id: [id; 8],
            parent_span_id: parent.map(|p| [p; 8]),
            name: format!("op{id}"),
            kind,
            start_ns: 0,
            end_ns: ms * 1_000_000,
            ..Default::default()
        }
    }

    #[test]
    fn counts_spans_and_pairs_client_with_server() {
        let cap = Arc::new(Capture::default());
        let m = SpanMetrics::new(Default::default(), cap.clone(), Clock::fixed(1_000));
        let t = TenantId::default_tenant();
        m.observe(&t, &[rs("web", vec![span(1, None, SpanKind::Client, 30)])]);
        m.observe(
            &t,
            &[rs("api", vec![span(2, Some(1), SpanKind::Server, 20)])],
        );
        m.flush().unwrap();
        let out = cap.0.lock();
        let get = |name: &str, extra: (&str, &str)| {
            out.iter()
                .find(|s| {
                    s.labels.get("__name__") == Some(name) && s.labels.get(extra.0) == Some(extra.1)
                })
                .map(|s| s.samples[0].v)
        };
        assert_eq!(
            get("traces_spanmetrics_calls_total", ("service", "web")),
            Some(1.0)
        );
        assert_eq!(
            get("traces_spanmetrics_latency_bucket", ("le", "0.032")),
            Some(1.0)
        );
        assert_eq!(
            get("traces_service_graph_request_total", ("client", "web")),
            Some(1.0)
        );
        assert_eq!(
            get(
                "traces_service_graph_request_failed_total",
                ("server", "api")
            ),
            Some(0.0)
        );
        let ex = cap.1.lock();
        assert!(ex
            .iter()
            .any(|s| s.exemplars[0].labels.get("trace_id")
                == Some("09090909090909090909090909090909")));
    }

    fn named(name: &str, end_ms: i64) -> Span {
        Span {
            name: name.into(),
            kind: SpanKind::Internal,
            start_ns: (end_ms - 5) * 1_000_000,
            end_ns: end_ms * 1_000_000,
            ..span(1, None, SpanKind::Internal, 5)
        }
    }

    #[test]
    fn exemplars_carry_the_span_end_time_unless_it_is_far_off() {
        let cap = Arc::new(Capture::default());
        let m = SpanMetrics::new(Default::default(), cap.clone(), Clock::fixed(100_000));
        let t = TenantId::default_tenant();
        m.observe(&t, &[rs("web", vec![named("a", 90_123)])]);
        // Ends in the future of the clock: stamped with the time it was counted.
        m.observe(&t, &[rs("web", vec![named("b", 500_000)])]);
        m.flush().unwrap();
        let ex = cap.1.lock();
        let ts_of = |name: &str| {
            ex.iter()
                .find(|s| s.labels.get("span_name") == Some(name))
                .map(|s| s.exemplars[0].ts)
        };
        assert_eq!(ts_of("a"), Some(90_123));
        assert_eq!(ts_of("b"), Some(100_000));
    }

    fn calls(cap: &Capture) -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = cap
            .0
            .lock()
            .iter()
            .filter(|s| s.labels.get("__name__") == Some("traces_spanmetrics_calls_total"))
            .map(|s| {
                (
                    s.labels.get("span_name").unwrap_or("").to_string(),
                    s.samples[0].v,
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn dropped(cap: &Capture) -> Option<f64> {
        cap.0
            .lock()
            .iter()
            .find(|s| s.labels.get("__name__") == Some("traces_spanmetrics_dropped_series_total"))
            .map(|s| s.samples[0].v)
    }

    #[test]
    fn idle_series_are_forgotten_and_new_ones_are_bounded() {
        let clock = Clock::fixed(0);
        let opts = SpanMetricsOptions {
            max_series: 2,
            stale_after_ms: 60_000,
            service_graph: false,
            ..Default::default()
        };
        let t = TenantId::default_tenant();
        let cap = Arc::new(Capture::default());
        let m = SpanMetrics::new(opts, cap.clone(), clock.clone());
        let spans = |names: &[&str]| {
            vec![rs(
                "web",
                names.iter().map(|n| named(n, 1)).collect::<Vec<_>>(),
            )]
        };
        m.observe(&t, &spans(&["a", "b", "c"]));
        m.flush().unwrap();
        assert_eq!(
            calls(&cap),
            [("a".to_string(), 1.0), ("b".to_string(), 1.0)]
        );
        assert_eq!(dropped(&cap), Some(1.0), "c found no room");
        clock.set(30_000);
        m.observe(&t, &spans(&["b"]));
        // 70 s: a is idle for longer than a minute, b only for 40 s.
        clock.set(70_000);
        cap.0.lock().clear();
        m.flush().unwrap();
        assert_eq!(
            calls(&cap),
            [("b".to_string(), 2.0)],
            "a is no longer written"
        );
        assert_eq!(m.tenants.lock()[&t].spans.len(), 1, "a's memory is freed");
        // Its room takes a new series; a coming back starts from zero.
        m.observe(&t, &spans(&["c", "a"]));
        cap.0.lock().clear();
        m.flush().unwrap();
        assert_eq!(
            calls(&cap),
            [("b".to_string(), 2.0), ("c".to_string(), 1.0)]
        );
        assert_eq!(dropped(&cap), Some(2.0));
        // Everything idle: nothing is written.
        clock.set(1_000_000);
        cap.0.lock().clear();
        m.flush().unwrap();
        assert_eq!(calls(&cap), Vec::<(String, f64)>::new());
        assert_eq!(m.tenants.lock()[&t].spans.len(), 0);
    }
}
