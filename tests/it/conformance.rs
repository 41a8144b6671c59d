//! The store conformance suite: laws every EventStore implementation must pass.
