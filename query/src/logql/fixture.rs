//! Test-only: an in-memory [`ReadLogs`] with the contract's semantics (matchers, the
//! `[start, end)` range, exact line filters, direction, limit), and a few streams of
//! lines to query.

use std::sync::Arc;

use lookout_store::{
    Direction, Labels, LineFilter, LogHit, LogRecord, LogSelect, Matcher, ReadLogs, TenantId,
};
use regex::Regex;

#[derive(Default)]
pub struct MemLogs {
    pub streams: Vec<(Arc<Labels>, Vec<LogRecord>)>,
}

pub const S: i64 = 1_000_000_000;

impl MemLogs {
    /// Adds a line at `ts_s` seconds.
    pub fn push(&mut self, labels: &[(&str, &str)], ts_s: f64, line: &str) {
        self.push_meta(labels, ts_s, line, &[]);
    }

    pub fn push_meta(
        &mut self,
        labels: &[(&str, &str)],
        ts_s: f64,
        line: &str,
        meta: &[(&str, &str)],
    ) {
        let l = Arc::new(Labels::from_pairs(labels.iter().copied()));
        let rec = LogRecord {
            ts_ns: (ts_s * 1e9) as i64,
            line: line.into(),
            metadata: meta
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        };
        match self.streams.iter_mut().find(|(x, _)| *x == l) {
            Some((_, recs)) => recs.push(rec),
            None => self.streams.push((l, vec![rec])),
        }
    }
}

fn keeps(f: &LineFilter, line: &str) -> bool {
    match f {
        LineFilter::Contains(s) => line.contains(s.as_str()),
        LineFilter::NotContains(s) => !line.contains(s.as_str()),
        LineFilter::Regex(r) => Regex::new(r).unwrap().is_match(line),
        LineFilter::NotRegex(r) => !Regex::new(r).unwrap().is_match(line),
    }
}

fn matches(l: &Labels, m: &[Matcher]) -> bool {
    m.iter().all(|m| m.matches(l.get(&m.name).unwrap_or("")))
}

impl ReadLogs for MemLogs {
    fn select_logs(
        &self,
        _tenant: &TenantId,
        sel: &LogSelect,
        f: &mut dyn FnMut(LogHit) -> bool,
    ) -> lookout_store::Result<()> {
        let mut hits: Vec<LogHit> = Vec::new();
        for (labels, recs) in &self.streams {
            if !matches(labels, &sel.matchers) {
                continue;
            }
            for r in recs {
                if r.ts_ns >= sel.start_ns
                    && r.ts_ns < sel.end_ns
                    && sel.filters.iter().all(|f| keeps(f, &r.line))
                {
                    hits.push(LogHit {
                        stream: labels.clone(),
                        ts_ns: r.ts_ns,
                        line: r.line.clone(),
                        metadata: r.metadata.clone(),
                    });
                }
            }
        }
        hits.sort_by(|a, b| (a.ts_ns, a.stream.as_slice()).cmp(&(b.ts_ns, b.stream.as_slice())));
        if sel.direction == Direction::Backward {
            hits.reverse();
        }
        let limit = if sel.limit == 0 {
            usize::MAX
        } else {
            sel.limit
        };
        for h in hits.into_iter().take(limit) {
            if !f(h) {
                break;
            }
        }
        Ok(())
    }

    fn log_streams(
        &self,
        _t: &TenantId,
        m: &[Matcher],
        start: i64,
        end: i64,
    ) -> lookout_store::Result<Vec<Labels>> {
        let mut v: Vec<Labels> = self
            .streams
            .iter()
            .filter(|(l, recs)| {
                matches(l, m) && recs.iter().any(|r| r.ts_ns >= start && r.ts_ns < end)
            })
            .map(|(l, _)| (**l).clone())
            .collect();
        v.sort();
        Ok(v)
    }

    fn log_label_names(
        &self,
        t: &TenantId,
        m: &[Matcher],
        start: i64,
        end: i64,
    ) -> lookout_store::Result<Vec<String>> {
        let mut v: Vec<String> = self
            .log_streams(t, m, start, end)?
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    fn log_label_values(
        &self,
        t: &TenantId,
        name: &str,
        m: &[Matcher],
        start: i64,
        end: i64,
    ) -> lookout_store::Result<Vec<String>> {
        let mut v: Vec<String> = self
            .log_streams(t, m, start, end)?
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }
}
