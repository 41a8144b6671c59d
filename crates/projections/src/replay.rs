//! Driving projections over a store: replay, retractions, checkpoints, and
//! folding in parallel parts.
//!
//! A checkpoint is a projection's state saved (as derived data of the store)
//! with the position and hash of the last record it folded. It is used only
//! if the log still holds that record with that hash; otherwise it is
//! ignored and rebuilt. Deleting every checkpoint changes no output, only
//! the time it takes.

use std::sync::atomic::{AtomicU64, Ordering};

use domain::{EventType, EventView};
use event_store::{EnvelopeRef, EventStore, Head, Range, StoreError};
use serde::{Deserialize, Serialize};

use crate::report::{Report, ReportKind};
use crate::{Meta, Projection, ProjectionError, Tabular};

/// The version of the checkpoint envelope (the state inside is versioned by
/// the projection's name).
const CHECKPOINT_FORMAT: u32 = 1;

/// Below this many records, replaying costs less than saving a checkpoint.
const CHECKPOINT_MIN_RECORDS: u64 = 1;

fn unreadable(position: u64, reason: impl Into<String>) -> ProjectionError {
    ProjectionError::Unreadable {
        position,
        reason: reason.into(),
    }
}

fn event_type_of(position: u64, name: &str) -> Result<EventType, ProjectionError> {
    EventType::parse(name)
        .ok_or_else(|| unreadable(position, format!("unknown event type {name:?}")))
}

/// Folds one record (and, for a retraction, takes its target back out).
fn fold_record<P: Projection>(
    store: &dyn EventStore,
    state: &mut P,
    record: &EnvelopeRef<'_>,
) -> Result<(), ProjectionError> {
    let event_type = event_type_of(record.position, &record.event_type)?;
    let view = EventView::decode(event_type, record.data)
        .map_err(|reason| unreadable(record.position, format!("data: {reason}")))?;
    let meta = Meta {
        operation: &record.operation,
        position: record.position,
        event_type,
    };
    state.record(&meta, &view);
    if let (true, EventView::EventRetracted { event_id }) = (P::NEEDS_RETRACTED, &view) {
        let event_id = *event_id;
        let target = store.get(event_id)?.ok_or_else(|| {
            unreadable(
                record.position,
                format!("retracts {event_id}, which the log does not hold"),
            )
        })?;
        let target_type = event_type_of(target.position, &target.event_type)?;
        let target_view = EventView::decode(target_type, &target.data)
            .map_err(|reason| unreadable(target.position, format!("data: {reason}")))?;
        let target_meta = Meta {
            operation: &target.operation,
            position: target.position,
            event_type: target_type,
        };
        state.retract(&target_meta, &target_view);
    }
    Ok(())
}

/// Folds the records of `range` into `state`, in order.
pub fn fold<P: Projection>(
    store: &dyn EventStore,
    state: &mut P,
    range: Range,
) -> Result<(), ProjectionError> {
    fold_counted(store, state, range, None)
}

/// Records are counted into a progress counter in steps of this many, so
/// that a long replay can show how far it is without a shared write per
/// record.
const PROGRESS_STEP: u64 = 1 << 14;

/// [`fold`], adding the number of records folded to `progress`.
fn fold_counted<P: Projection>(
    store: &dyn EventStore,
    state: &mut P,
    range: Range,
    progress: Option<&AtomicU64>,
) -> Result<(), ProjectionError> {
    let mut failure = None;
    let mut uncounted = 0;
    let result = store.scan(range, &mut |record| {
        if let Some(progress) = progress {
            uncounted += 1;
            if uncounted == PROGRESS_STEP {
                progress.fetch_add(uncounted, Ordering::Relaxed);
                uncounted = 0;
            }
        }
        fold_record(store, state, record).map_err(|error| {
            failure = Some(error);
            StoreError::Visitor("projection failed".into())
        })
    });
    if let Some(progress) = progress {
        progress.fetch_add(uncounted, Ordering::Relaxed);
    }
    match (result, failure) {
        (_, Some(error)) => Err(error),
        (Err(error), None) => Err(error.into()),
        (Ok(()), None) => Ok(()),
    }
}

/// Folds `range` in `parts` consecutive slices on as many threads and merges
/// them in order: the same state as [`fold`], sooner on several cores.
pub fn fold_parallel<P: Projection>(
    store: &dyn EventStore,
    range: Range,
    parts: u64,
) -> Result<P, ProjectionError> {
    fold_parallel_counted(store, range, parts, None, &P::default)
}

/// [`fold_parallel`] into states made by `init` rather than the default,
/// reading and saving no checkpoint: for a projection whose state depends
/// on more than the log, such as a [`crate::filter::Filtered`] one.
pub fn fold_from<P: Projection>(
    store: &dyn EventStore,
    range: Range,
    parts: u64,
    progress: Option<&AtomicU64>,
    init: &(dyn Fn() -> P + Sync),
) -> Result<P, ProjectionError> {
    fold_parallel_counted(store, range, parts, progress, init)
}

fn fold_parallel_counted<P: Projection>(
    store: &dyn EventStore,
    range: Range,
    parts: u64,
    progress: Option<&AtomicU64>,
    init: &(dyn Fn() -> P + Sync),
) -> Result<P, ProjectionError> {
    let parts = parts.max(1);
    let length = range.to.saturating_sub(range.from) + 1;
    if parts == 1 || length < parts * 1024 {
        let mut state = init();
        fold_counted(store, &mut state, range, progress)?;
        return Ok(state);
    }
    let step = length.div_ceil(parts);
    let slices: Vec<Range> = (0..parts)
        .map(|i| {
            Range::new(
                range.from + i * step,
                (range.from + (i + 1) * step - 1).min(range.to),
            )
        })
        .filter(|slice| slice.from <= slice.to)
        .collect();
    let results: Vec<Result<P, ProjectionError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = slices
            .iter()
            .map(|slice| {
                scope.spawn(move || {
                    let mut state = init();
                    fold_counted(store, &mut state, *slice, progress).map(|()| state)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(unreadable(0, "a replay thread panicked")))
            })
            .collect()
    });
    let mut merged = init();
    for part in results {
        merged.merge(part?);
    }
    Ok(merged)
}

#[derive(Serialize, Deserialize)]
struct Checkpoint<P> {
    format: u32,
    projection: String,
    position: u64,
    hash: String,
    state: P,
}

fn checkpoint_name<P: Projection>() -> String {
    format!("checkpoint-{}.json", P::NAME)
}

/// A projection's state and the log prefix it was folded from.
#[derive(Debug, Clone)]
pub struct Checkpointed<P> {
    pub state: P,
    pub head: Head,
}

/// Loads the projection's checkpoint if it is usable for `as_of`: saved at
/// or before it, and the log still holds its last record with its hash.
fn load_checkpoint<P: Projection>(
    store: &dyn EventStore,
    as_of: &Head,
) -> Result<Option<Checkpointed<P>>, ProjectionError> {
    let Some(bytes) = store.load_derived(&checkpoint_name::<P>())? else {
        return Ok(None);
    };
    let Ok(checkpoint) = serde_json::from_slice::<Checkpoint<P>>(&bytes) else {
        return Ok(None);
    };
    if checkpoint.format != CHECKPOINT_FORMAT
        || checkpoint.projection != P::NAME
        || checkpoint.position > as_of.position
    {
        return Ok(None);
    }
    let head = if checkpoint.position == 0 {
        Head::EMPTY
    } else {
        match store.get_at(checkpoint.position)? {
            Some(record) if record.hash.to_string() == checkpoint.hash => Head {
                position: record.position,
                hash: record.hash,
            },
            _ => return Ok(None),
        }
    };
    Ok(Some(Checkpointed {
        state: checkpoint.state,
        head,
    }))
}

/// Saves a projection's state as its checkpoint.
pub fn save<P: Projection>(
    store: &dyn EventStore,
    built: &Checkpointed<P>,
) -> Result<(), ProjectionError> {
    let checkpoint = Checkpoint {
        format: CHECKPOINT_FORMAT,
        projection: P::NAME.to_owned(),
        position: built.head.position,
        hash: built.head.hash.to_string(),
        state: &built.state,
    };
    let bytes =
        serde_json::to_vec(&checkpoint).map_err(|error| unreadable(0, error.to_string()))?;
    store.save_derived(&checkpoint_name::<P>(), &bytes)?;
    Ok(())
}

/// The projection folded up to `as_of`: from the newest usable checkpoint
/// plus the records after it, or from the start. When `as_of` is the head,
/// the result is saved as the new checkpoint (best effort: a store that
/// cannot save derived data still reports).
pub fn build<P: Projection>(
    store: &dyn EventStore,
    as_of: Head,
    parts: u64,
) -> Result<Checkpointed<P>, ProjectionError> {
    build_counted(store, as_of, parts, None)
}

fn build_counted<P: Projection>(
    store: &dyn EventStore,
    as_of: Head,
    parts: u64,
    progress: Option<&AtomicU64>,
) -> Result<Checkpointed<P>, ProjectionError> {
    let start = load_checkpoint::<P>(store, &as_of)?.unwrap_or(Checkpointed {
        state: P::default(),
        head: Head::EMPTY,
    });
    if start.head.position == as_of.position {
        return Ok(start);
    }
    let tail = Range::new(start.head.position + 1, as_of.position);
    let mut state = start.state;
    if tail.to - tail.from >= 1024 * parts {
        state.merge(fold_parallel_counted::<P>(
            store,
            tail,
            parts,
            progress,
            &P::default,
        )?);
    } else {
        fold_counted(store, &mut state, tail, progress)?;
    }
    let built = Checkpointed { state, head: as_of };
    let replayed = as_of.position - start.head.position;
    if replayed >= CHECKPOINT_MIN_RECORDS && store.head()? == as_of {
        // A failed save costs only time on the next report.
        let _ = save(store, &built);
    }
    Ok(built)
}

/// Builds a report of `kind` as of `as_of`.
pub fn build_report(
    store: &dyn EventStore,
    kind: ReportKind,
    as_of: Head,
    operation: Option<&str>,
    parts: u64,
) -> Result<Report, ProjectionError> {
    build_report_counted(store, kind, as_of, operation, parts, None)
}

/// [`build_report`], adding the number of records replayed to `progress` as
/// it goes (for a progress indicator).
pub fn build_report_counted(
    store: &dyn EventStore,
    kind: ReportKind,
    as_of: Head,
    operation: Option<&str>,
    parts: u64,
    progress: Option<&AtomicU64>,
) -> Result<Report, ProjectionError> {
    use crate::{
        arrests::Arrests, countries::Countries, locations::Locations, networks::Networks,
        summary::Summary, timeline::Timeline, victims::Victims,
    };
    let (columns, rows) = match kind {
        ReportKind::Summary => build_counted::<Summary>(store, as_of, parts, progress)?
            .state
            .rows(kind, operation),
        ReportKind::Countries | ReportKind::Seizures => {
            build_counted::<Countries>(store, as_of, parts, progress)?
                .state
                .rows(kind, operation)
        }
        ReportKind::Timeline => build_counted::<Timeline>(store, as_of, parts, progress)?
            .state
            .rows(kind, operation),
        ReportKind::Networks => build_counted::<Networks>(store, as_of, parts, progress)?
            .state
            .rows(kind, operation),
        ReportKind::Victims => build_counted::<Victims>(store, as_of, parts, progress)?
            .state
            .rows(kind, operation),
        ReportKind::Arrests => build_counted::<Arrests>(store, as_of, parts, progress)?
            .state
            .rows(kind, operation),
        ReportKind::Locations => build_counted::<Locations>(store, as_of, parts, progress)?
            .state
            .rows(kind, operation),
    };
    Ok(Report {
        kind,
        as_of,
        operation: operation.map(str::to_owned),
        filter: crate::filter::Filter::default(),
        columns,
        rows,
    })
}
