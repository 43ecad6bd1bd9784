//! Spans as OTLP JSON (the encoding of `opentelemetry-proto`'s JSON mapping): lowerCamelCase
//! keys, hex trace and span ids, enums as integers, 64-bit integers as decimal strings,
//! bytes as base64.

use base64::Engine as _;
use lookout_store::model::span::{hex_id, AttrValue, Attributes, ResourceSpans, Scope, Span};
use serde_json::{json, Map, Value};

pub fn any_value(v: &AttrValue) -> Value {
    match v {
        AttrValue::Str(s) => json!({"stringValue": s}),
        AttrValue::Bool(b) => json!({"boolValue": b}),
        AttrValue::Int(i) => json!({"intValue": i.to_string()}),
        AttrValue::Float(f) if f.is_finite() => json!({"doubleValue": f}),
        AttrValue::Float(f) => json!({"doubleValue": f.to_string()}),
        AttrValue::Bytes(b) => {
            json!({"bytesValue": base64::engine::general_purpose::STANDARD.encode(b)})
        }
        AttrValue::Array(a) => {
            json!({"arrayValue": {"values": a.iter().map(any_value).collect::<Vec<_>>()}})
        }
        AttrValue::Map(m) => json!({"kvlistValue": {"values": attributes(m)}}),
    }
}

pub fn attributes(attrs: &Attributes) -> Vec<Value> {
    attrs
        .iter()
        .map(|(k, v)| json!({"key": k, "value": any_value(v)}))
        .collect()
}

fn scope(s: &Scope) -> Value {
    let mut m = Map::new();
    if !s.name.is_empty() {
        m.insert("name".into(), json!(s.name));
    }
    if !s.version.is_empty() {
        m.insert("version".into(), json!(s.version));
    }
    if !s.attributes.is_empty() {
        m.insert("attributes".into(), json!(attributes(&s.attributes)));
    }
    Value::Object(m)
}

pub fn span(s: &Span) -> Value {
    let mut m = Map::new();
    m.insert("traceId".into(), json!(hex_id(&s.trace_id)));
    m.insert("spanId".into(), json!(hex_id(&s.span_id)));
    if let Some(p) = s.parent_span_id {
        m.insert("parentSpanId".into(), json!(hex_id(&p)));
    }
    if !s.trace_state.is_empty() {
        m.insert("traceState".into(), json!(s.trace_state));
    }
    m.insert("name".into(), json!(s.name));
    m.insert("kind".into(), json!(s.kind as i32));
    m.insert("startTimeUnixNano".into(), json!(s.start_ns.to_string()));
    m.insert("endTimeUnixNano".into(), json!(s.end_ns.to_string()));
    if !s.attributes.is_empty() {
        m.insert("attributes".into(), json!(attributes(&s.attributes)));
    }
    if !s.events.is_empty() {
        let events: Vec<Value> = s
            .events
            .iter()
            .map(|e| {
                json!({
                    "timeUnixNano": e.time_ns.to_string(),
                    "name": e.name,
                    "attributes": attributes(&e.attributes),
                })
            })
            .collect();
        m.insert("events".into(), json!(events));
    }
    if !s.links.is_empty() {
        let links: Vec<Value> = s
            .links
            .iter()
            .map(|l| {
                json!({
                    "traceId": hex_id(&l.trace_id),
                    "spanId": hex_id(&l.span_id),
                    "traceState": l.trace_state,
                    "attributes": attributes(&l.attributes),
                })
            })
            .collect();
        m.insert("links".into(), json!(links));
    }
    let mut status = Map::new();
    if s.status as i32 != 0 {
        status.insert("code".into(), json!(s.status as i32));
    }
    if !s.status_message.is_empty() {
        status.insert("message".into(), json!(s.status_message));
    }
    m.insert("status".into(), Value::Object(status));
    Value::Object(m)
}

pub fn resource_spans(rs: &ResourceSpans) -> Value {
    json!({
        "resource": {"attributes": attributes(&rs.resource)},
        "scopeSpans": rs.scopes.iter().map(|ss| json!({
            "scope": scope(&ss.scope),
            "spans": ss.spans.iter().map(span).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
