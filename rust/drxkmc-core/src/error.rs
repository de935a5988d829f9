//! One error type for the whole core. Every variant names the user-facing field it is about,
//! so the Python layer can raise an exception that tells the user what to fix.

/// Errors raised by the core. User input never panics the core; it returns one of these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A parameter is out of range, NaN, or inconsistent with another.
    #[error("{field}: {reason}")]
    InvalidParameter { field: String, reason: String },
    /// A chemical formula cannot be parsed or is not a valid rocksalt composition.
    #[error("{field}: {reason}")]
    Composition { field: String, reason: String },
    /// The memory a request needs is not available (refused before allocating, or the
    /// allocation failed); `field` names the argument that sets the size.
    #[error("{field}: {reason}")]
    OutOfMemory { field: String, reason: String },
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidParameter { field: field.into(), reason: reason.into() }
    }
    pub fn composition(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Composition { field: field.into(), reason: reason.into() }
    }
    pub fn out_of_memory(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::OutOfMemory { field: field.into(), reason: reason.into() }
    }
    /// The field the error is about (the Python exception carries it as an attribute).
    pub fn field(&self) -> &str {
        match self {
            Error::InvalidParameter { field, .. }
            | Error::Composition { field, .. }
            | Error::OutOfMemory { field, .. } => field,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Check that a float parameter is finite and strictly positive.
pub fn require_positive(field: &str, value: f64) -> Result<f64> {
    if !value.is_finite() || value <= 0.0 {
        return Err(Error::invalid(field, format!("must be a finite number > 0, got {value}")));
    }
    Ok(value)
}

/// Check that a float parameter is finite (any sign).
pub fn require_finite(field: &str, value: f64) -> Result<f64> {
    if !value.is_finite() {
        return Err(Error::invalid(field, format!("must be a finite number, got {value}")));
    }
    Ok(value)
}

/// Check that a float parameter is finite and not negative.
pub fn require_non_negative(field: &str, value: f64) -> Result<f64> {
    if !value.is_finite() || value < 0.0 {
        return Err(Error::invalid(field, format!("must be a finite number >= 0, got {value}")));
    }
    Ok(value)
}
