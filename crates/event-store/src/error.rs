//! The store's one error type.

use std::path::PathBuf;

use uuid::Uuid;

/// Everything that can go wrong in the store. Callers map these to exit
/// codes: [`StoreError::Conflict`] is a concurrency conflict,
/// [`StoreError::is_integrity`] errors mean the log itself is damaged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store does not exist (it is never created implicitly).
    #[error("no store at {dir}: create one with `theseus init --store {dir}`")]
    Missing { dir: PathBuf },

    /// The store's path names something that is not a directory (a regular
    /// file, say): a file store is a directory.
    #[error("{path} is a file, not a store directory: a store is a directory of segments (or a postgres:// address)")]
    NotADirectory { path: PathBuf },

    /// `init` on a directory that holds something other than a store: it
    /// would mix the log with files that are not the log's.
    #[error(
        "{dir} is not empty and holds no store: init creates a new directory or uses an empty one"
    )]
    NotEmpty { dir: PathBuf },

    /// `init` on a directory that already holds a log.
    #[error("{dir} already holds a store")]
    AlreadyExists { dir: PathBuf },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The log is damaged: a record that does not parse, does not chain, or
    /// is out of place. Nothing may run on it until a human has looked.
    #[error("{location}: {reason}")]
    Corrupt { location: String, reason: String },

    /// `verify --expect-head` named a record the log no longer holds as given.
    #[error("expected head {expected_position}:{expected_hash} but {found}")]
    HeadMismatch {
        expected_position: u64,
        expected_hash: String,
        found: String,
    },

    /// `expected_version` did not match the operation's version.
    #[error("operation {operation} is at version {actual}, not the expected {expected}")]
    Conflict {
        operation: String,
        expected: u64,
        actual: u64,
    },

    /// The id is already used by a different event.
    #[error("id {id} is already used by a different event (position {position})")]
    IdConflict { id: Uuid, position: u64 },

    /// A requested `recorded_at` earlier than the head's: the log's times
    /// never go back.
    #[error(
        "recorded_at {given} is before the last record's {head}: times never go back along the log"
    )]
    StampBehind { given: String, head: String },

    /// A requested `recorded_at` too far ahead of the store's clock: it would
    /// hold back the time of every later batch.
    #[error(
        "recorded_at {given} is more than {tolerance_seconds} s ahead of the store's clock ({now})"
    )]
    StampAhead {
        given: String,
        now: String,
        tolerance_seconds: i64,
    },

    /// A field that cannot be stored (an empty operation name, data that is
    /// not a single-line JSON object…). The caller should have refused it.
    #[error("cannot store event: {0}")]
    Invalid(String),

    /// An error raised by a [`crate::EventStore::scan`] visitor, passed through.
    #[error(transparent)]
    Visitor(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// True when the log itself is damaged or not what was expected.
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. } | StoreError::HeadMismatch { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
