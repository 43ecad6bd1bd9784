//! `lookout agent` tailing log files end to end: every line reaches the server exactly once
//! and in order across a server outage, a rename rotation and an agent SIGKILL (with host
//! metrics collected meanwhile and no gap in them), across copy-truncate and a graceful
//! restart; multiline events are joined; inotify delivers appends, new files and rotations
//! with the poll an hour apart; a kill between the server's acknowledgement and the queue
//! cursor (a debug-build hook) sends a batch twice and the server still returns each line
//! once. The server answers through its Loki API. Only loopback; every wait is bounded.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::agent::{host_times, Agent};
use common::*;

const WAIT: Duration = Duration::from_secs(90);

fn line(i: usize) -> String {
    format!("line {i:05} of the app log, with some payload")
}

fn append(path: &Path, range: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log file");
    let mut text = String::new();
    for i in range {
        text.push_str(&line(i));
        text.push('\n');
    }
    f.write_all(text.as_bytes()).expect("append");
}

fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i128
}

/// Every line of `selector` the server holds, oldest first (stream by stream).
fn server_lines(srv: &Server, selector: &str) -> Vec<String> {
    agent::log_lines(srv, selector)
}

fn wait_lines(srv: &Server, selector: &str, n: usize) -> Vec<String> {
    let mut last = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let got = server_lines(srv, selector);
        if got.len() >= n {
            return got;
        }
        if Instant::now() > deadline {
            panic!(
                "the server has {} of {n} lines of {selector}; last: {:?}",
                got.len(),
                last.last()
            );
        }
        last = got;
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn expected(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(line).collect()
}

fn config(logs: &Path, extra: &str) -> String {
    format!(
        "host_metrics: {{interval: 1s}}\nlogs:\n  - paths: ['{}/*.log']\n    labels: {{job: app}}\n{extra}",
        logs.display()
    )
}

#[test]
fn outage_rotation_and_agent_kill_keep_every_line_once_in_order() {
    let dir = TestDir::new();
    let logs = dir.tmp.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let app = logs.join("app.log");
    std::fs::write(logs.join("app.log.2.gz"), b"not read\n").expect("write");
    append(&app, 0..300);

    let listen = format!("127.0.0.1:{}", free_tcp_port());
    let mut srv = Server::start_real_clock_on(&dir.data(), Some("scrape_configs: []\n"), &listen);
    let agent_dir = dir.tmp.path().join("agent");
    let cfg = config(&logs, "");
    let mut agent = Agent::start(&format!("http://{listen}"), &agent_dir, &cfg);
    assert_eq!(wait_lines(&srv, "{job=\"app\"}", 300), expected(0..300));
    wait_for(WAIT, "first host samples", || {
        (host_times(&srv).len() >= 2).then_some(())
    });

    // The server goes away for at least 30 s.
    srv.kill9();
    let outage = Instant::now();
    for k in 0..10 {
        append(&app, 300 + k * 100..400 + k * 100);
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for(WAIT, "the agent to read the appended lines", || {
        (agent
            .metric("lookout_agent_tail_read_lines_total")
            .unwrap_or(0.0)
            >= 1300.0)
            .then_some(())
    });
    // Rotation by rename: the writer keeps writing the old inode a little, then a new
    // file takes the path.
    let mut old = std::fs::OpenOptions::new()
        .append(true)
        .open(&app)
        .expect("open app.log");
    std::fs::rename(&app, logs.join("app.log.1")).expect("rotate");
    for i in 1300..1400 {
        writeln!(old, "{}", line(i)).expect("write rotated");
    }
    drop(old);
    append(&app, 1400..1800);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        agent
            .metric("lookout_agent_queue_bytes{signal=\"logs\"}")
            .unwrap_or(0.0)
            > 0.0
    );
    assert_eq!(
        agent.metric("lookout_agent_server_failing{signal=\"logs\"}"),
        Some(1.0)
    );

    // SIGKILL the agent mid-outage; the file grows while it is down and after it is back.
    agent.kill9();
    append(&app, 1800..2200);
    let mut agent = Agent::start(&format!("http://{listen}"), &agent_dir, &cfg);
    append(&app, 2200..2600);
    std::thread::sleep(Duration::from_secs(30).saturating_sub(outage.elapsed()));
    drop(srv);
    let srv = Server::start_real_clock_on(&dir.data(), Some("scrape_configs: []\n"), &listen);
    let outage_end = Instant::now();
    append(&app, 2600..3000);

    let got = wait_lines(&srv, "{job=\"app\"}", 3000);
    wait_for(WAIT, "the logs queue to drain", || {
        (agent.metric("lookout_agent_queue_records{signal=\"logs\"}") == Some(0.0)).then_some(())
    });
    let got_after = server_lines(&srv, "{job=\"app\"}");
    assert_eq!(got_after.len(), got.len(), "no late duplicates");
    assert_eq!(got, expected(0..3000), "every line once, in order");
    assert_eq!(
        agent.metric("lookout_agent_rejected_batches_total{signal=\"logs\"}"),
        Some(0.0)
    );

    wait_for(WAIT, "the metrics queue to drain", || {
        (agent.metric("lookout_agent_queue_bytes{signal=\"metrics\"}") == Some(0.0)).then_some(())
    });
    let times = host_times(&srv);
    let span_ms = times.last().copied().unwrap_or(0) - times.first().copied().unwrap_or(0);
    assert!(
        span_ms >= outage_end.duration_since(outage).as_millis() as i64,
        "the samples cover the outage: {times:?}"
    );
    let worst = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(worst <= 2_500, "a gap of {worst}ms in host metrics");
    agent.kill9();
}

#[test]
fn copy_truncate_is_read_from_the_start() {
    let dir = TestDir::new();
    let logs = dir.tmp.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let app = logs.join("app.log");
    append(&app, 0..200);
    let srv = Server::start_real_clock(&dir.data(), Some("scrape_configs: []\n"));
    let agent = Agent::start(
        &format!("http://{}", srv.addr),
        &dir.tmp.path().join("agent"),
        &config(&logs, "host_metrics: false\n").replace("host_metrics: {interval: 1s}\n", ""),
    );
    assert_eq!(wait_lines(&srv, "{job=\"app\"}", 200), expected(0..200));
    std::fs::copy(&app, logs.join("app.log.1")).expect("copy");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&app)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    append(&app, 200..250);
    assert_eq!(wait_lines(&srv, "{job=\"app\"}", 250), expected(0..250));
    wait_for(WAIT, "the logs queue to drain", || {
        (agent.metric("lookout_agent_queue_records{signal=\"logs\"}") == Some(0.0)).then_some(())
    });
    assert_eq!(server_lines(&srv, "{job=\"app\"}"), expected(0..250));
}

#[test]
fn multiline_events_are_joined() {
    let dir = TestDir::new();
    let logs = dir.tmp.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let app = logs.join("app.log");
    std::fs::write(
        &app,
        "2024-05-01 10:00:00 ERROR boom\n  at a.b(C.java:1)\n  at d.e(F.java:2)\n2024-05-01 10:00:01 INFO ok\n2024-05-01 10:00:02 WARN last\n  caused by x\n",
    )
    .expect("write");
    let srv = Server::start_real_clock(&dir.data(), Some("scrape_configs: []\n"));
    let _agent = Agent::start(
        &format!("http://{}", srv.addr),
        &dir.tmp.path().join("agent"),
        &format!(
            "host_metrics: false\nlogs:\n  - paths: ['{}/*.log']\n    labels: {{job: app}}\n    multiline: {{start: '^\\d{{4}}-', max_lines: 50, timeout: 500ms}}\n",
            logs.display()
        ),
    );
    let got = wait_lines(&srv, "{job=\"app\"}", 3);
    assert_eq!(
        got,
        vec![
            "2024-05-01 10:00:00 ERROR boom\n  at a.b(C.java:1)\n  at d.e(F.java:2)",
            "2024-05-01 10:00:01 INFO ok",
            "2024-05-01 10:00:02 WARN last\n  caused by x",
        ]
    );
    let (code, body) = srv.get_json(
        &format!(
            "/loki/api/v1/label/filename/values?start={}&end={}",
            now_ns() - 3_600_000_000_000,
            now_ns() + 60_000_000_000
        ),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(body["data"][0], app.display().to_string());
}

#[test]
fn positions_survive_a_graceful_restart() {
    let dir = TestDir::new();
    let logs = dir.tmp.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let app = logs.join("app.log");
    append(&app, 0..200);
    let srv = Server::start_real_clock(&dir.data(), Some("scrape_configs: []\n"));
    let server = format!("http://{}", srv.addr);
    let agent_dir = dir.tmp.path().join("agent");
    let cfg = format!(
        "host_metrics: false\nlogs:\n  - paths: ['{}/*.log']\n    labels: {{job: app}}\n",
        logs.display()
    );
    let mut agent = Agent::start(&server, &agent_dir, &cfg);
    assert_eq!(wait_lines(&srv, "{job=\"app\"}", 200), expected(0..200));
    agent.terminate();
    append(&app, 200..300);
    let agent = Agent::start(&server, &agent_dir, &cfg);
    append(&app, 300..400);
    assert_eq!(wait_lines(&srv, "{job=\"app\"}", 400), expected(0..400));
    wait_for(WAIT, "the logs queue to drain", || {
        (agent.metric("lookout_agent_queue_records{signal=\"logs\"}") == Some(0.0)).then_some(())
    });
    assert_eq!(server_lines(&srv, "{job=\"app\"}"), expected(0..400));
    assert!(agent.metric("lookout_agent_tail_files").unwrap_or(0.0) >= 1.0);
}

/// With the poll an hour apart, only inotify can deliver what changes after the start: an
/// append, a new file, and a rotation by rename.
#[test]
fn inotify_delivers_between_polls() {
    let dir = TestDir::new();
    let logs = dir.tmp.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let app = logs.join("app.log");
    append(&app, 0..50);
    let srv = Server::start_real_clock(&dir.data(), Some("scrape_configs: []\n"));
    let cfg = format!(
        "host_metrics: false\ntail: {{poll_interval: 1h}}\nlogs:\n  - paths: ['{}/*.log']\n    labels: {{job: app}}\n",
        logs.display()
    );
    let agent = Agent::start(
        &format!("http://{}", srv.addr),
        &dir.tmp.path().join("agent"),
        &cfg,
    );
    let app_sel = format!("{{job=\"app\", filename=\"{}\"}}", app.display());
    assert_eq!(wait_lines(&srv, &app_sel, 50), expected(0..50));

    append(&app, 50..100);
    assert_eq!(wait_lines(&srv, &app_sel, 100), expected(0..100));

    let other = logs.join("other.log");
    append(&other, 100..110);
    let other_sel = format!("{{job=\"app\", filename=\"{}\"}}", other.display());
    assert_eq!(wait_lines(&srv, &other_sel, 10), expected(100..110));

    std::fs::rename(&app, logs.join("app.log.1")).expect("rotate");
    append(&app, 110..120);
    let app_lines: Vec<String> = (0..100).chain(110..120).map(line).collect();
    assert_eq!(wait_lines(&srv, &app_sel, 110), app_lines);
    wait_for(WAIT, "the logs queue to drain", || {
        (agent.metric("lookout_agent_queue_records{signal=\"logs\"}") == Some(0.0)).then_some(())
    });
    assert_eq!(server_lines(&srv, &app_sel), app_lines);
    assert_eq!(server_lines(&srv, &other_sel), expected(100..110));
}

/// A sample of the server's own /metrics.
fn server_metric(srv: &Server, name: &str) -> f64 {
    let (code, body) = srv.get("/metrics", None);
    assert_eq!(code, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the server's /metrics"))
}

/// `sum(count_over_time(selector[1h]))` now, as a Loki metric query answers it.
fn count_lines(srv: &Server, selector: &str) -> f64 {
    let q = format!("sum(count_over_time({selector}[1h]))");
    let (code, body) = srv.get_json(
        &format!(
            "/loki/api/v1/query?query={}&time={}",
            enc(&q),
            now_ns() / 1_000_000_000 + 1
        ),
        None,
    );
    assert_eq!(code, 200, "{body}");
    body["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The agent dies right after the server acknowledged a batch and before its queue cursor
/// moved (the debug build's `LOOKOUT_DEBUG_AGENT_KILL_AFTER_SEND`), so after the restart it
/// sends that batch again: the server receives its lines twice and returns each once,
/// also after it restarts itself.
#[test]
fn a_kill_between_the_ack_and_the_cursor_returns_no_line_twice() {
    let dir = TestDir::new();
    let logs = dir.tmp.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let app = logs.join("app.log");
    std::fs::write(&app, b"").expect("create app.log");
    let listen = format!("127.0.0.1:{}", free_tcp_port());
    let mut srv = Server::start_real_clock_on(&dir.data(), Some("scrape_configs: []\n"), &listen);
    let server = format!("http://{listen}");
    let agent_dir = dir.tmp.path().join("agent");
    let cfg = format!(
        "host_metrics: false\nlogs:\n  - paths: ['{}/*.log']\n    labels: {{job: app}}\n",
        logs.display()
    );
    let mut agent = Agent::start_env(
        &server,
        &agent_dir,
        &cfg,
        &[("LOOKOUT_DEBUG_AGENT_KILL_AFTER_SEND", "logs")],
    );
    // Appended once the agent is up, so it dies after its listening line.
    append(&app, 0..100);
    let st = agent.wait_exit(WAIT);
    assert!(!st.success(), "the agent killed itself: {st}");
    // One batch went through (all 100 lines unless the read met the append half done).
    let first = server_lines(&srv, "{job=\"app\"}");
    let n = first.len();
    assert!(n > 0);
    assert_eq!(first, expected(0..n));
    assert_eq!(
        server_metric(&srv, "loki_distributor_lines_received_total"),
        n as f64
    );

    let agent = Agent::start(&server, &agent_dir, &cfg);
    wait_for(WAIT, "the batch to be sent again", || {
        (agent.metric("lookout_agent_queue_records{signal=\"logs\"}") == Some(0.0)
            && agent.metric("lookout_agent_sent_batches_total{signal=\"logs\"}") >= Some(1.0))
        .then_some(())
    });
    assert_eq!(
        server_metric(&srv, "loki_distributor_lines_received_total"),
        (100 + n) as f64,
        "the server got the first batch twice"
    );
    assert_eq!(server_lines(&srv, "{job=\"app\"}"), expected(0..100));
    assert_eq!(count_lines(&srv, "{job=\"app\"}"), 100.0);

    // After a restart of the server (its WAL replayed) too.
    srv.kill9();
    drop(srv);
    let srv = Server::start_real_clock_on(&dir.data(), Some("scrape_configs: []\n"), &listen);
    assert_eq!(server_lines(&srv, "{job=\"app\"}"), expected(0..100));
    assert_eq!(count_lines(&srv, "{job=\"app\"}"), 100.0);
}
