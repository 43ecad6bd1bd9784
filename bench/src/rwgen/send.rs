//! Sending: the HTTP sender with retries, the barrier that keeps shards
//! time-aligned, and the timed push of the whole dataset (pre-encoded or streamed).

use crate::cli::Args;
use crate::dataset::{Dataset, Series};
use crate::encode::{Batch, Encoder, TimeCtx};
use anyhow::{anyhow, bail, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

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
            if attempt <= 3 || attempt.is_multiple_of(10) {
                eprintln!("rwgen: retry {attempt} in {backoff:?}: {retry_reason}");
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// Pushes the whole dataset to `--url` and prints the JSON summary on stdout.
pub fn push(
    args: &Args,
    ds: Dataset,
    ctx: Arc<TimeCtx>,
    est_mib: f64,
    deadline: Instant,
) -> Result<()> {
    let concurrency = ds.shards.len();
    let steps = ctx.steps;
    let start_ms = ctx.start_ms;
    let end_ms = start_ms + args.duration;
    let total_samples = args.series as u64 * steps as u64;

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
    // reqwest is built with rustls but no default crypto provider (the scraper brings
    // ring); without one installed, building any client panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
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
