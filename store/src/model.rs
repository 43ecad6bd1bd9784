//! The data model every engine and every crate above the store shares.

pub mod labels;
pub mod log;
pub mod matcher;
pub mod sample;
pub mod span;

pub use labels::{Label, LabelSet, Labels, Projection};
pub use log::{Direction, LineFilter, LineSize, LogHit, LogRecord, LogSelect, LogStream};
pub use matcher::{MatchOp, Matcher};
pub use sample::{is_stale_nan, newest, Sample, STALE_NAN, STALE_NAN_BITS};
