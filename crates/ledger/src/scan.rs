//! Reading a log prefix record by record, checking the hash chain as it
//! goes: what `events`, `trace` and `diff` read with, so that what they
//! show is what the chain vouches for. Also the index of retractions
//! (which record retracted which), built in a first pass over the prefix.

use std::collections::BTreeMap;

use domain::{is_reserved_stream, Event, EventType, EventView};
use event_store::{record_hash, EnvelopeRef, EventStore, Hash, Head, Range, StoreError};
use projections::ProjectionError;

use crate::LedgerError;

fn broken(position: u64, reason: impl Into<String>) -> LedgerError {
    LedgerError::Store(StoreError::Corrupt {
        location: format!("position {position}"),
        reason: reason.into(),
    })
}

/// A record the domain cannot read: damage, exit 4.
pub(crate) fn unreadable(position: u64, reason: impl Into<String>) -> LedgerError {
    LedgerError::Projection(ProjectionError::Unreadable {
        position,
        reason: reason.into(),
    })
}

/// Visits the records after `from` up to and including `to`, in order,
/// each only once its hash has been checked against its predecessor's
/// (`from`'s for the first); at the end, the last hash must be `to`'s. A
/// record that does not chain stops the scan with an integrity error.
/// Records of the agency registry ([`domain::REGISTRY_STREAM`]), of the
/// evidence stream ([`domain::EVIDENCE_STREAM`]) and the privacy records
/// ([`domain::PRIVACY_STREAM`]) are checked and not visited: they are no
/// operation's events.
pub fn scan_checked(
    store: &dyn EventStore,
    from: Head,
    to: Head,
    visit: &mut dyn FnMut(&EnvelopeRef<'_>) -> Result<(), LedgerError>,
) -> Result<(), LedgerError> {
    if to.position <= from.position {
        return Ok(());
    }
    let mut previous: Hash = from.hash;
    let mut next = from.position + 1;
    let mut failure = None;
    let result = store.scan(Range::new(from.position + 1, to.position), &mut |record| {
        let checked = (|| {
            if record.position != next {
                return Err(broken(record.position, format!("expected position {next}")));
            }
            match record_hash(&previous, record.line) {
                Some((computed, stored)) if computed == stored && stored == record.hash => {}
                _ => {
                    return Err(broken(
                        record.position,
                        "the record's hash does not chain to the one before it",
                    ))
                }
            }
            previous = record.hash;
            next += 1;
            if is_reserved_stream(&record.operation) {
                return Ok(());
            }
            visit(record)
        })();
        checked.map_err(|error| {
            failure = Some(error);
            StoreError::Visitor("stopped".into())
        })
    });
    match (result, failure) {
        (_, Some(error)) => return Err(error),
        (Err(error), None) => return Err(error.into()),
        (Ok(()), None) => {}
    }
    if next != to.position + 1 || previous != to.hash {
        return Err(broken(
            to.position,
            "the log no longer holds the record the output was asked for",
        ));
    }
    Ok(())
}

/// What a read of the whole prefix up to `head` checked: every record
/// from position 1.
pub fn checked_from_start(head: Head) -> projections::Verified {
    projections::Verified {
        from: 1,
        to: head.position,
        checkpoint: None,
    }
}

/// A record's event type and replay view.
pub fn view<'a>(record: &'a EnvelopeRef<'_>) -> Result<(EventType, EventView<'a>), LedgerError> {
    let event_type = EventType::parse(&record.event_type).ok_or_else(|| {
        unreadable(
            record.position,
            format!("unknown event type {:?}", record.event_type),
        )
    })?;
    let view = EventView::decode(event_type, record.data)
        .map_err(|reason| unreadable(record.position, format!("data: {reason}")))?;
    Ok((event_type, view))
}

/// A record's event, read strictly (for showing its public data).
pub fn event(position: u64, event_type: EventType, data: &str) -> Result<Event, LedgerError> {
    Event::parse(event_type.as_str(), data)
        .map_err(|error| unreadable(position, format!("data: {error}")))
}

/// A retraction's target, from the log.
#[derive(Clone, Debug)]
pub struct Target {
    pub position: u64,
    pub operation: String,
    pub event_type: EventType,
    pub data: String,
}

impl Target {
    pub fn view(&self) -> Result<EventView<'_>, LedgerError> {
        EventView::decode(self.event_type, &self.data)
            .map_err(|reason| unreadable(self.position, format!("data: {reason}")))
    }
}

/// The record a retraction names, read and checked as replay reads it
/// (by its pinned position and hash).
pub fn target(
    store: &dyn EventStore,
    retraction: &EnvelopeRef<'_>,
    event_id: uuid::Uuid,
) -> Result<Target, LedgerError> {
    let record = projections::replay::retraction_target(store, retraction, event_id)?;
    if record.position >= retraction.position {
        return Err(unreadable(
            retraction.position,
            format!("retracts {event_id}, which comes after it"),
        ));
    }
    let event_type = EventType::parse(&record.event_type).ok_or_else(|| {
        unreadable(
            record.position,
            format!("unknown event type {:?}", record.event_type),
        )
    })?;
    Ok(Target {
        position: record.position,
        operation: record.operation,
        event_type,
        data: record.data,
    })
}

/// Which record retracted which, in a prefix: 16 bytes per retraction, so
/// memory grows with the retractions (a small share of any log), not with
/// the log.
#[derive(Clone, Debug, Default)]
pub struct Retractions {
    /// Target position → the retraction's position.
    by_target: BTreeMap<u64, u64>,
}

impl Retractions {
    /// Reads the prefix up to `as_of` (checking the chain) and notes every
    /// retraction of `operation` (or of any operation).
    pub fn collect(
        store: &dyn EventStore,
        as_of: Head,
        operation: Option<&str>,
    ) -> Result<Retractions, LedgerError> {
        let mut found = Retractions::default();
        scan_checked(store, Head::EMPTY, as_of, &mut |record| {
            if operation.is_some_and(|o| o != record.operation) {
                return Ok(());
            }
            if let (_, EventView::EventRetracted { event_id }) = view(record)? {
                let target = target(store, record, event_id)?;
                found.by_target.insert(target.position, record.position);
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// The position of the retraction of the record at `position`, if any.
    pub fn of(&self, position: u64) -> Option<u64> {
        self.by_target.get(&position).copied()
    }

    /// `(target, retraction)` positions in target order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.by_target.iter().map(|(t, r)| (*t, *r))
    }

    pub fn insert(&mut self, target: u64, retraction: u64) {
        self.by_target.insert(target, retraction);
    }

    pub fn len(&self) -> usize {
        self.by_target.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_target.is_empty()
    }
}

/// The reason a retraction at `position` gives.
pub fn reason(store: &dyn EventStore, position: u64) -> Result<String, LedgerError> {
    let record = store
        .get_at(position)?
        .ok_or_else(|| unreadable(position, "the retraction is missing"))?;
    let event_type = EventType::parse(&record.event_type)
        .ok_or_else(|| unreadable(position, "unknown event type"))?;
    match event(position, event_type, &record.data)? {
        Event::EventRetracted(retraction) => Ok(retraction.reason.as_str().to_owned()),
        _ => Err(unreadable(position, "not a retraction")),
    }
}
