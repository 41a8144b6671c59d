//! Writers killed with SIGKILL in the middle of batches: acknowledged batches survive whole, nothing else is half-visible.
