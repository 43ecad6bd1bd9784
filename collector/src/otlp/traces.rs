//! OTLP spans to Lookout's span model, field for field (the model is shaped like OTLP):
//! resource and scope attributes, span attributes of every value kind (arrays and kvlists
//! kept whole), events, links, status, kind, trace state and parent.
//!
//! A span whose trace id is not 16 bytes or span id not 8 bytes, or either all zero, is
//! refused (the spec calls such ids invalid); so is a link with such ids. The rest of the
//! request is stored and the answer is a partial success counting the refused spans, with
//! the first reason. When every span is refused the request is a 400.

use lookout_store::model::span::{
    AttrValue, Attributes, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanId, SpanKind,
    SpanLink, StatusCode, TraceId,
};
use lookout_store::TenantId;

use super::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use super::proto::common::v1::any_value::Value;
use super::proto::common::v1::{AnyValue, KeyValue};
use super::proto::trace::v1 as otlp;
use crate::error::{Error, Result};
use crate::spans::SpanIngest;

/// Stores a request's spans and answers as OTLP does: full success, or a partial success
/// naming how many spans were refused and why.
pub fn export(
    ingest: &SpanIngest,
    tenant: &TenantId,
    req: ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse> {
    let mapped = map(req);
    if mapped.rejected > 0 && mapped.accepted == 0 {
        return Err(Error::BadRequest(mapped.message()));
    }
    if mapped.accepted > 0 {
        ingest.sink.append_spans(tenant, &mapped.spans)?;
    }
    Ok(ExportTraceServiceResponse {
        partial_success: (mapped.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: mapped.rejected as i64,
            error_message: mapped.message(),
        }),
    })
}

/// A request mapped to the span model, with what was refused.
#[derive(Debug, Default)]
pub struct Mapped {
    pub spans: Vec<ResourceSpans>,
    pub accepted: u64,
    pub rejected: u64,
    /// Why the first refused span was refused.
    pub first_reason: Option<String>,
}

impl Mapped {
    fn message(&self) -> String {
        format!(
            "{} of {} spans were refused; the first: {}",
            self.rejected,
            self.rejected + self.accepted,
            self.first_reason.as_deref().unwrap_or("invalid span")
        )
    }
}

/// Maps a request's spans; resources and scopes left without a span are dropped.
pub fn map(req: ExportTraceServiceRequest) -> Mapped {
    let mut out = Mapped::default();
    for rs in req.resource_spans {
        let resource = rs.resource.map(|r| attributes(r.attributes));
        let mut scopes = Vec::new();
        for ss in rs.scope_spans {
            let scope = ss.scope.map_or_else(Scope::default, |s| Scope {
                name: s.name,
                version: s.version,
                attributes: attributes(s.attributes),
            });
            let mut spans = Vec::with_capacity(ss.spans.len());
            for s in ss.spans {
                match span(s) {
                    Ok(s) => {
                        out.accepted += 1;
                        spans.push(s);
                    }
                    Err(reason) => {
                        out.rejected += 1;
                        out.first_reason.get_or_insert(reason);
                    }
                }
            }
            if !spans.is_empty() {
                scopes.push(ScopeSpans { scope, spans });
            }
        }
        if !scopes.is_empty() {
            out.spans.push(ResourceSpans {
                resource: resource.unwrap_or_default(),
                scopes,
            });
        }
    }
    out
}

fn id<const N: usize>(b: &[u8], what: &str, span: &str) -> std::result::Result<[u8; N], String> {
    match <[u8; N]>::try_from(b) {
        Ok(a) if a != [0; N] => Ok(a),
        Ok(_) => Err(format!(
            "span {span:?} has an all-zero {what}, which OTLP calls invalid"
        )),
        Err(_) => Err(format!(
            "span {span:?} has a {}-byte {what}; it must be {N} bytes",
            b.len()
        )),
    }
}

fn span(s: otlp::Span) -> std::result::Result<Span, String> {
    let trace_id: TraceId = id(&s.trace_id, "trace_id", &s.name)?;
    let span_id: SpanId = id(&s.span_id, "span_id", &s.name)?;
    let parent_span_id = match s.parent_span_id.as_slice() {
        [] => None,
        p if p.iter().all(|&b| b == 0) => None,
        p => Some(id(p, "parent_span_id", &s.name)?),
    };
    let links = s
        .links
        .into_iter()
        .map(|l| {
            Ok(SpanLink {
                trace_id: id(&l.trace_id, "link trace_id", &s.name)?,
                span_id: id(&l.span_id, "link span_id", &s.name)?,
                trace_state: l.trace_state,
                attributes: attributes(l.attributes),
            })
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let (status, status_message) = s.status.map_or((StatusCode::Unset, String::new()), |st| {
        let code = match st.code {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        };
        (code, st.message)
    });
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: s.trace_state,
        name: s.name,
        kind: kind(s.kind),
        start_ns: nanos(s.start_time_unix_nano),
        end_ns: nanos(s.end_time_unix_nano),
        status,
        status_message,
        attributes: attributes(s.attributes),
        events: s
            .events
            .into_iter()
            .map(|e| SpanEvent {
                time_ns: nanos(e.time_unix_nano),
                name: e.name,
                attributes: attributes(e.attributes),
            })
            .collect(),
        links,
    })
}

fn kind(k: i32) -> SpanKind {
    match k {
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

fn nanos(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// OTLP attributes as the model's; a key without a value is dropped.
pub fn attributes(kvs: Vec<KeyValue>) -> Attributes {
    kvs.into_iter()
        .filter_map(|kv| Some((kv.key, value(kv.value?)?)))
        .collect()
}

fn value(v: AnyValue) -> Option<AttrValue> {
    Some(match v.value? {
        Value::StringValue(s) => AttrValue::Str(s),
        Value::BoolValue(b) => AttrValue::Bool(b),
        Value::IntValue(i) => AttrValue::Int(i),
        Value::DoubleValue(d) => AttrValue::Float(d),
        Value::BytesValue(b) => AttrValue::Bytes(b),
        Value::ArrayValue(a) => AttrValue::Array(a.values.into_iter().filter_map(value).collect()),
        Value::KvlistValue(kv) => AttrValue::Map(attributes(kv.values)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::proto::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
    use crate::otlp::proto::resource::v1::Resource;

    fn kv(k: &str, v: Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
        }
    }

    fn request(spans: Vec<otlp::Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![otlp::ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", Value::StringValue("shop".into()))],
                    ..Default::default()
                }),
                scope_spans: vec![otlp::ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: "2".into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn good() -> otlp::Span {
        otlp::Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            parent_span_id: vec![3; 8],
            trace_state: "k=v".into(),
            name: "get".into(),
            kind: 2,
            start_time_unix_nano: 10,
            end_time_unix_nano: 30,
            attributes: vec![
                kv(
                    "arr",
                    Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(Value::IntValue(1)),
                        }],
                    }),
                ),
                kv(
                    "map",
                    Value::KvlistValue(KeyValueList {
                        values: vec![kv("a", Value::BoolValue(true))],
                    }),
                ),
                kv("d", Value::DoubleValue(0.5)),
            ],
            events: vec![otlp::span::Event {
                time_unix_nano: 20,
                name: "ev".into(),
                attributes: vec![kv("n", Value::IntValue(3))],
                ..Default::default()
            }],
            links: vec![otlp::span::Link {
                trace_id: vec![4; 16],
                span_id: vec![5; 8],
                ..Default::default()
            }],
            status: Some(otlp::Status {
                code: 2,
                message: "boom".into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn maps_every_field() {
        let m = map(request(vec![good()]));
        assert_eq!((m.accepted, m.rejected), (1, 0));
        let rs = &m.spans[0];
        assert_eq!(rs.service_name(), Some("shop"));
        assert_eq!(rs.scopes[0].scope.version, "2");
        let s = &rs.scopes[0].spans[0];
        assert_eq!(s.parent_span_id, Some([3; 8]));
        assert_eq!((s.kind, s.status), (SpanKind::Server, StatusCode::Error));
        assert_eq!(s.status_message, "boom");
        assert_eq!(s.trace_state, "k=v");
        assert_eq!(s.duration_ns(), 20);
        assert_eq!(s.attributes[0].1, AttrValue::Array(vec![AttrValue::Int(1)]));
        assert_eq!(
            s.attributes[1].1,
            AttrValue::Map(vec![("a".into(), AttrValue::Bool(true))])
        );
        assert_eq!(s.events[0].attributes[0].1, AttrValue::Int(3));
        assert_eq!(s.links[0].span_id, [5; 8]);
    }

    #[test]
    fn refuses_bad_ids_and_keeps_the_rest() {
        let zero = otlp::Span {
            trace_id: vec![0; 16],
            name: "zero".into(),
            ..good()
        };
        let short = otlp::Span {
            span_id: vec![1; 7],
            name: "short".into(),
            ..good()
        };
        let root = otlp::Span {
            parent_span_id: vec![0; 8],
            ..good()
        };
        let m = map(request(vec![zero, good(), short, root]));
        assert_eq!((m.accepted, m.rejected), (2, 2));
        assert!(m.message().contains("all-zero trace_id"), "{}", m.message());
        assert_eq!(m.spans[0].scopes[0].spans[1].parent_span_id, None);
        let only_bad = map(request(vec![otlp::Span {
            span_id: vec![1; 9],
            ..good()
        }]));
        assert!(only_bad.spans.is_empty());
        assert!(only_bad.message().contains("9-byte span_id"));
    }
}
