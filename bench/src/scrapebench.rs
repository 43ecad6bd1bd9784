//! Scrape cost: starts a fake exporter with `--targets` targets of `--series` series each
//! (served on one loopback port, one path per target), starts `lookout serve` scraping
//! them every `--interval`, and measures Lookout's CPU time (user + system, from
//! /proc/PID/stat) over `--measure` intervals after `--warmup` intervals, in which every
//! series is created. Reports CPU % of one core, and the same normalised to 1M samples a
//! minute. The exporter runs in this process, so its CPU is not counted.
//!
//! `cargo build --release -p lookout -p lookout-bench && target/release/scrapebench`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// The lookout binary.
    #[arg(long, default_value = "target/release/lookout")]
    lookout: String,
    #[arg(long, default_value_t = 1000)]
    targets: usize,
    #[arg(long, default_value_t = 1000)]
    series: usize,
    /// Scrape interval in seconds.
    #[arg(long, default_value_t = 60)]
    interval: u64,
    /// Intervals before measuring (series creation happens here).
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Intervals measured.
    #[arg(long, default_value_t = 2)]
    measure: u64,
}

/// One target's payload: `series` series over 20 metric families, values moving with
/// every request like counters and gauges do.
fn payload(target: usize, series: usize, round: u64) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(series * 110);
    let per_family = 50;
    for i in 0..series {
        let fam = i / per_family;
        if i % per_family == 0 {
            let _ = writeln!(
                s,
                "# HELP bench_requests_{fam}_total Requests handled by handler family {fam}.\n# TYPE bench_requests_{fam}_total counter"
            );
        }
        let v = round * (i as u64 % 7 + 1) + target as u64;
        let _ = writeln!(
            s,
            "bench_requests_{fam}_total{{handler=\"/api/v1/h{}\",code=\"{}\",method=\"GET\"}} {v}",
            i % per_family,
            200 + (i % 3)
        );
    }
    s
}

fn cpu_seconds(pid: u32, tck: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').context("bad /proc stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f[11].parse()?;
    let stime: f64 = f[12].parse()?;
    Ok((utime + stime) / tck)
}

fn scraped_samples(client: &reqwest::blocking::Client, addr: &str) -> anyhow::Result<f64> {
    let body = client
        .get(format!("http://{addr}/metrics"))
        .send()?
        .text()?;
    for l in body.lines() {
        if let Some(v) = l.strip_prefix("lookout_scrape_samples_total ") {
            return Ok(v.trim().parse()?);
        }
    }
    bail!("lookout_scrape_samples_total missing from /metrics")
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tck: f64 = String::from_utf8(Command::new("getconf").arg("CLK_TCK").output()?.stdout)?
        .trim()
        .parse()
        .unwrap_or(100.0);

    // The fake exporter.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let rounds = Arc::new(AtomicU64::new(0));
    let series = a.series;
    let r2 = rounds.clone();
    let app = axum::Router::new().route(
        "/metrics/{target}",
        axum::routing::get(move |axum::extract::Path(t): axum::extract::Path<usize>| {
            let round = r2.fetch_add(1, Ordering::Relaxed);
            async move { payload(t, series, round) }
        }),
    );
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let exporter = listener.local_addr()?;
    rt.spawn(async move { axum::serve(listener, app).await });

    let dir = std::env::temp_dir().join(format!("scrapebench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut cfg = format!(
        "global: {{scrape_interval: {}s, scrape_timeout: 10s}}\nscrape_configs:\n  - job_name: fake\n    static_configs:\n",
        a.interval
    );
    for t in 0..a.targets {
        cfg.push_str(&format!(
            "      - {{targets: ['{exporter}'], labels: {{__metrics_path__: /metrics/{t}, shard: '{t}'}}}}\n"
        ));
    }
    let cfg_path = dir.join("lookout.yaml");
    std::fs::write(&cfg_path, cfg)?;
    let mut child = Command::new(&a.lookout)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&cfg_path)
        .env("LOOKOUT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", a.lookout))?;
    let pid = child.id();
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().context("stdout")?);
    out.read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("lookout listening on http://")
        .context("no listening line")?
        .to_string();
    let client = reqwest::blocking::Client::builder().no_proxy().build()?;
    let iv = Duration::from_secs(a.interval);

    let t0 = Instant::now();
    let c0 = cpu_seconds(pid, tck)?;
    std::thread::sleep(iv * a.warmup as u32);
    let t1 = Instant::now();
    let c1 = cpu_seconds(pid, tck)?;
    let s1 = scraped_samples(&client, &addr)?;
    std::thread::sleep(iv * a.measure as u32);
    let t2 = Instant::now();
    let c2 = cpu_seconds(pid, tck)?;
    let s2 = scraped_samples(&client, &addr)?;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let wall = (t2 - t1).as_secs_f64();
    let cpu_pct = (c2 - c1) / wall * 100.0;
    let per_min = (s2 - s1) / wall * 60.0;
    let warm_pct = (c1 - c0) / (t1 - t0).as_secs_f64() * 100.0;
    println!(
        "targets={} series/target={} interval={}s measured={:.0}s",
        a.targets, a.series, a.interval, wall
    );
    println!("warm-up (series created): {warm_pct:.1}% of one core");
    println!(
        "steady state: {:.0} samples/min scraped, {:.2}% of one core, {:.2}% of one core per 1M samples/min",
        per_min,
        cpu_pct,
        cpu_pct / (per_min / 1e6)
    );
    Ok(())
}
