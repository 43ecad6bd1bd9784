//! The @-invariance check (README 1.10.1): pin every selector and subquery of an instant
//! eval to its evaluation time with `@` and evaluate the pinned query at other times; the
//! result must not change.
//!
//! Prometheus prints the rewritten AST back to text and parses it again. Here the parsed
//! AST is changed in place instead, and the engine gets the original text for annotation
//! positions, so a printer that round-trips every expression is not needed.

use std::time::{Duration, SystemTime};

use promql_parser::parser::{AtModifier, Expr};

/// Functions whose result depends on the evaluation time even when their arguments do
/// not: queries calling them skip the check.
const AT_UNSAFE_FUNCTIONS: [&str; 15] = [
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

/// The query with `@ t` on every vector selector, matrix selector and subquery that has
/// none, or `None` if it calls a time-dependent function. Nothing below a subquery is
/// touched (nor looked at): Prometheus' walk sets the subquery's `@` before visiting its
/// children, and then skips everything under a subquery that has one.
pub fn pin_to(expr: &Expr, t_ms: i64) -> Option<Expr> {
    let mut e = expr.clone();
    let at = AtModifier::At(system_time(t_ms));
    if pin(&mut e, &at) {
        Some(e)
    } else {
        None
    }
}

/// The other evaluation times of the check: −10·t, 0, t/5, t and 10·t, or −1 s, 0 and
/// +1 s when t = 0 (Go's integer division for t/5).
pub fn variant_times(t_ms: i64) -> Vec<i64> {
    if t_ms == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t_ms, 0, t_ms / 5, t_ms, 10 * t_ms]
    }
}

/// Milliseconds since the epoch as a `SystemTime`, negative ones included.
pub fn system_time(t_ms: i64) -> SystemTime {
    let d = Duration::from_millis(t_ms.unsigned_abs());
    if t_ms >= 0 {
        SystemTime::UNIX_EPOCH + d
    } else {
        SystemTime::UNIX_EPOCH - d
    }
}

/// Sets `@` where missing; false if a time-dependent function is called outside any
/// subquery.
fn pin(e: &mut Expr, at: &AtModifier) -> bool {
    match e {
        Expr::VectorSelector(vs) => {
            vs.at.get_or_insert_with(|| at.clone());
            true
        }
        Expr::MatrixSelector(ms) => {
            ms.vs.at.get_or_insert_with(|| at.clone());
            true
        }
        Expr::Subquery(sq) => {
            sq.at.get_or_insert_with(|| at.clone());
            true
        }
        Expr::Call(c) => {
            if AT_UNSAFE_FUNCTIONS.contains(&c.func.name) {
                return false;
            }
            c.args.args.iter_mut().all(|a| pin(a, at))
        }
        Expr::Aggregate(a) => {
            let param_ok = match a.param.as_mut() {
                Some(p) => pin(p, at),
                None => true,
            };
            param_ok && pin(&mut a.expr, at)
        }
        Expr::Unary(u) => pin(&mut u.expr, at),
        Expr::Binary(b) => pin(&mut b.lhs, at) && pin(&mut b.rhs, at),
        Expr::Paren(p) => pin(&mut p.expr, at),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => true,
    }
}

/// Whether the text calls `start()`, `end()`, `range()` or `step()`, which resolve
/// differently in a range query: such evals skip the range-mode check.
pub fn uses_query_context(text: &str) -> bool {
    ["start()", "end()", "range()", "step()"]
        .iter()
        .any(|f| text.contains(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinned(q: &str) -> Option<String> {
        let e = promql_parser::parser::parse(q).unwrap();
        pin_to(&e, 3_000).map(|e| e.to_string())
    }

    #[test]
    fn pins_selectors_and_subqueries() {
        assert_eq!(pinned("foo").as_deref(), Some("foo @ 3.000"));
        let s = pinned("sum by (a) (rate(foo[5m])) + bar @ 100").unwrap();
        assert!(s.contains("foo[5m] @ 3.000"), "{s}");
        assert!(s.contains("bar @ 100.000"), "{s}");
        // Inside a subquery nothing changes; the subquery itself is pinned.
        let s = pinned("max_over_time(rate(foo[1m])[5m:1m])").unwrap();
        assert!(s.contains("foo[1m])"), "{s}");
        assert!(!s.contains("foo[1m] @"), "{s}");
        assert!(s.contains("[5m:1m] @ 3.000"), "{s}");
        // Time-dependent functions skip the check, except below a subquery.
        assert_eq!(pinned("timestamp(foo)"), None);
        assert_eq!(pinned("foo and on() hour() > 3"), None);
        assert!(pinned("max_over_time(vector(time())[5m:1m])").is_some());
    }

    #[test]
    fn times() {
        assert_eq!(variant_times(0), vec![-1000, 0, 1000]);
        assert_eq!(variant_times(3_001), vec![-30_010, 0, 600, 3_001, 30_010]);
        let t = system_time(-1500);
        assert_eq!(
            SystemTime::UNIX_EPOCH.duration_since(t).unwrap(),
            Duration::from_millis(1500)
        );
        assert!(uses_query_context("foo + step()"));
        assert!(!uses_query_context("foo"));
    }
}
