//! Label order of a head's series, for reads that return series sorted by their label sets.
//! A wide selection (a rule's `count by (job) (up)` over tens of thousands of series) used
//! to sort its label sets on every read, comparing strings. This module keeps a rank per
//! series id: the position of its label set among the series that existed when the ranks
//! were computed. Label sets never change and ids are never reused within a head, so a rank
//! stays right for as long as the head lives; series added since are sorted by their labels
//! and merged in.

use std::cmp::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use super::postings::Index;

/// Below this many ids a direct sort is as cheap as looking ranks up.
const DIRECT_SORT: usize = 256;

/// Ranks are recomputed under the head's read lock, which holds writers off for the sort of
/// every series (about a second per million): past this many series that pause is not
/// worth it, and reads sort their own selection as they did before ranks.
const MAX_RANKED: u32 = 1 << 18;

#[derive(Debug)]
struct Ranks {
    /// Series `0..upto` are ranked.
    upto: u32,
    rank: Vec<u32>,
}

/// The ranks cache of one head.
#[derive(Debug, Default)]
pub struct LabelOrder {
    ranks: Mutex<Option<Arc<Ranks>>>,
}

impl LabelOrder {
    /// Sorts `ids` (series of `index`) by their label sets.
    pub fn sort(&self, index: &Index, ids: &mut Vec<u32>) {
        let by_labels = |a: &u32, b: &u32| compare(index, *a, *b);
        if ids.len() < DIRECT_SORT {
            ids.sort_unstable_by(by_labels);
            return;
        }
        let ranks = self.ranks_for(index, ids.len());
        let Some(ranks) = ranks else {
            ids.sort_unstable_by(by_labels);
            return;
        };
        let (mut old, mut new): (Vec<u32>, Vec<u32>) = ids.iter().partition(|&&id| id < ranks.upto);
        old.sort_unstable_by_key(|&id| ranks.rank[id as usize]);
        if new.is_empty() {
            *ids = old;
            return;
        }
        new.sort_unstable_by(by_labels);
        ids.clear();
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < new.len() {
            if compare(index, old[i], new[j]) == Ordering::Greater {
                ids.push(new[j]);
                j += 1;
            } else {
                ids.push(old[i]);
                i += 1;
            }
        }
        ids.extend_from_slice(&old[i..]);
        ids.extend_from_slice(&new[j..]);
    }

    /// The current ranks, recomputed first when a quarter of the series or more are not
    /// ranked and this read (`wanted` ids) is wide enough to pay for it; `None` when there
    /// are none worth using.
    fn ranks_for(&self, index: &Index, wanted: usize) -> Option<Arc<Ranks>> {
        let n = index.num_series();
        let mut cached = self.ranks.lock();
        let stale = cached
            .as_ref()
            .is_none_or(|r| (n - r.upto) as u64 * 4 > n as u64);
        if stale && n <= MAX_RANKED && wanted as u64 * 16 >= n as u64 {
            let mut all: Vec<u32> = (0..n).collect();
            all.sort_unstable_by(|a, b| compare(index, *a, *b));
            let mut rank = vec![0u32; n as usize];
            for (pos, id) in all.into_iter().enumerate() {
                rank[id as usize] = pos as u32;
            }
            *cached = Some(Arc::new(Ranks { upto: n, rank }));
        }
        cached.clone()
    }
}

/// Orders two series of `index` as their [`crate::model::Labels`] order: pair by pair, name
/// then value. Equal symbol ids are equal strings, so only differing ids are looked up.
fn compare(index: &Index, a: u32, b: u32) -> Ordering {
    let (pa, pb) = (index.series_pairs(a), index.series_pairs(b));
    for (&(an, av), &(bn, bv)) in pa.iter().zip(pb) {
        if an != bn {
            let o = index.symbols.get(an).cmp(index.symbols.get(bn));
            if o != Ordering::Equal {
                return o;
            }
        }
        if av != bv {
            let o = index.symbols.get(av).cmp(index.symbols.get(bv));
            if o != Ordering::Equal {
                return o;
            }
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;

    fn labels(i: u32) -> Labels {
        // Creation order differs from label order: values are not zero-padded and the
        // label count varies.
        let mut pairs = vec![
            ("__name__".to_string(), format!("m{}", i % 7)),
            ("instance".to_string(), format!("i{}", (i * 7919) % 1000)),
        ];
        if i.is_multiple_of(3) {
            pairs.push(("a".to_string(), format!("{}", i % 5)));
        }
        pairs.push(("z".to_string(), i.to_string()));
        Labels::from_pairs(pairs)
    }

    #[test]
    fn sorts_as_label_sets_sort_before_and_after_series_are_added() {
        let mut index = Index::default();
        let order = LabelOrder::default();
        let mut added = 0u32;
        for batch in [3000u32, 200, 2000, 50, 0] {
            for _ in 0..batch {
                index.add(&labels(added));
                added += 1;
            }
            for (stride, offset) in [(1u32, 0u32), (3, 1), (17, 5), (400, 2)] {
                let mut ids: Vec<u32> = (offset..added).step_by(stride as usize).collect();
                let mut want = ids.clone();
                want.sort_by_key(|&id| index.labels(id));
                order.sort(&index, &mut ids);
                assert_eq!(ids, want, "batch {batch}, stride {stride}");
            }
        }
    }
}
