//! One immutable span file: the spans of one head cut that start in one time partition, as
//! a Parquet file with one row per span, sorted by trace id. Writing it, opening it (its
//! footer and row group term summaries stay in memory), and the reads the engine needs:
//! whole traces by id (row groups pruned by trace-id min/max and the trace-id bloom
//! filter), trace ids with their newest start in a time range (two columns, row groups
//! pruned by start time, and by trace id when only some traces are wanted), the traces
//! with a span satisfying search predicates (row groups pruned by their term summaries,
//! rows filtered on the dedicated columns before the rest is decoded), decoded rows in a
//! time range, and every
//! row in file order a batch at a time (what a compaction merges). A file a compaction
//! replaced is deleted when the last reader lets go of it.
//! Column layout: `store/FORMAT.md`, "Traces".

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, FixedSizeBinaryArray, Int64Array, Int8Array,
    RecordBatch, StringArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, PageIndexPolicy};
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;

mod filter;

use self::filter::{named, search_filter, ColumnView};
use super::codec::{self, put_attrs, Reader};
use super::row::SpanRow;
use super::terms::RowGroupTerms;
use crate::error::{Error, Result};
use crate::model::span::{AttrValue, Attributes, Scope, Span, TraceId};
use crate::{ScanStats, SpanPredicate};

/// Version of the span file layout, in every file's key-value metadata. Version 2 adds
/// per-row-group term summaries ([`RowGroupTerms`]); version 1 files are read without them.
pub const FORMAT_VERSION: u32 = 2;
pub(crate) const KEY_VERSION: &str = "lookout.traces.format_version";
const KEY_PARTITION: &str = "lookout.traces.partition";
const KEY_TERMS: &str = "lookout.traces.row_group_terms";
/// In a compaction's output: the sequence numbers of the files it replaces.
const KEY_REPLACES: &str = "lookout.traces.replaces";

/// Which share of its row groups a read takes: chunk `k` of `n` contiguous, near-equal
/// chunks, so `n` threads can split one file's read between them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Part {
    pub k: usize,
    pub n: usize,
}

impl Part {
    pub(crate) const ALL: Part = Part { k: 0, n: 1 };

    fn of(self, mut groups: Vec<usize>) -> Vec<usize> {
        if self.n <= 1 {
            return groups;
        }
        let len = groups.len();
        let (lo, hi) = (len * self.k / self.n, len * (self.k + 1) / self.n);
        groups.truncate(hi);
        groups.drain(..lo);
        groups
    }
}

/// Rows per row group: small enough that a trace-by-id decodes little beyond its trace,
/// large enough that dictionaries and zstd have repetition to work with.
const ROW_GROUP_ROWS: usize = 1 << 14;
const BATCH_ROWS: usize = 8192;
/// Rows per data page at most: with the offset index, a read that wants a few rows of a
/// row group (one trace's, a search's matches) decompresses only the pages holding them.
const PAGE_ROWS: usize = 2048;

// Column positions; the schema is flat, so these are also Parquet leaf indices.
const C_TRACE_ID: usize = 0;
const C_START: usize = 3;

/// Span attribute keys with a dedicated column, in the slot order of [`Dedicated`].
const METHOD_KEYS: [&str; 2] = ["http.request.method", "http.method"];
const STATUS_KEYS: [&str; 2] = ["http.response.status_code", "http.status_code"];
const ROUTE_KEY: &str = "http.route";
const SERVICE_KEY: &str = "service.name";

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("parent_span_id", DataType::FixedSizeBinary(8), true),
        Field::new("start_ns", DataType::Int64, false),
        Field::new("duration_ns", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Int8, false),
        Field::new("status_code", DataType::Int8, false),
        Field::new("status_message", DataType::Utf8, false),
        Field::new("trace_state", DataType::Utf8, false),
        Field::new("service_name", DataType::Utf8, true),
        Field::new("http_method", DataType::Utf8, true),
        Field::new("http_status_code", DataType::Int64, true),
        Field::new("http_route", DataType::Utf8, true),
        Field::new("attributes", DataType::Binary, false),
        Field::new("resource", DataType::Binary, false),
        Field::new("scope", DataType::Binary, false),
        Field::new("events", DataType::Binary, true),
        Field::new("links", DataType::Binary, true),
    ]))
}

fn writer_props(partition: (i64, i64)) -> Result<WriterProperties> {
    let zstd = ZstdLevel::try_new(3).map_err(|source| Error::Parquet {
        path: PathBuf::new(),
        source,
    })?;
    let tid = ColumnPath::from("trace_id");
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_write_batch_size(PAGE_ROWS)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_column_bloom_filter_enabled(tid.clone(), true)
        .set_column_bloom_filter_fpp(tid.clone(), 0.01)
        .set_column_bloom_filter_max_ndv(tid, ROW_GROUP_ROWS as u64)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(KEY_VERSION.into(), FORMAT_VERSION.to_string()),
            KeyValue::new(
                KEY_PARTITION.into(),
                format!("{}-{}", partition.0, partition.1),
            ),
        ]));
    // Random ids do not repeat across traces: a dictionary would only cost. (trace_id keeps
    // its dictionary: a trace's rows are adjacent, so its index runs are RLE'd.)
    for col in ["span_id", "parent_span_id", "start_ns", "duration_ns"] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(col), false);
    }
    // The columns every search filters on first stay uncompressed: delta and RLE
    // encodings already pack them, and a search decodes them for every row it considers.
    for col in ["start_ns", "duration_ns"] {
        b = b.set_column_encoding(ColumnPath::from(col), Encoding::DELTA_BINARY_PACKED);
    }
    for col in ["start_ns", "duration_ns", "kind", "status_code"] {
        b = b.set_column_compression(ColumnPath::from(col), Compression::UNCOMPRESSED);
    }
    Ok(b.build())
}

/// Values of a span's attributes that have dedicated columns.
#[derive(Default)]
struct Dedicated {
    method: Option<String>,
    status: Option<i64>,
    route: Option<String>,
}

/// Encodes span attributes with dedicated values pulled out into `d` (the first of each
/// slot with the expected type).
fn split_span_attrs(attrs: &Attributes, d: &mut Dedicated, buf: &mut Vec<u8>) {
    put_attrs(buf, attrs, &mut |_, (k, v)| match v {
        AttrValue::Str(s) if d.method.is_none() && METHOD_KEYS.contains(&k.as_str()) => {
            d.method = Some(s.clone());
            true
        }
        AttrValue::Int(i) if d.status.is_none() && STATUS_KEYS.contains(&k.as_str()) => {
            d.status = Some(*i);
            true
        }
        AttrValue::Str(s) if d.route.is_none() && k == ROUTE_KEY => {
            d.route = Some(s.clone());
            true
        }
        _ => false,
    });
}

fn split_resource(attrs: &Attributes, buf: &mut Vec<u8>) -> Option<String> {
    let mut service = None;
    put_attrs(buf, attrs, &mut |_, (k, v)| match v {
        AttrValue::Str(s) if service.is_none() && k == SERVICE_KEY => {
            service = Some(s.clone());
            true
        }
        _ => false,
    });
    service
}

fn batch_of(rows: &[SpanRow]) -> Result<RecordBatch> {
    let n = rows.len();
    let mut names = Vec::with_capacity(n);
    let mut durations = Vec::with_capacity(n);
    let mut d_all: Vec<Dedicated> = Vec::with_capacity(n);
    let mut attrs: Vec<Vec<u8>> = Vec::with_capacity(n);
    let mut resources: Vec<Vec<u8>> = Vec::with_capacity(n);
    let mut services: Vec<Option<String>> = Vec::with_capacity(n);
    let mut scopes: Vec<Vec<u8>> = Vec::with_capacity(n);
    // Rows of one resource share an allocation: encode each distinct one once.
    let mut res_cache: HashMap<*const Attributes, (Vec<u8>, Option<String>)> = HashMap::new();
    let mut scope_cache: HashMap<*const Scope, Vec<u8>> = HashMap::new();
    for r in rows {
        let s = &r.span;
        names.push(s.name.as_str());
        durations.push(s.end_ns.wrapping_sub(s.start_ns));
        let mut d = Dedicated::default();
        let mut buf = Vec::new();
        split_span_attrs(&s.attributes, &mut d, &mut buf);
        attrs.push(buf);
        d_all.push(d);
        let (rb, svc) = res_cache
            .entry(Arc::as_ptr(&r.resource))
            .or_insert_with(|| {
                let mut b = Vec::new();
                let svc = split_resource(&r.resource, &mut b);
                (b, svc)
            })
            .clone();
        resources.push(rb);
        services.push(svc);
        scopes.push(
            scope_cache
                .entry(Arc::as_ptr(&r.scope))
                .or_insert_with(|| codec::encode_scope(&r.scope))
                .clone(),
        );
    }
    let fsb = |e| Error::Arrow(e);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            FixedSizeBinaryArray::try_from_iter(rows.iter().map(|r| r.span.trace_id))
                .map_err(fsb)?,
        ),
        Arc::new(
            FixedSizeBinaryArray::try_from_iter(rows.iter().map(|r| r.span.span_id))
                .map_err(fsb)?,
        ),
        Arc::new(
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                rows.iter().map(|r| r.span.parent_span_id),
                8,
            )
            .map_err(fsb)?,
        ),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.span.start_ns),
        )),
        Arc::new(Int64Array::from(durations)),
        Arc::new(StringArray::from(names)),
        Arc::new(Int8Array::from_iter_values(
            rows.iter().map(|r| r.span.kind as i8),
        )),
        Arc::new(Int8Array::from_iter_values(
            rows.iter().map(|r| r.span.status as i8),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.span.status_message.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.span.trace_state.as_str()),
        )),
        Arc::new(StringArray::from_iter(
            services.iter().map(|s| s.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            d_all.iter().map(|d| d.method.as_deref()),
        )),
        Arc::new(Int64Array::from_iter(d_all.iter().map(|d| d.status))),
        Arc::new(StringArray::from_iter(
            d_all.iter().map(|d| d.route.as_deref()),
        )),
        Arc::new(BinaryArray::from_iter_values(attrs.iter())),
        Arc::new(BinaryArray::from_iter_values(resources.iter())),
        Arc::new(BinaryArray::from_iter_values(scopes.iter())),
        Arc::new(BinaryArray::from_iter(rows.iter().map(|r| {
            (!r.span.events.is_empty())
                .then(|| codec::encode_events(&r.span.events, r.span.start_ns))
        }))),
        Arc::new(BinaryArray::from_iter(rows.iter().map(|r| {
            (!r.span.links.is_empty()).then(|| codec::encode_links(&r.span.links))
        }))),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// Per row group: trace-id and start-time ranges, from the Parquet statistics, and its
/// term summary (none in version 1 files).
#[derive(Debug, Clone)]
struct RowGroupRange {
    min_id: TraceId,
    max_id: TraceId,
    min_start: i64,
    max_start: i64,
    terms: Option<RowGroupTerms>,
}

pub(crate) struct SpanFile {
    pub(crate) path: PathBuf,
    /// The sequence number in its name (`<seq>.parquet`), if it has one.
    pub(crate) seq: Option<u64>,
    /// The time partition `[start, end)` its spans start in.
    pub(crate) partition: (i64, i64),
    pub(crate) bytes: u64,
    pub(crate) rows: u64,
    /// For a compaction's output, the sequence numbers of the files it replaced.
    pub(crate) replaces: Vec<u64>,
    /// Set once a compaction replaced it: the file is deleted when the last reader drops it.
    obsolete: AtomicBool,
    meta: ArrowReaderMetadata,
    groups: Vec<RowGroupRange>,
}

impl Drop for SpanFile {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            match fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // The compacted file's `replaces` removes it at the next open.
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a compacted span file")
                }
            }
        }
    }
}

fn id16(b: &[u8]) -> Option<TraceId> {
    b.try_into().ok()
}

/// The order of rows in a file.
pub(crate) fn row_order(r: &SpanRow) -> (TraceId, i64, crate::model::span::SpanId) {
    (r.span.trace_id, r.span.start_ns, r.span.span_id)
}

/// Writes a span file from rows pushed in [`row_order`], a row group at a time, into a
/// temporary file that [`SpanWriter::finish`] fsyncs and renames into place.
pub(crate) struct SpanWriter {
    path: PathBuf,
    tmp: PathBuf,
    w: ArrowWriter<File>,
    pending: Vec<SpanRow>,
    terms: Vec<RowGroupTerms>,
}

impl SpanWriter {
    pub(crate) fn create(path: &Path, partition: (i64, i64)) -> Result<SpanWriter> {
        let tmp = path.with_extension("parquet.tmp");
        let f = File::create(&tmp).map_err(Error::io("creating a span file", &tmp))?;
        let w = ArrowWriter::try_new(f, schema(), Some(writer_props(partition)?)).map_err(
            |source| Error::Parquet {
                path: tmp.clone(),
                source,
            },
        )?;
        Ok(SpanWriter {
            path: path.to_path_buf(),
            tmp,
            w,
            pending: Vec::with_capacity(ROW_GROUP_ROWS),
            terms: Vec::new(),
        })
    }

    /// The temporary file being written.
    pub(crate) fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// Adds a row; rows come in [`row_order`].
    pub(crate) fn push(&mut self, row: SpanRow) -> Result<()> {
        self.pending.push(row);
        if self.pending.len() >= ROW_GROUP_ROWS {
            write_group(&mut self.w, &mut self.terms, &self.tmp, &self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Adds rows already in [`row_order`] (after any pushed), without copying them.
    pub(crate) fn extend_sorted(&mut self, rows: &[SpanRow]) -> Result<()> {
        let mut rows = rows;
        if !self.pending.is_empty() {
            let take = (ROW_GROUP_ROWS - self.pending.len()).min(rows.len());
            for r in &rows[..take] {
                self.push(r.clone())?;
            }
            rows = &rows[take..];
        }
        let mut groups = rows.chunks_exact(ROW_GROUP_ROWS);
        for chunk in &mut groups {
            write_group(&mut self.w, &mut self.terms, &self.tmp, chunk)?;
        }
        self.pending.extend_from_slice(groups.remainder());
        Ok(())
    }

    /// Finishes the file (recording the files it `replaces`), fsyncs it, renames it into
    /// place, fsyncs the directory, and opens it.
    pub(crate) fn finish(mut self, replaces: &[u64]) -> Result<SpanFile> {
        write_group(&mut self.w, &mut self.terms, &self.tmp, &self.pending)?;
        let terms = serde_json::to_string(&self.terms).map_err(|e| Error::Corrupt {
            what: "span file",
            path: self.tmp.clone(),
            detail: format!("encoding row group terms: {e}"),
        })?;
        self.w
            .append_key_value_metadata(KeyValue::new(KEY_TERMS.into(), terms));
        if !replaces.is_empty() {
            let list: Vec<String> = replaces.iter().map(|s| s.to_string()).collect();
            self.w
                .append_key_value_metadata(KeyValue::new(KEY_REPLACES.into(), list.join(",")));
        }
        let (tmp, path) = (self.tmp.clone(), self.path.clone());
        let f = self.w.into_inner().map_err(|source| Error::Parquet {
            path: tmp.clone(),
            source,
        })?;
        f.sync_all()
            .map_err(Error::io("syncing a span file", &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(Error::io("renaming a span file into place", &path))?;
        if let Some(dir) = path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(Error::io("syncing a span partition directory", dir))?;
        }
        SpanFile::open(&path)
    }
}

/// Writes `rows` as one row group, and its term summary into `terms` (nothing when empty).
fn write_group(
    w: &mut ArrowWriter<File>,
    terms: &mut Vec<RowGroupTerms>,
    tmp: &Path,
    rows: &[SpanRow],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let perr = |source| Error::Parquet {
        path: tmp.to_path_buf(),
        source,
    };
    terms.push(RowGroupTerms::of(rows));
    for chunk in rows.chunks(BATCH_ROWS) {
        w.write(&batch_of(chunk)?).map_err(perr)?;
    }
    // Closes the row group here, so summaries and row groups stay one to one.
    w.flush().map_err(perr)
}

/// Decoded rows of a file in file order, a batch at a time.
pub(crate) struct RowBatches {
    reader: ParquetRecordBatchReader,
    path: PathBuf,
}

impl Iterator for RowBatches {
    type Item = Result<Vec<SpanRow>>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.reader.next()? {
            Ok(b) => b,
            Err(e) => return Some(Err(e.into())),
        };
        let keep: Vec<usize> = (0..batch.num_rows()).collect();
        let mut out = Vec::with_capacity(keep.len());
        Some(decode_rows(&batch, &keep, &self.path, &mut out).map(|()| out))
    }
}

impl SpanFile {
    /// Writes `rows` (sorted here into [`row_order`]) to `path` through a temporary file,
    /// fsyncs it and renames it into place, then opens it.
    pub(crate) fn write(
        path: &Path,
        partition: (i64, i64),
        rows: &mut [SpanRow],
    ) -> Result<SpanFile> {
        rows.sort_by_key(row_order);
        let mut w = SpanWriter::create(path, partition)?;
        w.extend_sorted(rows)?;
        w.finish(&[])
    }

    /// Marks the file replaced by a compaction: it is deleted once no reader holds it.
    pub(crate) fn retire(&self) {
        self.obsolete.store(true, Ordering::Release);
    }

    /// Every row in file order, `batch_rows` at a time; None when the file is gone.
    pub(crate) fn row_batches(&self, batch_rows: usize) -> Result<Option<RowBatches>> {
        let Some(b) = self.builder()? else {
            return Ok(None);
        };
        let reader = b
            .with_batch_size(batch_rows.max(1))
            .build()
            .map_err(self.perr())?;
        Ok(Some(RowBatches {
            reader,
            path: self.path.clone(),
        }))
    }

    /// Opens a file: reads its footer and checks its version.
    pub(crate) fn open(path: &Path) -> Result<SpanFile> {
        let f = File::open(path).map_err(Error::io("opening a span file", path))?;
        let bytes = f
            .metadata()
            .map_err(Error::io("reading a span file's size", path))?
            .len();
        let opts = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional);
        let meta = ArrowReaderMetadata::load(&f, opts).map_err(|source| Error::Parquet {
            path: path.to_path_buf(),
            source,
        })?;
        let corrupt = |detail: String| Error::Corrupt {
            what: "span file",
            path: path.to_path_buf(),
            detail,
        };
        let kv = meta.metadata().file_metadata().key_value_metadata();
        let get = |k: &str| {
            kv.and_then(|kv| kv.iter().find(|e| e.key == k))
                .and_then(|e| e.value.clone())
        };
        let version = get(KEY_VERSION).and_then(|v| v.parse::<u32>().ok());
        match version {
            Some(1 | FORMAT_VERSION) => {}
            Some(v) => {
                return Err(corrupt(format!(
                    "format version {v}, this build reads {FORMAT_VERSION} (written by a newer version?)"
                )))
            }
            None => return Err(corrupt(format!("no {KEY_VERSION} metadata"))),
        }
        let partition = get(KEY_PARTITION)
            .and_then(|p| {
                let (a, b) = p.split_once('-')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .ok_or_else(|| corrupt(format!("no valid {KEY_PARTITION} metadata")))?;
        if meta.schema().fields() != schema().fields() {
            return Err(corrupt("columns differ from the span file schema".into()));
        }
        let n_groups = meta.metadata().num_row_groups();
        let mut terms: Vec<Option<RowGroupTerms>> = match version {
            Some(1) => vec![None; n_groups],
            _ => {
                let t: Vec<RowGroupTerms> = get(KEY_TERMS)
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .ok_or_else(|| corrupt(format!("no valid {KEY_TERMS} metadata")))?;
                if t.len() != n_groups {
                    return Err(corrupt(format!(
                        "{} row group term summaries for {n_groups} row groups",
                        t.len()
                    )));
                }
                t.into_iter().map(Some).collect()
            }
        };
        let mut groups = Vec::new();
        for (gi, rg) in meta.metadata().row_groups().iter().enumerate() {
            let ids = match rg.column(C_TRACE_ID).statistics() {
                Some(Statistics::FixedLenByteArray(s)) => s
                    .min_opt()
                    .zip(s.max_opt())
                    .and_then(|(a, b)| Some((id16(a.data())?, id16(b.data())?))),
                _ => None,
            };
            let starts = match rg.column(C_START).statistics() {
                Some(Statistics::Int64(s)) => s.min_opt().copied().zip(s.max_opt().copied()),
                _ => None,
            };
            // Without statistics a row group can never be pruned.
            let (min_id, max_id) = ids.unwrap_or(([0; 16], [0xff; 16]));
            let (min_start, max_start) = starts.unwrap_or((i64::MIN, i64::MAX));
            groups.push(RowGroupRange {
                min_id,
                max_id,
                min_start,
                max_start,
                terms: terms[gi].take(),
            });
        }
        let rows = meta.metadata().file_metadata().num_rows().max(0) as u64;
        let replaces = match get(KEY_REPLACES) {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|s| s.parse::<u64>())
                .collect::<std::result::Result<Vec<u64>, _>>()
                .map_err(|e| corrupt(format!("{KEY_REPLACES} {list:?}: {e}")))?,
        };
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".parquet"))
            .and_then(|n| n.parse::<u64>().ok());
        Ok(SpanFile {
            path: path.to_path_buf(),
            seq,
            partition,
            bytes,
            rows,
            replaces,
            obsolete: AtomicBool::new(false),
            meta,
            groups,
        })
    }

    /// A reader builder, or None when the file is gone (dropped by retention meanwhile).
    fn builder(&self) -> Result<Option<ParquetRecordBatchReaderBuilder<File>>> {
        match File::open(&self.path) {
            Ok(f) => Ok(Some(ParquetRecordBatchReaderBuilder::new_with_metadata(
                f,
                self.meta.clone(),
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("opening a span file", &self.path)(e)),
        }
    }

    fn perr(&self) -> impl Fn(parquet::errors::ParquetError) -> Error + '_ {
        move |source| Error::Parquet {
            path: self.path.clone(),
            source,
        }
    }

    /// Reads `groups` of the file (all columns unless `columns`), in order, counting what
    /// it reads into `stats`. With a `filter`, only the rows it passes come out, and the
    /// other columns are decoded for those rows only.
    fn read_groups(
        &self,
        b: ParquetRecordBatchReaderBuilder<File>,
        groups: Vec<usize>,
        columns: Option<&[usize]>,
        filter: Option<RowFilter>,
        stats: Option<&ScanStats>,
    ) -> Result<Vec<RecordBatch>> {
        if let Some(st) = stats {
            let md = self.meta.metadata();
            let (mut rows, mut bytes) = (0u64, 0u64);
            for &g in &groups {
                let rg = md.row_group(g);
                rows += rg.num_rows().max(0) as u64;
                bytes += match columns {
                    Some(cols) => cols
                        .iter()
                        .map(|&c| rg.column(c).compressed_size().max(0) as u64)
                        .sum(),
                    None => rg.compressed_size().max(0) as u64,
                };
            }
            st.add(1, groups.len() as u64, rows, bytes);
        }
        let mut b = b.with_row_groups(groups).with_batch_size(BATCH_ROWS);
        if let Some(cols) = columns {
            let mask = ProjectionMask::leaves(b.parquet_schema(), cols.iter().copied());
            b = b.with_projection(mask);
        }
        if let Some(f) = filter {
            b = b.with_row_filter(f);
        }
        let reader = b.build().map_err(self.perr())?;
        let mut out = Vec::new();
        for batch in reader {
            out.push(batch?);
        }
        Ok(out)
    }

    /// Of `candidates`, the row groups whose trace-id range and bloom filter say they may
    /// hold one of `ids` (sorted).
    fn groups_holding(
        &self,
        b: &ParquetRecordBatchReaderBuilder<File>,
        ids: &[TraceId],
        candidates: impl IntoIterator<Item = usize>,
    ) -> Result<Vec<usize>> {
        let mut out = Vec::new();
        for i in candidates {
            let g = &self.groups[i];
            let lo = ids.partition_point(|id| *id < g.min_id);
            let hi = ids.partition_point(|id| *id <= g.max_id);
            if lo == hi {
                continue;
            }
            let maybe = match b
                .get_row_group_column_bloom_filter(i, C_TRACE_ID)
                .map_err(self.perr())?
            {
                Some(bloom) => ids[lo..hi].iter().any(|id| bloom.check(&id[..])),
                None => true,
            };
            if maybe {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// Every row of the traces in `ids` (sorted) this file holds.
    pub(crate) fn read_traces(
        &self,
        ids: &[TraceId],
        part: Part,
        stats: Option<&ScanStats>,
    ) -> Result<Vec<SpanRow>> {
        let Some(b) = self.builder()? else {
            return Ok(Vec::new());
        };
        // The share first: each share reads only its own row groups' bloom filters.
        let groups = self.groups_holding(&b, ids, part.of((0..self.groups.len()).collect()))?;
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        // Only the trace id column is decoded for every row; the rest for the rows of
        // `ids`, not for the other traces that share their row groups.
        let wanted: Arc<[TraceId]> = ids.into();
        let mask = ProjectionMask::leaves(b.parquet_schema(), [C_TRACE_ID]);
        let filter = RowFilter::new(vec![Box::new(ArrowPredicateFn::new(
            mask,
            move |batch: RecordBatch| {
                let tids = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<FixedSizeBinaryArray>()
                    .ok_or_else(|| {
                        ArrowError::SchemaError("trace_id is not a fixed-size binary".into())
                    })?;
                Ok((0..batch.num_rows())
                    .map(|i| {
                        Some(
                            id16(tids.value(i)).is_some_and(|id| wanted.binary_search(&id).is_ok()),
                        )
                    })
                    .collect::<BooleanArray>())
            },
        ))]);
        let mut out = Vec::new();
        for batch in self.read_groups(b, groups, None, Some(filter), stats)? {
            let keep: Vec<usize> = (0..batch.num_rows()).collect();
            if !keep.is_empty() {
                decode_rows(&batch, &keep, &self.path, &mut out)?;
            }
        }
        Ok(out)
    }

    fn groups_in(&self, start_ns: i64, end_ns: i64) -> Vec<usize> {
        self.groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.max_start >= start_ns && g.min_start < end_ns)
            .map(|(i, _)| i)
            .collect()
    }

    /// For each trace (of `only`, sorted, when given) with a span starting in
    /// `[start_ns, end_ns)`, its newest such start (max with what `out` holds). Reads two
    /// columns of the row groups that overlap the range and, when `only` is given, may hold
    /// one of its ids by id range and bloom filter.
    pub(crate) fn trace_starts(
        &self,
        only: Option<&[TraceId]>,
        start_ns: i64,
        end_ns: i64,
        part: Part,
        out: &mut HashMap<TraceId, i64>,
        stats: Option<&ScanStats>,
    ) -> Result<()> {
        let mut groups = part.of(self.groups_in(start_ns, end_ns));
        if groups.is_empty() {
            return Ok(());
        }
        let Some(b) = self.builder()? else {
            return Ok(());
        };
        if let Some(ids) = only {
            groups = self.groups_holding(&b, ids, groups)?;
        }
        if groups.is_empty() {
            return Ok(());
        }
        // Rows come in trace id order, so `only` is walked alongside them; `at` is where
        // the last row's id is or would be in it.
        let mut at = 0usize;
        let mut last: TraceId = [0; 16];
        for batch in self.read_groups(b, groups, Some(&[C_TRACE_ID, C_START]), None, stats)? {
            let tids = fsb(&batch, 0, &self.path)?;
            let starts = col::<Int64Array>(&batch, 1, &self.path)?;
            for i in 0..batch.num_rows() {
                let t = starts.value(i);
                if t < start_ns || t >= end_ns {
                    continue;
                }
                let Some(id) = id16(tids.value(i)) else {
                    continue;
                };
                if let Some(ids) = only {
                    if id < last {
                        at = ids.partition_point(|x| *x < id);
                    }
                    last = id;
                    while at < ids.len() && ids[at] < id {
                        at += 1;
                    }
                    if at == ids.len() || ids[at] != id {
                        continue;
                    }
                }
                let e = out.entry(id).or_insert(t);
                *e = (*e).max(t);
            }
        }
        Ok(())
    }

    /// For each predicate `i`, adds to `found[i]` the traces with a span starting in
    /// `[start_ns, end_ns)` that satisfies it. Row groups whose time range or term
    /// summary rules out every predicate are not read; the others are read by the columns
    /// the predicates need, and a row's attributes are decoded only when its dedicated
    /// columns leave a predicate undecided.
    pub(crate) fn match_traces(
        &self,
        start_ns: i64,
        end_ns: i64,
        preds: &[SpanPredicate],
        part: Part,
        found: &mut [std::collections::HashSet<TraceId>],
        stats: Option<&ScanStats>,
    ) -> Result<()> {
        let mut active = vec![false; preds.len()];
        let mut groups = Vec::new();
        for i in self.groups_in(start_ns, end_ns) {
            let mut any = false;
            for (a, p) in active.iter_mut().zip(preds) {
                if self.groups[i].terms.as_ref().is_none_or(|t| t.may_match(p)) {
                    *a = true;
                    any = true;
                }
            }
            if any {
                groups.push(i);
            }
        }
        let groups = part.of(groups);
        if groups.is_empty() {
            return Ok(());
        }
        let Some(b) = self.builder()? else {
            return Ok(());
        };
        let full = preds
            .iter()
            .zip(&active)
            .any(|(p, a)| *a && p.all.iter().any(|c| c.reads_attributes()));
        let cheap = [C_TRACE_ID, C_START, 4, 5, 6, 7, 10];
        let columns = (!full).then_some(&cheap[..]);
        let live: Vec<SpanPredicate> = preds
            .iter()
            .zip(&active)
            .filter(|(_, a)| **a)
            .map(|(p, _)| p.clone())
            .collect();
        let filter = search_filter(&b, live, start_ns, end_ns, &self.path);
        for batch in self.read_groups(b, groups, columns, Some(filter), stats)? {
            let view = ColumnView::new(&batch, &self.path)?;
            let tids = named::<FixedSizeBinaryArray>(&batch, "trace_id", &self.path)?;
            // Rows a predicate needs decoded for: (row, predicate).
            let mut undecided: Vec<(usize, usize)> = Vec::new();
            for i in 0..batch.num_rows() {
                if !view.in_range(i, start_ns, end_ns) {
                    continue;
                }
                for (pi, p) in preds.iter().enumerate() {
                    if !active[pi] {
                        continue;
                    }
                    match view.matches(p, i) {
                        Some(true) => {
                            if let Some(id) = id16(tids.value(i)) {
                                found[pi].insert(id);
                            }
                        }
                        Some(false) => {}
                        None => undecided.push((i, pi)),
                    }
                }
            }
            if undecided.is_empty() {
                continue;
            }
            let mut keep: Vec<usize> = undecided.iter().map(|u| u.0).collect();
            keep.dedup();
            let mut rows = Vec::with_capacity(keep.len());
            decode_rows(&batch, &keep, &self.path, &mut rows)?;
            for (i, pi) in undecided {
                let Ok(k) = keep.binary_search(&i) else {
                    continue;
                };
                let r = &rows[k];
                if preds[pi].matches(&r.resource, &r.span) {
                    found[pi].insert(r.span.trace_id);
                }
            }
        }
        Ok(())
    }

    /// Every row starting in `[start_ns, end_ns)`, decoded.
    pub(crate) fn rows_in(&self, start_ns: i64, end_ns: i64) -> Result<Vec<SpanRow>> {
        let groups = self.groups_in(start_ns, end_ns);
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let Some(b) = self.builder()? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for batch in self.read_groups(b, groups, None, None, None)? {
            let starts = col::<Int64Array>(&batch, C_START, &self.path)?;
            let keep: Vec<usize> = (0..batch.num_rows())
                .filter(|&i| (start_ns..end_ns).contains(&starts.value(i)))
                .collect();
            decode_rows(&batch, &keep, &self.path, &mut out)?;
        }
        Ok(out)
    }
}

fn col<'a, T: 'static>(batch: &'a RecordBatch, i: usize, path: &Path) -> Result<&'a T> {
    batch
        .columns()
        .get(i)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| Error::Corrupt {
            what: "span file",
            path: path.to_path_buf(),
            detail: format!("column {i} has an unexpected type"),
        })
}

fn fsb<'a>(batch: &'a RecordBatch, i: usize, path: &Path) -> Result<&'a FixedSizeBinaryArray> {
    col::<FixedSizeBinaryArray>(batch, i, path)
}

fn opt_str(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

/// Decodes rows `keep` of a full-width batch into `out`.
fn decode_rows(
    batch: &RecordBatch,
    keep: &[usize],
    path: &Path,
    out: &mut Vec<SpanRow>,
) -> Result<()> {
    let corrupt = |e: codec::CodecError| Error::Corrupt {
        what: "span file",
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let tids = fsb(batch, 0, path)?;
    let sids = fsb(batch, 1, path)?;
    let parents = fsb(batch, 2, path)?;
    let starts = col::<Int64Array>(batch, 3, path)?;
    let durs = col::<Int64Array>(batch, 4, path)?;
    let names = col::<StringArray>(batch, 5, path)?;
    let kinds = col::<Int8Array>(batch, 6, path)?;
    let statuses = col::<Int8Array>(batch, 7, path)?;
    let messages = col::<StringArray>(batch, 8, path)?;
    let states = col::<StringArray>(batch, 9, path)?;
    let services = col::<StringArray>(batch, 10, path)?;
    let methods = col::<StringArray>(batch, 11, path)?;
    let codes = col::<Int64Array>(batch, 12, path)?;
    let routes = col::<StringArray>(batch, 13, path)?;
    let attrs = col::<BinaryArray>(batch, 14, path)?;
    let resources = col::<BinaryArray>(batch, 15, path)?;
    let scopes = col::<BinaryArray>(batch, 16, path)?;
    let events = col::<BinaryArray>(batch, 17, path)?;
    let links = col::<BinaryArray>(batch, 18, path)?;
    let mut res_cache: HashMap<(&[u8], Option<&str>), Arc<Attributes>> = HashMap::new();
    let mut scope_cache: HashMap<&[u8], Arc<Scope>> = HashMap::new();
    for &i in keep {
        let svc = opt_str(services, i);
        let rb = resources.value(i);
        let resource = match res_cache.get(&(rb, svc)) {
            Some(r) => r.clone(),
            None => {
                let mut r = Reader::new(rb);
                let a = r
                    .attrs(&mut |k| {
                        (k == SERVICE_KEY)
                            .then(|| svc.map(|s| AttrValue::Str(s.to_owned())))
                            .flatten()
                    })
                    .and_then(|a| r.finish().map(|_| a))
                    .map_err(corrupt)?;
                let a = Arc::new(a);
                res_cache.insert((rb, svc), a.clone());
                a
            }
        };
        let sb = scopes.value(i);
        let scope = match scope_cache.get(sb) {
            Some(s) => s.clone(),
            None => {
                let mut r = Reader::new(sb);
                let s = Arc::new(r.scope().map_err(corrupt)?);
                scope_cache.insert(sb, s.clone());
                s
            }
        };
        let (method, code, route) = (
            opt_str(methods, i),
            (!codes.is_null(i)).then(|| codes.value(i)),
            opt_str(routes, i),
        );
        let mut r = Reader::new(attrs.value(i));
        let attributes = r
            .attrs(&mut |k| {
                if METHOD_KEYS.contains(&k) {
                    method.map(|m| AttrValue::Str(m.to_owned()))
                } else if STATUS_KEYS.contains(&k) {
                    code.map(AttrValue::Int)
                } else if k == ROUTE_KEY {
                    route.map(|m| AttrValue::Str(m.to_owned()))
                } else {
                    None
                }
            })
            .map_err(corrupt)?;
        let start_ns = starts.value(i);
        let events = if events.is_null(i) {
            Vec::new()
        } else {
            Reader::new(events.value(i))
                .events(start_ns)
                .map_err(corrupt)?
        };
        let links = if links.is_null(i) {
            Vec::new()
        } else {
            Reader::new(links.value(i)).links().map_err(corrupt)?
        };
        let bad_id = || Error::Corrupt {
            what: "span file",
            path: path.to_path_buf(),
            detail: "an id of the wrong width".into(),
        };
        out.push(SpanRow {
            resource,
            scope,
            span: Span {
                trace_id: id16(tids.value(i)).ok_or_else(bad_id)?,
                span_id: sids.value(i).try_into().map_err(|_| bad_id())?,
                parent_span_id: if parents.is_null(i) {
                    None
                } else {
                    Some(parents.value(i).try_into().map_err(|_| bad_id())?)
                },
                trace_state: states.value(i).to_owned(),
                name: names.value(i).to_owned(),
                kind: codec::kind_from(kinds.value(i) as u8),
                start_ns,
                end_ns: start_ns.wrapping_add(durs.value(i)),
                status: codec::status_from(statuses.value(i) as u8),
                status_message: messages.value(i).to_owned(),
                attributes,
                events,
                links,
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
