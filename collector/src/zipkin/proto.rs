//! Zipkin v2 protobuf (`zipkin.proto3`'s `ListOfSpans`): the messages are a handful of
//! fields, declared here with prost's derive rather than generated from the .proto.

use std::collections::BTreeMap;

use lookout_store::model::span::{SpanId, SpanKind, TraceId};
use prost::Message;

use super::{Endpoint, ZipkinSpan};
use crate::error::{Error, Result};

#[derive(Clone, PartialEq, Message)]
pub struct ListOfSpans {
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<ProtoSpan>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProtoSpan {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub parent_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub id: Vec<u8>,
    #[prost(int32, tag = "4")]
    pub kind: i32,
    #[prost(string, tag = "5")]
    pub name: String,
    #[prost(fixed64, tag = "6")]
    pub timestamp: u64,
    #[prost(uint64, tag = "7")]
    pub duration: u64,
    #[prost(message, optional, tag = "8")]
    pub local_endpoint: Option<ProtoEndpoint>,
    #[prost(message, optional, tag = "9")]
    pub remote_endpoint: Option<ProtoEndpoint>,
    #[prost(message, repeated, tag = "10")]
    pub annotations: Vec<ProtoAnnotation>,
    #[prost(btree_map = "string, string", tag = "11")]
    pub tags: BTreeMap<String, String>,
    #[prost(bool, tag = "12")]
    pub debug: bool,
    #[prost(bool, tag = "13")]
    pub shared: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProtoEndpoint {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(bytes = "vec", tag = "2")]
    pub ipv4: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub ipv6: Vec<u8>,
    #[prost(int32, tag = "4")]
    pub port: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProtoAnnotation {
    #[prost(fixed64, tag = "1")]
    pub timestamp: u64,
    #[prost(string, tag = "2")]
    pub value: String,
}

fn fixed<const N: usize>(b: &[u8], field: &str) -> Result<[u8; N]> {
    if b.is_empty() || b.len() > N {
        return Err(Error::BadRequest(format!(
            "zipkin span {field} has {} bytes; expected 1 to {N}",
            b.len()
        )));
    }
    let mut out = [0u8; N];
    out[N - b.len()..].copy_from_slice(b);
    Ok(out)
}

fn endpoint(e: Option<ProtoEndpoint>) -> Option<Endpoint> {
    e.map(|e| Endpoint {
        service_name: e.service_name,
        ipv4: match <[u8; 4]>::try_from(e.ipv4.as_slice()) {
            Ok(a) => std::net::Ipv4Addr::from(a).to_string(),
            Err(_) => String::new(),
        },
        ipv6: match <[u8; 16]>::try_from(e.ipv6.as_slice()) {
            Ok(a) => std::net::Ipv6Addr::from(a).to_string(),
            Err(_) => String::new(),
        },
        port: i64::from(e.port),
    })
}

/// Decodes a protobuf body.
pub fn decode(body: &[u8]) -> Result<Vec<ZipkinSpan>> {
    let list = ListOfSpans::decode(body)
        .map_err(|e| Error::BadRequest(format!("invalid zipkin v2 protobuf: {e}")))?;
    list.spans
        .into_iter()
        .map(|s| {
            let trace_id: TraceId = fixed(&s.trace_id, "trace_id")?;
            let id: SpanId = fixed(&s.id, "id")?;
            let parent_id = if s.parent_id.is_empty() {
                None
            } else {
                Some(fixed::<8>(&s.parent_id, "parent_id")?)
            };
            let kind = match s.kind {
                1 => SpanKind::Client,
                2 => SpanKind::Server,
                3 => SpanKind::Producer,
                4 => SpanKind::Consumer,
                _ => SpanKind::Unspecified,
            };
            Ok(ZipkinSpan {
                trace_id,
                id,
                parent_id,
                name: s.name,
                kind,
                timestamp_us: i64::try_from(s.timestamp).unwrap_or(i64::MAX),
                duration_us: i64::try_from(s.duration).unwrap_or(i64::MAX),
                local: endpoint(s.local_endpoint),
                remote: endpoint(s.remote_endpoint),
                annotations: s
                    .annotations
                    .into_iter()
                    .map(|a| (i64::try_from(a.timestamp).unwrap_or(i64::MAX), a.value))
                    .collect(),
                tags: s.tags,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_span_and_refuses_garbage() {
        let list = ListOfSpans {
            spans: vec![ProtoSpan {
                trace_id: vec![1; 16],
                id: vec![2; 8],
                kind: 2,
                name: "x".into(),
                timestamp: 1_700_000_000_000_000,
                duration: 10,
                local_endpoint: Some(ProtoEndpoint {
                    service_name: "svc".into(),
                    ipv4: vec![10, 0, 0, 1],
                    ..Default::default()
                }),
                ..Default::default()
            }],
        };
        let got = decode(&list.encode_to_vec()).unwrap();
        assert_eq!(got[0].kind, SpanKind::Server);
        assert_eq!(got[0].local.as_ref().unwrap().ipv4, "10.0.0.1");
        assert_eq!(got[0].parent_id, None);
        assert!(decode(&[0xff, 0xff, 0xff]).is_err());
        let bad = ListOfSpans {
            spans: vec![ProtoSpan {
                trace_id: vec![1; 17],
                id: vec![2; 8],
                ..Default::default()
            }],
        };
        assert!(decode(&bad.encode_to_vec())
            .unwrap_err()
            .to_string()
            .contains("trace_id"));
    }
}
