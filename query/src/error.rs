//! The query crate's error type and its mapping to Prometheus' `errorType` and status.

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request or query is wrong: a parse error, a bad parameter.
    #[error("{0}")]
    BadData(String),
    /// The query is valid but cannot be evaluated (e.g. many-to-many matching, a limit).
    #[error("{0}")]
    Execution(String),
    /// The query ran longer than the configured timeout.
    #[error("query timed out in {0}")]
    Timeout(String),
    /// The client went away before the answer was ready (Prometheus' `canceled`, 499).
    #[error("query was canceled: the client closed the connection")]
    Canceled,
    /// The server cannot take the query now (too many waiting); retry later.
    #[error("{0}")]
    Unavailable(String),
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
            Error::Execution(_) => ("execution", 422),
            Error::Timeout(_) => ("timeout", 503),
            Error::Canceled => ("canceled", 499),
            Error::Unavailable(_) => ("unavailable", 503),
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
