//! The rule state of every operation, as a checkpointed projection of the
//! log: what an append needs to decide, without replaying the log.

use std::collections::BTreeMap;

use domain::{EventType, EventView, Operation, Slug};
use event_store::{AppendTransaction, EventStore, Head, Stamp};
use projections::replay::{self, Checkpointed};
use projections::{Meta, Projection};
use serde::{Deserialize, Serialize};

use crate::LedgerError;

/// Operation slug → its rule state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operations {
    pub operations: BTreeMap<String, Operation>,
}

impl Operations {
    /// The operation's state, or a fresh one if nothing was reported for it.
    pub fn get(&self, slug: &Slug) -> Operation {
        self.operations
            .get(slug.as_str())
            .cloned()
            .unwrap_or_else(|| Operation::new(slug.clone()))
    }

    /// The operation's state, created if missing.
    pub fn entry(&mut self, slug: &Slug) -> &mut Operation {
        self.operations
            .entry(slug.as_str().to_owned())
            .or_insert_with(|| Operation::new(slug.clone()))
    }
}

impl Projection for Operations {
    const NAME: &'static str = "operations-v1";
    const NEEDS_RETRACTED: bool = false;

    fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        if let Some(operation) = self.operations.get_mut(meta.operation) {
            operation.apply_view(event);
            return;
        }
        // The log holds only valid slugs; a record that somehow has another
        // one still counts toward nothing rather than stopping replay.
        if let Ok(slug) = Slug::parse(meta.operation) {
            self.entry(&slug).apply_view(event);
        }
    }

    /// Only launches, joins, closes and retractions change more than an
    /// operation's version: the outcomes (most of a log) are counted, not
    /// decoded, when the state is rebuilt from the log.
    fn reads_data(event_type: EventType) -> bool {
        Operation::needs_data(event_type)
    }

    fn record_unread(&mut self, meta: &Meta<'_>) {
        if let Some(operation) = self.operations.get_mut(meta.operation) {
            operation.count_event();
            return;
        }
        // As in `record`: a record of an invalid slug counts toward nothing
        // it could be confused with.
        if let Ok(slug) = Slug::parse(meta.operation) {
            self.entry(&slug).count_event();
        }
    }

    fn retract(&mut self, _meta: &Meta<'_>, _event: &EventView<'_>) {
        // A retraction's effect on the rules (the id becomes retracted) is
        // recorded when the retraction itself is folded.
    }

    fn merge(&mut self, later: Operations) {
        for (slug, theirs) in later.operations {
            match self.operations.get_mut(&slug) {
                Some(mine) => mine.merge(theirs),
                None => {
                    self.operations.insert(slug, theirs);
                }
            }
        }
    }
}

/// The rule state as of `head`, from its checkpoint plus the records after.
pub fn load(store: &dyn EventStore, head: Head) -> Result<Operations, LedgerError> {
    Ok(replay::build::<Operations>(store, head, 1)?.state)
}

/// Opens a transaction (under the writers' lock) and loads the rule state
/// as of its head, the two side by side: opening a file store whose derived
/// folder is gone rebuilds its indexes, loading the rule state without its
/// checkpoint replays the log, and each is a read of the whole log on a
/// core of its own.
///
/// The state is loaded, on a second thread, as of the head the log has
/// before the lock is taken (a reader's head: the committed records, which
/// nothing rewrites), then brought to the transaction's head, chain-checked
/// from there, if another writer committed in between. It is the state
/// [`load`] gives at the transaction's head; if the early load fails, or
/// saw a head that the transaction's does not extend, the state is loaded
/// again as [`load`] loads it, so that every failure is the one it reports
/// (a transaction that cannot begin is reported first, as before).
///
/// Why the state's replay still checks every record against the chain
/// (most of its cost once outcomes are no longer decoded): the rule state
/// decides what an append writes, and its checkpoint, once saved, is
/// trusted by every later append without looking at the prefix again. A
/// state folded from a log that was edited without rechaining would
/// accept or refuse lines as the edited log says, silently, and seal that
/// answer for the appends after it; checked, such a log stops the append
/// with the integrity error (exit 4, nothing written), as with the
/// checkpoint's tail and as every report does. The id index is not
/// chain-checked (every hit is checked against its record, and a duplicate
/// or out-of-order record fails its rebuild); the chain check runs here,
/// on the second thread, so it costs no wall time while the index takes
/// longer.
pub fn begin_with_state<'s>(
    store: &'s dyn EventStore,
    stamp: Stamp,
) -> Result<(Box<dyn AppendTransaction + 's>, Operations), LedgerError> {
    std::thread::scope(|scope| {
        let early = scope.spawn(|| -> Result<Checkpointed<Operations>, LedgerError> {
            let head = store.head()?;
            Ok(replay::build::<Operations>(store, head, 1)?)
        });
        let transaction = store.begin(stamp);
        // A panic on the early thread loses only the early start.
        let early = early.join().ok().and_then(Result::ok);
        let transaction = transaction?;
        let head = transaction.head();
        let state = match early {
            Some(built) if built.head == head => built.state,
            Some(built) if built.head.position < head.position => {
                match replay::advance(store, built, head) {
                    Ok(advanced) => advanced.state,
                    Err(_) => load(store, head)?,
                }
            }
            _ => load(store, head)?,
        };
        Ok((transaction, state))
    })
}

/// Saves the rule state after a commit, so that the next append starts
/// from it.
pub fn save(store: &dyn EventStore, head: Head, state: &Operations) -> Result<(), LedgerError> {
    replay::save(
        store,
        &Checkpointed {
            state: state.clone(),
            head,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The rule state rebuilt the fast way (outcomes counted, not decoded)
    //! is the state of the full replay.

    use super::*;
    use event_store::MemoryStore;
    use projections::replay::{fold_from, ReplayOptions};
    use proptest::prelude::*;

    use crate::generate::{generate, GenerateOptions};

    /// [`Operations`] folded the full way: every record's data decoded.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    struct FullReplay(Operations);

    impl Projection for FullReplay {
        const NAME: &'static str = "operations-full-replay-test";
        const NEEDS_RETRACTED: bool = false;

        fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
            self.0.record(meta, event);
        }

        fn retract(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
            self.0.retract(meta, event);
        }

        fn merge(&mut self, later: FullReplay) {
            self.0.merge(later.0);
        }
    }

    fn both(store: &MemoryStore, parts: u64) -> (Operations, Operations) {
        let head = store.head().expect("head");
        let options = ReplayOptions {
            checkpoints: false,
            ..ReplayOptions::parts(parts)
        };
        let (fast, _) = fold_from::<Operations>(store, head, &options, &Operations::default)
            .expect("fast replay");
        let (full, _) = fold_from::<FullReplay>(store, head, &options, &FullReplay::default)
            .expect("full replay");
        (fast, full.0)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        #[test]
        fn the_fast_rule_state_is_the_full_replays(
            seed in any::<u64>(),
            events in 1u64..3000,
            operations in 1u64..6,
            batch_lines in 1u64..400,
        ) {
            let store = MemoryStore::new();
            let options = GenerateOptions {
                events,
                seed,
                operations,
                batch_lines,
            };
            generate(&store, &options).expect("generate");
            for parts in [1, 2] {
                let (fast, full) = both(&store, parts);
                prop_assert_eq!(&fast, &full);
            }
        }
    }

    #[test]
    fn a_generated_log_with_retractions_and_closes_gives_the_same_state() {
        let store = MemoryStore::new();
        let stats = generate(&store, &GenerateOptions::new(5000)).expect("generate");
        assert!(stats.retractions > 0, "{stats:?}");
        let (fast, full) = both(&store, 2);
        assert!(fast.operations.values().any(|op| op.closed));
        assert!(fast.operations.values().any(|op| !op.retracted.is_empty()));
        assert_eq!(fast, full);
        // And what an append loads (no checkpoint yet in a fresh memory
        // store's derived data is the same fold).
        let loaded = load(&store, store.head().expect("head")).expect("load");
        assert_eq!(loaded, full);
    }
}
