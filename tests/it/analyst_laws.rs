//! Laws of the analyst's side, over generated histories: a trace's total is the summary's figure for every figure and filter; the events listed as active add up to the reports' figures; a diff is the difference of two summaries.
//!
//! Logs are built through the ledger into memory stores, and every output
//! is read back from its JSON, as a tool would read it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

use domain::{Country, Day, Location};
use event_store::{MemoryStore, Stamp};
use ledger::diff::DiffQuery;
use ledger::events::{EventQuery, Status};
use ledger::trace::TraceQuery;
use ledger::{AppendOptions, AsOf};
use projections::figure::Figure;
use projections::replay::ReplayOptions;
use projections::{render, Filter, Format, ReportKind};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use crate::conformance::at;
use crate::generators::{
    first_day, history, input, proptest_config, History, COUNTRIES, LOCATIONS,
};

fn log_of(history: &History) -> MemoryStore {
    let store = MemoryStore::new();
    for (n, batch) in history.batches().into_iter().enumerate() {
        let options = AppendOptions {
            recorded_by: "laws".into(),
            stamp: Stamp::At(at(n)),
        };
        ledger::append(&store, Cursor::new(input(batch)), &options)
            .unwrap_or_else(|error| panic!("a valid batch was refused: {error}\n{history:#?}"));
    }
    store
}

/// A filter drawn from the generators' vocabulary: some countries, maybe a
/// period (possibly empty of events), maybe locations.
fn filter() -> impl Strategy<Value = Filter> {
    (
        proptest::collection::btree_set(0..COUNTRIES.len(), 0..=2),
        proptest::option::of(0i64..9),
        proptest::option::of(0i64..9),
        proptest::collection::btree_set(0..LOCATIONS.len(), 0..=1),
    )
        .prop_map(|(countries, from, to, locations)| {
            let day = |offset: i64| Day(first_day() + chrono::Duration::days(offset));
            let (from, to) = match (from, to) {
                (Some(a), Some(b)) => (Some(day(a.min(b))), Some(day(a.max(b)))),
                (a, b) => (a.map(day), b.map(day)),
            };
            Filter {
                countries: countries
                    .into_iter()
                    .map(|i| Country::parse(COUNTRIES[i]).expect("country"))
                    .collect(),
                from,
                to,
                locations: locations
                    .into_iter()
                    .map(|i| Location::parse(LOCATIONS[i]).expect("location"))
                    .collect(),
            }
        })
}

/// The filtered summary's rows by operation, as its JSON says them.
fn summary(store: &MemoryStore, filter: &Filter, as_of: AsOf) -> BTreeMap<String, Value> {
    let report = ledger::reports::report_filtered(
        store,
        ReportKind::Summary,
        as_of,
        None,
        filter,
        &ReplayOptions::parts(2),
    )
    .expect("summary");
    let json: Value = serde_json::from_str(&render(&report, Format::Json, "laws")).expect("json");
    json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["operation"].as_str().expect("slug").to_owned(),
                row.clone(),
            )
        })
        .collect()
}

/// A figure's value in a summary row, as its JSON writes it.
fn value_in(row: &Value, figure: &str) -> Value {
    match figure.split_once('.') {
        Some(("cash", currency)) => row["cash"]
            .get(currency)
            .cloned()
            .unwrap_or_else(|| Value::String(zero_amount(currency))),
        Some((group, key)) => row[group][key].clone(),
        None => row[figure].clone(),
    }
}

fn zero_amount(currency: &str) -> String {
    if currency == "JPY" {
        "0".into()
    } else {
        "0.00".into()
    }
}

/// Every figure a summary row can name: the fixed ones and its currencies.
fn figures_of(rows: &BTreeMap<String, Value>) -> Vec<Figure> {
    let mut figures = Figure::fixed();
    let currencies: BTreeSet<String> = rows
        .values()
        .flat_map(|row| {
            row["cash"]
                .as_object()
                .map(|cash| cash.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    figures.extend(
        currencies
            .iter()
            .map(|c| Figure::parse(&format!("cash.{c}")).expect("currency")),
    );
    figures
}

fn json_of(write: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut out = Vec::new();
    write(&mut out);
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out)))
}

/// Adds a contribution (a JSON number, or a decimal string for cash).
fn add(total: &mut i128, value: &Value) {
    *total += match value {
        Value::Number(n) => i128::from(n.as_i64().expect("whole number")),
        Value::String(text) => text.replace('.', "").parse::<i128>().expect("decimal"),
        other => panic!("not a contribution: {other}"),
    };
}

fn as_number(value: &Value) -> i128 {
    let mut total = 0;
    add(&mut total, value);
    total
}

proptest! {
    #![proptest_config(proptest_config(32))]

    /// For every operation, every figure and a random filter, `trace`'s
    /// total equals the filtered summary's figure, and equals the sum of the
    /// contributions it lists as standing; the retracted ones are apart.
    #[test]
    fn a_trace_total_equals_the_summary_for_every_figure_and_filter(
        history in history(),
        filter in filter(),
    ) {
        let store = log_of(&history);
        let rows = summary(&store, &filter, AsOf::Head);
        for (operation, row) in &rows {
            for figure in figures_of(&rows) {
                let query = TraceQuery {
                    as_of: AsOf::Head,
                    operation: operation.clone(),
                    figure,
                    filter: filter.clone(),
                };
                let trace = json_of(|out| {
                    ledger::trace::trace(&store, &query, Format::Json, out, "laws").expect("trace");
                });
                let name = figure.to_string();
                prop_assert_eq!(&trace["figure"], &Value::String(name.clone()));
                prop_assert_eq!(&trace["total"], &value_in(row, &name), "{} {}", operation, name);
                let mut sum = 0;
                for contributing in trace["rows"].as_array().expect("rows") {
                    prop_assert_eq!(&contributing["counted"], &Value::Bool(true));
                    add(&mut sum, &contributing["contribution"]);
                }
                prop_assert_eq!(sum, as_number(&trace["total"]));
                for retracted in trace["retracted"].as_array().expect("retracted") {
                    prop_assert_eq!(&retracted["counted"], &Value::Bool(false));
                    prop_assert!(retracted["retracted_by"].is_number());
                }
            }
        }
    }

    /// The events `events --active` lists add up, figure by figure, to the
    /// filtered summary; all of them are the summary's `events`, and the
    /// retracted ones its `retracted`.
    #[test]
    fn events_count_what_the_reports_count(history in history(), filter in filter()) {
        let store = log_of(&history);
        let rows = summary(&store, &filter, AsOf::Head);
        for (operation, row) in &rows {
            let list = |status: Status| -> Vec<Value> {
                let query = EventQuery {
                    operation: Some(operation.clone()),
                    filter: filter.clone(),
                    status,
                    ..EventQuery::default()
                };
                let json = json_of(|out| {
                    ledger::events::events(&store, &query, Format::Json, out, "laws").expect("events");
                });
                json["rows"].as_array().expect("rows").clone()
            };
            let all = list(Status::All);
            prop_assert_eq!(all.len() as i128, as_number(&row["events"]));
            let retracted = list(Status::Retracted);
            prop_assert_eq!(retracted.len() as i128, as_number(&row["retracted"]));
            prop_assert!(retracted.iter().all(|e| e["retracted"] == true));
            let mut sums: BTreeMap<String, i128> = BTreeMap::new();
            for event in list(Status::Active) {
                prop_assert_eq!(&event["retracted"], &Value::Bool(false));
                if let Some(figure) = event["figure"].as_str() {
                    let amount = if event["amount"].is_null() { &event["count"] } else { &event["amount"] };
                    add(sums.entry(figure.to_owned()).or_default(), amount);
                }
            }
            for figure in figures_of(&rows).into_iter().filter(Figure::is_outcome) {
                let name = figure.to_string();
                let listed = sums.get(&name).copied().unwrap_or(0);
                prop_assert_eq!(listed, as_number(&value_in(row, &name)), "{} {}", operation, name);
            }
        }
    }

    /// `diff` between two prefixes lists exactly the figures whose values
    /// differ between the two summaries, with both values and their
    /// difference, and the events it lists in between add up to each change.
    #[test]
    fn a_diff_is_the_difference_of_two_summaries(
        history in history(),
        cuts in (any::<Index>(), any::<Index>()),
    ) {
        let store = log_of(&history);
        let n = history.lines.len() + 1;
        let (a, b) = (cuts.0.index(n) as u64, cuts.1.index(n) as u64);
        let (from, to) = (a.min(b), a.max(b));
        let none = Filter::default();
        let before = summary(&store, &none, AsOf::Position(from));
        let after = summary(&store, &none, AsOf::Position(to));
        let query = DiffQuery {
            from: AsOf::Position(from),
            to: AsOf::Position(to),
            operation: None,
        };
        let diff = json_of(|out| {
            ledger::diff::diff(&store, &query, Format::Json, out, "laws").expect("diff");
        });
        let listed: BTreeMap<(String, String), &Value> = diff["figures"]
            .as_array()
            .expect("figures")
            .iter()
            .map(|f| ((f["operation"].as_str().expect("op").to_owned(), f["figure"].as_str().expect("figure").to_owned()), f))
            .collect();
        // Every operation and every currency either summary names.
        let mut all = before.clone();
        all.extend(after.clone());
        let mut figures = figures_of(&before);
        figures.extend(figures_of(&after).into_iter().filter(|f| matches!(f, Figure::Cash(_))));
        figures.sort();
        figures.dedup();
        let empty = Value::Null;
        let mut expected = 0;
        for operation in all.keys() {
            for figure in figures.clone() {
                let name = figure.to_string();
                let value = |rows: &BTreeMap<String, Value>| {
                    rows.get(operation).map_or(0, |row| as_number(&value_in(row, &name)))
                };
                let (x, y) = (value(&before), value(&after));
                let entry = listed.get(&(operation.clone(), name.clone()));
                if x == y {
                    prop_assert!(entry.is_none(), "{} {} did not change", operation, name);
                    continue;
                }
                expected += 1;
                let entry: &Value = entry.map_or(&empty, |e| e);
                prop_assert_eq!(as_number(&entry["before"]), x, "{} {}", operation, name);
                prop_assert_eq!(as_number(&entry["after"]), y);
                prop_assert_eq!(as_number(&entry["change"]), y - x);
                if figure.is_outcome() {
                    let mut sum = 0;
                    for event in diff["events"].as_array().expect("events") {
                        if event["operation"] == operation.as_str() && event["figure"] == name.as_str() {
                            add(&mut sum, &event["contribution"]);
                        }
                    }
                    prop_assert_eq!(sum, y - x, "events behind {} {}", operation, name);
                }
            }
        }
        let numeric = listed.values().filter(|f| !f["change"].is_null()).count();
        prop_assert_eq!(numeric, expected);
        prop_assert_eq!(&diff["from"]["position"], &Value::from(from));
        prop_assert_eq!(&diff["to"]["position"], &Value::from(to));
    }
}
