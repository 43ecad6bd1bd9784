//! Syslog over TCP (RFC 6587): octet-counting (`LEN SP MSG`) and non-transparent
//! newline framing, told apart per message by its first byte (a digit starts a count, as
//! `<` starts a PRI), as rsyslog and syslog-ng do. Memory per connection is bounded by
//! the longest message accepted: an oversized message is skipped (its count, or up to the
//! next newline) and counted, and the stream stays in step.

/// Splits a connection's bytes into messages.
pub struct Framer {
    max: usize,
    buf: Vec<u8>,
    /// Bytes of an oversized counted message still to skip.
    skip: usize,
    /// Inside an oversized newline-framed message: skip to the next newline.
    skip_line: bool,
    dropped: u64,
}

/// The longest octet count read (10 digits: beyond any sane message size).
const MAX_COUNT_DIGITS: usize = 10;

impl Framer {
    pub fn new(max: usize) -> Framer {
        Framer {
            max,
            buf: Vec::new(),
            skip: 0,
            skip_line: false,
            dropped: 0,
        }
    }

    /// Messages dropped for their size since the last [`Framer::take_dropped`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// Feeds bytes read (`eof`: the peer closed; what is left is the last message) and
    /// appends the complete messages to `out`.
    pub fn feed(&mut self, mut data: &[u8], eof: bool, out: &mut Vec<Vec<u8>>) {
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        if self.skip_line {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.skip_line = false;
                    data = &data[i + 1..];
                }
                None => return,
            }
        }
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        loop {
            while pos < self.buf.len() && matches!(self.buf[pos], b'\n' | b'\r' | 0) {
                pos += 1;
            }
            let rest = &self.buf[pos..];
            if rest.is_empty() {
                break;
            }
            if let Some(count) = octet_count(rest) {
                match count {
                    Count::Need if !eof => break,
                    Count::Need => {}
                    Count::Len(digits, len) => {
                        let start = digits + 1;
                        if len > self.max {
                            self.dropped += 1;
                            let have = rest.len() - start;
                            if have >= len {
                                pos += start + len;
                                continue;
                            }
                            self.skip = len - have;
                            pos = self.buf.len();
                            break;
                        }
                        if rest.len() - start >= len {
                            out.push(rest[start..start + len].to_vec());
                            pos += start + len;
                            continue;
                        }
                        if eof {
                            out.push(rest[start..].to_vec());
                            pos = self.buf.len();
                        }
                        break;
                    }
                }
            }
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let mut line = &rest[..i];
                    if line.last() == Some(&b'\r') {
                        line = &line[..line.len() - 1];
                    }
                    if line.len() > self.max {
                        self.dropped += 1;
                    } else {
                        out.push(line.to_vec());
                    }
                    pos += i + 1;
                }
                None if eof => {
                    if rest.len() > self.max {
                        self.dropped += 1;
                    } else {
                        out.push(rest.to_vec());
                    }
                    pos = self.buf.len();
                }
                None => {
                    if rest.len() > self.max {
                        self.dropped += 1;
                        self.skip_line = true;
                        pos = self.buf.len();
                    }
                    break;
                }
            }
        }
        self.buf.drain(..pos);
    }
}

enum Count {
    /// Digits so far, no space yet: wait for more bytes.
    Need,
    /// (digits, length).
    Len(usize, usize),
}

/// `Some` when `s` starts like an octet count: digits, then a space (or the end).
fn octet_count(s: &[u8]) -> Option<Count> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > MAX_COUNT_DIGITS || s[0] == b'0' {
        return None;
    }
    match s.get(digits) {
        None => Some(Count::Need),
        Some(b' ') => {
            let len = std::str::from_utf8(&s[..digits]).ok()?.parse().ok()?;
            Some(Count::Len(digits, len))
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(max: usize, chunks: &[&[u8]]) -> (Vec<String>, u64) {
        let mut f = Framer::new(max);
        let mut out = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            f.feed(c, i + 1 == chunks.len(), &mut out);
        }
        (
            out.into_iter()
                .map(|v| String::from_utf8(v).unwrap())
                .collect(),
            f.dropped(),
        )
    }

    #[test]
    fn both_framings_in_one_stream() {
        let (out, dropped) = frames(
            100,
            &[
                b"<13>a\n11 <13>1 hello<13>b\r\n",
                b"5 ab",
                b"\ncd<13>c",
                b"",
            ],
        );
        assert_eq!(
            out,
            vec!["<13>a", "<13>1 hello", "<13>b", "ab\ncd", "<13>c"]
        );
        assert_eq!(dropped, 0);
    }

    #[test]
    fn split_anywhere_reads_the_same() {
        let input = b"11 <13>counted<13>line one\n<13>line two\n3 abc";
        for cut in 0..input.len() {
            let (a, b) = input.split_at(cut);
            let (out, _) = frames(100, &[a, b, b""]);
            assert_eq!(
                out,
                vec!["<13>counted", "<13>line one", "<13>line two", "abc"],
                "cut {cut}"
            );
        }
    }

    #[test]
    fn oversized_messages_are_skipped_and_counted() {
        let (out, dropped) = frames(
            5,
            &[b"10 0123456789<13>a\n", b"xxxxxxxxxx", b"xx\n<13>b\n", b""],
        );
        assert_eq!(out, vec!["<13>a", "<13>b"]);
        assert_eq!(dropped, 2);
        let (out, dropped) = frames(4, &[b"10 01", b"23456789", b"ab\n"]);
        assert_eq!((out, dropped), (vec!["ab".to_string()], 1));
    }

    proptest::proptest! {
        #[test]
        fn bounded_and_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300), max in 1usize..50) {
            let mut f = Framer::new(max);
            let mut out = Vec::new();
            for c in data.chunks(7) {
                f.feed(c, false, &mut out);
                proptest::prop_assert!(f.buf.len() <= max + MAX_COUNT_DIGITS + 8);
            }
            f.feed(b"", true, &mut out);
            for m in &out {
                proptest::prop_assert!(m.len() <= max);
            }
        }
    }
}
