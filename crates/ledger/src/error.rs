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
    /// An authenticated agency asked for what its grant does not allow
    /// (the CLI exits 1; the API answers 403).
    Forbidden,
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

    /// An input line its submitting agency may not append; nothing was
    /// written.
    #[error("line {line}: {field}: {message}")]
    Forbidden {
        line: u64,
        field: String,
        message: String,
    },

    /// The agency registry changed (a grant or a revocation was recorded)
    /// after the submitter's grant was read: the caller reads the registry
    /// again and decides anew. Nothing was written.
    /// A batch's signature is missing, unreadable, not the agency's valid
    /// key's, or does not match the batch.
    #[error("{field}: {message}")]
    Signature { field: String, message: String },

    #[error("the agency registry changed while the batch was checked: send it again")]
    RegistryChanged,

    /// A failure of the ledger itself (a writer thread that stopped).
    #[error("internal error: {0}")]
    Internal(String),

    /// A registry change that does not follow from the registry (an agency
    /// registered twice, a revocation of an unknown agency…), or an
    /// invalid grant; nothing was written.
    #[error("{message}")]
    Registry { field: String, message: String },

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
            LedgerError::Forbidden { .. } => ErrorKind::Forbidden,
            LedgerError::Store(StoreError::Conflict { .. }) => ErrorKind::Conflict,
            LedgerError::Store(error) if error.is_integrity() => ErrorKind::Integrity,
            LedgerError::Projection(error) if error.is_integrity() => ErrorKind::Integrity,
            _ => ErrorKind::Refused,
        }
    }
}
