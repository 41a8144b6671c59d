//! The application layer of theseus: what the CLI (or any embedding program)
//! calls to append input lines under the domain's rules and to build reports.
//!
//! It joins the crates below it and adds no rules of its own:
//!
//! * [`input`]: the JSON Lines input format national tools send, read with
//!   limits and with errors that name the line and the field.
//! * [`mod@append`]: one input batch → one atomic store transaction, each line
//!   checked for duplicates, expected versions and the domain's rules against
//!   the log plus the lines before it.
//! * [`state`]: the operations' rule state, a checkpointed fold of the log, so
//!   that an append does not replay the log.
//! * [`checkpoints`]: the audit of every checkpoint against a re-derivation
//!   from the log (for `verify`).
//! * [`import`]: CSV files (one event type per file) as input lines.
//! * [`reports`]: reports as of the head, a position or a time, filtered.
//! * [`events`], [`trace`], [`diff`]: the analyst's side: the events
//!   themselves, the events behind one figure, what changed between two
//!   prefixes; all streamed over a chain-checked read ([`scan`]).
//! * [`dashboard`]: the briefing page of a log prefix (`GET /`, `theseus
//!   dashboard`).
//! * [`feed`]: one event as a line of JSON (`follow`, `GET /v1/events`).
//! * [`group`]: group commit for a long-running writer (the server).
//! * [`audit`]: the audit of the whole history for `verify`: every record
//!   replayed in order through the domain's rules as they stood.
//! * [`signatures`]: agencies' signatures over batches, checked on append
//!   and by [`signatures::verify_signatures`]; [`receipts`]: the ledger's
//!   signed heads, and checking that a log still holds them.
//! * [`sealing`]: personal references sealed at append, a key per subject;
//!   [`privacy`]: erasing a subject's key, recording consultations.
//! * [`agencies`]: the agency registry (recorded in the log's reserved
//!   stream), access tokens, and reading the registry as of a head.

#![forbid(unsafe_code)]

pub mod agencies;
pub mod append;
pub mod audit;
pub mod checkpoints;
pub mod dashboard;
pub mod diff;
mod error;
pub mod events;
pub mod feed;
pub mod generate;
pub mod group;
pub mod import;
pub mod input;
pub mod privacy;
pub mod receipts;
pub mod reports;
pub mod scan;
pub mod sealing;
pub mod signatures;
pub mod state;
pub mod trace;

pub use agencies::Submitter;
pub use append::{
    append, append_as, append_batch, AppendOptions, AppendSummary, BatchOptions, BatchOutcome,
    DryRunReport, JsonLines, LineError, LineId, Naming, Source, MAX_REPORTED_ERRORS,
};
pub use error::{ErrorKind, LedgerError};
pub use reports::{report, report_counted, report_with, AsOf};
