//! The append-only, hash-chained event log of theseus.
//!
//! This crate knows envelopes and bytes, not arrests: an envelope carries an
//! opaque event type name and an opaque JSON `data` object that the domain
//! crate interprets. What the store guarantees is independent of that meaning:
//!
//! * every record has a global `position` (1, 2, 3… with no gaps) and a
//!   `version` within its operation (its stream: 1, 2, 3…);
//! * records are chained: each record's `hash` covers the previous hash and the
//!   record's own bytes, so any edit, removal or reordering is detected;
//! * a batch is appended whole or not at all, for writers and for readers;
//! * an append returns only once its records are durable;
//! * an event id is unique in the log: appending the same event again is a
//!   no-op, appending another event under a used id is refused.
//!
//! Storage is behind the [`EventStore`] trait, which assumes no files: the
//! [`FileStore`] keeps JSON-lines segments in a directory, the [`MemoryStore`]
//! keeps them in memory (for tests and embedding), and a PostgreSQL backend
//! will implement the same trait and pass the same conformance suite.

// One measured exception, in `file/index/ids.rs`: the writer maps the derived
// id table into memory (see the SAFETY comment there).
#![deny(unsafe_code)]

mod batch;
mod check;
mod envelope;
mod error;
mod file;
mod hash;
pub mod key;
mod memory;
mod record;
pub mod subject_keys;

pub use envelope::{Envelope, EnvelopeRef, Head, Link, NewEvent};
pub use error::StoreError;
pub use file::{
    warn_on_stderr, FileStore, FileStoreConfig, TornTail, VerifySplit, Visited, Visitor, Warn,
};
pub use hash::Hash;
pub use key::{DerivedKey, KeyError};
pub use memory::MemoryStore;
pub use record::{
    chain_step, decode_record, encode_record, format_recorded_at, record_hash, RecordFields,
    RECORD_FORMAT,
};
pub use subject_keys::SubjectKey;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What new backends share with the file and memory stores, so that every
/// backend writes the same bytes and checks a log the same way.
pub mod backend {
    pub use crate::batch::{resolve_stamp, resolve_stamp_at, Batch, CommittedLog, StagedRecord};
    pub use crate::check::LogChecker;
    pub use crate::file::derived::check_name as check_derived_name;
    pub use crate::file::derived::{seal_context, WarnOnce};
}

/// A clock: the store reads it once it holds the writers' lock.
pub type Clock = fn() -> DateTime<Utc>;

/// The system clock, [`Utc::now`].
pub fn system_clock() -> DateTime<Utc> {
    Utc::now()
}

/// How far ahead of the store's clock a requested [`Stamp::At`] may be, in
/// seconds: enough for two hosts whose clocks differ a little, too little
/// for one stamp to hold back every later clock-stamped batch for long
/// (those are clamped to the head's time until the clock catches up).
pub const STAMP_TOLERANCE_SECONDS: i64 = 60;

/// How the records of a batch are stamped with `recorded_at`: the ledger's
/// own commit time, decided by the store under the writers' lock, so that
/// times never go back along the log and concurrent writers are never
/// refused for clock reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// The store's clock, read under the lock; a clock behind the head's
    /// time is clamped to the head's time.
    Now,
    /// This time (reproducible builds such as the sample store's). Refused
    /// unless it lies between the head's time and the store's clock plus
    /// [`STAMP_TOLERANCE_SECONDS`].
    At(DateTime<Utc>),
}

/// What [`AppendTransaction::stage`] did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// The event will be written at this position, as this version of its
    /// operation, when the transaction commits.
    New { position: u64, version: u64 },
    /// An event with the same id, operation, type and data is already in the
    /// log (or earlier in this batch) at this position: nothing is staged.
    Duplicate { position: u64 },
}

/// The outcome of a committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Number of new records written.
    pub appended: u64,
    /// Number of staged events skipped as duplicates.
    pub duplicates: u64,
    /// Position of the first new record, if any was written.
    pub first_position: Option<u64>,
    /// Position of the last new record, if any was written.
    pub last_position: Option<u64>,
    /// The head after the commit.
    pub head: Head,
}

/// What `verify` established about a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of records checked.
    pub records: u64,
    /// Number of segments (files, tables…) the records were spread over.
    pub segments: u64,
    /// The last record's position and hash (position 0 for an empty log).
    pub head: Head,
}

/// A range of positions to read, both ends inclusive; `to` is clamped to the
/// head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: u64,
    pub to: u64,
}

impl Range {
    /// Every record.
    pub const ALL: Range = Range {
        from: 1,
        to: u64::MAX,
    };

    /// Records `from..=to`.
    pub fn new(from: u64, to: u64) -> Range {
        Range { from, to }
    }
}

/// The log, whatever holds it.
///
/// Readers see a consistent prefix of whole batches: the head is fixed when a
/// read starts and a batch that is being written (or was torn by a crash) is
/// never visible. All methods take `&self`: a store is shared by threads, and
/// several processes may open the same store at once.
pub trait EventStore: Send + Sync {
    /// The last committed record (position 0 and [`Hash::GENESIS`] for an
    /// empty log).
    fn head(&self) -> Result<Head, StoreError>;

    /// Calls `visit` with each committed record in `range`, in position order,
    /// stopping at the first error (the visitor's errors are passed through as
    /// [`StoreError::Visitor`]). The borrowed view avoids allocating per record:
    /// this is the path every replay takes.
    fn scan(
        &self,
        range: Range,
        visit: &mut dyn FnMut(&EnvelopeRef<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// The record with this event id, if the log holds one.
    fn get(&self, id: Uuid) -> Result<Option<Envelope>, StoreError>;

    /// The record at this position, if the log reaches it.
    fn get_at(&self, position: u64) -> Result<Option<Envelope>, StoreError>;

    /// The record at this position and the hash stored in the record
    /// before it ([`Hash::GENESIS`] before the first), if the log reaches
    /// it: what a reader needs to check one record against the chain (a
    /// retraction's pinned target). A store that can read both at once
    /// (the file store: the line before ends where this one starts) saves a
    /// second lookup.
    fn get_at_chained(&self, position: u64) -> Result<Option<(Hash, Envelope)>, StoreError> {
        let Some(record) = self.get_at(position)? else {
            return Ok(None);
        };
        let previous = match position {
            0 | 1 => Hash::GENESIS,
            _ => match self.get_at(position - 1)? {
                Some(before) => before.hash,
                None => {
                    return Err(StoreError::Corrupt {
                        location: format!("position {}", position - 1),
                        reason: "missing".into(),
                    })
                }
            },
        };
        Ok(Some((previous, record)))
    }

    /// The head as it was at `instant`: the last record whose `recorded_at`
    /// is at or before it (recorded_at never decreases along the log).
    fn head_at(&self, instant: DateTime<Utc>) -> Result<Head, StoreError>;

    /// Whether reading beside [`EventStore::begin`], on a thread of its
    /// own, saves time (the default) or costs it: the file store's `begin`
    /// is work of its own (its indexes opened, or rebuilt from the log),
    /// which a read of the rule state overlaps; the PostgreSQL store's is
    /// one round trip, and a read beside it needs a second connection,
    /// which costs more than the overlap saves. A hint: it changes what
    /// runs when, never an answer.
    fn reads_beside_begin(&self) -> bool {
        true
    }

    /// Starts an atomic batch. The store is locked against other writers until
    /// the transaction is committed or dropped; dropping it writes nothing.
    /// Every record of the batch carries one `recorded_at`, decided by the
    /// store once it holds the lock (see [`Stamp`]).
    fn begin(&self, stamp: Stamp) -> Result<Box<dyn AppendTransaction + '_>, StoreError>;

    /// Checks every record: that it parses, that positions and per-operation
    /// versions run 1, 2, 3…, that every hash chains, and that batches are
    /// complete. With `expect_head`, also that the log still holds that record
    /// with that hash (a log cut short is caught).
    fn verify(&self, expect_head: Option<(u64, Hash)>) -> Result<VerifyReport, StoreError>;

    /// Reads a derived artefact (checkpoint, cache) saved with
    /// [`EventStore::save_derived`]. Derived data may vanish at any time:
    /// `None` means "rebuild it". A store that others can write (the file
    /// and PostgreSQL stores) returns only bytes sealed by its
    /// [`DerivedKey`] under this name, and `None` for anything else (no
    /// key, damaged, edited, another key's), after one warning; a derived
    /// folder or table it cannot read is `None` too, never an error. What
    /// a seal cannot tell (bytes this key saved for another store, or for
    /// an older state of this one) the caller checks against the log.
    /// Only a name that is not a derived name (see
    /// [`backend::check_derived_name`]) is an error.
    fn load_derived(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Saves a derived artefact atomically (a reader sees the old or the new
    /// bytes, never a mix). Not synced: derived data can always be rebuilt.
    /// A store that cannot save it (no key, a folder or table it may not
    /// write) saves nothing, warns once, and returns `Ok`: derived data
    /// only ever saves time.
    fn save_derived(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;

    /// The subject key with this id, if the store still holds it (see
    /// [`subject_keys`]): what opening a sealed reference needs.
    fn subject_key(&self, key_id: &[u8; 16]) -> Result<Option<SubjectKey>, StoreError>;
}

/// One atomic batch being assembled under the writers' lock.
pub trait AppendTransaction {
    /// The head including what has been staged so far.
    fn head(&self) -> Head;

    /// The `recorded_at` every record of this batch carries.
    fn recorded_at(&self) -> DateTime<Utc>;

    /// The record with this id, whether committed or staged earlier in this
    /// batch.
    fn find(&self, id: Uuid) -> Result<Option<Envelope>, StoreError>;

    /// The operation's version (its number of records), including staged ones.
    fn version(&self, operation: &str) -> Result<u64, StoreError>;

    /// A hint that [`AppendTransaction::find`] and
    /// [`AppendTransaction::stage`] are about to be asked about these ids:
    /// a store whose lookups cost a round trip (PostgreSQL) answers them all
    /// with one, and keeps the answers for this transaction until the next
    /// prefetch. It changes no answer; stores with local indexes ignore it.
    fn prefetch(&mut self, ids: &[Uuid]) -> Result<(), StoreError> {
        let _ = ids;
        Ok(())
    }

    /// Stages one event. Checks, in order: a used id (same operation, type and
    /// data: [`Staged::Duplicate`]; anything different:
    /// [`StoreError::IdConflict`]); then `expected_version`
    /// ([`StoreError::Conflict`]). On error nothing is staged and the
    /// transaction may go on or be dropped.
    fn stage(&mut self, event: NewEvent) -> Result<Staged, StoreError>;

    /// A hint that [`AppendTransaction::find_subject_key`] is about to be
    /// asked about these lookups: like [`AppendTransaction::prefetch`], a
    /// store whose lookups cost a round trip answers them all with one and
    /// keeps the answers until the next such prefetch. It changes no answer.
    fn prefetch_subject_keys(&mut self, lookups: &[[u8; 32]]) -> Result<(), StoreError> {
        let _ = lookups;
        Ok(())
    }

    /// The subject key found by `lookup`, as this transaction sees the key
    /// store (its own additions and removals included).
    fn find_subject_key(&mut self, lookup: &[u8; 32]) -> Result<Option<SubjectKey>, StoreError>;

    /// Adds a subject key with the batch: durable before the batch's
    /// records are, gone if the transaction is dropped.
    fn add_subject_key(&mut self, key: SubjectKey) -> Result<(), StoreError>;

    /// Removes the subject key found by `lookup` with the batch: gone once
    /// the batch's records are durable, kept if the transaction is dropped.
    fn remove_subject_key(&mut self, lookup: &[u8; 32]) -> Result<(), StoreError>;

    /// Writes the batch and makes it durable; returns only once it is.
    fn commit(self: Box<Self>) -> Result<Committed, StoreError>;
}
