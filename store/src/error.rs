//! The store's one error type. Every variant knows its class, so the HTTP layer can map it
//! to a status code without matching on messages.

use std::path::PathBuf;

use crate::limits::Reason;

pub type Result<T> = std::result::Result<T, Error>;

/// What kind of failure an error is; decides the HTTP status and whether a client retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    BadInput,
    NotFound,
    LimitExceeded,
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{what}: {source} (path {path})")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt {what} at {path}: {detail}")]
    Corrupt {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("parquet error in {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("log index error {what} in {path}: {source}")]
    Index {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("invalid regular expression {pattern:?}: {source}")]
    Regex {
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error(
        "data directory {0} is in use by another lookout process; stop it or choose another --data"
    )]
    Locked(PathBuf),
    #[error("the store is shutting down; retry against another instance or after restart")]
    ShuttingDown,
    /// Input a limit refused (see `limits.rs`): how many samples for which reason (0 when
    /// the caller counts them), and the class that decides the status (400 or 429).
    #[error("{message}")]
    Refused {
        message: String,
        rejected: Vec<(Reason, u64)>,
        class: ErrorClass,
    },
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::BadInput(_) | Error::Regex { .. } => ErrorClass::BadInput,
            Error::LimitExceeded(_) => ErrorClass::LimitExceeded,
            Error::ShuttingDown | Error::Locked(_) => ErrorClass::Unavailable,
            Error::Io { .. } => ErrorClass::Unavailable,
            Error::Index { source, .. } => match source {
                tantivy::TantivyError::IoError(_) | tantivy::TantivyError::LockFailure(..) => {
                    ErrorClass::Unavailable
                }
                _ => ErrorClass::Internal,
            },
            Error::Corrupt { .. } | Error::Parquet { .. } | Error::Arrow(_) => ErrorClass::Internal,
            Error::Refused { class, .. } => *class,
        }
    }

    /// Samples refused by a limit, by reason (empty for other errors).
    pub fn rejected(&self) -> &[(Reason, u64)] {
        match self {
            Error::Refused { rejected, .. } => rejected,
            _ => &[],
        }
    }

    pub(crate) fn index(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(tantivy::TantivyError) -> Error {
        let path = path.into();
        move |source| Error::Index { what, path, source }
    }

    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}
