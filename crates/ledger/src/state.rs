//! The rule state of every operation, as a checkpointed projection of the
//! log: what an append needs to decide, without replaying the log.

use std::collections::BTreeMap;

use domain::{EventType, EventView, Operation, Slug};
use event_store::{AppendTransaction, EventStore, Head, Stamp};
use projections::replay::{self, Checkpointed, ReplayOptions};
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
    const NAME: &'static str = "operations-v2";
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

/// After a commit, the rule state is saved only once at least this many
/// records follow the checkpoint the append started from, or when one of
/// them changed more than a version (see [`Shape`]). Saving rewrites the
/// whole checkpoint (every retracted id of the log: about 530 KB at 5M
/// events), while the outcomes after it are replayed by the next append
/// from the log's tail, chain-checked as always and counted, not decoded,
/// for a few microseconds each: a bound on that replay, not a change to any
/// state, which is the same either way.
pub const SAVE_AFTER_RECORDS: u64 = 64;

/// What of the rule state only launches, joins, closes and retractions
/// change, by its sizes: each operation's launch, participants, close and
/// retracted ids only ever grow, so two states of one log agree on it
/// exactly when no such record lies between them. A tail that leaves it as
/// it is holds only outcomes, which a replay counts without decoding them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape(Vec<(bool, usize, bool, usize)>);

impl Shape {
    /// The shape of `state`.
    pub fn of(state: &Operations) -> Shape {
        Shape(
            state
                .operations
                .values()
                .map(|operation| {
                    (
                        operation.launched.is_some(),
                        operation.participants.len(),
                        operation.closed,
                        operation.retracted.len(),
                    )
                })
                .collect(),
        )
    }
}

/// The rule state as of `head`, from its checkpoint plus the records after.
pub fn load(store: &dyn EventStore, head: Head) -> Result<Operations, LedgerError> {
    Ok(replay::build::<Operations>(store, head, 1)?.state)
}

/// The rule state an append starts from, and where its checkpoint is.
#[derive(Debug)]
pub struct Loaded {
    /// The state as of the transaction's head.
    pub operations: Operations,
    /// The position of the newest checkpoint the store holds, as far as the
    /// load knows: the one it started from, or the one it saved.
    pub saved: u64,
    /// That checkpoint's [`Shape`].
    pub saved_shape: Shape,
}

/// The rule state as of the log's end (a head a reader sees: the
/// committed records): from the checkpoint and the records after it
/// (read in one scan with the checkpoint's own record,
/// [`replay::advance_to_end`]), which are not saved again (see
/// [`SAVE_AFTER_RECORDS`]); without a usable checkpoint, replayed from the
/// start and saved. Also says where the checkpoint is, and its shape.
fn load_early(
    store: &dyn EventStore,
) -> Result<(Checkpointed<Operations>, u64, Shape), LedgerError> {
    if let Some(Ok(stored)) = replay::load_stored::<Operations>(store)? {
        let (position, shape) = (stored.position, Shape::of(&stored.state));
        if let Some(built) = replay::advance_to_end(store, stored)? {
            return Ok((built, position, shape));
        }
    }
    let head = store.head()?;
    // No usable checkpoint (the store has warned about a damaged one):
    // the whole log, as `load` would replay it, then saved here, so that
    // what is returned as saved is what the save did (a replay's own save
    // is skipped when another writer moved the head meanwhile). Without a
    // checkpoint to count from, the commit saves.
    let options = ReplayOptions {
        checkpoints: false,
        ..ReplayOptions::parts(1)
    };
    let (state, _) = replay::fold_from::<Operations>(store, head, &options, &Operations::default)?;
    let saved = match save(store, head, &state) {
        Ok(()) => head.position,
        Err(_) => 0,
    };
    let shape = Shape::of(&state);
    Ok((Checkpointed { state, head }, saved, shape))
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
///
/// A store whose reads beside `begin` cost more than they save
/// ([`EventStore::reads_beside_begin`]: PostgreSQL, where they need a
/// second connection) loads the state the same way, just before `begin`
/// on the calling thread: before the writers' lock is taken, so that it
/// does not lengthen the lock's hold; only the records committed
/// meanwhile are read under it.
pub fn begin_with_state<'s>(
    store: &'s dyn EventStore,
    stamp: Stamp,
) -> Result<(Box<dyn AppendTransaction + 's>, Loaded), LedgerError> {
    let early = || load_early(store);
    if !store.reads_beside_begin() {
        let early = early().ok();
        return finish_begin(store, early, store.begin(stamp));
    }
    std::thread::scope(|scope| {
        let early = scope.spawn(early);
        let transaction = store.begin(stamp);
        // A panic on the early thread loses only the early start.
        let early = early.join().ok().and_then(Result::ok);
        finish_begin(store, early, transaction)
    })
}

/// The state as of the transaction's head, from what the early load
/// built (if anything): see [`begin_with_state`].
fn finish_begin<'s>(
    store: &'s dyn EventStore,
    early: Option<(Checkpointed<Operations>, u64, Shape)>,
    transaction: Result<Box<dyn AppendTransaction + 's>, event_store::StoreError>,
) -> Result<(Box<dyn AppendTransaction + 's>, Loaded), LedgerError> {
    let transaction = transaction?;
    let head = transaction.head();
    // `load` starts from the checkpoint and saves at `head` whenever it
    // replays anything: the store's newest checkpoint is at `head`.
    let loaded_at_head = |operations: Operations| {
        let saved_shape = Shape::of(&operations);
        Loaded {
            operations,
            saved: head.position,
            saved_shape,
        }
    };
    let loaded = match early {
        Some((built, saved, saved_shape)) if built.head == head => Loaded {
            operations: built.state,
            saved,
            saved_shape,
        },
        Some((built, saved, saved_shape)) if built.head.position < head.position => {
            match replay::advance(store, built, head) {
                Ok(advanced) => Loaded {
                    operations: advanced.state,
                    saved,
                    saved_shape,
                },
                Err(_) => loaded_at_head(load(store, head)?),
            }
        }
        _ => loaded_at_head(load(store, head)?),
    };
    Ok((transaction, loaded))
}

/// Saves the rule state after a commit, so that the next append starts
/// from it.
pub fn save(store: &dyn EventStore, head: Head, state: &Operations) -> Result<(), LedgerError> {
    replay::save_state(store, state, head)?;
    Ok(())
}

/// Saves the rule state after a commit that brought it to `head`, unless
/// fewer than [`SAVE_AFTER_RECORDS`] records follow the checkpoint that
/// `loaded` started from and none of them changed its [`Shape`] (the next
/// append replays them instead). `loaded.operations` is the state at `head`.
pub fn save_after_commit(
    store: &dyn EventStore,
    head: Head,
    loaded: &Loaded,
) -> Result<(), LedgerError> {
    let short = head.position.saturating_sub(loaded.saved) < SAVE_AFTER_RECORDS;
    if short && Shape::of(&loaded.operations) == loaded.saved_shape {
        return Ok(());
    }
    save(store, head, &loaded.operations)
}

#[cfg(test)]
mod tests {
    //! The rule state rebuilt the fast way (outcomes counted, not decoded)
    //! is the state of the full replay, and so is the state an append
    //! starts from, whichever checkpoint it finds.

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

    /// The head at `position` of `store`'s log.
    fn head_at(store: &MemoryStore, position: u64) -> Head {
        let record = store.get_at(position).expect("read").expect("a record");
        Head {
            position,
            hash: record.hash,
        }
    }

    /// A memory store that asks for the rule state to be loaded before
    /// `begin`, as the PostgreSQL store does.
    struct ReadsBeforeBegin(MemoryStore);

    impl EventStore for ReadsBeforeBegin {
        fn head(&self) -> Result<Head, event_store::StoreError> {
            self.0.head()
        }
        fn scan(
            &self,
            range: event_store::Range,
            visit: &mut dyn FnMut(
                &event_store::EnvelopeRef<'_>,
            ) -> Result<(), event_store::StoreError>,
        ) -> Result<(), event_store::StoreError> {
            self.0.scan(range, visit)
        }
        fn get(
            &self,
            id: uuid::Uuid,
        ) -> Result<Option<event_store::Envelope>, event_store::StoreError> {
            self.0.get(id)
        }
        fn get_at(
            &self,
            position: u64,
        ) -> Result<Option<event_store::Envelope>, event_store::StoreError> {
            self.0.get_at(position)
        }
        fn head_at(
            &self,
            instant: chrono::DateTime<chrono::Utc>,
        ) -> Result<Head, event_store::StoreError> {
            self.0.head_at(instant)
        }
        fn reads_beside_begin(&self) -> bool {
            false
        }
        fn begin(
            &self,
            stamp: Stamp,
        ) -> Result<Box<dyn AppendTransaction + '_>, event_store::StoreError> {
            self.0.begin(stamp)
        }
        fn verify(
            &self,
            expect_head: Option<(u64, event_store::Hash)>,
        ) -> Result<event_store::VerifyReport, event_store::StoreError> {
            self.0.verify(expect_head)
        }
        fn load_derived(&self, name: &str) -> Result<Option<Vec<u8>>, event_store::StoreError> {
            self.0.load_derived(name)
        }
        fn save_derived(&self, name: &str, bytes: &[u8]) -> Result<(), event_store::StoreError> {
            self.0.save_derived(name, bytes)
        }
        fn subject_key(
            &self,
            key_id: &[u8; 16],
        ) -> Result<Option<event_store::SubjectKey>, event_store::StoreError> {
            self.0.subject_key(key_id)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// Whatever older checkpoint of the log the store holds, an append
        /// starts from the full replay's state at its head, and knows where
        /// that checkpoint is; whether the state is loaded beside `begin`
        /// or before it.
        #[test]
        fn an_append_starts_from_the_full_replays_state_whatever_checkpoint_it_finds(
            seed in any::<u64>(),
            events in 2u64..1500,
            behind in 0u64..200,
            before_begin in any::<bool>(),
        ) {
            let store = MemoryStore::new();
            generate(&store, &GenerateOptions { seed, ..GenerateOptions::new(events) })
                .expect("generate");
            let head = store.head().expect("head");
            let older = head_at(&store, head.position.saturating_sub(behind).max(1));
            let (at_head, _) = both(&store, 1);
            let options = ReplayOptions { checkpoints: false, ..ReplayOptions::parts(1) };
            let (then, _) = fold_from::<Operations>(&store, older, &options, &Operations::default)
                .expect("replay to the older head");
            save(&store, older, &then).expect("save");
            let wrapped = ReadsBeforeBegin(store);
            let store: &dyn EventStore = if before_begin { &wrapped } else { &wrapped.0 };
            let (transaction, loaded) = begin_with_state(store, Stamp::Now).expect("begin");
            drop(transaction);
            prop_assert_eq!(&loaded.operations, &at_head);
            prop_assert_eq!(loaded.saved, older.position);
            prop_assert_eq!(&loaded.saved_shape, &Shape::of(&then));
        }
    }

    #[test]
    fn without_a_usable_checkpoint_an_append_replays_the_log_and_says_where_it_saved() {
        let store = MemoryStore::new();
        generate(&store, &GenerateOptions::new(300)).expect("generate");
        let head = store.head().expect("head");
        let (full, _) = both(&store, 1);
        store
            .save_derived(
                &replay::checkpoint_name_of::<Operations>(),
                b"not a checkpoint",
            )
            .expect("damage the checkpoint");
        let (transaction, loaded) = begin_with_state(&store, Stamp::Now).expect("begin");
        drop(transaction);
        assert_eq!(loaded.operations, full);
        assert_eq!(loaded.saved, head.position);
        let stored = replay::load_stored::<Operations>(&store)
            .expect("load")
            .map(|stored| stored.expect("a checkpoint").position);
        assert_eq!(stored, Some(head.position));
    }

    #[test]
    fn a_checkpoint_the_log_does_not_agree_with_is_replayed_over_whichever_way_it_is_loaded() {
        for before_begin in [false, true] {
            // A record the log holds stated with another record's hash, and
            // a position past the log's end.
            for (position, past_the_end) in [(100, false), (0, true)] {
                let store = MemoryStore::new();
                generate(&store, &GenerateOptions::new(400)).expect("generate");
                let head = store.head().expect("head");
                let (full, _) = both(&store, 1);
                let stated = Head {
                    position: if past_the_end {
                        head.position + 5
                    } else {
                        position
                    },
                    hash: head_at(&store, 7).hash,
                };
                save(&store, stated, &Operations::default()).expect("save");
                let wrapped = ReadsBeforeBegin(store);
                let store: &dyn EventStore = if before_begin { &wrapped } else { &wrapped.0 };
                let (transaction, loaded) = begin_with_state(store, Stamp::Now).expect("begin");
                drop(transaction);
                assert_eq!(
                    loaded.operations, full,
                    "{stated:?}, before: {before_begin}"
                );
                assert_eq!(loaded.saved, head.position);
            }
        }
    }

    #[test]
    fn after_a_commit_the_state_is_saved_only_past_the_bound_or_when_its_shape_changed() {
        let store = MemoryStore::new();
        generate(&store, &GenerateOptions::new(500)).expect("generate");
        let head = store.head().expect("head");
        let (state, _) = both(&store, 1);
        let older = head_at(&store, 1);
        let position = || {
            replay::load_stored::<Operations>(&store)
                .expect("load")
                .map(|stored| stored.expect("a checkpoint").position)
        };
        let loaded = |saved: u64, shape: Shape| Loaded {
            operations: state.clone(),
            saved,
            saved_shape: shape,
        };
        let mut changed = state.clone();
        let some = changed
            .operations
            .values_mut()
            .next()
            .expect("an operation");
        some.closed = !some.closed;
        let near = head.position - SAVE_AFTER_RECORDS + 1;
        let far = head.position - SAVE_AFTER_RECORDS;
        for (saved, shape, expected) in [
            // A short tail of outcomes: the older checkpoint stays.
            (near, Shape::of(&state), older.position),
            // A tail that launched, joined, closed or retracted something.
            (near, Shape::of(&changed), head.position),
            // A long tail.
            (far, Shape::of(&state), head.position),
        ] {
            save(&store, older, &Operations::default()).expect("save");
            save_after_commit(&store, head, &loaded(saved, shape)).expect("save");
            assert_eq!(position(), Some(expected));
        }
    }
}
