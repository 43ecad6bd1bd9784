//! Storage figures of a tenant's traces for `/api/v1/status/traces`: spans, files, bytes,
//! partitions, and the services and span names with the most spans.
//!
//! Span and byte counts come from the file footers and the head, kept in memory. The
//! per-service and per-name counts of a file come from its two dedicated dictionary
//! columns (`service_name`, `name`), read once per file and remembered: files are
//! immutable, so a status page that refreshes reads each file once. Distinct traces are
//! not counted: a trace's spans can lie in several files, so an exact count would mean
//! holding every trace id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use arrow_array::{Array, StringArray};
use parking_lot::Mutex;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde::Serialize;

use super::file::SpanFile;
use super::{SpanEngine, NS_PER_MS};
use crate::error::{Error, Result};
use crate::logs::stats::{top, NameCount};
use crate::model::span::AttrValue;
use crate::store::Store;
use crate::tenant::TenantId;

/// A tenant's span storage, in the shape `/api/v1/status/traces` answers (camelCase).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceStorageStats {
    /// Spans in files and head.
    pub spans: u64,
    /// Spans not yet cut into files.
    pub head_spans: u64,
    pub files: u64,
    /// Bytes of the span files.
    pub file_bytes: u64,
    pub wal_bytes: u64,
    /// `file_bytes + wal_bytes`.
    pub disk_bytes: u64,
    /// Time partitions with files.
    pub partitions: u64,
    /// Start of the oldest partition and end of the newest, ms (0 without files).
    pub min_time: i64,
    pub max_time: i64,
    /// Resource `service.name` values by their number of spans.
    pub span_count_by_service: Vec<NameCount>,
    /// Span names by their number of spans.
    pub span_count_by_name: Vec<NameCount>,
}

/// Spans per service and per name in one file.
#[derive(Debug, Default)]
struct FileCounts {
    services: HashMap<String, u64>,
    names: HashMap<String, u64>,
}

/// What identifies a file's content: a path can be reused after retention removed its
/// file, never with the same size and modification time.
type FileKey = (PathBuf, u64, Option<SystemTime>);

/// Counts of the files read so far, process-wide (one map for every engine, pruned to
/// each engine's live files whenever it is asked).
fn counted() -> &'static Mutex<HashMap<FileKey, Arc<FileCounts>>> {
    static COUNTED: OnceLock<Mutex<HashMap<FileKey, Arc<FileCounts>>>> = OnceLock::new();
    COUNTED.get_or_init(Default::default)
}

/// Reads the `service_name` and `name` columns of a file; None when the file is gone
/// (dropped by retention meanwhile).
fn count_file(path: &Path) -> Result<Option<FileCounts>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("opening a span file", path)(e)),
    };
    let perr = |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(perr)?;
    let leaf = |name: &str| {
        b.parquet_schema()
            .columns()
            .iter()
            .position(|c| c.name() == name)
            .ok_or_else(|| Error::Corrupt {
                what: "span file",
                path: path.to_path_buf(),
                detail: format!("no {name} column"),
            })
    };
    let mask = ProjectionMask::leaves(b.parquet_schema(), [leaf("name")?, leaf("service_name")?]);
    let reader = b.with_projection(mask).build().map_err(perr)?;
    let mut out = FileCounts::default();
    for batch in reader {
        let batch = batch?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| Error::Corrupt {
                    what: "span file",
                    path: path.to_path_buf(),
                    detail: format!("the {name} column is not text"),
                })
        };
        let (names, services) = (column("name")?, column("service_name")?);
        for i in 0..batch.num_rows() {
            *out.names.entry(names.value(i).to_string()).or_default() += 1;
            if services.is_valid(i) {
                *out.services
                    .entry(services.value(i).to_string())
                    .or_default() += 1;
            }
        }
    }
    Ok(Some(out))
}

impl SpanEngine {
    /// The engine's storage figures, each top list at most `limit` long.
    pub(crate) fn storage_stats(&self, limit: usize) -> Result<TraceStorageStats> {
        let mut s = TraceStorageStats::default();
        let mut services: HashMap<String, u64> = HashMap::new();
        let mut names: HashMap<String, u64> = HashMap::new();
        {
            let st = self.state.read();
            let heads = std::iter::once(&st.head).chain(st.frozen.as_ref().map(|(h, _)| &**h));
            for h in heads {
                s.head_spans += h.rows.len() as u64;
                for r in &h.rows {
                    *names.entry(r.span.name.clone()).or_default() += 1;
                    let svc = r.resource.iter().find_map(|(k, v)| match v {
                        AttrValue::Str(name) if k == "service.name" => Some(name),
                        _ => None,
                    });
                    if let Some(svc) = svc {
                        *services.entry(svc.clone()).or_default() += 1;
                    }
                }
            }
        }
        let parts: BTreeMap<i64, Vec<Arc<SpanFile>>> = self.files.read().clone();
        s.partitions = parts.len() as u64;
        if let (Some(first), Some(last)) = (parts.values().next(), parts.values().next_back()) {
            let start = first.iter().map(|f| f.partition.0).min().unwrap_or(0);
            let end = last.iter().map(|f| f.partition.1).max().unwrap_or(0);
            s.min_time = start.div_euclid(NS_PER_MS);
            s.max_time = end.div_euclid(NS_PER_MS);
        }
        let files: Vec<&Arc<SpanFile>> = parts.values().flatten().collect();
        let keys: Vec<FileKey> = files
            .iter()
            .map(|f| {
                let mtime = std::fs::metadata(&f.path).and_then(|m| m.modified()).ok();
                (f.path.clone(), f.bytes, mtime)
            })
            .collect();
        {
            let live: HashSet<&FileKey> = keys.iter().collect();
            counted()
                .lock()
                .retain(|k, _| !k.0.starts_with(&self.dir) || live.contains(k));
        }
        for (f, key) in files.iter().zip(keys) {
            s.files += 1;
            s.spans += f.rows;
            s.file_bytes += f.bytes;
            let known = counted().lock().get(&key).cloned();
            let counts = match known {
                Some(c) => c,
                None => {
                    let Some(c) = count_file(&f.path)? else {
                        continue;
                    };
                    let c = Arc::new(c);
                    counted().lock().insert(key, c.clone());
                    c
                }
            };
            for (k, n) in &counts.services {
                *services.entry(k.clone()).or_default() += n;
            }
            for (k, n) in &counts.names {
                *names.entry(k.clone()).or_default() += n;
            }
        }
        s.spans += s.head_spans;
        (s.wal_bytes, _) = self.wal.lock().disk_usage();
        s.disk_bytes = s.file_bytes + s.wal_bytes;
        s.span_count_by_service = top(services.iter().map(|(k, n)| (k.as_str(), *n)), limit);
        s.span_count_by_name = top(names.iter().map(|(k, n)| (k.as_str(), *n)), limit);
        Ok(s)
    }
}

impl Store {
    /// A tenant's span storage figures (`/api/v1/status/traces`), each top list at most
    /// `limit` long; all zero for a tenant without data.
    pub fn trace_storage_stats(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<TraceStorageStats> {
        match self.get(tenant)? {
            Some(db) => db.traces.storage_stats(limit),
            None => Ok(TraceStorageStats::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::SpanOptions;
    use super::*;
    use crate::clock::Clock;
    use crate::model::span::{ResourceSpans, Scope, ScopeSpans, Span};

    fn batch(service: &str, spans: &[(u8, &str, i64)]) -> ResourceSpans {
        ResourceSpans {
            resource: vec![("service.name".into(), AttrValue::Str(service.into()))],
            scopes: vec![ScopeSpans {
                scope: Scope::default(),
                spans: spans
                    .iter()
                    .map(|&(id, name, start_ns)| Span {
                        trace_id: [id; 16],
                        span_id: [id; 8],
                        name: name.into(),
                        start_ns,
                        end_ns: start_ns + 10,
                        ..Default::default()
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn figures_come_from_head_and_files_alike() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SpanOptions {
            partition: 1_000_000_000,
            cut_interval: i64::MAX,
            clock: Clock::fixed(0),
            ..Default::default()
        };
        let e = SpanEngine::open(dir.path(), opts).unwrap();
        e.append(&[
            batch(
                "api",
                &[
                    (1, "GET /", 100),
                    (2, "GET /", 200),
                    (3, "POST /", 1_500_000_000),
                ],
            ),
            batch("db", &[(4, "SELECT", 300)]),
        ])
        .unwrap();
        let nc = |n: &str, v: u64| NameCount {
            name: n.into(),
            value: v,
        };
        let head = e.storage_stats(10).unwrap();
        assert_eq!((head.spans, head.head_spans, head.files), (4, 4, 0));
        assert_eq!(head.span_count_by_service, [nc("api", 3), nc("db", 1)]);
        assert_eq!(
            head.span_count_by_name,
            [nc("GET /", 2), nc("POST /", 1), nc("SELECT", 1)]
        );
        e.cut().unwrap();
        let done = e.storage_stats(2).unwrap();
        assert_eq!(
            (done.spans, done.head_spans, done.files, done.partitions),
            (4, 0, 2, 2)
        );
        assert_eq!((done.min_time, done.max_time), (0, 2_000));
        assert_eq!(done.span_count_by_service, head.span_count_by_service);
        assert_eq!(done.span_count_by_name, head.span_count_by_name[..2]);
        assert_eq!(done.file_bytes, e.file_usage().0);
        assert_eq!(done.disk_bytes, done.file_bytes + done.wal_bytes);
        // Asked again, the remembered counts give the same answer.
        assert_eq!(e.storage_stats(2).unwrap(), done);
    }
}
