//! Filters on what a report counts: by country, by the UTC day of
//! `occurred_at` (the period rule's day), by location; and [`Filtered`], the
//! projection that folds only what a filter keeps.
//!
//! A filter decides on records that carry a figure (deployments, arrests,
//! rescues, detections, checks, seizures): such a record is kept only if it
//! has every filtered dimension and its value is among the wanted ones, so
//! that "seizures at border crossings" leaves out drugs and cash, which have
//! no location, and `--from` leaves out deployments, which have no day.
//! Records that carry no figure (a launch, a join, a close, a network
//! profile) describe the operation and are kept by every filter. A
//! retraction is kept exactly when its target is.

use std::collections::BTreeSet;

use domain::{Country, Day, EventType, EventView, Location};
use event_store::{EventStore, Head};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::replay::ReplayOptions;
use crate::report::{Report, ReportKind};
use crate::{Meta, Projection, ProjectionError, Tabular};

/// What a report counts. The empty filter keeps everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Only records of these countries (none: every country).
    pub countries: BTreeSet<Country>,
    /// Only records whose `occurred_at` falls on this UTC day or later.
    pub from: Option<Day>,
    /// Only records whose `occurred_at` falls on this UTC day or earlier.
    pub to: Option<Day>,
    /// Only records at these locations (none: every location).
    pub locations: BTreeSet<Location>,
}

/// Where and when a record's figure was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dimensions {
    pub country: Country,
    /// The UTC day of `occurred_at` (deployments have none).
    pub day: Option<Day>,
    /// Where it happened (deployments, drugs, cash and some item seizures
    /// have none).
    pub location: Option<Location>,
}

/// The dimensions of a record that carries a figure; `None` for one that
/// does not (launch, join, close, profile, retraction).
pub fn dimensions(event: &EventView<'_>) -> Option<Dimensions> {
    let d = |country: &Country, day: Option<&Day>, location: Option<Location>| {
        Some(Dimensions {
            country: *country,
            day: day.copied(),
            location,
        })
    };
    match event {
        EventView::AgentsDeployed { country, .. } | EventView::ExpertsDeployed { country, .. } => {
            d(country, None, None)
        }
        EventView::ArrestMade {
            country,
            day,
            location,
            ..
        }
        | EventView::VictimRescued {
            country,
            day,
            location,
            ..
        }
        | EventView::MigrantsDetected {
            country,
            day,
            location,
            ..
        } => d(country, Some(day), Some(*location)),
        EventView::ItemsSeized {
            country,
            day,
            location,
            ..
        } => d(country, Some(day), *location),
        EventView::ChecksPerformed { country, day, .. }
        | EventView::DrugsSeized { country, day, .. }
        | EventView::CashSeized { country, day, .. } => d(country, Some(day), None),
        EventView::OperationLaunched { .. }
        | EventView::CountryJoined { .. }
        | EventView::NetworkProfiled { .. }
        | EventView::OperationClosed
        | EventView::EventRetracted { .. } => None,
    }
}

impl Filter {
    /// True when the filter keeps every record.
    pub fn is_empty(&self) -> bool {
        self.countries.is_empty()
            && self.from.is_none()
            && self.to.is_none()
            && self.locations.is_empty()
    }

    /// Whether a record's figures count under this filter. A retraction is
    /// judged by its target: see [`Filtered`].
    pub fn keeps(&self, event: &EventView<'_>) -> bool {
        match dimensions(event) {
            None => true,
            Some(d) => self.keeps_dimensions(&d),
        }
    }

    /// Whether a record with these dimensions counts.
    pub fn keeps_dimensions(&self, d: &Dimensions) -> bool {
        if !self.countries.is_empty() && !self.countries.contains(&d.country) {
            return false;
        }
        if self.from.is_some() || self.to.is_some() {
            let Some(day) = d.day else { return false };
            if self.from.is_some_and(|from| day < from) || self.to.is_some_and(|to| day > to) {
                return false;
            }
        }
        if !self.locations.is_empty() && !d.location.is_some_and(|l| self.locations.contains(&l)) {
            return false;
        }
        true
    }
}

/// A retraction seen but not yet judged: its target comes next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    operation: String,
    position: u64,
    event_id: Uuid,
}

/// A projection folded over only the records a filter keeps. Its state
/// depends on the filter as well as the log, so it is never checkpointed:
/// build it with [`crate::replay::fold_from`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filtered<P> {
    pub filter: Filter,
    pub inner: P,
    /// Replay hands over a retraction and then its target; the retraction
    /// waits here until the target says whether it is kept.
    pending: Option<Pending>,
}

impl<P: Projection> Filtered<P> {
    pub fn new(filter: Filter) -> Filtered<P> {
        Filtered {
            filter,
            inner: P::default(),
            pending: None,
        }
    }
}

impl<P: Projection> Projection for Filtered<P> {
    const NAME: &'static str = "filtered";

    fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        if let EventView::EventRetracted { event_id } = event {
            self.pending = Some(Pending {
                operation: meta.operation.to_owned(),
                position: meta.position,
                event_id: *event_id,
            });
        } else if self.filter.keeps(event) {
            self.inner.record(meta, event);
        }
    }

    fn retract(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        let Some(retraction) = self.pending.take() else {
            return;
        };
        if self.filter.keeps(event) {
            let retraction_meta = Meta {
                operation: &retraction.operation,
                position: retraction.position,
                event_type: EventType::EventRetracted,
            };
            self.inner.record(
                &retraction_meta,
                &EventView::EventRetracted {
                    event_id: retraction.event_id,
                },
            );
            self.inner.retract(meta, event);
        }
    }

    fn merge(&mut self, later: Filtered<P>) {
        self.inner.merge(later.inner);
    }
}

/// Folds the records up to `as_of` that `filter` keeps into `P` and takes
/// its rows. A full replay, chain-checked from position 1: checkpoints hold
/// unfiltered figures.
fn filtered_report<P: Tabular + Sync>(
    store: &dyn EventStore,
    kind: ReportKind,
    as_of: Head,
    operation: Option<&str>,
    filter: &Filter,
    options: &ReplayOptions<'_>,
) -> Result<Report, ProjectionError> {
    let (state, verified) = crate::replay::fold_from(store, as_of, options, &|| {
        Filtered::<P>::new(filter.clone())
    })?;
    let (columns, rows) = state.inner.rows(kind, operation);
    Ok(Report {
        kind,
        as_of,
        verified,
        operation: operation.map(str::to_owned),
        filter: filter.clone(),
        columns,
        rows,
    })
}

/// Builds a report of `kind` as of `as_of` from only the records `filter`
/// keeps. With the empty filter this is [`crate::build_report_with`], which
/// may start from a checkpoint.
pub fn build_filtered_report(
    store: &dyn EventStore,
    kind: ReportKind,
    as_of: Head,
    operation: Option<&str>,
    filter: &Filter,
    options: &ReplayOptions<'_>,
) -> Result<Report, ProjectionError> {
    use crate::{
        arrests::Arrests, countries::Countries, locations::Locations, networks::Networks,
        summary::Summary, timeline::Timeline, victims::Victims,
    };
    if filter.is_empty() {
        return crate::build_report_with(store, kind, as_of, operation, options);
    }
    let (s, k, a, o, f, p) = (store, kind, as_of, operation, filter, options);
    match kind {
        ReportKind::Summary => filtered_report::<Summary>(s, k, a, o, f, p),
        ReportKind::Countries | ReportKind::Seizures => {
            filtered_report::<Countries>(s, k, a, o, f, p)
        }
        ReportKind::Timeline => filtered_report::<Timeline>(s, k, a, o, f, p),
        ReportKind::Networks => filtered_report::<Networks>(s, k, a, o, f, p),
        ReportKind::Victims => filtered_report::<Victims>(s, k, a, o, f, p),
        ReportKind::Arrests => filtered_report::<Arrests>(s, k, a, o, f, p),
        ReportKind::Locations => filtered_report::<Locations>(s, k, a, o, f, p),
        // Consultations have no country, day or location to filter by.
        ReportKind::Consultations => {
            crate::build_report_with(store, kind, as_of, operation, options)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Day {
        Day::parse(text).expect("day")
    }

    fn country(code: &str) -> Country {
        Country::parse(code).expect("country")
    }

    #[test]
    fn a_filter_keeps_figures_that_have_every_wanted_dimension() {
        let arrest = EventView::ArrestMade {
            country: country("RS"),
            day: day("2019-12-12"),
            location: Location::Road,
            network: None,
            offences: domain::OffenceSet::EMPTY,
        };
        let agents = EventView::AgentsDeployed {
            country: country("RS"),
            count: 3,
        };
        let serbia = Filter {
            countries: [country("RS")].into(),
            ..Filter::default()
        };
        assert!(serbia.keeps(&arrest) && serbia.keeps(&agents));
        let albania = Filter {
            countries: [country("AL")].into(),
            ..Filter::default()
        };
        assert!(!albania.keeps(&arrest));
        let twelfth = Filter {
            from: Some(day("2019-12-12")),
            to: Some(day("2019-12-12")),
            ..Filter::default()
        };
        assert!(twelfth.keeps(&arrest), "both ends are inclusive");
        assert!(!twelfth.keeps(&agents), "deployments have no day");
        let later = Filter {
            from: Some(day("2019-12-13")),
            ..Filter::default()
        };
        assert!(!later.keeps(&arrest));
        let border = Filter {
            locations: [Location::BorderCrossing].into(),
            ..Filter::default()
        };
        assert!(!border.keeps(&arrest));
        assert!(border.keeps(&EventView::OperationClosed), "no figure");
        assert!(Filter::default().is_empty() && !border.is_empty());
    }
}
