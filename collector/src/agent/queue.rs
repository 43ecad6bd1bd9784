//! The agent's disk-backed queue, one per signal: what the agent gathered waits here until
//! the server acknowledges it, across server outages, agent restarts and `kill -9`.
//!
//! Layout of a queue directory:
//! - `NNNNNNNNNNNNNNNNNNNN.seg` segment files (the number is the segment's sequence), each a
//!   run of records `u32 LE length | u32 LE crc32(payload) | payload`;
//! - `cursor`: `u64 LE segment | u64 LE offset` of the first record not yet acknowledged,
//!   replaced atomically (write and rename) on every acknowledgement.
//!
//! A push is a `write(2)` of one whole record before `push` returns, so a process crash
//! loses nothing pushed; the segment is fsynced when it is closed and by [`Queue::sync`]
//! (the agent calls it every second), which bounds what a machine crash can lose. A torn
//! record at the tail (a crash during the write) is cut off on open. Delivery is at least
//! once: a crash between a send and its acknowledgement sends that batch again.
//!
//! When the queue holds more than its size limit, whole oldest segments are dropped and
//! counted (the overflow policy: newest data wins), so a long outage costs the oldest data,
//! never the agent's disk.
//!
//! Written by hand: the job is a few dozen lines over `std::fs`, and the queue crates on
//! crates.io either keep everything in memory or bring their own runtime and format.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use lookout_store::{Error, Result};
use parking_lot::Mutex;

/// Bytes after which a segment is closed and a new one started.
const SEGMENT_BYTES: u64 = 8 << 20;
/// Largest record accepted (a corrupt length beyond it ends a segment's valid part).
const MAX_RECORD: u32 = 256 << 20;
const HEADER: u64 = 8;

/// Where a record starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub segment: u64,
    pub offset: u64,
}

/// Counters of a queue, for the agent's `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueStats {
    /// Bytes on disk not yet acknowledged (whole segments, so an upper bound).
    pub bytes: u64,
    /// Segments on disk.
    pub segments: u64,
    /// Records pushed since start.
    pub pushed: u64,
    /// Records and bytes dropped by the size limit since start.
    pub dropped_records: u64,
    pub dropped_bytes: u64,
}

struct Inner {
    /// (sequence, bytes) of every segment on disk, oldest first; the last one is open.
    segments: Vec<(u64, u64)>,
    writer: File,
    cursor: Pos,
    stats: QueueStats,
}

/// A disk-backed FIFO of byte records with one consumer.
pub struct Queue {
    dir: PathBuf,
    max_bytes: u64,
    inner: Mutex<Inner>,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn seg_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.seg"))
}

impl Queue {
    /// Opens (creating) the queue in `dir`, keeping at most `max_bytes` on disk.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Queue> {
        std::fs::create_dir_all(dir).map_err(io("creating the queue directory", dir))?;
        let mut seqs: Vec<u64> = std::fs::read_dir(dir)
            .map_err(io("listing the queue directory", dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".seg")?.parse::<u64>().ok()
            })
            .collect();
        seqs.sort_unstable();
        if seqs.is_empty() {
            seqs.push(1);
        }
        let mut segments = Vec::with_capacity(seqs.len());
        for &seq in &seqs {
            let path = seg_path(dir, seq);
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            segments.push((seq, len));
        }
        // Cut a torn record off the tail of the newest segment.
        let (last_seq, last_len) = segments[segments.len() - 1];
        let last = seg_path(dir, last_seq);
        let valid = valid_len(&last)?;
        let writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&last)
            .map_err(io("opening a queue segment", &last))?;
        if valid < last_len {
            writer
                .set_len(valid)
                .map_err(io("truncating a torn queue record", &last))?;
            tracing::warn!(path = %last.display(), "cut a torn record off the agent queue");
        }
        if let Some(s) = segments.last_mut() {
            s.1 = valid;
        }
        let mut cursor = read_cursor(dir)?.unwrap_or(Pos {
            segment: segments[0].0,
            offset: 0,
        });
        // A cursor before the oldest segment (dropped by the size limit) starts at it.
        if cursor.segment < segments[0].0 {
            cursor = Pos {
                segment: segments[0].0,
                offset: 0,
            };
        }
        let stats = QueueStats {
            bytes: segments.iter().map(|s| s.1).sum(),
            segments: segments.len() as u64,
            ..Default::default()
        };
        Ok(Queue {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(2 * SEGMENT_BYTES),
            inner: Mutex::new(Inner {
                segments,
                writer,
                cursor,
                stats,
            }),
        })
    }

    /// Appends one record; it is on disk (in the page cache) when this returns.
    pub fn push(&self, payload: &[u8]) -> Result<()> {
        if payload.len() as u64 > u64::from(MAX_RECORD) {
            return Err(Error::BadInput(format!(
                "a queue record of {} bytes is larger than the limit of {MAX_RECORD} bytes",
                payload.len()
            )));
        }
        let mut rec = Vec::with_capacity(payload.len() + HEADER as usize);
        rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        rec.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        rec.extend_from_slice(payload);
        let mut g = self.inner.lock();
        let inner = &mut *g;
        if inner.segments.last().is_some_and(|s| s.1 >= SEGMENT_BYTES) {
            self.roll(inner)?;
        }
        let seq = inner.segments.last().map(|s| s.0).unwrap_or(1);
        inner
            .writer
            .write_all(&rec)
            .map_err(io("writing the agent queue", &seg_path(&self.dir, seq)))?;
        if let Some(s) = inner.segments.last_mut() {
            s.1 += rec.len() as u64;
        }
        inner.stats.bytes += rec.len() as u64;
        inner.stats.pushed += 1;
        self.enforce_limit(inner);
        Ok(())
    }

    /// Closes the open segment (fsynced) and starts the next.
    fn roll(&self, inner: &mut Inner) -> Result<()> {
        let seq = inner.segments.last().map(|s| s.0).unwrap_or(0) + 1;
        let path = seg_path(&self.dir, seq);
        inner
            .writer
            .sync_data()
            .map_err(io("syncing the agent queue", &path))?;
        inner.writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io("creating a queue segment", &path))?;
        inner.segments.push((seq, 0));
        inner.stats.segments += 1;
        Ok(())
    }

    /// Drops whole oldest segments while the queue is over its limit (never the open one).
    fn enforce_limit(&self, inner: &mut Inner) {
        while inner.stats.bytes > self.max_bytes && inner.segments.len() > 1 {
            let (seq, bytes) = inner.segments.remove(0);
            let path = seg_path(&self.dir, seq);
            // Only the records not yet sent count as dropped.
            let skipped = match inner.cursor.segment.cmp(&seq) {
                std::cmp::Ordering::Less => count_records(&path),
                std::cmp::Ordering::Equal => {
                    count_records_from(&path, inner.cursor.offset, u64::MAX)
                }
                std::cmp::Ordering::Greater => 0,
            };
            let _ = std::fs::remove_file(&path);
            inner.stats.bytes -= bytes;
            inner.stats.segments -= 1;
            if inner.cursor.segment <= seq {
                inner.stats.dropped_records += skipped;
                inner.stats.dropped_bytes += bytes;
                inner.cursor = Pos {
                    segment: inner.segments[0].0,
                    offset: 0,
                };
            }
            tracing::warn!(
                segment = seq,
                bytes,
                "agent queue over its size limit: dropped its oldest segment"
            );
        }
    }

    /// Up to `max_records` records (and about `max_bytes`) from the first unacknowledged
    /// one, each with the position after it (pass the last to [`Queue::ack`]).
    pub fn peek(&self, max_records: usize, max_bytes: usize) -> Result<Vec<(Pos, Vec<u8>)>> {
        let (mut pos, segments) = {
            let g = self.inner.lock();
            (g.cursor, g.segments.clone())
        };
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let first = pos.segment;
        for &(seq, len) in segments.iter().filter(|s| s.0 >= first) {
            if seq > pos.segment {
                pos = Pos {
                    segment: seq,
                    offset: 0,
                };
            }
            if pos.offset >= len {
                continue;
            }
            let path = seg_path(&self.dir, seq);
            let mut f = match File::open(&path) {
                Ok(f) => f,
                // Dropped by the size limit meanwhile: the next one follows.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("reading the agent queue", &path)(e)),
            };
            f.seek(SeekFrom::Start(pos.offset))
                .map_err(io("reading the agent queue", &path))?;
            let mut r = std::io::BufReader::new(f);
            while pos.offset < len && out.len() < max_records && bytes < max_bytes {
                let Some(payload) = read_record(&mut r) else {
                    break;
                };
                pos.offset += HEADER + payload.len() as u64;
                bytes += payload.len();
                out.push((pos, payload));
            }
            if out.len() >= max_records || bytes >= max_bytes {
                break;
            }
        }
        Ok(out)
    }

    /// Marks everything before `upto` as delivered: persists the cursor and deletes the
    /// segments wholly before it.
    pub fn ack(&self, upto: Pos) -> Result<()> {
        let mut g = self.inner.lock();
        if upto <= g.cursor {
            return Ok(());
        }
        g.cursor = upto;
        write_cursor(&self.dir, upto)?;
        while g.segments.len() > 1 && g.segments[0].0 < upto.segment {
            let (seq, bytes) = g.segments.remove(0);
            let _ = std::fs::remove_file(seg_path(&self.dir, seq));
            g.stats.bytes -= bytes;
            g.stats.segments -= 1;
        }
        Ok(())
    }

    /// The newest record, acknowledged or not (the logs queue keeps the tail positions in
    /// it); `None` when the queue holds none.
    pub fn last(&self) -> Result<Option<Vec<u8>>> {
        let segments = self.inner.lock().segments.clone();
        for &(seq, len) in segments.iter().rev() {
            if len == 0 {
                continue;
            }
            let path = seg_path(&self.dir, seq);
            let f = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("reading the agent queue", &path)(e)),
            };
            let mut r = std::io::BufReader::new(f);
            let mut last = None;
            let mut at = 0;
            while at < len {
                let Some(p) = read_record(&mut r) else { break };
                at += HEADER + p.len() as u64;
                last = Some(p);
            }
            if last.is_some() {
                return Ok(last);
            }
        }
        Ok(None)
    }

    /// fsyncs the open segment.
    pub fn sync(&self) -> Result<()> {
        let g = self.inner.lock();
        g.writer
            .sync_data()
            .map_err(io("syncing the agent queue", &self.dir))
    }

    /// Whether every pushed record is acknowledged.
    pub fn is_empty(&self) -> bool {
        let g = self.inner.lock();
        g.segments
            .iter()
            .filter(|s| s.0 >= g.cursor.segment)
            .all(|s| s.0 == g.cursor.segment && s.1 <= g.cursor.offset || s.1 == 0)
    }

    /// Bytes not yet acknowledged (exact), for back-pressure and `/metrics`.
    pub fn pending_bytes(&self) -> u64 {
        let g = self.inner.lock();
        g.segments
            .iter()
            .filter(|s| s.0 >= g.cursor.segment)
            .map(|s| {
                if s.0 == g.cursor.segment {
                    s.1.saturating_sub(g.cursor.offset)
                } else {
                    s.1
                }
            })
            .sum()
    }

    /// Records not yet acknowledged, for `/metrics`: walks the record headers (one seek
    /// per record) rather than keeping a count that a drop or an ack would have to redo.
    pub fn pending_records(&self) -> u64 {
        let (cursor, segments) = {
            let g = self.inner.lock();
            (g.cursor, g.segments.clone())
        };
        let mut n = 0;
        for &(seq, len) in segments.iter().filter(|s| s.0 >= cursor.segment) {
            let from = if seq == cursor.segment {
                cursor.offset
            } else {
                0
            };
            let Ok(f) = File::open(seg_path(&self.dir, seq)) else {
                continue;
            };
            let mut r = std::io::BufReader::new(f);
            if r.seek(SeekFrom::Start(from)).is_err() {
                continue;
            }
            let mut at = from;
            let mut h = [0u8; HEADER as usize];
            while at < len && r.read_exact(&mut h).is_ok() {
                let l = u64::from(u32::from_le_bytes([h[0], h[1], h[2], h[3]]));
                if r.seek_relative(l as i64).is_err() {
                    break;
                }
                at += HEADER + l;
                n += 1;
            }
        }
        n
    }

    pub fn stats(&self) -> QueueStats {
        self.inner.lock().stats
    }
}

/// One record's payload, or `None` at the end or at a torn/corrupt record.
fn read_record(r: &mut impl Read) -> Option<Vec<u8>> {
    let mut h = [0u8; HEADER as usize];
    r.read_exact(&mut h).ok()?;
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if len > MAX_RECORD {
        return None;
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).ok()?;
    (crc32fast::hash(&payload) == crc).then_some(payload)
}

/// Bytes of whole valid records at the start of a segment.
fn valid_len(path: &Path) -> Result<u64> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io("reading a queue segment", path)(e)),
    };
    let mut r = std::io::BufReader::new(f);
    let mut n = 0;
    while let Some(p) = read_record(&mut r) {
        n += HEADER + p.len() as u64;
    }
    Ok(n)
}

fn count_records(path: &Path) -> u64 {
    count_records_from(path, 0, u64::MAX)
}

fn count_records_from(path: &Path, offset: u64, cap: u64) -> u64 {
    let Ok(mut f) = File::open(path) else {
        return 0;
    };
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return 0;
    }
    let mut r = std::io::BufReader::new(f);
    let mut n = 0;
    while n < cap && read_record(&mut r).is_some() {
        n += 1;
    }
    n
}

fn read_cursor(dir: &Path) -> Result<Option<Pos>> {
    let path = dir.join("cursor");
    match std::fs::read(&path) {
        Ok(b) if b.len() == 16 => {
            let mut s = [0u8; 8];
            let mut o = [0u8; 8];
            s.copy_from_slice(&b[..8]);
            o.copy_from_slice(&b[8..]);
            Ok(Some(Pos {
                segment: u64::from_le_bytes(s),
                offset: u64::from_le_bytes(o),
            }))
        }
        Ok(_) => Err(Error::Corrupt {
            what: "agent queue cursor",
            path,
            detail: "expected 16 bytes".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading the agent queue cursor", &path)(e)),
    }
}

fn write_cursor(dir: &Path, pos: Pos) -> Result<()> {
    let tmp = dir.join("cursor.tmp");
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&pos.segment.to_le_bytes());
    b[8..].copy_from_slice(&pos.offset.to_le_bytes());
    std::fs::write(&tmp, b).map_err(io("writing the agent queue cursor", &tmp))?;
    std::fs::rename(&tmp, dir.join("cursor")).map_err(io("writing the agent queue cursor", &tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &Queue) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        loop {
            let got = q.peek(3, 1 << 20).unwrap();
            let Some(last) = got.last().map(|g| g.0) else {
                return all;
            };
            all.extend(got.into_iter().map(|g| g.1));
            q.ack(last).unwrap();
        }
    }

    #[test]
    fn fifo_across_reopen_and_ack() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path(), 1 << 30).unwrap();
        for i in 0..10u8 {
            q.push(&[i; 5]).unwrap();
        }
        let first = q.peek(4, 1 << 20).unwrap();
        q.ack(first[3].0).unwrap();
        drop(q);
        let q = Queue::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(q.pending_records(), 6);
        let rest = drain(&q);
        assert_eq!(rest, (4..10u8).map(|i| vec![i; 5]).collect::<Vec<_>>());
        assert_eq!(q.pending_records(), 0);
        assert!(q.is_empty());
        assert_eq!(q.last().unwrap(), Some(vec![9u8; 5]));
        q.push(b"after").unwrap();
        assert_eq!(drain(&q), vec![b"after".to_vec()]);
    }

    #[test]
    fn torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path(), 1 << 30).unwrap();
        q.push(b"one").unwrap();
        q.push(b"two").unwrap();
        drop(q);
        let seg = seg_path(dir.path(), 1);
        let len = std::fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 2).unwrap();
        let q = Queue::open(dir.path(), 1 << 30).unwrap();
        q.push(b"three").unwrap();
        assert_eq!(drain(&q), vec![b"one".to_vec(), b"three".to_vec()]);
    }

    #[test]
    fn overflow_drops_oldest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path(), 0).unwrap(); // the floor: two segments
        let rec = vec![7u8; 1 << 20];
        for _ in 0..40 {
            q.push(&rec).unwrap();
        }
        let s = q.stats();
        assert!(s.bytes <= 2 * SEGMENT_BYTES + (1 << 20) + 64, "{s:?}");
        assert!(s.dropped_records > 0);
        let kept = drain(&q).len() as u64;
        assert_eq!(kept + s.dropped_records, 40);
    }
}
