//! Line shapes, so that a chunk's terms are read from one line of each shape only.
//!
//! Two lines whose bytes are equal once every ASCII digit reads `0` have the same tokens at
//! the same places (a digit is a token byte either way), the same digit-free tokens and
//! fragments, and their uuids at the same places (a digit is a lower-case hex digit either
//! way). Only the digits of their id-like tokens differ. So `schema::chunk_terms_split`
//! reads a shape's first line whole and, for each later line of that shape, takes only the
//! ids at the places the shape recorded; and `digits::split` copies the text it wrote for
//! the shape's first line and takes only the digits and hex runs at their recorded places.
//! [`ShapeIndex`] masks and hashes each line once per chunk for both.
//! On the bench's lines 90% of a chunk's lines repeat a shape; hashing every word of every
//! line into the fragment set had been a third of log ingest CPU, and classifying every
//! byte in the split two fifths.

use rustc_hash::FxHashMap;

/// Where a line's ids stand, as byte ranges.
#[derive(Default)]
pub(super) struct Shape {
    /// Starts of its uuids (each `schema::UUID_LEN` bytes).
    pub uuids: Vec<usize>,
    /// Its id-like tokens other than uuid groups, whole (not cut).
    pub ids: Vec<(usize, usize)>,
}

/// After this many lines of new shapes, shapes are no longer looked up if they were not
/// repeated at least as often: masking and hashing the lines of a chunk of ever-new shapes
/// would only add work.
const TRIAL_MISSES: usize = 512;

/// [`ShapeIndex::first`] of a line not looked up.
const UNTRACKED: u32 = u32::MAX;

/// Which line of a chunk first had each line's shape: computed once per chunk and read by
/// both `schema::chunk_terms_split` and `digits::split`, so each line is masked and hashed
/// once.
pub(crate) struct ShapeIndex {
    first: Vec<u32>,
}

/// What [`ShapeIndex::seen`] says of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The first line of its shape: read it whole and learn from it.
    First,
    /// Of the shape of this earlier line.
    Like(usize),
    /// Not looked up: read it whole, nothing to learn.
    Untracked,
}

impl ShapeIndex {
    /// The shapes of a chunk's `lines`, in order.
    pub(crate) fn of<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> ShapeIndex {
        let mut known: FxHashMap<Box<[u8]>, u32> = FxHashMap::default();
        let mut masked: Vec<u8> = Vec::new();
        let (mut hits, mut misses) = (0usize, 0usize);
        let mut first = Vec::new();
        for (i, line) in lines.into_iter().enumerate() {
            if misses > TRIAL_MISSES && hits < misses {
                first.push(UNTRACKED);
                continue;
            }
            masked.clear();
            masked.extend(
                line.iter()
                    .map(|&b| if b.is_ascii_digit() { b'0' } else { b }),
            );
            match known.get(masked.as_slice()) {
                Some(&j) => {
                    hits += 1;
                    first.push(j);
                }
                None => {
                    misses += 1;
                    known.insert(masked.as_slice().into(), i as u32);
                    first.push(i as u32);
                }
            }
        }
        ShapeIndex { first }
    }

    /// No line looked up: every line is read whole (tests compare the two).
    #[cfg(test)]
    pub(crate) fn untracked() -> ShapeIndex {
        ShapeIndex { first: Vec::new() }
    }

    /// Line `i`'s shape, as far as it was looked up.
    pub(crate) fn seen(&self, i: usize) -> Seen {
        match self.first.get(i) {
            None => Seen::Untracked,
            Some(&f) if f == UNTRACKED => Seen::Untracked,
            Some(&f) if f as usize == i => Seen::First,
            Some(&f) => Seen::Like(f as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_equal_but_for_their_digits_share_a_shape() {
        let lines: [&[u8]; 4] = [
            b"GET /a1 200 in 12ms",
            b"GET /a7 404 in 9ms", // one digit fewer: another shape
            b"GET /a9 503 in 31ms",
            b"GET /b9 503 in 31ms", // a letter differs
        ];
        let s = ShapeIndex::of(lines);
        let seen: Vec<Seen> = (0..5).map(|i| s.seen(i)).collect();
        assert_eq!(
            seen,
            [
                Seen::First,
                Seen::First,
                Seen::Like(0),
                Seen::First,
                Seen::Untracked
            ]
        );
        assert_eq!(ShapeIndex::untracked().seen(0), Seen::Untracked);
    }

    #[test]
    fn shapes_are_no_longer_looked_up_when_lines_do_not_repeat_them() {
        let lines: Vec<String> = (0..=TRIAL_MISSES + 1).map(|i| "x".repeat(i + 1)).collect();
        let s = ShapeIndex::of(lines.iter().map(|l| l.as_bytes()));
        assert_eq!(s.seen(TRIAL_MISSES), Seen::First);
        assert_eq!(s.seen(TRIAL_MISSES + 1), Seen::Untracked);
    }
}
