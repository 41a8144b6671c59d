//! Figures per operation and location: arrests, rescues, detections and
//! items seized where the report names a location. Drugs and cash carry no
//! location, nor do some item seizures: they are not in this report (the
//! seizures report has them).

use domain::{EventView, Location};
use serde::{Deserialize, Serialize};

use crate::keyed::{self, Figures, Keyed};
use crate::report::{Cell, ReportKind};
use crate::{Meta, Projection, Tabular};

/// One operation's figures at one kind of location.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationFigures {
    pub arrests: i128,
    pub victims_rescued: i128,
    pub migrants_detected: i128,
    pub items_seized: i128,
}

impl Figures for LocationFigures {
    fn merge(&mut self, other: &LocationFigures) {
        self.arrests += other.arrests;
        self.victims_rescued += other.victims_rescued;
        self.migrants_detected += other.migrants_detected;
        self.items_seized += other.items_seized;
    }
}

/// Operation → location → figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locations {
    pub operations: Keyed<Location, LocationFigures>,
}

impl Locations {
    fn add(&mut self, operation: &str, event: &EventView<'_>, sign: i128) {
        let (location, added) = match event {
            EventView::ArrestMade { location, .. } => (
                *location,
                LocationFigures {
                    arrests: sign,
                    ..LocationFigures::default()
                },
            ),
            EventView::VictimRescued { location, .. } => (
                *location,
                LocationFigures {
                    victims_rescued: sign,
                    ..LocationFigures::default()
                },
            ),
            EventView::MigrantsDetected {
                location, count, ..
            } => (
                *location,
                LocationFigures {
                    migrants_detected: sign * i128::from(*count),
                    ..LocationFigures::default()
                },
            ),
            EventView::ItemsSeized {
                location: Some(location),
                count,
                ..
            } => (
                *location,
                LocationFigures {
                    items_seized: sign * i128::from(*count),
                    ..LocationFigures::default()
                },
            ),
            _ => return,
        };
        keyed::update(&mut self.operations, operation, location, |f| {
            f.merge(&added)
        });
    }
}

impl Projection for Locations {
    const NAME: &'static str = "locations-v1";

    fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        self.add(meta.operation, event, 1);
    }

    fn retract(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        self.add(meta.operation, event, -1);
    }

    fn merge(&mut self, later: Locations) {
        keyed::merge(&mut self.operations, later.operations);
    }
}

/// The columns of the locations report.
pub const COLUMNS: [&str; 6] = [
    "operation",
    "location",
    "arrests",
    "victims_rescued",
    "migrants_detected",
    "items_seized",
];

impl Tabular for Locations {
    fn rows(
        &self,
        _kind: ReportKind,
        operation: Option<&str>,
    ) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
        let rows = self
            .operations
            .iter()
            .filter(|(slug, _)| operation.is_none_or(|wanted| wanted == slug.as_str()))
            .flat_map(|(slug, locations)| {
                locations.iter().map(move |(location, f)| {
                    vec![
                        Cell::text(slug.as_str()),
                        Cell::text(location.as_str()),
                        Cell::Int(f.arrests),
                        Cell::Int(f.victims_rescued),
                        Cell::Int(f.migrants_detected),
                        Cell::Int(f.items_seized),
                    ]
                })
            })
            .collect();
        (COLUMNS.to_vec(), rows)
    }
}
