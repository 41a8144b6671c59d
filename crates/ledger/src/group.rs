//! Group commit for a long-running writer (the server): batches submitted
//! at once by several threads are checked one after another, in the order
//! they arrived, inside one store transaction, and made durable by one
//! commit.
//!
//! Each batch keeps every promise of [`crate::append()`]: it is checked line
//! by line against the log plus everything before it (the batches ahead of
//! it in the group included), exactly as if the batches had been appended
//! one after another in that order; a refused batch writes nothing; each
//! submitter hears back only once its lines are durable. Readers see the
//! group whole or not at all (one batch end), which is coarser than one
//! batch, never finer.
//!
//! A batch refused inside a group cannot be taken back out of the store's
//! transaction, so the group is dropped and checked again without it (the
//! batches before it pass again: nothing they were checked against
//! changed). A failure of the store itself makes each batch of the group
//! run on its own, so that each gets its own answer.
//!
//! The rule state is kept in memory between groups (advanced by the
//! records of other writers when the log moved on), and saved as the
//! checkpoint every 64 groups (and when the server stops) rather than
//! after each, since the server's state is ahead of any checkpoint anyway.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

use domain::REGISTRY_STREAM;
use event_store::{EventStore, Head, Staged, Stamp};
use projections::replay::{self, Checkpointed};
use sha2::{Digest, Sha256};

use crate::agencies::Submitter;
use crate::append::{ids_of, parse_all, stage_line, Parsed, Target};
use crate::signatures::{check_line, signature_error, Signature, Tally};
use crate::state::{self, Operations};
use crate::{AppendOptions, AppendSummary, BatchOptions, LedgerError};

/// The most batches one group holds.
const MAX_GROUP: usize = 64;

/// The most lines one group holds (a batch larger than this runs alone).
const MAX_GROUP_LINES: usize = 20_000;

/// The rule state's checkpoint is saved after this many groups.
const SAVE_EVERY: u64 = 64;

/// One submitted batch, read and parsed, waiting for its group.
struct Pending {
    lines: Vec<Result<Parsed, LedgerError>>,
    submitter: Submitter,
    /// Its signature, checked against the submitter's active key by the
    /// caller, and the SHA-256 of its bytes.
    signed: Option<(Signature, [u8; 32])>,
}

impl Pending {
    /// The error of the line that could not be read.
    fn unreadable(self) -> LedgerError {
        self.lines
            .into_iter()
            .find_map(Result::err)
            .unwrap_or_else(|| LedgerError::Internal("a batch refused for no reason".into()))
    }
}

#[derive(Default)]
struct Queue {
    next: u64,
    waiting: Vec<(u64, Pending)>,
    leading: bool,
    answers: HashMap<u64, Result<AppendSummary, LedgerError>>,
}

/// The rule state as of a head, kept between groups.
#[derive(Default)]
struct Rules {
    state: Option<Checkpointed<Operations>>,
    groups: u64,
}

/// A writer shared by the threads of a server: [`Appender::append`] from
/// any number of threads at once.
#[derive(Default)]
pub struct Appender {
    queue: Mutex<Queue>,
    answered: Condvar,
    rules: Mutex<Rules>,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Appender")
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Why a group did not commit.
enum Stopped {
    /// The batch at this index was refused: its answer (`None`: the line
    /// it could not read, kept with the batch).
    Batch(usize, Option<LedgerError>),
    /// The store failed: nothing of the group can be answered as one.
    Store(LedgerError),
}

impl Appender {
    pub fn new() -> Appender {
        Appender::default()
    }

    /// Appends `input` (JSON Lines) on behalf of `submitter`, as
    /// [`crate::append_as`] does, in a group with the batches other threads
    /// submit meanwhile. Returns once the batch is durable (or refused).
    pub fn append(
        &self,
        store: &dyn EventStore,
        input: &[u8],
        submitter: &Submitter,
    ) -> Result<AppendSummary, LedgerError> {
        self.append_maybe_signed(store, input, submitter, None)
    }

    /// [`Appender::append`] of a signed batch (see
    /// [`crate::append::append_signed`]). The caller has checked the
    /// signature against the submitter's active key in the registry at
    /// `submitter.registry_version`, which the group checks is still the
    /// registry's under the writers' lock.
    pub fn append_signed(
        &self,
        store: &dyn EventStore,
        input: &[u8],
        submitter: &Submitter,
        signature: Signature,
    ) -> Result<AppendSummary, LedgerError> {
        if signature.statement.agency != submitter.grant.agency.as_str() {
            return Err(signature_error(
                "signature",
                format!(
                    "the statement is agency {}'s, the batch is submitted by {}",
                    signature.statement.agency, submitter.grant.agency
                ),
            ));
        }
        let digest = Sha256::digest(input).into();
        self.append_maybe_signed(store, input, submitter, Some((signature, digest)))
    }

    fn append_maybe_signed(
        &self,
        store: &dyn EventStore,
        input: &[u8],
        submitter: &Submitter,
        signed: Option<(Signature, [u8; 32])>,
    ) -> Result<AppendSummary, LedgerError> {
        // Parsing needs no lock: it runs on the submitting thread, beside
        // the other submitters and the group being written.
        let pending = Pending {
            lines: parse_all(input),
            submitter: submitter.clone(),
            signed,
        };
        let ticket = {
            let mut queue = locked(&self.queue);
            queue.next += 1;
            let ticket = queue.next;
            queue.waiting.push((ticket, pending));
            ticket
        };
        let mut queue = locked(&self.queue);
        loop {
            if let Some(answer) = queue.answers.remove(&ticket) {
                return answer;
            }
            if queue.leading {
                queue = match self.answered.wait(queue) {
                    Ok(queue) => queue,
                    Err(poisoned) => poisoned.into_inner(),
                };
                continue;
            }
            // Nobody is writing: this thread writes the next group (its
            // own batch is in it, or was answered already).
            queue.leading = true;
            let group = take_group(&mut queue.waiting);
            drop(queue);
            let tickets: Vec<u64> = group.iter().map(|(ticket, _)| *ticket).collect();
            let written =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.write(store, group)));
            queue = locked(&self.queue);
            queue.leading = false;
            match written {
                Ok(answers) => queue.answers.extend(answers),
                Err(_) => {
                    for ticket in tickets {
                        queue.answers.insert(
                            ticket,
                            Err(LedgerError::Internal("the group writer failed".into())),
                        );
                    }
                }
            }
            self.answered.notify_all();
        }
    }

    /// Saves the rule state kept in memory as the checkpoint (when a
    /// server stops), so that the next writer need not replay the tail.
    pub fn save(&self, store: &dyn EventStore) -> Result<(), LedgerError> {
        let rules = locked(&self.rules);
        if let Some(kept) = &rules.state {
            state::save(store, kept.head, &kept.state)?;
        }
        Ok(())
    }

    /// Writes one group, dropping refused batches until the rest commits.
    fn write(
        &self,
        store: &dyn EventStore,
        mut group: Vec<(u64, Pending)>,
    ) -> Vec<(u64, Result<AppendSummary, LedgerError>)> {
        let mut answers = Vec::with_capacity(group.len());
        while !group.is_empty() {
            match self.try_group(store, &group) {
                Ok(summaries) => {
                    answers.extend(
                        group
                            .iter()
                            .map(|(ticket, _)| *ticket)
                            .zip(summaries.into_iter().map(Ok)),
                    );
                    return answers;
                }
                Err(Stopped::Batch(index, error)) => {
                    let (ticket, pending) = group.remove(index);
                    let error = error.unwrap_or_else(|| pending.unreadable());
                    answers.push((ticket, Err(error)));
                }
                Err(Stopped::Store(error)) if group.len() == 1 => {
                    let (ticket, _) = group.remove(0);
                    answers.push((ticket, Err(error)));
                }
                Err(Stopped::Store(_)) => {
                    // Each on its own, so that each gets its own answer.
                    for single in group.drain(..) {
                        answers.extend(self.write(store, vec![single]));
                    }
                }
            }
        }
        answers
    }

    /// The rule state as of `head`: the one kept from the last group,
    /// advanced by what other writers appended since, or loaded.
    fn rules_at(&self, store: &dyn EventStore, head: Head) -> Result<Operations, LedgerError> {
        let mut rules = locked(&self.rules);
        let current = match rules.state.take() {
            Some(kept) if kept.head == head => kept,
            Some(kept) if kept.head.position < head.position => replay::advance(store, kept, head)?,
            _ => Checkpointed {
                state: state::load(store, head)?,
                head,
            },
        };
        let state = current.state.clone();
        rules.state = Some(current);
        Ok(state)
    }

    fn try_group(
        &self,
        store: &dyn EventStore,
        group: &[(u64, Pending)],
    ) -> Result<Vec<AppendSummary>, Stopped> {
        let store_failed = Stopped::Store;
        let transaction = store
            .begin(Stamp::Now)
            .map_err(|e| store_failed(e.into()))?;
        let registry_version = transaction
            .version(REGISTRY_STREAM)
            .map_err(|e| store_failed(e.into()))?;
        let mut operations = self
            .rules_at(store, transaction.head())
            .map_err(store_failed)?;
        let mut target = Target::Real(transaction);
        // One per transaction: the keys it remembers were staged in this one.
        let mut sealer = crate::sealing::Sealer::default();
        let plain = BatchOptions::default();
        let mut summaries = Vec::with_capacity(group.len());
        for (index, (_, pending)) in group.iter().enumerate() {
            let refused = |error| Stopped::Batch(index, Some(error));
            if pending.submitter.registry_version != registry_version {
                return Err(refused(LedgerError::RegistryChanged));
            }
            let options = AppendOptions {
                recorded_by: pending.submitter.grant.agency.as_str().to_owned(),
                stamp: Stamp::Now,
            };
            let mut summary = AppendSummary {
                appended: 0,
                duplicates: 0,
                first_position: None,
                last_position: None,
            };
            target
                .prefetch(&ids_of(pending.lines.iter().flatten()))
                .map_err(|e| store_failed(e.into()))?;
            if let Some((signature, sha256)) = &pending.signed {
                let agency = pending.submitter.grant.agency.as_str();
                let mut tally = Tally::new();
                let mut known = 0;
                for parsed in &pending.lines {
                    let Ok(parsed) = parsed else {
                        return Err(Stopped::Batch(index, None));
                    };
                    check_line(parsed, agency).map_err(refused)?;
                    tally.add(parsed, agency);
                    if target
                        .find_id(parsed.id)
                        .map_err(|e| store_failed(e.into()))?
                    {
                        known += 1;
                    }
                }
                let found = tally.statement(agency, *sha256);
                if let Some(difference) = signature.statement.difference(&found) {
                    return Err(refused(signature_error("signature", difference)));
                }
                if known > 0 && known < found.lines {
                    return Err(refused(signature_error(
                        "id",
                        format!("{known} of the signed batch's lines are already in the log: a signed batch is appended whole (or, sent again, skipped whole)"),
                    )));
                }
                // Sent again whole: its lines are duplicates, and the
                // signature is stored with the first copy.
                if known == 0 {
                    target
                        .stage(signature.record())
                        .map_err(|e| store_failed(e.into()))?;
                }
            }
            for parsed in &pending.lines {
                let Ok(parsed) = parsed else {
                    return Err(Stopped::Batch(index, None));
                };
                let staged = stage_line(
                    &mut target,
                    &mut operations,
                    &mut sealer,
                    parsed.clone(),
                    &options,
                    &plain,
                    Some(&pending.submitter),
                )
                .map_err(|error| match error {
                    LedgerError::Store(ref store_error) if !is_refusal(store_error) => {
                        store_failed(error)
                    }
                    other => refused(other),
                })?;
                match staged {
                    Staged::New { position, .. } => {
                        summary.appended += 1;
                        summary.first_position.get_or_insert(position);
                        summary.last_position = Some(position);
                    }
                    Staged::Duplicate { .. } => summary.duplicates += 1,
                }
            }
            summaries.push(summary);
        }
        let Target::Real(transaction) = target else {
            return Err(store_failed(LedgerError::Internal(
                "a group is never a dry run".into(),
            )));
        };
        let committed = transaction.commit().map_err(|e| store_failed(e.into()))?;
        let mut rules = locked(&self.rules);
        rules.groups += 1;
        let kept = Checkpointed {
            state: operations,
            head: committed.head,
        };
        if rules.groups % SAVE_EVERY == 1 {
            // Derived data: a failure costs only time.
            let _ = state::save(store, kept.head, &kept.state);
        }
        rules.state = Some(kept);
        Ok(summaries)
    }
}

/// Whether a store error raised while staging is about the batch (a used
/// id, a stale version: the batch is refused) rather than the store.
fn is_refusal(error: &event_store::StoreError) -> bool {
    use event_store::StoreError;
    matches!(
        error,
        StoreError::Conflict { .. } | StoreError::IdConflict { .. } | StoreError::Invalid(_)
    )
}

/// The next group: batches in arrival order, up to [`MAX_GROUP`] of them
/// and [`MAX_GROUP_LINES`] lines (but always at least one batch).
fn take_group(waiting: &mut Vec<(u64, Pending)>) -> Vec<(u64, Pending)> {
    let mut lines = 0;
    let mut count = 0;
    for (_, pending) in waiting.iter() {
        if count > 0 && (count == MAX_GROUP || lines + pending.lines.len() > MAX_GROUP_LINES) {
            break;
        }
        lines += pending.lines.len();
        count += 1;
    }
    waiting.drain(..count).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use domain::registry::{AgencyId, Grant, Role};
    use event_store::{MemoryStore, Range};

    use super::*;

    const LAUNCH: &str = r#"{"id":"00000000-0000-4000-8000-100000000000","operation":"op","type":"OperationLaunched","data":{"name":"Op","coordinator":"C","countries":["AL","RS"],"starts_on":"2020-01-01","ends_on":"2020-01-31"}}"#;

    fn agents(id: u32, country: &str) -> String {
        format!(
            r#"{{"id":"00000000-0000-4000-8000-{id:012}","operation":"op","type":"AgentsDeployed","data":{{"country":"{country}","count":1}}}}"#
        ) + "\n"
    }

    fn submitter(role: Role, countries: &[&str]) -> Submitter {
        let countries: BTreeSet<_> = countries
            .iter()
            .map(|c| domain::Country::parse(c).expect("country"))
            .collect();
        Submitter {
            grant: Grant::new(
                AgencyId::parse("unit").expect("id"),
                role,
                countries,
                BTreeSet::new(),
            )
            .expect("grant"),
            registry_version: 0,
        }
    }

    fn pending(input: &str, submitter: &Submitter) -> Pending {
        Pending {
            lines: parse_all(input.as_bytes()),
            submitter: submitter.clone(),
            signed: None,
        }
    }

    fn ids(store: &MemoryStore) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        let _ = store.scan(Range::ALL, &mut |record| {
            out.push((record.position, record.id.to_string()));
            Ok(())
        });
        out
    }

    #[test]
    fn a_batch_refused_inside_a_group_costs_the_others_nothing_and_each_is_answered_as_if_alone() {
        let store = MemoryStore::new();
        let coordinator = submitter(Role::Coordinator, &[]);
        let rs = submitter(Role::Reporter, &["RS"]);
        let appender = Appender::new();
        appender
            .append(&store, LAUNCH.as_bytes(), &coordinator)
            .expect("launch");
        let group = vec![
            (1, pending(&(agents(1, "RS") + &agents(2, "RS")), &rs)),
            // Refused by its grant (AL), after a line that would pass.
            (2, pending(&(agents(3, "RS") + &agents(4, "AL")), &rs)),
            // Refused by the rules (a count of 0), as a parse error.
            (
                3,
                pending(
                    &(agents(5, "RS")
                        + r#"{"operation":"op","type":"AgentsDeployed","data":{"country":"RS","count":0}}"#),
                    &rs,
                ),
            ),
            // A duplicate of the first batch's first line, and a new one.
            (
                4,
                pending(&(agents(1, "RS") + &agents(6, "AL")), &coordinator),
            ),
            // A stale registry version.
            (
                5,
                pending(
                    &agents(7, "RS"),
                    &Submitter {
                        registry_version: 9,
                        ..rs.clone()
                    },
                ),
            ),
        ];
        let mut answers = appender.write(&store, group);
        answers.sort_by_key(|(ticket, _)| *ticket);
        let summary = |n: usize| match &answers[n].1 {
            Ok(summary) => *summary,
            Err(error) => panic!("batch {}: {error}", n + 1),
        };
        assert_eq!(
            summary(0),
            AppendSummary {
                appended: 2,
                duplicates: 0,
                first_position: Some(2),
                last_position: Some(3)
            }
        );
        assert!(
            matches!(&answers[1].1, Err(LedgerError::Forbidden { line: 2, field, .. }) if field == "data.country")
        );
        assert!(
            matches!(&answers[2].1, Err(LedgerError::Refused { line: 2, field, .. }) if field == "data.count")
        );
        assert_eq!(
            summary(3),
            AppendSummary {
                appended: 1,
                duplicates: 1,
                first_position: Some(4),
                last_position: Some(4)
            }
        );
        assert!(matches!(&answers[4].1, Err(LedgerError::RegistryChanged)));
        let written: Vec<u64> = ids(&store).iter().map(|(position, _)| *position).collect();
        assert_eq!(written, vec![1, 2, 3, 4]);
        assert!(ids(&store)[3].1.ends_with("000000000006"));

        // The same batches one by one through `append_as`: the same
        // answers, the same records in the same places.
        let alone = MemoryStore::new();
        let one = |input: String, submitter: &Submitter| {
            crate::append_as(&alone, input.as_bytes(), Stamp::Now, submitter)
        };
        one(LAUNCH.to_owned(), &coordinator).expect("launch");
        assert_eq!(
            one(agents(1, "RS") + &agents(2, "RS"), &rs).expect("1"),
            summary(0)
        );
        assert!(matches!(
            one(agents(3, "RS") + &agents(4, "AL"), &rs),
            Err(LedgerError::Forbidden { line: 2, .. })
        ));
        assert_eq!(
            one(agents(1, "RS") + &agents(6, "AL"), &coordinator).expect("4"),
            summary(3)
        );
        assert!(matches!(
            one(
                agents(7, "RS"),
                &Submitter {
                    registry_version: 9,
                    ..rs.clone()
                }
            ),
            Err(LedgerError::RegistryChanged)
        ));
        assert_eq!(ids(&alone), ids(&store));
    }
}
