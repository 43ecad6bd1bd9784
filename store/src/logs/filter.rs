//! Line filters: compiled for the exact check on a stored line, and turned into what they
//! require of a line's indexed tokens, so the index narrows the candidates first.
//!
//! A substring `s` of a line, split into tokens like the line: a token of `s` with a
//! non-token char on both sides within `s` is a whole token of the line (an exact term); one
//! that ends `s` only begins a line token (a prefix); one that starts `s` only ends a line
//! token (a suffix); one that is all of `s` sits anywhere inside a line token (an infix).
//! Prefixes are cheap term-dictionary ranges; suffixes and infixes walk the whole term
//! dictionary, so they are used only when nothing better is required. A regex narrows by
//! the literals every match must start (or end) with, extracted by `regex-syntax`: the line
//! contains one of them. Negated filters never narrow. Narrowing is only ever a superset:
//! every candidate is checked against the stored line.

use regex::Regex;
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};

use super::schema::{is_unindexed, tokens, truncate, MAX_TOKEN_BYTES};
use crate::error::{Error, Result};
use crate::model::LineFilter;

/// A compiled line filter.
pub(crate) enum Filter {
    Contains(String, bool),
    Regex(Regex, bool),
}

impl Filter {
    pub(crate) fn compile(f: &LineFilter) -> Result<Filter> {
        let re = |p: &str| {
            Regex::new(p).map_err(|source| Error::Regex {
                pattern: p.to_string(),
                source,
            })
        };
        Ok(match f {
            LineFilter::Contains(s) => Filter::Contains(s.clone(), true),
            LineFilter::NotContains(s) => Filter::Contains(s.clone(), false),
            LineFilter::Regex(p) => Filter::Regex(re(p)?, true),
            LineFilter::NotRegex(p) => Filter::Regex(re(p)?, false),
        })
    }

    /// Whether the line passes.
    pub(crate) fn keeps(&self, line: &str) -> bool {
        match self {
            Filter::Contains(s, want) => line.contains(s.as_str()) == *want,
            Filter::Regex(r, want) => r.is_match(line) == *want,
        }
    }
}

/// What a line must hold among its indexed tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Need {
    /// A token equal to this (already cut to the indexed length).
    Term(String),
    /// A token starting with this.
    Prefix(String),
    /// A token ending with this (or a token too long to be indexed whole).
    Suffix(String),
    /// A token containing this (or a token too long to be indexed whole).
    Infix(String),
}

impl Need {
    /// Whether the index answers it without walking the whole term dictionary.
    pub(crate) fn is_cheap(&self) -> bool {
        matches!(self, Need::Term(_) | Need::Prefix(_))
    }
}

/// Shortest prefix worth a term range: shorter ones expand to too many terms.
const MIN_PREFIX: usize = 2;
/// Shortest infix or suffix worth a term dictionary walk.
const MIN_INFIX: usize = 3;
/// Most literals a regex may require one of before narrowing is not worth it.
const MAX_ALTERNATIVES: usize = 64;

/// What a line containing `s` must hold: all of the returned needs. Empty when nothing
/// useful is required (then the filter does not narrow).
pub(crate) fn substring_needs(s: &str) -> Vec<Need> {
    let mut out = Vec::new();
    for (from, to) in tokens(s) {
        let t = &s[from..to];
        // A number is not indexed, and a partial token of digits may be part of one.
        if is_unindexed(t) {
            continue;
        }
        let (open_left, open_right) = (from == 0, to == s.len());
        let need = match (open_left, open_right) {
            (false, false) => Need::Term(truncate(t, MAX_TOKEN_BYTES).to_string()),
            // A cut line token keeps at least MAX_TOKEN_BYTES - 3 bytes (a char is at most
            // 4), so a prefix cut to MAX_TOKEN_BYTES - 4 is always still a prefix of it.
            (false, true) if t.len() >= MIN_PREFIX => {
                Need::Prefix(truncate(t, MAX_TOKEN_BYTES - 4).to_string())
            }
            (true, false) if t.chars().count() >= MIN_INFIX => Need::Suffix(t.to_string()),
            (true, true) if t.chars().count() >= MIN_INFIX => Need::Infix(t.to_string()),
            _ => continue,
        };
        if !out.contains(&need) {
            out.push(need);
        }
    }
    // Exact terms and prefixes narrow enough; do not pay for dictionary walks on top.
    if out.iter().any(Need::is_cheap) {
        out.retain(Need::is_cheap);
    }
    out
}

/// What a line a filter keeps must hold: one of the alternatives (each all of its needs).
/// None when the filter does not narrow.
pub(crate) fn filter_needs(f: &LineFilter) -> Option<Vec<Vec<Need>>> {
    match f {
        LineFilter::Contains(s) => {
            let needs = substring_needs(s);
            (!needs.is_empty()).then(|| vec![needs])
        }
        LineFilter::Regex(p) => regex_needs(p),
        LineFilter::NotContains(_) | LineFilter::NotRegex(_) => None,
    }
}

/// The literals every match of `pattern` starts (or ends) with, as substring needs.
fn regex_needs(pattern: &str) -> Option<Vec<Vec<Need>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let best = [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .map(|kind| {
            let mut e = Extractor::new();
            e.kind(kind);
            e.extract(&hir)
        })
        .filter(|seq| seq.is_finite())
        .max_by_key(|seq| seq.min_literal_len().unwrap_or(0))?;
    literal_needs(&best)
}

fn literal_needs(seq: &Seq) -> Option<Vec<Vec<Need>>> {
    let lits = seq.literals()?;
    if lits.is_empty() || lits.len() > MAX_ALTERNATIVES {
        return None;
    }
    let mut alts = Vec::with_capacity(lits.len());
    for lit in lits {
        let s = std::str::from_utf8(lit.as_bytes()).ok()?;
        let needs = substring_needs(s);
        // One alternative that requires nothing makes the whole set require nothing.
        if needs.is_empty() {
            return None;
        }
        alts.push(needs);
    }
    Some(alts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Need {
        Need::Term(s.into())
    }

    #[test]
    fn substrings_need_whole_tokens_inside_and_partial_ones_at_the_edges() {
        assert_eq!(
            substring_needs("connection refused to 10.0"),
            [t("refused"), t("to")]
        );
        // The suffix "ion" would walk the dictionary; the prefix is enough.
        assert_eq!(
            substring_needs("ion refused"),
            [Need::Prefix("refused".into())]
        );
        assert_eq!(substring_needs("refused"), [Need::Infix("refused".into())]);
        assert_eq!(
            substring_needs("=refused"),
            [Need::Prefix("refused".into())]
        );
        assert_eq!(
            substring_needs("refused "),
            [Need::Suffix("refused".into())]
        );
        assert!(
            substring_needs("ab").is_empty(),
            "too short to walk the dictionary"
        );
        assert!(substring_needs(" .;").is_empty());
        assert!(substring_needs("").is_empty());
    }

    #[test]
    fn regexes_need_their_literals() {
        let got = filter_needs(&LineFilter::Regex("error|warn(ing)?".into())).unwrap();
        assert!((2..=3).contains(&got.len()), "{got:?}");
        let got = filter_needs(&LineFilter::Regex(r"user \d+ logged".into())).unwrap();
        assert!(got.iter().all(|alt| !alt.is_empty()), "{got:?}");
        assert!(filter_needs(&LineFilter::Regex(".*".into())).is_none());
        assert!(filter_needs(&LineFilter::Regex("[a-z]+".into())).is_none());
        assert!(filter_needs(&LineFilter::NotContains("x y z".into())).is_none());
        assert!(filter_needs(&LineFilter::Regex("(".into())).is_none());
    }
}
