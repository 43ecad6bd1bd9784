//! Per-chunk bloom filters of a chunk's id-like tokens (format 4): whether a chunk may hold a
//! whole token such as `blk_123` or `c0ffee42`, in about 1.25 bytes per distinct token where
//! the index's term dictionary and postings cost tens. Layout: `store/FORMAT.md`, "Logs".

use xxhash_rust::xxh3::xxh3_64;

/// Bits per token: with [`HASHES`] probes, about 1% false positives.
const BITS_PER_TOKEN: usize = 10;
/// Probes per token.
const HASHES: u32 = 7;
/// First byte of a filter: its version. Version 2 holds a uuid as one entry (with its
/// dashes) and none of its groups (`schema::chunk_terms_split`); version 1 holds the
/// groups, and no entry with a dash.
const VERSION: u8 = 2;
const VERSION_GROUPS: u8 = 1;

/// The probe positions of `token` in a filter of `bits` bits (double hashing).
fn probes(token: &[u8], bits: u64) -> impl Iterator<Item = u64> {
    let h = xxh3_64(token);
    let (h1, h2) = (h & 0xffff_ffff, (h >> 32) | 1);
    (0..u64::from(HASHES)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// A filter holding `tokens`: the version byte, then the bit array (bit `i` is bit `i % 8`
/// of byte `i / 8`), a multiple of 8 bytes long.
pub(super) fn build<'a>(tokens: impl ExactSizeIterator<Item = &'a str>) -> Vec<u8> {
    let words = (tokens.len() * BITS_PER_TOKEN).div_ceil(64).max(1);
    let bits = words as u64 * 64;
    let mut out = vec![0u8; 1 + words * 8];
    out[0] = VERSION;
    for t in tokens {
        for p in probes(t.as_bytes(), bits) {
            out[1 + (p / 8) as usize] |= 1 << (p % 8);
        }
    }
    out
}

/// Whether the filter may hold `token`; true for a filter it cannot read, and for a uuid
/// asked of a version 1 filter, which holds its groups instead (never a false negative).
pub(super) fn may_contain(filter: &[u8], token: &str) -> bool {
    let array = match filter.split_first() {
        Some((&VERSION, array)) => array,
        Some((&VERSION_GROUPS, array)) if !token.contains('-') => array,
        _ => return true,
    };
    if array.is_empty() || array.len() % 8 != 0 {
        return true;
    }
    let bits = array.len() as u64 * 8;
    probes(token.as_bytes(), bits).all(|p| array[(p / 8) as usize] & (1 << (p % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn a_filter_holds_what_it_was_built_from(tokens in prop::collection::hash_set("[a-z0-9_]{1,12}", 0..300)) {
            let f = build(tokens.iter().map(String::as_str));
            for t in &tokens {
                prop_assert!(may_contain(&f, t));
            }
        }
    }

    #[test]
    fn false_positives_stay_near_one_percent() {
        let tokens: Vec<String> = (0..5000).map(|i| format!("id{i}x")).collect();
        let f = build(tokens.iter().map(String::as_str));
        assert_eq!(f.len(), 1 + 5000 * 10 / 64 * 8 + 8);
        let fp = (0..10_000)
            .filter(|i| may_contain(&f, &format!("other{i}y")))
            .count();
        assert!(fp < 300, "{fp} false positives in 10,000");
        assert!(may_contain(&[], "x") && may_contain(&[9, 0], "x"));
        // A version 1 filter (all bits clear: it holds nothing) has no uuids to ask.
        let v1 = [VERSION_GROUPS, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(!may_contain(&v1, "c0ffee42"));
        assert!(may_contain(&v1, "5e4e8f2a-4b3c-11e5-9c3b-0800200c9a66"));
    }
}
