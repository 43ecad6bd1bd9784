//! Label matchers with Prometheus' semantics: regexes are fully anchored (RE2 syntax, which
//! the `regex` crate implements), and a matcher that matches the empty string also matches
//! series that lack the label.

use regex::Regex;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub op: MatchOp,
    re: Option<Regex>,
}

/// Most patterns [`compile`] keeps; past it the cache starts over.
const CACHED_PATTERNS: usize = 1024;

/// The anchored regex of a matcher's pattern, compiled once per pattern: dashboards send
/// the same selectors again and again, and compiling a regex costs more than answering a
/// small query (a few hundred microseconds). A `Regex` is shared between threads by clone.
fn compile(pattern: &str) -> std::result::Result<Regex, regex::Error> {
    static CACHE: std::sync::OnceLock<
        parking_lot::Mutex<std::collections::HashMap<String, Regex>>,
    > = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(re) = cache.lock().get(pattern) {
        return Ok(re.clone());
    }
    let re = Regex::new(&format!("^(?s:{pattern})$"))?;
    let mut c = cache.lock();
    if c.len() >= CACHED_PATTERNS {
        c.clear();
    }
    c.insert(pattern.to_string(), re.clone());
    Ok(re)
}

impl Matcher {
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        let re = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                Some(compile(&value).map_err(|source| Error::Regex {
                    pattern: value.clone(),
                    source,
                })?)
            }
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            value,
            op,
            re,
        })
    }

    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            value: value.into(),
            op: MatchOp::Equal,
            re: None,
        }
    }

    /// Whether a label value (the empty string for an absent label) passes.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::RegexMatch => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::RegexNoMatch => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For a regex that is a plain alternation of literals (`a|b|c`), those literals: the
    /// index can then look them up instead of testing every value.
    pub fn set_matches(&self) -> Option<Vec<String>> {
        if self.op != MatchOp::RegexMatch && self.op != MatchOp::RegexNoMatch {
            return None;
        }
        let mut out = Vec::new();
        for part in self.value.split('|') {
            if part.chars().any(|c| "\\.+*?()[]{}^$".contains(c)) {
                return None;
            }
            out.push(part.to_string());
        }
        Some(out)
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchored_regex_semantics() {
        let cases: &[(MatchOp, &str, &str, bool)] = &[
            (MatchOp::RegexMatch, "foo", "foo", true),
            (MatchOp::RegexMatch, "foo", "foobar", false),
            (MatchOp::RegexMatch, "foo", "xfoo", false),
            (MatchOp::RegexMatch, "fo.*", "foobar", true),
            (MatchOp::RegexMatch, "a|b", "a", true),
            (MatchOp::RegexMatch, "a|b", "ab", false),
            (MatchOp::RegexMatch, ".*", "", true),
            (MatchOp::RegexMatch, ".+", "", false),
            (MatchOp::RegexMatch, ".*", "line\nbreak", true),
            (MatchOp::RegexNoMatch, "foo", "foobar", true),
            (MatchOp::RegexNoMatch, "foo|bar", "bar", false),
            (MatchOp::Equal, "", "", true),
            (MatchOp::NotEqual, "", "x", true),
            (MatchOp::NotEqual, "x", "", true),
        ];
        for (op, pat, val, want) in cases {
            let m = Matcher::new(*op, "l", *pat).unwrap();
            assert_eq!(m.matches(val), *want, "{m} on {val:?}");
        }
    }

    #[test]
    fn bad_regex_names_the_pattern() {
        let e = Matcher::new(MatchOp::RegexMatch, "l", "a(").unwrap_err();
        assert!(e.to_string().contains("\"a(\""));
    }

    #[test]
    fn literal_alternations_are_sets() {
        let m = Matcher::new(MatchOp::RegexMatch, "l", "a|bb|c").unwrap();
        assert_eq!(m.set_matches().unwrap(), vec!["a", "bb", "c"]);
        let m = Matcher::new(MatchOp::RegexMatch, "l", "a.*").unwrap();
        assert!(m.set_matches().is_none());
    }
}
