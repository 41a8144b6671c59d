//! Arrests per operation and country: by offence, by location, with and
//! without a network. The suspects' references are never decoded.

use domain::{Country, EventView, Location, Offence, OffenceSet};
use serde::{Deserialize, Serialize};

use crate::keyed::{self, Figures, Keyed};
use crate::report::{Cell, ReportKind};
use crate::victims::NOT_STATED;
use crate::{Meta, Projection, Tabular};

/// One operation's arrests in one country. An arrest for two offences
/// counts under both, so the offences may add up to more than the arrests;
/// arrests that state none count under "not stated".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrestFigures {
    pub arrests: i128,
    /// Indexed like `Offence::ALL`, then one for "not stated".
    pub offences: [i128; 7],
    /// Indexed like `Location::ALL`.
    pub locations: [i128; 8],
    pub with_network: i128,
    pub without_network: i128,
}

impl ArrestFigures {
    fn add(&mut self, location: Location, network: bool, offences: OffenceSet, sign: i128) {
        self.arrests += sign;
        if offences.is_empty() {
            self.offences[Offence::ALL.len()] += sign;
        }
        for (slot, offence) in self.offences.iter_mut().zip(Offence::ALL) {
            if offences.contains(*offence) {
                *slot += sign;
            }
        }
        if let Some(index) = Location::ALL.iter().position(|l| *l == location) {
            self.locations[index] += sign;
        }
        if network {
            self.with_network += sign;
        } else {
            self.without_network += sign;
        }
    }
}

impl Figures for ArrestFigures {
    fn merge(&mut self, other: &ArrestFigures) {
        self.arrests += other.arrests;
        for (mine, theirs) in self.offences.iter_mut().zip(other.offences) {
            *mine += theirs;
        }
        for (mine, theirs) in self.locations.iter_mut().zip(other.locations) {
            *mine += theirs;
        }
        self.with_network += other.with_network;
        self.without_network += other.without_network;
    }
}

/// Operation → country → arrests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrests {
    pub operations: Keyed<Country, ArrestFigures>,
}

impl Arrests {
    fn add(&mut self, operation: &str, event: &EventView<'_>, sign: i128) {
        if let EventView::ArrestMade {
            country,
            location,
            network,
            offences,
            ..
        } = event
        {
            keyed::update(&mut self.operations, operation, *country, |f| {
                f.add(*location, network.is_some(), *offences, sign)
            });
        }
    }
}

impl Projection for Arrests {
    const NAME: &'static str = "arrests-v1";

    fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        self.add(meta.operation, event, 1);
    }

    fn retract(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        self.add(meta.operation, event, -1);
    }

    fn merge(&mut self, later: Arrests) {
        keyed::merge(&mut self.operations, later.operations);
    }
}

/// The columns of the arrests report.
pub const COLUMNS: [&str; 7] = [
    "operation",
    "country",
    "arrests",
    "offences",
    "locations",
    "with_network",
    "without_network",
];

impl Tabular for Arrests {
    fn rows(
        &self,
        _kind: ReportKind,
        operation: Option<&str>,
    ) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
        let mut offence_keys: Vec<&'static str> = Offence::ALL.iter().map(|o| o.as_str()).collect();
        offence_keys.push(NOT_STATED);
        let location_keys: Vec<&'static str> = Location::ALL.iter().map(|l| l.as_str()).collect();
        let mut rows = Vec::new();
        for (slug, countries) in &self.operations {
            if operation.is_some_and(|wanted| wanted != slug.as_str()) {
                continue;
            }
            for (country, f) in countries {
                rows.push(vec![
                    Cell::text(slug.as_str()),
                    Cell::text(country.code()),
                    Cell::Int(f.arrests),
                    Cell::Counts(offence_keys.iter().copied().zip(f.offences).collect()),
                    Cell::Counts(location_keys.iter().copied().zip(f.locations).collect()),
                    Cell::Int(f.with_network),
                    Cell::Int(f.without_network),
                ]);
            }
        }
        (COLUMNS.to_vec(), rows)
    }
}
