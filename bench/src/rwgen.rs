//! rwgen — a Prometheus remote_write 1.0 load generator.
//!
//! Generates a deterministic (seeded), node-exporter-like dataset and pushes it
//! to a remote_write endpoint in time-major order.  See bench/README.md.
//!
//! Design notes
//! * Series are split into `--concurrency` shards (series i -> shard i % C), like
//!   Prometheus' remote_write shards: each shard sends its own requests strictly
//!   in order, so every series is received in timestamp order even with
//!   concurrent requests.  A small barrier keeps shards within one scrape
//!   interval of each other, so the receiver sees the whole dataset advance
//!   time-major (important for Prometheus, whose head rejects samples older than
//!   `maxt - 1h`).
//! * The label part of each TimeSeries message is encoded once (with prost);
//!   per sample only the `Sample` sub-message is encoded.  The output is
//!   byte-identical to `WriteRequest::encode` of the equivalent message (tested).
//! * By default (`--mode auto`) the whole dataset is pre-encoded and
//!   snappy-compressed in memory before the timed phase when it fits in
//!   `--pre-encode-max-mib`, so the generator uses almost no CPU while the
//!   receiver is being measured.  Otherwise encoder threads stream into bounded
//!   queues.

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------
// remote_write 1.0 protobuf messages (prometheus/prompb/remote.proto, types.proto)
// ---------------------------------------------------------------------------

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
}

#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

#[derive(Parser, Debug, Clone)]
#[command(
    name = "rwgen",
    about = "Prometheus remote_write 1.0 load generator (node-exporter-like dataset)"
)]
struct Args {
    /// remote_write endpoint, e.g. http://127.0.0.1:9700/api/v1/write
    #[arg(long, default_value = "http://127.0.0.1:9700/api/v1/write")]
    url: String,
    /// exact number of active series
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// time span covered by the dataset (e.g. 2h, 90m, 1h30m)
    #[arg(long, default_value = "2h", value_parser = parse_duration_ms)]
    duration: i64,
    /// scrape interval (e.g. 15s)
    #[arg(long, default_value = "15s", value_parser = parse_duration_ms)]
    interval: i64,
    /// end of the dataset: "now", unix seconds or unix milliseconds; data covers [end-duration, end)
    #[arg(long, default_value = "now")]
    end_time: String,
    /// samples per request (Prometheus max_samples_per_send is 2000..10000)
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// concurrent senders (= shards; a series always goes through the same shard)
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// extra HTTP header "Key:Value" (repeatable), e.g. X-Scope-OrgID:bench
    #[arg(long = "header")]
    headers: Vec<String>,
    /// PRNG seed of the dataset
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// per-scrape timestamp jitter in ms (0 = perfectly regular, as Prometheus' timestamp alignment produces)
    #[arg(long, default_value_t = 0)]
    jitter_ms: i64,
    /// only generate and encode; print the encode rate
    #[arg(long)]
    dry_run: bool,
    /// auto: pre-encode if it fits in --pre-encode-max-mib, else stream; pre; stream
    #[arg(long, default_value = "auto")]
    mode: String,
    /// memory budget for pre-encoded request bodies
    #[arg(long, default_value_t = 6144)]
    pre_encode_max_mib: u64,
    /// give up (non-zero exit) after this long, whatever happens
    #[arg(long, default_value = "1h", value_parser = parse_duration_ms)]
    max_time: i64,
    /// per-request attempts on 5xx/429/connection errors before failing
    #[arg(long, default_value_t = 30)]
    max_attempts: u32,
    /// HTTP request timeout
    #[arg(long, default_value = "120s", value_parser = parse_duration_ms)]
    request_timeout: i64,
    /// print progress on stderr every N seconds (0 = never)
    #[arg(long, default_value_t = 10)]
    progress: u64,
    /// print a few generated series (labels and first values) on stderr and exit
    #[arg(long)]
    show: bool,
}

fn parse_duration_ms(s: &str) -> Result<i64, String> {
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

fn parse_end_time(s: &str) -> Result<i64> {
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

// ---------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------

#[inline]
fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
#[inline]
fn unit(s: &mut u64) -> f64 {
    (splitmix(s) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}
/// triangular in (-1, 1), mean 0
#[inline]
fn tri(s: &mut u64) -> f64 {
    unit(s) + unit(s) - 1.0
}
#[inline]
fn uniform(s: &mut u64, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(s)
}
/// log-uniform in [lo, hi]
fn logu(s: &mut u64, lo: f64, hi: f64) -> f64 {
    (lo.ln() + (hi.ln() - lo.ln()) * unit(s)).exp()
}
fn pick<'a, T>(s: &mut u64, xs: &'a [T]) -> &'a T {
    &xs[(splitmix(s) % xs.len() as u64) as usize]
}
fn hash3(a: u64, b: u64, c: u64) -> u64 {
    let mut s = a ^ b.wrapping_mul(0xA24B_AED4_963E_E407) ^ c.wrapping_mul(0x9FB2_1C65_1E98_DF25);
    splitmix(&mut s)
}
/// stochastic rounding: E[sround(x)] == x
#[inline]
fn sround(x: f64, s: &mut u64) -> i64 {
    let f = x.floor();
    f as i64 + (unit(s) < x - f) as i64
}

// ---------------------------------------------------------------------------
// Value models
// ---------------------------------------------------------------------------

/// value = integer state converted the way exporters do it (ticks / 100, kB * 1024, ...)
#[derive(Clone, Copy, Debug)]
enum Scale {
    One,
    Div(f64),
    Mul(f64),
}
impl Scale {
    #[inline]
    fn apply(self, v: i64) -> f64 {
        match self {
            Scale::One => v as f64,
            Scale::Div(d) => v as f64 / d,
            Scale::Mul(m) => v as f64 * m,
        }
    }
}

#[derive(Clone, Debug)]
enum Model {
    Const(f64),
    /// monotonic counter: with probability `p` per scrape, increase by ~inc*(1±cv) units
    Counter {
        v: i64,
        inc: f64,
        cv: f64,
        p: f64,
        scale: Scale,
    },
    /// slow bounded random walk with mean reversion towards `target`
    Gauge {
        v: i64,
        lo: i64,
        hi: i64,
        sigma: f64,
        p: f64,
        target: f64,
        revert: f64,
        scale: Scale,
    },
    /// full-precision noisy float (durations, ratios): mean*(1 + rel*tri)
    Noisy {
        mean: f64,
        rel: f64,
    },
    /// node_time_seconds: scrape time in seconds with sub-ms noise
    Clock,
}

impl Model {
    #[inline]
    fn value(&mut self, rng: &mut u64, first: bool, ts_ms: i64) -> f64 {
        match self {
            Model::Const(c) => *c,
            Model::Counter {
                v,
                inc,
                cv,
                p,
                scale,
            } => {
                if !first && (*p >= 1.0 || unit(rng) < *p) {
                    let x = *inc * (1.0 + *cv * tri(rng));
                    *v += sround(x.max(0.0), rng);
                }
                scale.apply(*v)
            }
            Model::Gauge {
                v,
                lo,
                hi,
                sigma,
                p,
                target,
                revert,
                scale,
            } => {
                if !first && (*p >= 1.0 || unit(rng) < *p) {
                    let pull = (*target - *v as f64) * *revert;
                    *v += sround(pull + *sigma * tri(rng), rng);
                    *v = (*v).clamp(*lo, *hi);
                }
                scale.apply(*v)
            }
            Model::Noisy { mean, rel } => *mean * (1.0 + *rel * tri(rng)),
            Model::Clock => ts_ms as f64 / 1e3 + unit(rng) * 2e-3,
        }
    }
}

// ---------------------------------------------------------------------------
// Dataset: node-exporter-like hosts
// ---------------------------------------------------------------------------

struct SeriesDef {
    labels: Vec<(String, String)>,
    model: Model,
}

struct HostBuilder<'a> {
    defs: Vec<SeriesDef>,
    rng: &'a mut u64,
    instance: String,
    interval_s: f64,
    uptime_s: f64,
}

impl<'a> HostBuilder<'a> {
    fn push(&mut self, name: &str, labels: &[(&str, &str)], model: Model) {
        let mut l: Vec<(String, String)> = Vec::with_capacity(labels.len() + 3);
        l.push(("__name__".into(), name.into()));
        l.push(("instance".into(), self.instance.clone()));
        l.push(("job".into(), "node".into()));
        for (k, v) in labels {
            l.push(((*k).into(), (*v).into()));
        }
        self.defs.push(SeriesDef { labels: l, model });
    }
    fn konst(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.push(name, labels, Model::Const(v));
    }
    /// counter in exporter units: `rate` units/s, stored as integer ticks of 1/div
    fn counter_div(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        rate: f64,
        div: f64,
        cv: f64,
        p: f64,
    ) {
        let ticks_per_s = rate * div;
        let inc = ticks_per_s * self.interval_s / p.max(1e-9);
        let start = (ticks_per_s * self.uptime_s * uniform(self.rng, 0.8, 1.2)).round() as i64;
        let scale = if div == 1.0 {
            Scale::One
        } else {
            Scale::Div(div)
        };
        self.push(
            name,
            labels,
            Model::Counter {
                v: start,
                inc,
                cv,
                p: p.min(1.0),
                scale,
            },
        );
    }
    fn counter(&mut self, name: &str, labels: &[(&str, &str)], rate: f64, cv: f64, p: f64) {
        self.counter_div(name, labels, rate, 1.0, cv, p)
    }
    /// rare-event counter (errors, drops): +1..few with probability p per scrape
    fn rare(&mut self, name: &str, labels: &[(&str, &str)], p: f64) {
        let start =
            (p * self.uptime_s / self.interval_s * uniform(self.rng, 0.5, 1.5)).round() as i64;
        self.push(
            name,
            labels,
            Model::Counter {
                v: start,
                inc: 1.5,
                cv: 0.6,
                p,
                scale: Scale::One,
            },
        );
    }
    /// integer gauge (state in units of `mul`)
    #[allow(clippy::too_many_arguments)]
    fn gauge(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        init: f64,
        lo: f64,
        hi: f64,
        sigma: f64,
        p: f64,
        mul: f64,
    ) {
        let v = (init / mul).round() as i64;
        let scale = if mul == 1.0 {
            Scale::One
        } else if mul < 1.0 {
            Scale::Div((1.0 / mul).round())
        } else {
            Scale::Mul(mul)
        };
        self.push(
            name,
            labels,
            Model::Gauge {
                v,
                lo: (lo / mul).floor() as i64,
                hi: (hi / mul).ceil() as i64,
                sigma: sigma / mul,
                p,
                target: v as f64,
                revert: 0.05,
                scale,
            },
        );
    }
    fn noisy(&mut self, name: &str, labels: &[(&str, &str)], mean: f64, rel: f64) {
        self.push(name, labels, Model::Noisy { mean, rel });
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const COLLECTORS: &[&str] = &[
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "dmi",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "filesystem",
    "hwmon",
    "infiniband",
    "ipvs",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "nfs",
    "nfsd",
    "nvme",
    "os",
    "powersupplyclass",
    "pressure",
    "rapl",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "tapestats",
    "textfile",
    "thermal_zone",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "vmstat",
    "xfs",
    "zfs",
];

/// All series of one host, node_exporter 1.x default collectors + Prometheus' synthetic series.
fn host_series(seed: u64, host: usize, interval_s: f64, end_s: f64) -> Vec<SeriesDef> {
    let mut rng = hash3(seed, host as u64, 0xB05E);
    let r = &mut rng;
    let ncpu: usize = *pick(r, &[2, 4, 4, 8, 8, 8, 16, 16, 32]);
    let mem_total = (ncpu as f64 * *pick(r, &[2.0, 4.0, 4.0, 8.0]) * GIB / 1024.0).round() * 1024.0;
    let util = logu(r, 0.03, 0.7); // host CPU utilisation
    let uptime_s = logu(r, 3600.0, 200.0 * 86400.0);
    let instance = format!("node-{host:05}.bench.internal:9100");
    let nvme = unit(r) < 0.5;
    let disks: Vec<String> = if nvme {
        (0..*pick(r, &[1usize, 1, 2]))
            .map(|i| format!("nvme{i}n1"))
            .collect()
    } else {
        (0..*pick(r, &[1usize, 2, 3]))
            .map(|i| format!("sd{}", (b'a' + i as u8) as char))
            .collect()
    };
    let mut netdevs = vec!["eth0".to_string(), "lo".to_string()];
    if unit(r) < 0.4 {
        netdevs.push("docker0".into());
    }
    if unit(r) < 0.3 {
        netdevs.push("eth1".into());
    }
    let mut b = HostBuilder {
        defs: Vec::with_capacity(1200),
        rng: r,
        instance,
        interval_s,
        uptime_s,
    };

    // --- Prometheus synthetic series
    b.konst("up", &[], 1.0);
    b.noisy(
        "scrape_duration_seconds",
        &[],
        0.02 + ncpu as f64 * 0.002,
        0.4,
    );
    // scrape_samples_* are filled in at the end (they depend on the host's series count)

    // --- cpu
    let modes = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    for c in 0..ncpu {
        let cpu = c.to_string();
        let u = (util * uniform(b.rng, 0.6, 1.4)).min(0.98);
        for m in modes {
            let l = [("cpu", cpu.as_str()), ("mode", m)];
            let rate = match m {
                "idle" => 1.0 - u - 0.01,
                "user" => u * 0.65,
                "system" => u * 0.3,
                "iowait" => 0.005 * uniform(b.rng, 0.0, 2.0),
                "softirq" => u * 0.03,
                "irq" => 0.0,
                "nice" => 0.0005,
                _ => 0.0,
            };
            if rate <= 0.0 {
                b.konst("node_cpu_seconds_total", &l, 0.0);
            } else {
                b.counter_div("node_cpu_seconds_total", &l, rate, 100.0, 0.5, 1.0);
            }
        }
        for m in ["nice", "user"] {
            b.konst(
                "node_cpu_guest_seconds_total",
                &[("cpu", &cpu), ("mode", m)],
                0.0,
            );
        }
        let fmax = 3.5e9;
        b.gauge(
            "node_cpu_scaling_frequency_hertz",
            &[("cpu", &cpu)],
            2.2e9,
            0.8e9,
            fmax,
            6e8,
            0.8,
            1e3,
        );
        b.konst(
            "node_cpu_scaling_frequency_max_hertz",
            &[("cpu", &cpu)],
            fmax,
        );
        b.konst(
            "node_cpu_scaling_frequency_min_hertz",
            &[("cpu", &cpu)],
            8e8,
        );
        b.counter_div(
            "node_schedstat_running_seconds_total",
            &[("cpu", &cpu)],
            u,
            1e9,
            0.5,
            1.0,
        );
        b.counter_div(
            "node_schedstat_waiting_seconds_total",
            &[("cpu", &cpu)],
            u * 0.05,
            1e9,
            0.8,
            1.0,
        );
        b.counter(
            "node_schedstat_timeslices_total",
            &[("cpu", &cpu)],
            300.0 * u + 20.0,
            0.5,
            1.0,
        );
        b.counter(
            "node_softnet_processed_total",
            &[("cpu", &cpu)],
            50.0 * u + 1.0,
            0.6,
            1.0,
        );
        b.konst("node_softnet_dropped_total", &[("cpu", &cpu)], 0.0);
        b.rare("node_softnet_times_squeezed_total", &[("cpu", &cpu)], 0.02);
    }
    b.konst(
        "node_cpu_info",
        &[
            ("cachesize", "33792 KB"),
            ("core", "0"),
            ("cpu", "0"),
            ("family", "6"),
            ("microcode", "0xd0003a5"),
            ("model", "106"),
            ("model_name", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"),
            ("package", "0"),
            ("stepping", "6"),
            ("vendor", "GenuineIntel"),
        ],
        1.0,
    );

    // --- load, procs, stat
    let load = util * ncpu as f64;
    for (n, s) in [
        ("node_load1", 0.3),
        ("node_load5", 0.1),
        ("node_load15", 0.04),
    ] {
        b.gauge(
            n,
            &[],
            load,
            0.0,
            load * 3.0 + 1.0,
            load * s + 0.05,
            1.0,
            0.01,
        );
    }
    b.gauge(
        "node_procs_running",
        &[],
        1.0 + load,
        1.0,
        2.0 * load + 4.0,
        1.5,
        0.9,
        1.0,
    );
    b.gauge("node_procs_blocked", &[], 0.0, 0.0, 4.0, 0.7, 0.1, 1.0);
    b.counter(
        "node_context_switches_total",
        &[],
        2000.0 * ncpu as f64 * (util + 0.1),
        0.3,
        1.0,
    );
    b.counter(
        "node_intr_total",
        &[],
        1500.0 * ncpu as f64 * (util + 0.1),
        0.3,
        1.0,
    );
    b.counter("node_forks_total", &[], 5.0 + 20.0 * util, 0.6, 1.0);
    b.konst("node_boot_time_seconds", &[], (end_s - uptime_s).round());
    b.push("node_time_seconds", &[], Model::Clock);
    b.konst(
        "node_time_zone_offset_seconds",
        &[("time_zone", "UTC")],
        0.0,
    );
    b.konst("node_entropy_available_bits", &[], 256.0);
    b.konst("node_entropy_pool_size_bits", &[], 256.0);
    b.gauge(
        "node_filefd_allocated",
        &[],
        2000.0 + 300.0 * ncpu as f64,
        500.0,
        1e5,
        20.0,
        0.7,
        1.0,
    );
    b.konst("node_filefd_maximum", &[], 9.223372036854776e18);
    b.gauge(
        "node_nf_conntrack_entries",
        &[],
        200.0 + 2000.0 * util,
        10.0,
        262144.0,
        30.0,
        0.9,
        1.0,
    );
    b.konst("node_nf_conntrack_entries_limit", &[], 262144.0);
    for r in ["cpu", "io", "memory"] {
        b.counter_div(
            &format!("node_pressure_{r}_waiting_seconds_total"),
            &[],
            util * 0.02,
            1e6,
            0.8,
            1.0,
        );
        if r != "cpu" {
            b.counter_div(
                &format!("node_pressure_{r}_stalled_seconds_total"),
                &[],
                util * 0.005,
                1e6,
                0.8,
                1.0,
            );
        }
    }

    // --- memory (kB * 1024)
    let kb = 1024.0;
    let mt = mem_total;
    let used = uniform(b.rng, 0.15, 0.8);
    let mem = [
        ("Active", 0.35 * used, 0.002),
        ("Active_anon", 0.25 * used, 0.002),
        ("Active_file", 0.1 * used, 0.001),
        ("AnonHugePages", 0.02, 0.0),
        ("AnonPages", 0.3 * used, 0.002),
        ("Buffers", 0.02, 0.0003),
        ("Cached", 0.35, 0.001),
        ("Committed_AS", 0.6 * used, 0.003),
        ("Dirty", 0.0002, 0.0002),
        ("Inactive", 0.3, 0.001),
        ("Inactive_anon", 0.05, 0.0005),
        ("Inactive_file", 0.25, 0.001),
        ("KReclaimable", 0.03, 0.0002),
        ("KernelStack", 0.001, 0.00001),
        ("Mapped", 0.05, 0.0003),
        ("MemAvailable", 1.0 - used, 0.003),
        ("MemFree", 0.9 - used, 0.003),
        ("Mlocked", 0.0, 0.0),
        ("PageTables", 0.004, 0.00003),
        ("Percpu", 0.0005, 0.0),
        ("SReclaimable", 0.03, 0.0002),
        ("SUnreclaim", 0.01, 0.00005),
        ("Shmem", 0.01, 0.00005),
        ("Slab", 0.04, 0.0002),
        ("SwapCached", 0.0, 0.0),
        ("Unevictable", 0.0001, 0.0),
        ("VmallocUsed", 0.001, 0.000005),
        ("Writeback", 0.0, 0.0),
    ];
    for (n, frac, step) in mem {
        let name = format!("node_memory_{n}_bytes");
        let v = (frac * mt).max(0.0);
        if step == 0.0 {
            b.konst(&name, &[], (v / kb).round() * kb);
        } else {
            b.gauge(&name, &[], v, 0.0, mt, step * mt, 0.9, kb);
        }
    }
    for (n, v) in [
        ("MemTotal", mt),
        ("SwapTotal", 0.0),
        ("SwapFree", 0.0),
        ("CommitLimit", mt / 2.0),
        ("DirectMap1G", (mt / GIB).floor() * GIB),
        ("DirectMap2M", 2.0 * GIB),
        ("DirectMap4k", 300.0 * 1024.0 * kb),
        ("Hugepagesize", 2048.0 * kb),
        ("Hugetlb", 0.0),
        ("VmallocTotal", 35184372087808.0),
        ("VmallocChunk", 0.0),
        ("Bounce", 0.0),
        ("NFS_Unstable", 0.0),
        ("WritebackTmp", 0.0),
        ("HardwareCorrupted", 0.0),
        ("ShmemHugePages", 0.0),
        ("ShmemPmdMapped", 0.0),
        ("FileHugePages", 0.0),
        ("FilePmdMapped", 0.0),
    ] {
        b.konst(&format!("node_memory_{n}_bytes"), &[], v);
    }
    for n in [
        "HugePages_Free",
        "HugePages_Rsvd",
        "HugePages_Surp",
        "HugePages_Total",
    ] {
        b.konst(&format!("node_memory_{n}"), &[], 0.0);
    }

    // --- vmstat
    b.counter(
        "node_vmstat_pgfault",
        &[],
        5000.0 * (util + 0.05) * ncpu as f64,
        0.5,
        1.0,
    );
    b.rare("node_vmstat_pgmajfault", &[], 0.1);
    b.counter("node_vmstat_pgpgin", &[], 200.0 * util, 1.0, 1.0);
    b.counter("node_vmstat_pgpgout", &[], 800.0 * util + 20.0, 0.8, 1.0);
    b.konst("node_vmstat_pswpin", &[], 0.0);
    b.konst("node_vmstat_pswpout", &[], 0.0);
    b.konst("node_vmstat_oom_kill", &[], 0.0);

    // --- netstat / sockstat / udp
    let conn = 5.0 + 200.0 * util;
    b.counter("node_netstat_Tcp_ActiveOpens", &[], conn * 0.3, 0.5, 1.0);
    b.counter("node_netstat_Tcp_PassiveOpens", &[], conn * 0.7, 0.5, 1.0);
    b.gauge(
        "node_netstat_Tcp_CurrEstab",
        &[],
        conn * 3.0,
        1.0,
        1e5,
        conn * 0.3,
        0.9,
        1.0,
    );
    b.counter("node_netstat_Tcp_InSegs", &[], conn * 40.0, 0.4, 1.0);
    b.counter("node_netstat_Tcp_OutSegs", &[], conn * 45.0, 0.4, 1.0);
    b.counter("node_netstat_Tcp_RetransSegs", &[], conn * 0.05, 1.0, 1.0);
    b.rare("node_netstat_Tcp_InErrs", &[], 0.01);
    b.counter("node_netstat_Tcp_OutRsts", &[], conn * 0.1, 1.0, 1.0);
    b.counter("node_netstat_Udp_InDatagrams", &[], 20.0, 0.5, 1.0);
    b.counter("node_netstat_Udp_OutDatagrams", &[], 20.0, 0.5, 1.0);
    b.rare("node_netstat_Udp_InErrors", &[], 0.005);
    b.rare("node_netstat_Udp_NoPorts", &[], 0.05);
    b.konst("node_netstat_Udp_RcvbufErrors", &[], 0.0);
    b.konst("node_netstat_Udp_SndbufErrors", &[], 0.0);
    b.counter("node_netstat_Icmp_InMsgs", &[], 0.2, 1.0, 1.0);
    b.counter("node_netstat_Icmp_OutMsgs", &[], 0.2, 1.0, 1.0);
    b.konst("node_netstat_Icmp_InErrors", &[], 0.0);
    b.konst("node_netstat_Ip_Forwarding", &[], 1.0);
    b.counter("node_netstat_IpExt_InOctets", &[], conn * 20000.0, 0.5, 1.0);
    b.counter(
        "node_netstat_IpExt_OutOctets",
        &[],
        conn * 25000.0,
        0.5,
        1.0,
    );
    b.rare("node_netstat_TcpExt_ListenDrops", &[], 0.002);
    b.rare("node_netstat_TcpExt_ListenOverflows", &[], 0.002);
    b.konst("node_netstat_TcpExt_SyncookiesFailed", &[], 0.0);
    b.konst("node_netstat_TcpExt_SyncookiesRecv", &[], 0.0);
    b.konst("node_netstat_TcpExt_SyncookiesSent", &[], 0.0);
    b.counter(
        "node_netstat_TcpExt_TCPSynRetrans",
        &[],
        conn * 0.01,
        1.0,
        1.0,
    );
    b.counter(
        "node_netstat_TcpExt_TCPTimeouts",
        &[],
        conn * 0.02,
        1.0,
        1.0,
    );
    for n in [
        "Udp6_InDatagrams",
        "Udp6_OutDatagrams",
        "Icmp6_InMsgs",
        "Icmp6_OutMsgs",
        "Ip6_InOctets",
        "Ip6_OutOctets",
    ] {
        b.counter(&format!("node_netstat_{n}"), &[], 0.5, 1.0, 0.5);
    }
    for n in [
        "Udp6_InErrors",
        "Udp6_NoPorts",
        "Udp6_RcvbufErrors",
        "Udp6_SndbufErrors",
        "Icmp6_InErrors",
        "UdpLite6_InErrors",
        "UdpLite_InErrors",
    ] {
        b.konst(&format!("node_netstat_{n}"), &[], 0.0);
    }
    b.gauge(
        "node_sockstat_TCP_alloc",
        &[],
        conn * 3.5,
        1.0,
        1e5,
        conn * 0.3,
        0.9,
        1.0,
    );
    b.gauge(
        "node_sockstat_TCP_inuse",
        &[],
        conn * 3.0,
        1.0,
        1e5,
        conn * 0.3,
        0.9,
        1.0,
    );
    b.gauge(
        "node_sockstat_TCP_orphan",
        &[],
        0.0,
        0.0,
        100.0,
        0.6,
        0.2,
        1.0,
    );
    b.gauge(
        "node_sockstat_TCP_tw",
        &[],
        conn * 2.0,
        0.0,
        1e5,
        conn * 0.4,
        0.9,
        1.0,
    );
    b.gauge(
        "node_sockstat_TCP_mem",
        &[],
        conn * 2.0,
        0.0,
        1e6,
        conn * 0.5,
        0.9,
        1.0,
    );
    b.gauge(
        "node_sockstat_TCP_mem_bytes",
        &[],
        conn * 8192.0,
        0.0,
        1e9,
        conn * 2048.0,
        0.9,
        4096.0,
    );
    b.gauge(
        "node_sockstat_UDP_inuse",
        &[],
        6.0,
        0.0,
        100.0,
        0.5,
        0.05,
        1.0,
    );
    b.gauge(
        "node_sockstat_UDP_mem",
        &[],
        3.0,
        0.0,
        1000.0,
        1.0,
        0.3,
        1.0,
    );
    b.gauge(
        "node_sockstat_UDP_mem_bytes",
        &[],
        12288.0,
        0.0,
        1e7,
        4096.0,
        0.3,
        4096.0,
    );
    b.gauge(
        "node_sockstat_sockets_used",
        &[],
        conn * 4.0 + 200.0,
        1.0,
        1e6,
        conn * 0.3,
        0.9,
        1.0,
    );
    for n in [
        "FRAG_inuse",
        "FRAG_memory",
        "RAW_inuse",
        "RAW6_inuse",
        "UDPLITE_inuse",
        "UDPLITE6_inuse",
        "FRAG6_inuse",
        "FRAG6_memory",
    ] {
        b.konst(&format!("node_sockstat_{n}"), &[], 0.0);
    }
    b.gauge(
        "node_sockstat_TCP6_inuse",
        &[],
        8.0,
        0.0,
        100.0,
        0.6,
        0.05,
        1.0,
    );
    b.gauge(
        "node_sockstat_UDP6_inuse",
        &[],
        2.0,
        0.0,
        100.0,
        0.6,
        0.02,
        1.0,
    );
    for ip in ["v4", "v6"] {
        for q in ["rx", "tx"] {
            b.konst("node_udp_queues", &[("ip", ip), ("queue", q)], 0.0);
        }
    }

    // --- network devices
    for (di, dev) in netdevs.iter().enumerate() {
        let d = dev.as_str();
        let bw = if d == "lo" {
            logu(b.rng, 1e3, 1e6)
        } else {
            logu(b.rng, 1e3, 3e7) * (util + 0.05)
        };
        let pkt = uniform(b.rng, 300.0, 1200.0);
        for (dir, f) in [("receive", 1.0), ("transmit", uniform(b.rng, 0.3, 2.0))] {
            let l = [("device", d)];
            b.counter(
                &format!("node_network_{dir}_bytes_total"),
                &l,
                bw * f,
                0.6,
                1.0,
            );
            b.counter(
                &format!("node_network_{dir}_packets_total"),
                &l,
                bw * f / pkt,
                0.6,
                1.0,
            );
            b.konst(&format!("node_network_{dir}_errs_total"), &l, 0.0);
            if d == "lo" {
                b.konst(&format!("node_network_{dir}_drop_total"), &l, 0.0);
            } else {
                b.rare(&format!("node_network_{dir}_drop_total"), &l, 0.01);
            }
            b.konst(&format!("node_network_{dir}_fifo_total"), &l, 0.0);
            b.konst(&format!("node_network_{dir}_compressed_total"), &l, 0.0);
            if dir == "receive" {
                b.konst("node_network_receive_frame_total", &l, 0.0);
                b.rare(
                    "node_network_receive_multicast_total",
                    &l,
                    if d == "lo" { 0.0 } else { 0.05 },
                );
                b.konst("node_network_receive_nohandler_total", &l, 0.0);
            } else {
                b.konst("node_network_transmit_colls_total", &l, 0.0);
                b.konst("node_network_transmit_carrier_total", &l, 0.0);
            }
        }
        if d != "lo" {
            let l = [("device", d)];
            let mac = format!(
                "52:54:00:{:02x}:{:02x}:{:02x}",
                (host >> 8) & 0xff,
                host & 0xff,
                di
            );
            b.konst(
                "node_network_info",
                &[
                    ("address", mac.as_str()),
                    ("adminstate", "up"),
                    ("broadcast", "ff:ff:ff:ff:ff:ff"),
                    ("device", d),
                    ("duplex", "full"),
                    ("ifalias", ""),
                    ("operstate", "up"),
                ],
                1.0,
            );
            b.konst("node_network_up", &l, 1.0);
            b.konst("node_network_mtu_bytes", &l, 1500.0);
            b.konst("node_network_speed_bytes", &l, 1.25e9);
            b.konst("node_network_carrier", &l, 1.0);
            b.konst("node_network_carrier_changes_total", &l, 2.0);
            b.konst("node_network_carrier_up_changes_total", &l, 1.0);
            b.konst("node_network_carrier_down_changes_total", &l, 1.0);
            b.konst("node_network_transmit_queue_length", &l, 1000.0);
            b.konst("node_network_iface_id", &l, (di + 2) as f64);
            b.konst("node_network_iface_link", &l, (di + 2) as f64);
            b.konst("node_network_address_assign_type", &l, 0.0);
            b.konst("node_network_dormant", &l, 0.0);
            b.konst("node_network_flags", &l, 4099.0);
            b.konst("node_network_protocol_type", &l, 1.0);
            b.konst("node_network_net_dev_group", &l, 0.0);
        }
        if d != "lo" && d != "docker0" {
            b.gauge(
                "node_arp_entries",
                &[("device", d)],
                5.0,
                0.0,
                500.0,
                0.6,
                0.02,
                1.0,
            );
        }
    }

    // --- filesystems
    let root_dev = if nvme { "/dev/nvme0n1p2" } else { "/dev/sda2" };
    let boot_dev = if nvme { "/dev/nvme0n1p1" } else { "/dev/sda1" };
    let mut mounts: Vec<(String, String, String, f64)> = vec![
        (
            root_dev.into(),
            "/".into(),
            "ext4".into(),
            logu(b.rng, 20.0, 500.0) * GIB,
        ),
        (
            boot_dev.into(),
            "/boot/efi".into(),
            "vfat".into(),
            0.5 * GIB,
        ),
        ("tmpfs".into(), "/run".into(), "tmpfs".into(), mt / 10.0),
        (
            "tmpfs".into(),
            "/run/lock".into(),
            "tmpfs".into(),
            5.0 * 1024.0 * 1024.0,
        ),
        (
            "tmpfs".into(),
            format!("/run/user/{}", 1000),
            "tmpfs".into(),
            mt / 10.0,
        ),
    ];
    if disks.len() > 1 {
        let data_dev = if nvme {
            "/dev/nvme1n1".to_string()
        } else {
            "/dev/sdb1".to_string()
        };
        mounts.push((
            data_dev,
            "/data".into(),
            "xfs".into(),
            logu(b.rng, 500.0, 8000.0) * GIB,
        ));
    }
    for (dev, mp, fs, size) in &mounts {
        let l = [
            ("device", dev.as_str()),
            ("fstype", fs.as_str()),
            ("mountpoint", mp.as_str()),
        ];
        let bs = 4096.0;
        let size = (size / bs).round() * bs;
        let free = size * uniform(b.rng, 0.1, 0.9);
        let step = if fs == "tmpfs" {
            4096.0 * 4.0
        } else {
            size * 2e-6 + 4096.0
        };
        b.konst("node_filesystem_size_bytes", &l, size);
        b.gauge(
            "node_filesystem_free_bytes",
            &l,
            free,
            0.0,
            size,
            step,
            0.7,
            bs,
        );
        b.gauge(
            "node_filesystem_avail_bytes",
            &l,
            free * 0.95,
            0.0,
            size,
            step,
            0.7,
            bs,
        );
        let files = (size / 16384.0).round();
        b.konst("node_filesystem_files", &l, files);
        b.gauge(
            "node_filesystem_files_free",
            &l,
            files * 0.9,
            0.0,
            files,
            2.0,
            0.3,
            1.0,
        );
        b.konst("node_filesystem_readonly", &l, 0.0);
        b.konst("node_filesystem_device_error", &l, 0.0);
    }

    // --- disks
    for d in &disks {
        let l = [("device", d.as_str())];
        let iops = logu(b.rng, 0.5, 300.0) * (util + 0.1);
        let rshare = uniform(b.rng, 0.05, 0.6);
        b.counter(
            "node_disk_reads_completed_total",
            &l,
            iops * rshare,
            0.8,
            1.0,
        );
        b.counter(
            "node_disk_reads_merged_total",
            &l,
            iops * rshare * 0.1,
            1.0,
            1.0,
        );
        b.counter(
            "node_disk_read_bytes_total",
            &l,
            iops * rshare * 16384.0,
            0.8,
            1.0,
        );
        b.counter_div(
            "node_disk_read_time_seconds_total",
            &l,
            iops * rshare * 0.0005,
            1e3,
            1.0,
            1.0,
        );
        b.counter(
            "node_disk_writes_completed_total",
            &l,
            iops * (1.0 - rshare),
            0.6,
            1.0,
        );
        b.counter(
            "node_disk_writes_merged_total",
            &l,
            iops * (1.0 - rshare) * 0.4,
            0.8,
            1.0,
        );
        b.counter(
            "node_disk_written_bytes_total",
            &l,
            iops * (1.0 - rshare) * 24576.0,
            0.6,
            1.0,
        );
        b.counter_div(
            "node_disk_write_time_seconds_total",
            &l,
            iops * 0.001,
            1e3,
            1.0,
            1.0,
        );
        b.gauge("node_disk_io_now", &l, 0.0, 0.0, 64.0, 0.8, 0.15, 1.0);
        b.counter_div(
            "node_disk_io_time_seconds_total",
            &l,
            (iops * 0.0006).min(1.0),
            1e3,
            0.8,
            1.0,
        );
        b.counter_div(
            "node_disk_io_time_weighted_seconds_total",
            &l,
            iops * 0.0012,
            1e3,
            1.0,
            1.0,
        );
        for n in [
            "discards_completed_total",
            "discards_merged_total",
            "discarded_sectors_total",
            "discard_time_seconds_total",
        ] {
            b.konst(&format!("node_disk_{n}"), &l, 0.0);
        }
        b.counter("node_disk_flush_requests_total", &l, iops * 0.05, 1.0, 1.0);
        b.counter_div(
            "node_disk_flush_requests_time_seconds_total",
            &l,
            iops * 0.00005,
            1e3,
            1.0,
            1.0,
        );
        b.konst(
            "node_disk_info",
            &[
                ("device", d.as_str()),
                ("major", if nvme { "259" } else { "8" }),
                ("minor", "0"),
                ("model", ""),
                ("path", ""),
                ("revision", ""),
                ("serial", ""),
                ("wwn", ""),
            ],
            1.0,
        );
    }

    // --- hwmon / thermal / rapl
    for s in 0..(ncpu / 2).clamp(1, 8) {
        let sensor = format!("temp{}", s + 1);
        let t0 = 40.0 + 30.0 * util;
        b.gauge(
            "node_hwmon_temp_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", &sensor)],
            t0,
            25.0,
            100.0,
            1.5,
            0.6,
            1.0,
        );
        b.konst(
            "node_hwmon_temp_crit_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", &sensor)],
            100.0,
        );
        b.konst(
            "node_hwmon_temp_max_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", &sensor)],
            80.0,
        );
        b.konst(
            "node_hwmon_temp_crit_alarm_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", &sensor)],
            0.0,
        );
    }
    b.konst(
        "node_hwmon_chip_names",
        &[("chip", "platform_coretemp_0"), ("chip_name", "coretemp")],
        1.0,
    );
    b.gauge(
        "node_thermal_zone_temp",
        &[("type", "x86_pkg_temp"), ("zone", "0")],
        45.0 + 30.0 * util,
        25.0,
        100.0,
        1.0,
        0.8,
        0.001,
    );
    b.counter_div(
        "node_rapl_package_joules_total",
        &[("index", "0"), ("path", "/sys/class/powercap/intel-rapl:0")],
        40.0 + 100.0 * util,
        1e6,
        0.2,
        1.0,
    );
    b.counter_div(
        "node_rapl_dram_joules_total",
        &[
            ("index", "0"),
            ("path", "/sys/class/powercap/intel-rapl:0:0"),
        ],
        5.0 + 10.0 * util,
        1e6,
        0.2,
        1.0,
    );

    // --- timex
    b.noisy("node_timex_estimated_error_seconds", &[], 1e-6, 0.9);
    b.noisy("node_timex_frequency_adjustment_ratio", &[], 1.00001, 1e-6);
    b.noisy("node_timex_maxerror_seconds", &[], 0.05, 0.9);
    b.noisy("node_timex_offset_seconds", &[], 2e-5, 0.9);
    for (n, v) in [
        ("loop_time_constant", 7.0),
        ("pps_calibration_total", 0.0),
        ("pps_error_total", 0.0),
        ("pps_frequency_hertz", 0.0),
        ("pps_jitter_seconds", 0.0),
        ("pps_jitter_total", 0.0),
        ("pps_shift_seconds", 0.0),
        ("pps_stability_exceeded_total", 0.0),
        ("pps_stability_hertz", 0.0),
        ("status", 8193.0),
        ("sync_status", 1.0),
        ("tai_offset_seconds", 0.0),
        ("tick_seconds", 0.01),
    ] {
        b.konst(&format!("node_timex_{n}"), &[], v);
    }

    // --- info metrics
    let node = format!("node-{host:05}");
    b.konst(
        "node_uname_info",
        &[
            ("domainname", "(none)"),
            ("machine", "x86_64"),
            ("nodename", &node),
            ("release", "6.1.0-18-amd64"),
            ("sysname", "Linux"),
            (
                "version",
                "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
            ),
        ],
        1.0,
    );
    b.konst(
        "node_os_info",
        &[
            ("build_id", ""),
            ("id", "debian"),
            ("id_like", ""),
            ("image_id", ""),
            ("image_version", ""),
            ("name", "Debian GNU/Linux"),
            ("pretty_name", "Debian GNU/Linux 12 (bookworm)"),
            ("variant", ""),
            ("variant_id", ""),
            ("version", "12 (bookworm)"),
            ("version_codename", "bookworm"),
            ("version_id", "12"),
        ],
        1.0,
    );
    b.konst(
        "node_os_version",
        &[
            ("id", "debian"),
            ("id_like", ""),
            ("name", "Debian GNU/Linux"),
        ],
        12.0,
    );
    b.konst(
        "node_dmi_info",
        &[
            ("bios_vendor", "SeaBIOS"),
            ("bios_version", "1.16.0"),
            ("product_name", "Standard PC (Q35 + ICH9, 2009)"),
            ("sys_vendor", "QEMU"),
        ],
        1.0,
    );
    b.konst(
        "node_exporter_build_info",
        &[
            ("branch", "HEAD"),
            ("goarch", "amd64"),
            ("goos", "linux"),
            ("goversion", "go1.21.6"),
            ("revision", "d5c6f9d"),
            ("tags", "netgo osusergo static_build"),
            ("version", "1.7.0"),
        ],
        1.0,
    );
    b.konst("node_selinux_enabled", &[], 0.0);
    b.konst("node_textfile_scrape_error", &[], 0.0);

    // --- scrape collector stats
    for c in COLLECTORS {
        let mean = logu(b.rng, 2e-5, 5e-3);
        b.noisy(
            "node_scrape_collector_duration_seconds",
            &[("collector", c)],
            mean,
            0.5,
        );
        b.konst("node_scrape_collector_success", &[("collector", c)], 1.0);
    }

    // --- the exporter's own process / Go runtime metrics
    b.counter_div(
        "process_cpu_seconds_total",
        &[],
        0.002 + 0.0005 * ncpu as f64,
        100.0,
        0.8,
        1.0,
    );
    b.gauge(
        "process_resident_memory_bytes",
        &[],
        22e6,
        10e6,
        60e6,
        4e5,
        0.9,
        4096.0,
    );
    b.gauge(
        "process_virtual_memory_bytes",
        &[],
        7.3e8,
        7e8,
        8e8,
        1.2e6,
        0.1,
        4096.0,
    );
    b.konst(
        "process_virtual_memory_max_bytes",
        &[],
        1.8446744073709552e19,
    );
    b.gauge("process_open_fds", &[], 9.0, 7.0, 20.0, 1.0, 0.2, 1.0);
    b.konst("process_max_fds", &[], 1048576.0);
    b.konst(
        "process_start_time_seconds",
        &[],
        (end_s - uptime_s * 0.9).round() + 0.37,
    );
    b.gauge("go_goroutines", &[], 8.0, 6.0, 14.0, 1.0, 0.3, 1.0);
    b.konst("go_threads", &[], 6.0 + ncpu as f64 / 2.0);
    b.konst("go_info", &[("version", "go1.21.6")], 1.0);
    for q in ["0", "0.25", "0.5", "0.75", "1"] {
        let base = 3e-5 * (1.0 + q.parse::<f64>().unwrap() * 3.0);
        b.noisy("go_gc_duration_seconds", &[("quantile", q)], base, 0.4);
    }
    b.counter_div("go_gc_duration_seconds_sum", &[], 0.0003, 1e9, 0.5, 1.0);
    b.counter("go_gc_duration_seconds_count", &[], 0.25, 0.5, 1.0);
    let heap = 3e6;
    b.gauge(
        "go_memstats_alloc_bytes",
        &[],
        heap,
        1e6,
        1e7,
        1.2e6,
        1.0,
        1.0,
    );
    b.counter("go_memstats_alloc_bytes_total", &[], 3.5e5, 0.3, 1.0);
    b.gauge(
        "go_memstats_heap_alloc_bytes",
        &[],
        heap,
        1e6,
        1e7,
        1.2e6,
        1.0,
        1.0,
    );
    b.gauge(
        "go_memstats_heap_idle_bytes",
        &[],
        4e6,
        1e6,
        2e7,
        8192.0 * 50.0,
        0.9,
        8192.0,
    );
    b.gauge(
        "go_memstats_heap_inuse_bytes",
        &[],
        5e6,
        1e6,
        2e7,
        8192.0 * 50.0,
        0.9,
        8192.0,
    );
    b.gauge(
        "go_memstats_heap_objects",
        &[],
        2e4,
        5e3,
        1e5,
        5e3,
        1.0,
        1.0,
    );
    b.gauge(
        "go_memstats_heap_released_bytes",
        &[],
        2e6,
        0.0,
        2e7,
        8192.0 * 20.0,
        0.5,
        8192.0,
    );
    b.gauge(
        "go_memstats_heap_sys_bytes",
        &[],
        11.5e6,
        8e6,
        3e7,
        8192.0 * 10.0,
        0.1,
        8192.0,
    );
    b.counter("go_memstats_lookups_total", &[], 0.0, 0.0, 1.0);
    b.counter("go_memstats_mallocs_total", &[], 4000.0, 0.3, 1.0);
    b.counter("go_memstats_frees_total", &[], 4000.0, 0.3, 1.0);
    b.gauge(
        "go_memstats_mcache_inuse_bytes",
        &[],
        4800.0 * ncpu as f64,
        1.0,
        1e6,
        0.0,
        0.0,
        1.0,
    );
    b.konst("go_memstats_mcache_sys_bytes", &[], 15600.0 * ncpu as f64);
    b.gauge(
        "go_memstats_mspan_inuse_bytes",
        &[],
        1.2e5,
        5e4,
        5e5,
        1632.0,
        0.5,
        136.0,
    );
    b.gauge(
        "go_memstats_mspan_sys_bytes",
        &[],
        1.6e5,
        5e4,
        5e5,
        16320.0,
        0.05,
        16320.0,
    );
    b.gauge(
        "go_memstats_next_gc_bytes",
        &[],
        5e6,
        4e6,
        2e7,
        2e5,
        0.3,
        1.0,
    );
    b.gauge(
        "go_memstats_other_sys_bytes",
        &[],
        1.1e6,
        5e5,
        3e6,
        2000.0,
        0.5,
        1.0,
    );
    b.gauge(
        "go_memstats_stack_inuse_bytes",
        &[],
        7.5e5,
        5e5,
        2e6,
        32768.0,
        0.2,
        32768.0,
    );
    b.gauge(
        "go_memstats_stack_sys_bytes",
        &[],
        7.5e5,
        5e5,
        2e6,
        32768.0,
        0.2,
        32768.0,
    );
    b.gauge("go_memstats_sys_bytes", &[], 2.3e7, 2e7, 4e7, 0.0, 0.0, 1.0);
    b.gauge(
        "go_memstats_gc_sys_bytes",
        &[],
        4.3e6,
        4e6,
        6e6,
        0.0,
        0.0,
        1.0,
    );
    b.gauge(
        "go_memstats_buck_hash_sys_bytes",
        &[],
        1.45e6,
        1.4e6,
        1.6e6,
        0.0,
        0.0,
        1.0,
    );
    b.noisy("go_memstats_last_gc_time_seconds", &[], end_s, 1e-7);
    for code in ["200", "500", "503"] {
        if code == "200" {
            b.counter(
                "promhttp_metric_handler_requests_total",
                &[("code", code)],
                1.0 / interval_s,
                0.0,
                1.0,
            );
        } else {
            b.konst(
                "promhttp_metric_handler_requests_total",
                &[("code", code)],
                0.0,
            );
        }
    }
    b.konst("promhttp_metric_handler_requests_in_flight", &[], 1.0);
    b.konst(
        "promhttp_metric_handler_errors_total",
        &[("cause", "encoding")],
        0.0,
    );
    b.konst(
        "promhttp_metric_handler_errors_total",
        &[("cause", "gathering")],
        0.0,
    );

    // --- Prometheus' scrape_samples_* (depend on what's above)
    let n = b.defs.len() as f64 - 2.0;
    b.konst("scrape_samples_scraped", &[], n);
    b.konst("scrape_samples_post_metric_relabeling", &[], n);
    b.konst("scrape_series_added", &[], 0.0);
    b.defs
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

struct Series {
    /// prost encoding of the TimeSeries' `labels` field (repeated field 1)
    prefix: Box<[u8]>,
    host: u32,
    rng: u64,
    model: Model,
}

struct Dataset {
    shards: Vec<Vec<Series>>,
    host_offset_ms: Arc<Vec<i64>>,
    hosts: usize,
    label_bytes: usize,
}

fn encode_labels(labels: &[(String, String)]) -> Vec<u8> {
    let mut ls: Vec<Label> = labels
        .iter()
        .map(|(n, v)| Label {
            name: n.clone(),
            value: v.clone(),
        })
        .collect();
    ls.sort_by(|a, b| a.name.cmp(&b.name));
    TimeSeries {
        labels: ls,
        samples: vec![],
        exemplars: vec![],
    }
    .encode_to_vec()
}

fn build_dataset(args: &Args, concurrency: usize, end_ms: i64) -> Dataset {
    let interval_s = args.interval as f64 / 1e3;
    let end_s = (end_ms / 1000) as f64;
    let mut shards: Vec<Vec<Series>> = (0..concurrency)
        .map(|_| Vec::with_capacity(args.series / concurrency + 1))
        .collect();
    let mut offsets = Vec::new();
    let mut i = 0usize;
    let mut host = 0usize;
    let mut label_bytes = 0usize;
    while i < args.series {
        let defs = host_series(args.seed, host, interval_s, end_s);
        // Each host is scraped at its own phase within the interval.
        offsets.push((hash3(args.seed, host as u64, 0x0FF5) % args.interval.max(1) as u64) as i64);
        for (j, d) in defs.into_iter().enumerate() {
            if i >= args.series {
                break;
            }
            let prefix = encode_labels(&d.labels).into_boxed_slice();
            label_bytes += prefix.len();
            shards[i % concurrency].push(Series {
                prefix,
                host: host as u32,
                rng: hash3(args.seed, host as u64, j as u64 + 1),
                model: d.model,
            });
            i += 1;
        }
        host += 1;
    }
    Dataset {
        shards,
        host_offset_ms: Arc::new(offsets),
        hosts: host,
        label_bytes,
    }
}

/// One snappy-compressed WriteRequest.
struct Batch {
    body: Bytes,
    samples: u32,
    raw_len: u32,
    /// first timestamp index contained
    first_k: u32,
    /// number of timestamp indexes fully contained in this and earlier batches of the shard
    done_after: u32,
}

struct TimeCtx {
    start_ms: i64,
    interval_ms: i64,
    steps: u32,
    jitter_ms: i64,
    seed: u64,
    offsets: Arc<Vec<i64>>,
}

impl TimeCtx {
    #[inline]
    fn ts(&self, host: u32, k: u32) -> i64 {
        let mut t = self.start_ms + k as i64 * self.interval_ms + self.offsets[host as usize];
        if self.jitter_ms > 0 {
            let j = hash3(self.seed, host as u64, 0x1000_0000 + k as u64)
                % (2 * self.jitter_ms as u64 + 1);
            t += j as i64 - self.jitter_ms;
        }
        t
    }
}

struct Encoder {
    series: Vec<Series>,
    ctx: Arc<TimeCtx>,
    batch: usize,
    k: u32,
    pos: usize,
    raw: Vec<u8>,
    out: Vec<u8>,
    snap: snap::raw::Encoder,
}

impl Encoder {
    fn new(series: Vec<Series>, ctx: Arc<TimeCtx>, batch: usize) -> Self {
        Encoder {
            series,
            ctx,
            batch,
            k: 0,
            pos: 0,
            raw: Vec::new(),
            out: Vec::new(),
            snap: snap::raw::Encoder::new(),
        }
    }

    /// Appends one TimeSeries{labels, samples:[sample]} as WriteRequest field 1.
    #[inline]
    fn put_series(raw: &mut Vec<u8>, prefix: &[u8], sample: &Sample) {
        let slen = sample.encoded_len();
        let ts_len = prefix.len() + key_len(2) + encoded_len_varint(slen as u64) + slen;
        encode_key(1, WireType::LengthDelimited, raw);
        encode_varint(ts_len as u64, raw);
        raw.extend_from_slice(prefix);
        encode_key(2, WireType::LengthDelimited, raw);
        encode_varint(slen as u64, raw);
        sample.encode_raw(raw);
    }

    fn next_batch(&mut self) -> Option<Batch> {
        if self.series.is_empty() || self.k >= self.ctx.steps {
            return None;
        }
        self.raw.clear();
        let first_k = self.k;
        let mut n = 0usize;
        let ctx = &*self.ctx;
        while n < self.batch && self.k < ctx.steps {
            let s = &mut self.series[self.pos];
            let ts = ctx.ts(s.host, self.k);
            let value = s.model.value(&mut s.rng, self.k == 0, ts);
            Self::put_series(
                &mut self.raw,
                &s.prefix,
                &Sample {
                    value,
                    timestamp: ts,
                },
            );
            n += 1;
            self.pos += 1;
            if self.pos == self.series.len() {
                self.pos = 0;
                self.k += 1;
            }
        }
        // Reused, so the worst-case-sized output buffer is zeroed only once.
        let need = snap::raw::max_compress_len(self.raw.len());
        if self.out.len() < need {
            self.out.resize(need, 0);
        }
        let clen = self
            .snap
            .compress(&self.raw, &mut self.out)
            .expect("snappy compress");
        Some(Batch {
            body: Bytes::copy_from_slice(&self.out[..clen]),
            samples: n as u32,
            raw_len: self.raw.len() as u32,
            first_k,
            done_after: self.k,
        })
    }
}

// ---------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    samples: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
    raw_bytes: AtomicU64,
    retries: AtomicU64,
}

/// Keeps shards within one timestamp of each other.
struct Progress {
    done: Mutex<Vec<u32>>,
    cv: Condvar,
}

impl Progress {
    fn wait_turn(&self, first_k: u32, deadline: Instant, abort: &AtomicBool) -> Result<()> {
        let mut g = self.done.lock().unwrap();
        loop {
            let min = *g.iter().min().unwrap_or(&u32::MAX);
            if first_k <= min.saturating_add(1) {
                return Ok(());
            }
            if abort.load(Ordering::Relaxed) {
                bail!("aborted");
            }
            if Instant::now() > deadline {
                bail!("--max-time exceeded while waiting for other shards");
            }
            g = self
                .cv
                .wait_timeout(g, Duration::from_millis(100))
                .unwrap()
                .0;
        }
    }
    fn set(&self, shard: usize, done: u32) {
        let mut g = self.done.lock().unwrap();
        g[shard] = done;
        self.cv.notify_all();
    }
}

struct Sender {
    client: reqwest::blocking::Client,
    url: String,
    headers: reqwest::header::HeaderMap,
    max_attempts: u32,
    deadline: Instant,
}

impl Sender {
    fn send(&self, b: &Batch, stats: &Stats, abort: &AtomicBool) -> Result<()> {
        let mut backoff = Duration::from_millis(50);
        let mut attempt = 0u32;
        loop {
            if abort.load(Ordering::Relaxed) {
                bail!("aborted");
            }
            attempt += 1;
            let res = self
                .client
                .post(&self.url)
                .headers(self.headers.clone())
                .body(b.body.clone())
                .send();
            let retry_reason = match res {
                Ok(resp) => {
                    let st = resp.status();
                    if st.is_success() {
                        stats.samples.fetch_add(b.samples as u64, Ordering::Relaxed);
                        stats.requests.fetch_add(1, Ordering::Relaxed);
                        stats
                            .bytes
                            .fetch_add(b.body.len() as u64, Ordering::Relaxed);
                        stats
                            .raw_bytes
                            .fetch_add(b.raw_len as u64, Ordering::Relaxed);
                        return Ok(());
                    }
                    let text = resp.text().unwrap_or_default();
                    let text = text.chars().take(500).collect::<String>();
                    if st.as_u16() == 429 || st.is_server_error() {
                        format!("HTTP {st}: {}", text.trim())
                    } else {
                        bail!("HTTP {st} from {} (not retried): {}", self.url, text.trim());
                    }
                }
                Err(e) => format!("request error: {e}"),
            };
            stats.retries.fetch_add(1, Ordering::Relaxed);
            if attempt >= self.max_attempts {
                bail!("giving up after {attempt} attempts: {retry_reason}");
            }
            if Instant::now() + backoff > self.deadline {
                bail!("--max-time exceeded while retrying: {retry_reason}");
            }
            if attempt <= 3 || attempt % 10 == 0 {
                eprintln!("rwgen: retry {attempt} in {backoff:?}: {retry_reason}");
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn main() {
    if let Err(e) = run() {
        eprintln!("rwgen: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    if args.series == 0 || args.interval <= 0 || args.duration < args.interval || args.batch == 0 {
        bail!("need --series > 0, --batch > 0 and --duration >= --interval > 0");
    }
    let concurrency = args.concurrency.clamp(1, args.series);
    let end_ms = parse_end_time(&args.end_time)?;
    let steps = (args.duration / args.interval) as u32;
    let start_ms = end_ms - args.duration;
    let total_samples = args.series as u64 * steps as u64;
    let deadline = Instant::now() + Duration::from_millis(args.max_time as u64);

    let t_build = Instant::now();
    let ds = build_dataset(&args, concurrency, end_ms);
    let build_s = t_build.elapsed().as_secs_f64();
    eprintln!(
        "rwgen: {} series on {} hosts, {} timestamps ({}..{} ms, every {} ms) = {} samples; {:.0} label bytes/series; built in {:.2}s",
        args.series, ds.hosts, steps, start_ms, end_ms, args.interval, total_samples,
        ds.label_bytes as f64 / args.series as f64, build_s
    );
    let ctx = Arc::new(TimeCtx {
        start_ms,
        interval_ms: args.interval,
        steps,
        jitter_ms: args.jitter_ms,
        seed: args.seed,
        offsets: ds.host_offset_ms.clone(),
    });

    if args.show {
        return show(ds, ctx);
    }

    // Estimate the pre-encoded size from a copy of shard 0's first batch.
    let est_mib = {
        let sample: Vec<Series> = ds.shards[0]
            .iter()
            .take(args.batch)
            .map(|s| Series {
                prefix: s.prefix.clone(),
                host: s.host,
                rng: s.rng,
                model: s.model.clone(),
            })
            .collect();
        let mut e = Encoder::new(sample, ctx.clone(), args.batch);
        let b = e.next_batch().unwrap();
        b.body.len() as f64 / b.samples as f64 * total_samples as f64 / (1 << 20) as f64
    };

    if args.dry_run {
        return dry_run(ds, ctx, args.batch, total_samples, est_mib);
    }

    let pre = match args.mode.as_str() {
        "pre" => true,
        "stream" => false,
        "auto" => est_mib * 1.1 < args.pre_encode_max_mib as f64,
        m => bail!("--mode {m:?}: expected auto, pre or stream"),
    };

    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("Content-Encoding", "snappy".parse()?);
    headers.insert("Content-Type", "application/x-protobuf".parse()?);
    headers.insert("X-Prometheus-Remote-Write-Version", "0.1.0".parse()?);
    headers.insert("User-Agent", "lookout-rwgen/0.1".parse()?);
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| anyhow!("--header {h:?}: expected Key:Value"))?;
        headers.insert(
            reqwest::header::HeaderName::from_bytes(k.trim().as_bytes())?,
            v.trim().parse()?,
        );
    }
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(args.request_timeout as u64))
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let sender = Arc::new(Sender {
        client,
        url: args.url.clone(),
        headers,
        max_attempts: args.max_attempts.max(1),
        deadline,
    });
    let stats = Arc::new(Stats::default());
    let abort = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress {
        done: Mutex::new(vec![0; concurrency]),
        cv: Condvar::new(),
    });

    // Pre-encode phase (not timed as ingestion).
    let mut encode_s = 0.0;
    let mut pre_batches: Vec<Option<Vec<Batch>>> = Vec::new();
    let mut shard_series: Vec<Option<Vec<Series>>> = Vec::new();
    if pre {
        eprintln!("rwgen: pre-encoding (~{est_mib:.0} MiB)...");
        let t = Instant::now();
        let handles: Vec<_> = ds
            .shards
            .into_iter()
            .map(|s| {
                let ctx = ctx.clone();
                let batch = args.batch;
                std::thread::spawn(move || {
                    let mut e = Encoder::new(s, ctx, batch);
                    let mut v = Vec::new();
                    while let Some(b) = e.next_batch() {
                        v.push(b);
                    }
                    v
                })
            })
            .collect();
        for h in handles {
            pre_batches.push(Some(
                h.join().map_err(|_| anyhow!("encoder thread panicked"))?,
            ));
        }
        encode_s = t.elapsed().as_secs_f64();
        let bytes: usize = pre_batches
            .iter()
            .flatten()
            .flatten()
            .map(|b| b.body.len())
            .sum();
        eprintln!(
            "rwgen: pre-encoded {} MiB in {:.2}s ({:.2} M samples/s)",
            bytes >> 20,
            encode_s,
            total_samples as f64 / encode_s / 1e6
        );
    } else {
        shard_series = ds.shards.into_iter().map(Some).collect();
    }

    // Timed phase.
    let t0 = Instant::now();
    let finished = Arc::new(AtomicBool::new(false));
    let reporter = if args.progress > 0 {
        let stats = stats.clone();
        let finished = finished.clone();
        let every = Duration::from_secs(args.progress);
        Some(std::thread::spawn(move || {
            let mut last = Instant::now();
            while !finished.load(Ordering::Relaxed) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
                if last.elapsed() >= every {
                    last = Instant::now();
                    let s = stats.samples.load(Ordering::Relaxed);
                    eprintln!(
                        "rwgen: {:>6.1}s  {:>12} / {} samples ({:.1}%)  {:.0} samples/s",
                        t0.elapsed().as_secs_f64(),
                        s,
                        total_samples,
                        100.0 * s as f64 / total_samples as f64,
                        s as f64 / t0.elapsed().as_secs_f64()
                    );
                }
            }
        }))
    } else {
        None
    };

    let mut handles = Vec::new();
    for shard in 0..concurrency {
        let sender = sender.clone();
        let stats = stats.clone();
        let abort = abort.clone();
        let progress = progress.clone();
        if pre {
            let batches = pre_batches[shard].take().unwrap();
            handles.push(std::thread::spawn(move || -> Result<()> {
                let r = (|| {
                    for b in batches {
                        progress.wait_turn(b.first_k, deadline, &abort)?;
                        sender.send(&b, &stats, &abort)?;
                        progress.set(shard, b.done_after);
                    }
                    Ok(())
                })();
                progress.set(shard, u32::MAX);
                if r.is_err() {
                    abort.store(true, Ordering::Relaxed);
                }
                r
            }));
        } else {
            let series = shard_series[shard].take().unwrap();
            let (tx, rx) = mpsc::sync_channel::<Batch>(4);
            let ctx = ctx.clone();
            let batch = args.batch;
            let abort2 = abort.clone();
            std::thread::spawn(move || {
                let mut e = Encoder::new(series, ctx, batch);
                while let Some(b) = e.next_batch() {
                    if abort2.load(Ordering::Relaxed) || tx.send(b).is_err() {
                        break;
                    }
                }
            });
            handles.push(std::thread::spawn(move || -> Result<()> {
                let r = (|| {
                    for b in rx {
                        progress.wait_turn(b.first_k, deadline, &abort)?;
                        sender.send(&b, &stats, &abort)?;
                        progress.set(shard, b.done_after);
                    }
                    Ok(())
                })();
                progress.set(shard, u32::MAX);
                if r.is_err() {
                    abort.store(true, Ordering::Relaxed);
                }
                r
            }));
        }
    }
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                if first_err.is_none() || !format!("{e}").contains("aborted") {
                    first_err.get_or_insert(e);
                }
            }
            Err(_) => {
                first_err.get_or_insert(anyhow!("sender thread panicked"));
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    finished.store(true, Ordering::Relaxed);
    if let Some(r) = reporter {
        let _ = r.join();
    }
    let samples = stats.samples.load(Ordering::Relaxed);
    let out = serde_json::json!({
        "url": args.url,
        "series": args.series,
        "hosts": ds.hosts,
        "interval_ms": args.interval,
        "duration_ms": args.duration,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "timestamps": steps,
        "concurrency": concurrency,
        "batch": args.batch,
        "mode": if pre { "pre-encoded" } else { "stream" },
        "encode_s": encode_s,
        "samples": samples,
        "expected_samples": total_samples,
        "requests": stats.requests.load(Ordering::Relaxed),
        "bytes_sent": stats.bytes.load(Ordering::Relaxed),
        "raw_bytes": stats.raw_bytes.load(Ordering::Relaxed),
        "retries": stats.retries.load(Ordering::Relaxed),
        "wall_s": wall,
        "samples_per_s": samples as f64 / wall,
        "ok": first_err.is_none() && samples == total_samples,
    });
    println!("{out}");
    if let Some(e) = first_err {
        return Err(e);
    }
    if samples != total_samples {
        bail!("sent {samples} of {total_samples} samples");
    }
    Ok(())
}

fn dry_run(ds: Dataset, ctx: Arc<TimeCtx>, batch: usize, total: u64, est_mib: f64) -> Result<()> {
    // Verify the hand-assembled encoding against prost on the first request.
    {
        let s0: Vec<Series> = ds.shards[0]
            .iter()
            .take(batch.min(1000))
            .map(|s| Series {
                prefix: s.prefix.clone(),
                host: s.host,
                rng: s.rng,
                model: s.model.clone(),
            })
            .collect();
        let n = s0.len();
        let mut e = Encoder::new(s0, ctx.clone(), n);
        let b = e.next_batch().unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&b.body)?;
        let wr = WriteRequest::decode(raw.as_slice())?;
        if wr.timeseries.len() != n || wr.encode_to_vec() != raw {
            bail!(
                "self-check failed: hand-assembled WriteRequest does not round-trip through prost"
            );
        }
        let ts0 = &wr.timeseries[0];
        let names: Vec<&str> = ts0.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        if names != sorted {
            bail!("self-check failed: labels not sorted");
        }
        eprintln!(
            "rwgen: self-check ok ({} series decoded with prost)",
            wr.timeseries.len()
        );
    }
    let shards = ds.shards.len();
    let t = Instant::now();
    let handles: Vec<_> = ds
        .shards
        .into_iter()
        .map(|s| {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                let mut e = Encoder::new(s, ctx, batch);
                let (mut n, mut bytes, mut raw, mut reqs) = (0u64, 0u64, 0u64, 0u64);
                while let Some(b) = e.next_batch() {
                    n += b.samples as u64;
                    bytes += b.body.len() as u64;
                    raw += b.raw_len as u64;
                    reqs += 1;
                }
                (n, bytes, raw, reqs, t.elapsed().as_secs_f64())
            })
        })
        .collect();
    let (mut n, mut bytes, mut raw, mut reqs, mut cpu) = (0u64, 0u64, 0u64, 0u64, 0.0f64);
    for h in handles {
        let r = h.join().map_err(|_| anyhow!("encoder thread panicked"))?;
        n += r.0;
        bytes += r.1;
        raw += r.2;
        reqs += r.3;
        cpu += r.4;
    }
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(n, total);
    println!(
        "{}",
        serde_json::json!({
            "dry_run": true,
            "samples": n,
            "requests": reqs,
            "threads": shards,
            "raw_bytes": raw,
            "snappy_bytes": bytes,
            "raw_bytes_per_sample": raw as f64 / n as f64,
            "snappy_bytes_per_sample": bytes as f64 / n as f64,
            "estimated_pre_encoded_mib": est_mib,
            "wall_s": wall,
            "encode_samples_per_s": n as f64 / wall,
            "encode_samples_per_thread_s": n as f64 / cpu,
        })
    );
    Ok(())
}

fn show(ds: Dataset, ctx: Arc<TimeCtx>) -> Result<()> {
    let shards = ds.shards.len();
    // Re-interleave the first ~40 series in global order and show 4 samples each.
    let mut per_shard: Vec<std::vec::IntoIter<Series>> =
        ds.shards.into_iter().map(|s| s.into_iter()).collect();
    for i in 0..40 {
        let Some(mut s) = per_shard[i % shards].next() else {
            break;
        };
        let ts = TimeSeries::decode(&s.prefix[..])?;
        let labels: Vec<String> = ts
            .labels
            .iter()
            .map(|l| format!("{}={:?}", l.name, l.value))
            .collect();
        let vals: Vec<String> = (0..4u32)
            .map(|k| {
                let t = ctx.ts(s.host, k);
                format!("{}@{}", s.model.value(&mut s.rng, k == 0, t), t)
            })
            .collect();
        println!("{{{}}} {}", labels.join(", "), vals.join(" "));
    }
    Ok(())
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

    fn args(series: usize) -> Args {
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

    #[test]
    fn exact_series_count_and_prost_roundtrip() {
        let a = args(2345);
        let ds = build_dataset(&a, 3, 1_700_000_000_000);
        assert_eq!(ds.shards.iter().map(|s| s.len()).sum::<usize>(), 2345);
        let ctx = Arc::new(TimeCtx {
            start_ms: 1_699_999_400_000,
            interval_ms: 15_000,
            steps: 40,
            jitter_ms: 0,
            seed: 1,
            offsets: ds.host_offset_ms.clone(),
        });
        let mut last: std::collections::HashMap<Vec<Label>, (i64, f64, bool)> = Default::default();
        let mut total = 0;
        for s in ds.shards {
            let mut e = Encoder::new(s, ctx.clone(), 500);
            while let Some(b) = e.next_batch() {
                let raw = snap::raw::Decoder::new().decompress_vec(&b.body).unwrap();
                let wr = WriteRequest::decode(raw.as_slice()).unwrap();
                assert_eq!(wr.encode_to_vec(), raw, "byte-identical to prost");
                for ts in wr.timeseries {
                    let name = &ts.labels[0];
                    assert_eq!(name.name, "__name__");
                    let counter = name.value.ends_with("_total");
                    let smp = &ts.samples[0];
                    total += 1;
                    if let Some((pt, pv, _)) = last.get(&ts.labels) {
                        assert!(smp.timestamp > *pt, "in order");
                        if counter {
                            assert!(smp.value >= *pv, "counter {} monotonic", name.value);
                        }
                    }
                    last.insert(ts.labels, (smp.timestamp, smp.value, counter));
                }
            }
        }
        assert_eq!(total, 2345 * 40);
        assert_eq!(last.len(), 2345, "series are distinct");
    }

    #[test]
    fn deterministic() {
        let a = args(1500);
        let d1 = build_dataset(&a, 2, 1_700_000_000_000);
        let d2 = build_dataset(&a, 2, 1_700_000_000_000);
        for (x, y) in d1.shards.iter().zip(d2.shards.iter()) {
            for (s, t) in x.iter().zip(y.iter()) {
                assert_eq!(s.prefix, t.prefix);
                assert_eq!(s.rng, t.rng);
            }
        }
    }
}
