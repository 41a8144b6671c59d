//! A corpus of bad input: each case is refused with its exit code and a message naming the line, and leaves the log byte-identical.
