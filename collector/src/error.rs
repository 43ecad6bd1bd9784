//! The collector's error type, with the HTTP status each class maps to.

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A limit a retry may get under later (active streams): 429.
    #[error("{0}")]
    LimitExceeded(String),
    #[error(transparent)]
    Store(#[from] lookout_store::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status: 4xx for what the client must change, 5xx only for what a retry may fix.
    pub fn status(&self) -> u16 {
        use lookout_store::ErrorClass;
        match self {
            Error::BadRequest(_) => 400,
            Error::TooLarge(_) => 413,
            Error::UnsupportedMediaType(_) => 415,
            Error::LimitExceeded(_) => 429,
            Error::Internal(_) => 500,
            Error::Store(e) => match e.class() {
                ErrorClass::BadInput => 400,
                ErrorClass::NotFound => 404,
                ErrorClass::LimitExceeded => 429,
                ErrorClass::Unavailable => 503,
                ErrorClass::Internal => 500,
            },
        }
    }
}
