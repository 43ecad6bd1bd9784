//! Compressed sample chunks for the head. Timestamps are delta-of-delta coded as in
//! Prometheus' XOR chunks and Facebook's Gorilla paper. Values take one of two encodings,
//! chosen by the chunk's first value:
//! - decimal: when the first value is an integer mantissa at a small decimal scale (bytes,
//!   counts, `ticks / 100` CPU seconds: most of what exporters emit), each value is stored
//!   as the zig-zag delta of its mantissa in 6/12/18/28/64-bit buckets; a value that does
//!   not fit (NaN, a staleness marker, a fraction) is stored raw behind an escape code.
//!   Integer counters cost about half of what XOR costs.
//! - XOR: Gorilla's XOR with the previous value, for arbitrary floats.
//!
//! Written by hand because it is the TSDB's core and no maintained crate offers a
//! streaming appender with this layout.

use crate::model::Sample;

/// Most samples in one chunk; a full chunk is closed and a new one begun.
pub const MAX_SAMPLES: u16 = 240;

/// An append-only bit buffer.
#[derive(Debug, Clone, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits still free in the last byte (0..=7; 0 means a new byte is needed).
    free: u8,
}

impl BitWriter {
    /// Starts a new byte. The buffer grows by a quarter instead of doubling: every series
    /// keeps one open chunk, and doubling left about a third of the head's chunk memory
    /// unused at any time.
    fn push_byte(&mut self) {
        let len = self.bytes.len();
        if len == self.bytes.capacity() {
            self.bytes.reserve_exact(len / 4 + 16);
        }
        self.bytes.push(0);
        self.free = 8;
    }

    fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.push_byte();
        }
        if bit {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 1 << (self.free - 1);
        }
        self.free -= 1;
    }

    /// Writes the low `n` bits of `v`, most significant first.
    fn write_bits(&mut self, v: u64, mut n: u8) {
        while n > 0 {
            if self.free == 0 {
                self.push_byte();
            }
            let take = n.min(self.free);
            let shift = n - take;
            let chunk = ((v >> shift) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (self.free - take);
            self.free -= take;
            n -= take;
        }
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    fn read_bits(&mut self, mut n: u8) -> Option<u64> {
        let mut v = 0u64;
        while n > 0 {
            let byte = *self.bytes.get(self.pos / 8)?;
            let off = (self.pos % 8) as u8;
            let avail = 8 - off;
            let take = n.min(avail);
            let bits = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            v = (v << take) | bits as u64;
            self.pos += take as usize;
            n -= take;
        }
        Some(v)
    }
}

/// A chunk being appended to. Samples must come with strictly increasing timestamps.
#[derive(Debug, Clone, Default)]
pub struct ChunkAppender {
    bits: BitWriter,
    num: u16,
    /// Decimal scale of the value encoding, or [`XOR`].
    scale: u8,
    /// Previous mantissa (decimal encoding).
    m: i64,
    mint: i64,
    t: i64,
    v: u64,
    t_delta: i64,
    leading: u8,
    trailing: u8,
}

/// A closed, immutable chunk.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub mint: i64,
    pub maxt: i64,
    pub num: u16,
    data: Box<[u8]>,
}

impl ChunkAppender {
    pub fn len(&self) -> u16 {
        self.num
    }

    pub fn is_empty(&self) -> bool {
        self.num == 0
    }

    pub fn is_full(&self) -> bool {
        self.num >= MAX_SAMPLES
    }

    pub fn mint(&self) -> i64 {
        self.mint
    }

    pub fn maxt(&self) -> i64 {
        self.t
    }

    pub fn bytes_len(&self) -> usize {
        self.bits.bytes.len()
    }

    pub fn append(&mut self, t: i64, v: f64) {
        let vb = v.to_bits();
        match self.num {
            0 => {
                self.mint = t;
                self.scale = XOR;
                for e in 0..=MAX_SCALE {
                    if let Some(m) = encode_scaled(v, POW10[e as usize]) {
                        self.scale = e;
                        self.m = m;
                        break;
                    }
                }
                self.bits.write_bits(self.scale as u64, 8);
                self.bits.write_bits(t as u64, 64);
                self.bits.write_bits(vb, 64);
                self.leading = 0xff;
            }
            1 => {
                let d = t.wrapping_sub(self.t);
                write_varbits(&mut self.bits, d);
                self.t_delta = d;
                self.write_value(vb);
            }
            _ => {
                let d = t.wrapping_sub(self.t);
                let dod = d.wrapping_sub(self.t_delta);
                write_dod(&mut self.bits, dod);
                self.t_delta = d;
                self.write_value(vb);
            }
        }
        self.t = t;
        self.v = vb;
        self.num += 1;
    }

    fn write_value(&mut self, vb: u64) {
        if self.scale != XOR {
            self.write_decimal(vb);
            return;
        }
        let x = vb ^ self.v;
        if x == 0 {
            self.bits.write_bit(false);
            return;
        }
        self.bits.write_bit(true);
        let mut leading = x.leading_zeros() as u8;
        let trailing = x.trailing_zeros() as u8;
        // 5 bits hold the leading count.
        if leading >= 32 {
            leading = 31;
        }
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.bits.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.bits.write_bits(x >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.bits.write_bit(true);
            self.bits.write_bits(leading as u64, 5);
            let sig = 64 - leading - trailing;
            // 64 significant bits are written as 0 in 6 bits.
            self.bits.write_bits((sig & 63) as u64, 6);
            self.bits.write_bits(x >> trailing, sig);
        }
    }

    fn write_decimal(&mut self, vb: u64) {
        let v = f64::from_bits(vb);
        let Some(m) = encode_scaled(v, POW10[self.scale as usize]) else {
            // Escape: '1111110' + raw value, or '1111111' + a larger scale + raw value when
            // the value needs more decimals than the chunk's first one had.
            self.bits.write_bits(0b111111, 6);
            let wider = (self.scale + 1..=MAX_SCALE)
                .find_map(|e| encode_scaled(v, POW10[e as usize]).map(|m| (e, m)));
            match wider {
                Some((e, m)) => {
                    self.bits.write_bit(true);
                    self.bits.write_bits(e as u64, 3);
                    self.scale = e;
                    self.m = m;
                }
                None => self.bits.write_bit(false),
            }
            self.bits.write_bits(vb, 64);
            return;
        };
        let d = m.wrapping_sub(self.m);
        self.m = m;
        let z = ((d << 1) ^ (d >> 63)) as u64;
        let width = 64 - z.leading_zeros();
        for (i, &(prefix, plen, bits)) in DEC_BUCKETS.iter().enumerate() {
            if z == 0 && i == 0 {
                self.bits.write_bit(false);
                return;
            }
            if i > 0 && width <= bits as u32 {
                self.bits.write_bits(prefix, plen);
                self.bits.write_bits(z, bits);
                return;
            }
        }
    }

    /// The last sample appended, exactly as decoding would return it (the encodings are
    /// lossless to the bit).
    pub fn last(&self) -> Option<Sample> {
        (self.num > 0).then(|| Sample {
            t: self.t,
            v: f64::from_bits(self.v),
        })
    }

    /// Decodes the samples appended so far.
    pub fn samples_into(&self, out: &mut Vec<Sample>) {
        decode(&self.bits.bytes, self.num, out);
    }

    /// Closes the chunk, trimming its buffer.
    pub fn finish(self) -> Chunk {
        Chunk {
            mint: self.mint,
            maxt: self.t,
            num: self.num,
            data: self.bits.bytes.into_boxed_slice(),
        }
    }
}

impl Chunk {
    pub fn samples_into(&self, out: &mut Vec<Sample>) {
        decode(&self.data, self.num, out);
    }

    pub fn bytes_len(&self) -> usize {
        self.data.len()
    }

    /// Encodes sorted samples (strictly increasing timestamps) as one chunk.
    pub fn from_sorted(samples: &[Sample]) -> Chunk {
        let mut a = ChunkAppender::default();
        for s in samples {
            a.append(s.t, s.v);
        }
        a.finish()
    }
}

/// Value encoding marker for Gorilla XOR.
const XOR: u8 = 0xff;
const MAX_SCALE: u8 = 6;
const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];
/// (prefix bits, prefix length, payload bits) of the decimal buckets; the first is "zero".
const DEC_BUCKETS: [(u64, u8, u8); 6] = [
    (0, 1, 0),
    (0b10, 2, 6),
    (0b110, 3, 12),
    (0b1110, 4, 18),
    (0b11110, 5, 28),
    (0b111110, 6, 64),
];

/// The integer mantissa of `v` at decimal scale `p` (a power of ten), if it converts back
/// bit-exactly. -0.0, NaN and infinities never do.
pub(crate) fn encode_scaled(v: f64, p: f64) -> Option<i64> {
    if !v.is_finite() || (v == 0.0 && v.is_sign_negative()) {
        return None;
    }
    let m = (v * p).round();
    if m.abs() > 9.007_199_254_740_992e15 {
        return None;
    }
    ((m / p).to_bits() == v.to_bits()).then_some(m as i64)
}

/// Timestamp delta of the second sample: zig-zag varint in 8-bit groups.
fn write_varbits(w: &mut BitWriter, d: i64) {
    let mut z = ((d << 1) ^ (d >> 63)) as u64;
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            w.write_bits(b as u64, 8);
            return;
        }
        w.write_bits((b | 0x80) as u64, 8);
    }
}

fn read_varbits(r: &mut BitReader) -> Option<i64> {
    let mut z = 0u64;
    let mut shift = 0;
    loop {
        let b = r.read_bits(8)?;
        z |= (b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    Some(((z >> 1) as i64) ^ -((z & 1) as i64))
}

/// Delta-of-delta buckets as in Prometheus: '0', '10'+14 bits, '110'+17, '1110'+20, '1111'+64.
fn write_dod(w: &mut BitWriter, dod: i64) {
    if dod == 0 {
        w.write_bit(false);
    } else if fits(dod, 14) {
        w.write_bits(0b10, 2);
        w.write_bits(dod as u64, 14);
    } else if fits(dod, 17) {
        w.write_bits(0b110, 3);
        w.write_bits(dod as u64, 17);
    } else if fits(dod, 20) {
        w.write_bits(0b1110, 4);
        w.write_bits(dod as u64, 20);
    } else {
        w.write_bits(0b1111, 4);
        w.write_bits(dod as u64, 64);
    }
}

fn fits(v: i64, bits: u32) -> bool {
    let lim = 1i64 << (bits - 1);
    v > -lim && v <= lim
}

/// Inverse of the bucket encoding: the range is asymmetric (`-(2^(n-1)-1) ..= 2^(n-1)`),
/// so only values above `2^(n-1)` are negative.
fn sign_extend(v: u64, bits: u8) -> i64 {
    let v = v as i64;
    if v > 1i64 << (bits - 1) {
        v - (1i64 << bits)
    } else {
        v
    }
}

fn decode(bytes: &[u8], num: u16, out: &mut Vec<Sample>) {
    // A chunk is only ever built by ChunkAppender in this process, so a short read means a
    // bug; decoding stops rather than panicking.
    let mut r = BitReader { bytes, pos: 0 };
    let Some(scale) = r.read_bits(8) else { return };
    let scale = scale as u8;
    let mut p = if scale == XOR {
        1.0
    } else {
        POW10[(scale.min(MAX_SCALE)) as usize]
    };
    let mut m = 0i64;
    let mut t;
    let mut v;
    let mut t_delta = 0i64;
    let mut leading = 0u8;
    let mut trailing = 0u8;
    out.reserve(num as usize);
    for i in 0..num {
        if i == 0 {
            let (Some(tt), Some(vv)) = (r.read_bits(64), r.read_bits(64)) else {
                return;
            };
            t = tt as i64;
            v = vv;
            if scale != XOR {
                m = encode_scaled(f64::from_bits(v), p).unwrap_or(0);
            }
        } else {
            let Some(prev) = out.last() else { return };
            t = prev.t;
            v = prev.v.to_bits();
            if i == 1 {
                let Some(d) = read_varbits(&mut r) else {
                    return;
                };
                t_delta = d;
            } else {
                let Some(dod) = read_dod(&mut r) else { return };
                t_delta = t_delta.wrapping_add(dod);
            }
            t = t.wrapping_add(t_delta);
            if scale != XOR {
                let mut prefix = 0;
                while prefix < 6 {
                    match r.read_bit() {
                        Some(true) => prefix += 1,
                        Some(false) => break,
                        None => return,
                    }
                }
                if prefix == 6 {
                    let Some(rescale) = r.read_bit() else { return };
                    if rescale {
                        let Some(e) = r.read_bits(3) else { return };
                        p = POW10[(e as u8).min(MAX_SCALE) as usize];
                    }
                    let Some(raw) = r.read_bits(64) else { return };
                    let v = f64::from_bits(raw);
                    if rescale {
                        m = encode_scaled(v, p).unwrap_or(0);
                    }
                    out.push(Sample { t, v });
                    continue;
                }
                let z = if prefix == 0 {
                    0
                } else {
                    let Some(z) = r.read_bits(DEC_BUCKETS[prefix].2) else {
                        return;
                    };
                    z
                };
                let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
                m = m.wrapping_add(d);
                out.push(Sample { t, v: m as f64 / p });
                continue;
            }
            match r.read_bit() {
                None => return,
                Some(false) => {}
                Some(true) => {
                    match r.read_bit() {
                        None => return,
                        Some(false) => {}
                        Some(true) => {
                            let (Some(l), Some(s)) = (r.read_bits(5), r.read_bits(6)) else {
                                return;
                            };
                            leading = l as u8;
                            let sig = if s == 0 { 64 } else { s as u8 };
                            trailing = 64 - leading - sig;
                        }
                    }
                    let sig = 64 - leading - trailing;
                    let Some(bits) = r.read_bits(sig) else { return };
                    v ^= bits << trailing;
                }
            }
        }
        out.push(Sample {
            t,
            v: f64::from_bits(v),
        });
    }
}

fn read_dod(r: &mut BitReader) -> Option<i64> {
    let mut prefix = 0;
    while prefix < 4 {
        if !r.read_bit()? {
            break;
        }
        prefix += 1;
    }
    Some(match prefix {
        0 => 0,
        1 => sign_extend(r.read_bits(14)?, 14),
        2 => sign_extend(r.read_bits(17)?, 17),
        3 => sign_extend(r.read_bits(20)?, 20),
        _ => r.read_bits(64)? as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(samples: &[Sample]) {
        let c = Chunk::from_sorted(samples);
        let mut out = Vec::new();
        c.samples_into(&mut out);
        assert_eq!(out.len(), samples.len());
        for (a, b) in out.iter().zip(samples) {
            assert_eq!(a.t, b.t);
            assert_eq!(a.v.to_bits(), b.v.to_bits());
        }
    }

    #[test]
    fn regular_series_is_small() {
        let samples: Vec<Sample> = (0..240)
            .map(|i| Sample::new(1_700_000_000_000 + i * 15_000, (i * 3) as f64))
            .collect();
        let c = Chunk::from_sorted(&samples);
        assert!(c.bytes_len() < 240 * 2, "{} bytes", c.bytes_len());
        roundtrip(&samples);
    }

    #[test]
    fn special_values_and_jitter() {
        let vals = [
            0.0,
            -0.0,
            f64::NAN,
            f64::from_bits(crate::model::STALE_NAN_BITS),
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -1e-300,
            0.1,
        ];
        let samples: Vec<Sample> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| Sample::new(i as i64 * 15_000 + (i as i64 % 3) * 7, *v))
            .collect();
        roundtrip(&samples);
        roundtrip(&[
            Sample::new(i64::MIN, 1.0),
            Sample::new(0, 2.0),
            Sample::new(i64::MAX, 3.0),
        ]);
    }

    #[test]
    fn decimal_encoding_with_escapes() {
        let mut samples = Vec::new();
        let mut c = 1_000_000u64;
        for i in 0..240i64 {
            c += 1000 + (i as u64 * 7919) % 600;
            let v = match i {
                50 => f64::NAN,
                51 => f64::from_bits(crate::model::STALE_NAN_BITS),
                52 => 0.5,
                53 => -0.0,
                _ => c as f64 / 100.0,
            };
            samples.push(Sample::new(i * 15_000, v));
        }
        roundtrip(&samples);
        let dec = Chunk::from_sorted(&samples[..50]).bytes_len();
        // The same values with one more digit of noise fall back to XOR.
        let noisy: Vec<Sample> = samples[..50]
            .iter()
            .map(|s| Sample::new(s.t, s.v + 1e-7))
            .collect();
        let xor = Chunk::from_sorted(&noisy).bytes_len();
        assert!(dec * 3 < xor * 2, "decimal {dec} bytes vs xor {xor} bytes");
    }

    proptest! {
        #[test]
        fn integer_like_values_roundtrip(start in -1_000_000_000i64..1_000_000_000, incs in proptest::collection::vec(-100_000i64..100_000_000, 1..300), scale in 0i32..4) {
            let mut m = start;
            let p = 10f64.powi(scale);
            let samples: Vec<Sample> = incs.iter().enumerate().map(|(i, d)| { m += d; Sample::new(i as i64 * 1000, m as f64 / p) }).collect();
            roundtrip(&samples);
        }

        #[test]
        fn any_sorted_samples_roundtrip(start in any::<i64>(), deltas in proptest::collection::vec(1i64..10_000_000_000, 0..300), vals in proptest::collection::vec(any::<u64>(), 300)) {
            let mut t = start / 2;
            let mut samples = Vec::new();
            for (i, d) in deltas.iter().enumerate() {
                samples.push(Sample::new(t, f64::from_bits(vals[i])));
                t = t.saturating_add(*d);
                if t == i64::MAX { break; }
            }
            roundtrip(&samples);
        }
    }
}
