//! Failures and the exit codes they map to (documented in the README and in
//! `theseus --help`).
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (also when the reader of the output went away: a broken pipe) |
//! | 1 | refused input, an input file that cannot be read, a missing store, another error |
//! | 2 | usage: an unknown command, option or value, or a terminal on standard input |
//! | 3 | an `expected_version` conflict |
//! | 4 | integrity: the log is damaged, or not what `--expect-head` said |

use event_store::StoreError;
use ledger::{ErrorKind, LedgerError};

/// Refused input or any other error.
pub const REFUSED: u8 = 1;
/// A usage error (clap exits with 2 for its own).
pub const USAGE: u8 = 2;
/// `expected_version` did not match.
pub const CONFLICT: u8 = 3;
/// The log is damaged, or not what `--expect-head` said.
pub const INTEGRITY: u8 = 4;

#[derive(Debug)]
pub enum Failure {
    Ledger(LedgerError),
    Store(StoreError),
    /// The command line cannot be carried out as given (exit 2).
    Usage(String),
    /// Input refused or unreadable, outside the ledger's own checks (exit 1).
    Refused(String),
    /// The command has printed its result, which is a failure with this
    /// code (a dry run that found refusals).
    Reported {
        code: u8,
        message: String,
    },
    Output(std::io::Error),
    Server(server::ServerError),
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Failure::Ledger(error) => ledger_code(error),
            Failure::Store(StoreError::Conflict { .. }) => CONFLICT,
            Failure::Store(error) if error.is_integrity() => INTEGRITY,
            Failure::Store(_) => REFUSED,
            Failure::Usage(_) => USAGE,
            Failure::Refused(_) => REFUSED,
            Failure::Reported { code, .. } => *code,
            Failure::Output(_) => REFUSED,
            // A server that cannot start on a damaged log says so as `verify` would.
            Failure::Server(server::ServerError::Ledger(error)) => ledger_code(error),
            Failure::Server(_) => REFUSED,
        }
    }

    /// The reader of standard output went away (`theseus report | head`):
    /// not an error, as for git, ripgrep and jq.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Failure::Output(error) if error.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

fn ledger_code(error: &LedgerError) -> u8 {
    match error.kind() {
        ErrorKind::Refused | ErrorKind::Forbidden => REFUSED,
        ErrorKind::Conflict => CONFLICT,
        ErrorKind::Integrity => INTEGRITY,
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Ledger(error) => write!(f, "{error}"),
            Failure::Store(error) => write!(f, "{error}"),
            Failure::Usage(message) | Failure::Refused(message) => f.write_str(message),
            Failure::Reported { message, .. } => f.write_str(message),
            Failure::Output(error) => write!(f, "cannot write the output: {error}"),
            Failure::Server(error) => write!(f, "{error}"),
        }
    }
}

impl From<LedgerError> for Failure {
    fn from(error: LedgerError) -> Failure {
        Failure::Ledger(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Store(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Failure {
        Failure::Output(error)
    }
}
