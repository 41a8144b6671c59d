//! Erasure and consultation: the ledger's side of the privacy records
//! ([`domain::privacy`]).
//!
//! `erase` destroys a subject's key and records that it did, in one batch
//! under the writers' lock: the record (who, when, why, which key; never
//! the reference) is durable first, then the key is gone (see
//! [`event_store::subject_keys`] for what a crash between the two leaves).
//! Afterwards every figure is unchanged (no projection reads a reference),
//! the chain is unchanged (the log held only ciphertext), and the
//! references sealed under the key open for no one.
//!
//! References written in clear before sealing existed stay in clear: the
//! chain cannot be changed. `erase` refuses a subject that has only such
//! records, and says how many there are when it also has sealed ones.
//!
//! `consulted` records that references were shown, before they are.

use domain::privacy::{PrivacyEvent, ReferencesConsulted, SubjectErased, MAX_LISTED_EVENTS};
use domain::{
    Event, EventType, Pseudonym, Reference, Slug, Text, PRIVACY_SCHEMA_VERSION, PRIVACY_STREAM,
};
use event_store::{EventStore, Head, NewEvent, Stamp};
use uuid::Uuid;

use crate::sealing::{store_secret, subject_lookup};
use crate::{scan, LedgerError};

/// What `erase` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Erased {
    /// Where the erasure is recorded.
    pub position: u64,
    /// The operation's records whose reference can no longer be opened.
    pub sealed_records: u64,
    /// The operation's records that hold the reference in clear (written
    /// before sealing): they remain as they are.
    pub clear_records: u64,
}

/// Destroys the key of `subject` in `operation` and records the erasure.
pub fn erase(
    store: &dyn EventStore,
    operation: &str,
    subject: &str,
    reason: &str,
    recorded_by: &str,
) -> Result<Erased, LedgerError> {
    let operation = Slug::parse(operation)
        .map_err(|message| LedgerError::Request(format!("--operation: {message}")))?;
    // Messages never echo the reference: they say "the subject".
    let subject = Pseudonym::new(subject)
        .map_err(|error| LedgerError::Request(format!("--subject: {}", error.message)))?;
    let reason = Text::new(reason)
        .map_err(|error| LedgerError::Request(format!("--reason: {}", error.message)))?;
    let mut transaction = store.begin(Stamp::Now)?;
    let head = transaction.head();
    if transaction.version(operation.as_str())? == 0 {
        return Err(LedgerError::UnknownOperation {
            operation: operation.as_str().to_owned(),
            position: head.position,
        });
    }
    let key = match store_secret(&mut transaction, false)? {
        Some(secret) => {
            let lookup = subject_lookup(&secret, operation.as_str(), &subject);
            transaction.find_subject_key(&lookup)?
        }
        None => None,
    };
    let (sealed_records, clear_records) = count_records(
        store,
        head,
        operation.as_str(),
        &subject,
        key.as_ref().map(|key| key.key_id),
    )?;
    let Some(key) = key else {
        return Err(LedgerError::Request(if clear_records > 0 {
            format!(
                "the subject's reference is in clear in {clear_records} records of {operation}, written before references were sealed: the chain cannot be changed, and there is no key to destroy; nothing was erased"
            )
        } else {
            format!(
                "no key for this subject in {operation}: its references were never sealed there, or it has been erased already; nothing was changed"
            )
        }));
    };
    let record = PrivacyEvent::SubjectErased(SubjectErased {
        operation: operation.clone(),
        key_id: key.key_id,
        reason,
        sealed_records,
        clear_records,
    });
    transaction.remove_subject_key(&key.lookup)?;
    transaction.stage(privacy_event(&record, recorded_by))?;
    let committed = transaction.commit()?;
    Ok(Erased {
        position: committed.head.position,
        sealed_records,
        clear_records,
    })
}

/// The operation's records naming `subject` in clear, and those sealed
/// under `key_id`, chain-checked up to `head`.
fn count_records(
    store: &dyn EventStore,
    head: Head,
    operation: &str,
    subject: &Pseudonym,
    key_id: Option<[u8; 16]>,
) -> Result<(u64, u64), LedgerError> {
    let (mut sealed, mut clear) = (0, 0);
    scan::scan_checked(store, Head::EMPTY, head, &mut |record| {
        if record.operation != operation {
            return Ok(());
        }
        let Some(event_type) = EventType::parse(&record.event_type) else {
            return Ok(());
        };
        if !matches!(event_type, EventType::ArrestMade | EventType::VictimRescued) {
            return Ok(());
        }
        let event: Event = scan::event(record.position, event_type, record.data)?;
        match event.reference() {
            Some((_, Reference::Clear(reference))) if reference == subject => clear += 1,
            Some((_, Reference::Sealed(found))) if Some(found.key_id) == key_id => sealed += 1,
            _ => {}
        }
        Ok(())
    })?;
    Ok((sealed, clear))
}

fn privacy_event(record: &PrivacyEvent, recorded_by: &str) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        operation: PRIVACY_STREAM.to_owned(),
        event_type: record.type_name().to_owned(),
        schema: PRIVACY_SCHEMA_VERSION,
        recorded_by: recorded_by.to_owned(),
        reported_at: None,
        data: record.data_json(),
        expected_version: None,
        refers_to: None,
    }
}

/// What a consultation showed, for its record.
#[derive(Clone, Debug)]
pub struct Consultation<'a> {
    pub purpose: &'a str,
    pub command: &'a str,
    /// The query, as a JSON object's text.
    pub query: String,
    /// The head the listing was read at.
    pub as_of: Head,
    /// The events whose references are shown, in order, at most
    /// [`MAX_LISTED_EVENTS`] of them.
    pub events: Vec<Uuid>,
    /// How many more were shown.
    pub events_not_listed: u64,
}

/// Records a consultation, durably, before anything is shown; returns the
/// record's position.
pub fn consulted(
    store: &dyn EventStore,
    consultation: Consultation<'_>,
    recorded_by: &str,
) -> Result<u64, LedgerError> {
    let purpose = Text::new(consultation.purpose)
        .map_err(|error| LedgerError::Request(format!("--purpose: {}", error.message)))?;
    let command = Text::new(consultation.command)
        .map_err(|error| LedgerError::Request(format!("command: {}", error.message)))?;
    let listed = consultation.events.len().min(MAX_LISTED_EVENTS);
    let not_listed = (consultation.events.len() - listed) as u64 + consultation.events_not_listed;
    let mut events = consultation.events;
    events.truncate(listed);
    let record = PrivacyEvent::ReferencesConsulted(ReferencesConsulted {
        purpose,
        command,
        query: consultation.query,
        as_of_position: consultation.as_of.position,
        events,
        events_not_listed: not_listed,
    });
    let mut transaction = store.begin(Stamp::Now)?;
    transaction.stage(privacy_event(&record, recorded_by))?;
    Ok(transaction.commit()?.head.position)
}
