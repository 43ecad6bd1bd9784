//! Rule evaluation cost, Lookout beside Prometheus on the same data and rules: writes
//! `--series` series (`bench_value{job, instance}`, 100 jobs) to both with remote_write,
//! loads the same rule file into both (`--rules` recording and `--rules` alerting rules,
//! each over the 100 series of one instance, spread over `--groups` groups), waits until
//! every group has evaluated twice after the data arrived, and reports one round: the sum
//! over groups of `prometheus_rule_group_last_duration_seconds` from each one's /metrics.
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
            let k = n / 2 % instances;
            if n % 2 == 0 {
                let _ = writeln!(
                    s,
                    "      - record: instance:bench_value:sum{}\n        expr: sum by (job) (bench_value{{instance=\"i{k}\"}})",
                    n / 2
                );
            } else {
                let _ = writeln!(
                    s,
                    "      - alert: BenchHigh{}\n        expr: bench_value{{instance=\"i{k}\"}} > 50\n        for: 5m\n        labels: {{severity: ticket}}\n        annotations: {{summary: '{{{{ $labels.job }}}} is {{{{ $value }}}}'}}",
                    n / 2
                );
            }
            n += 1;
        }
    }
    s
}

fn batches(series: usize, t: i64) -> Vec<Vec<u8>> {
    let instances = (series / JOBS).max(1);
    let mut out = Vec::new();
    let mut ts = Vec::new();
    for i in 0..series {
        let label = |n: &str, v: String| ProtoLabel {
            name: n.into(),
            value: v,
        };
        ts.push(TimeSeries {
            labels: vec![
                label("__name__", "bench_value".into()),
                label("instance", format!("i{}", i / JOBS % instances)),
                label("job", format!("j{}", i % JOBS)),
            ],
            samples: vec![ProtoSample {
                value: (i % 100) as f64,
                timestamp: t,
            }],
            ..Default::default()
        });
        if ts.len() == 10_000 {
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

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let rules = dir.path().join("bench.rules.yml");
    std::fs::write(&rules, rule_file(&a))?;
    let cfg = format!(
        "global: {{evaluation_interval: {}s}}\nrule_files: ['{}']\n",
        a.interval,
        rules.display()
    );
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(&prom_cfg, &cfg)?;
    let lookout_cfg = dir.path().join("lookout.yaml");
    std::fs::write(&lookout_cfg, &cfg)?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let _prom = Proc(
        Command::new(&a.prometheus)
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", a.prometheus))?,
    );
    let prom = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(&a.lookout)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-self-scrape",
            "--data",
        ])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&lookout_cfg)
        .env("LOOKOUT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", a.lookout))?;
    let mut out = BufReader::new(child.stdout.take().context("stdout")?);
    let _lookout = Proc(child);
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
    let lookout = format!("http://{addr}");
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client
        .get(format!("{prom}/-/ready"))
        .send()
        .is_ok_and(|r| r.status().is_success())
    {
        if Instant::now() > deadline {
            bail!("prometheus not ready");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let bodies = batches(a.series, now);
    write_all(&client, &format!("{lookout}/api/v1/write"), &bodies)?;
    write_all(&client, &format!("{prom}/api/v1/write"), &bodies)?;
    let loaded = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    println!(
        "series={} recording={} alerting={} groups={} interval={}s",
        a.series, a.rules, a.rules, a.groups, a.interval
    );
    // Two rounds after the data is in: the second sees warm caches in both.
    let want = loaded + a.interval as f64;
    let deadline = Instant::now() + Duration::from_secs(a.interval * 6 + 60);
    let mut results = Vec::new();
    for (name, base) in [("lookout", &lookout), ("prometheus", &prom)] {
        loop {
            let (dur, least, n) = round(&client, base)?;
            if n == a.groups && least > want {
                println!("{name}: one round {dur:.3}s (sum over {n} groups)");
                results.push(dur);
                break;
            }
            if Instant::now() > deadline {
                bail!("{name}: groups did not evaluate twice in time ({n} groups seen)");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    println!("prometheus / lookout: {:.1}x", results[1] / results[0]);
    Ok(())
}
