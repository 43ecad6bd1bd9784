//! A log line's own time, written the ways in-line timestamps write it (chunk format 3,
//! `store/FORMAT.md`): most lines start with a timestamp that a shipper parsed into the
//! entry's time, so those digits repeat what the chunk's time column already holds. A field
//! of digit runs (`digits.rs`) that mostly equals one of these renderings stores each run
//! as its difference from its line's rendering, digit by digit modulo 10: zeros where the
//! stamp is the entry's time, small numbers where it is near (a shipper's arrival time),
//! and zstd takes a column of zeros for next to nothing. Renderings are UTC; a line stamped
//! in local time still has its date, minutes and seconds bound.

use chrono::{Datelike, NaiveDate};

/// The renderings, by code: (start, length) in [`Stamp`]'s digit string `YYYYMMDDhhmmss`,
/// then epoch seconds (10 digits), then the nanoseconds of the second (9), so that epoch
/// milliseconds are the epoch seconds and the first three nanosecond digits.
const RENDERINGS: [(usize, usize); 15] = [
    (0, 4),   // 0: year
    (2, 2),   // 1: year, two digits
    (4, 2),   // 2: month
    (6, 2),   // 3: day
    (8, 2),   // 4: hour
    (10, 2),  // 5: minute
    (12, 2),  // 6: second
    (24, 3),  // 7: milliseconds of the second
    (24, 6),  // 8: microseconds of the second
    (24, 9),  // 9: nanoseconds of the second
    (0, 8),   // 10: YYYYMMDD
    (2, 6),   // 11: YYMMDD
    (8, 6),   // 12: hhmmss
    (14, 10), // 13: epoch seconds
    (14, 13), // 14: epoch milliseconds
];

/// How many rendering codes there are (`0..CODES`).
pub(super) const CODES: u8 = RENDERINGS.len() as u8;

/// What stands for a part of the digit string that has no rendering.
const NONE: u8 = 0xFF;

const DIGITS: usize = 33;

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

/// The time of one line at a time ([`Stamp::at`]), rendered on first use. One stamp serves
/// a chunk's lines in turn and keeps the last day's date, which their times mostly share.
pub(super) struct Stamp {
    ts_ns: Option<i64>,
    digits: [u8; DIGITS],
    rendered: bool,
    /// The day (since 1970-01-01) whose `YYYYMMDD` `date` holds ([`NONE`] outside years
    /// 0-9999).
    day: Option<i64>,
    date: [u8; 8],
}

impl Stamp {
    pub(super) fn new() -> Stamp {
        Stamp {
            ts_ns: None,
            digits: [NONE; DIGITS],
            rendered: false,
            day: None,
            date: [NONE; 8],
        }
    }

    /// Moves to a line at `ts_ns` (None: the metadata, which has no time).
    pub(super) fn at(&mut self, ts_ns: Option<i64>) {
        if ts_ns != self.ts_ns {
            self.ts_ns = ts_ns;
            self.rendered = false;
        }
    }

    /// The digits of rendering `code`; None when there is no such code, no time, or no
    /// such rendering of it.
    pub(super) fn rendering(&mut self, code: u8) -> Option<&[u8]> {
        let &(at, n) = RENDERINGS.get(usize::from(code))?;
        if !self.rendered {
            self.render(self.ts_ns?);
        }
        let r = &self.digits[at..at + n];
        (r[0] != NONE).then_some(r)
    }

    /// The rendering a run of `n` digits of a field bound to `code` is stored against, in
    /// a line at `ts_ns`: None when the field is unbound, or the line has no such rendering
    /// of that length.
    pub(super) fn bound(
        &mut self,
        code: Option<u8>,
        ts_ns: Option<i64>,
        n: usize,
    ) -> Option<&[u8]> {
        let code = code?;
        self.at(ts_ns);
        self.rendering(code).filter(|r| r.len() == n)
    }

    fn render(&mut self, ts_ns: i64) {
        let secs = ts_ns.div_euclid(1_000_000_000);
        let day = secs.div_euclid(86_400);
        if self.day != Some(day) {
            self.day = Some(day);
            self.date = [NONE; 8];
            let date = i32::try_from(day + 719_163)
                .ok()
                .and_then(NaiveDate::from_num_days_from_ce_opt)
                .filter(|d| (0..=9999).contains(&d.year()));
            if let Some(d) = date {
                put(&mut self.date[..4], d.year() as u64);
                put(&mut self.date[4..6], u64::from(d.month()));
                put(&mut self.date[6..], u64::from(d.day()));
            }
        }
        let d = &mut self.digits;
        d[..8].copy_from_slice(&self.date);
        if self.date[0] == NONE {
            d[8..14].fill(NONE);
        } else {
            let sod = secs.rem_euclid(86_400) as u64;
            put(&mut d[8..10], sod / 3600);
            put(&mut d[10..12], sod / 60 % 60);
            put(&mut d[12..14], sod % 60);
        }
        if (1_000_000_000..10_000_000_000).contains(&secs) {
            put(&mut d[14..24], secs as u64);
        } else {
            d[14..24].fill(NONE);
        }
        put(&mut d[24..], ts_ns.rem_euclid(1_000_000_000) as u64);
        self.rendered = true;
    }
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
        let mut s = Stamp::new();
        s.at(Some(1_796_454_489_123_456_789));
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
        // The next line, on the next day; then one without a time.
        s.at(Some(1_796_454_489_123_456_789 + 86_400_000_000_000));
        assert_eq!(s.rendering(3), Some(&b"06"[..]));
        assert_eq!(s.rendering(12), Some(&b"070809"[..]));
        s.at(None);
        assert_eq!(s.rendering(0), None);
        // Out of the range of a rendering: it has none.
        let mut early = Stamp::new();
        early.at(Some(5_000_000_000));
        assert_eq!(early.rendering(13), None);
        assert_eq!(early.rendering(14), None);
        assert_eq!(early.rendering(7), Some(&b"000"[..]));
        assert_eq!(early.rendering(0), Some(&b"1970"[..]));
        let mut far = Stamp::new();
        far.at(Some(i64::MAX));
        assert_eq!(far.rendering(0), Some(&b"2262"[..]));
        far.at(Some(i64::MIN));
        assert_eq!(far.rendering(0), Some(&b"1677"[..]));
        assert_eq!(far.rendering(13), None);
    }
}
