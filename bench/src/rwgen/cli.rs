//! Command-line interface: the `Args` flags and the parsers for durations and
//! `--end-time`.

use anyhow::{Context, Result};
use clap::Parser;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "rwgen",
    about = "Prometheus remote_write 1.0 load generator (node-exporter-like dataset)"
)]
pub struct Args {
    /// remote_write endpoint, e.g. http://127.0.0.1:9700/api/v1/write
    #[arg(long, default_value = "http://127.0.0.1:9700/api/v1/write")]
    pub url: String,
    /// exact number of active series
    #[arg(long, default_value_t = 100_000)]
    pub series: usize,
    /// time span covered by the dataset (e.g. 2h, 90m, 1h30m)
    #[arg(long, default_value = "2h", value_parser = parse_duration_ms)]
    pub duration: i64,
    /// scrape interval (e.g. 15s)
    #[arg(long, default_value = "15s", value_parser = parse_duration_ms)]
    pub interval: i64,
    /// end of the dataset: "now", unix seconds or unix milliseconds; data covers [end-duration, end)
    #[arg(long, default_value = "now")]
    pub end_time: String,
    /// samples per request (Prometheus max_samples_per_send is 2000..10000)
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    /// concurrent senders (= shards; a series always goes through the same shard)
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// extra HTTP header "Key:Value" (repeatable), e.g. X-Scope-OrgID:bench
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// PRNG seed of the dataset
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// per-scrape timestamp jitter in ms (0 = perfectly regular, as Prometheus' timestamp alignment produces)
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: i64,
    /// only generate and encode; print the encode rate
    #[arg(long)]
    pub dry_run: bool,
    /// auto: pre-encode if it fits in --pre-encode-max-mib, else stream; pre; stream
    #[arg(long, default_value = "auto")]
    pub mode: String,
    /// memory budget for pre-encoded request bodies
    #[arg(long, default_value_t = 6144)]
    pub pre_encode_max_mib: u64,
    /// give up (non-zero exit) after this long, whatever happens
    #[arg(long, default_value = "1h", value_parser = parse_duration_ms)]
    pub max_time: i64,
    /// per-request attempts on 5xx/429/connection errors before failing
    #[arg(long, default_value_t = 30)]
    pub max_attempts: u32,
    /// HTTP request timeout
    #[arg(long, default_value = "120s", value_parser = parse_duration_ms)]
    pub request_timeout: i64,
    /// print progress on stderr every N seconds (0 = never)
    #[arg(long, default_value_t = 10)]
    pub progress: u64,
    /// print a few generated series (labels and first values) on stderr and exit
    #[arg(long)]
    pub show: bool,
}

pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(format!("bad duration {s:?}"));
        }
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|e| format!("bad duration {s:?}: {e}"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let mult = match unit {
            "ms" => 1.0,
            "s" | "" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            "d" => 86400e3,
            "w" => 7.0 * 86400e3,
            _ => return Err(format!("bad duration unit {unit:?} in {s:?}")),
        };
        total += n * mult;
    }
    Ok(total.round() as i64)
}

pub fn parse_end_time(s: &str) -> Result<i64> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    if s == "now" {
        return Ok(now_ms);
    }
    let v: f64 = s
        .parse()
        .with_context(|| format!("--end-time {s:?}: expected now, unix s or unix ms"))?;
    // 1e11 s is year 5138; anything larger is milliseconds.
    Ok(if v > 1e11 {
        v as i64
    } else {
        (v * 1000.0) as i64
    })
}

/// `Args` for a small, fixed dataset (used by the unit tests of several modules).
#[cfg(test)]
pub fn test_args(series: usize) -> Args {
    Args::parse_from([
        "rwgen",
        "--series",
        &series.to_string(),
        "--duration",
        "10m",
        "--end-time",
        "1700000000",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("2h").unwrap(), 7_200_000);
        assert_eq!(parse_duration_ms("15s").unwrap(), 15_000);
        assert_eq!(parse_duration_ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration_ms("250ms").unwrap(), 250);
        assert!(parse_duration_ms("3x").is_err());
    }
}
