//! Reading the WAL back on open: replays every segment in index order through the caller's
//! callback and repairs what a crash leaves behind. Damage in the last segment is a torn
//! tail and is truncated away; damage in an earlier segment ends that segment's replay; a
//! segment with a bad header is skipped. Only I/O errors, an unsupported format version and
//! the callback's own errors stop replay.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use tracing::warn;

use super::record::{self, FRAME_HEADER_LEN};
use super::segment::{self, FORMAT_VERSION, HEADER_LEN, MAGIC};
use super::{Record, ReplayStats};
use crate::error::{Error, Result};

const READ_BUFFER: usize = 1 << 20;

/// Replays `segments` (sorted by index) through `f`, with the index of the segment each
/// record is in. The highest-index segment is "the last".
pub(crate) fn replay_all(
    segments: &[(u64, PathBuf)],
    f: &mut impl FnMut(u64, Record) -> Result<()>,
) -> Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    for (i, (index, path)) in segments.iter().enumerate() {
        if i > 0 && segments[i - 1].0 + 1 != *index {
            warn!(path = %path.display(), previous = segments[i - 1].0,
                "WAL: segments are missing before this one; the records they held are lost");
        }
        let index = *index;
        replay_segment(
            path,
            i + 1 == segments.len(),
            &mut |r| f(index, r),
            &mut stats,
        )?;
    }
    Ok(stats)
}

/// Where a segment's readable records end, if before the end of the file.
struct Damage {
    offset: u64,
    detail: String,
}

fn replay_segment(
    path: &Path,
    is_last: bool,
    f: &mut impl FnMut(Record) -> Result<()>,
    stats: &mut ReplayStats,
) -> Result<()> {
    let io = |what| Error::io(what, path);
    let file = File::open(path).map_err(io("opening a WAL segment for replay"))?;
    let size = file
        .metadata()
        .map_err(io("reading a WAL segment's size"))?
        .len();
    let mut reader = BufReader::with_capacity(READ_BUFFER, file);

    let mut head = [0u8; HEADER_LEN];
    let got = read_up_to(&mut reader, &mut head).map_err(io("reading a WAL segment header"))?;
    let damage = if got == 0 {
        None
    } else if got < HEADER_LEN && head[..got] == segment::header()[..got] {
        Some(Damage {
            offset: 0,
            detail: format!("only {got} bytes of the {HEADER_LEN}-byte header"),
        })
    } else if got < HEADER_LEN || head[..4] != MAGIC {
        warn!(path = %path.display(),
            "WAL: skipping a segment without the WAL magic bytes; it is not a Lookout WAL segment \
             or its start is destroyed, and any records in it are lost. Remove it if it is not yours");
        stats.corrupt_segments_dropped += 1;
        return Ok(());
    } else if head[4] != FORMAT_VERSION {
        return Err(Error::Corrupt {
            what: "WAL segment",
            path: path.to_path_buf(),
            detail: format!(
                "format version {} is not supported (this build reads version {FORMAT_VERSION}); it was \
                 written by another Lookout version: run that version to replay and persist it, or move \
                 the WAL directory aside to start without its unpersisted samples",
                head[4]
            ),
        });
    } else {
        read_records(path, &mut reader, size, f, stats)?
    };
    stats.segments += 1;

    let Some(Damage { offset, detail }) = damage else {
        return Ok(());
    };
    let lost = size - offset;
    if is_last {
        warn!(path = %path.display(), offset, lost_bytes = lost,
            "WAL: torn or corrupt tail in the last segment ({detail}); truncating the segment at this \
             offset. After a crash these bytes are an unfinished write; otherwise (disk damage) the \
             records they held are lost");
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io("opening a WAL segment to truncate its torn tail"))?;
        file.set_len(offset)
            .map_err(io("truncating a WAL segment's torn tail"))?;
        file.sync_all()
            .map_err(io("syncing a truncated WAL segment"))?;
        stats.truncated_bytes += lost;
    } else {
        warn!(path = %path.display(), offset, lost_bytes = lost,
            "WAL: corrupt record in a segment that is not the last ({detail}); the remaining bytes of \
             this segment are skipped and the samples they held are LOST (check the disk). Replay \
             continues with the next segment");
    }
    Ok(())
}

/// Reads and replays records until the end of the file or the first damaged record.
fn read_records(
    path: &Path,
    reader: &mut BufReader<File>,
    size: u64,
    f: &mut impl FnMut(Record) -> Result<()>,
    stats: &mut ReplayStats,
) -> Result<Option<Damage>> {
    let read_err = |e| Error::io("reading a WAL segment", path)(e);
    let mut offset = HEADER_LEN as u64;
    let mut body = Vec::new();
    loop {
        let remain = size - offset;
        if remain == 0 {
            return Ok(None);
        }
        let damage = |detail: String| Ok(Some(Damage { offset, detail }));
        if remain < FRAME_HEADER_LEN as u64 {
            return damage(format!(
                "a partial record frame of {remain} bytes at the end of the file"
            ));
        }
        let mut frame = [0u8; FRAME_HEADER_LEN];
        reader.read_exact(&mut frame).map_err(read_err)?;
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let avail = remain - FRAME_HEADER_LEN as u64;
        if len == 0 {
            return damage("a record of length 0 (zeroed or garbage bytes)".into());
        }
        if u64::from(len) > avail {
            return damage(format!(
                "a record length of {len} bytes runs past the end of the file ({avail} bytes left)"
            ));
        }
        body.resize(len as usize, 0);
        reader.read_exact(&mut body).map_err(read_err)?;
        let actual = crc32fast::hash(&body);
        if actual != crc {
            return damage(format!(
                "CRC mismatch: stored {crc:#010x}, computed {actual:#010x}"
            ));
        }
        let rec = match record::decode_body(&body) {
            Ok(rec) => rec,
            Err(e) => return damage(e.to_string()),
        };
        stats.records += 1;
        match &rec {
            Record::Series(s) => stats.series += s.len() as u64,
            Record::Samples(s) => stats.samples += s.len() as u64,
            Record::Logs(s) => {
                stats.log_lines += s.iter().map(|s| s.records.len() as u64).sum::<u64>()
            }
            Record::Spans(_) | Record::Exemplars(_) => {}
        }
        f(rec)?;
        offset += FRAME_HEADER_LEN as u64 + u64::from(len);
    }
}

/// Reads until `buf` is full or end of file; returns the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::tests::{capture_events, open_collect, samples, seg, series};
    use super::super::{Wal, WalOptions, DEFAULT_SEGMENT_SIZE as SIZE};
    use super::*;

    fn len(p: &Path) -> u64 {
        fs::metadata(p).unwrap().len()
    }

    /// Logs `recs` one per call into segment 1 of a fresh WAL; returns each record's start offset.
    fn write_one_segment(dir: &Path, recs: &[Record]) -> Vec<u64> {
        let (mut wal, _, _) = open_collect(dir, SIZE);
        let mut starts = Vec::new();
        for r in recs {
            starts.push(len(&seg(dir, 1)));
            wal.log(std::slice::from_ref(r)).unwrap();
        }
        starts
    }

    fn flip_byte(p: &Path, at: u64) {
        let mut b = fs::read(p).unwrap();
        b[at as usize] ^= 0x40;
        fs::write(p, b).unwrap();
    }

    #[test]
    fn torn_tail_at_every_offset_is_truncated_and_writes_resume() {
        let tmp = tempfile::tempdir().unwrap();
        let recs = [series(1, "a"), samples(1, 3), samples(1, 5)];
        let starts = write_one_segment(tmp.path(), &recs);
        let pristine = fs::read(seg(tmp.path(), 1)).unwrap();
        let last = starts[2];
        for cut in last..pristine.len() as u64 {
            let dir = tmp.path().join(format!("cut{cut}"));
            fs::create_dir(&dir).unwrap();
            fs::write(seg(&dir, 1), &pristine[..cut as usize]).unwrap();

            let ((mut wal, stats, got), events) = capture_events(|| open_collect(&dir, SIZE));
            assert_eq!(got, recs[..2], "cut at {cut}");
            assert_eq!(stats.truncated_bytes, cut - last, "cut at {cut}");
            assert_eq!(
                len(&seg(&dir, 1)),
                last,
                "segment truncated at the torn record"
            );
            if cut > last {
                assert_eq!(events.len(), 1, "{events:?}");
                let e = &events[0];
                assert!(
                    e.starts_with("WARN") && e.contains("torn or corrupt tail"),
                    "{e}"
                );
                assert!(
                    e.contains(&format!("offset={last}")) && e.contains(&*dir.to_string_lossy()),
                    "{e}"
                );
            }

            wal.log(&[series(2, "after")]).unwrap();
            drop(wal);
            let (_wal, stats, got) = open_collect(&dir, SIZE);
            assert_eq!(got, [&recs[..2], &[series(2, "after")][..]].concat());
            assert_eq!((stats.truncated_bytes, stats.segments), (0, 2));
        }
    }

    #[test]
    fn corrupt_crc_mid_last_segment_keeps_records_before() {
        let tmp = tempfile::tempdir().unwrap();
        let recs: Vec<Record> = (0..5).map(|i| samples(i, 4)).collect();
        let starts = write_one_segment(tmp.path(), &recs);
        let path = seg(tmp.path(), 1);
        let size = len(&path);
        flip_byte(&path, starts[2] + FRAME_HEADER_LEN as u64 + 3);

        let ((_wal, stats, got), events) = capture_events(|| open_collect(tmp.path(), SIZE));
        assert_eq!(got, recs[..2]);
        assert_eq!(stats.truncated_bytes, size - starts[2]);
        assert_eq!(len(&path), starts[2]);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            events[0].contains("CRC mismatch")
                && events[0].contains(&format!("offset={}", starts[2]))
        );
    }

    #[test]
    fn corruption_in_earlier_segment_skips_rest_of_it_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (mut wal, _, _) = open_collect(dir, SIZE);
        wal.log(&[series(1, "a")]).unwrap();
        let bad = len(&seg(dir, 1));
        wal.log(&[samples(1, 2), samples(1, 3)]).unwrap();
        wal.cut_segment().unwrap();
        wal.log(&[samples(1, 4)]).unwrap();
        drop(wal);
        let size1 = len(&seg(dir, 1));
        fs::OpenOptions::new()
            .write(true)
            .open(seg(dir, 1))
            .unwrap()
            .set_len(bad + 10)
            .unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(seg(dir, 1))
            .unwrap()
            .set_len(size1)
            .unwrap(); // zeros

        let ((_wal, stats, got), events) = capture_events(|| open_collect(dir, SIZE));
        assert_eq!(got, vec![series(1, "a"), samples(1, 4)]);
        assert_eq!(
            (stats.truncated_bytes, stats.segments, stats.records),
            (0, 2, 2)
        );
        assert_eq!(
            len(&seg(dir, 1)),
            size1,
            "an earlier segment is left as evidence"
        );
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            events[0].contains("LOST") && events[0].contains(&format!("offset={bad}")),
            "{}",
            events[0]
        );
    }

    #[test]
    fn bad_headers_empty_segments_and_garbage_tails() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write_one_segment(dir, &[series(1, "a")]);
        fs::write(seg(dir, 2), b"").unwrap(); // empty: fine
        fs::write(seg(dir, 3), segment::header()).unwrap(); // header only: fine
        fs::write(seg(dir, 4), b"NOPE\x01garbage").unwrap(); // not a WAL segment: dropped
        let mut s5 = segment::header().to_vec();
        record::encode_framed(&samples(1, 2), &mut s5).unwrap();
        let good = s5.len() as u64;
        let mut body = vec![9u8, 1, 2, 3]; // unknown record type with a valid CRC
        s5.extend_from_slice(&(body.len() as u32).to_le_bytes());
        s5.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        s5.append(&mut body);
        s5.extend_from_slice(&[0; 100]);
        fs::write(seg(dir, 5), &s5).unwrap();

        let ((_wal, stats, got), events) = capture_events(|| open_collect(dir, SIZE));
        assert_eq!(got, vec![series(1, "a"), samples(1, 2)]);
        let want = ReplayStats {
            segments: 4,
            records: 2,
            series: 1,
            samples: 2,
            log_lines: 0,
            truncated_bytes: s5.len() as u64 - good,
            corrupt_segments_dropped: 1,
        };
        assert_eq!(stats, want);
        assert_eq!(len(&seg(dir, 5)), good);
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            events[0].contains("magic") && events[1].contains("unknown record type"),
            "{events:?}"
        );
        assert!(seg(dir, 6).exists());
    }

    #[test]
    fn partial_header_in_last_segment_is_a_torn_tail() {
        let tmp = tempfile::tempdir().unwrap();
        write_one_segment(tmp.path(), &[series(1, "a")]);
        fs::write(seg(tmp.path(), 2), &segment::header()[..3]).unwrap();
        let (_wal, stats, got) = open_collect(tmp.path(), SIZE);
        assert_eq!(got, vec![series(1, "a")]);
        assert_eq!((stats.truncated_bytes, stats.segments), (3, 2));
        // The emptied segment is removed; the new one takes its index.
        assert_eq!(len(&seg(tmp.path(), 2)), segment::HEADER_LEN as u64);
        assert!(!seg(tmp.path(), 3).exists());
    }

    #[test]
    fn unknown_version_refuses_with_instructions() {
        let tmp = tempfile::tempdir().unwrap();
        let mut h = segment::header();
        h[4] = FORMAT_VERSION + 1;
        fs::write(seg(tmp.path(), 1), h).unwrap();
        let err = Wal::open(tmp.path(), WalOptions::default(), |_| Ok(()))
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(
            matches!(err, Error::Corrupt { ref path, .. } if *path == seg(tmp.path(), 1)),
            "{msg}"
        );
        assert!(
            msg.contains("format version 2 is not supported")
                && msg.contains("move the WAL directory"),
            "{msg}"
        );
    }
}
