//! `theseus copy --from STORE --to STORE`: copy a log between any two stores
//! (file → PostgreSQL, PostgreSQL → file, file → file…), record for record.
//!
//! Each source batch becomes one target transaction, stamped with the
//! batch's own `recorded_at` and staged through the target's ordinary
//! append path, so that the target writes the same bytes the source holds;
//! before each commit the target's new head hash must equal the source
//! record's, so a record that would not come out byte for byte (one not in
//! the canonical layout) stops the copy with nothing of its batch written.
//! Only what the target lacks is copied: a target that holds a prefix of the
//! source's log gets the rest, one that holds anything else is refused.
//!
//! The subject keys that the copied records' sealed references name go
//! with them, in the same target transaction (durable before the records):
//! a copy opens as the source does. Keys the source no longer holds
//! (erased subjects) are not there to copy: they stay erased.

use std::collections::HashSet;
use std::io::Write;

use chrono::{DateTime, Utc};
use clap::Args;
use event_store::{
    AppendTransaction, EnvelopeRef, EventStore, Head, NewEvent, Range, Staged, Stamp, StoreError,
};

use crate::exit::Failure;
use crate::store::StoreSpec;

const EXAMPLES: &str = "Examples:
  theseus copy --from events --to postgres://root@127.0.0.1:5432/test
  theseus copy --from postgres://root@127.0.0.1:5432/test?schema=theseus --to ./backup";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct CopyArgs {
    /// The store to copy from (a directory or a postgres:// address).
    #[arg(long, value_name = "STORE", value_parser = StoreSpec::parse)]
    from: StoreSpec,
    /// The store to copy to; created if there is none.
    #[arg(long, value_name = "STORE", value_parser = StoreSpec::parse)]
    to: StoreSpec,
}

/// What a copy did.
#[derive(Debug, Default)]
struct Copied {
    records: u64,
    batches: u64,
}

pub fn run(args: CopyArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let source = args.from.open()?;
    let target = args.to.open_or_init()?;
    let (source, target) = (source.store(), target.store());
    let source_head = source.head()?;
    let target_head = target.head()?;
    let refused = |message: String| Failure::Refused(message);
    if target_head.position >= source_head.position {
        // Nothing is missing, if the target holds the source's log.
        return match holds(target, source_head)? {
            true => {
                writeln!(
                    out,
                    "copied 0 records: {} already holds the log of {} (head {source_head})",
                    args.to.display(),
                    args.from.display()
                )?;
                Ok(())
            }
            false => Err(refused(format!(
                "{} holds a different log: its record at position {} is not the head {source_head} of {}",
                args.to.display(),
                source_head.position,
                args.from.display()
            ))),
        };
    }
    if !holds(source, target_head)? {
        return Err(refused(format!(
            "{} holds a different log: its head {target_head} is not a record of {}",
            args.to.display(),
            args.from.display()
        )));
    }
    let copied = copy_range(
        source,
        target,
        Range::new(target_head.position + 1, source_head.position),
    )?;
    let head = target.head()?;
    writeln!(
        out,
        "copied {} records in {} batches from {} to {}; head {head}",
        copied.records,
        copied.batches,
        args.from.display(),
        args.to.display()
    )?;
    Ok(())
}

/// Whether `store` holds the record `head` names (position 0: always).
fn holds(store: &dyn EventStore, head: Head) -> Result<bool, Failure> {
    if head.position == 0 {
        return Ok(true);
    }
    Ok(store
        .get_at(head.position)?
        .is_some_and(|record| record.hash == head.hash))
}

fn copy_range(
    source: &dyn EventStore,
    target: &dyn EventStore,
    range: Range,
) -> Result<Copied, Failure> {
    let mut copied = Copied::default();
    let mut open: Option<Box<dyn AppendTransaction + '_>> = None;
    let mut keys = KeysSeen::default();
    source.scan(range, &mut |record| {
        let transaction = match &mut open {
            Some(transaction) => transaction,
            None => open.insert(target.begin(Stamp::At(recorded_at(record)?))?),
        };
        // A record that refers to an earlier one pins it by position; the
        // target's staging wants its id (and pins the same record again).
        let refers_to = match record.refers_to {
            Some(link) => Some(
                source
                    .get_at(link.position)?
                    .ok_or_else(|| not_copyable(record, "the record it refers to is missing"))?
                    .id,
            ),
            None => None,
        };
        copy_keys(source, transaction, &mut keys, record)?;
        match transaction.stage(new_event(record, refers_to))? {
            Staged::New { position, .. } if position == record.position => {}
            other => {
                return Err(not_copyable(
                    record,
                    &format!("the target staged it as {other:?}"),
                ))
            }
        }
        if record.batch_end {
            let transaction = open
                .take()
                .ok_or_else(|| StoreError::Invalid("a batch end without a transaction".into()))?;
            if transaction.head().hash != record.hash {
                return Err(not_copyable(
                    record,
                    "its bytes are not the canonical encoding of its fields",
                ));
            }
            transaction.commit()?;
            keys.in_target.clear();
            copied.batches += 1;
        }
        copied.records += 1;
        Ok(())
    })?;
    Ok(copied)
}

/// The lookups the open transaction knows the target has, so that a batch
/// with many sealed references asks the target once per key, not once per
/// record (cleared at each commit: what another writer does between batches
/// is asked again).
#[derive(Default)]
struct KeysSeen {
    in_target: HashSet<[u8; 32]>,
}

/// Adds to the target the source's subject key that `record`'s sealed
/// reference names, and the source's lookup secret, unless the target has
/// them.
fn copy_keys(
    source: &dyn EventStore,
    transaction: &mut Box<dyn AppendTransaction + '_>,
    seen: &mut KeysSeen,
    record: &EnvelopeRef<'_>,
) -> Result<(), StoreError> {
    if record.schema != domain::SEALED_SCHEMA_VERSION
        || domain::is_reserved_stream(&record.operation)
    {
        return Ok(());
    }
    let Ok(event) = domain::Event::parse(&record.event_type, record.data) else {
        return Ok(());
    };
    let Some((_, domain::Reference::Sealed(sealed))) = event.reference() else {
        return Ok(());
    };
    // The lookup secret is the entry with the all-zero id.
    for key_id in [sealed.key_id, [0; 16]] {
        let Some(key) = source.subject_key(&key_id)? else {
            continue;
        };
        if seen.in_target.contains(&key.lookup) {
            continue;
        }
        seen.in_target.insert(key.lookup);
        if transaction.find_subject_key(&key.lookup)?.is_none() {
            transaction.add_subject_key(key)?;
        }
    }
    Ok(())
}

fn recorded_at(record: &EnvelopeRef<'_>) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(record.recorded_at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|error| StoreError::Corrupt {
            location: format!("position {}", record.position),
            reason: format!("recorded_at: {error}"),
        })
}

fn new_event(record: &EnvelopeRef<'_>, refers_to: Option<uuid::Uuid>) -> NewEvent {
    NewEvent {
        id: record.id,
        operation: record.operation.to_string(),
        event_type: record.event_type.to_string(),
        schema: record.schema,
        recorded_by: record.recorded_by.to_string(),
        reported_at: record.reported_at.map(str::to_owned),
        data: record.data.to_owned(),
        expected_version: None,
        refers_to,
    }
}

fn not_copyable(record: &EnvelopeRef<'_>, why: &str) -> StoreError {
    StoreError::Visitor(
        format!(
            "record {} cannot be copied byte for byte ({why}): nothing of its batch was written",
            record.position
        )
        .into(),
    )
}
