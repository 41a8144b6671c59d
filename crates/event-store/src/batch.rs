//! The staging logic every backend shares: validation, duplicate and version
//! checks, position assignment and record encoding for one atomic batch.
//!
//! A [`Batch`] turns staged events into encoded record bytes. The last staged
//! event is kept back un-encoded because its record must carry
//! `"batch_end":true`, which the hash covers: it is encoded when the next
//! event is staged (without the flag) or when the batch is finished (with
//! it). Backends drain [`Batch::out`] whenever they like (the file store
//! streams it to the segment once it passes a megabyte), so a huge batch is
//! never held in memory twice.
//!
//! Per staged event the batch keeps 28 bytes in flat vectors (its id, where
//! its bytes start, and a slot of the id table that finds it), not a map
//! entry holding digests and hashes: a duplicate within the batch and a
//! retraction of an event staged in the same batch are rare, so the staged
//! record is read back instead (from `out`, or through
//! [`CommittedLog::staged_line`] once the backend has taken it), which also
//! spares a second SHA-256 of every event's data. A batch whose bytes are
//! dropped as they are staged ([`Batch::detached`], the dry run) has nothing
//! to read back and keeps each record's digest and hash instead.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::record::{encode_record, format_recorded_at, RecordFields};
use crate::{
    Clock, Committed, Envelope, Hash, Head, Link, NewEvent, Staged, Stamp, StoreError,
    STAMP_TOLERANCE_SECONDS,
};

/// What a batch needs to know about the committed log.
pub trait CommittedLog {
    /// The committed record with this id.
    fn find_committed(&mut self, id: Uuid) -> Result<Option<Envelope>, StoreError>;
    /// The operation's committed version.
    fn committed_version(&mut self, operation: &str) -> Result<u64, StoreError>;
    /// The line (without its newline) of the record this batch staged with
    /// this id at this stream offset, after the backend took it from
    /// [`Batch::output`]. `None` when the backend cannot read it back (it
    /// then never drains the output, or uses [`Batch::detached`]).
    fn staged_line(&mut self, id: Uuid, offset: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = (id, offset);
        Ok(None)
    }
}

/// Where a staged record can be read back from.
#[derive(Debug)]
pub enum StagedRecord {
    /// Already encoded: its bytes start at this offset of the output stream.
    Encoded { offset: u64 },
    /// The last staged event, shown as it would be committed now.
    Pending(Box<Envelope>),
}

/// The staged events' ids, found by id without a map entry per event:
/// `ids` in position order, and an open-addressing table of indexes into
/// it (kept at most half full). The hash is keyed per process, so ids
/// chosen to collide cannot make staging quadratic.
#[derive(Debug, Default)]
struct StagedIds {
    ids: Vec<Uuid>,
    /// `index + 1` into `ids`; 0 is an empty slot. The length is zero or a
    /// power of two.
    slots: Vec<u32>,
    hasher: RandomState,
}

impl StagedIds {
    fn len(&self) -> usize {
        self.ids.len()
    }

    /// The index of the staged event with this id.
    fn get(&self, id: &Uuid) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut slot = self.home(id) & mask;
        loop {
            let entry = self.slots[slot];
            if entry == 0 {
                return None;
            }
            let index = (entry - 1) as usize;
            if self.ids[index] == *id {
                return Some(index);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Adds an id known not to be staged yet.
    fn push(&mut self, id: Uuid) -> Result<(), StoreError> {
        let entry = u32::try_from(self.ids.len() + 1)
            .map_err(|_| StoreError::Invalid("a batch holds at most 2^32 - 1 events".into()))?;
        if (self.ids.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        self.ids.push(id);
        self.place(id, entry);
        Ok(())
    }

    fn home(&self, id: &Uuid) -> usize {
        self.hasher.hash_one(id) as usize
    }

    fn place(&mut self, id: Uuid, entry: u32) {
        let mask = self.slots.len() - 1;
        let mut slot = self.home(&id) & mask;
        while self.slots[slot] != 0 {
            slot = (slot + 1) & mask;
        }
        self.slots[slot] = entry;
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        self.slots = vec![0; size];
        for index in 0..self.ids.len() {
            // Fits: `push` checked every entry against u32.
            self.place(self.ids[index], index as u32 + 1);
        }
    }
}

/// What a detached batch keeps per event, since it cannot read its records
/// back: the digest of operation, type and data, and the record's hash.
#[derive(Debug, Default)]
struct Kept {
    digests: Vec<[u8; 32]>,
    /// One per encoded record, in position order.
    hashes: Vec<Hash>,
}

#[derive(Debug)]
struct Pending {
    event: NewEvent,
    position: u64,
    version: u64,
    refers_to: Option<Link>,
}

/// One batch being staged.
#[derive(Debug)]
pub struct Batch {
    recorded_at: DateTime<Utc>,
    /// `recorded_at` as written in every record of the batch.
    recorded_at_text: String,
    base: Head,
    /// The hash of the last encoded record (the base head's before any).
    previous: Hash,
    pending: Option<Pending>,
    staged: StagedIds,
    /// Only for a detached batch.
    kept: Option<Kept>,
    versions: HashMap<String, u64>,
    /// Encoded bytes not yet taken by the backend.
    pub(crate) out: Vec<u8>,
    /// Stream offset of `out[0]`.
    out_base: u64,
    /// Stream offset of every staged record, in position order (for the
    /// pending one: where it will be written, the end of the stream at
    /// staging time).
    offsets: Vec<u64>,
    duplicates: u64,
}

impl Batch {
    /// A batch appended after `base`, its bytes starting at stream offset
    /// `stream_start` (the file store: the segment's length).
    pub fn new(base: Head, recorded_at: DateTime<Utc>, stream_start: u64) -> Batch {
        Batch {
            recorded_at,
            recorded_at_text: format_recorded_at(&recorded_at),
            base,
            previous: base.hash,
            pending: None,
            staged: StagedIds::default(),
            kept: None,
            versions: HashMap::new(),
            out: Vec::new(),
            out_base: stream_start,
            offsets: Vec::new(),
            duplicates: 0,
        }
    }

    /// A batch whose bytes the backend drops as they are staged (a dry
    /// run): it keeps each record's digest and hash to answer duplicates and
    /// retractions within the batch (64 more bytes an event).
    pub fn detached(base: Head, recorded_at: DateTime<Utc>) -> Batch {
        Batch {
            kept: Some(Kept::default()),
            ..Batch::new(base, recorded_at, 0)
        }
    }

    /// The encoded bytes not yet taken by the backend (whole records, each
    /// with its newline; the last staged event is held back until the next
    /// stage or [`Batch::finish`]).
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// The `recorded_at` every record of the batch carries.
    pub fn recorded_at(&self) -> DateTime<Utc> {
        self.recorded_at
    }

    /// Stream offset of `out[0]`.
    pub fn out_base(&self) -> u64 {
        self.out_base
    }

    /// Marks `out` as written: the backend has taken its bytes.
    pub fn drain_out(&mut self) {
        self.out_base += self.out.len() as u64;
        self.out.clear();
    }

    /// True when nothing new has been staged.
    pub fn is_empty(&self) -> bool {
        self.pending.is_none()
    }

    /// Stream offsets of the staged records (after [`Batch::finish`]: of
    /// all new records), the first being at position `base + 1`.
    pub fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// The new records' ids with their positions and stream offsets, in
    /// position order.
    pub fn new_ids(&self) -> impl Iterator<Item = (Uuid, u64, u64)> + '_ {
        let first = self.base.position + 1;
        self.staged
            .ids
            .iter()
            .zip(&self.offsets)
            .zip(first..)
            .map(|((id, offset), position)| (*id, position, *offset))
    }

    /// The new records' ids in position order, the first at `base + 1`.
    pub fn staged_ids(&self) -> &[Uuid] {
        &self.staged.ids
    }

    /// The index of the pending event among the staged ones.
    fn pending_index(&self) -> Option<usize> {
        self.pending.as_ref().map(|_| self.staged.len() - 1)
    }

    /// The operations touched by the batch and their new versions.
    pub fn versions(&self) -> &HashMap<String, u64> {
        &self.versions
    }

    /// The head including the staged events, the last one hashed as the
    /// batch's end (as it would be committed now).
    pub fn head(&self) -> Head {
        match &self.pending {
            None => self.base,
            Some(pending) => {
                let mut scratch = Vec::new();
                let hash = self.encode(&mut scratch, pending, true);
                Head {
                    position: pending.position,
                    hash,
                }
            }
        }
    }

    /// Where a staged event with this id is, if one is.
    pub fn find_staged(&self, id: Uuid) -> Option<StagedRecord> {
        let index = self.staged.get(&id)?;
        match &self.pending {
            Some(pending) if self.pending_index() == Some(index) => {
                let mut scratch = Vec::new();
                let hash = self.encode(&mut scratch, pending, true);
                let event = &pending.event;
                Some(StagedRecord::Pending(Box::new(Envelope {
                    position: pending.position,
                    id: event.id,
                    operation: event.operation.clone(),
                    version: pending.version,
                    event_type: event.event_type.clone(),
                    schema: event.schema,
                    recorded_at: self.recorded_at,
                    recorded_by: event.recorded_by.clone(),
                    reported_at: event.reported_at.clone(),
                    refers_to: pending.refers_to,
                    data: event.data.clone(),
                    batch_end: true,
                    hash,
                    line: scratch.strip_suffix(b"\n").unwrap_or(&scratch).to_vec(),
                })))
            }
            _ => Some(StagedRecord::Encoded {
                offset: self.offsets[index],
            }),
        }
    }

    /// The operation's version including staged events.
    pub fn version(&self, log: &mut dyn CommittedLog, operation: &str) -> Result<u64, StoreError> {
        match self.versions.get(operation) {
            Some(version) => Ok(*version),
            None => log.committed_version(operation),
        }
    }

    /// Stages one event (see [`crate::AppendTransaction::stage`]).
    pub fn stage(
        &mut self,
        log: &mut dyn CommittedLog,
        event: NewEvent,
    ) -> Result<Staged, StoreError> {
        validate(&event)?;
        if let Some(index) = self.staged.get(&event.id) {
            let position = self.base.position + index as u64 + 1;
            return if self.same_as_staged(log, index, &event)? {
                self.duplicates += 1;
                Ok(Staged::Duplicate { position })
            } else {
                Err(StoreError::IdConflict {
                    id: event.id,
                    position,
                })
            };
        }
        if let Some(found) = log.find_committed(event.id)? {
            return if found.operation == event.operation
                && found.event_type == event.event_type
                && found.data == event.data
            {
                self.duplicates += 1;
                Ok(Staged::Duplicate {
                    position: found.position,
                })
            } else {
                Err(StoreError::IdConflict {
                    id: event.id,
                    position: found.position,
                })
            };
        }
        let current = self.version(log, &event.operation)?;
        if let Some(expected) = event.expected_version {
            if expected != current {
                return Err(StoreError::Conflict {
                    operation: event.operation,
                    expected,
                    actual: current,
                });
            }
        }
        let refers_to = match event.refers_to {
            Some(target) => Some(self.link_to(log, target)?),
            None => None,
        };
        // Checks passed: the previous pending event is now known not to be
        // the batch's last, so it can be encoded for good.
        if let Some(previous) = self.pending.take() {
            self.encode_pending(previous, false);
        }
        let position = self.base.position + self.staged.len() as u64 + 1;
        let version = current + 1;
        self.staged.push(event.id)?;
        self.offsets.push(self.out_base + self.out.len() as u64);
        if let Some(kept) = &mut self.kept {
            kept.digests.push(event_digest(
                &event.operation,
                &event.event_type,
                &event.data,
            ));
        }
        match self.versions.get_mut(&event.operation) {
            Some(known) => *known = version,
            None => {
                self.versions.insert(event.operation.clone(), version);
            }
        }
        self.pending = Some(Pending {
            event,
            position,
            version,
            refers_to,
        });
        Ok(Staged::New { position, version })
    }

    /// The link to the record with id `target`, committed or staged: its
    /// position and the hash it has (or, for the pending event, will have
    /// once the referring event follows it).
    fn link_to(&self, log: &mut dyn CommittedLog, target: Uuid) -> Result<Link, StoreError> {
        if let Some(index) = self.staged.get(&target) {
            let hash = match &self.pending {
                Some(pending) if self.pending_index() == Some(index) => {
                    self.encode(&mut Vec::new(), pending, false)
                }
                _ => match &self.kept {
                    Some(kept) => kept.hashes[index],
                    None => self.staged_line(log, index, |record| record.hash)?,
                },
            };
            return Ok(Link {
                position: self.base.position + index as u64 + 1,
                hash,
            });
        }
        match log.find_committed(target)? {
            Some(found) => Ok(Link {
                position: found.position,
                hash: found.hash,
            }),
            None => Err(StoreError::Invalid(format!(
                "refers_to: no record has id {target}"
            ))),
        }
    }

    /// Encodes the last event as the batch's end. Afterwards `out` holds the
    /// rest of the batch's bytes.
    pub fn finish(&mut self) {
        if let Some(last) = self.pending.take() {
            self.encode_pending(last, true);
            // Keep the last record findable as it now is.
            self.pending = None;
        }
    }

    /// The commit's outcome, after [`Batch::finish`].
    pub fn committed(&self) -> Committed {
        let appended = self.offsets.len() as u64;
        let (first_position, last_position) = if appended == 0 {
            (None, None)
        } else {
            (
                Some(self.base.position + 1),
                Some(self.base.position + appended),
            )
        };
        Committed {
            appended,
            duplicates: self.duplicates,
            first_position,
            last_position,
            head: Head {
                position: self.base.position + appended,
                hash: self.previous,
            },
        }
    }

    /// Whether `event` is the same (operation, type and data) as the staged
    /// event at `index`.
    fn same_as_staged(
        &self,
        log: &mut dyn CommittedLog,
        index: usize,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        if let Some(pending) = &self.pending {
            if self.pending_index() == Some(index) {
                let staged = &pending.event;
                return Ok(staged.operation == event.operation
                    && staged.event_type == event.event_type
                    && staged.data == event.data);
            }
        }
        if let Some(kept) = &self.kept {
            let digest = event_digest(&event.operation, &event.event_type, &event.data);
            return Ok(kept.digests[index] == digest);
        }
        self.staged_line(log, index, |record| {
            record.operation == event.operation
                && record.event_type == event.event_type
                && record.data == event.data
        })
    }

    /// Reads the encoded record staged at `index` back (from `out`, or from
    /// the backend once it took the bytes) and looks at it.
    fn staged_line<T>(
        &self,
        log: &mut dyn CommittedLog,
        index: usize,
        look: impl FnOnce(&crate::EnvelopeRef<'_>) -> T,
    ) -> Result<T, StoreError> {
        let offset = self.offsets[index];
        let id = self.staged.ids[index];
        let taken;
        let line = if offset >= self.out_base {
            let start = usize::try_from(offset - self.out_base).unwrap_or(usize::MAX);
            let bytes = self.out.get(start..).unwrap_or_default();
            &bytes[..memchr::memchr(b'\n', bytes).unwrap_or(bytes.len())]
        } else {
            taken = log.staged_line(id, offset)?.ok_or_else(|| {
                StoreError::Invalid(format!("the staged record {id} cannot be read back"))
            })?;
            &taken[..]
        };
        let record = crate::record::decode_record(line).map_err(|reason| StoreError::Corrupt {
            location: format!("the staged record {id}"),
            reason,
        })?;
        if record.id != id {
            return Err(StoreError::Corrupt {
                location: format!("the staged record {id}"),
                reason: format!("it holds the record {} instead", record.id),
            });
        }
        Ok(look(&record))
    }

    fn encode_pending(&mut self, pending: Pending, batch_end: bool) {
        let mut out = std::mem::take(&mut self.out);
        self.previous = self.encode(&mut out, &pending, batch_end);
        self.out = out;
        if let Some(kept) = &mut self.kept {
            kept.hashes.push(self.previous);
        }
    }

    fn encode(&self, out: &mut Vec<u8>, pending: &Pending, batch_end: bool) -> Hash {
        let event = &pending.event;
        encode_record(
            out,
            &self.previous,
            &RecordFields {
                position: pending.position,
                id: event.id,
                operation: &event.operation,
                version: pending.version,
                event_type: &event.event_type,
                schema: event.schema,
                recorded_at: &self.recorded_at_text,
                recorded_by: &event.recorded_by,
                reported_at: event.reported_at.as_deref(),
                refers_to: pending.refers_to,
                data: &event.data,
                batch_end,
            },
        )
    }
}

/// The store-level checks on one event: what the record format needs.
fn validate(event: &NewEvent) -> Result<(), StoreError> {
    if event.id.is_nil() {
        // The nil id marks an empty slot in the file store's id index.
        return Err(StoreError::Invalid("the nil id cannot be stored".into()));
    }
    if event.operation.is_empty() {
        return Err(StoreError::Invalid("operation is empty".into()));
    }
    if event.event_type.is_empty() {
        return Err(StoreError::Invalid("event type is empty".into()));
    }
    let data = event.data.as_bytes();
    if !data.starts_with(b"{")
        || !data.ends_with(b"}")
        || memchr::memchr2(b'\n', b'\r', data).is_some()
    {
        return Err(StoreError::Invalid(
            "data is not a JSON object on one line".into(),
        ));
    }
    // Data that is not JSON would make the record itself unreadable.
    if serde_json::from_str::<&serde_json::value::RawValue>(&event.data).is_err() {
        return Err(StoreError::Invalid("data is not valid JSON".into()));
    }
    Ok(())
}

/// SHA-256 over the length-prefixed operation, type and data: what decides
/// whether two events with one id are the same.
fn event_digest(operation: &str, event_type: &str, data: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [operation, event_type, data] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// The `recorded_at` of a batch, decided under the writers' lock from the
/// stamp asked for, the store's clock and the head record's time
/// (`head_recorded_at` as written; `None` for an empty log). See [`Stamp`].
pub fn resolve_stamp(
    stamp: Stamp,
    clock: Clock,
    head_recorded_at: Option<&str>,
) -> Result<DateTime<Utc>, StoreError> {
    let head = head_recorded_at
        .map(crate::record::parse_recorded_at)
        .transpose()?;
    resolve_parsed(stamp, clock(), head, head_recorded_at)
}

/// [`resolve_stamp`] for a store whose clock is not a function of this
/// process: `now` is the store's clock as read under the writers' lock (the
/// PostgreSQL store reads the database server's).
pub fn resolve_stamp_at(
    stamp: Stamp,
    now: DateTime<Utc>,
    head_recorded_at: Option<&str>,
) -> Result<DateTime<Utc>, StoreError> {
    let head = head_recorded_at
        .map(crate::record::parse_recorded_at)
        .transpose()?;
    resolve_parsed(stamp, now, head, head_recorded_at)
}

fn resolve_parsed(
    stamp: Stamp,
    now: DateTime<Utc>,
    head: Option<DateTime<Utc>>,
    head_recorded_at: Option<&str>,
) -> Result<DateTime<Utc>, StoreError> {
    match stamp {
        Stamp::Now => Ok(head.map_or(now, |head| head.max(now))),
        Stamp::At(requested) => {
            if let (Some(head), Some(head_text)) = (head, head_recorded_at) {
                if requested < head {
                    return Err(StoreError::StampBehind {
                        given: format_recorded_at(&requested),
                        head: head_text.to_owned(),
                    });
                }
            }
            if requested > now + TimeDelta::seconds(STAMP_TOLERANCE_SECONDS) {
                return Err(StoreError::StampAhead {
                    given: format_recorded_at(&requested),
                    now: now.to_rfc3339_opts(SecondsFormat::Secs, true),
                    tolerance_seconds: STAMP_TOLERANCE_SECONDS,
                });
            }
            Ok(requested)
        }
    }
}
