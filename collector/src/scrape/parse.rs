//! Parsing of scraped payloads: the Prometheus text format 0.0.4 and OpenMetrics 1.0 text.
//!
//! Hand-written rather than the `prometheus-parse` crate. That crate was measured
//! (`bench/src/parsebench.rs`, figures in bench/README.md) and is not only many times slower
//! (a regex per line and a `String` per label), it also cannot serve a scraper: it has no
//! OpenMetrics (`# UNIT`, `# EOF`, exemplars, timestamps in seconds), it silently skips
//! lines it does not understand instead of failing the scrape as Prometheus does, and it
//! builds owned label maps for every sample, where a scraper wants the raw series text as a
//! cache key so that a series seen before costs one hash lookup and no allocation.
//!
//! [`Parser`] yields [`Entry`]s borrowing from the payload; [`parse_series`] turns the raw
//! series text of a sample into its metric name and labels, which the scrape loop only
//! does for series it has not seen before.

mod text;

pub use text::{parse_series, Entry, ParseError, Parser};

/// The exposition format of a payload, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4` (and anything unrecognised, as Prometheus falls back).
    Text,
    /// `application/openmetrics-text`.
    OpenMetrics,
}

impl Format {
    pub fn from_content_type(ct: Option<&str>) -> Format {
        match ct {
            Some(ct) if ct.trim_start().starts_with("application/openmetrics-text") => {
                Format::OpenMetrics
            }
            _ => Format::Text,
        }
    }
}

/// The Accept header Prometheus sends: OpenMetrics first, the text format as fallback.
pub const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
