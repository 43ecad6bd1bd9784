//! `lookout agent` for end-to-end tests: started on loopback with a config file beside its
//! data directory, its address read from the "listening" line, killed on drop; and the
//! host-metric timestamps a server holds from it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{client, Server, BIN};

pub struct Agent {
    pub child: Child,
    pub addr: String,
}

impl Agent {
    /// Starts `lookout agent --server server --data data` with `config` as its config file.
    pub fn start(server: &str, data: &Path, config: &str) -> Agent {
        Agent::start_env(server, data, config, &[])
    }

    /// [`Agent::start`] with extra environment variables (e.g. the debug build's
    /// `LOOKOUT_DEBUG_AGENT_KILL_AFTER_SEND`).
    pub fn start_env(server: &str, data: &Path, config: &str, env: &[(&str, &str)]) -> Agent {
        let cfg = data.with_extension("agent.yaml");
        std::fs::write(&cfg, config).expect("write agent config");
        let mut child = Command::new(BIN)
            .envs(env.iter().copied())
            .args(["agent", "--server", server, "--listen", "127.0.0.1:0"])
            .arg("--data")
            .arg(data)
            .arg("--config")
            .arg(&cfg)
            .env("LOOKOUT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn lookout agent");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line
                    .trim()
                    .strip_prefix("lookout agent listening on http://")
                {
                    let _ = tx.send(a.to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the agent prints its listening line");
        Agent { child, addr }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let r = client()
            .get(format!("http://{}{path}", self.addr))
            .send()
            .expect("agent answers");
        (r.status().as_u16(), r.text().unwrap_or_default())
    }

    /// A sample of the agent's own /metrics: `series` is a metric name (its first sample
    /// with labels) or a whole `name{labels}`.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let body = client()
            .get(format!("http://{}/metrics", self.addr))
            .send()
            .ok()?
            .text()
            .ok()?;
        body.lines()
            .find(|l| {
                l.strip_prefix(series)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Waits (bounded) for the agent to end by itself; its exit status.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait agent") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait (bounded) for a clean exit.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let st = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(st.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().expect("wait agent") {
                assert!(st.success(), "agent exited with {st}");
                return;
            }
            assert!(Instant::now() < deadline, "agent did not exit on SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The timestamps of the agent's `node_time_seconds` the server holds, sorted.
pub fn host_times(srv: &Server) -> Vec<i64> {
    let mut t: Vec<i64> = srv
        .export("node_time_seconds{job=\"node\"}", None)
        .into_iter()
        .flat_map(|s| s.samples.into_iter().map(|x| x.0))
        .collect();
    t.sort_unstable();
    t
}

/// Every (stream labels, timestamp ns, line) of `selector` the server holds from the last
/// hour, as Loki answers a forward query: stream by stream, each oldest first.
pub fn log_entries(srv: &Server, selector: &str) -> Vec<(serde_json::Value, i64, String)> {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i128;
    let path = format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}&direction=forward&limit=5000",
        super::enc(selector),
        now_ns - 3_600_000_000_000,
        now_ns + 60_000_000_000
    );
    let (code, body) = srv.get_json(&path, None);
    if code != 200 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for s in body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        for v in s["values"].as_array().cloned().unwrap_or_default() {
            out.push((
                s["stream"].clone(),
                v[0].as_str().and_then(|t| t.parse().ok()).unwrap_or(0),
                v[1].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

/// The lines of [`log_entries`].
pub fn log_lines(srv: &Server, selector: &str) -> Vec<String> {
    log_entries(srv, selector)
        .into_iter()
        .map(|e| e.2)
        .collect()
}
