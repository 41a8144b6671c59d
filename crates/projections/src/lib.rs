//! Projections: folds over the log's envelopes that build theseus's reports,
//! their checkpoints, and the renderers that print them.
//!
//! A projection sees each record once, in position order ([`Projection::record`]),
//! and, for each retraction, the retracted record again
//! ([`Projection::retract`]) so that it can take that record's contribution
//! back out. Projections do not care where envelopes come from: [`replay`]
//! drives them from any [`event_store::EventStore`].
//!
//! * [`tally`]: the figures counted per report cell, signed and mergeable.
//! * [`summary`], [`countries`], [`timeline`], [`networks`], [`victims`],
//!   [`arrests`], [`locations`]: the projections (the seizures report is a
//!   view of the countries projection).
//! * [`filter`]: what a report counts (countries, days, locations), and the
//!   projection wrapper that folds only that.
//! * [`replay`]: the driver, checkpoints and parallel folding.
//! * [`dashboard`]: the briefing page of four reports, for `GET /`.
//! * [`report`], [`mod@render`], [`json`], [`html`]: reports as typed cells,
//!   and their renderers (table, JSON and JSON Lines in column order, CSV,
//!   Markdown, a self-contained HTML page).

#![forbid(unsafe_code)]

pub mod arrests;
pub mod consultations;
pub mod countries;
pub mod dashboard;
mod error;
pub mod figure;
pub mod filter;
pub mod html;
pub mod json;
mod keyed;
pub mod locations;
pub mod networks;
pub mod render;
pub mod replay;
pub mod report;
pub mod stream;
pub mod summary;
pub mod tally;
pub mod timeline;
pub mod victims;

pub use error::ProjectionError;
pub use filter::{build_filtered_report, Filter};
pub use render::{render, Format};
pub use replay::{
    build_report, build_report_counted, build_report_with, fold, Checkpointed, ReplayOptions,
    Verified,
};
pub use report::{Cell, Report, ReportKind};

use domain::registry::{RegistryEvent, RegistryMeta};
use domain::{EventType, EventView};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Where a record sits in the log, as a projection needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta<'a> {
    pub operation: &'a str,
    pub position: u64,
    pub event_type: EventType,
}

/// A fold over the log.
///
/// Laws (tested as properties): replaying the same records gives the same
/// state; a state saved at any position plus the records after it equals a
/// full replay; a record plus its retraction leaves the figures as if neither
/// had happened; folding two consecutive parts apart and merging equals
/// folding them together.
pub trait Projection: Default + Clone + Serialize + DeserializeOwned + Send {
    /// Names the projection's checkpoint. Change it when the state's shape
    /// changes, so that old checkpoints are ignored rather than misread.
    const NAME: &'static str;

    /// Folds one record.
    fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>);

    /// Takes a retracted record's contribution back out. `meta` is the
    /// retracted record's, not the retraction's.
    fn retract(&mut self, meta: &Meta<'_>, event: &EventView<'_>);

    /// Whether [`Projection::retract`] needs the retracted record: when it
    /// does not, replay saves looking each one up.
    const NEEDS_RETRACTED: bool = true;

    /// Adds the fold of the records that follow this state's.
    fn merge(&mut self, later: Self);

    /// Whether [`Projection::record`] reads the data of events of this
    /// type. For a type it does not read, replay checks the record in the
    /// chain as always but does not decode its data, and calls
    /// [`Projection::record_unread`] instead (a retraction is always
    /// decoded: replay needs its target). The state must come out as the
    /// full fold's: only say `false` for a type whose data the fold ignores.
    fn reads_data(_event_type: EventType) -> bool {
        true
    }

    /// Folds a record of a type whose data is not read
    /// ([`Projection::reads_data`]).
    fn record_unread(&mut self, _meta: &Meta<'_>) {}

    /// Whether the projection reads the agency registry (the records of
    /// [`domain::REGISTRY_STREAM`]). Every other projection never sees
    /// them: replay checks their place in the chain and skips them before
    /// decoding, so that no figure and no rule state depends on them.
    const READS_REGISTRY: bool = false;

    /// Folds one registry record (only when [`Projection::READS_REGISTRY`]).
    fn registry(&mut self, _meta: &RegistryMeta<'_>, _event: &RegistryEvent) {}

    /// Whether the projection reads the privacy records (erasures and
    /// consultations, [`domain::PRIVACY_STREAM`]). No figure does.
    const READS_PRIVACY: bool = false;

    /// Folds one privacy record (only when [`Projection::READS_PRIVACY`]).
    fn privacy(&mut self, _meta: &RegistryMeta<'_>, _event: &domain::privacy::PrivacyEvent) {}
}

/// A projection that reports rows.
pub trait Tabular: Projection {
    /// The report's columns and rows, optionally for one operation only.
    fn rows(
        &self,
        kind: ReportKind,
        operation: Option<&str>,
    ) -> (Vec<&'static str>, Vec<Vec<Cell>>);
}

/// The value under `key`, inserted if missing. Allocates the key only when
/// it is missing: replay looks up the same few operations millions of times.
pub(crate) fn slot<'m, V: Default>(
    map: &'m mut std::collections::BTreeMap<String, V>,
    key: &str,
) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    #[allow(clippy::expect_used)]
    map.get_mut(key).expect("present: inserted just above")
}
