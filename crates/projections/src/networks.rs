//! Arrests and profiles per criminal network.

use std::collections::{BTreeMap, BTreeSet};

use domain::{Country, EventView, Money};
use serde::{Deserialize, Serialize};

use crate::report::{Cell, ReportKind};
use crate::{Meta, Projection, Tabular};

/// What a NetworkProfiled event said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub people_smuggled_estimate: Option<u64>,
    pub max_fee: Option<Money>,
    pub destination: Option<Country>,
    pub method: Option<String>,
}

/// One network of one operation. The key `""` gathers arrests attributed to
/// no network (a network reference is never empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkFigures {
    pub arrests: i128,
    /// Profiles by position; the latest one not retracted is shown.
    pub profiles: BTreeMap<u64, Profile>,
    /// Positions of retracted profiles. Kept rather than removed so that a
    /// part folded apart can retract a profile another part holds.
    pub retracted_profiles: BTreeSet<u64>,
}

impl NetworkFigures {
    fn current_profile(&self) -> Option<&Profile> {
        self.profiles
            .iter()
            .rev()
            .find(|(position, _)| !self.retracted_profiles.contains(position))
            .map(|(_, profile)| profile)
    }
}

/// Operation → network → figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Networks {
    pub operations: BTreeMap<String, BTreeMap<String, NetworkFigures>>,
}

impl Networks {
    fn network(&mut self, operation: &str, network: &str) -> &mut NetworkFigures {
        crate::slot(crate::slot(&mut self.operations, operation), network)
    }
}

impl Projection for Networks {
    const NAME: &'static str = "networks-v1";

    fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        match event {
            EventView::ArrestMade { network, .. } => {
                self.network(meta.operation, network.as_deref().unwrap_or(""))
                    .arrests += 1;
            }
            EventView::NetworkProfiled {
                network,
                people_smuggled_estimate,
                max_fee,
                destination,
                method,
            } => {
                self.network(meta.operation, network).profiles.insert(
                    meta.position,
                    Profile {
                        people_smuggled_estimate: *people_smuggled_estimate,
                        max_fee: *max_fee,
                        destination: *destination,
                        method: method.as_ref().map(|m| m.to_string()),
                    },
                );
            }
            _ => {}
        }
    }

    fn retract(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        match event {
            EventView::ArrestMade { network, .. } => {
                self.network(meta.operation, network.as_deref().unwrap_or(""))
                    .arrests -= 1;
            }
            EventView::NetworkProfiled { network, .. } => {
                self.network(meta.operation, network)
                    .retracted_profiles
                    .insert(meta.position);
            }
            _ => {}
        }
    }

    fn merge(&mut self, later: Networks) {
        for (operation, networks) in later.operations {
            let mine = self.operations.entry(operation).or_default();
            for (name, theirs) in networks {
                let figures = mine.entry(name).or_default();
                figures.arrests += theirs.arrests;
                figures.profiles.extend(theirs.profiles);
                figures.retracted_profiles.extend(theirs.retracted_profiles);
            }
        }
    }
}

impl Tabular for Networks {
    fn rows(
        &self,
        _kind: ReportKind,
        operation: Option<&str>,
    ) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
        let columns = vec![
            "operation",
            "network",
            "arrests",
            "profiled",
            "people_smuggled_estimate",
            "max_fee",
            "destination",
            "method",
        ];
        let mut rows = Vec::new();
        for (slug, networks) in &self.operations {
            if operation.is_some_and(|wanted| wanted != slug.as_str()) {
                continue;
            }
            for (name, figures) in networks {
                let profile = figures.current_profile();
                if figures.arrests == 0 && profile.is_none() {
                    continue;
                }
                rows.push(vec![
                    Cell::text(slug.as_str()),
                    if name.is_empty() {
                        Cell::Null
                    } else {
                        Cell::text(name.as_str())
                    },
                    Cell::Int(figures.arrests),
                    Cell::Bool(profile.is_some()),
                    profile
                        .and_then(|p| p.people_smuggled_estimate)
                        .map_or(Cell::Null, |n| Cell::Int(i128::from(n))),
                    profile.and_then(|p| p.max_fee).map_or(Cell::Null, |m| {
                        Cell::Amount(m.currency, i128::from(m.minor_units))
                    }),
                    Cell::optional_text(profile.and_then(|p| p.destination).map(|c| c.to_string())),
                    Cell::optional_text(profile.and_then(|p| p.method.clone())),
                ]);
            }
        }
        (columns, rows)
    }
}
