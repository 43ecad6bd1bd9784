//! What changed on disk, as soon as it changed: an inotify watcher (the `notify` crate) on
//! the directories the tailer cares about (each glob's fixed leading directory and the
//! directory of every followed file), so an appended line is read at once rather than at
//! the next poll. Directories, not files, are watched: a directory watch also reports
//! files created or renamed in it (new files for the globs, rotation), and it survives
//! the rotation of the files in it.
//!
//! The watcher only wakes the tailer; it is never the only way a change is seen. The
//! tailer still polls (network filesystems send no inotify events, and the kernel drops
//! events when its queue overflows), and without a watcher (inotify unavailable, or out
//! of watches) it just polls.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// What the events since the last wait say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wake {
    /// A followed file may have grown or shrunk.
    pub data: bool,
    /// A file may have appeared, gone or been renamed: the globs are worth a new scan.
    pub rescan: bool,
}

impl Wake {
    fn any(self) -> bool {
        self.data || self.rescan
    }

    fn add(&mut self, kind: &EventKind) {
        match kind {
            // Opens and reads (ours included) and attribute changes say nothing new.
            EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => {}
            EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Name(_)) => {
                self.rescan = true;
                self.data = true;
            }
            EventKind::Modify(_) => self.data = true,
            // `Any`/`Other`, e.g. the rescan notice of an overflowed inotify queue.
            _ => {
                self.rescan = true;
                self.data = true;
            }
        }
    }
}

pub struct DirWatcher {
    watcher: Option<RecommendedWatcher>,
    events: Receiver<notify::Result<notify::Event>>,
    watched: BTreeSet<PathBuf>,
}

/// The directory a glob's matches can be in without a wildcard in it: `/var/log/*.log` →
/// `/var/log`, `/srv/*/logs/app.log` → `/srv` (a recursive match is not followed; the
/// directories of files found by the scan are watched themselves).
pub fn fixed_dir(glob: &str) -> Option<PathBuf> {
    let mut dir = PathBuf::new();
    for c in Path::new(glob).components() {
        if let Component::Normal(s) = c {
            if s.to_string_lossy().contains(['*', '?', '[', '{']) {
                return Some(if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir
                });
            }
        }
        dir.push(c);
    }
    // No wildcard: the file's own directory.
    dir.parent().map(|p| {
        if p.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            p.to_path_buf()
        }
    })
}

impl DirWatcher {
    /// A watcher on nothing yet; without inotify, one that never wakes early.
    pub fn new() -> DirWatcher {
        let (tx, events) = std::sync::mpsc::channel();
        let watcher = match notify::recommended_watcher(tx) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch log directories; tailing by polling only");
                None
            }
        };
        DirWatcher {
            watcher,
            events,
            watched: BTreeSet::new(),
        }
    }

    /// Watches exactly `dirs` (those that exist); a directory that cannot be watched now is
    /// tried again at the next call.
    pub fn set(&mut self, dirs: BTreeSet<PathBuf>) {
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        let gone: Vec<PathBuf> = self.watched.difference(&dirs).cloned().collect();
        for d in gone {
            // The directory may be gone with its watch already.
            let _ = w.unwatch(&d);
            self.watched.remove(&d);
        }
        for d in dirs {
            if self.watched.contains(&d) || !d.is_dir() {
                continue;
            }
            match w.watch(&d, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(d);
                }
                Err(e) => {
                    tracing::warn!(dir = %d.display(), error = %e, "cannot watch a log directory; it is polled")
                }
            }
        }
    }

    /// Waits until an event says something changed or `until` passes, waking at least every
    /// `slice` (for the caller's stop flag: `stop` returning true ends the wait).
    pub fn wait(&self, until: Instant, slice: Duration, stop: &dyn Fn() -> bool) -> Wake {
        let mut wake = Wake::default();
        loop {
            let now = Instant::now();
            if now >= until || stop() {
                return wake;
            }
            match self.events.recv_timeout((until - now).min(slice)) {
                Ok(ev) => {
                    match ev {
                        Ok(ev) => wake.add(&ev.kind),
                        // An error from the watcher (e.g. an overflowed queue): look anyway.
                        Err(_) => wake.add(&EventKind::Any),
                    }
                    if wake.any() {
                        return wake;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // No watcher: only the deadline wakes.
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep((until - now).min(slice));
                }
            }
        }
    }

    /// Takes every event already waiting, without blocking.
    pub fn drain(&self) -> Wake {
        let mut wake = Wake::default();
        while let Ok(ev) = self.events.try_recv() {
            match ev {
                Ok(ev) => wake.add(&ev.kind),
                Err(_) => wake.add(&EventKind::Any),
            }
        }
        wake
    }

    /// Whether inotify is in use.
    pub fn active(&self) -> bool {
        self.watcher.is_some()
    }
}

impl Default for DirWatcher {
    fn default() -> Self {
        DirWatcher::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn fixed_dirs_of_globs() {
        assert_eq!(fixed_dir("/var/log/*.log"), Some("/var/log".into()));
        assert_eq!(fixed_dir("/srv/*/logs/a.log"), Some("/srv".into()));
        assert_eq!(fixed_dir("/var/log/syslog"), Some("/var/log".into()));
        assert_eq!(fixed_dir("logs/app-[0-9].log"), Some("logs".into()));
        assert_eq!(fixed_dir("*.log"), Some(".".into()));
    }

    #[test]
    fn an_append_and_a_new_file_wake_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut f = std::fs::File::create(&path).unwrap();
        let mut w = DirWatcher::new();
        assert!(w.active(), "inotify is available on Linux");
        w.set(BTreeSet::from([dir.path().to_path_buf()]));
        let never = || false;
        let far = Instant::now() + Duration::from_secs(60);
        f.write_all(b"line\n").unwrap();
        let wake = w.wait(far, Duration::from_millis(100), &never);
        assert!(wake.data, "{wake:?}");
        std::fs::write(dir.path().join("b.log"), b"x\n").unwrap();
        // Events of the append may still come first.
        let mut rescan = false;
        while !rescan && Instant::now() < far {
            rescan = w.wait(far, Duration::from_millis(100), &never).rescan;
        }
        assert!(rescan);
        // A stop flag ends a wait with nothing to report.
        let wake = w.wait(far, Duration::from_millis(10), &|| true);
        assert_eq!(wake, Wake::default());
    }
}
