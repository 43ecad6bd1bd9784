//! Prometheus remote_write 1.0: snappy-compressed (block format) protobuf `WriteRequest`s.
//! Float samples and exemplars are stored; metadata is accepted and counted; native histograms are refused with a 400 that says so, after the float
//! samples of the same request were stored, so nothing is dropped silently.

use lookout_store::{BorrowedSeries, LabelSet, Labels, Sample, SeriesExemplars};
use prost::Message;

use crate::error::{Error, Result};

mod wire;

#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<ProtoLabel>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<ProtoSample>,
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Native histograms, kept undecoded: only their presence matters until they are supported.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub histograms: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Eq, Hash, Message)]
pub struct ProtoLabel {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProtoSample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<ProtoLabel>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
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

/// Limits on one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest snappy-decoded body accepted.
    pub max_decoded_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decoded_bytes: 64 << 20,
        }
    }
}

/// A decoded request whose label sets borrow from the decompressed body.
#[derive(Debug)]
pub struct Decoded<'a> {
    wire: &'a wire::WireRequest<'a>,
    batch: &'a [BorrowedSeries<'a>],
}

impl Decoded<'_> {
    /// The series with samples, ready for [`lookout_store::Append::append_borrowed`].
    pub fn batch(&self) -> &[BorrowedSeries<'_>] {
        self.batch
    }

    pub fn samples(&self) -> usize {
        self.wire.samples.len()
    }

    pub fn exemplars(&self) -> usize {
        self.wire.exemplars.len()
    }

    /// The request's exemplars by series, ready for
    /// [`lookout_store::Append::append_exemplars`].
    pub fn exemplar_batch(&self) -> Result<Vec<SeriesExemplars>> {
        let mut out: Vec<SeriesExemplars> = Vec::new();
        let mut last = u32::MAX;
        for &(si, bytes) in &self.wire.exemplars {
            let e = Exemplar::decode(bytes).map_err(|e| {
                Error::BadRequest(format!(
                    "body is not a valid remote_write protobuf WriteRequest: an exemplar: {e}"
                ))
            })?;
            let labels = Labels::from_pairs(
                e.labels
                    .into_iter()
                    .filter(|l| !l.value.is_empty())
                    .map(|l| (l.name, l.value)),
            );
            let ex = lookout_store::Exemplar {
                labels,
                value: e.value,
                ts: e.timestamp,
            };
            if si != last {
                let Some(span) = self.wire.series.get(si as usize) else {
                    continue;
                };
                let pairs = &self.wire.labels[span.labels.0 as usize..span.labels.1 as usize];
                out.push(SeriesExemplars {
                    labels: pairs.to_labels(),
                    exemplars: Vec::new(),
                });
                last = si;
            }
            if let Some(s) = out.last_mut() {
                s.exemplars.push(ex);
            }
        }
        Ok(out)
    }

    pub fn metadata(&self) -> usize {
        self.wire.metadata
    }

    pub fn histograms(&self) -> usize {
        self.wire.histograms
    }
}

/// Largest buffer a pooled scratch set keeps between requests (each vector is capped at
/// the same size).
const KEEP_BUFFER_BYTES: usize = 16 << 20;

/// Buffers for decoding one request, kept between requests in [`POOL`]: reusing them
/// spares each request the page faults of fresh multi-megabyte allocations, and keeps
/// ingestion from churning memory that the allocator holds on to for a while after each
/// request. The vectors are empty between requests; their element types borrow from the
/// body, hence the `'static` stand-in and [`recycle`].
#[derive(Default)]
struct Scratch {
    raw: Vec<u8>,
    labels: Vec<(&'static str, &'static str)>,
    series: Vec<wire::Span>,
    samples: Vec<Sample>,
    batch: Vec<BorrowedSeries<'static>>,
}

/// Idle scratch sets. Requests are decoded on tokio's blocking threads, which come and go
/// in numbers set by concurrent senders; the pool keeps one set per core, and a request
/// that finds it empty decodes into fresh buffers.
static POOL: parking_lot::Mutex<Vec<Scratch>> = parking_lot::Mutex::new(Vec::new());

fn pooled_scratch() -> Scratch {
    POOL.lock().pop().unwrap_or_default()
}

fn return_scratch(scratch: Scratch) {
    // available_parallelism reads cgroup files on Linux: once, not per request.
    static KEEP: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let keep = *KEEP.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut pool = POOL.lock();
    if pool.len() < keep {
        pool.push(scratch);
    }
}

/// An emptied vector's allocation, reused for the same element type under another
/// lifetime: `Vec`'s in-place `collect` keeps the buffer when the layouts match, as they
/// do here (the types differ only in lifetimes).
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector was just emptied"))
        .collect()
}

/// `v` emptied, or a new vector if it grew past [`KEEP_BUFFER_BYTES`].
fn keep<T>(mut v: Vec<T>) -> Vec<T> {
    v.clear();
    if v.capacity() * std::mem::size_of::<T>() > KEEP_BUFFER_BYTES {
        return Vec::new();
    }
    v
}

/// Decodes a request body and hands the result to `f` (the labels borrow from a pooled
/// buffer, hence the closure). Errors name what was wrong. Label sets are
/// validated by the store when it first sees a series, so the hot path does not check
/// the same labels on every request.
pub fn decode<R>(
    body: &[u8],
    limits: Limits,
    f: impl FnOnce(&Decoded<'_>) -> Result<R>,
) -> Result<R> {
    let len = snap::raw::decompress_len(body).map_err(|e| {
        Error::BadRequest(format!("body is not snappy-compressed (block format): {e}"))
    })?;
    if len > limits.max_decoded_bytes {
        return Err(Error::TooLarge(format!(
            "decompressed body is {len} bytes, over the limit of {} bytes; send smaller batches (max_samples_per_send)",
            limits.max_decoded_bytes
        )));
    }
    let mut scratch = pooled_scratch();
    if scratch.raw.len() < len {
        scratch.raw.resize(len, 0);
    }
    let result = decode_with(body, len, &mut scratch, f);
    if scratch.raw.len() > KEEP_BUFFER_BYTES {
        scratch.raw = Vec::new();
    }
    return_scratch(scratch);
    result
}

fn decode_with<R>(
    body: &[u8],
    len: usize,
    scratch: &mut Scratch,
    f: impl FnOnce(&Decoded<'_>) -> Result<R>,
) -> Result<R> {
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut scratch.raw[..len])
        .map_err(|e| Error::BadRequest(format!("body is not valid snappy (block format): {e}")))?;
    let raw = &scratch.raw[..n];
    let mut wire = wire::WireRequest {
        labels: recycle(std::mem::take(&mut scratch.labels)),
        series: std::mem::take(&mut scratch.series),
        samples: std::mem::take(&mut scratch.samples),
        ..Default::default()
    };
    let read = wire::read_into(raw, &mut wire).map_err(|e| {
        Error::BadRequest(format!(
            "body is not a valid remote_write protobuf WriteRequest: {e}"
        ))
    });
    let mut batch: Vec<BorrowedSeries<'_>> = recycle(std::mem::take(&mut scratch.batch));
    let result = read.and_then(|()| {
        batch.extend(
            wire.series
                .iter()
                .filter(|s| s.samples.0 < s.samples.1)
                .map(|s| BorrowedSeries {
                    labels: &wire.labels[s.labels.0 as usize..s.labels.1 as usize],
                    samples: &wire.samples[s.samples.0 as usize..s.samples.1 as usize],
                }),
        );
        f(&Decoded {
            wire: &wire,
            batch: &batch,
        })
    });
    scratch.batch = keep(recycle(batch));
    scratch.labels = keep(recycle(wire.labels));
    scratch.series = keep(wire.series);
    scratch.samples = keep(wire.samples);
    result
}

/// Encodes a request the way a remote_write sender does (tests, benchmarks).
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    let raw = req.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_store::{LabelSet, Labels, Sample, SeriesSamples};

    /// (series with samples, samples, exemplars, metadata, histograms)
    type Owned = (Vec<SeriesSamples>, usize, usize, usize, usize);

    /// Scratch vectors keep their allocation across requests, whatever lifetime their
    /// elements borrow with.
    #[test]
    fn recycled_vectors_keep_their_allocation() {
        let body = String::from("a=b");
        let mut v: Vec<(&str, &str)> = Vec::with_capacity(1000);
        v.push((&body[..1], &body[2..]));
        let ptr = v.as_ptr() as usize;
        let stored: Vec<(&'static str, &'static str)> = recycle(v);
        assert_eq!((stored.len(), stored.capacity()), (0, 1000));
        assert_eq!(stored.as_ptr() as usize, ptr);
        let back: Vec<(&str, &str)> = recycle(stored);
        assert_eq!(back.as_ptr() as usize, ptr);
        let big: Vec<u64> = Vec::with_capacity(KEEP_BUFFER_BYTES / 8 + 1);
        assert_eq!(keep(big).capacity(), 0);
    }

    fn decode_owned(body: &[u8], limits: Limits) -> Result<Owned> {
        decode(body, limits, |d| {
            let batch = d
                .batch()
                .iter()
                .map(|s| SeriesSamples {
                    labels: s.labels.to_labels(),
                    samples: s.samples.to_vec(),
                })
                .collect();
            Ok((
                batch,
                d.samples(),
                d.exemplars(),
                d.metadata(),
                d.histograms(),
            ))
        })
    }

    /// What prost makes of the same bytes, in the same shape.
    fn prost_owned(body: &[u8]) -> Owned {
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        let req = WriteRequest::decode(raw.as_slice()).unwrap();
        let mut out: Owned = (vec![], 0, 0, req.metadata.len(), 0);
        for ts in req.timeseries {
            out.1 += ts.samples.len();
            out.2 += ts.exemplars.len();
            out.4 += ts.histograms.len();
            if ts.samples.is_empty() {
                continue;
            }
            out.0.push(SeriesSamples {
                labels: Labels::from_sorted(
                    ts.labels
                        .into_iter()
                        .filter(|l| !l.value.is_empty() || l.name == "__name__")
                        .map(|l| lookout_store::Label::new(l.name, l.value))
                        .collect(),
                ),
                samples: ts
                    .samples
                    .iter()
                    .map(|s| Sample::new(s.timestamp, s.value))
                    .collect(),
            });
        }
        out
    }

    fn same(a: &Owned, b: &Owned) -> bool {
        (a.1, a.2, a.3, a.4) == (b.1, b.2, b.3, b.4)
            && a.0.len() == b.0.len()
            && a.0.iter().zip(&b.0).all(|(x, y)| {
                x.labels == y.labels
                    && x.samples.len() == y.samples.len()
                    && x.samples
                        .iter()
                        .zip(&y.samples)
                        .all(|(p, q)| p.t == q.t && p.v.to_bits() == q.v.to_bits())
            })
    }

    #[test]
    fn zero_copy_reader_agrees_with_prost() {
        let mut timeseries = Vec::new();
        for i in 0..200u32 {
            let mut ts = series(
                &[
                    ("__name__", "node_cpu_seconds_total"),
                    ("cpu", &i.to_string()),
                    ("empty", if i % 3 == 0 { "" } else { "x" }),
                    ("instance", "höst:9100"),
                ],
                &(0..i % 4)
                    .map(|k| (-5 + i as i64 * 1000 + k as i64, f64::from(i) * 0.1))
                    .collect::<Vec<_>>(),
            );
            if i % 7 == 0 {
                ts.samples.push(ProtoSample {
                    value: f64::from_bits(0x7ff0_0000_0000_0002),
                    timestamp: i64::MIN,
                });
                ts.exemplars.push(Exemplar {
                    labels: vec![],
                    value: 1.0,
                    timestamp: 5,
                });
                ts.histograms.push(vec![1, 2, 3]);
            }
            timeseries.push(ts);
        }
        let body = encode(&WriteRequest {
            timeseries,
            metadata: vec![MetricMetadata {
                r#type: 1,
                metric_family_name: "x".into(),
                help: "h".into(),
                unit: String::new(),
            }],
        });
        let ours = decode_owned(&body, Limits::default()).unwrap();
        // Every fourth series has no samples unless the seventh-series rule added one.
        assert_eq!(ours.0.len(), 200 - 50 + 8);
        assert!(same(&ours, &prost_owned(&body)));
    }

    #[test]
    fn zero_copy_reader_rejects_what_prost_rejects() {
        let good = WriteRequest {
            timeseries: vec![series(&[("__name__", "up")], &[(1, 1.0)])],
            metadata: vec![],
        }
        .encode_to_vec();
        let mut bad_cases: Vec<(Vec<u8>, &str)> = vec![
            (good[..good.len() - 1].to_vec(), "past the end"),
            (vec![0x0a, 0x80], "truncated varint"),
            (vec![0x0b], "wire type"),
            (vec![0x08, 0x01], "WriteRequest.timeseries: wire type 0"),
            (
                vec![0x0a, 0x04, 0x0a, 0x02, 0x08, 0x01],
                "Label.name: wire type 0",
            ),
        ];
        // A label name that is not UTF-8.
        bad_cases.push((
            vec![0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xc3, 0x28],
            "UTF-8",
        ));
        for (raw, want) in bad_cases {
            assert!(
                WriteRequest::decode(raw.as_slice()).is_err(),
                "prost accepts {raw:?}"
            );
            let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
            let e = decode_owned(&body, Limits::default()).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains(want), "{e} should mention {want}");
        }
        // Unknown fields of every wire type are skipped, as prost does.
        let mut raw = good.clone();
        raw.extend_from_slice(&[
            0x50, 0x01, 0x59, 0, 0, 0, 0, 0, 0, 0, 0, 0x62, 0x01, 0x00, 0x6d, 0, 0, 0, 0,
        ]);
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        assert!(same(
            &decode_owned(&body, Limits::default()).unwrap(),
            &prost_owned(&body)
        ));
    }

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| ProtoLabel {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(t, v)| ProtoSample {
                    value: v,
                    timestamp: t,
                })
                .collect(),
            exemplars: vec![],
            histograms: vec![],
        }
    }

    fn req(ts: Vec<TimeSeries>) -> Vec<u8> {
        encode(&WriteRequest {
            timeseries: ts,
            metadata: vec![],
        })
    }

    #[test]
    fn decodes_valid_request() {
        let body = req(vec![series(
            &[("__name__", "up"), ("job", "a")],
            &[(1000, 1.0), (2000, 0.0)],
        )]);
        let d = decode_owned(&body, Limits::default()).unwrap();
        assert_eq!(d.1, 2);
        assert_eq!(d.0[0].labels.get("job"), Some("a"));
    }

    #[test]
    fn rejects_bad_input_with_reasons() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not snappy at all".to_vec(), "snappy"),
            (
                snap::raw::Encoder::new()
                    .compress_vec(b"\xff\xff\xff")
                    .unwrap(),
                "protobuf",
            ),
            (
                req(vec![series(&[("job", "a")], &[(1, 1.0)])]),
                "no metric name",
            ),
            (
                req(vec![series(&[("__name__", "")], &[(1, 1.0)])]),
                "empty metric name",
            ),
            (
                req(vec![series(&[("__name__", "up"), ("", "a")], &[(1, 1.0)])]),
                "label name is empty",
            ),
            (
                req(vec![series(
                    &[("__name__", "up"), ("a", "1"), ("a", "2")],
                    &[(1, 1.0)],
                )]),
                "duplicate",
            ),
            (
                req(vec![series(
                    &[("__name__", "up"), ("z", "1"), ("a", "2")],
                    &[(1, 1.0)],
                )]),
                "not sorted",
            ),
        ];
        for (body, want) in cases {
            let e = decode_owned(&body, Limits::default())
                .and_then(|d| {
                    d.0.iter()
                        .try_for_each(|s| s.labels.validate().map_err(Error::from))
                })
                .unwrap_err();
            assert_eq!(e.status(), 400, "{e}");
            assert!(e.to_string().contains(want), "{e} should mention {want}");
        }
    }

    #[test]
    fn decoded_size_limit_is_413() {
        let body = req(vec![series(&[("__name__", "up")], &[(1, 1.0); 100])]);
        let e = decode_owned(
            &body,
            Limits {
                max_decoded_bytes: 10,
            },
        )
        .unwrap_err();
        assert_eq!(e.status(), 413);
    }

    #[test]
    fn exemplars_and_metadata_are_accepted() {
        let mut ts = series(&[("__name__", "x")], &[(1, 1.0)]);
        ts.exemplars.push(Exemplar {
            labels: vec![ProtoLabel {
                name: "trace_id".into(),
                value: "abc".into(),
            }],
            value: 1.0,
            timestamp: 1,
        });
        let body = encode(&WriteRequest {
            timeseries: vec![ts],
            metadata: vec![MetricMetadata {
                r#type: 1,
                metric_family_name: "x".into(),
                help: "h".into(),
                unit: String::new(),
            }],
        });
        let d = decode_owned(&body, Limits::default()).unwrap();
        assert_eq!((d.1, d.2, d.3), (1, 1, 1));
    }
}
