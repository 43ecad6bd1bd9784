//! The scripts' storage: an in-memory [`Queryable`] that `load` blocks write to and
//! `clear` empties. It also remembers which series hold native histograms, which the
//! engine cannot read, so the runner can tell "wrong answer" from "not supported".

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use lookout_store::{Labels, Matcher, Sample, Series};

use super::script::Load;
use super::values::SeqValue;
use crate::error::Result;
use crate::promql::Queryable;

#[derive(Debug, Default)]
struct SeriesData {
    floats: BTreeMap<i64, f64>,
    /// Timestamps of native-histogram samples, which are kept out of `select`.
    histograms: BTreeSet<i64>,
}

/// Series in label order, samples in time order; staleness markers stored as written.
#[derive(Debug, Default)]
pub struct MemStorage {
    series: BTreeMap<Labels, SeriesData>,
    /// Histogram series a select touched since the last [`MemStorage::take_histogram_reads`].
    histogram_reads: Mutex<BTreeSet<Labels>>,
}

impl MemStorage {
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Writes a load block: value `i` of a line lands at `i * step`. A later load may add
    /// samples to an existing series; a sample at an existing timestamp replaces it.
    pub fn load(&mut self, load: &Load) {
        for (labels, values) in &load.series {
            let data = self.series.entry(labels.clone()).or_default();
            for (i, v) in values.iter().enumerate() {
                let t = i as i64 * load.step_ms;
                match v {
                    SeqValue::Omitted => {}
                    SeqValue::Float(f) => {
                        data.histograms.remove(&t);
                        data.floats.insert(t, *f);
                    }
                    SeqValue::Histogram(_) => {
                        data.floats.remove(&t);
                        data.histograms.insert(t);
                    }
                }
            }
        }
        if load.with_nhcb {
            self.add_nhcb_placeholders(load);
        }
    }

    /// `load_with_nhcb` also stores each classic histogram `X_bucket`/`X_count`/`X_sum`
    /// as a native histogram with custom buckets, series `X{…}` without `le`. The engine
    /// has no native histograms, so instead of converting, this records where those
    /// series would have samples: queries that read them are reported as unsupported
    /// rather than as wrong answers.
    fn add_nhcb_placeholders(&mut self, load: &Load) {
        for (labels, values) in &load.series {
            let Some(name) = labels.metric_name() else {
                continue;
            };
            let base = if let Some(b) = name.strip_suffix("_bucket") {
                match labels.get("le").map(str::parse::<f64>) {
                    Some(Ok(le)) if !le.is_nan() => b,
                    _ => continue,
                }
            } else if let Some(b) = name.strip_suffix("_count") {
                b
            } else if let Some(b) = name.strip_suffix("_sum") {
                b
            } else {
                continue;
            };
            let nhcb = Labels::from_pairs(labels.iter().filter(|l| l.name != "le").map(|l| {
                if l.name == "__name__" {
                    (l.name.as_str(), base)
                } else {
                    (l.name.as_str(), l.value.as_str())
                }
            }));
            let data = self.series.entry(nhcb).or_default();
            for (i, v) in values.iter().enumerate() {
                if matches!(v, SeqValue::Float(_)) {
                    data.histograms.insert(i as i64 * load.step_ms);
                }
            }
        }
    }

    /// Adds one float sample (rule output in `lookout test rules`); a sample at an
    /// existing timestamp replaces it.
    pub fn add(&mut self, labels: Labels, t: i64, v: f64) {
        self.series.entry(labels).or_default().floats.insert(t, v);
    }

    /// The histogram series that selects touched since the last call, and forgets them.
    pub fn take_histogram_reads(&self) -> Vec<Labels> {
        match self.histogram_reads.lock() {
            Ok(mut g) => std::mem::take(&mut *g).into_iter().collect(),
            Err(p) => std::mem::take(&mut *p.into_inner()).into_iter().collect(),
        }
    }
}

impl Queryable for MemStorage {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        _budget: &crate::budget::Budget,
    ) -> Result<Vec<Series>> {
        let mut out = Vec::new();
        for (labels, data) in &self.series {
            let matched = matchers
                .iter()
                .all(|m| m.matches(labels.get(&m.name).unwrap_or("")));
            if !matched {
                continue;
            }
            if data.histograms.range(mint..=maxt).next().is_some() {
                let mut reads = self
                    .histogram_reads
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                reads.insert(labels.clone());
            }
            let samples: Vec<Sample> = data
                .floats
                .range(mint..=maxt)
                .map(|(&t, &v)| Sample::new(t, v))
                .collect();
            // Like Prometheus' storage, a series without samples in range is not returned.
            if samples.is_empty() {
                continue;
            }
            out.push(Series {
                labels: labels.clone(),
                samples,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    fn b() -> std::sync::Arc<crate::budget::Budget> {
        crate::budget::Budget::unlimited(std::time::Duration::from_secs(60))
    }

    use super::*;
    use crate::promqltest::script::{parse, Command};
    use lookout_store::model::sample::is_stale_nan;
    use lookout_store::MatchOp;

    fn storage(text: &str) -> MemStorage {
        let mut s = MemStorage::new();
        for c in parse(text).unwrap().commands {
            if let Command::Load(l) = c {
                s.load(&l);
            }
        }
        s
    }

    #[test]
    fn loads_and_selects() {
        let s = storage(
            "load 10s\n  metric{a=\"1\"} 0 1 stale 2\n  metric{a=\"2\"} _ 5\n  other 1\n\nload 10s\n  metric{a=\"2\"} _ _ 7\n",
        );
        let name = Matcher::equal("__name__", "metric");
        let got = s
            .select(std::slice::from_ref(&name), 0, 100_000, &b())
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].labels.get("a"), Some("1"));
        assert_eq!(got[0].samples.len(), 4);
        assert!(is_stale_nan(got[0].samples[2].v));
        assert_eq!(got[0].samples[3].t, 30_000);
        // Later loads add to the same series.
        let t: Vec<i64> = got[1].samples.iter().map(|s| s.t).collect();
        assert_eq!(t, vec![10_000, 20_000]);
        // Time bounds are inclusive; series without samples in range are left out.
        let got = s
            .select(std::slice::from_ref(&name), 10_000, 10_000, &b())
            .unwrap();
        assert_eq!(got.len(), 2);
        let got = s.select(&[name], 25_000, 29_000, &b()).unwrap();
        assert!(got.is_empty());
        let re = Matcher::new(MatchOp::RegexMatch, "a", "2|3").unwrap();
        assert_eq!(s.select(&[re], 0, 100_000, &b()).unwrap().len(), 1);
        // A matcher for the empty string matches series without the label.
        let none = Matcher::equal("a", "");
        assert_eq!(s.select(&[none], 0, 100_000, &b()).unwrap().len(), 1);
    }

    #[test]
    fn histogram_series_are_recorded_not_returned() {
        let s = storage(
            "load 5m\n  h {{sum:1 count:1}} 3\n\nload_with_nhcb 5m\n  x_bucket{le=\"1\"} 1 2\n  x_bucket{le=\"+Inf\"} 2 3\n  x_count 2 3\n",
        );
        let h = s
            .select(&[Matcher::equal("__name__", "h")], 0, 0, &b())
            .unwrap();
        assert!(h.is_empty());
        assert_eq!(s.take_histogram_reads().len(), 1);
        assert!(s.take_histogram_reads().is_empty());
        let x = s
            .select(&[Matcher::equal("__name__", "x")], 0, 600_000, &b())
            .unwrap();
        assert!(x.is_empty());
        assert_eq!(s.take_histogram_reads().len(), 1);
        let b = s
            .select(&[Matcher::equal("__name__", "x_bucket")], 0, 600_000, &b())
            .unwrap();
        assert_eq!(b.len(), 2);
        assert!(s.take_histogram_reads().is_empty());
    }
}
