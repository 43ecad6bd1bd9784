//! Exemplars: a few (labels, value, timestamp) points per series that link a sample to the
//! trace it came from. Kept in memory in one bounded circular buffer per tenant, as
//! Prometheus keeps them (`storage.exemplars.max_exemplars`): when it is full, the oldest
//! exemplar of any series makes room. The WAL holds them across a restart (record type 5,
//! `store/FORMAT.md`); they are never written into blocks.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use crate::model::{Labels, Matcher};

/// Prometheus' default `max_exemplars`.
pub const DEFAULT_MAX_EXEMPLARS: usize = 100_000;

/// Longest exemplar label set, in runes of names and values together (OpenMetrics' limit).
pub const MAX_EXEMPLAR_LABELS_LEN: usize = 128;

/// One exemplar: its own labels (`trace_id`, `span_id`), value, and time (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    pub ts: i64,
}

/// The exemplars of one series, as a write carries them and a read returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesExemplars {
    pub labels: Labels,
    pub exemplars: Vec<Exemplar>,
}

/// The circular buffer: exemplars per series, and the order they came in across series so
/// the oldest one overall is the one evicted.
pub struct ExemplarBuffer {
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    ids: HashMap<Labels, u32>,
    series: Vec<(Labels, VecDeque<Exemplar>)>,
    /// Series id of every stored exemplar, oldest first.
    order: VecDeque<u32>,
}

impl ExemplarBuffer {
    /// A buffer of at most `max` exemplars (0: exemplars are dropped).
    pub fn new(max: usize) -> ExemplarBuffer {
        ExemplarBuffer {
            max,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds exemplars. Like Prometheus, an exemplar equal to its series' newest one is a
    /// duplicate and one older than it is out of order; both are skipped (not an error:
    /// a sender re-sends the last exemplar with every sample). Returns how many were added.
    pub fn add(&self, batch: &[SeriesExemplars]) -> usize {
        if self.max == 0 {
            return 0;
        }
        let mut g = self.inner.lock();
        let inner = &mut *g;
        let mut added = 0;
        for s in batch {
            for e in &s.exemplars {
                let id = match inner.ids.get(&s.labels) {
                    Some(&id) => id,
                    None => {
                        let id = inner.series.len() as u32;
                        inner.ids.insert(s.labels.clone(), id);
                        inner.series.push((s.labels.clone(), VecDeque::new()));
                        id
                    }
                };
                let q = &mut inner.series[id as usize].1;
                if let Some(last) = q.back() {
                    if e.ts < last.ts || (e.ts == last.ts && e == last) {
                        continue;
                    }
                }
                q.push_back(e.clone());
                inner.order.push_back(id);
                added += 1;
                if inner.order.len() > self.max {
                    // Per-series queues are in arrival order too, so the oldest exemplar
                    // overall is the front of its series' queue.
                    if let Some(old) = inner.order.pop_front() {
                        inner.series[old as usize].1.pop_front();
                    }
                }
            }
        }
        added
    }

    /// Exemplars in `[start, end]` (ms) of series matching every matcher of one of the
    /// groups, sorted by series labels, each series' exemplars by time.
    pub fn select(&self, groups: &[Vec<Matcher>], start: i64, end: i64) -> Vec<SeriesExemplars> {
        let g = self.inner.lock();
        let mut out: Vec<SeriesExemplars> = g
            .series
            .iter()
            .filter(|(l, _)| groups.iter().any(|ms| matches(ms, l)))
            .filter_map(|(l, q)| {
                let exemplars: Vec<Exemplar> = q
                    .iter()
                    .filter(|e| e.ts >= start && e.ts <= end)
                    .cloned()
                    .collect();
                (!exemplars.is_empty()).then(|| SeriesExemplars {
                    labels: l.clone(),
                    exemplars,
                })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Every stored exemplar, oldest first (what a head cut logs again into the new WAL
    /// segment, so truncating the old segments keeps them).
    pub fn snapshot(&self) -> Vec<SeriesExemplars> {
        let g = self.inner.lock();
        let mut cursor = vec![0usize; g.series.len()];
        let mut out: Vec<SeriesExemplars> = Vec::with_capacity(g.order.len());
        for &id in &g.order {
            let (labels, q) = &g.series[id as usize];
            let i = cursor[id as usize];
            cursor[id as usize] += 1;
            let Some(e) = q.get(i) else { continue };
            match out.last_mut() {
                Some(last) if last.labels == *labels => last.exemplars.push(e.clone()),
                _ => out.push(SeriesExemplars {
                    labels: labels.clone(),
                    exemplars: vec![e.clone()],
                }),
            }
        }
        out
    }
}

fn matches(ms: &[Matcher], labels: &Labels) -> bool {
    ms.iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MatchOp;

    fn ex(trace: &str, v: f64, ts: i64) -> Exemplar {
        Exemplar {
            labels: Labels::from_pairs([("trace_id", trace)]),
            value: v,
            ts,
        }
    }

    fn series(name: &str, exemplars: Vec<Exemplar>) -> SeriesExemplars {
        SeriesExemplars {
            labels: Labels::from_pairs([("__name__", name)]),
            exemplars,
        }
    }

    #[test]
    fn oldest_exemplar_overall_is_evicted() {
        let b = ExemplarBuffer::new(3);
        b.add(&[series("a", vec![ex("1", 1.0, 10), ex("2", 2.0, 20)])]);
        b.add(&[series("b", vec![ex("3", 3.0, 15)])]);
        b.add(&[series("b", vec![ex("4", 4.0, 25)])]);
        assert_eq!(b.len(), 3);
        let all = b.select(&[vec![]], i64::MIN, i64::MAX);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].exemplars, vec![ex("2", 2.0, 20)]);
        assert_eq!(all[1].exemplars, vec![ex("3", 3.0, 15), ex("4", 4.0, 25)]);
        let snap = b.snapshot();
        let n: usize = snap.iter().map(|s| s.exemplars.len()).sum();
        assert_eq!(n, 3);
    }

    #[test]
    fn duplicates_and_out_of_order_are_skipped_and_selection_filters() {
        let b = ExemplarBuffer::new(10);
        assert_eq!(b.add(&[series("a", vec![ex("1", 1.0, 10)])]), 1);
        assert_eq!(b.add(&[series("a", vec![ex("1", 1.0, 10)])]), 0);
        assert_eq!(b.add(&[series("a", vec![ex("0", 1.0, 5)])]), 0);
        assert_eq!(b.add(&[series("b", vec![ex("2", 1.0, 30)])]), 1);
        let m = Matcher::new(MatchOp::Equal, "__name__", "b").unwrap();
        let got = b.select(&[vec![m]], 0, 100);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].exemplars[0].labels.get("trace_id"), Some("2"));
        assert!(b.select(&[vec![]], 11, 29).is_empty());
        assert_eq!(
            ExemplarBuffer::new(0).add(&[series("a", vec![ex("1", 1.0, 1)])]),
            0
        );
    }
}
