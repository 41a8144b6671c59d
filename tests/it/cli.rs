//! The CLI end to end: init, append, idempotent re-append, as-of, verify and head.
