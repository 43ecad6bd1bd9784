//! Prometheus-compatible scraping: `scrape_configs` with static and file-based discovery,
//! target and metric relabeling, the text and OpenMetrics formats, per-target series
//! caches with staleness markers, the synthetic `up`/`scrape_*` series, and the
//! `/api/v1/targets` and `/api/v1/targets/metadata` routes.
//!
//! The [`Manager`] owns one task per discovered target and hands every scrape's samples to
//! an [`lookout_store::Append`]; reloading a configuration keeps the tasks (and caches) of
//! targets that did not change. It never reads from the store.

pub mod api;
pub mod cache;
pub mod config;
pub mod discovery;
pub mod manager;
pub mod parse;
pub mod relabel;
pub mod scraper;
pub mod target;

pub use config::{GlobalConfig, ScrapeConfig};
pub use manager::Manager;
