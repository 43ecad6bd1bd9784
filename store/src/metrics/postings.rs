//! The inverted index shared by the head and by blocks: interned label strings, each
//! series' label set as pairs of symbol ids, and for every label pair the sorted ids of the
//! series that carry it (roaring bitmaps). Resolves the four matcher types with
//! Prometheus' semantics, including "matches the empty string, so also matches series that
//! lack the label".

use std::collections::HashMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::model::{Label, LabelSet, Labels, MatchOp, Matcher, Projection};

/// A [`Projection`] with its names as one index's symbol ids.
pub struct ResolvedProjection {
    keep: bool,
    names: Vec<u32>,
}

/// Interned strings. Label names and values repeat across series; each is kept once.
#[derive(Debug, Default)]
pub struct Symbols {
    strs: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
}

impl Symbols {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strs.len() as u32;
        let a: Arc<str> = Arc::from(s);
        self.strs.push(a.clone());
        self.ids.insert(a, id);
        id
    }

    pub fn lookup(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The string for an id this table handed out.
    pub fn get(&self, id: u32) -> &str {
        self.strs.get(id as usize).map(|s| &**s).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.strs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strs.is_empty()
    }
}

/// Series label sets plus postings. Series ids are dense, starting at 0.
#[derive(Debug, Default)]
pub struct Index {
    pub symbols: Symbols,
    series: Vec<Box<[(u32, u32)]>>,
    postings: HashMap<u32, HashMap<u32, RoaringBitmap>>,
}

impl Index {
    pub fn num_series(&self) -> u32 {
        self.series.len() as u32
    }

    /// Adds a series and returns its id. The caller makes sure it is not already present.
    pub fn add(&mut self, labels: &Labels) -> u32 {
        let id = self.series.len() as u32;
        let mut pairs = Vec::with_capacity(labels.len());
        for l in labels {
            let n = self.symbols.intern(&l.name);
            let v = self.symbols.intern(&l.value);
            pairs.push((n, v));
            self.postings
                .entry(n)
                .or_default()
                .entry(v)
                .or_default()
                .insert(id);
        }
        self.series.push(pairs.into_boxed_slice());
        id
    }

    pub fn labels(&self, id: u32) -> Labels {
        self.labels_where(id, |_| true)
    }

    /// The labels of series `id` whose name symbol passes `wanted`.
    fn labels_where(&self, id: u32, wanted: impl Fn(u32) -> bool) -> Labels {
        let pairs = self.series.get(id as usize).map(|p| &p[..]).unwrap_or(&[]);
        Labels::from_sorted(
            pairs
                .iter()
                .filter(|(n, _)| wanted(*n))
                .map(|&(n, v)| Label::new(self.symbols.get(n), self.symbols.get(v)))
                .collect(),
        )
    }

    /// The names of `p` as this index's symbols, for [`Index::projected_labels`].
    pub fn resolve(&self, p: &Projection) -> ResolvedProjection {
        let (keep, names) = match p {
            Projection::Keep(n) => (true, n),
            Projection::Drop(n) => (false, n),
        };
        ResolvedProjection {
            keep,
            names: names
                .iter()
                .filter_map(|n| self.symbols.lookup(n))
                .collect(),
        }
    }

    /// The labels of series `id` that `p` wants.
    pub fn projected_labels(&self, id: u32, p: &ResolvedProjection) -> Labels {
        self.labels_where(id, |n| p.names.contains(&n) == p.keep)
    }

    /// Whether series `id` has exactly these labels, without building a [`Labels`].
    pub fn labels_equal<L: LabelSet + ?Sized>(&self, id: u32, labels: &L) -> bool {
        let Some(pairs) = self.series.get(id as usize) else {
            return false;
        };
        pairs.len() == labels.pair_count()
            && pairs
                .iter()
                .zip(labels.pairs())
                .all(|(&(n, v), (name, value))| {
                    self.symbols.get(n) == name && self.symbols.get(v) == value
                })
    }

    /// Every label value of `name` with its postings.
    pub fn values_of(&self, name: &str) -> impl Iterator<Item = (&str, &RoaringBitmap)> {
        self.symbols
            .lookup(name)
            .and_then(|n| self.postings.get(&n))
            .into_iter()
            .flat_map(move |m| m.iter().map(move |(v, p)| (self.symbols.get(*v), p)))
    }

    pub fn label_names(&self) -> impl Iterator<Item = (&str, &HashMap<u32, RoaringBitmap>)> {
        self.postings.iter().map(|(n, m)| (self.symbols.get(*n), m))
    }

    /// How many series have label `name` = `value`.
    pub fn count(&self, name: &str, value: &str) -> u64 {
        self.postings(name, value).map_or(0, |p| p.len())
    }

    fn postings(&self, name: &str, value: &str) -> Option<&RoaringBitmap> {
        let n = self.symbols.lookup(name)?;
        let v = self.symbols.lookup(value)?;
        self.postings.get(&n)?.get(&v)
    }

    /// Union of postings of the values of `name` for which `keep` holds.
    fn union_where(&self, m: &Matcher, keep: impl Fn(&str) -> bool) -> RoaringBitmap {
        if let Some(set) = m.set_matches() {
            // A literal alternation under =~ is a set lookup; under !~ we still need the
            // complement, handled by the caller through `keep`.
            if m.op == MatchOp::RegexMatch {
                let mut out = RoaringBitmap::new();
                for v in set {
                    if let Some(p) = self.postings(&m.name, &v) {
                        out |= p;
                    }
                }
                return out;
            }
        }
        let mut out = RoaringBitmap::new();
        for (v, p) in self.values_of(&m.name) {
            if keep(v) {
                out |= p;
            }
        }
        out
    }

    pub fn all(&self) -> RoaringBitmap {
        let mut b = RoaringBitmap::new();
        if !self.series.is_empty() {
            b.insert_range(0..self.series.len() as u32);
        }
        b
    }

    /// Series ids matching every matcher.
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        // Start from the narrowest positive matcher where there is one, else from all series.
        let mut result: Option<RoaringBitmap> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let p = match m.op {
                MatchOp::Equal => self
                    .postings(&m.name, &m.value)
                    .cloned()
                    .unwrap_or_default(),
                _ => self.union_where(m, |v| m.matches(v)),
            };
            result = Some(match result {
                None => p,
                Some(r) => r & p,
            });
            if result.as_ref().is_some_and(|r| r.is_empty()) {
                return RoaringBitmap::new();
            }
        }
        let mut result = result.unwrap_or_else(|| self.all());
        for m in matchers.iter().filter(|m| m.matches_empty()) {
            // Matches absent labels: remove the series whose value for the label fails.
            let drop = match m.op {
                MatchOp::NotEqual => self
                    .postings(&m.name, &m.value)
                    .cloned()
                    .unwrap_or_default(),
                _ => {
                    let mut out = RoaringBitmap::new();
                    for (v, p) in self.values_of(&m.name) {
                        if !m.matches(v) {
                            out |= p;
                        }
                    }
                    out
                }
            };
            result -= drop;
        }
        result
    }

    /// Approximate heap bytes, for stats.
    pub fn approx_bytes(&self) -> usize {
        let labels: usize = self.series.iter().map(|p| p.len() * 8 + 16).sum();
        let postings: usize = self
            .postings
            .values()
            .flat_map(|m| m.values())
            .map(|b| b.serialized_size() + 48)
            .sum();
        let symbols: usize = self.strs_bytes();
        labels + postings + symbols
    }

    fn strs_bytes(&self) -> usize {
        self.symbols.strs.iter().map(|s| s.len() + 40).sum()
    }

    /// Raw access for the block writer and reader.
    pub(crate) fn raw_postings(&self) -> &HashMap<u32, HashMap<u32, RoaringBitmap>> {
        &self.postings
    }

    pub(crate) fn from_parts(
        symbols: Symbols,
        series: Vec<Box<[(u32, u32)]>>,
        postings: HashMap<u32, HashMap<u32, RoaringBitmap>>,
    ) -> Self {
        Index {
            symbols,
            series,
            postings,
        }
    }

    pub(crate) fn series_pairs(&self, id: u32) -> &[(u32, u32)] {
        self.series.get(id as usize).map(|p| &p[..]).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
        Matcher::new(op, n, v).unwrap()
    }

    fn index() -> Index {
        let mut idx = Index::default();
        idx.add(&Labels::from_pairs([
            ("__name__", "up"),
            ("job", "api"),
            ("instance", "a"),
        ])); // 0
        idx.add(&Labels::from_pairs([
            ("__name__", "up"),
            ("job", "db"),
            ("instance", "b"),
        ])); // 1
        idx.add(&Labels::from_pairs([("__name__", "up"), ("instance", "c")])); // 2
        idx.add(&Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("code", "200"),
        ])); // 3
        idx.add(&Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("code", "500"),
        ])); // 4
        idx
    }

    /// The matcher semantics table: each row is a selector and the series it must return.
    #[test]
    fn matcher_semantics_table() {
        use MatchOp::*;
        let idx = index();
        let cases: Vec<(Vec<Matcher>, Vec<u32>)> = vec![
            (vec![m(Equal, "__name__", "up")], vec![0, 1, 2]),
            (
                vec![m(Equal, "__name__", "up"), m(Equal, "job", "api")],
                vec![0],
            ),
            (
                vec![m(Equal, "__name__", "up"), m(NotEqual, "job", "api")],
                vec![1, 2],
            ),
            // job="" selects series without a job label
            (
                vec![m(Equal, "__name__", "up"), m(Equal, "job", "")],
                vec![2],
            ),
            // job!="" selects series that have one
            (
                vec![m(Equal, "__name__", "up"), m(NotEqual, "job", "")],
                vec![0, 1],
            ),
            (
                vec![m(Equal, "__name__", "up"), m(RegexMatch, "job", "a.*")],
                vec![0],
            ),
            // anchored: "pi" does not match "api"
            (
                vec![m(Equal, "__name__", "up"), m(RegexMatch, "job", "pi")],
                vec![],
            ),
            // =~ matching empty also takes series without the label
            (
                vec![m(Equal, "__name__", "up"), m(RegexMatch, "job", "db|")],
                vec![1, 2],
            ),
            (
                vec![m(Equal, "__name__", "up"), m(RegexMatch, "job", ".*")],
                vec![0, 1, 2],
            ),
            (
                vec![m(Equal, "__name__", "up"), m(RegexMatch, "job", ".+")],
                vec![0, 1],
            ),
            (
                vec![m(Equal, "__name__", "up"), m(RegexNoMatch, "job", "api")],
                vec![1, 2],
            ),
            (
                vec![m(Equal, "__name__", "up"), m(RegexNoMatch, "job", ".+")],
                vec![2],
            ),
            (
                vec![m(Equal, "__name__", "up"), m(RegexNoMatch, "job", ".*")],
                vec![],
            ),
            (
                vec![
                    m(RegexMatch, "__name__", "http_.*"),
                    m(RegexMatch, "code", "5.."),
                ],
                vec![4],
            ),
            (vec![m(RegexMatch, "code", "200|500")], vec![3, 4]),
            (
                vec![m(RegexNoMatch, "code", "200|500"), m(Equal, "job", "api")],
                vec![0],
            ),
            (vec![m(Equal, "__name__", "nope")], vec![]),
            (
                vec![m(Equal, "job", "api"), m(Equal, "nolabel", "")],
                vec![0, 3, 4],
            ),
        ];
        for (ms, want) in cases {
            let got: Vec<u32> = idx.select(&ms).iter().collect();
            let desc: Vec<String> = ms.iter().map(|m| m.to_string()).collect();
            assert_eq!(got, want, "{{{}}}", desc.join(","));
        }
    }

    #[test]
    fn labels_round_trip_through_symbols() {
        let idx = index();
        assert_eq!(
            idx.labels(3),
            Labels::from_pairs([
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "200")
            ])
        );
        assert!(idx.labels_equal(
            2,
            &Labels::from_pairs([("__name__", "up"), ("instance", "c")])
        ));
        assert!(!idx.labels_equal(2, &Labels::from_pairs([("__name__", "up")])));
    }
}
