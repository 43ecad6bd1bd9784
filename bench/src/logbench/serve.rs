//! `--serve BIN`: the same batches pushed to a `lookout serve` process over HTTP, as Loki's
//! own clients push them (snappy protobuf `logproto.PushRequest`), so that the ingest
//! figure includes the protocol's decoding, as ClickHouse's includes its TabSeparated
//! parsing. The server's CPU and peak RSS come from the kernel when it exits.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};
use lookout_collector::loki_push::{encode, EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use lookout_store::LogStream;

use super::procfs;

/// How long [`Served::stop`] waits for the server's maintenance to commit its log head:
/// twice the default `maintenance_interval`.
const HEAD_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// How often it asks: each `/metrics` walks the head, work that is not ingest's.
const HEAD_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// A running `lookout serve` on a loopback port.
pub struct Served {
    child: Child,
    /// `http://host:port`.
    base: String,
    http: reqwest::blocking::Client,
}

/// What the server used, from its start to its exit.
pub struct Usage {
    pub cpu_s: f64,
    pub peak_rss_mib: f64,
    /// The time [`Served::stop`] waited for the maintenance round and quiet CPU: mostly
    /// idle, so the wall figure leaves it out.
    pub idle_s: f64,
}

impl Served {
    /// Starts `bin serve` on `data` with the default configuration, waiting until it
    /// listens.
    pub fn start(bin: &Path, data: &Path) -> anyhow::Result<Served> {
        std::fs::create_dir_all(data)?;
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--otlp-grpc-listen", ""])
            .arg("--no-self-scrape")
            .arg("--data")
            .arg(data)
            .env("LOOKOUT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let Some(line) = lines.next() else {
                bail!("{} exited before it listened", bin.display());
            };
            if let Some(a) = line?.strip_prefix("lookout listening on ") {
                break a.to_string();
            }
        };
        // Keep reading so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Served {
            child,
            base: addr,
            http: reqwest::blocking::Client::new(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Pushes `batch` and waits for the server's acknowledgement.
    pub fn push(&self, batch: &[LogStream]) -> anyhow::Result<()> {
        let req = PushRequest {
            streams: batch
                .iter()
                .filter(|s| !s.records.is_empty())
                .map(|s| StreamAdapter {
                    labels: s.labels.to_string(),
                    entries: s
                        .records
                        .iter()
                        .map(|r| EntryAdapter {
                            timestamp: Some(Timestamp {
                                seconds: r.ts_ns.div_euclid(1_000_000_000),
                                nanos: r.ts_ns.rem_euclid(1_000_000_000) as i32,
                            }),
                            line: r.line.as_bytes().to_vec(),
                            structured_metadata: vec![],
                        })
                        .collect(),
                    hash: 0,
                })
                .collect(),
        };
        let r = self
            .http
            .post(format!("{}/loki/api/v1/push", self.base))
            .header("Content-Type", "application/x-protobuf")
            .body(encode(&req))
            .send()?;
        if !r.status().is_success() {
            let status = r.status();
            bail!(
                "lookout refused a push: {status}: {}",
                r.text().unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Waits until the server has committed every line (its own maintenance round does
    /// that within `maintenance_interval`, 30 s by default; a shutdown would leave them in
    /// the WAL for the next start) and its CPU is quiet, stops it with SIGTERM and returns
    /// what it used.
    /// Lines the server holds uncommitted, from its `lookout_logs_head_lines` gauge.
    fn head_lines(&self) -> anyhow::Result<f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()?
            .error_for_status()?
            .text()?;
        let mut n = 0.0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("lookout_logs_head_lines") {
                let value = rest.rsplit(' ').next().unwrap_or("");
                n += value
                    .parse::<f64>()
                    .with_context(|| format!("reading {line:?} from the server's /metrics"))?;
            }
        }
        Ok(n)
    }

    pub fn stop(mut self) -> anyhow::Result<Usage> {
        let waited = std::time::Instant::now();
        while self.head_lines()? > 0.0 {
            if waited.elapsed() > HEAD_WAIT {
                bail!("the server did not commit its log head within {HEAD_WAIT:?}");
            }
            std::thread::sleep(HEAD_POLL);
        }
        procfs::settle(self.pid(), 60.0);
        // SAFETY: kill and wait4 take plain integers and pointers to locals that outlive
        // the calls.
        let (rc, usage) = unsafe {
            libc::kill(self.pid() as i32, libc::SIGTERM);
            let mut status = 0;
            let mut ru: libc::rusage = std::mem::zeroed();
            let rc = libc::wait4(self.pid() as i32, &mut status, 0, &mut ru);
            (rc, ru)
        };
        if rc <= 0 {
            let _ = self.child.kill();
            bail!("waiting for the lookout server failed");
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Ok(Usage {
            cpu_s: secs(usage.ru_utime) + secs(usage.ru_stime),
            peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
            idle_s: waited.elapsed().as_secs_f64(),
        })
    }
}
