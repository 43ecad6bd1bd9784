//! The query crate's error type and its mapping to Prometheus' `errorType` and status.

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadData(String),
    #[error(transparent)]
    Store(#[from] lookout_store::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Prometheus' `errorType` and HTTP status for this error.
    pub fn error_type(&self) -> (&'static str, u16) {
        use lookout_store::ErrorClass;
        match self {
            Error::BadData(_) => ("bad_data", 400),
            Error::Internal(_) => ("internal", 500),
            Error::Store(e) => match e.class() {
                ErrorClass::BadInput => ("bad_data", 400),
                ErrorClass::NotFound => ("not_found", 404),
                ErrorClass::LimitExceeded => ("execution", 422),
                ErrorClass::Unavailable => ("unavailable", 503),
                ErrorClass::Internal => ("internal", 500),
            },
        }
    }
}
