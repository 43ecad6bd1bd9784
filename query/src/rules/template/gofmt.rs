//! Go's `fmt` number and verb formatting (`%v`, `%g`, `%.4g`, `%e`, `%f`, `%d`, `%s`, `%q`,
//! widths and flags), because Prometheus' templates print through it: `{{ $value }}` of
//! 1e6 is `1e+06` and `humanize` is `%.4g` plus a prefix, and alert texts must match.

use super::Value;

/// Significant digits of `v` (> 0 or 0), and the decimal point position: v = 0.d1d2… × 10^dp.
/// `sig`: that many significant digits, rounded half to even on the exact value (as Go
/// rounds); None: the shortest digits that read back as `v`. Trailing zeros are dropped.
fn decimal(v: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    if v == 0.0 {
        return (Vec::new(), 0);
    }
    let s = match sig {
        None => format!("{v:e}"),
        Some(n) => format!("{:.*e}", n.max(1) - 1, v),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits == [b'0'] {
        return (Vec::new(), 0);
    }
    (digits, exp + 1)
}

/// Go's spelling of NaN and the infinities in every float verb.
fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

fn push_e(out: &mut String, digs: &[u8], dp: i32, prec: usize) {
    out.push(digs.first().map_or('0', |&d| d as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(digs.get(i).map_or('0', |&d| d as char));
        }
    }
    let exp = if digs.is_empty() { 0 } else { dp - 1 };
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
}

fn push_f(out: &mut String, digs: &[u8], dp: i32, prec: usize) {
    if dp > 0 {
        for i in 0..dp as usize {
            out.push(digs.get(i).map_or('0', |&d| d as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i32 {
            let idx = dp + i - 1;
            let c = if idx >= 0 {
                digs.get(idx as usize).map_or('0', |&d| d as char)
            } else {
                '0'
            };
            out.push(c);
        }
    }
}

/// `%g` (prec None: Go's shortest, which `%v` uses) and `%.Ng`.
pub fn format_g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let p_in = prec.map(|p| p.max(1));
    let (digs, dp) = decimal(v.abs(), p_in);
    let nd = digs.len();
    let mut p = p_in.unwrap_or(nd);
    let mut eprec = p;
    if prec.is_some() && eprec > nd && nd as i32 >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec as i32 {
        if p > nd {
            p = nd;
        }
        push_e(&mut out, &digs, dp, p.saturating_sub(1));
    } else {
        if p as i32 > dp {
            p = nd;
        }
        push_f(&mut out, &digs, dp, (p as i32 - dp).max(0) as usize);
    }
    out
}

/// `%.Ne` (default 6).
pub fn format_e(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let (digs, dp) = decimal(v.abs(), Some(prec + 1));
    push_e(&mut out, &digs, dp, prec);
    out
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest digits in exponent form
/// (`1e+00`, `2.5e-01`), how Prometheus' API writes an alert's value.
pub fn format_e_shortest(v: f64) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let (digs, dp) = decimal(v.abs(), None);
    push_e(&mut out, &digs, dp, digs.len().saturating_sub(1));
    out
}

/// `%.Nf` (default 6).
pub fn format_f(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    format!("{v:.prec$}")
}

/// Go's `%v` of a value, as text/template prints it.
pub fn format_v(v: &Value) -> String {
    v.to_string()
}

/// One `%…` directive's flags, width and precision.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprintf` over template values, for the verbs rule templates use.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        spec.width = num(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(num(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let (body, numeric) = format_one(verb, &spec, arg);
        pad(&mut out, &body, &spec, numeric);
    }
    let extra: Vec<String> = args.map(|a| format!("{}={a}", a.go_type())).collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn bad(verb: char, arg: &Value) -> String {
    format!("%!{verb}({}={arg})", arg.go_type())
}

fn sign(s: String, spec: &Spec, v: f64) -> String {
    if v >= 0.0 && !s.starts_with('-') && !s.starts_with('+') {
        if spec.plus {
            return format!("+{s}");
        }
        if spec.space {
            return format!(" {s}");
        }
    }
    s
}

fn format_one(verb: char, spec: &Spec, arg: &Value) -> (String, bool) {
    match (verb, arg) {
        ('v', Value::Num(f)) => (sign(format_g(*f, None), spec, *f), true),
        ('v', _) | ('s', Value::Str(_)) => (arg.to_string(), false),
        ('s', _) => (bad(verb, arg), false),
        ('d', Value::Int(i)) => (sign(i.to_string(), spec, *i as f64), true),
        ('f' | 'F', Value::Num(f)) => (sign(format_f(*f, spec.prec.unwrap_or(6)), spec, *f), true),
        ('e', Value::Num(f)) => (sign(format_e(*f, spec.prec.unwrap_or(6)), spec, *f), true),
        ('g', Value::Num(f)) => (sign(format_g(*f, spec.prec), spec, *f), true),
        ('q', Value::Str(s)) => (go_quote(s), false),
        ('x', Value::Str(s)) => (s.bytes().map(|b| format!("{b:02x}")).collect(), false),
        ('x', Value::Int(i)) => (format!("{i:x}"), true),
        ('t', Value::Bool(b)) => (b.to_string(), false),
        _ => (bad(verb, arg), false),
    }
}

fn pad(out: &mut String, body: &str, spec: &Spec, numeric: bool) {
    let len = body.chars().count();
    let w = spec.width.unwrap_or(0);
    if len >= w {
        out.push_str(body);
    } else if spec.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', w - len));
    } else if spec.zero && numeric {
        let (sgn, digits) = match body.strip_prefix(['-', '+']) {
            Some(rest) => (&body[..1], rest),
            None => ("", body),
        };
        out.push_str(sgn);
        out.extend(std::iter::repeat_n('0', w - len));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', w - len));
        out.push_str(body);
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        for (v, want) in [
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.5, "0.5"),
            (0.0, "0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (100.0, "100"),
        ] {
            assert_eq!(format_g(v, None), want, "{v}");
        }
        for (v, want) in [
            (1234567.0, "1.235e+06"),
            (100.0, "100"),
            (1.5, "1.5"),
            (12345.0, "1.234e+04"),
            (0.0, "0"),
            (999.95, "1000"),
            (1.0, "1"),
        ] {
            assert_eq!(format_g(v, Some(4)), want, "{v}");
        }
        assert_eq!(format_e(1.0, 6), "1.000000e+00");
    }

    #[test]
    fn sprintf_verbs_widths_and_mistakes() {
        let n = |f: f64| Value::Num(f);
        assert_eq!(sprintf("%.2f%%", &[n(12.345)]), "12.35%");
        assert_eq!(
            sprintf("%s is %v", &[Value::Str("x".into()), n(3.0)]),
            "x is 3"
        );
        assert_eq!(
            sprintf("%5.1f|%-4s|", &[n(2.0), Value::Str("a".into())]),
            "  2.0|a   |"
        );
        assert_eq!(sprintf("%d", &[n(2.0)]), "%!d(float64=2)");
        assert_eq!(sprintf("%d %d", &[Value::Int(3)]), "3 %!d(MISSING)");
        assert_eq!(sprintf("%q", &[Value::Str("a\"b".into())]), "\"a\\\"b\"");
        assert_eq!(sprintf("%05d", &[Value::Int(-42)]), "-0042");
    }
}
