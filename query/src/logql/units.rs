//! The value forms LogQL compares and unwraps labels as: Go durations (`1.5s`, `300ms`,
//! `1h2m`, Go's `time.ParseDuration`) and byte sizes (`20MB`, `1.5 KiB`, go-humanize's
//! `ParseBytes`: decimal units are powers of 1000, `i` units powers of 1024).

/// A Go duration in seconds.
pub fn go_duration(s: &str) -> Option<f64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[u..];
        total += v * mult;
    }
    Some(if neg { -total } else { total })
}

/// A byte size (`20MB`, `1.5KiB`, `42`).
pub fn bytes(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let n: f64 = s[..split].parse().ok()?;
    let unit = s[split..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return None,
    };
    Some(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration("1.5s"), Some(1.5));
        assert_eq!(go_duration("300ms"), Some(0.3));
        assert_eq!(go_duration("1h2m"), Some(3720.0));
        assert_eq!(go_duration("-2us"), Some(-2e-6));
        assert_eq!(go_duration("0"), Some(0.0));
        for bad in ["", "1", "5x", "s", "1.5"] {
            assert_eq!(go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn byte_sizes_like_humanize() {
        assert_eq!(bytes("20MB"), Some(20e6));
        assert_eq!(bytes("1.5KiB"), Some(1536.0));
        assert_eq!(bytes("42"), Some(42.0));
        assert_eq!(bytes("3 gb"), Some(3e9));
        assert_eq!(bytes("1s"), None);
    }
}
