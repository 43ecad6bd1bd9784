//! The tantivy schema of a log partition's chunk index, the line tokenizer, the distinct
//! tokens of a chunk, and how a stream's labels become one exact term. The layout is
//! specified in `store/FORMAT.md` ("Logs"); change both together.

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{TextAnalyzer, WhitespaceTokenizer};

use super::shapes::{Seen, Shape, ShapeIndex};
use crate::model::{Label, Labels};

/// Version of the partition layout (schema, chunk file, tokenizer, stream term encoding),
/// written to each partition's `partition.json`.
pub const FORMAT_VERSION: u32 = 4;

/// First version with the `frags` field (digit-free tokens and the digit-free fragments of
/// id-like tokens) and per-chunk id filters of the id-like tokens
/// ([`chunk_terms_split`]); `terms` then holds only label terms. Older partitions hold every
/// token in `terms` ([`chunk_terms`]) and are searched that way.
pub const FRAGS_VERSION: u32 = 4;

/// Oldest partition layout still read. Version 2 lacks the label terms
/// ([`label_term`]): its chunks are read, but never narrowed by label equalities.
pub const MIN_FORMAT_VERSION: u32 = 2;

/// First version whose chunks carry label terms.
pub const LABEL_TERMS_VERSION: u32 = 3;

/// Longest `name=value` a label term holds; longer pairs get the [`label_unindexed_term`].
pub(crate) const MAX_LABEL_TERM_BYTES: usize = 256;

/// Name under which the terms tokenizer (whitespace: a chunk's terms are given already
/// split) is registered on every partition index.
pub(crate) const TERMS_TOKENIZER: &str = "lookout_terms";

/// Tokens longer than this many bytes are indexed cut to at most this many bytes (at a
/// char boundary), and the chunk gets the [`LONG_TOKEN`] term: a substring search that
/// cannot rely on whole tokens then keeps such chunks as candidates.
pub(crate) const MAX_TOKEN_BYTES: usize = 80;

/// The extra term of a chunk with a token longer than [`MAX_TOKEN_BYTES`]. The tokenizer
/// never makes it (tokens are runs of letters, digits and `_`).
pub(crate) const LONG_TOKEN: &str = "\u{1}long";

/// The fields of a partition index: one document per chunk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields {
    /// The stream's labels as one exact term ([`stream_term`]): indexed and a fast field.
    pub stream: Field,
    /// The chunk's distinct line tokens ([`chunk_terms`]), doc ids only, not stored.
    pub terms: Field,
    /// Oldest and newest line timestamp of the chunk, ns (fast fields).
    pub min_ts: Field,
    pub max_ts: Field,
    /// Where the chunk's compressed blob is in `chunks.bin`, its length, its length
    /// uncompressed, and its line count (fast fields).
    pub offset: Field,
    pub len: Field,
    pub raw: Field,
    pub lines: Field,
    /// Format 4: the chunk's distinct digit-free fragments ([`chunk_terms_split`]), doc ids
    /// only; and where the id filter of its id-like tokens is in `chunks.bin`, and its
    /// length (fast fields). Absent from older partitions; last in the schema, so the
    /// other fields keep their ids.
    pub frags: Option<Field>,
    pub ids_offset: Option<Field>,
    pub ids_len: Option<Field>,
}

pub(crate) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let stream = b.add_text_field(
        "stream",
        TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_fieldnorms(false)
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_fast("raw"),
    );
    let terms = b.add_text_field(
        "terms",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TERMS_TOKENIZER)
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic),
        ),
    );
    let fast = || NumericOptions::default().set_fast();
    let min_ts = b.add_i64_field("min_ts", fast());
    let max_ts = b.add_i64_field("max_ts", fast());
    let offset = b.add_u64_field("offset", fast());
    let len = b.add_u64_field("len", fast());
    let raw = b.add_u64_field("raw", fast());
    let lines = b.add_u64_field("lines", fast());
    let frags = b.add_text_field(
        "frags",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TERMS_TOKENIZER)
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic),
        ),
    );
    let ids_offset = b.add_u64_field("ids_offset", fast());
    let ids_len = b.add_u64_field("ids_len", fast());
    (
        b.build(),
        Fields {
            stream,
            terms,
            min_ts,
            max_ts,
            offset,
            len,
            raw,
            lines,
            frags: Some(frags),
            ids_offset: Some(ids_offset),
            ids_len: Some(ids_len),
        },
    )
}

/// The analyzer of the `terms` field: the terms are already split by single spaces.
pub(crate) fn terms_analyzer() -> TextAnalyzer {
    TextAnalyzer::from(WhitespaceTokenizer::default())
}

/// Whether `c` belongs to a token: letters, digits and `_`.
#[inline]
pub(crate) fn is_token_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `s` cut to at most `max` bytes at a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Whether an ASCII byte belongs to a token.
#[inline]
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The char at byte `i` of `text` (a char boundary) and its length, if it is a token char.
#[inline]
fn token_char_at(text: &str, i: usize) -> (bool, usize) {
    match text[i..].chars().next() {
        Some(c) => (is_token_char(c), c.len_utf8()),
        None => (false, 1),
    }
}

/// The tokens of `text` with their byte ranges: maximal runs of [`is_token_char`]. ASCII
/// bytes are classified without decoding chars.
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let b = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        let start = loop {
            let &c = b.get(i)?;
            if c < 0x80 {
                if is_token_byte(c) {
                    break i;
                }
                i += 1;
            } else {
                let (tok, n) = token_char_at(text, i);
                if tok {
                    break i;
                }
                i += n;
            }
        };
        while let Some(&c) = b.get(i) {
            if c < 0x80 {
                if !is_token_byte(c) {
                    break;
                }
                i += 1;
            } else {
                let (tok, n) = token_char_at(text, i);
                if !tok {
                    break;
                }
                i += n;
            }
        }
        Some((start, i))
    })
}

/// Whether a token is left out of the index: numbers (ASCII digits only) are most of a log's
/// distinct tokens (counters, ports, timestamps, IP octets) and a poor way to find a line;
/// leaving them out roughly halves the index. A filter then never requires one
/// (`filter.rs`); any token with a letter in it is indexed.
#[inline]
pub(crate) fn is_unindexed(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_digit())
}

/// The term saying a chunk has a line whose label `name` reads `value` (the stream's label,
/// else the line's structured metadata): `\u{2}name=value`. None when the pair cannot be
/// one whitespace-free term of bounded length.
pub(crate) fn label_term(name: &str, value: &str) -> Option<String> {
    let ok = |s: &str| !s.chars().any(char::is_whitespace);
    (ok(name) && ok(value) && name.len() + value.len() < MAX_LABEL_TERM_BYTES)
        .then(|| format!("\u{2}{name}={value}"))
}

/// The term saying a chunk has a line whose label `name` has a value no [`label_term`]
/// can hold: a search for `name` must keep such chunks. None when `name` itself cannot be
/// a term (then equalities on it never narrow).
pub(crate) fn label_unindexed_term(name: &str) -> Option<String> {
    (!name.chars().any(char::is_whitespace) && name.len() < MAX_LABEL_TERM_BYTES)
        .then(|| format!("\u{3}{name}"))
}

/// The label terms of a chunk of `stream` holding `recs`: every stream label, and every
/// structured metadata name the stream lacks with each value a line gives it.
pub(crate) fn chunk_label_terms<'a>(
    stream: &Labels,
    metas: impl Iterator<Item = &'a [(String, String)]>,
) -> String {
    let mut seen: FxHashSet<(&str, &str)> = FxHashSet::default();
    for l in stream.iter() {
        seen.insert((l.name.as_str(), l.value.as_str()));
    }
    for meta in metas {
        for (i, (n, v)) in meta.iter().enumerate() {
            let first = !meta[..i].iter().any(|(m, _)| m == n);
            if first && stream.get(n).is_none() {
                seen.insert((n.as_str(), v.as_str()));
            }
        }
    }
    let mut out = String::new();
    for (n, v) in seen {
        if let Some(t) = label_term(n, v).or_else(|| label_unindexed_term(n)) {
            out.push_str(&t);
            out.push(' ');
        }
    }
    out
}

/// The value LogQL's label filters read for `name` before any parser stage: the stream's
/// label, else the first structured metadata entry, else "".
pub(crate) fn label_value<'a>(
    stream: &'a Labels,
    meta: &'a [(String, String)],
    name: &str,
) -> &'a str {
    stream
        .get(name)
        .or_else(|| {
            meta.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        })
        .unwrap_or("")
}

/// The distinct indexed tokens of `lines`, cut to [`MAX_TOKEN_BYTES`], joined by single
/// spaces, plus [`LONG_TOKEN`] when a token was cut: the `terms` of their chunk. Tokens
/// are case kept (a `|=` filter is case-sensitive) and numbers left out ([`is_unindexed`]).
pub(crate) fn chunk_terms<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    let mut long = false;
    for line in lines {
        for (from, to) in tokens(line) {
            let t = &line[from..to];
            if is_unindexed(t) {
                continue;
            }
            if t.len() > MAX_TOKEN_BYTES {
                long = true;
            }
            seen.insert(truncate(t, MAX_TOKEN_BYTES));
        }
    }
    let mut out = String::with_capacity(seen.iter().map(|t| t.len() + 1).sum::<usize>() + 8);
    for t in seen {
        out.push_str(t);
        out.push(' ');
    }
    if long {
        out.push_str(LONG_TOKEN);
    }
    out
}

/// Whether a token holds an ASCII digit. With [`is_unindexed`] false too, it is id-like
/// (letters and digits: ids, hashes, hostnames, `blk_123`).
#[inline]
pub(crate) fn has_digit(token: &str) -> bool {
    token.bytes().any(|b| b.is_ascii_digit())
}

/// The byte ranges of the maximal digit-free runs of `token`.
pub(crate) fn fragments(token: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let b = token.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        Some((start, i))
    })
}

/// A set of index terms joined as one text (single spaces), with the [`LONG_TOKEN`] marker
/// when a term was cut.
#[derive(Default)]
struct TermSet<'a> {
    seen: FxHashSet<&'a str>,
    long: bool,
}

impl<'a> TermSet<'a> {
    fn add(&mut self, t: &'a str) {
        if t.len() > MAX_TOKEN_BYTES {
            self.long = true;
        }
        self.seen.insert(truncate(t, MAX_TOKEN_BYTES));
    }

    fn text(&self) -> String {
        let mut out =
            String::with_capacity(self.seen.iter().map(|t| t.len() + 1).sum::<usize>() + 8);
        for t in &self.seen {
            out.push_str(t);
            out.push(' ');
        }
        if self.long {
            out.push_str(LONG_TOKEN);
        }
        out
    }
}

/// Bytes of a uuid: `8-4-4-4-12` hex digits and dashes.
pub(crate) const UUID_LEN: usize = 36;

/// The byte ranges of a uuid's five groups, from its start.
pub(crate) const UUID_GROUPS: [(usize, usize); 5] = [(0, 8), (9, 13), (14, 18), (19, 23), (24, 36)];

/// A lower-case hex digit.
pub(crate) fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Whether `b[i..]` starts with the shape of a lower-case uuid (what stands around it is
/// not looked at).
fn uuid_shape_at(b: &[u8], i: usize) -> bool {
    b.len() >= i + UUID_LEN
        && b[i..i + UUID_LEN].iter().enumerate().all(|(k, &c)| {
            if matches!(k, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                is_lower_hex(c)
            }
        })
}

/// Where `b` holds a uuid shape starting at `i`: `Some((open_left, open_right))`, each side
/// open when `b` ends there, or None when a lower-case hex digit stands next to the shape (a
/// longer hex run, never a uuid) or there is no shape at `i`.
fn uuid_at(b: &[u8], i: usize) -> Option<(bool, bool)> {
    if !uuid_shape_at(b, i) || (i > 0 && is_lower_hex(b[i - 1])) {
        return None;
    }
    match b.get(i + UUID_LEN) {
        Some(&c) if is_lower_hex(c) => None,
        after => Some((i == 0, after.is_none())),
    }
}

/// The uuids of `b` as the id filters hold them whole (format 4, id filters from version 2): each
/// lower-case `8-4-4-4-12` with no lower-case hex digit just before or after it, as its
/// start and whether it is open on the left and on the right (at an end of `b`, where a
/// line holding `b` may go on with a hex digit).
pub(crate) fn uuid_spans(b: &[u8]) -> impl Iterator<Item = (usize, bool, bool)> + '_ {
    let mut next = 0;
    memchr::memchr_iter(b'-', b).filter_map(move |dash| {
        let i = dash.checked_sub(8).filter(|&i| i >= next)?;
        let (open_left, open_right) = uuid_at(b, i)?;
        next = i + UUID_LEN;
        Some((i, open_left, open_right))
    })
}

/// The starts of the uuids of `line` ([`uuid_spans`]).
pub(crate) fn uuids(line: &str) -> Vec<usize> {
    uuid_spans(line.as_bytes()).map(|(i, _, _)| i).collect()
}

/// Format 4's terms of a chunk: the `frags` text and the id-like tokens for its id
/// filter, as often as they occur (the filter's build hashes them and drops repeats, which
/// costs less than a set of strings). Ids are the tokens with a digit and a non-digit, cut to
/// [`MAX_TOKEN_BYTES`] (and [`LONG_TOKEN`] when one was cut: a chunk without it stores
/// every hex run of its lines after its frame, `hex_probe.rs`), except that a uuid
/// ([`uuids`]) is one id, whole with its dashes, and a token that is exactly one of its
/// groups is none; fragments the distinct
/// digit-free tokens and the digit-free runs of the id-like tokens (`blk_`, `ffee` of
/// `c0ffee42`, and those of every uuid group), cut likewise, with [`LONG_TOKEN`] when a cut
/// happened. A word search walks only the small `frags` dictionary, and an id is found by
/// its letters or, whole, by the chunks' id filters, without a dictionary of every id.
/// A uuid takes one filter entry instead of up to five: on the bench's lines (OpenStack's
/// request and instance ids) the filters hold a quarter fewer entries (`filter.rs` says how
/// a search finds a uuid).
pub(crate) fn chunk_terms_split<'a>(
    lines: impl Iterator<Item = &'a str>,
    shapes: &ShapeIndex,
) -> (String, Vec<&'a str>) {
    let mut frags = TermSet::default();
    let mut ids: Vec<&str> = Vec::new();
    let mut learned: FxHashMap<usize, Shape> = FxHashMap::default();
    for (i, line) in lines.enumerate() {
        let seen = shapes.seen(i);
        // A line of a shape already read adds no fragment, only its ids (`shapes.rs`).
        if let Some(shape) = match seen {
            Seen::Like(j) => learned.get(&j),
            _ => None,
        } {
            for &u in &shape.uuids {
                ids.extend(line.get(u..u + UUID_LEN));
            }
            for &(from, to) in &shape.ids {
                ids.extend(line.get(from..to).map(|t| truncate(t, MAX_TOKEN_BYTES)));
            }
            continue;
        }
        let mut shape = Shape {
            uuids: uuids(line),
            ids: Vec::new(),
        };
        for &u in &shape.uuids {
            ids.push(&line[u..u + UUID_LEN]);
        }
        for (from, to) in tokens(line) {
            let t = &line[from..to];
            if !has_digit(t) {
                frags.add(t);
                continue;
            }
            if is_unindexed(t) {
                continue;
            }
            let group = shape.uuids.iter().any(|&u| {
                UUID_GROUPS
                    .iter()
                    .any(|&(a, b)| (u + a, u + b) == (from, to))
            });
            if !group {
                shape.ids.push((from, to));
                ids.push(truncate(t, MAX_TOKEN_BYTES));
                if t.len() > MAX_TOKEN_BYTES {
                    ids.push(LONG_TOKEN);
                }
            }
            for (a, b) in fragments(t) {
                frags.add(&t[a..b]);
            }
        }
        if seen == Seen::First {
            learned.insert(i, shape);
        }
    }
    (frags.text(), ids)
}

/// A stream's labels as one exact term: JSON `[[name, value], ...]` in label order.
pub(crate) fn stream_term(labels: &Labels) -> String {
    let pairs: Vec<(&str, &str)> = labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    // Serializing strings cannot fail.
    serde_json::to_string(&pairs).unwrap_or_default()
}

/// The labels a [`stream_term`] encodes, or None for a term no Lookout wrote.
pub(crate) fn parse_stream_term(term: &str) -> Option<Arc<Labels>> {
    let pairs: Vec<(String, String)> = serde_json::from_str(term).ok()?;
    Some(Arc::new(Labels::from_sorted(
        pairs
            .into_iter()
            .map(|(name, value)| Label { name, value })
            .collect(),
    )))
}

/// Metadata as stored: JSON `[[name, value], ...]`.
pub(crate) fn encode_meta(meta: &[(String, String)]) -> Vec<u8> {
    serde_json::to_vec(meta).unwrap_or_default()
}

pub(crate) fn decode_meta(bytes: &[u8]) -> Vec<(String, String)> {
    serde_json::from_slice(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The tokens as the chunk index holds them, in line order.
    fn token_texts(text: &str) -> Vec<String> {
        let terms = chunk_terms(std::iter::once(text));
        let set: Vec<&str> = terms.split(' ').filter(|t| !t.is_empty()).collect();
        let mut out: Vec<String> = tokens(text)
            .map(|(a, b)| truncate(&text[a..b], MAX_TOKEN_BYTES).to_string())
            .filter(|t| set.contains(&t.as_str()))
            .collect();
        out.dedup();
        if set.contains(&LONG_TOKEN) {
            out.push(LONG_TOKEN.to_string());
        }
        assert_eq!(out.len(), set.len(), "{terms:?}");
        out
    }

    #[test]
    fn tokens_are_runs_of_word_chars_and_long_ones_are_cut_and_marked() {
        assert_eq!(
            token_texts("GET /api/v1?id=0x1F_a ok, Été 10.0.0.1"),
            ["GET", "api", "v1", "id", "0x1F_a", "ok", "Été"]
        );
        assert!(token_texts("").is_empty());
        assert!(token_texts(" ,;").is_empty());
        let long = "é".repeat(50); // 100 bytes
        let got = token_texts(&format!("a {long} b"));
        assert_eq!(got.len(), 4);
        assert_eq!(got[1], truncate(&long, MAX_TOKEN_BYTES));
        assert!(got[1].len() <= MAX_TOKEN_BYTES);
        assert_eq!(got[3], LONG_TOKEN);
    }

    #[test]
    fn split_terms_put_id_like_tokens_in_the_id_filter_and_every_fragment_in_frags() {
        let (frags, ids) = chunk_terms_split(
            ["GET blk_12ab3 c0ffee42 v1 10.0.0.1 ok_"].into_iter(),
            &ShapeIndex::untracked(),
        );
        let mut t: Vec<&str> = ids;
        let mut f: Vec<&str> = frags.split(' ').filter(|t| !t.is_empty()).collect();
        t.sort();
        f.sort();
        assert_eq!(t, ["blk_12ab3", "c0ffee42", "v1"]);
        assert_eq!(f, ["GET", "ab", "blk_", "c", "ffee", "ok_", "v"]);
        let long = "a".repeat(100);
        let line = format!("{long} x1 {long}1");
        let (frags, ids) =
            chunk_terms_split(std::iter::once(line.as_str()), &ShapeIndex::untracked());
        assert!(frags.contains(LONG_TOKEN));
        assert!(ids.contains(&"x1") && ids.contains(&&line[104..184]) && ids.contains(&LONG_TOKEN));
        let (_, ids) = chunk_terms_split(std::iter::once(&line[..184]), &ShapeIndex::untracked());
        assert!(!ids.contains(&LONG_TOKEN));
        assert_eq!(fragments("12ab3c").collect::<Vec<_>>(), [(2, 4), (5, 6)]);
        assert_eq!(fragments("123").count(), 0);
    }

    #[test]
    fn a_uuid_is_one_id_filter_entry_and_its_groups_none() {
        let u = "5e4e8f2a-4b3c-11e5-9c3b-0800200c9a66";
        let line = format!("req_{u} id={u}, x{u} {u}ab1 end");
        let (frags, ids) =
            chunk_terms_split(std::iter::once(line.as_str()), &ShapeIndex::untracked());
        let mut t: Vec<&str> = ids;
        t.sort();
        t.dedup();
        // After `req_`, `=` and `x` (no hex digits) it is a uuid; before `ab1` it is not,
        // and its groups are ids.
        assert_eq!(uuids(&line), [4, 44, 83]);
        assert_eq!(
            t,
            [
                "0800200c9a66ab1",
                "11e5",
                "4b3c",
                "5e4e8f2a",
                u,
                "9c3b",
                "req_5e4e8f2a",
                "x5e4e8f2a"
            ]
        );
        assert!(frags.split(' ').any(|f| f == "b"));
        assert_eq!(uuid_at(u.as_bytes(), 0), Some((true, true)));
        assert_eq!(uuid_at(format!("a{u}").as_bytes(), 1), None);
        assert_eq!(uuid_at(format!("{u}-").as_bytes(), 0), Some((true, false)));
        assert!(uuids("5E4E8F2A-4B3C-11E5-9C3B-0800200C9A66").is_empty());
    }

    proptest! {
        #[test]
        fn stream_terms_round_trip(pairs in prop::collection::vec(("[a-z_]{1,6}", "\\PC{0,8}"), 0..5)) {
            let labels = Labels::from_pairs(pairs);
            let back = parse_stream_term(&stream_term(&labels)).unwrap();
            prop_assert_eq!(&*back, &labels);
        }

        /// A chunk's terms are the union of its lines' terms, whether a line's shape was
        /// seen before (`shapes.rs`) or not.
        #[test]
        fn a_chunks_terms_are_its_lines_terms(
            templates in prop::collection::vec(
                prop::collection::vec(
                    prop::sample::select(vec![
                        "GET", "blk_", "#", "c0ffee#", "é", "-", " ", ".", "=", "x#", "#ab",
                        "5e4e8f2a-4b3c-11e5-9c3b-0800200c9a6#", "#e4e8f2a-4b3c-11e5-9c3b-0",
                    ]),
                    0..12,
                ),
                1..4,
            ),
            draws in prop::collection::vec(
                (any::<prop::sample::Index>(), prop::collection::vec(0u32..2000, 12)),
                0..40,
            ),
        ) {
            // Lines of a few templates, each `#` a number drawn anew: many share a shape.
            let lines: Vec<String> = draws
                .iter()
                .map(|(t, nums)| {
                    let words = t.get(&templates);
                    words
                        .iter()
                        .zip(nums.iter().cycle())
                        .map(|(w, n)| w.replace('#', &n.to_string()))
                        .collect()
                })
                .collect();
            let shapes = ShapeIndex::of(lines.iter().map(|l| l.as_bytes()));
            let (frags, ids) = chunk_terms_split(lines.iter().map(String::as_str), &shapes);
            let mut want_frags = std::collections::BTreeSet::new();
            let mut want_ids = std::collections::BTreeSet::new();
            for line in &lines {
                let (f, i) = chunk_terms_split(std::iter::once(line.as_str()), &ShapeIndex::untracked());
                want_frags.extend(f.split(' ').filter(|t| !t.is_empty()).map(str::to_string));
                want_ids.extend(i.into_iter().map(str::to_string));
            }
            let got_frags: std::collections::BTreeSet<String> =
                frags.split(' ').filter(|t| !t.is_empty()).map(str::to_string).collect();
            let got_ids: std::collections::BTreeSet<String> =
                ids.into_iter().map(str::to_string).collect();
            prop_assert_eq!(got_frags, want_frags);
            prop_assert_eq!(got_ids, want_ids);
        }

        #[test]
        fn metadata_round_trips(meta in prop::collection::vec(("\\PC{0,6}", "\\PC{0,8}"), 0..4)) {
            prop_assert_eq!(decode_meta(&encode_meta(&meta)), meta);
        }
    }
}
