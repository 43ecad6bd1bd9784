//! The label-set text of Loki's protobuf push (`StreamAdapter.labels`): a Prometheus
//! selector of equality matchers, `{env="prod", job="app"}`, with PromQL's string
//! escapes. Parsed by hand: linear in the input, no recursion, every error names the
//! offset and what was expected.

/// The (name, value) pairs of `text`, in the order written.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
    };
    p.ws();
    p.expect(b'{')?;
    let mut out = Vec::new();
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let name = match p.peek() {
            Some(b'"') | Some(b'\'') | Some(b'`') => p.string()?,
            _ => p.ident()?,
        };
        p.ws();
        p.expect(b'=')?;
        if matches!(p.peek(), Some(b'~')) {
            return Err(p.err("an equality matcher (=): a pushed stream's labels cannot use =~"));
        }
        p.ws();
        let value = p.string()?;
        out.push((name, value));
        p.ws();
        if p.eat(b',') {
            continue;
        }
        p.expect(b'}')?;
        break;
    }
    p.ws();
    if p.pos < p.s.len() {
        return Err(p.err("the end of the label set"));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn err(&self, expected: &str) -> String {
        let mut at = self.pos.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        let near: String = self.text[at..].chars().take(20).collect();
        format!(
            "labels {:?} are not a valid label set: expected {expected} at offset {}, found {near:?}",
            crate::logs::prefix(self.text, 200),
            self.pos
        )
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.err(&format!("{:?}", b as char)))
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            let ok =
                b == b'_' || b.is_ascii_alphabetic() || (self.pos > start && b.is_ascii_digit());
            if !ok {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("a label name"));
        }
        Ok(self.text[start..self.pos].to_string())
    }

    /// A quoted string: "…" and '…' with Go escapes, `…` raw.
    fn string(&mut self) -> Result<String, String> {
        let Some(q @ (b'"' | b'\'' | b'`')) = self.peek() else {
            return Err(self.err("a quoted string"));
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == q || (b == b'\\' && q != b'`') {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                None => return Err(self.err("the closing quote")),
                Some(b) if b == q => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(_) => {
                    self.pos += 1;
                    self.escape(q, &mut out)?;
                }
            }
        }
    }

    fn escape(&mut self, q: u8, out: &mut String) -> Result<(), String> {
        let Some(b) = self.peek() else {
            return Err(self.err("an escaped character"));
        };
        self.pos += 1;
        let c = match b {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'a' => '\x07',
            b'b' => '\x08',
            b'f' => '\x0c',
            b'v' => '\x0b',
            b'\\' => '\\',
            b if b == q => b as char,
            b'x' => return self.hex(2, out),
            b'u' => return self.hex(4, out),
            b'U' => return self.hex(8, out),
            b'0'..=b'7' => {
                let mut v = u32::from(b - b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => return Err(self.err("three octal digits")),
                    }
                }
                char::from_u32(v).ok_or_else(|| self.err("a valid octal escape"))?
            }
            _ => return Err(self.err("a valid escape sequence")),
        };
        out.push(c);
        Ok(())
    }

    fn hex(&mut self, n: usize, out: &mut String) -> Result<(), String> {
        let digits = self
            .text
            .get(self.pos..self.pos + n)
            .ok_or_else(|| self.err(&format!("{n} hex digits")))?;
        let v =
            u32::from_str_radix(digits, 16).map_err(|_| self.err(&format!("{n} hex digits")))?;
        self.pos += n;
        out.push(char::from_u32(v).ok_or_else(|| self.err("a valid code point"))?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, String)> {
        parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_selectors() {
        assert_eq!(
            p(r#"{env="prod", job="app"}"#),
            vec![("env".into(), "prod".into()), ("job".into(), "app".into())]
        );
        assert_eq!(p(" { a = 'x\\'y' , } "), vec![("a".into(), "x'y".into())]);
        assert_eq!(p(r#"{a="\u00e9\n\x41\101", b=`r\aw`}"#)[0].1, "é\nAA");
        assert_eq!(p(r#"{b=`r\aw`}"#)[0].1, "r\\aw");
        assert_eq!(p(r#"{"x.y"="1"}"#)[0].0, "x.y");
        assert!(p("{}").is_empty());
    }

    #[test]
    fn refuses_what_is_not_a_label_set() {
        for bad in [
            "",
            "a",
            "{",
            "{a}",
            "{a=}",
            "{a=\"x}",
            "{a=~\"x\"}",
            "{a=\"x\"} y",
            "{1a=\"x\"}",
            "{a=\"\\q\"}",
            "{a=\"\\u12\"}",
            "{a=\"\\xZZ\"}",
            "{a=\"é\\",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }

        #[test]
        fn reads_what_go_quoting_writes(v in "\\PC{0,20}") {
            let text = format!("{{a={}}}", serde_json::to_string(&v).unwrap());
            proptest::prop_assert_eq!(parse(&text).unwrap(), vec![("a".to_string(), v)]);
        }
    }
}
