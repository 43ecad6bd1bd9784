//! Retention: whole blocks are dropped once their newest sample is older than the
//! retention time before the clock's now, and oldest first while blocks and WAL exceed the
//! size limit. Prometheus measures the time from the newest sample instead; then one sample
//! stamped a month ahead makes every real block look expired, so Lookout never does.

use super::tsdb::Tsdb;
use crate::error::Result;

impl Tsdb {
    pub(super) fn apply_retention(&self) -> Result<()> {
        let (blocks, _) = self.snapshot();
        if blocks.is_empty() {
            return Ok(());
        }
        let mut drop_names = Vec::new();
        if self.opts.retention_time > 0 {
            let horizon = self
                .opts
                .clock
                .now_ms()
                .saturating_sub(self.opts.retention_time);
            drop_names.extend(
                blocks
                    .iter()
                    .filter(|b| b.meta.max_time < horizon)
                    .map(|b| b.meta.name.clone()),
            );
        }
        if self.opts.retention_size > 0 {
            let mut by_age: Vec<_> = blocks
                .iter()
                .filter(|b| !drop_names.contains(&b.meta.name))
                .collect();
            by_age.sort_by_key(|b| b.meta.max_time);
            let (wal_bytes, _) = self.stats_wal();
            let mut total: u64 = wal_bytes + by_age.iter().map(|b| b.bytes()).sum::<u64>();
            for b in by_age {
                if total <= self.opts.retention_size {
                    break;
                }
                total -= b.bytes();
                drop_names.push(b.meta.name.clone());
            }
        }
        if drop_names.is_empty() {
            return Ok(());
        }
        let mut st = self.state.write();
        st.blocks.retain(|b| {
            if drop_names.contains(&b.meta.name) {
                tracing::info!(block = %b.meta.name, min_time = b.meta.min_time, max_time = b.meta.max_time, "retention drops block");
                b.mark_obsolete();
                false
            } else {
                true
            }
        });
        Ok(())
    }
}
