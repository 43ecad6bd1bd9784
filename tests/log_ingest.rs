//! Log ingest end to end, with real clients: Loki push in JSON (plain and gzip) and
//! snappy protobuf, syslog sent by util-linux `logger` over TCP and UDP in both formats,
//! OTLP logs sent by the Python OpenTelemetry SDK's HTTP and gRPC exporters (installed by
//! test.sh under target/otel-venv). Arrival is checked by Lookout's own counters
//! (`lookout_logs_lines_received_total`); the `*_read_back` tests read the lines back
//! through the Loki API (`/loki/api/v1/query_range`).

mod common;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, TestDir};
use lookout_collector::loki_push::{
    encode, EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

struct Setup {
    _dir: TestDir,
    server: Server,
    grpc: u16,
    tcp: u16,
    udp: u16,
}

fn start(extra: &str) -> Setup {
    let dir = TestDir::new();
    let (grpc, tcp, udp) = (
        common::free_tcp_port(),
        common::free_tcp_port(),
        free_udp_port(),
    );
    let config = format!(
        "otlp: {{grpc_listen: '127.0.0.1:{grpc}'}}\nsyslog:\n  - {{listen: '127.0.0.1:{tcp}', protocol: tcp, labels: {{job: syslog}}}}\n  - {{listen: '127.0.0.1:{udp}', protocol: udp, labels: {{job: syslog}}}}\n{extra}"
    );
    let server = Server::start_real_clock(&dir.data(), Some(&config));
    Setup {
        _dir: dir,
        server,
        grpc,
        tcp,
        udp,
    }
}

fn post(s: &Server, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = s.client.post(s.url(path)).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().expect("post");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

/// The value of `lookout_logs_lines_received_total{protocol=...}`.
fn received(s: &Server, protocol: &str) -> u64 {
    let (_, text) = s.get("/metrics", None);
    let want = format!("lookout_logs_lines_received_total{{protocol=\"{protocol}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&want))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_received(s: &Server, protocol: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while received(s, protocol) < n {
        assert!(
            Instant::now() < deadline,
            "{protocol}: {} of {n} lines arrived; server log:\n{}",
            received(s, protocol),
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Lines of a LogQL selector, newest first, through the Loki API.
fn query_lines(s: &Server, query: &str) -> Vec<(serde_json::Value, String)> {
    let end = now_ns() + 60_000_000_000;
    let start = end - 3_600_000_000_000;
    let path = format!(
        "/loki/api/v1/query_range?query={}&start={start}&end={end}&limit=1000",
        url_escape(query)
    );
    let (code, v) = s.get_json(&path, None);
    assert_eq!(code, 200, "{v}");
    let mut out = Vec::new();
    for stream in v["data"]["result"].as_array().cloned().unwrap_or_default() {
        for e in stream["values"].as_array().cloned().unwrap_or_default() {
            out.push((
                stream["stream"].clone(),
                e[1].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn push_all(s: &Server) {
    let ts = now_ns();
    let json = format!(
        r#"{{"streams":[{{"stream":{{"job":"push","fmt":"json"}},"values":[["{ts}","json line one"],["{}","json line two",{{"trace_id":"abc"}}]]}}]}}"#,
        ts + 1
    );
    let (code, body) = post(
        s,
        "/loki/api/v1/push",
        json.into_bytes(),
        &[("content-type", "application/json")],
    );
    assert_eq!(code, 204, "{body}");

    let gz_json = format!(
        r#"{{"streams":[{{"stream":{{"job":"push","fmt":"gzip"}},"values":[["{ts}","gzip line"]]}}]}}"#
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(gz_json.as_bytes()).unwrap();
    let (code, body) = post(
        s,
        "/loki/api/v1/push",
        gz.finish().unwrap(),
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
    );
    assert_eq!(code, 204, "{body}");

    let req = PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{job="push", fmt="protobuf"}"#.into(),
            entries: vec![EntryAdapter {
                timestamp: Some(Timestamp {
                    seconds: ts / 1_000_000_000,
                    nanos: (ts % 1_000_000_000) as i32,
                }),
                line: b"protobuf line".to_vec(),
                structured_metadata: vec![LabelPairAdapter {
                    name: "user".into(),
                    value: "u1".into(),
                }],
            }],
            hash: 0,
        }],
    };
    let (code, body) = post(
        s,
        "/loki/api/v1/push",
        encode(&req),
        &[("content-type", "application/x-protobuf")],
    );
    assert_eq!(code, 204, "{body}");
}

#[test]
fn loki_push_json_gzip_and_protobuf_arrive() {
    let st = start("");
    push_all(&st.server);
    assert_eq!(received(&st.server, "loki_push"), 4);
}

#[test]
fn loki_push_limits_are_named() {
    let st =
        start("limits: {max_line_size: 10, max_body_size: 2KiB, max_global_streams_per_user: 2}\n");
    let s = &st.server;
    let ts = now_ns();
    let body = format!(
        r#"{{"streams":[{{"stream":{{"job":"a"}},"values":[["{ts}","short"],["{ts}","a line longer than ten bytes"]]}}]}}"#
    );
    let (code, text) = post(
        s,
        "/loki/api/v1/push",
        body.into_bytes(),
        &[("content-type", "application/json")],
    );
    assert_eq!(code, 400, "{text}");
    assert!(
        text.contains("limits.max_line_size") && text.contains("1 of 2"),
        "{text}"
    );

    let (code, text) = post(
        s,
        "/loki/api/v1/push",
        vec![b' '; 4096],
        &[("content-type", "application/json")],
    );
    assert_eq!(code, 413, "{text}");
    assert!(text.contains("limits.max_body_size"), "{text}");

    let future = ts + 3_600_000_000_000;
    let body =
        format!(r#"{{"streams":[{{"stream":{{"job":"a"}},"values":[["{future}","later"]]}}]}}"#);
    let (code, text) = post(
        s,
        "/loki/api/v1/push",
        body.into_bytes(),
        &[("content-type", "application/json")],
    );
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("limits.max_future"), "{text}");

    let body = r#"{"streams":[{"stream":{"job":"b"},"values":[["1","x"]]},{"stream":{"job":"c"},"values":[["1","x"]]}]}"#;
    let (code, text) = post(
        s,
        "/loki/api/v1/push",
        body.as_bytes().to_vec(),
        &[("content-type", "application/json")],
    );
    assert_eq!(code, 429, "{text}");
    assert!(
        text.contains("limits.max_global_streams_per_user"),
        "{text}"
    );

    for bad in [
        &b"{"[..],
        b"\x00\x01garbage",
        br#"{"streams":[{"stream":{"a.b":"x"},"values":[["1","x"]]}]}"#,
    ] {
        let (code, text) = post(s, "/loki/api/v1/push", bad.to_vec(), &[]);
        assert_eq!(code, 400, "{text}");
    }
    let (code, _) = post(
        s,
        "/loki/api/v1/push",
        b"x".to_vec(),
        &[("content-encoding", "br")],
    );
    assert_eq!(code, 415);
}

fn logger(args: &[&str]) {
    let st = Command::new("logger")
        .args(args)
        .status()
        .expect("logger (util-linux/bsdutils) must be installed; test.sh installs it");
    assert!(st.success(), "logger {args:?}");
}

fn send_syslog(st: &Setup) {
    let (tcp, udp) = (st.tcp.to_string(), st.udp.to_string());
    logger(&[
        "--server",
        "127.0.0.1",
        "--port",
        &tcp,
        "--tcp",
        "--rfc5424",
        "-t",
        "lookouttest",
        "--sd-id",
        "ex@1",
        "--sd-param",
        "k=\"v\"",
        "tcp rfc5424 hello",
    ]);
    logger(&[
        "--server",
        "127.0.0.1",
        "--port",
        &tcp,
        "--tcp",
        "--rfc3164",
        "-t",
        "lookouttest",
        "tcp rfc3164 hello",
    ]);
    logger(&[
        "--server",
        "127.0.0.1",
        "--port",
        &tcp,
        "--tcp",
        "--octet-count",
        "--rfc5424",
        "-t",
        "lookouttest",
        "tcp octet hello",
    ]);
    logger(&[
        "--server",
        "127.0.0.1",
        "--port",
        &udp,
        "--udp",
        "--rfc5424",
        "-t",
        "lookouttest",
        "-p",
        "daemon.warning",
        "udp rfc5424 hello",
    ]);
    logger(&[
        "--server",
        "127.0.0.1",
        "--port",
        &udp,
        "--udp",
        "--rfc3164",
        "-t",
        "lookouttest",
        "udp rfc3164 hello",
    ]);
}

#[test]
fn syslog_from_logger_arrives() {
    let st = start("");
    send_syslog(&st);
    wait_received(&st.server, "syslog", 5);
}

fn otel_send(exporter: &str, endpoint: &str) {
    let script = format!(
        r#"
import logging
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.exporter.otlp.proto.{exporter}._log_exporter import OTLPLogExporter
kw = {{"endpoint": "{endpoint}"}}
if "{exporter}" == "grpc":
    kw["insecure"] = True
provider = LoggerProvider(resource=Resource.create({{"service.name": "pyshop", "k8s.pod.name": "pod-{exporter}"}}))
provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(**kw)))
log = logging.getLogger("lookouttest")
log.addHandler(LoggingHandler(logger_provider=provider))
log.setLevel(logging.INFO)
log.warning("otlp {exporter} hello", extra={{"user.id": "u7"}})
provider.shutdown()
"#
    );
    let out = Command::new(common::otel_python())
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn send_otlp(st: &Setup) {
    otel_send("http", &st.server.url("/v1/logs"));
    otel_send("grpc", &format!("http://127.0.0.1:{}", st.grpc));
}

#[test]
fn otlp_from_the_python_sdk_arrives() {
    let st = start("");
    send_otlp(&st);
    wait_received(&st.server, "otlp", 2);
}

#[test]
fn otlp_http_json_and_errors() {
    let st = start("");
    let s = &st.server;
    let body = format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"j"}}}}]}},"scopeLogs":[{{"logRecords":[{{"timeUnixNano":"{}","body":{{"stringValue":"json otlp"}},"traceId":"5b8efff798038103d269b633813fc60c"}}]}}]}}]}}"#,
        now_ns()
    );
    let (code, text) = post(
        s,
        "/v1/logs",
        body.into_bytes(),
        &[("content-type", "application/json")],
    );
    assert_eq!((code, text.as_str()), (200, "{}"));
    let (code, text) = post(
        s,
        "/v1/logs",
        b"{\"resourceLogs\":7}".to_vec(),
        &[("content-type", "application/json")],
    );
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("\"code\":3"), "{text}");
    let (code, _) = post(
        s,
        "/otlp/v1/logs",
        b"\xff\xff\xff".to_vec(),
        &[("content-type", "application/x-protobuf")],
    );
    assert_eq!(code, 400);
    assert_eq!(received(s, "otlp"), 1);
}

/// Needs the Loki query API (`/loki/api/v1/query_range`).
#[test]
fn every_protocol_read_back() {
    let st = start("");
    push_all(&st.server);
    send_syslog(&st);
    send_otlp(&st);
    wait_received(&st.server, "syslog", 5);
    wait_received(&st.server, "otlp", 2);
    let s = &st.server;
    let lines = query_lines(s, r#"{job="push"}"#);
    let texts: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    for want in [
        "json line one",
        "json line two",
        "gzip line",
        "protobuf line",
    ] {
        assert!(texts.contains(&want), "{want} not in {texts:?}");
    }
    let lines = query_lines(s, r#"{job="syslog", app="lookouttest"}"#);
    let texts: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    for want in [
        "tcp rfc5424 hello",
        "tcp rfc3164 hello",
        "tcp octet hello",
        "udp rfc5424 hello",
        "udp rfc3164 hello",
    ] {
        assert!(texts.contains(&want), "{want} not in {texts:?}");
    }
    let warn = lines
        .iter()
        .find(|(_, l)| l == "udp rfc5424 hello")
        .unwrap();
    assert_eq!(warn.0["facility"], "daemon");
    assert_eq!(warn.0["severity"], "warning");
    let lines = query_lines(s, r#"{service_name="pyshop"}"#);
    let texts: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    for want in ["otlp http hello", "otlp grpc hello"] {
        assert!(texts.contains(&want), "{want} not in {texts:?}");
    }
    assert!(lines.iter().any(|(st, _)| st["k8s_pod_name"] == "pod-grpc"));
}

/// OTLP/gRPC statuses: a tenant is required in multi-tenant mode (INVALID_ARGUMENT), and a
/// refused record is a partial success, not an error.
#[test]
fn otlp_grpc_statuses() {
    use lookout_collector::otlp::proto::collector::logs::v1::logs_service_client::LogsServiceClient;
    use lookout_collector::otlp::proto::collector::logs::v1::ExportLogsServiceRequest;
    use lookout_collector::otlp::proto::common::v1::{any_value::Value, AnyValue};
    use lookout_collector::otlp::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    let st = start("multi_tenant: true\nlimits: {max_line_size: 5}\n");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = LogsServiceClient::connect(format!("http://127.0.0.1:{}", st.grpc))
            .await
            .expect("connect");
        let rec = |line: &str| LogRecord {
            time_unix_nano: now_ns() as u64,
            body: Some(AnyValue {
                value: Some(Value::StringValue(line.into())),
            }),
            ..Default::default()
        };
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![rec("ok"), rec("far too long")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let e = client.export(req.clone()).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");
        let mut r = tonic::Request::new(req);
        r.metadata_mut()
            .insert("x-scope-orgid", "team-a".parse().unwrap());
        let resp = client.export(r).await.expect("export").into_inner();
        let p = resp.partial_success.expect("partial success");
        assert_eq!(p.rejected_log_records, 1);
        assert!(
            p.error_message.contains("limits.max_line_size"),
            "{}",
            p.error_message
        );
    });
    assert_eq!(received(&st.server, "otlp"), 1);
}
