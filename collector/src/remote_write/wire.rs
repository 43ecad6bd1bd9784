//! Zero-copy decoding of a remote_write 1.0 `WriteRequest` (prompb `types.proto`): label
//! names and values stay `&str`s into the decompressed body, so a request of 10,000 series
//! costs a handful of allocations instead of two `String`s per label. prost has no borrowed
//! mode, hence this hand-written reader of the few message shapes remote_write uses; the
//! prost types in the parent module stay for encoding, and the tests check that both read
//! the same bytes the same way.

use lookout_store::model::labels::METRIC_NAME;
use lookout_store::Sample;

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

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err("truncated varint".into());
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn key(&mut self) -> Result<(u64, u8), String> {
        let k = self.varint()?;
        let field = k >> 3;
        if field == 0 {
            return Err("field number 0".into());
        }
        Ok((field, (k & 7) as u8))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| format!("field of {n} bytes runs past the end of its message"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn len_delimited(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| "length overflows".to_string())?)
    }

    fn fixed64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn skip(&mut self, wire_type: u8) -> Result<(), String> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED32 => self.take(4).map(drop),
            w => Err(format!("unsupported wire type {w}")),
        }
    }

    /// Fails for a known field sent with another wire type, as prost does.
    fn check_wire_type(&self, field: &str, got: u8, want: u8) -> Result<(), String> {
        if got == want {
            Ok(())
        } else {
            Err(format!("{field}: wire type {got}, expected {want}"))
        }
    }
}

fn utf8<'a>(b: &'a [u8], what: &str) -> Result<&'a str, String> {
    std::str::from_utf8(b).map_err(|_| format!("{what} is not valid UTF-8"))
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
