//! What the engine reads from: series selected by matchers over a time range.

use std::sync::Arc;

use lookout_store::{Matcher, SelectHints, Series, Store, TenantId};

use crate::error::Result;

/// A source of series for the engine. `select` returns the series matching every matcher
/// with their samples in `[mint, maxt]` (staleness markers included, as stored), sorted by
/// labels, one sample per timestamp.
pub trait Queryable: Sync {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>>;
}

/// One tenant's view of the metrics store.
pub struct StoreQueryable {
    pub store: Arc<Store>,
    pub tenant: TenantId,
}

impl Queryable for StoreQueryable {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        Ok(self
            .store
            .select(&self.tenant, matchers, mint, maxt, &SelectHints::default())?)
    }
}
