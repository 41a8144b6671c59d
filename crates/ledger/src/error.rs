//! The ledger's one error type, and the kinds callers map to exit codes.

use event_store::StoreError;
use projections::ProjectionError;

/// What kind of failure an error is: the CLI's exit code follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Refused input or any other failure (exit 1).
    Refused,
    /// `expected_version` did not match (exit 3).
    Conflict,
    /// The log is damaged or not what was expected (exit 4).
    Integrity,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// An input line was refused; nothing was written.
    #[error("line {line}: {field}: {message}")]
    Refused {
        line: u64,
        field: String,
        message: String,
    },

    /// An input line that could not be read at all (too long, not UTF-8, not
    /// JSON); nothing was written.
    #[error("line {line}: {message}")]
    Unreadable { line: u64, message: String },

    /// `expected_version` did not match the operation's version. `field`
    /// names it as the input does (`expected_version`, `column
    /// expected_version`, `--expected-version`).
    #[error("line {line}: {field}: {message}")]
    Conflict {
        line: u64,
        field: String,
        message: String,
    },

    #[error("could not read the input: {0}")]
    Input(std::io::Error),

    #[error("cannot write the output: {0}")]
    Output(std::io::Error),

    /// A request that cannot be answered as asked (the message says why).
    #[error("{0}")]
    Request(String),

    #[error("{0}")]
    Store(#[from] StoreError),

    #[error("{0}")]
    Projection(#[from] ProjectionError),

    /// A report named an operation the log does not hold (as of the report).
    #[error("no operation {operation} in the log as of position {position}")]
    UnknownOperation { operation: String, position: u64 },
}

impl LedgerError {
    /// True for an error of one input line (refused, unreadable, a
    /// conflict): a dry run notes it and goes on with the next line.
    pub fn is_line_error(&self) -> bool {
        matches!(
            self,
            LedgerError::Refused { .. }
                | LedgerError::Unreadable { .. }
                | LedgerError::Conflict { .. }
        )
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            LedgerError::Conflict { .. } => ErrorKind::Conflict,
            LedgerError::Store(StoreError::Conflict { .. }) => ErrorKind::Conflict,
            LedgerError::Store(error) if error.is_integrity() => ErrorKind::Integrity,
            LedgerError::Projection(error) if error.is_integrity() => ErrorKind::Integrity,
            _ => ErrorKind::Refused,
        }
    }
}
