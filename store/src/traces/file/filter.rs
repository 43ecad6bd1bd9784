//! How a search reads a span file's rows: the dedicated columns of a batch as a view
//! that decides what it can of a predicate, and the staged Parquet row filter built from
//! it (integer columns, then strings, then a byte search of the attribute blobs), which
//! passes a superset of the matching rows for the caller to decide exactly.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    Array, BinaryArray, BooleanArray, Int64Array, Int8Array, RecordBatch, StringArray,
};
use arrow_schema::ArrowError;
use memchr::memmem;
use parquet::arrow::arrow_reader::{ArrowPredicateFn, ParquetRecordBatchReaderBuilder, RowFilter};
use parquet::arrow::ProjectionMask;

use super::{opt_str, C_START, METHOD_KEYS, ROUTE_KEY, SERVICE_KEY, STATUS_KEYS};
use crate::error::{Error, Result};
use crate::{AttrWhere, SpanPredicate};

/// The dedicated columns of a batch (full or projected), by name; a filter stage's batch
/// holds only some of them.
pub(super) struct ColumnView<'a> {
    pub(super) starts: Option<&'a Int64Array>,
    durs: Option<&'a Int64Array>,
    names: Option<&'a StringArray>,
    kinds: Option<&'a Int8Array>,
    statuses: Option<&'a Int8Array>,
    services: Option<&'a StringArray>,
}

impl<'a> ColumnView<'a> {
    /// The columns `batch` holds; one present with another type is corrupt.
    pub(super) fn new(batch: &'a RecordBatch, path: &Path) -> Result<ColumnView<'a>> {
        fn some<'a, T: 'static>(
            batch: &'a RecordBatch,
            name: &str,
            path: &Path,
        ) -> Result<Option<&'a T>> {
            match batch.column_by_name(name) {
                None => Ok(None),
                Some(_) => named(batch, name, path).map(Some),
            }
        }
        Ok(ColumnView {
            starts: some(batch, "start_ns", path)?,
            durs: some(batch, "duration_ns", path)?,
            names: some(batch, "name", path)?,
            kinds: some(batch, "kind", path)?,
            statuses: some(batch, "status_code", path)?,
            services: some(batch, "service_name", path)?,
        })
    }

    /// Whether row `i` starts in `[start_ns, end_ns)` (true without the column).
    pub(super) fn in_range(&self, i: usize, start_ns: i64, end_ns: i64) -> bool {
        self.starts
            .is_none_or(|s| (start_ns..end_ns).contains(&s.value(i)))
    }

    /// Whether row `i` satisfies `p`, or None when that takes its attributes or a column
    /// the view does not hold.
    pub(super) fn matches(&self, p: &SpanPredicate, i: usize) -> Option<bool> {
        use crate::{SpanCond, StrMatch};
        let mut undecided = false;
        for c in &p.all {
            let ok = match c {
                SpanCond::Name(m) => self.names.map(|a| m.matches_str(a.value(i))),
                SpanCond::Status(s) => self.statuses.map(|a| a.value(i) == *s as i8),
                SpanCond::Kind(k) => self.kinds.map(|a| a.value(i) == *k as i8),
                SpanCond::MinDuration(d) => self.durs.map(|a| a.value(i) >= *d),
                SpanCond::MaxDuration(d) => self.durs.map(|a| a.value(i) <= *d),
                SpanCond::Attr {
                    value: StrMatch::Eq(v),
                    ..
                } if !c.reads_attributes() => {
                    self.services.map(|a| opt_str(a, i) == Some(v.as_str()))
                }
                SpanCond::Attr { .. } => None,
            };
            match ok {
                Some(false) => return Some(false),
                Some(true) => {}
                None => undecided = true,
            }
        }
        (!undecided).then_some(true)
    }
}

pub(super) fn named<'a, T: 'static>(
    batch: &'a RecordBatch,
    name: &str,
    path: &Path,
) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| Error::Corrupt {
            what: "span file",
            path: path.to_path_buf(),
            detail: format!("column {name} is missing or has an unexpected type"),
        })
}

/// The row filter of a search, in stages that each decode their columns only for the rows
/// the stages before passed (cheapest first: the kind and status flags, then start and
/// duration, then name and service): a row passes when it starts in `[start_ns, end_ns)`
/// and the dedicated columns do not rule out every predicate; and, when every predicate
/// asks for an attribute to equal a string, only when some predicate's strings all occur
/// in the encoded attributes they would be in (a byte search, before anything is decoded).
/// What passes is a superset of the matches; the caller decides each row exactly.
pub(super) fn search_filter(
    b: &ParquetRecordBatchReaderBuilder<File>,
    preds: Vec<SpanPredicate>,
    start_ns: i64,
    end_ns: i64,
    path: &Path,
) -> RowFilter {
    let needles: Vec<Vec<(AttrWhere, memmem::Finder<'static>)>> =
        preds.iter().map(attribute_needles).collect();
    let mut filters: Vec<Box<dyn parquet::arrow::arrow_reader::ArrowPredicate>> = Vec::new();
    // Integer columns first: each stage decodes its columns only for the rows the stages
    // before it passed, and strings cost the most.
    let preds = Arc::new(preds);
    let names = preds.iter().flat_map(|p| &p.all).any(|c| {
        matches!(c, crate::SpanCond::Name(_))
            || matches!(c, crate::SpanCond::Attr { .. }) && !c.reads_attributes()
    });
    let flags = preds
        .iter()
        .flat_map(|p| &p.all)
        .any(|c| matches!(c, crate::SpanCond::Kind(_) | crate::SpanCond::Status(_)));
    let mut stages = Vec::new();
    if flags {
        stages.push(vec![6, 7]);
    }
    stages.push(vec![C_START, 4]);
    if names {
        stages.push(vec![5, 10]);
    }
    for cols in stages {
        let mask = ProjectionMask::leaves(b.parquet_schema(), cols);
        let (p, preds) = (path.to_path_buf(), preds.clone());
        filters.push(Box::new(ArrowPredicateFn::new(
            mask,
            move |batch: RecordBatch| {
                let view = ColumnView::new(&batch, &p)
                    .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
                Ok(BooleanArray::from(
                    (0..batch.num_rows())
                        .map(|i| {
                            view.in_range(i, start_ns, end_ns)
                                && preds.iter().any(|pr| view.matches(pr, i) != Some(false))
                        })
                        .collect::<Vec<bool>>(),
                ))
            },
        )));
    }
    if !needles.is_empty() && needles.iter().all(|n| !n.is_empty()) {
        let blobs = ProjectionMask::leaves(b.parquet_schema(), [14, 15]);
        let p = path.to_path_buf();
        filters.push(Box::new(ArrowPredicateFn::new(
            blobs,
            move |batch: RecordBatch| {
                let err = |e: Error| ArrowError::ExternalError(Box::new(e));
                let attrs = named::<BinaryArray>(&batch, "attributes", &p).map_err(err)?;
                let res = named::<BinaryArray>(&batch, "resource", &p).map_err(err)?;
                Ok((0..batch.num_rows())
                    .map(|i| {
                        let (a, r) = (attrs.value(i), res.value(i));
                        Some(needles.iter().any(|all| {
                            all.iter().all(|(w, f)| match w {
                                AttrWhere::Span => f.find(a).is_some(),
                                AttrWhere::Resource => f.find(r).is_some(),
                                AttrWhere::Either => f.find(a).is_some() || f.find(r).is_some(),
                            })
                        }))
                    })
                    .collect::<BooleanArray>())
            },
        )));
    }
    RowFilter::new(filters)
}

/// The strings a span satisfying `p` must hold in its encoded attributes: the values of
/// its string-equality conditions on keys without a dedicated column.
fn attribute_needles(p: &SpanPredicate) -> Vec<(AttrWhere, memmem::Finder<'static>)> {
    let dedicated = |k: &str| {
        METHOD_KEYS.contains(&k) || STATUS_KEYS.contains(&k) || k == ROUTE_KEY || k == SERVICE_KEY
    };
    p.all
        .iter()
        .filter_map(|c| match c {
            crate::SpanCond::Attr {
                scope,
                key,
                value: crate::StrMatch::Eq(v),
            } if !dedicated(key) => Some((*scope, memmem::Finder::new(v.as_bytes()).into_owned())),
            _ => None,
        })
        .collect()
}
