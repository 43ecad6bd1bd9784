//! A chunk's per-line columns: timestamps, line lengths and metadata lengths. Since chunk
//! format 2 they stand uncompressed ahead of the chunk's zstd frame, bit-packed in blocks
//! of 128 values (`store/FORMAT.md`, "Chunks"), so a metric query that counts lines or
//! bytes reads a few bytes a line and decodes them at memory speed, with no zstd at all.
//! Timestamps are deltas divided by their greatest common divisor: pushed times are often
//! whole milliseconds or microseconds, and then the deltas take a few bits each. Format 1
//! kept the same columns as varints inside the frame; [`Columns::parse_v1`] still reads
//! them. The bit packing is tantivy's (`tantivy-bitpacker`); the block layout is ours.

use tantivy_bitpacker::{compute_num_bits, BitPacker, BitUnpacker};

use super::digits::Format;

/// First bytes of a format 2 chunk blob (a format 1 blob is a bare zstd frame, whose
/// first bytes are zstd's magic `28 b5 2f fd`).
pub(super) const MAGIC_V2: &[u8; 4] = b"LKC2";
/// First bytes of a format 3 chunk blob: the same columns section as format 2's; the
/// digits of the split after it are grouped by field (`digits.rs`).
pub(super) const MAGIC_V3: &[u8; 4] = b"LKC3";

/// Bytes of the fixed head of a columns section (formats 2 and 3): magic, line count, section
/// length.
pub(super) const HEAD_V2: usize = 12;

/// Values per bit-packed block.
const BLOCK: usize = 128;

/// The columns of a chunk's `n` lines.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Columns {
    pub ts: Vec<i64>,
    pub len: Vec<u32>,
    /// Per line, the length of its metadata (JSON, 0: none).
    pub meta: Vec<u32>,
}

impl Columns {
    pub(super) fn text_bytes(&self) -> u64 {
        self.len.iter().map(|&l| u64::from(l)).sum()
    }

    pub(super) fn meta_bytes(&self) -> u64 {
        self.meta.iter().map(|&l| u64::from(l)).sum()
    }

    /// The columns section of a chunk of format 3 (or 2: `magic`).
    pub(super) fn encode_v2(&self, magic: &[u8; 4]) -> Vec<u8> {
        let n = self.ts.len();
        let mut out = Vec::with_capacity(HEAD_V2 + 8 + n * 3 + 32);
        out.extend_from_slice(magic);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        if let Some(&first) = self.ts.first() {
            out.extend_from_slice(&first.to_le_bytes());
            let deltas: Vec<u64> = self
                .ts
                .windows(2)
                .map(|w| w[1].wrapping_sub(w[0]) as u64)
                .collect();
            let g = deltas.iter().fold(0u64, |g, &d| gcd(g, d)).max(1);
            put_uvarint(&mut out, g);
            put_blocks(&mut out, deltas.iter().map(|&d| d / g));
            put_blocks(&mut out, self.len.iter().map(|&l| u64::from(l)));
            if self.meta.iter().all(|&m| m == 0) {
                out.push(0);
            } else {
                out.push(1);
                put_blocks(&mut out, self.meta.iter().map(|&l| u64::from(l)));
            }
        }
        let total = out.len() as u32;
        out[8..12].copy_from_slice(&total.to_le_bytes());
        out
    }

    /// The chunk format of `blob` when it is 2 or 3; None for format 1.
    pub(super) fn format(blob: &[u8]) -> Option<Format> {
        match blob.get(..4)? {
            m if m == MAGIC_V2 => Some(Format::V2),
            m if m == MAGIC_V3 => Some(Format::V3),
            _ => None,
        }
    }

    /// The length of the columns section (format 2 or 3) that `buf` starts with, from its
    /// head; an error message when `buf` does not start with one.
    pub(super) fn v2_len(buf: &[u8]) -> Result<usize, String> {
        let head = buf.get(..HEAD_V2).ok_or("the chunk ends in its head")?;
        if Self::format(head).is_none() {
            return Err("not a format 2 or 3 chunk".into());
        }
        Ok(u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize)
    }

    /// Parses a columns section (format 2 or 3), which must be all of `buf`.
    pub(super) fn parse_v2(buf: &[u8]) -> Result<Columns, String> {
        let total = Self::v2_len(buf)?;
        if total != buf.len() {
            return Err(format!(
                "a columns section of {total} bytes in {} bytes",
                buf.len()
            ));
        }
        let n = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        // A block of 128 values takes at least two bytes.
        if n > buf.len().saturating_mul(64) {
            return Err(format!("{n} lines in one chunk"));
        }
        let mut pos = HEAD_V2;
        let mut c = Columns::default();
        if n == 0 {
            return if pos == buf.len() {
                Ok(c)
            } else {
                Err("bytes after the columns of an empty chunk".into())
            };
        }
        let first = buf
            .get(pos..pos + 8)
            .ok_or("the first timestamp is cut short")?;
        let mut t = i64::from_le_bytes(first.try_into().map_err(|_| "bad timestamp")?);
        pos += 8;
        let g = get_uvarint(buf, &mut pos).ok_or("the timestamp divisor is cut short")?;
        c.ts.reserve_exact(n);
        c.ts.push(t);
        get_blocks(buf, &mut pos, n - 1, |q| {
            t = t.wrapping_add(q.wrapping_mul(g) as i64);
            c.ts.push(t);
            true
        })?;
        c.len.reserve_exact(n);
        get_blocks(buf, &mut pos, n, |l| {
            u32::try_from(l).map(|l| c.len.push(l)).is_ok()
        })?;
        match buf.get(pos) {
            Some(0) => {
                pos += 1;
                c.meta = vec![0; n];
            }
            Some(1) => {
                pos += 1;
                c.meta.reserve_exact(n);
                get_blocks(buf, &mut pos, n, |l| {
                    u32::try_from(l).map(|l| c.meta.push(l)).is_ok()
                })?;
            }
            _ => return Err("the metadata column is missing".into()),
        }
        if pos != buf.len() {
            return Err("the columns do not fill their section".into());
        }
        Ok(c)
    }

    /// Parses format 1 columns at the start of `buf`: the line count (u32 LE), then the
    /// timestamps (zigzag varint deltas), line lengths and metadata lengths (uvarints).
    /// Returns them and where they end; `Ok(None)` when `buf` (a prefix of the chunk's
    /// `raw` bytes) ends before they do.
    pub(super) fn parse_v1(buf: &[u8], raw: usize) -> Result<Option<(Columns, usize)>, String> {
        let Some(head) = buf.get(..4) else {
            return Ok(None);
        };
        let n = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if n > raw {
            return Err(format!("{n} lines in {raw} bytes"));
        }
        let mut pos = 4;
        let mut c = Columns {
            ts: Vec::with_capacity(n),
            len: Vec::with_capacity(n),
            meta: Vec::with_capacity(n),
        };
        let mut prev = 0i64;
        for _ in 0..n {
            let Some(z) = get_uvarint(buf, &mut pos) else {
                return Ok(None);
            };
            prev = prev.wrapping_add(((z >> 1) as i64) ^ -((z & 1) as i64));
            c.ts.push(prev);
        }
        for col in [&mut c.len, &mut c.meta] {
            for _ in 0..n {
                let Some(l) = get_uvarint(buf, &mut pos) else {
                    return Ok(None);
                };
                col.push(u32::try_from(l).map_err(|_| format!("a length of {l} bytes"))?);
            }
        }
        Ok(Some((c, pos)))
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Bits a block packs each value in: the unpacker reads 8 bytes at a time, so widths of
/// 57 to 63 bits are stored as 64.
fn width(span: u64) -> u8 {
    match compute_num_bits(span) {
        b if b > 56 => 64,
        b => b,
    }
}

/// Writes `values` in blocks of [`BLOCK`]: per block its minimum (uvarint) and bit width
/// (a byte), then each value less the minimum in that many bits, padded to a byte.
fn put_blocks(out: &mut Vec<u8>, values: impl Iterator<Item = u64>) {
    let values: Vec<u64> = values.collect();
    for block in values.chunks(BLOCK) {
        let min = block.iter().copied().min().unwrap_or(0);
        let max = block.iter().copied().max().unwrap_or(0);
        let bits = width(max - min);
        put_uvarint(out, min);
        out.push(bits);
        let mut p = BitPacker::new();
        for &v in block {
            // Writing to a Vec cannot fail.
            let _ = p.write(v - min, bits, out);
        }
        let _ = p.close(out);
    }
}

/// Reads `n` values written by [`put_blocks`], handing each to `f`, which says whether
/// the value is in range.
fn get_blocks(
    buf: &[u8],
    pos: &mut usize,
    n: usize,
    mut f: impl FnMut(u64) -> bool,
) -> Result<(), String> {
    let mut vals = [0u64; BLOCK];
    let mut left = n;
    while left > 0 {
        let count = left.min(BLOCK);
        let min = get_uvarint(buf, pos).ok_or("a block's minimum is cut short")?;
        let bits = *buf.get(*pos).ok_or("a block's width is cut short")?;
        if bits > 64 || (bits > 56 && bits < 64) {
            return Err(format!("a block of {bits}-bit values"));
        }
        *pos += 1;
        let bytes = (count * bits as usize).div_ceil(8);
        if buf.len() < *pos + bytes {
            return Err("a block's values are cut short".into());
        }
        // The unpacker reads 8 bytes at a time: handing it the rest of the buffer, not
        // just the block, keeps it off its byte-by-byte path but at the very end.
        BitUnpacker::new(bits).get_range(0, &buf[*pos..], &mut vals[..count]);
        for &v in &vals[..count] {
            if !f(min.wrapping_add(v)) {
                return Err(format!(
                    "a value of {} is out of range",
                    min.wrapping_add(v)
                ));
            }
        }
        *pos += bytes;
        left -= count;
    }
    Ok(())
}

pub(super) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn get_uvarint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift >= 64 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(ts: Vec<i64>, len: Vec<u32>, meta: Vec<u32>) -> Columns {
        Columns { ts, len, meta }
    }

    /// Round trips over block edges, whole-millisecond and irregular times, repeats,
    /// extreme times and lengths, unsorted times (wrapping deltas), and metadata.
    #[test]
    fn columns_round_trip_in_format_2() {
        let mut cases = vec![
            cols(vec![], vec![], vec![]),
            cols(vec![7], vec![3], vec![0]),
            cols(
                vec![i64::MIN, i64::MAX, 0, -5],
                vec![0, u32::MAX, 1, 2],
                vec![0, 9, 0, u32::MAX],
            ),
        ];
        for n in [127usize, 128, 129, 300, 1000] {
            let ms: Vec<i64> = (0..n as i64)
                .map(|i| 1_700_000_000_000_000_000 + i * i % 7 * 1_000_000)
                .collect();
            let mut sorted = ms.clone();
            sorted.sort();
            let ns: Vec<i64> = (0..n as i64).map(|i| i * 1_000_003 + i % 3).collect();
            let len: Vec<u32> = (0..n as u32).map(|i| 40 + i * 37 % 200).collect();
            cases.push(cols(sorted, len.clone(), vec![0; n]));
            cases.push(cols(
                ns.clone(),
                len.clone(),
                (0..n as u32).map(|i| i % 2 * 20).collect(),
            ));
            cases.push(cols(ms, len, vec![0; n]));
            cases.push(cols(vec![5; n], vec![0; n], vec![0; n]));
        }
        for c in cases {
            let enc = c.encode_v2(MAGIC_V3);
            assert_eq!(Columns::v2_len(&enc).unwrap(), enc.len());
            assert_eq!(Columns::parse_v2(&enc).unwrap(), c);
            // Anything cut or extended is an error, never a panic or a misread.
            for cut in [enc.len().saturating_sub(1), enc.len() / 2, 13, 3] {
                if cut < enc.len() {
                    assert!(Columns::parse_v2(&enc[..cut]).is_err());
                }
            }
            let mut longer = enc.clone();
            longer.push(0);
            assert!(Columns::parse_v2(&longer).is_err());
        }
    }

    /// Whole milliseconds pack into a few bits a line.
    #[test]
    fn millisecond_times_take_a_few_bits() {
        let n = 10_000;
        let ts: Vec<i64> = (0..n as i64)
            .map(|i| 1_700_000_000_000_000_000 + i * 13 % 50 * 1_000_000 + i * 40_000_000)
            .collect();
        let mut ts = ts;
        ts.sort();
        let c = cols(ts, vec![100; n], vec![0; n]);
        let enc = c.encode_v2(MAGIC_V3);
        assert!(enc.len() < n, "{} bytes for {n} lines", enc.len());
    }

    /// Corrupt heads and widths are refused.
    #[test]
    fn corrupt_columns_are_refused() {
        let c = cols((0..200).collect(), vec![1; 200], vec![0; 200]);
        let enc = c.encode_v2(MAGIC_V3);
        let mut bad = enc.clone();
        bad[0] = b'X';
        assert!(Columns::parse_v2(&bad).is_err());
        let mut bad = enc.clone();
        bad[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Columns::parse_v2(&bad).is_err());
        // The first block's width byte: after the head, the first time and the divisor.
        let mut bad = enc;
        let at = HEAD_V2 + 8 + 1 + 1;
        bad[at] = 60;
        assert!(Columns::parse_v2(&bad).is_err());
    }
}
