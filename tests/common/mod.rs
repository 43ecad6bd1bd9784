//! Shared helpers for the end-to-end tests: start `lookout serve` on a data directory,
//! find its port from the "listening" line, kill it on drop, and speak remote_write and
//! the export / Prometheus JSON APIs to it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use lookout_collector::remote_write::{
    encode, Exemplar, MetricMetadata, ProtoLabel, ProtoSample, TimeSeries, WriteRequest,
};

pub mod agent;

pub const BIN: &str = env!("CARGO_BIN_EXE_lookout");

/// How long a server may take to print its listening line (WAL replay included).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A block-aligned base time (a multiple of 2h) so test data falls in one block period.
pub const BASE_MS: i64 = 236_112 * 7_200_000;

/// What a test server's clock reads at start (it advances from there): two hours after
/// [`BASE_MS`], so data written around [`BASE_MS`] is recent, inside retention and not in the
/// future. Tests that scrape use the real clock ([`Server::start_real_clock`]).
pub const CLOCK_MS: i64 = BASE_MS + 7_200_000;

/// A temporary directory holding the data directory (`data`) and config files, removed on
/// drop.
pub struct TestDir {
    pub tmp: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            tmp: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// Writes `text` to a file in the directory and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

pub struct Server {
    child: Option<Child>,
    pub addr: String,
    pub data: PathBuf,
    pub stderr: Arc<Mutex<String>>,
    pub client: reqwest::blocking::Client,
}

pub fn client() -> reqwest::blocking::Client {
    // reqwest is built with rustls but no default crypto provider (the scraper brings
    // ring); without one installed, building any client panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .expect("http client")
}

impl Server {
    /// Starts `lookout serve --data DIR --listen 127.0.0.1:0`, with `config` (YAML text)
    /// written next to the data directory when given.
    pub fn start(data: &Path, config: Option<&str>) -> Server {
        Self::try_start(data, config).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_start(data: &Path, config: Option<&str>) -> Result<Server, String> {
        Self::try_start_with(data, config, Some(CLOCK_MS), &[])
    }

    /// [`Server::start`] with the server's clock reading `clock_ms` at start.
    pub fn start_at(data: &Path, config: Option<&str>, clock_ms: i64) -> Server {
        Self::try_start_with(data, config, Some(clock_ms), &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Server::start`] on the system clock (for tests that scrape and query at "now").
    pub fn start_real_clock(data: &Path, config: Option<&str>) -> Server {
        Self::try_start_with(data, config, None, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Server::start`] with extra environment variables (e.g. the debug build's
    /// `LOOKOUT_DEBUG_QUERY_STALL_MS`).
    pub fn start_env(data: &Path, config: Option<&str>, env: &[(&str, &str)]) -> Server {
        Self::try_start_with(data, config, Some(CLOCK_MS), env).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_start_at(
        data: &Path,
        config: Option<&str>,
        clock_ms: Option<i64>,
    ) -> Result<Server, String> {
        Self::try_start_with(data, config, clock_ms, &[])
    }

    /// Starts the server with its clock at `clock_ms` (None: the system clock) and extra
    /// environment variables.
    pub fn try_start_with(
        data: &Path,
        config: Option<&str>,
        clock_ms: Option<i64>,
        env: &[(&str, &str)],
    ) -> Result<Server, String> {
        Self::try_start_on(data, config, clock_ms, env, "127.0.0.1:0")
    }

    /// [`Server::start_real_clock`] on a given address, so a restarted server keeps the
    /// port its clients (an agent) were given.
    pub fn start_real_clock_on(data: &Path, config: Option<&str>, listen: &str) -> Server {
        Self::try_start_on(data, config, None, &[], listen).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_start_on(
        data: &Path,
        config: Option<&str>,
        clock_ms: Option<i64>,
        env: &[(&str, &str)],
        listen: &str,
    ) -> Result<Server, String> {
        let mut cmd = Command::new(BIN);
        cmd.envs(env.iter().copied());
        if let Some(ms) = clock_ms {
            cmd.env("LOOKOUT_TEST_CLOCK_START_MS", ms.to_string());
        }
        cmd.arg("serve")
            .arg("--data")
            .arg(data)
            .arg("--listen")
            .arg(listen)
            .arg("--no-self-scrape")
            .env("LOOKOUT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Parallel test servers must not race for the default 0.0.0.0:4317.
        if !config.is_some_and(|c| c.contains("grpc_listen")) {
            cmd.arg("--otlp-grpc-listen").arg("127.0.0.1:0");
        }
        if let Some(text) = config {
            let path = config_path(data);
            std::fs::write(&path, text).expect("write config");
            cmd.arg("--config").arg(&path);
        }
        let mut child = cmd.spawn().expect("spawn lookout");
        let stdout = child.stdout.take().expect("stdout");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(stderr_pipe);
                let mut line = String::new();
                while let Ok(n) = r.read_line(&mut line) {
                    if n == 0 {
                        break;
                    }
                    stderr.lock().unwrap().push_str(&line);
                    line.clear();
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let mut sent = false;
            while let Ok(n) = r.read_line(&mut line) {
                if n == 0 {
                    break;
                }
                if !sent {
                    if let Some(a) = line.trim().strip_prefix("lookout listening on http://") {
                        let _ = tx.send(a.to_string());
                        sent = true;
                    }
                }
                line.clear();
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(a) => break a,
                Err(_) => {
                    if let Ok(Some(st)) = child.try_wait() {
                        std::thread::sleep(Duration::from_millis(100));
                        return Err(format!(
                            "lookout exited before listening ({st}); stderr:\n{}",
                            stderr.lock().unwrap()
                        ));
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(format!(
                            "lookout did not print its listening line within {START_TIMEOUT:?}; stderr:\n{}",
                            stderr.lock().unwrap()
                        ));
                    }
                }
            }
        };
        Ok(Server {
            child: Some(child),
            addr,
            data: data.to_path_buf(),
            stderr,
            client: client(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGKILL (what `Child::kill` sends on unix) and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL lookout");
            c.wait().expect("reap lookout");
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; None when it did not exit
    /// (the process is then killed).
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = c.try_wait().expect("try_wait") {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // ---- remote_write ----

    /// POSTs an already encoded body with remote_write 1.0 headers plus `extra`.
    pub fn post_write_raw(&self, body: Vec<u8>, extra: &[(&str, &str)]) -> (u16, String) {
        let mut rb = self.client.post(self.url("/api/v1/write"));
        // Defaults, unless `extra` replaces them (a header set twice would be sent twice).
        for (k, v) in [
            ("Content-Encoding", "snappy"),
            ("Content-Type", "application/x-protobuf"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ] {
            if !extra.iter().any(|(e, _)| e.eq_ignore_ascii_case(k)) {
                rb = rb.header(k, v);
            }
        }
        for (k, v) in extra {
            rb = rb.header(*k, *v);
        }
        let resp = rb.body(body).send().expect("send write");
        let code = resp.status().as_u16();
        (code, resp.text().unwrap_or_default())
    }

    pub fn write(&self, req: &WriteRequest) -> (u16, String) {
        self.post_write_raw(encode(req), &[])
    }

    pub fn write_tenant(&self, req: &WriteRequest, tenant: &str) -> (u16, String) {
        self.post_write_raw(encode(req), &[("X-Scope-OrgID", tenant)])
    }

    /// Writes and asserts 204.
    pub fn write_ok(&self, req: &WriteRequest) {
        let (code, body) = self.write(req);
        assert_eq!(code, 204, "write failed: {body}");
    }

    // ---- reads ----

    pub fn get(&self, path: &str, tenant: Option<&str>) -> (u16, String) {
        let mut rb = self.client.get(self.url(path));
        if let Some(t) = tenant {
            rb = rb.header("X-Scope-OrgID", t);
        }
        let resp = rb.send().expect("GET");
        let code = resp.status().as_u16();
        (code, resp.text().expect("body"))
    }

    /// POSTs a JSON body (Loki push, OTLP/JSON, Zipkin JSON) and returns status and body.
    pub fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
        tenant: Option<&str>,
    ) -> (u16, String) {
        let mut rb = self
            .client
            .post(self.url(path))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(t) = tenant {
            rb = rb.header("X-Scope-OrgID", t);
        }
        let resp = rb.send().expect("POST");
        let code = resp.status().as_u16();
        (code, resp.text().unwrap_or_default())
    }

    pub fn post_form(&self, path: &str, form: &str, tenant: Option<&str>) -> (u16, String) {
        let mut rb = self
            .client
            .post(self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.to_string());
        if let Some(t) = tenant {
            rb = rb.header("X-Scope-OrgID", t);
        }
        let resp = rb.send().expect("POST");
        let code = resp.status().as_u16();
        (code, resp.text().expect("body"))
    }

    pub fn get_json(&self, path: &str, tenant: Option<&str>) -> (u16, serde_json::Value) {
        let (code, body) = self.get(path, tenant);
        let v = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path}: {code} body is not JSON ({e}): {body}"));
        (code, v)
    }

    /// `data` of a successful Prometheus-envelope GET.
    pub fn api_data(&self, path: &str, tenant: Option<&str>) -> serde_json::Value {
        let (code, v) = self.get_json(path, tenant);
        assert_eq!(code, 200, "GET {path}: {v}");
        assert_eq!(v["status"], "success", "GET {path}: {v}");
        v["data"].clone()
    }

    pub fn flush(&self) {
        let resp = self
            .client
            .post(self.url("/api/v1/admin/flush"))
            .send()
            .expect("flush");
        let code = resp.status().as_u16();
        assert_eq!(code, 204, "flush: {}", resp.text().unwrap_or_default());
    }

    pub fn tsdb_status(&self, tenant: Option<&str>) -> serde_json::Value {
        self.api_data("/api/v1/status/tsdb", tenant)
    }

    /// `/api/v1/export?match[]=SEL`, parsed; panics on a non-200.
    pub fn export(&self, selector: &str, tenant: Option<&str>) -> Vec<ExportSeries> {
        let (code, body) = self.get(&format!("/api/v1/export?match[]={}", enc(selector)), tenant);
        assert_eq!(code, 200, "export {selector}: {body}");
        parse_export(&body)
    }

    /// Export as a map: labels -> samples.
    pub fn export_map(
        &self,
        selector: &str,
        tenant: Option<&str>,
    ) -> BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> {
        let mut m = BTreeMap::new();
        for s in self.export(selector, tenant) {
            assert!(
                m.insert(s.labels.clone(), s.samples).is_none(),
                "series {:?} exported twice",
                s.labels
            );
        }
        m
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn config_path(data: &Path) -> PathBuf {
    let name = data
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "data".into());
    data.with_file_name(format!("{name}.lookout.yaml"))
}

/// Percent-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportSeries {
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<(i64, f64)>,
}

/// Parses export JSON lines. Values are parsed from their text with Rust's correctly
/// rounded `f64` parser (serde_json's default float parsing is not guaranteed exact), so
/// bit-exact comparisons are meaningful.
pub fn parse_export(body: &str) -> Vec<ExportSeries> {
    let mut out = Vec::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad export line ({e}): {line}"));
        let labels: BTreeMap<String, String> = v["metric"]
            .as_object()
            .unwrap_or_else(|| panic!("no metric in {line}"))
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().expect("label value string").to_string(),
                )
            })
            .collect();
        let ts: Vec<i64> = v["timestamps"]
            .as_array()
            .unwrap_or_else(|| panic!("no timestamps in {line}"))
            .iter()
            .map(|t| t.as_i64().expect("integer timestamp"))
            .collect();
        let vals = raw_array(line, "\"values\":[");
        assert_eq!(vals.len(), v["values"].as_array().unwrap().len(), "{line}");
        let vals: Vec<f64> = vals
            .iter()
            .map(|s| match *s {
                "\"NaN\"" => f64::NAN,
                "\"+Inf\"" => f64::INFINITY,
                "\"-Inf\"" => f64::NEG_INFINITY,
                s => s
                    .parse::<f64>()
                    .unwrap_or_else(|e| panic!("value {s}: {e}")),
            })
            .collect();
        assert_eq!(
            ts.len(),
            vals.len(),
            "timestamps and values differ in length: {line}"
        );
        out.push(ExportSeries {
            labels,
            samples: ts.into_iter().zip(vals).collect(),
        });
    }
    out
}

/// The comma-separated raw elements of the flat JSON array that follows `key` in `line`.
fn raw_array<'a>(line: &'a str, key: &str) -> Vec<&'a str> {
    let i = line
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len();
    let j = i + line[i..].find(']').expect("array end");
    let inner = line[i..j].trim();
    if inner.is_empty() {
        return Vec::new();
    }
    inner.split(',').map(str::trim).collect()
}

// ---- building requests ----

pub fn labels(pairs: &[(&str, &str)]) -> Vec<ProtoLabel> {
    pairs
        .iter()
        .map(|(n, v)| ProtoLabel {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect()
}

pub fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels(pairs),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| ProtoSample { value, timestamp })
            .collect(),
        exemplars: vec![],
        histograms: vec![],
    }
}

pub fn request(ts: Vec<TimeSeries>) -> WriteRequest {
    WriteRequest {
        timeseries: ts,
        metadata: vec![],
    }
}

pub fn lmap(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A TCP port free on loopback now (for listeners a test configures, such as OTLP/gRPC).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Python of test.sh's venv with the OpenTelemetry SDK and exporters.
pub fn otel_python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/otel-venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run test.sh, which installs the OpenTelemetry SDK there",
        p.display()
    );
    p
}

/// Runs the lookout binary with `args` (not `serve`) with a time bound; returns
/// (success, stdout, stderr).
pub fn run_cli(args: &[&str], timeout: Duration) -> (Option<i32>, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lookout");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let te = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lookout {args:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), to.join().unwrap(), te.join().unwrap())
}

/// Asserts that the f64s are bit-identical.
#[track_caller]
pub fn assert_bits(got: f64, want: f64, what: &str) {
    assert_eq!(
        got.to_bits(),
        want.to_bits(),
        "{what}: got {got:?} want {want:?}"
    );
}

/// Serves one fixed text-format body on loopback until the test ends.
pub fn serve_exposition(body: &'static str) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            use std::io::Write;
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// Polls `f` every 200 ms until it returns Some, for at most `within`.
pub fn wait_for<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
