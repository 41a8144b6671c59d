//! Generators of valid and invalid operation histories, from a small vocabulary so that counterexamples shrink to something readable.
//!
//! A history is built in two steps. A strategy draws *abstract* actions per
//! operation (join a country, report an outcome, retract the n-th outcome,
//! close); [`realise`] then turns them into input lines against a plain
//! model of the rules, mapping an action that would be invalid at that point
//! to the nearest valid one (an outcome from a country that has not joined
//! is preceded by its CountryJoined; a retraction picks among the outcomes
//! not yet retracted, or is skipped). Shrinking therefore only ever removes
//! or simplifies actions and every shrunk history is still valid.
//!
//! Several operations are drawn apart and then interleaved by a schedule:
//! the rules are per operation and retractions stay within one, so any
//! interleaving of valid operation histories is valid.
//!
//! Invalid histories are a valid history plus a final batch of setup lines
//! (valid, to reach the state the rule is about) and one line that breaks
//! exactly one rule.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{Duration, NaiveDate};
use domain::{Event, EventType};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};
use uuid::Uuid;

/// A proptest configuration running `cases` cases in CI, scaled by
/// `PROPTEST_CASES` relative to proptest's default of 256: with
/// `PROPTEST_CASES=2560` every property runs ten times its CI count.
pub fn proptest_config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let scaled = u64::from(cases) * u64::from(default.cases) / 256;
    ProptestConfig {
        cases: u32::try_from(scaled.max(1)).unwrap_or(u32::MAX),
        // Shrink far enough that counterexamples read easily.
        max_shrink_iters: 4096,
        ..default
    }
}

/// The vocabulary: few values, so that shrunk counterexamples read easily.
pub const OPERATIONS: [&str; 3] = ["op-a", "op-b", "op-c"];
pub const COUNTRIES: [&str; 5] = ["AL", "RS", "TR", "FR", "NL"];
/// Never in [`COUNTRIES`]: a country that takes part in nothing.
pub const OUTSIDER: &str = "XK";
pub const LOCATIONS: [&str; 4] = ["road", "airport", "border_crossing", "seaport"];
pub const NETWORKS: [&str; 2] = ["net-1", "net-2"];
pub const CURRENCIES: [(&str, u32); 3] = [("EUR", 2), ("USD", 2), ("JPY", 0)];
pub const CHECK_KINDS: [&str; 3] = ["passenger", "vehicle", "flight"];
pub const ITEMS: [&str; 3] = ["boat", "firearm", "counterfeit_document"];
/// Local times and how many days their UTC day lies after the local date.
pub const CLOCKS: [(&str, i64); 4] = [
    ("T10:00:00Z", 0),
    ("T23:30:00-02:00", 1),
    ("T00:30:00+02:00", -1),
    ("T12:00:00.250+01:00", 0),
];

pub fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2019, 12, 9).expect("valid date")
}

/// One input line, with its data as JSON so that a reference fold can read it.
#[derive(Clone, PartialEq)]
pub struct Line {
    pub id: Uuid,
    pub operation: String,
    pub event_type: EventType,
    pub data: Value,
    pub expected_version: Option<u64>,
}

impl Line {
    /// The JSON Lines text the ledger reads.
    pub fn text(&self) -> String {
        let mut line = serde_json::Map::new();
        line.insert("id".into(), Value::String(self.id.to_string()));
        line.insert("operation".into(), Value::String(self.operation.clone()));
        line.insert("type".into(), Value::String(self.event_type.to_string()));
        if let Some(version) = self.expected_version {
            line.insert("expected_version".into(), Value::from(version));
        }
        line.insert("data".into(), self.data.clone());
        Value::Object(line).to_string()
    }

    /// The event as the domain reads it.
    pub fn event(&self) -> Event {
        Event::parse(self.event_type.as_str(), &self.data.to_string())
            .unwrap_or_else(|error| panic!("generated an unreadable line {self:?}: {error}"))
    }

    /// The canonical data text the log holds.
    pub fn canonical_data(&self) -> String {
        self.event().data_json()
    }

    /// The event's country, if it has one.
    pub fn country(&self) -> Option<&str> {
        self.data.get("country").and_then(Value::as_str)
    }
}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Lines as JSON Lines text.
pub fn input(lines: &[Line]) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line.text());
        text.push('\n');
    }
    text
}

/// A valid history: its lines and how they are cut into batches.
#[derive(Clone, Debug)]
pub struct History {
    pub lines: Vec<Line>,
    /// The number of lines of each batch; they add up to `lines.len()`.
    pub batches: Vec<usize>,
}

impl History {
    /// The lines of each batch.
    pub fn batches(&self) -> Vec<&[Line]> {
        let mut out = Vec::new();
        let mut start = 0;
        for size in &self.batches {
            out.push(&self.lines[start..start + size]);
            start += size;
        }
        out
    }

    pub fn operations(&self) -> BTreeSet<String> {
        self.lines.iter().map(|l| l.operation.clone()).collect()
    }

    /// Whether the history retracts an outcome.
    pub fn has_retraction(&self) -> bool {
        self.lines
            .iter()
            .any(|l| l.event_type == EventType::EventRetracted)
    }

    /// Whether an outcome is reported after its operation's close.
    pub fn has_late_report(&self) -> bool {
        let mut closed = BTreeSet::new();
        self.lines.iter().any(|line| {
            if line.event_type == EventType::OperationClosed {
                closed.insert(line.operation.clone());
            }
            line.event_type.is_outcome() && closed.contains(&line.operation)
        })
    }

    pub fn has_join(&self) -> bool {
        self.lines
            .iter()
            .any(|l| l.event_type == EventType::CountryJoined)
    }

    /// Whether two operations' lines alternate somewhere.
    pub fn is_interleaved(&self) -> bool {
        let mut seen: Vec<&str> = Vec::new();
        for line in &self.lines {
            if seen.last() != Some(&line.operation.as_str()) {
                if seen.contains(&line.operation.as_str()) {
                    return true;
                }
                seen.push(&line.operation);
            }
        }
        false
    }
}

/// An operation's launch.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Indices into [`COUNTRIES`]; at least one.
    pub countries: BTreeSet<usize>,
    pub start_offset: i64,
    pub length: i64,
    pub funded: bool,
}

/// One thing that happens to an operation after its launch.
#[derive(Clone, Debug)]
pub enum Action {
    Join(usize),
    Report(Outcome),
    /// Retract one of the outcomes not yet retracted.
    Retract(Index),
    Close,
}

/// An outcome report, in small numbers: `kind` picks the event type and the
/// others pick from the vocabulary.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub kind: usize,
    pub country: usize,
    pub day: i64,
    pub clock: usize,
    pub pick: usize,
    pub amount: u64,
    pub optional: bool,
}

/// The number of outcome types.
pub const OUTCOME_KINDS: usize = 10;

fn outcome() -> impl Strategy<Value = Outcome> {
    (
        0..OUTCOME_KINDS,
        0..COUNTRIES.len(),
        0i64..8,
        0..CLOCKS.len(),
        0usize..6,
        1u64..2000,
        any::<bool>(),
    )
        .prop_map(
            |(kind, country, day, clock, pick, amount, optional)| Outcome {
                kind,
                country,
                day,
                clock,
                pick,
                amount,
                optional,
            },
        )
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => (0..COUNTRIES.len()).prop_map(Action::Join),
        12 => outcome().prop_map(Action::Report),
        3 => any::<Index>().prop_map(Action::Retract),
        1 => Just(Action::Close),
    ]
}

fn launch() -> impl Strategy<Value = Launch> {
    (
        proptest::collection::btree_set(0..COUNTRIES.len(), 1..=3),
        0i64..3,
        2i64..7,
        any::<bool>(),
    )
        .prop_map(|(countries, start_offset, length, funded)| Launch {
            countries,
            start_offset,
            length,
            funded,
        })
}

/// The rules' state of one operation, as the generators track it.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub participants: BTreeSet<String>,
    pub closed: bool,
    pub version: u64,
    /// Outcome ids in order, with whether they are retracted.
    pub outcomes: Vec<(Uuid, bool)>,
    /// Ids of launch, joins and close: not retractable.
    pub others: Vec<Uuid>,
}

/// Builds one operation's lines from abstract actions.
pub struct Builder {
    pub operation: String,
    pub index: usize,
    pub next: u128,
    pub model: Model,
    pub lines: Vec<Line>,
    /// Give every `expected_version_every`-th line its expected version
    /// (0: none).
    pub expected_version_every: usize,
}

impl Builder {
    pub fn new(index: usize) -> Builder {
        Builder {
            operation: OPERATIONS[index].to_owned(),
            index,
            next: 1,
            model: Model::default(),
            lines: Vec::new(),
            expected_version_every: 4,
        }
    }

    /// A fresh, readable id: operation index in the high bits, then a count.
    pub fn fresh_id(&mut self) -> Uuid {
        let id = Uuid::from_u128(((self.index as u128 + 1) << 32) | self.next);
        self.next += 1;
        id
    }

    pub fn push(&mut self, event_type: EventType, data: Value) -> Uuid {
        let id = self.fresh_id();
        let every = self.expected_version_every;
        let expected_version =
            (every > 0 && self.lines.len() % every == 3).then_some(self.model.version);
        self.lines.push(Line {
            id,
            operation: self.operation.clone(),
            event_type,
            data,
            expected_version,
        });
        self.model.version += 1;
        if event_type.is_outcome() {
            self.model.outcomes.push((id, false));
        } else if event_type != EventType::EventRetracted {
            self.model.others.push(id);
        }
        id
    }

    pub fn launch(&mut self, launch: &Launch) {
        let starts_on = first_day() + Duration::days(launch.start_offset);
        let ends_on = starts_on + Duration::days(launch.length);
        let countries: Vec<&str> = launch.countries.iter().map(|i| COUNTRIES[*i]).collect();
        let mut data = json!({
            "name": format!("Operation {}", self.operation),
            "coordinator": "INTERPOL",
            "countries": countries,
            "starts_on": starts_on.to_string(),
            "ends_on": ends_on.to_string(),
        });
        if launch.funded {
            data["funded_by"] = json!("EU ISF");
        }
        self.push(EventType::OperationLaunched, data);
        self.model.starts_on = Some(starts_on);
        self.model.ends_on = Some(ends_on);
        self.model
            .participants
            .extend(countries.iter().map(|c| (*c).to_owned()));
    }

    pub fn join(&mut self, country: &str) {
        self.push(EventType::CountryJoined, json!({ "country": country }));
        self.model.participants.insert(country.to_owned());
    }

    pub fn close(&mut self) {
        self.push(EventType::OperationClosed, json!({}));
        self.model.closed = true;
    }

    pub fn retract(&mut self, id: Uuid) {
        self.push(
            EventType::EventRetracted,
            json!({ "event_id": id.to_string(), "reason": "reported twice" }),
        );
        for outcome in &mut self.model.outcomes {
            if outcome.0 == id {
                outcome.1 = true;
            }
        }
    }

    /// The occurred_at of an outcome whose UTC day is the period's day
    /// `day` (clamped into the period).
    pub fn occurred_at(&self, day: i64, clock: usize) -> String {
        let starts_on = self.model.starts_on.unwrap_or_else(first_day);
        let ends_on = self.model.ends_on.unwrap_or(starts_on);
        let utc_day = (starts_on + Duration::days(day)).min(ends_on);
        let (time, shift) = CLOCKS[clock];
        format!("{}{}", utc_day - Duration::days(shift), time)
    }

    /// Reports an outcome from a participant: a country that has not
    /// joined joins first, unless the operation is closed, when a
    /// participant reports instead (a late report).
    pub fn report(&mut self, o: &Outcome) -> Uuid {
        let mut country = COUNTRIES[o.country].to_owned();
        let has_country = o.kind != 9;
        if has_country && !self.model.participants.contains(&country) {
            if self.model.closed {
                let participants: Vec<&String> = self.model.participants.iter().collect();
                country = participants[o.country % participants.len()].clone();
            } else {
                self.join(&country);
            }
        }
        let at = self.occurred_at(o.day, o.clock);
        let n = o.amount;
        let location = LOCATIONS[o.pick % LOCATIONS.len()];
        let network = NETWORKS[o.pick % NETWORKS.len()];
        let (event_type, mut data) = match o.kind {
            0 => (
                EventType::AgentsDeployed,
                json!({"country": country, "count": n}),
            ),
            1 => (
                EventType::ExpertsDeployed,
                json!({"organisation": "Frontex", "country": country, "count": n % 20 + 1}),
            ),
            2 => (
                EventType::ArrestMade,
                json!({"country": country, "occurred_at": at, "location": location, "suspect": format!("S-{n}")}),
            ),
            3 => (
                EventType::VictimRescued,
                json!({"country": country, "occurred_at": at, "location": location, "victim": format!("V-{n}")}),
            ),
            4 => (
                EventType::MigrantsDetected,
                json!({"country": country, "occurred_at": at, "location": location, "count": n}),
            ),
            5 => (
                EventType::ChecksPerformed,
                json!({"country": country, "occurred_at": at, "kind": CHECK_KINDS[o.pick % CHECK_KINDS.len()], "count": n}),
            ),
            6 => (
                EventType::ItemsSeized,
                json!({"country": country, "occurred_at": at, "item": ITEMS[o.pick % ITEMS.len()], "count": n % 50 + 1}),
            ),
            7 => (
                EventType::DrugsSeized,
                json!({"country": country, "occurred_at": at, "grams": n * 10}),
            ),
            8 => {
                let (currency, digits) = CURRENCIES[o.pick % CURRENCIES.len()];
                let amount = if digits == 0 || !o.optional {
                    format!("{n}")
                } else {
                    format!("{}.{:02}", n / 100, n % 100)
                };
                // "0.05" is valid; "0.00" cannot happen as n >= 1.
                (
                    EventType::CashSeized,
                    json!({"country": country, "occurred_at": at, "currency": currency, "amount": amount}),
                )
            }
            _ => (
                EventType::NetworkProfiled,
                json!({"network": network, "people_smuggled_estimate": n}),
            ),
        };
        if o.optional {
            match event_type {
                EventType::ArrestMade => {
                    data["network"] = json!(network);
                    data["offences"] = if o.pick.is_multiple_of(3) {
                        json!(["trafficking_in_persons", "document_fraud"])
                    } else {
                        json!(["migrant_smuggling"])
                    };
                }
                EventType::VictimRescued => {
                    data["minor"] = json!(o.pick.is_multiple_of(2));
                    data["nationality"] = json!(["SY", "AF"][o.pick % 2]);
                    data["exploitation"] = json!(["labour", "sexual", "begging"][o.pick % 3]);
                }
                EventType::ItemsSeized => data["location"] = json!(location),
                EventType::DrugsSeized => data["substance"] = json!("cannabis"),
                EventType::NetworkProfiled => {
                    data["max_fee"] = json!({"currency": "EUR", "amount": format!("{n}.00")});
                    data["destination"] = json!("GB");
                    data["method"] = json!("boats");
                }
                _ => {}
            }
        }
        self.push(event_type, data)
    }

    pub fn apply(&mut self, action: &Action) {
        match action {
            Action::Join(country) => {
                let country = COUNTRIES[*country];
                if !self.model.closed && !self.model.participants.contains(country) {
                    self.join(country);
                }
            }
            Action::Report(outcome) => {
                self.report(outcome);
            }
            Action::Retract(index) => {
                let open: Vec<Uuid> = self
                    .model
                    .outcomes
                    .iter()
                    .filter(|(_, retracted)| !retracted)
                    .map(|(id, _)| *id)
                    .collect();
                if !open.is_empty() {
                    self.retract(open[index.index(open.len())]);
                }
            }
            Action::Close => {
                if !self.model.closed {
                    self.close();
                }
            }
        }
    }
}

/// Realises one operation's history.
pub fn realise(index: usize, launch: &Launch, actions: &[Action]) -> Builder {
    let mut builder = Builder::new(index);
    builder.launch(launch);
    for action in actions {
        builder.apply(action);
    }
    builder
}

/// One operation's valid lines, with up to `max_actions` actions after launch.
pub fn operation_history(index: usize, max_actions: usize) -> impl Strategy<Value = Vec<Line>> {
    operation_history_sized(index, 0, max_actions)
}

/// One operation's valid lines, with `min_actions..=max_actions` actions.
pub fn operation_history_sized(
    index: usize,
    min_actions: usize,
    max_actions: usize,
) -> impl Strategy<Value = Vec<Line>> {
    (
        launch(),
        proptest::collection::vec(action(), min_actions..=max_actions),
    )
        .prop_map(move |(launch, actions)| realise(index, &launch, &actions).lines)
}

/// Merges per-operation line lists in the order `schedule` names them
/// (each entry picks the list to take the next line from; exhausted lists
/// are skipped; what is left is appended in list order).
pub fn interleave(lists: Vec<Vec<Line>>, schedule: &[usize]) -> Vec<Line> {
    let mut queues: Vec<std::collections::VecDeque<Line>> =
        lists.into_iter().map(Into::into).collect();
    let mut out = Vec::new();
    for pick in schedule {
        let n = queues.len();
        if let Some(queue) = (0..n)
            .map(|k| (pick + k) % n)
            .find(|k| !queues[*k].is_empty())
        {
            if let Some(line) = queues[queue].pop_front() {
                out.push(line);
            }
        }
    }
    for queue in queues {
        out.extend(queue);
    }
    out
}

/// Cuts `len` lines into batches at the given cut points.
pub fn cut(len: usize, cuts: &[Index]) -> Vec<usize> {
    if len == 0 {
        return Vec::new();
    }
    let mut points: BTreeSet<usize> = cuts.iter().map(|c| c.index(len)).collect();
    points.insert(len);
    points.remove(&0);
    let mut previous = 0;
    points
        .into_iter()
        .map(|p| {
            let size = p - previous;
            previous = p;
            size
        })
        .collect()
}

/// Valid histories of one to three operations, interleaved and cut into
/// up to four batches.
pub fn history() -> impl Strategy<Value = History> {
    history_of(1..=3, 24)
}

/// Valid histories of `operations` operations with up to `max_actions`
/// actions each.
pub fn history_of(
    operations: std::ops::RangeInclusive<usize>,
    max_actions: usize,
) -> impl Strategy<Value = History> {
    history_sized(operations, 0, max_actions)
}

/// Valid histories with `min_actions..=max_actions` actions per operation.
pub fn history_sized(
    operations: std::ops::RangeInclusive<usize>,
    min_actions: usize,
    max_actions: usize,
) -> impl Strategy<Value = History> {
    operations
        .prop_flat_map(move |n| {
            (
                (0..n)
                    .map(|i| operation_history_sized(i, min_actions, max_actions))
                    .collect::<Vec<_>>(),
                proptest::collection::vec(0..n, 0..=n * (max_actions + 4)),
                proptest::collection::vec(any::<Index>(), 0..4),
            )
        })
        .prop_map(|(lists, schedule, cuts)| {
            let lines = interleave(lists, &schedule);
            let batches = cut(lines.len(), &cuts);
            History { lines, batches }
        })
}

/// The rules an invalid line can break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    NotLaunched,
    AlreadyLaunched,
    AlreadyClosed,
    ClosedToJoins,
    NotParticipant,
    AlreadyParticipant,
    OutsidePeriod,
    UnknownTarget,
    TargetInOtherOperation,
    TargetNotOutcome,
    AlreadyRetracted,
    /// An id already used by a different event.
    IdConflict,
    /// A wrong `expected_version`.
    VersionConflict,
}

impl Rule {
    pub const ALL: [Rule; 13] = [
        Rule::NotLaunched,
        Rule::AlreadyLaunched,
        Rule::AlreadyClosed,
        Rule::ClosedToJoins,
        Rule::NotParticipant,
        Rule::AlreadyParticipant,
        Rule::OutsidePeriod,
        Rule::UnknownTarget,
        Rule::TargetInOtherOperation,
        Rule::TargetNotOutcome,
        Rule::AlreadyRetracted,
        Rule::IdConflict,
        Rule::VersionConflict,
    ];

    /// The input field the ledger names when it refuses the line.
    pub fn field(&self) -> &'static str {
        match self {
            Rule::NotLaunched => "operation",
            Rule::AlreadyLaunched | Rule::AlreadyClosed | Rule::ClosedToJoins => "type",
            Rule::NotParticipant | Rule::AlreadyParticipant => "data.country",
            Rule::OutsidePeriod => "data.occurred_at",
            Rule::UnknownTarget
            | Rule::TargetInOtherOperation
            | Rule::TargetNotOutcome
            | Rule::AlreadyRetracted => "data.event_id",
            Rule::IdConflict => "id",
            Rule::VersionConflict => "expected_version",
        }
    }
}

/// A valid history followed by a batch that breaks one rule on its last line.
#[derive(Clone, Debug)]
pub struct Invalid {
    pub history: History,
    pub rule: Rule,
    /// The refused batch: valid setup lines, then the offending line.
    pub batch: Vec<Line>,
}

/// Replays `lines` of operation `index` into a builder (to continue it).
fn builder_after(lines: &[Line], index: usize) -> Builder {
    let mut builder = Builder::new(index);
    builder.next = 1 << 20; // ids after the history's
    for line in lines.iter().filter(|l| l.operation == OPERATIONS[index]) {
        builder.model.version += 1;
        match line.event_type {
            EventType::OperationLaunched => {
                let day = |field: &str| {
                    NaiveDate::parse_from_str(line.data[field].as_str().unwrap_or(""), "%Y-%m-%d")
                        .ok()
                };
                builder.model.starts_on = day("starts_on");
                builder.model.ends_on = day("ends_on");
                for country in line.data["countries"].as_array().into_iter().flatten() {
                    if let Some(country) = country.as_str() {
                        builder.model.participants.insert(country.to_owned());
                    }
                }
                builder.model.others.push(line.id);
            }
            EventType::CountryJoined => {
                if let Some(country) = line.country() {
                    builder.model.participants.insert(country.to_owned());
                }
                builder.model.others.push(line.id);
            }
            EventType::OperationClosed => {
                builder.model.closed = true;
                builder.model.others.push(line.id);
            }
            EventType::EventRetracted => {
                let target = line.data["event_id"].as_str().unwrap_or("");
                for outcome in &mut builder.model.outcomes {
                    if outcome.0.to_string() == target {
                        outcome.1 = true;
                    }
                }
            }
            _ => builder.model.outcomes.push((line.id, false)),
        }
    }
    builder
}

/// Builds the refused batch for `rule` after `history`, on operation
/// `index` (launched by the history) and another operation `other`.
pub fn violate(history: &History, rule: Rule, outcome: &Outcome, pick: Index) -> Vec<Line> {
    let first = &history.lines[0].operation;
    let index = OPERATIONS
        .iter()
        .position(|o| o == first)
        .unwrap_or_default();
    let mut b = builder_after(&history.lines, index);
    b.lines.clear();
    b.expected_version_every = 0;
    let outsider = |b: &Builder| {
        COUNTRIES
            .iter()
            .find(|c| !b.model.participants.contains(**c))
            .map_or(OUTSIDER, |c| *c)
            .to_owned()
    };
    let mut plain = outcome.clone();
    plain.kind = outcome.kind % 9; // an outcome with a country and a day
    match rule {
        Rule::NotLaunched => {
            // An operation the history never mentions.
            let mut fresh = Builder::new(OPERATIONS.len() - 1);
            fresh.operation = "op-never".to_owned();
            fresh.next = 1 << 28;
            fresh.model.starts_on = Some(first_day());
            fresh.model.ends_on = Some(first_day() + Duration::days(7));
            fresh.model.participants.insert(COUNTRIES[0].to_owned());
            plain.country = 0;
            match outcome.pick % 3 {
                0 => fresh.close(),
                1 => fresh.join(COUNTRIES[1]),
                _ => {
                    fresh.report(&plain);
                }
            }
            return fresh.lines;
        }
        Rule::AlreadyLaunched => {
            b.launch(&Launch {
                countries: [outcome.country].into(),
                start_offset: 0,
                length: 3,
                funded: false,
            });
        }
        Rule::AlreadyClosed => {
            if !b.model.closed {
                b.close();
            }
            b.close();
        }
        Rule::ClosedToJoins => {
            if !b.model.closed {
                b.close();
            }
            let country = if outcome.optional {
                outsider(&b)
            } else {
                COUNTRIES[outcome.country].to_owned()
            };
            b.join(&country);
        }
        Rule::NotParticipant => {
            let country = outsider(&b);
            b.model.participants.insert(country.clone());
            let id = b.report(&plain);
            let line = b.lines.last_mut().expect("reported");
            assert_eq!(line.id, id);
            line.data["country"] = json!(country);
        }
        Rule::AlreadyParticipant => {
            if b.model.closed {
                // Joining a closed operation breaks ClosedToJoins first: use
                // an operation launched in the setup instead.
                let mut fresh = Builder::new(OPERATIONS.len() - 1);
                fresh.operation = "op-fresh".to_owned();
                fresh.next = 1 << 28;
                fresh.expected_version_every = 0;
                fresh.launch(&Launch {
                    countries: [outcome.country].into(),
                    start_offset: 0,
                    length: 3,
                    funded: false,
                });
                fresh.join(COUNTRIES[outcome.country]);
                return fresh.lines;
            }
            let participants: Vec<String> = b.model.participants.iter().cloned().collect();
            let country = participants[pick.index(participants.len())].clone();
            b.join(&country);
        }
        Rule::OutsidePeriod => {
            let starts_on = b.model.starts_on.unwrap_or_else(first_day);
            let ends_on = b.model.ends_on.unwrap_or(starts_on);
            // Just outside, on either side, sometimes only through the offset:
            // a local date inside the period whose UTC day is outside.
            let at = match outcome.pick % 4 {
                0 => format!("{}T10:00:00Z", starts_on - Duration::days(1)),
                1 => format!("{}T10:00:00Z", ends_on + Duration::days(1)),
                2 => format!("{starts_on}T00:30:00+02:00"),
                _ => format!("{ends_on}T23:30:00-02:00"),
            };
            plain.kind = 2 + outcome.kind % 7; // dated outcomes only
            let id = b.report(&plain);
            let line = b.lines.last_mut().expect("reported");
            assert_eq!(line.id, id);
            line.data["occurred_at"] = json!(at);
        }
        Rule::UnknownTarget => {
            b.retract(Uuid::from_u128(0xdead_0000 + pick.index(1000) as u128));
        }
        Rule::TargetInOtherOperation => {
            // An outcome of another operation, launched in the setup if need be.
            let mut other = builder_after(&history.lines, (index + 1) % OPERATIONS.len());
            other.lines.clear();
            other.expected_version_every = 0;
            other.next = 1 << 24;
            if other.model.starts_on.is_none() {
                other.launch(&Launch {
                    countries: [0].into(),
                    start_offset: 0,
                    length: 3,
                    funded: false,
                });
            }
            let open: Vec<Uuid> = other
                .model
                .outcomes
                .iter()
                .filter(|o| !o.1)
                .map(|o| o.0)
                .collect();
            let target = if open.is_empty() || outcome.optional {
                other.report(&plain)
            } else {
                open[pick.index(open.len())]
            };
            let mut batch = other.lines;
            b.retract(target);
            batch.extend(b.lines);
            return batch;
        }
        Rule::TargetNotOutcome => {
            if outcome.optional && !b.model.closed {
                b.close();
            }
            let target = b.model.others[pick.index(b.model.others.len())];
            b.retract(target);
        }
        Rule::AlreadyRetracted => {
            let retracted: Vec<Uuid> = b
                .model
                .outcomes
                .iter()
                .filter(|o| o.1)
                .map(|o| o.0)
                .collect();
            let target = if retracted.is_empty() || outcome.optional {
                let id = b.report(&plain);
                b.retract(id);
                id
            } else {
                retracted[pick.index(retracted.len())]
            };
            b.retract(target);
        }
        Rule::IdConflict => {
            // An id the history used, for a different event.
            let used = &history.lines[pick.index(history.lines.len())];
            b.report(&plain);
            let other_country = outsider(&b);
            let line = b.lines.last_mut().expect("reported");
            line.id = used.id;
            if line.operation == used.operation
                && line.event_type == used.event_type
                && line.canonical_data() == used.canonical_data()
            {
                // The very same event would be a duplicate: make it differ.
                line.data["country"] = json!(other_country);
            }
        }
        Rule::VersionConflict => {
            b.report(&plain);
            // The version before the offending line (a join may precede it).
            let actual = b.model.version - 1;
            let wrong = if outcome.optional || actual == 0 {
                actual + 1 + pick.index(3) as u64
            } else {
                pick.index(actual as usize) as u64
            };
            b.lines.last_mut().expect("reported").expected_version = Some(wrong);
        }
    }
    b.lines
}

/// Invalid histories: every rule, after a valid history.
pub fn invalid() -> impl Strategy<Value = Invalid> {
    (
        history_of(1..=2, 12),
        proptest::sample::select(Rule::ALL.to_vec()),
        outcome(),
        any::<Index>(),
    )
        .prop_map(|(history, rule, outcome, pick)| {
            let batch = violate(&history, rule, &outcome, pick);
            Invalid {
                history,
                rule,
                batch,
            }
        })
}

/// An outcome for an operation of the history, valid at its end, and its
/// retraction (ids outside the history's).
pub fn outcome_and_retraction(history: &History, outcome: &Outcome, which: Index) -> Vec<Line> {
    let operations: Vec<String> = history.operations().into_iter().collect();
    let slug = &operations[which.index(operations.len())];
    let index = OPERATIONS
        .iter()
        .position(|o| o == slug)
        .unwrap_or_default();
    let mut b = builder_after(&history.lines, index);
    b.lines.clear();
    b.expected_version_every = 0;
    // From a participant: a join would change the figures by itself.
    let participants: Vec<usize> = (0..COUNTRIES.len())
        .filter(|c| b.model.participants.contains(COUNTRIES[*c]))
        .collect();
    let mut outcome = outcome.clone();
    outcome.country = participants[outcome.country % participants.len()];
    let id = b.report(&outcome);
    b.retract(id);
    b.lines
}

pub fn any_outcome() -> impl Strategy<Value = Outcome> {
    outcome()
}

/// Counts, over samples, how often each property of interest occurs.
pub type Check<'a, T> = (&'a str, &'a dyn Fn(&T) -> bool);

/// The share of `samples` passing each named check.
pub fn tally<T>(samples: &[T], tests: &[Check<'_, T>]) -> BTreeMap<String, f64> {
    tests
        .iter()
        .map(|(name, test)| {
            let hits = samples.iter().filter(|s| test(s)).count();
            (
                (*name).to_owned(),
                hits as f64 / samples.len().max(1) as f64,
            )
        })
        .collect()
}

/// Draws `n` values from a strategy with a fixed seed.
pub fn sample<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..n)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("generate a value")
                .current()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use event_store::{EventStore, MemoryStore};
    use ledger::{AppendOptions, LedgerError};

    use super::*;

    fn options(batch: usize) -> AppendOptions {
        AppendOptions {
            recorded_by: "generator".into(),
            stamp: event_store::Stamp::At(
                chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
                    .expect("time")
                    .with_timezone(&chrono::Utc)
                    + Duration::seconds(batch as i64),
            ),
        }
    }

    /// Every line of a sample of generated histories is accepted: the
    /// generator only produces valid histories.
    #[test]
    fn generated_histories_are_accepted() {
        for history in sample(history(), 200) {
            let store = MemoryStore::new();
            for (n, batch) in history.batches().into_iter().enumerate() {
                ledger::append(&store, Cursor::new(input(batch)), &options(n))
                    .unwrap_or_else(|e| panic!("{e}\n{history:#?}"));
            }
            assert_eq!(
                store.head().expect("head").position,
                history.lines.len() as u64
            );
        }
    }

    /// The distribution covers the interesting cases: counting assertions
    /// over 1000 histories (the numbers seen are in docs/property-tests.md).
    #[test]
    fn the_history_distribution_is_not_vacuous() {
        let samples = sample(history(), 1000);
        let seen = tally(
            &samples,
            &[
                ("retraction", &|h: &History| h.has_retraction()),
                ("late report", &|h: &History| h.has_late_report()),
                ("join", &|h: &History| h.has_join()),
                ("interleaved", &|h: &History| h.is_interleaved()),
                ("several batches", &|h: &History| h.batches.len() > 1),
                ("closed", &|h: &History| {
                    h.lines
                        .iter()
                        .any(|l| l.event_type == EventType::OperationClosed)
                }),
                ("expected_version", &|h: &History| {
                    h.lines.iter().any(|l| l.expected_version.is_some())
                }),
                ("utc day shifted", &|h: &History| {
                    h.lines.iter().any(|l| {
                        l.data
                            .get("occurred_at")
                            .and_then(Value::as_str)
                            .is_some_and(|t| t.ends_with("-02:00") || t.ends_with("+02:00"))
                    })
                }),
            ],
        );
        eprintln!("history distribution over 1000 samples: {seen:?}");
        let lengths: Vec<usize> = samples.iter().map(|h| h.lines.len()).collect();
        eprintln!(
            "lines per history: min {} mean {:.1} max {}",
            lengths.iter().min().unwrap_or(&0),
            lengths.iter().sum::<usize>() as f64 / lengths.len() as f64,
            lengths.iter().max().unwrap_or(&0)
        );
        assert!(seen["retraction"] >= 0.30, "{seen:?}");
        assert!(seen["late report"] >= 0.10, "{seen:?}");
        assert!(seen["join"] >= 0.30, "{seen:?}");
        assert!(seen["interleaved"] >= 0.30, "{seen:?}");
        assert!(seen["several batches"] >= 0.30, "{seen:?}");
        assert!(seen["utc day shifted"] >= 0.30, "{seen:?}");
        let mut types = BTreeSet::new();
        for history in &samples {
            types.extend(history.lines.iter().map(|l| l.event_type));
        }
        assert_eq!(types.len(), EventType::ALL.len(), "every type occurs");
    }

    /// Every rule's generator produces a line the ledger refuses for that rule.
    #[test]
    fn every_rule_is_generated() {
        let samples = sample(invalid(), 600);
        let mut per_rule: BTreeMap<Rule, usize> = BTreeMap::new();
        for case in &samples {
            *per_rule.entry(case.rule).or_default() += 1;
        }
        eprintln!("invalid cases per rule over 600 samples: {per_rule:?}");
        assert_eq!(per_rule.len(), Rule::ALL.len());
        assert!(per_rule.values().all(|n| *n >= 20), "{per_rule:?}");
        // Each is refused (the property in projection_laws checks the details).
        for case in samples.iter().take(100) {
            let store = MemoryStore::new();
            for (n, batch) in case.history.batches().into_iter().enumerate() {
                ledger::append(&store, Cursor::new(input(batch)), &options(n)).expect("valid");
            }
            let refused = ledger::append(&store, Cursor::new(input(&case.batch)), &options(9));
            assert!(
                matches!(
                    refused,
                    Err(LedgerError::Refused { .. } | LedgerError::Conflict { .. })
                ),
                "{case:#?}: {refused:?}"
            );
        }
    }
}
