//! The log engine. For now an in-memory stand-in that keeps each tenant's streams in
//! maps and scans them: it honours the whole log contract (matchers, time range, exact
//! line filters, direction, limit, cancellation) so ingest and LogQL can be built and
//! tested end to end while the durable tantivy engine (`logs/` partitions, WAL, retention)
//! replaces it behind the same [`crate::AppendLogs`] / [`crate::ReadLogs`] contract.
//! Nothing here survives a restart.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use regex::Regex;

use crate::error::{Error, Result};
use crate::model::{
    Direction, Labels, LineFilter, LogHit, LogRecord, LogSelect, LogStream, Matcher,
};
use crate::tenant::TenantId;

/// One tenant's streams: labels to records sorted by time.
type Streams = HashMap<Arc<Labels>, Vec<LogRecord>>;

/// Every tenant's streams, in memory.
#[derive(Default)]
pub(crate) struct MemoryLogs {
    tenants: RwLock<HashMap<TenantId, Streams>>,
}

/// A compiled line filter.
enum Filter {
    Contains(String, bool),
    Regex(Regex, bool),
}

impl Filter {
    fn compile(f: &LineFilter) -> Result<Filter> {
        let re = |p: &str| {
            Regex::new(p).map_err(|source| Error::Regex {
                pattern: p.to_string(),
                source,
            })
        };
        Ok(match f {
            LineFilter::Contains(s) => Filter::Contains(s.clone(), true),
            LineFilter::NotContains(s) => Filter::Contains(s.clone(), false),
            LineFilter::Regex(p) => Filter::Regex(re(p)?, true),
            LineFilter::NotRegex(p) => Filter::Regex(re(p)?, false),
        })
    }

    fn keeps(&self, line: &str) -> bool {
        match self {
            Filter::Contains(s, want) => line.contains(s.as_str()) == *want,
            Filter::Regex(r, want) => r.is_match(line) == *want,
        }
    }
}

fn stream_matches(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

impl MemoryLogs {
    pub(crate) fn append(&self, tenant: &TenantId, batch: &[LogStream]) -> Result<()> {
        let mut tenants = self.tenants.write();
        let streams = tenants.entry(tenant.clone()).or_default();
        for s in batch {
            if s.records.is_empty() {
                continue;
            }
            let recs = streams.entry(Arc::new(s.labels.clone())).or_default();
            recs.extend(s.records.iter().cloned());
            recs.sort_by_key(|r| r.ts_ns);
        }
        Ok(())
    }

    pub(crate) fn select(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
        f: &mut dyn FnMut(LogHit) -> bool,
    ) -> Result<()> {
        let filters = sel
            .filters
            .iter()
            .map(Filter::compile)
            .collect::<Result<Vec<_>>>()?;
        let mut hits: Vec<LogHit> = Vec::new();
        {
            let tenants = self.tenants.read();
            let Some(streams) = tenants.get(tenant) else {
                return Ok(());
            };
            for (labels, recs) in streams {
                if !stream_matches(labels, &sel.matchers) {
                    continue;
                }
                let from = recs.partition_point(|r| r.ts_ns < sel.start_ns);
                let to = recs.partition_point(|r| r.ts_ns < sel.end_ns);
                for r in &recs[from..to] {
                    if sel.cancelled() {
                        return Ok(());
                    }
                    if filters.iter().all(|f| f.keeps(&r.line)) {
                        hits.push(LogHit {
                            stream: labels.clone(),
                            ts_ns: r.ts_ns,
                            line: r.line.clone(),
                            metadata: r.metadata.clone(),
                        });
                    }
                }
            }
        }
        match sel.direction {
            Direction::Forward => hits.sort_by(|a, b| {
                (a.ts_ns, a.stream.as_slice()).cmp(&(b.ts_ns, b.stream.as_slice()))
            }),
            Direction::Backward => hits.sort_by(|a, b| {
                (b.ts_ns, b.stream.as_slice()).cmp(&(a.ts_ns, a.stream.as_slice()))
            }),
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

    /// The streams matching `matchers` with a record in `[start_ns, end_ns)`.
    pub(crate) fn streams(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<Arc<Labels>> {
        let tenants = self.tenants.read();
        let Some(streams) = tenants.get(tenant) else {
            return Vec::new();
        };
        let mut out: Vec<Arc<Labels>> = streams
            .iter()
            .filter(|(l, recs)| {
                stream_matches(l, matchers)
                    && recs.partition_point(|r| r.ts_ns < start_ns)
                        < recs.partition_point(|r| r.ts_ns < end_ns)
            })
            .map(|(l, _)| l.clone())
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MatchOp;

    fn rec(ts_ns: i64, line: &str) -> LogRecord {
        LogRecord {
            ts_ns,
            line: line.into(),
            metadata: vec![],
        }
    }

    fn lines(logs: &MemoryLogs, t: &TenantId, sel: &LogSelect) -> Vec<String> {
        let mut out = vec![];
        logs.select(t, sel, &mut |h| {
            out.push(h.line);
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn selects_by_stream_time_filters_direction_and_limit() {
        let logs = MemoryLogs::default();
        let t = TenantId::default_tenant();
        let a = Labels::from_pairs([("job", "a")]);
        let b = Labels::from_pairs([("job", "b")]);
        logs.append(
            &t,
            &[
                LogStream {
                    labels: a.clone(),
                    records: vec![rec(30, "a error 3"), rec(10, "a info 1")],
                },
                LogStream {
                    labels: b,
                    records: vec![rec(20, "b error 2")],
                },
            ],
        )
        .unwrap();
        let mut sel = LogSelect {
            matchers: vec![Matcher::new(MatchOp::RegexMatch, "job", "a|b").unwrap()],
            start_ns: 0,
            end_ns: 100,
            ..Default::default()
        };
        assert_eq!(
            lines(&logs, &t, &sel),
            ["a error 3", "b error 2", "a info 1"]
        );
        sel.direction = Direction::Forward;
        sel.limit = 2;
        assert_eq!(lines(&logs, &t, &sel), ["a info 1", "b error 2"]);
        sel.limit = 0;
        sel.filters = vec![
            LineFilter::Contains("error".into()),
            LineFilter::NotRegex("^b".into()),
        ];
        assert_eq!(lines(&logs, &t, &sel), ["a error 3"]);
        sel.filters.clear();
        sel.end_ns = 30;
        assert_eq!(lines(&logs, &t, &sel), ["a info 1", "b error 2"]);
        assert_eq!(
            logs.streams(&t, &[Matcher::equal("job", "a")], 0, 100)
                .len(),
            1
        );
        assert!(logs
            .streams(&t, &[Matcher::equal("job", "a")], 11, 30)
            .is_empty());
        let other = TenantId::new("other").unwrap();
        sel.end_ns = 100;
        assert!(lines(&logs, &other, &sel).is_empty());
    }
}
