//! Tests of the split and join of chunk bodies (formats 2 to 4).

use super::*;
use crate::logs::stamp::CODES;
use proptest::prelude::*;

/// The shapes of `body`'s lines, as `chunk::encode` finds them.
fn shapes_of(body: &[u8], lens: &[u32]) -> ShapeIndex {
    let mut at = 0;
    ShapeIndex::of(lens.iter().map(|&l| {
        let line = &body[at..at + l as usize];
        at += l as usize;
        line
    }))
}

/// [`split`] of lines without times.
fn split_untimed(body: &[u8], lens: &[u32], format: Format) -> (Vec<u8>, usize) {
    split(body, lens, &[], format, &shapes_of(body, lens))
}

/// Splits `body`, cut into lines of `lines` at times `ts`, checks what the split holds,
/// joins it back. Returns the split's digits (format 4: those in the frame, then the
/// packed ones).
fn round_trip(body: &[u8], lines: &[u32], ts: &[i64], format: Format) -> Vec<u8> {
    let (s, at) = split(body, lines, ts, format, &shapes_of(body, lines));
    let (frame, tail) = s.split_at(at);
    assert_eq!(
        join(frame, tail, lines, ts, body.len(), format).as_deref(),
        Some(body)
    );
    // The digits are out of the text (but for hex runs' lengths), and so are the hex
    // runs.
    let t = u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize;
    let mut text = frame[4..4 + t].iter();
    let (mut hex_bytes, mut digits_in) = (0, 0);
    while let Some(&b) = text.next() {
        assert!(!b.is_ascii_digit());
        match b {
            ESCAPE => match text.next() {
                Some(&HEX_MARK) => hex_bytes += usize::from(*text.next().unwrap()).div_ceil(2),
                Some(&UUID_MARK) => hex_bytes += 16,
                _ => {}
            },
            0x10..=0x1F => digits_in += usize::from(b - ESCAPE),
            _ => {}
        }
    }
    let mut pos = 4 + t;
    let mut exact = false;
    if format != Format::V2 {
        let bound = columns::get_uvarint(frame, &mut pos).unwrap();
        for _ in 0..bound {
            columns::get_uvarint(frame, &mut pos).unwrap();
            let code = frame[pos];
            let v4 = format == Format::V4;
            assert!(code < CODES || v4 && (code == PACKED || code & !EXACT < CODES));
            exact |= v4 && code != PACKED && code & EXACT != 0;
            pos += 1;
        }
    }
    if exact {
        // Exact fields keep no digits: the frame's are the others'.
        return frame[pos..].to_vec();
    }
    let got = match format {
        Format::V4 => {
            let mut got = frame[pos..].to_vec();
            let packed = digits_in - got.len();
            assert_eq!(tail.len(), packed_len(packed) + hex_bytes);
            got.extend(unpack_digits(&tail[..packed_len(packed)], packed).unwrap());
            got
        }
        _ => frame[pos..frame.len() - hex_bytes].to_vec(),
    };
    assert_eq!(got.len(), digits_in);
    let digits: Vec<u8> = body.iter().copied().filter(u8::is_ascii_digit).collect();
    if format == Format::V2 || (ts.is_empty() && hex_bytes == 0) {
        // Every digit is there, and in formats 3 and 4 (without times or hex runs) the
        // same ones.
        let (mut a, mut b) = (got.clone(), digits);
        if format != Format::V2 {
            a.sort_unstable();
            b.sort_unstable();
        }
        assert_eq!(a, b);
    }
    // A wrong length, or a cut, is refused.
    assert_eq!(join(frame, tail, lines, ts, body.len() + 1, format), None);
    if !tail.is_empty() {
        let cut = &tail[..tail.len() - 1];
        assert_eq!(join(frame, cut, lines, ts, body.len(), format), None);
    } else if frame.len() > 4 {
        let cut = &frame[..frame.len() - 1];
        assert_eq!(join(cut, tail, lines, ts, body.len(), format), None);
    }
    got
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
            for format in [Format::V2, Format::V3, Format::V4] {
                round_trip(&body, &lines, &[], format);
            }
        }
    }
    // Garbage is refused, not a panic.
    for format in [Format::V2, Format::V3, Format::V4] {
        assert_eq!(join(&[9, 0, 0, 0, 0x1f], &[], &[], &[], 3, format), None);
        assert_eq!(
            join(&[2, 0, 0, 0, 0x0f, b'a'], &[], &[], &[], 1, format),
            None
        );
        assert_eq!(join(&[], &[], &[], &[], 0, format), None);
    }
    // Only format 4 has a tail.
    for format in [Format::V2, Format::V3] {
        assert_eq!(join(&[0, 0, 0, 0, 0], &[1], &[], &[], 0, format), None);
    }
    // Format 3 needs the lines (format 2 does not look at them): lines longer than the
    // body, or a run across a line's end, are refused; so are bindings to fields that
    // are not there or to renderings that do not exist, and differences that are not
    // digits.
    let v3 = |buf: &[u8], lines: &[u32], len| join(buf, &[], lines, &[0, 0], len, Format::V3);
    assert_eq!(v3(&[1, 0, 0, 0, b'a', 0], &[2], 1), None);
    assert_eq!(v3(&[1, 0, 0, 0, 0x11, 0, b'1', b'2'], &[1], 2), None);
    let four = |bound: &[u8], digits: &[u8; 4]| {
        let mut buf = vec![1, 0, 0, 0, 0x13];
        buf.extend_from_slice(bound);
        buf.extend_from_slice(digits);
        v3(&buf, &[4], 4)
    };
    assert_eq!(four(&[0], b"1234").as_deref(), Some(&b"1234"[..]));
    assert_eq!(four(&[1, 0, 0], b"0001").as_deref(), Some(&b"1971"[..]));
    assert_eq!(four(&[1, 1, 0], b"0001"), None);
    assert_eq!(four(&[1, 0, CODES], b"0001"), None);
    // Packed digits and exact fields are format 4's; an exact field needs its line's
    // rendering.
    assert_eq!(four(&[1, 0, PACKED], b"1234"), None);
    assert_eq!(four(&[1, 0, EXACT], b"0000"), None);
    let exact = |ts: &[i64]| {
        join(
            &[1, 0, 0, 0, 0x13, 1, 0, EXACT],
            &[],
            &[4],
            ts,
            4,
            Format::V4,
        )
    };
    assert_eq!(
        exact(&[31_536_000_000_000_000]).as_deref(),
        Some(&b"1971"[..])
    );
    assert_eq!(exact(&[]), None);
    assert_eq!(four(&[1, 0, 0], b"000x"), None);
    let v2 = join(
        &[1, 0, 0, 0, 0x11, b'1', b'2'],
        &[],
        &[1],
        &[],
        2,
        Format::V2,
    );
    assert_eq!(v2.as_deref(), Some(&b"12"[..]));
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
    let got = round_trip(body.as_bytes(), &lens, &[], Format::V3);
    // Fields by (ordinal, byte before): years (0, none), with the last line's 9; months
    // (1, '-'), days (2, '-'), hours (3, ' '), minutes (4, ':'), seconds (5, ':'), the
    // statuses (6, ' '), the times (7, ' '); then the last line's 5 (1, '=').
    assert_eq!(
        std::str::from_utf8(&got).unwrap(),
        "2026202620269121212060606101010000000010209200404201137\
         5"
    );
}

#[test]
fn fields_of_the_lines_own_time_hold_differences() {
    // 2026-12-05 07:08:09.123456789 UTC, then a second later each line.
    let t0 = 1_796_454_489_123_456_789;
    let lines = [
        "2026-12-05 07:08:09,123 GET took 42ms",
        "2026-12-05 07:08:10,123 GET took 7ms",
        // Arrival time: 2 ms after the line's own.
        "2026-12-05 07:08:11,121 GET took 10ms",
        "2026-12-05 07:08:12,123 GET took 88ms",
    ];
    let ts: Vec<i64> = (0..4).map(|i| t0 + i * 1_000_000_000).collect();
    let body = lines.concat();
    let lens: Vec<u32> = lines.iter().map(|l| l.len() as u32).collect();
    let got = round_trip(body.as_bytes(), &lens, &ts, Format::V3);
    // Years, months, days, hours, minutes, seconds, milliseconds: differences (the
    // third line's milliseconds are 121 - 123 modulo 1000); then the times, as they
    // are (they match no rendering, so they are bound to none).
    assert_eq!(
        std::str::from_utf8(&got).unwrap(),
        "000000000000000000000000000000000000000000000000000000000000\
         009980004271088"
    );
    // In format 4, fields that equal their rendering on every line keep no digits:
    // the milliseconds (one line 2 ms off) and the times are left.
    let got = round_trip(body.as_bytes(), &lens, &ts, Format::V4);
    assert_eq!(std::str::from_utf8(&got).unwrap(), "0000009980004271088");
    // In format 2, the digits as they are.
    assert_eq!(
        round_trip(body.as_bytes(), &lens, &ts, Format::V2).len(),
        body.bytes().filter(u8::is_ascii_digit).count()
    );
    // Without times, nothing is bound.
    let got = round_trip(body.as_bytes(), &lens, &[], Format::V3);
    assert!(got.starts_with(b"2026202620262026"));
}

#[test]
fn hex_runs_are_packed_two_digits_to_a_byte() {
    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let lines = [
        "req-3fa9b0c1-1234-5678-9abc-def012345678 ok".to_string(),
        format!("sum {sha}, odd abc123def"),
        // Not hex runs: no digit, a word, too short, upper case.
        "deadbeef feedback abc1234 DEADBEEF12".to_string(),
    ];
    let body = lines.concat();
    let lens: Vec<u32> = lines.iter().map(|l| l.len() as u32).collect();
    let (s, _) = split_untimed(body.as_bytes(), &lens, Format::V3);
    assert_eq!(
        join(&s, &[], &lens, &[], body.len(), Format::V3).as_deref(),
        Some(body.as_bytes())
    );
    // The runs, packed, close the split: 3fa9b0c1, def012345678, the hash, abc123def
    // (odd: a low half of 0 at its end).
    let packed = [
        &[0x3f, 0xa9, 0xb0, 0xc1][..],
        &[0xde, 0xf0, 0x12, 0x34, 0x56, 0x78],
        &[
            0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65, 0x9a, 0x2f, 0xea, 0xa0, 0xc5, 0x5a,
            0xd0, 0x15, 0xa3, 0xbf, 0x4f, 0x1b, 0x2b, 0x0b, 0x82, 0x2c, 0xd1, 0x5d, 0x6c, 0x15,
            0xb0, 0xf0, 0x0a, 0x08,
        ],
        &[0xab, 0xc1, 0x23, 0xde, 0xf0],
    ]
    .concat();
    assert!(s.ends_with(&packed));
    let t = u32::from_le_bytes(s[..4].try_into().unwrap()) as usize;
    let text = &s[4..4 + t];
    assert!(!text.windows(3).any(|w| w == b"3fa" || w == b"9f8"));
    // Hex digits short of a run stay: "9abc" (4) and the others of the last line.
    for kept in [&b"abc"[..], b"deadbeef", b"feedback", b"DEADBEEF"] {
        assert!(text.windows(kept.len()).any(|w| w == kept), "{kept:?}");
    }
    // Refused: a run shorter than the shortest, a padding half that is not 0, hex
    // digits missing or left over.
    let v3 = |text: &[u8], after: &[u8], len| {
        let mut buf = (text.len() as u32).to_le_bytes().to_vec();
        buf.extend_from_slice(text);
        buf.push(0);
        buf.extend_from_slice(after);
        join(&buf, &[], &[len as u32], &[], len, Format::V3)
    };
    let nine = [ESCAPE, HEX_MARK, 9];
    let good = [0xab, 0xc1, 0x23, 0xde, 0xf0];
    assert_eq!(v3(&nine, &good, 9).as_deref(), Some(&b"abc123def"[..]));
    assert_eq!(v3(&[ESCAPE, HEX_MARK, 7], &good[..4], 7), None);
    assert_eq!(v3(&nine, &[0xab, 0xc1, 0x23, 0xde, 0xf1], 9), None);
    assert_eq!(v3(&nine, &good[..4], 9), None);
    assert_eq!(v3(&nine, &[0xab, 0xc1, 0x23, 0xde, 0xf0, 0], 9), None);
    assert_eq!(v3(&nine, &good, 8), None);
}

#[test]
fn random_fields_are_packed_after_the_frame() {
    let mut r = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        r
    };
    let lines: Vec<String> = (0..200)
        .map(|i| format!("blk {:06} took 42ms seq {i}", next() % 1_000_000))
        .collect();
    let body = lines.concat();
    let lens: Vec<u32> = lines.iter().map(|l| l.len() as u32).collect();
    let got = round_trip(body.as_bytes(), &lens, &[], Format::V4);
    let (s, at) = split_untimed(body.as_bytes(), &lens, Format::V4);
    // The block numbers (field 0) are packed: 1,200 digits in 500 bytes, the whole tail.
    // The 42s repeat and the sequence numbers count: both stay in the frame.
    let t = u32::from_le_bytes(s[..4].try_into().unwrap()) as usize;
    assert_eq!(&s[4 + t..4 + t + 3], &[1, 0, PACKED]);
    assert_eq!(s.len() - at, 500);
    let kept = body.bytes().filter(u8::is_ascii_digit).count() - 1200;
    assert_eq!(at - 4 - t - 3, kept);
    assert!(got[..kept].starts_with(b"424242"));
    // In format 3, the same digits stay in the frame.
    let (s3, at3) = split_untimed(body.as_bytes(), &lens, Format::V3);
    assert_eq!((s3.len(), at3), (4 + t + 1 + kept + 1200, s3.len()));
}

#[test]
fn digits_pack_three_to_ten_bits() {
    let all: Vec<u8> = (0..1000)
        .flat_map(|v| format!("{v:03}").into_bytes())
        .collect();
    for n in [0, 1, 2, 3, 4, 5, 2999, 3000] {
        let mut packed = Vec::new();
        pack_digits(&all[..n], &mut packed);
        assert_eq!(packed.len(), packed_len(n));
        assert_eq!(unpack_digits(&packed, n).as_deref(), Some(&all[..n]));
    }
    assert_eq!(packed_len(3000), 1250);
    // Refused: a value of 1000 or more, a last digit of 10 or more, padding that is
    // not zero, a wrong length.
    assert_eq!(unpack_digits(&[0xE8, 0x03], 3), None);
    assert_eq!(unpack_digits(&[0x0A], 1), None);
    assert_eq!(unpack_digits(&[0x15], 1), None);
    assert_eq!(unpack_digits(&[0x05, 0x00], 1), None);
    assert_eq!(unpack_digits(&[0x05], 1).as_deref(), Some(&b"5"[..]));
}

#[test]
fn uuids_are_packed_whole_in_format_4() {
    let lines = [
        "req 3fa9b0c1-1234-5678-9abc-def012345678 ok",
        // Not uuids: a last group one short, upper case, a hex digit after it.
        "3fa9b0c1-1234-5678-9abc-def01234567 3FA9B0C1-1234-5678-9ABC-DEF012345678",
        "3fa9b0c1-1234-5678-9abc-def0123456789",
    ];
    let body = lines.concat();
    let lens: Vec<u32> = lines.iter().map(|l| l.len() as u32).collect();
    round_trip(body.as_bytes(), &lens, &[], Format::V4);
    let (s, at) = split_untimed(body.as_bytes(), &lens, Format::V4);
    let t = u32::from_le_bytes(s[..4].try_into().unwrap()) as usize;
    let text = &s[4..4 + t];
    assert!(text.starts_with(&[b'r', b'e', b'q', b' ', ESCAPE, UUID_MARK, b' ', b'o', b'k']));
    assert_eq!(
        text.windows(2)
            .filter(|w| w == &[ESCAPE, UUID_MARK])
            .count(),
        1
    );
    // Its 32 digits lead the tail (no digits are packed here).
    let uuid = [
        0x3f, 0xa9, 0xb0, 0xc1, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56,
        0x78,
    ];
    assert!(s[at..].starts_with(&uuid));
    // Format 3 leaves it to the hex runs (its 8 and 12 digit groups).
    let (s3, _) = split_untimed(body.as_bytes(), &lens, Format::V3);
    assert!(!s3.windows(2).any(|w| w == [ESCAPE, UUID_MARK]));
    // A uuid past its line's end, or in a format 3 text, is refused.
    let one = |len, format| {
        let buf = [2, 0, 0, 0, ESCAPE, UUID_MARK, 0];
        let tail: &[u8] = if format == Format::V4 { &uuid } else { &[] };
        join(&buf, tail, &[len as u32], &[], len, format)
    };
    assert_eq!(
        one(36, Format::V4).as_deref(),
        Some(&b"3fa9b0c1-1234-5678-9abc-def012345678"[..])
    );
    assert_eq!(one(35, Format::V4), None);
    assert_eq!(one(36, Format::V3), None);
}

/// A piece of a generated line, a rendering of the line's time, or hex digits.
#[derive(Clone, Debug)]
enum Piece {
    Bytes(Vec<u8>),
    Stamp(u8),
    Hex(String),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        proptest::collection::vec(
            prop_oneof![
                Just(b'7'),
                Just(b'0'),
                Just(b'a'),
                Just(b' '),
                Just(0x0f),
                Just(0x1f),
                any::<u8>(),
            ],
            0..20,
        )
        .prop_map(Piece::Bytes),
        (0..CODES).prop_map(Piece::Stamp),
        "[0-9a-f]{1,300}".prop_map(Piece::Hex),
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{11,13}-?".prop_map(Piece::Hex),
    ]
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
        for format in [Format::V2, Format::V3, Format::V4] {
            round_trip(&body, &lines, &[], format);
        }
    }

    #[test]
    fn lines_holding_their_own_time_round_trip(
        lines in proptest::collection::vec(
            (any::<i64>(), proptest::collection::vec(piece(), 0..8)),
            0..12,
        ),
    ) {
        let (mut body, mut lens, mut ts) = (Vec::new(), Vec::new(), Vec::new());
        for (t, pieces) in lines {
            let at = body.len();
            let mut stamp = Stamp::new();
            stamp.at(Some(t));
            for p in pieces {
                match p {
                    Piece::Bytes(b) => body.extend_from_slice(&b),
                    Piece::Stamp(c) => {
                        body.extend_from_slice(stamp.rendering(c).unwrap_or(b"1"))
                    }
                    Piece::Hex(h) => body.extend_from_slice(h.as_bytes()),
                }
            }
            lens.push((body.len() - at) as u32);
            ts.push(t);
        }
        body.extend_from_slice(b"meta 2026");
        for format in [Format::V2, Format::V3, Format::V4] {
            round_trip(&body, &lens, &ts, format);
        }
    }

    /// Lines of a few templates with their digits drawn anew share shapes; the split
    /// copies what it wrote for a shape's first line, and must write exactly what reading
    /// every line whole writes.
    #[test]
    fn lines_of_a_shape_split_as_if_each_were_read_whole(
        templates in proptest::collection::vec(proptest::collection::vec(piece(), 0..6), 1..4),
        draws in proptest::collection::vec(
            (any::<proptest::sample::Index>(), any::<i64>(), any::<u64>()),
            0..40,
        ),
    ) {
        let (mut body, mut lens, mut ts) = (Vec::new(), Vec::new(), Vec::new());
        for (template, t, mut seed) in draws {
            let at = body.len();
            let mut stamp = Stamp::new();
            stamp.at(Some(t));
            let mut redraw = |b: &u8| {
                if !b.is_ascii_digit() {
                    return *b;
                }
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                b'0' + (seed >> 59) as u8 % 10
            };
            for p in template.get(&templates) {
                match p {
                    Piece::Bytes(b) => body.extend(b.iter().map(&mut redraw)),
                    Piece::Stamp(c) => {
                        body.extend_from_slice(stamp.rendering(*c).unwrap_or(b"1"))
                    }
                    Piece::Hex(h) => body.extend(h.as_bytes().iter().map(&mut redraw)),
                }
            }
            lens.push((body.len() - at) as u32);
            ts.push(t);
        }
        for format in [Format::V3, Format::V4] {
            prop_assert_eq!(
                split(&body, &lens, &ts, format, &shapes_of(&body, &lens)),
                split(&body, &lens, &ts, format, &ShapeIndex::untracked())
            );
            round_trip(&body, &lens, &ts, format);
        }
    }
}
