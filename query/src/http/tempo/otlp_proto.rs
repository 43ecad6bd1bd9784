//! Spans as protobuf, for Grafana's Tempo datasource (`Accept: application/protobuf`):
//! v1 answers `tempopb.Trace`, which is wire-identical to OTLP's `TracesData` (field 1,
//! repeated `ResourceSpans`); v2 answers `tempopb.TraceByIDResponse`, declared here.

use lookout_store::model::span::{AttrValue, Attributes, ResourceSpans, Span};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as otlp;
use prost::Message;

/// Tempo's `TraceByIDResponse`: the trace, the lookup's metrics, and whether it is
/// complete (`PartialStatus`: 0 complete, 1 partial).
#[derive(Clone, PartialEq, Message)]
pub struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    pub trace: Option<otlp::TracesData>,
    #[prost(message, optional, tag = "2")]
    pub metrics: Option<TraceByIdMetrics>,
    #[prost(int32, tag = "3")]
    pub status: i32,
    #[prost(string, tag = "4")]
    pub message: String,
}

/// Tempo's `TraceByIDMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct TraceByIdMetrics {
    #[prost(uint32, tag = "1")]
    pub failed_blocks: u32,
}

/// The v1 body: `tempopb.Trace` bytes.
pub fn trace(batches: &[ResourceSpans]) -> Vec<u8> {
    traces_data(batches).encode_to_vec()
}

/// The v2 body: a complete `TraceByIDResponse`.
pub fn trace_by_id(batches: &[ResourceSpans]) -> Vec<u8> {
    TraceByIdResponse {
        trace: Some(traces_data(batches)),
        metrics: Some(TraceByIdMetrics::default()),
        status: 0,
        message: String::new(),
    }
    .encode_to_vec()
}

pub fn traces_data(batches: &[ResourceSpans]) -> otlp::TracesData {
    otlp::TracesData {
        resource_spans: batches.iter().map(resource_spans).collect(),
    }
}

fn resource_spans(rs: &ResourceSpans) -> otlp::ResourceSpans {
    otlp::ResourceSpans {
        resource: Some(Resource {
            attributes: attributes(&rs.resource),
            ..Default::default()
        }),
        scope_spans: rs
            .scopes
            .iter()
            .map(|ss| otlp::ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: ss.scope.name.clone(),
                    version: ss.scope.version.clone(),
                    attributes: attributes(&ss.scope.attributes),
                    dropped_attributes_count: 0,
                }),
                spans: ss.spans.iter().map(span).collect(),
                schema_url: String::new(),
            })
            .collect(),
        schema_url: String::new(),
    }
}

fn nanos(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0)
}

fn span(s: &Span) -> otlp::Span {
    otlp::Span {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        flags: 0,
        name: s.name.clone(),
        kind: s.kind as i32,
        start_time_unix_nano: nanos(s.start_ns),
        end_time_unix_nano: nanos(s.end_ns),
        attributes: attributes(&s.attributes),
        dropped_attributes_count: 0,
        events: s
            .events
            .iter()
            .map(|e| otlp::span::Event {
                time_unix_nano: nanos(e.time_ns),
                name: e.name.clone(),
                attributes: attributes(&e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: 0,
        links: s
            .links
            .iter()
            .map(|l| otlp::span::Link {
                trace_id: l.trace_id.to_vec(),
                span_id: l.span_id.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: attributes(&l.attributes),
                dropped_attributes_count: 0,
                flags: 0,
            })
            .collect(),
        dropped_links_count: 0,
        status: Some(otlp::Status {
            message: s.status_message.clone(),
            code: s.status as i32,
        }),
    }
}

fn attributes(attrs: &Attributes) -> Vec<KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(any_value(v)),
        })
        .collect()
}

fn any_value(v: &AttrValue) -> AnyValue {
    use any_value::Value;
    let value = match v {
        AttrValue::Str(s) => Value::StringValue(s.clone()),
        AttrValue::Bool(b) => Value::BoolValue(*b),
        AttrValue::Int(i) => Value::IntValue(*i),
        AttrValue::Float(f) => Value::DoubleValue(*f),
        AttrValue::Bytes(b) => Value::BytesValue(b.clone()),
        AttrValue::Array(a) => Value::ArrayValue(ArrayValue {
            values: a.iter().map(any_value).collect(),
        }),
        AttrValue::Map(m) => Value::KvlistValue(KeyValueList {
            values: attributes(m),
        }),
    };
    AnyValue { value: Some(value) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_store::model::span::{ScopeSpans, StatusCode};

    #[test]
    fn v2_wraps_the_trace_in_field_1() {
        let rs = vec![ResourceSpans {
            resource: vec![("service.name".into(), AttrValue::Str("shop".into()))],
            scopes: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: [1; 16],
                    span_id: [2; 8],
                    parent_span_id: Some([3; 8]),
                    name: "get".into(),
                    start_ns: 5,
                    end_ns: 9,
                    status: StatusCode::Error,
                    attributes: vec![(
                        "m".into(),
                        AttrValue::Map(vec![(
                            "a".into(),
                            AttrValue::Array(vec![AttrValue::Int(1)]),
                        )]),
                    )],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }];
        let v2 = TraceByIdResponse::decode(trace_by_id(&rs).as_slice()).unwrap();
        let v1 = otlp::TracesData::decode(trace(&rs).as_slice()).unwrap();
        assert_eq!(v2.trace.as_ref(), Some(&v1));
        let s = &v1.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(s.parent_span_id, vec![3; 8]);
        assert_eq!(s.status.as_ref().unwrap().code, 2);
        assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (5, 9));
    }
}
