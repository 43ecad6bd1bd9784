//! Compaction: blocks whose time ranges overlap (backfill, out-of-order data) are merged
//! into one, newest write winning; adjacent blocks are merged into longer ones at levels
//! of 3× the block period (2h → 6h → 18h ...), up to a tenth of the retention or 31 days.
//! A compacted block lists its sources in meta.json; a crash between writing it and
//! removing them is repaired at open by removing the sources then.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use super::block::{Block, BlockWriter};
use super::merge::merge_runs;
use super::tsdb::{block_name, Tsdb, DAY};
use crate::error::{Error, Result};

/// Opens every block under `blocks_dir`, sorted by seq, after clearing leftovers of
/// interrupted writes and compactions.
pub(super) fn open_blocks(blocks_dir: &Path) -> Result<Vec<Arc<Block>>> {
    let mut blocks = Vec::new();
    let rd = fs::read_dir(blocks_dir).map_err(Error::io("listing blocks", blocks_dir))?;
    for entry in rd.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".tmp") {
            tracing::warn!(dir = %path.display(), "removing a block left half-written by a crash");
            fs::remove_dir_all(&path).map_err(Error::io("removing a half-written block", &path))?;
            continue;
        }
        if !path.is_dir() {
            continue;
        }
        if !path.join("meta.json").exists() {
            // Retired by retention or compaction; a crash interrupted its removal.
            tracing::info!(dir = %path.display(), "removing a retired block");
            fs::remove_dir_all(&path).map_err(Error::io("removing a retired block", &path))?;
            continue;
        }
        match Block::open(&path) {
            Ok(b) => blocks.push(b),
            Err(e) => {
                // A damaged block must not keep the rest of the data from being served.
                tracing::error!(dir = %path.display(), error = %e, "skipping a block that cannot be read; move it away to silence this");
            }
        }
    }
    let replaced: HashSet<String> = blocks
        .iter()
        .flat_map(|b| b.meta.sources.iter().cloned())
        .collect();
    let mut out = Vec::new();
    for b in blocks {
        if replaced.contains(&b.meta.name) {
            tracing::info!(block = %b.meta.name, "removing a block already merged by an interrupted compaction");
            b.mark_obsolete();
            continue;
        }
        out.push(Arc::new(b));
    }
    out.sort_by_key(|b| b.meta.seq);
    Ok(out)
}

/// Picks the next set of blocks to merge, if any.
fn plan(
    blocks: &[Arc<Block>],
    period: i64,
    max_range: i64,
    newest: i64,
) -> Option<Vec<Arc<Block>>> {
    // 1. Overlapping blocks, merged transitively.
    let mut by_time: Vec<&Arc<Block>> = blocks.iter().collect();
    by_time.sort_by_key(|b| (b.meta.min_time, b.meta.seq));
    let mut group: Vec<Arc<Block>> = Vec::new();
    let mut group_max = i64::MIN;
    for b in by_time {
        if !group.is_empty() && b.meta.min_time <= group_max {
            group.push(b.clone());
            group_max = group_max.max(b.meta.max_time);
            continue;
        }
        if group.len() >= 2 {
            return Some(group);
        }
        group = vec![b.clone()];
        group_max = b.meta.max_time;
    }
    if group.len() >= 2 {
        return Some(group);
    }
    // 2. Adjacent blocks that fill a longer, complete range.
    let mut range = period.saturating_mul(3);
    while range <= max_range {
        let mut groups: std::collections::BTreeMap<i64, Vec<Arc<Block>>> =
            std::collections::BTreeMap::new();
        for b in blocks {
            let k = b.meta.min_time.div_euclid(range);
            if b.meta.max_time.div_euclid(range) == k {
                groups.entry(k).or_default().push(b.clone());
            }
        }
        for (k, g) in groups {
            let end = (k + 1).saturating_mul(range);
            if g.len() >= 2 && end <= newest {
                return Some(g);
            }
        }
        range = range.saturating_mul(3);
    }
    None
}

impl Tsdb {
    /// Merges one set of blocks if there is one due; returns whether it did.
    pub(super) fn compact_once(&self) -> Result<bool> {
        let (blocks, heads) = self.snapshot();
        let newest = heads
            .iter()
            .filter_map(|h| h.time_range().map(|r| r.1))
            .chain(blocks.iter().map(|b| b.meta.max_time))
            .max()
            .unwrap_or(i64::MIN);
        let max_range = if self.opts.retention_time > 0 {
            (self.opts.retention_time / 10).min(31 * DAY)
        } else {
            31 * DAY
        };
        let Some(mut inputs) = plan(&blocks, self.opts.block_duration, max_range, newest) else {
            return Ok(false);
        };
        let _bulk = crate::memory::Hint::bulk_write();
        inputs.sort_by_key(|b| b.meta.seq);
        let names: Vec<String> = inputs.iter().map(|b| b.meta.name.clone()).collect();
        let level = inputs.iter().map(|b| b.meta.level).max().unwrap_or(0) + 1;
        let seq = self.alloc_seq();
        let blocks_dir = self.blocks_dir();
        let mut w = BlockWriter::create(&blocks_dir, &block_name(seq), seq, level, names.clone())?;
        let mut cursors = inputs
            .iter()
            .map(|b| b.series_cursor())
            .collect::<Result<Vec<_>>>()?;
        loop {
            let heads: Vec<Option<crate::model::Labels>> =
                cursors.iter().map(|c| c.peek_labels()).collect();
            let Some(min) = heads.iter().flatten().min().cloned() else {
                break;
            };
            let mut runs = Vec::new();
            for (c, l) in cursors.iter_mut().zip(&heads) {
                if l.as_ref() == Some(&min) {
                    if let Some(s) = c.next_series()? {
                        runs.push(s);
                    }
                }
            }
            w.add_series(&min, &merge_runs(runs))?;
        }
        drop(cursors);
        let Some(meta) = w.finish()? else {
            return Ok(false);
        };
        let merged = Arc::new(Block::open(&blocks_dir.join(&meta.name))?);
        tracing::info!(block = %meta.name, sources = ?names, level, series = meta.num_series, samples = meta.num_samples, "compacted blocks");
        let mut st = self.state.write();
        st.blocks.retain(|b| !names.contains(&b.meta.name));
        st.blocks.push(merged);
        st.blocks.sort_by_key(|b| b.meta.seq);
        for b in &inputs {
            b.mark_obsolete();
        }
        Ok(true)
    }
}
