//! The systemd journal as a log source: `journalctl -o json --follow` runs as a child
//! process and each JSON entry becomes a Loki line: `MESSAGE` (a string, or an array of
//! bytes when it is not UTF-8) at `__REALTIME_TIMESTAMP`, with the labels Promtail's usual
//! relabeling gives (`unit` from `_SYSTEMD_UNIT`, `hostname` from `_HOSTNAME`,
//! `syslog_identifier` from `SYSLOG_IDENTIFIER`, `level` the syslog severity keyword of
//! `PRIORITY`) under the configured ones.
//!
//! Where reading stands is the `__CURSOR` of the newest queued entry, carried in the logs
//! queue record with its lines (see [`positions`](super::positions)), so journalctl is
//! restarted `--after-cursor` it and a SIGKILL neither repeats nor skips an entry. Without
//! a cursor (first start) it reads from `max_age` ago (`--since @<epoch>`), as Promtail's
//! journal target does (7 h by default). When journalctl exits it is started again after a
//! backoff.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::positions::Body;
use super::writer::LogsWriter;
use crate::loki_push::{encode, EntryAdapter, PushRequest, StreamAdapter, Timestamp};

/// Entries per queue record at most.
const BATCH: usize = 1000;
/// A partial batch is queued after this long without a new entry.
const LINGER: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The `journal:` section.
#[derive(Debug, Clone)]
pub struct JournalSource {
    /// The journalctl to run.
    pub journalctl: PathBuf,
    /// Labels on every journal stream (over the ones taken from the entry).
    pub labels: BTreeMap<String, String>,
    /// journalctl match arguments, e.g. `_SYSTEMD_UNIT=ssh.service`.
    pub matches: Vec<String>,
    /// How far back the first start reads.
    pub max_age: Duration,
    /// Longer messages are cut here.
    pub max_line_size: usize,
}

/// Journal counters, for the agent's `/metrics`.
#[derive(Debug, Default)]
pub struct JournalStats {
    pub entries: AtomicU64,
    pub bytes: AtomicU64,
    pub skipped: AtomicU64,
    pub restarts: AtomicU64,
}

/// One journal entry as it goes to the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub cursor: String,
    pub ts_ns: i64,
    pub labels: BTreeMap<String, String>,
    pub line: Vec<u8>,
}

/// Promtail's `__journal_priority_keyword`.
fn priority_keyword(p: &str) -> Option<&'static str> {
    Some(match p.trim() {
        "0" => "emerg",
        "1" => "alert",
        "2" => "crit",
        "3" => "error",
        "4" => "warning",
        "5" => "notice",
        "6" => "info",
        "7" => "debug",
        _ => return None,
    })
}

/// A field's bytes: journalctl writes a string, an array of byte values when the field is
/// not printable UTF-8, or an array of those when the field occurs more than once (the
/// first is taken). `null` (a field too large to show) has none.
fn field_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Array(items) if items.iter().all(Value::is_u64) => Some(
            items
                .iter()
                .filter_map(Value::as_u64)
                .map(|b| b.min(255) as u8)
                .collect(),
        ),
        Value::Array(items) => items.iter().find_map(field_bytes),
        _ => None,
    }
}

fn field_string(v: &Value) -> Option<String> {
    field_bytes(v).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Reads one line of `journalctl -o json`; `None` for what is not an entry.
pub fn parse(line: &[u8], source: &JournalSource) -> Option<Entry> {
    let Value::Object(map) = serde_json::from_slice::<Value>(line).ok()? else {
        return None;
    };
    let cursor = map.get("__CURSOR").and_then(Value::as_str)?.to_string();
    let ts_us: i64 = map
        .get("__REALTIME_TIMESTAMP")
        .and_then(field_string)
        .and_then(|s| s.trim().parse().ok())?;
    let mut line = map.get("MESSAGE").and_then(field_bytes).unwrap_or_default();
    line.truncate(source.max_line_size);
    let mut labels = BTreeMap::new();
    for (field, label) in [
        ("_SYSTEMD_UNIT", "unit"),
        ("_HOSTNAME", "hostname"),
        ("SYSLOG_IDENTIFIER", "syslog_identifier"),
    ] {
        if let Some(v) = map.get(field).and_then(field_string) {
            labels.insert(label.to_string(), v);
        }
    }
    if let Some(level) = map
        .get("PRIORITY")
        .and_then(field_string)
        .and_then(|p| priority_keyword(&p))
    {
        labels.insert("level".into(), level.into());
    }
    for (k, v) in &source.labels {
        labels.insert(k.clone(), v.clone());
    }
    Some(Entry {
        cursor,
        ts_ns: ts_us.saturating_mul(1000),
        labels,
        line,
    })
}

/// A batch of entries as a Loki push request, streams in order of first appearance.
pub fn request(entries: &[Entry]) -> PushRequest {
    let mut req = PushRequest::default();
    let mut index: HashMap<&BTreeMap<String, String>, usize> = HashMap::new();
    for e in entries {
        let i = *index.entry(&e.labels).or_insert_with(|| {
            req.streams.push(StreamAdapter {
                labels: super::selector(&e.labels),
                entries: Vec::new(),
                hash: 0,
            });
            req.streams.len() - 1
        });
        req.streams[i].entries.push(EntryAdapter {
            timestamp: Some(Timestamp {
                seconds: e.ts_ns.div_euclid(1_000_000_000),
                nanos: e.ts_ns.rem_euclid(1_000_000_000) as i32,
            }),
            line: e.line.clone(),
            structured_metadata: vec![],
        });
    }
    req
}

/// Runs journalctl and queues its entries until `stop` is set.
pub struct JournalReader {
    source: JournalSource,
    writer: Arc<LogsWriter>,
    stats: Arc<JournalStats>,
}

impl JournalReader {
    pub fn new(
        source: JournalSource,
        writer: Arc<LogsWriter>,
        stats: Arc<JournalStats>,
    ) -> JournalReader {
        JournalReader {
            source,
            writer,
            stats,
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.source.journalctl);
        cmd.args(["-o", "json", "--follow", "--no-pager"]);
        match self.writer.positions().journal {
            Some(cursor) => {
                cmd.arg("--after-cursor").arg(cursor);
            }
            None => {
                let since = SystemTime::now()
                    .checked_sub(self.source.max_age)
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                cmd.arg("--since").arg(format!("@{since}"));
            }
        }
        cmd.args(&self.source.matches)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd
    }

    /// Queues `pending` with the cursor of its last entry.
    fn flush(&self, pending: &mut Vec<Entry>) -> bool {
        let Some(last) = pending.last() else {
            return true;
        };
        let cursor = last.cursor.clone();
        let body = encode(&request(pending));
        match self
            .writer
            .push(Body::LokiPush, &body, move |p| p.journal = Some(cursor))
        {
            Ok(()) => {
                self.stats
                    .entries
                    .fetch_add(pending.len() as u64, Ordering::Relaxed);
                pending.clear();
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot queue journal entries; rereading them");
                false
            }
        }
    }

    /// One run of journalctl, until it exits, a push fails or `stop` is set. Returns
    /// whether it delivered entries.
    fn follow(&self, stop: &AtomicBool) -> bool {
        let mut child: Child = match self.command().spawn() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(path = %self.source.journalctl.display(), error = %e, "cannot run journalctl");
                return false;
            }
        };
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        };
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(4 * BATCH);
        let reader = std::thread::Builder::new()
            .name("journal-read".into())
            .spawn(move || {
                let mut r = BufReader::new(stdout);
                loop {
                    let mut line = Vec::new();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            if tx.send(line).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        let mut delivered = false;
        let mut pending: Vec<Entry> = Vec::new();
        let mut first_pending = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            match rx.recv_timeout(LINGER) {
                Ok(line) => {
                    self.stats
                        .bytes
                        .fetch_add(line.len() as u64, Ordering::Relaxed);
                    match parse(&line, &self.source) {
                        Some(e) => {
                            if pending.is_empty() {
                                first_pending = Instant::now();
                            }
                            pending.push(e);
                        }
                        None => {
                            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if pending.len() >= BATCH || first_pending.elapsed() >= LINGER {
                        if !self.flush(&mut pending) {
                            break;
                        }
                        delivered = true;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if !pending.is_empty() {
                        if !self.flush(&mut pending) {
                            break;
                        }
                        delivered = true;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    if !pending.is_empty() && self.flush(&mut pending) {
                        delivered = true;
                    }
                    break;
                }
            }
        }
        let _ = child.kill();
        match child.wait() {
            Ok(st) if !stop.load(Ordering::Relaxed) => {
                tracing::warn!(status = %st, "journalctl exited; starting it again")
            }
            _ => {}
        }
        drop(rx);
        if let Ok(r) = reader {
            let _ = r.join();
        }
        delivered
    }

    /// Follows the journal until `stop` is set, restarting journalctl with backoff.
    pub fn run(self, stop: Arc<AtomicBool>) {
        let mut backoff = Duration::from_millis(500);
        while !stop.load(Ordering::Relaxed) {
            if self.follow(&stop) {
                backoff = Duration::from_millis(500);
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
            self.stats.restarts.fetch_add(1, Ordering::Relaxed);
            let until = Instant::now() + backoff;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> JournalSource {
        JournalSource {
            journalctl: "journalctl".into(),
            labels: BTreeMap::from([("job".to_string(), "systemd-journal".to_string())]),
            matches: vec![],
            max_age: Duration::from_secs(3600),
            max_line_size: 8,
        }
    }

    #[test]
    fn entries_become_lines_with_promtail_labels() {
        let e = parse(
            br#"{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1700000000123456","MESSAGE":"hello","_SYSTEMD_UNIT":"ssh.service","_HOSTNAME":"node1","PRIORITY":"3","SYSLOG_IDENTIFIER":"sshd"}"#,
            &source(),
        )
        .unwrap();
        assert_eq!(e.cursor, "s=1;i=2");
        assert_eq!(e.ts_ns, 1_700_000_000_123_456_000);
        assert_eq!(e.line, b"hello");
        assert_eq!(e.labels["unit"], "ssh.service");
        assert_eq!(e.labels["hostname"], "node1");
        assert_eq!(e.labels["level"], "error");
        assert_eq!(e.labels["syslog_identifier"], "sshd");
        assert_eq!(e.labels["job"], "systemd-journal");

        let bytes = parse(
            br#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":[104,105,255,10,0,1,2,3,4,5]}"#,
            &source(),
        )
        .unwrap();
        assert_eq!(
            bytes.line,
            [104, 105, 255, 10, 0, 1, 2, 3],
            "cut at 8 bytes"
        );
        assert!(parse(b"not json", &source()).is_none());
        assert!(parse(br#"{"MESSAGE":"no cursor"}"#, &source()).is_none());
    }
}
