//! Compaction of a partition's span files. Every head cut writes one more small file into
//! each partition its spans start in, so a partition ends up as many files that a lookup
//! and a search each open in turn. Once a partition is past its head window, its files are
//! merged into one: rows in file order (trace id, start, span id), each span once, row
//! group summaries rebuilt. The merge streams a batch of rows of each input at a time, so
//! its memory grows with the number of inputs, not with the partition.
//!
//! Crash safety: the merged file is written as `<seq>.parquet.tmp`, fsynced and renamed to
//! `<seq>.parquet`, and its metadata names the sequence numbers of the files it replaces.
//! Only then are the inputs swapped out of the engine and deleted (once their last reader
//! is done). A crash before the rename leaves a temporary file that open deletes; a crash
//! after it leaves inputs that open deletes because the merged file names them. Either way
//! every span is counted once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::Arc;

use super::file::{row_order, RowBatches, SpanFile, SpanWriter};
use super::row::SpanRow;
use crate::error::{Error, Result};

/// Rows decoded per input at a time.
const MERGE_BATCH_ROWS: usize = 1024;

/// Where the merge stands in one input.
struct Cursor {
    batches: RowBatches,
    rows: std::vec::IntoIter<SpanRow>,
}

impl Cursor {
    fn next_row(&mut self) -> Result<Option<SpanRow>> {
        loop {
            if let Some(r) = self.rows.next() {
                return Ok(Some(r));
            }
            match self.batches.next() {
                None => return Ok(None),
                Some(b) => self.rows = b?.into_iter(),
            }
        }
    }
}

/// Merges `inputs` (files of the partition `partition`) into a new file at `path` that
/// names them as replaced. The inputs stay untouched; on an error the temporary file is
/// removed.
pub(crate) fn merge(
    inputs: &[Arc<SpanFile>],
    path: &Path,
    partition: (i64, i64),
) -> Result<SpanFile> {
    let mut w = SpanWriter::create(path, partition)?;
    let tmp = w.tmp_path().to_path_buf();
    let replaces: Vec<u64> = inputs.iter().filter_map(|f| f.seq).collect();
    let merged = merge_into(inputs, &mut w).and_then(|()| w.finish(&replaces));
    if merged.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    merged
}

fn merge_into(inputs: &[Arc<SpanFile>], w: &mut SpanWriter) -> Result<()> {
    let mut cursors = Vec::with_capacity(inputs.len());
    for f in inputs {
        let batches = f
            .row_batches(MERGE_BATCH_ROWS)?
            .ok_or_else(|| Error::Corrupt {
                what: "span file",
                path: f.path.clone(),
                detail: "removed while its partition was being compacted".into(),
            })?;
        cursors.push(Cursor {
            batches,
            rows: Vec::new().into_iter(),
        });
    }
    let mut heads: Vec<Option<SpanRow>> = Vec::with_capacity(cursors.len());
    let mut heap = BinaryHeap::with_capacity(cursors.len());
    for (i, c) in cursors.iter_mut().enumerate() {
        let r = c.next_row()?;
        if let Some(r) = &r {
            heap.push(Reverse((row_order(r), i)));
        }
        heads.push(r);
    }
    let mut last = None;
    while let Some(Reverse((key, i))) = heap.pop() {
        let Some(row) = heads[i].take() else {
            continue;
        };
        if let Some(r) = cursors[i].next_row()? {
            heap.push(Reverse((row_order(&r), i)));
            heads[i] = Some(r);
        }
        // Equal keys are adjacent in row order: a span in two files is written once.
        if last == Some(key) {
            continue;
        }
        last = Some(key);
        w.push(row)?;
    }
    Ok(())
}
