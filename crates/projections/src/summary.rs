//! The summary: one row per operation with every headline figure.

use std::collections::{BTreeMap, BTreeSet};

use domain::{CheckKind, Country, Day, EventView, Item};
use serde::{Deserialize, Serialize};

use crate::report::{Cell, ReportKind};
use crate::tally::Tally;
use crate::{Meta, Projection, Tabular};

/// What an operation's launch said, and what it has become.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationFigures {
    pub name: Option<String>,
    pub coordinator: Option<String>,
    pub funded_by: Option<String>,
    pub starts_on: Option<Day>,
    pub ends_on: Option<Day>,
    pub countries: BTreeSet<Country>,
    pub closed: bool,
    /// Every record of the operation, retractions included.
    pub events: u64,
    /// Retractions recorded.
    pub retracted: u64,
    pub tally: Tally,
}

/// Per-operation figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub operations: BTreeMap<String, OperationFigures>,
    /// The last position folded.
    pub position: u64,
}

impl Projection for Summary {
    const NAME: &'static str = "summary-v1";

    fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        self.position = self.position.max(meta.position);
        // One search of the map for the operations it has (all but the
        // first record of each); the key is allocated only when missing.
        let figures = match self.operations.get_mut(meta.operation) {
            Some(figures) => figures,
            None => self
                .operations
                .entry(meta.operation.to_owned())
                .or_default(),
        };
        figures.events += 1;
        match event {
            EventView::OperationLaunched {
                name,
                coordinator,
                countries,
                starts_on,
                ends_on,
                funded_by,
            } => {
                figures.name = Some(name.to_string());
                figures.coordinator = Some(coordinator.to_string());
                figures.funded_by = funded_by.as_ref().map(|f| f.to_string());
                figures.starts_on = Some(*starts_on);
                figures.ends_on = Some(*ends_on);
                figures.countries.extend(countries.iter().copied());
            }
            EventView::CountryJoined { country } => {
                figures.countries.insert(*country);
            }
            EventView::OperationClosed => figures.closed = true,
            EventView::EventRetracted { .. } => figures.retracted += 1,
            other => figures.tally.add(other, 1),
        }
    }

    fn retract(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        if let Some(figures) = self.operations.get_mut(meta.operation) {
            figures.tally.add(event, -1);
        }
    }

    fn merge(&mut self, later: Summary) {
        self.position = self.position.max(later.position);
        for (operation, theirs) in later.operations {
            let mine = self.operations.entry(operation).or_default();
            if theirs.name.is_some() {
                mine.name = theirs.name;
                mine.coordinator = theirs.coordinator;
                mine.funded_by = theirs.funded_by;
                mine.starts_on = theirs.starts_on;
                mine.ends_on = theirs.ends_on;
            }
            mine.countries.extend(theirs.countries);
            mine.closed |= theirs.closed;
            mine.events += theirs.events;
            mine.retracted += theirs.retracted;
            mine.tally.merge(&theirs.tally);
        }
    }
}

impl Tabular for Summary {
    fn rows(
        &self,
        _kind: ReportKind,
        operation: Option<&str>,
    ) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
        let columns = vec![
            "operation",
            "name",
            "coordinator",
            "funded_by",
            "status",
            "starts_on",
            "ends_on",
            "countries",
            "agents_deployed",
            "experts_deployed",
            "arrests",
            "victims_rescued",
            "migrants_detected",
            "checks",
            "seizures",
            "drugs_grams",
            "cash",
            "events",
            "retracted",
            "position",
        ];
        let rows = self
            .operations
            .iter()
            .filter(|(slug, _)| operation.is_none_or(|wanted| wanted == slug.as_str()))
            .map(|(slug, f)| {
                let t = &f.tally;
                vec![
                    Cell::text(slug.as_str()),
                    Cell::optional_text(f.name.clone()),
                    Cell::optional_text(f.coordinator.clone()),
                    Cell::optional_text(f.funded_by.clone()),
                    Cell::text(if f.closed { "closed" } else { "active" }),
                    Cell::optional_text(f.starts_on.map(|d| d.to_string())),
                    Cell::optional_text(f.ends_on.map(|d| d.to_string())),
                    Cell::List(f.countries.iter().map(|c| c.to_string()).collect()),
                    Cell::Int(t.agents_deployed),
                    Cell::Int(t.experts_deployed),
                    Cell::Int(t.arrests),
                    Cell::Int(t.victims_rescued),
                    Cell::Int(t.migrants_detected),
                    Cell::Counts(
                        CheckKind::ALL
                            .iter()
                            .map(|k| k.as_str())
                            .zip(t.checks)
                            .collect(),
                    ),
                    Cell::Counts(
                        Item::ALL
                            .iter()
                            .map(|i| i.as_str())
                            .zip(t.seizures)
                            .collect(),
                    ),
                    Cell::Int(t.drugs_grams),
                    Cell::Cash(t.cash.iter().map(|(c, m)| (*c, *m)).collect()),
                    Cell::Int(i128::from(f.events)),
                    Cell::Int(i128::from(f.retracted)),
                    Cell::Int(i128::from(self.position)),
                ]
            })
            .collect();
        (columns, rows)
    }
}
