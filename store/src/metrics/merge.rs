//! Merging sample runs from several sources (blocks, the head's in-order and out-of-order
//! parts). One rule everywhere: for a repeated timestamp, the newest write wins.

use crate::model::Sample;

/// Merges runs that are each sorted by time. Runs are given oldest write first; where
/// several runs hold the same timestamp, the sample of the latest run is kept.
pub fn merge_runs(mut runs: Vec<Vec<Sample>>) -> Vec<Sample> {
    runs.retain(|r| !r.is_empty());
    match runs.len() {
        0 => return Vec::new(),
        1 => return runs.pop().unwrap_or_default(),
        _ => {}
    }
    // Fast path: runs that do not overlap in time concatenate.
    let disjoint = runs.windows(2).all(|w| match (w[0].last(), w[1].first()) {
        (Some(a), Some(b)) => a.t < b.t,
        _ => true,
    });
    if disjoint {
        return runs.concat();
    }
    let mut all: Vec<(i64, usize, f64)> = Vec::with_capacity(runs.iter().map(Vec::len).sum());
    for (prio, r) in runs.iter().enumerate() {
        all.extend(r.iter().map(|s| (s.t, prio, s.v)));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<Sample> = Vec::with_capacity(all.len());
    for (t, _, v) in all {
        match out.last_mut() {
            Some(last) if last.t == t => last.v = v,
            _ => out.push(Sample { t, v }),
        }
    }
    out
}

/// Sorts samples given in write order by time, keeping the last write for a timestamp.
pub fn sort_dedup_last(mut samples: Vec<Sample>) -> Vec<Sample> {
    samples.reverse();
    // Stable sort keeps, among equal timestamps, the reversed order: latest write first.
    samples.sort_by_key(|s| s.t);
    samples.dedup_by_key(|s| s.t);
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample::new(t, v)
    }

    #[test]
    fn latest_run_wins() {
        let got = merge_runs(vec![
            vec![s(1, 1.0), s(2, 1.0), s(3, 1.0)],
            vec![s(2, 2.0), s(4, 2.0)],
            vec![s(2, 3.0)],
        ]);
        assert_eq!(got, vec![s(1, 1.0), s(2, 3.0), s(3, 1.0), s(4, 2.0)]);
    }

    #[test]
    fn write_order_dedup() {
        let got = sort_dedup_last(vec![s(5, 1.0), s(3, 1.0), s(5, 2.0), s(1, 0.0), s(3, 9.0)]);
        assert_eq!(got, vec![s(1, 0.0), s(3, 9.0), s(5, 2.0)]);
    }
}
