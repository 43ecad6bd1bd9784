//! Multiline joining: a line that matches the start pattern begins an event, the lines
//! after it that do not are joined to it (with `\n`), as Promtail's `multiline` stage does.
//! An event is cut at `max_lines`, and an event that got no line for `timeout` is
//! complete. Each event carries the file offset after its last line, and the joiner tells
//! where its unfinished event starts, which is how far the file's position may advance.

use std::time::{Duration, Instant};

use regex::bytes::Regex;

/// `multiline: {start, max_lines, timeout}`.
#[derive(Debug, Clone)]
pub struct Multiline {
    pub start: Regex,
    pub max_lines: usize,
    pub timeout: Duration,
}

impl Multiline {
    pub fn new(
        start: &str,
        max_lines: usize,
        timeout: Duration,
    ) -> lookout_store::Result<Multiline> {
        let start = Regex::new(start).map_err(|e| {
            lookout_store::Error::BadInput(format!(
                "logs.multiline.start {start:?} is not a valid regex: {e}"
            ))
        })?;
        Ok(Multiline {
            start,
            max_lines,
            timeout,
        })
    }
}

/// One file's unfinished event.
#[derive(Debug)]
pub struct Joiner {
    pending: Vec<u8>,
    lines: usize,
    /// Offset of the pending event's first line.
    start: u64,
    /// Offset after its last line.
    end: u64,
    last: Instant,
}

impl Default for Joiner {
    fn default() -> Self {
        Joiner {
            pending: Vec::new(),
            lines: 0,
            start: 0,
            end: 0,
            last: Instant::now(),
        }
    }
}

impl Joiner {
    /// Takes one line (`start..end` in the file); completed events go to `out` with the
    /// offset after them.
    pub fn push(
        &mut self,
        cfg: &Multiline,
        line: Vec<u8>,
        start: u64,
        end: u64,
        now: Instant,
        out: &mut Vec<(Vec<u8>, u64)>,
    ) {
        if self.lines > 0 && cfg.start.is_match(&line) {
            self.flush(out);
        }
        if self.lines == 0 {
            self.pending = line;
            self.start = start;
        } else {
            self.pending.push(b'\n');
            self.pending.extend_from_slice(&line);
        }
        self.lines += 1;
        self.end = end;
        self.last = now;
        if self.lines >= cfg.max_lines.max(1) {
            self.flush(out);
        }
    }

    /// Completes the pending event if it waited longer than the timeout.
    pub fn flush_idle(&mut self, cfg: &Multiline, now: Instant, out: &mut Vec<(Vec<u8>, u64)>) {
        if self.lines > 0 && now.duration_since(self.last) >= cfg.timeout {
            self.flush(out);
        }
    }

    pub fn flush(&mut self, out: &mut Vec<(Vec<u8>, u64)>) {
        if self.lines > 0 {
            out.push((std::mem::take(&mut self.pending), self.end));
            self.lines = 0;
        }
    }

    /// When the unfinished event, if there is one, is complete for want of more lines.
    pub fn idle_deadline(&self, cfg: &Multiline) -> Option<Instant> {
        (self.lines > 0).then(|| self.last + cfg.timeout)
    }

    /// Where the unfinished event starts, if there is one.
    pub fn pending_start(&self) -> Option<u64> {
        (self.lines > 0).then_some(self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max_lines: usize) -> Multiline {
        Multiline {
            start: Regex::new(r"^\d{4}-").unwrap(),
            max_lines,
            timeout: Duration::from_millis(50),
        }
    }

    #[test]
    fn joins_until_the_next_start() {
        let c = cfg(100);
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let now = Instant::now();
        let mut off = 0;
        for l in [
            "2024-01-01 boom",
            "  at a",
            "  at b",
            "2024-01-01 ok",
            "tail",
        ] {
            let end = off + l.len() as u64 + 1;
            j.push(&c, l.as_bytes().to_vec(), off, end, now, &mut out);
            off = end;
        }
        assert_eq!(out, vec![(b"2024-01-01 boom\n  at a\n  at b".to_vec(), 30)]);
        assert_eq!(j.pending_start(), Some(30));
        j.flush_idle(&c, now, &mut out);
        assert_eq!(out.len(), 1, "not idle yet");
        j.flush_idle(&c, now + Duration::from_millis(60), &mut out);
        assert_eq!(out[1], (b"2024-01-01 ok\ntail".to_vec(), off));
        assert_eq!(j.pending_start(), None);
    }

    #[test]
    fn max_lines_cuts() {
        let c = cfg(2);
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let now = Instant::now();
        for (i, l) in ["a", "b", "c"].iter().enumerate() {
            let i = i as u64;
            j.push(&c, l.as_bytes().to_vec(), 2 * i, 2 * i + 2, now, &mut out);
        }
        assert_eq!(out, vec![(b"a\nb".to_vec(), 4)]);
        assert_eq!(j.pending_start(), Some(4));
    }
}
