//! Loki's push API, `POST /loki/api/v1/push` (and the legacy `/api/prom/push`): JSON
//! (`{"streams":[{"stream":{…},"values":[["<ns>","<line>",{<metadata>}]]}]}`, also the
//! legacy `{"labels":"{…}","entries":[{"ts":"<RFC 3339>","line":"…"}]}` shape) and
//! snappy-compressed protobuf `logproto.PushRequest` with structured metadata, either
//! optionally gzip- or deflate-compressed as `Content-Encoding` says. Answers 204 as Loki
//! does; lines refused by a limit are named in a 400 after the rest were stored.

use std::collections::HashMap;

use prost::Message;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::logs::{Batch, LogReason};

mod labels;
mod wire;

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`: the labels as selector text, and the entries.
#[derive(Clone, PartialEq, Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`. The line is read as bytes: Go senders do not check that it is
/// UTF-8, so invalid sequences are replaced rather than failing the whole request.
#[derive(Clone, PartialEq, Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(bytes = "vec", tag = "2")]
    pub line: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// The body's format, from `Content-Type` (Loki reads anything but JSON as protobuf; a
/// body without a type that starts like JSON is read as JSON, as `curl -d` sends them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Protobuf,
}

impl Format {
    pub fn of(content_type: Option<&str>, body: &[u8]) -> Format {
        let ct = content_type.unwrap_or("").to_ascii_lowercase();
        if ct.starts_with("application/json") {
            return Format::Json;
        }
        if ct.contains("protobuf") {
            return Format::Protobuf;
        }
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Json,
            _ => Format::Protobuf,
        }
    }
}

/// Decodes a (decompressed) push body into `batch`.
pub fn decode(
    format: Format,
    body: &[u8],
    max_decoded: usize,
    batch: &mut Batch<'_>,
) -> Result<()> {
    match format {
        Format::Json => decode_json(body, batch),
        Format::Protobuf => decode_protobuf(body, max_decoded, batch),
    }
}

fn decode_protobuf(body: &[u8], max_decoded: usize, batch: &mut Batch<'_>) -> Result<()> {
    let len = snap::raw::decompress_len(body).map_err(|e| {
        Error::BadRequest(format!(
            "the body is not snappy-compressed (block format) protobuf: {e}; send Content-Type: application/json for JSON"
        ))
    })?;
    if max_decoded > 0 && len > max_decoded {
        return Err(Error::TooLarge(format!(
            "the snappy-decoded body is {len} bytes, over the limit of {max_decoded} bytes (limits.max_decoded_body_size); send smaller batches"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| {
            Error::BadRequest(format!("the body is not valid snappy (block format): {e}"))
        })?;
    wire::read(&raw, batch).map_err(|e| {
        Error::BadRequest(format!("the body is not a valid logproto.PushRequest: {e}"))
    })
}

#[derive(Deserialize)]
struct JsonPush {
    #[serde(default)]
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: Option<HashMap<String, String>>,
    #[serde(default)]
    values: Vec<JsonEntry>,
    /// The legacy shape: labels as selector text...
    #[serde(default)]
    labels: Option<String>,
    /// ...and entries as objects with an RFC 3339 timestamp.
    #[serde(default)]
    entries: Vec<LegacyEntry>,
}

#[derive(Deserialize)]
struct LegacyEntry {
    ts: String,
    line: String,
}

/// `["<ns>", "<line>"]` or `["<ns>", "<line>", {"name": "value", …}]`.
struct JsonEntry {
    ts: String,
    line: String,
    metadata: Vec<(String, String)>,
}

impl<'de> Deserialize<'de> for JsonEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonEntry;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"an entry ["<timestamp ns as a string>", "<line>"] with an optional third element {"name": "value"} of structured metadata"#)
            }

            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<JsonEntry, A::Error> {
                let ts: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let line: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let metadata: Option<HashMap<String, String>> = seq.next_element()?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                Ok(JsonEntry {
                    ts,
                    line,
                    metadata: metadata
                        .map(|m| m.into_iter().collect())
                        .unwrap_or_default(),
                })
            }
        }
        d.deserialize_seq(V)
    }
}

fn decode_json(body: &[u8], batch: &mut Batch<'_>) -> Result<()> {
    let req: JsonPush = serde_json::from_slice(body).map_err(|e| {
        Error::BadRequest(format!(
            "the body is not a valid Loki push request in JSON: {e}"
        ))
    })?;
    for s in req.streams {
        let pairs = match (s.stream, s.labels) {
            (Some(m), _) => Ok(m.into_iter().collect()),
            (None, Some(text)) => labels::parse(&text),
            (None, None) => Err("a stream has no \"stream\" object of labels".to_string()),
        };
        let n = (s.values.len() + s.entries.len()) as u64;
        let stream = match pairs {
            Ok(p) => batch.stream(p),
            Err(e) => {
                batch.refuse_lines(LogReason::InvalidLabels, n, e);
                continue;
            }
        };
        for e in s.values {
            match e.ts.parse::<i64>() {
                Ok(ts) => batch.push(stream, ts, e.line, e.metadata),
                Err(_) => batch.refuse_lines(
                    LogReason::InvalidTimestamp,
                    1,
                    format!(
                        "timestamp {:?} is not an integer number of nanoseconds since the epoch (a string)",
                        crate::logs::prefix(&e.ts, 40)
                    ),
                ),
            }
        }
        for e in s.entries {
            match crate::timestamp::parse_rfc3339(&e.ts) {
                Some(ts) => batch.push(stream, ts, e.line, Vec::new()),
                None => batch.refuse_lines(
                    LogReason::InvalidTimestamp,
                    1,
                    format!(
                        "timestamp {:?} is not RFC 3339",
                        crate::logs::prefix(&e.ts, 40)
                    ),
                ),
            }
        }
    }
    Ok(())
}

/// Encodes a request the way Promtail does: protobuf, snappy block format (tests, benchmarks).
pub fn encode(req: &PushRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogLimits;
    use lookout_store::LogStream;

    fn run(format: Format, body: &[u8]) -> Result<(Vec<LogStream>, u64)> {
        let limits = LogLimits::default();
        let mut b = Batch::new(&limits, 2_000_000_000_000);
        decode(format, body, 1 << 20, &mut b)?;
        let refused = b.refused();
        Ok((b.into_streams(), refused))
    }

    #[test]
    fn json_with_metadata() {
        let body = br#"{"streams":[{"stream":{"job":"app","env":"prod"},
            "values":[["1570818238000000000","line one"],
                      ["1570818238000000001","line two",{"trace_id":"0242ac120002","user_id":"u1"}]]}]}"#;
        let (streams, refused) = run(Format::Json, body).unwrap();
        assert_eq!(refused, 0);
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].labels.to_string(), r#"{env="prod", job="app"}"#);
        let r = &streams[0].records;
        assert_eq!(
            (r[0].ts_ns, r[0].line.as_str()),
            (1_570_818_238_000_000_000, "line one")
        );
        assert_eq!(
            r[1].metadata,
            vec![
                ("trace_id".into(), "0242ac120002".into()),
                ("user_id".into(), "u1".into())
            ]
        );
    }

    #[test]
    fn json_errors_are_named() {
        for (body, want) in [
            (&br#"{"streams":[{"stream":{"a":"b"},"values":[[1570818238000000000,"x"]]}]}"#[..], "string"),
            (br#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#, "entry"),
            (br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{},1]]}]}"#, "entry"),
            (br#"{"streams":[{"stream":{"a":1},"values":[]}]}"#, "string"),
            (br#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["#, "JSON"),
        ] {
            let e = run(Format::Json, body).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains(want), "{e}");
        }
        let (streams, refused) = run(
            Format::Json,
            br#"{"streams":[{"stream":{},"values":[["1","x"]]},{"stream":{"a":"b"},"values":[["x","y"],["2","z"]]}]}"#,
        )
        .unwrap();
        assert_eq!((streams.len(), refused), (1, 2));
    }

    #[test]
    fn legacy_json() {
        let body = br#"{"streams":[{"labels":"{foo=\"bar\"}","entries":[{"ts":"2018-12-18T08:28:06.801064-04:00","line":"baz"}]}]}"#;
        let (streams, _) = run(Format::Json, body).unwrap();
        assert_eq!(streams[0].records[0].ts_ns, 1_545_136_086_801_064_000);
    }

    #[test]
    fn protobuf_with_metadata() {
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{job="app", env="prod"}"#.into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp {
                        seconds: 1_570_818_238,
                        nanos: 5,
                    }),
                    line: b"hello \xff".to_vec(),
                    structured_metadata: vec![LabelPairAdapter {
                        name: "trace_id".into(),
                        value: "ab".into(),
                    }],
                }],
                hash: 0,
            }],
        };
        let (streams, refused) = run(Format::Protobuf, &encode(&req)).unwrap();
        assert_eq!(refused, 0);
        let r = &streams[0].records[0];
        assert_eq!(r.ts_ns, 1_570_818_238_000_000_005);
        assert_eq!(r.line, "hello \u{fffd}");
        assert_eq!(r.metadata, vec![("trace_id".into(), "ab".into())]);
        assert_eq!(streams[0].labels.to_string(), r#"{env="prod", job="app"}"#);
    }

    #[test]
    fn protobuf_garbage_is_a_400() {
        for body in [
            &b""[..],
            b"\xff\xff\xff\xff\xff",
            &encode(&PushRequest::default())[..1],
        ] {
            if let Err(e) = run(Format::Protobuf, body) {
                assert_eq!(e.status(), 400, "{e}");
            }
        }
        let huge = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 2 << 20])
            .unwrap();
        assert_eq!(run(Format::Protobuf, &huge).unwrap_err().status(), 413);
    }

    #[test]
    fn format_sniffing() {
        assert_eq!(
            Format::of(Some("application/json; charset=utf-8"), b""),
            Format::Json
        );
        assert_eq!(
            Format::of(Some("application/x-protobuf"), b"{"),
            Format::Protobuf
        );
        assert_eq!(Format::of(None, b"  {\"streams\":[]}"), Format::Json);
        assert_eq!(
            Format::of(Some("application/x-www-form-urlencoded"), b"\x10abc"),
            Format::Protobuf
        );
    }

    /// The prost decoding `wire::read` replaced, as the reference it must agree with.
    fn prost_reference(raw: &[u8], batch: &mut Batch<'_>) -> std::result::Result<(), String> {
        let req = PushRequest::decode(raw).map_err(|e| e.to_string())?;
        for s in req.streams {
            let stream = match labels::parse(&s.labels) {
                Ok(pairs) => batch.stream(pairs),
                Err(e) => {
                    batch.refuse_lines(LogReason::InvalidLabels, s.entries.len() as u64, e);
                    continue;
                }
            };
            for e in s.entries {
                let Some(ts) = e.timestamp.and_then(|t| {
                    t.seconds
                        .checked_mul(1_000_000_000)
                        .and_then(|s| s.checked_add(i64::from(t.nanos)))
                }) else {
                    batch.refuse_lines(
                        LogReason::InvalidTimestamp,
                        1,
                        "an entry has no timestamp, or one out of range".into(),
                    );
                    continue;
                };
                let line = match String::from_utf8(e.line) {
                    Ok(s) => s,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                };
                let meta = e
                    .structured_metadata
                    .into_iter()
                    .map(|p| (p.name, p.value))
                    .collect();
                batch.push(stream, ts, line, meta);
            }
        }
        Ok(())
    }

    /// A batch's streams and its refusal count after `read` ran on `raw`.
    fn outcome(
        raw: &[u8],
        read: impl FnOnce(&[u8], &mut Batch<'_>) -> std::result::Result<(), String>,
    ) -> std::result::Result<(Vec<LogStream>, u64), String> {
        let limits = LogLimits::default();
        let mut b = Batch::new(&limits, 2_000_000_000_000);
        read(raw, &mut b)?;
        let refused = b.refused();
        Ok((b.into_streams(), refused))
    }

    fn wire_read(raw: &[u8], b: &mut Batch<'_>) -> std::result::Result<(), String> {
        wire::read(raw, b)
    }

    fn arb_request() -> impl proptest::strategy::Strategy<Value = PushRequest> {
        use proptest::prelude::*;
        let labels = prop::sample::select(vec![
            r#"{job="app"}"#,
            r#"{job="app", env="prod"}"#,
            r#"{env="prod",job="app"}"#,
            "{}",
            "not a label set",
            "",
        ]);
        let entry = (
            // Mostly times a batch accepts, so that lines and metadata get compared.
            prop::option::of((
                prop_oneof![4 => 0i64..2_000_000_000, 1 => any::<i64>()],
                prop_oneof![4 => 0i32..1_000_000_000, 1 => any::<i32>()],
            )),
            prop::collection::vec(any::<u8>(), 0..12),
            prop::collection::vec(("[a-c]{0,2}", "[x-z]{0,2}"), 0..3),
        )
            .prop_map(|(ts, line, meta)| EntryAdapter {
                timestamp: ts.map(|(seconds, nanos)| Timestamp { seconds, nanos }),
                line,
                structured_metadata: meta
                    .into_iter()
                    .map(|(name, value)| LabelPairAdapter { name, value })
                    .collect(),
            });
        let stream = (labels, prop::collection::vec(entry, 0..4), any::<u64>()).prop_map(
            |(labels, entries, hash)| StreamAdapter {
                labels: labels.to_string(),
                entries,
                hash,
            },
        );
        prop::collection::vec(stream, 0..4).prop_map(|streams| PushRequest { streams })
    }

    proptest::proptest! {
        /// The wire reader stores and refuses exactly what prost's decoding did.
        #[test]
        fn the_wire_reader_agrees_with_prost(req in arb_request()) {
            let raw = req.encode_to_vec();
            let want = outcome(&raw, prost_reference).unwrap();
            proptest::prop_assert_eq!(outcome(&raw, wire_read).unwrap(), want);
        }

        /// On any bytes prost accepts, it agrees too; on others it fails without panicking.
        #[test]
        fn the_wire_reader_agrees_on_any_bytes(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let ours = outcome(&raw, wire_read);
            if let Ok(want) = outcome(&raw, prost_reference) {
                // prost also skips unknown groups (wire types 3 and 4), which no Loki
                // client sends and the wire reader refuses.
                if ours.is_ok() {
                    proptest::prop_assert_eq!(ours.unwrap(), want);
                }
            } else {
                proptest::prop_assert!(ours.is_err());
            }
        }
    }

    /// Fields may come in any order: labels after entries, a timestamp given in two parts,
    /// unknown fields of every wire type.
    #[test]
    fn the_wire_reader_takes_fields_in_any_order() {
        let entry = EntryAdapter {
            timestamp: Some(Timestamp {
                seconds: 7,
                nanos: 0,
            }),
            line: b"x".to_vec(),
            structured_metadata: vec![],
        };
        let labels = StreamAdapter {
            labels: r#"{job="app"}"#.into(),
            entries: vec![],
            hash: 0,
        }
        .encode_to_vec();
        // Fields 5 to 8: a varint, a fixed64, a fixed32 and an empty length-delimited one.
        let unknown = [
            0x28, 0x01, 0x31, 0, 0, 0, 0, 0, 0, 0, 0, 0x3d, 0, 0, 0, 0, 0x42, 0x00,
        ];
        // The entry, then a second timestamp message holding only nanos (merged).
        let mut e = entry.encode_to_vec();
        e.extend_from_slice(&[0x0a, 0x02, 0x10, 0x05]);
        let mut stream = vec![0x12, e.len() as u8];
        stream.extend_from_slice(&e);
        stream.extend_from_slice(&labels);
        stream.extend_from_slice(&unknown);
        let mut req = vec![0x0a, stream.len() as u8];
        req.extend_from_slice(&stream);
        req.extend_from_slice(&unknown);
        let want = outcome(&req, prost_reference).unwrap();
        assert_eq!(outcome(&req, wire_read).unwrap(), want);
        let (streams, refused) = want;
        assert_eq!(refused, 0);
        assert_eq!(streams[0].labels.to_string(), r#"{job="app"}"#);
        assert_eq!(streams[0].records[0].ts_ns, 7_000_000_005);
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = run(Format::Json, &body);
            let _ = run(Format::Protobuf, &body);
            let z = snap::raw::Encoder::new().compress_vec(&body).unwrap();
            let _ = run(Format::Protobuf, &z);
        }
    }
}
