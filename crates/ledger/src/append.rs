//! Appending a batch of input lines: all of them, or none.
//!
//! Each line is checked in order against the log plus the lines before it:
//! its fields (the domain's reading), its id (a re-sent event is skipped as a
//! duplicate, another event under a used id is refused), its
//! `expected_version`, and the domain's rules. The first refusal drops the
//! transaction, so that nothing of the batch is written.
//!
//! A dry run ([`BatchOptions::dry_run`]) makes the same checks under the
//! same lock, against the same log, but stages into a batch of its own that
//! is never written: every refusal is reported (up to [`MAX_REPORTED_ERRORS`]),
//! and a refused line is treated as absent for the lines after it.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Mutex;

use domain::registry::Submission;
use domain::{
    Event, EventType, RetractionTarget, Slug, Text, EVIDENCE_STREAM, REGISTRY_STREAM,
    SCHEMA_VERSION,
};
use event_store::backend::{Batch, CommittedLog};
use event_store::{AppendTransaction, Envelope, EventStore, NewEvent, Staged, Stamp, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::agencies::Submitter;
use crate::input::{parse_line, InputLine, Lines};
use crate::sealing::{KeyAccess, Sealer};
use crate::signatures::{bytes_digest, check_line, signature_error, Hashing, Signature, Tally};
use crate::{state, LedgerError};

/// Settings for one append.
#[derive(Clone, Debug)]
pub struct AppendOptions {
    /// Who recorded lines that do not say.
    pub recorded_by: String,
    /// How the batch's `recorded_at` is decided: by the store's clock under
    /// its lock, or a requested time the store checks (see [`Stamp`]).
    pub stamp: Stamp,
}

/// What a batch does beyond a plain append.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOptions {
    /// Check everything, write nothing, report every refusal.
    pub dry_run: bool,
    /// Refuse lines without an id (for tools that must be able to re-send).
    pub require_ids: bool,
    /// Keep each line's id and position for the caller.
    pub report_ids: bool,
}

/// The most refusals a dry run lists; the lines after are still checked and
/// counted.
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// What an append did, as `theseus append` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AppendSummary {
    pub appended: u64,
    pub duplicates: u64,
    pub first_position: Option<u64>,
    pub last_position: Option<u64>,
}

/// The id and position of one input line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LineId {
    pub line: u64,
    pub id: Uuid,
    /// Where the event is (or, in a dry run, would be) in the log; for a
    /// duplicate, where the earlier copy is.
    pub position: u64,
    pub duplicate: bool,
}

/// One refusal found by a dry run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: u64,
    /// The field (a JSON path, a CSV column, …); `None` when the line could
    /// not be read at all (too long, not UTF-8).
    pub field: Option<String>,
    pub message: String,
    /// `refused`, `conflict` (an `expected_version` mismatch) or `unreadable`.
    pub kind: &'static str,
}

/// What a dry run found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DryRunReport {
    /// Lines that would be appended.
    pub valid: u64,
    /// Lines that would be skipped as duplicates.
    pub duplicates: u64,
    /// The refusals, in line order, at most [`MAX_REPORTED_ERRORS`].
    pub errors: Vec<LineError>,
    /// Refusals beyond those listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub errors_not_listed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl DryRunReport {
    /// True when every problem found is an `expected_version` conflict.
    pub fn only_conflicts(&self) -> bool {
        !self.errors.is_empty() && self.errors.iter().all(|e| e.kind == "conflict")
    }

    fn push(&mut self, error: &LedgerError) {
        if self.errors.len() >= MAX_REPORTED_ERRORS {
            self.errors_not_listed += 1;
            return;
        }
        let (line, field, message, kind) = match error {
            LedgerError::Refused {
                line,
                field,
                message,
            } => (*line, Some(field.clone()), message.clone(), "refused"),
            LedgerError::Conflict {
                line,
                field,
                message,
            } => (*line, Some(field.clone()), message.clone(), "conflict"),
            LedgerError::Unreadable { line, message } => {
                (*line, None, message.clone(), "unreadable")
            }
            other => (0, None, other.to_string(), "refused"),
        };
        self.errors.push(LineError {
            line,
            field,
            message,
            kind,
        });
    }
}

/// What [`append_batch`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchOutcome {
    /// What was written (for a dry run: what would have been).
    pub summary: AppendSummary,
    /// With [`BatchOptions::report_ids`]: every line's id and position.
    pub ids: Vec<LineId>,
    /// For a dry run: what it found.
    pub dry_run: Option<DryRunReport>,
}

/// How a source names the fields of its lines in messages: JSON paths
/// (`data.country`), CSV columns (`column country`), command-line flags
/// (`--country`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    Json,
    Csv,
    Flags,
}

impl Naming {
    /// How a field path of an input line is named to the user.
    pub fn name(&self, path: &str) -> String {
        match self {
            Naming::Json => path.to_owned(),
            Naming::Csv => match path {
                // Already a column (a header's own error).
                _ if path.starts_with("column ") => path.to_owned(),
                "type" => "--type".to_owned(),
                "operation" => "--operation".to_owned(),
                _ => {
                    let column = path.strip_prefix("data.").unwrap_or(path);
                    match column.split_once('[') {
                        Some((name, index)) => {
                            let item = index
                                .trim_end_matches(']')
                                .parse::<u64>()
                                .map_or(0, |i| i + 1);
                            format!("column {name}, item {item}")
                        }
                        None => format!("column {column}"),
                    }
                }
            },
            Naming::Flags => {
                let flag = path.strip_prefix("data.").unwrap_or(path);
                let flag = flag.split('[').next().unwrap_or(flag);
                format!("--{}", flag.replace(['.', '_'], "-"))
            }
        }
    }
}

pub(crate) fn refused(line: u64, field: &str, message: impl Into<String>) -> LedgerError {
    LedgerError::Refused {
        line,
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Where input lines come from: JSON Lines, a CSV file, flags.
pub trait Source: Send {
    /// The next line as `(line number, parsed line)`, `None` at the end. A
    /// line's own error (refused, unreadable) does not end the source: the
    /// next call reads the line after it.
    fn next_line(&mut self) -> Option<Result<(u64, InputLine), LedgerError>>;

    /// How this source's fields are named in messages.
    fn naming(&self) -> Naming;
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn next_line(&mut self) -> Option<Result<(u64, InputLine), LedgerError>> {
        (**self).next_line()
    }

    fn naming(&self) -> Naming {
        (**self).naming()
    }
}

/// JSON Lines, one event per line (see [`crate::input`]).
#[derive(Debug)]
pub struct JsonLines<R> {
    lines: Lines<R>,
    ended: bool,
}

impl<R: BufRead> JsonLines<R> {
    pub fn new(reader: R) -> JsonLines<R> {
        JsonLines {
            lines: Lines::new(reader),
            ended: false,
        }
    }
}

impl<R: BufRead + Send> Source for JsonLines<R> {
    fn next_line(&mut self) -> Option<Result<(u64, InputLine), LedgerError>> {
        if self.ended {
            return None;
        }
        match self.lines.next_line() {
            Ok(None) => {
                self.ended = true;
                None
            }
            Ok(Some((number, text))) => Some(
                parse_line(text)
                    .map(|line| (number, line))
                    .map_err(|error| refused(number, &error.path, error.message)),
            ),
            Err(error) => {
                // An I/O error ends the input; a line's own error does not.
                if matches!(error, LedgerError::Input(_)) {
                    self.ended = true;
                }
                Some(Err(error))
            }
        }
    }

    fn naming(&self) -> Naming {
        Naming::Json
    }
}

/// A line read, parsed and written in canonical form, ready to be checked
/// against the log.
#[derive(Clone)]
pub(crate) struct Parsed {
    pub(crate) number: u64,
    pub(crate) line: InputLine,
    /// The line's id, or the one generated for it (UUIDv7).
    pub(crate) id: Uuid,
    pub(crate) data: String,
}

impl Parsed {
    pub(crate) fn new(number: u64, line: InputLine) -> Parsed {
        Parsed {
            number,
            id: line.id.unwrap_or_else(Uuid::now_v7),
            data: line.event.data_json(),
            line,
        }
    }
}

/// Reads and parses every line of `input` (JSON Lines), up to and including
/// the first that cannot be read (the lines after it would never be
/// checked).
pub(crate) fn parse_all(input: &[u8]) -> Vec<Result<Parsed, LedgerError>> {
    let mut source = JsonLines::new(input);
    let mut parsed = Vec::new();
    while let Some(next) = source.next_line() {
        let next = next.map(|(number, line)| Parsed::new(number, line));
        let stop = next.is_err();
        parsed.push(next);
        if stop {
            break;
        }
    }
    parsed
}

/// The ids a chunk of lines will be asked about (its events' and the
/// events its retractions name): one lookup for all of them instead of one
/// per line, for stores where a lookup is a round trip.
pub(crate) fn ids_of<'a>(parsed: impl Iterator<Item = &'a Parsed>) -> Vec<Uuid> {
    parsed
        .flat_map(|parsed| {
            let named = match &parsed.line.event {
                Event::EventRetracted(retraction) => Some(retraction.event_id),
                _ => None,
            };
            std::iter::once(parsed.id).chain(named)
        })
        .collect()
}

/// Parsed lines travel to the checker in chunks (one hand-over per line
/// cost a thread switch per line), and at most `PIPELINE_DEPTH` chunks wait:
/// enough to keep both threads busy, few enough that memory does not follow
/// the batch's size.
const CHUNK_LINES: usize = 256;
const PIPELINE_DEPTH: usize = 8;

type Chunk = Vec<Result<Parsed, LedgerError>>;

/// Reads and parses lines on its own thread (the half of the work that does
/// not depend on the log), handing them over in order. Stops at the first
/// error unless `go_on` (a dry run), and always at an input error.
fn parse_lines(mut source: impl Source, sender: SyncSender<Chunk>, go_on: bool) {
    let mut chunk = Vec::with_capacity(CHUNK_LINES);
    while let Some(next) = source.next_line() {
        let next = next.map(|(number, line)| Parsed::new(number, line));
        let stop = match &next {
            Err(LedgerError::Input(_)) => true,
            Err(_) => !go_on,
            Ok(_) => false,
        };
        chunk.push(next);
        if stop || chunk.len() == CHUNK_LINES {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_LINES));
            // The checker stopped listening: it refused an earlier line.
            if sender.send(full).is_err() || stop {
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = sender.send(chunk);
    }
}

/// Appends the JSON Lines read from `input` as one atomic batch.
pub fn append(
    store: &dyn EventStore,
    input: impl BufRead + Send,
    options: &AppendOptions,
) -> Result<AppendSummary, LedgerError> {
    Ok(append_batch(
        store,
        JsonLines::new(input),
        options,
        &BatchOptions::default(),
    )?
    .summary)
}

/// Appends on behalf of an authenticated agency: as [`append`], and every
/// line is also checked against the agency's grant
/// ([`domain::registry::Grant::permits`]) before anything else about it, a
/// refusal being [`LedgerError::Forbidden`]. Lines that do not name
/// `recorded_by` are recorded by the agency. Under the writers' lock, the
/// registry stream must still be at the version the grant was read at
/// (else [`LedgerError::RegistryChanged`]): a revocation recorded while the
/// request was on its way is never outrun.
pub fn append_as(
    store: &dyn EventStore,
    input: impl BufRead + Send,
    stamp: Stamp,
    submitter: &Submitter,
) -> Result<AppendSummary, LedgerError> {
    let options = AppendOptions {
        recorded_by: submitter.grant.agency.as_str().to_owned(),
        stamp,
    };
    Ok(append_batch_as(
        store,
        JsonLines::new(input),
        &options,
        &BatchOptions::default(),
        Some(submitter),
    )?
    .summary)
}

/// Appends (or, for a dry run, checks) the lines of `source` as one atomic
/// batch.
///
/// Parsing runs on a second thread while this one checks and stages lines
/// against the log; the batch is still checked strictly in order. Errors of
/// a real append are named as the source names its fields.
pub fn append_batch(
    store: &dyn EventStore,
    source: impl Source,
    options: &AppendOptions,
    batch: &BatchOptions,
) -> Result<BatchOutcome, LedgerError> {
    append_batch_as(store, source, options, batch, None)
}

/// [`append_batch`] on behalf of an agency (see [`append_as`]).
pub fn append_batch_as(
    store: &dyn EventStore,
    source: impl Source,
    options: &AppendOptions,
    batch: &BatchOptions,
    submitter: Option<&Submitter>,
) -> Result<BatchOutcome, LedgerError> {
    append_checked(store, source, options, batch, submitter, None)
}

/// Appends a batch signed by an agency (JSON Lines read from `input`): as
/// [`append`], recorded by the signing agency, and only if the signature
/// verifies with the agency's active key and its statement is this
/// batch's (agency, operations, lines, the SHA-256 of the exact bytes, the
/// records digest). Every line must carry an id and name no other
/// `recorded_by`. The signature is stored in the same transaction, just
/// before the batch's records. A batch sent again whole is skipped whole
/// (nothing is written); one whose lines are partly in the log is refused.
pub fn append_signed(
    store: &dyn EventStore,
    input: impl BufRead + Send,
    stamp: Stamp,
    batch: &BatchOptions,
    signature: &Signature,
) -> Result<BatchOutcome, LedgerError> {
    if batch.dry_run {
        return Err(signature_error(
            "signature",
            "a dry run checks lines, not signatures: leave out one or the other",
        ));
    }
    let (reader, bytes) = Hashing::new(input);
    let options = AppendOptions {
        recorded_by: signature.statement.agency.clone(),
        stamp,
    };
    let signed = SignedInput {
        signature,
        bytes: &bytes,
    };
    append_checked(
        store,
        JsonLines::new(reader),
        &options,
        batch,
        None,
        Some(signed),
    )
}

/// A signed batch on its way in: its signature, and the digest of the
/// bytes read so far (the whole batch's once the source is read).
struct SignedInput<'a> {
    signature: &'a Signature,
    bytes: &'a Mutex<Sha256>,
}

fn append_checked(
    store: &dyn EventStore,
    source: impl Source,
    options: &AppendOptions,
    batch: &BatchOptions,
    submitter: Option<&Submitter>,
    signed: Option<SignedInput<'_>>,
) -> Result<BatchOutcome, LedgerError> {
    let naming = source.naming();
    // The rule state is read as of the committed head, before anything is
    // staged (loaded beside the lock's wait and the index check).
    let (mut transaction, mut loaded) = state::begin_with_state(store, options.stamp)?;
    if let Some(submitter) = submitter {
        if transaction.version(REGISTRY_STREAM)? != submitter.registry_version {
            return Err(LedgerError::RegistryChanged);
        }
    }
    let mut tally = None;
    if let Some(signed) = &signed {
        // Under the writers' lock: the key is checked against the registry
        // as the batch will be recorded.
        let head = transaction.head();
        let registry = crate::agencies::load(store, head, 1)?;
        signed
            .signature
            .check_key(&registry.state.0, head.position + 1)?;
        transaction.stage(signed.signature.record())?;
        tally = Some(Tally::new());
    }
    let agency = signed
        .as_ref()
        .map(|signed| signed.signature.statement.agency.clone());
    let mut target = if batch.dry_run {
        Target::Dry(Box::new(DryRun::new(transaction)))
    } else {
        Target::Real(transaction)
    };
    let mut report = DryRunReport::default();
    let mut ids = Vec::new();
    let mut duplicates = 0;
    let mut sealer = Sealer::default();
    std::thread::scope(|scope| -> Result<(), LedgerError> {
        let (sender, receiver) = sync_channel(PIPELINE_DEPTH);
        let go_on = batch.dry_run;
        scope.spawn(move || parse_lines(source, sender, go_on));
        for chunk in receiver {
            target.prefetch(&ids_of(chunk.iter().flatten()))?;
            sealer.prefetch(
                &mut target,
                chunk
                    .iter()
                    .flatten()
                    .map(|parsed| (parsed.line.operation.as_str(), &parsed.line.event)),
            )?;
            for parsed in chunk {
                let outcome = parsed.and_then(|parsed| {
                    let (number, id) = (parsed.number, parsed.id);
                    if let (Some(tally), Some(agency)) = (tally.as_mut(), agency.as_deref()) {
                        check_line(&parsed, agency)?;
                        tally.add(&parsed, agency);
                    }
                    stage_line(
                        &mut target,
                        &mut loaded.operations,
                        &mut sealer,
                        parsed,
                        options,
                        batch,
                        submitter,
                    )
                    .map(|staged| (number, id, staged))
                });
                match outcome {
                    Ok((line, id, staged)) => {
                        let (position, duplicate) = match staged {
                            Staged::New { position, .. } => {
                                report.valid += 1;
                                (position, false)
                            }
                            Staged::Duplicate { position } => {
                                duplicates += 1;
                                (position, true)
                            }
                        };
                        if batch.report_ids {
                            ids.push(LineId {
                                line,
                                id,
                                position,
                                duplicate,
                            });
                        }
                    }
                    Err(error) => {
                        let error = rename(error, naming);
                        if batch.dry_run && error.is_line_error() {
                            report.push(&error);
                        } else {
                            return Err(error);
                        }
                    }
                }
            }
        }
        Ok(())
    })?;
    let transaction = match target {
        Target::Dry(dry) => {
            let head = dry.batch.head();
            // Dropping the real transaction writes nothing and unlocks.
            drop(dry);
            report.duplicates = duplicates;
            let first = (report.valid > 0).then(|| head.position + 1 - report.valid);
            return Ok(BatchOutcome {
                summary: AppendSummary {
                    appended: report.valid,
                    duplicates,
                    first_position: first,
                    last_position: first.map(|_| head.position),
                },
                ids,
                dry_run: Some(report),
            });
        }
        Target::Real(transaction) => transaction,
    };
    // The signature record staged first: not one of the batch's.
    let mut signature_record = 0;
    if let (Some(signed), Some(tally)) = (&signed, tally) {
        let found = tally.statement(
            &signed.signature.statement.agency,
            bytes_digest(signed.bytes),
        );
        if let Some(difference) = signed.signature.statement.difference(&found) {
            return Err(signature_error("signature", difference));
        }
        if report.valid == 0 {
            // Sent again whole: nothing new, and the signature is already
            // stored with the first copy. Dropping writes nothing.
            drop(transaction);
            return Ok(BatchOutcome {
                summary: AppendSummary {
                    appended: 0,
                    duplicates,
                    first_position: None,
                    last_position: None,
                },
                ids,
                dry_run: None,
            });
        }
        if duplicates > 0 {
            return Err(signature_error(
                "id",
                format!("{duplicates} of the signed batch's lines are already in the log: a signed batch is appended whole (or, sent again, skipped whole)"),
            ));
        }
        signature_record = 1;
    }
    let committed = transaction.commit()?;
    if committed.appended > 0 {
        // The state now matches the new head; saving it (when the tail
        // since the last checkpoint is long enough to be worth it) spares
        // the next append the tail replay. Derived data: a failure costs
        // only time.
        let _ = state::save_after_commit(store, committed.head, &loaded);
    }
    Ok(BatchOutcome {
        summary: AppendSummary {
            appended: committed.appended - signature_record,
            duplicates: committed.duplicates + duplicates,
            first_position: committed.first_position.map(|p| p + signature_record),
            last_position: committed.last_position,
        },
        ids,
        dry_run: None,
    })
}

/// Names an error's field as the source does.
fn rename(error: LedgerError, naming: Naming) -> LedgerError {
    match error {
        LedgerError::Refused {
            line,
            field,
            message,
        } => LedgerError::Refused {
            line,
            field: naming.name(&field),
            message,
        },
        LedgerError::Conflict {
            line,
            field,
            message,
        } => LedgerError::Conflict {
            line,
            field: naming.name(&field),
            message,
        },
        other => other,
    }
}

/// Where checked lines are staged: the store's transaction, or a dry run's
/// batch that is never written.
pub(crate) enum Target<'s> {
    Real(Box<dyn AppendTransaction + 's>),
    Dry(Box<DryRun<'s>>),
}

/// An event already in the log or earlier in the batch, as the checks need
/// it.
struct Existing {
    position: u64,
    operation: String,
    event_type: String,
    recorded_by: String,
    /// The data, or (for a dry run's own staged events) its digest.
    data: Fingerprint,
}

enum Fingerprint {
    Data(String),
    Digest([u8; 32]),
}

impl Existing {
    fn from_envelope(envelope: Envelope) -> Existing {
        Existing {
            position: envelope.position,
            operation: envelope.operation,
            event_type: envelope.event_type,
            recorded_by: envelope.recorded_by,
            data: Fingerprint::Data(envelope.data),
        }
    }

    fn same(&self, operation: &str, event_type: &str, data: &str) -> bool {
        self.operation == operation
            && self.event_type == event_type
            && match &self.data {
                Fingerprint::Data(known) => known == data,
                Fingerprint::Digest(digest) => *digest == digest_of(data),
            }
    }
}

fn digest_of(data: &str) -> [u8; 32] {
    Sha256::digest(data.as_bytes()).into()
}

impl Target<'_> {
    fn find(&self, id: Uuid) -> Result<Option<Existing>, StoreError> {
        match self {
            Target::Real(transaction) => Ok(transaction.find(id)?.map(Existing::from_envelope)),
            Target::Dry(dry) => dry.find(id),
        }
    }

    fn version(&self, operation: &str) -> Result<u64, StoreError> {
        match self {
            Target::Real(transaction) => transaction.version(operation),
            Target::Dry(dry) => dry.version(operation),
        }
    }

    /// Whether the log (or the batch so far) holds an event with this id.
    pub(crate) fn find_id(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.find(id)?.is_some())
    }

    pub(crate) fn stage(&mut self, event: NewEvent) -> Result<Staged, StoreError> {
        match self {
            Target::Real(transaction) => transaction.stage(event),
            Target::Dry(dry) => dry.stage(event),
        }
    }

    /// See [`AppendTransaction::prefetch`]: a dry run asks the same store
    /// the same questions.
    pub(crate) fn prefetch(&mut self, ids: &[Uuid]) -> Result<(), StoreError> {
        match self {
            Target::Real(transaction) => transaction.prefetch(ids),
            Target::Dry(dry) => dry.committed.0.prefetch(ids),
        }
    }
}

impl KeyAccess for Target<'_> {
    // A dry run finds and adds keys in the real transaction, which is
    // dropped: its keys are never written.
    fn find_key(
        &mut self,
        lookup: &[u8; 32],
    ) -> Result<Option<event_store::SubjectKey>, StoreError> {
        match self {
            Target::Real(transaction) => transaction.find_subject_key(lookup),
            Target::Dry(dry) => dry.committed.0.find_subject_key(lookup),
        }
    }

    fn add_key(&mut self, key: event_store::SubjectKey) -> Result<(), StoreError> {
        match self {
            Target::Real(transaction) => transaction.add_subject_key(key),
            Target::Dry(dry) => dry.committed.0.add_subject_key(key),
        }
    }

    fn prefetch_keys(&mut self, lookups: &[[u8; 32]]) -> Result<(), StoreError> {
        match self {
            Target::Real(transaction) => transaction.prefetch_subject_keys(lookups),
            Target::Dry(dry) => dry.committed.0.prefetch_subject_keys(lookups),
        }
    }
}

/// A dry run: the real transaction holds the lock and answers for the
/// committed log; staging goes to a [`Batch`] of its own whose bytes are
/// dropped as they are encoded, so that positions, versions, duplicates
/// and conflicts are decided by the same code as a real append's, and
/// nothing is ever written.
pub(crate) struct DryRun<'s> {
    committed: Committed<'s>,
    batch: Batch,
    /// The events staged so far that carry an id: enough to answer `find`.
    staged: HashMap<Uuid, Kept>,
}

/// A dry run's staged event: position, operation, type, recorded_by and
/// the data's digest.
type Kept = (u64, String, &'static str, String, [u8; 32]);

/// The committed log, seen through a transaction that stages nothing.
struct Committed<'s>(Box<dyn AppendTransaction + 's>);

impl CommittedLog for Committed<'_> {
    fn find_committed(&mut self, id: Uuid) -> Result<Option<Envelope>, StoreError> {
        self.0.find(id)
    }

    fn committed_version(&mut self, operation: &str) -> Result<u64, StoreError> {
        self.0.version(operation)
    }
}

impl<'s> DryRun<'s> {
    fn new(transaction: Box<dyn AppendTransaction + 's>) -> DryRun<'s> {
        let batch = Batch::detached(transaction.head(), transaction.recorded_at());
        DryRun {
            committed: Committed(transaction),
            batch,
            staged: HashMap::new(),
        }
    }

    fn find(&self, id: Uuid) -> Result<Option<Existing>, StoreError> {
        if let Some((position, operation, event_type, recorded_by, digest)) = self.staged.get(&id) {
            return Ok(Some(Existing {
                position: *position,
                operation: operation.clone(),
                event_type: (*event_type).to_owned(),
                recorded_by: recorded_by.clone(),
                data: Fingerprint::Digest(*digest),
            }));
        }
        Ok(self.committed.0.find(id)?.map(Existing::from_envelope))
    }

    fn version(&self, operation: &str) -> Result<u64, StoreError> {
        match self.batch.versions().get(operation) {
            Some(version) => Ok(*version),
            None => self.committed.0.version(operation),
        }
    }

    fn stage(&mut self, event: NewEvent) -> Result<Staged, StoreError> {
        let id = event.id;
        let kept = EventType::parse(&event.event_type).map(|t| {
            (
                event.operation.clone(),
                t.as_str(),
                event.recorded_by.clone(),
                digest_of(&event.data),
            )
        });
        let staged = self.batch.stage(&mut self.committed, event)?;
        self.batch.drain_out();
        if let (Staged::New { position, .. }, Some((operation, event_type, recorded_by, digest))) =
            (staged, kept)
        {
            self.staged
                .insert(id, (position, operation, event_type, recorded_by, digest));
        }
        Ok(staged)
    }
}

/// Checks and stages one line.
pub(crate) fn stage_line(
    target: &mut Target<'_>,
    operations: &mut state::Operations,
    sealer: &mut Sealer,
    parsed: Parsed,
    options: &AppendOptions,
    batch: &BatchOptions,
    submitter: Option<&Submitter>,
) -> Result<Staged, LedgerError> {
    let Parsed {
        number,
        line,
        id,
        data,
    } = parsed;
    let event_type = line.event.event_type();
    let named = match &line.event {
        Event::EventRetracted(retraction) => target.find(retraction.event_id)?,
        _ => None,
    };
    // Grants first: an agency learns nothing about the log (a duplicate, a
    // version, an operation's rules) from a line it may not send.
    if let Some(submitter) = submitter {
        let submission = Submission {
            operation: &line.operation,
            event: &line.event,
            recorded_by: line.recorded_by.as_ref().map(Text::as_str),
            target_recorded_by: named.as_ref().map(|found| found.recorded_by.as_str()),
        };
        submitter
            .grant
            .permits(&submission)
            .map_err(|refusal| LedgerError::Forbidden {
                line: number,
                field: refusal.field.to_owned(),
                message: refusal.message,
            })?;
    }
    if line.id.is_none() && batch.require_ids {
        return Err(refused(
            number,
            "id",
            "missing: --require-ids refuses lines without an id (send a UUID per event, so that the batch can be sent again safely)",
        ));
    }
    // Sealed before the duplicate check: sealing is deterministic for one
    // event, so a re-sent event compares equal to the stored one.
    let sealed = sealer.seal(target, number, line.operation.as_str(), id, &line.event)?;
    let (data, schema) = match &sealed {
        Some(sealed) => (sealed.data_json(), sealed.schema()),
        None => (data, SCHEMA_VERSION),
    };
    if line.id.is_some() {
        if let Some(existing) = target.find(id)? {
            if existing.same(line.operation.as_str(), event_type.as_str(), &data) {
                return Ok(Staged::Duplicate {
                    position: existing.position,
                });
            }
            return Err(refused(
                number,
                "id",
                format!(
                    "{id} is already used by a different event (position {})",
                    existing.position
                ),
            ));
        }
    }
    if let Some(expected) = line.expected_version {
        let actual = target.version(line.operation.as_str())?;
        if actual != expected {
            return Err(LedgerError::Conflict {
                line: number,
                field: "expected_version".to_owned(),
                message: format!(
                    "operation {} is at version {actual}, not {expected}",
                    line.operation
                ),
            });
        }
    }
    let retraction = named
        .as_ref()
        .map(|found| retraction_target(number, found))
        .transpose()?;
    let operation = operations.entry(&line.operation);
    operation
        .decide(&line.event, retraction.as_ref())
        .map_err(|refusal| refused(number, refusal.field(), refusal.to_string()))?;
    let recorded_by = line
        .recorded_by
        .as_ref()
        .map_or(options.recorded_by.as_str(), |text| text.as_str())
        .to_owned();
    let staged = target
        .stage(NewEvent {
            id,
            operation: line.operation.as_str().to_owned(),
            event_type: event_type.as_str().to_owned(),
            schema,
            recorded_by,
            reported_at: line.reported_at.map(|instant| instant.to_string()),
            data,
            expected_version: line.expected_version,
            // A retraction is pinned to the record it retracts (its position
            // and hash), so that replay finds it without an id index and
            // folds exactly the bytes the retraction was accepted against.
            refers_to: match &line.event {
                Event::EventRetracted(retraction) => Some(retraction.event_id),
                _ => None,
            },
        })
        .map_err(|error| match error {
            StoreError::Conflict { .. } => LedgerError::Conflict {
                line: number,
                field: "expected_version".to_owned(),
                message: error.to_string(),
            },
            StoreError::IdConflict { .. } => refused(number, "id", error.to_string()),
            other => LedgerError::Store(other),
        })?;
    if let Staged::New { .. } = staged {
        operation.apply(&line.event);
    }
    Ok(staged)
}

/// What the rules need to know of the event a retraction names.
fn retraction_target(number: u64, found: &Existing) -> Result<RetractionTarget, LedgerError> {
    if found.operation == EVIDENCE_STREAM {
        return Err(refused(
            number,
            "data.event_id",
            format!(
                "the event named is a record of the ledger's evidence (position {}), not an operation's event",
                found.position
            ),
        ));
    }
    if domain::is_reserved_stream(&found.operation) {
        return Err(refused(
            number,
            "data.event_id",
            format!(
                "the event named is a record of the ledger's own ({}, position {}), not an operation's event",
                found.operation,
                found.position
            ),
        ));
    }
    let unreadable = |what: &str| {
        LedgerError::Store(StoreError::Corrupt {
            location: format!("position {}", found.position),
            reason: format!("{what} is not one the domain knows"),
        })
    };
    Ok(RetractionTarget {
        operation: Slug::parse(&found.operation).map_err(|_| unreadable("its operation"))?,
        event_type: EventType::parse(&found.event_type).ok_or_else(|| unreadable("its type"))?,
    })
}
