//! The audit of the checkpoints (every report's, the rule state, the
//! registry's): each one the store holds is compared with a re-derivation
//! from the log at the head it states; one that disagrees is named and
//! rebuilt.
//!
//! A checkpoint can only reach a replay if the store authenticated it (its
//! seal opened under the user's derived-data key) and the log still holds
//! the record it states it was folded up to; so a wrong figure from a
//! checkpoint needs the key, or a bug. This audit is what would notice
//! either: it does not trust the seal, it folds the log again.
//!
//! All the checkpoints are re-derived in the audit's pass over the log
//! (`crate::audit`: the strict reading of each record feeds every
//! projection), compared at each head a checkpoint states, in order; so
//! the comparison costs no read of the log of its own, whatever the number
//! of checkpoints ([`Plan`]).

use event_store::{EventStore, Head};
use projections::arrests::Arrests;
use projections::countries::Countries;
use projections::locations::Locations;
use projections::networks::Networks;
use projections::replay::{self, ReplayOptions};
use projections::summary::Summary;
use projections::timeline::Timeline;
use projections::victims::Victims;
use projections::{Meta, Projection};
use serde::{Deserialize, Serialize};

use domain::registry::{RegistryEvent, RegistryMeta};
use domain::EventView;

use crate::agencies::RegistryState;
use crate::state::Operations;
use crate::LedgerError;

/// What is wrong with one checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Sealed by the key, but not a checkpoint of its projection.
    Unreadable(String),
    /// It states a head (position, hash) that the log does not hold: a
    /// checkpoint of another log, or of this one before it was rewritten.
    /// Replays ignore it.
    HeadNotInLog { position: u64, hash: String },
    /// Its state is not what the log folds to at the head it states.
    Disagrees { position: u64 },
}

/// One checkpoint that does not agree with the log, and what was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The derived artefact's name (`checkpoint-summary-v1.json`…).
    pub name: String,
    pub problem: Problem,
    /// Whether it was replaced by a checkpoint re-derived at the head.
    pub rebuilt: bool,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.problem {
            Problem::Unreadable(reason) => format!("unreadable ({reason})"),
            Problem::HeadNotInLog { position, hash } => {
                format!("states head {position}:{hash}, which the log does not hold")
            }
            Problem::Disagrees { position } => format!(
                "differs from the log's figures re-derived at position {position}, the head it states"
            ),
        };
        let done = if self.rebuilt {
            "; rebuilt from the log"
        } else {
            ""
        };
        write!(f, "derived {}: {what}{done}", self.name)
    }
}

/// Every checkpointed projection, folded side by side: never saved. Only
/// the projections in `wanted` are folded (those a checkpoint states a
/// head for: the others would be compared with nothing); the rest stay
/// empty. A default `All` folds every one.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct All {
    #[serde(skip)]
    wanted: Wanted,
    summary: Summary,
    countries: Countries,
    timeline: Timeline,
    networks: Networks,
    victims: Victims,
    arrests: Arrests,
    locations: Locations,
    operations: Operations,
    registry: RegistryState,
}

/// Calls `$body` with each (field, type) of [`All`].
macro_rules! each_kind {
    ($mac:ident!($($arg:tt)*)) => {
        $mac!($($arg)* summary: Summary);
        $mac!($($arg)* countries: Countries);
        $mac!($($arg)* timeline: Timeline);
        $mac!($($arg)* networks: Networks);
        $mac!($($arg)* victims: Victims);
        $mac!($($arg)* arrests: Arrests);
        $mac!($($arg)* locations: Locations);
        $mac!($($arg)* operations: Operations);
        $mac!($($arg)* registry: RegistryState);
    };
}

/// Which of [`All`]'s projections are folded: a flag each, named as
/// [`All`]'s fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wanted {
    summary: bool,
    countries: bool,
    timeline: bool,
    networks: bool,
    victims: bool,
    arrests: bool,
    locations: bool,
    operations: bool,
    registry: bool,
}

impl Default for Wanted {
    fn default() -> Wanted {
        Wanted::every(true)
    }
}

impl Wanted {
    fn every(flag: bool) -> Wanted {
        Wanted {
            summary: flag,
            countries: flag,
            timeline: flag,
            networks: flag,
            victims: flag,
            arrests: flag,
            locations: flag,
            operations: flag,
            registry: flag,
        }
    }
}

impl All {
    /// An empty fold of the projections in `wanted` only.
    pub(crate) fn of(wanted: Wanted) -> All {
        All {
            wanted,
            ..All::default()
        }
    }
}

impl Projection for All {
    const NAME: &'static str = "checkpoint-audit";
    // Some of the projections take retractions back out; those that do not
    // ignore `retract`.
    const NEEDS_RETRACTED: bool = true;
    // Only the registry's state reads the registry's records.
    const READS_REGISTRY: bool = true;

    fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        macro_rules! record {
            ($self:ident, $meta:ident, $event:ident, $field:ident: $kind:ty) => {
                if $self.wanted.$field {
                    $self.$field.record($meta, $event)
                }
            };
        }
        each_kind!(record!(self, meta, event,));
    }

    fn retract(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        macro_rules! retract {
            ($self:ident, $meta:ident, $event:ident, $field:ident: $kind:ty) => {
                if <$kind as Projection>::NEEDS_RETRACTED && $self.wanted.$field {
                    $self.$field.retract($meta, $event)
                }
            };
        }
        each_kind!(retract!(self, meta, event,));
    }

    fn registry(&mut self, meta: &RegistryMeta<'_>, event: &RegistryEvent) {
        macro_rules! registry {
            ($self:ident, $meta:ident, $event:ident, $field:ident: $kind:ty) => {
                if <$kind as Projection>::READS_REGISTRY && $self.wanted.$field {
                    $self.$field.registry($meta, $event)
                }
            };
        }
        each_kind!(registry!(self, meta, event,));
    }

    fn merge(&mut self, later: All) {
        macro_rules! merge {
            ($self:ident, $later:ident, $field:ident: $kind:ty) => {
                if $self.wanted.$field {
                    $self.$field.merge($later.$field)
                }
            };
        }
        each_kind!(merge!(self, later,));
    }
}

/// One checkpoint found in the store, to be compared at its head.
struct Pending {
    name: String,
    head: Head,
    /// Whether `All`'s state at `head` has this checkpoint's state.
    agrees: Box<dyn Fn(&All) -> bool>,
    /// Whether it was compared (the pass reached its head).
    compared: bool,
}

/// Replaces `P`'s checkpoint by one folded from the log alone up to `head`
/// (saved by the replay, as every replay to the head saves).
fn rebuild<P: Projection>(
    store: &dyn EventStore,
    head: Head,
    parts: u64,
) -> Result<(), LedgerError> {
    let options = ReplayOptions {
        parts,
        checkpoints: false,
        progress: None,
    };
    let (built, _) = replay::build_with::<P>(store, head, &options)?;
    replay::save(store, &built)?;
    Ok(())
}

/// The checkpoints the store holds (and can authenticate), each to be
/// compared with `All` (every checkpointed projection side by side),
/// folded from the log up to the head it states.
/// The folding is done by the audit's pass (`crate::audit`), which reads
/// every record anyway: its readers fold a part of `All` per chunk, cut at
/// each head in `Plan::heads`, and its in-order loop merges them and
/// calls `Plan::reached` at each head. So the re-derivation costs no read
/// of its own, whatever the number of checkpoints.
pub struct Plan {
    /// What is wrong already before any folding (unreadable, a head the
    /// log does not hold).
    findings: Vec<Finding>,
    /// In the order of their heads.
    pending: Vec<Pending>,
    /// The projections some pending checkpoint is compared with.
    wanted: Wanted,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let heads: Vec<(&str, u64)> = self
            .pending
            .iter()
            .map(|one| (one.name.as_str(), one.head.position))
            .collect();
        f.debug_struct("Plan")
            .field("findings", &self.findings)
            .field("pending", &heads)
            .finish()
    }
}

impl Plan {
    /// Loads every checkpoint the store holds, up to `head`. A checkpoint
    /// the store cannot authenticate never reaches this: the store says so
    /// itself (its warning) and treats it as missing.
    pub fn load(store: &dyn EventStore, head: Head) -> Result<Plan, LedgerError> {
        let mut findings = Vec::new();
        let mut pending = Vec::new();
        let mut wanted = Wanted::every(false);
        macro_rules! load {
            ($findings:ident, $pending:ident, $wanted:ident, $field:ident: $kind:ty) => {
                let name = replay::checkpoint_name_of::<$kind>();
                match replay::load_stored::<$kind>(store)? {
                    None => {}
                    Some(Err(reason)) => $findings.push(Finding {
                        name,
                        problem: Problem::Unreadable(reason),
                        rebuilt: false,
                    }),
                    Some(Ok(stored)) => {
                        let agreed = if stored.position <= head.position {
                            replay::agreed_head(store, stored.position, &stored.hash)?
                        } else {
                            None
                        };
                        match agreed {
                            None => $findings.push(Finding {
                                name,
                                problem: Problem::HeadNotInLog {
                                    position: stored.position,
                                    hash: stored.hash,
                                },
                                rebuilt: false,
                            }),
                            Some(at) => {
                                $wanted.$field = true;
                                let state = stored.state;
                                $pending.push(Pending {
                                    name,
                                    head: at,
                                    agrees: Box::new(move |all: &All| all.$field == state),
                                    compared: false,
                                });
                            }
                        }
                    }
                }
            };
        }
        each_kind!(load!(findings, pending, wanted,));
        pending.sort_by_key(|one| one.head.position);
        Ok(Plan {
            findings,
            pending,
            wanted,
        })
    }

    /// An empty fold of the projections the pending checkpoints are
    /// compared with (the others are not folded).
    pub(crate) fn empty_fold(&self) -> All {
        All::of(self.wanted)
    }

    /// The positions at which [`All`] must be compared, in order (a
    /// position may repeat).
    pub(crate) fn heads(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.iter().map(|one| one.head.position)
    }

    /// `all` is the fold of records `1..=position`: compares it with every
    /// checkpoint that states that head.
    pub(crate) fn reached(&mut self, position: u64, all: &All) {
        for one in self
            .pending
            .iter_mut()
            .filter(|one| one.head.position == position && !one.compared)
        {
            one.compared = true;
            if !(one.agrees)(all) {
                self.findings.push(Finding {
                    name: one.name.clone(),
                    problem: Problem::Disagrees { position },
                    rebuilt: false,
                });
            }
        }
    }

    /// Rebuilds, at `head` on `parts` threads, each checkpoint that
    /// disagreed, or that states a head the log does not hold. Returns
    /// what disagreed, in checkpoint-name order; an empty list when all
    /// agree (or there are none). A checkpoint the pass never compared
    /// states a head beyond the log it read (`head`, which had fewer
    /// records than when the checkpoints were loaded).
    pub fn finish(
        self,
        store: &dyn EventStore,
        head: Head,
        parts: u64,
    ) -> Result<Vec<Finding>, LedgerError> {
        let mut findings = self.findings;
        for missed in self.pending.into_iter().filter(|one| !one.compared) {
            findings.push(Finding {
                name: missed.name,
                problem: Problem::HeadNotInLog {
                    position: missed.head.position,
                    hash: missed.head.hash.to_string(),
                },
                rebuilt: false,
            });
        }
        for finding in &mut findings {
            if let Some(rebuild) = rebuild_by_name(&finding.name) {
                rebuild(store, head, parts)?;
                finding.rebuilt = true;
            }
        }
        findings.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(findings)
    }
}

type Rebuild = fn(&dyn EventStore, Head, u64) -> Result<(), LedgerError>;

fn rebuild_by_name(name: &str) -> Option<Rebuild> {
    let mut found: Option<Rebuild> = None;
    macro_rules! find {
        ($name:ident, $found:ident, $field:ident: $kind:ty) => {
            if $found.is_none() && replay::checkpoint_name_of::<$kind>() == $name {
                $found = Some(rebuild::<$kind>);
            }
        };
    }
    each_kind!(find!(name, found,));
    found
}
