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
//! Hex runs (ids and hashes: 8 to 255 bytes of `0-9a-f` with a digit and a letter) leave
//! the text too, behind a three-byte marker, and are stored two hex digits to a byte after
//! the digits: in the text they were a random mix of letters and markers.
//!
//! A field whose runs mostly equal a rendering of their line's own time (`stamp.rs`: the
//! year, the hour, the milliseconds, epoch seconds, ...) is bound to it, and its runs are
//! stored as differences from their line's rendering: the in-line timestamps that a
//! shipper parsed into the entry's time become columns of zeros. The bindings (a few per
//! chunk) stand between the text and the digits.
//!
//! Format 4 stores uuids whole with the hex runs, and packs the digits of fields that look
//! random three to ten bits after the zstd frame, with the hex runs: zstd stored them about 15% above their entropy (its literal
//! code gives a digit 3.4 bits, and its matches of a few random digits cost more than the
//! digits), packed they take 0.3% above it. A bound field whose runs all equal their
//! rendering (a stamp the shipper parsed) is marked exact and stores no digits at all.
//!
//! Markers: a byte `0x10..=0x1F` stands for the next `byte - 0x0F` digits (1 to 16; a longer
//! run takes several markers). A byte of `0x0F..=0x1F` in the text itself (control
//! characters that logs hardly hold) is written as `0x0F` then the byte. Runs end at line
//! ends.

use rustc_hash::FxHashMap;

use super::columns;
use super::shapes::{Seen, ShapeIndex};
use super::stamp::{self, Stamp, CODES};

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

/// The value of a hex digit (`0-9a-f`), or [`NOT_HEX`].
const HEX: [u8; 256] = {
    let mut h = [NOT_HEX; 256];
    let mut b = 0;
    while b < 256 {
        h[b] = match b as u8 {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'a'..=b'f' => c - b'a' + 10,
            _ => NOT_HEX,
        };
        b += 1;
    }
    h
};
const NOT_HEX: u8 = 0xFF;

/// After [`ESCAPE`] in a format 3 text: a hex run, its length in the next byte.
const HEX_MARK: u8 = 0x00;

/// After [`ESCAPE`] in a format 4 text: a uuid (`8-4-4-4-12` hex digits and dashes), its 32
/// hex digits stored with the hex runs. Its 4-digit groups are too short to be hex runs
/// of their own, and left in the text they were random letters among markers.
const UUID_MARK: u8 = 0x01;
const UUID_LEN: usize = 36;
const DASHES: [usize; 4] = [8, 13, 18, 23];

/// The binding code (format 4) of a field whose digits are packed ([`pack_digits`]) after
/// the zstd frame.
const PACKED: u8 = 0xFF;

/// A flag on a binding's code (format 4): every run of the field equals its line's
/// rendering, and the field stores no digits.
const EXACT: u8 = 0x40;

/// The shortest hex run (format 3): ids and hashes, not words that happen to be hex.
const HEX_MIN: usize = 8;

/// Byte buffers kept from one chunk to the next: a split needs a few buffers of up to
/// twice the chunk's size. Freshly allocated, each one's pages were faulted in again for
/// every chunk: under the server's allocator (mimalloc, giving freed pages back at once)
/// log ingestion took 9% less CPU with them kept (5.3 against 5.8 CPU s), and under
/// glibc's about the same (`logbench`, 256 MB, three alternating pairs). One pool for the
/// process, so memory does not grow with the threads that happen to commit: at most
/// `KEPT` buffers of `LARGEST` bytes (about 7 MB held at the bench's peak), and as many
/// run lists of as many bytes.
mod pool {
    use parking_lot::Mutex;

    pub(super) const KEPT: usize = 8;
    pub(super) const LARGEST: usize = 4 << 20;

    static FREE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

    /// An empty buffer with room for `n` bytes.
    pub(in crate::logs) fn take(n: usize) -> Vec<u8> {
        let mut v = FREE.lock().pop().unwrap_or_default();
        v.clear();
        v.reserve(n);
        v
    }

    /// `n` zero bytes.
    pub(in crate::logs) fn zeroed(n: usize) -> Vec<u8> {
        let mut v = take(n);
        v.resize(n, 0);
        v
    }

    /// Keeps `v` for a later [`take`].
    pub(in crate::logs) fn give_back(v: Vec<u8>) {
        if v.capacity() <= LARGEST {
            let mut f = FREE.lock();
            if f.len() < KEPT {
                f.push(v);
            }
        }
    }

    /// A split's list of runs (`super::Run`), grown by pushing: grown afresh for every
    /// chunk, its pages were faulted in again at each doubling.
    static FREE_RUNS: Mutex<Vec<Vec<super::Run>>> = Mutex::new(Vec::new());

    /// An empty run list.
    pub(super) fn take_runs() -> Vec<super::Run> {
        let mut v = FREE_RUNS.lock().pop().unwrap_or_default();
        v.clear();
        v
    }

    /// Keeps `v` for a later [`take_runs`], within the same bounds as byte buffers.
    pub(super) fn give_back_runs(v: Vec<super::Run>) {
        if v.capacity() * std::mem::size_of::<super::Run>() <= LARGEST {
            let mut f = FREE_RUNS.lock();
            if f.len() < KEPT {
                f.push(v);
            }
        }
    }
}

/// A run of digits in a split: its field, its length and its line.
type Run = (u32, u8, u32);

pub(super) use pool::{give_back, take as take_buffer};

/// The chunk format of a split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    /// Digits in the body's order.
    V2,
    /// Digits grouped by field; a field that mostly equals a rendering of its lines' time
    /// (`stamp.rs`) is bound to it and holds differences from it.
    V3,
    /// As V3, and fields whose digits look random are packed three digits to ten bits
    /// after the zstd frame, with the hex runs.
    V4,
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

/// A field's binding is decided on this many of its first runs: enough to tell a stamp
/// from chance, few enough that comparing costs nothing on a chunk of thousands of lines.
const SAMPLE: u32 = 64;

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
    /// Per field (split only): its runs, and how many equal each rendering of their line's
    /// time.
    runs: Vec<u32>,
    hits: Vec<[u32; CODES as usize]>,
    /// Per field (split only): how its sampled digits look, for [`Self::random`].
    looks: Vec<Looks>,
    /// Markers so far in the current line, and where the line's text starts.
    ordinal: usize,
    line_at: usize,
}

impl Fields {
    fn new() -> Fields {
        Fields {
            ids: vec![0; ORDINALS << 8],
            sizes: Vec::new(),
            runs: Vec::new(),
            hits: Vec::new(),
            looks: Vec::new(),
            ordinal: 0,
            line_at: 0,
        }
    }

    fn line(&mut self, text_at: usize) {
        self.ordinal = 0;
        self.line_at = text_at;
    }

    /// The field of a run of `n` digits whose marker goes at `text.len()`.
    #[inline]
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

    /// Counts the run `digits[at..]` of field `id` at `stamp`'s line, for
    /// [`Self::bindings`], among the field's first [`SAMPLE`] runs.
    #[inline]
    fn count(&mut self, id: u32, digits: &[u8], at: usize, stamp: &mut Stamp) {
        let id = id as usize;
        if self.runs.get(id) == Some(&SAMPLE) {
            return;
        }
        self.count_cold(id, digits, at, stamp);
    }

    #[inline(never)]
    fn count_cold(&mut self, id: usize, digits: &[u8], at: usize, stamp: &mut Stamp) {
        if self.runs.len() <= id {
            self.runs.resize(id + 1, 0);
            self.hits.resize(id + 1, [0; CODES as usize]);
            self.looks.resize(id + 1, Looks::default());
        }
        self.runs[id] += 1;
        let run = &digits[at..];
        for &c in stamp::codes_of_len(run.len()) {
            if stamp.rendering(c) == Some(run) {
                self.hits[id][usize::from(c)] += 1;
            }
        }
        self.looks[id].add(digits, at);
    }

    /// Per field, how its digits are stored: bound to the rendering that most of its
    /// sampled runs (at least two, and at least half) equal; else, when `pack` (format 4)
    /// and its digits look random, [`PACKED`]; else as they are (None).
    fn bindings(&self, pack: bool) -> Vec<Option<u8>> {
        (0..self.sizes.len())
            .map(|id| {
                let (runs, hits) = (*self.runs.get(id)?, self.hits.get(id)?);
                let (code, &best) = hits.iter().enumerate().max_by_key(|&(_, h)| *h)?;
                if best >= 2 && 2 * best >= runs {
                    return Some(code as u8);
                }
                (pack && self.looks[id].random(runs)).then_some(PACKED)
            })
            .collect()
    }

    /// Where each field's digits start among the digits of its kind (packed or not, by
    /// `bound`; an exact field has none), and the totals of both kinds (not packed, packed).
    fn starts(&self, bound: &[Option<u8>]) -> (Vec<usize>, usize, usize) {
        let (mut plain, mut packed) = (0, 0);
        let starts = self
            .sizes
            .iter()
            .zip(bound)
            .map(|(&s, &b)| {
                let at = match b {
                    Some(PACKED) => &mut packed,
                    Some(c) if c & EXACT != 0 => return plain,
                    _ => &mut plain,
                };
                *at += s;
                *at - s
            })
            .collect();
        (starts, plain, packed)
    }
}

/// The shortest run whose repeats [`Looks`] counts.
const LONG_RUN: usize = 6;

/// How a field's sampled digits look: whether zstd could find anything in them or they
/// are best stored at their entropy ([`PACKED`]).
#[derive(Clone, Default)]
struct Looks {
    /// The previous run, as its place among the split's digits and its length.
    prev: (usize, usize),
    /// Digits compared with the previous run's at the same place from the right, and how
    /// many were equal.
    compared: u32,
    same: u32,
    /// Runs of [`LONG_RUN`] digits or more equal to one of the field's last four such
    /// runs, and those four (as numbers, with their length). Shorter runs are left out: they
    /// repeat by chance, and zstd gains nothing by matching them.
    repeats: u32,
    recent: [u64; 4],
    hist: [u32; 10],
}

impl Looks {
    fn add(&mut self, digits: &[u8], at: usize) {
        let run = &digits[at..];
        let (p, n) = self.prev;
        let prev = &digits[p..p + n];
        for (a, b) in run.iter().rev().zip(prev.iter().rev()) {
            self.compared += 1;
            self.same += u32::from(a == b);
        }
        for &d in run {
            self.hist[usize::from(d - b'0')] += 1;
        }
        if run.len() >= LONG_RUN {
            let value = run.iter().fold(run.len() as u64, |v, &d| {
                v.wrapping_mul(10).wrapping_add(u64::from(d))
            });
            if self.recent.contains(&value) {
                self.repeats += 1;
            }
            self.recent.rotate_right(1);
            self.recent[0] = value;
        }
        self.prev = (at, run.len());
    }

    /// Whether the field's `runs` sampled runs look like random digits: enough of them,
    /// near 3.32 bits a digit (from the histogram), rarely equal to the run before at the
    /// same place, and hardly a run repeated. zstd stores such digits about 15% above their
    /// entropy (its matches of a few random digits cost more than the digits); packed they
    /// take 0.3% above it.
    fn random(&self, runs: u32) -> bool {
        let n: u32 = self.hist.iter().sum();
        if n < 64 || self.compared < 32 || 5 * self.same > self.compared || 16 * self.repeats > runs
        {
            return false;
        }
        let bits: f64 = self
            .hist
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = f64::from(c) / f64::from(n);
                -p * p.log2()
            })
            .sum();
        bits >= 3.0
    }
}

/// How [`split`] wrote a line, to write the next line of its shape (`shapes.rs`) the same
/// way: the two differ only in their digits, so the text is the same, and their runs of
/// digits and their hex runs stand at the same places.
struct LineSplit {
    text: Vec<u8>,
    /// Each run's place in the line, its length and its field.
    runs: Vec<(usize, u8, u32)>,
    hexes: Vec<(usize, usize, bool)>,
}

/// `body`, whose lines have the lengths `lines` and the times `ts` (the metadata after
/// them), as its text with markers followed by its digits as `format` has them; the text's
/// length comes first (u32 LE). Returns the split and where its tail starts: what goes
/// after the zstd frame (format 4: the packed digits and the hex runs; empty before).
/// `shapes` are the lines' (`shapes.rs`); [`ShapeIndex::untracked`] reads every line whole,
/// with the same result.
pub(super) fn split(
    body: &[u8],
    lines: &[u32],
    ts: &[i64],
    format: Format,
    shapes: &ShapeIndex,
) -> (Vec<u8>, usize) {
    let grouped = format != Format::V2;
    let mut learned: FxHashMap<usize, LineSplit> = FxHashMap::default();
    // Where each run of the current line starts in it.
    let mut run_starts: Vec<usize> = Vec::new();
    // Written by index into buffers of the largest size they can reach (every byte
    // escaped; every byte a digit): measured 1.7 times as fast as pushing.
    let mut text = pool::zeroed(4 + 2 * body.len());
    let mut digits = pool::zeroed(body.len());
    let (mut t, mut d) = (4usize, 0usize);
    let mut fields = Fields::new();
    // The field and line of every run, in the body's order (format 3 only).
    let mut runs = pool::take_runs();
    // The hex runs' digits, two to a byte, and a line's hex runs (format 3 only).
    let mut hex = pool::take(0);
    let mut hexes: Vec<(usize, usize, bool)> = Vec::new();
    let mut start = 0;
    let ends = segment_ends(lines, body.len());
    debug_assert!(ends.is_some(), "lines longer than the body");
    let mut stamp = Stamp::new();
    for (line, end) in ends.into_iter().flatten().enumerate() {
        fields.line(t);
        stamp.at(ts.get(line).copied());
        let src = &body[start..end];
        let shape = if grouped {
            shapes.seen(line)
        } else {
            Seen::Untracked
        };
        if let Some(seen) = match shape {
            Seen::Like(j) => learned.get(&j),
            _ => None,
        } {
            text[t..t + seen.text.len()].copy_from_slice(&seen.text);
            t += seen.text.len();
            for &(at, n, id) in &seen.runs {
                let len = usize::from(n);
                digits[d..d + len].copy_from_slice(&src[at..at + len]);
                d += len;
                fields.sizes[id as usize] += len;
                fields.count(id, &digits[..d], d - len, &mut stamp);
                runs.push((id, n, line as u32));
            }
            for &(at, n, uuid) in &seen.hexes {
                pack_hex_run(&src[at..at + n], uuid, &mut hex);
            }
            start = end;
            continue;
        }
        let (text_at, runs_at) = (t, runs.len());
        run_starts.clear();
        // Digits of the current run not yet given a marker (the marker goes where the run
        // stood: the text holds nothing in between).
        let mut run = 0u8;
        let mut mark = |text: &mut [u8], t: &mut usize, digits: &[u8], run: u8| {
            if grouped {
                let id = fields.run(&text[..*t], run);
                fields.count(id, digits, digits.len() - usize::from(run), &mut stamp);
                runs.push((id, run, line as u32));
            }
            text[*t] = ESCAPE + run;
            *t += 1;
        };
        hexes.clear();
        if grouped {
            hex_runs(&body[start..end], format == Format::V4, &mut hexes);
        }
        let mut p = start;
        for k in 0..=hexes.len() {
            let (plain_end, hex_len, uuid) = match hexes.get(k) {
                Some(&(at, n, uuid)) => (start + at, n, uuid),
                None => (end, 0, false),
            };
            for (i, &b) in body[p..plain_end].iter().enumerate() {
                match CLASS[usize::from(b)] {
                    DIGIT => {
                        if run == 0 && shape == Seen::First {
                            run_starts.push(p - start + i);
                        }
                        digits[d] = b;
                        d += 1;
                        run += 1;
                        if usize::from(run) == LONGEST {
                            mark(&mut text, &mut t, &digits[..d], run);
                            run = 0;
                        }
                    }
                    class => {
                        if run > 0 {
                            mark(&mut text, &mut t, &digits[..d], run);
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
            // A hex run follows a byte that is no hex digit: no run of digits is open.
            if uuid {
                text[t..t + 2].copy_from_slice(&[ESCAPE, UUID_MARK]);
                t += 2;
                pack_hex_run(&body[plain_end..plain_end + UUID_LEN], true, &mut hex);
            } else if hex_len > 0 {
                text[t..t + 3].copy_from_slice(&[ESCAPE, HEX_MARK, hex_len as u8]);
                t += 3;
                pack_hex_run(&body[plain_end..plain_end + hex_len], false, &mut hex);
            }
            p = plain_end + hex_len;
        }
        if run > 0 {
            mark(&mut text, &mut t, &digits[..d], run);
        }
        if shape == Seen::First {
            learned.insert(
                line,
                LineSplit {
                    text: text[text_at..t].to_vec(),
                    runs: runs[runs_at..]
                        .iter()
                        .zip(&run_starts)
                        .map(|(&(id, n, _), &at)| (at, n, id))
                        .collect(),
                    hexes: hexes.clone(),
                },
            );
        }
        start = end;
    }
    text[..4].copy_from_slice(&((t - 4) as u32).to_le_bytes());
    text.truncate(t);
    if format == Format::V2 {
        text.extend_from_slice(&digits[..d]);
        pool::give_back(digits);
        pool::give_back(hex);
        pool::give_back_runs(runs);
        let at = text.len();
        return (text, at);
    }
    let mut bound = fields.bindings(format == Format::V4);
    let (mut at, plain, packed) = fields.starts(&bound);
    let starts = at.clone();
    let mut grouped = pool::zeroed(plain);
    let mut loose = pool::zeroed(packed);
    // Per field (format 4): whether every run equals its line's rendering, so that no digit
    // need be stored.
    let mut exact: Vec<bool> = bound
        .iter()
        .map(|b| format == Format::V4 && matches!(b, Some(c) if *c < CODES))
        .collect();
    let mut from = 0;
    for &(id, n, line) in &runs {
        let (id, n) = (id as usize, usize::from(n));
        let to = &mut at[id];
        let src = &digits[from..from + n];
        from += n;
        let dst = match bound[id] {
            Some(PACKED) => &mut loose[*to..*to + n],
            _ => &mut grouped[*to..*to + n],
        };
        *to += n;
        if let Some(r) = stamp.bound(bound[id], ts.get(line as usize).copied(), n) {
            less(dst, src, r);
            if exact[id] && dst.iter().any(|&d| d != b'0') {
                exact[id] = false;
            }
            continue;
        }
        exact[id] = false;
        dst.copy_from_slice(src);
    }
    for (b, &e) in bound.iter_mut().zip(&exact) {
        if let (Some(code), true) = (b.as_mut(), e) {
            *code |= EXACT;
        }
    }
    columns::put_uvarint(&mut text, bound.iter().flatten().count() as u64);
    for (id, code) in bound.iter().enumerate() {
        if let &Some(code) = code {
            columns::put_uvarint(&mut text, id as u64);
            text.push(code);
        }
    }
    for (id, (&start, &size)) in starts.iter().zip(&fields.sizes).enumerate() {
        if bound[id] != Some(PACKED) && !exact[id] {
            text.extend_from_slice(&grouped[start..start + size]);
        }
    }
    let tail = text.len();
    pack_digits(&loose, &mut text);
    text.extend_from_slice(&hex);
    pool::give_back(digits);
    pool::give_back(grouped);
    pool::give_back(loose);
    pool::give_back(hex);
    pool::give_back_runs(runs);
    match format {
        Format::V4 => (text, tail),
        _ => {
            let at = text.len();
            (text, at)
        }
    }
}

/// Packs a hex run of a line, or a uuid without its dashes, after the hex runs before it.
fn pack_hex_run(run: &[u8], uuid: bool, hex: &mut Vec<u8>) {
    if !uuid {
        pack_hex(run, hex);
        return;
    }
    let mut digits = [0u8; UUID_LEN - DASHES.len()];
    let hex_digits = run.iter().enumerate().filter(|(k, _)| !DASHES.contains(k));
    for (d, (_, &b)) in digits.iter_mut().zip(hex_digits) {
        *d = b;
    }
    pack_hex(&digits, hex);
}

/// Appends ASCII `digits` packed three to ten bits (a value below 1000), least
/// significant bits first; a last one or two digits take 4 or 7 bits; zero bits pad the
/// last byte.
fn pack_digits(digits: &[u8], out: &mut Vec<u8>) {
    let (mut acc, mut bits) = (0u64, 0u32);
    let mut put = |v: u64, n: u32, out: &mut Vec<u8>| {
        acc |= v << bits;
        bits += n;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    };
    let value = |g: &[u8]| g.iter().fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'));
    let mut groups = digits.chunks_exact(3);
    for g in &mut groups {
        put(value(g), 10, out);
    }
    let last = groups.remainder();
    match last.len() {
        1 => put(value(last), 4, out),
        2 => put(value(last), 7, out),
        _ => {}
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

/// The bytes [`pack_digits`] takes for `n` digits.
fn packed_len(n: usize) -> usize {
    (n / 3 * 10 + [0, 4, 7][n % 3]).div_ceil(8)
}

/// The `n` ASCII digits [`pack_digits`] packed into `packed` (exactly [`packed_len`] bytes
/// long); None when a value is out of range or the padding is not zero.
fn unpack_digits(packed: &[u8], n: usize) -> Option<Vec<u8>> {
    if packed.len() != packed_len(n) {
        return None;
    }
    let mut out = vec![0u8; n];
    let (mut acc, mut bits) = (0u64, 0u32);
    let mut bytes = packed.iter();
    let mut take = |k: u32| -> Option<u64> {
        while bits < k {
            acc |= u64::from(*bytes.next()?) << bits;
            bits += 8;
        }
        let v = acc & ((1 << k) - 1);
        acc >>= k;
        bits -= k;
        Some(v)
    };
    let mut groups = out.chunks_exact_mut(3);
    for g in &mut groups {
        let v = take(10)?;
        if v >= 1000 {
            return None;
        }
        let v = v as u16;
        g.copy_from_slice(&[
            b'0' + (v / 100) as u8,
            b'0' + (v / 10 % 10) as u8,
            b'0' + (v % 10) as u8,
        ]);
    }
    let last = groups.into_remainder();
    match last.len() {
        1 => {
            let v = take(4)?;
            if v >= 10 {
                return None;
            }
            last[0] = b'0' + v as u8;
        }
        2 => {
            let v = take(7)?;
            if v >= 100 {
                return None;
            }
            last.copy_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8]);
        }
        _ => {}
    }
    (acc == 0).then_some(out)
}

/// The hex runs of `line` into `out`, as (start, length, false): maximal runs of `0-9a-f`
/// of [`HEX_MIN`] to 255 bytes with a digit and a letter; and, with `uuids`, the uuids
/// (`8-4-4-4-12`, lower case) as (start, 36, true). A run that long holds one of every
/// [`HEX_MIN`] positions, so only those are looked at, and the runs around the ones that
/// are hex digits (the split ran 13% faster than with a test at every byte); a uuid's first
/// group is such a run.
fn hex_runs(line: &[u8], uuids: bool, out: &mut Vec<(usize, usize, bool)>) {
    let hex = |i: usize| HEX[usize::from(line[i])];
    let mut k = HEX_MIN - 1;
    while k < line.len() {
        if hex(k) == NOT_HEX {
            k += HEX_MIN;
            continue;
        }
        let mut s = k;
        while s > 0 && hex(s - 1) != NOT_HEX {
            s -= 1;
        }
        let mut e = k + 1;
        while e < line.len() && hex(e) != NOT_HEX {
            e += 1;
        }
        if uuids && e - s == 8 && is_uuid(&line[s..]) {
            out.push((s, UUID_LEN, true));
            k = s + UUID_LEN + HEX_MIN;
            continue;
        }
        let (digit, letter) = line[s..e].iter().fold((false, false), |(d, l), &b| {
            (d | b.is_ascii_digit(), l | !b.is_ascii_digit())
        });
        if (HEX_MIN..=255).contains(&(e - s)) && digit && letter {
            out.push((s, e - s, false));
        }
        // The next run starts after `e`, which is no hex digit.
        k = e + HEX_MIN;
    }
}

/// Whether `t` starts with a uuid that no hex digit follows.
fn is_uuid(t: &[u8]) -> bool {
    t.len() >= UUID_LEN
        && (0..UUID_LEN).all(|i| match DASHES.contains(&i) {
            true => t[i] == b'-',
            false => HEX[usize::from(t[i])] != NOT_HEX,
        })
        && t.get(UUID_LEN)
            .is_none_or(|&b| HEX[usize::from(b)] == NOT_HEX)
}

/// Appends the hex digits `run` to `out`, two to a byte, the first in the high half; an odd
/// run's last byte has a low half of 0.
pub(super) fn pack_hex(run: &[u8], out: &mut Vec<u8>) {
    for pair in run.chunks(2) {
        let hi = HEX[usize::from(pair[0])];
        let lo = pair.get(1).map_or(0, |&b| HEX[usize::from(b)]);
        out.push(hi << 4 | lo);
    }
}

/// `out = a - b`, decimal digits, modulo 10^n.
fn less(out: &mut [u8], a: &[u8], b: &[u8]) {
    let mut borrow = 0;
    for i in (0..out.len()).rev() {
        let mut x = a[i] as i8 - b[i] as i8 - borrow;
        borrow = i8::from(x < 0);
        x += 10 * borrow;
        out[i] = b'0' + x as u8;
    }
}

/// `out += b`, decimal digits, modulo 10^n: undoes [`less`].
fn add(out: &mut [u8], b: &[u8]) {
    let mut carry = 0;
    for i in (0..out.len()).rev() {
        let mut x = (out[i] - b'0') + (b[i] - b'0') + carry;
        carry = u8::from(x >= 10);
        x -= 10 * carry;
        out[i] = b'0' + x;
    }
}

/// The body [`split`] made `buf` and `tail` from (the split up to and from where its tail
/// starts) with `lines`, `ts` and `format`, which must be `len` bytes; None when they are
/// not such a split.
pub(super) fn join(
    buf: &[u8],
    tail: &[u8],
    lines: &[u32],
    ts: &[i64],
    len: usize,
    format: Format,
) -> Option<Vec<u8>> {
    let t = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    let text = buf.get(4..4usize.checked_add(t)?)?;
    let digits = &buf[4 + t..];
    match format {
        Format::V2 if tail.is_empty() => join_in_order(text, digits, len),
        Format::V3 if tail.is_empty() => join_grouped(text, digits, None, lines, ts, len),
        Format::V4 => join_grouped(text, digits, Some(tail), lines, ts, len),
        _ => None,
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

/// [`join`] of a format 3 split (`tail` None: the hex runs end `rest`) or format 4.
fn join_grouped(
    text: &[u8],
    rest: &[u8],
    tail: Option<&[u8]>,
    lines: &[u32],
    ts: &[i64],
    len: usize,
) -> Option<Vec<u8>> {
    let mut out = vec![0u8; len];
    let mut fields = Fields::new();
    // Every run's field and line, and where its digits go in `out`; filled once the text
    // is out and every field's size is known.
    let mut runs: Vec<(u32, u8, u32, usize)> = Vec::new();
    // Where each hex run goes, and its length; filled from after the digits.
    let mut hexes: Vec<(usize, u8, bool)> = Vec::new();
    let (mut o, mut i) = (0usize, 0usize);
    for (line, end) in segment_ends(lines, len)?.enumerate() {
        fields.line(i);
        while o < end {
            let b = *text.get(i)?;
            if CLASS[usize::from(b)] != ESCAPED {
                out[o] = b;
                i += 1;
            } else if b == ESCAPE {
                let e = *text.get(i + 1)?;
                if e == HEX_MARK {
                    let n = *text.get(i + 2)?;
                    if usize::from(n) < HEX_MIN || o + usize::from(n) > end {
                        return None;
                    }
                    hexes.push((o, n, false));
                    i += 3;
                    o += usize::from(n);
                    continue;
                }
                if e == UUID_MARK && tail.is_some() {
                    if o + UUID_LEN > end {
                        return None;
                    }
                    hexes.push((o, UUID_LEN as u8, true));
                    i += 2;
                    o += UUID_LEN;
                    continue;
                }
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
                runs.push((fields.run(&text[..i], n), n, line as u32, o));
                i += 1;
                o += usize::from(n);
                continue;
            }
            o += 1;
        }
    }
    if i != text.len() {
        return None;
    }
    let mut bound: Vec<Option<u8>> = vec![None; fields.sizes.len()];
    let mut pos = 0;
    for _ in 0..columns::get_uvarint(rest, &mut pos)? {
        let id = columns::get_uvarint(rest, &mut pos)?;
        let &code = rest.get(pos)?;
        pos += 1;
        let v4 = tail.is_some();
        if !(code < CODES || v4 && (code == PACKED || (code & !EXACT) < CODES)) {
            return None;
        }
        *bound.get_mut(usize::try_from(id).ok()?)? = Some(code);
    }
    let (mut at, plain, packed) = fields.starts(&bound);
    let digits = rest.get(pos..pos.checked_add(plain)?)?;
    let (loose, mut hex) = match tail {
        Some(tail) => {
            if pos + plain != rest.len() {
                return None;
            }
            let (bits, hex) = tail.split_at_checked(packed_len(packed))?;
            (unpack_digits(bits, packed)?, hex)
        }
        None => (Vec::new(), &rest[pos + plain..]),
    };
    for (o, n, uuid) in hexes {
        let n = usize::from(n);
        let digits = if uuid { n - DASHES.len() } else { n };
        let (packed, more) = hex.split_at_checked(digits.div_ceil(2))?;
        if digits % 2 == 1 && packed[packed.len() - 1] & 0x0F != 0 {
            return None;
        }
        let mut k = 0;
        for (at, out) in out[o..o + n].iter_mut().enumerate() {
            if uuid && DASHES.contains(&at) {
                *out = b'-';
                continue;
            }
            let nibble = packed[k / 2] >> (4 * (1 - k % 2)) & 0x0F;
            *out = b"0123456789abcdef"[usize::from(nibble)];
            k += 1;
        }
        hex = more;
    }
    if !hex.is_empty() {
        return None;
    }
    let mut stamp = Stamp::new();
    for (id, n, line, o) in runs {
        let (from, n) = (&mut at[id as usize], usize::from(n));
        let dst = &mut out[o..o + n];
        let code = bound[id as usize];
        if let Some(c) = code.filter(|&c| c != PACKED && c & EXACT != 0) {
            dst.copy_from_slice(stamp.bound(
                Some(c & !EXACT),
                ts.get(line as usize).copied(),
                n,
            )?);
            continue;
        }
        let src = if code == Some(PACKED) { &loose } else { digits };
        dst.copy_from_slice(&src[*from..*from + n]);
        *from += n;
        if let Some(r) = stamp.bound(code, ts.get(line as usize).copied(), n) {
            if !dst.iter().all(u8::is_ascii_digit) {
                return None;
            }
            add(dst, r);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
