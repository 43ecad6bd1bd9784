//! Loki's pattern syntax (`<ip> - <_> "<method> <path>"`), for the `| pattern` parser and
//! the `|>` / `!>` line filters: literals and captures, `<_>` capturing nothing.
//!
//! Matching is Loki's: each capture runs up to the next occurrence of the literal that
//! follows it. As a parser a partial match still yields the captures found so far; as a
//! filter the whole line must match, with no empty capture.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    /// A capture; `None` for `<_>`.
    Cap(Option<String>),
}

#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    parts: Vec<Part>,
}

impl Pattern {
    /// Parses a pattern; `named_capture_required` is set for the parser (a pattern without
    /// a named capture extracts nothing, which Loki refuses).
    pub fn parse(source: &str, named_capture_required: bool) -> Result<Pattern, String> {
        let mut parts: Vec<Part> = Vec::new();
        let mut rest = source;
        let mut lit = String::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('<') {
                if let Some(end) = after.find('>') {
                    let name = &after[..end];
                    if is_capture_name(name) {
                        if !lit.is_empty() {
                            parts.push(Part::Lit(std::mem::take(&mut lit)));
                        }
                        if matches!(parts.last(), Some(Part::Cap(_))) {
                            return Err(format!(
                                "pattern {source:?}: captures must be separated by a literal (\"<{name}>\" follows another capture)"
                            ));
                        }
                        let cap = (name != "_").then(|| name.to_string());
                        if let Some(n) = &cap {
                            if parts.iter().any(|p| p == &Part::Cap(Some(n.clone()))) {
                                return Err(format!(
                                    "pattern {source:?}: capture \"<{n}>\" appears twice"
                                ));
                            }
                        }
                        parts.push(Part::Cap(cap));
                        rest = &after[end + 1..];
                        continue;
                    }
                }
            }
            let c = rest.chars().next().unwrap_or('<');
            lit.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        if named_capture_required && !parts.iter().any(|p| matches!(p, Part::Cap(Some(_)))) {
            return Err(format!(
                "pattern {source:?} has no named capture such as <name>: it would extract nothing"
            ));
        }
        if !parts.iter().any(|p| matches!(p, Part::Cap(_))) && !named_capture_required {
            return Err(format!(
                "pattern {source:?} has no capture: use |= for a plain substring"
            ));
        }
        Ok(Pattern {
            source: source.to_string(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The named captures found in `line` (Loki's `Matches`).
    pub fn captures<'p, 'l>(&'p self, line: &'l str) -> Vec<(&'p str, &'l str)> {
        let mut out = Vec::new();
        if line.is_empty() {
            return out;
        }
        let mut parts = &self.parts[..];
        let mut rest = line;
        if let Some(Part::Lit(l)) = parts.first() {
            match rest.strip_prefix(l.as_str()) {
                Some(r) => rest = r,
                None => return out,
            }
            parts = &parts[1..];
        }
        while let Some(Part::Cap(name)) = parts.first() {
            let Some(Part::Lit(l)) = parts.get(1) else {
                if let Some(n) = name {
                    out.push((n.as_str(), rest));
                }
                return out;
            };
            parts = &parts[2..];
            match rest.find(l.as_str()) {
                None => {
                    if let Some(n) = name {
                        out.push((n.as_str(), rest));
                    }
                    return out;
                }
                Some(i) => {
                    if let Some(n) = name {
                        out.push((n.as_str(), &rest[..i]));
                    }
                    rest = &rest[i + l.len()..];
                }
            }
        }
        out
    }

    /// Whether the whole line matches, every capture non-empty (the `|>` filter).
    pub fn test(&self, line: &str) -> bool {
        let mut parts = &self.parts[..];
        let mut rest = line;
        if let Some(Part::Lit(l)) = parts.first() {
            match rest.strip_prefix(l.as_str()) {
                Some(r) => rest = r,
                None => return false,
            }
            parts = &parts[1..];
        }
        while let Some(Part::Cap(_)) = parts.first() {
            let Some(Part::Lit(l)) = parts.get(1) else {
                return !rest.is_empty();
            };
            parts = &parts[2..];
            match rest.find(l.as_str()) {
                Some(i) if i > 0 => rest = &rest[i + l.len()..],
                _ => return false,
            }
        }
        rest.is_empty()
    }
}

fn is_capture_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_like_loki() {
        let p =
            Pattern::parse(r#"<ip> - <_> [<ts>] "<method> <path> <_>" <status>"#, true).unwrap();
        let line = r#"1.2.3.4 - - [10/Oct/2000:13:55:36] "GET /a.gif HTTP/1.0" 200 2326"#;
        assert_eq!(
            p.captures(line),
            [
                ("ip", "1.2.3.4"),
                ("ts", "10/Oct/2000:13:55:36"),
                ("method", "GET"),
                ("path", "/a.gif"),
                ("status", "200 2326")
            ]
        );
        // A partial match keeps what it found, the last capture running to the end.
        let p = Pattern::parse("<a> x <b> y", true).unwrap();
        assert_eq!(p.captures("1 x 2 z"), [("a", "1"), ("b", "2 z")]);
        assert!(p.captures("").is_empty());
    }

    #[test]
    fn test_needs_a_whole_match() {
        let p = Pattern::parse("<_> error <_>", false).unwrap();
        assert!(p.test("a error b"));
        assert!(!p.test("error b"));
        assert!(!p.test("a error "));
        let p = Pattern::parse("GET <_>", false).unwrap();
        assert!(p.test("GET /"));
        assert!(!p.test("POST /"));
        assert!(Pattern::parse("<a><b>", true).is_err());
        assert!(Pattern::parse("<_> x", true).is_err());
        assert!(Pattern::parse("<a> <a>", true).is_err());
        assert!(Pattern::parse("plain", false).is_err());
    }
}
