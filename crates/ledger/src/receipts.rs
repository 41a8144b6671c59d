//! Receipts: heads of the log signed by the ledger's own key, and checking
//! that a log still holds them.
//!
//! A receipt is a signed note whose body is a [`HeadStatement`] (position,
//! hash, time), signed under [`evidence::keys::LEDGER_KEY_NAME`]. The
//! ledger's public key is recorded in the log once (a `LedgerKeyRecorded`
//! record of [`EVIDENCE_STREAM`] whose id is derived from the key id, so
//! that it is found by id and never recorded twice), so that a verifier
//! knows it from the log. A receipt holds when its signature is a recorded
//! ledger key's and the record at its position has its hash: a log cut
//! before it, or edited or rebuilt at or before it, fails.

use chrono::{SecondsFormat, Utc};
use domain::EVIDENCE_STREAM;
use event_store::{EventStore, Hash, Head, NewEvent, Stamp, StoreError};
use evidence::{HeadStatement, KeyId, Note, SignerKey, VerifierKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::signatures::EVIDENCE_SCHEMA_VERSION;
use crate::LedgerError;

/// The type of the record of a ledger key.
pub const LEDGER_KEY_RECORDED: &str = "LedgerKeyRecorded";

/// The data of a `LedgerKeyRecorded` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerKeyRecorded {
    /// The verifier key's text (`name+id+key`).
    pub key: String,
}

/// The id of the record of the ledger key with this id.
pub fn key_record_id(key_id: KeyId) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"theseus ledger key\n")
        .chain_update(key_id.0)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Records the ledger's public key in the log unless it is there already
/// (by its record's id). Returns whether it wrote.
pub fn record_ledger_key(
    store: &dyn EventStore,
    key: &SignerKey,
    recorded_by: &str,
) -> Result<bool, LedgerError> {
    let verifier = key.verifier();
    let id = key_record_id(verifier.id());
    if store.get(id)?.is_some() {
        return Ok(false);
    }
    let mut transaction = store.begin(Stamp::Now)?;
    if transaction.find(id)?.is_some() {
        return Ok(false);
    }
    let data = LedgerKeyRecorded {
        key: verifier.encode(),
    };
    transaction.stage(NewEvent {
        id,
        operation: EVIDENCE_STREAM.to_owned(),
        event_type: LEDGER_KEY_RECORDED.to_owned(),
        schema: EVIDENCE_SCHEMA_VERSION,
        recorded_by: recorded_by.to_owned(),
        reported_at: None,
        data: serde_json::to_string(&data).unwrap_or_default(),
        expected_version: None,
        refers_to: None,
    })?;
    transaction.commit()?;
    Ok(true)
}

/// A receipt for `head`, signed now.
pub fn sign_head(key: &SignerKey, head: Head) -> Result<String, LedgerError> {
    let statement = HeadStatement {
        position: head.position,
        hash: head.hash.0,
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    let note = Note::sign(&statement.body(), key)
        .map_err(|error| LedgerError::Internal(error.to_string()))?;
    Ok(note.text())
}

fn failed(reason: String) -> LedgerError {
    LedgerError::Store(StoreError::Corrupt {
        location: "receipt".into(),
        reason,
    })
}

/// Checks one receipt against the log: its signature is that of a ledger
/// key the log records, and the log holds its head. Returns the head.
pub fn check_receipt(store: &dyn EventStore, text: &str) -> Result<Head, LedgerError> {
    let note = Note::parse(text)
        .map_err(|error| LedgerError::Request(format!("not a receipt (a signed note): {error}")))?;
    let statement = HeadStatement::parse(note.body())
        .map_err(|error| LedgerError::Request(format!("not a signed head: {error}")))?;
    let line = note
        .signatures()
        .iter()
        .find(|line| line.name == evidence::keys::LEDGER_KEY_NAME)
        .ok_or_else(|| LedgerError::Request("no signature by the ledger".into()))?;
    let record = store.get(key_record_id(line.key_id))?.ok_or_else(|| {
        failed(format!(
            "the log records no ledger key {}: the receipt was not signed by this ledger, or the log was rebuilt",
            line.key_id
        ))
    })?;
    let recorded: Option<LedgerKeyRecorded> = (record.operation == EVIDENCE_STREAM
        && record.event_type == LEDGER_KEY_RECORDED)
        .then(|| serde_json::from_str(&record.data).ok())
        .flatten();
    let verifier = recorded
        .and_then(|recorded| VerifierKey::parse(&recorded.key).ok())
        .filter(|verifier| verifier.id() == line.key_id)
        .ok_or_else(|| {
            failed(format!(
                "position {}: not the record of ledger key {}",
                record.position, line.key_id
            ))
        })?;
    note.verify(&verifier)
        .map_err(|error| failed(format!("its signature: {error}")))?;
    let head = Head {
        position: statement.position,
        hash: Hash(statement.hash),
    };
    let current = store.head()?;
    if head.position > current.position {
        return Err(failed(format!(
            "the log ends at position {}, before the receipted head {}: it was cut",
            current.position, head
        )));
    }
    if head.position == 0 {
        return Ok(head);
    }
    let at = store.get_at(head.position)?.ok_or_else(|| {
        failed(format!(
            "the log no longer holds position {}",
            head.position
        ))
    })?;
    if at.hash != head.hash {
        return Err(failed(format!(
            "the record at position {} has hash {}, not the receipted {}: the log was changed at or before it",
            head.position, at.hash, head.hash
        )));
    }
    Ok(head)
}
