//! Envelopes: a stored event with its position, version, time and hash.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Hash;

/// An event as a caller hands it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: Uuid,
    /// The operation (stream) the event belongs to.
    pub operation: String,
    /// The event type name, e.g. `ArrestMade`.
    pub event_type: String,
    /// The version of the event type's schema the data is written in.
    pub schema: u32,
    pub recorded_by: String,
    /// The reporting unit's own time of recording (canonical RFC 3339, given
    /// by the caller), kept with the event and never used for ordering.
    pub reported_at: Option<String>,
    /// The event's data: one JSON object on one line, in the canonical form
    /// the domain writes. Duplicates are recognised by comparing these bytes.
    pub data: String,
    /// When given, the operation's version before this event must equal it.
    pub expected_version: Option<u64>,
    /// An earlier record (committed, or staged earlier in the batch) that
    /// this one is about, by id: the store pins it in the record as a
    /// [`Link`] (its position and hash), so that readers find it without an
    /// id index and know its exact bytes. (The ledger links a retraction to
    /// the event it retracts.)
    pub refers_to: Option<Uuid>,
}

/// A pinned reference from a record to an earlier one: its position and its
/// hash, covered by the referring record's own hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub position: u64,
    pub hash: Hash,
}

/// A stored record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub position: u64,
    pub id: Uuid,
    pub operation: String,
    pub version: u64,
    pub event_type: String,
    pub schema: u32,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
    /// The reporting unit's own time of recording, when it gave one.
    pub reported_at: Option<String>,
    /// The earlier record this one refers to, pinned.
    pub refers_to: Option<Link>,
    /// The data object's JSON text.
    pub data: String,
    /// True on the last record of each atomic batch.
    pub batch_end: bool,
    pub hash: Hash,
    /// The record's exact bytes, without the newline (see
    /// [`EnvelopeRef::line`]).
    pub line: Vec<u8>,
}

/// A stored record, borrowed from the bytes it was read from: what replay
/// uses, so that reading a record allocates nothing in the common case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeRef<'a> {
    pub position: u64,
    pub id: Uuid,
    pub operation: Cow<'a, str>,
    pub version: u64,
    pub event_type: Cow<'a, str>,
    pub schema: u32,
    /// As written: an RFC 3339 UTC timestamp.
    pub recorded_at: &'a str,
    pub recorded_by: Cow<'a, str>,
    /// The reporting unit's own time of recording, when it gave one.
    pub reported_at: Option<&'a str>,
    /// The earlier record this one refers to, pinned.
    pub refers_to: Option<Link>,
    /// The data object's JSON text.
    pub data: &'a str,
    pub batch_end: bool,
    pub hash: Hash,
    /// The record's exact bytes, without the newline: what its hash covers
    /// (see [`crate::record_hash`]), so that a reader can check the chain and
    /// a copy can be byte for byte.
    pub line: &'a [u8],
}

impl EnvelopeRef<'_> {
    /// Copies the record out of its buffer.
    pub fn to_owned_envelope(&self) -> Result<Envelope, crate::StoreError> {
        let recorded_at = DateTime::parse_from_rfc3339(self.recorded_at)
            .map_err(|error| crate::StoreError::Corrupt {
                location: format!("position {}", self.position),
                reason: format!("recorded_at: {error}"),
            })?
            .with_timezone(&Utc);
        Ok(Envelope {
            position: self.position,
            id: self.id,
            operation: self.operation.clone().into_owned(),
            version: self.version,
            event_type: self.event_type.clone().into_owned(),
            schema: self.schema,
            recorded_at,
            recorded_by: self.recorded_by.clone().into_owned(),
            reported_at: self.reported_at.map(str::to_owned),
            refers_to: self.refers_to,
            data: self.data.to_owned(),
            batch_end: self.batch_end,
            hash: self.hash,
            line: self.line.to_vec(),
        })
    }
}

/// The last record of a log (or of a prefix of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// 0 for an empty log.
    pub position: u64,
    /// [`Hash::GENESIS`] for an empty log.
    pub hash: Hash,
}

impl Head {
    /// The head of an empty log.
    pub const EMPTY: Head = Head {
        position: 0,
        hash: Hash::GENESIS,
    };
}

impl std::fmt::Display for Head {
    /// `POSITION:HASH`, as `theseus head` prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.position, self.hash)
    }
}
