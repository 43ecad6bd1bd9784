//! The line generator: Loghub lines (`../shared/logs/*_2k.log`, one system per file) replayed
//! in file order per system, with their variable parts re-drawn so that repetition does not
//! flatter compression.
//!
//! What is re-drawn, and how (per generated line, from one xorshift stream):
//! - **Timestamps inside the line follow the line's generated time**, as in real logs: every
//!   match of the formats in [`STAMP_PATTERNS`] (ISO-like `2015-10-18 18:01:47,978` with any
//!   of `-./` `T_-` `:.` `,.:` separators, `2005.06.03`, HealthApp's `20171223-22:15:29:606`,
//!   HDFS's `081109 203615`, Spark's `17/06/09 20:10:40`, Android's `03-17 16:13:38.811`,
//!   Proxifier's `[10.30 16:49:06]`, Apache's `Sun Dec 04 04:47:44 2005`, syslog's
//!   `Jun 14 15:16:01`, and 10-digit epoch seconds / 13-digit epoch milliseconds starting with
//!   `1`) is rewritten from the generated time (UTC) in the same layout: field widths,
//!   separators, zero or space padding and fraction digits are kept.
//! - **Every other digit** is replaced by a uniformly drawn digit (pids, ports, counters, IP
//!   octets, sizes, durations, block ids, the digits of ids and hostnames such as `R02-M1`).
//! - **Every hex letter of an id-like token** (a token of `[0-9a-fA-Fx]` at least 8 chars long
//!   with a digit in it: hashes, addresses, uuid parts) is replaced by a drawn hex digit.
//! - Letters elsewhere, punctuation and the order of lines within a system are kept.
//!
//! Each line gets a `level` label detected once per corpus line (the first level word among
//! its first 12 fields, e.g. `INFO`, `[error]`, Android's one-letter level; `unknown` when
//! none), so a stream is `{env="bench", job="<system>", level="<level>"}`.

use std::path::Path;

use anyhow::Context;
use regex::Regex;

/// A fast deterministic PRNG (xorshift64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The in-line timestamp layouts recognised, tried in this order; a later match that
/// overlaps an earlier one is ignored. Group names: `Y` 4-digit year, `y` 2-digit year, `M`
/// month, `b` month name, `a` weekday name, `d` day, `H` `m` `S` time, `f` fraction,
/// `E` epoch seconds, `L` epoch milliseconds.
pub const STAMP_PATTERNS: &[&str] = &[
    r"(?P<Y>(?:19|20)\d\d)[-./](?P<M>[01]\d)[-./](?P<d>[0-3]\d)[ T_-](?P<H>[0-2]\d)[:.](?P<m>[0-5]\d)[:.](?P<S>[0-5]\d)(?:[.,:](?P<f>\d{1,9}))?",
    r"(?P<Y>(?:19|20)\d\d)(?P<M>[01]\d)(?P<d>[0-3]\d)-(?P<H>[0-2]\d):(?P<m>[0-5]\d):(?P<S>[0-5]\d):(?P<f>\d{1,3})",
    r"(?P<Y>(?:19|20)\d\d)\.(?P<M>[01]\d)\.(?P<d>[0-3]\d)",
    r"^(?P<y>\d\d)(?P<M>[01]\d)(?P<d>[0-3]\d) (?P<H>[0-2]\d)(?P<m>[0-5]\d)(?P<S>[0-5]\d)",
    r"^(?P<y>\d\d)/(?P<M>[01]\d)/(?P<d>[0-3]\d) (?P<H>[0-2]\d):(?P<m>[0-5]\d):(?P<S>[0-5]\d)",
    r"^(?P<M>[01]\d)-(?P<d>[0-3]\d) (?P<H>[0-2]\d):(?P<m>[0-5]\d):(?P<S>[0-5]\d)\.(?P<f>\d{3})",
    r"^\[(?P<M>[01]\d)\.(?P<d>[0-3]\d) (?P<H>[0-2]\d):(?P<m>[0-5]\d):(?P<S>[0-5]\d)\]",
    r"(?P<a>Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<b>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?P<d>[ 0-3]\d) (?P<H>[0-2]\d):(?P<m>[0-5]\d):(?P<S>[0-5]\d) (?P<Y>(?:19|20)\d\d)",
    r"(?P<b>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?P<d> \d|[1-3]?\d) (?P<H>[0-2]\d):(?P<m>[0-5]\d):(?P<S>[0-5]\d)",
    r"\b(?P<L>1\d{12})\b",
    r"\b(?P<E>1\d{9})\b",
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

#[derive(Clone, Copy, Debug)]
enum Field {
    Year4,
    Year2,
    Month,
    MonthName,
    Weekday,
    Day,
    Hour,
    Minute,
    Second,
    Fraction,
    EpochS,
    EpochMs,
}

#[derive(Clone, Copy, Debug)]
enum Pad {
    Zero,
    Space,
    None,
}

/// A part of a corpus line: text to re-draw, or a timestamp field to render.
#[derive(Debug)]
enum Piece {
    Text(String),
    Field(Field, usize, Pad),
}

/// One corpus line, parsed once.
pub struct Template {
    pieces: Vec<Piece>,
    /// Index into [`Corpus::levels`].
    pub level: usize,
}

pub struct System {
    pub name: String,
    pub lines: Vec<Template>,
}

pub struct Corpus {
    pub systems: Vec<System>,
    /// Distinct level values, in first-seen order.
    pub levels: Vec<String>,
    /// Timestamps found per corpus line, for the report.
    pub stamped_lines: usize,
    pub total_lines: usize,
}

fn field_of(name: &str) -> Option<Field> {
    Some(match name {
        "Y" => Field::Year4,
        "y" => Field::Year2,
        "M" => Field::Month,
        "b" => Field::MonthName,
        "a" => Field::Weekday,
        "d" => Field::Day,
        "H" => Field::Hour,
        "m" => Field::Minute,
        "S" => Field::Second,
        "f" => Field::Fraction,
        "E" => Field::EpochS,
        "L" => Field::EpochMs,
        _ => return None,
    })
}

/// The line cut into text and timestamp fields.
fn parse_line(line: &str, patterns: &[Regex]) -> (Vec<Piece>, bool) {
    // (start, end, field, pad) of every field of every accepted stamp.
    let mut fields: Vec<(usize, usize, Field, Pad)> = Vec::new();
    let mut taken: Vec<(usize, usize)> = Vec::new();
    for re in patterns {
        for caps in re.captures_iter(line) {
            let Some(m) = caps.get(0) else { continue };
            if taken.iter().any(|&(a, b)| m.start() < b && a < m.end()) {
                continue;
            }
            taken.push((m.start(), m.end()));
            for name in re.capture_names().flatten() {
                let (Some(g), Some(f)) = (caps.name(name), field_of(name)) else {
                    continue;
                };
                let s = g.as_str();
                let pad = if s.starts_with(' ') {
                    Pad::Space
                } else if s.len() == 1 {
                    Pad::None
                } else if matches!(f, Field::Day) && re.as_str().starts_with("(?P<b>") {
                    // Syslog days are space padded.
                    Pad::Space
                } else {
                    Pad::Zero
                };
                fields.push((g.start(), g.end(), f, pad));
            }
        }
    }
    fields.sort_by_key(|f| f.0);
    let mut pieces = Vec::new();
    let mut at = 0;
    for (a, b, f, pad) in &fields {
        if *a > at {
            pieces.push(Piece::Text(line[at..*a].to_string()));
        }
        pieces.push(Piece::Field(*f, b - a, *pad));
        at = *b;
    }
    if at < line.len() {
        pieces.push(Piece::Text(line[at..].to_string()));
    }
    (pieces, !fields.is_empty())
}

/// The level word of a line: the first of its first 12 whitespace fields that names one.
fn detect_level(line: &str) -> &'static str {
    let fields: Vec<&str> = line.split_whitespace().take(12).collect();
    for (i, f) in fields.iter().enumerate() {
        let w = f.trim_matches(|c: char| !c.is_ascii_alphabetic());
        let lvl = match w.to_ascii_lowercase().as_str() {
            "info" | "information" => "info",
            "notice" => "notice",
            "warn" | "warning" => "warn",
            "error" | "err" | "severe" => "error",
            "fatal" | "critical" | "crit" | "failure" => "fatal",
            "debug" => "debug",
            "trace" | "verbose" => "trace",
            // Android: `MM-DD hh:mm:ss.mmm  pid  tid L tag: ...`.
            "v" | "d" | "i" | "w" | "e" | "f"
                if f.len() == 1
                    && w.bytes().all(|b| b.is_ascii_uppercase())
                    && i >= 2
                    && fields[i - 1].bytes().all(|b| b.is_ascii_digit())
                    && fields[i - 2].bytes().all(|b| b.is_ascii_digit()) =>
            {
                match w {
                    "V" => "trace",
                    "D" => "debug",
                    "I" => "info",
                    "W" => "warn",
                    "E" => "error",
                    _ => "fatal",
                }
            }
            _ => continue,
        };
        return lvl;
    }
    "unknown"
}

impl Corpus {
    pub fn load(dir: &Path) -> anyhow::Result<Corpus> {
        let patterns: Vec<Regex> = STAMP_PATTERNS
            .iter()
            .map(|p| Regex::new(p))
            .collect::<Result<_, _>>()?;
        let mut files = Vec::new();
        for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let p = e?.path();
            let Some(system) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix("_2k.log"))
                .map(str::to_lowercase)
            else {
                continue;
            };
            files.push((system, p));
        }
        files.sort();
        anyhow::ensure!(!files.is_empty(), "no *_2k.log files in {}", dir.display());
        let mut levels: Vec<String> = Vec::new();
        let (mut stamped_lines, mut total_lines) = (0, 0);
        let mut systems = Vec::new();
        for (name, path) in files {
            let text = String::from_utf8_lossy(
                &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
            )
            .to_string();
            let mut lines = Vec::new();
            for line in text.lines().filter(|l| !l.is_empty()) {
                let (pieces, stamped) = parse_line(line, &patterns);
                stamped_lines += stamped as usize;
                total_lines += 1;
                let lvl = detect_level(line);
                let level = match levels.iter().position(|l| l == lvl) {
                    Some(i) => i,
                    None => {
                        levels.push(lvl.to_string());
                        levels.len() - 1
                    }
                };
                lines.push(Template { pieces, level });
            }
            systems.push(System { name, lines });
        }
        Ok(Corpus {
            systems,
            levels,
            stamped_lines,
            total_lines,
        })
    }

    /// Average line length plus the newline, bytes.
    pub fn avg_line_bytes(&self) -> f64 {
        let (mut bytes, mut n) = (0usize, 0usize);
        for s in &self.systems {
            for t in &s.lines {
                bytes += 1 + t
                    .pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Text(s) => s.len(),
                        Piece::Field(_, w, _) => *w,
                    })
                    .sum::<usize>();
                n += 1;
            }
        }
        bytes as f64 / n.max(1) as f64
    }
}

/// Civil date (year, month 1-12, day 1-31) of a day count since 1970-01-01.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn push_num(out: &mut String, v: u64, width: usize, pad: Pad) {
    let s = v.to_string();
    let fill = match pad {
        Pad::Zero => '0',
        Pad::Space => ' ',
        Pad::None => '\0',
    };
    if fill != '\0' {
        for _ in s.len()..width {
            out.push(fill);
        }
    }
    out.push_str(&s);
}

/// `text` with every digit re-drawn, and every hex letter inside an id-like token (at
/// least 8 chars of `[0-9a-fA-Fx]` with a digit) re-drawn too. Returns the bits of
/// randomness drawn (log2 10 a digit, 4 a hex digit).
fn redraw(text: &str, rng: &mut Rng, out: &mut String) -> f64 {
    let mut bits = 0.0;
    for tok in text.split_inclusive(|c: char| !c.is_ascii_alphanumeric()) {
        let word = tok.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        let hexy = word.len() >= 8
            && word.bytes().any(|b| b.is_ascii_digit())
            && word.bytes().all(|b| b.is_ascii_hexdigit() || b == b'x');
        for c in tok.chars() {
            if c.is_ascii_digit() {
                out.push((b'0' + (rng.next() % 10) as u8) as char);
                bits += std::f64::consts::LOG2_10;
            } else if hexy && c.is_ascii_hexdigit() {
                out.push(b"0123456789abcdef"[(rng.next() % 16) as usize] as char);
                bits += 4.0;
            } else {
                out.push(c);
            }
        }
    }
    bits
}

impl Template {
    /// Renders the line for generated time `ts_ns` into `out` (cleared first). Returns
    /// the bits of randomness drawn: what any lossless store of the line must keep beyond
    /// its template and time.
    pub fn render(&self, ts_ns: i64, rng: &mut Rng, out: &mut String) -> f64 {
        out.clear();
        let mut bits = 0.0;
        let secs = ts_ns.div_euclid(1_000_000_000);
        let nanos = ts_ns.rem_euclid(1_000_000_000) as u64;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u64;
        let (y, mo, d) = civil(days);
        for p in &self.pieces {
            match *p {
                Piece::Text(ref s) => bits += redraw(s, rng, out),
                Piece::Field(f, w, pad) => match f {
                    Field::Year4 => push_num(out, y as u64, w, Pad::Zero),
                    Field::Year2 => push_num(out, (y % 100) as u64, w, Pad::Zero),
                    Field::Month => push_num(out, u64::from(mo), w, pad),
                    Field::MonthName => out.push_str(MONTHS[(mo - 1) as usize]),
                    Field::Weekday => out.push_str(WEEKDAYS[(days + 3).rem_euclid(7) as usize]),
                    Field::Day => push_num(out, u64::from(d), w, pad),
                    Field::Hour => push_num(out, sod / 3600, w, pad),
                    Field::Minute => push_num(out, sod / 60 % 60, w, pad),
                    Field::Second => push_num(out, sod % 60, w, pad),
                    Field::Fraction => {
                        let w = w.min(9);
                        push_num(out, nanos / 10u64.pow(9 - w as u32), w, Pad::Zero)
                    }
                    Field::EpochS => push_num(out, secs as u64, w, Pad::None),
                    Field::EpochMs => {
                        push_num(out, (ts_ns.div_euclid(1_000_000)) as u64, w, Pad::None)
                    }
                },
            }
        }
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(line: &str, ts_ns: i64) -> String {
        let patterns: Vec<Regex> = STAMP_PATTERNS
            .iter()
            .map(|p| Regex::new(p).unwrap())
            .collect();
        let (pieces, _) = parse_line(line, &patterns);
        let t = Template { pieces, level: 0 };
        let mut out = String::new();
        t.render(ts_ns, &mut Rng(1), &mut out);
        out
    }

    // 2026-12-05 07:08:09.123456789 UTC, a Saturday.
    const TS: i64 = 1_796_454_489_123_456_789;

    #[test]
    fn stamps_follow_the_generated_time_in_their_own_layout() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_454), (2026, 1, 1));
        let cases = [
            (
                "2015-10-18 18:01:47,978 INFO",
                "2026-12-05 07:08:09,123 INFO",
            ),
            ("081109 203615 148 INFO", "261205 070809 "),
            ("17/06/09 20:10:40 INFO", "26/12/05 07:08:09 INFO"),
            ("03-17 16:13:38.811  1702", "12-05 07:08:09.123  "),
            ("[10.30 16:49:06] chrome.exe", "[12.05 07:08:09] chrome.exe"),
            (
                "[Sun Dec 04 04:47:44 2005] [error]",
                "[Sat Dec 05 07:08:09 2026] [error]",
            ),
            ("Jul  1 09:00:55 calvisitor", "Dec  5 07:08:09 calvisitor"),
            ("Nov 9 12:01:01 dn228", "Dec 5 07:08:09 dn"),
            ("20171223-22:15:29:606|Step", "20261205-07:08:09:123|Step"),
            ("- 1117838570 2005.06.03 R02", "- 1796454489 2026.12.05 R"),
            (
                "2005-06-03-15.42.50.675872 R",
                "2026-12-05-07.08.09.123456 R",
            ),
        ];
        for (line, want) in cases {
            let got = render(line, TS);
            assert!(got.starts_with(want), "{line:?} gave {got:?}");
            assert_eq!(got.len(), line.len(), "{line:?} gave {got:?}");
        }
    }

    #[test]
    fn other_digits_and_hex_ids_are_redrawn() {
        let line = "blk_38865049064139660 ok 10.251.73.220:50010 req-38101a0b deadbeef";
        let got = render(line, TS);
        assert_eq!(got.len(), line.len());
        assert!(got.starts_with("blk_") && got.contains(" ok ") && got.ends_with("deadbeef"));
        assert_ne!(got, line);
    }

    #[test]
    fn levels_are_detected_from_the_first_fields() {
        assert_eq!(
            detect_level("2015-10-18 18:01:47,978 INFO [main] x"),
            "info"
        );
        assert_eq!(
            detect_level("[Sun Dec 04 04:47:44 2005] [error] mod_jk"),
            "error"
        );
        assert_eq!(
            detect_level("03-17 16:13:38.811  1702  2395 D WindowManager:"),
            "debug"
        );
        assert_eq!(
            detect_level("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: x"),
            "unknown"
        );
    }
}
