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
//! Per staged event the batch keeps only what duplicate detection needs:
//! the id, its position, where its bytes start, and a SHA-256 digest of its
//! operation, type and data.

use std::collections::HashMap;

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
}

/// Where a staged record can be read back from.
#[derive(Debug)]
pub enum StagedRecord {
    /// Already encoded: its bytes start at this offset of the output stream.
    Encoded { offset: u64 },
    /// The last staged event, shown as it would be committed now.
    Pending(Box<Envelope>),
}

#[derive(Debug)]
struct StagedId {
    position: u64,
    /// Stream offset of the record's bytes (for the pending one: where they
    /// will be written, which is the end of the stream at staging time).
    offset: u64,
    digest: [u8; 32],
    /// The record's hash once it is encoded for good (not for the pending
    /// one, whose hash depends on whether it ends the batch).
    hash: Option<Hash>,
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
    staged: HashMap<Uuid, StagedId>,
    versions: HashMap<String, u64>,
    /// Encoded bytes not yet taken by the backend.
    pub(crate) out: Vec<u8>,
    /// Stream offset of `out[0]`.
    out_base: u64,
    /// Stream offset of every encoded record, in position order.
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
            staged: HashMap::new(),
            versions: HashMap::new(),
            out: Vec::new(),
            out_base: stream_start,
            offsets: Vec::new(),
            duplicates: 0,
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

    /// Stream offsets of the encoded records (after [`Batch::finish`]: all
    /// new records), the first being at position `base + 1`.
    pub fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// The new records' ids with their positions and stream offsets.
    pub fn new_ids(&self) -> impl Iterator<Item = (Uuid, u64, u64)> + '_ {
        self.staged
            .iter()
            .map(|(id, entry)| (*id, entry.position, entry.offset))
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
        let entry = self.staged.get(&id)?;
        match &self.pending {
            Some(pending) if pending.position == entry.position => {
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
                offset: entry.offset,
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
        let digest = event_digest(&event.operation, &event.event_type, &event.data);
        if let Some(entry) = self.staged.get(&event.id) {
            return if entry.digest == digest {
                self.duplicates += 1;
                Ok(Staged::Duplicate {
                    position: entry.position,
                })
            } else {
                Err(StoreError::IdConflict {
                    id: event.id,
                    position: entry.position,
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
        self.staged.insert(
            event.id,
            StagedId {
                position,
                offset: self.out_base + self.out.len() as u64,
                digest,
                hash: None,
            },
        );
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
        if let Some(entry) = self.staged.get(&target) {
            let hash = match (&self.pending, entry.hash) {
                (_, Some(hash)) => hash,
                (Some(pending), None) if pending.position == entry.position => {
                    self.encode(&mut Vec::new(), pending, false)
                }
                _ => {
                    return Err(StoreError::Invalid(format!(
                        "refers_to: the staged record {target} has no hash"
                    )))
                }
            };
            return Ok(Link {
                position: entry.position,
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

    fn encode_pending(&mut self, pending: Pending, batch_end: bool) {
        let mut out = std::mem::take(&mut self.out);
        self.offsets.push(self.out_base + out.len() as u64);
        self.previous = self.encode(&mut out, &pending, batch_end);
        self.out = out;
        if let Some(entry) = self.staged.get_mut(&pending.event.id) {
            entry.hash = Some(self.previous);
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
