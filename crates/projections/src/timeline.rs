//! Figures per operation and UTC day of occurred_at.

use std::collections::BTreeMap;

use domain::{Day, EventView};
use serde::{Deserialize, Serialize};

use crate::report::{Cell, ReportKind};
use crate::tally::{Tally, OUTCOME_COLUMNS};
use crate::{Meta, Projection, Tabular};

/// Operation → day → figures. Deployments and profiles have no day and do
/// not appear here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub operations: BTreeMap<String, BTreeMap<Day, Tally>>,
}

fn day_of(event: &EventView<'_>) -> Option<Day> {
    match event {
        EventView::ArrestMade { day, .. }
        | EventView::VictimRescued { day, .. }
        | EventView::MigrantsDetected { day, .. }
        | EventView::ChecksPerformed { day, .. }
        | EventView::ItemsSeized { day, .. }
        | EventView::DrugsSeized { day, .. }
        | EventView::CashSeized { day, .. } => Some(*day),
        _ => None,
    }
}

impl Timeline {
    fn add(&mut self, operation: &str, event: &EventView<'_>, sign: i128) {
        let Some(day) = day_of(event) else { return };
        let days = crate::slot(&mut self.operations, operation);
        let tally = days.entry(day).or_default();
        tally.add(event, sign);
        if tally.is_empty() {
            days.remove(&day);
        }
    }
}

impl Projection for Timeline {
    const NAME: &'static str = "timeline-v1";

    fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        self.add(meta.operation, event, 1);
    }

    fn retract(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        self.add(meta.operation, event, -1);
    }

    fn merge(&mut self, later: Timeline) {
        for (operation, days) in later.operations {
            let mine = self.operations.entry(operation).or_default();
            for (day, tally) in days {
                let merged = mine.entry(day).or_default();
                merged.merge(&tally);
                if merged.is_empty() {
                    mine.remove(&day);
                }
            }
        }
    }
}

impl Tabular for Timeline {
    fn rows(
        &self,
        _kind: ReportKind,
        operation: Option<&str>,
    ) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
        let mut columns = vec!["operation", "day"];
        columns.extend(OUTCOME_COLUMNS);
        let rows = self
            .operations
            .iter()
            .filter(|(slug, _)| operation.is_none_or(|wanted| wanted == slug.as_str()))
            .flat_map(|(slug, days)| {
                days.iter().map(move |(day, t)| {
                    let mut row = vec![Cell::text(slug.as_str()), Cell::text(day.to_string())];
                    row.extend(t.outcome_cells());
                    row
                })
            })
            .collect();
        (columns, rows)
    }
}
