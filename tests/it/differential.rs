//! The CLI's summary against a reference fold computed from the input lines alone.
//!
//! The reference reads the generated input lines as plain JSON and knows
//! only what the report promises: the figures each event type adds, that a
//! retraction takes its target's figures back out, and how amounts print.
//! It shares no code with the domain or the projections.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::generators::{history, input, proptest_config, Line};
use crate::support::Store;

const CHECKS: [&str; 6] = [
    "passenger",
    "person",
    "vehicle",
    "flight",
    "parcel",
    "premises",
];
const ITEMS: [&str; 8] = [
    "counterfeit_document",
    "boat",
    "inflatable_boat_or_buoy",
    "firearm",
    "ammunition",
    "vehicle",
    "device",
    "other",
];

fn minor_digits(currency: &str) -> u32 {
    match currency {
        "JPY" => 0,
        _ => 2,
    }
}

/// "12.3" in a currency with `digits` minor digits → minor units.
fn minor_units(amount: &str, digits: u32) -> i128 {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let mut fraction = fraction.to_owned();
    while fraction.len() < digits as usize {
        fraction.push('0');
    }
    format!("{whole}{fraction}").parse().expect("amount")
}

fn amount_text(minor: i128, digits: u32) -> String {
    if digits == 0 {
        return minor.to_string();
    }
    let scale = 10i128.pow(digits);
    format!(
        "{}.{:0width$}",
        minor / scale,
        minor % scale,
        width = digits as usize
    )
}

/// One operation's figures, as the reference counts them.
#[derive(Default)]
struct Figures {
    launch: Option<Value>,
    countries: BTreeSet<String>,
    closed: bool,
    counts: BTreeMap<String, i128>,
    checks: BTreeMap<String, i128>,
    seizures: BTreeMap<String, i128>,
    cash: BTreeMap<String, i128>,
    events: i128,
    retracted: i128,
}

impl Figures {
    fn add(&mut self, line: &Line, sign: i128) {
        let data = &line.data;
        let n = |field: &str| i128::from(data[field].as_u64().unwrap_or(0));
        let mut count = |name: &str, by: i128| *self.counts.entry(name.into()).or_default() += by;
        match line.event_type.as_str() {
            "AgentsDeployed" => count("agents_deployed", sign * n("count")),
            "ExpertsDeployed" => count("experts_deployed", sign * n("count")),
            "ArrestMade" => count("arrests", sign),
            "VictimRescued" => count("victims_rescued", sign),
            "MigrantsDetected" => count("migrants_detected", sign * n("count")),
            "DrugsSeized" => count("drugs_grams", sign * n("grams")),
            "ChecksPerformed" => {
                let kind = data["kind"].as_str().unwrap_or("").to_owned();
                *self.checks.entry(kind).or_default() += sign * n("count");
            }
            "ItemsSeized" => {
                let item = data["item"].as_str().unwrap_or("").to_owned();
                *self.seizures.entry(item).or_default() += sign * n("count");
            }
            "CashSeized" => {
                let currency = data["currency"].as_str().unwrap_or("").to_owned();
                let digits = minor_digits(&currency);
                let minor = minor_units(data["amount"].as_str().unwrap_or("0"), digits);
                *self.cash.entry(currency).or_default() += sign * minor;
            }
            _ => {}
        }
    }

    fn row(&self, operation: &str, position: usize) -> Value {
        let launch = self.launch.clone().unwrap_or(Value::Null);
        let counted = |name: &str| json!(self.counts.get(name).copied().unwrap_or(0));
        let per = |keys: &[&str], map: &BTreeMap<String, i128>| {
            Value::Object(
                keys.iter()
                    .map(|k| ((*k).to_owned(), json!(map.get(*k).copied().unwrap_or(0))))
                    .collect::<Map<String, Value>>(),
            )
        };
        json!({
            "operation": operation,
            "name": launch["name"],
            "coordinator": launch["coordinator"],
            "funded_by": launch.get("funded_by").cloned().unwrap_or(Value::Null),
            "status": if self.closed { "closed" } else { "active" },
            "starts_on": launch["starts_on"],
            "ends_on": launch["ends_on"],
            "countries": self.countries,
            "agents_deployed": counted("agents_deployed"),
            "experts_deployed": counted("experts_deployed"),
            "arrests": counted("arrests"),
            "victims_rescued": counted("victims_rescued"),
            "migrants_detected": counted("migrants_detected"),
            "checks": per(&CHECKS, &self.checks),
            "seizures": per(&ITEMS, &self.seizures),
            "drugs_grams": counted("drugs_grams"),
            "cash": self.cash.iter()
                .filter(|(_, minor)| **minor != 0)
                .map(|(c, minor)| (c.clone(), json!(amount_text(*minor, minor_digits(c)))))
                .collect::<Map<String, Value>>(),
            "events": self.events,
            "retracted": self.retracted,
            "position": position,
        })
    }
}

/// The summary rows the input lines call for.
fn reference_summary(lines: &[Line]) -> Vec<Value> {
    let by_id: BTreeMap<_, _> = lines.iter().map(|l| (l.id, l)).collect();
    let mut operations: BTreeMap<String, Figures> = BTreeMap::new();
    for line in lines {
        let figures = operations.entry(line.operation.clone()).or_default();
        figures.events += 1;
        match line.event_type.as_str() {
            "OperationLaunched" => {
                for country in line.data["countries"].as_array().into_iter().flatten() {
                    figures
                        .countries
                        .insert(country.as_str().unwrap_or("").to_owned());
                }
                figures.launch = Some(line.data.clone());
            }
            "CountryJoined" => {
                figures
                    .countries
                    .insert(line.country().unwrap_or("").to_owned());
            }
            "OperationClosed" => figures.closed = true,
            "EventRetracted" => {
                figures.retracted += 1;
                let target = line.data["event_id"].as_str().unwrap_or("");
                let target = by_id
                    .iter()
                    .find(|(id, _)| id.to_string() == target)
                    .map(|(_, l)| *l)
                    .expect("retracts a line of the input");
                figures.add(target, -1);
            }
            _ => figures.add(line, 1),
        }
    }
    operations
        .iter()
        .map(|(operation, figures)| figures.row(operation, lines.len()))
        .collect()
}

proptest! {
    #![proptest_config(proptest_config(24))]

    /// `theseus report summary --format json` over a generated batch equals
    /// the reference fold of the batch's lines.
    #[test]
    fn the_cli_summary_equals_the_reference_fold(history in history()) {
        let store = Store::new();
        store.append(&input(&history.lines)).ok();
        let summary = store.summary();
        let rows = summary["rows"].as_array().cloned().unwrap_or_default();
        let expected = reference_summary(&history.lines);
        prop_assert_eq!(rows.len(), expected.len());
        for (got, want) in rows.iter().zip(&expected) {
            prop_assert_eq!(got, want);
        }
        prop_assert_eq!(&summary["as_of"]["position"], &json!(history.lines.len()));
    }
}

#[test]
fn the_reference_formats_amounts_like_the_report() {
    assert_eq!(amount_text(minor_units("12.3", 2), 2), "12.30");
    assert_eq!(amount_text(minor_units("0.05", 2), 2), "0.05");
    assert_eq!(amount_text(minor_units("7000", 2), 2), "7000.00");
    assert_eq!(amount_text(minor_units("7000", 0), 0), "7000");
}
