//! The tantivy schema of a log partition, the line tokenizer, and how a stream's labels
//! become one exact term. The layout is specified in `store/FORMAT.md` ("Logs"); change
//! both together.

use std::sync::Arc;

use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::IndexSettings;

use crate::model::{Label, Labels};

/// Version of the partition layout (schema, tokenizer, stream term encoding), written to
/// each partition's `partition.json`.
pub const FORMAT_VERSION: u32 = 1;

/// Name under which the line tokenizer is registered on every partition index.
pub(crate) const LINE_TOKENIZER: &str = "lookout_line";

/// Tokens longer than this many bytes are indexed cut to at most this many bytes (at a
/// char boundary), and the line gets the [`LONG_TOKEN`] term: a substring search that
/// cannot rely on whole tokens then keeps such lines as candidates.
pub(crate) const MAX_TOKEN_BYTES: usize = 80;

/// The extra term of a line with a token longer than [`MAX_TOKEN_BYTES`]. The tokenizer
/// never makes it (tokens are runs of letters, digits and `_`).
pub(crate) const LONG_TOKEN: &str = "\u{1}long";

/// Zstd level of the stored lines. Level 9 costs ingest little (the docstore compresses
/// on its own thread) and packs log lines noticeably tighter than the default 3.
const ZSTD_LEVEL: i32 = 9;
/// Bytes of stored lines per zstd block: larger blocks compress better, smaller ones cost
/// less to decompress per hit.
const DOCSTORE_BLOCK: usize = 64 << 10;

/// The fields of a partition index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields {
    /// Nanoseconds since the epoch: a fast field (time range, order), not indexed.
    pub ts: Field,
    /// The stream's labels as one exact term ([`stream_term`]): indexed and a fast field,
    /// whose per-segment ordinal is the stream id of a hit.
    pub stream: Field,
    /// The line: tokenized by [`LineTokenizer`] (doc ids only, no positions or norms) and
    /// stored in the zstd docstore.
    pub line: Field,
    /// Structured metadata as JSON `[[name, value], ...]`, stored only (absent when empty).
    pub meta: Field,
}

pub(crate) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let ts = b.add_i64_field("ts", NumericOptions::default().set_fast());
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
    let line = b.add_text_field(
        "line",
        TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(LINE_TOKENIZER)
                    .set_fieldnorms(false)
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_stored(),
    );
    let meta = b.add_bytes_field("meta", BytesOptions::default().set_stored());
    (
        b.build(),
        Fields {
            ts,
            stream,
            line,
            meta,
        },
    )
}

/// The settings of a new partition index: lines compressed with zstd.
pub(crate) fn settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor {
            compression_level: Some(ZSTD_LEVEL),
        }),
        docstore_blocksize: DOCSTORE_BLOCK,
        ..Default::default()
    }
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

/// The tokens of `text` with their byte ranges: maximal runs of [`is_token_char`].
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut it = text.char_indices().peekable();
    std::iter::from_fn(move || {
        let start = loop {
            let (i, c) = it.next()?;
            if is_token_char(c) {
                break i;
            }
        };
        let mut end = text.len();
        while let Some(&(i, c)) = it.peek() {
            if !is_token_char(c) {
                end = i;
                break;
            }
            it.next();
        }
        Some((start, end))
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

/// The line tokenizer: runs of letters, digits and `_`, case kept (a `|=` filter is
/// case-sensitive), numbers left out ([`is_unindexed`]), long tokens cut (see
/// [`MAX_TOKEN_BYTES`]).
#[derive(Clone, Default)]
pub(crate) struct LineTokenizer;

pub(crate) struct LineTokens<'a> {
    text: &'a str,
    tokens: Box<dyn Iterator<Item = (usize, usize)> + 'a>,
    token: Token,
    saw_long: bool,
    done: bool,
}

impl Tokenizer for LineTokenizer {
    type TokenStream<'a> = LineTokens<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> LineTokens<'a> {
        LineTokens {
            text,
            tokens: Box::new(tokens(text)),
            token: Token::default(),
            saw_long: false,
            done: false,
        }
    }
}

impl TokenStream for LineTokens<'_> {
    fn advance(&mut self) -> bool {
        if self.done {
            return false;
        }
        self.token.text.clear();
        let next = loop {
            match self.tokens.next() {
                Some((from, to)) if is_unindexed(&self.text[from..to]) => continue,
                other => break other,
            }
        };
        match next {
            Some((from, to)) => {
                let t = &self.text[from..to];
                if t.len() > MAX_TOKEN_BYTES {
                    self.saw_long = true;
                }
                self.token.text.push_str(truncate(t, MAX_TOKEN_BYTES));
                self.token.offset_from = from;
                self.token.offset_to = to;
                self.token.position = self.token.position.wrapping_add(1);
                true
            }
            None if self.saw_long => {
                self.saw_long = false;
                self.done = true;
                self.token.text.push_str(LONG_TOKEN);
                self.token.position = self.token.position.wrapping_add(1);
                true
            }
            None => {
                self.done = true;
                false
            }
        }
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
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

    fn token_texts(text: &str) -> Vec<String> {
        let mut t = LineTokenizer;
        let mut s = t.token_stream(text);
        let mut out = vec![];
        while s.advance() {
            out.push(s.token().text.clone());
        }
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

    proptest! {
        #[test]
        fn stream_terms_round_trip(pairs in prop::collection::vec(("[a-z_]{1,6}", "\\PC{0,8}"), 0..5)) {
            let labels = Labels::from_pairs(pairs);
            let back = parse_stream_term(&stream_term(&labels)).unwrap();
            prop_assert_eq!(&*back, &labels);
        }

        #[test]
        fn metadata_round_trips(meta in prop::collection::vec(("\\PC{0,6}", "\\PC{0,8}"), 0..4)) {
            prop_assert_eq!(decode_meta(&encode_meta(&meta)), meta);
        }
    }
}
