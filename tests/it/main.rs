//! The cross-crate test binary: end-to-end tests through the `theseus`
//! binary, and property-based laws across the crates. One binary, one module
//! per concern (see each module's first line).

mod support;

// End to end, through the binary.
mod analyst;
mod audit;
mod bad_input;
mod checked_reports;
mod cli;
mod command_line;
mod concurrency;
mod consultation;
mod crash;
mod currencies;
mod derived_checkpoints;
mod derived_indexes;
mod dry_run;
mod erasure;
mod evidence;
mod import_csv;
mod read_path;
mod record;
mod sample;
mod schema;
mod service;
mod store_files;
mod tamper;

// The PostgreSQL store: conformance subject and end-to-end tests.
mod postgres;

// Laws, with proptest.
mod analyst_laws;
mod conformance;
mod differential;
mod generators;
mod projection_laws;
