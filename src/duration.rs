//! Prometheus-style durations (`15s`, `1h30m`, `2d`, `500ms`) and byte sizes (`512MiB`, `10GB`).

use std::fmt;

use serde::{de, Deserialize, Deserializer};

/// A duration in milliseconds, written the Prometheus way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Duration(pub i64);

impl Duration {
    /// Parses with the scraper's Prometheus duration grammar, so lookout.yaml and
    /// `scrape_configs` accept exactly the same spellings.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let ms = lookout_collector::scrape::config::PromDuration::parse(s)?.0;
        i64::try_from(ms)
            .map(Duration)
            .map_err(|_| format!("duration {s:?} is too long"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(de::Error::custom)
    }
}

/// A size in bytes: a plain number or one with a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let err = || {
            format!("size {s:?} is invalid: use a number with an optional unit, e.g. 512MiB, 10GB")
        };
        let s2 = s.trim();
        let split = s2.find(|c: char| !c.is_ascii_digit()).unwrap_or(s2.len());
        let n: u64 = s2[..split].parse().map_err(|_| err())?;
        let mult: u64 = match s2[split..].trim() {
            "" | "B" => 1,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "TiB" => 1 << 40,
            _ => return Err(err()),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(err)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 512MiB or 10GB")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n).map(ByteSize).map_err(|_| {
                    E::custom(format!("size \"{n}\" is invalid: it must not be negative"))
                })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                ByteSize::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("15s").unwrap().0, 15_000);
        assert_eq!(Duration::parse("1h30m").unwrap().0, 5_400_000);
        assert_eq!(Duration::parse("15d").unwrap().0, 15 * 86_400_000);
        assert_eq!(Duration::parse("500ms").unwrap().0, 500);
        assert_eq!(Duration::parse("0").unwrap().0, 0);
        for bad in ["", "15", "h", "1x", "-1s", "1.5h"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("512MiB").unwrap().0, 512 << 20);
        assert_eq!(ByteSize::parse("10GB").unwrap().0, 10_000_000_000);
        assert_eq!(ByteSize::parse("0").unwrap().0, 0);
        assert!(ByteSize::parse("10 parsecs").is_err());
    }
}
