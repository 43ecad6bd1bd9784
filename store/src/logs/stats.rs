//! Storage figures of a tenant's logs for `/api/v1/status/logs`: streams, lines, bytes
//! (uncompressed, compressed, on disk), partitions, and the stream labels with the most
//! streams and values (cardinality), the way Prometheus' `/api/v1/status/tsdb` shows
//! series. Everything comes from what the engine keeps in memory: each partition's
//! streams and chunk catalog, and the head; no line is read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;

use super::{LogEngine, NS_PER_MS};
use crate::error::Result;
use crate::model::Labels;
use crate::store::Store;
use crate::tenant::TenantId;

/// A name and what it counts (streams, values, lines, spans), as the status endpoints
/// list their tops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameCount {
    pub name: String,
    pub value: u64,
}

/// The `limit` largest counts, largest first, ties by name.
pub(crate) fn top<'a>(
    counts: impl IntoIterator<Item = (&'a str, u64)>,
    limit: usize,
) -> Vec<NameCount> {
    let mut v: Vec<(&str, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    v.into_iter()
        .take(limit)
        .map(|(name, value)| NameCount {
            name: name.to_string(),
            value,
        })
        .collect()
}

/// A tenant's log storage, in the shape `/api/v1/status/logs` answers (camelCase).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStorageStats {
    /// Distinct streams (label sets) across partitions and head.
    pub streams: u64,
    /// Lines in partitions and head.
    pub lines: u64,
    /// Lines acknowledged but not yet committed to a partition.
    pub head_lines: u64,
    /// Uncompressed bytes: the head's lines and metadata, plus the committed chunks
    /// before compression (lines, metadata, timestamps and lengths).
    pub uncompressed_bytes: u64,
    /// Committed chunks after compression.
    pub compressed_bytes: u64,
    /// Files of the partitions (chunks and index).
    pub partition_bytes: u64,
    pub wal_bytes: u64,
    /// `partition_bytes + wal_bytes`.
    pub disk_bytes: u64,
    pub partitions: u64,
    /// Oldest and newest line, ms (0 when there is none).
    pub min_time: i64,
    pub max_time: i64,
    /// Label names by the number of streams carrying them.
    pub stream_count_by_label_name: Vec<NameCount>,
    /// Label names by their number of distinct values.
    pub label_value_count_by_label_name: Vec<NameCount>,
    /// `name=value` pairs by the number of streams carrying them.
    pub stream_count_by_label_value_pair: Vec<NameCount>,
    /// Streams (`{a="b", ...}`) by their number of lines.
    pub line_count_by_stream: Vec<NameCount>,
}

impl LogEngine {
    /// The engine's storage figures, each top list at most `limit` long.
    pub(crate) fn storage_stats(&self, limit: usize) -> LogStorageStats {
        let mut s = LogStorageStats::default();
        // Streams by term, with their line counts.
        let mut streams: HashMap<String, (Arc<Labels>, u64)> = HashMap::new();
        let (mut min_ns, mut max_ns) = (i64::MAX, i64::MIN);
        {
            let st = self.state.read();
            let heads = std::iter::once(&st.head).chain(st.frozen.as_ref().map(|(h, _)| &**h));
            for h in heads {
                s.head_lines += h.entries.len() as u64;
                s.uncompressed_bytes += h.bytes as u64;
                for (stream, r) in &h.entries {
                    min_ns = min_ns.min(r.ts_ns);
                    max_ns = max_ns.max(r.ts_ns);
                    match streams.get_mut(&stream.term) {
                        Some(e) => e.1 += 1,
                        None => {
                            streams.insert(stream.term.clone(), (stream.labels.clone(), 1));
                        }
                    }
                }
            }
        }
        let parts: Vec<_> = self.partitions.read().values().cloned().collect();
        for p in &parts {
            s.partitions += 1;
            s.partition_bytes += p.disk_bytes();
            for c in p.catalog.read().iter() {
                s.lines += c.lines;
                s.uncompressed_bytes += c.raw;
                s.compressed_bytes += c.len;
                min_ns = min_ns.min(c.min_ts);
                max_ns = max_ns.max(c.max_ts);
                let term = super::schema::stream_term(&c.stream);
                streams
                    .entry(term)
                    .or_insert_with(|| (c.stream.clone(), 0))
                    .1 += c.lines;
            }
        }
        s.lines += s.head_lines;
        s.streams = streams.len() as u64;
        (s.wal_bytes, _) = self.wal.lock().disk_usage();
        s.disk_bytes = s.partition_bytes + s.wal_bytes;
        if min_ns <= max_ns {
            s.min_time = min_ns.div_euclid(NS_PER_MS);
            s.max_time = max_ns.div_euclid(NS_PER_MS);
        }

        let mut by_name: BTreeMap<&str, (u64, BTreeSet<&str>)> = BTreeMap::new();
        let mut by_pair: BTreeMap<String, u64> = BTreeMap::new();
        for (labels, _) in streams.values() {
            for l in labels.iter() {
                let e = by_name.entry(l.name.as_str()).or_default();
                e.0 += 1;
                e.1.insert(l.value.as_str());
                *by_pair
                    .entry(format!("{}={}", l.name, l.value))
                    .or_default() += 1;
            }
        }
        s.stream_count_by_label_name = top(by_name.iter().map(|(n, (c, _))| (*n, *c)), limit);
        s.label_value_count_by_label_name = top(
            by_name.iter().map(|(n, (_, v))| (*n, v.len() as u64)),
            limit,
        );
        s.stream_count_by_label_value_pair =
            top(by_pair.iter().map(|(p, c)| (p.as_str(), *c)), limit);
        let named: Vec<(String, u64)> = streams
            .values()
            .map(|(labels, lines)| (labels.to_string(), *lines))
            .collect();
        s.line_count_by_stream = top(named.iter().map(|(n, c)| (n.as_str(), *c)), limit);
        s
    }
}

impl Store {
    /// A tenant's log storage figures (`/api/v1/status/logs`), each top list at most
    /// `limit` long; all zero for a tenant without data.
    pub fn log_storage_stats(&self, tenant: &TenantId, limit: usize) -> Result<LogStorageStats> {
        Ok(self
            .get(tenant)?
            .map(|db| db.logs.storage_stats(limit))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::super::LogOptions;
    use super::*;
    use crate::clock::Clock;
    use crate::model::{LogRecord, LogStream};

    fn rec(ts_ns: i64, line: &str, meta: &[(&str, &str)]) -> LogRecord {
        LogRecord {
            ts_ns,
            line: line.into(),
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn figures_come_from_head_and_partitions_alike() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions {
            partition: 1_000_000_000,
            commit_interval: i64::MAX,
            clock: Clock::fixed(1_000),
            ..Default::default()
        };
        let logs = LogEngine::open(dir.path(), opts).unwrap();
        let api = Labels::from_pairs([("job", "api"), ("level", "info")]);
        let api_err = Labels::from_pairs([("job", "api"), ("level", "error")]);
        let db = Labels::from_pairs([("job", "db")]);
        logs.append(&[
            LogStream {
                labels: api.clone(),
                records: vec![rec(5_000_000, "a", &[]), rec(6_000_000, "bb", &[])],
            },
            LogStream {
                labels: api_err,
                records: vec![rec(1_500_000_000, "ccc", &[("trace_id", "ab")])],
            },
            LogStream {
                labels: db,
                records: vec![rec(7_000_000, "dddd", &[])],
            },
        ])
        .unwrap();
        let head = logs.storage_stats(10);
        assert_eq!(
            (head.streams, head.lines, head.head_lines, head.partitions),
            (3, 4, 4, 0)
        );
        assert_eq!(head.uncompressed_bytes, 1 + 2 + 3 + 8 + 2 + 4);
        assert_eq!((head.min_time, head.max_time), (5, 1_500));
        let nc = |n: &str, v: u64| NameCount {
            name: n.into(),
            value: v,
        };
        assert_eq!(
            head.stream_count_by_label_name,
            [nc("job", 3), nc("level", 2)]
        );
        assert_eq!(
            head.label_value_count_by_label_name,
            [nc("job", 2), nc("level", 2)]
        );
        assert_eq!(
            head.stream_count_by_label_value_pair,
            [
                nc("job=api", 2),
                nc("job=db", 1),
                nc("level=error", 1),
                nc("level=info", 1)
            ]
        );
        assert_eq!(head.line_count_by_stream[0], nc(&api.to_string(), 2));
        assert_eq!(
            logs.storage_stats(1).stream_count_by_label_value_pair.len(),
            1
        );

        logs.commit().unwrap();
        let done = logs.storage_stats(10);
        assert_eq!(
            (done.streams, done.lines, done.head_lines, done.partitions),
            (3, 4, 0, 2)
        );
        assert_eq!((done.min_time, done.max_time), (5, 1_500));
        assert_eq!(
            done.stream_count_by_label_value_pair,
            head.stream_count_by_label_value_pair
        );
        assert_eq!(done.line_count_by_stream, head.line_count_by_stream);
        // Chunks hold the lines plus their timestamps and lengths.
        assert!(done.uncompressed_bytes > head.uncompressed_bytes);
        assert!(done.compressed_bytes > 0);
        assert!(done.partition_bytes > done.compressed_bytes);
        assert_eq!(done.disk_bytes, done.partition_bytes + done.wal_bytes);
    }
}
