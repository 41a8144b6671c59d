//! The CLI's summary against a reference fold computed from the input lines alone.
