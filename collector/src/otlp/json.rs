//! OTLP/JSON (the OTLP spec's JSON mapping of the protobuf messages) read into the prost
//! types, leniently where the spec asks receivers to be: 64-bit integers as strings or
//! numbers, enums as integers or their names, trace and span ids as hex, bytes as
//! base64, unknown fields ignored. serde_json bounds nesting (128 levels).

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::proto::collector::logs::v1::ExportLogsServiceRequest;
use super::proto::collector::trace::v1::ExportTraceServiceRequest;
use super::proto::common::v1::any_value::Value;
use super::proto::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use super::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use super::proto::resource::v1::Resource;
use super::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

/// Reads an `ExportLogsServiceRequest` in OTLP/JSON.
pub fn logs_request(body: &[u8]) -> Result<ExportLogsServiceRequest, String> {
    let r: JRequest = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(ExportLogsServiceRequest {
        resource_logs: r.resource_logs.into_iter().map(Into::into).collect(),
    })
}

/// Reads an `ExportTraceServiceRequest` in OTLP/JSON.
pub fn traces_request(body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let r: JTraceRequest = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(ExportTraceServiceRequest {
        resource_spans: r.resource_spans.into_iter().map(Into::into).collect(),
    })
}

/// An export answer in OTLP/JSON: `{}`, or a partial success whose count is named
/// `rejected_field` (`rejectedLogRecords`, `rejectedSpans`).
pub fn partial_success(rejected_field: &str, partial: Option<(i64, &str)>) -> String {
    match partial {
        None => "{}".into(),
        Some((rejected, message)) => serde_json::json!({"partialSuccess": {
            rejected_field: rejected.to_string(),
            "errorMessage": message,
        }})
        .to_string(),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JRequest {
    resource_logs: Vec<JResourceLogs>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JResourceLogs {
    resource: Option<JResource>,
    scope_logs: Vec<JScopeLogs>,
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JResource {
    attributes: Vec<JKeyValue>,
    dropped_attributes_count: Num,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JScopeLogs {
    scope: Option<JScope>,
    log_records: Vec<JLogRecord>,
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JScope {
    name: String,
    version: String,
    attributes: Vec<JKeyValue>,
    dropped_attributes_count: Num,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JLogRecord {
    time_unix_nano: Num,
    observed_time_unix_nano: Num,
    severity_number: Severity,
    severity_text: String,
    body: Option<JAnyValue>,
    attributes: Vec<JKeyValue>,
    dropped_attributes_count: Num,
    flags: Num,
    trace_id: Hex,
    span_id: Hex,
    event_name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JTraceRequest {
    resource_spans: Vec<JResourceSpans>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JResourceSpans {
    resource: Option<JResource>,
    scope_spans: Vec<JScopeSpans>,
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JScopeSpans {
    scope: Option<JScope>,
    spans: Vec<JSpan>,
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JSpan {
    trace_id: Hex,
    span_id: Hex,
    trace_state: String,
    parent_span_id: Hex,
    flags: Num,
    name: String,
    kind: Kind,
    start_time_unix_nano: Num,
    end_time_unix_nano: Num,
    attributes: Vec<JKeyValue>,
    dropped_attributes_count: Num,
    events: Vec<JEvent>,
    dropped_events_count: Num,
    links: Vec<JLink>,
    dropped_links_count: Num,
    status: Option<JStatus>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JEvent {
    time_unix_nano: Num,
    name: String,
    attributes: Vec<JKeyValue>,
    dropped_attributes_count: Num,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JLink {
    trace_id: Hex,
    span_id: Hex,
    trace_state: String,
    attributes: Vec<JKeyValue>,
    dropped_attributes_count: Num,
    flags: Num,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JStatus {
    message: String,
    code: Code,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JKeyValue {
    key: String,
    value: Option<JAnyValue>,
}

/// An unsigned integer written as a number or a decimal string.
#[derive(Default, Clone, Copy)]
struct Num(u64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match IntOrString::deserialize(d)? {
            IntOrString::Int(i) => u64::try_from(i).map(Num).map_err(de::Error::custom),
            IntOrString::UInt(u) => Ok(Num(u)),
            IntOrString::Str(s) if s.is_empty() => Ok(Num(0)),
            IntOrString::Str(s) => s
                .parse()
                .map(Num)
                .map_err(|_| de::Error::custom(format!("{s:?} is not an unsigned integer"))),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IntOrString {
    UInt(u64),
    Int(i64),
    Str(String),
}

/// An enum as an integer or its name (`SEVERITY_NUMBER_INFO`, `SPAN_KIND_SERVER`).
fn enum_value<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    from_name: fn(&str) -> Option<i32>,
) -> Result<i32, D::Error> {
    match IntOrString::deserialize(d)? {
        IntOrString::UInt(u) => i32::try_from(u).map_err(de::Error::custom),
        IntOrString::Int(i) => i32::try_from(i).map_err(de::Error::custom),
        IntOrString::Str(s) => {
            from_name(&s).ok_or_else(|| de::Error::custom(format!("{s:?} is not a {what}")))
        }
    }
}

/// `severityNumber`.
#[derive(Default)]
struct Severity(i32);

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        enum_value(d, "severity number", |s| {
            SeverityNumber::from_str_name(s).map(|n| n as i32)
        })
        .map(Severity)
    }
}

/// A span's `kind`.
#[derive(Default)]
struct Kind(i32);

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        enum_value(d, "span kind", |s| {
            span::SpanKind::from_str_name(s).map(|n| n as i32)
        })
        .map(Kind)
    }
}

/// A status `code`.
#[derive(Default)]
struct Code(i32);

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        enum_value(d, "status code", |s| {
            super::proto::trace::v1::status::StatusCode::from_str_name(s).map(|n| n as i32)
        })
        .map(Code)
    }
}

/// Trace and span ids: hex in OTLP/JSON.
#[derive(Default)]
struct Hex(Vec<u8>);

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        hex_decode(&s)
            .map(Hex)
            .ok_or_else(|| de::Error::custom(format!("id {s:?} is not hex")))
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let d = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
    b.chunks(2)
        .map(|p| Some(d(p[0])? << 4 | d(p[1])?))
        .collect()
}

/// `AnyValue`: an object with one of `stringValue`, `boolValue`, `intValue`,
/// `doubleValue`, `arrayValue`, `kvlistValue`, `bytesValue` (none: an empty value).
struct JAnyValue(Option<Value>);

impl<'de> Deserialize<'de> for JAnyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JAnyValue;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an AnyValue object such as {\"stringValue\": \"x\"}")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<JAnyValue, A::Error> {
                let mut v = None;
                while let Some(k) = m.next_key::<String>()? {
                    v = Some(match k.as_str() {
                        "stringValue" => Value::StringValue(m.next_value()?),
                        "boolValue" => Value::BoolValue(m.next_value()?),
                        "intValue" => Value::IntValue(match m.next_value::<IntOrString>()? {
                            IntOrString::Int(i) => i,
                            IntOrString::UInt(u) => i64::try_from(u).map_err(de::Error::custom)?,
                            IntOrString::Str(s) => s.parse().map_err(|_| {
                                de::Error::custom(format!("intValue {s:?} is not an integer"))
                            })?,
                        }),
                        "doubleValue" => Value::DoubleValue(m.next_value::<Double>()?.0),
                        "bytesValue" => {
                            let s: String = m.next_value()?;
                            Value::BytesValue(
                                base64_decode(&s)
                                    .ok_or_else(|| de::Error::custom("bytesValue is not base64"))?,
                            )
                        }
                        "arrayValue" => {
                            let a: JList<JAnyValue> = m.next_value()?;
                            Value::ArrayValue(ArrayValue {
                                values: a.values.into_iter().map(Into::into).collect(),
                            })
                        }
                        "kvlistValue" => {
                            let a: JList<JKeyValue> = m.next_value()?;
                            Value::KvlistValue(KeyValueList {
                                values: a.values.into_iter().map(Into::into).collect(),
                            })
                        }
                        _ => {
                            m.next_value::<de::IgnoredAny>()?;
                            continue;
                        }
                    });
                }
                Ok(JAnyValue(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
struct JList<T> {
    #[serde(default = "Vec::new")]
    values: Vec<T>,
}

/// A double as a number, or as the strings `NaN`, `Infinity`, `-Infinity`.
struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum F {
            N(f64),
            S(String),
        }
        match F::deserialize(d)? {
            F::N(f) => Ok(Double(f)),
            F::S(s) => match s.as_str() {
                "NaN" => Ok(Double(f64::NAN)),
                "Infinity" => Ok(Double(f64::INFINITY)),
                "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                _ => s
                    .parse()
                    .map(Double)
                    .map_err(|_| de::Error::custom(format!("doubleValue {s:?} is not a number"))),
            },
        }
    }
}

impl From<JAnyValue> for AnyValue {
    fn from(v: JAnyValue) -> AnyValue {
        AnyValue { value: v.0 }
    }
}

impl From<JKeyValue> for KeyValue {
    fn from(kv: JKeyValue) -> KeyValue {
        KeyValue {
            key: kv.key,
            value: kv.value.map(Into::into),
        }
    }
}

fn attrs(v: Vec<JKeyValue>) -> Vec<KeyValue> {
    v.into_iter().map(Into::into).collect()
}

fn u32_of(n: Num) -> u32 {
    u32::try_from(n.0).unwrap_or(u32::MAX)
}

fn resource(r: JResource) -> Resource {
    Resource {
        attributes: attrs(r.attributes),
        dropped_attributes_count: u32_of(r.dropped_attributes_count),
        entity_refs: Vec::new(),
    }
}

fn scope(s: JScope) -> InstrumentationScope {
    InstrumentationScope {
        name: s.name,
        version: s.version,
        attributes: attrs(s.attributes),
        dropped_attributes_count: u32_of(s.dropped_attributes_count),
    }
}

impl From<JResourceLogs> for ResourceLogs {
    fn from(r: JResourceLogs) -> ResourceLogs {
        ResourceLogs {
            resource: r.resource.map(resource),
            scope_logs: r
                .scope_logs
                .into_iter()
                .map(|s| ScopeLogs {
                    scope: s.scope.map(scope),
                    log_records: s.log_records.into_iter().map(Into::into).collect(),
                    schema_url: s.schema_url,
                })
                .collect(),
            schema_url: r.schema_url,
        }
    }
}

impl From<JResourceSpans> for ResourceSpans {
    fn from(r: JResourceSpans) -> ResourceSpans {
        ResourceSpans {
            resource: r.resource.map(resource),
            scope_spans: r
                .scope_spans
                .into_iter()
                .map(|s| ScopeSpans {
                    scope: s.scope.map(scope),
                    spans: s.spans.into_iter().map(Into::into).collect(),
                    schema_url: s.schema_url,
                })
                .collect(),
            schema_url: r.schema_url,
        }
    }
}

impl From<JSpan> for Span {
    fn from(s: JSpan) -> Span {
        Span {
            trace_id: s.trace_id.0,
            span_id: s.span_id.0,
            trace_state: s.trace_state,
            parent_span_id: s.parent_span_id.0,
            flags: u32_of(s.flags),
            name: s.name,
            kind: s.kind.0,
            start_time_unix_nano: s.start_time_unix_nano.0,
            end_time_unix_nano: s.end_time_unix_nano.0,
            attributes: attrs(s.attributes),
            dropped_attributes_count: u32_of(s.dropped_attributes_count),
            events: s
                .events
                .into_iter()
                .map(|e| span::Event {
                    time_unix_nano: e.time_unix_nano.0,
                    name: e.name,
                    attributes: attrs(e.attributes),
                    dropped_attributes_count: u32_of(e.dropped_attributes_count),
                })
                .collect(),
            dropped_events_count: u32_of(s.dropped_events_count),
            links: s
                .links
                .into_iter()
                .map(|l| span::Link {
                    trace_id: l.trace_id.0,
                    span_id: l.span_id.0,
                    trace_state: l.trace_state,
                    attributes: attrs(l.attributes),
                    dropped_attributes_count: u32_of(l.dropped_attributes_count),
                    flags: u32_of(l.flags),
                })
                .collect(),
            dropped_links_count: u32_of(s.dropped_links_count),
            status: s.status.map(|st| Status {
                message: st.message,
                code: st.code.0,
            }),
        }
    }
}

impl From<JLogRecord> for LogRecord {
    fn from(r: JLogRecord) -> LogRecord {
        LogRecord {
            time_unix_nano: r.time_unix_nano.0,
            observed_time_unix_nano: r.observed_time_unix_nano.0,
            severity_number: r.severity_number.0,
            severity_text: r.severity_text,
            body: r.body.map(Into::into),
            attributes: attrs(r.attributes),
            dropped_attributes_count: u32_of(r.dropped_attributes_count),
            flags: u32_of(r.flags),
            trace_id: r.trace_id.0,
            span_id: r.span_id.0,
            event_name: r.event_name,
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Standard or URL-safe base64, padding optional.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for c in s.as_bytes().chunks(4) {
        if c.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &b) in c.iter().enumerate() {
            n |= val(b)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if c.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if c.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_spec_example_and_lenient_forms() {
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},
          "scopeLogs":[{"scope":{"name":"lib"},"logRecords":[
            {"timeUnixNano":"1700000000000000001","severityNumber":9,"severityText":"INFO",
             "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
             "body":{"stringValue":"hello"},
             "attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"d","value":{"doubleValue":"NaN"}},
                           {"key":"b","value":{"bytesValue":"aGk="}},{"key":"e","value":{}}],
             "unknownField":{"x":[1,2]}},
            {"timeUnixNano":1700000000000000002,"severityNumber":"SEVERITY_NUMBER_WARN",
             "body":{"kvlistValue":{"values":[{"key":"a","value":{"intValue":1}}]}}}]}]}]}"#;
        let req = logs_request(body).unwrap();
        let recs = &req.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(recs[0].time_unix_nano, 1_700_000_000_000_000_001);
        assert_eq!(recs[0].trace_id.len(), 16);
        assert_eq!(recs[0].span_id[0], 0xee);
        assert_eq!(
            recs[0].attributes[0].value.as_ref().unwrap().value,
            Some(Value::IntValue(42))
        );
        assert_eq!(
            recs[0].attributes[2].value.as_ref().unwrap().value,
            Some(Value::BytesValue(b"hi".to_vec()))
        );
        assert_eq!(recs[1].time_unix_nano, 1_700_000_000_000_000_002);
        assert_eq!(recs[1].severity_number, 13);
    }

    #[test]
    fn errors_say_what() {
        for (body, want) in [
            (
                &br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#[..],
                "hex",
            ),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"-1"}]}]}]}"#,
                "unsigned",
            ),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"LOUD"}]}]}]}"#,
                "severity",
            ),
            (br#"{"resourceLogs":"#, "EOF"),
        ] {
            let e = logs_request(body).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn reads_spans() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},
          "scopeSpans":[{"scope":{"name":"lib"},"spans":[
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"",
             "name":"get","kind":2,"startTimeUnixNano":"1700000000000000001","endTimeUnixNano":1700000000000000009,
             "events":[{"timeUnixNano":"1700000000000000002","name":"ev","attributes":[{"key":"k","value":{"boolValue":true}}]}],
             "links":[{"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b175"}],
             "status":{"code":"STATUS_CODE_ERROR","message":"bad"}},
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b176","kind":"SPAN_KIND_CLIENT"}]}]}]}"#;
        let req = traces_request(body).unwrap();
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans[0].trace_id[0], 0x5b);
        assert!(spans[0].parent_span_id.is_empty());
        assert_eq!(spans[0].end_time_unix_nano, 1_700_000_000_000_000_009);
        assert_eq!(spans[0].events[0].name, "ev");
        assert_eq!(spans[0].links[0].span_id[7], 0x75);
        assert_eq!(spans[0].status.as_ref().unwrap().code, 2);
        assert_eq!(spans[1].kind, 3);
        let e = traces_request(
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SIDEWAYS"}]}]}]}"#,
        )
        .unwrap_err();
        assert!(e.contains("span kind"), "{e}");
    }

    #[test]
    fn base64_round_trips() {
        for n in 0..20usize {
            let v: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64_encode(&v)).unwrap(), v);
        }
        assert_eq!(base64_encode(b"hi"), "aGk=");
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("a*==").is_none());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in "\\PC{0,80}") {
            let _ = logs_request(body.as_bytes());
            let _ = traces_request(body.as_bytes());
        }

        #[test]
        fn base64_prop(v in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert_eq!(base64_decode(&base64_encode(&v)).unwrap(), v);
        }
    }
}
