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

// The parts live in rwgen/ next to this file.  (In a `[[bin]]` crate root,
// `mod x;` would mean src/x.rs; the inline `rwgen` module maps them to src/rwgen/.)
mod rwgen {
    pub mod cli;
    pub mod dataset;
    pub mod encode;
    pub mod model;
    pub mod rng;
    pub mod send;
}
use rwgen::{cli, dataset, encode, model, rng, send};

use anyhow::{bail, Result};
use clap::Parser;
use cli::{parse_end_time, Args};
use dataset::{build_dataset, Series};
use encode::{Encoder, TimeCtx};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        return dataset::show(ds, ctx);
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
        return encode::dry_run(ds, ctx, args.batch, total_samples, est_mib);
    }

    send::push(&args, ds, ctx, est_mib, deadline)
}
