//! The write-ahead log: every series creation and sample batch is logged here before it is
//! acknowledged, so the in-memory head can be rebuilt after a crash.
//!
//! This module owns the WAL directory and everything in it: numbered segment files
//! (`00000001`, `00000002`, ...), their byte layout (`store/FORMAT.md`, "WAL"), writing and
//! rotating them, replaying them on open, and repairing a torn tail. It does not know what
//! the records mean; the head decides that in the replay callback.
//!
//! Durability: [`Wal::log`] returns once the bytes are handed to the OS (they survive a
//! process crash); [`Wal::sync`] makes them survive a power loss. Segments are fsynced when
//! they are closed.

mod record;
mod replay;
mod segment;

use std::path::Path;

use crate::error::{Error, Result};
use crate::model::{Labels, LogStream};

pub use segment::FORMAT_VERSION;

/// A series' WAL reference: unique for the life of the WAL directory (the caller guarantees it).
pub type SeriesRef = u64;

/// One logged record.
#[derive(Debug, Clone)]
pub enum Record {
    /// New series: their refs and label sets. Logged before any samples that use the ref.
    Series(Vec<(SeriesRef, Labels)>),
    /// Float samples: (ref, timestamp ms, value). Values are stored bit-exact (any NaN
    /// payload, including the stale marker, survives).
    Samples(Vec<(SeriesRef, i64, f64)>),
    /// Log streams with their records (the log engine's WAL; never in a metrics WAL).
    Logs(Vec<LogStream>),
    /// Span batches (the span engine's WAL; never in a metrics or logs WAL).
    Spans(Vec<crate::model::span::ResourceSpans>),
    /// Exemplars by series label set (the metrics WAL). Values are stored bit-exact.
    Exemplars(Vec<crate::metrics::exemplars::SeriesExemplars>),
}

/// Bit equality for values, so NaNs and staleness markers compare as stored.
impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Record::Series(a), Record::Series(b)) => a == b,
            (Record::Samples(a), Record::Samples(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| x.0 == y.0 && x.1 == y.1 && x.2.to_bits() == y.2.to_bits())
            }
            (Record::Logs(a), Record::Logs(b)) => a == b,
            (Record::Spans(a), Record::Spans(b)) => a == b,
            (Record::Exemplars(a), Record::Exemplars(b)) => {
                a.len() == b.len()
                    && a.iter().zip(b).all(|(x, y)| {
                        x.labels == y.labels
                            && x.exemplars.len() == y.exemplars.len()
                            && x.exemplars.iter().zip(&y.exemplars).all(|(e, f)| {
                                e.labels == f.labels
                                    && e.ts == f.ts
                                    && e.value.to_bits() == f.value.to_bits()
                            })
                    })
            }
            _ => false,
        }
    }
}

impl Eq for Record {}

/// Default size at which the WAL starts a new segment.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 << 20;

#[derive(Debug, Clone)]
pub struct WalOptions {
    /// A new segment is started when the next record would push the current one past this
    /// size. A record never splits across segments, so one larger than this gets a segment
    /// of its own.
    pub segment_size: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
        }
    }
}

/// What [`Wal::open`] found while replaying.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Segments read (including empty ones; not those dropped for a bad header).
    pub segments: usize,
    pub records: u64,
    /// Series entries across all series records.
    pub series: u64,
    /// Sample entries across all samples records.
    pub samples: u64,
    /// Log lines across all logs records.
    pub log_lines: u64,
    /// Bytes cut off the end of the last segment (a torn or corrupt tail).
    pub truncated_bytes: u64,
    /// Segments skipped because their header was not a WAL header.
    pub corrupt_segments_dropped: usize,
}

/// An open write-ahead log. Not internally synchronized: wrap it in a mutex to share it.
pub struct Wal {
    segments: segment::Segments,
}

impl Wal {
    /// Opens (creating if needed) the directory, replays every segment in order through `f`,
    /// truncating a torn or corrupt tail with a warning, removes segments that hold no
    /// records, then opens a new segment for writing (a replayed segment is never appended
    /// to). An error from `f` aborts open.
    pub fn open(
        dir: &Path,
        opts: WalOptions,
        mut f: impl FnMut(Record) -> Result<()>,
    ) -> Result<(Wal, ReplayStats)> {
        Self::open_indexed(dir, opts, |_, r| f(r))
    }

    /// [`Wal::open`], telling `f` the index of the segment each record is in (the log
    /// engine skips records a partition already committed).
    pub fn open_indexed(
        dir: &Path,
        opts: WalOptions,
        mut f: impl FnMut(u64, Record) -> Result<()>,
    ) -> Result<(Wal, ReplayStats)> {
        std::fs::create_dir_all(dir).map_err(Error::io("creating the WAL directory", dir))?;
        let existing = segment::list_segments(dir)?;
        let stats = replay::replay_all(&existing, &mut f)?;
        // Segments holding only their header (a start without writes, the current segment
        // at a head cut) carry nothing: removing them keeps restarts from piling up files.
        let mut kept = Vec::with_capacity(existing.len());
        for (index, path) in existing {
            match std::fs::metadata(&path) {
                Ok(m) if m.len() <= segment::HEADER_LEN as u64 => {
                    std::fs::remove_file(&path)
                        .map_err(Error::io("removing an empty WAL segment", &path))?;
                }
                Ok(_) => kept.push((index, path)),
                Err(_) => {}
            }
        }
        let segments = segment::Segments::start(dir, opts.segment_size, &kept)?;
        Ok((Wal { segments }, stats))
    }

    /// Encodes the records and writes them to the current segment (one write per segment
    /// touched). When this returns `Ok` the bytes are with the OS and survive a process
    /// crash. Does not fsync. On `Err` a prefix of `records` may have been logged.
    pub fn log(&mut self, records: &[Record]) -> Result<()> {
        self.segments.append(records)
    }

    /// fsyncs the current segment (closed segments were fsynced when they were closed).
    pub fn sync(&mut self) -> Result<()> {
        self.segments.sync()
    }

    /// fsyncs and closes the current segment and starts a new one; returns the new index.
    pub fn cut_segment(&mut self) -> Result<u64> {
        self.segments.cut()
    }

    /// Deletes every segment whose index is < `index` (after the head was persisted as a
    /// block). The current segment is never deleted.
    pub fn truncate_before(&mut self, index: u64) -> Result<()> {
        self.segments.remove_before(index)
    }

    /// Total size in bytes of all segment files, and the number of segments.
    pub fn disk_usage(&self) -> (u64, usize) {
        self.segments.disk_usage()
    }

    pub fn dir(&self) -> &Path {
        self.segments.dir()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::fmt::Write as _;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::model::STALE_NAN_BITS;

    /// Opens the WAL at `dir` and collects every replayed record.
    pub(crate) fn open_collect(dir: &Path, segment_size: u64) -> (Wal, ReplayStats, Vec<Record>) {
        let mut got = Vec::new();
        let (wal, stats) = Wal::open(dir, WalOptions { segment_size }, |r| {
            got.push(r);
            Ok(())
        })
        .unwrap();
        (wal, stats, got)
    }

    pub(crate) fn seg(dir: &Path, index: u64) -> PathBuf {
        segment::segment_path(dir, index)
    }

    pub(crate) fn series(r: SeriesRef, name: &str) -> Record {
        Record::Series(vec![(
            r,
            Labels::from_pairs([("__name__", name), ("job", "node")]),
        )])
    }

    pub(crate) fn samples(r: SeriesRef, n: usize) -> Record {
        Record::Samples(
            (0..n)
                .map(|i| (r + i as u64, 1_700_000_000_000 + i as i64, i as f64 * 0.5))
                .collect(),
        )
    }

    /// Runs `f` with a subscriber that records every event as "LEVEL field=value ...".
    pub(crate) fn capture_events<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
        struct Capture(Arc<Mutex<Vec<String>>>);
        struct Fields<'a>(&'a mut String);
        impl tracing::field::Visit for Fields<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                let _ = write!(self.0, " {}={:?}", field.name(), value);
            }
        }
        impl tracing::Subscriber for Capture {
            fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
                tracing::span::Id::from_u64(1)
            }
            fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
            fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
            fn event(&self, event: &tracing::Event<'_>) {
                let mut s = event.metadata().level().to_string();
                event.record(&mut Fields(&mut s));
                self.0.lock().unwrap().push(s);
            }
            fn enter(&self, _: &tracing::span::Id) {}
            fn exit(&self, _: &tracing::span::Id) {}
        }
        let events = Arc::new(Mutex::new(Vec::new()));
        let out = tracing::subscriber::with_default(Capture(events.clone()), f);
        let events = events.lock().unwrap().clone();
        (out, events)
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/wal"); // missing directories are created
        let recs = vec![
            Record::Series(vec![
                (
                    1,
                    Labels::from_pairs([("__name__", "up"), ("job", "n\u{e9}de \"x\"")]),
                ),
                (u64::MAX, Labels::from_pairs([("__name__", "big")])),
                (0, Labels::default()),
            ]),
            Record::Series(vec![]),
            Record::Samples(vec![]),
            Record::Samples(vec![
                (1, 0, f64::NAN),
                (1, 1, f64::from_bits(STALE_NAN_BITS)),
                (1, 2, f64::from_bits(0xfff8_dead_beef_0001)),
                (u64::MAX, i64::MIN, -0.0),
                (0, i64::MAX, f64::INFINITY),
                (7, -1, f64::NEG_INFINITY),
                (1, 3, f64::MIN_POSITIVE / 2.0),
            ]),
            samples(100, 1000),
        ];
        let (mut wal, stats, got) = open_collect(&dir, DEFAULT_SEGMENT_SIZE);
        assert_eq!((stats, got.len()), (ReplayStats::default(), 0));
        wal.log(&recs[..2]).unwrap();
        wal.log(&recs[2..]).unwrap();
        wal.sync().unwrap();
        drop(wal);

        let (mut wal, stats, got) = open_collect(&dir, DEFAULT_SEGMENT_SIZE);
        assert_eq!(got, recs);
        let want = ReplayStats {
            segments: 1,
            records: 5,
            series: 3,
            samples: 1007,
            ..Default::default()
        };
        assert_eq!(stats, want);
        // The opposite sign of zero must not compare equal: equality really is bitwise.
        assert_ne!(
            Record::Samples(vec![(0, 0, 0.0)]),
            Record::Samples(vec![(0, 0, -0.0)])
        );

        // Reopen created segment 2 (segment 1 is never appended to); new writes follow on.
        assert!(seg(&dir, 2).exists());
        wal.log(&[series(9, "later")]).unwrap();
        drop(wal);
        let (_wal, stats, got) = open_collect(&dir, DEFAULT_SEGMENT_SIZE);
        assert_eq!(got.len(), 6);
        assert_eq!(got[5], series(9, "later"));
        assert_eq!(stats.segments, 2);
        assert!(
            seg(&dir, 3).exists(),
            "index continues after the highest segment"
        );
    }

    #[test]
    fn rotation_keeps_order_and_truncate_before_deletes_older() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let size = 300;
        let (mut wal, _, _) = open_collect(dir, size);
        let mut logged = Vec::new();
        for i in 0..40u64 {
            let batch = [series(i, "m"), samples(i, (i % 4) as usize)];
            wal.log(&batch).unwrap();
            logged.extend(batch);
        }
        let big = samples(0, 100); // larger than a segment: gets one of its own
        wal.log(std::slice::from_ref(&big)).unwrap();
        logged.push(big);

        let (bytes, n) = wal.disk_usage();
        let files = segment::list_segments(dir).unwrap();
        assert!(n > 5, "small segments must rotate, got {n}");
        assert_eq!(files.len(), n);
        let on_disk: u64 = files
            .iter()
            .map(|(_, p)| std::fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(bytes, on_disk);
        let sizes: Vec<u64> = files
            .iter()
            .map(|(_, p)| std::fs::metadata(p).unwrap().len())
            .collect();
        assert!(
            sizes[..n - 1].iter().all(|&s| s <= size),
            "segment over the limit: {sizes:?}"
        );
        assert!(
            sizes[n - 1] > size,
            "the oversized record starts a segment of its own"
        );

        wal.truncate_before(4).unwrap();
        let left: Vec<u64> = segment::list_segments(dir)
            .unwrap()
            .iter()
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(left, (4..=n as u64).collect::<Vec<_>>());
        assert_eq!(wal.disk_usage().1, n - 3);
        drop(wal);

        // Replay of everything left is in order: a suffix of what was logged.
        let (_wal, stats, got) = open_collect(dir, size);
        assert_eq!(stats.segments, n - 3);
        assert!(!got.is_empty() && got.len() < logged.len());
        assert_eq!(got[..], logged[logged.len() - got.len()..]);
    }

    #[test]
    fn cut_segment_then_truncate_before() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (mut wal, _, _) = open_collect(dir, DEFAULT_SEGMENT_SIZE);
        wal.log(&[series(1, "a"), samples(1, 3)]).unwrap();
        assert_eq!(wal.cut_segment().unwrap(), 2);
        wal.log(&[series(2, "b")]).unwrap();
        assert_eq!(wal.cut_segment().unwrap(), 3);
        wal.log(&[samples(2, 2)]).unwrap();
        assert_eq!(wal.disk_usage().1, 3);

        wal.truncate_before(2).unwrap();
        assert!(!seg(dir, 1).exists() && seg(dir, 2).exists() && seg(dir, 3).exists());
        wal.truncate_before(u64::MAX).unwrap(); // the current segment always stays
        assert!(!seg(dir, 2).exists() && seg(dir, 3).exists());
        assert_eq!(
            wal.disk_usage(),
            (std::fs::metadata(seg(dir, 3)).unwrap().len(), 1)
        );
        assert_eq!(wal.dir(), dir);
        drop(wal);

        let (_wal, stats, got) = open_collect(dir, DEFAULT_SEGMENT_SIZE);
        assert_eq!(got, vec![samples(2, 2)]);
        assert_eq!(stats.segments, 1);
    }

    #[test]
    fn wal_can_move_between_threads() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<Wal>();
        assert_send::<Record>();
    }

    #[test]
    fn callback_error_aborts_open() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut wal, _, _) = open_collect(tmp.path(), DEFAULT_SEGMENT_SIZE);
        wal.log(&[series(1, "a"), series(2, "b")]).unwrap();
        drop(wal);
        let mut calls = 0;
        let res = Wal::open(tmp.path(), WalOptions::default(), |_| {
            calls += 1;
            Err(Error::BadInput("head refused the record".into()))
        });
        assert!(matches!(res, Err(Error::BadInput(m)) if m == "head refused the record"));
        assert_eq!(calls, 1);
        assert!(
            !seg(tmp.path(), 2).exists(),
            "a failed open creates no segment"
        );
    }
}
