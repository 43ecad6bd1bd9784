//! Query results as Prometheus writes them (`util/jsonutil/marshal.go`): timestamps as JSON
//! numbers of seconds with at most three decimals, sample values as strings in Go's
//! `strconv.FormatFloat` shortest form (`"NaN"`, `"+Inf"`, exponent form below 1e-6 and
//! from 1e21 on).
//!
//! Results are written straight into a byte buffer instead of through `serde_json::Value`:
//! a range query over thousands of series returns millions of points, and a tree of
//! `Value`s would cost an allocation per point.

use std::fmt::Write as _;

use lookout_store::Labels;

use crate::promql::{QueryOutput, Value};

/// Most warnings and infos a response carries; the rest are counted in one last line
/// (Prometheus' `Annotations.AsStrings(query, 10, 10)`).
const MAX_ANNOTATIONS: usize = 10;

/// A sample value as Prometheus writes it (without the quotes).
pub fn format_value(v: f64) -> String {
    let mut s = String::new();
    push_value(&mut s, v);
    s
}

/// Appends `v` the way Go's `strconv.FormatFloat(v, fmt, -1, 64)` does, with `fmt` `'e'`
/// when `|v| < 1e-6` or `|v| >= 1e21` and `'f'` otherwise.
pub fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    let exponent_form = !(1e-6..1e21).contains(&v.abs());
    crate::promql::float::push_finite(out, v, exponent_form);
}

/// Appends a millisecond timestamp as seconds: `1435781430.781`, `1435781430.78` is
/// written `1435781430.780`, and whole seconds have no fraction.
pub fn push_timestamp(out: &mut String, t: i64) {
    if t < 0 {
        out.push('-');
    }
    let t = t.unsigned_abs();
    out.push_str(itoa::Buffer::new().format(t / 1000));
    let frac = t % 1000;
    if frac != 0 {
        let digits = [
            b'.',
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        out.push_str(std::str::from_utf8(&digits).unwrap_or(""));
    }
}

/// Appends a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go's encoder escapes these so the JSON can be embedded in HTML.
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a label set as a JSON object, in label order.
pub fn push_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, &l.name);
        out.push(':');
        push_str(out, &l.value);
    }
    out.push('}');
}

/// Appends `[<ts>,"<v>"]`.
fn push_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    push_timestamp(out, t);
    out.push_str(",\"");
    push_value(out, v);
    out.push_str("\"]");
}

/// Appends `"resultType":"…","result":…` (without the braces).
pub fn push_result(out: &mut String, value: &Value) {
    out.push_str("\"resultType\":\"");
    out.push_str(value.type_name());
    out.push_str("\",\"result\":");
    match value {
        Value::Scalar { t, v } => push_point(out, *t, *v),
        Value::String { t, s } => {
            out.push('[');
            push_timestamp(out, *t);
            out.push(',');
            push_str(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(out, &s.labels);
                out.push_str(",\"value\":");
                push_point(out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, p) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_point(out, p.t, p.v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
}

/// `warnings` and `infos` of a query, at most ten of each plus a line counting the rest.
pub fn annotations(out: &QueryOutput) -> (Vec<String>, Vec<String>) {
    fn capped(it: impl Iterator<Item = String>, what: &str) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        let mut skipped = 0usize;
        for s in it {
            if v.len() < MAX_ANNOTATIONS {
                v.push(s);
            } else {
                skipped += 1;
            }
        }
        if skipped > 0 {
            v.push(format!("{skipped} more {what} annotations omitted"));
        }
        v
    }
    (
        capped(out.warnings().map(|a| a.to_string()), "warning"),
        capped(out.infos().map(|a| a.to_string()), "info"),
    )
}

/// Appends `,"warnings":[…]` / `,"infos":[…]` for the non-empty lists.
pub fn push_annotations(out: &mut String, warnings: &[String], infos: &[String]) {
    for (key, list) in [("warnings", warnings), ("infos", infos)] {
        if list.is_empty() {
            continue;
        }
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":[");
        for (i, s) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_str(out, s);
        }
        out.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The significant digits of a formatted number, without sign, point, leading zeros
    /// and exponent.
    fn significant(s: &str) -> String {
        let mantissa = s.split(['e', 'E']).next().unwrap_or("");
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        digits
            .trim_start_matches('0')
            .trim_end_matches('0')
            .to_string()
    }

    /// Go's rule, computed the slow way: the fewest significant digits that read back as
    /// `v`, correctly rounded (Rust's exact-precision formatting rounds exact ties to even,
    /// as Go's shortest formatting does).
    fn go_digits(v: f64) -> String {
        (0..17)
            .map(|p| format!("{v:.p$e}"))
            .find(|s| s.parse::<f64>().ok() == Some(v))
            .map(|s| significant(&s))
            .unwrap_or_default()
    }

    /// Go's layout around Rust's `{:e}`: a signed exponent of at least two digits.
    fn go_exponent_form(v: f64) -> String {
        let s = format!("{v:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!(
            "{m}e{}{:02}",
            if e < 0 { '-' } else { '+' },
            e.unsigned_abs()
        )
    }

    /// Every value reads back as itself, has Go's digits (exact ties to even included),
    /// and, where `Display` picks the same digits, Go's layout.
    #[test]
    fn values_follow_gos_shortest_rule() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut values = vec![
            1.0,
            -1.0,
            0.1,
            0.3,
            1e-5,
            9.999e-6,
            1e15 - 1.0,
            1e15,
            1e16,
            123.456,
            -2.5e-3,
            1e20,
            5e-324,
            2_030_264_174_453_955.0 + 0.25,
        ];
        for _ in 0..100_000 {
            let bits = next();
            // Random bit patterns, random decimals of every magnitude in range, and
            // exact binary fractions halfway between two 17-digit decimals.
            values.push(f64::from_bits(bits));
            let mag = 10f64.powi((bits % 27) as i32 - 6);
            values.push((bits >> 11) as f64 / (1u64 << 53) as f64 * mag);
            values
                .push(((bits >> 20) % 1_000_000) as f64 * if bits & 1 == 0 { 1.0 } else { -0.25 });
            let quarter = if bits & 2 == 0 { 0.25 } else { 0.75 };
            values.push(((1u64 << 50) + (bits >> 14)) as f64 + quarter);
        }
        let mut ties = 0;
        for v in values {
            if !v.is_finite() || v == 0.0 {
                continue;
            }
            let s = format_value(v);
            assert_eq!(
                s.parse::<f64>().ok(),
                Some(v),
                "{s} does not read back as {v:e}"
            );
            let want = go_digits(v);
            assert_eq!(significant(&s), want, "{v:e}: {s}");
            let display = if (1e-6..1e21).contains(&v.abs()) {
                format!("{v}")
            } else {
                go_exponent_form(v)
            };
            if significant(&display) == want {
                assert_eq!(s, display, "{v:e}");
            } else {
                ties += 1;
            }
        }
        // The quarters above are exact ties; Display rounds them up, Go to even.
        assert!(ties > 1000, "only {ties} ties exercised");
    }

    use crate::promql::{Point, RangeSeries, Sample};

    #[test]
    fn values_like_go() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.5, "0.5"),
            (-0.0, "-0"),
            (0.0, "0"),
            (1e-6, "0.000001"),
            (1e-7, "1e-07"),
            (-2.5e-10, "-2.5e-10"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123456.789, "123456.789"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::MAX, "1.7976931348623157e+308"),
            // An exact tie between two 17-digit decimals goes to the even one, as in Go.
            (2_030_264_174_453_955.0 + 0.25, "2030264174453955.2"),
            (2_030_264_174_453_955.0 + 0.75, "2030264174453955.8"),
        ];
        for (v, want) in cases {
            assert_eq!(format_value(*v), *want, "{v:?}");
        }
        // StaleNaN prints as NaN too (it is never returned, but must not panic).
        assert_eq!(format_value(f64::from_bits(0x7ff0000000000002)), "NaN");
    }

    #[test]
    fn timestamps_like_prometheus() {
        let mut s = String::new();
        for t in [
            1_435_781_430_781,
            1_435_781_430_780,
            1_435_781_430_000,
            5,
            -1500,
            0,
        ] {
            push_timestamp(&mut s, t);
            s.push(' ');
        }
        assert_eq!(
            s,
            "1435781430.781 1435781430.780 1435781430 0.005 -1.500 0 "
        );
    }

    #[test]
    fn results() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b<")]);
        let mut s = String::new();
        push_result(&mut s, &Value::Scalar { t: 4000, v: 2.0 });
        assert_eq!(s, r#""resultType":"scalar","result":[4,"2"]"#);
        s.clear();
        push_result(
            &mut s,
            &Value::String {
                t: 1500,
                s: "x".into(),
            },
        );
        assert_eq!(s, r#""resultType":"string","result":[1.500,"x"]"#);
        s.clear();
        push_result(
            &mut s,
            &Value::Vector(vec![Sample {
                labels: l.clone(),
                t: 1000,
                v: f64::NAN,
            }]),
        );
        assert_eq!(
            s,
            r#""resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b\u003c"},"value":[1,"NaN"]}]"#
        );
        s.clear();
        push_result(
            &mut s,
            &Value::Matrix(vec![RangeSeries {
                labels: Labels::default(),
                points: vec![Point { t: 1, v: 1.0 }, Point { t: 2001, v: 1e-9 }],
            }]),
        );
        assert_eq!(
            s,
            r#""resultType":"matrix","result":[{"metric":{},"values":[[0.001,"1"],[2.001,"1e-09"]]}]"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&format!("{{{s}}}")).unwrap();
        assert_eq!(parsed["result"][0]["values"][1][0], 2.001);
        s.clear();
        push_result(&mut s, &Value::Vector(vec![]));
        assert_eq!(s, r#""resultType":"vector","result":[]"#);
    }

    #[test]
    fn annotations_are_capped() {
        use crate::promql::engine::{Annotation, AnnotationKind};
        let mut q = QueryOutput {
            value: Value::Vector(vec![]),
            annotations: vec![],
            samples_read: 0,
        };
        for i in 0..12 {
            q.annotations.push(Annotation {
                kind: AnnotationKind::Warning,
                message: format!("w{i}"),
                position: Some((1, 1)),
            });
        }
        q.annotations.push(Annotation {
            kind: AnnotationKind::Info,
            message: "i".into(),
            position: None,
        });
        let (w, i) = annotations(&q);
        assert_eq!(w.len(), 11);
        assert_eq!(w[0], "PromQL warning: w0 (1:1)");
        assert_eq!(w[10], "2 more warning annotations omitted");
        assert_eq!(i, vec!["PromQL info: i".to_string()]);
        let mut s = String::new();
        push_annotations(&mut s, &[], &i);
        assert_eq!(s, r#","infos":["PromQL info: i"]"#);
    }
}
