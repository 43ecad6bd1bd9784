//! Line and byte tallies for the metric queries that only count (`count_over_time`,
//! `rate`, `bytes_over_time`, `bytes_rate`, `absent_over_time`, with no pipeline).
//!
//! The windows `(t - offset - range, t - offset]` of all steps cut time at their starts and
//! ends into elementary intervals; every line falls in at most one. A series keeps, per
//! interval it touches, how many lines and bytes fell there, so its memory grows with the
//! intervals it touches rather than with its lines, and a window's totals are a difference
//! of running sums. The result equals sliding the windows over every line: each window is
//! exactly a union of whole intervals, and the sums are of integers.

use super::Steps;

/// The sorted, distinct window edges, and where each window starts and ends among them.
pub(super) struct Edges {
    edges: Vec<i64>,
    /// Per step: the indexes of its window's start and end in `edges`.
    windows: Vec<(u32, u32)>,
}

impl Edges {
    pub(super) fn new(steps: &Steps, range_ns: i64, offset_ns: i64) -> Edges {
        let ends = (0..steps.n).map(|i| steps.at(i) - offset_ns);
        let mut edges: Vec<i64> = ends.clone().flat_map(|e| [e - range_ns, e]).collect();
        edges.sort_unstable();
        edges.dedup();
        let at = |x: i64| edges.partition_point(|&e| e < x) as u32;
        let windows = ends.map(|e| (at(e - range_ns), at(e))).collect();
        Edges { edges, windows }
    }

    /// The interval `j` that holds `t` (`edges[j - 1] < t <= edges[j]`), or `None` when no
    /// window holds `t`. `hint` is the last answer: lines read in time order find theirs
    /// in one or two comparisons.
    pub(super) fn interval(&self, t: i64, hint: &mut usize) -> Option<u32> {
        let e = &self.edges;
        let h = *hint;
        let j = if h > 0 && h < e.len() && e[h - 1] < t && t <= e[h] {
            h
        } else if h + 1 < e.len() && e[h] < t && t <= e[h + 1] {
            h + 1
        } else {
            e.partition_point(|&x| x < t)
        };
        *hint = j;
        (j > 0 && j < e.len()).then_some(j as u32)
    }
}

/// The lines and bytes that fell in one interval.
#[derive(Debug, Clone, Copy)]
struct Run {
    interval: u32,
    lines: u64,
    bytes: u64,
}

/// One series' lines and bytes per interval.
#[derive(Debug)]
pub(super) struct Tally {
    runs: Vec<Run>,
    /// Whether `runs` is in interval order (lines came in time order).
    ordered: bool,
}

/// Bytes a run takes, for the query's memory budget.
pub(super) const RUN_BYTES: usize = std::mem::size_of::<Run>();

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            runs: Vec::new(),
            ordered: true,
        }
    }
}

impl Tally {
    /// Adds `lines` lines of `bytes` bytes in all in `interval`; true when they took a
    /// new run.
    pub(super) fn add(&mut self, interval: u32, lines: u64, bytes: u64) -> bool {
        if let Some(r) = self.runs.last_mut() {
            if r.interval == interval {
                r.lines += lines;
                r.bytes += bytes;
                return false;
            }
            self.ordered &= r.interval < interval;
        }
        self.runs.push(Run {
            interval,
            lines,
            bytes,
        });
        true
    }

    /// The lines and bytes in each step's window.
    pub(super) fn windows(mut self, edges: &Edges) -> Vec<(u64, u64)> {
        if !self.ordered {
            self.runs.sort_by_key(|r| r.interval);
        }
        // Running sums over the runs: `sums[k]` totals the first k runs.
        let mut sums = Vec::with_capacity(self.runs.len() + 1);
        let (mut lines, mut bytes) = (0u64, 0u64);
        sums.push((0, 0));
        for r in &self.runs {
            lines += r.lines;
            bytes += r.bytes;
            sums.push((lines, bytes));
        }
        // Both window ends only grow with the step, so two cursors walk the runs once.
        let upto = |k: &mut usize, edge: u32| {
            while *k < self.runs.len() && self.runs[*k].interval <= edge {
                *k += 1;
            }
            *k
        };
        let (mut a, mut b) = (0usize, 0usize);
        edges
            .windows
            .iter()
            .map(|&(start, end)| {
                let (lo, hi) = (sums[upto(&mut a, start)], sums[upto(&mut b, end)]);
                (hi.0 - lo.0, hi.1 - lo.1)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line against every window, the slow way, for steps, ranges and offsets where
    /// windows overlap, touch, or leave gaps, and lines in and out of order.
    #[test]
    fn tallies_equal_counting_each_window() {
        let mut seed = 5u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            (seed >> 33) % n
        };
        for (step, range, offset, n) in [
            (10, 10, 0, 12),
            (10, 35, 0, 12),
            (10, 4, 3, 12),
            (7, 13, -5, 20),
            (0, 10, 0, 1),
            (10, 10, 0, 0),
        ] {
            let steps = Steps { start: 50, step, n };
            let edges = Edges::new(&steps, range, offset);
            for ordered in [true, false] {
                let mut lines: Vec<(i64, u64)> =
                    (0..300).map(|_| (next(260) as i64, next(9))).collect();
                if ordered {
                    lines.sort();
                }
                let mut tally = Tally::default();
                let mut hint = 0;
                for &(t, b) in &lines {
                    if let Some(j) = edges.interval(t, &mut hint) {
                        tally.add(j, 1, b);
                    }
                }
                let got = tally.windows(&edges);
                let want: Vec<(u64, u64)> = (0..n)
                    .map(|i| {
                        let end = steps.at(i) - offset;
                        let w = lines.iter().filter(|&&(t, _)| end - range < t && t <= end);
                        (w.clone().count() as u64, w.map(|&(_, b)| b).sum())
                    })
                    .collect();
                assert_eq!(got, want, "step {step} range {range} offset {offset}");
            }
        }
    }
}
