//! OTLP log records to Lookout's log model, as Loki's OTLP endpoint maps them:
//!
//! - resource attributes on Loki's default list (`service.name`, `k8s.pod.name`, …) become
//!   stream labels, dots and other characters a label name cannot hold turned into `_`;
//!   a resource without `service.name` gets `service_name="unknown_service"`;
//! - every other resource attribute, the scope's name, version and attributes, and the
//!   record's attributes become structured metadata (maps flattened to `parent_child`);
//! - `severity_text`, `severity_number`, `trace_id` and `span_id` (hex), `flags` and
//!   `dropped_attributes_count` become metadata when set, and `detected_level` is derived
//!   from the severity as Loki's level discovery does;
//! - the body is the line: a string as is, anything else as Loki's `AsString` writes it
//!   (JSON for maps and arrays);
//! - the timestamp is `time_unix_nano`, else `observed_time_unix_nano`, else the clock.

use std::collections::BTreeMap;

use lookout_store::TenantId;

use super::proto::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use super::proto::common::v1::any_value::Value;
use super::proto::common::v1::{AnyValue, KeyValue};
use crate::error::Result;
use crate::logs::{Batch, LogIngest, Protocol};

/// Resource attributes that Loki makes stream labels by default
/// (`default_resource_attributes_as_index_labels`).
pub const RESOURCE_LABELS: [&str; 18] = [
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// Stores a request's records and answers as OTLP does: full success, or a partial
/// success naming how many records were refused and why.
pub fn export(
    ingest: &LogIngest,
    tenant: &TenantId,
    req: ExportLogsServiceRequest,
) -> Result<ExportLogsServiceResponse> {
    let mut batch = ingest.batch();
    add(&mut batch, req);
    let outcome = ingest.ingest(tenant, Protocol::Otlp, batch)?;
    Ok(ExportLogsServiceResponse {
        partial_success: outcome.message.map(|m| ExportLogsPartialSuccess {
            rejected_log_records: outcome.rejected as i64,
            error_message: m,
        }),
    })
}

/// Maps a request's records into `batch`.
pub fn add(batch: &mut Batch<'_>, req: ExportLogsServiceRequest) {
    for rl in req.resource_logs {
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        let mut resource_meta: Vec<(String, String)> = Vec::new();
        let mut has_service = false;
        for kv in rl.resource.map(|r| r.attributes).unwrap_or_default() {
            if RESOURCE_LABELS.contains(&kv.key.as_str()) {
                has_service |= kv.key == "service.name";
                let mut flat = Vec::new();
                flatten(&kv.key, kv.value.as_ref(), &mut flat);
                labels.extend(flat);
            } else {
                flatten(&kv.key, kv.value.as_ref(), &mut resource_meta);
            }
        }
        if !has_service {
            labels.insert("service_name".into(), "unknown_service".into());
        }
        let stream = batch.stream(labels.into_iter().collect());
        for sl in rl.scope_logs {
            let mut scope_meta: Vec<(String, String)> = Vec::new();
            if let Some(scope) = sl.scope {
                for kv in &scope.attributes {
                    flatten(&kv.key, kv.value.as_ref(), &mut scope_meta);
                }
                if !scope.name.is_empty() {
                    scope_meta.push(("scope_name".into(), scope.name));
                }
                if !scope.version.is_empty() {
                    scope_meta.push(("scope_version".into(), scope.version));
                }
                if scope.dropped_attributes_count != 0 {
                    scope_meta.push((
                        "scope_dropped_attributes_count".into(),
                        scope.dropped_attributes_count.to_string(),
                    ));
                }
            }
            let shared: usize = resource_meta
                .iter()
                .chain(&scope_meta)
                .map(|(n, v)| n.len() + v.len())
                .sum();
            let max = batch.limits().max_structured_metadata_size;
            if max > 0 && shared > max {
                // Refused without copying the shared attributes onto every record.
                batch.refuse_lines(
                    crate::logs::LogReason::MetadataTooLarge,
                    sl.log_records.len() as u64,
                    format!("the resource and scope attributes of {} records take {shared} bytes as structured metadata, over the limit of {max} (limits.max_structured_metadata_size)", sl.log_records.len()),
                );
                continue;
            }
            for r in sl.log_records {
                if batch.full() {
                    return;
                }
                // Resource, then scope, then record: a record's own attribute wins a clash.
                let mut meta = resource_meta.clone();
                meta.extend(scope_meta.iter().cloned());
                for kv in &r.attributes {
                    flatten(&kv.key, kv.value.as_ref(), &mut meta);
                }
                if r.severity_number != 0 {
                    meta.push(("severity_number".into(), r.severity_number.to_string()));
                }
                if !r.severity_text.is_empty() {
                    meta.push(("severity_text".into(), r.severity_text.clone()));
                }
                if let Some(level) = detected_level(r.severity_number, &r.severity_text) {
                    meta.push(("detected_level".into(), level.into()));
                }
                if r.dropped_attributes_count != 0 {
                    meta.push((
                        "dropped_attributes_count".into(),
                        r.dropped_attributes_count.to_string(),
                    ));
                }
                if r.flags != 0 {
                    meta.push(("flags".into(), r.flags.to_string()));
                }
                if !r.trace_id.is_empty() && r.trace_id.iter().any(|&b| b != 0) {
                    meta.push(("trace_id".into(), hex(&r.trace_id)));
                }
                if !r.span_id.is_empty() && r.span_id.iter().any(|&b| b != 0) {
                    meta.push(("span_id".into(), hex(&r.span_id)));
                }
                if !r.event_name.is_empty() {
                    meta.push(("event_name".into(), r.event_name.clone()));
                }
                let ts = [r.time_unix_nano, r.observed_time_unix_nano]
                    .into_iter()
                    .find(|&t| t != 0)
                    .map_or(batch.now_ns(), |t| i64::try_from(t).unwrap_or(i64::MAX));
                let line = r.body.as_ref().map(as_string).unwrap_or_default();
                batch.push(stream, ts, line, meta);
            }
        }
    }
}

/// Loki's level for an OTLP severity: by number when set, else by the text.
fn detected_level(number: i32, text: &str) -> Option<&'static str> {
    Some(match number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => match text.trim().to_ascii_lowercase().as_str() {
            "" => return None,
            "trace" => "trace",
            "debug" | "dbg" => "debug",
            "info" | "information" | "informational" | "notice" => "info",
            "warn" | "warning" => "warn",
            "error" | "err" => "error",
            "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency" | "panic" => "fatal",
            _ => "unknown",
        },
    })
}

/// An attribute name as a label name: every character but `[a-zA-Z0-9_]` becomes `_`,
/// and a leading digit gets a `key_` prefix (Prometheus' `NormalizeLabel`).
pub fn label_name(key: &str) -> String {
    let mut s: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "key_");
    }
    s
}

/// An attribute as (name, value) pairs: maps flattened to `parent_child` names.
fn flatten(key: &str, value: Option<&AnyValue>, out: &mut Vec<(String, String)>) {
    let name = label_name(key);
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::KvlistValue(kvs)) => {
            for kv in &kvs.values {
                flatten(&format!("{name}_{}", kv.key), kv.value.as_ref(), out);
            }
        }
        Some(_) => {
            if let Some(v) = value {
                out.push((name, as_string(v)));
            }
        }
        None => {}
    }
}

/// A value as text, as pdata's `AsString` writes it.
pub fn as_string(v: &AnyValue) -> String {
    match &v.value {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => fmt_double(*d),
        Some(Value::BytesValue(b)) => super::json::base64_encode(b),
        Some(_) => to_json(v).to_string(),
    }
}

fn fmt_double(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        d.to_string()
    }
}

/// A value as plain JSON (maps as objects, arrays as arrays), for non-string bodies.
fn to_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        None => J::Null,
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or_else(|| J::String(fmt_double(*d))),
        Some(Value::BytesValue(b)) => J::String(super::json::base64_encode(b)),
        Some(Value::ArrayValue(a)) => J::Array(a.values.iter().map(to_json).collect()),
        Some(Value::KvlistValue(kvs)) => J::Object(
            kvs.values
                .iter()
                .map(|KeyValue { key, value }| {
                    (key.clone(), value.as_ref().map_or(J::Null, to_json))
                })
                .collect(),
        ),
    }
}

fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(D[usize::from(x >> 4)] as char);
        s.push(D[usize::from(x & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogLimits;
    use crate::otlp::proto::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
    use crate::otlp::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use crate::otlp::proto::resource::v1::Resource;

    fn s(v: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        })
    }

    fn kv(k: &str, v: Option<AnyValue>) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: v,
        }
    }

    pub(crate) fn sample_request() -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", s("shop")),
                        kv("k8s.pod.name", s("shop-1")),
                        kv("host.name", s("h1")),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: "1.0".into(),
                        ..Default::default()
                    }),
                    log_records: vec![
                        LogRecord {
                            time_unix_nano: 1_700_000_000_000_000_001,
                            severity_number: 17,
                            severity_text: "ERROR".into(),
                            body: s("boom"),
                            attributes: vec![
                                kv(
                                    "http.status_code",
                                    Some(AnyValue {
                                        value: Some(Value::IntValue(500)),
                                    }),
                                ),
                                kv(
                                    "ctx",
                                    Some(AnyValue {
                                        value: Some(Value::KvlistValue(KeyValueList {
                                            values: vec![kv("user", s("u1"))],
                                        })),
                                    }),
                                ),
                            ],
                            trace_id: vec![0x2f; 16],
                            span_id: vec![0x56; 8],
                            ..Default::default()
                        },
                        LogRecord {
                            observed_time_unix_nano: 1_700_000_000_000_000_002,
                            body: Some(AnyValue {
                                value: Some(Value::KvlistValue(KeyValueList {
                                    values: vec![
                                        kv(
                                            "a",
                                            Some(AnyValue {
                                                value: Some(Value::IntValue(1)),
                                            }),
                                        ),
                                        kv(
                                            "b",
                                            Some(AnyValue {
                                                value: Some(Value::ArrayValue(ArrayValue {
                                                    values: vec![s("x").unwrap_or_default()],
                                                })),
                                            }),
                                        ),
                                    ],
                                })),
                            }),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn maps_as_loki_does() {
        let limits = LogLimits::default();
        let mut b = Batch::new(&limits, 1_700_000_000_000);
        add(&mut b, sample_request());
        let streams = b.into_streams();
        assert_eq!(streams.len(), 1);
        assert_eq!(
            streams[0].labels.to_string(),
            r#"{k8s_pod_name="shop-1", service_name="shop"}"#
        );
        let r = &streams[0].records;
        assert_eq!(r[0].ts_ns, 1_700_000_000_000_000_001);
        assert_eq!(r[0].line, "boom");
        let m: BTreeMap<_, _> = r[0].metadata.iter().cloned().collect();
        assert_eq!(m["host_name"], "h1");
        assert_eq!(m["scope_name"], "lib");
        assert_eq!(m["scope_version"], "1.0");
        assert_eq!(m["http_status_code"], "500");
        assert_eq!(m["ctx_user"], "u1");
        assert_eq!(m["severity_text"], "ERROR");
        assert_eq!(m["severity_number"], "17");
        assert_eq!(m["detected_level"], "error");
        assert_eq!(m["trace_id"], "2f".repeat(16));
        assert_eq!(m["span_id"], "56".repeat(8));
        assert_eq!(r[1].ts_ns, 1_700_000_000_000_000_002);
        assert_eq!(r[1].line, r#"{"a":1,"b":["x"]}"#);
    }

    #[test]
    fn without_service_name_the_stream_is_unknown_service() {
        let limits = LogLimits::default();
        let mut b = Batch::new(&limits, 5);
        add(
            &mut b,
            ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    scope_logs: vec![ScopeLogs {
                        log_records: vec![LogRecord::default()],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            },
        );
        let streams = b.into_streams();
        assert_eq!(
            streams[0].labels.to_string(),
            r#"{service_name="unknown_service"}"#
        );
        assert_eq!(streams[0].records[0].ts_ns, 5_000_000);
        assert_eq!(streams[0].records[0].line, "");
    }

    #[test]
    fn names_become_label_names() {
        assert_eq!(label_name("k8s.pod.name"), "k8s_pod_name");
        assert_eq!(label_name("1st-thing"), "key_1st_thing");
        assert_eq!(label_name("é"), "_");
    }
}
