//! `GET /v1/events`: committed records after a position, in order, as JSON
//! Lines (the lines of `theseus follow`, `ledger::feed`), each checked
//! against the hash chain as it is read, with every pseudonym left out and
//! the agency registry's records skipped.

use event_store::{record_hash, EnvelopeRef, EventStore, Hash, Head, Range, StoreError};

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
            show(record, &mut listed)?;
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
    if let Some(line) = ledger::feed::event_line(record)? {
        listed.lines.push_str(&line);
        listed.lines.push('\n');
        listed.count += 1;
        listed.first.get_or_insert(record.position);
        listed.last = Some(record.position);
    }
    Ok(())
}
