//! The on-disk encoding of one WAL record: the frame (length, CRC, type byte) and the payload
//! of each record type. Pure functions over byte buffers; no I/O. The byte layout is
//! specified in `store/FORMAT.md` ("WAL"); change both together.

use std::fmt;

use super::{Record, SeriesRef};
use crate::error::{Error, Result};
use crate::metrics::exemplars::{Exemplar, SeriesExemplars};
use crate::model::{Label, Labels, LogRecord, LogStream};

/// Bytes before a record's body: body length (u32 LE) and CRC32 of the body (u32 LE).
pub(crate) const FRAME_HEADER_LEN: usize = 8;
/// Record type byte: a batch of new series.
pub(crate) const TYPE_SERIES: u8 = 1;
/// Record type byte: a batch of float samples.
pub(crate) const TYPE_SAMPLES: u8 = 2;
/// Record type byte: a batch of log streams (the log engine's WAL).
pub(crate) const TYPE_LOGS: u8 = 3;
/// Record type byte: a batch of spans (the span engine's WAL; payload in FORMAT.md,
/// "Traces").
pub(crate) const TYPE_SPANS: u8 = 4;
/// Record type byte: a batch of exemplars by series label set.
pub(crate) const TYPE_EXEMPLARS: u8 = 5;

/// Smallest encoded size of one entry, used to reject absurd counts before allocating.
const MIN_SERIES_ENTRY: usize = 2; // ref varint + label count varint
const MIN_SAMPLE_ENTRY: usize = 10; // ref delta + time delta varints + 8 value bytes
const MIN_STREAM_ENTRY: usize = 2; // label count + record count
const MIN_LOG_ENTRY: usize = 3; // time delta + line length + metadata count
const MIN_EXEMPLAR_SERIES: usize = 2; // label count + exemplar count
const MIN_EXEMPLAR_ENTRY: usize = 10; // label count + timestamp varint + 8 value bytes

/// Why a record body could not be decoded: what was expected and where in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub(crate) offset: usize,
    pub(crate) what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "undecodable record body at byte {} of the body: {}",
            self.offset, self.what
        )
    }
}

/// Appends `rec` to `buf` as a complete frame (header + body). On error `buf` is unchanged.
pub(crate) fn encode_framed(rec: &Record, buf: &mut Vec<u8>) -> Result<()> {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    encode_body(rec, buf);
    let body = &buf[start + FRAME_HEADER_LEN..];
    let Ok(len) = u32::try_from(body.len()) else {
        let n = body.len();
        buf.truncate(start);
        return Err(Error::BadInput(format!(
            "a WAL record of {n} bytes exceeds the 4 GiB record limit: split the batch into smaller ones"
        )));
    };
    let crc = crc32fast::hash(body);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Appends the body (type byte + payload) of `rec` to `buf`.
pub(crate) fn encode_body(rec: &Record, buf: &mut Vec<u8>) {
    match rec {
        Record::Series(series) => {
            buf.push(TYPE_SERIES);
            put_uvarint(buf, series.len() as u64);
            for (r, labels) in series {
                put_uvarint(buf, *r);
                put_uvarint(buf, labels.len() as u64);
                for l in labels {
                    put_bytes(buf, l.name.as_bytes());
                    put_bytes(buf, l.value.as_bytes());
                }
            }
        }
        Record::Samples(samples) => {
            buf.push(TYPE_SAMPLES);
            put_uvarint(buf, samples.len() as u64);
            let Some(&(ref0, t0, _)) = samples.first() else {
                return;
            };
            put_uvarint(buf, ref0);
            put_varint(buf, t0);
            // Typical entries take 11-14 bytes; reserving avoids regrowth on the hot path.
            buf.reserve(samples.len() * 14);
            for &(r, t, v) in samples {
                // Assemble the entry on the stack: one bounds check and copy per sample.
                let mut e = [0u8; 28];
                let mut n = stack_uvarint(&mut e, 0, zigzag(r.wrapping_sub(ref0) as i64));
                n = stack_uvarint(&mut e, n, zigzag(t.wrapping_sub(t0)));
                e[n..n + 8].copy_from_slice(&v.to_bits().to_le_bytes());
                buf.extend_from_slice(&e[..n + 8]);
            }
        }
        Record::Spans(batch) => {
            buf.push(TYPE_SPANS);
            crate::traces::codec::encode_batch(batch, buf);
        }
        Record::Exemplars(series) => {
            buf.push(TYPE_EXEMPLARS);
            put_uvarint(buf, series.len() as u64);
            for s in series {
                put_labels(buf, &s.labels);
                put_uvarint(buf, s.exemplars.len() as u64);
                for e in &s.exemplars {
                    put_labels(buf, &e.labels);
                    put_varint(buf, e.ts);
                    buf.extend_from_slice(&e.value.to_bits().to_le_bytes());
                }
            }
        }
        Record::Logs(streams) => {
            buf.push(TYPE_LOGS);
            put_uvarint(buf, streams.len() as u64);
            buf.reserve(
                streams
                    .iter()
                    .flat_map(|s| &s.records)
                    .map(|r| r.line.len() + 8)
                    .sum(),
            );
            for s in streams {
                put_uvarint(buf, s.labels.len() as u64);
                for l in &s.labels {
                    put_bytes(buf, l.name.as_bytes());
                    put_bytes(buf, l.value.as_bytes());
                }
                put_uvarint(buf, s.records.len() as u64);
                let mut prev = 0i64;
                for r in &s.records {
                    put_varint(buf, r.ts_ns.wrapping_sub(prev));
                    prev = r.ts_ns;
                    put_bytes(buf, r.line.as_bytes());
                    put_uvarint(buf, r.metadata.len() as u64);
                    for (k, v) in &r.metadata {
                        put_bytes(buf, k.as_bytes());
                        put_bytes(buf, v.as_bytes());
                    }
                }
            }
        }
    }
}

/// Decodes a record body (type byte + payload). The whole body must be consumed.
pub(crate) fn decode_body(body: &[u8]) -> std::result::Result<Record, DecodeError> {
    let mut r = Reader { buf: body, pos: 0 };
    let rec = match r.byte("a record type byte")? {
        TYPE_SERIES => {
            let n = r.count(MIN_SERIES_ENTRY, "a series count")?;
            let mut series: Vec<(SeriesRef, Labels)> = Vec::with_capacity(n);
            for _ in 0..n {
                let sref = r.uvarint("a series ref")?;
                let nl = r.count(2, "a label count")?;
                let mut labels = Vec::with_capacity(nl);
                for _ in 0..nl {
                    let name = r.string("a label name")?;
                    let value = r.string("a label value")?;
                    labels.push(Label { name, value });
                }
                series.push((sref, Labels::from_sorted(labels)));
            }
            Record::Series(series)
        }
        TYPE_SAMPLES => {
            let n = r.count(MIN_SAMPLE_ENTRY, "a sample count")?;
            let mut samples = Vec::with_capacity(n);
            if n > 0 {
                let ref0 = r.uvarint("the base series ref")?;
                let t0 = r.varint("the base timestamp")?;
                for _ in 0..n {
                    let sref = ref0.wrapping_add(r.varint("a series ref delta")? as u64);
                    let t = t0.wrapping_add(r.varint("a timestamp delta")?);
                    let v = f64::from_bits(r.u64_le("an 8-byte sample value")?);
                    samples.push((sref, t, v));
                }
            }
            Record::Samples(samples)
        }
        TYPE_LOGS => {
            let n = r.count(MIN_STREAM_ENTRY, "a stream count")?;
            let mut streams = Vec::with_capacity(n);
            for _ in 0..n {
                let nl = r.count(2, "a label count")?;
                let mut labels = Vec::with_capacity(nl);
                for _ in 0..nl {
                    let name = r.string("a label name")?;
                    let value = r.string("a label value")?;
                    labels.push(Label { name, value });
                }
                let nr = r.count(MIN_LOG_ENTRY, "a log record count")?;
                let mut records = Vec::with_capacity(nr);
                let mut prev = 0i64;
                for _ in 0..nr {
                    let ts_ns = prev.wrapping_add(r.varint("a log timestamp delta")?);
                    prev = ts_ns;
                    let line = r.string("a log line")?;
                    let nm = r.count(2, "a metadata count")?;
                    let mut metadata = Vec::with_capacity(nm);
                    for _ in 0..nm {
                        let k = r.string("a metadata name")?;
                        let v = r.string("a metadata value")?;
                        metadata.push((k, v));
                    }
                    records.push(LogRecord {
                        ts_ns,
                        line,
                        metadata,
                    });
                }
                streams.push(LogStream {
                    labels: Labels::from_sorted(labels),
                    records,
                });
            }
            Record::Logs(streams)
        }
        TYPE_EXEMPLARS => {
            let n = r.count(MIN_EXEMPLAR_SERIES, "an exemplar series count")?;
            let mut series = Vec::with_capacity(n);
            for _ in 0..n {
                let labels = r.labels()?;
                let ne = r.count(MIN_EXEMPLAR_ENTRY, "an exemplar count")?;
                let mut exemplars = Vec::with_capacity(ne);
                for _ in 0..ne {
                    let labels = r.labels()?;
                    let ts = r.varint("an exemplar timestamp")?;
                    let value = f64::from_bits(r.u64_le("an 8-byte exemplar value")?);
                    exemplars.push(Exemplar { labels, value, ts });
                }
                series.push(SeriesExemplars { labels, exemplars });
            }
            Record::Exemplars(series)
        }
        TYPE_SPANS => {
            let mut sr = crate::traces::codec::Reader::new(&body[r.pos..]);
            let batch = sr
                .batch()
                .map_err(|e| r.error_at(r.pos + e.offset, e.what))?;
            r.pos += sr.pos;
            Record::Spans(batch)
        }
        _ => return Err(r.error_at(0, "an unknown record type (written by a newer version?)")),
    };
    if r.pos != body.len() {
        return Err(r.error_at(r.pos, "trailing bytes after the last entry"));
    }
    Ok(rec)
}

fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, zigzag(x));
}

/// Writes `x` as a uvarint into `e` at `pos` (room for 10 bytes is the caller's job);
/// returns the position after it.
#[inline]
fn stack_uvarint(e: &mut [u8; 28], mut pos: usize, mut x: u64) -> usize {
    while x >= 0x80 {
        e[pos] = (x as u8) | 0x80;
        x >>= 7;
        pos += 1;
    }
    e[pos] = x as u8;
    pos + 1
}

fn put_labels(buf: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(buf, labels.len() as u64);
    for l in labels {
        put_bytes(buf, l.name.as_bytes());
        put_bytes(buf, l.value.as_bytes());
    }
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// A cursor over a record body; every read is bounds-checked.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error_at(&self, offset: usize, what: &'static str) -> DecodeError {
        DecodeError { offset, what }
    }

    fn byte(&mut self, what: &'static str) -> std::result::Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(self.error_at(self.pos, what))?;
        self.pos += 1;
        Ok(b)
    }

    fn uvarint(&mut self, what: &'static str) -> std::result::Result<u64, DecodeError> {
        let start = self.pos;
        let mut x = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            if shift == 63 && b > 1 {
                return Err(self.error_at(start, "a varint that overflows 64 bits"));
            }
            x |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(x);
            }
        }
        Err(self.error_at(start, "a varint longer than 10 bytes"))
    }

    fn varint(&mut self, what: &'static str) -> std::result::Result<i64, DecodeError> {
        let u = self.uvarint(what)?;
        Ok((u >> 1) as i64 ^ -((u & 1) as i64))
    }

    /// A count of entries that each take at least `min_entry` bytes; rejects counts the
    /// rest of the body cannot hold, so corrupt input never causes a huge allocation.
    fn count(
        &mut self,
        min_entry: usize,
        what: &'static str,
    ) -> std::result::Result<usize, DecodeError> {
        let start = self.pos;
        let n = self.uvarint(what)?;
        let room = (self.buf.len() - self.pos) / min_entry;
        match usize::try_from(n) {
            Ok(n) if n <= room => Ok(n),
            _ => Err(self.error_at(start, "a count larger than the rest of the record can hold")),
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> std::result::Result<&[u8], DecodeError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.buf.len() => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => Err(self.error_at(self.pos, what)),
        }
    }

    fn u64_le(&mut self, what: &'static str) -> std::result::Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A label count and that many (name, value) pairs, as `put_labels` writes them.
    fn labels(&mut self) -> std::result::Result<Labels, DecodeError> {
        let nl = self.count(2, "a label count")?;
        let mut labels = Vec::with_capacity(nl);
        for _ in 0..nl {
            let name = self.string("a label name")?;
            let value = self.string("a label value")?;
            labels.push(Label { name, value });
        }
        Ok(Labels::from_sorted(labels))
    }

    fn string(&mut self, what: &'static str) -> std::result::Result<String, DecodeError> {
        let len = self.uvarint(what)?;
        let start = self.pos;
        let len = usize::try_from(len).map_err(|_| self.error_at(start, what))?;
        let b = self.take(len, what)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(self.error_at(start, "a label string that is not valid UTF-8")),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::STALE_NAN_BITS;

    fn framed(rec: &Record) -> Vec<u8> {
        let mut buf = vec![0xAA]; // encoding appends; leading bytes are left alone
        encode_framed(rec, &mut buf).unwrap();
        assert_eq!(buf[0], 0xAA);
        buf.remove(0);
        buf
    }

    /// Checks the frame and returns the body.
    fn body_of(frame: &[u8]) -> &[u8] {
        let len = u32::from_le_bytes(frame[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(frame[4..8].try_into().unwrap());
        assert_eq!(frame.len(), FRAME_HEADER_LEN + len);
        let body = &frame[FRAME_HEADER_LEN..];
        assert_eq!(crc, crc32fast::hash(body));
        body
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        let labels = prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,6}", "\\PC{0,8}"), 0..5)
            .prop_map(Labels::from_pairs);
        let series = prop::collection::vec((any::<u64>(), labels), 0..6).prop_map(Record::Series);
        let value = prop_oneof![
            any::<u64>().prop_map(f64::from_bits),
            Just(f64::from_bits(STALE_NAN_BITS)),
            Just(-0.0),
            any::<f64>(),
        ];
        let ts = prop_oneof![any::<i64>(), 1_600_000_000_000i64..1_800_000_000_000];
        let refs = prop_oneof![any::<u64>(), 0u64..1000];
        let samples = prop::collection::vec((refs, ts, value), 0..40).prop_map(Record::Samples);
        let record = (
            any::<i64>(),
            "\\PC{0,20}",
            prop::collection::vec(("[a-z_]{1,5}", "\\PC{0,6}"), 0..3),
        )
            .prop_map(|(ts_ns, line, metadata)| LogRecord {
                ts_ns,
                line,
                metadata,
            });
        let stream_labels =
            prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,6}", "\\PC{0,8}"), 0..4)
                .prop_map(Labels::from_pairs);
        let logs = prop::collection::vec(
            (stream_labels, prop::collection::vec(record, 0..6))
                .prop_map(|(labels, records)| LogStream { labels, records }),
            0..4,
        )
        .prop_map(Record::Logs);
        let ex_labels = prop::collection::vec(("[a-z_]{1,8}", "[0-9a-f]{0,32}"), 0..3)
            .prop_map(Labels::from_pairs);
        let exemplar = (
            ex_labels,
            any::<u64>().prop_map(f64::from_bits),
            any::<i64>(),
        )
            .prop_map(|(labels, value, ts)| Exemplar { labels, value, ts });
        let ex_series = prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,6}", "\\PC{0,8}"), 0..4)
            .prop_map(Labels::from_pairs);
        let exemplars = prop::collection::vec(
            (ex_series, prop::collection::vec(exemplar, 0..4))
                .prop_map(|(labels, exemplars)| SeriesExemplars { labels, exemplars }),
            0..4,
        )
        .prop_map(Record::Exemplars);
        prop_oneof![series, samples, logs, exemplars]
    }

    proptest! {
        #[test]
        fn records_round_trip(rec in arb_record()) {
            let frame = framed(&rec);
            prop_assert_eq!(decode_body(body_of(&frame)), Ok(rec));
        }

        #[test]
        fn every_strict_prefix_is_rejected(rec in arb_record()) {
            let frame = framed(&rec);
            let body = body_of(&frame);
            for n in 0..body.len() {
                prop_assert!(decode_body(&body[..n]).is_err(), "prefix of {} bytes decoded", n);
            }
        }

        #[test]
        fn garbage_never_panics_and_what_decodes_re_encodes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(rec) = decode_body(&bytes) {
                prop_assert_eq!(decode_body(body_of(&framed(&rec))), Ok(rec));
            }
        }
    }

    #[test]
    fn varints_at_the_edges() {
        for x in [0, 1, 127, 128, 16_383, 16_384, u64::MAX / 2, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, x);
            let mut r = Reader { buf: &b, pos: 0 };
            assert_eq!(r.uvarint("x"), Ok(x));
            assert_eq!(r.pos, b.len());
        }
        for x in [0, -1, 1, i64::MIN, i64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, x);
            assert_eq!(Reader { buf: &b, pos: 0 }.varint("x"), Ok(x));
        }
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            Reader {
                buf: &too_big,
                pos: 0
            }
            .uvarint("x")
            .unwrap_err()
            .what,
            "a varint that overflows 64 bits"
        );
    }

    #[test]
    fn samples_encode_compactly() {
        // One scrape: 100k consecutive refs at one timestamp.
        let n = 100_000u64;
        let rec = Record::Samples(
            (0..n)
                .map(|i| (5_000_000 + i, 1_700_000_000_000, i as f64))
                .collect(),
        );
        let frame = framed(&rec);
        // 8 value bytes + a ref delta of at most 3 bytes + a 1-byte time delta.
        assert!(frame.len() < (n * 12) as usize, "{} bytes", frame.len());
        assert_eq!(decode_body(body_of(&frame)), Ok(rec));
    }

    #[test]
    fn absurd_counts_are_rejected_without_allocating() {
        let mut b = vec![TYPE_SAMPLES];
        put_uvarint(&mut b, u64::MAX);
        assert_eq!(
            decode_body(&b).unwrap_err().what,
            "a count larger than the rest of the record can hold"
        );
        let mut b = vec![TYPE_SERIES, 1, 7, 1, 2, 0xff, 0xfe, 0];
        assert_eq!(
            decode_body(&b).unwrap_err().what,
            "a label string that is not valid UTF-8"
        );
        b[0] = 0;
        assert!(decode_body(&b)
            .unwrap_err()
            .to_string()
            .contains("unknown record type"));
    }
}
