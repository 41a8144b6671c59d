//! The projections' one error type.

use event_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A record the domain cannot read: the log holds only accepted events,
    /// so this is damage (or a newer format) and nothing may be reported.
    #[error("position {position}: {reason}")]
    Unreadable { position: u64, reason: String },

    /// `--as-of` named a point the log has not reached.
    #[error("the log ends at position {head}; there is no position {requested}")]
    BeyondHead { requested: u64, head: u64 },
}

impl ProjectionError {
    /// True when the log itself is damaged.
    pub fn is_integrity(&self) -> bool {
        match self {
            ProjectionError::Store(error) => error.is_integrity(),
            ProjectionError::Unreadable { .. } => true,
            ProjectionError::BeyondHead { .. } => false,
        }
    }
}
