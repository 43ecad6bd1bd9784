//! Per-chunk filters of a chunk's id-like tokens (format 4): whether a chunk may hold a
//! whole token such as `blk_123` or `c0ffee42`, in about one byte per distinct token where
//! the index's term dictionary and postings cost tens. Layout: `store/FORMAT.md`, "Logs".
//!
//! Version 3 (written now) is a Golomb-Rice coded set: each token's hash reduced to a range
//! of 100 values per token, sorted, and the gaps coded in six low bits and a unary rest.
//! At the same 1% false positives that a bloom filter pays 10 bits a token for, it takes
//! about 8.1: on the bench's chunks (about a thousand ids each) the filters shrink by a
//! fifth. A lookup decodes the gaps up to the token's value (a few microseconds a chunk,
//! paid only for the chunks the index already kept). A version 3 set also says whether
//! the chunk had an id-like token too long to be an entry ([`may_hold_long_ids`]).
//! Versions 1 and 2 (bloom filters) are still read. Written by hand: the layout is the
//! store's own, and the coder is a few dozen lines.

use xxhash_rust::xxh3::xxh3_64;

use super::columns::{get_uvarint, put_uvarint};
use super::schema::LONG_TOKEN;

/// First byte of a filter: its version. Version 3 is the coded set, holding a uuid as one
/// entry like version 2; version 2 is a bloom filter holding a uuid as one entry (with
/// its dashes) and none of its groups (`schema::chunk_terms_split`); version 1 a bloom
/// filter holding the groups, and no entry with a dash.
const VERSION: u8 = 3;
const VERSION_BLOOM: u8 = 2;
const VERSION_GROUPS: u8 = 1;

/// Hash values per token in a coded set: false positives about one in this many.
const RANGE_PER_TOKEN: u64 = 100;
/// Low bits of a gap stored as is; the rest of the gap is unary. Gaps average
/// [`RANGE_PER_TOKEN`], and 6 bits leave a unary rest of about 1.1 bits on average.
const RICE_BITS: u32 = 6;

/// A bloom filter's bits per token and probes (versions 1 and 2).
#[cfg(test)]
const BLOOM_BITS_PER_TOKEN: usize = 10;
const BLOOM_HASHES: u32 = 7;

/// `token`'s value in a coded set of `range` values.
fn value(token: &str, range: u64) -> u64 {
    reduce(xxh3_64(token.as_bytes()), range)
}

/// A hash's value in a coded set of `range` values.
fn reduce(hash: u64, range: u64) -> u64 {
    ((u128::from(hash) * u128::from(range)) >> 64) as u64
}

/// A filter holding `tokens` (repeats are dropped): the version byte, the token count and
/// the count of distinct values (uvarints), then the gaps between the sorted values, each as
/// `gap >> 6` one bits, a zero bit and the gap's low 6 bits, LSB first in each byte. The
/// token count is that of distinct 64-bit hashes: distinct tokens, but for a collision, which
/// only makes the filter a little smaller.
pub(super) fn build<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut hashes: Vec<u64> = tokens.into_iter().map(|t| xxh3_64(t.as_bytes())).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let range = hashes.len() as u64 * RANGE_PER_TOKEN;
    // A token's value grows with its hash, so the values come out sorted.
    let mut values: Vec<u64> = hashes.into_iter().map(|h| reduce(h, range)).collect();
    values.dedup();
    let mut out = vec![VERSION];
    put_uvarint(&mut out, range / RANGE_PER_TOKEN);
    put_uvarint(&mut out, values.len() as u64);
    let mut bits = BitWriter::new(out);
    let mut last = 0;
    for v in values {
        let gap = v - last;
        last = v;
        bits.ones(gap >> RICE_BITS);
        // The unary rest's closing zero, then the low bits.
        bits.put((gap & ((1 << RICE_BITS) - 1)) << 1, RICE_BITS + 1);
    }
    bits.finish()
}

/// Appends bits LSB first.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn new(out: Vec<u8>) -> BitWriter {
        BitWriter { out, acc: 0, n: 0 }
    }

    /// Appends the low `n` bits of `v` (at most 32; `v` has no higher bits set).
    fn put(&mut self, v: u64, n: u32) {
        self.acc |= v << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn ones(&mut self, mut count: u64) {
        while count > 0 {
            let k = count.min(32) as u32;
            self.put((1 << k) - 1, k);
            count -= u64::from(k);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// Whether the filter may hold `token`; true for a filter it cannot read, and for a uuid
/// asked of a version 1 filter, which holds its groups instead (never a false negative).
pub(super) fn may_contain(filter: &[u8], token: &str) -> bool {
    match filter.split_first() {
        Some((&VERSION, rest)) => set_may_contain(rest, token),
        Some((&VERSION_BLOOM, array)) => bloom_may_contain(array, token),
        Some((&VERSION_GROUPS, array)) if !token.contains('-') => bloom_may_contain(array, token),
        _ => true,
    }
}

/// Whether the chunk of `filter` may have had an id-like token longer than an entry
/// ([`LONG_TOKEN`]): true unless a version 3 filter says it had none (older versions do
/// not record it).
pub(super) fn may_hold_long_ids(filter: &[u8]) -> bool {
    match filter.split_first() {
        Some((&VERSION, rest)) => set_may_contain(rest, LONG_TOKEN),
        _ => true,
    }
}

/// A coded set's answer (any damage reads as "may hold").
fn set_may_contain(buf: &[u8], token: &str) -> bool {
    let mut pos = 0;
    let (Some(n), Some(count)) = (get_uvarint(buf, &mut pos), get_uvarint(buf, &mut pos)) else {
        return true;
    };
    let Some(range) = n.checked_mul(RANGE_PER_TOKEN) else {
        return true;
    };
    if count == 0 {
        return false;
    }
    let want = value(token, range);
    let mut bits = BitReader {
        buf: &buf[pos..],
        pos: 0,
    };
    let mut at = 0u64;
    for _ in 0..count {
        let Some(gap) = bits.gap() else {
            return true;
        };
        at = at.saturating_add(gap);
        if at >= want {
            return at == want;
        }
    }
    false
}

/// Reads the gaps [`build`] wrote.
struct BitReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    /// At least 57 bits from `pos` (zeros past the end).
    fn peek(&self) -> u64 {
        let i = self.pos / 8;
        let mut w = [0u8; 8];
        if i < self.buf.len() {
            let n = (self.buf.len() - i).min(8);
            w[..n].copy_from_slice(&self.buf[i..i + n]);
        }
        u64::from_le_bytes(w) >> (self.pos % 8)
    }

    /// The next gap, or None past the end.
    fn gap(&mut self) -> Option<u64> {
        let mut high = 0u64;
        loop {
            let ones = self.peek().trailing_ones();
            if ones < 57 {
                high += u64::from(ones);
                self.pos += ones as usize + 1;
                break;
            }
            high += 57;
            self.pos += 57;
            if self.pos > self.buf.len() * 8 {
                return None;
            }
        }
        let low = self.peek() & ((1 << RICE_BITS) - 1);
        self.pos += RICE_BITS as usize;
        if self.pos > self.buf.len() * 8 {
            return None;
        }
        high.checked_mul(1 << RICE_BITS).map(|h| h | low)
    }
}

/// The probe positions of `token` in a bloom filter of `bits` bits (double hashing).
fn probes(token: &[u8], bits: u64) -> impl Iterator<Item = u64> {
    let h = xxh3_64(token);
    let (h1, h2) = (h & 0xffff_ffff, (h >> 32) | 1);
    (0..u64::from(BLOOM_HASHES)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// A bloom filter's answer (versions 1 and 2): the bit array after the version byte (bit
/// `i` is bit `i % 8` of byte `i / 8`), a multiple of 8 bytes long.
fn bloom_may_contain(array: &[u8], token: &str) -> bool {
    if array.is_empty() || !array.len().is_multiple_of(8) {
        return true;
    }
    let bits = array.len() as u64 * 8;
    probes(token.as_bytes(), bits).all(|p| array[(p / 8) as usize] & (1 << (p % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A version 2 bloom filter, as format 4 partitions wrote them before version 3.
    fn build_bloom<'a>(tokens: impl ExactSizeIterator<Item = &'a str>) -> Vec<u8> {
        let words = (tokens.len() * BLOOM_BITS_PER_TOKEN).div_ceil(64).max(1);
        let bits = words as u64 * 64;
        let mut out = vec![0u8; 1 + words * 8];
        out[0] = VERSION_BLOOM;
        for t in tokens {
            for p in probes(t.as_bytes(), bits) {
                out[1 + (p / 8) as usize] |= 1 << (p % 8);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn a_filter_holds_what_it_was_built_from(tokens in prop::collection::hash_set("[a-z0-9_]{1,12}", 0..300)) {
            let f = build(tokens.iter().map(String::as_str));
            let b = build_bloom(tokens.iter().map(String::as_str));
            for t in &tokens {
                prop_assert!(may_contain(&f, t));
                prop_assert!(may_contain(&b, t));
            }
        }

        /// Repeats are dropped: a token given many times is counted once.
        #[test]
        fn repeated_tokens_build_the_same_filter(tokens in prop::collection::hash_set("[a-z0-9_]{1,12}", 0..100), times in 1usize..4) {
            let once = build(tokens.iter().map(String::as_str));
            let repeated = build((0..times).flat_map(|_| tokens.iter().map(String::as_str)));
            prop_assert_eq!(&repeated, &once);
            let mut backwards: Vec<&str> = tokens.iter().map(String::as_str).collect();
            backwards.reverse();
            prop_assert_eq!(build(tokens.iter().map(String::as_str).chain(backwards)), once);
        }

        #[test]
        fn a_filter_cut_short_never_denies_what_it_held(tokens in prop::collection::hash_set("[a-z0-9]{1,8}", 1..50), keep in 1usize..64) {
            let f = build(tokens.iter().map(String::as_str));
            let short = &f[..keep.min(f.len())];
            for t in &tokens {
                prop_assert!(may_contain(short, t));
            }
        }
    }

    #[test]
    fn false_positives_stay_near_one_percent_in_about_eight_bits_a_token() {
        let tokens: Vec<String> = (0..5000).map(|i| format!("id{i}x")).collect();
        let f = build(tokens.iter().map(String::as_str));
        assert!(
            f.len() < 5000 * 83 / 80,
            "{} bytes for 5,000 tokens",
            f.len()
        );
        let fp = (0..20_000)
            .filter(|i| may_contain(&f, &format!("other{i}y")))
            .count();
        assert!((100..300).contains(&fp), "{fp} false positives in 20,000");
        let b = build_bloom(tokens.iter().map(String::as_str));
        assert_eq!(b.len(), 1 + 5000 * 10 / 64 * 8 + 8);
        let fp = (0..10_000)
            .filter(|i| may_contain(&b, &format!("other{i}y")))
            .count();
        assert!(fp < 300, "{fp} false positives in 10,000");
    }

    #[test]
    fn empty_unknown_and_old_filters_answer_safely() {
        let empty = build(std::iter::empty());
        assert_eq!(empty, [VERSION, 0, 0]);
        assert!(!may_contain(&empty, "x"));
        assert!(may_contain(&[], "x") && may_contain(&[9, 0], "x"));
        assert!(may_contain(&[VERSION], "x") && may_contain(&[VERSION, 5], "x"));
        // A count larger than what is coded: the missing gaps may hold anything.
        let one = build(["a1"]);
        let mut more = one.clone();
        more[2] = 2;
        let above = (0..)
            .map(|i| format!("zz{i}"))
            .find(|t| value(t, 100) > value("a1", 100))
            .unwrap();
        assert!(!may_contain(&one, &above) && may_contain(&more, &above));
        // A gap whose unary part runs past the end.
        assert!(may_contain(&[VERSION, 1, 1, 0xff, 0xff], "b2"));
        assert!(!may_hold_long_ids(&one) && may_hold_long_ids(&build([LONG_TOKEN])));
        assert!(may_hold_long_ids(&[VERSION_BLOOM, 0, 0, 0, 0, 0, 0, 0, 0]));
        // A version 1 filter (all bits clear: it holds nothing) has no uuids to ask.
        let v1 = [VERSION_GROUPS, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(!may_contain(&v1, "c0ffee42"));
        assert!(may_contain(&v1, "5e4e8f2a-4b3c-11e5-9c3b-0800200c9a66"));
    }
}
