//! `logproto.PushRequest` read straight off its protobuf wire bytes into a [`Batch`]:
//! each entry's line is copied once, into the `String` the store keeps. Decoding with
//! prost first built the whole request as structs (an `EntryAdapter` per line, each line
//! copied through `Bytes`, vectors grown as entries came), then moved it into the batch:
//! about a tenth of the server's CPU on Loki pushes (`logbench --serve`). The messages are
//! four small ones with fixed nesting, so this reader is short; prost's own decoder stays
//! the reference its tests compare against.
//!
//! Semantics are prost's: fields in any order, unknown fields skipped, a repeated
//! singular field's last value wins (a repeated `timestamp` message is merged field by
//! field), strings must be UTF-8; a line need not be (invalid sequences are replaced, as
//! Go senders do not check). Any malformed byte fails the whole request, before anything
//! is stored.

use crate::logs::{Batch, LogReason};

/// Why a body is not a `PushRequest`.
pub type WireError = &'static str;

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    fn done(&self) -> bool {
        self.buf.is_empty()
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut v = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b > 1 {
                    break;
                }
                self.buf = &self.buf[i + 1..];
                return Ok(v);
            }
        }
        Err("invalid varint")
    }

    /// The next field's number and wire type.
    fn key(&mut self) -> Result<(u64, u8), WireError> {
        let k = self.varint()?;
        let (tag, wire) = (k >> 3, (k & 7) as u8);
        if tag == 0 || tag > u64::from(u32::MAX >> 3) {
            return Err("invalid field number");
        }
        Ok((tag, wire))
    }

    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| "length out of range")?;
        if n > self.buf.len() {
            return Err("a field is longer than the message");
        }
        let (field, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(field)
    }

    fn skip(&mut self, wire: u8) -> Result<(), WireError> {
        let n = match wire {
            VARINT => return self.varint().map(drop),
            LEN => return self.bytes().map(drop),
            FIXED64 => 8,
            FIXED32 => 4,
            _ => return Err("unsupported wire type (groups are not read)"),
        };
        if n > self.buf.len() {
            return Err("a field is longer than the message");
        }
        self.buf = &self.buf[n..];
        Ok(())
    }

    /// A field of type `want` (its value is read by the caller) or an error.
    fn expect(wire: u8, want: u8) -> Result<(), WireError> {
        if wire == want {
            Ok(())
        } else {
            Err("a field has the wrong wire type")
        }
    }
}

fn string(b: &[u8]) -> Result<&str, WireError> {
    std::str::from_utf8(b).map_err(|_| "a string field is not UTF-8")
}

/// Reads a `PushRequest` into `batch`.
pub fn read(body: &[u8], batch: &mut Batch<'_>) -> Result<(), WireError> {
    let mut r = Reader::new(body);
    while !r.done() {
        let (tag, wire) = r.key()?;
        if tag == 1 {
            Reader::expect(wire, LEN)?;
            stream(r.bytes()?, batch)?;
        } else {
            r.skip(wire)?;
        }
    }
    Ok(())
}

/// Reads one `StreamAdapter`: its labels first (they may follow the entries), then its
/// entries.
fn stream(msg: &[u8], batch: &mut Batch<'_>) -> Result<(), WireError> {
    let mut labels = "";
    let mut entries = 0u64;
    let mut r = Reader::new(msg);
    while !r.done() {
        let (tag, wire) = r.key()?;
        match tag {
            1 => {
                Reader::expect(wire, LEN)?;
                labels = string(r.bytes()?)?;
            }
            2 => {
                Reader::expect(wire, LEN)?;
                r.bytes()?;
                entries += 1;
            }
            3 => {
                Reader::expect(wire, VARINT)?;
                r.varint()?;
            }
            _ => r.skip(wire)?,
        }
    }
    let stream = match super::labels::parse(labels) {
        Ok(pairs) => Some(batch.stream(pairs)),
        Err(e) => {
            batch.refuse_lines(LogReason::InvalidLabels, entries, e);
            None
        }
    };
    let mut r = Reader::new(msg);
    while !r.done() {
        let (tag, wire) = r.key()?;
        if tag != 2 {
            r.skip(wire)?;
            continue;
        }
        let e = entry(r.bytes()?)?;
        let Some(stream) = stream else {
            continue;
        };
        match e.ts_ns {
            Some(ts) => batch.push(stream, ts, e.line, e.metadata),
            None => batch.refuse_lines(
                LogReason::InvalidTimestamp,
                1,
                "an entry has no timestamp, or one out of range".into(),
            ),
        }
    }
    Ok(())
}

/// One `EntryAdapter`, decoded.
struct Entry {
    /// None when the entry has no timestamp or one out of range.
    ts_ns: Option<i64>,
    line: String,
    metadata: Vec<(String, String)>,
}

fn entry(msg: &[u8]) -> Result<Entry, WireError> {
    let mut ts: Option<(i64, i32)> = None;
    let mut line: &[u8] = &[];
    let mut metadata = Vec::new();
    let mut r = Reader::new(msg);
    while !r.done() {
        let (tag, wire) = r.key()?;
        match tag {
            1 => {
                Reader::expect(wire, LEN)?;
                ts = Some(timestamp(r.bytes()?, ts.unwrap_or_default())?);
            }
            2 => {
                Reader::expect(wire, LEN)?;
                line = r.bytes()?;
            }
            3 => {
                Reader::expect(wire, LEN)?;
                metadata.push(label_pair(r.bytes()?)?);
            }
            _ => r.skip(wire)?,
        }
    }
    let line = match std::str::from_utf8(line) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(line).into_owned(),
    };
    let ts_ns = ts.and_then(|(s, n)| {
        s.checked_mul(1_000_000_000)
            .and_then(|s| s.checked_add(i64::from(n)))
    });
    Ok(Entry {
        ts_ns,
        line,
        metadata,
    })
}

/// A `google.protobuf.Timestamp`, merged into `into` (a repeated message merges).
fn timestamp(msg: &[u8], mut into: (i64, i32)) -> Result<(i64, i32), WireError> {
    let mut r = Reader::new(msg);
    while !r.done() {
        let (tag, wire) = r.key()?;
        match tag {
            // int64 and int32 are varints whose two's complement is cut to size.
            1 => {
                Reader::expect(wire, VARINT)?;
                into.0 = r.varint()? as i64;
            }
            2 => {
                Reader::expect(wire, VARINT)?;
                into.1 = r.varint()? as i32;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(into)
}

/// A `LabelPairAdapter`.
fn label_pair(msg: &[u8]) -> Result<(String, String), WireError> {
    let (mut name, mut value) = ("", "");
    let mut r = Reader::new(msg);
    while !r.done() {
        let (tag, wire) = r.key()?;
        match tag {
            1 => {
                Reader::expect(wire, LEN)?;
                name = string(r.bytes()?)?;
            }
            2 => {
                Reader::expect(wire, LEN)?;
                value = string(r.bytes()?)?;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok((name.to_owned(), value.to_owned()))
}
