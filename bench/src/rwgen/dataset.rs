//! The node-exporter-like dataset: per-host parameters, the `HostBuilder` the
//! metric families (submodules) add series through, and the sharded, label-encoded
//! `Dataset` built from it.

mod cpu;
mod disk;
mod exporter;
mod filesystem;
mod memory;
mod misc;
mod network;
mod system;

use crate::cli::Args;
use crate::encode::{encode_labels, TimeCtx, TimeSeries};
use crate::model::{Model, Scale};
use crate::rng::{hash3, logu, pick, uniform, unit};
use anyhow::Result;
use prost::Message;
use std::sync::Arc;

pub struct Series {
    /// prost encoding of the TimeSeries' `labels` field (repeated field 1)
    pub prefix: Box<[u8]>,
    pub host: u32,
    pub rng: u64,
    pub model: Model,
}

pub struct Dataset {
    pub shards: Vec<Vec<Series>>,
    pub host_offset_ms: Arc<Vec<i64>>,
    pub hosts: usize,
    pub label_bytes: usize,
}

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

/// What a host looks like, drawn from its seed before any series is generated.
struct Host {
    /// host number (also in `instance` and the MAC addresses)
    host: usize,
    ncpu: usize,
    mem_total: f64,
    /// CPU utilisation; most rates scale with it
    util: f64,
    uptime_s: f64,
    end_s: f64,
    interval_s: f64,
    nvme: bool,
    disks: Vec<String>,
    netdevs: Vec<String>,
}

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
    let h = Host {
        host,
        ncpu,
        mem_total,
        util,
        uptime_s,
        end_s,
        interval_s,
        nvme,
        disks,
        netdevs,
    };
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

    cpu::add(&mut b, &h);
    system::add(&mut b, &h);
    memory::add(&mut b, &h);
    network::add(&mut b, &h);
    filesystem::add(&mut b, &h);
    disk::add(&mut b, &h);
    misc::add(&mut b, &h);
    exporter::add(&mut b, &h);

    // --- Prometheus' scrape_samples_* (depend on what's above)
    let n = b.defs.len() as f64 - 2.0;
    b.konst("scrape_samples_scraped", &[], n);
    b.konst("scrape_samples_post_metric_relabeling", &[], n);
    b.konst("scrape_series_added", &[], 0.0);
    b.defs
}

pub fn build_dataset(args: &Args, concurrency: usize, end_ms: i64) -> Dataset {
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

pub fn show(ds: Dataset, ctx: Arc<TimeCtx>) -> Result<()> {
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
    use crate::cli::test_args;

    #[test]
    fn deterministic() {
        let a = test_args(1500);
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
