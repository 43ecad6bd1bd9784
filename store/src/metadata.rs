//! Metric metadata (HELP, TYPE, UNIT) as sources of it hand it to readers.
//!
//! The scrape manager keeps the metadata of what it scrapes in memory; the query crate's
//! `/api/v1/metadata` reads it through [`MetadataSource`] without knowing where it comes
//! from (the query crate must not depend on the collector). Nothing here is persisted.

use serde::Serialize;

use crate::TenantId;

/// The metadata of one metric family, in Prometheus' `/api/v1/metadata` terms.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MetricMetadata {
    /// The family name as the exposition names it (`node_cpu_seconds` in OpenMetrics,
    /// `node_cpu_seconds_total` in the text format).
    pub metric: String,
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`, `info`, `stateset`
    /// or `unknown`.
    #[serde(rename = "type")]
    pub kind: String,
    pub help: String,
    pub unit: String,
}

/// Anything that knows metric metadata: the scrape manager, later remote_write and OTLP.
pub trait MetadataSource: Send + Sync {
    /// Distinct metadata entries of `tenant`'s data, sorted by metric name, for `metric`
    /// only when given, of at most `limit` metrics (0: no limit; every distinct entry of a
    /// kept metric is returned).
    fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
        limit: usize,
    ) -> Vec<MetricMetadata>;
}

/// A source that knows nothing, for servers that run without scraping and for tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMetadata;

impl MetadataSource for NoMetadata {
    fn metadata(
        &self,
        _tenant: &TenantId,
        _metric: Option<&str>,
        _limit: usize,
    ) -> Vec<MetricMetadata> {
        Vec::new()
    }
}
