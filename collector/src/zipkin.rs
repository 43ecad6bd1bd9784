//! Zipkin v2 spans (`POST /api/v2/spans`, JSON and protobuf), as Spring applications
//! (Sleuth, Micrometer Tracing) and Envoy send them, mapped to Lookout's OTLP-shaped span
//! model the way the OpenTelemetry Collector's Zipkin receiver (which Tempo embeds) maps
//! them: `localEndpoint.serviceName` becomes the resource's `service.name`; the remote
//! endpoint becomes `net.peer.*` span attributes; tags become span attributes, except
//! `error` and `otel.status_code`/`otel.status_description`, which set the status, and
//! `otel.library.name`/`otel.library.version`, which name the scope; annotations become
//! events; microseconds become nanoseconds. Bodies may be gzip-compressed; a span with
//! an all-zero trace or span id makes the request a 400.

pub mod json;
pub mod proto;

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as HttpStatus};
use lookout_store::TenantId;

use lookout_store::model::span::{
    AttrValue, Attributes, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanId, SpanKind,
    StatusCode, TraceId,
};

use crate::error::{Error, Result};
use crate::spans::SpanIngest;

/// `POST /api/v2/spans`: JSON unless the content type says protobuf, gzip or not; 202
/// when stored.
pub(crate) async fn spans(
    State(st): State<SpanIngest>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<HttpStatus> {
    let body = crate::http::body_or_limit(body, st.max_body_bytes)?;
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let encoding = header("content-encoding").map(str::to_string);
    let ct = header("content-type").unwrap_or("application/json");
    let tenant = TenantId::from_request(st.multi_tenant, header("x-scope-orgid"))?;
    let proto = ct.contains("protobuf");
    if !proto && !ct.contains("json") {
        return Err(Error::UnsupportedMediaType(format!(
            "content-type {ct:?} is not supported for zipkin spans: use application/json or application/x-protobuf"
        )));
    }
    tokio::task::spawn_blocking(move || -> Result<()> {
        let raw = crate::logs::decode_body(encoding.as_deref(), &body, st.max_decoded_bytes)?;
        let decoded = if proto {
            proto::decode(&raw)?
        } else {
            json::decode(&raw)?
        };
        if let Some(z) = decoded
            .iter()
            .find(|z| z.trace_id == [0; 16] || z.id == [0; 8])
        {
            return Err(Error::BadRequest(format!(
                "zipkin span {:?} has an all-zero traceId or id; ids must not be zero",
                z.name
            )));
        }
        st.sink.append_spans(&tenant, &to_resource_spans(decoded))?;
        Ok(())
    })
    .await
    .map_err(|e| Error::Internal(format!("zipkin ingest task failed: {e}")))??;
    Ok(HttpStatus::ACCEPTED)
}

/// A Zipkin endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub service_name: String,
    pub ipv4: String,
    pub ipv6: String,
    pub port: i64,
}

/// One Zipkin span, decoded from either encoding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZipkinSpan {
    pub trace_id: TraceId,
    pub id: SpanId,
    pub parent_id: Option<SpanId>,
    pub name: String,
    pub kind: SpanKind,
    /// Microseconds since the epoch.
    pub timestamp_us: i64,
    pub duration_us: i64,
    pub local: Option<Endpoint>,
    pub remote: Option<Endpoint>,
    pub annotations: Vec<(i64, String)>,
    pub tags: BTreeMap<String, String>,
}

/// Parses a hex trace id (16 or 32 digits; Zipkin's 64-bit ids are left-padded).
pub fn trace_id(s: &str) -> Result<TraceId> {
    let bytes = hex(s, 32, "traceId")?;
    let mut id = [0u8; 16];
    id[16 - bytes.len()..].copy_from_slice(&bytes);
    Ok(id)
}

/// Parses a 16-digit hex span id.
pub fn span_id(s: &str, field: &str) -> Result<SpanId> {
    let bytes = hex(s, 16, field)?;
    let mut id = [0u8; 8];
    id[8 - bytes.len()..].copy_from_slice(&bytes);
    Ok(id)
}

fn hex(s: &str, max_digits: usize, field: &str) -> Result<Vec<u8>> {
    let bad = || {
        Error::BadRequest(format!(
            "zipkin span {field} {s:?} is not up to {max_digits} hexadecimal digits"
        ))
    };
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let padded = if s.len() % 2 == 1 {
        format!("0{s}")
    } else {
        s.to_string()
    };
    (0..padded.len() / 2)
        .map(|i| u8::from_str_radix(&padded[i * 2..i * 2 + 2], 16).map_err(|_| bad()))
        .collect()
}

/// The service a span's resource is named for; the OpenTelemetry receiver's placeholder
/// when the span names none.
fn service(s: &ZipkinSpan) -> String {
    s.local
        .as_ref()
        .map(|e| e.service_name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown_service".to_string())
}

/// Maps decoded Zipkin spans to resource spans, one resource per local service.
pub fn to_resource_spans(spans: Vec<ZipkinSpan>) -> Vec<ResourceSpans> {
    let mut by_service: BTreeMap<(String, String, String), Vec<Span>> = BTreeMap::new();
    for z in spans {
        let svc = service(&z);
        let mut attributes: Attributes = Vec::new();
        let mut status = StatusCode::Unset;
        let mut message = String::new();
        let mut lib = (String::new(), String::new());
        for (k, v) in &z.tags {
            match k.as_str() {
                "otel.status_code" => {
                    status = match v.as_str() {
                        "ERROR" => StatusCode::Error,
                        "OK" => StatusCode::Ok,
                        _ => StatusCode::Unset,
                    }
                }
                "otel.status_description" => message = v.clone(),
                "otel.library.name" | "otel.scope.name" => lib.0 = v.clone(),
                "otel.library.version" | "otel.scope.version" => lib.1 = v.clone(),
                "error" => {
                    status = StatusCode::Error;
                    // Zipkin's `error` tag holds the message ("true" when there is none).
                    if v != "true" && message.is_empty() {
                        message = v.clone();
                    }
                }
                _ => attributes.push((k.clone(), AttrValue::Str(v.clone()))),
            }
        }
        if let Some(r) = &z.remote {
            if !r.service_name.is_empty() {
                attributes.push((
                    "net.peer.name".into(),
                    AttrValue::Str(r.service_name.clone()),
                ));
            }
            let ip = if r.ipv4.is_empty() { &r.ipv6 } else { &r.ipv4 };
            if !ip.is_empty() {
                attributes.push(("net.peer.ip".into(), AttrValue::Str(ip.clone())));
            }
            if r.port != 0 {
                attributes.push(("net.peer.port".into(), AttrValue::Int(r.port)));
            }
        }
        if let Some(l) = &z.local {
            let ip = if l.ipv4.is_empty() { &l.ipv6 } else { &l.ipv4 };
            if !ip.is_empty() {
                attributes.push(("net.host.ip".into(), AttrValue::Str(ip.clone())));
            }
            if l.port != 0 {
                attributes.push(("net.host.port".into(), AttrValue::Int(l.port)));
            }
        }
        let start_ns = z.timestamp_us.saturating_mul(1_000);
        let span = Span {
            trace_id: z.trace_id,
            span_id: z.id,
            parent_span_id: z.parent_id.filter(|p| *p != [0; 8]),
            name: z.name,
            kind: z.kind,
            start_ns,
            end_ns: start_ns.saturating_add(z.duration_us.saturating_mul(1_000)),
            status,
            status_message: message,
            attributes,
            events: z
                .annotations
                .into_iter()
                .map(|(ts, v)| SpanEvent {
                    time_ns: ts.saturating_mul(1_000),
                    name: v,
                    attributes: Vec::new(),
                })
                .collect(),
            ..Default::default()
        };
        by_service
            .entry((svc, lib.0, lib.1))
            .or_default()
            .push(span);
    }
    by_service
        .into_iter()
        .map(|((svc, name, version), spans)| ResourceSpans {
            resource: vec![("service.name".into(), AttrValue::Str(svc))],
            scopes: vec![ScopeSpans {
                scope: Scope {
                    name,
                    version,
                    attributes: Vec::new(),
                },
                spans,
            }],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_pad_and_refuse() {
        assert_eq!(trace_id("463ac35c9f6413ad").unwrap()[..8], [0; 8]);
        assert_eq!(
            trace_id("463ac35c9f6413ad48485a3953bb6124").unwrap()[0],
            0x46
        );
        assert_eq!(span_id("a2fb4a1d1a96d312", "id").unwrap()[7], 0x12);
        assert_eq!(span_id("abc", "id").unwrap()[6..], [0x0a, 0xbc]);
        for bad in ["", "xyz", &"a".repeat(33)] {
            assert!(trace_id(bad).is_err());
        }
        assert!(span_id(&"a".repeat(17), "id").is_err());
    }

    #[test]
    fn mapping_follows_the_otel_zipkin_receiver() {
        let mut tags = BTreeMap::new();
        tags.insert("http.method".to_string(), "GET".to_string());
        tags.insert("error".to_string(), "connection reset".to_string());
        tags.insert("otel.library.name".to_string(), "spring".to_string());
        let z = ZipkinSpan {
            trace_id: [1; 16],
            id: [2; 8],
            parent_id: Some([3; 8]),
            name: "get /a".into(),
            kind: SpanKind::Server,
            timestamp_us: 1_700_000_000_000_000,
            duration_us: 1500,
            local: Some(Endpoint {
                service_name: "shop".into(),
                ipv4: "10.0.0.1".into(),
                ..Default::default()
            }),
            remote: Some(Endpoint {
                service_name: "client".into(),
                port: 8080,
                ..Default::default()
            }),
            annotations: vec![(1_700_000_000_000_100, "wr".into())],
            tags,
        };
        let rs = to_resource_spans(vec![z]);
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].service_name(), Some("shop"));
        assert_eq!(rs[0].scopes[0].scope.name, "spring");
        let s = &rs[0].scopes[0].spans[0];
        assert_eq!(s.start_ns, 1_700_000_000_000_000_000);
        assert_eq!(s.end_ns - s.start_ns, 1_500_000);
        assert_eq!(s.status, StatusCode::Error);
        assert_eq!(s.status_message, "connection reset");
        assert_eq!(s.parent_span_id, Some([3; 8]));
        assert_eq!(s.events[0].name, "wr");
        assert_eq!(s.events[0].time_ns, 1_700_000_000_000_100_000);
        let keys: Vec<&str> = s.attributes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "http.method",
                "net.peer.name",
                "net.peer.port",
                "net.host.ip"
            ]
        );
    }
}
