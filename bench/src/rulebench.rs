//! Rule evaluation cost, Lookout beside Prometheus on the same data and rules: writes
//! `--series` series (one per instance and job, 100 jobs) with remote_write, loads the same
//! rule file (`--rules` recording and `--rules` alerting rules, each over the series of one
//! instance, spread over `--groups` groups), and reports the median of `--rounds` rounds: a
//! round is the sum over groups of `prometheus_rule_group_last_duration_seconds`. The systems
//! run one at a time, so neither takes cores from the other. `--mix mixed` varies the data
//! and the rules (counters, classic histograms, rate, histogram_quantile, topk, wide
//! aggregations) beyond the simple case the engine was tuned on.
//!
//! `cargo build --release -p lookout -p lookout-bench && target/release/rulebench`
//! (Prometheus: Debian's `/usr/bin/prometheus`, with its remote-write receiver on.)

use std::fmt::Write;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Parser;
use lookout_collector::remote_write::{encode, ProtoLabel, ProtoSample, TimeSeries, WriteRequest};

#[derive(Parser)]
struct Args {
    /// The lookout binary.
    #[arg(long, default_value = "target/release/lookout")]
    lookout: String,
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus: String,
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Recording rules, and as many alerting rules.
    #[arg(long, default_value_t = 1000)]
    rules: usize,
    #[arg(long, default_value_t = 20)]
    groups: usize,
    /// Group interval in seconds.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// Measured rounds per system (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Which systems to measure, in order, one at a time.
    #[arg(long, default_value = "lookout,prometheus")]
    systems: String,
    /// Samples per series, 15 s apart, ending now.
    #[arg(long, default_value_t = 1)]
    samples: usize,
    /// `simple`: every rule a `sum by` or a threshold over one instance's gauges. `mixed`:
    /// counters and classic histograms too, rules with rate, histogram_quantile, topk, and one
    /// recording rule in 100 over every gauge series (needs --samples >= 5).
    #[arg(long, default_value = "simple")]
    mix: String,
}

const JOBS: usize = 100;

/// Kills the child on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn recording_expr(a: &Args, r: usize, k: usize) -> String {
    if a.mix != "mixed" {
        return format!("sum by (job) (bench_value{{instance=\"i{k}\"}})");
    }
    match r % 4 {
        0 => format!("sum by (job) (bench_value{{instance=\"i{k}\"}})"),
        1 => format!("sum by (instance) (rate(bench_requests_total{{instance=\"i{k}\"}}[1m]))"),
        2 => format!(
            "histogram_quantile(0.9, sum by (le, job) (rate(bench_latency_bucket{{instance=\"i{k}\"}}[1m])))"
        ),
        _ if r % 100 == 3 => "count by (job) (bench_value)".to_string(),
        _ => format!("topk(3, bench_value{{instance=\"i{k}\"}})"),
    }
}

fn alert_expr(a: &Args, r: usize, k: usize) -> String {
    if a.mix == "mixed" && r % 2 == 1 {
        format!("rate(bench_requests_total{{instance=\"i{k}\"}}[1m]) > 1")
    } else {
        format!("bench_value{{instance=\"i{k}\"}} > 50")
    }
}

fn rule_file(a: &Args) -> String {
    let mut s = String::from("groups:\n");
    let per_group = (a.rules * 2).div_ceil(a.groups);
    let instances = (a.series / JOBS).max(1);
    let mut n = 0;
    for g in 0..a.groups {
        let _ = writeln!(
            s,
            "  - name: bench{g}\n    interval: {}s\n    rules:",
            a.interval
        );
        for _ in 0..per_group {
            if n >= a.rules * 2 {
                break;
            }
            let (r, k) = (n / 2, n / 2 % instances);
            if n % 2 == 0 {
                let _ = writeln!(
                    s,
                    "      - record: instance:bench:rec{r}\n        expr: {}",
                    recording_expr(a, r, k)
                );
            } else {
                let _ = writeln!(
                    s,
                    "      - alert: BenchHigh{r}\n        expr: {}\n        for: 5m\n        labels: {{severity: ticket}}\n        annotations: {{summary: '{{{{ $labels.job }}}} is {{{{ $value }}}}'}}",
                    alert_expr(a, r, k)
                );
            }
            n += 1;
        }
    }
    s
}

/// Upper bounds of the mixed dataset's classic histogram.
const LES: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];

/// One series per (instance, job). Mixed: jobs 0-49 are gauges, 50-79 counters, 80-99 two
/// classic histograms of ten buckets each.
fn series_of(a: &Args, i: usize, instances: usize) -> (Vec<ProtoLabel>, Box<dyn Fn(usize) -> f64>) {
    let label = |n: &str, v: String| ProtoLabel {
        name: n.into(),
        value: v,
    };
    let (inst, job) = (i / JOBS % instances, i % JOBS);
    let base = (i % 100) as f64;
    let instance = label("instance", format!("i{inst}"));
    if a.mix != "mixed" || job < 50 {
        let labels = vec![
            label("__name__", "bench_value".into()),
            instance,
            label("job", format!("j{job}")),
        ];
        return (labels, Box::new(move |_| base));
    }
    if job < 80 {
        let labels = vec![
            label("__name__", "bench_requests_total".into()),
            instance,
            label("job", format!("j{job}")),
        ];
        return (labels, Box::new(move |t| base * 15.0 * t as f64));
    }
    let le = (job - 80) % 10;
    let labels = vec![
        label("__name__", "bench_latency_bucket".into()),
        instance,
        label("job", format!("h{}", (job - 80) / 10)),
        label("le", LES[le].into()),
    ];
    (labels, Box::new(move |t| ((le + 1) * 10 * t) as f64))
}

fn batches(a: &Args, end: i64) -> Vec<Vec<u8>> {
    let instances = (a.series / JOBS).max(1);
    let samples = a.samples.max(1);
    let per_body = (10_000 / samples).max(1);
    let mut out = Vec::new();
    let mut ts = Vec::new();
    for i in 0..a.series {
        let (labels, value) = series_of(a, i, instances);
        ts.push(TimeSeries {
            labels,
            samples: (0..samples)
                .map(|t| ProtoSample {
                    value: value(t),
                    timestamp: end - (samples - 1 - t) as i64 * 15_000,
                })
                .collect(),
            ..Default::default()
        });
        if ts.len() == per_body {
            out.push(encode(&WriteRequest {
                timeseries: std::mem::take(&mut ts),
                ..Default::default()
            }));
        }
    }
    if !ts.is_empty() {
        out.push(encode(&WriteRequest {
            timeseries: ts,
            ..Default::default()
        }));
    }
    out
}

fn write_all(
    client: &reqwest::blocking::Client,
    url: &str,
    bodies: &[Vec<u8>],
) -> anyhow::Result<()> {
    for b in bodies {
        let r = client
            .post(url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(b.clone())
            .send()?;
        if !r.status().is_success() {
            bail!("{url}: {} {}", r.status(), r.text().unwrap_or_default());
        }
    }
    Ok(())
}

/// (sum of last durations, least last-evaluation timestamp) over the groups, from /metrics.
fn round(client: &reqwest::blocking::Client, base: &str) -> anyhow::Result<(f64, f64, usize)> {
    let body = client.get(format!("{base}/metrics")).send()?.text()?;
    let (mut dur, mut least, mut n) = (0.0, f64::INFINITY, 0);
    for l in body.lines() {
        let val = |l: &str| -> f64 {
            l.rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        if l.starts_with("prometheus_rule_group_last_duration_seconds{") {
            dur += val(l);
            n += 1;
        } else if l.starts_with("prometheus_rule_group_last_evaluation_timestamp_seconds{") {
            least = f64::min(least, val(l));
        }
    }
    Ok((dur, least, n))
}

/// A running system under test: its base URL, and the process, killed on drop.
struct Running {
    base: String,
    proc: Proc,
}

/// User + system CPU seconds a process has used so far (/proc/PID/stat, clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').context("malformed /proc stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        f.get(11).context("utime")?.parse::<f64>()? + f.get(12).context("stime")?.parse::<f64>()?;
    Ok(ticks / 100.0)
}

fn start_prometheus(
    a: &Args,
    dir: &std::path::Path,
    cfg: &std::path::Path,
) -> anyhow::Result<Running> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let proc = Proc(
        Command::new(&a.prometheus)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", a.prometheus))?,
    );
    Ok(Running {
        base: format!("http://127.0.0.1:{port}"),
        proc,
    })
}

fn start_lookout(
    a: &Args,
    dir: &std::path::Path,
    cfg: &std::path::Path,
) -> anyhow::Result<Running> {
    let mut child = Command::new(&a.lookout)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-self-scrape",
            "--data",
        ])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(cfg)
        .env("LOOKOUT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", a.lookout))?;
    let mut out = BufReader::new(child.stdout.take().context("stdout")?);
    let proc = Proc(child);
    let mut line = String::new();
    let addr = loop {
        line.clear();
        if out.read_line(&mut line)? == 0 {
            bail!("lookout exited before listening");
        }
        if let Some(a) = line.trim().strip_prefix("lookout listening on http://") {
            break a.to_string();
        }
    };
    // Keep reading stdout so lookout never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    Ok(Running {
        base: format!("http://{addr}"),
        proc,
    })
}

/// Starts one system alone (the other is not running, so they do not share the cores),
/// loads the data, and returns the durations of `--rounds` whole rounds after the first
/// round that saw all the data, and the process's CPU seconds per round over them (which,
/// unlike the durations, holds on a busy machine).
fn measure(
    a: &Args,
    name: &str,
    client: &reqwest::blocking::Client,
    bodies: &[Vec<u8>],
    dir: &std::path::Path,
    cfg: &std::path::Path,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let sys = if name == "lookout" {
        start_lookout(a, dir, cfg)?
    } else {
        start_prometheus(a, dir, cfg)?
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client
        .get(format!("{}/-/ready", sys.base))
        .send()
        .is_ok_and(|r| r.status().is_success())
    {
        if Instant::now() > deadline {
            bail!("{name} not ready");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    write_all(client, &format!("{}/api/v1/write", sys.base), bodies)?;
    let mut seen = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64() + a.interval as f64;
    let deadline = Instant::now() + Duration::from_secs(a.interval * (a.rounds as u64 + 4) + 60);
    let mut out = Vec::new();
    let pid = sys.proc.0.id();
    let mut cpu_start = None;
    while out.len() < a.rounds {
        let (dur, least, n) = round(client, &sys.base)?;
        if n == a.groups && least > seen {
            if cpu_start.is_none() {
                // The first full round after the data only starts the CPU count.
                cpu_start = Some(cpu_seconds(pid)?);
                seen = least + a.interval as f64 / 2.0;
                continue;
            }
            out.push(dur);
            seen = least + a.interval as f64 / 2.0;
        } else if Instant::now() > deadline {
            bail!("{name}: groups did not evaluate in time ({n} groups seen)");
        }
        // Not more often: each /metrics read costs the system under test CPU too.
        std::thread::sleep(Duration::from_secs(2));
    }
    let cpu = (cpu_seconds(pid)? - cpu_start.unwrap_or(0.0)) / a.rounds as f64;
    Ok((out, cpu))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let rules = dir.path().join("bench.rules.yml");
    std::fs::write(&rules, rule_file(&a))?;
    let cfg_text = format!(
        "global: {{evaluation_interval: {}s}}\nrule_files: ['{}']\n",
        a.interval,
        rules.display()
    );
    let cfg = dir.path().join("config.yml");
    std::fs::write(&cfg, &cfg_text)?;
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let bodies = batches(&a, now);
    println!(
        "series={} recording={} alerting={} groups={} interval={}s samples/series={} mix={}",
        a.series, a.rules, a.rules, a.groups, a.interval, a.samples, a.mix
    );
    let mut medians = Vec::new();
    for name in a.systems.split(',') {
        let (rounds, cpu) = measure(&a, name, &client, &bodies, dir.path(), &cfg)?;
        let m = median(&rounds);
        let list: Vec<String> = rounds.iter().map(|d| format!("{d:.3}")).collect();
        println!(
            "{name}: one round {m:.3}s median of {} (sum over {} groups; rounds {}); CPU {cpu:.3}s per round",
            rounds.len(),
            a.groups,
            list.join(" ")
        );
        medians.push((m, cpu));
    }
    if let [l, p] = medians[..] {
        println!(
            "prometheus / lookout: {:.1}x by round duration, {:.1}x by CPU per round",
            p.0 / l.0,
            p.1 / l.1
        );
    }
    Ok(())
}
