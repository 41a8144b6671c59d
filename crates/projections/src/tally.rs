//! The figures every report counts, for one cell of a report (an operation,
//! an operation and a country, an operation and a day).
//!
//! Contributions are signed: a retraction applies the retracted event again
//! with the sign reversed, so that a checkpoint taken before a retraction
//! plus the retraction equals a replay that never counted the event, and so
//! that parts of a log folded apart can be merged by adding. Sums are i128:
//! each count fits in u64 and no log is long enough to overflow that.

use std::collections::BTreeMap;

use domain::{CheckKind, Currency, EventView, Item};
use serde::{Deserialize, Serialize};

use crate::report::Cell;

/// The columns of [`Tally::outcome_cells`].
pub const OUTCOME_COLUMNS: [&str; 7] = [
    "arrests",
    "victims_rescued",
    "migrants_detected",
    "checks",
    "items_seized",
    "drugs_grams",
    "cash",
];

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub agents_deployed: i128,
    pub experts_deployed: i128,
    pub arrests: i128,
    pub victims_rescued: i128,
    pub migrants_detected: i128,
    /// Indexed like `CheckKind::ALL`.
    pub checks: [i128; 6],
    /// Indexed like `Item::ALL`.
    pub seizures: [i128; 8],
    pub drugs_grams: i128,
    /// Minor units per currency; never summed across currencies.
    pub cash: BTreeMap<Currency, i128>,
}

pub(crate) fn check_index(kind: CheckKind) -> usize {
    CheckKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

pub(crate) fn item_index(item: Item) -> usize {
    Item::ALL.iter().position(|i| *i == item).unwrap_or(0)
}

impl Tally {
    /// Adds (`sign` = 1) or removes (`sign` = -1) an event's contribution.
    pub fn add(&mut self, event: &EventView<'_>, sign: i128) {
        match event {
            EventView::AgentsDeployed { count, .. } => {
                self.agents_deployed += sign * i128::from(*count)
            }
            EventView::ExpertsDeployed { count, .. } => {
                self.experts_deployed += sign * i128::from(*count)
            }
            EventView::ArrestMade { .. } => self.arrests += sign,
            EventView::VictimRescued { .. } => self.victims_rescued += sign,
            EventView::MigrantsDetected { count, .. } => {
                self.migrants_detected += sign * i128::from(*count)
            }
            EventView::ChecksPerformed { kind, count, .. } => {
                self.checks[check_index(*kind)] += sign * i128::from(*count);
            }
            EventView::ItemsSeized { item, count, .. } => {
                self.seizures[item_index(*item)] += sign * i128::from(*count);
            }
            EventView::DrugsSeized { grams, .. } => self.drugs_grams += sign * i128::from(*grams),
            EventView::CashSeized { money, .. } => {
                let total = self.cash.entry(money.currency).or_insert(0);
                *total += sign * i128::from(money.minor_units);
                if *total == 0 {
                    self.cash.remove(&money.currency);
                }
            }
            EventView::OperationLaunched { .. }
            | EventView::CountryJoined { .. }
            | EventView::NetworkProfiled { .. }
            | EventView::OperationClosed
            | EventView::EventRetracted { .. } => {}
        }
    }

    /// Adds another tally (for merging parts folded apart).
    pub fn merge(&mut self, other: &Tally) {
        self.agents_deployed += other.agents_deployed;
        self.experts_deployed += other.experts_deployed;
        self.arrests += other.arrests;
        self.victims_rescued += other.victims_rescued;
        self.migrants_detected += other.migrants_detected;
        for (mine, theirs) in self.checks.iter_mut().zip(other.checks) {
            *mine += theirs;
        }
        for (mine, theirs) in self.seizures.iter_mut().zip(other.seizures) {
            *mine += theirs;
        }
        self.drugs_grams += other.drugs_grams;
        for (currency, amount) in &other.cash {
            let total = self.cash.entry(*currency).or_insert(0);
            *total += amount;
            if *total == 0 {
                self.cash.remove(currency);
            }
        }
    }

    pub fn checks_total(&self) -> i128 {
        self.checks.iter().sum()
    }

    pub fn seizures_total(&self) -> i128 {
        self.seizures.iter().sum()
    }

    /// The outcome figures as report cells, under [`OUTCOME_COLUMNS`]: what
    /// the per-country and the per-day reports both show after their keys.
    pub fn outcome_cells(&self) -> Vec<Cell> {
        vec![
            Cell::Int(self.arrests),
            Cell::Int(self.victims_rescued),
            Cell::Int(self.migrants_detected),
            Cell::Int(self.checks_total()),
            Cell::Int(self.seizures_total()),
            Cell::Int(self.drugs_grams),
            Cell::Cash(self.cash.iter().map(|(c, m)| (*c, *m)).collect()),
        ]
    }

    /// True when nothing has been counted (or everything was retracted).
    pub fn is_empty(&self) -> bool {
        *self == Tally::default()
    }
}
