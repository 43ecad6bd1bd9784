//! Splits TraceQL text into tokens with their byte offsets. Attribute references
//! (`span.http.method`, `.foo`, `resource."a b"`, `parent.span.x`) are single tokens,
//! because their names may hold dots, dashes and colons that are operators elsewhere.
//! As in Tempo, a name runs until whitespace or one of `{}()=~!<>&|^,"`.

use super::ast::{Attribute, AttributeScope};
use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    /// An operator, spelled as written (`=`, `!=`, `>>`, `&~`, …).
    Op(&'static str),
    /// A bare word: keyword, intrinsic (`span:duration`) or function name.
    Ident(String),
    Attr(Attribute),
    Str(String),
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    /// Byte offset of the token's first character.
    pub pos: usize,
}

/// Longest first, so `!>>` wins over `!>` and `!`.
const OPS: &[&str] = &[
    "!>>", "!<<", "&>>", "&<<", "&&", "||", "!=", "!~", "=~", ">=", "<=", ">>", "<<", "!>", "!<",
    "&>", "&<", "&~", "=", ">", "<", "~", "!", "+", "-", "*", "/", "%", "^",
];

fn attribute_rune(c: char) -> bool {
    !c.is_whitespace() && !"{}()=~!<>&|^,\"".contains(c)
}

pub fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer { src, pos: 0 };
    let mut out = Vec::new();
    loop {
        let t = lx.next()?;
        let end = t.tok == Tok::Eof;
        out.push(t);
        if end {
            return Ok(out);
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn err(&self, pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError {
            pos,
            message: msg.into(),
        }
    }

    fn next(&mut self) -> Result<Token, ParseError> {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token {
                tok: Tok::Eof,
                pos: start,
            });
        };
        let single = match c {
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = single {
            self.pos += 1;
            return Ok(Token { tok, pos: start });
        }
        if c == '|' && !self.rest().starts_with("||") {
            self.pos += 1;
            return Ok(Token {
                tok: Tok::Pipe,
                pos: start,
            });
        }
        if c == '"' || c == '`' {
            let s = self.string()?;
            return Ok(Token {
                tok: Tok::Str(s),
                pos: start,
            });
        }
        let next_is_digit = self.rest()[c.len_utf8()..].starts_with(|c: char| c.is_ascii_digit());
        if c.is_ascii_digit() || (c == '.' && next_is_digit) {
            let tok = self.number()?;
            return Ok(Token { tok, pos: start });
        }
        if c == '.' {
            self.pos += 1;
            let attr = self.attribute(AttributeScope::Unscoped, false)?;
            return Ok(Token {
                tok: Tok::Attr(attr),
                pos: start,
            });
        }
        if c.is_alphabetic() || c == '_' {
            return self.word(start);
        }
        for op in OPS {
            if self.rest().starts_with(op) {
                self.pos += op.len();
                return Ok(Token {
                    tok: Tok::Op(op),
                    pos: start,
                });
            }
        }
        Err(self.err(start, format!("unexpected character {c:?}")))
    }

    /// A keyword, intrinsic or function name; or a scoped attribute when the word is a
    /// scope followed by a dot.
    fn word(&mut self, start: usize) -> Result<Token, ParseError> {
        let len = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(self.rest().len());
        let word = self.rest()[..len].to_string();
        self.pos += len;
        if self.peek() == Some('.') {
            let mut parent = false;
            let mut scope_word = word.as_str();
            if word == "parent" {
                parent = true;
                self.pos += 1;
                // `parent.span.x` / `parent.resource.x`, or `parent.x` unscoped.
                let rest = self.rest();
                let next = ["span.", "resource."]
                    .into_iter()
                    .find(|p| rest.starts_with(p));
                match next {
                    Some(p) => {
                        scope_word = &p[..p.len() - 1];
                        self.pos += p.len();
                    }
                    None => {
                        let attr = self.attribute(AttributeScope::Unscoped, true)?;
                        return Ok(Token {
                            tok: Tok::Attr(attr),
                            pos: start,
                        });
                    }
                }
            } else {
                self.pos += 1;
            }
            let scope = match scope_word {
                "span" => AttributeScope::Span,
                "resource" => AttributeScope::Resource,
                "event" => AttributeScope::Event,
                "link" => AttributeScope::Link,
                "instrumentation" => AttributeScope::Instrumentation,
                other => {
                    return Err(self.err(
                        start,
                        format!(
                            "unknown attribute scope {other:?}: use span., resource., event., \
                             link., instrumentation., parent. or a leading dot"
                        ),
                    ))
                }
            };
            let attr = self.attribute(scope, parent)?;
            return Ok(Token {
                tok: Tok::Attr(attr),
                pos: start,
            });
        }
        Ok(Token {
            tok: Tok::Ident(word),
            pos: start,
        })
    }

    /// An attribute name after its scope's dot: quoted, or a run of attribute runes.
    fn attribute(&mut self, scope: AttributeScope, parent: bool) -> Result<Attribute, ParseError> {
        let start = self.pos;
        let name = if self.peek() == Some('"') {
            self.string()?
        } else {
            let len = self
                .rest()
                .find(|c: char| !attribute_rune(c))
                .unwrap_or(self.rest().len());
            self.pos += len;
            self.src[start..self.pos].to_string()
        };
        if name.is_empty() {
            return Err(self.err(start, "an attribute name is missing after the dot"));
        }
        Ok(Attribute {
            scope,
            parent,
            name,
        })
    }

    /// A double-quoted string with Go's escapes, or a raw back-quoted one.
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let quote = self.peek().unwrap_or('"');
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(out);
            }
            if c == '\\' && quote == '"' {
                let Some((_, e)) = chars.next() else { break };
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' => '\\',
                    '"' => '"',
                    '\'' => '\'',
                    other => {
                        return Err(self.err(
                            self.pos + i,
                            format!("unknown escape sequence \\{other} in a string"),
                        ))
                    }
                });
                continue;
            }
            out.push(c);
        }
        Err(self.err(start, "a string is not closed"))
    }

    /// An integer, a float, or a duration (`150ms`, `1.5s`, `2h`).
    fn number(&mut self) -> Result<Tok, ParseError> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut i = self.pos;
        let digits = |i: &mut usize| {
            while *i < bytes.len() && bytes[*i].is_ascii_digit() {
                *i += 1;
            }
        };
        digits(&mut i);
        let mut float = false;
        if i < bytes.len() && bytes[i] == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            float = true;
            i += 1;
            digits(&mut i);
        }
        if i < bytes.len()
            && (bytes[i] == b'e' || bytes[i] == b'E')
            && (bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                || (matches!(bytes.get(i + 1), Some(b'+' | b'-'))
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_digit)))
        {
            float = true;
            i += 2;
            digits(&mut i);
        }
        let text = &self.src[start..i];
        self.pos = i;
        let unit_len = self
            .rest()
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(self.rest().len());
        let unit = self.rest()[..unit_len].to_string();
        if !unit.is_empty() {
            let scale: f64 = match unit.as_str() {
                "ns" => 1.0,
                "us" | "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                other => {
                    return Err(self.err(
                        start,
                        format!("unknown duration unit {other:?}: use ns, us, ms, s, m or h"),
                    ))
                }
            };
            self.pos += unit_len;
            let v: f64 = text
                .parse()
                .map_err(|_| self.err(start, format!("invalid duration {text}{unit}")))?;
            let ns = v * scale;
            if !ns.is_finite() || ns.abs() > i64::MAX as f64 {
                return Err(self.err(start, format!("duration {text}{unit} is out of range")));
            }
            return Ok(Tok::Duration(ns.round() as i64));
        }
        if float {
            text.parse()
                .map(Tok::Float)
                .map_err(|_| self.err(start, format!("invalid number {text}")))
        } else {
            match text.parse::<i64>() {
                Ok(v) => Ok(Tok::Int(v)),
                // Beyond i64: a float, as Go's strconv would make of it.
                Err(_) => text
                    .parse()
                    .map(Tok::Float)
                    .map_err(|_| self.err(start, format!("invalid number {text}"))),
            }
        }
    }
}
