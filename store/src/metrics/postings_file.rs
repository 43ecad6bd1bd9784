//! `postings.bin`: a block's index on disk, so opening a block does not rebuild it.
//!
//! ```text
//! magic "LKPOST" | version u8 (1) | zstd(body) | crc32 u32 LE (of everything before it)
//! body: uvarint nsymbols, then each: uvarint len, bytes (UTF-8)
//!       uvarint nseries,  then each: uvarint npairs, then npairs × (uvarint name, uvarint value)
//!       uvarint nnames,   then each: uvarint name, uvarint nvalues,
//!                                    then each: uvarint value, uvarint len, roaring bitmap bytes
//! ```
//! Symbol references are indexes into the symbol list; series ids are positions in the series list.

use std::collections::HashMap;
use std::path::Path;

use roaring::RoaringBitmap;

use super::block::write_synced;
use super::postings::{Index, Symbols};
use crate::error::{Error, Result};

const MAGIC: &[u8; 6] = b"LKPOST";
pub const POSTINGS_FORMAT_VERSION: u8 = 1;

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn write(path: &Path, index: &Index) -> Result<()> {
    let mut out = Vec::with_capacity(1 << 16);
    put_uvarint(&mut out, index.symbols.len() as u64);
    for i in 0..index.symbols.len() as u32 {
        let s = index.symbols.get(i);
        put_uvarint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    put_uvarint(&mut out, index.num_series() as u64);
    for id in 0..index.num_series() {
        let pairs = index.series_pairs(id);
        put_uvarint(&mut out, pairs.len() as u64);
        for &(n, v) in pairs {
            put_uvarint(&mut out, n as u64);
            put_uvarint(&mut out, v as u64);
        }
    }
    let raw = index.raw_postings();
    let mut names: Vec<_> = raw.keys().copied().collect();
    names.sort_unstable();
    put_uvarint(&mut out, names.len() as u64);
    for n in names {
        let values = &raw[&n];
        put_uvarint(&mut out, n as u64);
        put_uvarint(&mut out, values.len() as u64);
        let mut vs: Vec<_> = values.keys().copied().collect();
        vs.sort_unstable();
        for v in vs {
            let bm = &values[&v];
            put_uvarint(&mut out, v as u64);
            put_uvarint(&mut out, bm.serialized_size() as u64);
            bm.serialize_into(&mut out)
                .map_err(Error::io("encoding postings", path))?;
        }
    }
    let body = zstd::bulk::compress(&out, 9).map_err(Error::io("compressing postings", path))?;
    let mut file = Vec::with_capacity(body.len() + 16);
    file.extend_from_slice(MAGIC);
    file.push(POSTINGS_FORMAT_VERSION);
    file.extend_from_slice(&body);
    let crc = crc32fast::hash(&file);
    file.extend_from_slice(&crc.to_le_bytes());
    write_synced(path, &file)
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl Cursor<'_> {
    fn err(&self, detail: &str) -> Error {
        Error::Corrupt {
            what: "block postings",
            path: self.path.to_path_buf(),
            detail: format!("{detail} at byte {}", self.pos),
        }
    }

    fn uvarint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let Some(&byte) = self.b.get(self.pos) else {
                return Err(self.err("truncated varint"));
            };
            self.pos += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.err("overlong varint"));
            }
        }
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| self.err("truncated data"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self, limit: usize) -> Result<u32> {
        let v = self.uvarint()?;
        if v as usize >= limit {
            return Err(self.err("reference out of range"));
        }
        Ok(v as u32)
    }
}

pub fn read(path: &Path) -> Result<Index> {
    let data = std::fs::read(path).map_err(Error::io("reading block postings", path))?;
    let corrupt = |d: String| Error::Corrupt {
        what: "block postings",
        path: path.to_path_buf(),
        detail: d,
    };
    if data.len() < MAGIC.len() + 5 || &data[..MAGIC.len()] != MAGIC {
        return Err(corrupt("not a postings file (bad magic)".into()));
    }
    let version = data[MAGIC.len()];
    if version != POSTINGS_FORMAT_VERSION {
        return Err(corrupt(format!("format version {version} is not supported (this build reads {POSTINGS_FORMAT_VERSION})")));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    let want = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(body) != want {
        return Err(corrupt("checksum mismatch; the block is damaged".into()));
    }
    let raw = decompress(&body[MAGIC.len() + 1..])
        .map_err(|e| corrupt(format!("cannot decompress: {e}")))?;
    let mut c = Cursor {
        b: &raw,
        pos: 0,
        path,
    };
    let nsym = c.uvarint()? as usize;
    let mut symbols = Symbols::default();
    for _ in 0..nsym {
        let n = c.uvarint()? as usize;
        let s = match std::str::from_utf8(c.bytes(n)?) {
            Ok(s) => s.to_string(),
            Err(_) => return Err(c.err("symbol is not UTF-8")),
        };
        symbols.intern(&s);
    }
    if symbols.len() != nsym {
        return Err(corrupt("duplicate symbols".into()));
    }
    let nseries = c.uvarint()? as usize;
    let mut series = Vec::with_capacity(nseries.min(1 << 24));
    for _ in 0..nseries {
        let np = c.uvarint()? as usize;
        let mut pairs = Vec::with_capacity(np.min(1024));
        for _ in 0..np {
            pairs.push((c.u32(nsym)?, c.u32(nsym)?));
        }
        series.push(pairs.into_boxed_slice());
    }
    let nnames = c.uvarint()? as usize;
    let mut postings: HashMap<u32, HashMap<u32, RoaringBitmap>> =
        HashMap::with_capacity(nnames.min(1 << 16));
    for _ in 0..nnames {
        let n = c.u32(nsym)?;
        let nv = c.uvarint()? as usize;
        let m = postings.entry(n).or_default();
        for _ in 0..nv {
            let v = c.u32(nsym)?;
            let len = c.uvarint()? as usize;
            let bytes = c.bytes(len)?;
            let bm = RoaringBitmap::deserialize_from(bytes)
                .map_err(|e| c.err(&format!("bad bitmap: {e}")))?;
            m.insert(v, bm);
        }
    }
    Ok(Index::from_parts(symbols, series, postings))
}

/// zstd frames carry their size; refuse absurd ones rather than allocate them.
fn decompress(b: &[u8]) -> std::io::Result<Vec<u8>> {
    let size = zstd::zstd_safe::get_frame_content_size(b)
        .ok()
        .flatten()
        .unwrap_or(0);
    if size > 16 << 30 {
        return Err(std::io::Error::other("declared size over 16 GiB"));
    }
    zstd::bulk::decompress(b, size as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, Matcher};

    #[test]
    fn round_trip_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = Index::default();
        for i in 0..50 {
            idx.add(&Labels::from_pairs([
                ("__name__", "m"),
                ("i", &*i.to_string()),
                ("odd", if i % 2 == 1 { "y" } else { "n" }),
            ]));
        }
        let p = dir.path().join("postings.bin");
        write(&p, &idx).unwrap();
        let back = read(&p).unwrap();
        assert_eq!(back.num_series(), 50);
        for id in 0..50 {
            assert_eq!(back.labels(id), idx.labels(id));
        }
        let sel = [Matcher::equal("odd", "y")];
        assert_eq!(back.select(&sel), idx.select(&sel));
        let mut raw = std::fs::read(&p).unwrap();
        let mid = raw.len() / 2;
        raw[mid] ^= 0xff;
        std::fs::write(&p, &raw).unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("checksum"));
    }
}
