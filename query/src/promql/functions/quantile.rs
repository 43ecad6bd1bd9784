//! Quantiles: of plain values (`quantile`, `quantile_over_time`, `mad_over_time`) and of
//! classic histograms given as cumulative `le` buckets (`histogram_quantile`,
//! `histogram_fraction`).
//!
//! The evaluator groups `_bucket` series into [`Bucket`]s (parsing `le`, warning about a
//! missing or malformed one) and turns [`BucketQuantile::forced_monotonic`] into
//! Prometheus' info annotation; the numbers are computed here.

use std::cmp::Ordering;

/// Relative difference under which two adjacent bucket counts are taken as equal
/// (floating point noise, e.g. from `rate` of each bucket), as in Prometheus.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// The φ-quantile of `values`, interpolating linearly between the two closest ranks.
///
/// Sorts `values` (NaN first, as Prometheus does). Empty input or a NaN `q` gives NaN,
/// `q < 0` gives -Inf and `q > 1` gives +Inf; Prometheus warns about such `q` (the
/// evaluator's job).
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_unstable_by(nan_first);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    // `lower` and `upper` are within 0..n-1 by construction.
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Prometheus' value order for quantiles: NaN below everything, otherwise numeric.
fn nan_first(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// One cumulative classic-histogram bucket: `count` observations were `<= upper`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub upper: f64,
    pub count: f64,
}

/// The result of [`bucket_quantile`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketQuantile {
    pub value: f64,
    /// Counts decreased from one bucket to the next and were raised to keep them
    /// monotonic; Prometheus then emits the info "input to histogram_quantile needed to
    /// be fixed for monotonicity".
    pub forced_monotonic: bool,
    /// Differences below a relative 1e-12 between adjacent buckets were ignored
    /// (silently, in Prometheus).
    pub fixed_precision: bool,
    /// Lowest upper bound of a bucket whose count was raised (+Inf if none), for the
    /// monotonicity info's details.
    pub min_bucket: f64,
    /// Highest upper bound of a bucket whose count was raised (-Inf if none).
    pub max_bucket: f64,
    /// Largest amount a bucket's count was raised by (0 if none).
    pub max_diff: f64,
}

impl BucketQuantile {
    fn plain(value: f64) -> Self {
        BucketQuantile {
            value,
            forced_monotonic: false,
            fixed_precision: false,
            min_bucket: f64::INFINITY,
            max_bucket: f64::NEG_INFINITY,
            max_diff: 0.0,
        }
    }
}

/// `histogram_quantile(q, …)` over one classic histogram.
///
/// Sorts `buckets` by upper bound and merges equal bounds (so `le="0.2"` and `le="2e-1"`
/// count as one bucket), which rewrites `buckets`. The quantile is interpolated linearly
/// inside its bucket; the lowest bucket starts at 0 if its upper bound is positive, and
/// its upper bound is returned if that is `<= 0`. A quantile in the +Inf bucket gives the
/// second highest bound. NaN without a +Inf bucket, with fewer than two buckets, with
/// zero observations or for a NaN `q`; -Inf / +Inf for `q` below 0 / above 1.
pub fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> BucketQuantile {
    if q.is_nan() {
        return BucketQuantile::plain(f64::NAN);
    }
    if q < 0.0 {
        return BucketQuantile::plain(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return BucketQuantile::plain(f64::INFINITY);
    }
    if !sort_and_coalesce(buckets) {
        return BucketQuantile::plain(f64::NAN);
    }
    let mut result = BucketQuantile::plain(f64::NAN);
    ensure_monotonic(buckets, &mut result);
    let n = buckets.len();
    if n < 2 {
        return result;
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return result;
    }
    let mut rank = q * observations;
    // First bucket (the +Inf one excluded) whose cumulative count reaches the rank.
    let b = go_search(n - 1, |i| buckets[i].count >= rank);
    result.value = if b == n - 1 {
        buckets[n - 2].upper
    } else if b == 0 && buckets[0].upper <= 0.0 {
        buckets[0].upper
    } else {
        let end = buckets[b].upper;
        let mut count = buckets[b].count;
        let mut start = 0.0;
        if b > 0 {
            start = buckets[b - 1].upper;
            count -= buckets[b - 1].count;
            rank -= buckets[b - 1].count;
        }
        start + (end - start) * (rank / count)
    };
    result
}

/// `histogram_fraction(lower, upper, …)` over one classic histogram: the estimated share
/// of observations between `lower` and `upper`, interpolating linearly inside buckets.
///
/// The lowest bucket starts at 0 if its upper bound is positive and at -Inf otherwise;
/// nothing is interpolated inside a bucket with an infinite bound. NaN without a +Inf
/// bucket, with zero observations or for a NaN bound; 0 if `lower >= upper`.
pub fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if !sort_and_coalesce(buckets) {
        return f64::NAN;
    }
    let total = buckets[buckets.len() - 1].count;
    if total == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }

    let mut rank = 0.0;
    let mut lower_rank = None;
    let mut upper_rank = None;
    let mut bucket_start = if buckets[0].upper <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            bucket_start = buckets[i - 1].upper;
        }
        let bucket_end = b.upper;
        // Cumulative count at `v` inside this bucket. A bucket open to -Inf contributes
        // all of its count at once (Inf/Inf would be NaN); one open to +Inf contributes
        // nothing, as `finite / Inf` is 0.
        let at = |v: f64| {
            if bucket_start == f64::NEG_INFINITY {
                b.count
            } else {
                rank + (b.count - rank) * (v - bucket_start) / (bucket_end - bucket_start)
            }
        };
        if lower_rank.is_none() && bucket_start >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && bucket_start >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && bucket_start < lower && bucket_end > lower {
            lower_rank = Some(at(lower));
        }
        if upper_rank.is_none() && bucket_start < upper && bucket_end > upper {
            upper_rank = Some(at(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank = b.count;
    }
    let clamp = |r: Option<f64>| match r {
        Some(r) if r <= total => r,
        _ => total,
    };
    (clamp(upper_rank) - clamp(lower_rank)) / total
}

/// Go's `sort.Search`: the smallest `i` in `0..n` for which `f(i)` holds, assuming `f` is
/// false and then true. Done by hand rather than with `partition_point` so that a
/// predicate that is not monotonic (NaN counts) probes the same indices as Prometheus and
/// lands on the same bucket.
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = i + (j - i) / 2;
        if f(h) {
            j = h;
        } else {
            i = h + 1;
        }
    }
    i
}

/// Sorts by upper bound and merges buckets with equal bounds. Returns false (leaving
/// `buckets` sorted) when there is no +Inf bucket, in which case the result is NaN.
fn sort_and_coalesce(buckets: &mut Vec<Bucket>) -> bool {
    // NaN bounds do not occur: the evaluator skips `le` values that are NaN.
    buckets.sort_by(|a, b| a.upper.partial_cmp(&b.upper).unwrap_or(Ordering::Equal));
    match buckets.last() {
        Some(last) if last.upper == f64::INFINITY => {}
        _ => return false,
    }
    let mut out = 0;
    for i in 1..buckets.len() {
        if buckets[i].upper == buckets[out].upper {
            buckets[out].count += buckets[i].count;
        } else {
            out += 1;
            buckets[out] = buckets[i];
        }
    }
    buckets.truncate(out + 1);
    true
}

/// Prometheus' `ensureMonotonicAndIgnoreSmallDeltas`: first ignores differences too small
/// to be anything but rounding (in either direction), then raises any count below its
/// predecessor's, recording what it changed in `result`.
fn ensure_monotonic(buckets: &mut [Bucket], result: &mut BucketQuantile) {
    let Some(first) = buckets.first() else {
        return;
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            b.count = prev;
            result.fixed_precision = true;
            continue;
        }
        if curr < prev {
            b.count = prev;
            result.forced_monotonic = true;
            result.min_bucket = result.min_bucket.min(b.upper);
            result.max_bucket = result.max_bucket.max(b.upper);
            if prev - curr > result.max_diff {
                result.max_diff = prev - curr;
            }
            continue;
        }
        prev = curr;
    }
}

/// Prometheus' `almost.Equal` for ordinary floats: relative difference below `epsilon`.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    fn close(a: f64, b: f64) -> bool {
        almost_equal(a, b, 1e-9)
    }

    fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    fn hq(q: f64, pairs: &[(f64, f64)]) -> f64 {
        bucket_quantile(q, &mut buckets(pairs)).value
    }

    fn hf(lower: f64, upper: f64, pairs: &[(f64, f64)]) -> f64 {
        bucket_fraction(lower, upper, &mut buckets(pairs))
    }

    #[test]
    fn quantile_interpolates_between_ranks() {
        // functions.test quantile_over_time cases.
        assert_eq!(quantile(0.0, &mut [0.0, 1.0]), 0.0);
        assert_eq!(quantile(0.75, &mut [0.0, 1.0]), 0.75);
        assert_eq!(quantile(0.75, &mut [0.0, 1.0, 2.0]), 1.5);
        assert_eq!(quantile(0.75, &mut [0.0, 1.0, 4.0]), 2.5);
        assert!(close(quantile(0.8, &mut [4.0, 0.0, 1.0]), 2.8));
        assert_eq!(quantile(1.0, &mut [3.0, 1.0, 2.0]), 3.0);
        assert_eq!(quantile(0.5, &mut [5.0]), 5.0);
    }

    #[test]
    fn quantile_special_cases() {
        assert_eq!(quantile(-1.0, &mut [1.0, 2.0]), f64::NEG_INFINITY);
        assert_eq!(quantile(2.0, &mut [1.0, 2.0]), INF);
        assert!(quantile(f64::NAN, &mut [1.0, 2.0]).is_nan());
        assert!(quantile(0.5, &mut []).is_nan());
        // NaN sorts first, so it affects low quantiles only.
        assert!(quantile(0.0, &mut [1.0, f64::NAN, 2.0]).is_nan());
        assert_eq!(quantile(1.0, &mut [1.0, f64::NAN, 2.0]), 2.0);
    }

    // testhistogram_bucket and testhistogram3_bucket of histograms.test at 50m.
    const POSITIVE: [(f64, f64); 4] = [(0.1, 50.0), (0.2, 70.0), (1.0, 110.0), (INF, 120.0)];
    const NEGATIVE: [(f64, f64); 4] = [(-0.2, 10.0), (-0.1, 20.0), (0.3, 20.0), (INF, 30.0)];
    const POSITIVE3: [(f64, f64); 5] = [
        (0.0, 0.0),
        (0.1, 50.0),
        (0.2, 70.0),
        (1.0, 110.0),
        (INF, 110.0),
    ];
    const NEGATIVE3: [(f64, f64); 5] = [
        (-0.25, 0.0),
        (-0.2, 10.0),
        (-0.1, 20.0),
        (0.3, 20.0),
        (INF, 20.0),
    ];

    #[test]
    fn bucket_quantile_matches_histograms_test() {
        assert!(close(hq(0.25, &POSITIVE3), 0.055));
        assert!(close(hq(0.25, &NEGATIVE3), -0.225));
        assert!(close(hq(0.75, &POSITIVE3), 0.45));
        assert!(close(hq(0.75, &NEGATIVE3), -0.15));
        assert_eq!(hq(1.0, &POSITIVE3), 1.0);
        assert_eq!(hq(1.0, &NEGATIVE3), -0.1);
        assert_eq!(hq(1.0, &POSITIVE), 1.0);
        assert_eq!(hq(1.0, &NEGATIVE), 0.3);
        assert!(close(hq(0.5, &POSITIVE), 0.15));
        assert!(close(hq(0.5, &NEGATIVE), -0.15));
        assert!(close(hq(0.8, &POSITIVE), 0.72));
        assert_eq!(hq(0.8, &NEGATIVE), 0.3);
        let h2 = [(0.0, 0.0), (2.0, 1.0), (4.0, 2.0), (6.0, 3.0), (INF, 3.0)];
        assert!(close(hq(1.0 / 6.0, &h2), 1.0));
        assert!(close(hq(0.5, &h2), 3.0));
        assert!(close(hq(5.0 / 6.0, &h2), 5.0));
    }

    #[test]
    fn bucket_quantile_is_order_independent() {
        let shuffled = [(INF, 120.0), (0.2, 70.0), (0.1, 50.0), (1.0, 110.0)];
        assert!(close(hq(0.8, &shuffled), 0.72));
    }

    #[test]
    fn lowest_bucket_rules() {
        // Positive lowest bound: interpolate from 0.
        assert!(close(hq(0.1, &POSITIVE), 0.024));
        // Non-positive lowest bound: that bound is the answer.
        assert_eq!(hq(0.1, &NEGATIVE), -0.2);
    }

    #[test]
    fn bucket_quantile_special_cases() {
        assert_eq!(hq(-0.1, &POSITIVE), f64::NEG_INFINITY);
        assert_eq!(hq(1.01, &POSITIVE), INF);
        assert!(hq(f64::NAN, &POSITIVE).is_nan());
        // No +Inf bucket.
        assert!(hq(0.5, &[(0.1, 1.0), (1.0, 2.0)]).is_nan());
        // Only the +Inf bucket.
        assert!(hq(0.5, &[(INF, 10.0)]).is_nan());
        // No observations (empty_bucket, const_histogram rate).
        assert!(hq(0.2, &[(0.1, 0.0), (0.2, 0.0), (INF, 0.0)]).is_nan());
        assert!(hq(1.0, &[(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (INF, 0.0)]).is_nan());
        // Empty input does not panic.
        assert!(hq(0.5, &[]).is_nan());
    }

    #[test]
    fn equal_bounds_are_merged() {
        // mixed_bucket{instance="ins1"} rate over 10m: 0.1, 0.2, 2e-1, 2.0e-1, +Inf.
        let r = 1.0 / 300.0;
        let mixed = [(0.1, r), (0.2, r), (0.2, r), (0.2, r), (INF, 4.0 * r)];
        assert!(close(hq(0.5, &mixed), 0.15));
        assert!(close(hq(0.75, &mixed), 0.2));
        // mixed_bucket{instance="ins2"}: two +Inf buckets with zero counts.
        assert!(hq(0.5, &[(INF, 0.0), (INF, 0.0)]).is_nan());
    }

    #[test]
    fn nonmonotonic_buckets_are_forced_monotonic() {
        // nonmonotonic_bucket at 50m.
        let pairs = [
            (0.1, 20.0),
            (1.0, 10.0),
            (10.0, 50.0),
            (100.0, 40.0),
            (1000.0, 90.0),
            (INF, 80.0),
        ];
        let r = bucket_quantile(0.01, &mut buckets(&pairs));
        assert!(close(r.value, 0.0045));
        assert!(r.forced_monotonic);
        assert_eq!(r.min_bucket, 1.0);
        assert_eq!(r.max_bucket, INF);
        assert_eq!(r.max_diff, 10.0);
        assert!(close(hq(0.99, &pairs), 979.75));
        let ok = bucket_quantile(0.5, &mut buckets(&POSITIVE));
        assert!(!ok.forced_monotonic && !ok.fixed_precision);
    }

    #[test]
    fn rounding_noise_is_ignored_silently() {
        let pairs = [(1.0, 1.0), (2.0, 1.0 - 1e-15), (INF, 1.0)];
        let r = bucket_quantile(0.5, &mut buckets(&pairs));
        assert!(r.fixed_precision);
        assert!(!r.forced_monotonic);
        assert_eq!(r.value, 0.5);
    }

    #[test]
    fn go_search_probes_like_go() {
        assert_eq!(go_search(0, |_| true), 0);
        assert_eq!(go_search(5, |i| i >= 3), 3);
        assert_eq!(go_search(5, |_| false), 5);
        // Not monotonic: Go probes 2 (false), then 4 (true), then 3 (false) and answers 4.
        assert_eq!(go_search(5, |i| i == 0 || i == 4), 4);
    }

    #[test]
    fn bucket_fraction_matches_histograms_test() {
        let h2 = [
            (0.0, 0.0),
            (2.0, 10.0),
            (4.0, 20.0),
            (6.0, 30.0),
            (INF, 30.0),
        ];
        assert!(close(hf(0.0, 4.0, &h2), 0.6666666666666666));
        assert!(close(hf(0.0, 3.5, &h2), 0.5833333333333334));
        assert!(close(hf(0.0, 0.2, &POSITIVE3), 0.6363636363636364));
        assert_eq!(hf(0.0, 0.2, &NEGATIVE3), 0.0);

        let pos = [(1.0, 1.0), (2.0, 3.0), (3.0, 6.0), (INF, 100.0)];
        let neg = [(-3.0, 10.0), (-2.0, 12.0), (-1.0, 15.0), (INF, 100.0)];
        assert!(close(hf(0.0, 1.5, &pos), 0.02));
        assert!(close(hf(-3.0, -2.0, &neg), 0.02));
        assert!(close(hf(f64::NEG_INFINITY, -1.5, &neg), 0.135));
        assert_eq!(hf(f64::NEG_INFINITY, INF, &pos), 1.0);
        assert_eq!(hf(f64::NEG_INFINITY, INF, &neg), 1.0);
        assert_eq!(hf(4.0, 5.0, &pos), 0.0);
        assert_eq!(hf(0.0, 5.0, &neg), 0.0);
        assert!(close(hf(2.0, 5.0, &pos), 0.03));
        assert!(close(hf(400.0, INF, &pos), 0.94));
        assert_eq!(hf(2.0, 2.0, &pos), 0.0);
        assert_eq!(hf(3.0, 2.0, &pos), 0.0);
        assert!(close(hf(2.0, 3.5, &pos), 0.03));
        assert!(close(hf(0.5, 2.0, &pos), 0.025));
        assert!(close(hf(1.0, 3.0, &pos), 0.05));
        let frac = [(0.5, 2.5), (1.0, 7.5), (INF, 100.0)];
        assert!(close(hf(0.1, 0.75, &frac), 0.045));
        let cross = [
            (-2.0, 5.0),
            (-1.0, 10.0),
            (0.0, 15.0),
            (1.0, 20.0),
            (INF, 100.0),
        ];
        assert!(close(hf(-1.0, 1.0, &cross), 0.1));
        let few = [(1.0, 1.0), (2.0, 3.0), (INF, 10.0)];
        assert_eq!(hf(-10.0, -5.0, &few), 0.0);
        assert_eq!(hf(5.0, 10.0, &few), 0.0);
        assert_eq!(hf(0.0, 5.0, &[(INF, 100.0)]), 0.0);
    }

    #[test]
    fn bucket_fraction_special_cases() {
        let pos = [(1.0, 1.0), (INF, 100.0)];
        assert!(hf(f64::NAN, 1.0, &pos).is_nan());
        assert!(hf(0.0, f64::NAN, &pos).is_nan());
        let zero = [(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (INF, 0.0)];
        assert!(hf(0.0, 5.0, &zero).is_nan());
        assert!(hf(0.0, 5.0, &[(1.0, 1.0)]).is_nan());
        assert!(hf(0.0, 5.0, &[]).is_nan());
    }
}
