//! The summary's figures by name (`arrests`, `checks.passenger`,
//! `cash.USD`…, as its JSON names them), and what each event adds to which:
//! what `trace`, `events` and `diff` explain a figure with.

use std::fmt;

use domain::{CheckKind, Currency, EventView, Item};

use crate::report::Cell;
use crate::summary::OperationFigures;

/// One figure of the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    AgentsDeployed,
    ExpertsDeployed,
    Arrests,
    VictimsRescued,
    MigrantsDetected,
    Checks(CheckKind),
    Seizures(Item),
    DrugsGrams,
    /// In minor units of the currency.
    Cash(Currency),
    /// Every record of the operation, retractions included.
    Events,
    /// Retractions recorded.
    Retracted,
}

impl Figure {
    /// The figures with fixed names, in the summary's column order (cash
    /// comes per currency, after `drugs_grams`).
    pub fn fixed() -> Vec<Figure> {
        let mut all = vec![
            Figure::AgentsDeployed,
            Figure::ExpertsDeployed,
            Figure::Arrests,
            Figure::VictimsRescued,
            Figure::MigrantsDetected,
        ];
        all.extend(CheckKind::ALL.iter().map(|k| Figure::Checks(*k)));
        all.extend(Item::ALL.iter().map(|i| Figure::Seizures(*i)));
        all.push(Figure::DrugsGrams);
        all.push(Figure::Events);
        all.push(Figure::Retracted);
        all
    }

    /// Reads a figure's name as the summary's JSON writes it.
    pub fn parse(text: &str) -> Result<Figure, String> {
        let unknown = || {
            format!(
                "unknown figure {text:?} (one of agents_deployed, experts_deployed, arrests, \
                 victims_rescued, migrants_detected, checks.KIND, seizures.ITEM, drugs_grams, \
                 cash.CURRENCY, events, retracted)"
            )
        };
        Ok(match text {
            "agents_deployed" => Figure::AgentsDeployed,
            "experts_deployed" => Figure::ExpertsDeployed,
            "arrests" => Figure::Arrests,
            "victims_rescued" => Figure::VictimsRescued,
            "migrants_detected" => Figure::MigrantsDetected,
            "drugs_grams" => Figure::DrugsGrams,
            "events" => Figure::Events,
            "retracted" => Figure::Retracted,
            other => match other.split_once('.') {
                Some(("checks", kind)) => {
                    Figure::Checks(CheckKind::parse(kind).ok_or_else(unknown)?)
                }
                Some(("seizures", item)) => {
                    Figure::Seizures(Item::parse(item).ok_or_else(unknown)?)
                }
                Some(("cash", code)) => Figure::Cash(Currency::parse(code).ok_or_else(unknown)?),
                _ => return Err(unknown()),
            },
        })
    }

    /// The outcome figure an event adds to, and how much (minor units for
    /// cash); `None` for an event that adds to no outcome figure.
    pub fn of(event: &EventView<'_>) -> Option<(Figure, i128)> {
        Some(match event {
            EventView::AgentsDeployed { count, .. } => (Figure::AgentsDeployed, i128::from(*count)),
            EventView::ExpertsDeployed { count, .. } => {
                (Figure::ExpertsDeployed, i128::from(*count))
            }
            EventView::ArrestMade { .. } => (Figure::Arrests, 1),
            EventView::VictimRescued { .. } => (Figure::VictimsRescued, 1),
            EventView::MigrantsDetected { count, .. } => {
                (Figure::MigrantsDetected, i128::from(*count))
            }
            EventView::ChecksPerformed { kind, count, .. } => {
                (Figure::Checks(*kind), i128::from(*count))
            }
            EventView::ItemsSeized { item, count, .. } => {
                (Figure::Seizures(*item), i128::from(*count))
            }
            EventView::DrugsSeized { grams, .. } => (Figure::DrugsGrams, i128::from(*grams)),
            EventView::CashSeized { money, .. } => {
                (Figure::Cash(money.currency), i128::from(money.minor_units))
            }
            EventView::OperationLaunched { .. }
            | EventView::CountryJoined { .. }
            | EventView::NetworkProfiled { .. }
            | EventView::OperationClosed
            | EventView::EventRetracted { .. } => return None,
        })
    }

    /// Whether a retraction takes this figure's count back out (every
    /// outcome figure); `events` and `retracted` only ever grow.
    pub fn is_outcome(&self) -> bool {
        !matches!(self, Figure::Events | Figure::Retracted)
    }

    /// The figure's value in an operation's summary figures.
    pub fn value(&self, figures: &OperationFigures) -> i128 {
        let t = &figures.tally;
        match self {
            Figure::AgentsDeployed => t.agents_deployed,
            Figure::ExpertsDeployed => t.experts_deployed,
            Figure::Arrests => t.arrests,
            Figure::VictimsRescued => t.victims_rescued,
            Figure::MigrantsDetected => t.migrants_detected,
            Figure::Checks(kind) => t.checks[crate::tally::check_index(*kind)],
            Figure::Seizures(item) => t.seizures[crate::tally::item_index(*item)],
            Figure::DrugsGrams => t.drugs_grams,
            Figure::Cash(currency) => t.cash.get(currency).copied().unwrap_or(0),
            Figure::Events => i128::from(figures.events),
            Figure::Retracted => i128::from(figures.retracted),
        }
    }

    /// An amount of this figure as a cell: a whole number, or a decimal
    /// string for cash.
    pub fn cell(&self, amount: i128) -> Cell {
        match self {
            Figure::Cash(currency) => Cell::Decimal(*currency, amount),
            _ => Cell::Int(amount),
        }
    }

    /// An amount of this figure as an exact decimal string.
    pub fn exact(&self, amount: i128) -> String {
        match self {
            Figure::Cash(currency) => domain::format_minor_units(amount, *currency),
            _ => amount.to_string(),
        }
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Figure::AgentsDeployed => f.write_str("agents_deployed"),
            Figure::ExpertsDeployed => f.write_str("experts_deployed"),
            Figure::Arrests => f.write_str("arrests"),
            Figure::VictimsRescued => f.write_str("victims_rescued"),
            Figure::MigrantsDetected => f.write_str("migrants_detected"),
            Figure::Checks(kind) => write!(f, "checks.{kind}"),
            Figure::Seizures(item) => write!(f, "seizures.{item}"),
            Figure::DrugsGrams => f.write_str("drugs_grams"),
            Figure::Cash(currency) => write!(f, "cash.{currency}"),
            Figure::Events => f.write_str("events"),
            Figure::Retracted => f.write_str("retracted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let mut all = Figure::fixed();
        all.push(Figure::Cash(Currency::parse("USD").expect("USD")));
        for figure in all {
            assert_eq!(Figure::parse(&figure.to_string()), Ok(figure));
        }
        assert!(Figure::parse("checks").is_err());
        assert!(Figure::parse("cash.XYZ").is_err());
    }
}
