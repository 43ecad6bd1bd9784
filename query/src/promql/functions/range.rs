//! Functions of one series' range window that look at how values move: `rate`,
//! `increase`, `delta`, `irate`, `idelta`, `deriv`, `predict_linear`, `resets`, `changes`
//! and `double_exponential_smoothing`. The plain aggregations over a window
//! (`*_over_time`) live in [`super::over_time`] and are re-exported here, so every range
//! function is reachable as `range::name`.
//!
//! Each function takes the float samples of one series in the window and returns `None`
//! where Prometheus drops the series at that step. Prometheus only calls a range function
//! when the window holds at least one sample; the functions here also return `None` for
//! an empty window, so the evaluator may call them unconditionally.

use super::kahan::kahan_sum_inc;
use crate::promql::value::Point;

pub use super::over_time::{
    avg_over_time, count_over_time, first_over_time, last_over_time, mad_over_time, max_over_time,
    min_over_time, present_over_time, quantile_over_time, stddev_over_time, stdvar_over_time,
    sum_over_time, ts_of_first_over_time, ts_of_last_over_time, ts_of_max_over_time,
    ts_of_min_over_time,
};

/// One series' samples in a range window.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// Float samples with `range_start < t <= range_end`, sorted by time, staleness
    /// markers removed.
    pub points: &'a [Point],
    /// Exclusive start, ms: evaluation time minus offset minus range.
    pub range_start: i64,
    /// Inclusive end, ms: evaluation time minus offset. With `@ t` this is `t` minus the
    /// written offset (Prometheus turns `@` into an extra offset from the evaluation
    /// time), so the extrapolation of `rate` is relative to the `@` window.
    pub range_end: i64,
}

impl Window<'_> {
    /// The selector's range in seconds, computed like Go's `time.Duration.Seconds()` so
    /// per-second rates round the same way.
    fn range_seconds(&self) -> f64 {
        let ms = self.range_end - self.range_start;
        (ms / 1000) as f64 + ((ms % 1000) * 1_000_000) as f64 / 1e9
    }
}

/// `rate(v[d])`: per-second increase of a counter, extrapolated to the window's edges.
pub fn rate(w: &Window) -> Option<f64> {
    extrapolated_rate(w, true, true, false)
}

/// [`rate`] for a window the caller knows to hold no counter reset (no value below its
/// predecessor): skips the scan for resets, which is most of `rate`'s cost.
pub fn rate_without_resets(w: &Window) -> Option<f64> {
    extrapolated_rate(w, true, true, true)
}

/// [`increase`] for a window known to hold no counter reset.
pub fn increase_without_resets(w: &Window) -> Option<f64> {
    extrapolated_rate(w, true, false, true)
}

/// `increase(v[d])`: increase of a counter over the window, extrapolated to its edges.
pub fn increase(w: &Window) -> Option<f64> {
    extrapolated_rate(w, true, false, false)
}

/// `delta(v[d])`: change of a gauge over the window, extrapolated to its edges.
pub fn delta(w: &Window) -> Option<f64> {
    extrapolated_rate(w, false, false, false)
}

/// Prometheus' `extrapolatedRate` for float samples (no start timestamps, no
/// `anchored`/`smoothed` selectors).
///
/// Counter resets (a value below its predecessor) add the predecessor's value back. The
/// result is extrapolated from the first and last sample towards the window's edges: all
/// the way if the gap is under 1.1 average sample intervals, otherwise by half an
/// interval. For counters the extrapolation to the left stops where the counter would
/// reach zero.
fn extrapolated_rate(w: &Window, is_counter: bool, is_rate: bool, no_resets: bool) -> Option<f64> {
    let points = w.points;
    if points.len() < 2 {
        return None;
    }
    let first = points[0];
    let last = points[points.len() - 1];
    let mut result = last.v - first.v;
    if is_counter && !no_resets {
        for pair in points.windows(2) {
            if pair[1].v < pair[0].v {
                result += pair[0].v;
            }
        }
    }

    let mut duration_to_start = (first.t - w.range_start) as f64 / 1000.0;
    let mut duration_to_end = (w.range_end - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let average_interval = sampled_interval / (points.len() - 1) as f64;
    let threshold = average_interval * 1.1;

    if duration_to_start >= threshold {
        duration_to_start = average_interval / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        // Counters are never negative: don't extrapolate past the point where the line
        // through the samples would cross zero.
        let duration_to_zero = sampled_interval * (first.v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_interval / 2.0;
    }

    let mut factor = if sampled_interval != 0.0 {
        (sampled_interval + duration_to_start + duration_to_end) / sampled_interval
    } else {
        1.0
    };
    if is_rate {
        factor /= w.range_seconds();
    }
    Some(result * factor)
}

/// `irate(v[d])`: per-second rate between the last two samples; after a counter reset the
/// last value itself counts as the increase.
pub fn irate(w: &Window) -> Option<f64> {
    instant_value(w, true)
}

/// `idelta(v[d])`: difference between the last two samples.
pub fn idelta(w: &Window) -> Option<f64> {
    instant_value(w, false)
}

fn instant_value(w: &Window, is_rate: bool) -> Option<f64> {
    let [.., prev, last] = w.points else {
        return None;
    };
    let interval_ms = last.t - prev.t;
    if interval_ms == 0 {
        return None;
    }
    // A NaN on either side is not a reset, so it propagates through the difference.
    let value = if is_rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    if is_rate {
        Some(value / (interval_ms as f64 / 1000.0))
    } else {
        Some(value)
    }
}

/// `deriv(v[d])`: per-second slope of the least-squares line through the samples.
pub fn deriv(w: &Window) -> Option<f64> {
    let first = w.points.first()?;
    if w.points.len() < 2 {
        return None;
    }
    // Prometheus measures time from the first sample to keep the sums small
    // (prometheus/prometheus#2674); the slope does not depend on the choice.
    let (slope, _) = linear_regression(w.points, first.t);
    Some(slope)
}

/// `predict_linear(v[d], duration_s)`: the least-squares line through the samples,
/// evaluated `duration_s` seconds after `eval_time` (ms).
///
/// `eval_time` is the step's evaluation time, even with an `@` modifier on the selector
/// (functions.test: `predict_linear(x[55m] @ 3000, 3600)` at 10m predicts for 600s+3600s).
pub fn predict_linear(w: &Window, eval_time: i64, duration_s: f64) -> Option<f64> {
    if w.points.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(w.points, eval_time);
    Some(slope * duration_s + intercept)
}

/// Least-squares fit of value over time in seconds since `intercept_time` (ms), with
/// Kahan-summed moments. Returns `(slope, value at intercept_time)`. A constant series
/// has slope 0, unless the constant is ±Inf, which gives NaN for both.
fn linear_regression(points: &[Point], intercept_time: i64) -> (f64, f64) {
    let init_y = points[0].v;
    let mut const_y = true;
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, p) in points.iter().enumerate() {
        // `!=` so that a NaN anywhere (even NaN == NaN) breaks constness, as in Go.
        if const_y && i > 0 && p.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(p.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * p.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `resets(v[d])`: how often a value is below its predecessor. One sample gives 0.
pub fn resets(w: &Window) -> Option<f64> {
    if w.points.is_empty() {
        return None;
    }
    let n = w.points.windows(2).filter(|p| p[1].v < p[0].v).count();
    Some(n as f64)
}

/// `changes(v[d])`: how often a value differs from its predecessor (NaN followed by NaN is
/// no change). One sample gives 0.
pub fn changes(w: &Window) -> Option<f64> {
    if w.points.is_empty() {
        return None;
    }
    let n = w
        .points
        .windows(2)
        .filter(|p| p[1].v != p[0].v && !(p[1].v.is_nan() && p[0].v.is_nan()))
        .count();
    Some(n as f64)
}

/// `double_exponential_smoothing(v[d], sf, tf)` (formerly `holt_winters`): Holt's linear
/// smoothing with smoothing factor `sf` and trend factor `tf`, both strictly between 0
/// and 1; the smoothed value at the last sample.
///
/// Prometheus checks the factors only when the window has samples and fails the whole
/// query with the message returned as `Err` here. A NaN factor passes the check (and
/// yields NaN), as in Prometheus.
pub fn double_exponential_smoothing(w: &Window, sf: f64, tf: f64) -> Result<Option<f64>, String> {
    if w.points.is_empty() {
        return Ok(None);
    }
    if sf <= 0.0 || sf >= 1.0 {
        return Err(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            go_percent_f(sf)
        ));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            go_percent_f(tf)
        ));
    }
    let points = w.points;
    if points.len() < 2 {
        return Ok(None);
    }
    // s1 is the smoothed value, s0 the previous one, b the trend.
    let mut s0 = 0.0;
    let mut s1 = points[0].v;
    let mut b = points[1].v - points[0].v;
    for (i, p) in points.iter().enumerate().skip(1) {
        let x = sf * p.v;
        // The first step keeps the initial trend; later ones blend in the last change.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Ok(Some(s1))
}

/// Go's `%f` formatting: six decimals, `+Inf`, `-Inf`, `NaN`.
fn go_percent_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// Samples `values` at t = i * step_ms, like a promqltest `load`.
    fn series(step_ms: i64, values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| Point {
                t: i as i64 * step_ms,
                v,
            })
            .collect()
    }

    /// `a+bxN` expansion.
    fn ramp(start: f64, step: f64, n: usize) -> Vec<f64> {
        (0..=n).map(|i| start + step * i as f64).collect()
    }

    /// Applies `f` to the window `(at - range, at]` of `points`.
    fn at<T>(points: &[Point], at: i64, range: i64, f: impl Fn(&Window) -> T) -> T {
        let start = at - range;
        let inside: Vec<Point> = points
            .iter()
            .copied()
            .filter(|p| p.t > start && p.t <= at)
            .collect();
        f(&Window {
            points: &inside,
            range_start: start,
            range_end: at,
        })
    }

    fn close(a: f64, b: f64) -> bool {
        a == b || (a - b).abs() / (a.abs() + b.abs()) < 1e-9
    }

    #[test]
    fn increase_extrapolates_but_not_below_zero() {
        // functions.test "Tests for increase()".
        let cases: [(Vec<f64>, f64); 4] = [
            (ramp(0.0, 10.0, 10), 100.0),
            ([ramp(0.0, 18.0, 5), ramp(0.0, 18.0, 5)].concat(), 162.0),
            (ramp(10.0, 10.0, 10), 105.0),
            (ramp(1.0, 10.0, 10), 101.0),
        ];
        for (values, want) in cases {
            let got = at(&series(5 * MIN, &values), 50 * MIN, 100 * MIN, increase);
            assert!(close(got.unwrap(), want), "{values:?}: {got:?} != {want}");
        }
    }

    #[test]
    fn rate_handles_resets_and_windows() {
        let middle = series(5 * MIN, &[ramp(0.0, 27.0, 4), ramp(0.0, 27.0, 5)].concat());
        assert!(close(at(&middle, 50 * MIN, 50 * MIN, rate).unwrap(), 0.08));
        // A reset at the end of a 5m window leaves one sample: no result.
        let end = series(5 * MIN, &[ramp(0.0, 10.0, 9), vec![0.0, 10.0]].concat());
        assert_eq!(at(&end, 50 * MIN, 5 * MIN, rate), None);
        let window = series(5 * MIN, &ramp(0.0, 80.0, 10));
        let got = at(&window, 50 * MIN, 50 * MIN, rate).unwrap();
        assert!(close(got, 0.26666666666666666));
    }

    #[test]
    fn rate_zero_cutoff() {
        // functions.test testcounter_zero_cutoff_total.
        let want_10m = [0.5, 0.55, 0.6, 0.6, 0.6, 0.6];
        for (i, want) in want_10m.iter().enumerate() {
            let s = series(4 * MIN, &ramp(60.0 * i as f64, 240.0, 10));
            assert!(close(at(&s, 10 * MIN, 20 * MIN, rate).unwrap(), *want));
            assert!(close(at(&s, 50 * MIN, 20 * MIN, rate).unwrap(), 0.6));
        }
    }

    #[test]
    fn delta_is_not_a_counter() {
        let foo = series(5 * MIN, &[0.0, 50.0, 100.0, 150.0, 200.0]);
        let bar = series(5 * MIN, &[200.0, 150.0, 100.0, 50.0, 0.0]);
        assert!(close(at(&foo, 20 * MIN, 20 * MIN, delta).unwrap(), 200.0));
        assert!(close(at(&bar, 20 * MIN, 20 * MIN, delta).unwrap(), -200.0));
    }

    #[test]
    fn irate_and_idelta_use_the_last_two_samples() {
        let foo = series(5 * MIN, &ramp(0.0, 10.0, 10));
        let bar = series(5 * MIN, &[ramp(0.0, 10.0, 5), ramp(0.0, 10.0, 5)].concat());
        let got = at(&foo, 30 * MIN, 50 * MIN, irate).unwrap();
        assert!(close(got, 0.03333333333333333));
        assert_eq!(at(&bar, 30 * MIN, 50 * MIN, irate), Some(0.0));
        let foo = series(5 * MIN, &[0.0, 50.0, 100.0, 150.0]);
        let bar = series(5 * MIN, &[0.0, 50.0, 100.0, 50.0]);
        assert_eq!(at(&foo, 20 * MIN, 20 * MIN, idelta), Some(50.0));
        assert_eq!(at(&bar, 20 * MIN, 20 * MIN, idelta), Some(-50.0));
        // A counter reset: the last value is the increase.
        let reset = series(10_000, &[10.0, 4.0]);
        assert_eq!(at(&reset, 10_000, 60_000, irate), Some(0.4));
        // NaN propagates.
        let nan = series(5 * MIN, &[1.0, f64::NAN, f64::NAN, 5.0, 11.0]);
        assert!(at(&nan, 15 * MIN, 10 * MIN, irate).unwrap().is_nan());
        assert!(at(&nan, 15 * MIN, 10 * MIN, idelta).unwrap().is_nan());
        assert_eq!(at(&nan, 20 * MIN, 10 * MIN, idelta), Some(6.0));
        // One sample, or two at the same time: nothing.
        assert_eq!(at(&foo, 0, MIN, irate), None);
        let same = [Point { t: 1, v: 1.0 }, Point { t: 1, v: 2.0 }];
        let w = Window {
            points: &same,
            range_start: 0,
            range_end: 1,
        };
        assert_eq!(idelta(&w), None);
    }

    #[test]
    fn deriv_and_predict_linear() {
        let s = series(5 * MIN, &[ramp(0.0, 10.0, 4), ramp(0.0, 10.0, 5)].concat());
        let got = at(&s, 50 * MIN, 100 * MIN, deriv).unwrap();
        assert!(close(got, 0.010606060606060607));
        let predict = |at_ms: i64, eval: i64, dur: f64| {
            at(&s, at_ms, 55 * MIN, |w| predict_linear(w, eval, dur)).unwrap()
        };
        // predict_linear(x[50m], 1h) at 50m.
        let got = at(&s, 50 * MIN, 50 * MIN, |w| {
            predict_linear(w, 50 * MIN, 3600.0)
        });
        assert!(close(got.unwrap(), 70.0));
        // x[55m] @ 3000 at 50m and at 10m.
        assert!(close(
            predict(50 * MIN, 50 * MIN, 3600.0),
            76.81818181818181
        ));
        assert!(close(
            predict(50 * MIN, 10 * MIN, 3600.0),
            51.36363636363637
        ));
    }

    #[test]
    fn regression_over_infinities_is_nan() {
        let values = [
            vec![f64::NEG_INFINITY],
            ramp(0.0, 80.0, 10),
            vec![f64::INFINITY],
        ]
        .concat();
        let s = series(5 * MIN, &values);
        assert!(at(&s, 100 * MIN, 100 * MIN, deriv).unwrap().is_nan());
        let p = at(&s, 100 * MIN, 100 * MIN, |w| {
            predict_linear(w, 100 * MIN, 6000.0)
        });
        assert!(p.unwrap().is_nan());
        let inf = series(MIN, &[f64::INFINITY, f64::INFINITY]);
        assert!(at(&inf, MIN, 2 * MIN, deriv).unwrap().is_nan());
        let flat = series(MIN, &[3.0, 3.0, 3.0]);
        assert_eq!(at(&flat, 2 * MIN, 5 * MIN, deriv), Some(0.0));
        let p = at(&flat, 2 * MIN, 5 * MIN, |w| {
            predict_linear(w, 2 * MIN, 100.0)
        });
        assert_eq!(p, Some(3.0));
        assert_eq!(at(&flat, 0, MIN, deriv), None);
    }

    #[test]
    fn resets_and_changes() {
        let foo = series(5 * MIN, &[1.0, 2.0, 3.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0]);
        let bar = series(5 * MIN, &[1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let biz = series(5 * MIN, &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let all = |range: i64, f: fn(&Window) -> Option<f64>| {
            [&foo, &bar, &biz].map(|s| at(s, 50 * MIN, range, f))
        };
        assert_eq!(all(5 * MIN, resets), [None, None, None]);
        assert_eq!(all(10 * MIN, resets), [Some(0.0); 3]);
        assert_eq!(all(30 * MIN, resets), [Some(1.0), Some(0.0), Some(0.0)]);
        assert_eq!(all(32 * MIN, resets), [Some(2.0), Some(1.0), Some(0.0)]);
        assert_eq!(all(6 * MIN, changes), [Some(0.0); 3]);
        assert_eq!(all(20 * MIN, changes), [Some(2.0), Some(2.0), Some(0.0)]);
        assert_eq!(all(50 * MIN, changes), [Some(7.0), Some(8.0), Some(1.0)]);
        let nan_b = series(5 * MIN, &[f64::NAN; 3]);
        let nan_c = series(5 * MIN, &[0.0, f64::NAN, 0.0]);
        assert_eq!(at(&nan_b, 15 * MIN, 20 * MIN, changes), Some(0.0));
        assert_eq!(at(&nan_c, 15 * MIN, 20 * MIN, changes), Some(2.0));
    }

    #[test]
    fn double_exponential_smoothing_matches_functions_test() {
        let cases: [(Vec<f64>, f64); 4] = [
            (ramp(8000.0, -10.0, 1000), 0.0),
            (ramp(0.0, -20.0, 1000), -16000.0),
            (
                [ramp(0.0, 30.0, 1000), ramp(300.0, -80.0, 1000)].concat(),
                24000.0,
            ),
            (
                [ramp(0.0, -40.0, 1000), ramp(0.0, 40.0, 1000)].concat(),
                -32000.0,
            ),
        ];
        for (values, want) in cases {
            let s = series(10_000, &values);
            let got = at(&s, 8_000_000, MIN, |w| {
                double_exponential_smoothing(w, 0.01, 0.1)
            });
            let got = got.unwrap().unwrap();
            assert!(
                (got - want).abs() < 1e-6 * want.abs().max(1.0),
                "{got} != {want}"
            );
        }
    }

    #[test]
    fn double_exponential_smoothing_validates_factors() {
        let s = series(10_000, &[1.0, 2.0, 4.0]);
        let run = |sf, tf| at(&s, 20_000, MIN, |w| double_exponential_smoothing(w, sf, tf));
        assert_eq!(
            run(1.0, 0.5).unwrap_err(),
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
        );
        assert_eq!(
            run(0.5, 0.0).unwrap_err(),
            "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"
        );
        assert_eq!(
            run(f64::NEG_INFINITY, 0.5).unwrap_err(),
            "invalid smoothing factor. Expected: 0 < sf < 1, got: -Inf"
        );
        assert!(run(f64::NAN, 0.5).unwrap().unwrap().is_nan());
        // Hand-computed: s1 = 0.5*2 + 0.5*(1+1) = 2; b = 0.5*(2-1) + 0.5*1 = 1;
        // s1 = 0.5*4 + 0.5*(2+1) = 3.5.
        assert_eq!(run(0.5, 0.5), Ok(Some(3.5)));
        // One sample: nothing, but only after the factors were checked.
        let one = |sf| at(&s, 0, MIN, |w| double_exponential_smoothing(w, sf, 0.5));
        assert_eq!(one(0.5), Ok(None));
        assert!(one(2.0).is_err());
        let empty = at(&s, -MIN, 1, |w| double_exponential_smoothing(w, 2.0, 0.5));
        assert_eq!(empty, Ok(None));
    }

    #[test]
    fn range_seconds_like_go() {
        let w = Window {
            points: &[],
            range_start: 0,
            range_end: 1001,
        };
        assert_eq!(w.range_seconds(), 1.001);
        let w = Window {
            points: &[],
            range_start: -300_000,
            range_end: 0,
        };
        assert_eq!(w.range_seconds(), 300.0);
    }
}
