//! One target's series cache: raw series text → labels, so that a series seen before
//! costs a hash lookup and no allocation; and the bookkeeping behind staleness markers.
//!
//! Each scrape parses the payload into `pending` first and only then commits it, so a
//! scrape that fails half-way (invalid line, a limit exceeded) appends nothing of its
//! samples. Like Prometheus, a failed scrape counts as an empty one: every series of the
//! last successful scrape gets a staleness marker, and so does every series that vanished
//! between two successful scrapes. Series with explicit timestamps never get one.
//!
//! The batch handed to the store owns its labels, so labels move from the cache into the
//! batch and back after the append ([`SeriesCache::restore`]) instead of being cloned.

use std::collections::{BTreeMap, HashMap};

use lookout_store::model::sample::STALE_NAN;
use lookout_store::{Label, Labels, MetricMetadata, Sample, SeriesSamples};
use xxhash_rust::xxh3::Xxh3Builder;

use super::parse::{parse_series, Entry, Format, Parser};
use super::relabel::{LabelMap, Relabeler};

/// What a job's scrape loops share: label handling and limits (0 = no limit).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub body_size_limit: u64,
    pub metric_relabel: Relabeler,
    /// Changes whenever something that shapes a series' labels changes (honor_labels,
    /// metric relabeling, label limits): a cache handed over across such a reload forgets
    /// its label sets, and the old ones go stale.
    pub labels_fingerprint: u64,
}

/// The figures of one scrape, for the synthetic series and the API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub scraped: u64,
    pub post_relabel: u64,
    pub added: u64,
    pub duplicates: u64,
    pub exemplars: u64,
    pub stale_markers: u64,
}

/// The synthetic series every scrape writes, in this order.
pub const REPORT_METRICS: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

struct CacheEntry {
    /// None while the labels travel in the batch, or for a series metric relabeling dropped.
    labels: Option<Labels>,
    dropped: bool,
    buf: Vec<Sample>,
    /// The scrape attempt that last reported the series (duplicate detection, eviction).
    cur: u64,
    /// The last successful scrape that appended it.
    last: u64,
    explicit_ts: bool,
}

pub struct SeriesCache {
    map: HashMap<Box<[u8]>, u32, Xxh3Builder>,
    entries: Vec<CacheEntry>,
    free: Vec<u32>,
    gen: u64,
    prev_ok: u64,
    pending: Vec<(u32, f64, Option<i64>)>,
    batch: Vec<SeriesSamples>,
    /// Cache entry of each batch element, `u32::MAX` for report series.
    batch_idx: Vec<u32>,
    report: Vec<Labels>,
    report_written: bool,
    metadata: Vec<MetricMetadata>,
    fingerprint: Option<u64>,
    metadata_hash: Option<u64>,
    /// Entries no longer reachable from `map`, freed after their staleness marker.
    orphans: Vec<u32>,
}

impl Default for SeriesCache {
    fn default() -> Self {
        Self::new()
    }
}

impl SeriesCache {
    pub fn new() -> SeriesCache {
        SeriesCache {
            map: HashMap::with_hasher(Xxh3Builder::new()),
            entries: Vec::new(),
            free: Vec::new(),
            gen: 0,
            prev_ok: 0,
            pending: Vec::new(),
            batch: Vec::new(),
            batch_idx: Vec::new(),
            report: Vec::new(),
            report_written: false,
            metadata: Vec::new(),
            fingerprint: None,
            metadata_hash: None,
            orphans: Vec::new(),
        }
    }

    /// The batch built by the last [`ingest`](Self::ingest)/[`report`](Self::report)/
    /// [`stale_all`](Self::stale_all), to hand to the store.
    pub fn batch(&self) -> &[SeriesSamples] {
        &self.batch
    }

    /// Series the cache knows (kept or dropped).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// HELP/TYPE/UNIT of the last successful scrape.
    pub fn metadata(&self) -> &[MetricMetadata] {
        &self.metadata
    }

    /// Parses a payload and builds the batch: its samples and the staleness markers of the
    /// series that vanished. On error the batch holds the staleness markers of every series
    /// of the last successful scrape instead, and the error says what was wrong.
    pub fn ingest(
        &mut self,
        body: &[u8],
        format: Format,
        target: &LabelMap,
        s: &Settings,
        ts: i64,
    ) -> Result<Outcome, (String, Outcome)> {
        debug_assert!(self.batch.is_empty(), "restore() after every batch");
        self.gen += 1;
        self.pending.clear();
        if self.fingerprint != Some(s.labels_fingerprint) {
            if self.fingerprint.is_some() {
                self.orphans.extend(self.map.drain().map(|(_, i)| i));
            }
            self.fingerprint = Some(s.labels_fingerprint);
        }
        let mut out = Outcome::default();
        match self.parse(body, format, target, s, &mut out) {
            Ok(hash) => {
                if self.metadata_hash != Some(hash) {
                    self.metadata = collect_metadata(body, format);
                    self.metadata_hash = Some(hash);
                }
            }
            Err(e) => {
                self.pending.clear();
                out.stale_markers = self.push_stale(ts, None);
                self.prev_ok = 0;
                return Err((e, out));
            }
        }
        let gen = self.gen;
        for k in 0..self.pending.len() {
            let (idx, v, t) = self.pending[k];
            let e = &mut self.entries[idx as usize];
            e.last = gen;
            e.explicit_ts = t.is_some();
            let Some(labels) = e.labels.take() else {
                continue;
            };
            let mut buf = std::mem::take(&mut e.buf);
            buf.clear();
            buf.push(Sample::new(t.unwrap_or(ts), v));
            self.batch.push(SeriesSamples {
                labels,
                samples: buf,
            });
            self.batch_idx.push(idx);
        }
        out.stale_markers = self.push_stale(ts, Some(gen));
        self.prev_ok = gen;
        Ok(out)
    }

    fn parse(
        &mut self,
        body: &[u8],
        format: Format,
        target: &LabelMap,
        s: &Settings,
        out: &mut Outcome,
    ) -> Result<u64, String> {
        let mut p = Parser::new(body, format);
        // Metadata rarely changes: hash it on the way and rebuild it only when it did.
        let mut mh = xxhash_rust::xxh3::Xxh3::new();
        let gen = self.gen;
        while let Some(entry) = p.next().map_err(|e| e.to_string())? {
            let (series, value, timestamp, exemplar) = match entry {
                Entry::Sample {
                    series,
                    value,
                    timestamp,
                    exemplar,
                } => (series, value, timestamp, exemplar),
                Entry::Help { name, text } => {
                    mh.update(b"h\xff");
                    mh.update(name.as_bytes());
                    mh.update(text.as_bytes());
                    continue;
                }
                Entry::Type { name, kind } => {
                    mh.update(b"t\xff");
                    mh.update(name.as_bytes());
                    mh.update(kind.as_bytes());
                    continue;
                }
                Entry::Unit { name, unit } => {
                    mh.update(b"u\xff");
                    mh.update(name.as_bytes());
                    mh.update(unit.as_bytes());
                    continue;
                }
            };
            out.scraped += 1;
            out.exemplars += exemplar as u64;
            let idx = match self.map.get(series) {
                Some(&i) => i,
                None => {
                    let i = self.add(series, target, s)?;
                    out.added += 1;
                    i
                }
            };
            let e = &mut self.entries[idx as usize];
            if e.cur == gen {
                // Prometheus keeps the first sample of a series and rejects the rest.
                out.duplicates += 1;
                continue;
            }
            e.cur = gen;
            if e.dropped {
                continue;
            }
            out.post_relabel += 1;
            if s.sample_limit > 0 && out.post_relabel > s.sample_limit {
                return Err(format!(
                    "sample_limit exceeded: more than {} samples after metric relabeling",
                    s.sample_limit
                ));
            }
            let t = if s.honor_timestamps { timestamp } else { None };
            self.pending.push((idx, value, t));
        }
        Ok(mh.digest())
    }

    /// A series seen for the first time: its labels with the target's merged in, metric
    /// relabeling, limits.
    fn add(&mut self, series: &[u8], target: &LabelMap, s: &Settings) -> Result<u32, String> {
        let (name, pairs) = parse_series(series)?;
        let mut lb: LabelMap = pairs.into_iter().collect();
        lb.insert("__name__".into(), name);
        merge_target_labels(&mut lb, target, s.honor_labels);
        let mut labels = None;
        let dropped = !s.metric_relabel.is_empty() && !s.metric_relabel.process(&mut lb);
        if !dropped {
            check_limits(&lb, s)?;
            let l = Labels::from_sorted(lb.into_iter().map(|(n, v)| Label::new(n, v)).collect());
            l.validate().map_err(|e| e.to_string())?;
            labels = Some(l);
        }
        let entry = CacheEntry {
            labels,
            dropped,
            buf: Vec::with_capacity(1),
            cur: 0,
            last: 0,
            explicit_ts: false,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = entry;
                i
            }
            None => {
                self.entries.push(entry);
                (self.entries.len() - 1) as u32
            }
        };
        self.map.insert(series.into(), idx);
        Ok(idx)
    }

    /// Staleness markers at `ts` for the series of the last successful scrape that are not
    /// in scrape `now` (all of them when `now` is None).
    fn push_stale(&mut self, ts: i64, now: Option<u64>) -> u64 {
        if self.prev_ok == 0 {
            return 0;
        }
        let mut n = 0;
        for (i, e) in self.entries.iter_mut().enumerate() {
            if e.last != self.prev_ok || Some(e.last) == now || e.dropped || e.explicit_ts {
                continue;
            }
            let Some(labels) = e.labels.take() else {
                continue;
            };
            let mut buf = std::mem::take(&mut e.buf);
            buf.clear();
            buf.push(Sample::new(ts, STALE_NAN));
            self.batch.push(SeriesSamples {
                labels,
                samples: buf,
            });
            self.batch_idx.push(i as u32);
            n += 1;
        }
        n
    }

    /// Appends the synthetic series of this scrape to the batch.
    pub fn report(&mut self, target: &LabelMap, ts: i64, up: bool, duration_s: f64, o: &Outcome) {
        if self.report.is_empty() {
            self.report = REPORT_METRICS
                .iter()
                .map(|m| {
                    let mut lb = target.clone();
                    lb.insert("__name__".into(), m.to_string());
                    Labels::from_sorted(lb.into_iter().map(|(n, v)| Label::new(n, v)).collect())
                })
                .collect();
        }
        let values = [
            if up { 1.0 } else { 0.0 },
            duration_s,
            o.scraped as f64,
            o.post_relabel as f64,
            o.added as f64,
        ];
        for (l, v) in self.report.iter().zip(values) {
            self.batch.push(SeriesSamples {
                labels: l.clone(),
                samples: vec![Sample::new(ts, v)],
            });
            self.batch_idx.push(u32::MAX);
        }
        self.report_written = true;
    }

    /// The batch that ends a target: staleness markers for every series of its last
    /// successful scrape and for its synthetic series.
    pub fn stale_all(&mut self, ts: i64) -> u64 {
        let mut n = self.push_stale(ts, None);
        self.prev_ok = 0;
        if self.report_written {
            for l in &self.report {
                self.batch.push(SeriesSamples {
                    labels: l.clone(),
                    samples: vec![Sample::new(ts, STALE_NAN)],
                });
                self.batch_idx.push(u32::MAX);
                n += 1;
            }
            self.report_written = false;
        }
        n
    }

    /// Moves the batch's labels back into the cache and forgets series that were absent
    /// from the last two scrapes (their staleness marker is written by then).
    pub fn restore(&mut self) {
        for (ss, idx) in self.batch.drain(..).zip(self.batch_idx.drain(..)) {
            if idx == u32::MAX {
                continue;
            }
            let e = &mut self.entries[idx as usize];
            e.labels = Some(ss.labels);
            e.buf = ss.samples;
        }
        if self.prev_ok == self.gen && !self.orphans.is_empty() {
            for i in std::mem::take(&mut self.orphans) {
                let e = &mut self.entries[i as usize];
                e.labels = None;
                e.buf = Vec::new();
                self.free.push(i);
            }
        }
        if self.prev_ok == self.gen && self.gen.is_multiple_of(16) {
            let gen = self.gen;
            let entries = &mut self.entries;
            let free = &mut self.free;
            self.map.retain(|_, idx| {
                let e = &mut entries[*idx as usize];
                let keep = e.cur + 1 >= gen;
                if !keep {
                    e.labels = None;
                    e.buf = Vec::new();
                    free.push(*idx);
                }
                keep
            });
        }
    }
}

/// HELP/TYPE/UNIT of a payload that parsed, by family, sorted.
fn collect_metadata(body: &[u8], format: Format) -> Vec<MetricMetadata> {
    let mut meta: BTreeMap<&str, (&str, std::borrow::Cow<'_, str>, &str)> = BTreeMap::new();
    let mut p = Parser::new(body, format);
    while let Ok(Some(e)) = p.next() {
        match e {
            Entry::Help { name, text } => {
                meta.entry(name).or_insert(("unknown", "".into(), "")).1 = text;
            }
            Entry::Type { name, kind } => {
                meta.entry(name).or_insert(("unknown", "".into(), "")).0 = kind;
            }
            Entry::Unit { name, unit } => {
                meta.entry(name).or_insert(("unknown", "".into(), "")).2 = unit;
            }
            Entry::Sample { .. } => {}
        }
    }
    meta.into_iter()
        .map(|(name, (kind, help, unit))| MetricMetadata {
            metric: name.to_string(),
            kind: if kind == "untyped" { "unknown" } else { kind }.to_string(),
            help: help.into_owned(),
            unit: unit.to_string(),
        })
        .collect()
}

/// Target labels win over the series' own unless `honor_labels`; a series label they
/// override is kept as `exported_<name>` (and `exported_exported_<name>`...).
fn merge_target_labels(lb: &mut LabelMap, target: &LabelMap, honor_labels: bool) {
    for (k, v) in target {
        match lb.get(k) {
            None => {
                lb.insert(k.clone(), v.clone());
            }
            Some(_) if honor_labels => {}
            Some(old) => {
                let old = old.clone();
                let mut name = format!("exported_{k}");
                while lb.contains_key(&name) {
                    name = format!("exported_{name}");
                }
                lb.insert(name, old);
                lb.insert(k.clone(), v.clone());
            }
        }
    }
}

fn check_limits(lb: &LabelMap, s: &Settings) -> Result<(), String> {
    if s.label_limit > 0 && lb.len() as u64 > s.label_limit {
        return Err(format!(
            "label_limit exceeded: a series has {} labels, the limit is {}",
            lb.len(),
            s.label_limit
        ));
    }
    for (k, v) in lb {
        if s.label_name_length_limit > 0 && k.len() as u64 > s.label_name_length_limit {
            return Err(format!(
                "label_name_length_limit exceeded: label name {k:?} is longer than {}",
                s.label_name_length_limit
            ));
        }
        if s.label_value_length_limit > 0 && v.len() as u64 > s.label_value_length_limit {
            return Err(format!(
                "label_value_length_limit exceeded: the value of label {k:?} is longer than {}",
                s.label_value_length_limit
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_store::model::sample::is_stale_nan;

    fn target() -> LabelMap {
        [("instance", "h:1"), ("job", "j")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn settings() -> Settings {
        Settings {
            honor_timestamps: true,
            ..Default::default()
        }
    }

    /// (labels, t, v) of the batch, then restore.
    type Batch = Vec<(String, i64, f64)>;

    fn take(c: &mut SeriesCache) -> Batch {
        let v = c
            .batch()
            .iter()
            .flat_map(|s| {
                s.samples
                    .iter()
                    .map(move |x| (s.labels.to_string(), x.t, x.v))
            })
            .collect();
        c.restore();
        v
    }

    fn scrape(
        c: &mut SeriesCache,
        body: &str,
        s: &Settings,
        ts: i64,
    ) -> (Result<Outcome, String>, Batch) {
        let r = c
            .ingest(body.as_bytes(), Format::Text, &target(), s, ts)
            .map_err(|(e, _)| e);
        (r, take(c))
    }

    #[test]
    fn vanished_series_get_a_staleness_marker_once() {
        let s = settings();
        let mut c = SeriesCache::new();
        let (r, b) = scrape(&mut c, "a 1\nb{x=\"1\"} 2\n", &s, 1000);
        assert_eq!(r.unwrap().added, 2);
        assert_eq!(b.len(), 2);
        assert!(
            b[0].0.contains("instance") && b[0].0.contains("job"),
            "{b:?}"
        );
        let (r, b) = scrape(&mut c, "a 3\n", &s, 2000);
        assert_eq!(r.unwrap().stale_markers, 1);
        assert_eq!(b.len(), 2);
        let stale: Vec<_> = b.iter().filter(|x| is_stale_nan(x.2)).collect();
        assert_eq!(stale.len(), 1);
        assert!(
            stale[0].0.contains("\"b\"") && stale[0].1 == 2000,
            "{stale:?}"
        );
        let (_, b) = scrape(&mut c, "a 4\n", &s, 3000);
        assert_eq!(b.len(), 1, "the marker is written once: {b:?}");
        // The series comes back.
        let (r, b) = scrape(&mut c, "a 5\nb{x=\"1\"} 6\n", &s, 4000);
        assert_eq!(r.unwrap().added, 0, "still cached");
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn a_failed_scrape_stales_everything_and_appends_nothing() {
        let s = settings();
        let mut c = SeriesCache::new();
        assert!(scrape(&mut c, "a 1\nb 2\n", &s, 1000).0.is_ok());
        let (r, b) = scrape(&mut c, "a 1\nb 2\nthis is not valid\n", &s, 2000);
        assert!(r.unwrap_err().contains("line 3"));
        assert_eq!(b.len(), 2);
        assert!(b.iter().all(|x| is_stale_nan(x.2) && x.1 == 2000));
        let (_, b) = scrape(&mut c, "garbage\n", &s, 3000);
        assert!(b.is_empty(), "no second marker: {b:?}");
        let (r, b) = scrape(&mut c, "a 1\n", &s, 4000);
        assert!(r.is_ok());
        assert_eq!(
            b,
            vec![(
                "{__name__=\"a\", instance=\"h:1\", job=\"j\"}".to_string(),
                4000,
                1.0
            )]
        );
    }

    #[test]
    fn explicit_timestamps_are_kept_and_never_staled() {
        let s = settings();
        let mut c = SeriesCache::new();
        let (_, b) = scrape(&mut c, "a 1 500\nb 2\n", &s, 1000);
        assert_eq!(b[0].1, 500);
        let (_, b) = scrape(&mut c, "\n", &s, 2000);
        assert_eq!(b.len(), 1, "only b: {b:?}");
        let s2 = Settings {
            honor_timestamps: false,
            ..Default::default()
        };
        let (_, b) = scrape(&mut c, "a 1 500\n", &s2, 3000);
        assert_eq!(b[0].1, 3000, "honor_timestamps: false uses the scrape time");
    }

    #[test]
    fn duplicates_keep_the_first_sample() {
        let s = settings();
        let mut c = SeriesCache::new();
        let (r, b) = scrape(&mut c, "a 1\na 2\nb{x=\"1\"} 3\nb{x=\"1\"} 4\n", &s, 1000);
        assert_eq!(r.unwrap().duplicates, 2);
        assert_eq!(b.iter().map(|x| x.2).collect::<Vec<_>>(), vec![1.0, 3.0]);
    }

    #[test]
    fn target_labels_and_honor_labels() {
        let mut c = SeriesCache::new();
        let (_, b) = scrape(
            &mut c,
            "a{job=\"mine\",exported_job=\"x\"} 1\n",
            &settings(),
            1,
        );
        assert_eq!(
            b[0].0,
            "{__name__=\"a\", exported_exported_job=\"mine\", exported_job=\"x\", instance=\"h:1\", job=\"j\"}"
        );
        let s = Settings {
            honor_labels: true,
            ..settings()
        };
        let mut c = SeriesCache::new();
        let (_, b) = scrape(&mut c, "a{job=\"mine\"} 1\n", &s, 1);
        assert_eq!(b[0].0, "{__name__=\"a\", instance=\"h:1\", job=\"mine\"}");
    }

    #[test]
    fn limits_fail_the_scrape() {
        let mut c = SeriesCache::new();
        let s = Settings {
            sample_limit: 2,
            ..settings()
        };
        let (r, _) = scrape(&mut c, "a 1\nb 1\n", &s, 1);
        assert!(r.is_ok());
        let (r, b) = scrape(&mut c, "a 1\nb 1\nc 1\n", &s, 2);
        assert!(r.unwrap_err().contains("sample_limit"));
        assert!(b.iter().all(|x| is_stale_nan(x.2)));
        for (s, body, want) in [
            (
                Settings {
                    label_limit: 3,
                    ..settings()
                },
                "a{x=\"1\"} 1\n",
                "label_limit",
            ),
            (
                Settings {
                    label_name_length_limit: 4,
                    ..settings()
                },
                "a{long_name=\"1\"} 1\n",
                "label_name_length_limit",
            ),
            (
                Settings {
                    label_value_length_limit: 2,
                    ..settings()
                },
                "a{x=\"123\"} 1\n",
                "label_value_length_limit",
            ),
        ] {
            let mut c = SeriesCache::new();
            let (r, _) = scrape(&mut c, body, &s, 1);
            assert!(r.unwrap_err().contains(want));
        }
    }

    #[test]
    fn metric_relabeling_drops_and_rewrites() {
        let cfgs: Vec<crate::scrape::relabel::RelabelConfig> = serde_yaml::from_str(
            "[{source_labels: [__name__], regex: 'go_.*', action: drop}, {source_labels: [x], target_label: y}]",
        )
        .unwrap();
        let s = Settings {
            metric_relabel: Relabeler::new(&cfgs).unwrap(),
            ..settings()
        };
        let mut c = SeriesCache::new();
        let (r, b) = scrape(&mut c, "go_gc 1\na{x=\"v\"} 2\n", &s, 1);
        let o = r.unwrap();
        assert_eq!((o.scraped, o.post_relabel), (2, 1));
        assert_eq!(
            b[0].0,
            "{__name__=\"a\", instance=\"h:1\", job=\"j\", x=\"v\", y=\"v\"}"
        );
        let (_, b) = scrape(&mut c, "a{x=\"v\"} 2\n", &s, 2);
        assert_eq!(b.len(), 1, "no marker for a dropped series");
    }

    #[test]
    fn report_series_and_the_end_of_a_target() {
        let s = settings();
        let mut c = SeriesCache::new();
        let o = c
            .ingest(b"a 1\n", Format::Text, &target(), &s, 1000)
            .unwrap();
        c.report(&target(), 1000, true, 0.5, &o);
        let b = take(&mut c);
        let names: Vec<_> = b.iter().map(|x| x.0.clone()).collect();
        for m in REPORT_METRICS {
            assert!(names.iter().any(|n| n.contains(&format!("\"{m}\""))), "{m}");
        }
        assert!(b.iter().any(|x| x.0.contains("\"up\"") && x.2 == 1.0));
        assert!(b
            .iter()
            .any(|x| x.0.contains("scrape_samples_scraped") && x.2 == 1.0));
        assert_eq!(c.stale_all(2000), 6);
        let b = take(&mut c);
        assert!(b.iter().all(|x| is_stale_nan(x.2) && x.1 == 2000));
        assert_eq!(c.stale_all(3000), 0, "once");
    }

    #[test]
    fn metadata_is_kept_per_family() {
        let mut c = SeriesCache::new();
        c.ingest(
            b"# HELP a Help of a.\n# TYPE a counter\na 1\n# TYPE b untyped\nb 1\n",
            Format::Text,
            &target(),
            &settings(),
            1,
        )
        .unwrap();
        c.restore();
        let m = c.metadata();
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].metric.as_str(), m[0].kind.as_str(), m[0].help.as_str()),
            ("a", "counter", "Help of a.")
        );
        assert_eq!(m[1].kind, "unknown");
    }

    #[test]
    fn forgotten_series_leave_the_cache() {
        let s = settings();
        let mut c = SeriesCache::new();
        assert!(scrape(&mut c, "old 1\n", &s, 0).0.is_ok());
        for i in 1..40 {
            assert!(scrape(&mut c, "a 1\n", &s, i).0.is_ok());
        }
        assert_eq!(c.len(), 1);
    }
}
