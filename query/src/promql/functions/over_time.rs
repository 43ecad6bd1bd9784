//! Aggregations of one series' window: the `*_over_time` functions and the `ts_of_*`
//! variants that return when the picked sample was taken.
//!
//! All return `None` for an empty window (Prometheus does not call them then) and
//! otherwise a value, NaN and ±Inf included, following Prometheus' arithmetic.

use super::kahan::kahan_sum_inc;
use super::quantile::quantile;
use super::range::Window;

/// `sum_over_time`: Kahan-compensated sum.
pub fn sum_over_time(w: &Window) -> Option<f64> {
    if w.points.is_empty() {
        return None;
    }
    let (sum, c) = w
        .points
        .iter()
        .fold((0.0, 0.0), |(sum, c), p| kahan_sum_inc(p.v, sum, c));
    Some(if sum.is_infinite() { sum } else { sum + c })
}

/// `avg_over_time`: the Kahan-compensated sum divided by the count, switching to an
/// incremental mean once the running sum would overflow to ±Inf (Prometheus 3).
///
/// The direct mean is the more accurate of the two (prometheus/prometheus#16714), so it
/// is kept for as long as it can be; only values whose sum leaves the float range take
/// the incremental path, which is why `avg` of two values near `f64::MAX` is finite.
pub fn avg_over_time(w: &Window) -> Option<f64> {
    let (first, rest) = w.points.split_first()?;
    let mut sum = first.v;
    let mut c = 0.0;
    let mut count = 1.0;
    let mut mean = 0.0;
    let mut incremental = false;
    for (i, p) in rest.iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (new_sum, new_c) = kahan_sum_inc(p.v, sum, c);
            if !new_sum.is_infinite() {
                (sum, c) = (new_sum, new_c);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_sum_inc(p.v / count, q * mean, q * c);
    }
    Some(if incremental {
        mean + c
    } else {
        sum / count + c / count
    })
}

/// `count_over_time`.
pub fn count_over_time(w: &Window) -> Option<f64> {
    if w.points.is_empty() {
        return None;
    }
    Some(w.points.len() as f64)
}

/// `present_over_time`: 1 for any sample.
pub fn present_over_time(w: &Window) -> Option<f64> {
    if w.points.is_empty() {
        return None;
    }
    Some(1.0)
}

/// `last_over_time`.
pub fn last_over_time(w: &Window) -> Option<f64> {
    w.points.last().map(|p| p.v)
}

/// `first_over_time`.
pub fn first_over_time(w: &Window) -> Option<f64> {
    w.points.first().map(|p| p.v)
}

/// `ts_of_last_over_time`: time of the last sample, in seconds.
pub fn ts_of_last_over_time(w: &Window) -> Option<f64> {
    w.points.last().map(|p| p.t as f64 / 1000.0)
}

/// `ts_of_first_over_time`: time of the first sample, in seconds.
pub fn ts_of_first_over_time(w: &Window) -> Option<f64> {
    w.points.first().map(|p| p.t as f64 / 1000.0)
}

/// Prometheus' `compareOverTime`: walks the window keeping the sample for which
/// `replace(current, kept)` last held, and any sample replaces a kept NaN. Returns the
/// kept value and its time in ms.
fn pick(w: &Window, replace: impl Fn(f64, f64) -> bool) -> Option<(f64, i64)> {
    let first = w.points.first()?;
    let mut kept = (first.v, first.t);
    for p in w.points {
        if replace(p.v, kept.0) || kept.0.is_nan() {
            kept = (p.v, p.t);
        }
    }
    Some(kept)
}

/// `min_over_time`: NaN only if every sample is NaN.
pub fn min_over_time(w: &Window) -> Option<f64> {
    pick(w, |cur, min| cur < min).map(|(v, _)| v)
}

/// `max_over_time`: NaN only if every sample is NaN.
pub fn max_over_time(w: &Window) -> Option<f64> {
    pick(w, |cur, max| cur > max).map(|(v, _)| v)
}

/// `ts_of_min_over_time`: time in seconds of the last sample with the minimum value.
pub fn ts_of_min_over_time(w: &Window) -> Option<f64> {
    pick(w, |cur, min| cur <= min).map(|(_, t)| t as f64 / 1000.0)
}

/// `ts_of_max_over_time`: time in seconds of the last sample with the maximum value.
pub fn ts_of_max_over_time(w: &Window) -> Option<f64> {
    pick(w, |cur, max| cur >= max).map(|(_, t)| t as f64 / 1000.0)
}

/// Population variance by Welford's method with Kahan-compensated mean and sum of
/// squares, as Prometheus' `varianceOverTime`.
fn variance(w: &Window) -> Option<f64> {
    if w.points.is_empty() {
        return None;
    }
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for p in w.points {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    Some((aux + c_aux) / count)
}

/// `stdvar_over_time`: population variance.
pub fn stdvar_over_time(w: &Window) -> Option<f64> {
    variance(w)
}

/// `stddev_over_time`: population standard deviation.
pub fn stddev_over_time(w: &Window) -> Option<f64> {
    variance(w).map(f64::sqrt)
}

/// `quantile_over_time(q, …)`. Prometheus warns when `q` is NaN or outside [0, 1]; the
/// result is then NaN, -Inf or +Inf.
pub fn quantile_over_time(w: &Window, q: f64) -> Option<f64> {
    if w.points.is_empty() {
        return None;
    }
    let mut values: Vec<f64> = w.points.iter().map(|p| p.v).collect();
    Some(quantile(q, &mut values))
}

/// `mad_over_time`: median absolute deviation from the median. Any NaN sample makes it
/// NaN.
pub fn mad_over_time(w: &Window) -> Option<f64> {
    if w.points.is_empty() {
        return None;
    }
    if w.points.iter().any(|p| p.v.is_nan()) {
        return Some(f64::NAN);
    }
    let mut values: Vec<f64> = w.points.iter().map(|p| p.v).collect();
    let median = quantile(0.5, &mut values);
    for v in &mut values {
        *v = (*v - median).abs();
    }
    Some(quantile(0.5, &mut values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::value::Point;

    const INF: f64 = f64::INFINITY;
    const NEG_INF: f64 = f64::NEG_INFINITY;
    const NAN: f64 = f64::NAN;

    /// Runs `f` over `values` sampled every `step_ms` from t = 0, all inside the window.
    fn over(step_ms: i64, values: &[f64], f: impl Fn(&Window) -> Option<f64>) -> f64 {
        let points: Vec<Point> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| Point {
                t: i as i64 * step_ms,
                v,
            })
            .collect();
        let w = Window {
            points: &points,
            range_start: -1,
            range_end: values.len() as i64 * step_ms,
        };
        f(&w).expect("non-empty window has a value")
    }

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan())
            || a == b
            || (a - b).abs() / (a.abs() + b.abs()).min(f64::MAX) < 1e-6
    }

    fn check(values: &[f64], f: impl Fn(&Window) -> Option<f64>, want: f64) {
        let got = over(10_000, values, f);
        assert!(same(got, want), "{values:?}: got {got}, want {want}");
    }

    fn ratio(w: &Window) -> Option<f64> {
        Some(sum_over_time(w)? / count_over_time(w)?)
    }

    #[test]
    fn empty_window_has_no_value() {
        let w = Window {
            points: &[],
            range_start: 0,
            range_end: 1,
        };
        let all: [fn(&Window) -> Option<f64>; 15] = [
            sum_over_time,
            avg_over_time,
            count_over_time,
            present_over_time,
            last_over_time,
            first_over_time,
            ts_of_last_over_time,
            ts_of_first_over_time,
            min_over_time,
            max_over_time,
            ts_of_min_over_time,
            ts_of_max_over_time,
            stdvar_over_time,
            stddev_over_time,
            mad_over_time,
        ];
        for f in all {
            assert_eq!(f(&w), None);
        }
        assert_eq!(quantile_over_time(&w, 0.5), None);
    }

    #[test]
    fn avg_over_time_infinities_and_nan() {
        // functions.test "Tests for avg_over_time".
        check(&[5.0], avg_over_time, 5.0);
        check(&[1.0, 2.0, 3.0, 4.0, 5.0], avg_over_time, 3.0);
        check(&[1.0, 2.0, 3.0, 4.0, INF], avg_over_time, INF);
        check(&[1.0, 2.0, 3.0, 4.0, NEG_INF], avg_over_time, NEG_INF);
        check(&[1.0, 2.0, 3.0, 4.0, NEG_INF], ratio, NEG_INF);
        check(&[1.0, 2.0, 3.0, INF, NEG_INF], ratio, NAN);
        check(&[INF, 0.0, INF], ratio, INF);
        check(&[INF, 0.0, INF], avg_over_time, INF);
        check(&[INF, INF, INF, NEG_INF], avg_over_time, NAN);
        check(&[1.0, 2.0, 3.0, NEG_INF, NEG_INF], avg_over_time, NEG_INF);
        check(&[1.0, 2.0, 3.0, NEG_INF, NEG_INF], ratio, NEG_INF);
        check(&[NEG_INF, 0.0, NEG_INF], ratio, NEG_INF);
        check(&[NEG_INF, NEG_INF, NEG_INF, INF], ratio, NAN);
        check(&[1.0, 2.0, NEG_INF, NEG_INF, INF], avg_over_time, NAN);
        check(&[1.0, 2.0, 3.0, NAN], avg_over_time, NAN);
        check(&[1.0, 2.0, 3.0, NAN, NAN], avg_over_time, NAN);
    }

    #[test]
    fn avg_over_time_switches_to_incremental_mean_on_overflow() {
        let big = 9.988_465_674_311_58e307; // 9.988465674311579e+307 in functions.test
        check(&[big, big], avg_over_time, big);
        check(&[-big, -big, -big], avg_over_time, -big);
        check(&[-big, -big, -big], ratio, NEG_INF);
        check(&[-big, big], ratio, 0.0);
    }

    #[test]
    fn avg_over_time_extreme_magnitudes() {
        let step = 5_000;
        let cases: [(&[f64], f64); 6] = [
            (
                &[1e10, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6],
                1.6666666666666675e+09,
            ),
            (
                &[
                    5.30921651659898,
                    0.961118537914768,
                    1.62091361305318,
                    0.865089463758091,
                    0.323055185914577,
                    0.951811357687154,
                ],
                1.67186744582113,
            ),
            (
                &[0.76342771, 1.9592258, 7.69805412, 1.78264e50, 458.90154],
                3.56528E+49,
            ),
            (
                &[
                    -1.78264E+50,
                    0.76342771,
                    1.9592258,
                    2.258E+220,
                    7.69805412,
                    -458.90154,
                ],
                3.76333333333333E+219,
            ),
            (
                &[
                    -1.78264E+215,
                    0.76342771,
                    1.9592258,
                    2.258E+220,
                    7.69805412,
                    1.78264E+215,
                    -458.90154,
                ],
                3.225714285714286e+219,
            ),
            (
                &[
                    -2.258E+220,
                    -1.78264E+219,
                    0.76342771,
                    1.9592258,
                    2.3757689E+217,
                    -2.3757689E+217,
                    2.258E+220,
                    7.69805412,
                    1.78264E+219,
                    -458.90154,
                ],
                0.0,
            ),
        ];
        for (values, want) in cases {
            let got = over(step, values, avg_over_time);
            assert!(same(got, want), "{values:?}: got {got}, want {want}");
        }
    }

    #[test]
    fn avg_over_time_is_exact_for_constants() {
        for n in [10, 11, 12, 13, 101] {
            assert_eq!(over(10_000, &vec![52.0; n], avg_over_time), 52.0);
        }
    }

    #[test]
    fn sum_over_time_compensates() {
        check(&[1.0, 1e100, 1.0, -1e100], sum_over_time, 2.0);
        for n in [1001, 1002, 2000, 2003, 3003] {
            assert_eq!(over(1, &vec![1.0; n], sum_over_time), n as f64);
        }
        check(&[INF, 1.0], sum_over_time, INF);
    }

    #[test]
    fn variance_and_stddev() {
        check(&[0.0, 8.0, 8.0, 2.0, 3.0], stdvar_over_time, 10.56);
        check(&[0.0, 8.0, 8.0, 2.0, 3.0], stddev_over_time, 3.249615);
        check(&[1.5990505637277868; 3], stddev_over_time, 0.0);
        assert_eq!(
            over(10_000, &[1.5990505637277868; 3], stddev_over_time),
            0.0
        );
        check(&[7.0], stdvar_over_time, 0.0);
    }

    #[test]
    fn min_max_skip_nan_unless_all_nan() {
        let sets: [&[f64]; 5] = [
            &[2.0, 0.0, 3.0],
            &[2.0, 0.0, NAN],
            &[2.0, NAN, 1.0],
            &[NAN, 0.0, 1.0],
            &[NAN, NAN, NAN],
        ];
        let mins = [0.0, 0.0, 1.0, 0.0, NAN];
        let maxs = [3.0, 2.0, 2.0, 1.0, NAN];
        for ((values, min), max) in sets.iter().zip(mins).zip(maxs) {
            check(values, min_over_time, min);
            check(values, max_over_time, max);
        }
    }

    #[test]
    fn timestamps_of_picked_samples() {
        // functions.test, `load 10s53ms`.
        let values = [1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 2.0, 1.0, 4.0];
        assert_eq!(over(10_053, &values, ts_of_min_over_time), 30.159);
        assert_eq!(over(10_053, &values, ts_of_max_over_time), 50.265);
        assert_eq!(over(10_053, &[1.0, 2.0, 3.0], ts_of_last_over_time), 20.106);
        assert_eq!(over(10_053, &[1.0, 2.0, 3.0], ts_of_first_over_time), 0.0);
        // Ties pick the last sample.
        assert_eq!(over(1_000, &[1.0, 0.0, 0.0, 1.0], ts_of_min_over_time), 2.0);
        assert_eq!(over(1_000, &[1.0, 0.0, 0.0, 1.0], ts_of_max_over_time), 3.0);
    }

    #[test]
    fn first_last_count_present() {
        let values = [4.0, 5.0, 6.0];
        check(&values, first_over_time, 4.0);
        check(&values, last_over_time, 6.0);
        check(&values, count_over_time, 3.0);
        check(&values, present_over_time, 1.0);
    }

    #[test]
    fn mad_over_time_cases() {
        check(&[4.0, 6.0, 2.0, 1.0, 999.0, 1.0, 2.0], mad_over_time, 1.0);
        check(&[1.0, 2.0, 3.0, 4.0, 5.0], mad_over_time, 1.0);
        check(&[7.0; 5], mad_over_time, 0.0);
        check(&[5.0], mad_over_time, 0.0);
        check(&[1.0, 2.0, NAN, 4.0], mad_over_time, NAN);
    }

    #[test]
    fn quantile_over_time_cases() {
        let q = |q: f64| move |w: &Window| quantile_over_time(w, q);
        check(&[0.0, 1.0, 4.0], q(0.75), 2.5);
        check(&[0.0, 1.0, 2.0], q(0.8), 1.6);
        check(&[0.0, 1.0], q(-1.0), NEG_INF);
        check(&[0.0, 1.0], q(2.0), INF);
        check(&[0.0, 1.0], q(NAN), NAN);
    }
}
