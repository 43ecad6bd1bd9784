//! One followed file: an open descriptor (so a file renamed away is still read to its end),
//! its identity (device, inode, fingerprint of its first bytes), and the offset after the
//! last complete line read. A partial last line waits for its newline; a file that shrank
//! below the offset, or whose first bytes changed, was truncated (copy-truncate) and is
//! read again from its start.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lookout_store::{Error, Result};

use super::multiline::Joiner;
use super::positions::{FilePos, FINGERPRINT_BYTES};

/// Most bytes read from one file in one poll.
pub const READ_CHUNK: usize = 1 << 20;
/// How long a file renamed away (or deleted) is still followed: writers often keep
/// writing to the renamed file a moment before they reopen the path.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// A complete line read: its bytes (without the newline), start and end offsets, and
/// whether it was cut at the line size limit.
pub struct Line {
    pub bytes: Vec<u8>,
    pub start: u64,
    pub end: u64,
    pub truncated: bool,
}

pub struct Followed {
    /// The path the file was found at (its `filename` label).
    pub path: PathBuf,
    /// The config source it belongs to.
    pub source: usize,
    file: File,
    pub dev: u64,
    pub ino: u64,
    fp: u64,
    fp_len: u32,
    /// Offset after the last complete line read.
    offset: u64,
    /// Offset after the last line handed on (before a multiline event still open).
    pub committed: u64,
    pub joiner: Joiner,
    /// Since when no glob matches it any more (renamed away or deleted): it is read to its
    /// end, then dropped once [`DRAIN_GRACE`] has passed with nothing more in it.
    pub draining: Option<Instant>,
    /// The last read stopped at [`READ_CHUNK`] with more possibly behind it.
    pub backlog: bool,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// xxh3 of the first `len` bytes, or `None` if the file is shorter.
fn fingerprint(file: &File, len: usize) -> Option<u64> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, 0).ok()?;
    Some(xxhash_rust::xxh3::xxh3_64(&buf))
}

impl Followed {
    /// Opens `path`, resuming at `known` when it is the same file (identity and
    /// fingerprint) and not shorter than the remembered offset; else from the start.
    pub fn open(path: &Path, source: usize, known: Option<&FilePos>) -> Result<Followed> {
        let file = File::open(path).map_err(io("opening a tailed file", path))?;
        let meta = file.metadata().map_err(io("reading a tailed file", path))?;
        let mut f = Followed {
            path: path.to_path_buf(),
            source,
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            fp: 0,
            fp_len: 0,
            offset: 0,
            committed: 0,
            joiner: Joiner::default(),
            draining: None,
            backlog: false,
        };
        if let Some(k) = known.filter(|k| k.dev == f.dev && k.ino == f.ino) {
            // No fingerprint yet (the file was empty when it was taken) names any file.
            let same = k.fp_len == 0 || fingerprint(&f.file, k.fp_len as usize) == Some(k.fp);
            if same && k.offset <= meta.len() {
                f.path = k.path.clone();
                f.fp = k.fp;
                f.fp_len = k.fp_len;
                f.offset = k.offset;
                f.committed = k.offset;
            }
        }
        f.refresh_fingerprint(meta.len());
        Ok(f)
    }

    /// Grows the fingerprint while the file is shorter than [`FINGERPRINT_BYTES`]: only
    /// appends happened, so the longer prefix names the same file.
    fn refresh_fingerprint(&mut self, size: u64) {
        let want = (size as usize).min(FINGERPRINT_BYTES);
        if want > self.fp_len as usize {
            if let Some(fp) = fingerprint(&self.file, want) {
                self.fp = fp;
                self.fp_len = want as u32;
            }
        }
    }

    pub fn position(&self) -> FilePos {
        FilePos {
            path: self.path.clone(),
            dev: self.dev,
            ino: self.ino,
            fp: self.fp,
            fp_len: self.fp_len,
            offset: self.committed,
        }
    }

    /// Whether the file was truncated (or rewritten from its start) since the last read;
    /// if so the offsets go back to 0.
    pub fn check_truncated(&mut self) -> Result<bool> {
        let size = self
            .file
            .metadata()
            .map_err(io("reading a tailed file", &self.path))?
            .len();
        let rewritten = size < self.offset
            || (self.fp_len > 0 && fingerprint(&self.file, self.fp_len as usize) != Some(self.fp));
        if rewritten {
            self.offset = 0;
            self.committed = 0;
            self.fp = 0;
            self.fp_len = 0;
        }
        self.refresh_fingerprint(size);
        Ok(rewritten)
    }

    /// Reads the complete lines after the offset (at most [`READ_CHUNK`] bytes, through
    /// `buf`, which is kept between calls so a poll allocates no read buffer); a line
    /// longer than `max_line` is cut there, and its rest is read as further lines.
    pub fn read_lines(
        &mut self,
        max_line: usize,
        buf: &mut Vec<u8>,
        out: &mut Vec<Line>,
    ) -> Result<u64> {
        if buf.len() < READ_CHUNK {
            buf.resize(READ_CHUNK, 0);
        }
        let n = self
            .file
            .read_at(&mut buf[..READ_CHUNK], self.offset)
            .map_err(io("reading a tailed file", &self.path))?;
        self.backlog = n == READ_CHUNK;
        let buf = &buf[..n];
        let max_line = max_line.clamp(1, READ_CHUNK);
        let mut pos = 0usize;
        while pos < buf.len() {
            let rest = &buf[pos..];
            let (len, used, truncated) = match memchr::memchr(b'\n', rest) {
                Some(i) if i <= max_line => (i, i + 1, false),
                Some(_) => (max_line, max_line, true),
                None if rest.len() >= max_line => (max_line, max_line, true),
                None => break,
            };
            let mut line = rest[..len].to_vec();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let start = self.offset + pos as u64;
            out.push(Line {
                bytes: line,
                start,
                end: start + used as u64,
                truncated,
            });
            pos += used;
        }
        self.offset += pos as u64;
        // The file may have grown since `check_truncated`: the position taken after this
        // read carries a fingerprint of what was read.
        self.refresh_fingerprint(self.offset);
        Ok(pos as u64)
    }

    /// Offset after the last complete line read.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(f: &mut Followed) -> Vec<String> {
        let mut out = Vec::new();
        f.read_lines(1 << 10, &mut Vec::new(), &mut out).unwrap();
        out.into_iter()
            .map(|l| String::from_utf8(l.bytes).unwrap())
            .collect()
    }

    #[test]
    fn partial_lines_wait_and_truncation_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut w = File::create(&path).unwrap();
        w.write_all(b"one\ntw").unwrap();
        let mut f = Followed::open(&path, 0, None).unwrap();
        assert_eq!(lines(&mut f), vec!["one"]);
        w.write_all(b"o\r\n").unwrap();
        assert_eq!(lines(&mut f), vec!["two"]);
        assert!(!f.check_truncated().unwrap());
        f.committed = f.offset();
        let pos = f.position();
        assert_eq!(pos.offset, 9);

        // Resuming at the remembered position.
        let mut g = Followed::open(&path, 0, Some(&pos)).unwrap();
        w.write_all(b"three\n").unwrap();
        assert_eq!(lines(&mut g), vec!["three"]);

        // Copy-truncate: shorter than the offset.
        w.set_len(0).unwrap();
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(b"new\n").unwrap();
        assert!(g.check_truncated().unwrap());
        assert_eq!(lines(&mut g), vec!["new"]);

        // Another file under the remembered identity's offset: fingerprint differs.
        let other = Followed::open(&path, 0, Some(&pos)).unwrap();
        assert_eq!(other.offset(), 0);
    }

    /// The file grew between `check_truncated` and the read: the position after the read
    /// still names the file, so a restart resumes there instead of reading it again.
    #[test]
    fn a_file_read_while_it_grows_resumes_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut w = File::create(&path).unwrap();
        let mut f = Followed::open(&path, 0, None).unwrap();
        assert!(!f.check_truncated().unwrap());
        w.write_all(b"one\ntwo\n").unwrap();
        assert_eq!(lines(&mut f), vec!["one", "two"]);
        f.committed = f.offset();
        let pos = f.position();
        assert_eq!((pos.offset, pos.fp_len), (8, 8));
        assert_eq!(Followed::open(&path, 0, Some(&pos)).unwrap().offset(), 8);
        // A position taken before any fingerprint (older agents wrote these).
        let bare = FilePos {
            fp: 0,
            fp_len: 0,
            ..pos
        };
        assert_eq!(Followed::open(&path, 0, Some(&bare)).unwrap().offset(), 8);
    }

    #[test]
    fn long_lines_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"abcdefgh\nxy\n").unwrap();
        let mut f = Followed::open(&path, 0, None).unwrap();
        let mut out = Vec::new();
        f.read_lines(5, &mut Vec::new(), &mut out).unwrap();
        let got: Vec<(&[u8], bool)> = out.iter().map(|l| (&l.bytes[..], l.truncated)).collect();
        assert_eq!(
            got,
            vec![
                (&b"abcde"[..], true),
                (&b"fgh"[..], false),
                (&b"xy"[..], false)
            ]
        );
    }
}
