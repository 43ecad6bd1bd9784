//! Log tailing for the agent: files matching the configured globs are followed (new
//! files are picked up at once, or at the next scan), read line by line, joined into
//! multiline events where configured, and pushed to the logs [`Queue`] as Loki push
//! requests, each record carrying the positions after it (see [`positions`] for the
//! formats and why that makes delivery into the queue exactly once across a SIGKILL).
//!
//! Rotation by rename: the old inode no longer matches a glob, so it is read to its end
//! through the open descriptor and dropped once it has been quiet for a grace period
//! (writers keep writing to it a moment before they reopen the path), while the new file at the path is read
//! from its start. Copy-truncate: see [`file`]. Compressed rotated files (`.gz`, `.bz2`,
//! `.xz`, `.zst`, …) are never followed. Timestamps are the time a line was read, made
//! strictly increasing per stream so a forward query returns lines in file order.
//!
//! Tailing runs on its own thread with plain blocking reads. It reads when inotify reports
//! a change in a watched directory ([`watch`]), at most once per [`MIN_GAP`] so a writer
//! appending line by line costs one batch per gap rather than one per line, and in any
//! case every poll interval (one second by default), when it also rescans the globs: the
//! poll is the fallback for what inotify does not see (network filesystems, an overflowed
//! event queue).

pub mod file;
pub mod journal;
pub mod multiline;
pub mod positions;
pub mod watch;
pub mod writer;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_store::Result;

use self::file::{Followed, Line, DRAIN_GRACE};
use self::multiline::Multiline;
use self::positions::{Body, FilePos, Positions};
use self::watch::DirWatcher;
use self::writer::LogsWriter;
use crate::loki_push::{encode, EntryAdapter, PushRequest, StreamAdapter, Timestamp};

/// Rotated files in these formats are skipped, whatever the glob says.
const COMPRESSED: &[&str] = &["gz", "bz2", "xz", "zst", "zstd", "lz4", "z", "zip"];
/// Least time between two reads woken by inotify events.
pub const MIN_GAP: Duration = Duration::from_millis(100);
/// How often the tail thread looks at its stop flag while it waits.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// A stream's selector text and its events (line, file offset after it).
type StreamEvents = (String, Vec<(Vec<u8>, u64)>);

/// One `logs:` entry.
#[derive(Debug, Clone)]
pub struct Source {
    pub paths: Vec<String>,
    /// Stream labels besides `filename`.
    pub labels: BTreeMap<String, String>,
    pub multiline: Option<Multiline>,
    /// Longer lines are cut here (counted in `lines_truncated`).
    pub max_line_size: usize,
}

impl Source {
    /// Refuses globs that cannot be parsed (they would match nothing, silently).
    pub fn check(&self) -> Result<()> {
        if self.paths.is_empty() {
            return Err(lookout_store::Error::BadInput(
                "a logs entry needs at least one path glob in `paths`".into(),
            ));
        }
        for g in &self.paths {
            glob::Pattern::new(g).map_err(|e| {
                lookout_store::Error::BadInput(format!("logs path {g:?} is not a valid glob: {e}"))
            })?;
        }
        Ok(())
    }
}

/// Tail counters, for the agent's `/metrics`.
#[derive(Debug, Default)]
pub struct TailStats {
    pub files_watched: AtomicU64,
    pub bytes_read: AtomicU64,
    pub lines_read: AtomicU64,
    pub lines_truncated: AtomicU64,
}

pub struct Tailer {
    sources: Vec<Source>,
    writer: Arc<LogsWriter>,
    /// Positions recovered at start, for files seen for the first time since.
    recovered: Positions,
    files: Vec<Followed>,
    /// The read buffer, kept across polls.
    buf: Vec<u8>,
    /// Last timestamp given per stream (its selector text).
    last_ts: HashMap<String, i64>,
    stats: Arc<TailStats>,
}

fn is_compressed(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| COMPRESSED.contains(&e.to_ascii_lowercase().as_str()))
}

fn identity(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).ok()?;
    m.is_file().then(|| (m.dev(), m.ino()))
}

/// Loki's selector text of a stream's labels.
fn selector(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

impl Tailer {
    /// Follows the files of `sources` from the positions `writer` recovered.
    pub fn open(
        sources: Vec<Source>,
        writer: Arc<LogsWriter>,
        stats: Arc<TailStats>,
    ) -> Result<Tailer> {
        let recovered = writer.positions();
        let mut t = Tailer {
            sources,
            writer,
            recovered,
            files: Vec::new(),
            buf: Vec::new(),
            last_ts: HashMap::new(),
            stats,
        };
        t.resume_rotated();
        t.scan();
        Ok(t)
    }

    /// Files remembered under a path that now holds another file were rotated while the
    /// agent was down: find the old inode beside the path and read it to its end.
    fn resume_rotated(&mut self) {
        let known = self.recovered.files.clone();
        for k in known {
            if identity(&k.path) == Some((k.dev, k.ino)) {
                continue;
            }
            let Some(dir) = k.path.parent() else { continue };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if is_compressed(&p) || identity(&p) != Some((k.dev, k.ino)) {
                    continue;
                }
                let source = self.source_of(&k.path).unwrap_or(0);
                match Followed::open(&p, source, Some(&k)) {
                    Ok(mut f) if f.offset() == k.offset => {
                        f.draining = Some(Instant::now());
                        tracing::info!(path = %p.display(), was = %k.path.display(), "reading a file rotated while the agent was down");
                        self.files.push(f);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot open a rotated file"),
                }
                break;
            }
        }
    }

    fn source_of(&self, path: &Path) -> Option<usize> {
        self.sources.iter().position(|s| {
            s.paths.iter().any(|g| {
                glob::Pattern::new(g)
                    .map(|p| p.matches_path(path))
                    .unwrap_or(false)
            })
        })
    }

    /// Follows new files matching the globs; marks followed files no glob matches as
    /// draining.
    fn scan(&mut self) {
        let mut seen: HashSet<(u64, u64)> = HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            for g in &s.paths {
                let paths = match glob::glob(g) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(glob = %g, error = %e, "invalid log path glob");
                        continue;
                    }
                };
                for p in paths.flatten() {
                    if is_compressed(&p) {
                        continue;
                    }
                    let Some(id) = identity(&p) else { continue };
                    if !seen.insert(id) {
                        continue;
                    }
                    if self.files.iter().any(|f| (f.dev, f.ino) == id) {
                        continue;
                    }
                    match Followed::open(&p, i, self.recovered.find(id.0, id.1)) {
                        Ok(f) => {
                            tracing::info!(path = %p.display(), offset = f.offset(), "tailing a file");
                            self.files.push(f);
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot tail a file"),
                    }
                }
            }
        }
        let now = Instant::now();
        for f in &mut self.files {
            if !seen.contains(&(f.dev, f.ino)) {
                f.draining.get_or_insert(now);
            }
        }
        self.stats
            .files_watched
            .store(self.files.len() as u64, Ordering::Relaxed);
    }

    /// Reads what the files gained, pushes it with the new positions, and writes the
    /// positions file. Returns the number of events queued.
    pub fn poll(&mut self, scan: bool) -> Result<usize> {
        if scan {
            self.scan();
        }
        let now = Instant::now();
        let mut streams: Vec<StreamEvents> = Vec::new();
        let mut lines: Vec<Line> = Vec::new();
        let mut drop = Vec::new();
        for (idx, f) in self.files.iter_mut().enumerate() {
            let src = &self.sources[f.source];
            let mut events: Vec<(Vec<u8>, u64)> = Vec::new();
            if f.check_truncated()? {
                tracing::info!(path = %f.path.display(), "file truncated; reading it from the start");
                f.joiner = Default::default();
            }
            lines.clear();
            let n = f.read_lines(src.max_line_size, &mut self.buf, &mut lines)?;
            self.stats.bytes_read.fetch_add(n, Ordering::Relaxed);
            self.stats
                .lines_read
                .fetch_add(lines.len() as u64, Ordering::Relaxed);
            for l in lines.drain(..) {
                if l.truncated {
                    self.stats.lines_truncated.fetch_add(1, Ordering::Relaxed);
                }
                match &src.multiline {
                    Some(m) => f.joiner.push(m, l.bytes, l.start, l.end, now, &mut events),
                    None => events.push((l.bytes, l.end)),
                }
            }
            if let Some(m) = &src.multiline {
                f.joiner.flush_idle(m, now, &mut events);
            }
            if n == 0
                && f.draining
                    .is_some_and(|t| now.duration_since(t) >= DRAIN_GRACE)
            {
                f.joiner.flush(&mut events);
                drop.push(idx);
            }
            f.committed = f.joiner.pending_start().unwrap_or(f.offset());
            if !events.is_empty() {
                let mut labels = src.labels.clone();
                labels.insert("filename".into(), f.path.display().to_string());
                streams.push((selector(&labels), events));
            }
        }
        for idx in drop.into_iter().rev() {
            let f = self.files.remove(idx);
            tracing::info!(path = %f.path.display(), "finished a rotated or removed file");
        }
        self.stats
            .files_watched
            .store(self.files.len() as u64, Ordering::Relaxed);
        let table: Vec<FilePos> = self.files.iter().map(|f| f.position()).collect();
        let events = streams.iter().map(|s| s.1.len()).sum();
        if !streams.is_empty() {
            let body = encode(&self.request(streams));
            self.writer
                .push(Body::LokiPush, &body, move |p| p.files = table)?;
        } else {
            self.writer.set_files(table)?;
        }
        Ok(events)
    }

    fn request(&mut self, streams: Vec<StreamEvents>) -> PushRequest {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let mut req = PushRequest::default();
        for (labels, events) in streams {
            let last = self.last_ts.entry(labels.clone()).or_insert(0);
            let entries = events
                .into_iter()
                .map(|(line, _)| {
                    *last = now.max(*last + 1);
                    EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: last.div_euclid(1_000_000_000),
                            nanos: last.rem_euclid(1_000_000_000) as i32,
                        }),
                        line,
                        structured_metadata: vec![],
                    }
                })
                .collect();
            req.streams.push(StreamAdapter {
                labels,
                entries,
                hash: 0,
            });
        }
        req
    }

    /// Whether a file has more to read than the last poll took.
    fn backlog(&self) -> bool {
        self.files.iter().any(|f| f.backlog)
    }

    /// When the first file renamed away may be dropped.
    fn drain_deadline(&self) -> Option<Instant> {
        self.files
            .iter()
            .filter_map(|f| f.draining)
            .min()
            .map(|t| t + DRAIN_GRACE)
    }

    /// When the first unfinished multiline event times out.
    fn multiline_deadline(&self) -> Option<Instant> {
        self.files
            .iter()
            .filter_map(|f| {
                let m = self.sources[f.source].multiline.as_ref()?;
                f.joiner.idle_deadline(m)
            })
            .min()
    }

    /// The directories to watch: each glob's fixed leading one and each followed file's.
    fn watch_dirs(&self) -> BTreeSet<PathBuf> {
        let globs = self
            .sources
            .iter()
            .flat_map(|s| s.paths.iter())
            .filter_map(|g| watch::fixed_dir(g));
        let files = self
            .files
            .iter()
            .filter_map(|f| f.path.parent().map(Path::to_path_buf));
        globs.chain(files).collect()
    }

    /// Reads what the files gain until `stop` is set: at once when inotify reports a
    /// change (at most once per [`MIN_GAP`]), and every `interval` in any case, rescanning
    /// the globs then and whenever a file was created, removed or renamed.
    pub fn run(mut self, interval: Duration, stop: Arc<AtomicBool>) {
        let stopped = || stop.load(Ordering::Relaxed);
        let mut watch = DirWatcher::new();
        let mut scan = true;
        let mut last_scan = Instant::now();
        while !stopped() {
            let started = Instant::now();
            if scan {
                last_scan = started;
                // Watch before reading: a change after the read is then always reported.
                self.scan();
                watch.set(self.watch_dirs());
            }
            let read = self.poll(false);
            if let Err(e) = &read {
                tracing::warn!(error = %e, "tailing failed; retrying");
            }
            if read.is_ok() && self.backlog() {
                // More is waiting: read on at once.
                scan = false;
                continue;
            }
            let far = Instant::now() + Duration::from_secs(86_400);
            let mut until = last_scan.checked_add(interval).unwrap_or(far).min(far);
            if let Some(d) = self.drain_deadline() {
                until = until.min(d);
            }
            if let Some(d) = self.multiline_deadline() {
                until = until.min(d);
            }
            let wake = watch.wait(until, STOP_CHECK, &stopped);
            // Let a burst of writes land, then take all their events at once.
            std::thread::sleep(MIN_GAP.saturating_sub(started.elapsed()));
            scan = wake.rescan || watch.drain().rescan || last_scan.elapsed() >= interval;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::queue::Queue;
    use std::io::Write;

    fn open(sources: Vec<Source>, q: &Arc<Queue>, pos: &Path, stats: Arc<TailStats>) -> Tailer {
        let w = Arc::new(LogsWriter::open(q.clone(), pos).unwrap());
        Tailer::open(sources, w, stats).unwrap()
    }

    fn source(dir: &Path) -> Source {
        Source {
            paths: vec![format!("{}/*.log", dir.display())],
            labels: BTreeMap::from([("job".to_string(), "app".to_string())]),
            multiline: None,
            max_line_size: 1 << 10,
        }
    }

    /// Every line in the queue, in order, after its record's positions.
    fn queued(q: &Queue) -> Vec<String> {
        let mut out = Vec::new();
        for (_, rec) in q.peek(1 << 20, usize::MAX).unwrap() {
            let (_, body) = positions::decode_record(&rec).unwrap();
            let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
            let req = <PushRequest as prost::Message>::decode(&raw[..]).unwrap();
            for s in req.streams {
                assert!(s.labels.contains("job=\"app\""), "{}", s.labels);
                for e in s.entries {
                    out.push(String::from_utf8(e.line).unwrap());
                }
            }
        }
        out
    }

    #[test]
    fn rename_rotation_and_restart_resume_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        std::fs::write(logs.join("old.log.gz"), b"compressed\n").unwrap();
        let app = logs.join("app.log");
        let mut w = std::fs::File::create(&app).unwrap();
        w.write_all(b"1\n2\n").unwrap();
        let q = Arc::new(Queue::open(&dir.path().join("q"), 1 << 30).unwrap());
        let pos = dir.path().join("positions.json");
        let stats = Arc::new(TailStats::default());
        let mut t = open(vec![source(&logs)], &q, &pos, stats.clone());
        t.poll(false).unwrap();
        w.write_all(b"3\n4").unwrap();
        std::fs::rename(&app, logs.join("app.log.1")).unwrap();
        w.write_all(b"\n").unwrap();
        std::fs::write(&app, b"5\n").unwrap();
        t.poll(true).unwrap();
        t.poll(true).unwrap();
        drop(t);
        // The positions file is lost: the queue's newest record still says where we are.
        std::fs::remove_file(&pos).unwrap();
        let mut w = std::fs::OpenOptions::new().append(true).open(&app).unwrap();
        w.write_all(b"6\n").unwrap();
        let mut t = open(vec![source(&logs)], &q, &pos, stats);
        t.poll(true).unwrap();
        assert_eq!(queued(&q), ["1", "2", "3", "4", "5", "6"]);
    }

    /// Polls `f` until it is true, for at most 30 s.
    fn eventually(what: &str, f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn inotify_reads_between_polls_an_hour_apart() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let app = logs.join("app.log");
        std::fs::write(&app, b"1\n").unwrap();
        let q = Arc::new(Queue::open(&dir.path().join("q"), 1 << 30).unwrap());
        let pos = dir.path().join("positions.json");
        let t = open(
            vec![source(&logs)],
            &q,
            &pos,
            Arc::new(TailStats::default()),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || t.run(Duration::from_secs(3600), stop))
        };
        eventually("the first line", || queued(&q) == ["1"]);
        let mut w = std::fs::OpenOptions::new().append(true).open(&app).unwrap();
        w.write_all(b"2\n").unwrap();
        eventually("the appended line", || queued(&q) == ["1", "2"]);
        std::fs::write(logs.join("new.log"), b"3\n").unwrap();
        eventually("the new file's line", || queued(&q) == ["1", "2", "3"]);
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
    }

    #[test]
    fn rotation_while_down_is_read_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app.log");
        std::fs::write(&app, b"1\n").unwrap();
        let q = Arc::new(Queue::open(&dir.path().join("q"), 1 << 30).unwrap());
        let pos = dir.path().join("positions.json");
        let stats = Arc::new(TailStats::default());
        let mut t = open(vec![source(dir.path())], &q, &pos, stats.clone());
        t.poll(false).unwrap();
        drop(t);
        let mut w = std::fs::OpenOptions::new().append(true).open(&app).unwrap();
        w.write_all(b"2\n").unwrap();
        std::fs::rename(&app, dir.path().join("app.log.1")).unwrap();
        std::fs::write(&app, b"3\n").unwrap();
        let mut t = open(vec![source(dir.path())], &q, &pos, stats);
        for _ in 0..3 {
            t.poll(true).unwrap();
        }
        let mut got = queued(&q);
        got.sort();
        assert_eq!(got, ["1", "2", "3"]);
    }
}
