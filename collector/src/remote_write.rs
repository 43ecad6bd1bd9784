//! Prometheus remote_write 1.0: snappy-compressed (block format) protobuf `WriteRequest`s.
//! Float samples are stored; exemplars and metadata are accepted and counted (they have no
//! store yet); native histograms are refused with a 400 that says so, after the float
//! samples of the same request were stored, so nothing is dropped silently.

use lookout_store::{Label, Labels, Sample, SeriesSamples};
use prost::Message;

use crate::error::{Error, Result};

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

/// A decoded request, ready for the store.
#[derive(Debug, Default)]
pub struct Decoded {
    pub batch: Vec<SeriesSamples>,
    pub samples: usize,
    pub exemplars: usize,
    pub metadata: usize,
    pub histograms: usize,
}

/// Decodes and validates a request body. Errors name what was wrong.
pub fn decode(body: &[u8], limits: Limits) -> Result<Decoded> {
    let len = snap::raw::decompress_len(body).map_err(|e| {
        Error::BadRequest(format!("body is not snappy-compressed (block format): {e}"))
    })?;
    if len > limits.max_decoded_bytes {
        return Err(Error::TooLarge(format!(
            "decompressed body is {len} bytes, over the limit of {} bytes; send smaller batches (max_samples_per_send)",
            limits.max_decoded_bytes
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| Error::BadRequest(format!("body is not valid snappy (block format): {e}")))?;
    let req = WriteRequest::decode(raw.as_slice()).map_err(|e| {
        Error::BadRequest(format!(
            "body is not a valid remote_write protobuf WriteRequest: {e}"
        ))
    })?;
    let mut out = Decoded {
        metadata: req.metadata.len(),
        batch: Vec::with_capacity(req.timeseries.len()),
        ..Default::default()
    };
    for ts in req.timeseries {
        out.exemplars += ts.exemplars.len();
        out.histograms += ts.histograms.len();
        // An empty value means "no such label" in PromQL; drop it as Prometheus does,
        // except for the metric name, which validation then reports.
        let labels = Labels::from_sorted(
            ts.labels
                .into_iter()
                .filter(|l| {
                    !l.value.is_empty() || l.name == lookout_store::model::labels::METRIC_NAME
                })
                .map(|l| Label {
                    name: l.name,
                    value: l.value,
                })
                .collect(),
        );
        // Label sets are validated by the store when it first sees a series, so the hot path
        // does not check the same labels on every request.
        if ts.samples.is_empty() {
            continue;
        }
        out.samples += ts.samples.len();
        out.batch.push(SeriesSamples {
            labels,
            samples: ts
                .samples
                .iter()
                .map(|s| Sample::new(s.timestamp, s.value))
                .collect(),
        });
    }
    Ok(out)
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
        let d = decode(&body, Limits::default()).unwrap();
        assert_eq!(d.samples, 2);
        assert_eq!(d.batch[0].labels.get("job"), Some("a"));
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
                req(vec![series(
                    &[("__name__", "up"), ("1bad", "a")],
                    &[(1, 1.0)],
                )]),
                "invalid",
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
            let e = decode(&body, Limits::default())
                .and_then(|d| {
                    d.batch
                        .iter()
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
        let e = decode(
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
        let d = decode(&body, Limits::default()).unwrap();
        assert_eq!((d.samples, d.exemplars, d.metadata), (1, 1, 1));
    }
}
