//! Signed submissions: an agency's signature over a batch, checked when the
//! batch is appended and stored in the log just before the records it
//! covers; and [`verify_signatures`], which checks every stored signature
//! against the key that was valid for the agency at its position.
//!
//! A signature is a signed note (see the `evidence` crate) whose body is a
//! [`BatchStatement`]: the agency, the batch's operations, its number of
//! lines, the SHA-256 of its exact bytes and the [`RecordsDigest`] of its
//! lines as the ledger records them. The ledger recomputes every fact from
//! the batch it is given; one that differs refuses the batch. The note is
//! stored verbatim in a `BatchSigned` record of [`EVIDENCE_STREAM`], in the
//! same transaction, so the chain covers it; a verifier recomputes the
//! records digest from the covered records (it cannot recompute the bytes'
//! digest: the log keeps the records, not the bytes), so that a record
//! edited and rechained afterwards no longer matches what the agency signed.

use std::collections::BTreeSet;
use std::io::{BufRead, Read};
use std::sync::{Arc, Mutex};

use domain::registry::{AgencyKey, Registry, RegistryEvent, RegistryMeta};
use domain::{Event, EVIDENCE_STREAM, REGISTRY_STREAM};
use event_store::{EnvelopeRef, EventStore, Hash, Head, NewEvent, Range, StoreError};
use evidence::{BatchStatement, KeyId, Note, RecordsDigest, VerifierKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::append::Parsed;
use crate::LedgerError;

/// The type of a signature's record.
pub const BATCH_SIGNED: &str = "BatchSigned";

/// The schema version of the evidence stream's records.
pub const EVIDENCE_SCHEMA_VERSION: u32 = 1;

/// The data of a `BatchSigned` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSigned {
    pub agency: String,
    pub key_id: String,
    /// The records it covers: the ones right after it.
    pub lines: u64,
    /// The signed note, verbatim.
    pub note: String,
}

pub(crate) fn signature_error(field: &str, message: impl Into<String>) -> LedgerError {
    LedgerError::Signature {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A batch's signature as given (`append --signature`, the API's header):
/// the note, and its statement.
#[derive(Clone, Debug)]
pub struct Signature {
    pub note: Note,
    pub statement: BatchStatement,
}

impl Signature {
    /// Reads a signature file's text.
    pub fn parse(text: &str) -> Result<Signature, LedgerError> {
        let note = Note::parse(text)
            .map_err(|error| signature_error("signature", format!("not a signed note: {error}")))?;
        let statement = BatchStatement::parse(note.body()).map_err(|error| {
            signature_error("signature", format!("not a batch statement: {error}"))
        })?;
        if note.signatures().len() != 1 || note.signatures()[0].name != statement.agency {
            return Err(signature_error(
                "signature",
                format!(
                    "a batch statement carries one signature, by its agency {}",
                    statement.agency
                ),
            ));
        }
        Ok(Signature { note, statement })
    }

    pub fn key_id(&self) -> KeyId {
        self.note.signatures()[0].key_id
    }

    /// Checks the note against the agency's key valid at `position` (where
    /// the signature's record goes): the active key, by id and signature.
    pub fn check_key(&self, registry: &Registry, position: u64) -> Result<(), LedgerError> {
        let agency = &self.statement.agency;
        let key_id = domain::registry::HexBytes(self.key_id().0);
        let key = registry.key(agency, &key_id).ok_or_else(|| {
            signature_error(
                "signature",
                format!("agency {agency} has no registered signing key {key_id}"),
            )
        })?;
        if !key.valid_at(position) {
            return Err(signature_error(
                "signature",
                format!(
                    "agency {agency}'s key {key_id} is {}: it signs no new batch",
                    if key.revoked.is_some() {
                        "revoked"
                    } else {
                        "retired (rotated)"
                    }
                ),
            ));
        }
        let verifier = verifier_of(key).ok_or_else(|| {
            signature_error("signature", format!("key {key_id} has no public key"))
        })?;
        self.note
            .verify(&verifier)
            .map_err(|error| signature_error("signature", error.to_string()))
    }

    /// The record that stores it, written just before the batch's records.
    pub(crate) fn record(&self) -> NewEvent {
        let data = BatchSigned {
            agency: self.statement.agency.clone(),
            key_id: self.key_id().to_string(),
            lines: self.statement.lines,
            note: self.note.text(),
        };
        NewEvent {
            id: Uuid::now_v7(),
            operation: EVIDENCE_STREAM.to_owned(),
            event_type: BATCH_SIGNED.to_owned(),
            schema: EVIDENCE_SCHEMA_VERSION,
            recorded_by: self.statement.agency.clone(),
            reported_at: None,
            data: serde_json::to_string(&data).unwrap_or_default(),
            expected_version: None,
            refers_to: None,
        }
    }
}

/// The verifier key a registered key makes (its name is the agency's).
fn verifier_of(key: &AgencyKey) -> Option<VerifierKey> {
    let public = key.public_key?;
    let verifier = VerifierKey::new(key.agency.as_str(), public.0);
    (verifier.id().0 == key.key_id.0).then_some(verifier)
}

/// The facts of a batch as the ledger reads it, gathered line by line.
#[derive(Debug, Default)]
pub struct Tally {
    records: RecordsDigest,
    operations: BTreeSet<String>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally::default()
    }

    /// Adds a line as it will be recorded (by `recorded_by`).
    pub(crate) fn add(&mut self, parsed: &Parsed, recorded_by: &str) {
        let line = &parsed.line;
        let reported_at = line.reported_at.map(|at| at.to_string());
        self.records.add(
            &parsed.id.to_string(),
            line.operation.as_str(),
            line.event.event_type().as_str(),
            recorded_by,
            reported_at.as_deref(),
            &line.event.public_data_json(),
        );
        self.operations.insert(line.operation.as_str().to_owned());
    }

    pub fn lines(&self) -> u64 {
        self.records.count()
    }

    /// The statement these facts make.
    pub fn statement(self, agency: &str, sha256: [u8; 32]) -> BatchStatement {
        BatchStatement {
            agency: agency.to_owned(),
            lines: self.records.count(),
            operations: self.operations,
            sha256,
            records: self.records.finish(),
        }
    }
}

/// A reader that keeps the SHA-256 of every byte read through it.
#[derive(Debug)]
pub struct Hashing<R> {
    inner: R,
    hasher: Arc<Mutex<Sha256>>,
}

impl<R> Hashing<R> {
    pub fn new(inner: R) -> (Hashing<R>, Arc<Mutex<Sha256>>) {
        let hasher = Arc::new(Mutex::new(Sha256::new()));
        (
            Hashing {
                inner,
                hasher: Arc::clone(&hasher),
            },
            hasher,
        )
    }
}

fn update(hasher: &Mutex<Sha256>, bytes: &[u8]) {
    match hasher.lock() {
        Ok(mut hasher) => hasher.update(bytes),
        Err(poisoned) => poisoned.into_inner().update(bytes),
    }
}

/// The digest of everything read so far.
pub fn bytes_digest(hasher: &Mutex<Sha256>) -> [u8; 32] {
    match hasher.lock() {
        Ok(hasher) => hasher.clone().finalize().into(),
        Err(poisoned) => poisoned.into_inner().clone().finalize().into(),
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        update(&self.hasher, &buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Hashing<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        // The bytes consumed are still the front of the buffer.
        if let Ok(buffer) = self.inner.fill_buf() {
            let n = amount.min(buffer.len());
            update(&self.hasher, &buffer[..n]);
        }
        self.inner.consume(amount);
    }
}

/// The statement of the batch in `input` for `agency`, as `theseus sign`
/// makes it: every line read and parsed as `append` would, each with an
/// id (so that the ledger records what was signed), none naming another
/// `recorded_by`.
pub fn statement_of(
    input: impl BufRead + Send,
    agency: &str,
) -> Result<BatchStatement, LedgerError> {
    use crate::append::Source;
    let (reader, hasher) = Hashing::new(input);
    let mut source = crate::JsonLines::new(reader);
    let mut tally = Tally::new();
    while let Some(next) = source.next_line() {
        let (number, line) = next?;
        let parsed = Parsed::new(number, line);
        check_line(&parsed, agency)?;
        tally.add(&parsed, agency);
    }
    if tally.lines() == 0 {
        return Err(signature_error("input", "the batch has no lines to sign"));
    }
    Ok(tally.statement(agency, bytes_digest(&hasher)))
}

/// What a signed batch's every line must be: with an id, recorded by the
/// signing agency.
pub(crate) fn check_line(parsed: &Parsed, agency: &str) -> Result<(), LedgerError> {
    if parsed.line.id.is_none() {
        return Err(crate::append::refused(
            parsed.number,
            "id",
            "missing: every line of a signed batch carries its id (the signature covers it)",
        ));
    }
    if let Some(named) = &parsed.line.recorded_by {
        if named.as_str() != agency {
            return Err(LedgerError::Forbidden {
                line: parsed.number,
                field: "recorded_by".into(),
                message: format!(
                    "the line says recorded_by {:?}, but the batch is signed by {agency}",
                    named.as_str()
                ),
            });
        }
    }
    Ok(())
}

/// What [`verify_signatures`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SignatureReport {
    /// Signed batches, each checked.
    pub signed_batches: u64,
    /// Records those batches cover.
    pub signed_records: u64,
    /// Records of operations not covered by a signature.
    pub unsigned_records: u64,
}

/// What [`verify_signatures_of_verified`] reports for a log that `verify`
/// has just checked (the chain by the store's pass, every record by the
/// audit, `audit` its clean report) when the audit saw no record of the
/// evidence stream and no record must be signed (`require` false): no
/// signature is stored, so no batch is signed and none can be cut short,
/// and every record but the registry's is unsigned. The pass would fail
/// on nothing else: positions and the head were checked by the store, and
/// a registry record it could not read is already the audit's finding.
/// `None` otherwise: then the pass must run.
pub fn report_without_evidence(
    audit: &crate::audit::AuditReport,
    require: bool,
) -> Option<SignatureReport> {
    (audit.evidence == 0 && !require && audit.findings_total == 0).then(|| SignatureReport {
        signed_batches: 0,
        signed_records: 0,
        unsigned_records: audit.records - audit.registry,
    })
}

fn integrity(position: u64, reason: String) -> LedgerError {
    LedgerError::Store(StoreError::Corrupt {
        location: format!("position {position}"),
        reason,
    })
}

/// A signed batch being read.
struct Run {
    position: u64,
    statement: BatchStatement,
    remaining: u64,
    tally: RecordsDigest,
    operations: BTreeSet<String>,
}

/// Checks every stored signature of the log up to `head`, in one pass in
/// order (memory does not grow with the log): each `BatchSigned` record
/// must verify with the key its agency had at that position, and the
/// records right after it must be as many as it says, recorded by that
/// agency, of the operations and with the records digest it states. With
/// `require`, every operation record of an agency that had a key at its
/// position must be covered by a signature. The first problem is an
/// integrity error naming its position. The chain itself is checked too.
pub fn verify_signatures(
    store: &dyn EventStore,
    head: Head,
    require: bool,
) -> Result<SignatureReport, LedgerError> {
    check_signatures(store, head, require, true)
}

/// [`verify_signatures`] for a caller that has just verified the store up
/// to `head` (`theseus verify`): the records' hashes are not computed a
/// second time (the store's pass did, in parallel); positions and the head
/// are still checked.
pub fn verify_signatures_of_verified(
    store: &dyn EventStore,
    head: Head,
    require: bool,
) -> Result<SignatureReport, LedgerError> {
    check_signatures(store, head, require, false)
}

fn check_signatures(
    store: &dyn EventStore,
    head: Head,
    require: bool,
    hash: bool,
) -> Result<SignatureReport, LedgerError> {
    let mut registry = Registry::default();
    let mut report = SignatureReport::default();
    let mut run: Option<Run> = None;
    let mut previous = Hash::GENESIS;
    let mut next = 1;
    let mut failure = None;
    let result = store.scan(Range::new(1, head.position), &mut |record| {
        let checked = (|| {
            if record.position != next {
                return Err(integrity(
                    record.position,
                    format!("expected position {next}"),
                ));
            }
            if hash {
                match event_store::record_hash(&previous, record.line) {
                    Some((computed, stored)) if computed == stored && stored == record.hash => {}
                    _ => {
                        return Err(integrity(
                            record.position,
                            "the record's hash does not chain to the one before it".into(),
                        ))
                    }
                }
            }
            previous = record.hash;
            next += 1;
            visit(record, &mut registry, &mut run, &mut report, require)
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
    if let Some(run) = run {
        return Err(integrity(
            run.position,
            format!(
                "the signed batch of {} is cut short: {} of its {} records are missing",
                run.statement.agency, run.remaining, run.statement.lines
            ),
        ));
    }
    if head.position > 0 && previous != head.hash {
        return Err(integrity(
            head.position,
            "the log no longer holds the head asked for".into(),
        ));
    }
    Ok(report)
}

fn visit(
    record: &EnvelopeRef<'_>,
    registry: &mut Registry,
    run: &mut Option<Run>,
    report: &mut SignatureReport,
    require: bool,
) -> Result<(), LedgerError> {
    let position = record.position;
    if record.operation == REGISTRY_STREAM || record.operation == EVIDENCE_STREAM {
        if let Some(open) = run {
            return Err(integrity(
                open.position,
                format!(
                    "the signed batch of {} is cut short at position {position}: {} of its {} records are missing",
                    open.statement.agency, open.remaining, open.statement.lines
                ),
            ));
        }
    }
    if record.operation == REGISTRY_STREAM {
        let event = RegistryEvent::parse(&record.event_type, record.data)
            .map_err(|error| integrity(position, format!("registry: {error}")))?;
        let meta = RegistryMeta {
            position,
            recorded_at: record.recorded_at,
            recorded_by: &record.recorded_by,
        };
        registry.apply(&meta, &event);
        return Ok(());
    }
    if record.operation == EVIDENCE_STREAM {
        if record.event_type != BATCH_SIGNED {
            return Ok(());
        }
        let stored: BatchSigned = serde_json::from_str(record.data).map_err(|error| {
            integrity(
                position,
                format!("the signature record does not read: {error}"),
            )
        })?;
        let signature = Signature::parse(&stored.note)
            .map_err(|error| integrity(position, error.to_string()))?;
        if stored.agency != signature.statement.agency
            || stored.lines != signature.statement.lines
            || stored.key_id != signature.key_id().to_string()
            || record.recorded_by != stored.agency
        {
            return Err(integrity(
                position,
                "the signature record does not say what its note says".into(),
            ));
        }
        signature.check_key(registry, position).map_err(|error| {
            integrity(
                position,
                format!("the signature of {}'s batch: {error}", stored.agency),
            )
        })?;
        report.signed_batches += 1;
        *run = Some(Run {
            position,
            remaining: signature.statement.lines,
            statement: signature.statement,
            tally: RecordsDigest::new(),
            operations: BTreeSet::new(),
        });
        return Ok(());
    }
    let Some(open) = run else {
        report.unsigned_records += 1;
        if require && registry.had_key_at(&record.recorded_by, position) {
            return Err(integrity(
                position,
                format!(
                    "unsigned: agency {} had a signing key, and this record is covered by no signature",
                    record.recorded_by
                ),
            ));
        }
        return Ok(());
    };
    let agency = &open.statement.agency;
    if &record.recorded_by != agency {
        return Err(integrity(
            position,
            format!(
                "recorded_by {:?}, but the batch signed at position {} is {agency}'s",
                record.recorded_by, open.position
            ),
        ));
    }
    let event = Event::parse(&record.event_type, record.data)
        .map_err(|error| integrity(position, format!("its event does not read: {error}")))?;
    open.tally.add(
        &record.id.to_string(),
        &record.operation,
        &record.event_type,
        &record.recorded_by,
        record.reported_at,
        &event.public_data_json(),
    );
    open.operations.insert(record.operation.to_string());
    open.remaining -= 1;
    report.signed_records += 1;
    if open.remaining == 0 {
        let Some(done) = run.take() else {
            return Ok(());
        };
        let records = std::mem::take(&mut { done.tally }).finish();
        if records != done.statement.records || done.operations != done.statement.operations {
            return Err(integrity(
                done.position,
                format!(
                    "the records after the signature of {}'s batch are not the ones signed (edited after signing)",
                    done.statement.agency
                ),
            ));
        }
    }
    Ok(())
}
