//! Chunks: a run of one stream's lines, sorted by time, stored as one blob of a
//! partition's append-only `chunks.bin`: the per-line columns (`columns.rs`), then the
//! lines and metadata in a zstd frame, with their random digits and hex runs packed after
//! it (`digits.rs`); and the scan of a decoded chunk for a select's hits. A stream's chunks
//! in a partition are compressed against its **key chunk**, the first large one this process
//! wrote there: a commit holds a few hundred KiB of a stream when many streams share it,
//! about one pass through its templates, and against the key the later chunks' text is
//! mostly matches (on the bench's lines, 8.9x became 9.4x). Layout: `store/FORMAT.md`,
//! "Logs".

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;

use memchr::memmem;
use parking_lot::Mutex;

use super::columns::{self, Columns};
use super::digits::Format;
use super::filter::Filter;
use super::schema;
use super::shapes::ShapeIndex;
use super::ReadCounters;
use crate::error::{Error, Result};
use crate::model::{Labels, LogHit, LogRecord};

/// Zstd level of chunk blobs. Measured on the bench's lines (bench/src/logbench.rs): level
/// 3 compresses at several hundred MB/s; higher levels pack a few percent tighter at a
/// fraction of the speed, which ingest cannot afford at 50 MB/s per core.
const ZSTD_LEVEL: i32 = 3;

/// Zstd level of a text frame compressed against its key chunk. zstd loads the key into
/// its match tables for every frame, and level 3's tables (2^17 and 2^16 entries for this
/// much input) took longer to fill than the chunk took to compress; level 2's are half as
/// large. On 40 of the bench's chunks (310 KB against keys of 385 KB) level 2 took 43% less
/// time and its frames came out 3% smaller: with the key at hand, the larger tables find
/// nothing more. Without a key level 2 is 2.4% larger, so those frames keep level 3.
const KEYED_ZSTD_LEVEL: i32 = 2;

/// A stream's lines are cut into chunks of about this many bytes of lines and metadata:
/// large enough for zstd to find the repetition between lines and for the term index to be
/// small, small enough that a candidate chunk decompresses in about a millisecond.
pub(super) const CHUNK_BYTES: usize = 1 << 20;

/// ... and at most this many lines: empty lines count no bytes, and a chunk's columns
/// section holds at most [`columns::MAX_LINES_V4`] of them.
pub(super) const CHUNK_LINES: usize = 1 << 20;

/// First bytes of `chunks.bin`: magic, then the chunk format version (u32 LE), then zero.
const MAGIC: &[u8; 8] = b"LKLOGCHK";
pub(super) const CHUNK_FILE_VERSION: u32 = 1;
pub(super) const HEADER_LEN: u64 = 16;

/// The key chunk a format 4 chunk's text frame is compressed against: where its blob is in
/// the chunk file, its length, and its frame's content (the dictionary).
#[derive(Clone, Copy)]
pub(super) struct Key<'a> {
    pub offset: u64,
    pub len: u64,
    pub dict: &'a [u8],
}

/// Encodes `recs` (sorted by time) as a format 4 chunk blob: the columns section
/// ([`Columns::encode_v4`]), the key chunk's offset and length (zeros without `key`), then
/// one zstd frame of the body (the lines back to back, then the metadata, JSON or empty,
/// back to back) with its digits moved out and grouped by field ([`super::digits`]),
/// compressed against the key's dictionary when given, then the split's tail (packed digits
/// and hex runs). Returns the blob and its decoded size (`raw` in the index: the columns
/// section plus the body).
/// `shapes` are the lines' (`shapes.rs`), shared with the chunk's terms.
pub(super) fn encode(
    recs: &[&LogRecord],
    key: Option<Key>,
    shapes: &ShapeIndex,
) -> std::io::Result<(Vec<u8>, u64)> {
    encode_as(recs, Format::V4, key, shapes)
}

/// [`encode`] in chunk format 4, 3 or 2 (`key` is format 4's).
fn encode_as(
    recs: &[&LogRecord],
    format: Format,
    key: Option<Key>,
    shapes: &ShapeIndex,
) -> std::io::Result<(Vec<u8>, u64)> {
    let metas: Vec<Vec<u8>> = recs
        .iter()
        .map(|r| {
            if r.metadata.is_empty() {
                Vec::new()
            } else {
                schema::encode_meta(&r.metadata)
            }
        })
        .collect();
    let cols = Columns {
        ts: recs.iter().map(|r| r.ts_ns).collect(),
        len: recs.iter().map(|r| r.line.len() as u32).collect(),
        meta: metas.iter().map(|m| m.len() as u32).collect(),
    };
    let mut body = super::digits::take_buffer((cols.text_bytes() + cols.meta_bytes()) as usize);
    for r in recs {
        body.extend_from_slice(r.line.as_bytes());
    }
    for m in &metas {
        body.extend_from_slice(m);
    }
    let mut blob = match format {
        Format::V2 => cols.encode_v2(columns::MAGIC_V2),
        Format::V3 => cols.encode_v2(columns::MAGIC_V3),
        Format::V4 => cols.encode_v4()?,
    };
    let raw = (blob.len() + body.len()) as u64;
    let (split, tail) = super::digits::split(&body, &cols.len, &cols.ts, format, shapes);
    let frame = match key {
        Some(k) => super::zstd_ctx::compress_with(&split[..tail], KEYED_ZSTD_LEVEL, k.dict)?,
        None => super::zstd_ctx::compress(&split[..tail], ZSTD_LEVEL)?,
    };
    if format == Format::V4 {
        let (at, len) = key.map_or((0, 0), |k| (k.offset, k.len as u32));
        blob.extend_from_slice(&at.to_le_bytes());
        blob.extend_from_slice(&len.to_le_bytes());
        blob.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    }
    blob.extend_from_slice(&frame);
    blob.extend_from_slice(&split[tail..]);
    super::digits::give_back(split);
    super::digits::give_back(body);
    Ok((blob, raw))
}

/// A decoded chunk.
pub(super) struct Chunk {
    pub ts: Vec<i64>,
    /// Line `i` is `text[line_end[i - 1]..line_end[i]]` (from 0 for the first).
    line_end: Vec<usize>,
    text: String,
    meta_end: Vec<usize>,
    meta: Vec<u8>,
}

impl Chunk {
    /// Decodes a format 1 chunk, decompressed; None when it is not one.
    pub(super) fn decode_v1(buf: &[u8]) -> Option<Chunk> {
        let (cols, at) = Columns::parse_v1(buf, buf.len()).ok()??;
        Chunk::from_parts(cols, buf[at..].to_vec())
    }

    /// A chunk of `cols` and its lines and metadata back to back (`body`); None when they
    /// do not add up or a line is not UTF-8.
    fn from_parts(cols: Columns, mut body: Vec<u8>) -> Option<Chunk> {
        let ends = |lens: &[u32]| -> Option<Vec<usize>> {
            let mut at = 0usize;
            lens.iter()
                .map(|&l| {
                    at = at.checked_add(l as usize)?;
                    Some(at)
                })
                .collect()
        };
        let line_end = ends(&cols.len)?;
        let meta_end = ends(&cols.meta)?;
        let text_len = line_end.last().copied().unwrap_or(0);
        let meta_len = meta_end.last().copied().unwrap_or(0);
        if text_len.checked_add(meta_len)? != body.len() {
            return None;
        }
        let meta = body.split_off(text_len);
        let text = String::from_utf8(body).ok()?;
        if line_end.iter().any(|&e| !text.is_char_boundary(e)) {
            return None;
        }
        Some(Chunk {
            ts: cols.ts,
            line_end,
            text,
            meta_end,
            meta,
        })
    }

    pub(super) fn len(&self) -> usize {
        self.ts.len()
    }

    fn line_start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.line_end[i - 1]
        }
    }

    pub(super) fn line(&self, i: usize) -> &str {
        &self.text[self.line_start(i)..self.line_end[i]]
    }

    pub(super) fn metadata(&self, i: usize) -> Vec<(String, String)> {
        let from = if i == 0 { 0 } else { self.meta_end[i - 1] };
        let m = &self.meta[from..self.meta_end[i]];
        if m.is_empty() {
            Vec::new()
        } else {
            schema::decode_meta(m)
        }
    }

    /// The line holding text byte `pos`.
    fn line_at(&self, pos: usize) -> usize {
        self.line_end.partition_point(|&e| e <= pos)
    }

    /// Whether a line has a timestamp in `[lo, hi)`.
    pub(super) fn any_in(&self, lo: i64, hi: i64) -> bool {
        let a = self.ts.partition_point(|&t| t < lo);
        a < self.len() && self.ts[a] < hi
    }

    /// The lines with `lo <= ts < hi` that pass every filter, in time order (newest first
    /// when `backward`), at most `want` of them (0: all). A positive substring filter
    /// finds its candidate lines with one memmem pass over the chunk's text; other lines
    /// are not looked at (nor counted in `counters.lines`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hits(
        &self,
        stream: &Arc<Labels>,
        filters: &[Filter],
        label_eq: &[(String, String)],
        lo: i64,
        hi: i64,
        backward: bool,
        want: usize,
        counters: &ReadCounters,
        out: &mut Vec<LogHit>,
    ) {
        let a = self.ts.partition_point(|&t| t < lo);
        let b = self.ts.partition_point(|&t| t < hi);
        if a >= b {
            return;
        }
        let want = if want == 0 { usize::MAX } else { want };
        // Equalities on stream labels decide the whole chunk; the rest read each line's
        // metadata.
        let mut per_line: Vec<&(String, String)> = Vec::new();
        for eq in label_eq {
            match stream.get(&eq.0) {
                Some(v) if v != eq.1 => return,
                Some(_) => {}
                None => per_line.push(eq),
            }
        }
        let needle = filters
            .iter()
            .filter_map(|f| match f {
                Filter::Contains(s, true) if !s.is_empty() => Some(s.as_bytes()),
                _ => None,
            })
            .max_by_key(|s| s.len());
        let mut checked = 0u64;
        let mut found = 0usize;
        let mut take = |i: usize, out: &mut Vec<LogHit>| -> bool {
            checked += 1;
            let line = self.line(i);
            if filters.iter().all(|f| f.keeps(line)) {
                let metadata = self.metadata(i);
                if per_line
                    .iter()
                    .all(|(n, v)| schema::label_value(stream, &metadata, n) == v)
                {
                    out.push(LogHit {
                        stream: stream.clone(),
                        ts_ns: self.ts[i],
                        line: line.to_string(),
                        metadata,
                    });
                    found += 1;
                }
            }
            found < want
        };
        let (from, to) = (self.line_start(a), self.line_end[b - 1]);
        let hay = self.text.as_bytes();
        match (needle, backward) {
            (Some(n), false) => {
                let finder = memmem::Finder::new(n);
                let mut at = from;
                while let Some(p) = finder.find(&hay[at..to]) {
                    let i = self.line_at(at + p);
                    if !take(i, out) {
                        break;
                    }
                    at = self.line_end[i];
                }
            }
            (Some(n), true) => {
                let finder = memmem::FinderRev::new(n);
                let mut end = to;
                while let Some(p) = finder.rfind(&hay[from..end]) {
                    let i = self.line_at(from + p);
                    if !take(i, out) {
                        break;
                    }
                    end = self.line_start(i);
                }
            }
            (None, false) => {
                for i in a..b {
                    if !take(i, out) {
                        break;
                    }
                }
            }
            (None, true) => {
                for i in (a..b).rev() {
                    if !take(i, out) {
                        break;
                    }
                }
            }
        }
        counters.lines.fetch_add(checked, AtomicOrdering::Relaxed);
    }
}

/// A chunk's leading columns: what a read that needs no line text takes from it.
#[derive(Debug, PartialEq)]
pub(super) struct Sizes {
    pub ts: Vec<i64>,
    pub len: Vec<u32>,
    /// Whether some line has structured metadata (whose text is not read).
    pub has_meta: bool,
}

impl Sizes {
    /// The sizes of `cols`, checked against the chunk's decoded size `raw` and the length
    /// `at` of the columns' encoding.
    fn of(cols: Columns, at: usize, raw: usize) -> std::result::Result<Sizes, String> {
        let meta = cols.meta_bytes();
        if (at as u64)
            .saturating_add(cols.text_bytes())
            .saturating_add(meta)
            != raw as u64
        {
            return Err("the columns do not add up to the chunk's size".into());
        }
        Ok(Sizes {
            ts: cols.ts,
            len: cols.len,
            has_meta: meta > 0,
        })
    }
}

/// A partition's `chunks.bin`: the header, then compressed chunk blobs back to back (from
/// format 4 each preceded by its id filter).
/// Written only by the (serialized) commit; read by any number of readers with positioned
/// reads.
pub(super) struct ChunkFile {
    path: PathBuf,
    file: File,
    /// Bytes written, committed or not.
    len: Mutex<u64>,
    /// Its key dictionaries are cached under this ([`super::key_cache`]).
    id: u64,
}

impl Drop for ChunkFile {
    fn drop(&mut self) {
        super::key_cache::forget(self.id);
    }
}

impl ChunkFile {
    /// Creates an empty chunk file (header only, synced).
    pub(super) fn create(path: &Path) -> Result<()> {
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(Error::io("creating a log chunk file", path))?;
        let mut h = Vec::with_capacity(HEADER_LEN as usize);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&CHUNK_FILE_VERSION.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        f.write_all_at(&h, 0)
            .and_then(|_| f.sync_all())
            .map_err(Error::io("writing a log chunk file header", path))
    }

    /// Opens the chunk file, cutting off what lies past `committed` (blobs written by a
    /// commit that did not finish: their lines are still in the WAL).
    pub(super) fn open(path: &Path, committed: u64) -> Result<ChunkFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(Error::io("opening a log chunk file", path))?;
        let corrupt = |detail: String| Error::Corrupt {
            what: "log chunk file",
            path: path.to_path_buf(),
            detail,
        };
        let mut h = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut h, 0)
            .map_err(|e| corrupt(format!("cannot read the header: {e}")))?;
        if &h[..8] != MAGIC {
            return Err(corrupt("not a Lookout log chunk file".into()));
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if version != CHUNK_FILE_VERSION {
            return Err(corrupt(format!(
                "chunk format version {version} is not the {CHUNK_FILE_VERSION} this Lookout reads"
            )));
        }
        let len = file
            .metadata()
            .map_err(Error::io("reading a log chunk file's size", path))?
            .len();
        let committed = committed.max(HEADER_LEN);
        if len < committed {
            return Err(corrupt(format!(
                "{len} bytes, but the index refers to {committed}"
            )));
        }
        if len > committed {
            tracing::warn!(path = %path.display(), dropped = len - committed, "cutting uncommitted log chunks");
            file.set_len(committed)
                .map_err(Error::io("cutting a log chunk file", path))?;
        }
        Ok(ChunkFile {
            path: path.to_path_buf(),
            file,
            len: Mutex::new(committed),
            id: super::key_cache::file_id(),
        })
    }

    /// Where the next blob goes.
    pub(super) fn end(&self) -> u64 {
        *self.len.lock()
    }

    /// Appends a blob, returning its offset.
    pub(super) fn append(&self, blob: &[u8]) -> Result<u64> {
        let mut len = self.len.lock();
        let at = *len;
        self.file
            .write_all_at(blob, at)
            .map_err(Error::io("writing a log chunk", &self.path))?;
        *len += blob.len() as u64;
        Ok(at)
    }

    pub(super) fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(Error::io("syncing a log chunk file", &self.path))
    }

    /// Reads the columns of the chunk at `offset` ([`Sizes`]): for a format 2 or 3 chunk, its
    /// columns section alone (one read, a few bytes a line, no decompression).
    pub(super) fn read_sizes(&self, offset: u64, len: u64, raw: u64, lines: u64) -> Result<Sizes> {
        let corrupt = |detail: String| self.corrupt(offset, detail);
        let raw = raw as usize;
        // A guess at the section's length: it is mostly 1-2 bytes a line.
        let guess = (columns::HEAD_V2 as u64 + 64 + lines.saturating_mul(4)).min(len);
        let mut buf = self.read_at(offset, guess)?;
        if Columns::format(&buf).is_none() {
            return self.read_sizes_v1(offset, len, raw, lines);
        }
        let at = Columns::v2_len(&buf).map_err(corrupt)?;
        if at as u64 > len {
            return Err(corrupt(format!(
                "a columns section of {at} bytes in a {len}-byte blob"
            )));
        }
        if at > buf.len() {
            buf = self.read_at(offset, at as u64)?;
        }
        let cols = Columns::parse_v2(&buf[..at]).map_err(corrupt)?;
        Sizes::of(cols, at, raw).map_err(corrupt)
    }

    /// [`Self::read_sizes`] of a format 1 chunk, whose columns lead its zstd frame:
    /// decompresses only as much of the frame as they take. Both the compressed bytes read
    /// and the output decoded grow by doubling until the columns parse, so a chunk of many
    /// tiny lines costs no more than a full read.
    fn read_sizes_v1(&self, offset: u64, len: u64, raw: usize, lines: u64) -> Result<Sizes> {
        use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
        let corrupt = |detail: String| self.corrupt(offset, detail);
        let read = |dec: &mut zstd::stream::raw::Decoder<'static>| -> Result<Sizes> {
            // About 7 bytes a line in the columns (a 3-4 byte time delta, 1-2 byte lengths).
            let mut want = (4 + lines as usize * 8 + 256).min(raw);
            let mut out = vec![0u8; want];
            let mut produced = 0usize;
            let mut blob: Vec<u8> = Vec::new();
            let mut used = 0usize;
            let mut step = 64u64 << 10;
            let mut done = false;
            loop {
                while produced < want && !done {
                    if used == blob.len() {
                        let have = blob.len() as u64;
                        if have >= len {
                            return Err(corrupt("the compressed blob ends early".into()));
                        }
                        let take = step.min(len - have);
                        step = step.saturating_mul(2);
                        blob.resize((have + take) as usize, 0);
                        self.file
                            .read_exact_at(&mut blob[have as usize..], offset + have)
                            .map_err(Error::io("reading a log chunk", &self.path))?;
                    }
                    let mut input = InBuffer::around(&blob[used..]);
                    let mut output = OutBuffer::around_pos(&mut out[..want], produced);
                    let hint = dec
                        .run(&mut input, &mut output)
                        .map_err(|e| corrupt(format!("cannot decompress: {e}")))?;
                    used += input.pos();
                    produced = output.pos();
                    done = hint == 0;
                }
                if done && produced != raw {
                    return Err(corrupt(format!(
                        "{produced} bytes decompressed, the index says {raw}"
                    )));
                }
                match Columns::parse_v1(&out[..produced], raw) {
                    Ok(Some((cols, at))) => return Sizes::of(cols, at, raw).map_err(corrupt),
                    Ok(None) if produced >= raw => {
                        return Err(corrupt("the columns are cut short".into()))
                    }
                    Ok(None) => {
                        want = (want * 2).min(raw);
                        out.resize(want, 0);
                    }
                    Err(e) => return Err(corrupt(e)),
                }
            }
        };
        super::zstd_ctx::with_decoder(read)
            .map_err(|e| corrupt(format!("cannot decompress: {e}")))?
    }

    /// The error for a damaged chunk at `offset`.
    fn corrupt(&self, offset: u64, detail: String) -> Error {
        Error::Corrupt {
            what: "log chunk",
            path: self.path.clone(),
            detail: format!("at {offset}: {detail}"),
        }
    }

    /// `len` bytes at `offset` (a chunk's id filter, a blob or its start).
    pub(super) fn read_at(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(Error::io("reading a log chunk", &self.path))?;
        Ok(buf)
    }

    /// Reads and decodes the chunk at `offset` (formats 2 to 4, or format 1: a bare zstd
    /// frame).
    pub(super) fn read(&self, offset: u64, len: u64, raw: u64) -> Result<Chunk> {
        let blob = self.read_at(offset, len)?;
        self.decode(offset, &blob, raw)
    }

    /// The tail of the format 4 blob at `offset` (its packed digits and hex runs); None
    /// for a blob of an older format.
    pub(super) fn v4_tail<'a>(&self, offset: u64, blob: &'a [u8]) -> Result<Option<&'a [u8]>> {
        if Columns::format(blob) != Some(Format::V4) {
            return Ok(None);
        }
        Ok(Some(self.parts(offset, blob)?.tail))
    }

    /// Decodes the blob read from `offset`, whose content is `raw` bytes.
    pub(super) fn decode(&self, offset: u64, blob: &[u8], raw: u64) -> Result<Chunk> {
        let corrupt = |detail: String| self.corrupt(offset, detail);
        let Some(format) = Columns::format(blob) else {
            let buf = super::zstd_ctx::decompress(blob, raw as usize)
                .map_err(|e| corrupt(format!("cannot decompress: {e}")))?;
            if buf.len() != raw as usize {
                return Err(corrupt(format!(
                    "{} bytes decompressed, the index says {raw}",
                    buf.len()
                )));
            }
            return Chunk::decode_v1(&buf).ok_or_else(|| corrupt("cannot decode".into()));
        };
        let p = self.parts(offset, blob)?;
        let body_len = (raw as usize)
            .checked_sub(p.cols_len)
            .ok_or_else(|| corrupt("the index's size is less than the columns'".into()))?;
        let dict = match p.key {
            Some((at, n)) => Some(self.key_dict(offset, at, n)?),
            None => None,
        };
        let split = self.content(
            offset,
            p.frame,
            body_len,
            dict.as_deref().map(Vec::as_slice),
        )?;
        let body = super::digits::join(&split, p.tail, &p.cols.len, &p.cols.ts, body_len, format)
            .ok_or_else(|| corrupt("the text does not rejoin its digits".into()))?;
        Chunk::from_parts(p.cols, body).ok_or_else(|| corrupt("cannot decode".into()))
    }

    /// The parts of the format 2 to 4 blob at `offset`.
    fn parts<'a>(&self, offset: u64, blob: &'a [u8]) -> Result<Parts<'a>> {
        let corrupt = |detail: String| self.corrupt(offset, detail);
        let format =
            Columns::format(blob).ok_or_else(|| corrupt("not a format 2 to 4 chunk".into()))?;
        let at = Columns::v2_len(blob).map_err(corrupt)?;
        let (head, rest) = blob.split_at_checked(at).ok_or_else(|| {
            corrupt(format!(
                "a columns section of {at} bytes in a {}-byte blob",
                blob.len()
            ))
        })?;
        let cols = Columns::parse_v2(head).map_err(corrupt)?;
        if format != Format::V4 {
            return Ok(Parts {
                cols,
                cols_len: at,
                key: None,
                frame: rest,
                tail: &[],
            });
        }
        // Format 4: the key chunk's offset and length, the frame's length, the frame, then
        // the split's tail (packed digits and hex runs) as it is.
        let fixed = rest
            .get(..16)
            .ok_or_else(|| corrupt("the key and frame lengths are cut short".into()))?;
        let key_at = u64::from_le_bytes(fixed[..8].try_into().unwrap_or_default());
        let key_len = u32::from_le_bytes(fixed[8..12].try_into().unwrap_or_default());
        let n = u32::from_le_bytes(fixed[12..].try_into().unwrap_or_default()) as usize;
        let (frame, tail) = rest[16..]
            .split_at_checked(n)
            .ok_or_else(|| corrupt(format!("a text frame of {n} bytes past the blob")))?;
        Ok(Parts {
            cols,
            cols_len: at,
            key: (key_at != 0).then_some((key_at, u64::from(key_len))),
            frame,
            tail,
        })
    }

    /// The content of a chunk's text `frame` (made against `dict` when given), which holds
    /// the split of a body of `body_len` bytes: at most three bytes for one of the body
    /// (every byte escaped, or a digit of a run), and its header says how many.
    fn content(
        &self,
        offset: u64,
        frame: &[u8],
        body_len: usize,
        dict: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        let corrupt = |detail: String| self.corrupt(offset, detail);
        let content = zstd::zstd_safe::get_frame_content_size(frame)
            .ok()
            .flatten()
            .filter(|&n| n <= 3 * body_len as u64 + 4)
            .ok_or_else(|| corrupt("the text frame's size is missing or too large".into()))?
            as usize;
        let split = match dict {
            Some(d) => super::zstd_ctx::decompress_with(frame, content, d),
            None => super::zstd_ctx::decompress(frame, content),
        }
        .map_err(|e| corrupt(format!("cannot decompress: {e}")))?;
        if split.len() != content {
            return Err(corrupt(format!(
                "{} bytes decompressed, the frame says {content}",
                split.len()
            )));
        }
        Ok(split)
    }

    /// The dictionary of the key chunk at `at`, `len` bytes long, for the chunk at `offset`:
    /// the content of its text frame. A key chunk is a format 4 chunk without a key of its
    /// own, wholly before the chunks that refer to it.
    pub(super) fn key_dict(&self, offset: u64, at: u64, len: u64) -> Result<Arc<Vec<u8>>> {
        if let Some(d) = super::key_cache::get(self.id, at) {
            return Ok(d);
        }
        let corrupt = |detail: String| self.corrupt(offset, detail);
        if at < HEADER_LEN || at.saturating_add(len) > offset {
            return Err(corrupt(format!(
                "a key chunk at {at} of {len} bytes, not wholly before the chunk"
            )));
        }
        let blob = self.read_at(at, len)?;
        if Columns::format(&blob) != Some(Format::V4) {
            return Err(corrupt(format!("the key chunk at {at} is not format 4")));
        }
        let p = self.parts(at, &blob)?;
        if p.key.is_some() {
            return Err(corrupt(format!(
                "the key chunk at {at} has a key of its own"
            )));
        }
        let body_len = p.cols.text_bytes().saturating_add(p.cols.meta_bytes()) as usize;
        let dict = Arc::new(self.content(at, p.frame, body_len, None)?);
        super::key_cache::put(self.id, at, dict.clone());
        Ok(dict)
    }
}

/// A format 2 to 4 blob's parts.
struct Parts<'a> {
    cols: Columns,
    /// The columns section's length.
    cols_len: usize,
    /// The key chunk's offset and length (format 4).
    key: Option<(u64, u64)>,
    frame: &'a [u8],
    tail: &'a [u8],
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes of `recs`' lines, as `write_chunks` finds them.
    fn shapes(recs: &[&LogRecord]) -> ShapeIndex {
        ShapeIndex::of(recs.iter().map(|r| r.line.as_bytes()))
    }

    fn rec(ts_ns: i64, line: &str, meta: &[(&str, &str)]) -> LogRecord {
        LogRecord {
            ts_ns,
            line: line.into(),
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A format 1 blob, as Lookout wrote them before format 2: one zstd frame of the
    /// line count, the varint columns, the lines and the metadata.
    fn encode_v1(recs: &[&LogRecord]) -> (Vec<u8>, u64) {
        let mut out = (recs.len() as u32).to_le_bytes().to_vec();
        let mut prev = 0i64;
        for r in recs {
            let d = r.ts_ns.wrapping_sub(prev);
            columns::put_uvarint(&mut out, ((d << 1) ^ (d >> 63)) as u64);
            prev = r.ts_ns;
        }
        let metas: Vec<Vec<u8>> = recs
            .iter()
            .map(|r| match r.metadata.is_empty() {
                true => vec![],
                false => schema::encode_meta(&r.metadata),
            })
            .collect();
        for r in recs {
            columns::put_uvarint(&mut out, r.line.len() as u64);
        }
        for m in &metas {
            columns::put_uvarint(&mut out, m.len() as u64);
        }
        for r in recs {
            out.extend_from_slice(r.line.as_bytes());
        }
        for m in &metas {
            out.extend_from_slice(m);
        }
        (zstd::bulk::compress(&out, 3).unwrap(), out.len() as u64)
    }

    /// All formats, side by side in one file: the full read gives back every line, and the
    /// size read its timestamps and lengths, for chunks whose columns fit the first guess or
    /// need more (format 1: several zstd blocks; formats 2 to 4: a second read).
    #[test]
    fn both_formats_read_back_in_full_and_by_size() {
        let (_dir, _, file) = new_file();
        let cases: Vec<Vec<LogRecord>> = vec![
            vec![rec(7, "one", &[])],
            (0..40_000)
                .map(|i| rec(i * 1_000_003 - 5, if i % 3 == 0 { "" } else { "x" }, &[]))
                .collect(),
            (0..3_000)
                .map(|i| rec(i << 40, &"long line ".repeat(i as usize % 50), &[]))
                .collect(),
            vec![rec(1, "a", &[("k", "v")]), rec(1, "b", &[])],
            // Lines stamped with their own time (format 3 references it), most to the
            // second, some a second off.
            (0..5_000)
                .map(|i| {
                    let secs = 1_796_600_000 + i;
                    let at = chrono::DateTime::from_timestamp(secs + i64::from(i % 7 == 0), 0);
                    let line = format!("{} took {i}ms", at.unwrap().format("%F %T"));
                    rec(
                        secs * 1_000_000_000 + 5_000_000,
                        &line,
                        &[("n", format!("{}", i * 7).as_str())][..i as usize % 2],
                    )
                })
                .collect(),
            // Random numbers and ids (format 4 packs the numbers' digits), a field that
            // turns constant after its sample, and one that repeats.
            (0..3_000u64)
                .map(|i| {
                    let r = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
                    let late = if i < 100 { r % 1000 } else { 7 };
                    let line = format!(
                        "req {} took {}us id={r:016x} n={late} k={}",
                        r % 1_000_000,
                        r >> 50,
                        i % 3
                    );
                    rec(i as i64 * 1_000, &line, &[])
                })
                .collect(),
        ];
        for recs in cases {
            let refs: Vec<&LogRecord> = recs.iter().collect();
            let formats = [
                (1, encode_v1(&refs)),
                (
                    2,
                    encode_as(&refs, Format::V2, None, &shapes(&refs)).unwrap(),
                ),
                (
                    3,
                    encode_as(&refs, Format::V3, None, &shapes(&refs)).unwrap(),
                ),
                (4, encode(&refs, None, &shapes(&refs)).unwrap()),
            ];
            for (v, (blob, raw)) in formats {
                let at = file.append(&blob).unwrap();
                let len = blob.len() as u64;
                let full = file.read(at, len, raw).unwrap();
                let back: Vec<LogRecord> = (0..full.len())
                    .map(|i| LogRecord {
                        ts_ns: full.ts[i],
                        line: full.line(i).to_string(),
                        metadata: full.metadata(i),
                    })
                    .collect();
                assert_eq!(back, recs, "format {v}");
                let sizes = file.read_sizes(at, len, raw, recs.len() as u64).unwrap();
                assert_eq!(sizes.ts, full.ts);
                let lens: Vec<u32> = recs.iter().map(|r| r.line.len() as u32).collect();
                assert_eq!(sizes.len, lens);
                assert_eq!(sizes.has_meta, recs.iter().any(|r| !r.metadata.is_empty()));
                // A wrong size in the catalog is an error, not a misread.
                assert!(file.read_sizes(at, len, raw + 1, 1).is_err(), "format {v}");
                assert!(file.read(at, len, raw + 1).is_err(), "format {v}");
                if v == 4 {
                    // A text frame's length that runs past the blob, or falls short of
                    // its tail, is an error too.
                    let at = Columns::v2_len(&blob).unwrap() + 12;
                    let frame = u32::from_le_bytes(blob[at..at + 4].try_into().unwrap());
                    for bad in [frame + 1, frame - 1, u32::MAX] {
                        let mut b = blob.clone();
                        b[at..at + 4].copy_from_slice(&bad.to_le_bytes());
                        let at = file.append(&b).unwrap();
                        assert!(file.read(at, len, raw).is_err(), "frame length {bad}");
                    }
                }
            }
        }
    }

    /// A chunk compressed against a key chunk takes less and reads back, also from a file
    /// opened afresh; a key that is not a key chunk wholly before it is refused.
    #[test]
    fn chunks_compressed_against_a_key_read_back() {
        let (_dir, path, file) = new_file();
        // 400 templates of made-up words, each line one of them and a number: the key
        // holds every template, so the next chunk's text is mostly matches into it.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let templates: Vec<String> = (0..400)
            .map(|_| {
                (0..6)
                    .map(|_| {
                        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        (0..3 + (x >> 60) % 6)
                            .map(|k| (b'a' + (x >> (8 * k + 4)) as u8 % 26) as char)
                            .collect::<String>()
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let lines = |from: i64, to: i64| -> Vec<LogRecord> {
            (from..to)
                .map(|i| {
                    let line = format!("{} {}", templates[(i * 7) as usize % 400], i % 97);
                    rec(i * 1_000_000, &line, &[])
                })
                .collect()
        };
        let (a, b) = (lines(0, 3_000), lines(3_000, 6_000));
        fn refs(r: &[LogRecord]) -> Vec<&LogRecord> {
            r.iter().collect()
        }
        let (key_blob, _) = encode(&refs(&a), None, &shapes(&refs(&a))).unwrap();
        let key_at = file.append(&key_blob).unwrap();
        let key_len = key_blob.len() as u64;
        let dict = file.key_dict(file.end(), key_at, key_len).unwrap();
        let key = Key {
            offset: key_at,
            len: key_len,
            dict: &dict,
        };
        let (blob, raw) = encode(&refs(&b), Some(key), &shapes(&refs(&b))).unwrap();
        assert!(blob.len() < encode(&refs(&b), None, &shapes(&refs(&b))).unwrap().0.len());
        let at = file.append(&blob).unwrap();
        let back = |f: &ChunkFile, at: u64, blob: &[u8]| -> Result<Vec<String>> {
            let c = f.read(at, blob.len() as u64, raw)?;
            Ok((0..c.len()).map(|i| c.line(i).to_string()).collect())
        };
        let want: Vec<String> = b.iter().map(|r| r.line.clone()).collect();
        assert_eq!(back(&file, at, &blob).unwrap(), want);
        let fresh = ChunkFile::open(&path, file.end()).unwrap();
        assert_eq!(back(&fresh, at, &blob).unwrap(), want);
        // Refused: a key at or after the chunk, one that is itself compressed against a key,
        // one that is not a chunk's start, and a key of the wrong length.
        let cols = Columns::v2_len(&blob).unwrap();
        let with_key = |key_at: u64, len: u32| {
            let mut bad = blob.clone();
            bad[cols..cols + 8].copy_from_slice(&key_at.to_le_bytes());
            bad[cols + 8..cols + 12].copy_from_slice(&len.to_le_bytes());
            let at = file.append(&bad).unwrap();
            back(&fresh_file(&path, &file), at, &bad)
        };
        let end = file.end();
        assert!(with_key(end, key_len as u32).is_err());
        assert!(with_key(at, blob.len() as u32).is_err());
        assert!(with_key(key_at + 1, key_len as u32 - 1).is_err());
        assert!(with_key(key_at, key_len as u32 - 1).is_err());
        assert!(with_key(3, 5).is_err());
        assert_eq!(with_key(key_at, key_len as u32).unwrap(), want);
    }

    /// A new, empty chunk file in a temporary directory (kept while the guard lives).
    fn new_file() -> (tempfile::TempDir, PathBuf, ChunkFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunks.bin");
        ChunkFile::create(&path).unwrap();
        let file = ChunkFile::open(&path, HEADER_LEN).unwrap();
        (dir, path, file)
    }

    /// The chunk file at `path` opened afresh (no key cached), with all of `file`.
    fn fresh_file(path: &Path, file: &ChunkFile) -> ChunkFile {
        ChunkFile::open(path, file.end()).unwrap()
    }

    #[test]
    fn chunks_round_trip_and_find_substrings_from_either_end() {
        let recs = [
            rec(-5, "alpha needle", &[]),
            rec(3, "", &[("trace_id", "ab")]),
            rec(3, "néedle needle", &[]),
            rec(1 << 60, "needle at the end", &[]),
        ];
        let refs: Vec<&LogRecord> = recs.iter().collect();
        let (blob, raw) = encode_v1(&refs);
        let raw = zstd::bulk::decompress(&blob, raw as usize).unwrap();
        let c = Chunk::decode_v1(&raw).unwrap();
        assert_eq!(c.len(), 4);
        for (i, r) in recs.iter().enumerate() {
            assert_eq!((c.ts[i], c.line(i)), (r.ts_ns, r.line.as_str()));
            assert_eq!(c.metadata(i), r.metadata);
        }
        assert!(Chunk::decode_v1(&raw[..raw.len() - 1]).is_none());
        let stream = Arc::new(Labels::from_pairs([("job", "a")]));
        let f = [Filter::Contains("needle".into(), true)];
        let counters = ReadCounters::default();
        let run = |backward, want, lo, hi| {
            let mut out = vec![];
            c.hits(
                &stream,
                &f,
                &[],
                lo,
                hi,
                backward,
                want,
                &counters,
                &mut out,
            );
            out.into_iter().map(|h| h.line).collect::<Vec<_>>()
        };
        assert_eq!(
            run(false, 0, i64::MIN, i64::MAX),
            ["alpha needle", "néedle needle", "needle at the end"]
        );
        assert_eq!(
            run(true, 2, i64::MIN, i64::MAX),
            ["needle at the end", "néedle needle"]
        );
        assert_eq!(run(true, 0, 0, 4), ["néedle needle"]);
        // A match across two lines is not a match.
        let f = [Filter::Contains("needlenéedle".into(), true)];
        let mut out = vec![];
        c.hits(
            &stream,
            &f,
            &[],
            i64::MIN,
            i64::MAX,
            false,
            0,
            &counters,
            &mut out,
        );
        assert!(out.is_empty());
    }
}
