//! How a query's outcome is held against an eval's expectations (README 1.8 and 1.9):
//! the float tolerance with its NaN and StaleNaN rules, exact label sets, sorted matrices,
//! `expect ordered`, `_` gaps, scalars and strings, expected failures and annotations.
//! Each check returns the first mismatch as a sentence, as Prometheus' runner does.

use lookout_store::model::sample::is_stale_nan;
use lookout_store::Labels;

use super::script::{Eval, Expected, ExpectedSeries, TextMatch};
use super::series::format_labels;
use super::values::{format_float, SeqValue};
use crate::promql::engine::{Annotation, AnnotationKind};
use crate::promql::{Sample, Value};

/// Relative error allowed between an expected and an actual float (`defaultEpsilon`).
pub const EPSILON: f64 = 1e-6;

/// Prometheus' `almost.Equal` with `defaultEpsilon`: StaleNaN equals only StaleNaN, NaN
/// equals NaN, otherwise a relative tolerance, which near zero means exact equality.
pub fn almost_equal(a: f64, b: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let min_normal = f64::MIN_POSITIVE;
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < EPSILON * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

/// The timestamps a matrix result is compared at: expected value `i` belongs to
/// `start + i * step`, and a value past `end` is an error. A plain instant eval has no
/// such range (`end = i64::MIN`), so any expected matrix value is an error there.
#[derive(Debug, Clone, Copy)]
pub struct MatrixTimes {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

/// Compares a query value with the eval's expected result.
pub fn compare_value(ev: &Eval, value: &Value, times: MatrixTimes) -> Result<(), String> {
    match value {
        Value::Matrix(m) => {
            if ev.ordered {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            let expected = match &ev.expected {
                Expected::Scalar(v) => {
                    return Err(format!(
                        "expected scalar {}, but got a matrix",
                        format_float(*v)
                    ))
                }
                Expected::Series(s) => s,
            };
            check_sorted(m.iter().map(|s| &s.labels))?;
            for s in m {
                let exp = find(expected, &s.labels).ok_or_else(|| {
                    format!("unexpected series {} in result", format_labels(&s.labels))
                })?;
                let mut want: Vec<(i64, f64)> = Vec::new();
                for (i, v) in exp.values.iter().enumerate() {
                    let t = times.start + i as i64 * times.step;
                    if t > times.end {
                        return Err(format!(
                            "expected {} points for {}, but the query's time range cannot return this many",
                            exp.values.len(),
                            format_labels(&exp.labels)
                        ));
                    }
                    match v {
                        SeqValue::Float(f) => want.push((t, *f)),
                        SeqValue::Omitted => {}
                        SeqValue::Histogram(_) => {
                            return Err("native histograms not supported".into())
                        }
                    }
                }
                if want.len() != s.points.len() {
                    return Err(format!(
                        "expected {} float points for {}, but got {}",
                        want.len(),
                        format_labels(&s.labels),
                        s.points.len()
                    ));
                }
                for (i, ((wt, wv), p)) in want.iter().zip(&s.points).enumerate() {
                    if *wt != p.t {
                        return Err(format!(
                            "expected point {i} of {} at t={wt}, but it is at t={}",
                            format_labels(&s.labels),
                            p.t
                        ));
                    }
                    if !almost_equal(p.v, *wv) {
                        return Err(format!(
                            "expected {} at t={} for {}, but got {}",
                            format_float(*wv),
                            p.t,
                            format_labels(&s.labels),
                            format_float(p.v)
                        ));
                    }
                }
            }
            for e in expected {
                if !m.iter().any(|s| s.labels == e.labels) {
                    return Err(format!(
                        "expected series {} not found",
                        format_labels(&e.labels)
                    ));
                }
            }
            Ok(())
        }
        Value::Vector(v) => compare_vector(ev, v),
        Value::Scalar { v, .. } => match ev.expected {
            Expected::Scalar(want) if almost_equal(want, *v) => Ok(()),
            Expected::Scalar(want) => Err(format!(
                "expected scalar {}, but got {}",
                format_float(want),
                format_float(*v)
            )),
            Expected::Series(_) => Err(format!(
                "expected a vector or matrix, but got scalar {}",
                format_float(*v)
            )),
        },
        Value::String { s, .. } => {
            let want = ev.expected_string.as_deref().unwrap_or("");
            if want == s {
                Ok(())
            } else {
                Err(format!("expected string {want:?}, but got {s:?}"))
            }
        }
    }
}

/// Compares an instant vector: the same set of label sets, values within tolerance, and
/// with `expect ordered` the listed order. Sample timestamps are not compared.
pub fn compare_vector(ev: &Eval, v: &[Sample]) -> Result<(), String> {
    let expected = match &ev.expected {
        Expected::Scalar(want) => {
            return Err(format!(
                "expected scalar {}, but got a vector",
                format_float(*want)
            ))
        }
        Expected::Series(s) => s,
    };
    for (pos, s) in v.iter().enumerate() {
        let exp = find(expected, &s.labels).ok_or_else(|| {
            format!(
                "unexpected series {} in result, with value {}",
                format_labels(&s.labels),
                format_float(s.v)
            )
        })?;
        if ev.ordered && exp.pos != pos + 1 {
            return Err(format!(
                "expected series {} at position {}, but it is at {}",
                format_labels(&s.labels),
                exp.pos,
                pos + 1
            ));
        }
        let want = match exp.values.first() {
            Some(SeqValue::Float(f)) => *f,
            Some(SeqValue::Histogram(_)) => return Err("native histograms not supported".into()),
            Some(SeqValue::Omitted) | None => {
                return Err(format!(
                    "no value expected for {} (line {}), but it is in the result",
                    format_labels(&exp.labels),
                    exp.line
                ))
            }
        };
        if !almost_equal(want, s.v) {
            return Err(format!(
                "expected {} for {}, but got {}",
                format_float(want),
                format_labels(&s.labels),
                format_float(s.v)
            ));
        }
    }
    for e in expected {
        if !v.iter().any(|s| s.labels == e.labels) {
            return Err(format!(
                "expected series {} with value {} not found",
                format_labels(&e.labels),
                super::script::format_values(&e.values)
            ));
        }
    }
    Ok(())
}

fn find<'a>(expected: &'a [ExpectedSeries], labels: &Labels) -> Option<&'a ExpectedSeries> {
    expected.iter().find(|e| e.labels == *labels)
}

/// A matrix must come back sorted by label set.
pub fn check_sorted<'a>(labels: impl Iterator<Item = &'a Labels>) -> Result<(), String> {
    let mut prev: Option<&Labels> = None;
    for (i, l) in labels.enumerate() {
        if let Some(p) = prev {
            if p > l {
                return Err(format!(
                    "matrix results must be sorted by labels, but series {i} {} sorts before series {} {}",
                    format_labels(l),
                    i - 1,
                    format_labels(p)
                ));
            }
        }
        prev = Some(l);
    }
    Ok(())
}

/// The query failed; passes only if the eval expects that, with a matching message.
pub fn check_failure(ev: &Eval, error: &str) -> Result<(), String> {
    if !ev.expect_fail {
        return Err(format!("query failed: {error}"));
    }
    match &ev.fail_match {
        Some(m) if !m.matches(error) => {
            Err(format!("expected an error matching {m}, but got: {error}"))
        }
        _ => Ok(()),
    }
}

/// Checks warnings and infos against `expect warn|info|no_warn|no_info` and the legacy
/// `eval_warn`/`eval_info`. Without any of these, annotations are not checked.
pub fn check_annotations(ev: &Eval, annotations: &[Annotation]) -> Result<(), String> {
    let texts = |kind| -> Vec<String> {
        annotations
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| a.to_string())
            .collect()
    };
    let warnings = texts(AnnotationKind::Warning);
    let infos = texts(AnnotationKind::Info);
    let all = || {
        annotations
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    };
    if ev.expect_warn && warnings.is_empty() {
        return Err("expected warnings but got none".into());
    }
    if ev.expect_info && infos.is_empty() {
        return Err("expected info annotations but got none".into());
    }
    for (kind, want, got) in [("warn", &ev.warn, &warnings), ("info", &ev.info, &infos)] {
        if want.is_empty() {
            continue;
        }
        if got.is_empty() {
            return Err(format!("expected {kind} annotations but none were found"));
        }
        for w in want.iter() {
            if !got.iter().any(|g| w.matches(g)) {
                return Err(format!(
                    "expected {kind} annotation matching {w}, but none matched; found: [{}]",
                    all()
                ));
            }
        }
        for g in got.iter() {
            if !want.iter().any(|w: &TextMatch| w.matches(g)) {
                return Err(format!("unexpected {kind} annotation {g:?}"));
            }
        }
    }
    if ev.no_warn && !warnings.is_empty() {
        return Err(format!("unexpected warning annotations: [{}]", all()));
    }
    if ev.no_info && !infos.is_empty() {
        return Err(format!("unexpected info annotations: [{}]", all()));
    }
    Ok(())
}

/// The expected result as the script wrote it, one line per series, for reports.
pub fn format_expected(ev: &Eval) -> String {
    if ev.expect_fail {
        return match &ev.fail_match {
            Some(m) => format!("an error matching {m}"),
            None => "an error".into(),
        };
    }
    if let Some(s) = &ev.expected_string {
        return format!("string {s:?}");
    }
    match &ev.expected {
        Expected::Scalar(v) => format!("scalar {}", format_float(*v)),
        Expected::Series(s) if s.is_empty() => "no series".into(),
        Expected::Series(s) => std::iter::once(format!("{} series:", s.len()))
            .chain(s.iter().map(|e| {
                format!(
                    "{} {}",
                    format_labels(&e.labels),
                    super::script::format_values(&e.values)
                )
            }))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Most series a report prints of one value.
const MAX_PRINTED_SERIES: usize = 20;

/// A query value, one line per series, for reports.
pub fn format_value(value: &Value) -> String {
    let mut lines: Vec<String> = match value {
        Value::Scalar { v, .. } => return format!("scalar {}", format_float(*v)),
        Value::String { s, .. } => return format!("string {s:?}"),
        Value::Vector(v) if v.is_empty() => return "empty vector".into(),
        Value::Matrix(m) if m.is_empty() => return "empty matrix".into(),
        Value::Vector(v) => v
            .iter()
            .map(|s| format!("{} {}", format_labels(&s.labels), format_float(s.v)))
            .collect(),
        Value::Matrix(m) => m
            .iter()
            .map(|s| {
                let points: Vec<String> = s
                    .points
                    .iter()
                    .map(|p| format!("{}@{}", format_float(p.v), p.t))
                    .collect();
                format!("{} {}", format_labels(&s.labels), points.join(" "))
            })
            .collect(),
    };
    let n = lines.len();
    if n > MAX_PRINTED_SERIES {
        lines.truncate(MAX_PRINTED_SERIES);
        lines.push(format!("… and {} more series", n - MAX_PRINTED_SERIES));
    }
    let kind = if matches!(value, Value::Vector(_)) {
        format!("vector of {n} series:")
    } else {
        format!("matrix of {n} series (value@t_ms):")
    };
    format!("{kind}\n{}", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::{Point, RangeSeries};
    use crate::promqltest::script::{parse, Command};
    use lookout_store::model::sample::STALE_NAN;

    fn eval(text: &str) -> Eval {
        match parse(text).unwrap().commands.into_iter().next() {
            Some(Command::Eval(e)) => *e,
            other => panic!("{other:?}"),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn sample(pairs: &[(&str, &str)], v: f64) -> Sample {
        Sample {
            labels: labels(pairs),
            t: 0,
            v,
        }
    }

    const INSTANT: MatrixTimes = MatrixTimes {
        start: 0,
        end: i64::MIN,
        step: 0,
    };

    #[test]
    fn tolerance() {
        assert!(almost_equal(1.0, 1.0 + 1e-9));
        assert!(!almost_equal(1.0, 1.0001));
        assert!(almost_equal(f64::NAN, f64::NAN));
        assert!(almost_equal(STALE_NAN, STALE_NAN));
        assert!(!almost_equal(STALE_NAN, f64::NAN));
        assert!(!almost_equal(f64::NAN, STALE_NAN));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY));
        assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY));
        assert!(!almost_equal(0.0, 1e-300));
        assert!(almost_equal(0.0, -0.0));
        assert!(!almost_equal(f64::NAN, 1.0));
    }

    #[test]
    fn vectors() {
        let ev = eval("eval instant at 0 x\n  x{a=\"1\"} 1\n  {a=\"2\"} 2\n");
        let ok = vec![
            sample(&[("a", "2")], 2.0),
            sample(&[("__name__", "x"), ("a", "1")], 1.0),
        ];
        assert_eq!(
            compare_value(&ev, &Value::Vector(ok.clone()), INSTANT),
            Ok(())
        );
        // `__name__` is part of the label set.
        let no_name = vec![sample(&[("a", "1")], 1.0), sample(&[("a", "2")], 2.0)];
        let e = compare_value(&ev, &Value::Vector(no_name), INSTANT).unwrap_err();
        assert!(e.contains("unexpected series {a=\"1\"}"), "{e}");
        let missing = vec![ok[0].clone()];
        let e = compare_value(&ev, &Value::Vector(missing), INSTANT).unwrap_err();
        assert!(e.contains("not found"), "{e}");
        let wrong = vec![ok[0].clone(), sample(&[("__name__", "x"), ("a", "1")], 1.1)];
        let e = compare_value(&ev, &Value::Vector(wrong), INSTANT).unwrap_err();
        assert!(e.contains("expected 1 for x{a=\"1\"}, but got 1.1"), "{e}");
        // Scalars are not vectors, and the empty expectation wants an empty result.
        let e = compare_value(&ev, &Value::Scalar { t: 0, v: 1.0 }, INSTANT).unwrap_err();
        assert!(e.contains("got scalar"), "{e}");
        let empty = eval("eval instant at 0 x\n");
        assert_eq!(
            compare_value(&empty, &Value::Vector(vec![]), INSTANT),
            Ok(())
        );
        assert!(compare_value(&empty, &Value::Vector(ok), INSTANT).is_err());
    }

    #[test]
    fn ordered_vectors() {
        let ev = eval("eval instant at 0 x\n  expect ordered\n  a 3\n  b 2\n");
        let a = sample(&[("__name__", "a")], 3.0);
        let b = sample(&[("__name__", "b")], 2.0);
        assert_eq!(compare_vector(&ev, &[a.clone(), b.clone()]), Ok(()));
        let e = compare_vector(&ev, &[b, a]).unwrap_err();
        assert!(e.contains("at position 2, but it is at 1"), "{e}");
        let m = Value::Matrix(vec![]);
        assert!(compare_value(&ev, &m, INSTANT).is_err());
    }

    #[test]
    fn empty_label_set_is_not_a_scalar() {
        let ev = eval("eval instant at 0 vector(1)\n  {} 1\n");
        assert_eq!(compare_vector(&ev, &[sample(&[], 1.0)]), Ok(()));
        let s = eval("eval instant at 0 1\n  1\n");
        assert!(compare_vector(&s, &[sample(&[], 1.0)]).is_err());
        assert_eq!(
            compare_value(&s, &Value::Scalar { t: 0, v: 1.0 }, INSTANT),
            Ok(())
        );
        let e = compare_value(&s, &Value::Scalar { t: 0, v: 2.0 }, INSTANT).unwrap_err();
        assert_eq!(e, "expected scalar 1, but got 2");
    }

    #[test]
    fn strings() {
        let ev = eval("eval instant at 0 \"a\"\n  expect string \"a\"\n");
        let ok = Value::String {
            t: 0,
            s: "a".into(),
        };
        assert_eq!(compare_value(&ev, &ok, INSTANT), Ok(()));
        let bad = Value::String {
            t: 0,
            s: "b".into(),
        };
        assert!(compare_value(&ev, &bad, INSTANT).is_err());
    }

    fn series(pairs: &[(&str, &str)], points: &[(i64, f64)]) -> RangeSeries {
        RangeSeries {
            labels: labels(pairs),
            points: points.iter().map(|&(t, v)| Point { t, v }).collect(),
        }
    }

    #[test]
    fn matrices() {
        let ev = eval("eval range from 0 to 2m step 1m foo > 2 or bar\n  foo{job=\"1\"} _ 3 5\n  bar{job=\"2\"} 1 3 5\n");
        let times = MatrixTimes {
            start: 0,
            end: 120_000,
            step: 60_000,
        };
        let bar = series(
            &[("__name__", "bar"), ("job", "2")],
            &[(0, 1.0), (60_000, 3.0), (120_000, 5.0)],
        );
        let foo = series(
            &[("__name__", "foo"), ("job", "1")],
            &[(60_000, 3.0), (120_000, 5.0)],
        );
        let ok = Value::Matrix(vec![bar.clone(), foo.clone()]);
        assert_eq!(compare_value(&ev, &ok, times), Ok(()));
        let unsorted = Value::Matrix(vec![foo.clone(), bar.clone()]);
        let e = compare_value(&ev, &unsorted, times).unwrap_err();
        assert!(e.contains("sorted"), "{e}");
        // `_` means no point: a point there is an error.
        let extra = series(
            &[("__name__", "foo"), ("job", "1")],
            &[(0, 1.0), (60_000, 3.0), (120_000, 5.0)],
        );
        let e = compare_value(&ev, &Value::Matrix(vec![bar.clone(), extra]), times).unwrap_err();
        assert!(e.contains("expected 2 float points"), "{e}");
        let shifted = series(
            &[("__name__", "foo"), ("job", "1")],
            &[(30_000, 3.0), (120_000, 5.0)],
        );
        let e = compare_value(&ev, &Value::Matrix(vec![bar.clone(), shifted]), times).unwrap_err();
        assert!(e.contains("at t=60000"), "{e}");
        // More expected values than steps.
        let short = MatrixTimes {
            start: 0,
            end: 60_000,
            step: 60_000,
        };
        let e = compare_value(&ev, &ok, short).unwrap_err();
        assert!(e.contains("cannot return this many"), "{e}");
        let e = compare_value(&ev, &Value::Matrix(vec![bar]), times).unwrap_err();
        assert!(e.contains("not found"), "{e}");
    }

    fn anno(kind: AnnotationKind, msg: &str) -> Annotation {
        Annotation {
            kind,
            message: msg.into(),
            position: Some((1, 7)),
        }
    }

    #[test]
    fn annotations() {
        let w = anno(AnnotationKind::Warning, "bad");
        let i = anno(AnnotationKind::Info, "fyi");
        let none = eval("eval instant at 0 x\n");
        assert_eq!(check_annotations(&none, &[w.clone(), i.clone()]), Ok(()));
        let exact = eval("eval instant at 0 x\n  expect warn msg: PromQL warning: bad (1:7)\n");
        assert_eq!(check_annotations(&exact, std::slice::from_ref(&w)), Ok(()));
        assert!(check_annotations(&exact, &[]).is_err());
        let other = anno(AnnotationKind::Warning, "worse");
        let e = check_annotations(&exact, &[w.clone(), other]).unwrap_err();
        assert!(e.contains("unexpected warn annotation"), "{e}");
        let any = eval("eval instant at 0 x\n  expect warn\n  expect no_info\n");
        assert_eq!(check_annotations(&any, std::slice::from_ref(&w)), Ok(()));
        assert!(check_annotations(&any, &[w.clone(), i.clone()]).is_err());
        let re = eval("eval instant at 0 x\n  expect info regex: fyi \\([0-9]+:[0-9]+\\)\n");
        assert_eq!(check_annotations(&re, &[i.clone(), w]), Ok(()));
        let legacy = eval("eval_info instant at 0 x\n");
        assert!(check_annotations(&legacy, &[]).is_err());
        assert_eq!(check_annotations(&legacy, &[i]), Ok(()));
    }

    #[test]
    fn failures() {
        let ev = eval("eval instant at 0 x\n  expect fail msg: Parameter value is NaN\n");
        assert_eq!(check_failure(&ev, "Parameter value is NaN"), Ok(()));
        assert!(check_failure(&ev, "something else").is_err());
        let any = eval("eval_fail instant at 0 x\n");
        assert_eq!(check_failure(&any, "whatever"), Ok(()));
        let re = eval("eval instant at 0 x\n  expect fail regex: invalid label name \"a.*z\"\n");
        assert_eq!(
            check_failure(&re, "1:2: invalid label name \"a\u{fffd}z\""),
            Ok(())
        );
        let not = eval("eval instant at 0 x\n");
        assert!(check_failure(&not, "boom").is_err());
    }
}
