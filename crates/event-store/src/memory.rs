//! The in-memory store: the same log semantics as the file store, held in a
//! `Vec` of encoded lines, for tests and embedding.
//!
//! Records are encoded with [`crate::encode_record`] exactly as the file store
//! writes them, so the same events at the same times get the same hashes.
//! [`MemoryStore::lines`] and [`MemoryStore::from_lines`] expose the bytes so
//! that tests can tamper with them and watch `verify` object.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::batch::{resolve_stamp, Batch, CommittedLog, StagedRecord};
use crate::check::LogChecker;
use crate::record::{decode_record, parse_recorded_at};
use crate::subject_keys::{KeyMap, StagedKeys};
use crate::{
    system_clock, AppendTransaction, Clock, Committed, Envelope, EnvelopeRef, EventStore, Hash,
    Head, NewEvent, Range, Staged, Stamp, StoreError, SubjectKey, VerifyReport,
};

/// A log in memory.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Held by the open transaction: the writers' lock.
    writer: Mutex<()>,
    /// Stamps batches, read under the writers' lock.
    clock: Clock,
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore {
            state: Mutex::new(State::default()),
            writer: Mutex::new(()),
            clock: system_clock,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Each record's line, newline included.
    lines: Vec<Vec<u8>>,
    /// Index of the line after the last batch end: lines past it belong to
    /// no committed batch (only possible through `from_lines`).
    committed: usize,
    ids: HashMap<Uuid, u64>,
    versions: HashMap<String, u64>,
    derived: HashMap<String, Vec<u8>>,
    keys: KeyMap,
}

impl MemoryStore {
    /// An empty log.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// This store, stamping batches with `clock` instead of the system's.
    pub fn with_clock(self, clock: Clock) -> MemoryStore {
        MemoryStore { clock, ..self }
    }

    /// A log holding these record lines (each with or without its newline),
    /// taken as they are: `verify` says whether they form a valid log.
    pub fn from_lines(lines: Vec<Vec<u8>>) -> MemoryStore {
        // A line without its newline is kept as it is: like a file cut in
        // the middle of a write, it is part of a torn tail, not a record.
        let mut state = State {
            lines,
            ..State::default()
        };
        state.reindex();
        MemoryStore {
            state: Mutex::new(state),
            ..MemoryStore::default()
        }
    }

    /// The encoded record lines, newline included.
    pub fn lines(&self) -> Vec<Vec<u8>> {
        self.lock_state().lines.clone()
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the state half-changed: every change
        // is made by one push/insert sequence after all checks.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn reindex(&mut self) {
        self.ids.clear();
        self.versions.clear();
        self.committed = 0;
        for (index, line) in self.lines.iter().enumerate() {
            if !line.ends_with(b"\n") {
                break;
            }
            if let Ok(record) = decode_record(trim(line)) {
                if record.batch_end {
                    self.committed = index + 1;
                }
            }
        }
        for line in &self.lines[..self.committed] {
            if let Ok(record) = decode_record(trim(line)) {
                self.ids.insert(record.id, record.position);
                self.versions
                    .insert(record.operation.into_owned(), record.version);
            }
        }
    }

    fn head(&self) -> Result<Head, StoreError> {
        match self.committed {
            0 => Ok(Head::EMPTY),
            n => {
                let record = self.record(n as u64)?;
                Ok(Head {
                    position: record.position,
                    hash: record.hash,
                })
            }
        }
    }

    fn head_recorded_at(&self) -> Result<Option<String>, StoreError> {
        match self.committed {
            0 => Ok(None),
            n => Ok(Some(self.record(n as u64)?.recorded_at.to_owned())),
        }
    }

    /// The committed record at `position` (1-based, within the committed
    /// lines).
    fn record(&self, position: u64) -> Result<EnvelopeRef<'_>, StoreError> {
        let index = usize::try_from(position - 1).unwrap_or(usize::MAX);
        let line = self.lines.get(index).ok_or_else(|| StoreError::Corrupt {
            location: format!("line {position}"),
            reason: "missing".into(),
        })?;
        let record = decode_record(trim(line)).map_err(|reason| StoreError::Corrupt {
            location: format!("line {position} (position {position})"),
            reason,
        })?;
        if record.position != position {
            return Err(StoreError::Corrupt {
                location: format!("line {position} (position {})", record.position),
                reason: format!("position {} is out of place", record.position),
            });
        }
        Ok(record)
    }
}

fn trim(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

impl EventStore for MemoryStore {
    fn head(&self) -> Result<Head, StoreError> {
        self.lock_state().head()
    }

    fn scan(
        &self,
        range: Range,
        visit: &mut dyn FnMut(&EnvelopeRef<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // The snapshot is the committed prefix now. Lines are copied out a
        // chunk at a time, so that visitors may use the store (even append)
        // without deadlocking and a full scan does not copy the whole log.
        const CHUNK: u64 = 1024;
        let to = range.to.min(self.lock_state().committed as u64);
        let mut next = range.from.max(1);
        while next <= to {
            let end = to.min(next + CHUNK - 1);
            let lines: Vec<Vec<u8>> =
                self.lock_state().lines[(next - 1) as usize..end as usize].to_vec();
            for (expected, line) in (next..).zip(lines.iter()) {
                let record = decode_record(trim(line)).map_err(|reason| StoreError::Corrupt {
                    location: format!("line {expected} (position {expected})"),
                    reason,
                })?;
                if record.position != expected {
                    return Err(StoreError::Corrupt {
                        location: format!("line {expected} (position {})", record.position),
                        reason: format!("position {} follows {}", record.position, expected - 1),
                    });
                }
                visit(&record)?;
            }
            next = end + 1;
        }
        Ok(())
    }

    fn get(&self, id: Uuid) -> Result<Option<Envelope>, StoreError> {
        let state = self.lock_state();
        match state.ids.get(&id) {
            None => Ok(None),
            Some(position) => Ok(Some(state.record(*position)?.to_owned_envelope()?)),
        }
    }

    fn get_at(&self, position: u64) -> Result<Option<Envelope>, StoreError> {
        let state = self.lock_state();
        if position == 0 || position > state.committed as u64 {
            return Ok(None);
        }
        Ok(Some(state.record(position)?.to_owned_envelope()?))
    }

    fn head_at(&self, instant: DateTime<Utc>) -> Result<Head, StoreError> {
        let state = self.lock_state();
        // Binary search for the first record after `instant`.
        let (mut low, mut high) = (1u64, state.committed as u64 + 1);
        while low < high {
            let middle = low + (high - low) / 2;
            let at = parse_recorded_at(state.record(middle)?.recorded_at)?;
            if at <= instant {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        match low - 1 {
            0 => Ok(Head::EMPTY),
            position => {
                let record = state.record(position)?;
                Ok(Head {
                    position,
                    hash: record.hash,
                })
            }
        }
    }

    fn begin(&self, stamp: Stamp) -> Result<Box<dyn AppendTransaction + '_>, StoreError> {
        let guard = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (head, head_recorded_at) = {
            let state = self.lock_state();
            (state.head()?, state.head_recorded_at()?)
        };
        let recorded_at = resolve_stamp(stamp, self.clock, head_recorded_at.as_deref())?;
        Ok(Box::new(MemoryTransaction {
            store: self,
            _writer: guard,
            batch: Batch::new(head, recorded_at, 0),
            keys: StagedKeys::default(),
        }))
    }

    fn verify(&self, expect_head: Option<(u64, Hash)>) -> Result<VerifyReport, StoreError> {
        let state = self.lock_state();
        let mut checker = LogChecker::new(expect_head);
        for (index, line) in state.lines[..state.committed].iter().enumerate() {
            let line_number = index as u64 + 1;
            let location = |position: u64| format!("line {line_number} (position {position})");
            checker.check_line(trim(line), &location)?;
        }
        if state.committed < state.lines.len() {
            let line_number = state.committed + 1;
            return Err(StoreError::Corrupt {
                location: format!("line {line_number}"),
                reason: "records after the last batch end".into(),
            });
        }
        checker.finish(1, expect_head)
    }

    fn load_derived(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        crate::file::derived::check_name(name)?;
        Ok(self.lock_state().derived.get(name).cloned())
    }

    fn save_derived(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        crate::file::derived::check_name(name)?;
        self.lock_state()
            .derived
            .insert(name.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn subject_key(&self, key_id: &[u8; 16]) -> Result<Option<SubjectKey>, StoreError> {
        Ok(self.lock_state().keys.by_id(key_id))
    }
}

/// A batch on a [`MemoryStore`]; holds the writers' lock until dropped.
struct MemoryTransaction<'s> {
    store: &'s MemoryStore,
    _writer: MutexGuard<'s, ()>,
    batch: Batch,
    keys: StagedKeys,
}

/// The committed side of a memory transaction's lookups.
struct CommittedView<'a> {
    store: &'a MemoryStore,
}

impl CommittedLog for CommittedView<'_> {
    fn find_committed(&mut self, id: Uuid) -> Result<Option<Envelope>, StoreError> {
        self.store.get(id)
    }

    fn committed_version(&mut self, operation: &str) -> Result<u64, StoreError> {
        Ok(self
            .store
            .lock_state()
            .versions
            .get(operation)
            .copied()
            .unwrap_or(0))
    }
}

impl AppendTransaction for MemoryTransaction<'_> {
    fn head(&self) -> Head {
        self.batch.head()
    }

    fn recorded_at(&self) -> DateTime<Utc> {
        self.batch.recorded_at()
    }

    fn find(&self, id: Uuid) -> Result<Option<Envelope>, StoreError> {
        match self.batch.find_staged(id) {
            Some(StagedRecord::Pending(envelope)) => Ok(Some(*envelope)),
            Some(StagedRecord::Encoded { offset }) => {
                let start = usize::try_from(offset - self.batch.out_base()).unwrap_or(usize::MAX);
                let bytes = self.batch.out.get(start..).unwrap_or_default();
                let end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
                let record =
                    decode_record(&bytes[..end]).map_err(|reason| StoreError::Corrupt {
                        location: "staged record".into(),
                        reason,
                    })?;
                Ok(Some(record.to_owned_envelope()?))
            }
            None => self.store.get(id),
        }
    }

    fn version(&self, operation: &str) -> Result<u64, StoreError> {
        self.batch
            .version(&mut CommittedView { store: self.store }, operation)
    }

    fn stage(&mut self, event: NewEvent) -> Result<Staged, StoreError> {
        let mut log = CommittedView { store: self.store };
        self.batch.stage(&mut log, event)
    }

    fn find_subject_key(&mut self, lookup: &[u8; 32]) -> Result<Option<SubjectKey>, StoreError> {
        let store = self.store;
        self.keys.get(
            |lookup| Ok(store.lock_state().keys.by_lookup.get(lookup).cloned()),
            lookup,
        )
    }

    fn add_subject_key(&mut self, key: SubjectKey) -> Result<(), StoreError> {
        self.keys.add(key);
        Ok(())
    }

    fn remove_subject_key(&mut self, lookup: &[u8; 32]) -> Result<(), StoreError> {
        self.keys.remove(*lookup);
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<Committed, StoreError> {
        self.batch.finish();
        let committed = self.batch.committed();
        let bytes = std::mem::take(&mut self.batch.out);
        let mut state = self.store.lock_state();
        if committed.appended > 0 {
            for key in self.keys.take_added_sorted() {
                state.keys.by_lookup.insert(key.lookup, key);
            }
            for lookup in &self.keys.removed {
                state.keys.by_lookup.remove(lookup);
            }
        }
        // Like the file store's next writer, drop exactly the torn tail
        // (whatever follows the last batch end) before writing.
        let committed_lines = state.committed;
        state.lines.truncate(committed_lines);
        for line in bytes.split_inclusive(|byte| *byte == b'\n') {
            state.lines.push(line.to_vec());
        }
        state.committed = state.lines.len();
        for (id, position, _) in self.batch.new_ids() {
            state.ids.insert(id, position);
        }
        for (operation, version) in self.batch.versions() {
            state.versions.insert(operation.clone(), *version);
        }
        Ok(committed)
    }
}
