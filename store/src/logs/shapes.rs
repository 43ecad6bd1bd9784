//! Line shapes, so that a chunk's terms are read from one line of each shape only.
//!
//! Two lines whose bytes are equal once every ASCII digit reads `0` have the same tokens at
//! the same places (a digit is a token byte either way), the same digit-free tokens and
//! fragments, and their uuids at the same places (a digit is a lower-case hex digit either
//! way). Only the digits of their id-like tokens differ. So `schema::chunk_terms_split`
//! reads a shape's first line whole and, for each later line of that shape, takes only the
//! ids at the places the shape recorded; and `digits::split` copies the text it wrote for
//! the shape's first line and takes only the digits and hex runs at their recorded places.
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

/// After this many lines of new shapes, shapes are no longer learned if they were not
/// repeated at least as often: masking and hashing the lines of a chunk of ever-new shapes
/// would only add work.
const TRIAL_MISSES: usize = 512;

/// The shapes of one chunk's lines seen so far, each with what was learned from its first
/// line (`S`).
pub(super) struct Shapes<S> {
    known: FxHashMap<Box<[u8]>, S>,
    /// The last looked-up line with its digits as `0`, kept for [`Shapes::learn`].
    masked: Vec<u8>,
    hits: usize,
    misses: usize,
}

impl<S> Default for Shapes<S> {
    fn default() -> Self {
        Shapes {
            known: FxHashMap::default(),
            masked: Vec::new(),
            hits: 0,
            misses: 0,
        }
    }
}

impl<S> Shapes<S> {
    /// What was learned from a line of `line`'s shape, if any. Otherwise `line` is
    /// remembered for the [`Shapes::learn`] that follows.
    pub(super) fn get(&mut self, line: &[u8]) -> Option<&S> {
        if self.gave_up() {
            return None;
        }
        self.masked.clear();
        self.masked.extend(
            line.iter()
                .map(|&b| if b.is_ascii_digit() { b'0' } else { b }),
        );
        match self.known.get(self.masked.as_slice()) {
            Some(shape) => {
                self.hits += 1;
                Some(shape)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Records what was learned from the line [`Shapes::get`] last did not know.
    pub(super) fn learn(&mut self, shape: S) {
        if !self.gave_up() {
            self.known.insert(self.masked.as_slice().into(), shape);
        }
    }

    fn gave_up(&self) -> bool {
        self.misses > TRIAL_MISSES && self.hits < self.misses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_equal_but_for_their_digits_share_a_shape() {
        let mut s: Shapes<Shape> = Shapes::default();
        assert!(s.get(b"GET /a1 200 in 12ms").is_none());
        s.learn(Shape {
            uuids: vec![],
            ids: vec![(5, 7)],
        });
        // One digit fewer: another shape.
        assert!(s.get(b"GET /a7 404 in 9ms").is_none());
        s.learn(Shape::default());
        assert_eq!(
            s.get(b"GET /a9 503 in 31ms").map(|s| s.ids.clone()),
            Some(vec![(5, 7)])
        );
        assert!(s.get(b"GET /b9 503 in 31ms").is_none(), "a letter differs");
    }

    #[test]
    fn shapes_are_no_longer_learned_when_lines_do_not_repeat_them() {
        let mut s: Shapes<Shape> = Shapes::default();
        for i in 0..=TRIAL_MISSES {
            let line = "x".repeat(i + 1);
            assert!(s.get(line.as_bytes()).is_none());
            s.learn(Shape::default());
        }
        assert!(s.gave_up());
        assert!(s.get(b"x").is_none(), "nothing is looked up any more");
    }
}
