//! remote_write 1.0 wire format: the prompb messages, the per-series label
//! prefix, the `Encoder` that turns a shard into snappy-compressed
//! WriteRequests, and the encode-only `--dry-run`.

use crate::dataset::{Dataset, Series};
use crate::rng::hash3;
use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;
use std::sync::Arc;
use std::time::Instant;

// ---------------------------------------------------------------------------
// remote_write 1.0 protobuf messages (prometheus/prompb/remote.proto, types.proto)
// ---------------------------------------------------------------------------

// The remote_write messages are the collector's own, so the generator and the receiver
// cannot drift apart.
pub use lookout_collector::remote_write::{
    ProtoLabel as Label, ProtoSample as Sample, TimeSeries, WriteRequest,
};

pub fn encode_labels(labels: &[(String, String)]) -> Vec<u8> {
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
        histograms: vec![],
    }
    .encode_to_vec()
}

/// One snappy-compressed WriteRequest.
pub struct Batch {
    pub body: Bytes,
    pub samples: u32,
    pub raw_len: u32,
    /// first timestamp index contained
    pub first_k: u32,
    /// number of timestamp indexes fully contained in this and earlier batches of the shard
    pub done_after: u32,
}

pub struct TimeCtx {
    pub start_ms: i64,
    pub interval_ms: i64,
    pub steps: u32,
    pub jitter_ms: i64,
    pub seed: u64,
    pub offsets: Arc<Vec<i64>>,
}

impl TimeCtx {
    #[inline]
    pub fn ts(&self, host: u32, k: u32) -> i64 {
        let mut t = self.start_ms + k as i64 * self.interval_ms + self.offsets[host as usize];
        if self.jitter_ms > 0 {
            let j = hash3(self.seed, host as u64, 0x1000_0000 + k as u64)
                % (2 * self.jitter_ms as u64 + 1);
            t += j as i64 - self.jitter_ms;
        }
        t
    }
}

pub struct Encoder {
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
    pub fn new(series: Vec<Series>, ctx: Arc<TimeCtx>, batch: usize) -> Self {
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

    pub fn next_batch(&mut self) -> Option<Batch> {
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

pub fn dry_run(
    ds: Dataset,
    ctx: Arc<TimeCtx>,
    batch: usize,
    total: u64,
    est_mib: f64,
) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_args;
    use crate::dataset::build_dataset;

    #[test]
    fn exact_series_count_and_prost_roundtrip() {
        let a = test_args(2345);
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
}
