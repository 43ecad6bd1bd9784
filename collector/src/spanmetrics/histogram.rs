//! A cumulative classic histogram (`_bucket{le}`, `_sum`, `_count`) kept in memory, with
//! the latest trace of each bucket as its exemplar, and how it becomes series and
//! exemplars at a flush.

use lookout_store::model::span::{hex_id, SpanId, TraceId};
use lookout_store::{Exemplar, Label, Labels, Sample, SeriesExemplars, SeriesSamples};

/// Tempo's metrics-generator default `histogram_buckets` for span latency, seconds.
pub const SPAN_LATENCY_BUCKETS: [f64; 14] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
    16.384,
];

/// Tempo's service-graph default `histogram_buckets`, seconds.
pub const SERVICE_GRAPH_BUCKETS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];

/// The trace a bucket last saw, when (ms), and whether it was flushed already.
#[derive(Debug, Clone)]
struct BucketExemplar {
    trace_id: TraceId,
    span_id: SpanId,
    value: f64,
    ts_ms: i64,
    fresh: bool,
}

#[derive(Debug, Clone)]
pub struct Histogram {
    /// Per-bucket (not cumulative) counts; the last one is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
    exemplars: Vec<Option<BucketExemplar>>,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
            exemplars: vec![None; bounds.len() + 1],
        }
    }

    /// Counts `v`; the span (`trace_id`, `span_id`, at `ts_ms`) becomes its bucket's
    /// exemplar.
    pub fn observe(
        &mut self,
        bounds: &[f64],
        v: f64,
        trace_id: TraceId,
        span_id: SpanId,
        ts_ms: i64,
    ) {
        let i = bounds.partition_point(|&b| b < v);
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
        self.exemplars[i] = Some(BucketExemplar {
            trace_id,
            span_id,
            value: v,
            ts_ms,
            fresh: true,
        });
    }

    /// Appends `<name>_bucket`, `_sum` and `_count` at `now` (ms) to `out`, and each bucket
    /// exemplar not flushed before (at its own span's time) to `ex`.
    pub fn emit(
        &mut self,
        name: &str,
        labels: &[Label],
        bounds: &[f64],
        now: i64,
        out: &mut Vec<SeriesSamples>,
        ex: &mut Vec<SeriesExemplars>,
    ) {
        let mut cumulative = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c;
            let le = bounds.get(i).map_or("+Inf".to_string(), |b| format_le(*b));
            let series = series_labels(&format!("{name}_bucket"), labels, Some(&le));
            if let Some(e) = self.exemplars[i].as_mut().filter(|e| e.fresh) {
                e.fresh = false;
                ex.push(SeriesExemplars {
                    labels: series.clone(),
                    exemplars: vec![Exemplar {
                        labels: Labels::from_pairs([
                            ("span_id", hex_id(&e.span_id)),
                            ("trace_id", hex_id(&e.trace_id)),
                        ]),
                        value: e.value,
                        ts: e.ts_ms,
                    }],
                });
            }
            out.push(SeriesSamples {
                labels: series,
                samples: vec![Sample::new(now, cumulative as f64)],
            });
        }
        out.push(SeriesSamples {
            labels: series_labels(&format!("{name}_sum"), labels, None),
            samples: vec![Sample::new(now, self.sum)],
        });
        out.push(SeriesSamples {
            labels: series_labels(&format!("{name}_count"), labels, None),
            samples: vec![Sample::new(now, self.count as f64)],
        });
    }
}

/// `le` as Prometheus client libraries write it (`0.002`, `16.384`, `1`).
fn format_le(b: f64) -> String {
    format!("{b}")
}

/// `labels` plus `__name__` (and `le`), sorted.
pub fn series_labels(name: &str, labels: &[Label], le: Option<&str>) -> Labels {
    let mut v: Vec<Label> = labels.to_vec();
    v.push(Label::new("__name__", name));
    if let Some(le) = le {
        v.push(Label::new("le", le));
    }
    v.sort();
    Labels::from_sorted(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_exemplars_flush_once() {
        let bounds = [0.1, 1.0];
        let mut h = Histogram::new(&bounds);
        h.observe(&bounds, 0.05, [1; 16], [1; 8], 10);
        h.observe(&bounds, 0.1, [2; 16], [2; 8], 20);
        h.observe(&bounds, 5.0, [3; 16], [3; 8], 30);
        let (mut out, mut ex) = (vec![], vec![]);
        h.emit(
            "x",
            &[Label::new("service", "a")],
            &bounds,
            1000,
            &mut out,
            &mut ex,
        );
        let vals: Vec<(String, f64)> = out
            .iter()
            .map(|s| {
                let n = s.labels.get("__name__").unwrap_or("").to_string();
                (
                    format!("{n}{}", s.labels.get("le").unwrap_or("")),
                    s.samples[0].v,
                )
            })
            .collect();
        assert_eq!(
            vals,
            vec![
                ("x_bucket0.1".to_string(), 2.0),
                ("x_bucket1".to_string(), 2.0),
                ("x_bucket+Inf".to_string(), 3.0),
                ("x_sum".to_string(), 5.15),
                ("x_count".to_string(), 3.0),
            ]
        );
        assert_eq!(ex.len(), 2);
        assert_eq!(
            ex[0].exemplars[0].labels.get("trace_id"),
            Some("02020202020202020202020202020202")
        );
        assert_eq!((ex[0].exemplars[0].ts, ex[1].exemplars[0].ts), (20, 30));
        let (mut out2, mut ex2) = (vec![], vec![]);
        h.emit("x", &[], &bounds, 2000, &mut out2, &mut ex2);
        assert!(ex2.is_empty());
        assert_eq!(out2.len(), 5);
    }
}
