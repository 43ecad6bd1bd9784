//! A time partition: the lines with `start <= ts < end` as compressed chunks in its
//! `chunks.bin`, a tantivy index with one document per chunk (stream, time range,
//! location, distinct tokens), the catalog of its chunks in memory, in its own directory
//! with a `partition.json`; and how it is opened, written, measured and dropped.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument};

use super::chunk::{Chunk, ChunkFile, HEADER_LEN};
use super::schema::{self, Fields, FORMAT_VERSION, MIN_FORMAT_VERSION, TERMS_TOKENIZER};
use crate::error::{Error, Result};
use crate::model::Labels;

/// `partition.json`: what a partition directory holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PartitionMeta {
    pub format_version: u32,
    /// Lines with `start_ns <= ts < end_ns` live here.
    pub start_ns: i64,
    pub end_ns: i64,
}

pub(super) const META_FILE: &str = "partition.json";

/// The smallest chunk (its `raw` size) that becomes its stream's key: a key's text is the
/// dictionary of the stream's next chunks, and a few lines would teach them little. Low,
/// so that a quiet stream, whose chunks are what it logs between two commits, gets a key
/// too ([`KEY_REPLACED_BELOW`] keeps a busy stream from living on a small one).
pub(super) const KEY_MIN_RAW: u64 = 8 << 10;

/// A key smaller than this is replaced by a chunk of the stream at least four times its
/// size, which becomes the key of the chunks after it (those before keep theirs): a key
/// taken from the few lines of a stream's first commit into a partition, or after a
/// restart, does not stay the dictionary of a busy stream all day. A stream's key changes
/// at most three times (8 KiB, 32, 128, 512), each new key stored without one.
pub(super) const KEY_REPLACED_BELOW: u64 = 256 << 10;

/// A stream's key chunk in a partition: where it is in `chunks.bin` and its `raw` size.
#[derive(Debug, Clone, Copy)]
pub(super) struct KeyChunk {
    pub offset: u64,
    pub len: u64,
    pub raw: u64,
}

impl KeyChunk {
    /// Whether a chunk of `raw` bytes should replace this key ([`KEY_REPLACED_BELOW`]).
    pub(super) fn outgrown_by(&self, raw: u64) -> bool {
        self.raw < KEY_REPLACED_BELOW && raw >= self.raw.saturating_mul(4)
    }
}

pub(super) const CHUNK_FILE: &str = "chunks.bin";

/// One chunk as the catalog knows it (the fast fields of its document).
#[derive(Debug, Clone)]
pub(super) struct ChunkRef {
    pub stream: Arc<Labels>,
    pub min_ts: i64,
    pub max_ts: i64,
    pub offset: u64,
    pub len: u64,
    pub raw: u64,
    pub lines: u64,
    /// Where the chunk's id filter is in `chunks.bin`, and its length (format 4).
    pub ids: Option<(u64, u64)>,
}

pub(super) struct Partition {
    pub meta: PartitionMeta,
    pub dir: PathBuf,
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
    /// The streams with lines here, by their stream term.
    pub streams: RwLock<HashMap<String, Arc<Labels>>>,
    /// Every committed chunk, by offset.
    pub catalog: RwLock<Vec<ChunkRef>>,
    pub chunks: ChunkFile,
    /// Per stream term, the key chunk its next chunks here are compressed against: the
    /// first chunk of the stream this process wrote here that was large enough
    /// ([`KEY_MIN_RAW`]), or the one that outgrew it ([`KeyChunk::outgrown_by`]). Not kept
    /// across restarts: a stream then gets a new key.
    pub keys: Mutex<HashMap<String, KeyChunk>>,
    /// Set by retention: the directory is removed when the last reader lets go.
    obsolete: AtomicBool,
}

impl Partition {
    /// Creates an empty partition in `dir` (which must not hold one). `partition.json` is
    /// written last, so a directory without it is an unfinished creation.
    pub(super) fn create(dir: &Path, start_ns: i64, end_ns: i64) -> Result<Partition> {
        fs::create_dir_all(dir).map_err(Error::io("creating a log partition", dir))?;
        let (schema, _) = schema::schema();
        Index::builder()
            .schema(schema)
            .create_in_dir(dir)
            .map_err(Error::index("creating a log partition index", dir))?;
        ChunkFile::create(&dir.join(CHUNK_FILE))?;
        let meta = PartitionMeta {
            format_version: FORMAT_VERSION,
            start_ns,
            end_ns,
        };
        let path = dir.join(META_FILE);
        let json = serde_json::to_vec_pretty(&meta).unwrap_or_default();
        fs::write(&path, json).map_err(Error::io("writing partition.json", &path))?;
        fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(Error::io("syncing partition.json", &path))?;
        Self::open(dir)
    }

    /// Opens the partition in `dir`.
    pub(super) fn open(dir: &Path) -> Result<Partition> {
        let path = dir.join(META_FILE);
        let bytes = fs::read(&path).map_err(Error::io("reading partition.json", &path))?;
        let meta: PartitionMeta = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            what: "log partition meta",
            path: path.clone(),
            detail: e.to_string(),
        })?;
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&meta.format_version) {
            return Err(Error::Corrupt {
                what: "log partition meta",
                path,
                detail: format!(
                    "format version {} is not one this Lookout reads ({MIN_FORMAT_VERSION} to {FORMAT_VERSION}; written by another version?)",
                    meta.format_version
                ),
            });
        }
        let index =
            Index::open_in_dir(dir).map_err(Error::index("opening a log partition", dir))?;
        index
            .tokenizers()
            .register(TERMS_TOKENIZER, schema::terms_analyzer());
        let fields = fields_of(&index, dir)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(Error::index("opening a log partition reader", dir))?;
        let catalog = load_catalog(&reader.searcher(), dir)?;
        let committed = catalog
            .last()
            .map(|c| c.offset + c.len)
            .unwrap_or(HEADER_LEN);
        let chunks = ChunkFile::open(&dir.join(CHUNK_FILE), committed)?;
        let mut streams = HashMap::new();
        for c in &catalog {
            streams
                .entry(schema::stream_term(&c.stream))
                .or_insert_with(|| c.stream.clone());
        }
        Ok(Partition {
            meta,
            dir: dir.to_path_buf(),
            index,
            reader,
            fields,
            streams: RwLock::new(streams),
            catalog: RwLock::new(catalog),
            chunks,
            keys: Mutex::new(HashMap::new()),
            obsolete: AtomicBool::new(false),
        })
    }

    pub(super) fn contains(&self, ts: i64) -> bool {
        self.meta.start_ns <= ts && ts < self.meta.end_ns
    }

    pub(super) fn overlaps(&self, start_ns: i64, end_ns: i64) -> bool {
        self.meta.start_ns < end_ns && start_ns < self.meta.end_ns
    }

    /// A writer with `heap` bytes of indexing memory on one thread.
    pub(super) fn writer(&self, heap: usize) -> Result<IndexWriter<TantivyDocument>> {
        self.index
            .writer_with_num_threads(1, heap)
            .map_err(Error::index("opening a log partition writer", &self.dir))
    }

    /// The WAL segment before which every line of this partition is committed (0: none).
    pub(super) fn wal_before(&self) -> Result<u64> {
        let metas = self
            .index
            .load_metas()
            .map_err(Error::index("reading a log partition's commit", &self.dir))?;
        Ok(metas
            .payload
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0))
    }

    pub(super) fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Records committed chunks in the catalog (with their streams), then makes the last
    /// commit visible to new searchers.
    pub(super) fn committed(&self, mut added: Vec<ChunkRef>) -> Result<()> {
        {
            let mut streams = self.streams.write();
            for c in &added {
                let term = schema::stream_term(&c.stream);
                streams.entry(term).or_insert_with(|| c.stream.clone());
            }
        }
        {
            let mut cat = self.catalog.write();
            cat.append(&mut added);
            cat.sort_by_key(|c| c.offset);
        }
        self.reader
            .reload()
            .map_err(Error::index("reloading a log partition", &self.dir))
    }

    /// The catalog entry of the chunk at `offset`.
    pub(super) fn chunk_at(&self, offset: u64) -> Option<ChunkRef> {
        let cat = self.catalog.read();
        let i = cat.binary_search_by_key(&offset, |c| c.offset).ok()?;
        Some(cat[i].clone())
    }

    /// Reads and decodes a chunk.
    pub(super) fn read_chunk(&self, c: &ChunkRef) -> Result<Chunk> {
        self.chunks.read(c.offset, c.len, c.raw)
    }

    /// Bytes of the partition's files.
    pub(super) fn disk_bytes(&self) -> u64 {
        fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Lines committed here.
    pub(super) fn num_lines(&self) -> u64 {
        self.catalog.read().iter().map(|c| c.lines).sum()
    }

    /// Has the directory removed once nothing uses the partition any more.
    pub(super) fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::SeqCst);
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::SeqCst) {
            if let Err(e) = fs::remove_dir_all(&self.dir) {
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot remove a dropped log partition; remove it by hand");
            }
        }
    }
}

fn fields_of(index: &Index, dir: &Path) -> Result<Fields> {
    let schema = index.schema();
    let get = |name: &str| {
        schema.get_field(name).map_err(|_| Error::Corrupt {
            what: "log partition schema",
            path: dir.to_path_buf(),
            detail: format!("the field {name:?} is missing"),
        })
    };
    Ok(Fields {
        stream: get("stream")?,
        terms: get("terms")?,
        min_ts: get("min_ts")?,
        max_ts: get("max_ts")?,
        offset: get("offset")?,
        len: get("len")?,
        raw: get("raw")?,
        lines: get("lines")?,
        frags: schema.get_field("frags").ok(),
        ids_offset: schema.get_field("ids_offset").ok(),
        ids_len: schema.get_field("ids_len").ok(),
    })
}

/// The chunks of every document of the index, by offset, from their fast fields.
fn load_catalog(searcher: &Searcher, dir: &Path) -> Result<Vec<ChunkRef>> {
    let corrupt = |detail: String| Error::Corrupt {
        what: "log partition index",
        path: dir.to_path_buf(),
        detail,
    };
    let mut out = Vec::new();
    let mut labels: HashMap<String, Arc<Labels>> = HashMap::new();
    for seg in searcher.segment_readers() {
        let ff = seg.fast_fields();
        let i64_col = |name: &str| {
            ff.i64(name)
                .map_err(|e| corrupt(format!("fast field {name}: {e}")))
        };
        let u64_col = |name: &str| {
            ff.u64(name)
                .map_err(|e| corrupt(format!("fast field {name}: {e}")))
        };
        let (min_ts, max_ts) = (i64_col("min_ts")?, i64_col("max_ts")?);
        let (offset, len, raw, lines) = (
            u64_col("offset")?,
            u64_col("len")?,
            u64_col("raw")?,
            u64_col("lines")?,
        );
        // Format 4 only.
        let (ids_offset, ids_len) = (ff.u64("ids_offset").ok(), ff.u64("ids_len").ok());
        let stream = ff
            .str("stream")
            .map_err(|e| corrupt(format!("fast field stream: {e}")))?
            .ok_or_else(|| corrupt("no stream column".into()))?;
        let mut buf = String::new();
        for doc in 0..seg.max_doc() {
            if !seg.is_deleted(doc) {
                let missing = || corrupt(format!("chunk document {doc} lacks a field"));
                let ord = stream.term_ords(doc).next().ok_or_else(missing)?;
                buf.clear();
                stream
                    .ord_to_str(ord, &mut buf)
                    .map_err(|e| corrupt(format!("stream term: {e}")))?;
                let l = match labels.get(&buf) {
                    Some(l) => l.clone(),
                    None => {
                        let l = schema::parse_stream_term(&buf)
                            .ok_or_else(|| corrupt(format!("stream term {buf:?}")))?;
                        labels.insert(buf.clone(), l.clone());
                        l
                    }
                };
                out.push(ChunkRef {
                    stream: l,
                    min_ts: min_ts.first(doc).ok_or_else(missing)?,
                    max_ts: max_ts.first(doc).ok_or_else(missing)?,
                    offset: offset.first(doc).ok_or_else(missing)?,
                    len: len.first(doc).ok_or_else(missing)?,
                    raw: raw.first(doc).ok_or_else(missing)?,
                    lines: lines.first(doc).ok_or_else(missing)?,
                    ids: match (&ids_offset, &ids_len) {
                        (Some(o), Some(l)) => o.first(doc).zip(l.first(doc)),
                        _ => None,
                    },
                });
            }
        }
    }
    out.sort_by_key(|c| c.offset);
    Ok(out)
}
