//! The error of a rejected filter: what went wrong and at which column.

/// A filter that was rejected, with the place of the problem.
///
/// `column` counts bytes from 1: column 1 is the filter's first byte, and
/// column `len + 1` is the end of the filter (for "expected ... after ...").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct FilterError {
    /// 1-based byte column of the problem.
    pub column: usize,
    /// What was wrong, in words a person can act on.
    pub message: String,
}

impl FilterError {
    /// An error at byte `offset` (0-based) of the filter.
    pub(crate) fn at(offset: usize, message: impl Into<String>) -> Self {
        FilterError { column: offset + 1, message: message.into() }
    }

    /// The 0-based byte offset of the problem.
    pub fn offset(&self) -> usize {
        self.column - 1
    }
}
