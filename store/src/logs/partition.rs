//! A time partition: one tantivy index holding the lines with `start <= ts < end`, in its
//! own directory with a `partition.json`, the streams it holds (from its `stream` terms),
//! and how it is opened, written, measured and dropped.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument};

use super::schema::{self, Fields, LineTokenizer, FORMAT_VERSION, LINE_TOKENIZER};
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

/// Decompressed docstore blocks a partition's reader keeps (64 KiB each).
const DOC_CACHE_BLOCKS: usize = 16;

pub(super) struct Partition {
    pub meta: PartitionMeta,
    pub dir: PathBuf,
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
    /// The streams with lines here, by their stream term.
    pub streams: RwLock<HashMap<String, Arc<Labels>>>,
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
            .settings(schema::settings())
            .create_in_dir(dir)
            .map_err(Error::index("creating a log partition index", dir))?;
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
        if meta.format_version != FORMAT_VERSION {
            return Err(Error::Corrupt {
                what: "log partition meta",
                path,
                detail: format!(
                    "format version {} is not the {FORMAT_VERSION} this Lookout reads (written by another version?)",
                    meta.format_version
                ),
            });
        }
        let index =
            Index::open_in_dir(dir).map_err(Error::index("opening a log partition", dir))?;
        index.tokenizers().register(LINE_TOKENIZER, LineTokenizer);
        let fields = fields_of(&index, dir)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .doc_store_cache_num_blocks(DOC_CACHE_BLOCKS)
            .try_into()
            .map_err(Error::index("opening a log partition reader", dir))?;
        let p = Partition {
            meta,
            dir: dir.to_path_buf(),
            index,
            reader,
            fields,
            streams: RwLock::new(HashMap::new()),
            obsolete: AtomicBool::new(false),
        };
        p.load_streams()?;
        Ok(p)
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

    /// Makes the last commit visible to new searchers and learns its streams.
    pub(super) fn reload(&self) -> Result<()> {
        self.reader
            .reload()
            .map_err(Error::index("reloading a log partition", &self.dir))?;
        self.load_streams()
    }

    /// Reads the stream terms of every segment.
    fn load_streams(&self) -> Result<()> {
        let searcher = self.searcher();
        let mut found = Vec::new();
        for seg in searcher.segment_readers() {
            let inv = seg
                .inverted_index(self.fields.stream)
                .map_err(Error::index("reading a log partition's streams", &self.dir))?;
            let mut terms = inv
                .terms()
                .stream()
                .map_err(|e| Error::io("reading a log partition's streams", &self.dir)(e))?;
            while terms.advance() {
                if let Ok(t) = std::str::from_utf8(terms.key()) {
                    found.push(t.to_string());
                }
            }
        }
        let mut streams = self.streams.write();
        for t in found {
            if streams.contains_key(&t) {
                continue;
            }
            match schema::parse_stream_term(&t) {
                Some(labels) => {
                    streams.insert(t, labels);
                }
                None => {
                    tracing::warn!(dir = %self.dir.display(), term = %t, "ignoring a stream term that is not a label set")
                }
            }
        }
        Ok(())
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
        self.searcher().num_docs()
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
        ts: get("ts")?,
        stream: get("stream")?,
        line: get("line")?,
        meta: get("meta")?,
    })
}
