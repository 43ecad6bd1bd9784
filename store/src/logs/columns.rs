//! A chunk's per-line columns: timestamps, line lengths and metadata lengths. Since chunk
//! format 2 they stand uncompressed ahead of the chunk's zstd frame, bit-packed in blocks
//! of 128 values (`store/FORMAT.md`, "Chunks"), so a metric query that counts lines or
//! bytes reads a few bytes a line and decodes them at memory speed, with no zstd at all.
//! Timestamps are deltas divided by their greatest common divisor: pushed times are often
//! whole milliseconds or microseconds, and then the deltas take a few bits each. Format 1
//! kept the same columns as varints inside the frame; [`Columns::parse_v1`] still reads
//! them. The bit packing is tantivy's (`tantivy-bitpacker`); the block layout is ours.
//!
//! Format 4 ([`Columns::encode_v4`]) stores the same values as byte planes (every value's
//! low byte, then every second byte, ...) in one zstd frame: zstd finds the repeats that
//! per-block bit widths cannot (a stream's cycle of line lengths, recurring gaps), and on the
//! bench's lines the section took 0.93 bytes a line against bit packing's 1.9. A metric
//! query now decompresses the section, a small frame, before reading it.

use tantivy_bitpacker::{compute_num_bits, BitPacker, BitUnpacker};

use super::digits::Format;

/// First bytes of a format 2 chunk blob (a format 1 blob is a bare zstd frame, whose
/// first bytes are zstd's magic `28 b5 2f fd`).
pub(super) const MAGIC_V2: &[u8; 4] = b"LKC2";
/// First bytes of a format 3 chunk blob: the same columns section as format 2's; the
/// digits of the split after it are grouped by field (`digits.rs`).
pub(super) const MAGIC_V3: &[u8; 4] = b"LKC3";
/// First bytes of a format 4 chunk blob: its columns section holds the values as byte
/// planes in a zstd frame ([`Columns::encode_v4`]) instead of bit-packed blocks.
pub(super) const MAGIC_V4: &[u8; 4] = b"LKC4";

/// Bytes of the fixed head of a columns section (formats 2 to 4): magic, line count, section
/// length.
pub(super) const HEAD_V2: usize = 12;

/// Most lines a format 4 section holds. Its frame may expand many thousand times, so the line
/// count, not the section's size, bounds what a reader allocates: at most 16 bytes a line
/// for the planes and as much for the columns, 256 MiB each here. Chunks are cut at 1 MiB of
/// line bytes, so only lines averaging under a sixteenth of a byte (all but empty) reach it.
pub(super) const MAX_LINES_V4: usize = 1 << 24;

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

    /// The columns section of a chunk of format 4: the head of [`Self::encode_v2`] (magic
    /// `LKC4`), then, when there are lines, the first time (i64 LE), the divisor of the
    /// time deltas (uvarint), the byte width of each column (three bytes: time deltas over
    /// the divisor, 0-8; line lengths, 0-4; metadata lengths, 0-4; each the fewest bytes
    /// that hold the column's largest value), and one zstd frame of the columns' byte planes,
    /// left out when the planes are empty (every width 0, or one line whose lengths are 0).
    /// Fails when zstd does, or when there are more than [`MAX_LINES_V4`] lines.
    pub(super) fn encode_v4(&self) -> std::io::Result<Vec<u8>> {
        let n = self.ts.len();
        if n > MAX_LINES_V4 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{n} lines in one chunk: format 4 holds at most {MAX_LINES_V4}"),
            ));
        }
        let mut out = Vec::with_capacity(HEAD_V2 + 8 + 10 + 3 + n / 2 + 64);
        out.extend_from_slice(MAGIC_V4);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        if let Some(&first) = self.ts.first() {
            out.extend_from_slice(&first.to_le_bytes());
            let mut deltas: Vec<u64> = self
                .ts
                .windows(2)
                .map(|w| w[1].wrapping_sub(w[0]) as u64)
                .collect();
            let g = deltas.iter().fold(0u64, |g, &d| gcd(g, d)).max(1);
            deltas.iter_mut().for_each(|d| *d /= g);
            put_uvarint(&mut out, g);
            let w_ts = byte_width(deltas.iter().copied().max().unwrap_or(0));
            let w_len = byte_width(u64::from(self.len.iter().copied().max().unwrap_or(0)));
            let w_meta = byte_width(u64::from(self.meta.iter().copied().max().unwrap_or(0)));
            out.extend_from_slice(&[w_ts as u8, w_len as u8, w_meta as u8]);
            let mut planes = Vec::with_capacity(deltas.len() * w_ts + n * (w_len + w_meta));
            put_planes(&mut planes, &deltas, w_ts);
            put_planes(&mut planes, &self.len, w_len);
            put_planes(&mut planes, &self.meta, w_meta);
            if !planes.is_empty() {
                out.extend_from_slice(&super::zstd_ctx::compress(&planes, 3)?);
            }
        }
        let total = u32::try_from(out.len()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a columns section of 4 GiB or more",
            )
        })?;
        out[8..12].copy_from_slice(&total.to_le_bytes());
        Ok(out)
    }

    /// The chunk format of `blob` when it is 2, 3 or 4; None for format 1.
    pub(super) fn format(blob: &[u8]) -> Option<Format> {
        match blob.get(..4)? {
            m if m == MAGIC_V2 => Some(Format::V2),
            m if m == MAGIC_V3 => Some(Format::V3),
            m if m == MAGIC_V4 => Some(Format::V4),
            _ => None,
        }
    }

    /// The length of the columns section (format 2, 3 or 4) that `buf` starts with, from
    /// its head; an error message when `buf` does not start with one.
    pub(super) fn v2_len(buf: &[u8]) -> Result<usize, String> {
        let head = buf.get(..HEAD_V2).ok_or("the chunk ends in its head")?;
        if Self::format(head).is_none() {
            return Err("not a format 2, 3 or 4 chunk".into());
        }
        Ok(u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize)
    }

    /// Parses a columns section (format 2, 3 or 4), which must be all of `buf`.
    pub(super) fn parse_v2(buf: &[u8]) -> Result<Columns, String> {
        let total = Self::v2_len(buf)?;
        if total != buf.len() {
            return Err(format!(
                "a columns section of {total} bytes in {} bytes",
                buf.len()
            ));
        }
        let n = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        if Self::format(buf) == Some(Format::V4) {
            return Self::parse_v4(buf, n);
        }
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

    /// [`Self::parse_v2`] of a format 4 section of `n` lines, `buf` all of it, its head
    /// checked.
    fn parse_v4(buf: &[u8], n: usize) -> Result<Columns, String> {
        if n > MAX_LINES_V4 {
            return Err(format!(
                "{n} lines in one chunk: format 4 holds at most {MAX_LINES_V4}"
            ));
        }
        let mut pos = HEAD_V2;
        if n == 0 {
            return if pos == buf.len() {
                Ok(Columns::default())
            } else {
                Err("bytes after the columns of an empty chunk".into())
            };
        }
        let first = buf
            .get(pos..pos + 8)
            .ok_or("the first timestamp is cut short")?;
        let first = i64::from_le_bytes(first.try_into().map_err(|_| "bad timestamp")?);
        pos += 8;
        let g = get_uvarint(buf, &mut pos).ok_or("the timestamp divisor is cut short")?;
        if g == 0 {
            return Err("a timestamp divisor of 0".into());
        }
        let &[w_ts, w_len, w_meta] = buf
            .get(pos..pos + 3)
            .and_then(|w| <&[u8; 3]>::try_from(w).ok())
            .ok_or("the column widths are cut short")?;
        pos += 3;
        let (w_ts, w_len, w_meta) = (w_ts as usize, w_len as usize, w_meta as usize);
        if w_ts > 8 || w_len > 4 || w_meta > 4 {
            return Err(format!(
                "column widths of {w_ts}, {w_len} and {w_meta} bytes (at most 8, 4 and 4)"
            ));
        }
        let size = (n - 1)
            .checked_mul(w_ts)
            .and_then(|t| t.checked_add(n.checked_mul(w_len + w_meta)?))
            .ok_or("the columns' planes overflow")?;
        let frame = &buf[pos..];
        let planes = if size == 0 {
            if !frame.is_empty() {
                return Err("a frame after columns that have none".into());
            }
            Vec::new()
        } else {
            let content = zstd::zstd_safe::get_frame_content_size(frame)
                .map_err(|_| "the columns' frame has a bad header")?
                .ok_or("the columns' frame does not give its size")?;
            if content != size as u64 {
                return Err(format!(
                    "the columns' frame holds {content} bytes, not the {size} of {n} lines"
                ));
            }
            // RFC 8878: a block takes at least 4 bytes (header and RLE byte) and yields at
            // most 128 KiB. A frame claiming more is corrupt; refusing it here keeps a few
            // hostile bytes from reserving the claimed size.
            if content > frame.len() as u64 * (32 << 10) {
                return Err(format!(
                    "a frame of {} bytes claims {content} bytes",
                    frame.len()
                ));
            }
            let used = zstd::zstd_safe::find_frame_compressed_size(frame)
                .map_err(|_| "the columns' frame is corrupt or cut short")?;
            if used != frame.len() {
                return Err("the columns do not fill their section".into());
            }
            let planes = super::zstd_ctx::decompress(frame, size)
                .map_err(|e| format!("the columns' frame does not decompress: {e}"))?;
            if planes.len() != size {
                return Err(format!(
                    "the columns' frame holds {} bytes, not {size}",
                    planes.len()
                ));
            }
            planes
        };
        let (ts_planes, rest) = planes.split_at((n - 1) * w_ts);
        let (len_planes, meta_planes) = rest.split_at(n * w_len);
        // The deltas over the divisor first, in place, then their running sum.
        let mut ts = vec![0i64; n];
        if n > 1 {
            for (b, plane) in ts_planes.chunks_exact(n - 1).enumerate() {
                let shift = 8 * b;
                for (v, &x) in ts[1..].iter_mut().zip(plane) {
                    *v |= (u64::from(x) << shift) as i64;
                }
            }
        }
        let mut t = first;
        ts[0] = t;
        for v in &mut ts[1..] {
            t = t.wrapping_add((*v as u64).wrapping_mul(g) as i64);
            *v = t;
        }
        Ok(Columns {
            ts,
            len: get_planes(len_planes, n),
            meta: get_planes(meta_planes, n),
        })
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

/// Bytes that hold `max`: 0 for 0, 8 for anything of 57 bits or more.
fn byte_width(max: u64) -> usize {
    (64 - max.leading_zeros() as usize).div_ceil(8)
}

/// Appends `width` byte planes of `values`: plane b holds byte b (little-endian) of each.
fn put_planes<V: Copy + Into<u64>>(out: &mut Vec<u8>, values: &[V], width: usize) {
    for b in 0..width {
        out.extend(values.iter().map(|&v| (v.into() >> (8 * b)) as u8));
    }
}

/// The `n` values whose byte planes (at most 4, `planes.len() / n` of them) are `planes`;
/// all 0 when there are none. Plane by plane, so that the inner loop is a widening
/// shift-or over two slices, which the compiler vectorizes.
fn get_planes(planes: &[u8], n: usize) -> Vec<u32> {
    let mut out = vec![0u32; n];
    if n > 0 {
        for (b, plane) in planes.chunks_exact(n).enumerate() {
            let shift = 8 * b;
            for (v, &x) in out.iter_mut().zip(plane) {
                *v |= u32::from(x) << shift;
            }
        }
    }
    out
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

    /// Columns over block edges, whole-millisecond and irregular times, repeats, extreme
    /// times and lengths, unsorted times (wrapping deltas), every byte width, and metadata.
    fn cases() -> Vec<Columns> {
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
        cases.push(cols(vec![i64::MAX, i64::MIN], vec![0, 0], vec![0, 0]));
        cases.push(cols(vec![-1], vec![0], vec![0]));
        cases.push(cols(vec![3], vec![0], vec![u32::MAX]));
        for k in 1..=8u32 {
            // A delta of exactly k bytes, over a divisor of 1.
            let d = (1i64 << (8 * k - 1)).wrapping_add(1);
            let ts = vec![
                -7,
                (-7i64).wrapping_add(d),
                (-7i64).wrapping_add(d).wrapping_add(1),
            ];
            let l = 1u32.checked_shl(8 * k - 1).unwrap_or(0) | 1;
            cases.push(cols(ts, vec![l, 0, 1], vec![0, l, 0]));
        }
        cases
    }

    /// Format 2 and 3 sections give back their columns.
    #[test]
    fn columns_round_trip_in_format_2() {
        for c in cases() {
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

    /// Format 4 sections give back their columns, report format 4, and are refused cut at
    /// any length or with a byte more.
    #[test]
    fn columns_round_trip_in_format_4() {
        for c in cases() {
            let enc = c.encode_v4().unwrap();
            assert_eq!(Columns::format(&enc), Some(Format::V4));
            assert_eq!(Columns::v2_len(&enc).unwrap(), enc.len());
            assert_eq!(Columns::parse_v2(&enc).unwrap(), c);
            for cut in 0..enc.len() {
                assert!(Columns::parse_v2(&enc[..cut]).is_err(), "cut at {cut}");
                // Cut with a head that agrees, so the cut is found in the section's body.
                if cut >= HEAD_V2 {
                    let mut bad = enc[..cut].to_vec();
                    bad[8..12].copy_from_slice(&(cut as u32).to_le_bytes());
                    assert!(
                        Columns::parse_v2(&bad).is_err(),
                        "cut at {cut}, head agreeing"
                    );
                }
            }
            let mut longer = enc.clone();
            longer.push(0);
            assert!(Columns::parse_v2(&longer).is_err());
        }
    }

    /// Columns whose planes are empty (every width 0) take no frame.
    #[test]
    fn format_4_without_planes_has_no_frame() {
        let empty = cols(vec![], vec![], vec![]).encode_v4().unwrap();
        assert_eq!(empty.len(), HEAD_V2);
        for c in [
            cols(vec![9], vec![0], vec![0]),
            cols(vec![-4; 500], vec![0; 500], vec![0; 500]),
        ] {
            let enc = c.encode_v4().unwrap();
            assert_eq!(enc.len(), HEAD_V2 + 8 + 1 + 3);
            assert_eq!(enc[HEAD_V2 + 9..], [0, 0, 0]);
            assert_eq!(Columns::parse_v2(&enc).unwrap(), c);
        }
    }

    /// A stream's cycle of line lengths and its recurring gaps cost zstd little, while bit
    /// packing pays for each value's span.
    #[test]
    fn format_4_is_smaller_than_format_2_on_repeats() {
        let n = 20_000;
        let cycle = [182u32, 97, 240, 61, 1033, 150, 73, 88];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut t = 1_700_000_000_000_000_000i64;
        let ts: Vec<i64> = (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                // Gaps of 1 ms to about 1 s, each half as likely as the one before.
                t += 1_000_000i64 << ((state >> 33).trailing_zeros().min(10));
                t
            })
            .collect();
        let len: Vec<u32> = (0..n).map(|i| cycle[i % cycle.len()]).collect();
        let meta: Vec<u32> = (0..n).map(|i| if i % 4 == 0 { 31 } else { 0 }).collect();
        let c = cols(ts, len, meta);
        let v2 = c.encode_v2(MAGIC_V3).len();
        let v4 = c.encode_v4().unwrap();
        assert_eq!(Columns::parse_v2(&v4).unwrap(), c);
        assert!(
            v4.len() < v2,
            "format 4: {} bytes, format 2: {v2}",
            v4.len()
        );
    }

    /// A section built by hand: `n` lines, divisor 1, `widths`, then `frame`.
    fn section_v4(n: u32, widths: [u8; 3], frame: &[u8]) -> Vec<u8> {
        let mut out = MAGIC_V4.to_vec();
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&5i64.to_le_bytes());
        out.push(1);
        out.extend_from_slice(&widths);
        out.extend_from_slice(frame);
        let total = out.len() as u32;
        out[8..12].copy_from_slice(&total.to_le_bytes());
        out
    }

    /// Corrupt heads, widths, divisors and frames are refused; no flipped byte panics.
    #[test]
    fn corrupt_format_4_sections_are_refused() {
        let n = 300u32;
        let c = cols(
            (0..n as i64).map(|i| i * i * i * 1_000).collect(),
            (0..n).map(|i| i * 7 % 300).collect(),
            (0..n).map(|i| i % 3).collect(),
        );
        let enc = c.encode_v4().unwrap();
        let widths_at = HEAD_V2 + 8 + 2;
        assert_eq!(enc[widths_at..widths_at + 3], [3, 2, 1]);
        let refused = |bad: &[u8]| Columns::parse_v2(bad).is_err();

        let mut bad = enc.clone();
        bad[3] = b'5';
        assert!(refused(&bad));
        for lie in [0, 1, n - 1, n + 1, MAX_LINES_V4 as u32 + 1, u32::MAX] {
            let mut bad = enc.clone();
            bad[4..8].copy_from_slice(&lie.to_le_bytes());
            assert!(refused(&bad), "{lie} lines");
        }
        for at in widths_at..widths_at + 3 {
            for w in (0..=255u8).filter(|&w| w != enc[at]) {
                let mut bad = enc.clone();
                bad[at] = w;
                assert!(refused(&bad), "width {w} at {at}");
            }
        }
        // The divisor is 1000, two varint bytes; zero is never written.
        let mut bad = enc.clone();
        bad[HEAD_V2 + 8..HEAD_V2 + 10].copy_from_slice(&[0x80, 0]);
        assert!(refused(&bad));

        // Every byte flipped: the head and widths are refused; the rest may decode to other
        // values (the frame has no checksum), but never panics or changes the line count.
        for at in 0..enc.len() {
            let mut bad = enc.clone();
            bad[at] ^= 0xff;
            if let Ok(got) = Columns::parse_v2(&bad) {
                assert!(at >= HEAD_V2 && !(widths_at..widths_at + 3).contains(&at));
                assert_eq!(got.ts.len(), n as usize);
                assert_eq!(got.len.len(), n as usize);
                assert_eq!(got.meta.len(), n as usize);
            }
        }

        // A second frame after the first, widths without a frame, a frame without widths.
        let frame = &enc[widths_at + 3..];
        let mut two = frame.to_vec();
        two.extend_from_slice(&crate::logs::zstd_ctx::compress(&[], 3).unwrap());
        assert!(refused(&section_v4(n, [3, 2, 1], &two)));
        assert!(refused(&section_v4(n, [3, 2, 1], &[])));
        assert!(refused(&section_v4(n, [0, 0, 0], frame)));
        assert!(refused(&section_v4(1, [0, 0, 0], &[0])));

        // A frame of the right size that does not state it.
        let mut z = zstd::bulk::Compressor::new(3).unwrap();
        z.include_contentsize(false).unwrap();
        let planes = vec![7u8; 10];
        assert!(refused(&section_v4(
            10,
            [0, 1, 0],
            &z.compress(&planes).unwrap()
        )));
        let framed = crate::logs::zstd_ctx::compress(&planes, 3).unwrap();
        assert!(Columns::parse_v2(&section_v4(10, [0, 1, 0], &framed)).is_ok());
        // A frame of a few bytes claiming the planes of the most lines: magic, a single
        // segment with a 4-byte content size, and one last RLE block of 8 bytes.
        let size = (MAX_LINES_V4 * 16 - 8) as u32;
        let mut hostile = vec![0x28, 0xb5, 0x2f, 0xfd, 0xa0];
        hostile.extend_from_slice(&size.to_le_bytes());
        hostile.extend_from_slice(&(1u32 | 1 << 1 | 8 << 3).to_le_bytes()[..3]);
        hostile.push(0);
        assert!(matches!(
            zstd::zstd_safe::get_frame_content_size(&hostile),
            Ok(Some(s)) if s == u64::from(size)
        ));
        assert!(refused(&section_v4(
            MAX_LINES_V4 as u32,
            [8, 4, 4],
            &hostile
        )));
    }

    /// Columns from more lines than format 4 holds are refused, not written.
    #[test]
    fn format_4_refuses_too_many_lines() {
        let n = MAX_LINES_V4 + 1;
        let c = cols(vec![0; n], vec![0; n], vec![0; n]);
        assert!(c.encode_v4().is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn length() -> impl Strategy<Value = u32> {
            prop_oneof![Just(0u32), 0u32..300, any::<u32>()]
        }

        fn columns() -> impl Strategy<Value = Columns> {
            (0usize..400, any::<bool>(), 0u32..4).prop_flat_map(|(n, sorted, unit)| {
                let scale = [1i64, 1_000, 1_000_000, 1 << 40][unit as usize];
                (
                    prop::collection::vec(any::<i64>(), n),
                    prop::collection::vec(0i64..5_000, n),
                    prop::collection::vec(length(), n),
                    prop::collection::vec(prop_oneof![Just(0u32), length()], n),
                )
                    .prop_map(move |(wild, small, len, meta)| {
                        let ts = if sorted {
                            small
                                .iter()
                                .scan(0i64, |t, &d| {
                                    *t = t.wrapping_add(d.wrapping_mul(scale));
                                    Some(*t)
                                })
                                .collect()
                        } else {
                            wild
                        };
                        Columns { ts, len, meta }
                    })
            })
        }

        proptest! {
            #[test]
            fn format_4_round_trips(c in columns()) {
                let enc = c.encode_v4().unwrap();
                prop_assert_eq!(Columns::v2_len(&enc).unwrap(), enc.len());
                prop_assert_eq!(Columns::parse_v2(&enc).unwrap(), c);
            }

            #[test]
            fn format_4_garbage_never_panics(
                n in prop_oneof![0u32..600, any::<u32>()],
                widths in any::<[u8; 3]>(),
                body in prop::collection::vec(any::<u8>(), 0..200),
                flip in any::<prop::sample::Index>(),
            ) {
                // The body as it is, as a frame, and as a frame with a byte flipped.
                let frame = crate::logs::zstd_ctx::compress(&body, 3).unwrap();
                let mut flipped = frame.clone();
                flipped[flip.index(frame.len())] ^= 0x5a;
                for tail in [&body[..], &frame[..], &flipped[..]] {
                    if let Ok(c) = Columns::parse_v2(&section_v4(n, widths, tail)) {
                        prop_assert_eq!(c.ts.len(), n as usize);
                        prop_assert_eq!(c.len.len(), n as usize);
                        prop_assert_eq!(c.meta.len(), n as usize);
                    }
                }
            }
        }
    }
}
