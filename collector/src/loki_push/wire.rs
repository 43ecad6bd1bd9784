//! `logproto.PushRequest` read straight off its protobuf wire bytes into a [`Batch`]:
//! each entry's line is copied once, into the `String` the store keeps. Decoding with
//! prost first built the whole request as structs (an `EntryAdapter` per line, each line
//! copied through `Bytes`, vectors grown as entries came), then moved it into the batch:
//! about a tenth of the server's CPU on Loki pushes (`logbench --serve`). The messages are
//! four small ones with fixed nesting, read with the cursor remote_write's reader uses
//! (`protowire.rs`); prost's own decoder stays the reference its tests compare against.
//!
//! Semantics are prost's: fields in any order, unknown fields skipped, a repeated
//! singular field's last value wins (a repeated `timestamp` message is merged field by
//! field), strings must be UTF-8; a line need not be (invalid sequences are replaced, as
//! Go senders do not check). Any malformed byte fails the whole request, before anything
//! is stored.

use crate::logs::{Batch, LogReason};
use crate::protowire::{utf8, Reader, LEN, VARINT};

/// Reads a `PushRequest` into `batch`.
pub fn read(body: &[u8], batch: &mut Batch<'_>) -> Result<(), String> {
    let mut r = Reader::new(body);
    while !r.done() {
        let (tag, wire) = r.key()?;
        if tag == 1 {
            r.check_wire_type("PushRequest.streams", wire, LEN)?;
            stream(r.len_delimited()?, batch)?;
        } else {
            r.skip(wire)?;
        }
    }
    Ok(())
}

/// Reads one `StreamAdapter`: its labels first (they may follow the entries), then its
/// entries.
fn stream(msg: &[u8], batch: &mut Batch<'_>) -> Result<(), String> {
    let mut labels = "";
    let mut entries = 0u64;
    let mut r = Reader::new(msg);
    while !r.done() {
        let (tag, wire) = r.key()?;
        match tag {
            1 => {
                r.check_wire_type("StreamAdapter.labels", wire, LEN)?;
                labels = utf8(r.len_delimited()?, "StreamAdapter.labels")?;
            }
            2 => {
                r.check_wire_type("StreamAdapter.entries", wire, LEN)?;
                r.len_delimited()?;
                entries += 1;
            }
            3 => {
                r.check_wire_type("StreamAdapter.hash", wire, VARINT)?;
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
        let e = entry(r.len_delimited()?)?;
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

fn entry(msg: &[u8]) -> Result<Entry, String> {
    let mut ts: Option<(i64, i32)> = None;
    let mut line: &[u8] = &[];
    let mut metadata = Vec::new();
    let mut r = Reader::new(msg);
    while !r.done() {
        let (tag, wire) = r.key()?;
        match tag {
            1 => {
                r.check_wire_type("EntryAdapter.timestamp", wire, LEN)?;
                ts = Some(timestamp(r.len_delimited()?, ts.unwrap_or_default())?);
            }
            2 => {
                r.check_wire_type("EntryAdapter.line", wire, LEN)?;
                line = r.len_delimited()?;
            }
            3 => {
                r.check_wire_type("EntryAdapter.structuredMetadata", wire, LEN)?;
                metadata.push(label_pair(r.len_delimited()?)?);
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
fn timestamp(msg: &[u8], mut into: (i64, i32)) -> Result<(i64, i32), String> {
    let mut r = Reader::new(msg);
    while !r.done() {
        let (tag, wire) = r.key()?;
        match tag {
            // int64 and int32 are varints whose two's complement is cut to size.
            1 => {
                r.check_wire_type("Timestamp.seconds", wire, VARINT)?;
                into.0 = r.varint()? as i64;
            }
            2 => {
                r.check_wire_type("Timestamp.nanos", wire, VARINT)?;
                into.1 = r.varint()? as i32;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(into)
}

/// A `LabelPairAdapter`.
fn label_pair(msg: &[u8]) -> Result<(String, String), String> {
    let (mut name, mut value) = ("", "");
    let mut r = Reader::new(msg);
    while !r.done() {
        let (tag, wire) = r.key()?;
        match tag {
            1 => {
                r.check_wire_type("LabelPairAdapter.name", wire, LEN)?;
                name = utf8(r.len_delimited()?, "LabelPairAdapter.name")?;
            }
            2 => {
                r.check_wire_type("LabelPairAdapter.value", wire, LEN)?;
                value = utf8(r.len_delimited()?, "LabelPairAdapter.value")?;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok((name.to_owned(), value.to_owned()))
}
