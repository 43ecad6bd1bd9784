//! The calendar functions (`minute`, `hour`, `day_of_week`, `day_of_month`, `day_of_year`,
//! `days_in_month`, `month`, `year`) of a Unix time in seconds, in UTC.
//!
//! Prometheus converts the sample value with Go's `int64(v)` and hands it to
//! `time.Unix(…).UTC()`. On amd64, where Prometheus is mostly run, that conversion
//! truncates towards zero and turns NaN, ±Inf and anything out of the `i64` range into
//! `i64::MIN`; we do the same, so `year(vector(NaN))` gives Go's answer rather than an
//! error. chrono's dates stop at ±262,143 years, so the date is computed here with the
//! proleptic Gregorian calendar over the whole `i64` range of seconds, as Go does.
//!
//! For the argument-less forms (`year()` = `year(vector(time()))`) pass the evaluation time
//! in seconds (`ms as f64 / 1000.0`): truncating that equals Go's integer `ts / 1000`.

const SECONDS_PER_DAY: i64 = 86_400;

/// A UTC calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    /// 1..=12
    month: u32,
    /// 1..=31
    day: u32,
    /// 0..=23
    hour: u32,
    /// 0..=59
    minute: u32,
    /// Days since 1970-01-01 (which was a Thursday).
    days: i64,
}

/// Go's `int64(v)` on amd64: truncation, with the "integer indefinite" value `i64::MIN`
/// for NaN and out-of-range values.
fn go_int64(v: f64) -> i64 {
    // 2^63 is the first value that does not fit; -2^63 fits and is i64::MIN anyway.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.is_nan() || !(-LIMIT..LIMIT).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

fn civil(unix_seconds: f64) -> Civil {
    let secs = go_int64(unix_seconds);
    let days = secs.div_euclid(SECONDS_PER_DAY);
    let of_day = secs.rem_euclid(SECONDS_PER_DAY);
    // Howard Hinnant's days_from_civil inverse: count in 400-year eras starting on
    // March 1st, so the leap day is the last day of a "year". All values stay far from
    // overflow: |days| <= 1.1e14.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year_from_march =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year_from_march + 2) / 153;
    let day = (day_of_year_from_march - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (of_day / 3600) as u32,
        minute: (of_day % 3600 / 60) as u32,
        days,
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn month_length(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `minute(v)`: 0–59.
pub fn minute(unix_seconds: f64) -> f64 {
    f64::from(civil(unix_seconds).minute)
}

/// `hour(v)`: 0–23.
pub fn hour(unix_seconds: f64) -> f64 {
    f64::from(civil(unix_seconds).hour)
}

/// `day_of_week(v)`: 0 (Sunday) – 6 (Saturday).
pub fn day_of_week(unix_seconds: f64) -> f64 {
    // 1970-01-01 was a Thursday (4).
    (civil(unix_seconds).days + 4).rem_euclid(7) as f64
}

/// `day_of_month(v)`: 1–31.
pub fn day_of_month(unix_seconds: f64) -> f64 {
    f64::from(civil(unix_seconds).day)
}

/// `day_of_year(v)`: 1–365, or 366 in leap years.
pub fn day_of_year(unix_seconds: f64) -> f64 {
    let c = civil(unix_seconds);
    let before: u32 = (1..c.month).map(|m| month_length(c.year, m)).sum();
    f64::from(before + c.day)
}

/// `days_in_month(v)`: 28–31.
pub fn days_in_month(unix_seconds: f64) -> f64 {
    let c = civil(unix_seconds);
    f64::from(month_length(c.year, c.month))
}

/// `month(v)`: 1–12.
pub fn month(unix_seconds: f64) -> f64 {
    f64::from(civil(unix_seconds).month)
}

/// `year(v)`.
pub fn year(unix_seconds: f64) -> f64 {
    civil(unix_seconds).year as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Datelike, Timelike};

    #[test]
    fn matches_functions_test() {
        assert_eq!(year(0.0), 1970.0);
        assert_eq!(month(0.0), 1.0);
        assert_eq!(month(1136239445.0), 1.0);
        assert_eq!(day_of_month(1136239445.0), 2.0);
        assert_eq!(day_of_year(1136239445.0), 2.0);
        assert_eq!(day_of_week(0.0), 4.0);
        assert_eq!(hour(0.0), 0.0);
        assert_eq!(minute(0.0), 0.0);
        assert_eq!(minute(1136239445.0), 4.0);
        assert_eq!(year(1230768000.0), 2009.0);
        assert_eq!(year(1230767999.0), 2008.0);
        assert_eq!(
            month(1456790400.0) + day_of_month(1456790400.0) / 100.0,
            3.01
        );
        assert_eq!(day_of_month(1456790399.0), 29.0);
        assert_eq!(day_of_year(1483191420.0), 366.0);
        assert_eq!(day_of_year(1672493820.0), 365.0);
        assert_eq!(days_in_month(1454284800.0), 29.0);
        assert_eq!(days_in_month(1485907200.0), 28.0);
    }

    #[test]
    fn agrees_with_chrono_where_chrono_reaches() {
        let mut t: i64 = -62_135_596_800 * 2; // around year -1968
        while t < 253_402_300_799 * 2 {
            let c = DateTime::from_timestamp(t, 0).expect("in chrono's range");
            let s = t as f64;
            assert_eq!(year(s), f64::from(c.year()), "{t}");
            assert_eq!(month(s), f64::from(c.month()), "{t}");
            assert_eq!(day_of_month(s), f64::from(c.day()), "{t}");
            assert_eq!(day_of_year(s), f64::from(c.ordinal()), "{t}");
            assert_eq!(
                day_of_week(s),
                f64::from(c.weekday().num_days_from_sunday()),
                "{t}"
            );
            assert_eq!(hour(s), f64::from(c.hour()), "{t}");
            assert_eq!(minute(s), f64::from(c.minute()), "{t}");
            t += 7_777_777; // about 90 days, drifting through times of day
        }
    }

    #[test]
    fn fractions_truncate_towards_zero() {
        // Go's int64(-0.5) is 0, so this is still 1970-01-01 00:00.
        assert_eq!(year(-0.5), 1970.0);
        assert_eq!(hour(-0.5), 0.0);
        assert_eq!(year(-1.0), 1969.0);
        assert_eq!(minute(59.9), 0.0);
    }

    #[test]
    fn nan_and_infinities_are_go_amd64_min_int64() {
        // time.Unix(math.MinInt64, 0).UTC() is
        // -292277022657-01-27 08:29:52 UTC, a Sunday.
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e19, -1e19] {
            assert_eq!(year(v), -292_277_022_657.0);
            assert_eq!(month(v), 1.0);
            assert_eq!(day_of_month(v), 27.0);
            assert_eq!(hour(v), 8.0);
            assert_eq!(minute(v), 29.0);
            assert_eq!(day_of_week(v), 0.0);
            assert_eq!(day_of_year(v), 27.0);
            assert_eq!(days_in_month(v), 31.0);
        }
    }
}
