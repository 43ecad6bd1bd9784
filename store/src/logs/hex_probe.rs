//! Finding a filter's hex id among a chunk's packed hex digits, before the chunk is
//! decompressed.
//!
//! A format 4 chunk stores every hex run of its lines (a maximal run of `0-9a-f`, 8 to 255
//! bytes, with a digit and a letter) and every uuid's 32 hex digits after its zstd frame,
//! two digits to a byte, each run starting a byte (`digits.rs`, `store/FORMAT.md`). A `|=`
//! filter holding such a run `h` (a trace or request id) matches only lines whose own hex
//! run around `h` holds it, so when the chunk's runs are all in that section (its id filter
//! says no id-like token was longer than 80 bytes, so no run was too long to be stored
//! there) and `h`'s digits are in it at neither nibble alignment, no line of the chunk
//! matches: the chunk is skipped without decompressing its text. A hex id held in a line
//! then costs a read and a `memmem` of the chunk's tail instead of a decompression and a
//! scan of its text: the search that the index cannot narrow (the id is open at both ends
//! of the filter) becomes several times faster. A match in the tail only makes the chunk a
//! candidate (it may span two runs, or fall among the packed decimal digits); its lines
//! are checked as always.

use memchr::memmem;

use super::digits::pack_hex;
use super::schema::MAX_TOKEN_BYTES;

/// The shortest hex run a chunk stores packed.
const HEX_MIN: usize = 8;

/// One maximal lower-case hex run of a filter's text, as its nibbles packed at both
/// alignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HexProbe {
    /// The digits from the first on, two to a byte, and a last high half when odd.
    even: (Vec<u8>, Option<u8>),
    /// The first digit as a low half, then the rest two to a byte, and a last high half
    /// when the rest is odd.
    odd: (u8, Vec<u8>, Option<u8>),
}

fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// The ASCII hex digits `run` as a chunk packs them (`digits::pack_hex`), whole bytes only,
/// and the last digit's value alone when `run` is odd.
fn pack(run: &[u8]) -> (Vec<u8>, Option<u8>) {
    let whole = run.len() & !1;
    let mut pairs = Vec::with_capacity(whole / 2);
    pack_hex(&run[..whole], &mut pairs);
    (pairs, run.get(whole).and_then(|&c| nibble(c)))
}

impl HexProbe {
    /// The probe of the longest maximal run of `0-9a-f` in `s` that a chunk stores packed
    /// (at least 8 bytes, a digit and a letter) and that is no longer than an id filter's
    /// entries ([`MAX_TOKEN_BYTES`]), if any. A line holding a longer one has a token too
    /// long for its chunk's id filter, and such a chunk is never skipped.
    pub(crate) fn of(s: &str) -> Option<HexProbe> {
        let b = s.as_bytes();
        let mut best: Option<&[u8]> = None;
        let mut i = 0;
        while i < b.len() {
            if nibble(b[i]).is_none() {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && nibble(b[i]).is_some() {
                i += 1;
            }
            let run = &b[start..i];
            let digit = run.iter().any(u8::is_ascii_digit);
            let letter = run.iter().any(|c| !c.is_ascii_digit());
            if (HEX_MIN..=MAX_TOKEN_BYTES).contains(&run.len())
                && digit
                && letter
                && best.is_none_or(|r| r.len() < run.len())
            {
                best = Some(run);
            }
        }
        let run = best?;
        let (pairs, last) = pack(&run[1..]);
        Some(HexProbe {
            even: pack(run),
            odd: (nibble(run[0])?, pairs, last),
        })
    }

    /// Whether `tail` (a format 4 chunk's packed digits and hex runs) may hold the run.
    pub(crate) fn found_in(&self, tail: &[u8]) -> bool {
        let ends_with = |at: usize, last: Option<u8>| match last {
            Some(n) => tail.get(at).is_some_and(|&b| b >> 4 == n),
            None => true,
        };
        let (pairs, last) = &self.even;
        if memmem::find_iter(tail, pairs).any(|i| ends_with(i + pairs.len(), *last)) {
            return true;
        }
        let (first, pairs, last) = &self.odd;
        memmem::find_iter(tail, pairs)
            .any(|i| i > 0 && tail[i - 1] & 0x0f == *first && ends_with(i + pairs.len(), *last))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Hex runs packed as a chunk's tail stores them: each from a byte, odd ones padded.
    fn tail_of(runs: &[&str]) -> Vec<u8> {
        let mut out = vec![0x5a, 0x3c]; // packed decimal digits before the runs
        for r in runs {
            pack_hex(r.as_bytes(), &mut out);
        }
        out
    }

    #[test]
    fn a_run_is_found_at_either_alignment_and_only_where_it_is() {
        let tail = tail_of(&["c0ffee42d15ea5e7", "0800200c9a66ab1"]);
        for s in [
            "c0ffee42d15ea5e7",
            "req=c0ffee42d15ea5e7 ok",
            "0ffee42d",
            "ffee42d15ea5e",
            "0800200c9a66ab1",
            "800200c9a66a",
        ] {
            let p = HexProbe::of(s).unwrap();
            assert!(p.found_in(&tail), "{s}");
        }
        for s in ["c0ffee42d15ea5e8", "d15ea5e70800200d", "ffee42d15ea5e71"] {
            assert!(!HexProbe::of(s).unwrap().found_in(&tail), "{s}");
        }
        // Two runs back to back may seem to hold what spans them: a candidate, no more.
        assert!(HexProbe::of("d15ea5e70800200c").unwrap().found_in(&tail));
        // No run to probe: too short, no letter, no digit, upper case.
        let long = "c0ffee42".repeat(11);
        for s in [
            "c0ffee4",
            "12345678",
            "deadbeefcafe",
            "C0FFEE42D15EA5E7",
            "",
            &long,
        ] {
            assert_eq!(HexProbe::of(s), None, "{s}");
        }
        // The longest run of the filter is probed.
        let p = HexProbe::of("ab12cd34 id=c0ffee42d15ea5e7").unwrap();
        assert_eq!(p, HexProbe::of("c0ffee42d15ea5e7").unwrap());
    }

    proptest! {
        #[test]
        fn every_substring_of_a_stored_run_is_found(
            runs in prop::collection::vec("[0-9a-f]{8,40}", 1..6),
            pick in 0usize..6,
            from in 0usize..40,
            len in 8usize..40,
        ) {
            let tail = tail_of(&runs.iter().map(String::as_str).collect::<Vec<_>>());
            let run = &runs[pick % runs.len()];
            let from = from % (run.len() - 7);
            let sub = &run[from..(from + len).min(run.len())];
            if let Some(p) = HexProbe::of(sub) {
                prop_assert!(p.found_in(&tail), "{sub} in {runs:?}");
            }
        }
    }
}
