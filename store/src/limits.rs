//! What the store refuses to take, and why: sample timestamps outside the window it keeps
//! (too old for retention, too far ahead of the clock), and series too large or too many.
//! Every writer (remote_write, scrape, later OTLP) goes through [`crate::Store::append`],
//! so every source inherits the same checks. Each refusal names the `lookout.yaml` key of
//! the limit it hit, so an operator knows what to change.

use crate::error::{Error, ErrorClass, Result};
use crate::model::{labels::METRIC_NAME, Labels};

/// Timestamps below this are refused whatever the retention: block and period arithmetic
/// stays far from overflow (Prometheus' TSDB bounds its time range the same way).
pub const MIN_TIMESTAMP: i64 = i64::MIN / 2;
/// Timestamps above this are refused even with `limits.max_future: 0`.
pub const MAX_TIMESTAMP: i64 = i64::MAX / 2;

/// Why samples were refused: the `reason` label of `lookout_ingest_samples_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    TooFarInFuture,
    TooOld,
    LabelNameTooLong,
    LabelValueTooLong,
    TooManyLabels,
    MaxSeriesPerMetric,
    MaxActiveSeriesPerTenant,
    MaxTenants,
    RateLimited,
    RequestTooLarge,
}

impl Reason {
    pub const ALL: [Reason; 10] = [
        Reason::TooFarInFuture,
        Reason::TooOld,
        Reason::LabelNameTooLong,
        Reason::LabelValueTooLong,
        Reason::TooManyLabels,
        Reason::MaxSeriesPerMetric,
        Reason::MaxActiveSeriesPerTenant,
        Reason::MaxTenants,
        Reason::RateLimited,
        Reason::RequestTooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooFarInFuture => "too_far_in_future",
            Reason::TooOld => "too_old",
            Reason::LabelNameTooLong => "label_name_too_long",
            Reason::LabelValueTooLong => "label_value_too_long",
            Reason::TooManyLabels => "max_label_names_per_series",
            Reason::MaxSeriesPerMetric => "max_series_per_metric",
            Reason::MaxActiveSeriesPerTenant => "max_active_series_per_tenant",
            Reason::MaxTenants => "max_tenants",
            Reason::RateLimited => "rate_limited",
            Reason::RequestTooLarge => "request_too_large",
        }
    }
}

/// Limits on one tenant's series. 0 means no limit for every field.
#[derive(Debug, Clone)]
pub struct SeriesLimits {
    /// Samples more than this many ms ahead of the clock are refused (`limits.max_future`).
    pub max_future: i64,
    /// Longest label name, bytes (`limits.max_label_name_length`).
    pub max_label_name_length: usize,
    /// Longest label value, bytes (`limits.max_label_value_length`).
    pub max_label_value_length: usize,
    /// Most labels on a series, `__name__` included (`limits.max_label_names_per_series`).
    pub max_label_names_per_series: usize,
    /// Most head series of one metric name (`limits.max_series_per_metric`).
    pub max_series_per_metric: usize,
    /// Most head series of a tenant (`limits.max_active_series_per_tenant`).
    pub max_active_series: usize,
}

impl Default for SeriesLimits {
    fn default() -> Self {
        SeriesLimits {
            max_future: 10 * 60_000,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_label_names_per_series: 64,
            max_series_per_metric: 0,
            max_active_series: 0,
        }
    }
}

impl SeriesLimits {
    /// No limits at all (tests, and tools that rewrite stored data).
    pub fn none() -> SeriesLimits {
        SeriesLimits {
            max_future: 0,
            max_label_name_length: 0,
            max_label_value_length: 0,
            max_label_names_per_series: 0,
            max_series_per_metric: 0,
            max_active_series: 0,
        }
    }

    /// The sizes of a new series' labels; its count limits are checked by the head, which
    /// knows how many series there are.
    pub fn check_labels(&self, labels: &Labels) -> Result<()> {
        let n = self.max_label_names_per_series;
        if n > 0 && labels.len() > n {
            return Err(refused(
                Reason::TooManyLabels,
                ErrorClass::BadInput,
                format!(
                    "series {} has {} labels, over the limit of {n} (limits.max_label_names_per_series); drop labels with relabeling or raise the limit",
                    short(labels),
                    labels.len()
                ),
            ));
        }
        for l in labels {
            let n = self.max_label_name_length;
            if n > 0 && l.name.len() > n {
                return Err(refused(
                    Reason::LabelNameTooLong,
                    ErrorClass::BadInput,
                    format!(
                        "label name {:?}… of series {} is {} bytes, over the limit of {n} (limits.max_label_name_length)",
                        prefix(&l.name, 64),
                        short(labels),
                        l.name.len()
                    ),
                ));
            }
            let n = self.max_label_value_length;
            if n > 0 && l.value.len() > n {
                return Err(refused(
                    Reason::LabelValueTooLong,
                    ErrorClass::BadInput,
                    format!(
                        "value of label {:?} of series {} is {} bytes, over the limit of {n} (limits.max_label_value_length)",
                        prefix(&l.name, 64),
                        short(labels),
                        l.value.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The refusal of a new series once `metric` has `n` head series.
    pub(crate) fn check_series_per_metric(&self, labels: &Labels, n: u64) -> Result<()> {
        let max = self.max_series_per_metric;
        if max > 0 && n >= max as u64 {
            return Err(refused(
                Reason::MaxSeriesPerMetric,
                ErrorClass::LimitExceeded,
                format!(
                    "metric {:?} already has {n} series, the limit (limits.max_series_per_metric: {max}); new series {} refused",
                    prefix(labels.get(METRIC_NAME).unwrap_or(""), 128),
                    short(labels)
                ),
            ));
        }
        Ok(())
    }

    /// The refusal of a new series once the tenant has `n` head series.
    pub(crate) fn check_active_series(&self, labels: &Labels, n: u64) -> Result<()> {
        let max = self.max_active_series;
        if max > 0 && n >= max as u64 {
            return Err(refused(
                Reason::MaxActiveSeriesPerTenant,
                ErrorClass::LimitExceeded,
                format!(
                    "the tenant already has {n} active series, the limit (limits.max_active_series_per_tenant: {max}); new series {} refused",
                    short(labels)
                ),
            ));
        }
        Ok(())
    }
}

/// The window of timestamps the store accepts at `now`: not older than the retention
/// horizon (what would be dropped at the next maintenance), not further ahead than
/// `max_future`.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub min: i64,
    pub max: i64,
    pub retention: i64,
    pub max_future: i64,
}

impl Bounds {
    pub fn at(now: i64, retention: i64, max_future: i64) -> Bounds {
        let min = if retention > 0 {
            now.saturating_sub(retention).max(MIN_TIMESTAMP)
        } else {
            MIN_TIMESTAMP
        };
        let max = if max_future > 0 {
            now.saturating_add(max_future).min(MAX_TIMESTAMP)
        } else {
            MAX_TIMESTAMP
        };
        Bounds {
            min,
            max,
            retention,
            max_future,
        }
    }

    pub fn contains(&self, t: i64) -> bool {
        t >= self.min && t <= self.max
    }

    /// The error for `too_old` and `too_new` samples refused (`example` one of them), after
    /// `stored` others were stored.
    pub fn refusal(
        &self,
        too_old: u64,
        too_new: u64,
        example: (&Labels, i64),
        stored: usize,
    ) -> Error {
        let mut parts = Vec::new();
        if too_new > 0 {
            parts.push(if self.max_future > 0 {
                format!(
                    "{too_new} with timestamps more than {} ahead of the server's clock (limits.max_future)",
                    fmt_ms(self.max_future)
                )
            } else {
                format!("{too_new} with timestamps after {MAX_TIMESTAMP}")
            });
        }
        if too_old > 0 {
            parts.push(if self.retention > 0 {
                format!(
                    "{too_old} older than the retention horizon, {} before the server's clock (retention.time)",
                    fmt_ms(self.retention)
                )
            } else {
                format!("{too_old} with timestamps before {MIN_TIMESTAMP}")
            });
        }
        let mut rejected = Vec::new();
        if too_new > 0 {
            rejected.push((Reason::TooFarInFuture, too_new));
        }
        if too_old > 0 {
            rejected.push((Reason::TooOld, too_old));
        }
        Error::Refused {
            message: format!(
                "{} samples refused: {} (accepted now: {}..{} ms; e.g. series {} at {} ms); {stored} other samples of the request were stored, so do not resend it; fix the sender's clock or timestamps, or change the limit",
                too_old + too_new,
                parts.join(", "),
                self.min,
                self.max,
                short(example.0),
                example.1
            ),
            rejected,
            class: ErrorClass::BadInput,
        }
    }
}

/// An [`Error::Refused`] for one reason, counting no samples (the caller knows how many).
pub fn refused(reason: Reason, class: ErrorClass, message: String) -> Error {
    Error::Refused {
        message,
        rejected: vec![(reason, 0)],
        class,
    }
}

/// A label set for a message, cut short: the label that broke a limit may be megabytes.
fn short(labels: &Labels) -> String {
    let s = labels.to_string();
    if s.len() <= 256 {
        return s;
    }
    format!("{}…}}", prefix(&s, 256))
}

/// At most `n` bytes of `s`, cut at a character boundary.
fn prefix(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A duration in ms as Prometheus writes one (`10m`, `15d`, `1h30m`).
pub fn fmt_ms(ms: i64) -> String {
    if ms <= 0 {
        return "0s".into();
    }
    let units = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = ms;
    let mut out = String::new();
    for (u, n) in units {
        if rest >= n {
            out.push_str(&format!("{}{u}", rest / n));
            rest %= n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_the_clock_and_never_overflow() {
        let b = Bounds::at(1_000_000, 100_000, 10_000);
        assert!(b.contains(900_000) && b.contains(1_010_000));
        assert!(!b.contains(899_999) && !b.contains(1_010_001));
        let open = Bounds::at(0, 0, 0);
        assert!(open.contains(0) && open.contains(-1_000_000));
        assert!(!open.contains(i64::MAX) && !open.contains(i64::MIN));
        let far = Bounds::at(i64::MAX - 5, 0, i64::MAX);
        assert!(!far.contains(i64::MAX));
    }

    #[test]
    fn label_limits_name_their_key() {
        let l = SeriesLimits {
            max_label_value_length: 8,
            max_label_names_per_series: 3,
            max_label_name_length: 8,
            ..SeriesLimits::none()
        };
        let ok = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        assert!(l.check_labels(&ok).is_ok());
        let long = Labels::from_pairs([("__name__", "up"), ("job", "abcdefghi")]);
        let e = l.check_labels(&long).unwrap_err().to_string();
        assert!(e.contains("limits.max_label_value_length"), "{e}");
        let many = Labels::from_pairs([("__name__", "up"), ("a", "1"), ("b", "1"), ("c", "1")]);
        let e = l.check_labels(&many).unwrap_err().to_string();
        assert!(e.contains("limits.max_label_names_per_series"), "{e}");
        let name = Labels::from_pairs([("__name__", "up"), ("abcdefghi", "1")]);
        let e = l.check_labels(&name).unwrap_err().to_string();
        assert!(e.contains("limits.max_label_name_length"), "{e}");
        // A 10 MB value is not copied into the message.
        let huge = Labels::from_pairs([("__name__", "up"), ("v", &*"x".repeat(10 << 20))]);
        assert!(l.check_labels(&huge).unwrap_err().to_string().len() < 1024);
    }

    #[test]
    fn durations_read_as_in_the_config() {
        assert_eq!(fmt_ms(600_000), "10m");
        assert_eq!(fmt_ms(15 * 86_400_000), "2w1d");
        assert_eq!(fmt_ms(5_400_000), "1h30m");
    }
}
