//! A log line's own time, written the ways in-line timestamps write it (chunk format 3,
//! `store/FORMAT.md`): most lines start with a timestamp that a shipper parsed into the
//! entry's time, so those digits repeat what the chunk's time column already holds. A field
//! of digit runs (`digits.rs`) that mostly equals one of these renderings stores each run
//! as its difference from its line's rendering, digit by digit modulo 10: zeros where the
//! stamp is the entry's time, small numbers where it is near (a shipper's arrival time),
//! and zstd takes a column of zeros for next to nothing. Renderings are UTC; a line stamped
//! in local time still has its date, minutes and seconds bound.

use chrono::{DateTime, Datelike, Timelike};

/// The renderings, by reference code: (start, length) in [`Stamp`]'s digit string
/// `YYYYMMDDhhmmss` + nanoseconds (9) + epoch seconds (10) + epoch milliseconds (13).
const RENDERINGS: [(usize, usize); 15] = [
    (0, 4),   // 0: year
    (2, 2),   // 1: year, two digits
    (4, 2),   // 2: month
    (6, 2),   // 3: day
    (8, 2),   // 4: hour
    (10, 2),  // 5: minute
    (12, 2),  // 6: second
    (14, 3),  // 7: milliseconds of the second
    (14, 6),  // 8: microseconds of the second
    (14, 9),  // 9: nanoseconds of the second
    (0, 8),   // 10: YYYYMMDD
    (2, 6),   // 11: YYMMDD
    (8, 6),   // 12: hhmmss
    (23, 10), // 13: epoch seconds
    (33, 13), // 14: epoch milliseconds
];

/// How many reference codes there are (`0..CODES`).
pub(super) const CODES: u8 = RENDERINGS.len() as u8;

/// The codes whose renderings are `n` digits long.
pub(super) fn codes_of_len(n: usize) -> &'static [u8] {
    match n {
        2 => &[1, 2, 3, 4, 5, 6],
        3 => &[7],
        4 => &[0],
        6 => &[8, 11, 12],
        8 => &[10],
        9 => &[9],
        10 => &[13],
        13 => &[14],
        _ => &[],
    }
}

/// One line's time, rendered on first use.
pub(super) struct Stamp {
    ts_ns: Option<i64>,
    digits: Option<[u8; 46]>,
}

impl Stamp {
    /// The stamp of a line at `ts_ns` (None: the metadata, which has no time).
    pub(super) fn of(ts_ns: Option<i64>) -> Stamp {
        Stamp {
            ts_ns,
            digits: None,
        }
    }

    fn digits(&mut self) -> Option<&[u8; 46]> {
        if self.digits.is_none() {
            self.digits = Some(render(self.ts_ns?));
        }
        self.digits.as_ref()
    }

    /// The digits of rendering `code`; None when there is no such code, no time, or no
    /// such rendering of it.
    pub(super) fn rendering(&mut self, code: u8) -> Option<&[u8]> {
        let &(at, n) = RENDERINGS.get(usize::from(code))?;
        let r = &self.digits()?[at..at + n];
        (r[0] != NONE).then_some(r)
    }
}

/// What stands for a part of [`render`]'s digit string that has no rendering.
const NONE: u8 = 0xFF;

/// The digit string of `ts_ns`. Parts that have no such rendering (a year outside 0-9999,
/// epoch values of another width) are [`NONE`].
fn render(ts_ns: i64) -> [u8; 46] {
    let mut out = [NONE; 46];
    let secs = ts_ns.div_euclid(1_000_000_000);
    let nanos = ts_ns.rem_euclid(1_000_000_000) as u32;
    let Some(t) = DateTime::from_timestamp(secs, nanos) else {
        return out;
    };
    if (0..=9999).contains(&t.year()) {
        put(&mut out[0..4], t.year() as u64);
        put(&mut out[4..6], u64::from(t.month()));
        put(&mut out[6..8], u64::from(t.day()));
        put(&mut out[8..10], u64::from(t.hour()));
        put(&mut out[10..12], u64::from(t.minute()));
        put(&mut out[12..14], u64::from(t.second()));
    }
    put(&mut out[14..23], u64::from(nanos));
    if (1_000_000_000..10_000_000_000).contains(&secs) {
        put(&mut out[23..33], secs as u64);
    }
    let ms = ts_ns.div_euclid(1_000_000);
    if (1_000_000_000_000..10_000_000_000_000).contains(&ms) {
        put(&mut out[33..46], ms as u64);
    }
    out
}

/// `v` in decimal, zero padded to fill `out`.
fn put(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_renders_as_stamps_write_it() {
        // 2026-12-05 07:08:09.123456789 UTC.
        let mut s = Stamp::of(Some(1_796_454_489_123_456_789));
        let all: Vec<String> = (0..CODES)
            .map(|c| String::from_utf8(s.rendering(c).unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(
            all,
            [
                "2026",
                "26",
                "12",
                "05",
                "07",
                "08",
                "09",
                "123",
                "123456",
                "123456789",
                "20261205",
                "261205",
                "070809",
                "1796454489",
                "1796454489123"
            ]
        );
        assert_eq!(s.rendering(CODES), None);
        for c in 0..CODES {
            assert!(codes_of_len(s.rendering(c).unwrap().len()).contains(&c));
        }
        // No time, no renderings.
        assert_eq!(Stamp::of(None).rendering(0), None);
        // Out of the range of a rendering: it has none.
        let mut early = Stamp::of(Some(5_000_000_000));
        assert_eq!(early.rendering(13), None);
        assert_eq!(early.rendering(0), Some(&b"1970"[..]));
        assert_eq!(Stamp::of(Some(i64::MIN)).rendering(0), Some(&b"1677"[..]));
        assert_eq!(Stamp::of(Some(i64::MIN)).rendering(13), None);
    }
}
