//! Zero-copy decoding of a remote_write 1.0 `WriteRequest` (prompb `types.proto`): label
//! names and values stay `&str`s into the decompressed body, so a request of 10,000 series
//! costs a handful of allocations instead of two `String`s per label. prost has no borrowed
//! mode, hence this hand-written reader of the few message shapes remote_write uses; the
//! prost types in the parent module stay for encoding, and the tests check that both read
//! the same bytes the same way.

use lookout_store::model::labels::METRIC_NAME;
use lookout_store::Sample;

use crate::protowire::{utf8, Reader, FIXED64, LEN, VARINT};

/// Where one series' labels and samples sit in [`WireRequest`]'s flat vectors.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub labels: (u32, u32),
    pub samples: (u32, u32),
}

/// A request read off the wire. Labels with an empty value are left out (an empty value
/// is the same as no label in PromQL), except the metric name, which validation reports.
#[derive(Debug, Default)]
pub(super) struct WireRequest<'a> {
    pub labels: Vec<(&'a str, &'a str)>,
    pub series: Vec<Span>,
    pub samples: Vec<Sample>,
    /// Each exemplar's series (its index in `series`) and its undecoded message: most
    /// requests carry none, so they are decoded only when present.
    pub exemplars: Vec<(u32, &'a [u8])>,
    pub histograms: usize,
    pub metadata: usize,
}

/// Reads a `WriteRequest` into `req`, whose vectors are empty but may have capacity from
/// an earlier request. Errors say which part of the message is malformed.
pub(super) fn read_into<'a>(buf: &'a [u8], req: &mut WireRequest<'a>) -> Result<(), String> {
    let mut r = Reader::new(buf);
    while !r.done() {
        match r.key()? {
            (1, w) => {
                r.check_wire_type("WriteRequest.timeseries", w, LEN)?;
                let ts = r.len_delimited()?;
                read_series(ts, req)?;
            }
            (3, w) => {
                r.check_wire_type("WriteRequest.metadata", w, LEN)?;
                r.len_delimited()?;
                req.metadata += 1;
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok(())
}

fn read_series<'a>(buf: &'a [u8], req: &mut WireRequest<'a>) -> Result<(), String> {
    let label_start = req.labels.len() as u32;
    let sample_start = req.samples.len() as u32;
    let mut r = Reader::new(buf);
    while !r.done() {
        match r.key()? {
            (1, w) => {
                r.check_wire_type("TimeSeries.labels", w, LEN)?;
                let (name, value) = read_label(r.len_delimited()?)?;
                if !value.is_empty() || name == METRIC_NAME {
                    req.labels.push((name, value));
                }
            }
            (2, w) => {
                r.check_wire_type("TimeSeries.samples", w, LEN)?;
                req.samples.push(read_sample(r.len_delimited()?)?);
            }
            (3, w) => {
                r.check_wire_type("TimeSeries.exemplars", w, LEN)?;
                let e = r.len_delimited()?;
                req.exemplars.push((req.series.len() as u32, e));
            }
            (4, w) => {
                r.check_wire_type("TimeSeries.histograms", w, LEN)?;
                r.len_delimited()?;
                req.histograms += 1;
            }
            (_, w) => r.skip(w)?,
        }
    }
    req.series.push(Span {
        labels: (label_start, req.labels.len() as u32),
        samples: (sample_start, req.samples.len() as u32),
    });
    Ok(())
}

fn read_label(buf: &[u8]) -> Result<(&str, &str), String> {
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    let mut r = Reader::new(buf);
    while !r.done() {
        match r.key()? {
            (1, w) => {
                r.check_wire_type("Label.name", w, LEN)?;
                name = r.len_delimited()?;
            }
            (2, w) => {
                r.check_wire_type("Label.value", w, LEN)?;
                value = r.len_delimited()?;
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok((utf8(name, "a label name")?, utf8(value, "a label value")?))
}

fn read_sample(buf: &[u8]) -> Result<Sample, String> {
    let (mut t, mut v) = (0i64, 0f64);
    let mut r = Reader::new(buf);
    while !r.done() {
        match r.key()? {
            (1, w) => {
                r.check_wire_type("Sample.value", w, FIXED64)?;
                v = f64::from_bits(r.fixed64()?);
            }
            (2, w) => {
                r.check_wire_type("Sample.timestamp", w, VARINT)?;
                t = r.varint()? as i64;
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok(Sample::new(t, v))
}
