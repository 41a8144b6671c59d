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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

use domain::registry::{Registry, RegistryEvent, RegistryMeta};
use domain::{Event, EventType, RetractionTarget, Slug, REGISTRY_STREAM, SCHEMA_VERSION};
use event_store::{EnvelopeRef, EventStore, Head, Range, StoreError};

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
/// when given, counts the records decided.
pub fn audit(
    store: &dyn EventStore,
    head: Head,
    progress: Option<&AtomicU64>,
) -> Result<AuditReport, LedgerError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    audit_with(store, head, threads, progress)
}

/// What a worker made of one record: everything but the rules' decision.
#[derive(Debug)]
enum Read {
    Registry {
        position: u64,
        recorded_at: String,
        recorded_by: String,
        event: RegistryEvent,
    },
    Event {
        position: u64,
        slug: Slug,
        event: Box<Event>,
        /// For a retraction: what the rules need of the event it names.
        target: Option<RetractionTarget>,
    },
    /// A record of a reserved stream other than the registry (the evidence
    /// stream, the privacy records): read, but no operation's rule applies.
    Reserved,
    /// A record the rules cannot even be asked about.
    Unreadable(Finding),
    /// Findings of the reading, and the event still decided.
    Flagged(Vec<Finding>, Box<Read>),
}

/// The audit with `threads` readers.
pub fn audit_with(
    store: &dyn EventStore,
    head: Head,
    threads: usize,
    progress: Option<&AtomicU64>,
) -> Result<AuditReport, LedgerError> {
    let chunks = head.position.div_ceil(CHUNK) as usize;
    let next = AtomicUsize::new(0);
    // The index of the next chunk the rules take: readers wait while they
    // are WINDOW chunks ahead of it.
    let decided = (Mutex::new(0usize), Condvar::new());
    let (sender, receiver) = mpsc::channel::<(usize, Result<Vec<Read>, StoreError>)>();
    let mut report = AuditReport::default();
    let mut operations = Operations::default();
    let mut registry = Registry::default();
    let outcome = std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(chunks.max(1)) {
            let sender = sender.clone();
            let (next, decided) = (&next, &decided);
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
                let mut reads = Vec::with_capacity((to - from + 1) as usize);
                let scanned = store.scan(Range::new(from, to), &mut |record| {
                    reads.push(read(store, record));
                    Ok(())
                });
                let failed = scanned.is_err();
                if sender.send((index, scanned.map(|()| reads))).is_err() || failed {
                    break;
                }
            });
        }
        drop(sender);
        let mut pending: BTreeMap<usize, Vec<Read>> = BTreeMap::new();
        let mut taken = 0;
        while taken < chunks {
            let (index, reads) = match receiver.recv() {
                Ok(received) => received,
                Err(_) => {
                    return Err(LedgerError::Internal(
                        "an audit reader stopped before its chunk was read".into(),
                    ))
                }
            };
            pending.insert(index, reads?);
            while let Some(reads) = pending.remove(&taken) {
                let count = reads.len() as u64;
                for read in reads {
                    decide(read, &mut operations, &mut registry, &mut report);
                }
                if let Some(progress) = progress {
                    progress.fetch_add(count, Ordering::Relaxed);
                }
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
    if report.records != head.position {
        return Err(LedgerError::Store(StoreError::Corrupt {
            location: format!("position {}", head.position),
            reason: format!(
                "the audit read {} records of a log whose head is at position {}",
                report.records, head.position
            ),
        }));
    }
    report.operations = operations.operations.len() as u64;
    Ok(report)
}

fn finding(position: u64, field: &str, reason: impl Into<String>) -> Finding {
    Finding {
        position,
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Reads one record strictly, as the rules will need it (on a worker).
fn read(store: &dyn EventStore, record: &EnvelopeRef<'_>) -> Read {
    let position = record.position;
    if record.operation == REGISTRY_STREAM {
        return match RegistryEvent::parse_canonical(&record.event_type, record.data) {
            Ok(event) => Read::Registry {
                position,
                recorded_at: record.recorded_at.to_owned(),
                recorded_by: record.recorded_by.clone().into_owned(),
                event,
            },
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
        return Read::Reserved;
    }
    let slug = match Slug::parse(&record.operation) {
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
    let event = match Event::parse(&record.event_type, record.data) {
        Ok(event) => event,
        Err(error) => {
            return Read::Unreadable(finding(
                position,
                &error.path,
                format!("the domain does not read this event: {}", error.message),
            ))
        }
    };
    let mut flagged = Vec::new();
    if !event.is_canonical(record.data) {
        flagged.push(finding(
            position,
            "data",
            "not in the canonical form the log promises (fields in catalogue order, absent optionals left out, amounts with their minor digits, no spaces)",
        ));
    }
    let target = match &event {
        Event::EventRetracted(retraction) => {
            match retraction_target(store, record, retraction.event_id) {
                Ok(target) => target,
                Err(found) => {
                    flagged.push(found);
                    None
                }
            }
        }
        _ => None,
    };
    let read = Read::Event {
        position,
        slug,
        event: Box::new(event),
        target,
    };
    if flagged.is_empty() {
        read
    } else {
        Read::Flagged(flagged, Box::new(read))
    }
}

/// What a retraction names, found as the append found it: by the pin the
/// store wrote (checked against the record it points to), or by id in a
/// log written before pins (only an earlier record counts). `Ok(None)`: no
/// such event, which the rules refuse.
fn retraction_target(
    store: &dyn EventStore,
    record: &EnvelopeRef<'_>,
    event_id: uuid::Uuid,
) -> Result<Option<RetractionTarget>, Finding> {
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
    Ok(Some(RetractionTarget {
        operation,
        event_type,
    }))
}

/// Decides one record against the state so far, then applies it: the log
/// holds it, so later records are decided against a state that includes it
/// (as every report folds it).
fn decide(
    read: Read,
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
            decide(*read, operations, registry, report);
            // The record was counted by the inner call.
        }
        Read::Unreadable(found) => {
            report.records += 1;
            note(report, found);
        }
        Read::Reserved => {
            report.records += 1;
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
            if matches!(*event, Event::EventRetracted(_)) {
                report.retractions += 1;
            }
            let operation = operations.entry(&slug);
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
        let clean = audit(&store, store.head().expect("head"), None).expect("audit");
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
