//! A chunk's text with its digits moved out, before zstd sees it (chunk formats 2 and 3,
//! `store/FORMAT.md`). Log lines are templates filled with numbers: the templates repeat and
//! zstd finds them, but digits interleaved with text cut its matches short and share one
//! literal code with letters. Each maximal run of ASCII digits in a line is replaced in the
//! text by marker bytes that give its length, and the digits go after the text: the text
//! then repeats whole, and the digits get a literal code of their own.
//!
//! Format 2 keeps the digits in the body's order. Format 3 groups them by the **field**
//! they fill: their marker's ordinal in the line and the text byte before it, so the years
//! of a timestamp at the start of a line stand together, then its months, its hours, and
//! the third number after a space with the other lines' third numbers after a space.
//! Fields that change slowly (the date and hour of in-line timestamps, a stream's pid, a
//! host's address) then repeat back to back and zstd takes them for a few bits; random ones
//! cost what they cost either way. Grouping needs no stored dictionary: a reader finds the
//! same fields in the text it has already decompressed. Measured on the bench's lines, this
//! key groups as well as the whole text of the line before the marker (0.4% apart) with a
//! fiftieth of the keys, and indexes a table instead of a hash map: the join ran at 80 MB/s
//! with the hash map on lines with many ids, above 300 MB/s with the table.
//!
//! Markers: a byte `0x10..=0x1F` stands for the next `byte - 0x0F` digits (1 to 16; a longer
//! run takes several markers). A byte of `0x0F..=0x1F` in the text itself (control
//! characters that logs hardly hold) is written as `0x0F` then the byte. Runs end at line
//! ends.

const ESCAPE: u8 = 0x0F;
const LONGEST: usize = 16;

/// What a byte of the body is: copied as is, a digit, or escaped.
const PLAIN: u8 = 0;
const DIGIT: u8 = 1;
const ESCAPED: u8 = 2;

const CLASS: [u8; 256] = {
    let mut c = [PLAIN; 256];
    let mut b = 0;
    while b < 256 {
        c[b] = match b as u8 {
            b'0'..=b'9' => DIGIT,
            ESCAPE..=0x1F => ESCAPED,
            _ => PLAIN,
        };
        b += 1;
    }
    c
};

/// Where a split puts its digits after the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Order {
    /// In the body's order (chunk format 2).
    Body,
    /// Grouped by field, fields in the order of their first digit, each field's digits in
    /// the body's order (chunk format 3).
    Field,
}

/// The ends of the body's segments: each line, then the rest (the metadata); None when
/// the lines are longer than the body.
fn segment_ends(lines: &[u32], len: usize) -> Option<impl Iterator<Item = usize> + '_> {
    let total = lines
        .iter()
        .try_fold(0usize, |a, &l| a.checked_add(l as usize))?;
    (total <= len).then(|| {
        lines
            .iter()
            .scan(0usize, |at, &l| {
                *at += l as usize;
                Some(*at)
            })
            .chain(std::iter::once(len))
    })
}

/// Markers of a line past this many share their field key's ordinal.
const ORDINALS: usize = 64;

/// The fields of a split, found the same way by [`split`] and [`join`]: a run's field is its
/// marker's ordinal in its line and the text byte before the marker; a chunk has at most
/// 64 x 256 keys.
struct Fields {
    /// Per key, its field plus one (0: not seen yet).
    ids: Vec<u32>,
    /// Digits per field.
    sizes: Vec<usize>,
    /// Markers so far in the current line, and where the line's text starts.
    ordinal: usize,
    line_at: usize,
}

impl Fields {
    fn new() -> Fields {
        Fields {
            ids: vec![0; ORDINALS << 8],
            sizes: Vec::new(),
            ordinal: 0,
            line_at: 0,
        }
    }

    fn line(&mut self, text_at: usize) {
        self.ordinal = 0;
        self.line_at = text_at;
    }

    /// The field of a run of `n` digits whose marker goes at `text.len()`.
    fn run(&mut self, text: &[u8], n: u8) -> u32 {
        let before = match text.len() > self.line_at {
            true => text[text.len() - 1],
            false => 0,
        };
        let key = (self.ordinal.min(ORDINALS - 1) << 8) | usize::from(before);
        self.ordinal += 1;
        let slot = &mut self.ids[key];
        if *slot == 0 {
            self.sizes.push(0);
            *slot = self.sizes.len() as u32;
        }
        let id = *slot - 1;
        self.sizes[id as usize] += usize::from(n);
        id
    }

    /// Where each field's digits start among the digits, and their total.
    fn starts(&self) -> (Vec<usize>, usize) {
        let mut at = 0;
        let starts = self
            .sizes
            .iter()
            .map(|&s| {
                at += s;
                at - s
            })
            .collect();
        (starts, at)
    }
}

/// `body`, whose lines have the lengths `lines` (the metadata after them), as its text with
/// markers followed by its digits in `order`; the text's length comes first (u32 LE).
pub(super) fn split(body: &[u8], lines: &[u32], order: Order) -> Vec<u8> {
    // Written by index into buffers of the largest size they can reach (every byte
    // escaped; every byte a digit): measured 1.7 times as fast as pushing.
    let mut text = vec![0u8; 4 + 2 * body.len()];
    let mut digits = vec![0u8; body.len()];
    let (mut t, mut d) = (4usize, 0usize);
    let mut fields = Fields::new();
    // The field of every run, in the body's order (format 3 only).
    let mut runs: Vec<(u32, u8)> = Vec::new();
    let mut start = 0;
    let ends = segment_ends(lines, body.len());
    debug_assert!(ends.is_some(), "lines longer than the body");
    for end in ends.into_iter().flatten() {
        fields.line(t);
        // Digits of the current run not yet given a marker (the marker goes where the run
        // stood: the text holds nothing in between).
        let mut run = 0u8;
        let mut mark = |text: &mut [u8], t: &mut usize, run: u8| {
            if order == Order::Field {
                runs.push((fields.run(&text[..*t], run), run));
            }
            text[*t] = ESCAPE + run;
            *t += 1;
        };
        for &b in &body[start..end] {
            match CLASS[usize::from(b)] {
                DIGIT => {
                    digits[d] = b;
                    d += 1;
                    run += 1;
                    if usize::from(run) == LONGEST {
                        mark(&mut text, &mut t, run);
                        run = 0;
                    }
                }
                class => {
                    if run > 0 {
                        mark(&mut text, &mut t, run);
                        run = 0;
                    }
                    if class == ESCAPED {
                        text[t] = ESCAPE;
                        t += 1;
                    }
                    text[t] = b;
                    t += 1;
                }
            }
        }
        if run > 0 {
            mark(&mut text, &mut t, run);
        }
        start = end;
    }
    text[..4].copy_from_slice(&((t - 4) as u32).to_le_bytes());
    text.truncate(t);
    match order {
        Order::Body => text.extend_from_slice(&digits[..d]),
        Order::Field => {
            let (mut at, total) = fields.starts();
            text.resize(t + total, 0);
            let grouped = &mut text[t..];
            let mut from = 0;
            for (id, n) in runs {
                let (to, n) = (&mut at[id as usize], usize::from(n));
                grouped[*to..*to + n].copy_from_slice(&digits[from..from + n]);
                *to += n;
                from += n;
            }
        }
    }
    text
}

/// The body [`split`] made `buf` from with `lines` and `order`, which must be `len` bytes;
/// None when `buf` is not such a split.
pub(super) fn join(buf: &[u8], lines: &[u32], len: usize, order: Order) -> Option<Vec<u8>> {
    let t = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    let text = buf.get(4..4usize.checked_add(t)?)?;
    let digits = &buf[4 + t..];
    match order {
        Order::Body => join_in_order(text, digits, len),
        Order::Field => join_by_field(text, digits, lines, len),
    }
}

fn join_in_order(text: &[u8], digits: &[u8], len: usize) -> Option<Vec<u8>> {
    // Written by index into the body's known length, as `split` writes.
    let mut out = vec![0u8; len];
    let (mut o, mut d) = (0usize, 0usize);
    let mut bytes = text.iter();
    while let Some(&b) = bytes.next() {
        if CLASS[usize::from(b)] != ESCAPED {
            *out.get_mut(o)? = b;
            o += 1;
        } else if b == ESCAPE {
            let &e = bytes.next()?;
            if CLASS[usize::from(e)] != ESCAPED {
                return None;
            }
            *out.get_mut(o)? = e;
            o += 1;
        } else {
            let n = usize::from(b - ESCAPE);
            out.get_mut(o..o + n)?
                .copy_from_slice(digits.get(d..d + n)?);
            o += n;
            d += n;
        }
    }
    (d == digits.len() && o == len).then_some(out)
}

fn join_by_field(text: &[u8], digits: &[u8], lines: &[u32], len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; len];
    let mut fields = Fields::new();
    // Every run's field, and where its digits go in `out`; filled once the text is out and
    // every field's size is known.
    let mut runs: Vec<(u32, u8, usize)> = Vec::new();
    let (mut o, mut i) = (0usize, 0usize);
    for end in segment_ends(lines, len)? {
        fields.line(i);
        while o < end {
            let b = *text.get(i)?;
            if CLASS[usize::from(b)] != ESCAPED {
                out[o] = b;
                i += 1;
            } else if b == ESCAPE {
                let e = *text.get(i + 1)?;
                if CLASS[usize::from(e)] != ESCAPED {
                    return None;
                }
                out[o] = e;
                i += 2;
            } else {
                let n = b - ESCAPE;
                if o + usize::from(n) > end {
                    return None;
                }
                runs.push((fields.run(&text[..i], n), n, o));
                i += 1;
                o += usize::from(n);
                continue;
            }
            o += 1;
        }
    }
    let (mut at, total) = fields.starts();
    if i != text.len() || total != digits.len() {
        return None;
    }
    for (id, n, o) in runs {
        let (from, n) = (&mut at[id as usize], usize::from(n));
        out[o..o + n].copy_from_slice(&digits[*from..*from + n]);
        *from += n;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Splits `body` cut into lines of `lines`, checks what the split holds, joins it back.
    fn round_trip(body: &[u8], lines: &[u32], order: Order) {
        let s = split(body, lines, order);
        assert_eq!(join(&s, lines, body.len(), order).as_deref(), Some(body));
        // The digits are out of the text.
        let t = u32::from_le_bytes(s[..4].try_into().unwrap()) as usize;
        assert!(!s[4..4 + t].iter().any(u8::is_ascii_digit));
        let mut digits: Vec<u8> = body.iter().copied().filter(u8::is_ascii_digit).collect();
        let mut got = s[4 + t..].to_vec();
        if order == Order::Field {
            digits.sort_unstable();
            got.sort_unstable();
        }
        assert_eq!(got, digits);
        // A wrong length, or a cut, is refused.
        assert_eq!(join(&s, lines, body.len() + 1, order), None);
        if s.len() > 4 {
            assert_eq!(join(&s[..s.len() - 1], lines, body.len(), order), None);
        }
    }

    #[test]
    fn bodies_split_and_join_back() {
        let long = "9".repeat(40);
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"no digits at all".to_vec(),
            b"2026-12-06 23:48:01.118 pid=7038 took 15ms".to_vec(),
            format!("{long}x{long}").into_bytes(),
            b"tab\tand\x0f\x10\x1f\x1e control bytes 0\x0f1".to_vec(),
            "näive 42 ünïcode 7".as_bytes().to_vec(),
            (0u8..=255).collect(),
        ];
        for body in cases {
            let n = body.len() as u32;
            for lines in [vec![], vec![n], vec![n / 3, n / 3], vec![1; n as usize]] {
                round_trip(&body, &lines, Order::Body);
                round_trip(&body, &lines, Order::Field);
            }
        }
        // Garbage is refused, not a panic.
        for order in [Order::Body, Order::Field] {
            assert_eq!(join(&[9, 0, 0, 0, 0x1f], &[], 3, order), None);
            assert_eq!(join(&[2, 0, 0, 0, 0x0f, b'a'], &[], 1, order), None);
            assert_eq!(join(&[], &[], 0, order), None);
        }
        // Format 3 needs the lines (format 2 does not look at them): lines longer than the
        // body, or a run across a line's end, are refused.
        assert_eq!(join(&[1, 0, 0, 0, b'a'], &[2], 1, Order::Field), None);
        assert_eq!(
            join(&[1, 0, 0, 0, 0x11, b'1', b'2'], &[1], 2, Order::Field),
            None
        );
        assert!(join(&[1, 0, 0, 0, 0x11, b'1', b'2'], &[1], 2, Order::Body).is_some());
    }

    #[test]
    fn digits_stand_grouped_by_field() {
        let lines = [
            "2026-12-06 10:00:01 GET /a 200 in 13ms",
            "2026-12-06 10:00:02 GET /a 404 in 7ms",
            "2026-12-06 10:00:09 PUT /b 201",
            "9 x=5",
        ];
        let body = lines.concat();
        let lens: Vec<u32> = lines.iter().map(|l| l.len() as u32).collect();
        let s = split(body.as_bytes(), &lens, Order::Field);
        let t = u32::from_le_bytes(s[..4].try_into().unwrap()) as usize;
        // Fields by (ordinal, byte before): years (0, none), with the last line's 9; months
        // (1, '-'), days (2, '-'), hours (3, ' '), minutes (4, ':'), seconds (5, ':'), the
        // statuses (6, ' '), the times (7, ' '); then the last line's 5 (1, '=').
        assert_eq!(
            std::str::from_utf8(&s[4 + t..]).unwrap(),
            "2026202620269121212060606101010000000010209200404201137\
             5"
        );
    }

    proptest! {
        #[test]
        fn any_body_and_lines_round_trip(
            body in proptest::collection::vec(
                prop_oneof![
                    Just(b'7'), Just(b'0'), Just(b'a'), Just(b' '), Just(0x0f), Just(0x1f),
                    any::<u8>(),
                ],
                0..300,
            ),
            cuts in proptest::collection::vec(0usize..300, 0..20),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= body.len()).collect();
            cuts.sort_unstable();
            let mut lines = Vec::new();
            let mut at = 0;
            for c in cuts {
                lines.push((c - at) as u32);
                at = c;
            }
            round_trip(&body, &lines, Order::Body);
            round_trip(&body, &lines, Order::Field);
        }
    }
}
