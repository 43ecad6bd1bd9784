//! Go's `strconv.FormatFloat(v, 'f' or 'e', -1, 64)` for finite values: the shortest
//! digits that read back as the value, laid out as Go lays them out. Prometheus writes
//! sample values (`'e'` below 1e-6 and from 1e21 on) and label values of `count_values`
//! and messages (`'f'`) this way.
//!
//! The digits come from `zmij`, which picks the nearest shortest digits and breaks exact
//! ties to even, as Go's `ryuFtoaShortest` does; Rust's `Display` breaks them upwards
//! (2030264174453955.25 is `…55.3` there and `…55.2` in Go) and is several times slower.

/// Appends finite `v` in Go's `'e'` form if `exponent_form`, else in its `'f'` form.
pub fn push_finite(out: &mut String, v: f64, exponent_form: bool) {
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Large responses format hundreds of thousands of values; integers below 2^53
    // (counters, bytes), whose shortest form is the integer itself, go through itoa.
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        out.push_str(itoa::Buffer::new().format(v as i64));
        return;
    }
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(v);
    // zmij writes fractions from 1e-5 up without an exponent, as Go's 'f' does.
    let bytes = text.as_bytes();
    if !exponent_form && !bytes.contains(&b'e') && !bytes.ends_with(b".0") {
        out.push_str(text);
        return;
    }
    push_laid_out(out, text, exponent_form);
}

/// zmij's shortest digits (`text`) laid out as Go's `'e'` or `'f'` format.
fn push_laid_out(out: &mut String, text: &str, exponent_form: bool) {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The value is 0.DIGITS × 10^point.
    let mut digits = [0u8; 40];
    let mut nd = 0;
    let mut point = int.len() as i32 + exp;
    for &b in int.as_bytes().iter().chain(frac.as_bytes()) {
        if nd == 0 && b == b'0' {
            point -= 1;
            continue;
        }
        if nd < digits.len() {
            digits[nd] = b;
            nd += 1;
        }
    }
    while nd > 0 && digits[nd - 1] == b'0' {
        nd -= 1;
    }
    let digits = &digits[..nd];
    if nd == 0 {
        out.push('0');
        return;
    }
    if negative {
        out.push('-');
    }
    // Every byte pushed below is an ASCII digit, '.', 'e', '+' or '-'.
    let push = |out: &mut String, bytes: &[u8]| {
        out.push_str(std::str::from_utf8(bytes).unwrap_or(""));
    };
    if exponent_form {
        push(out, &digits[..1]);
        if nd > 1 {
            out.push('.');
            push(out, &digits[1..]);
        }
        let e = point - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        let e = e.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(itoa::Buffer::new().format(e));
        return;
    }
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        push(out, digits);
    } else if point as usize >= nd {
        push(out, digits);
        for _ in nd..point as usize {
            out.push('0');
        }
    } else {
        push(out, &digits[..point as usize]);
        out.push('.');
        push(out, &digits[point as usize..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        push_finite(&mut s, v, false);
        s
    }

    /// Go's 'f' never switches to an exponent, and breaks exact ties to even.
    #[test]
    fn f_form_like_go() {
        assert_eq!(f(1e21), "1000000000000000000000");
        assert_eq!(f(1.5e-7), "0.00000015");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(f(2_030_264_174_453_955.0 + 0.25), "2030264174453955.2");
    }
}
