//! The evidence crate's one error type.

use std::path::PathBuf;

/// Why a key, a note or a statement was refused, or a key file could not
/// be had.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// A key's text form is not what it should be.
    #[error("{0}")]
    Key(String),
    /// A note or statement does not read: the line it is about, and why.
    #[error("line {line}: {message}")]
    Malformed { line: usize, message: String },
    /// A note carries no valid signature by the key asked for.
    #[error("{0}")]
    Signature(String),
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
    #[error("no place for the ledger's key: set {0}, XDG_CONFIG_HOME or HOME")]
    NoLocation(&'static str),
}
