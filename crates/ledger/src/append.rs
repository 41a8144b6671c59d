//! Appending a batch of input lines: all of them, or none.
//!
//! Each line is checked in order against the log plus the lines before it:
//! its fields (the domain's reading), its id (a re-sent event is skipped as a
//! duplicate, another event under a used id is refused), its
//! `expected_version`, and the domain's rules. The first refusal drops the
//! transaction, so that nothing of the batch is written.

use std::io::BufRead;
use std::sync::mpsc::{sync_channel, SyncSender};

use domain::registry::Submission;
use domain::{Event, EventType, RetractionTarget, Slug, Text, REGISTRY_STREAM, SCHEMA_VERSION};
use event_store::{AppendTransaction, Envelope, EventStore, NewEvent, Staged, Stamp, StoreError};
use serde::Serialize;
use uuid::Uuid;

use crate::agencies::Submitter;
use crate::input::{parse_line, InputLine, Lines};
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

/// What an append did, as `theseus append` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AppendSummary {
    pub appended: u64,
    pub duplicates: u64,
    pub first_position: Option<u64>,
    pub last_position: Option<u64>,
}

fn refused(line: u64, field: &str, message: impl Into<String>) -> LedgerError {
    LedgerError::Refused {
        line,
        field: field.to_owned(),
        message: message.into(),
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

/// The next line read and parsed, `None` at the end.
fn parse_next<R: BufRead>(lines: &mut Lines<R>) -> Option<Result<Parsed, LedgerError>> {
    match lines.next_line() {
        Ok(None) => None,
        Ok(Some((number, text))) => Some(
            parse_line(text)
                .map(|line| Parsed {
                    number,
                    id: line.id.unwrap_or_else(Uuid::now_v7),
                    data: line.event.data_json(),
                    line,
                })
                .map_err(|error| refused(number, &error.path, error.message)),
        ),
        Err(error) => Some(Err(error)),
    }
}

/// Reads and parses every line of `input`, up to and including the first
/// that cannot be read (the lines after it would never be checked).
pub(crate) fn parse_all(input: &[u8]) -> Vec<Result<Parsed, LedgerError>> {
    let mut lines = Lines::new(input);
    let mut parsed = Vec::new();
    while let Some(next) = parse_next(&mut lines) {
        let stop = next.is_err();
        parsed.push(next);
        if stop {
            break;
        }
    }
    parsed
}

/// The ids a chunk of lines will be asked about: its events' and the
/// events its retractions name.
pub(crate) fn ids_of<'a>(parsed: impl Iterator<Item = &'a Parsed>) -> Vec<Uuid> {
    parsed
        .flat_map(|parsed| {
            let target = match &parsed.line.event {
                Event::EventRetracted(retraction) => Some(retraction.event_id),
                _ => None,
            };
            std::iter::once(parsed.id).chain(target)
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
/// not depend on the log), handing them over in order.
fn parse_lines(input: impl BufRead, sender: SyncSender<Chunk>) {
    let mut lines = Lines::new(input);
    let mut chunk = Vec::with_capacity(CHUNK_LINES);
    loop {
        let Some(next) = parse_next(&mut lines) else {
            break;
        };
        let stop = next.is_err();
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
///
/// Parsing runs on a second thread while this one checks and stages lines
/// against the log; the batch is still checked strictly in order.
pub fn append(
    store: &dyn EventStore,
    input: impl BufRead + Send,
    options: &AppendOptions,
) -> Result<AppendSummary, LedgerError> {
    append_checked(store, input, options, None)
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
    append_checked(store, input, &options, Some(submitter))
}

fn append_checked(
    store: &dyn EventStore,
    input: impl BufRead + Send,
    options: &AppendOptions,
    submitter: Option<&Submitter>,
) -> Result<AppendSummary, LedgerError> {
    let mut transaction = store.begin(options.stamp)?;
    if let Some(submitter) = submitter {
        if transaction.version(REGISTRY_STREAM)? != submitter.registry_version {
            return Err(LedgerError::RegistryChanged);
        }
    }
    let mut operations = state::load(store, transaction.head())?;
    let mut duplicates = 0;
    std::thread::scope(|scope| -> Result<(), LedgerError> {
        let (sender, receiver) = sync_channel(PIPELINE_DEPTH);
        scope.spawn(move || parse_lines(input, sender));
        for chunk in receiver {
            // One lookup for the chunk's ids (its events' and the events
            // its retractions name) instead of one per line, for stores
            // where a lookup is a round trip.
            transaction.prefetch(&ids_of(chunk.iter().flatten()))?;
            for parsed in chunk {
                let parsed = parsed?;
                if stage_line(
                    transaction.as_mut(),
                    &mut operations,
                    parsed,
                    options,
                    submitter,
                )? {
                    duplicates += 1;
                }
            }
        }
        Ok(())
    })?;
    let committed = transaction.commit()?;
    if committed.appended > 0 {
        // The state now matches the new head; saving it spares the next
        // append the tail replay. Derived data: a failure costs only time.
        let _ = state::save(store, committed.head, &operations);
    }
    Ok(AppendSummary {
        appended: committed.appended,
        duplicates: committed.duplicates + duplicates,
        first_position: committed.first_position,
        last_position: committed.last_position,
    })
}

/// Checks and stages one line; true when it was a duplicate.
pub(crate) fn stage_line(
    transaction: &mut dyn AppendTransaction,
    operations: &mut state::Operations,
    parsed: Parsed,
    options: &AppendOptions,
    submitter: Option<&Submitter>,
) -> Result<bool, LedgerError> {
    let Parsed {
        number,
        line,
        id,
        data,
    } = parsed;
    let event_type = line.event.event_type();
    let target = match &line.event {
        Event::EventRetracted(retraction) => transaction.find(retraction.event_id)?,
        _ => None,
    };
    // Grants first: an agency learns nothing about the log (a duplicate, a
    // version, an operation's rules) from a line it may not send.
    if let Some(submitter) = submitter {
        let submission = Submission {
            operation: &line.operation,
            event: &line.event,
            recorded_by: line.recorded_by.as_ref().map(Text::as_str),
            target_recorded_by: target.as_ref().map(|found| found.recorded_by.as_str()),
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
    if line.id.is_some() {
        if let Some(existing) = transaction.find(id)? {
            let same = existing.operation == line.operation.as_str()
                && existing.event_type == event_type.as_str()
                && existing.data == data;
            if same {
                return Ok(true);
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
        let actual = transaction.version(line.operation.as_str())?;
        if actual != expected {
            return Err(LedgerError::Conflict {
                line: number,
                message: format!(
                    "operation {} is at version {actual}, not {expected}",
                    line.operation
                ),
            });
        }
    }
    let target = target
        .as_ref()
        .map(|found| retraction_target(number, found))
        .transpose()?;
    let operation = operations.entry(&line.operation);
    operation
        .decide(&line.event, target.as_ref())
        .map_err(|refusal| refused(number, refusal.field(), refusal.to_string()))?;
    let recorded_by = line
        .recorded_by
        .as_ref()
        .map_or(options.recorded_by.as_str(), |text| text.as_str())
        .to_owned();
    let staged = transaction
        .stage(NewEvent {
            id,
            operation: line.operation.as_str().to_owned(),
            event_type: event_type.as_str().to_owned(),
            schema: SCHEMA_VERSION,
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
                message: error.to_string(),
            },
            StoreError::IdConflict { .. } => refused(number, "id", error.to_string()),
            other => LedgerError::Store(other),
        })?;
    match staged {
        Staged::New { .. } => {
            operation.apply(&line.event);
            Ok(false)
        }
        Staged::Duplicate { .. } => Ok(true),
    }
}

/// What the rules need to know of the record a retraction names.
fn retraction_target(number: u64, found: &Envelope) -> Result<RetractionTarget, LedgerError> {
    if found.operation == REGISTRY_STREAM {
        return Err(refused(
            number,
            "data.event_id",
            format!(
                "{} is a record of the agency registry (position {}), not an operation's event",
                found.id, found.position
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
