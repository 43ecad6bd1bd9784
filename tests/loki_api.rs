//! The Loki query API over HTTP against the real binary, as Grafana's Loki datasource and
//! `lookout logs` use it. The tests that need lines in the store push them with Loki's
//! JSON push format (`POST /loki/api/v1/push`, served by the collector); while that route
//! is absent they say so and skip.

mod common;

use common::*;
use serde_json::{json, Value};

const NS: i64 = 1_000_000;
/// The lines are at CLOCK - 60s + i s.
fn t(i: i64) -> i64 {
    (CLOCK_MS - 60_000) * NS + i * 1_000_000_000
}

fn q(s: &str) -> String {
    enc(s)
}

/// Pushes the test lines; false when the push route is not there yet.
fn push(srv: &Server) {
    let mut api = Vec::new();
    let mut web = Vec::new();
    for i in 0..10 {
        let level = if i % 3 == 0 { "error" } else { "info" };
        api.push(json!([t(i).to_string(), format!("level={level} n={i}")]));
    }
    web.push(json!([t(2).to_string(), r#"{"status":500}"#, {"trace_id": "abc"}]));
    let body = json!({"streams": [
        {"stream": {"app": "api", "env": "prod"}, "values": api},
        {"stream": {"app": "web"}, "values": web},
    ]});
    let (code, text) = srv.post_json("/loki/api/v1/push", &body, None);
    assert!((200..300).contains(&code), "push: {code} {text}");
}

fn range_path(query: &str, extra: &str) -> String {
    format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}{extra}",
        q(query),
        t(0),
        t(60)
    )
}

#[test]
fn grafana_health_check_buildinfo_and_errors() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    // Grafana's "Save & test".
    let data = srv.api_data(
        &format!(
            "/loki/api/v1/query?query={}&direction=backward&time=4000000000",
            q("vector(1)+vector(1)")
        ),
        None,
    );
    assert_eq!(data["resultType"], "vector");
    assert_eq!(data["result"][0]["value"][1], "2");
    assert_eq!(data["result"][0]["metric"], json!({}));
    let (code, v) = srv.get_json("/loki/api/v1/status/buildinfo", None);
    assert_eq!(code, 200);
    assert!(v["version"].is_string());
    assert_eq!(srv.get("/ready", None).0, 200);
    // A parse error is a 400 with Loki's wording, as plain text.
    let (code, body) = srv.get(
        &format!("/loki/api/v1/query_range?query={}", q(r#"{app="x"} | xml"#)),
        None,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.starts_with("parse error at line 1, col 13:"), "{body}");
    let (code, body) = srv.get(
        &format!("/loki/api/v1/query?query={}", q(r#"{app="x"}"#)),
        None,
    );
    assert_eq!(code, 400);
    assert!(body.contains("not supported as an instant query"), "{body}");
    let (code, body) = srv.get(&range_path(r#"{app="x"}"#, "&limit=5001"), None);
    assert_eq!(code, 400);
    assert!(body.contains("max_entries_limit_per_query"), "{body}");
    // Nothing stored: empty answers in the right shapes.
    let data = srv.api_data(
        &range_path(r#"{app="x"} |= "a""#, "&limit=10&step=1000ms"),
        None,
    );
    assert_eq!(data["resultType"], "streams");
    assert_eq!(data["result"], json!([]));
    assert!(data["stats"]["summary"].is_object());
    let data = srv.api_data(
        &range_path(r#"sum(count_over_time({app="x"}[1m]))"#, "&step=15000ms"),
        None,
    );
    assert_eq!(data["resultType"], "matrix");
    assert_eq!(
        srv.api_data(
            &format!("/loki/api/v1/labels?start={}&end={}", t(0), t(60)),
            None
        ),
        json!([])
    );
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/format_query?query={}",
            q(r#"sum(rate({a="b"}[1m]))"#)
        ),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(v["data"], r#"sum(rate({a="b"}[1m]))"#);
    assert_eq!(srv.get("/loki/api/v1/detected_labels", None).0, 404);
    assert_eq!(srv.get("/loki/api/v2alpha/tail", None).0, 404);
}

#[test]
fn pushed_lines_are_queried_as_loki_answers() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    push(&srv);
    // Newest first, limit honoured, ns timestamps as strings.
    let data = srv.api_data(
        &range_path(
            r#"{app="api"} |= "error""#,
            "&limit=2&direction=backward&step=1000ms",
        ),
        None,
    );
    assert_eq!(data["resultType"], "streams");
    let values = &data["result"][0]["values"];
    assert_eq!(
        values,
        &json!([
            [t(9).to_string(), "level=error n=9"],
            [t(6).to_string(), "level=error n=6"]
        ])
    );
    assert_eq!(
        data["result"][0]["stream"],
        json!({"app": "api", "env": "prod"})
    );
    let data = srv.api_data(
        &range_path(r#"{app="api"} | logfmt | n >= 8"#, "&direction=forward"),
        None,
    );
    // Parsed labels split the stream in two; in time order the lines are:
    let mut lines: Vec<(&str, &str)> = data["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| (v[0].as_str().unwrap(), v[1].as_str().unwrap()))
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines.iter().map(|l| l.1).collect::<Vec<_>>(),
        ["level=info n=8", "level=error n=9"]
    );
    // categorize-labels: stream labels apart from metadata and parsed labels.
    let resp = srv
        .client
        .get(srv.url(&range_path(r#"{app="web"} | json"#, "")))
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .send()
        .unwrap();
    let v: Value = serde_json::from_str(&resp.text().unwrap()).unwrap();
    assert_eq!(v["data"]["encodingFlags"], json!(["categorize-labels"]));
    assert_eq!(v["data"]["result"][0]["stream"], json!({"app": "web"}));
    assert_eq!(
        v["data"]["result"][0]["values"][0][2],
        json!({"structuredMetadata": {"trace_id": "abc"}, "parsed": {"status": "500"}})
    );
    // A trace's lines by their structured metadata, from the head and after a flush
    // (then the store narrows by its label terms).
    for round in ["head", "partition"] {
        if round == "partition" {
            srv.flush();
        }
        let data = srv.api_data(&range_path(r#"{app=~".+"} | trace_id="abc""#, ""), None);
        let result = data["result"].as_array().unwrap();
        assert_eq!(result.len(), 1, "{round}: {data}");
        assert_eq!(
            result[0]["values"],
            json!([[t(2).to_string(), r#"{"status":500}"#]]),
            "{round}"
        );
        assert_eq!(result[0]["stream"]["trace_id"], "abc", "{round}");
        let data = srv.api_data(&range_path(r#"{app=~".+"} | trace_id="nope""#, ""), None);
        assert_eq!(data["result"], json!([]), "{round}");
    }
    // Metric queries: a matrix over steps, and an instant vector.
    let data = srv.api_data(
        &range_path(
            r#"sum by (app) (count_over_time({app=~".+"}[1m]))"#,
            "&step=60s",
        ),
        None,
    );
    assert_eq!(data["resultType"], "matrix");
    let data = srv.api_data(
        &format!(
            "/loki/api/v1/query?query={}&time={}",
            q(r#"sum by (app) (count_over_time({app=~".+"}[1m]))"#),
            t(10)
        ),
        None,
    );
    assert_eq!(data["resultType"], "vector");
    assert_eq!(data["result"][0]["metric"], json!({"app": "api"}));
    assert_eq!(data["result"][0]["value"][1], "10");
    assert_eq!(data["result"][1]["value"][1], "1");
    // Labels, values, series, index stats and volume.
    let span = format!("start={}&end={}", t(0), t(60));
    assert_eq!(
        srv.api_data(&format!("/loki/api/v1/labels?{span}"), None),
        json!(["app", "env"])
    );
    assert_eq!(
        srv.api_data(&format!("/loki/api/v1/label/app/values?{span}"), None),
        json!(["api", "web"])
    );
    assert_eq!(
        srv.api_data(
            &format!(
                "/loki/api/v1/label/app/values?{span}&query={}",
                q(r#"{env="prod"}"#)
            ),
            None
        ),
        json!(["api"])
    );
    assert_eq!(
        srv.api_data(
            &format!("/loki/api/v1/series?{span}&match[]={}", q(r#"{app="web"}"#)),
            None
        ),
        json!([{"app": "web"}])
    );
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/index/stats?{span}&query={}",
            q(r#"{app=~".+"}"#)
        ),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(v["streams"], 2);
    assert_eq!(v["entries"], 11);
    let data = srv.api_data(
        &format!(
            "/loki/api/v1/index/volume?{span}&query={}",
            q(r#"{app=~".+"}"#)
        ),
        None,
    );
    assert_eq!(data["resultType"], "vector");
    assert_eq!(data["result"][0]["metric"], json!({"app": "api"}));
    let data = srv.api_data(
        &format!(
            "/loki/api/v1/index/volume_range?{span}&step=60s&query={}",
            q(r#"{app=~".+"}"#)
        ),
        None,
    );
    assert_eq!(data["resultType"], "matrix");
    // Detected fields for Grafana's query builder and Drilldown.
    let (code, v) = srv.get_json(
        &format!(
            "/loki/api/v1/detected_fields?{span}&query={}",
            q(r#"{app=~".+"}"#)
        ),
        None,
    );
    assert_eq!(code, 200, "{v}");
    let fields = v["fields"].as_array().unwrap();
    let field = |n: &str| {
        fields
            .iter()
            .find(|f| f["label"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} in {v}"))
    };
    assert_eq!(field("n")["type"], "int");
    assert_eq!(field("n")["cardinality"], 10);
    assert_eq!(field("n")["parsers"], json!(["logfmt"]));
    assert_eq!(field("status")["parsers"], json!(["json"]));
    assert_eq!(field("trace_id")["parsers"], Value::Null);
    let (_, v) = srv.get_json(
        &format!(
            "/loki/api/v1/detected_field/level/values?{span}&query={}",
            q(r#"{app="api"}"#)
        ),
        None,
    );
    assert_eq!(v["values"], json!(["error", "info"]));
    // Live tail: the newest lines first, over a WebSocket.
    let msg = tail_first_message(&srv, r#"{app="api"} |= "error""#, 2);
    assert_eq!(
        msg["streams"][0]["values"],
        json!([
            [t(6).to_string(), "level=error n=6"],
            [t(9).to_string(), "level=error n=9"]
        ])
    );
    // `lookout logs` prints the lines with their labels.
    let out = std::process::Command::new(BIN)
        .args([
            "logs",
            "--server",
            &format!("http://{}", srv.addr),
            "--since",
            "3000d",
            "--limit",
            "3",
            r#"{app="api"} |= "error""#,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[2].ends_with(r#"{app="api", env="prod"} level=error n=9"#),
        "{text}"
    );
}

/// Opens `/loki/api/v1/tail` with a hand-made WebSocket handshake and reads the first
/// text frame (server frames are unmasked).
fn tail_first_message(srv: &Server, query: &str, limit: usize) -> Value {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut sock = std::net::TcpStream::connect(&srv.addr).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        sock,
        "GET /loki/api/v1/tail?query={}&start={}&limit={limit} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        q(query),
        t(0),
        srv.addr
    )
    .unwrap();
    let mut r = BufReader::new(sock);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.contains(" 101 "), "{status}");
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        if l == "\r\n" {
            break;
        }
    }
    let mut head = [0u8; 2];
    r.read_exact(&mut head).unwrap();
    assert_eq!(head[0] & 0x0f, 1, "a text frame");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).unwrap();
    serde_json::from_slice(&payload).unwrap()
}
