//! Segment files: their names, the segment header, the writer that appends framed records to
//! the current segment, and [`Segments`], which owns the set of segment files of a WAL
//! directory (rotation, deletion, disk usage).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{record, Record};
use crate::error::{Error, Result};

/// Magic bytes that start every segment file.
pub(crate) const MAGIC: [u8; 4] = *b"LKWL";
/// Version of the segment layout written after the magic; see `store/FORMAT.md`.
pub const FORMAT_VERSION: u8 = 1;
/// Length of the segment header: magic + version byte.
pub(crate) const HEADER_LEN: usize = 5;
/// The encode buffer is shrunk back to this after a batch larger than it.
const KEEP_BUF_CAPACITY: usize = 16 << 20;

/// The header every segment starts with.
pub(crate) fn header() -> [u8; HEADER_LEN] {
    [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], FORMAT_VERSION]
}

/// The path of segment `index`: an 8-digit zero-padded decimal file name.
pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// The index named by a segment file name, if it is one (canonical form only, so that
/// `000000001` and `00000001` never both count as segment 1).
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    if name.len() < 8 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index: u64 = name.parse().ok()?;
    (format!("{index:08}") == name).then_some(index)
}

/// The segment files in `dir`, sorted by index. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io("listing the WAL directory", dir))? {
        let entry = entry.map_err(Error::io("listing the WAL directory", dir))?;
        let Some(index) = entry.file_name().to_str().and_then(parse_segment_name) else {
            continue;
        };
        let path = entry.path();
        let ft = entry
            .file_type()
            .map_err(Error::io("reading a WAL segment's file type", &path))?;
        if ft.is_file() {
            out.push((index, path));
        } else {
            tracing::warn!(path = %path.display(), "WAL: ignoring a non-file entry named like a segment; remove it");
        }
    }
    out.sort_unstable_by_key(|(i, _)| *i);
    Ok(out)
}

/// The index after `index`, the segment at `path`.
fn next_index(index: u64, path: &Path) -> Result<u64> {
    index.checked_add(1).ok_or_else(|| Error::Corrupt {
        what: "WAL segment name",
        path: path.to_path_buf(),
        detail: "the segment index is u64::MAX, so no later segment can be created; \
                 move the WAL directory aside (its unpersisted samples are lost)"
            .into(),
    })
}

/// fsyncs a directory so that file creations and deletions in it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("syncing the WAL directory", dir))
}

/// The segment currently written. Opened in append mode, so after a failed write that was
/// rolled back with `set_len` the next write lands at the new end.
pub(crate) struct SegmentWriter {
    index: u64,
    path: PathBuf,
    file: File,
    size: u64,
    /// A failed write could not be rolled back: the file ends in garbage and must not be
    /// appended to again.
    broken: bool,
}

impl SegmentWriter {
    /// Creates segment `index` (it must not exist) and writes its header.
    pub(crate) fn create(dir: &Path, index: u64) -> Result<Self> {
        let path = segment_path(dir, index);
        let mut file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(Error::io("creating a WAL segment", &path))?;
        file.write_all(&header())
            .map_err(Error::io("writing a WAL segment header", &path))?;
        sync_dir(dir)?;
        let size = HEADER_LEN as u64;
        Ok(SegmentWriter {
            index,
            path,
            file,
            size,
            broken: false,
        })
    }

    /// Writes `bytes` (whole frames) to the OS. On failure tries to cut the partial write off.
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.file.write_all(bytes) {
            if self.file.set_len(self.size).is_err() {
                self.broken = true;
            }
            return Err(Error::io("writing to a WAL segment", &self.path)(e));
        }
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(Error::io("syncing a WAL segment", &self.path))
    }
}

/// The segment files of one WAL directory: the current writer, the sizes of the closed
/// segments, and the reusable encode buffer.
pub(crate) struct Segments {
    dir: PathBuf,
    segment_size: u64,
    current: SegmentWriter,
    /// Index -> size in bytes of every segment file other than the current one.
    closed: BTreeMap<u64, u64>,
    buf: Vec<u8>,
}

impl Segments {
    /// Starts a new segment after the `existing` ones (which are never appended to).
    pub(crate) fn start(
        dir: &Path,
        segment_size: u64,
        existing: &[(u64, PathBuf)],
    ) -> Result<Self> {
        let mut closed = BTreeMap::new();
        for (index, path) in existing {
            let meta =
                std::fs::metadata(path).map_err(Error::io("reading a WAL segment's size", path))?;
            closed.insert(*index, meta.len());
        }
        let next = match existing.last() {
            Some((last, path)) => next_index(*last, path)?,
            None => 1,
        };
        let current = SegmentWriter::create(dir, next)?;
        Ok(Segments {
            dir: dir.to_path_buf(),
            segment_size,
            current,
            closed,
            buf: Vec::new(),
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Encodes `records` and writes them, one write per segment touched. A record goes to a
    /// fresh segment when it would push the current one past `segment_size` (unless the
    /// current one holds no records yet: a record larger than a segment gets one of its own).
    pub(crate) fn append(&mut self, records: &[Record]) -> Result<()> {
        if self.current.broken {
            self.cut()?;
        }
        self.buf.clear();
        let mut flushed = 0;
        for rec in records {
            let start = self.buf.len();
            record::encode_framed(rec, &mut self.buf)?;
            let before = self.current.size + (start - flushed) as u64;
            let after = before + (self.buf.len() - start) as u64;
            if after > self.segment_size && before > HEADER_LEN as u64 {
                self.current.write(&self.buf[flushed..start])?;
                self.cut()?;
                flushed = start;
            }
        }
        let res = self.current.write(&self.buf[flushed..]);
        if self.buf.capacity() > KEEP_BUF_CAPACITY {
            self.buf = Vec::with_capacity(KEEP_BUF_CAPACITY);
        }
        res
    }

    pub(crate) fn sync(&mut self) -> Result<()> {
        self.current.sync()
    }

    /// fsyncs and closes the current segment and starts the next one; returns its index.
    pub(crate) fn cut(&mut self) -> Result<u64> {
        if self.current.broken {
            tracing::warn!(path = %self.current.path.display(),
                "WAL: closing a segment whose last write failed and could not be rolled back; \
                 replay will skip its damaged tail");
        } else {
            self.current.sync()?;
        }
        let next = next_index(self.current.index, &self.current.path)?;
        let new = SegmentWriter::create(&self.dir, next)?;
        let old = std::mem::replace(&mut self.current, new);
        self.closed.insert(old.index, old.size);
        Ok(next)
    }

    /// Deletes every segment with an index below `index`, lowest first (a crash midway leaves
    /// no gap). The current segment is never deleted.
    pub(crate) fn remove_before(&mut self, index: u64) -> Result<()> {
        let doomed: Vec<u64> = self.closed.range(..index).map(|(i, _)| *i).collect();
        if doomed.is_empty() {
            return Ok(());
        }
        for i in doomed {
            let path = segment_path(&self.dir, i);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("deleting a WAL segment", &path)(e)),
            }
            self.closed.remove(&i);
        }
        sync_dir(&self.dir)
    }

    /// Total bytes of all segment files and their number.
    pub(crate) fn disk_usage(&self) -> (u64, usize) {
        let bytes = self.closed.values().sum::<u64>() + self.current.size;
        (bytes, self.closed.len() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::tests::{samples, series};

    #[test]
    fn segment_names_are_canonical_eight_digit_indexes() {
        let dir = Path::new("/w");
        assert_eq!(segment_path(dir, 1), Path::new("/w/00000001"));
        assert_eq!(segment_path(dir, 123_456_789), Path::new("/w/123456789"));
        assert_eq!(parse_segment_name("00000001"), Some(1));
        assert_eq!(parse_segment_name("123456789"), Some(123_456_789));
        for bad in [
            "0000001",
            "000000001",
            "0000000x",
            "00000001.tmp",
            "",
            "-0000001",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn listing_ignores_other_files_and_sorts() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["00000010", "00000002", "checkpoint", "00000003.tmp"] {
            std::fs::write(tmp.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(tmp.path().join("00000005")).unwrap();
        let got: Vec<u64> = list_segments(tmp.path())
            .unwrap()
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(got, vec![2, 10]);
    }

    #[test]
    fn append_writes_whole_frames_and_reuses_its_buffer() {
        let tmp = tempfile::tempdir().unwrap();
        let mut segs = Segments::start(tmp.path(), 1 << 20, &[]).unwrap();
        let path = segment_path(tmp.path(), 1);
        assert_eq!(std::fs::read(&path).unwrap(), header());
        segs.append(&[]).unwrap();
        assert_eq!(segs.disk_usage(), (HEADER_LEN as u64, 1));

        let recs = [series(1, "a"), samples(1, 1000)];
        segs.append(&recs).unwrap();
        let mut want = header().to_vec();
        for r in &recs {
            record::encode_framed(r, &mut want).unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), want);
        let cap = segs.buf.capacity();
        segs.append(&recs).unwrap();
        assert_eq!(
            segs.buf.capacity(),
            cap,
            "the encode buffer is reused, not regrown"
        );

        // A batch bigger than the kept capacity does not pin its memory afterwards.
        segs.append(&[samples(0, 2_000_000)]).unwrap();
        assert!(segs.buf.capacity() <= KEEP_BUF_CAPACITY);
        let files = list_segments(tmp.path()).unwrap();
        let on_disk: u64 = files
            .iter()
            .map(|(_, p)| std::fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(
            segs.disk_usage(),
            (on_disk, 2),
            "the big record went to a second segment"
        );
    }
}
