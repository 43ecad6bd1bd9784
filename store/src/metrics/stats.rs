//! Figures about a tenant's metrics store: `lookout tsdb stats` and `/api/v1/status/tsdb`.

use serde::Serialize;

use super::head::HeadStats;

#[derive(Debug, Clone, Default, Serialize)]
pub struct BlockStats {
    pub name: String,
    pub min_time: i64,
    pub max_time: i64,
    pub series: u64,
    pub samples: u64,
    pub bytes: u64,
    pub bytes_per_sample: f64,
    pub level: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TsdbStats {
    pub head: HeadStats,
    pub blocks: Vec<BlockStats>,
    pub wal_bytes: u64,
    pub wal_segments: u64,
    /// Samples in blocks plus the head.
    pub total_samples: u64,
    pub block_bytes: u64,
    /// Label names with the most distinct values (head and blocks).
    pub top_label_names: Vec<(String, usize)>,
    /// Metric names with the most series in the head.
    pub series_by_metric: Vec<(String, usize)>,
}

impl TsdbStats {
    pub(super) fn finish(&mut self) {
        self.block_bytes = self.blocks.iter().map(|b| b.bytes).sum();
        self.total_samples = self.head.samples + self.blocks.iter().map(|b| b.samples).sum::<u64>();
    }
}
