//! The audit of a whole history, for `verify`: every record replayed in
//! order through the domain's rules as they stood when it was appended.
//!
//! The store's `verify` checks what a log is (the chain, positions,
//! versions, canonical records, unique ids); this checks what the log says.
//! Each operation event must be read strictly by the domain, its `data` must
//! be exactly the canonical text the domain writes for it, and the rules
//! (`Operation::decide`) must accept it given the operation's events before
//! it; each registry record likewise (`Registry::decide`). An event that
//! slipped in past the rules (a log edited and rechained, a writer that
//! skipped the checks) is a [`Finding`] with its position and the rule.
//!
//! The strict reading is most of the cost, and it needs no state: records
//! are read and parsed in chunks on worker threads, and the rules are
//! decided on the calling thread, chunk by chunk in position order (a small
//! window of chunks in flight, so memory does not grow with the log).
//!
//! The same pass re-derives the checkpoints ([`crate::checkpoints::Plan`]):
//! each reader folds what it has just read into a part of every
//! checkpointed projection for its chunk (chunks are cut at each head a
//! checkpoint states), and the calling thread merges the parts in order and
//! compares at each head, as a parallel replay merges its parts. This
//! fold does not check the hash chain again, as a replay does: the audit
//! runs on a log its caller has just verified (`verify`'s store pass
//! hashed every record, in parallel), and a retraction's target is taken
//! only if it has the hash its retraction pinned.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

use domain::registry::{Registry, RegistryEvent, RegistryMeta};
use domain::{
    Event, EventType, EventView, RetractionTarget, Slug, REGISTRY_STREAM, SCHEMA_VERSION,
};
use event_store::{Envelope, EnvelopeRef, EventStore, Head, Range, StoreError, Visitor};
use projections::{Meta, Projection};

use crate::checkpoints::{All, Plan};
use crate::state::Operations;
use crate::LedgerError;

/// One thing the audit found wrong, at one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub position: u64,
    /// The field the finding is about, as an input line names it (`data`,
    /// `data.occurred_at`, `type`…).
    pub field: String,
    /// What is wrong: the rule the record breaks.
    pub reason: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "position {}: {}: {}",
            self.position, self.field, self.reason
        )
    }
}

/// What the audit read and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Records read (operation events and registry records).
    pub records: u64,
    /// Operation events decided by the rules.
    pub events: u64,
    /// Operations seen.
    pub operations: u64,
    /// Retractions among the events.
    pub retractions: u64,
    /// Registry records decided by the registry's rules.
    pub registry: u64,
    /// Records of the evidence stream (signatures, the ledger's keys):
    /// with none, there is no signature to check
    /// ([`crate::signatures::report_without_evidence`]).
    pub evidence: u64,
    /// The first [`MAX_FINDINGS`] findings, in position order.
    pub findings: Vec<Finding>,
    /// All findings, including those not kept.
    pub findings_total: u64,
}

/// Findings kept for the report; the rest are only counted.
pub const MAX_FINDINGS: usize = 100;

/// Positions read and parsed by one worker at a time.
const CHUNK: u64 = 4096;
/// Chunks parsed ahead of the rules, at most.
const WINDOW: usize = 8;

/// Audits the log up to `head` (which the caller has verified): `progress`,
/// when given, counts the records decided. With `checkpoints`, the same
/// pass compares each of them at its head (see the module's comment);
/// [`Plan::finish`] then rebuilds those that disagree.
pub fn audit(
    store: &dyn EventStore,
    head: Head,
    progress: Option<&AtomicU64>,
    checkpoints: Option<&mut Plan>,
) -> Result<AuditReport, LedgerError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    audit_checked(store, head, threads, progress, checkpoints)
}

/// What a worker made of one record: everything but the rules' decision.
/// The event is held inline, not boxed: one allocation (and one free, on
/// another thread) fewer per record, for a larger `Read` in a chunk's
/// vector.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Read {
    Registry {
        position: u64,
        recorded_at: String,
        recorded_by: String,
        event: RegistryEvent,
    },
    Event {
        position: u64,
        /// The operation, as an index into its part's slugs (parsed once
        /// a part, not once a record).
        slug: usize,
        event: Event,
        /// For a retraction: what the rules need of the event it names.
        target: Option<RetractionTarget>,
    },
    /// A record of a reserved stream other than the registry (the evidence
    /// stream, the privacy records): read, but no operation's rule applies.
    Reserved { evidence: bool },
    /// A record the rules cannot even be asked about.
    Unreadable(Finding),
    /// Findings of the reading, and the event still decided.
    Flagged(Vec<Finding>, Box<Read>),
}

/// The audit with `threads` readers and no checkpoints.
pub fn audit_with(
    store: &dyn EventStore,
    head: Head,
    threads: usize,
    progress: Option<&AtomicU64>,
) -> Result<AuditReport, LedgerError> {
    audit_checked(store, head, threads, progress, None)
}

/// The audit's work on each record that needs no state, done on reader
/// threads: the strict reading and, with checkpoints to compare, the fold
/// of every checkpointed projection. A [`Visitor`] of the file store's
/// verify, so that `verify` reads the log once; [`audit`] drives it over
/// any store by itself.
pub struct Reader<'a> {
    store: &'a dyn EventStore,
    /// Records up to this position are folded (0: none).
    fold_to: u64,
    /// The heads at which checkpoints are compared, ascending: a fold is
    /// cut after each, so that the merged folds pass through it.
    heads: Vec<u64>,
    /// An empty fold of the projections the checkpoints need.
    empty: All,
}

/// What a reader made of consecutive records: each one read strictly and,
/// when checkpoints are compared, their fold, cut after each head to
/// compare (each fold with the last position it holds).
#[derive(Debug)]
pub struct Part {
    reads: Vec<Read>,
    /// The operations of `reads`' events.
    slugs: Vec<Slug>,
    folds: Vec<(u64, All)>,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("fold_to", &self.fold_to)
            .field("heads", &self.heads)
            .finish()
    }
}

impl<'a> Reader<'a> {
    /// A reader of `store`'s records, folding them for `checkpoints` when
    /// given.
    pub fn new(store: &'a dyn EventStore, checkpoints: Option<&Plan>) -> Reader<'a> {
        let mut heads: Vec<u64> = checkpoints.iter().flat_map(|plan| plan.heads()).collect();
        heads.dedup();
        Reader {
            store,
            fold_to: heads.last().copied().unwrap_or(0),
            heads,
            empty: checkpoints.map_or_else(All::default, Plan::empty_fold),
        }
    }
}

impl Visitor for Reader<'_> {
    type Part = Part;

    fn part(&self) -> Part {
        Part {
            reads: Vec::new(),
            slugs: Vec::new(),
            folds: Vec::new(),
        }
    }

    fn visit(&self, part: &mut Part, record: &EnvelopeRef<'_>) {
        let fold = if record.position <= self.fold_to {
            let fresh = part
                .folds
                .last()
                .is_none_or(|(last, _)| self.heads.binary_search(last).is_ok());
            if fresh {
                part.folds.push((record.position, self.empty.clone()));
            }
            part.folds.last_mut().map(|(last, all)| {
                *last = record.position;
                all
            })
        } else {
            None
        };
        part.reads
            .push(read(self.store, record, &mut part.slugs, fold));
    }
}

/// The audit's in-order work, on one thread: each part's records decided by
/// the rules in position order, and its folds merged and compared with the
/// checkpoints at their heads. The parts must come in position order from
/// position 1, one after another.
#[derive(Debug)]
pub struct Decider<'p> {
    report: AuditReport,
    operations: Operations,
    registry: Registry,
    /// The merged fold of every record so far (when comparing).
    folded: Option<All>,
    checkpoints: Option<&'p mut Plan>,
    progress: Option<&'p AtomicU64>,
}

impl<'p> Decider<'p> {
    /// A decider comparing `checkpoints` when given; `progress` counts the
    /// records decided.
    pub fn new(
        mut checkpoints: Option<&'p mut Plan>,
        progress: Option<&'p AtomicU64>,
    ) -> Decider<'p> {
        if let Some(plan) = checkpoints.as_deref_mut() {
            plan.reached(0, &All::default());
        }
        Decider {
            report: AuditReport::default(),
            operations: Operations::default(),
            registry: Registry::default(),
            folded: None,
            checkpoints,
            progress,
        }
    }

    /// Decides the next part.
    pub fn take(&mut self, part: Part) {
        let count = part.reads.len() as u64;
        for read in part.reads {
            decide(
                read,
                &part.slugs,
                &mut self.operations,
                &mut self.registry,
                &mut self.report,
            );
        }
        for (last, fold) in part.folds {
            // Merged in position order from the first record on: `folded`
            // is the fold of every record up to `last`.
            let all = match self.folded.as_mut() {
                Some(all) => {
                    all.merge(fold);
                    all
                }
                None => self.folded.insert(fold),
            };
            if let Some(plan) = self.checkpoints.as_deref_mut() {
                plan.reached(last, all);
            }
        }
        if let Some(progress) = self.progress {
            progress.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// The report, once every record up to `head` was taken.
    pub fn finish(self, head: Head) -> Result<AuditReport, LedgerError> {
        let mut report = self.report;
        if report.records != head.position {
            return Err(LedgerError::Store(StoreError::Corrupt {
                location: format!("position {}", head.position),
                reason: format!(
                    "the audit read {} records of a log whose head is at position {}",
                    report.records, head.position
                ),
            }));
        }
        report.operations = self.operations.operations.len() as u64;
        Ok(report)
    }
}

/// The audit with `threads` readers, comparing `checkpoints` if given: the
/// records are read in chunks by the readers ([`Reader`]) and decided in
/// order on the calling thread ([`Decider`]).
pub fn audit_checked(
    store: &dyn EventStore,
    head: Head,
    threads: usize,
    progress: Option<&AtomicU64>,
    checkpoints: Option<&mut Plan>,
) -> Result<AuditReport, LedgerError> {
    let reader = Reader::new(store, checkpoints.as_deref());
    let mut decider = Decider::new(checkpoints, progress);
    let chunks = head.position.div_ceil(CHUNK) as usize;
    let next = AtomicUsize::new(0);
    // The index of the next chunk the rules take: readers wait while they
    // are WINDOW chunks ahead of it.
    let decided = (Mutex::new(0usize), Condvar::new());
    let (sender, receiver) = mpsc::channel::<(usize, Result<Part, StoreError>)>();
    let outcome = std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(chunks.max(1)) {
            let sender = sender.clone();
            let (next, decided, reader) = (&next, &decided, &reader);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= chunks {
                    break;
                }
                {
                    let (lock, ready) = decided;
                    let Ok(mut taken) = lock.lock() else { break };
                    while index >= *taken + WINDOW {
                        let Ok(later) = ready.wait(taken) else { return };
                        taken = later;
                    }
                }
                let from = index as u64 * CHUNK + 1;
                let to = (from + CHUNK - 1).min(head.position);
                let mut part = reader.part();
                part.reads.reserve((to - from + 1) as usize);
                let scanned = store.scan(Range::new(from, to), &mut |record| {
                    reader.visit(&mut part, record);
                    Ok(())
                });
                let failed = scanned.is_err();
                if sender.send((index, scanned.map(|()| part))).is_err() || failed {
                    break;
                }
            });
        }
        drop(sender);
        let mut pending: BTreeMap<usize, Part> = BTreeMap::new();
        let mut taken = 0;
        while taken < chunks {
            let (index, part) = match receiver.recv() {
                Ok(received) => received,
                Err(_) => {
                    return Err(LedgerError::Internal(
                        "an audit reader stopped before its chunk was read".into(),
                    ))
                }
            };
            pending.insert(index, part?);
            while let Some(part) = pending.remove(&taken) {
                decider.take(part);
                taken += 1;
                let (lock, ready) = &decided;
                if let Ok(mut shared) = lock.lock() {
                    *shared = taken;
                }
                ready.notify_all();
            }
        }
        Ok(())
    });
    outcome?;
    decider.finish(head)
}

fn finding(position: u64, field: &str, reason: impl Into<String>) -> Finding {
    Finding {
        position,
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Reads one record strictly, as the rules will need it (on a worker),
/// and folds it into `fold` when given (as a replay folds it; a record the
/// audit finds unreadable is left out, as `verify` fails on it anyway).
fn read(
    store: &dyn EventStore,
    record: &EnvelopeRef<'_>,
    slugs: &mut Vec<Slug>,
    fold: Option<&mut All>,
) -> Read {
    let position = record.position;
    if record.operation == REGISTRY_STREAM {
        return match RegistryEvent::parse_canonical(&record.event_type, record.data) {
            Ok(event) => {
                if let Some(all) = fold {
                    let meta = RegistryMeta {
                        position,
                        recorded_at: record.recorded_at,
                        recorded_by: &record.recorded_by,
                    };
                    all.registry(&meta, &event);
                }
                Read::Registry {
                    position,
                    recorded_at: record.recorded_at.to_owned(),
                    recorded_by: record.recorded_by.clone().into_owned(),
                    event,
                }
            }
            Err(error) => Read::Unreadable(finding(
                position,
                &error.path,
                format!("registry: {}", error.message),
            )),
        };
    }
    if domain::is_reserved_stream(&record.operation) {
        // Signatures and the ledger's keys are checked by
        // `signatures::verify_signatures` in the same `verify`; privacy
        // records must at least read strictly.
        if record.operation == domain::PRIVACY_STREAM {
            if let Err(error) =
                domain::privacy::PrivacyEvent::parse(&record.event_type, record.data)
            {
                return Read::Unreadable(finding(
                    position,
                    &error.path,
                    format!("privacy record: {}", error.message),
                ));
            }
        }
        return Read::Reserved {
            evidence: record.operation == domain::EVIDENCE_STREAM,
        };
    }
    // Parts hold few operations: the last few slugs are looked at.
    let known = slugs
        .iter()
        .enumerate()
        .rev()
        .take(8)
        .find(|(_, slug)| slug.as_str() == record.operation)
        .map(|(index, _)| index);
    let slug = match known {
        Some(index) => Ok(index),
        None => Slug::parse(&record.operation).map(|slug| {
            slugs.push(slug);
            slugs.len() - 1
        }),
    };
    let slug = match slug {
        Ok(slug) => slug,
        Err(error) => {
            return Read::Unreadable(finding(
                position,
                "operation",
                format!("{:?} is not an operation slug: {error}", record.operation),
            ))
        }
    };
    if record.schema != SCHEMA_VERSION && record.schema != domain::SEALED_SCHEMA_VERSION {
        return Read::Unreadable(finding(
            position,
            "schema",
            format!(
                "schema version {} is not one the domain reads (it reads {SCHEMA_VERSION})",
                record.schema
            ),
        ));
    }
    // Canonical data (every record the ledger writes) is read and checked
    // in one pass; anything else is read again the old way, which says
    // what is wrong (the domain's law: the two agree).
    let canonical = EventType::parse(&record.event_type)
        .and_then(|kind| domain::canonical::read_canonical(kind, record.data));
    let (event, canonical) = match canonical {
        Some(event) => (event, true),
        None => match Event::parse(&record.event_type, record.data) {
            Ok(event) => {
                let canonical = event.is_canonical(record.data);
                (event, canonical)
            }
            Err(error) => {
                return Read::Unreadable(finding(
                    position,
                    &error.path,
                    format!("the domain does not read this event: {}", error.message),
                ))
            }
        },
    };
    let mut flagged = Vec::new();
    if !canonical {
        flagged.push(finding(
            position,
            "data",
            "not in the canonical form the log promises (fields in catalogue order, absent optionals left out, amounts with their minor digits, no spaces)",
        ));
    }
    let (target, retracted) = match &event {
        Event::EventRetracted(retraction) => {
            match retraction_target(store, record, retraction.event_id) {
                Ok(Some((target, found))) => (Some(target), Some(found)),
                Ok(None) => (None, None),
                Err(found) => {
                    flagged.push(found);
                    (None, None)
                }
            }
        }
        _ => (None, None),
    };
    if let Some(all) = fold {
        fold_event(all, record, &event, retracted.as_ref());
    }
    let read = Read::Event {
        position,
        slug,
        event,
        target,
    };
    if flagged.is_empty() {
        read
    } else {
        Read::Flagged(flagged, Box::new(read))
    }
}

/// Folds one operation event (read strictly) into `all`, as a replay folds
/// it: the view of the typed event (which agrees with the view a replay
/// decodes, a law of the domain's), and for a retraction the contribution
/// of the record it names taken back out.
fn fold_event(
    all: &mut All,
    record: &EnvelopeRef<'_>,
    event: &Event,
    retracted: Option<&Envelope>,
) {
    let meta = Meta {
        operation: &record.operation,
        position: record.position,
        event_type: event.event_type(),
    };
    all.record(&meta, &EventView::of(event));
    let Some(target) = retracted else { return };
    // The target was read strictly at its own position: a view that does
    // not decode there is a finding of its own.
    let Some(event_type) = EventType::parse(&target.event_type) else {
        return;
    };
    if let Ok(view) = EventView::decode(event_type, &target.data) {
        let meta = Meta {
            operation: &target.operation,
            position: target.position,
            event_type,
        };
        all.retract(&meta, &view);
    }
}

/// What a retraction names, found as the append found it: by the pin the
/// store wrote (checked against the record it points to), or by id in a
/// log written before pins (only an earlier record counts). `Ok(None)`: no
/// such event, which the rules refuse. With the rules' view of it, the
/// record itself (for the checkpoints' fold).
fn retraction_target(
    store: &dyn EventStore,
    record: &EnvelopeRef<'_>,
    event_id: uuid::Uuid,
) -> Result<Option<(RetractionTarget, Envelope)>, Finding> {
    let position = record.position;
    let unreadable = |reason: String| finding(position, "data.event_id", reason);
    let found = match record.refers_to {
        Some(link) => {
            let found = store
                .get_at(link.position)
                .map_err(|error| unreadable(format!("the pinned record cannot be read: {error}")))?
                .ok_or_else(|| {
                    unreadable(format!(
                        "the pinned position {} is not in the log",
                        link.position
                    ))
                })?;
            if found.hash != link.hash || found.id != event_id {
                return Err(unreadable(format!(
                    "refers_to pins position {} with hash {}, which holds event {} with hash {}, not event {event_id}",
                    link.position, link.hash, found.id, found.hash
                )));
            }
            found
        }
        None => match store.get(event_id) {
            Ok(Some(found)) if found.position < position => found,
            Ok(_) => return Ok(None),
            Err(error) => {
                return Err(unreadable(format!(
                    "the event named cannot be looked up: {error}"
                )))
            }
        },
    };
    if found.operation == REGISTRY_STREAM {
        return Err(unreadable(format!(
            "the event named is a record of the agency registry (position {})",
            found.position
        )));
    }
    let operation = Slug::parse(&found.operation).map_err(|_| {
        unreadable(format!(
            "the event named (position {}) has no operation slug",
            found.position
        ))
    })?;
    let event_type = EventType::parse(&found.event_type).ok_or_else(|| {
        unreadable(format!(
            "the event named (position {}) has an unknown type",
            found.position
        ))
    })?;
    Ok(Some((
        RetractionTarget {
            operation,
            event_type,
        },
        found,
    )))
}

/// Decides one record against the state so far, then applies it: the log
/// holds it, so later records are decided against a state that includes it
/// (as every report folds it).
fn decide(
    read: Read,
    slugs: &[Slug],
    operations: &mut Operations,
    registry: &mut Registry,
    report: &mut AuditReport,
) {
    let note = |report: &mut AuditReport, found: Finding| {
        report.findings_total += 1;
        if report.findings.len() < MAX_FINDINGS {
            report.findings.push(found);
        }
    };
    match read {
        Read::Flagged(findings, read) => {
            for found in findings {
                note(report, found);
            }
            decide(*read, slugs, operations, registry, report);
            // The record was counted by the inner call.
        }
        Read::Unreadable(found) => {
            report.records += 1;
            note(report, found);
        }
        Read::Reserved { evidence } => {
            report.records += 1;
            report.evidence += u64::from(evidence);
        }
        Read::Registry {
            position,
            recorded_at,
            recorded_by,
            event,
        } => {
            report.records += 1;
            report.registry += 1;
            if let Err(refusal) = registry.decide(&event) {
                note(
                    report,
                    finding(
                        position,
                        &format!("data.{}", refusal.field()),
                        format!("registry: the rules refuse it: {refusal}"),
                    ),
                );
            }
            let meta = RegistryMeta {
                position,
                recorded_at: &recorded_at,
                recorded_by: &recorded_by,
            };
            registry.apply(&meta, &event);
        }
        Read::Event {
            position,
            slug,
            event,
            target,
        } => {
            report.records += 1;
            report.events += 1;
            if matches!(event, Event::EventRetracted(_)) {
                report.retractions += 1;
            }
            let Some(slug) = slugs.get(slug) else {
                // A part always holds the slugs its reads name.
                note(report, finding(position, "operation", "no operation slug"));
                return;
            };
            // `entry` allocates the key: looked up first.
            if !operations.operations.contains_key(slug.as_str()) {
                operations.entry(slug);
            }
            let Some(operation) = operations.operations.get_mut(slug.as_str()) else {
                return;
            };
            if let Err(refusal) = operation.decide(&event, target.as_ref()) {
                note(
                    report,
                    finding(
                        position,
                        refusal.field(),
                        format!("the rules refuse it: {refusal}"),
                    ),
                );
            }
            operation.apply(&event);
        }
    }
}

#[cfg(test)]
mod tests {
    use event_store::{MemoryStore, NewEvent, Stamp};
    use uuid::Uuid;

    use super::*;
    use crate::{append, AppendOptions};

    const LAUNCH: &str = r#"{"operation":"op","type":"OperationLaunched","data":{"name":"Op","coordinator":"X","countries":["AL","RS"],"starts_on":"2019-12-09","ends_on":"2019-12-16"}}"#;

    fn arrest(id: u128, country: &str) -> String {
        format!(
            r#"{{"id":"{}","operation":"op","type":"ArrestMade","data":{{"country":"{country}","occurred_at":"2019-12-10T10:00:00Z","location":"road","suspect":"S-1"}}}}"#,
            Uuid::from_u128(id)
        )
    }

    fn retraction(id: u128) -> String {
        format!(
            r#"{{"operation":"op","type":"EventRetracted","data":{{"event_id":"{}","reason":"twice"}}}}"#,
            Uuid::from_u128(id)
        )
    }

    fn appended(store: &MemoryStore, lines: &[String]) {
        let options = AppendOptions {
            recorded_by: "test".into(),
            stamp: Stamp::Now,
        };
        append(store, lines.join("\n").as_bytes(), &options).expect("append");
    }

    /// Writes one record straight to the store, past the rules, as a
    /// writer that skipped the ledger could (the store checks ids, versions
    /// and JSON, not rules).
    fn forged(store: &MemoryStore, event_type: &str, data: &str, refers_to: Option<Uuid>) {
        let mut transaction = store.begin(Stamp::Now).expect("begin");
        transaction
            .stage(NewEvent {
                id: Uuid::now_v7(),
                operation: "op".into(),
                event_type: event_type.into(),
                schema: SCHEMA_VERSION,
                recorded_by: "forger".into(),
                reported_at: None,
                data: data.into(),
                expected_version: None,
                refers_to,
            })
            .expect("stage");
        transaction.commit().expect("commit");
    }

    #[test]
    fn events_past_the_rules_are_found_with_their_positions_and_rules() {
        let store = MemoryStore::new();
        appended(
            &store,
            &[
                LAUNCH.into(),
                arrest(1, "AL"),
                arrest(2, "RS"),
                retraction(1),
            ],
        );
        let clean = audit(&store, store.head().expect("head"), None, None).expect("audit");
        assert_eq!(
            (
                clean.records,
                clean.events,
                clean.operations,
                clean.retractions
            ),
            (4, 4, 1, 1)
        );
        assert!(clean.findings.is_empty(), "{:?}", clean.findings);

        let second = format!(
            r#"{{"event_id":"{}","reason":"again"}}"#,
            Uuid::from_u128(1)
        );
        forged(&store, "EventRetracted", &second, Some(Uuid::from_u128(1)));
        forged(
            &store,
            "ArrestMade",
            r#"{"country":"FR","occurred_at":"2019-12-10T10:00:00Z","location":"road","suspect":"S-2"}"#,
            None,
        );
        forged(
            &store,
            "ArrestMade",
            r#"{"country":"AL","occurred_at":"2020-01-10T10:00:00Z","location":"road","suspect":"S-3"}"#,
            None,
        );
        forged(
            &store,
            "AgentsDeployed",
            r#"{"count":3,"country":"AL"}"#,
            None,
        );
        let head = store.head().expect("head");
        for threads in [1, 3] {
            let found = audit_with(&store, head, threads, None).expect("audit");
            let summary: Vec<(u64, &str)> = found
                .findings
                .iter()
                .map(|found| (found.position, found.field.as_str()))
                .collect();
            assert_eq!(
                summary,
                [
                    (5, "data.event_id"),
                    (6, "data.country"),
                    (7, "data.occurred_at"),
                    (8, "data"),
                ],
                "{threads} threads: {:?}",
                found.findings
            );
            assert!(found.findings[0].reason.contains("already retracted"));
            assert!(found.findings[3].reason.contains("canonical form"));
            assert_eq!(found.findings_total, 4);
            assert_eq!(found.records, 8);
        }
    }

    #[test]
    fn checkpoints_are_compared_at_their_heads_by_the_audits_pass() {
        use projections::countries::Countries;
        use projections::replay::{self, Checkpointed, ReplayOptions};
        use projections::summary::Summary;

        let store = MemoryStore::new();
        let mut lines = vec![LAUNCH.to_owned()];
        lines.extend(
            (1..=(CHUNK as u128 + 10)).map(|id| arrest(id, if id % 2 == 0 { "AL" } else { "RS" })),
        );
        lines.push(retraction(3));
        appended(&store, &lines);
        let head = store.head().expect("head");
        let at = |position: u64| {
            let record = store.get_at(position).expect("read").expect("record");
            Head {
                position,
                hash: record.hash,
            }
        };
        let options = ReplayOptions {
            parts: 1,
            checkpoints: false,
            progress: None,
        };
        // A summary checkpoint inside a chunk, the countries' at the head
        // (the rule state's was saved by the append).
        let middle = at(CHUNK + 5);
        let (summary, _) = replay::build_with::<Summary>(&store, middle, &options).expect("fold");
        replay::save(&store, &summary).expect("save");
        let (countries, _) = replay::build_with::<Countries>(&store, head, &options).expect("fold");
        replay::save(&store, &countries).expect("save");
        for threads in [1, 3] {
            let mut plan = Plan::load(&store, head).expect("plan");
            let report =
                audit_checked(&store, head, threads, None, Some(&mut plan)).expect("audit");
            assert!(report.findings.is_empty(), "{:?}", report.findings);
            let findings = plan.finish(&store, head, 1).expect("finish");
            assert!(findings.is_empty(), "{findings:?}");
        }

        // Figures of another head, stated for this one: named and rebuilt.
        let (earlier, _) =
            replay::build_with::<Summary>(&store, at(CHUNK - 1), &options).expect("fold");
        replay::save(
            &store,
            &Checkpointed {
                state: earlier.state,
                head: middle,
            },
        )
        .expect("save");
        for threads in [1, 3] {
            let mut plan = Plan::load(&store, head).expect("plan");
            audit_checked(&store, head, threads, None, Some(&mut plan)).expect("audit");
            let findings = plan.finish(&store, head, 1).expect("finish");
            assert_eq!(
                findings,
                [crate::checkpoints::Finding {
                    name: "checkpoint-summary-v1.json".into(),
                    problem: crate::checkpoints::Problem::Disagrees {
                        position: middle.position
                    },
                    rebuilt: true,
                }]
            );
            // Rebuilt at the head; forged again for the next round.
            replay::save(
                &store,
                &Checkpointed {
                    state: replay::build_with::<Summary>(&store, at(CHUNK - 1), &options)
                        .expect("fold")
                        .0
                        .state,
                    head: middle,
                },
            )
            .expect("save");
        }
    }

    #[test]
    fn a_log_without_signature_records_reports_what_the_signature_pass_would() {
        let store = MemoryStore::new();
        appended(&store, &[LAUNCH.into(), arrest(1, "AL"), retraction(1)]);
        let head = store.head().expect("head");
        let report = audit(&store, head, None, None).expect("audit");
        assert_eq!(report.evidence, 0);
        let passed = crate::signatures::verify_signatures_of_verified(&store, head, false)
            .expect("signatures");
        assert_eq!(
            crate::signatures::report_without_evidence(&report, false),
            Some(passed)
        );
        // Signatures required: the pass must run (it checks agencies' keys).
        assert_eq!(
            crate::signatures::report_without_evidence(&report, true),
            None
        );
        let evidence = AuditReport {
            evidence: 1,
            ..report
        };
        assert_eq!(
            crate::signatures::report_without_evidence(&evidence, false),
            None
        );
    }

    #[test]
    fn chunks_decided_out_of_order_give_the_sequential_answer() {
        // More records than one chunk, read by several threads: the rules
        // still see them in position order (a retraction after its target,
        // in another chunk).
        let store = MemoryStore::new();
        let mut lines = vec![LAUNCH.to_owned()];
        lines.extend((1..=(CHUNK as u128 + 10)).map(|id| arrest(id, "AL")));
        lines.push(retraction(3));
        appended(&store, &lines);
        forged(
            &store,
            "EventRetracted",
            &format!(
                r#"{{"event_id":"{}","reason":"again"}}"#,
                Uuid::from_u128(3)
            ),
            Some(Uuid::from_u128(3)),
        );
        let head = store.head().expect("head");
        let one = audit_with(&store, head, 1, None).expect("audit");
        for threads in [2, 4] {
            assert_eq!(audit_with(&store, head, threads, None).expect("audit"), one);
        }
        assert_eq!(one.findings.len(), 1);
        assert_eq!(one.findings[0].position, head.position);
        assert_eq!(one.retractions, 2);
    }
}
