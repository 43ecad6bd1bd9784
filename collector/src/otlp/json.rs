//! OTLP/JSON (the OTLP spec's JSON mapping of the protobuf messages) read into the prost
//! types, leniently where the spec asks receivers to be: 64-bit integers as strings or
//! numbers, enums as integers or their names, trace and span ids as hex, bytes as
//! base64, unknown fields ignored. serde_json bounds nesting (128 levels).

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::proto::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use super::proto::common::v1::any_value::Value;
use super::proto::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use super::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use super::proto::resource::v1::Resource;

/// Reads an `ExportLogsServiceRequest` in OTLP/JSON.
pub fn logs_request(body: &[u8]) -> Result<ExportLogsServiceRequest, String> {
    let r: JRequest = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(ExportLogsServiceRequest {
        resource_logs: r.resource_logs.into_iter().map(Into::into).collect(),
    })
}

/// Writes an `ExportLogsServiceResponse` in OTLP/JSON.
pub fn logs_response(r: &ExportLogsServiceResponse) -> String {
    match &r.partial_success {
        None => "{}".into(),
        Some(p) => serde_json::json!({"partialSuccess": {
            "rejectedLogRecords": p.rejected_log_records.to_string(),
            "errorMessage": p.error_message,
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

/// `severityNumber`: an integer or the enum's name (`SEVERITY_NUMBER_INFO`).
#[derive(Default)]
struct Severity(i32);

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match IntOrString::deserialize(d)? {
            IntOrString::UInt(u) => i32::try_from(u).map(Severity).map_err(de::Error::custom),
            IntOrString::Int(i) => i32::try_from(i).map(Severity).map_err(de::Error::custom),
            IntOrString::Str(s) => SeverityNumber::from_str_name(&s)
                .map(|n| Severity(n as i32))
                .ok_or_else(|| de::Error::custom(format!("{s:?} is not a severity number"))),
        }
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

impl From<JResourceLogs> for ResourceLogs {
    fn from(r: JResourceLogs) -> ResourceLogs {
        ResourceLogs {
            resource: r.resource.map(|r| Resource {
                attributes: attrs(r.attributes),
                dropped_attributes_count: u32_of(r.dropped_attributes_count),
                entity_refs: Vec::new(),
            }),
            scope_logs: r
                .scope_logs
                .into_iter()
                .map(|s| ScopeLogs {
                    scope: s.scope.map(|s| InstrumentationScope {
                        name: s.name,
                        version: s.version,
                        attributes: attrs(s.attributes),
                        dropped_attributes_count: u32_of(s.dropped_attributes_count),
                    }),
                    log_records: s.log_records.into_iter().map(Into::into).collect(),
                    schema_url: s.schema_url,
                })
                .collect(),
            schema_url: r.schema_url,
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
        }

        #[test]
        fn base64_prop(v in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert_eq!(base64_decode(&base64_encode(&v)).unwrap(), v);
        }
    }
}
