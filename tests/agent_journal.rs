//! `lookout agent` reading the systemd journal through journalctl, end to end. The machine
//! may not run journald, so the test writes a fake `journalctl` (Python) that serves
//! entries from a JSON-lines file and honours `-o json`, `--follow`, `--after-cursor` and
//! `--since @<epoch>`. Checked: lines reach the server's Loki API with Promtail's labels and
//! the journal's timestamps, a byte-array MESSAGE decodes, journalctl exiting is survived,
//! and an agent SIGKILLed during a server outage resumes after its last queued cursor,
//! every entry once and in order. A second test uses the real journal through
//! `systemd-cat` and is skipped where `journalctl` shows nothing. Only loopback; every wait
//! is bounded.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::agent::Agent;
use common::*;

const WAIT: Duration = Duration::from_secs(90);

const FAKE: &str = r#"#!/usr/bin/python3
# A fake journalctl: serves the entries of JOURNAL (JSON lines), after --after-cursor or
# from --since @epoch, following the file with --follow. Each run appends its arguments
# to JOURNAL.calls; if JOURNAL.exit exists it is removed and this run exits with 1.
import json, os, sys, time
JOURNAL = sys.argv[0] + ".jsonl"
args = sys.argv[1:]
with open(JOURNAL + ".calls", "a") as c:
    c.write(json.dumps(args) + "\n")
after, since_us, follow, i = None, None, False, 0
while i < len(args):
    a = args[i]
    if a == "--after-cursor":
        after = args[i + 1]; i += 1
    elif a == "--since":
        since_us = int(args[i + 1].lstrip("@")) * 1000000; i += 1
    elif a in ("-f", "--follow"):
        follow = True
    elif a == "-o":
        assert args[i + 1] == "json"; i += 1
    i += 1
pos, skipping = 0, after is not None
while True:
    with open(JOURNAL, "rb") as f:
        f.seek(pos)
        data = f.read()
    end = data.rfind(b"\n") + 1
    pos += end
    for line in data[:end].splitlines():
        rec = json.loads(line)
        if skipping:
            skipping = rec["__CURSOR"] != after
            continue
        if since_us is not None and int(rec["__REALTIME_TIMESTAMP"]) < since_us:
            continue
        sys.stdout.write(line.decode() + "\n")
    sys.stdout.flush()
    if os.path.exists(JOURNAL + ".exit"):
        os.remove(JOURNAL + ".exit")
        sys.exit(1)
    if not follow:
        break
    time.sleep(0.05)
"#;

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64
}

fn cursor(i: usize) -> String {
    format!("s=0a1b;i={i:x};b=boot;m=1;t=2;x=3")
}

fn message(i: usize) -> String {
    format!("journal message {i:04} from the app")
}

/// Entry `i` of the fake journal: every third is an error, entry 2's MESSAGE is an array
/// of bytes (as journalctl writes fields that are not plain text).
fn entry(i: usize, ts_us: i64) -> String {
    let msg = if i == 2 {
        serde_json::json!(message(i).into_bytes())
    } else {
        serde_json::json!(message(i))
    };
    serde_json::json!({
        "__CURSOR": cursor(i),
        "__REALTIME_TIMESTAMP": ts_us.to_string(),
        "__MONOTONIC_TIMESTAMP": "123",
        "MESSAGE": msg,
        "_SYSTEMD_UNIT": "app.service",
        "_HOSTNAME": "node1",
        "PRIORITY": if i.is_multiple_of(3) { "3" } else { "6" },
        "SYSLOG_IDENTIFIER": "app",
        "_PID": "42",
    })
    .to_string()
}

struct Journal {
    script: PathBuf,
    base_us: i64,
}

impl Journal {
    fn new(dir: &Path) -> Journal {
        let script = dir.join("journalctl");
        std::fs::write(&script, FAKE).expect("write fake journalctl");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(script.with_extension("jsonl"), b"").expect("create journal");
        Journal {
            script,
            base_us: now_us() - 60_000_000,
        }
    }

    fn ts_us(&self, i: usize) -> i64 {
        self.base_us + i as i64 * 1000
    }

    fn append(&self, range: std::ops::Range<usize>) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.script.with_extension("jsonl"))
            .expect("open journal");
        let mut text = String::new();
        for i in range {
            text.push_str(&entry(i, self.ts_us(i)));
            text.push('\n');
        }
        f.write_all(text.as_bytes()).expect("append journal");
    }

    /// The argument lists journalctl was started with.
    fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.script.with_extension("jsonl.calls"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn config(&self) -> String {
        format!(
            "host_metrics: false\njournal:\n  journalctl_path: {}\n  labels: {{job: journal}}\n",
            self.script.display()
        )
    }
}

/// Every (stream labels, timestamp ns, line) of `selector` the server holds, oldest first.
fn server_entries(srv: &Server, selector: &str) -> Vec<(serde_json::Value, i64, String)> {
    let mut out = agent::log_entries(srv, selector);
    out.sort_by_key(|e| e.1);
    out
}

fn wait_entries(srv: &Server, n: usize) -> Vec<(serde_json::Value, i64, String)> {
    wait_for(WAIT, &format!("{n} journal lines in the server"), || {
        let got = server_entries(srv, "{job=\"journal\"}");
        (got.len() >= n).then_some(got)
    })
}

fn lines(got: &[(serde_json::Value, i64, String)]) -> Vec<String> {
    got.iter().map(|e| e.2.clone()).collect()
}

#[test]
fn journal_entries_arrive_with_labels_and_resume_after_a_kill() {
    let dir = TestDir::new();
    let journal = Journal::new(dir.tmp.path());
    journal.append(0..5);
    let listen = format!("127.0.0.1:{}", free_tcp_port());
    let mut srv = Server::start_real_clock_on(&dir.data(), Some("scrape_configs: []\n"), &listen);
    let server = format!("http://{listen}");
    let agent_dir = dir.tmp.path().join("agent");
    let mut agent = Agent::start(&server, &agent_dir, &journal.config());

    let got = wait_entries(&srv, 5);
    assert_eq!(lines(&got), (0..5).map(message).collect::<Vec<_>>());
    for (i, (stream, ts, _)) in got.iter().enumerate() {
        assert_eq!(
            *ts,
            journal.ts_us(i) * 1000,
            "entry {i} keeps its journal time"
        );
        assert_eq!(stream["job"], "journal");
        assert_eq!(stream["unit"], "app.service");
        assert_eq!(stream["hostname"], "node1");
        assert_eq!(stream["syslog_identifier"], "app");
        let level = if i.is_multiple_of(3) { "error" } else { "info" };
        assert_eq!(stream["level"], level, "entry {i}");
    }
    let first = &journal.calls()[0];
    assert!(first.contains(&"--follow".to_string()), "{first:?}");
    assert!(first.contains(&"--since".to_string()), "{first:?}");
    assert!(!first.contains(&"--after-cursor".to_string()), "{first:?}");

    // journalctl exits: it is started again after the last queued cursor.
    std::fs::write(journal.script.with_extension("jsonl.exit"), b"").expect("exit marker");
    wait_for(WAIT, "journalctl to be restarted", || {
        (agent
            .metric("lookout_agent_journal_restarts_total")
            .unwrap_or(0.0)
            >= 1.0)
            .then_some(())
    });
    journal.append(5..8);
    assert_eq!(
        lines(&wait_entries(&srv, 8)),
        (0..8).map(message).collect::<Vec<_>>()
    );
    let second = &journal.calls()[1];
    let at = second
        .iter()
        .position(|a| a == "--after-cursor")
        .expect("restarted after a cursor");
    assert_eq!(second[at + 1], cursor(4));

    // The server goes away; entries wait in the queue; the agent is SIGKILLed with them
    // queued, and more arrive while it is down.
    srv.kill9();
    journal.append(8..20);
    wait_for(WAIT, "the agent to queue the entries", || {
        (agent
            .metric("lookout_agent_journal_entries_total")
            .unwrap_or(0.0)
            >= 20.0)
            .then_some(())
    });
    assert!(
        agent
            .metric("lookout_agent_queue_records{signal=\"logs\"}")
            .unwrap_or(0.0)
            > 0.0
    );
    agent.kill9();
    journal.append(20..30);
    let agent = Agent::start(&server, &agent_dir, &journal.config());
    journal.append(30..40);
    let srv = Server::start_real_clock_on(&dir.data(), Some("scrape_configs: []\n"), &listen);
    wait_entries(&srv, 40);
    wait_for(WAIT, "the logs queue to drain", || {
        (agent.metric("lookout_agent_queue_records{signal=\"logs\"}") == Some(0.0)).then_some(())
    });
    let got = server_entries(&srv, "{job=\"journal\"}");
    assert_eq!(
        lines(&got),
        (0..40).map(message).collect::<Vec<_>>(),
        "every entry once, in order"
    );
    let last = journal.calls().last().cloned().expect("calls");
    let at = last
        .iter()
        .position(|a| a == "--after-cursor")
        .expect("resumed after a cursor");
    assert_eq!(
        last[at + 1],
        cursor(19),
        "resumed after the last queued entry"
    );
}

/// The real journal, where journalctl shows entries (skipped elsewhere).
#[test]
fn real_journal_through_systemd_cat() {
    let works = std::process::Command::new("journalctl")
        .args(["-n", "1", "-o", "json", "--no-pager"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !works {
        eprintln!("skipped: journalctl shows no journal on this machine");
        return;
    }
    let dir = TestDir::new();
    let tag = format!("lookout-test-{}", std::process::id());
    let srv = Server::start_real_clock(&dir.data(), Some("scrape_configs: []\n"));
    let cfg = format!(
        "host_metrics: false\njournal:\n  labels: {{job: journal}}\n  matches: ['SYSLOG_IDENTIFIER={tag}']\n"
    );
    let _agent = Agent::start(
        &format!("http://{}", srv.addr),
        &dir.tmp.path().join("agent"),
        &cfg,
    );
    let mut child = std::process::Command::new("systemd-cat")
        .args(["-t", &tag, "-p", "warning"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run systemd-cat");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello from the real journal\n")
        .expect("write");
    assert!(child.wait().expect("systemd-cat").success());
    let got = wait_entries(&srv, 1);
    assert_eq!(lines(&got), ["hello from the real journal"]);
    assert_eq!(got[0].0["syslog_identifier"], tag.as_str());
    assert_eq!(got[0].0["level"], "warning");
}
