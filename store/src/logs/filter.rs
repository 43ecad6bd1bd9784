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
//!
//! Format 4 indexes differently (`schema.rs`): every digit-free token and the digit-free
//! runs of id-like tokens (a digit and a non-digit) are terms of the `frags` field, and the
//! id-like tokens themselves are only in each chunk's id filter. A token of `s` without
//! digits then needs what it needs above, from `frags` (the run of the line token it falls
//! in is digit-free too, so it has the same edges). A token with digits needs, when it is
//! whole in `s`, to be in the chunk's id filter, and for each digit-free run in it a need
//! from `frags` (a run bounded by a digit in `s` is bounded there in the line too). `frags`
//! is a small dictionary (words and short letter runs), so its suffix and infix walks are
//! cheap, and there is no dictionary of every id to walk.

use regex::Regex;
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};

use super::schema::{
    fragments, has_digit, is_lower_hex, is_unindexed, tokens, truncate, uuid_spans,
    MAX_TOKEN_BYTES, UUID_GROUPS, UUID_LEN,
};
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

/// Where a need is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The `terms` field: every token before format 4. From format 4, a `Term` need here
    /// is a whole id-like token, answered by the chunks' id filters.
    Terms,
    /// `frags` (format 4): digit-free tokens and runs.
    Frags,
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
        let Some(need) = token_need(t, from == 0, to == s.len()) else {
            continue;
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

/// What a line token holding `t` must be, given whether `t` may continue on the left and on
/// the right (open) or ends there (a non-token char next to it).
fn token_need(t: &str, open_left: bool, open_right: bool) -> Option<Need> {
    Some(match (open_left, open_right) {
        (false, false) => Need::Term(truncate(t, MAX_TOKEN_BYTES).to_string()),
        // A cut line token keeps at least MAX_TOKEN_BYTES - 3 bytes (a char is at most
        // 4), so a prefix cut to MAX_TOKEN_BYTES - 4 is always still a prefix of it.
        (false, true) if t.len() >= MIN_PREFIX => {
            Need::Prefix(truncate(t, MAX_TOKEN_BYTES - 4).to_string())
        }
        (true, false) if t.chars().count() >= MIN_INFIX => Need::Suffix(t.to_string()),
        (true, true) if t.chars().count() >= MIN_INFIX => Need::Infix(t.to_string()),
        _ => return None,
    })
}

/// Format 4: what a line containing `s` must hold, each need with where it is answered
/// (see the module doc). Empty when nothing useful is required.
pub(crate) fn substring_needs_split(s: &str) -> Vec<(Target, Need)> {
    let mut out = Vec::new();
    let mut push = |n: (Target, Need)| {
        if !out.contains(&n) {
            out.push(n);
        }
    };
    for (from, to) in tokens(s) {
        let t = &s[from..to];
        let (open_left, open_right) = (from == 0, to == s.len());
        if !has_digit(t) {
            if let Some(n) = token_need(t, open_left, open_right) {
                push((Target::Frags, n));
            }
            continue;
        }
        if is_unindexed(t) {
            continue;
        }
        if !open_left && !open_right && !may_be_uuid_group(s.as_bytes(), from, to) {
            push((
                Target::Terms,
                Need::Term(truncate(t, MAX_TOKEN_BYTES).to_string()),
            ));
        }
        for (a, b) in fragments(t) {
            let edge = (open_left && a == 0, open_right && b == t.len());
            if let Some(n) = token_need(&t[a..b], edge.0, edge.1) {
                push((Target::Frags, n));
            }
        }
    }
    out
}

/// Whether the token `b[from..to]` may be a group of a uuid in the line, which id
/// filters hold whole and not by its groups: 4, 8 or 12 lower-case hex digits with a dash
/// next to it.
fn may_be_uuid_group(b: &[u8], from: usize, to: usize) -> bool {
    matches!(to - from, 4 | 8 | 12)
        && b[from..to].iter().all(|&c| is_lower_hex(c))
        && ((from > 0 && b[from - 1] == b'-') || b.get(to) == Some(&b'-'))
}

/// Format 4: what a line containing `s` must hold, as alternatives (one of them, each all
/// of its needs). [`substring_needs_split`], and for each uuid in `s`: with something other
/// than a hex digit on both sides within `s`, the line has it as a uuid, which its chunk's
/// id filter holds whole; at an end of `s`, the line may continue it with a hex digit,
/// and then holds its inner groups as ids instead, so either the uuid or every inner group
/// that is id-like is required.
pub(crate) fn substring_alternatives_split(s: &str) -> Vec<Vec<(Target, Need)>> {
    let base = substring_needs_split(s);
    let mut alts = vec![base];
    for (i, open_left, open_right) in uuid_spans(s.as_bytes()) {
        let uuid = (Target::Terms, Need::Term(s[i..i + UUID_LEN].to_string()));
        if !open_left && !open_right {
            alts.iter_mut().for_each(|a| a.push(uuid.clone()));
            continue;
        }
        let groups: Vec<(Target, Need)> = UUID_GROUPS[1..4]
            .iter()
            .map(|&(a, z)| &s[i + a..i + z])
            .filter(|g| has_digit(g) && !is_unindexed(g))
            .map(|g| (Target::Terms, Need::Term(g.to_string())))
            .collect();
        // Either way nothing more is required, or the choice would double the alternatives
        // past what is worth it.
        if groups.is_empty() || alts.len() * 2 > MAX_ALTERNATIVES {
            continue;
        }
        alts = alts
            .into_iter()
            .flat_map(|a| {
                let mut with_uuid = a.clone();
                with_uuid.push(uuid.clone());
                let mut with_groups = a;
                with_groups.extend(groups.iter().cloned());
                [with_uuid, with_groups]
            })
            .collect();
    }
    alts
}

/// What a line containing `s` must hold in a partition with (`split`) or without the
/// `frags` field, as alternatives; empty when nothing useful is required.
fn needs_of(s: &str, split: bool) -> Vec<Vec<(Target, Need)>> {
    let alts = if split {
        substring_alternatives_split(s)
    } else {
        vec![substring_needs(s)
            .into_iter()
            .map(|n| (Target::Terms, n))
            .collect()]
    };
    // One alternative that requires nothing makes the whole set require nothing.
    if alts.iter().any(Vec::is_empty) {
        Vec::new()
    } else {
        alts
    }
}

/// What a line a filter keeps must hold: one of the alternatives (each all of its needs),
/// for a partition with (`split`, format 4) or without the `frags` field. None when the
/// filter does not narrow.
pub(crate) fn filter_needs(f: &LineFilter, split: bool) -> Option<Vec<Vec<(Target, Need)>>> {
    match f {
        LineFilter::Contains(s) => {
            let alts = needs_of(s, split);
            (!alts.is_empty()).then_some(alts)
        }
        LineFilter::Regex(p) => regex_needs(p, split),
        LineFilter::NotContains(_) | LineFilter::NotRegex(_) => None,
    }
}

/// The literals every match of `pattern` starts (or ends) with, as substring needs.
fn regex_needs(pattern: &str, split: bool) -> Option<Vec<Vec<(Target, Need)>>> {
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
    literal_needs(&best, split)
}

fn literal_needs(seq: &Seq, split: bool) -> Option<Vec<Vec<(Target, Need)>>> {
    let lits = seq.literals()?;
    if lits.is_empty() || lits.len() > MAX_ALTERNATIVES {
        return None;
    }
    let mut alts = Vec::with_capacity(lits.len());
    for lit in lits {
        let s = std::str::from_utf8(lit.as_bytes()).ok()?;
        let needs = needs_of(s, split);
        // One alternative that requires nothing makes the whole set require nothing.
        if needs.is_empty() {
            return None;
        }
        alts.extend(needs);
    }
    (alts.len() <= MAX_ALTERNATIVES).then_some(alts)
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
        for split in [false, true] {
            let got = filter_needs(&LineFilter::Regex("error|warn(ing)?".into()), split).unwrap();
            assert!((2..=3).contains(&got.len()), "{got:?}");
            let got = filter_needs(&LineFilter::Regex(r"user \d+ logged".into()), split).unwrap();
            assert!(got.iter().all(|alt| !alt.is_empty()), "{got:?}");
            assert!(filter_needs(&LineFilter::Regex(".*".into()), split).is_none());
            assert!(filter_needs(&LineFilter::Regex("[a-z]+".into()), split).is_none());
            assert!(filter_needs(&LineFilter::NotContains("x y z".into()), split).is_none());
            assert!(filter_needs(&LineFilter::Regex("(".into()), split).is_none());
        }
    }

    #[test]
    fn split_needs_take_words_and_id_letters_from_frags_and_whole_ids_from_id_filters() {
        use Target::*;
        assert_eq!(
            substring_needs_split("error"),
            [(Frags, Need::Infix("error".into()))]
        );
        assert_eq!(
            substring_needs_split("needle7f3a9c"),
            [
                (Frags, Need::Suffix("needle".into())),
                (Frags, t("f")),
                (Frags, t("a")),
            ]
        );
        assert_eq!(
            substring_needs_split("a1b2c3"),
            [(Frags, t("b")), (Frags, t("c"))]
        );
        assert_eq!(
            substring_needs_split("id blk_12ab3 ok"),
            [
                (Terms, t("blk_12ab3")),
                (Frags, t("blk_")),
                (Frags, t("ab")),
                (Frags, Need::Prefix("ok".into())),
            ]
        );
        assert!(substring_needs_split("12 34").is_empty());
    }

    #[test]
    fn a_uuid_is_asked_of_id_filters_whole_and_its_groups_only_when_it_may_not_be_one() {
        use Target::*;
        let u = "5e4e8f2a-4b3c-11e5-9c3b-0800200c9a66";
        let ids = |alts: Vec<Vec<(Target, Need)>>| -> Vec<Vec<String>> {
            alts.into_iter()
                .map(|a| {
                    a.into_iter()
                        .filter_map(|(t, n)| match (t, n) {
                            (Terms, Need::Term(id)) => Some(id),
                            _ => None,
                        })
                        .collect()
                })
                .collect()
        };
        // Bounded within the needle: the line has it as a uuid.
        assert_eq!(
            ids(substring_alternatives_split(&format!("id={u} ok"))),
            [[u]]
        );
        // At an end: the line may go on with a hex digit, and then holds the inner groups.
        assert_eq!(
            ids(substring_alternatives_split(u)),
            [
                vec![u.to_string()],
                vec!["4b3c".into(), "11e5".into(), "9c3b".into()]
            ]
        );
        // A hex digit next to it: never a uuid, and its groups are not asked for (a group
        // next to a dash may be part of another uuid).
        assert_eq!(
            ids(substring_alternatives_split(&format!("a{u} "))),
            [Vec::<String>::new()]
        );
        // A partial uuid: no whole one, groups not asked for; the letters still are.
        let partial = substring_alternatives_split("8f2a-4b3c-11e5-9c");
        assert_eq!(ids(partial.clone()), [Vec::<String>::new()]);
        assert!(partial[0].contains(&(Frags, t("b"))));
        // Other ids next to a dash are still asked for.
        assert_eq!(
            ids(substring_alternatives_split("x blk_12-ab3 y")),
            [["blk_12", "ab3"]]
        );
        assert!(filter_needs(&LineFilter::Contains(u.into()), true).is_some_and(|a| a.len() == 2));
    }
}
