//! Driving projections over a store: replay, retractions, checkpoints, and
//! folding in parallel parts; and checking what is read.
//!
//! **Every record a replay folds is checked against the hash chain**: its
//! hash is recomputed from the previous record's hash and its own bytes
//! (`event_store::record_hash`), so that a record edited after it was
//! written (even without rechaining) stops the replay with an integrity
//! error instead of changing a figure. Parallel parts each start from the
//! stored hash of the record before them and the parts' ends are checked to
//! meet; the last record must carry the hash of the head being reported.
//!
//! **A retraction is folded against the record it pins**: the store pins the
//! retracted record's position and hash in the retraction's record
//! (`refers_to`), so replay reads that record by position, checks its bytes
//! against the pinned hash, and takes exactly those bytes' contribution
//! back out. (Retractions in logs written before the pin existed are looked
//! up by id, and their target's bytes are checked against its neighbour.)
//!
//! **A checkpoint** is a projection's state saved (as derived data of the
//! store) with the position and hash of the last record it folded. It is
//! used only if the log still holds that record with that hash, and the
//! records after it are chained from that hash; otherwise it is ignored.
//! What a replay checked, and from where, is returned as [`Verified`] so that
//! reports can say it. Deleting every checkpoint changes no output, only the
//! time it takes; [`ReplayOptions::checkpoints`] `false` ignores them and
//! checks the whole chain from position 1.

use std::sync::atomic::{AtomicU64, Ordering};

use domain::privacy::PrivacyEvent;
use domain::registry::{RegistryEvent, RegistryMeta};
use domain::{is_reserved_stream, EventType, EventView, PRIVACY_STREAM, REGISTRY_STREAM};
use event_store::{
    chain_step, record_hash, Envelope, EnvelopeRef, EventStore, Hash, Head, Link, Range, StoreError,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::report::{Report, ReportKind};
use crate::{Meta, Projection, ProjectionError, Tabular};

/// The version of the checkpoint envelope (the state inside is versioned by
/// the projection's name).
const CHECKPOINT_FORMAT: u32 = 1;

/// Below this many records, replaying costs less than saving a checkpoint.
const CHECKPOINT_MIN_RECORDS: u64 = 1;

/// How a replay runs.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions<'a> {
    /// The number of threads a long replay is split over.
    pub parts: u64,
    /// Whether to start from a checkpoint (when one is usable). `false`
    /// replays and checks every record from position 1.
    pub checkpoints: bool,
    /// Counts the records folded, for a progress line.
    pub progress: Option<&'a AtomicU64>,
}

impl ReplayOptions<'_> {
    /// `parts` threads, checkpoints used, no progress counter.
    pub fn parts(parts: u64) -> ReplayOptions<'static> {
        ReplayOptions {
            parts,
            checkpoints: true,
            progress: None,
        }
    }
}

/// What a replay established: the hash chain of records `from..=to` was
/// checked, starting from `checkpoint`'s hash (a checkpoint folded up to it)
/// or, without one, from the start of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The first record checked (`to + 1` when nothing needed checking).
    pub from: u64,
    /// The last record checked: the head reported.
    pub to: u64,
    /// The checkpoint the fold started from, if any.
    pub checkpoint: Option<Head>,
}

fn unreadable(position: u64, reason: impl Into<String>) -> ProjectionError {
    ProjectionError::Unreadable {
        position,
        reason: reason.into(),
    }
}

/// The log's bytes are not what was written: an integrity failure.
fn tampered(position: u64, reason: impl Into<String>) -> ProjectionError {
    ProjectionError::Store(StoreError::Corrupt {
        location: format!("position {position}"),
        reason: format!(
            "{}; the record was changed after it was written (`theseus verify` checks the whole log)",
            reason.into()
        ),
    })
}

fn event_type_of(position: u64, name: &str) -> Result<EventType, ProjectionError> {
    EventType::parse(name)
        .ok_or_else(|| unreadable(position, format!("unknown event type {name:?}")))
}

/// Checks one record against the hash of the record before it, given as
/// its 64 hex digits (which are what the chain hashes), and leaves the
/// record's own digits there for the next one; returns the record's hash.
fn check_chain(
    previous_hex: &mut [u8; 64],
    record: &EnvelopeRef<'_>,
) -> Result<Hash, ProjectionError> {
    match chain_step(previous_hex, record.line) {
        Some((computed, stored)) if computed == record.hash && computed.to_hex() == *stored => {
            *previous_hex = *stored;
            Ok(computed)
        }
        Some((_, stored)) if Hash::from_hex(stored).is_some() => {
            Err(tampered(record.position, "its hash does not chain"))
        }
        _ => Err(tampered(record.position, "it does not end with a hash")),
    }
}

/// The stored hash of the record before `position` (the genesis hash before
/// the first): what a fold starting at `position` chains from.
fn hash_before(store: &dyn EventStore, position: u64) -> Result<Hash, ProjectionError> {
    if position <= 1 {
        return Ok(Hash::GENESIS);
    }
    match store.get_at(position - 1)? {
        Some(record) => Ok(record.hash),
        None => Err(ProjectionError::Store(StoreError::Corrupt {
            location: format!("position {}", position - 1),
            reason: "missing".into(),
        })),
    }
}

/// The record a retraction pins, read by position and checked: the right id,
/// and bytes that hash (from their predecessor's hash) to the pinned hash.
/// Read by position alone (with the hash before it, in one read where the
/// store can): no id index is opened or built.
fn pinned_target(
    store: &dyn EventStore,
    retraction: u64,
    link: Link,
    event_id: Uuid,
) -> Result<Envelope, ProjectionError> {
    let (previous, target) = store.get_at_chained(link.position)?.ok_or_else(|| {
        tampered(
            retraction,
            format!(
                "it retracts position {}, which the log does not hold",
                link.position
            ),
        )
    })?;
    if target.id != event_id {
        return Err(tampered(
            retraction,
            format!(
                "it retracts {event_id}, but position {} holds {}",
                link.position, target.id
            ),
        ));
    }
    match record_hash(&previous, &target.line) {
        Some((computed, stored)) if computed == link.hash && stored == link.hash => Ok(target),
        _ => Err(tampered(
            link.position,
            format!(
                "it does not match the hash that the retraction at position {retraction} pinned"
            ),
        )),
    }
}

/// The record a retraction without a pin (a log written before pins
/// existed) names, by id, with its bytes checked against its predecessor.
fn legacy_target(
    store: &dyn EventStore,
    retraction: u64,
    event_id: Uuid,
) -> Result<Envelope, ProjectionError> {
    let target = store.get(event_id)?.ok_or_else(|| {
        unreadable(
            retraction,
            format!("retracts {event_id}, which the log does not hold"),
        )
    })?;
    let previous = hash_before(store, target.position)?;
    match record_hash(&previous, &target.line) {
        Some((computed, stored)) if computed == stored && stored == target.hash => Ok(target),
        _ => Err(tampered(target.position, "its hash does not chain")),
    }
}

/// The record a retraction names, read and checked as replay reads it: by
/// its pinned position and hash, or (in a log written before pins) by id.
pub fn retraction_target(
    store: &dyn EventStore,
    retraction: &EnvelopeRef<'_>,
    event_id: Uuid,
) -> Result<Envelope, ProjectionError> {
    match retraction.refers_to {
        Some(link) => pinned_target(store, retraction.position, link, event_id),
        None => legacy_target(store, retraction.position, event_id),
    }
}

/// Folds one record (and, for a retraction, takes its target back out).
fn fold_record<P: Projection>(
    store: &dyn EventStore,
    state: &mut P,
    record: &EnvelopeRef<'_>,
) -> Result<(), ProjectionError> {
    // The agency registry shares the chain but is no operation: its records
    // are checked like every other (by the caller) and folded only by a
    // projection that reads the registry.
    if record.operation == REGISTRY_STREAM {
        if P::READS_REGISTRY {
            let event = RegistryEvent::parse(&record.event_type, record.data)
                .map_err(|reason| unreadable(record.position, reason.to_string()))?;
            let meta = RegistryMeta {
                position: record.position,
                recorded_at: record.recorded_at,
                recorded_by: &record.recorded_by,
            };
            state.registry(&meta, &event);
        }
        return Ok(());
    }
    // Signatures and the ledger's keys (the evidence stream), and the
    // privacy records (erasures, consultations): no figure depends on them.
    if is_reserved_stream(&record.operation) {
        if P::READS_PRIVACY && record.operation == PRIVACY_STREAM {
            let event = PrivacyEvent::parse(&record.event_type, record.data)
                .map_err(|reason| unreadable(record.position, reason.to_string()))?;
            let meta = RegistryMeta {
                position: record.position,
                recorded_at: record.recorded_at,
                recorded_by: &record.recorded_by,
            };
            state.privacy(&meta, &event);
        }
        return Ok(());
    }
    let event_type = event_type_of(record.position, &record.event_type)?;
    let meta = Meta {
        operation: &record.operation,
        position: record.position,
        event_type,
    };
    if event_type != EventType::EventRetracted && !P::reads_data(event_type) {
        // Chain-checked by the caller like every record; only its data,
        // which this projection ignores, is left unread.
        state.record_unread(&meta);
        return Ok(());
    }
    let view = EventView::decode(event_type, record.data)
        .map_err(|reason| unreadable(record.position, format!("data: {reason}")))?;
    state.record(&meta, &view);
    if let (true, EventView::EventRetracted { event_id }) = (P::NEEDS_RETRACTED, &view) {
        let target = retraction_target(store, record, *event_id)?;
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

/// Folds the records of `range` into `state`, in order, checking each
/// against the chain.
pub fn fold<P: Projection>(
    store: &dyn EventStore,
    state: &mut P,
    range: Range,
) -> Result<(), ProjectionError> {
    let previous = hash_before(store, range.from)?;
    fold_checked(store, state, range, previous, None).map(|_| ())
}

/// Records are counted into a progress counter in steps of this many, so
/// that a long replay can show how far it is without a shared write per
/// record.
const PROGRESS_STEP: u64 = 1 << 14;

/// Folds `range` into `state`, each record checked against the chain from
/// `previous` (the hash of the record before `range.from`). Returns the last
/// record's hash (`previous` when the range is empty).
fn fold_checked<P: Projection>(
    store: &dyn EventStore,
    state: &mut P,
    range: Range,
    previous: Hash,
    progress: Option<&AtomicU64>,
) -> Result<Hash, ProjectionError> {
    let mut failure = None;
    let mut uncounted = 0;
    let mut previous = previous;
    let mut previous_hex = previous.to_hex();
    let mut expected = range.from.max(1);
    let result = store.scan(range, &mut |record| {
        if let Some(progress) = progress {
            uncounted += 1;
            if uncounted == PROGRESS_STEP {
                progress.fetch_add(uncounted, Ordering::Relaxed);
                uncounted = 0;
            }
        }
        let step = if record.position == expected {
            check_chain(&mut previous_hex, record)
        } else {
            Err(tampered(
                record.position,
                format!("expected position {expected} here"),
            ))
        }
        .and_then(|hash| {
            previous = hash;
            expected += 1;
            fold_record(store, state, record)
        });
        step.map_err(|error| {
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
        (Ok(()), None) => Ok(previous),
    }
}

/// Folds `range` in `parts` consecutive slices on as many threads and merges
/// them in order: the same state as [`fold`], sooner on several cores.
pub fn fold_parallel<P: Projection>(
    store: &dyn EventStore,
    range: Range,
    parts: u64,
) -> Result<P, ProjectionError> {
    let previous = hash_before(store, range.from)?;
    fold_parallel_checked(store, range, parts, previous, None, &P::default).map(|(state, _)| state)
}

/// Folds records `1..=as_of` into states made by `init` rather than the
/// default, chain-checked from position 1, reading and saving no
/// checkpoint: for a projection whose state depends on more than the log,
/// such as a [`crate::filter::Filtered`] one.
pub fn fold_from<P: Projection>(
    store: &dyn EventStore,
    as_of: Head,
    options: &ReplayOptions<'_>,
    init: &(dyn Fn() -> P + Sync),
) -> Result<(P, Verified), ProjectionError> {
    let verified = Verified {
        from: 1,
        to: as_of.position,
        checkpoint: None,
    };
    if as_of.position == 0 {
        return Ok((init(), verified));
    }
    let (state, last) = fold_parallel_checked(
        store,
        Range::new(1, as_of.position),
        options.parts,
        Hash::GENESIS,
        options.progress,
        init,
    )?;
    if last != as_of.hash {
        return Err(tampered(
            as_of.position,
            "the records before it do not chain to its hash",
        ));
    }
    Ok((state, verified))
}

/// [`fold_parallel`] with each slice checked against the chain: slice `k`
/// starts from the stored hash of the record before it, and must end on the
/// hash slice `k + 1` started from. Returns the state and the last hash.
fn fold_parallel_checked<P: Projection>(
    store: &dyn EventStore,
    range: Range,
    parts: u64,
    previous: Hash,
    progress: Option<&AtomicU64>,
    init: &(dyn Fn() -> P + Sync),
) -> Result<(P, Hash), ProjectionError> {
    let parts = parts.max(1);
    let length = range.to.saturating_sub(range.from) + 1;
    if parts == 1 || length < parts * 1024 {
        let mut state = init();
        let last = fold_checked(store, &mut state, range, previous, progress)?;
        return Ok((state, last));
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
    let mut starts = Vec::with_capacity(slices.len());
    for (i, slice) in slices.iter().enumerate() {
        starts.push(if i == 0 {
            previous
        } else {
            hash_before(store, slice.from)?
        });
    }
    let results: Vec<Result<(P, Hash), ProjectionError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = slices
            .iter()
            .zip(&starts)
            .map(|(slice, start)| {
                scope.spawn(move || {
                    let mut state = init();
                    fold_checked(store, &mut state, *slice, *start, progress)
                        .map(|last| (state, last))
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
    let mut last = previous;
    for (i, part) in results.into_iter().enumerate() {
        let (state, end) = part?;
        if let Some(next_start) = starts.get(i + 1) {
            if end != *next_start {
                return Err(tampered(
                    slices[i].to,
                    "its hash changed while it was being read",
                ));
            }
        }
        merged.merge(state);
        last = end;
    }
    Ok((merged, last))
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

/// A projection's checkpoint as its store holds it: authenticated by the
/// store (its seal opened under this checkpoint's name), not yet checked
/// against the log. For an audit; a replay uses [`build_with`].
#[derive(Debug, Clone)]
pub struct Stored<P> {
    /// The name of the derived artefact.
    pub name: String,
    /// The state as saved.
    pub state: P,
    /// The position of the last record it claims to have folded.
    pub position: u64,
    /// That record's hash, as the checkpoint states it.
    pub hash: String,
}

/// The name under which `P`'s checkpoint is saved.
pub fn checkpoint_name_of<P: Projection>() -> String {
    checkpoint_name::<P>()
}

/// The projection's checkpoint as the store holds it, or `None` when the
/// store holds none it can authenticate; `Err` with the reason when the
/// authenticated bytes are not a checkpoint of `P` (which only a theseus
/// holding the key, with another idea of `P`'s state, could have written).
pub fn load_stored<P: Projection>(
    store: &dyn EventStore,
) -> Result<Option<Result<Stored<P>, String>>, ProjectionError> {
    let name = checkpoint_name::<P>();
    let Some(bytes) = store.load_derived(&name)? else {
        return Ok(None);
    };
    let checkpoint = match serde_json::from_slice::<Checkpoint<P>>(&bytes) {
        Ok(checkpoint) => checkpoint,
        Err(error) => return Ok(Some(Err(format!("not a checkpoint: {error}")))),
    };
    if checkpoint.format != CHECKPOINT_FORMAT || checkpoint.projection != P::NAME {
        return Ok(Some(Err(format!(
            "format {} of projection {:?}, expected format {CHECKPOINT_FORMAT} of {:?}",
            checkpoint.format,
            checkpoint.projection,
            P::NAME
        ))));
    }
    Ok(Some(Ok(Stored {
        name,
        state: checkpoint.state,
        position: checkpoint.position,
        hash: checkpoint.hash,
    })))
}

/// The head a checkpoint states, if the log still agrees with it: the log
/// reaches `position` and holds a record there with that hash.
pub fn agreed_head(
    store: &dyn EventStore,
    position: u64,
    hash: &str,
) -> Result<Option<Head>, ProjectionError> {
    if position == 0 {
        return Ok((hash == Hash::GENESIS.to_string()).then_some(Head::EMPTY));
    }
    Ok(match store.get_at(position)? {
        Some(record) if record.hash.to_string() == hash => Some(Head {
            position: record.position,
            hash: record.hash,
        }),
        _ => None,
    })
}

/// A stored checkpoint brought to the end of the log, in one read: the
/// checkpoint's own record, which must still be there with the hash the
/// checkpoint states (what [`agreed_head`] checks), and every record after
/// it, chain-checked from that hash and folded (what [`advance`] does).
/// `None` when the log does not agree with the checkpoint (or does not
/// reach it); the head is the last record the read saw. One scan where a
/// lookup, a head and a scan were three reads: for an append, which loads
/// the rule state this way before it takes the writers' lock, each is a
/// round trip on PostgreSQL.
pub fn advance_to_end<P: Projection>(
    store: &dyn EventStore,
    stored: Stored<P>,
) -> Result<Option<Checkpointed<P>>, ProjectionError> {
    if stored.position == 0 {
        let Some(at) = agreed_head(store, 0, &stored.hash)? else {
            return Ok(None);
        };
        let from = Checkpointed {
            state: stored.state,
            head: at,
        };
        return advance(store, from, store.head()?).map(Some);
    }
    let mut state = stored.state;
    let mut failure = None;
    let mut agreed = None::<bool>;
    let mut previous = Hash::GENESIS;
    let mut previous_hex = previous.to_hex();
    let mut expected = stored.position;
    let result = store.scan(Range::new(stored.position, u64::MAX), &mut |record| {
        let step = if record.position != expected {
            Err(tampered(
                record.position,
                format!("expected position {expected} here"),
            ))
        } else if agreed.is_none() {
            // The checkpoint's own record, checked as `agreed_head` checks
            // it: the hash it holds is the one the checkpoint states.
            if record.hash.to_string() != stored.hash {
                agreed = Some(false);
                return Err(StoreError::Visitor(
                    "the log does not agree with the checkpoint".into(),
                ));
            }
            agreed = Some(true);
            previous = record.hash;
            previous_hex = previous.to_hex();
            expected += 1;
            Ok(())
        } else {
            check_chain(&mut previous_hex, record).and_then(|hash| {
                previous = hash;
                expected += 1;
                fold_record(store, &mut state, record)
            })
        };
        step.map_err(|error| {
            failure = Some(error);
            StoreError::Visitor("projection failed".into())
        })
    });
    if agreed != Some(true) {
        return Ok(None);
    }
    match (result, failure) {
        (_, Some(error)) => Err(error),
        (Err(error), None) => Err(error.into()),
        (Ok(()), None) => Ok(Some(Checkpointed {
            state,
            head: Head {
                position: expected - 1,
                hash: previous,
            },
        })),
    }
}

/// Loads the projection's checkpoint if it is usable for `as_of`: sealed by
/// the store's key under its name (the store checks that first and
/// returns nothing else), saved at or before `as_of`, and the log still
/// holds its last record with its hash. A file copied in from a store with
/// another log, sealed by the same key, fails the last check; one from an
/// older state of this log passes it and is as good as any (the records
/// after it are folded on top, chain-checked).
fn load_checkpoint<P: Projection>(
    store: &dyn EventStore,
    as_of: &Head,
) -> Result<Option<Checkpointed<P>>, ProjectionError> {
    let Some(Ok(stored)) = load_stored::<P>(store)? else {
        return Ok(None);
    };
    if stored.position > as_of.position {
        return Ok(None);
    }
    let Some(head) = agreed_head(store, stored.position, &stored.hash)? else {
        return Ok(None);
    };
    Ok(Some(Checkpointed {
        state: stored.state,
        head,
    }))
}

/// Saves a projection's state as its checkpoint.
pub fn save<P: Projection>(
    store: &dyn EventStore,
    built: &Checkpointed<P>,
) -> Result<(), ProjectionError> {
    save_state(store, &built.state, built.head)
}

/// Saves `state`, folded up to `head`, as the projection's checkpoint: for a
/// caller that keeps using the state (no copy of it is made to save it).
pub fn save_state<P: Projection>(
    store: &dyn EventStore,
    state: &P,
    head: Head,
) -> Result<(), ProjectionError> {
    let checkpoint = Checkpoint {
        format: CHECKPOINT_FORMAT,
        projection: P::NAME.to_owned(),
        position: head.position,
        hash: head.hash.to_string(),
        state,
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
    build_with(store, as_of, &ReplayOptions::parts(parts)).map(|(built, _)| built)
}

/// [`build`] with options; also says what was verified.
pub fn build_with<P: Projection>(
    store: &dyn EventStore,
    as_of: Head,
    options: &ReplayOptions<'_>,
) -> Result<(Checkpointed<P>, Verified), ProjectionError> {
    let loaded = if options.checkpoints {
        load_checkpoint::<P>(store, &as_of)?
    } else {
        None
    };
    let checkpoint = loaded.as_ref().map(|loaded| loaded.head);
    let start = loaded.unwrap_or(Checkpointed {
        state: P::default(),
        head: Head::EMPTY,
    });
    let verified = Verified {
        from: start.head.position + 1,
        to: as_of.position,
        checkpoint,
    };
    if start.head.position == as_of.position {
        if start.head.hash != as_of.hash {
            return Err(tampered(as_of.position, "the head's hash changed"));
        }
        return Ok((start, verified));
    }
    let tail = Range::new(start.head.position + 1, as_of.position);
    let mut state = start.state;
    let parts = options.parts.max(1);
    let last = if tail.to - tail.from >= 1024 * parts {
        let (folded, last) = fold_parallel_checked::<P>(
            store,
            tail,
            parts,
            start.head.hash,
            options.progress,
            &P::default,
        )?;
        state.merge(folded);
        last
    } else {
        fold_checked(store, &mut state, tail, start.head.hash, options.progress)?
    };
    if last != as_of.hash {
        return Err(tampered(
            as_of.position,
            "the records before it do not chain to its hash",
        ));
    }
    let built = Checkpointed { state, head: as_of };
    let replayed = as_of.position - start.head.position;
    if replayed >= CHECKPOINT_MIN_RECORDS && store.head()? == as_of {
        // A failed save costs only time on the next report.
        let _ = save(store, &built);
    }
    Ok((built, verified))
}

/// Advances a state already folded (`from`, such as one a long-running
/// server keeps in memory) to `to`: the records after `from.head`, each
/// checked against the chain from `from.head`'s hash, the last against
/// `to`'s. No checkpoint is read or saved. A log that has fallen behind
/// `from.head`, or whose records no longer chain from it (cut, edited or
/// rewritten), is an integrity failure.
pub fn advance<P: Projection>(
    store: &dyn EventStore,
    from: Checkpointed<P>,
    to: Head,
) -> Result<Checkpointed<P>, ProjectionError> {
    if to.position < from.head.position {
        return Err(tampered(
            to.position,
            format!(
                "the log ends here, but position {} was read before",
                from.head.position
            ),
        ));
    }
    if to.position == from.head.position {
        if to.hash != from.head.hash {
            return Err(tampered(to.position, "the head's hash changed"));
        }
        return Ok(from);
    }
    let mut state = from.state;
    let tail = Range::new(from.head.position + 1, to.position);
    let last = fold_checked(store, &mut state, tail, from.head.hash, None)?;
    if last != to.hash {
        return Err(tampered(
            to.position,
            "the records before it do not chain to its hash",
        ));
    }
    Ok(Checkpointed { state, head: to })
}

/// Builds a report of `kind` as of `as_of`.
pub fn build_report(
    store: &dyn EventStore,
    kind: ReportKind,
    as_of: Head,
    operation: Option<&str>,
    parts: u64,
) -> Result<Report, ProjectionError> {
    build_report_with(store, kind, as_of, operation, &ReplayOptions::parts(parts))
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
    let options = ReplayOptions {
        progress,
        ..ReplayOptions::parts(parts)
    };
    build_report_with(store, kind, as_of, operation, &options)
}

/// Builds a report of `kind` as of `as_of` with replay options.
pub fn build_report_with(
    store: &dyn EventStore,
    kind: ReportKind,
    as_of: Head,
    operation: Option<&str>,
    options: &ReplayOptions<'_>,
) -> Result<Report, ProjectionError> {
    use crate::{
        arrests::Arrests, countries::Countries, locations::Locations, networks::Networks,
        summary::Summary, timeline::Timeline, victims::Victims,
    };
    fn report_of<P: Tabular>(
        store: &dyn EventStore,
        kind: ReportKind,
        as_of: Head,
        operation: Option<&str>,
        options: &ReplayOptions<'_>,
    ) -> Result<Report, ProjectionError> {
        let (built, verified) = build_with::<P>(store, as_of, options)?;
        let (columns, rows) = built.state.rows(kind, operation);
        Ok(Report {
            kind,
            as_of,
            verified,
            operation: operation.map(str::to_owned),
            filter: crate::filter::Filter::default(),
            columns,
            rows,
        })
    }
    match kind {
        ReportKind::Summary => report_of::<Summary>(store, kind, as_of, operation, options),
        ReportKind::Countries | ReportKind::Seizures => {
            report_of::<Countries>(store, kind, as_of, operation, options)
        }
        ReportKind::Timeline => report_of::<Timeline>(store, kind, as_of, operation, options),
        ReportKind::Networks => report_of::<Networks>(store, kind, as_of, operation, options),
        ReportKind::Victims => report_of::<Victims>(store, kind, as_of, operation, options),
        ReportKind::Arrests => report_of::<Arrests>(store, kind, as_of, operation, options),
        ReportKind::Locations => report_of::<Locations>(store, kind, as_of, operation, options),
        ReportKind::Consultations => {
            report_of::<crate::consultations::Consultations>(store, kind, as_of, operation, options)
        }
    }
}
