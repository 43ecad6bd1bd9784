//! Zipkin v2 JSON: an array of span objects (ids in hex, times in microseconds).

use std::collections::BTreeMap;

use lookout_store::model::span::SpanKind;
use serde::Deserialize;

use super::{span_id, trace_id, Endpoint, ZipkinSpan};
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan {
    trace_id: String,
    id: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    duration: Option<i64>,
    #[serde(default)]
    local_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    remote_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    annotations: Vec<JsonAnnotation>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonEndpoint {
    #[serde(default)]
    service_name: Option<String>,
    #[serde(default)]
    ipv4: Option<String>,
    #[serde(default)]
    ipv6: Option<String>,
    #[serde(default)]
    port: Option<i64>,
}

#[derive(Deserialize)]
struct JsonAnnotation {
    timestamp: i64,
    value: String,
}

fn endpoint(e: Option<JsonEndpoint>) -> Option<Endpoint> {
    e.map(|e| Endpoint {
        service_name: e.service_name.unwrap_or_default(),
        ipv4: e.ipv4.unwrap_or_default(),
        ipv6: e.ipv6.unwrap_or_default(),
        port: e.port.unwrap_or(0),
    })
}

pub fn kind(k: Option<&str>) -> Result<SpanKind> {
    Ok(match k {
        None | Some("") => SpanKind::Unspecified,
        Some("CLIENT") => SpanKind::Client,
        Some("SERVER") => SpanKind::Server,
        Some("PRODUCER") => SpanKind::Producer,
        Some("CONSUMER") => SpanKind::Consumer,
        Some(other) => {
            return Err(Error::BadRequest(format!(
                "zipkin span kind {other:?} is not CLIENT, SERVER, PRODUCER or CONSUMER"
            )))
        }
    })
}

/// Decodes a JSON body: `[{"traceId": …, "id": …, …}, …]`.
pub fn decode(body: &[u8]) -> Result<Vec<ZipkinSpan>> {
    let spans: Vec<JsonSpan> = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("invalid zipkin v2 JSON: {e}")))?;
    spans
        .into_iter()
        .map(|s| {
            Ok(ZipkinSpan {
                trace_id: trace_id(&s.trace_id)?,
                id: span_id(&s.id, "id")?,
                parent_id: s
                    .parent_id
                    .filter(|p| !p.is_empty())
                    .map(|p| span_id(&p, "parentId"))
                    .transpose()?,
                name: s.name.unwrap_or_default(),
                kind: kind(s.kind.as_deref())?,
                timestamp_us: s.timestamp.unwrap_or(0),
                duration_us: s.duration.unwrap_or(0),
                local: endpoint(s.local_endpoint),
                remote: endpoint(s.remote_endpoint),
                annotations: s
                    .annotations
                    .into_iter()
                    .map(|a| (a.timestamp, a.value))
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
    fn decodes_what_zipkin_reporters_send() {
        let body = br#"[{"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c",
            "id":"352bff9a74ca9ad2","kind":"CLIENT","name":"get /api","timestamp":1556604172355737,
            "duration":1431,"localEndpoint":{"serviceName":"frontend","ipv4":"192.168.99.1"},
            "remoteEndpoint":{"serviceName":"backend","ipv4":"172.19.0.2","port":9000},
            "annotations":[{"timestamp":1556604172355800,"value":"ws"}],
            "tags":{"http.method":"GET","http.path":"/api"}}]"#;
        let s = decode(body).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].kind, SpanKind::Client);
        assert_eq!(s[0].duration_us, 1431);
        assert_eq!(s[0].remote.as_ref().unwrap().port, 9000);
        assert_eq!(s[0].tags["http.path"], "/api");
        assert_eq!(s[0].trace_id[8], 0x5a);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for (body, want) in [
            (&b"{}"[..], "invalid zipkin v2 JSON"),
            (br#"[{"traceId":"zz","id":"1"}]"#, "traceId"),
            (
                br#"[{"traceId":"1","id":"1","kind":"SIDEWAYS"}]"#,
                "SIDEWAYS",
            ),
            (br#"[{"traceId":"1"}]"#, "missing field `id`"),
        ] {
            let e = decode(body).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
