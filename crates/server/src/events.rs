//! `GET /v1/events`: committed records after a position, in order, as JSON
//! Lines, each checked against the hash chain as it is read, with every
//! pseudonym left out and the agency registry's records skipped.

use domain::{Event, REGISTRY_STREAM};
use event_store::{record_hash, EnvelopeRef, EventStore, Hash, Head, Link, Range, StoreError};
use projections::ProjectionError;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::ServerError;

/// One listing.
#[derive(Debug)]
pub struct Listed {
    /// The JSON Lines.
    pub lines: String,
    pub count: u64,
    pub first: Option<u64>,
    pub last: Option<u64>,
    /// The head the listing was read from.
    pub head: Head,
}

#[derive(Serialize)]
struct Pinned {
    position: u64,
    hash: String,
}

/// A record as listed: the envelope's fields, and the public form of its
/// data ([`Event::public_data_json`]).
#[derive(Serialize)]
struct Shown<'a> {
    position: u64,
    id: String,
    operation: &'a str,
    version: u64,
    #[serde(rename = "type")]
    event_type: &'a str,
    schema: u32,
    recorded_at: &'a str,
    recorded_by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reported_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refers_to: Option<Pinned>,
    data: &'a RawValue,
    hash: String,
}

fn damaged(position: u64, reason: impl Into<String>) -> ServerError {
    ServerError::from(StoreError::Corrupt {
        location: format!("position {position}"),
        reason: reason.into(),
    })
}

/// Lists up to `limit` events after position `after`.
pub fn list(store: &dyn EventStore, after: u64, limit: u64) -> Result<Listed, ServerError> {
    let head = store.head()?;
    let mut listed = Listed {
        lines: String::new(),
        count: 0,
        first: None,
        last: None,
        head,
    };
    if after >= head.position {
        return Ok(listed);
    }
    let mut previous = match after {
        0 => Hash::GENESIS,
        _ => match store.get_at(after)? {
            Some(record) => record.hash,
            None => return Err(damaged(after, "missing")),
        },
    };
    let mut expected = after + 1;
    let mut failure = None;
    let mut full = false;
    let scanned = store.scan(Range::new(after + 1, head.position), &mut |record| {
        let step = (|| {
            if record.position != expected {
                return Err(damaged(
                    record.position,
                    format!("expected position {expected} here"),
                ));
            }
            match record_hash(&previous, record.line) {
                Some((computed, stored)) if computed == stored && stored == record.hash => {}
                _ => return Err(damaged(record.position, "its hash does not chain")),
            }
            previous = record.hash;
            expected += 1;
            if record.operation != REGISTRY_STREAM {
                show(record, &mut listed)?;
            }
            Ok(())
        })();
        match step {
            Err(error) => {
                failure = Some(error);
                Err(StoreError::Visitor("listing failed".into()))
            }
            Ok(()) if listed.count >= limit => {
                full = true;
                Err(StoreError::Visitor("listing full".into()))
            }
            Ok(()) => Ok(()),
        }
    });
    match (scanned, failure) {
        (_, Some(error)) => Err(error),
        (Err(_), None) if full => Ok(listed),
        (Err(error), None) => Err(error.into()),
        (Ok(()), None) => Ok(listed),
    }
}

fn show(record: &EnvelopeRef<'_>, listed: &mut Listed) -> Result<(), ServerError> {
    let event = Event::parse(&record.event_type, record.data).map_err(|reason| {
        ServerError::from(ProjectionError::Unreadable {
            position: record.position,
            reason: reason.to_string(),
        })
    })?;
    let public = event.public_data_json();
    let data = RawValue::from_string(public)
        .map_err(|error| ServerError::Internal(format!("public data: {error}")))?;
    let shown = Shown {
        position: record.position,
        id: record.id.to_string(),
        operation: &record.operation,
        version: record.version,
        event_type: &record.event_type,
        schema: record.schema,
        recorded_at: record.recorded_at,
        recorded_by: &record.recorded_by,
        reported_at: record.reported_at,
        refers_to: record.refers_to.map(|Link { position, hash }| Pinned {
            position,
            hash: hash.to_string(),
        }),
        data: &data,
        hash: record.hash.to_string(),
    };
    let line = serde_json::to_string(&shown)
        .map_err(|error| ServerError::Internal(format!("listing: {error}")))?;
    listed.lines.push_str(&line);
    listed.lines.push('\n');
    listed.count += 1;
    listed.first.get_or_insert(record.position);
    listed.last = Some(record.position);
    Ok(())
}
