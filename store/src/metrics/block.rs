//! Immutable blocks: the head (or several blocks, at compaction) persisted as a directory
//! of files that are never modified once renamed into place.
//!
//! ```text
//! blocks/<name>/meta.json        BlockMeta: version, seq, time range, counts, sources
//!               samples.parquet  (series u32, dt i64, dvi i64?, vf f64?) sorted by series, t
//!               series.parquet   (series u32, first_row u64, rows u32, mint, maxt, scale i8)
//!               labels.parquet   (series u32, name, value): the series table, long form
//!               postings.bin     symbols, series label refs and postings (see postings_file)
//! ```
//! Series ids are dense and follow label order. A value is stored as an integer mantissa
//! with the series' decimal `scale` when that round-trips bit-exactly, otherwise as a
//! float in `vf`. Timestamps and mantissas are stored as differences from the series'
//! previous one (`dt`, `dvi`; the first of a series from zero) under zstd: timestamps
//! PLAIN (0.03 B/sample on node-exporter-like data; DELTA_BINARY_PACKED's frame jumps at
//! every series boundary), mantissa differences zig-zagged and BYTE_STREAM_SPLIT, which
//! on the bench dataset is 16% smaller than PLAIN differences (their high bytes become
//! long zero runs).
//! The byte layout is in store/FORMAT.md.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, Int8Array, RecordBatch, StringArray, UInt32Array,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

use super::chunk::encode_scaled;
use super::postings::Index;
use super::postings_file;
use crate::error::{Error, Result};
use crate::model::{Labels, Matcher, Sample};

pub const BLOCK_FORMAT_VERSION: u32 = 2;
/// Version 1 stored `dvi` as plain differences; version 2 zig-zags them, so small negative
/// differences have zero high bytes for BYTE_STREAM_SPLIT and zstd.
const OLDEST_READABLE_VERSION: u32 = 1;
const BATCH_ROWS: usize = 8192;
/// Rows per data page: the unit a read of one series decompresses.
const PAGE_ROWS: usize = 32 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlockMeta {
    pub version: u32,
    pub name: String,
    /// Write order: for a repeated (series, timestamp), the block with the higher seq wins.
    pub seq: u64,
    pub min_time: i64,
    /// Inclusive.
    pub max_time: i64,
    pub num_series: u64,
    pub num_samples: u64,
    pub level: u32,
    /// Names of the blocks this one was compacted from (empty for a head cut).
    #[serde(default)]
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct SeriesEntry {
    first_row: u64,
    rows: u32,
    mint: i64,
    maxt: i64,
    /// Decimal exponent of `vi` values; -1 when every value is in `vf`.
    scale: i8,
}

impl SeriesEntry {
    /// About how many of the series' rows fall in `[mint, maxt]`, assuming evenly spaced
    /// samples (a capacity hint: a little over, rarely under).
    fn rows_in(&self, mint: i64, maxt: i64) -> usize {
        let (lo, hi) = (mint.max(self.mint), maxt.min(self.maxt));
        if lo > hi {
            return 0;
        }
        let span = (self.maxt - self.mint).max(1) as f64;
        let frac = ((hi - lo) as f64 / span).min(1.0);
        ((self.rows as f64 * frac).ceil() as usize + 2).min(self.rows as usize)
    }
}

fn samples_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("series", DataType::UInt32, false),
        Field::new("dt", DataType::Int64, false),
        Field::new("dvi", DataType::Int64, true),
        Field::new("vf", DataType::Float64, true),
    ]))
}

fn series_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("series", DataType::UInt32, false),
        Field::new("first_row", DataType::UInt64, false),
        Field::new("rows", DataType::UInt32, false),
        Field::new("mint", DataType::Int64, false),
        Field::new("maxt", DataType::Int64, false),
        Field::new("scale", DataType::Int8, false),
    ]))
}

fn labels_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("series", DataType::UInt32, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
    ]))
}

fn writer_props(samples: bool) -> Result<WriterProperties> {
    // Level 9 buys ~4% over level 3 on sample columns; blocks are written in the
    // background and read many times, so the slower write is worth it.
    let zstd =
        ZstdLevel::try_new(if samples { 9 } else { 3 }).map_err(|source| Error::Parquet {
            path: PathBuf::new(),
            source,
        })?;
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_max_row_group_row_count(Some(1 << 18))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_write_batch_size(BATCH_ROWS);
    if samples {
        b = b
            .set_dictionary_enabled(false)
            .set_column_dictionary_enabled(ColumnPath::from("series"), true)
            .set_column_encoding(ColumnPath::from("dt"), Encoding::PLAIN)
            .set_column_encoding(ColumnPath::from("dvi"), Encoding::BYTE_STREAM_SPLIT)
            .set_column_encoding(ColumnPath::from("vf"), Encoding::BYTE_STREAM_SPLIT);
    } else {
        // Series ids and row offsets climb steadily: DELTA_BINARY_PACKED stores them in a
        // few bits a row, where a dictionary of distinct values costs several bytes.
        for col in ["series", "first_row"] {
            b = b
                .set_column_dictionary_enabled(ColumnPath::from(col), false)
                .set_column_encoding(ColumnPath::from(col), Encoding::DELTA_BINARY_PACKED);
        }
    }
    Ok(b.build())
}

/// The smallest decimal exponent at which every finite value is an integer mantissa that
/// converts back bit-exactly; -1 if there is none.
fn choose_scale(samples: &[Sample]) -> i8 {
    'scale: for e in 0..=12i8 {
        let p = 10f64.powi(e as i32);
        for s in samples {
            if s.v.is_finite() && encode_scaled(s.v, p).is_none() {
                continue 'scale;
            }
        }
        return e;
    }
    -1
}

fn pq_err(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> Error + '_ {
    move |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one block. Series must be added in label order; the block appears atomically
/// (written under `<name>.tmp`, then renamed) when [`BlockWriter::finish`] returns.
pub struct BlockWriter {
    tmp: PathBuf,
    dir: PathBuf,
    meta: BlockMeta,
    samples: ArrowWriter<File>,
    index: Index,
    entries: Vec<SeriesEntry>,
    rows: u64,
    buf: SampleBuf,
    last_labels: Option<Labels>,
}

#[derive(Default)]
struct SampleBuf {
    series: Vec<u32>,
    t: Vec<i64>,
    vi: Vec<Option<i64>>,
    vf: Vec<Option<f64>>,
}

impl BlockWriter {
    pub fn create(
        blocks_dir: &Path,
        name: &str,
        seq: u64,
        level: u32,
        sources: Vec<String>,
    ) -> Result<BlockWriter> {
        let dir = blocks_dir.join(name);
        let tmp = blocks_dir.join(format!("{name}.tmp"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)
                .map_err(Error::io("removing a stale temporary block", &tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(Error::io("creating a block directory", &tmp))?;
        let path = tmp.join("samples.parquet");
        let f = File::create(&path).map_err(Error::io("creating a block file", &path))?;
        let samples = ArrowWriter::try_new(f, samples_schema(), Some(writer_props(true)?))
            .map_err(pq_err(&path))?;
        Ok(BlockWriter {
            tmp,
            dir,
            meta: BlockMeta {
                version: BLOCK_FORMAT_VERSION,
                name: name.to_string(),
                seq,
                min_time: i64::MAX,
                max_time: i64::MIN,
                num_series: 0,
                num_samples: 0,
                level,
                sources,
            },
            samples,
            index: Index::default(),
            entries: Vec::new(),
            rows: 0,
            buf: SampleBuf::default(),
            last_labels: None,
        })
    }

    /// Adds a series with its samples (sorted by time, unique timestamps).
    pub fn add_series(&mut self, labels: &Labels, samples: &[Sample]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        if let Some(prev) = &self.last_labels {
            if prev >= labels {
                return Err(Error::Corrupt {
                    what: "block input",
                    path: self.tmp.clone(),
                    detail: format!("series {labels} added out of label order after {prev}"),
                });
            }
        }
        self.last_labels = Some(labels.clone());
        let id = self.index.add(labels);
        let scale = choose_scale(samples);
        let p = 10f64.powi(scale.max(0) as i32);
        let (mut prev_t, mut prev_m) = (0i64, 0i64);
        for s in samples {
            self.buf.series.push(id);
            self.buf.t.push(s.t.wrapping_sub(prev_t));
            prev_t = s.t;
            let m = if scale >= 0 {
                encode_scaled(s.v, p)
            } else {
                None
            };
            self.buf.vi.push(m.map(|m| {
                let d = m.wrapping_sub(prev_m);
                prev_m = m;
                (d << 1) ^ (d >> 63)
            }));
            self.buf.vf.push(if m.is_some() { None } else { Some(s.v) });
            if self.buf.t.len() >= BATCH_ROWS * 8 {
                self.flush_buf()?;
            }
        }
        let (mint, maxt) = (samples[0].t, samples[samples.len() - 1].t);
        self.entries.push(SeriesEntry {
            first_row: self.rows,
            rows: samples.len() as u32,
            mint,
            maxt,
            scale,
        });
        self.rows += samples.len() as u64;
        self.meta.min_time = self.meta.min_time.min(mint);
        self.meta.max_time = self.meta.max_time.max(maxt);
        self.meta.num_series += 1;
        self.meta.num_samples += samples.len() as u64;
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<()> {
        if self.buf.t.is_empty() {
            return Ok(());
        }
        let b = std::mem::take(&mut self.buf);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(b.series)),
            Arc::new(Int64Array::from(b.t)),
            Arc::new(Int64Array::from(b.vi)),
            Arc::new(Float64Array::from(b.vf)),
        ];
        let batch = RecordBatch::try_new(samples_schema(), cols)?;
        let path = self.tmp.join("samples.parquet");
        self.samples.write(&batch).map_err(pq_err(&path))
    }

    pub fn num_series(&self) -> u64 {
        self.meta.num_series
    }

    /// Writes the remaining files, syncs, and renames the block into place. Returns its
    /// meta, or `None` when no series had samples (then nothing is left on disk).
    pub fn finish(mut self) -> Result<Option<BlockMeta>> {
        self.flush_buf()?;
        let path = self.tmp.join("samples.parquet");
        let f = self.samples.into_inner().map_err(pq_err(&path))?;
        f.sync_all()
            .map_err(Error::io("syncing a block file", &path))?;
        drop(f);
        if self.meta.num_series == 0 {
            fs::remove_dir_all(&self.tmp)
                .map_err(Error::io("removing an empty block", &self.tmp))?;
            return Ok(None);
        }
        write_series(&self.tmp, &self.entries)?;
        write_labels(&self.tmp, &self.index)?;
        postings_file::write(&self.tmp.join("postings.bin"), &self.index)?;
        let meta_path = self.tmp.join("meta.json");
        let json = serde_json::to_vec_pretty(&self.meta).map_err(|e| Error::Corrupt {
            what: "block meta",
            path: meta_path.clone(),
            detail: e.to_string(),
        })?;
        write_synced(&meta_path, &json)?;
        sync_dir(&self.tmp)?;
        fs::rename(&self.tmp, &self.dir)
            .map_err(Error::io("renaming a finished block into place", &self.dir))?;
        if let Some(parent) = self.dir.parent() {
            sync_dir(parent)?;
        }
        Ok(Some(self.meta))
    }
}

pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = File::create(path).map_err(Error::io("creating a file", path))?;
    f.write_all(bytes)
        .map_err(Error::io("writing a file", path))?;
    f.sync_all().map_err(Error::io("syncing a file", path))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("syncing a directory", dir))
}

fn write_batch(path: &Path, schema: SchemaRef, cols: Vec<ArrayRef>) -> Result<()> {
    let f = File::create(path).map_err(Error::io("creating a block file", path))?;
    let mut w = ArrowWriter::try_new(f, schema.clone(), Some(writer_props(false)?))
        .map_err(pq_err(path))?;
    w.write(&RecordBatch::try_new(schema, cols)?)
        .map_err(pq_err(path))?;
    let f = w.into_inner().map_err(pq_err(path))?;
    f.sync_all()
        .map_err(Error::io("syncing a block file", path))
}

fn write_series(dir: &Path, entries: &[SeriesEntry]) -> Result<()> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(0..entries.len() as u32)),
        Arc::new(UInt64Array::from_iter_values(
            entries.iter().map(|e| e.first_row),
        )),
        Arc::new(UInt32Array::from_iter_values(
            entries.iter().map(|e| e.rows),
        )),
        Arc::new(Int64Array::from_iter_values(entries.iter().map(|e| e.mint))),
        Arc::new(Int64Array::from_iter_values(entries.iter().map(|e| e.maxt))),
        Arc::new(Int8Array::from_iter_values(entries.iter().map(|e| e.scale))),
    ];
    write_batch(&dir.join("series.parquet"), series_schema(), cols)
}

/// Rows of labels.parquet built at a time: the whole table at once (a million label
/// pairs for 100k series) held ~50 MB of string arrays while the head being cut was still
/// in memory, the peak of a head cut.
const LABEL_BATCH_ROWS: usize = 64 * 1024;

fn write_labels(dir: &Path, index: &Index) -> Result<()> {
    let path = dir.join("labels.parquet");
    let f = File::create(&path).map_err(Error::io("creating a block file", &path))?;
    let schema = labels_schema();
    let mut w = ArrowWriter::try_new(f, schema.clone(), Some(writer_props(false)?))
        .map_err(pq_err(&path))?;
    let (mut ids, mut names, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let mut write = |ids: &mut Vec<u32>, names: &mut Vec<&str>, values: &mut Vec<&str>| {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(std::mem::take(ids))),
            Arc::new(StringArray::from(std::mem::take(names))),
            Arc::new(StringArray::from(std::mem::take(values))),
        ];
        w.write(&RecordBatch::try_new(schema.clone(), cols)?)
            .map_err(pq_err(&path))
    };
    for id in 0..index.num_series() {
        for &(n, v) in index.series_pairs(id) {
            ids.push(id);
            names.push(index.symbols.get(n));
            values.push(index.symbols.get(v));
        }
        if ids.len() >= LABEL_BATCH_ROWS {
            write(&mut ids, &mut names, &mut values)?;
        }
    }
    if !ids.is_empty() {
        write(&mut ids, &mut names, &mut values)?;
    }
    let f = w.into_inner().map_err(pq_err(&path))?;
    f.sync_all()
        .map_err(Error::io("syncing a block file", &path))
}

/// An open block: its meta and index in memory, samples read from Parquet on demand.
#[derive(Debug)]
pub struct Block {
    pub dir: PathBuf,
    pub meta: BlockMeta,
    index: Index,
    entries: Vec<SeriesEntry>,
    bytes: u64,
    /// Set when compaction or retention replaced the block; the directory is removed when
    /// the last reader lets go, so a query never loses files under it.
    obsolete: std::sync::atomic::AtomicBool,
    /// samples.parquet's footer and page index, read by the first query and kept: parsing
    /// them took milliseconds on every read of a large block.
    samples_meta: std::sync::OnceLock<ArrowReaderMetadata>,
}

impl Drop for Block {
    fn drop(&mut self) {
        if self.obsolete.load(std::sync::atomic::Ordering::SeqCst) {
            if let Err(e) = fs::remove_dir_all(&self.dir) {
                tracing::warn!(dir = %self.dir.display(), error = %e, "could not remove an obsolete block; remove it by hand");
            }
        }
    }
}

impl Block {
    /// Marks the block for removal once no reader holds it. Its meta.json is renamed away
    /// at once, so a crash before the directory is gone cannot bring the block back: a
    /// block directory without meta.json is removed at open.
    pub fn mark_obsolete(&self) {
        if self
            .obsolete
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let meta = self.dir.join("meta.json");
        let gone = self.dir.join("meta.json.obsolete");
        if let Err(e) = fs::rename(&meta, &gone).and_then(|()| File::open(&self.dir)?.sync_all()) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not retire a block's meta.json");
        }
    }

    pub fn open(dir: &Path) -> Result<Block> {
        let meta_path = dir.join("meta.json");
        let raw = fs::read(&meta_path).map_err(Error::io("reading block meta", &meta_path))?;
        let meta: BlockMeta = serde_json::from_slice(&raw).map_err(|e| Error::Corrupt {
            what: "block meta",
            path: meta_path.clone(),
            detail: e.to_string(),
        })?;
        if !(OLDEST_READABLE_VERSION..=BLOCK_FORMAT_VERSION).contains(&meta.version) {
            return Err(Error::Corrupt {
                what: "block",
                path: dir.to_path_buf(),
                detail: format!(
                    "format version {} is not supported (this build reads versions {OLDEST_READABLE_VERSION} to {BLOCK_FORMAT_VERSION}); upgrade Lookout or move the block away",
                    meta.version
                ),
            });
        }
        let index = postings_file::read(&dir.join("postings.bin"))?;
        let entries = read_series(&dir.join("series.parquet"))?;
        if entries.len() as u32 != index.num_series() {
            return Err(Error::Corrupt {
                what: "block",
                path: dir.to_path_buf(),
                detail: format!(
                    "series table has {} series, postings {}",
                    entries.len(),
                    index.num_series()
                ),
            });
        }
        let bytes = dir_size(dir);
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            entries,
            bytes,
            obsolete: std::sync::atomic::AtomicBool::new(false),
            samples_meta: std::sync::OnceLock::new(),
        })
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.min_time <= maxt && self.meta.max_time >= mint
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Series ids matching the matchers that have samples in `[mint, maxt]`.
    pub fn select_ids(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> RoaringBitmap {
        let mut ids = if matchers.is_empty() {
            self.index.all()
        } else {
            self.index.select(matchers)
        };
        if mint > self.meta.min_time || maxt < self.meta.max_time {
            ids = ids
                .into_iter()
                .filter(|&id| {
                    self.entries
                        .get(id as usize)
                        .is_some_and(|e| e.maxt >= mint && e.mint <= maxt)
                })
                .collect();
        }
        ids
    }

    pub fn labels(&self, id: u32) -> Labels {
        self.index.labels(id)
    }

    /// Samples in `[mint, maxt]` of the given series, in id order.
    pub fn read_samples(
        &self,
        ids: &RoaringBitmap,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(u32, Vec<Sample>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<(u32, SeriesEntry)> = ids
            .iter()
            .filter_map(|id| self.entries.get(id as usize).map(|e| (id, *e)))
            .collect();
        // Decompressing pages is most of a large read: split it over the cores.
        let threads = if wanted.len() < 2048 {
            1
        } else {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(8)
        };
        if threads == 1 {
            return self.read_part(&wanted, mint, maxt);
        }
        let chunk = wanted.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = wanted
                .chunks(chunk)
                .map(|part| scope.spawn(move || self.read_part(part, mint, maxt)))
                .collect();
            let mut out = Vec::with_capacity(wanted.len());
            for p in parts {
                match p.join() {
                    Ok(r) => out.extend(r?),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            Ok(out)
        })
    }

    /// Reads the samples of `wanted` (in row order) with one reader.
    fn read_part(
        &self,
        wanted: &[(u32, SeriesEntry)],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(u32, Vec<Sample>)>> {
        let mut reader = self.part_reader(wanted.iter().map(|&(_, e)| e))?;
        let mut out = Vec::with_capacity(wanted.len());
        for &(id, e) in wanted {
            // Every selected series is held until the query ends: size each for the part
            // of its time range the query reads, not for all its rows.
            let mut samples = Vec::with_capacity(e.rows_in(mint, maxt));
            reader.next_into(e, (mint, maxt), &mut samples)?;
            out.push((id, samples));
        }
        Ok(out)
    }

    /// A reader of the given series' rows (in row order), one series at a time.
    fn part_reader(&self, entries: impl Iterator<Item = SeriesEntry>) -> Result<PartReader> {
        let path = self.dir.join("samples.parquet");
        let f = File::open(&path).map_err(Error::io("opening block samples", &path))?;
        let meta = self.samples_meta(&f, &path)?;
        // Only the row groups that hold selected rows are opened: opening one builds a zstd
        // context per column, and each of those runs CPUID, which traps on a virtual
        // machine; opening all of a large block's row groups made small queries ~20% slower.
        let mut row_groups = Vec::new();
        let mut selectors = Vec::new();
        let mut entries = entries.peekable();
        let mut rg_start = 0u64;
        for (i, rg) in meta.metadata().row_groups().iter().enumerate() {
            let rg_end = rg_start + rg.num_rows().max(0) as u64;
            let mut pos = rg_start;
            while let Some(e) = entries.peek() {
                let (a, b) = (e.first_row, e.first_row + e.rows as u64);
                if a >= rg_end {
                    break;
                }
                let (a, b2) = (a.max(rg_start), b.min(rg_end));
                if b2 > a {
                    if a > pos {
                        selectors.push(RowSelector::skip((a - pos) as usize));
                    }
                    selectors.push(RowSelector::select((b2 - a) as usize));
                    pos = b2;
                }
                if b > rg_end {
                    break; // continues in the next row group
                }
                entries.next();
            }
            if pos > rg_start {
                if rg_end > pos {
                    selectors.push(RowSelector::skip((rg_end - pos) as usize));
                }
                row_groups.push(i);
            }
            rg_start = rg_end;
        }
        let builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(f, meta).with_row_groups(row_groups);
        let reader = build_samples_reader(builder, &path, Some(RowSelection::from(selectors)))?;
        Ok(PartReader {
            reader,
            cur: BatchCursor::new(self.meta.version),
            path,
        })
    }

    /// A reader of the samples of `ids` (ascending), one series at a time, for streaming
    /// selects that must not hold every series' samples at once.
    pub fn series_reader(&self, ids: &[u32]) -> Result<SeriesReader> {
        let entries: Vec<(u32, SeriesEntry)> = ids
            .iter()
            .filter_map(|&id| self.entries.get(id as usize).map(|e| (id, *e)))
            .collect();
        let part = if entries.is_empty() {
            None
        } else {
            Some(self.part_reader(entries.iter().map(|&(_, e)| e))?)
        };
        Ok(SeriesReader {
            part,
            entries,
            next: 0,
        })
    }

    /// Every series in label order with all its samples, read sequentially (compaction's input).
    pub fn series_cursor(&self) -> Result<SeriesCursor<'_>> {
        let path = self.dir.join("samples.parquet");
        let reader = self.open_samples(&path, None)?;
        Ok(SeriesCursor {
            block: self,
            path,
            reader,
            cur: BatchCursor::new(self.meta.version),
            next: 0,
        })
    }

    /// Per-label-name count of distinct values, for stats.
    pub fn label_cardinality(&self) -> Vec<(String, usize)> {
        self.index
            .label_names()
            .map(|(n, m)| (n.to_string(), m.len()))
            .collect()
    }
}

pub struct SeriesCursor<'a> {
    block: &'a Block,
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    cur: BatchCursor,
    next: u32,
}

impl SeriesCursor<'_> {
    /// Labels of the series `next_series` returns next.
    pub fn peek_labels(&self) -> Option<Labels> {
        ((self.next as usize) < self.block.entries.len())
            .then(|| self.block.index.labels(self.next))
    }

    pub fn next_series(&mut self) -> Result<Option<Vec<Sample>>> {
        let Some(e) = self.block.entries.get(self.next as usize) else {
            return Ok(None);
        };
        let mut samples = Vec::with_capacity(e.rows as usize);
        self.cur.take(
            &mut self.reader,
            &self.path,
            e.rows as usize,
            e.scale,
            (i64::MIN, i64::MAX),
            &mut samples,
        )?;
        self.next += 1;
        Ok(Some(samples))
    }
}

impl Block {
    /// The samples file's footer and page index, read on first use and kept.
    fn samples_meta(&self, f: &File, path: &Path) -> Result<ArrowReaderMetadata> {
        Ok(match self.samples_meta.get() {
            Some(m) => m.clone(),
            None => {
                let opts =
                    ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
                let m = ArrowReaderMetadata::load(f, opts).map_err(pq_err(path))?;
                let _ = self.samples_meta.set(m.clone());
                m
            }
        })
    }

    fn open_samples(
        &self,
        path: &Path,
        selection: Option<RowSelection>,
    ) -> Result<ParquetRecordBatchReader> {
        let f = File::open(path).map_err(Error::io("opening block samples", path))?;
        let meta = self.samples_meta(&f, path)?;
        build_samples_reader(
            ParquetRecordBatchReaderBuilder::new_with_metadata(f, meta),
            path,
            selection,
        )
    }
}

fn build_samples_reader(
    b: ParquetRecordBatchReaderBuilder<File>,
    path: &Path,
    selection: Option<RowSelection>,
) -> Result<ParquetRecordBatchReader> {
    let mask = ProjectionMask::leaves(b.parquet_schema(), [1, 2, 3]);
    let mut b = b.with_projection(mask).with_batch_size(BATCH_ROWS);
    if let Some(s) = selection {
        b = b.with_row_selection(s);
    }
    b.build().map_err(pq_err(path))
}

/// Hands out the samples of a block's selected series in id order (see
/// [`Block::series_reader`]).
pub struct SeriesReader {
    part: Option<PartReader>,
    entries: Vec<(u32, SeriesEntry)>,
    next: usize,
}

impl SeriesReader {
    /// Appends the next series' samples in `[mint, maxt]` to `out` and returns its id, or
    /// `None` after the last.
    pub fn next_into(
        &mut self,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
    ) -> Result<Option<u32>> {
        let (Some(part), Some(&(id, e))) = (self.part.as_mut(), self.entries.get(self.next)) else {
            return Ok(None);
        };
        self.next += 1;
        part.next_into(e, (mint, maxt), out)?;
        Ok(Some(id))
    }
}

/// One reader over selected series' rows, handing out one series at a time.
struct PartReader {
    reader: ParquetRecordBatchReader,
    cur: BatchCursor,
    path: PathBuf,
}

impl PartReader {
    /// Appends the next series' samples in `range` (the series must be the next one in
    /// the selection).
    fn next_into(
        &mut self,
        e: SeriesEntry,
        range: (i64, i64),
        out: &mut Vec<Sample>,
    ) -> Result<()> {
        self.cur.take(
            &mut self.reader,
            &self.path,
            e.rows as usize,
            e.scale,
            range,
            out,
        )
    }
}

/// Reads one series' rows at a time off a record batch stream, across batch boundaries,
/// undoing the per-series differences.
struct BatchCursor {
    batch: Option<RecordBatch>,
    off: usize,
    t: i64,
    m: i64,
    /// `dvi` is zig-zag encoded (format version 2 on).
    zigzag: bool,
}

impl BatchCursor {
    fn new(version: u32) -> BatchCursor {
        BatchCursor {
            batch: None,
            off: 0,
            t: 0,
            m: 0,
            zigzag: version >= 2,
        }
    }

    fn take(
        &mut self,
        reader: &mut ParquetRecordBatchReader,
        path: &Path,
        mut n: usize,
        scale: i8,
        (mint, maxt): (i64, i64),
        out: &mut Vec<Sample>,
    ) -> Result<()> {
        let p = 10f64.powi(scale.max(0) as i32);
        self.t = 0;
        self.m = 0;
        while n > 0 {
            let need_next = self.batch.as_ref().is_none_or(|b| self.off >= b.num_rows());
            if need_next {
                match reader.next() {
                    Some(b) => {
                        self.batch = Some(b?);
                        self.off = 0;
                    }
                    None => {
                        return Err(Error::Corrupt {
                            what: "block samples",
                            path: path.to_path_buf(),
                            detail: "fewer rows than the series table lists".into(),
                        })
                    }
                }
            }
            let Some(b) = self.batch.as_ref() else {
                continue;
            };
            let corrupt = |d: &str| Error::Corrupt {
                what: "block samples",
                path: path.to_path_buf(),
                detail: d.to_string(),
            };
            let dt = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| corrupt("column dt is not int64"))?;
            let dvi = b
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| corrupt("column dvi is not int64"))?;
            let vf = b
                .column(2)
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| corrupt("column vf is not float64"))?;
            let take = n.min(b.num_rows() - self.off);
            for i in self.off..self.off + take {
                self.t = self.t.wrapping_add(dt.value(i));
                let v = if dvi.is_valid(i) {
                    let mut d = dvi.value(i);
                    if self.zigzag {
                        d = ((d as u64) >> 1) as i64 ^ -(d & 1);
                    }
                    self.m = self.m.wrapping_add(d);
                    self.m as f64 / p
                } else {
                    vf.value(i)
                };
                if self.t >= mint && self.t <= maxt {
                    out.push(Sample { t: self.t, v });
                }
            }
            self.off += take;
            n -= take;
        }
        Ok(())
    }
}

fn read_series(path: &Path) -> Result<Vec<SeriesEntry>> {
    let f = File::open(path).map_err(Error::io("opening a block's series table", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(pq_err(path))?
        .build()
        .map_err(pq_err(path))?;
    let mut out = Vec::new();
    let corrupt = || Error::Corrupt {
        what: "block series table",
        path: path.to_path_buf(),
        detail: "unexpected column types".into(),
    };
    for b in reader {
        let b = b?;
        let first = b
            .column(1)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(corrupt)?;
        let rows = b
            .column(2)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(corrupt)?;
        let mint = b
            .column(3)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(corrupt)?;
        let maxt = b
            .column(4)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(corrupt)?;
        let scale = b
            .column(5)
            .as_any()
            .downcast_ref::<Int8Array>()
            .ok_or_else(corrupt)?;
        for i in 0..b.num_rows() {
            out.push(SeriesEntry {
                first_row: first.value(i),
                rows: rows.value(i),
                mint: mint.value(i),
                maxt: maxt.value(i),
                scale: scale.value(i),
            });
        }
    }
    Ok(out)
}

pub(crate) fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_is_bit_exact() {
        let s = |v: f64| Sample::new(0, v);
        assert_eq!(choose_scale(&[s(1.0), s(2.0), s(1e15)]), 0);
        assert_eq!(choose_scale(&[s(0.1), s(12.25)]), 2);
        assert_eq!(choose_scale(&[s(f64::NAN), s(3.0)]), 0);
        assert_eq!(choose_scale(&[s(std::f64::consts::PI)]), -1);
        assert!(encode_scaled(-0.0, 1.0).is_none());
        assert_eq!(encode_scaled(0.3, 10.0), Some(3));
    }

    /// Reads open only the row groups that hold selected rows; selections that start,
    /// end or span row-group boundaries (2^18 rows) must still get every sample.
    #[test]
    fn reads_across_row_groups_keep_every_sample() {
        let tmp = tempfile::tempdir().unwrap();
        let (series, per) = (700u32, 1000i64); // 700,000 rows: three row groups
        let mut w = BlockWriter::create(tmp.path(), "b", 1, 0, Vec::new()).unwrap();
        let labels = |i: u32| Labels::from_pairs([("__name__", "m"), ("i", &*format!("{i:04}"))]);
        let value = |i: u32, k: i64| (i as i64 * 7 + k % 13) as f64 * 0.5;
        for i in 0..series {
            let samples: Vec<Sample> = (0..per)
                .map(|k| Sample::new(k * 1000, value(i, k)))
                .collect();
            w.add_series(&labels(i), &samples).unwrap();
        }
        w.finish().unwrap();
        let b = Block::open(&tmp.path().join("b")).unwrap();
        assert!(
            b.samples_meta(
                &File::open(tmp.path().join("b/samples.parquet")).unwrap(),
                tmp.path()
            )
            .unwrap()
            .metadata()
            .num_row_groups()
                >= 3
        );
        // Series 262 straddles the first boundary (row 262,144), 524 the second.
        for ids in [
            vec![0u32],
            vec![262],
            vec![261, 262, 263],
            vec![5, 262, 524, 699],
            vec![300, 301],
            vec![699],
        ] {
            let (mint, maxt) = (100_000, 900_000);
            let got = b
                .read_samples(&ids.iter().copied().collect(), mint, maxt)
                .unwrap();
            assert_eq!(got.len(), ids.len());
            for (id, samples) in got {
                let want: Vec<Sample> = (100..=900)
                    .map(|k| Sample::new(k * 1000, value(id, k)))
                    .collect();
                assert_eq!(samples, want, "series {id} of {ids:?}");
            }
            let mut r = b.series_reader(&ids).unwrap();
            let mut buf = Vec::new();
            for &id in &ids {
                buf.clear();
                assert_eq!(r.next_into(mint, maxt, &mut buf).unwrap(), Some(id));
                assert_eq!(buf.len(), 801, "series {id}");
            }
            assert_eq!(r.next_into(mint, maxt, &mut buf).unwrap(), None);
        }
    }
}
