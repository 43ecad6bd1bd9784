//! LogQL's tokens, each with the byte offset it starts at so parse errors can point at it.
//!
//! Strings are Go literals: `"..."` with Go's escapes (`\"`, `\\`, `\n`, `\t`, `\u00e9`,
//! ...) or raw `` `...` ``. A number followed by letters (`5m`, `1h30m`, `20MB`, `1.5s`) is
//! one [`Tok::Unit`] token: whether it is a duration or a byte size is the parser's call.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    /// A number with a unit suffix, as written (`5m`, `1h30m`, `20MB`).
    Unit(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    /// `=`
    Eq,
    /// `==`
    EqEq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    NotRe,
    /// `|=`
    PipeEq,
    /// `|~`
    PipeRe,
    /// `|>`
    PipePattern,
    /// `!>`
    NotPattern,
    Pipe,
    Gt,
    Gte,
    Lt,
    Lte,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("{s:?}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Unit(s) => s.clone(),
            Tok::Eof => "end of query".into(),
            t => format!("{:?}", punct(t)),
        }
    }
}

fn punct(t: &Tok) -> &'static str {
    match t {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::Comma => ",",
        Tok::Eq => "=",
        Tok::EqEq => "==",
        Tok::Neq => "!=",
        Tok::Re => "=~",
        Tok::NotRe => "!~",
        Tok::PipeEq => "|=",
        Tok::PipeRe => "|~",
        Tok::PipePattern => "|>",
        Tok::NotPattern => "!>",
        Tok::Pipe => "|",
        Tok::Gt => ">",
        Tok::Gte => ">=",
        Tok::Lt => "<",
        Tok::Lte => "<=",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Percent => "%",
        Tok::Caret => "^",
        _ => "?",
    }
}

/// A token and the byte offset it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// `parse error at line L, col C: msg`, Loki's wording, for an error at byte `pos`.
pub fn error_at(src: &str, pos: usize, msg: impl std::fmt::Display) -> Error {
    let (line, col) = line_col(src, pos);
    Error::BadData(format!("parse error at line {line}, col {col}: {msg}"))
}

/// 1-based line and column (in characters) of byte `pos` in `src`.
pub fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = src.get(..pos.min(src.len())).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

pub fn tokenize(src: &str) -> Result<Vec<Token>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // Comments run to the end of the line, as in Loki.
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let two = b.get(i + 1).copied();
        let (tok, len) = match (c, two) {
            (b'{', _) => (Tok::LBrace, 1),
            (b'}', _) => (Tok::RBrace, 1),
            (b'(', _) => (Tok::LParen, 1),
            (b')', _) => (Tok::RParen, 1),
            (b'[', _) => (Tok::LBracket, 1),
            (b']', _) => (Tok::RBracket, 1),
            (b',', _) => (Tok::Comma, 1),
            (b'=', Some(b'=')) => (Tok::EqEq, 2),
            (b'=', Some(b'~')) => (Tok::Re, 2),
            (b'=', _) => (Tok::Eq, 1),
            (b'!', Some(b'=')) => (Tok::Neq, 2),
            (b'!', Some(b'~')) => (Tok::NotRe, 2),
            (b'!', Some(b'>')) => (Tok::NotPattern, 2),
            (b'|', Some(b'=')) => (Tok::PipeEq, 2),
            (b'|', Some(b'~')) => (Tok::PipeRe, 2),
            (b'|', Some(b'>')) => (Tok::PipePattern, 2),
            (b'|', _) => (Tok::Pipe, 1),
            (b'>', Some(b'=')) => (Tok::Gte, 2),
            (b'>', _) => (Tok::Gt, 1),
            (b'<', Some(b'=')) => (Tok::Lte, 2),
            (b'<', _) => (Tok::Lt, 1),
            (b'+', _) => (Tok::Plus, 1),
            (b'-', _) => (Tok::Minus, 1),
            (b'*', _) => (Tok::Star, 1),
            (b'/', _) => (Tok::Slash, 1),
            (b'%', _) => (Tok::Percent, 1),
            (b'^', _) => (Tok::Caret, 1),
            (b'"', _) => {
                let (s, len) = quoted(src, i)?;
                out.push(Token {
                    tok: Tok::Str(s),
                    pos: start,
                });
                i += len;
                continue;
            }
            (b'`', _) => {
                let end = src[i + 1..]
                    .find('`')
                    .ok_or_else(|| error_at(src, i, "unterminated raw string"))?;
                out.push(Token {
                    tok: Tok::Str(src[i + 1..i + 1 + end].to_string()),
                    pos: start,
                });
                i += end + 2;
                continue;
            }
            (c, _)
                if c.is_ascii_digit() || (c == b'.' && two.is_some_and(|d| d.is_ascii_digit())) =>
            {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'.') {
                    j += 1;
                }
                let text = &src[i..j];
                let tok = if let Some(n) = parse_number(text) {
                    Tok::Num(n)
                } else {
                    Tok::Unit(text.to_string())
                };
                (tok, j - i)
            }
            (c, _) if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i;
                // Dots are allowed inside names for json parameters and OTel-style labels
                // in drop/keep; a selector's label names are checked by the parser.
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.')
                {
                    j += 1;
                }
                (Tok::Ident(src[i..j].to_string()), j - i)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(error_at(src, i, format!("unexpected character {ch:?}")));
            }
        };
        out.push(Token { tok, pos: start });
        i += len;
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
    });
    Ok(out)
}

/// A decimal or hexadecimal number, as LogQL writes them (`1`, `0.5`, `1e3`, `0x1f`).
fn parse_number(s: &str) -> Option<f64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).ok().map(|v| v as f64);
    }
    if s.bytes()
        .all(|c| c.is_ascii_digit() || c == b'.' || c == b'e' || c == b'E')
    {
        // `1e` alone is not a number; `5e3` is.
        return s.parse().ok();
    }
    None
}

/// A Go double-quoted string starting at `src[at]`; returns its value and its length.
fn quoted(src: &str, at: usize) -> Result<(String, usize)> {
    let mut out = String::new();
    let mut chars = src[at + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 2)),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'u' | 'U' | 'x' => {
                        let n = match e {
                            'u' => 4,
                            'U' => 8,
                            _ => 2,
                        };
                        let hex: String = (0..n)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        let ch = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                        match ch {
                            Some(ch) if hex.len() == n => out.push(ch),
                            _ => {
                                return Err(error_at(
                                    src,
                                    at + 1 + i,
                                    format!("invalid escape \\{e}{hex} in string"),
                                ))
                            }
                        }
                    }
                    other => {
                        return Err(error_at(
                            src,
                            at + 1 + i,
                            format!(
                                "invalid escape \\{other} in string (write \\\\{other} for a \
                                 backslash, or use a `raw string`)"
                            ),
                        ))
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(error_at(src, at, "unterminated string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn punctuation_strings_numbers_units() {
        assert_eq!(
            toks(r#"{a=~"x\"y"} |= `c\d` != "e" | n >= 1.5 [5m] 20MB"#),
            vec![
                Tok::LBrace,
                Tok::Ident("a".into()),
                Tok::Re,
                Tok::Str("x\"y".into()),
                Tok::RBrace,
                Tok::PipeEq,
                Tok::Str("c\\d".into()),
                Tok::Neq,
                Tok::Str("e".into()),
                Tok::Pipe,
                Tok::Ident("n".into()),
                Tok::Gte,
                Tok::Num(1.5),
                Tok::LBracket,
                Tok::Unit("5m".into()),
                Tok::RBracket,
                Tok::Unit("20MB".into()),
                Tok::Eof,
            ]
        );
        assert_eq!(
            toks("|> !> # c\n1e3")[..3],
            [Tok::PipePattern, Tok::NotPattern, Tok::Num(1000.0)]
        );
    }

    #[test]
    fn errors_point_at_the_character() {
        let e = tokenize("{a=\"b\"}\n  | x @").unwrap_err().to_string();
        assert_eq!(e, "parse error at line 2, col 7: unexpected character '@'");
        assert!(tokenize(r#"{a="b}"#)
            .unwrap_err()
            .to_string()
            .contains("unterminated"));
        assert!(tokenize(r#"|~ "\d""#)
            .unwrap_err()
            .to_string()
            .contains("invalid escape"));
    }
}
