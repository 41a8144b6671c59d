//! Tampering with the log is detected by verify.
