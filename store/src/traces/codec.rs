//! The span engine's binary encodings: attributes, scopes, events and links as the
//! compact blobs the Parquet files keep in their binary columns, and whole
//! [`ResourceSpans`] batches as the span WAL record's payload. Pure functions over byte
//! buffers; the layout is in `store/FORMAT.md` ("Traces"). Change both together.

use crate::model::span::{
    AttrValue, Attributes, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanKind, SpanLink,
    StatusCode,
};

const TAG_STR: u8 = 0;
const TAG_BOOL: u8 = 1;
const TAG_INT: u8 = 2;
const TAG_FLOAT: u8 = 3;
const TAG_BYTES: u8 = 4;
const TAG_ARRAY: u8 = 5;
const TAG_MAP: u8 = 6;
/// The value lives in a dedicated column of the row (`service_name`, `http_method`, ...);
/// the key stays here so attribute order and spelling survive.
const TAG_DEDICATED: u8 = 7;

/// Deepest nesting of arrays and maps a decoder follows, so corrupt input cannot recurse
/// without bound.
const MAX_DEPTH: usize = 64;

/// Why bytes could not be decoded: what was expected and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodecError {
    pub(crate) offset: usize,
    pub(crate) what: &'static str,
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "undecodable span data at byte {}: {}",
            self.offset, self.what
        )
    }
}

pub(crate) type CodecResult<T> = std::result::Result<T, CodecError>;

pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

pub(crate) fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, ((x << 1) ^ (x >> 63)) as u64);
}

pub(crate) fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

fn put_value(buf: &mut Vec<u8>, v: &AttrValue) {
    match v {
        AttrValue::Str(s) => {
            buf.push(TAG_STR);
            put_bytes(buf, s.as_bytes());
        }
        AttrValue::Bool(b) => {
            buf.push(TAG_BOOL);
            buf.push(u8::from(*b));
        }
        AttrValue::Int(i) => {
            buf.push(TAG_INT);
            put_varint(buf, *i);
        }
        AttrValue::Float(f) => {
            buf.push(TAG_FLOAT);
            buf.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        AttrValue::Bytes(b) => {
            buf.push(TAG_BYTES);
            put_bytes(buf, b);
        }
        AttrValue::Array(a) => {
            buf.push(TAG_ARRAY);
            put_uvarint(buf, a.len() as u64);
            for v in a {
                put_value(buf, v);
            }
        }
        AttrValue::Map(m) => {
            buf.push(TAG_MAP);
            put_attrs(buf, m, &mut |_, _| false);
        }
    }
}

/// Appends attributes; those for which `dedicated(index, pair)` is true are written as a
/// key with a [`TAG_DEDICATED`] marker instead of their value.
pub(crate) fn put_attrs(
    buf: &mut Vec<u8>,
    attrs: &[(String, AttrValue)],
    dedicated: &mut dyn FnMut(usize, &(String, AttrValue)) -> bool,
) {
    put_uvarint(buf, attrs.len() as u64);
    for (i, kv) in attrs.iter().enumerate() {
        put_bytes(buf, kv.0.as_bytes());
        if dedicated(i, kv) {
            buf.push(TAG_DEDICATED);
        } else {
            put_value(buf, &kv.1);
        }
    }
}

#[cfg(test)]
pub(crate) fn encode_attrs(attrs: &[(String, AttrValue)]) -> Vec<u8> {
    let mut b = Vec::new();
    put_attrs(&mut b, attrs, &mut |_, _| false);
    b
}

pub(crate) fn encode_scope(s: &Scope) -> Vec<u8> {
    let mut b = Vec::new();
    put_bytes(&mut b, s.name.as_bytes());
    put_bytes(&mut b, s.version.as_bytes());
    put_attrs(&mut b, &s.attributes, &mut |_, _| false);
    b
}

/// Events with times relative to the span's start (small varints).
pub(crate) fn encode_events(events: &[SpanEvent], start_ns: i64) -> Vec<u8> {
    let mut b = Vec::new();
    put_uvarint(&mut b, events.len() as u64);
    for e in events {
        put_varint(&mut b, e.time_ns.wrapping_sub(start_ns));
        put_bytes(&mut b, e.name.as_bytes());
        put_attrs(&mut b, &e.attributes, &mut |_, _| false);
    }
    b
}

pub(crate) fn encode_links(links: &[SpanLink]) -> Vec<u8> {
    let mut b = Vec::new();
    put_uvarint(&mut b, links.len() as u64);
    for l in links {
        b.extend_from_slice(&l.trace_id);
        b.extend_from_slice(&l.span_id);
        put_bytes(&mut b, l.trace_state.as_bytes());
        put_attrs(&mut b, &l.attributes, &mut |_, _| false);
    }
    b
}

/// A span batch as the WAL keeps it.
pub(crate) fn encode_batch(batch: &[ResourceSpans], buf: &mut Vec<u8>) {
    put_uvarint(buf, batch.len() as u64);
    for rs in batch {
        put_attrs(buf, &rs.resource, &mut |_, _| false);
        put_uvarint(buf, rs.scopes.len() as u64);
        for ss in &rs.scopes {
            buf.extend_from_slice(&encode_scope(&ss.scope));
            put_uvarint(buf, ss.spans.len() as u64);
            for s in &ss.spans {
                buf.extend_from_slice(&s.trace_id);
                buf.extend_from_slice(&s.span_id);
                match &s.parent_span_id {
                    Some(p) => {
                        buf.push(1);
                        buf.extend_from_slice(p);
                    }
                    None => buf.push(0),
                }
                put_bytes(buf, s.trace_state.as_bytes());
                put_bytes(buf, s.name.as_bytes());
                buf.push(s.kind as u8);
                put_varint(buf, s.start_ns);
                put_varint(buf, s.end_ns.wrapping_sub(s.start_ns));
                buf.push(s.status as u8);
                put_bytes(buf, s.status_message.as_bytes());
                put_attrs(buf, &s.attributes, &mut |_, _| false);
                buf.extend_from_slice(&encode_events(&s.events, s.start_ns));
                buf.extend_from_slice(&encode_links(&s.links));
            }
        }
    }
}

pub(crate) fn kind_from(n: u8) -> SpanKind {
    match n {
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

pub(crate) fn status_from(n: u8) -> StatusCode {
    match n {
        1 => StatusCode::Ok,
        2 => StatusCode::Error,
        _ => StatusCode::Unset,
    }
}

/// A bounds-checked cursor over encoded bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn err(&self, what: &'static str) -> CodecError {
        CodecError {
            offset: self.pos,
            what,
        }
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> CodecResult<()> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(self.err("trailing bytes after the last entry"))
        }
    }

    fn byte(&mut self, what: &'static str) -> CodecResult<u8> {
        let b = *self.buf.get(self.pos).ok_or(self.err(what))?;
        self.pos += 1;
        Ok(b)
    }

    fn uvarint(&mut self, what: &'static str) -> CodecResult<u64> {
        let mut x = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            x |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(x);
            }
        }
        Err(self.err("a varint longer than 10 bytes"))
    }

    fn varint(&mut self, what: &'static str) -> CodecResult<i64> {
        let u = self.uvarint(what)?;
        Ok((u >> 1) as i64 ^ -((u & 1) as i64))
    }

    /// A count of entries of at least one byte each, no larger than the rest can hold.
    fn count(&mut self, what: &'static str) -> CodecResult<usize> {
        let n = self.uvarint(what)?;
        match usize::try_from(n) {
            Ok(n) if n <= self.buf.len() - self.pos => Ok(n),
            _ => Err(self.err("a count larger than the rest of the data can hold")),
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> CodecResult<&'a [u8]> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.buf.len() => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => Err(self.err(what)),
        }
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> CodecResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn bytes(&mut self, what: &'static str) -> CodecResult<&'a [u8]> {
        let n = self.count(what)?;
        self.take(n, what)
    }

    fn string(&mut self, what: &'static str) -> CodecResult<String> {
        let b = self.bytes(what)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| self.err("a string that is not valid UTF-8"))
    }

    fn value(&mut self, depth: usize) -> CodecResult<AttrValue> {
        if depth > MAX_DEPTH {
            return Err(self.err("attribute values nested too deep"));
        }
        Ok(match self.byte("a value tag")? {
            TAG_STR => AttrValue::Str(self.string("a string value")?),
            TAG_BOOL => AttrValue::Bool(self.byte("a bool value")? != 0),
            TAG_INT => AttrValue::Int(self.varint("an int value")?),
            TAG_FLOAT => AttrValue::Float(f64::from_bits(u64::from_le_bytes(
                self.array("a float value")?,
            ))),
            TAG_BYTES => AttrValue::Bytes(self.bytes("a bytes value")?.to_vec()),
            TAG_ARRAY => {
                let n = self.count("an array length")?;
                let mut a = Vec::with_capacity(n);
                for _ in 0..n {
                    a.push(self.value(depth + 1)?);
                }
                AttrValue::Array(a)
            }
            TAG_MAP => AttrValue::Map(self.attrs_at(depth + 1, &mut |_| None)?),
            _ => return Err(self.err("an unknown value tag")),
        })
    }

    fn attrs_at(
        &mut self,
        depth: usize,
        dedicated: &mut dyn FnMut(&str) -> Option<AttrValue>,
    ) -> CodecResult<Attributes> {
        let n = self.count("an attribute count")?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.string("an attribute key")?;
            let v = if self.buf.get(self.pos) == Some(&TAG_DEDICATED) {
                self.pos += 1;
                dedicated(&k).ok_or(self.err("a dedicated attribute whose column is empty"))?
            } else {
                self.value(depth)?
            };
            out.push((k, v));
        }
        Ok(out)
    }

    /// Attributes; a dedicated one takes its value from `dedicated(key)`.
    pub(crate) fn attrs(
        &mut self,
        dedicated: &mut dyn FnMut(&str) -> Option<AttrValue>,
    ) -> CodecResult<Attributes> {
        self.attrs_at(0, dedicated)
    }

    pub(crate) fn scope(&mut self) -> CodecResult<Scope> {
        Ok(Scope {
            name: self.string("a scope name")?,
            version: self.string("a scope version")?,
            attributes: self.attrs(&mut |_| None)?,
        })
    }

    pub(crate) fn events(&mut self, start_ns: i64) -> CodecResult<Vec<SpanEvent>> {
        let n = self.count("an event count")?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(SpanEvent {
                time_ns: start_ns.wrapping_add(self.varint("an event time")?),
                name: self.string("an event name")?,
                attributes: self.attrs(&mut |_| None)?,
            });
        }
        Ok(out)
    }

    pub(crate) fn links(&mut self) -> CodecResult<Vec<SpanLink>> {
        let n = self.count("a link count")?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(SpanLink {
                trace_id: self.array("a link trace id")?,
                span_id: self.array("a link span id")?,
                trace_state: self.string("a link trace state")?,
                attributes: self.attrs(&mut |_| None)?,
            });
        }
        Ok(out)
    }

    /// A batch written by [`encode_batch`].
    pub(crate) fn batch(&mut self) -> CodecResult<Vec<ResourceSpans>> {
        let n = self.count("a resource count")?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let resource = self.attrs(&mut |_| None)?;
            let ns = self.count("a scope count")?;
            let mut scopes = Vec::with_capacity(ns);
            for _ in 0..ns {
                let scope = self.scope()?;
                let nspans = self.count("a span count")?;
                let mut spans = Vec::with_capacity(nspans);
                for _ in 0..nspans {
                    let trace_id = self.array("a trace id")?;
                    let span_id = self.array("a span id")?;
                    let parent_span_id = match self.byte("a parent flag")? {
                        0 => None,
                        _ => Some(self.array("a parent span id")?),
                    };
                    let trace_state = self.string("a trace state")?;
                    let name = self.string("a span name")?;
                    let kind = kind_from(self.byte("a span kind")?);
                    let start_ns = self.varint("a span start")?;
                    let end_ns = start_ns.wrapping_add(self.varint("a span duration")?);
                    let status = status_from(self.byte("a status code")?);
                    let status_message = self.string("a status message")?;
                    let attributes = self.attrs(&mut |_| None)?;
                    let events = self.events(start_ns)?;
                    let links = self.links()?;
                    spans.push(Span {
                        trace_id,
                        span_id,
                        parent_span_id,
                        trace_state,
                        name,
                        kind,
                        start_ns,
                        end_ns,
                        status,
                        status_message,
                        attributes,
                        events,
                        links,
                    });
                }
                scopes.push(ScopeSpans { scope, spans });
            }
            out.push(ResourceSpans { resource, scopes });
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn value() -> impl Strategy<Value = AttrValue> {
        let leaf = prop_oneof![
            ".{0,8}".prop_map(AttrValue::Str),
            any::<bool>().prop_map(AttrValue::Bool),
            any::<i64>().prop_map(AttrValue::Int),
            (-1e9f64..1e9).prop_map(AttrValue::Float),
            prop::collection::vec(any::<u8>(), 0..4).prop_map(AttrValue::Bytes),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(AttrValue::Array),
                prop::collection::vec(("[a-z.]{1,6}", inner), 0..3).prop_map(AttrValue::Map),
            ]
        })
    }

    pub(crate) fn attrs() -> impl Strategy<Value = Attributes> {
        prop::collection::vec(("[a-z.]{1,10}", value()), 0..4)
    }

    fn span() -> impl Strategy<Value = Span> {
        (
            any::<[u8; 16]>(),
            any::<[u8; 8]>(),
            any::<Option<[u8; 8]>>(),
            "[a-z /]{0,10}",
            0u8..6,
            any::<i64>(),
            0i64..1 << 40,
            0u8..3,
            attrs(),
            prop::collection::vec((0i64..1000, "[a-z]{0,5}", attrs()), 0..3),
            prop::collection::vec((any::<[u8; 16]>(), any::<[u8; 8]>(), attrs()), 0..2),
        )
            .prop_map(
                |(trace_id, span_id, parent, name, kind, start, dur, st, a, ev, li)| Span {
                    trace_id,
                    span_id,
                    parent_span_id: parent,
                    trace_state: String::new(),
                    name,
                    kind: kind_from(kind),
                    start_ns: start,
                    end_ns: start.wrapping_add(dur),
                    status: status_from(st),
                    status_message: "m".into(),
                    attributes: a,
                    events: ev
                        .into_iter()
                        .map(|(t, name, attributes)| SpanEvent {
                            time_ns: start.wrapping_add(t),
                            name,
                            attributes,
                        })
                        .collect(),
                    links: li
                        .into_iter()
                        .map(|(trace_id, span_id, attributes)| SpanLink {
                            trace_id,
                            span_id,
                            trace_state: "ts".into(),
                            attributes,
                        })
                        .collect(),
                },
            )
    }

    proptest! {
        #[test]
        fn batches_round_trip(
            batch in prop::collection::vec(
                (attrs(), "[a-z]{0,5}", prop::collection::vec(span(), 0..4)),
                0..3,
            )
        ) {
            let batch: Vec<ResourceSpans> = batch
                .into_iter()
                .map(|(resource, name, spans)| ResourceSpans {
                    resource,
                    scopes: vec![ScopeSpans {
                        scope: Scope { name, version: "1".into(), attributes: vec![] },
                        spans,
                    }],
                })
                .collect();
            let mut buf = Vec::new();
            encode_batch(&batch, &mut buf);
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.batch().unwrap(), batch);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn truncated_or_garbled_input_is_an_error_not_a_panic(
            a in attrs(), cut in 0usize..64, flip in any::<u8>()
        ) {
            let mut buf = encode_attrs(&a);
            if cut < buf.len() {
                buf.truncate(cut);
            }
            if let Some(b) = buf.get_mut(cut / 2) {
                *b ^= flip;
            }
            let mut r = Reader::new(&buf);
            let _ = r.attrs(&mut |_| None).and_then(|_| r.finish());
        }
    }

    #[test]
    fn dedicated_values_come_from_the_resolver_in_place() {
        let a: Attributes = vec![
            ("x".into(), AttrValue::Int(1)),
            ("http.route".into(), AttrValue::Str("/a".into())),
        ];
        let mut buf = Vec::new();
        put_attrs(&mut buf, &a, &mut |_, (k, _)| k == "http.route");
        let mut r = Reader::new(&buf);
        let back = r
            .attrs(&mut |k| (k == "http.route").then(|| AttrValue::Str("/a".into())))
            .unwrap();
        assert_eq!(back, a);
        let mut r = Reader::new(&buf);
        assert!(
            r.attrs(&mut |_| None).is_err(),
            "a missing column is an error"
        );
    }
}
