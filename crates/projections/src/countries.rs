//! Figures per operation and country; the seizures report is a view of them.

use std::collections::BTreeMap;

use domain::{Country, EventView, Item};
use serde::{Deserialize, Serialize};

use crate::report::{Cell, ReportKind};
use crate::tally::{Tally, OUTCOME_COLUMNS};
use crate::{Meta, Projection, Tabular};

/// Operation → country → figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Countries {
    pub operations: BTreeMap<String, BTreeMap<Country, Tally>>,
}

fn country_of(event: &EventView<'_>) -> Option<Country> {
    match event {
        EventView::AgentsDeployed { country, .. }
        | EventView::ExpertsDeployed { country, .. }
        | EventView::ArrestMade { country, .. }
        | EventView::VictimRescued { country, .. }
        | EventView::MigrantsDetected { country, .. }
        | EventView::ChecksPerformed { country, .. }
        | EventView::ItemsSeized { country, .. }
        | EventView::DrugsSeized { country, .. }
        | EventView::CashSeized { country, .. }
        | EventView::CountryJoined { country } => Some(*country),
        _ => None,
    }
}

impl Countries {
    fn tally(&mut self, operation: &str, country: Country) -> &mut Tally {
        crate::slot(&mut self.operations, operation)
            .entry(country)
            .or_default()
    }

    fn add(&mut self, operation: &str, event: &EventView<'_>, sign: i128) {
        match event {
            // Participants get a row even before they report anything.
            EventView::OperationLaunched { countries, .. } => {
                for country in countries {
                    self.tally(operation, *country);
                }
            }
            other => {
                if let Some(country) = country_of(other) {
                    self.tally(operation, country).add(other, sign);
                }
            }
        }
    }

    fn selected<'a>(
        &'a self,
        operation: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a String, &'a Country, &'a Tally)> + 'a {
        self.operations
            .iter()
            .filter(move |(slug, _)| operation.is_none_or(|wanted| wanted == slug.as_str()))
            .flat_map(|(slug, countries)| countries.iter().map(move |(c, t)| (slug, c, t)))
    }
}

impl Projection for Countries {
    const NAME: &'static str = "countries-v1";

    fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        self.add(meta.operation, event, 1);
    }

    fn retract(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        self.add(meta.operation, event, -1);
    }

    fn merge(&mut self, later: Countries) {
        for (operation, countries) in later.operations {
            let mine = self.operations.entry(operation).or_default();
            for (country, tally) in countries {
                mine.entry(country).or_default().merge(&tally);
            }
        }
    }
}

impl Tabular for Countries {
    fn rows(
        &self,
        kind: ReportKind,
        operation: Option<&str>,
    ) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
        if kind == ReportKind::Seizures {
            return seizure_rows(self, operation);
        }
        let mut columns = vec![
            "operation",
            "country",
            "agents_deployed",
            "experts_deployed",
        ];
        columns.extend(OUTCOME_COLUMNS);
        let rows = self
            .selected(operation)
            .map(|(slug, country, t)| {
                let mut row = vec![
                    Cell::text(slug.as_str()),
                    Cell::text(country.code()),
                    Cell::Int(t.agents_deployed),
                    Cell::Int(t.experts_deployed),
                ];
                row.extend(t.outcome_cells());
                row
            })
            .collect();
        (columns, rows)
    }
}

/// One row per operation, country and thing seized (non-zero only): items
/// counted, drugs in grams, cash per currency. The quantity is an exact
/// decimal string in every row, as cash needs one.
fn seizure_rows(
    countries: &Countries,
    operation: Option<&str>,
) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    let columns = vec!["operation", "country", "item", "quantity", "unit"];
    let mut rows = Vec::new();
    for (slug, country, t) in countries.selected(operation) {
        let row = |item: &str, quantity: Cell, unit: &str| {
            vec![
                Cell::text(slug.as_str()),
                Cell::text(country.code()),
                Cell::text(item),
                quantity,
                Cell::text(unit),
            ]
        };
        for (item, count) in Item::ALL.iter().zip(t.seizures) {
            if count != 0 {
                rows.push(row(item.as_str(), Cell::Exact(count), "items"));
            }
        }
        if t.drugs_grams != 0 {
            rows.push(row("drugs", Cell::Exact(t.drugs_grams), "grams"));
        }
        for (currency, minor) in &t.cash {
            rows.push(row(
                "cash",
                Cell::Decimal(*currency, *minor),
                currency.code(),
            ));
        }
    }
    (columns, rows)
}
