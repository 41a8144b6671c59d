//! The rule state of every operation, as a checkpointed projection of the
//! log: what an append needs to decide, without replaying the log.

use std::collections::BTreeMap;

use domain::{EventView, Operation, Slug};
use event_store::{EventStore, Head};
use projections::{replay, Meta, Projection};
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

/// Saves the rule state after a commit, so that the next append starts
/// from it.
pub fn save(store: &dyn EventStore, head: Head, state: &Operations) -> Result<(), LedgerError> {
    replay::save(
        store,
        &replay::Checkpointed {
            state: state.clone(),
            head,
        },
    )?;
    Ok(())
}
