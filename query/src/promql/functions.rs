//! PromQL functions' arithmetic, separate from the evaluator's bookkeeping.
//!
//! Everything here is a pure function of samples and scalar arguments: no labels, no
//! annotations, no selection of the window. The evaluator selects each series' window,
//! drops `__name__` where Prometheus does, emits warnings and infos, and calls in here for
//! the numbers. Semantics follow Prometheus 3.x (`promql/functions.go`, `promql/quantile.go`)
//! down to the order of floating point operations where that changes results.
//!
//! - [`kahan`]: compensated summation shared by the other modules.
//! - [`range`]: functions of one series' window that follow its movement (`rate`,
//!   `deriv`, `resets`, …); re-exports [`over_time`].
//! - [`over_time`]: aggregations of a window (`avg_over_time`, `ts_of_max_over_time`, …).
//! - [`quantile`]: `quantile`, `histogram_quantile` and `histogram_fraction` over classic
//!   buckets.
//! - [`time`]: the calendar functions (`year`, `month`, `day_of_week`, …).

pub mod kahan;
pub mod over_time;
pub mod quantile;
pub mod range;
pub mod time;
