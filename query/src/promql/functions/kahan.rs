//! Kahan–Neumaier compensated summation, as Prometheus' `util/kahansum` does it.
//!
//! Prometheus keeps the running sum and its compensation apart and adds them only at the
//! end; results match it only if we do the same, including resetting the compensation once
//! the sum reaches ±Inf (otherwise `Inf - Inf` would turn the compensation into NaN).

/// Adds `inc` to the running `sum` with compensation `c`; returns the new `(sum, c)`.
///
/// The caller adds `c` to `sum` once at the end (unless the sum is infinite).
#[inline]
pub fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        // Neumaier's improvement: compensate with whichever operand is smaller.
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(values: &[f64]) -> f64 {
        let (s, c) = values
            .iter()
            .fold((0.0, 0.0), |(s, c), &v| kahan_sum_inc(v, s, c));
        if s.is_infinite() {
            s
        } else {
            s + c
        }
    }

    #[test]
    fn recovers_small_terms_lost_next_to_huge_ones() {
        // functions.test: sum_over_time of `1 1e100 1 -1e100` is 2.
        assert_eq!(sum(&[1.0, 1e100, 1.0, -1e100]), 2.0);
    }

    #[test]
    fn infinity_resets_compensation() {
        let (s, c) = kahan_sum_inc(f64::INFINITY, 1.0, 0.5);
        assert_eq!(s, f64::INFINITY);
        assert_eq!(c, 0.0);
        assert_eq!(sum(&[1.0, f64::INFINITY, 2.0]), f64::INFINITY);
        assert!(sum(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
    }

    #[test]
    fn plain_sums_are_exact() {
        assert_eq!(sum(&[0.1; 10]), 1.0);
        assert_eq!(sum(&[]), 0.0);
    }
}
