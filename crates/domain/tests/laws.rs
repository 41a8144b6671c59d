//! Laws of the domain, as properties: the wire format round-trips and is
//! stable (a golden file guards it), and the rules accept every valid history
//! event by event, refuse every generated violation without changing state,
//! and replay to the same state however the history is replayed.

use std::collections::{BTreeMap, BTreeSet};

use domain::{Event, EventType, EventView, Operation, Refusal, RetractionTarget, Slug};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};
use uuid::Uuid;

/// `cases` in CI, scaled by `PROPTEST_CASES` relative to proptest's 256.
fn config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let scaled = u64::from(cases) * u64::from(default.cases) / 256;
    ProptestConfig {
        cases: u32::try_from(scaled.max(1)).unwrap_or(u32::MAX),
        max_shrink_iters: 4096,
        ..default
    }
}

const GOLDEN: &str = include_str!("golden/events-v1.jsonl");

/// Splits a golden line `{"type":"T","data":D}` into T and D.
fn split_golden(line: &str) -> (&str, &str) {
    let rest = line
        .strip_prefix("{\"type\":\"")
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not a golden line: {line}"));
    rest.split_once("\",\"data\":")
        .unwrap_or_else(|| panic!("not a golden line: {line}"))
}

#[test]
fn the_golden_events_are_read_and_rewritten_byte_for_byte() {
    let mut types = BTreeSet::new();
    for line in GOLDEN.lines() {
        let (event_type, data) = split_golden(line);
        let event = Event::parse(event_type, data).unwrap_or_else(|e| panic!("{line}: {e}"));
        let rewritten = format!(
            "{{\"type\":\"{}\",\"data\":{}}}",
            event.event_type(),
            event.data_json()
        );
        assert_eq!(rewritten, line, "the wire format of {event_type} changed");
        let kind = EventType::parse(event_type).expect("type");
        assert_eq!(
            EventView::decode(kind, data),
            Ok(EventView::of(&event)),
            "{event_type}"
        );
        assert!(
            types.insert(kind),
            "{event_type} is in the golden file twice"
        );
    }
    let all: BTreeSet<EventType> = EventType::ALL.iter().copied().collect();
    assert_eq!(types, all, "the golden file has one event of each type");
}

// ---- Events: every type, from a small vocabulary, in non-canonical input forms.

const COUNTRIES: [&str; 4] = ["AL", "RS", "TR", "FR"];
const TIMES: [&str; 5] = [
    "2019-12-10T10:00:00Z",
    "2019-12-10T10:00:00+00:00",
    "2019-12-10T23:30:00-02:00",
    "2019-12-11T00:30:00+02:00",
    "2019-12-12T12:00:00.250+01:00",
];
const AMOUNTS: [(&str, &str); 5] = [
    ("EUR", "7000"),
    ("EUR", "12.5"),
    ("USD", "200000.00"),
    ("JPY", "5000"),
    ("EUR", "0.05"),
];

/// The data of an event of type `kind`, with or without its optional fields
/// (absent, or present as `null` when `nulls`).
fn event_data(kind: EventType, pick: usize, n: u64, optional: bool, nulls: bool) -> Value {
    let country = COUNTRIES[pick % COUNTRIES.len()];
    let at = TIMES[pick % TIMES.len()];
    let (currency, amount) = AMOUNTS[pick % AMOUNTS.len()];
    let mut data = match kind {
        EventType::OperationLaunched => json!({
            "name": "Operation Theseus", "coordinator": "INTERPOL",
            "countries": [country, "XK"], "starts_on": "2019-12-09", "ends_on": "2019-12-16"}),
        EventType::CountryJoined => json!({"country": country}),
        EventType::AgentsDeployed => json!({"country": country, "count": n}),
        EventType::ExpertsDeployed => {
            json!({"organisation": "Frontex", "country": country, "count": n})
        }
        EventType::ArrestMade => json!({"country": country, "occurred_at": at,
            "location": "road", "suspect": format!("S-{n}")}),
        EventType::VictimRescued => json!({"country": country, "occurred_at": at,
            "location": "airport", "victim": format!("V-{n}")}),
        EventType::MigrantsDetected => json!({"country": country, "occurred_at": at,
            "location": "seaport", "count": n}),
        EventType::ChecksPerformed => json!({"country": country, "occurred_at": at,
            "kind": "vehicle", "count": n}),
        EventType::ItemsSeized => json!({"country": country, "occurred_at": at,
            "item": "boat", "count": n}),
        EventType::DrugsSeized => json!({"country": country, "occurred_at": at, "grams": n}),
        EventType::CashSeized => json!({"country": country, "occurred_at": at,
            "currency": currency, "amount": amount}),
        EventType::NetworkProfiled => json!({"network": format!("net-{}", pick % 3)}),
        EventType::OperationClosed => json!({}),
        EventType::EventRetracted => json!({
            "event_id": Uuid::from_u128(u128::from(n)).to_string(), "reason": "duplicate"}),
    };
    let optional_fields: Vec<(&str, Value)> = match kind {
        EventType::OperationLaunched => vec![
            ("funded_by", json!("EU ISF")),
            ("focus", json!(["migrant_smuggling"])),
        ],
        EventType::ArrestMade => vec![
            ("network", json!("net-1")),
            ("offences", json!(["drugs", "firearms"])),
        ],
        EventType::VictimRescued => vec![
            ("minor", json!(pick.is_multiple_of(2))),
            ("nationality", json!("SY")),
            ("exploitation", json!("sexual")),
        ],
        EventType::ItemsSeized => vec![("location", json!("border_crossing"))],
        EventType::DrugsSeized => vec![("substance", json!("heroin"))],
        EventType::NetworkProfiled => vec![
            ("people_smuggled_estimate", json!(n)),
            ("max_fee", json!({"currency": currency, "amount": amount})),
            ("destination", json!("GB")),
            ("method", json!("lorries")),
        ],
        _ => vec![],
    };
    for (field, value) in optional_fields {
        if optional {
            data[field] = value;
        } else if nulls {
            data[field] = Value::Null;
        }
    }
    data
}

fn any_event() -> impl Strategy<Value = (EventType, Value)> {
    (
        proptest::sample::select(EventType::ALL.to_vec()),
        0usize..20,
        1u64..1_000_000,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(kind, pick, n, optional, nulls)| {
            (kind, event_data(kind, pick, n, optional, nulls))
        })
}

proptest! {
    #![proptest_config(config(512))]

    /// Every event type round-trips through its JSON form: read, written
    /// canonically, read again gives the same event, and writing is stable.
    /// The replay view of the canonical form agrees with the strict reading.
    #[test]
    fn events_round_trip_through_their_canonical_json((kind, data) in any_event()) {
        let event = Event::parse(kind.as_str(), &data.to_string())
            .map_err(|e| TestCaseError::fail(format!("{data}: {e}")))?;
        prop_assert_eq!(event.event_type(), kind);
        let canonical = event.data_json();
        let again = Event::parse(kind.as_str(), &canonical)
            .map_err(|e| TestCaseError::fail(format!("{canonical}: {e}")))?;
        prop_assert_eq!(&again, &event);
        prop_assert_eq!(again.data_json(), canonical.clone());
        prop_assert!(!canonical.contains("null"), "absent optional fields are left out");
        prop_assert_eq!(EventView::decode(kind, &canonical), Ok(EventView::of(&event)));
    }
}

// ---- Rules: one operation's histories, valid and invalid.

/// A history as the rules see it: events with ids.
#[derive(Clone, Debug)]
struct Step {
    id: Uuid,
    event: Event,
}

fn parse(kind: EventType, data: Value) -> Event {
    Event::parse(kind.as_str(), &data.to_string()).expect("generated a valid event")
}

/// What happens after the launch.
#[derive(Clone, Debug)]
enum Action {
    Join(usize),
    Report(usize, usize, u64),
    Retract(Index),
    Close,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => (0..COUNTRIES.len()).prop_map(Action::Join),
        8 => (2usize..12, 0usize..20, 1u64..1000).prop_map(|(k, p, n)| Action::Report(k, p, n)),
        3 => any::<Index>().prop_map(Action::Retract),
        1 => Just(Action::Close),
    ]
}

/// Realises actions into a valid history of operation `op`: outcomes only
/// from participants (a non-participant joins first while the operation is
/// open), retractions only of outcomes not yet retracted.
fn realise(launched: usize, actions: &[Action]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut id = 0u128;
    let mut push = |steps: &mut Vec<Step>, event: Event| {
        id += 1;
        steps.push(Step {
            id: Uuid::from_u128(id),
            event,
        });
    };
    let mut participants: BTreeSet<&str> = [COUNTRIES[launched], "XK"].into();
    let mut closed = false;
    let mut open: Vec<Uuid> = Vec::new();
    let mut launch = event_data(EventType::OperationLaunched, launched, 1, false, false);
    launch["countries"] = json!([COUNTRIES[launched], "XK"]);
    push(&mut steps, parse(EventType::OperationLaunched, launch));
    for action in actions {
        match action {
            Action::Join(c) if !closed && !participants.contains(COUNTRIES[*c]) => {
                participants.insert(COUNTRIES[*c]);
                push(
                    &mut steps,
                    parse(EventType::CountryJoined, json!({"country": COUNTRIES[*c]})),
                );
            }
            Action::Report(kind, pick, n) => {
                let kind = EventType::ALL[*kind];
                let mut data = event_data(kind, *pick, *n, pick % 2 == 0, false);
                if let Some(country) = data.get("country").and_then(Value::as_str) {
                    let country = country.to_owned();
                    if !participants.contains(country.as_str()) {
                        if closed {
                            data["country"] = json!("XK");
                        } else {
                            let c = COUNTRIES.iter().position(|c| *c == country).unwrap_or(0);
                            participants.insert(COUNTRIES[c]);
                            push(
                                &mut steps,
                                parse(EventType::CountryJoined, json!({"country": country})),
                            );
                        }
                    }
                }
                push(&mut steps, parse(kind, data));
                open.push(Uuid::from_u128(steps.len() as u128));
            }
            Action::Retract(index) if !open.is_empty() => {
                let target = open.remove(index.index(open.len()));
                push(
                    &mut steps,
                    parse(
                        EventType::EventRetracted,
                        json!({"event_id": target.to_string(), "reason": "duplicate"}),
                    ),
                );
            }
            Action::Close if !closed => {
                closed = true;
                push(&mut steps, Event::OperationClosed);
            }
            _ => {}
        }
    }
    steps
}

fn history() -> impl Strategy<Value = Vec<Step>> {
    (
        0..COUNTRIES.len(),
        proptest::collection::vec(action(), 0..40),
    )
        .prop_map(|(launched, actions)| realise(launched, &actions))
}

fn slug() -> Slug {
    Slug::parse("op-a").expect("slug")
}

/// What the caller would find under a retraction's event id.
fn target_of(steps: &[Step], event: &Event) -> Option<RetractionTarget> {
    let Event::EventRetracted(retraction) = event else {
        return None;
    };
    steps
        .iter()
        .find(|s| s.id == retraction.event_id)
        .map(|s| RetractionTarget {
            operation: slug(),
            event_type: s.event.event_type(),
        })
}

/// Decides and applies every step; panics on a refusal.
fn accept_all(steps: &[Step]) -> Result<Operation, TestCaseError> {
    let mut operation = Operation::new(slug());
    for (i, step) in steps.iter().enumerate() {
        let target = target_of(&steps[..i], &step.event);
        operation
            .decide(&step.event, target.as_ref())
            .map_err(|r| TestCaseError::fail(format!("step {} refused: {r}", i + 1)))?;
        operation.apply(&step.event);
    }
    Ok(operation)
}

fn replay(steps: &[Step]) -> Operation {
    let mut operation = Operation::new(slug());
    for step in steps {
        operation.apply(&step.event);
    }
    operation
}

/// A rule and the event that breaks it after a history.
fn violation(
    steps: &[Step],
    rule: usize,
    pick: Index,
) -> (Event, Option<RetractionTarget>, &'static str) {
    let state = replay(steps);
    let outsider = COUNTRIES
        .iter()
        .find(|c| !state.participants.iter().any(|p| p.code() == **c))
        .copied()
        .unwrap_or("NL");
    let participant = state
        .participants
        .iter()
        .next()
        .map(|c| c.code().to_owned())
        .unwrap_or_default();
    let retract = |id: Uuid| {
        parse(
            EventType::EventRetracted,
            json!({"event_id": id.to_string(), "reason": "x"}),
        )
    };
    let period = state.launched.expect("launched");
    match rule {
        0 => (
            parse(
                EventType::OperationLaunched,
                event_data(EventType::OperationLaunched, 0, 1, false, false),
            ),
            None,
            "AlreadyLaunched",
        ),
        1 => (
            parse(
                EventType::AgentsDeployed,
                json!({"country": outsider, "count": 1}),
            ),
            None,
            "NotParticipant",
        ),
        2 => {
            let day = if pick.index(2) == 0 {
                format!("{}T00:30:00+02:00", period.starts_on)
            } else {
                format!("{}T23:30:00-02:00", period.ends_on)
            };
            (
                parse(
                    EventType::MigrantsDetected,
                    json!({"country": participant,
                "occurred_at": day, "location": "road", "count": 1}),
                ),
                None,
                "OutsidePeriod",
            )
        }
        3 => (retract(Uuid::from_u128(0xdead)), None, "UnknownTarget"),
        4 => {
            let step = &steps[pick.index(steps.len())];
            (
                retract(step.id),
                Some(RetractionTarget {
                    operation: Slug::parse("op-b").expect("slug"),
                    event_type: step.event.event_type(),
                }),
                "TargetInOtherOperation",
            )
        }
        5 => {
            let others: Vec<&Step> = steps
                .iter()
                .filter(|s| {
                    !s.event.event_type().is_outcome()
                        && s.event.event_type() != EventType::EventRetracted
                })
                .collect();
            let step = others[pick.index(others.len())];
            (
                retract(step.id),
                target_of(steps, &retract(step.id)),
                "TargetNotOutcome",
            )
        }
        6 if !state.retracted.is_empty() => {
            let ids: Vec<&Uuid> = state.retracted.iter().collect();
            let id = *ids[pick.index(ids.len())];
            (
                retract(id),
                target_of(steps, &retract(id)),
                "AlreadyRetracted",
            )
        }
        9 => {
            // ZWG became current in 2024-04, long after every generated period.
            let event = if pick.index(2) == 0 {
                parse(
                    EventType::CashSeized,
                    json!({"country": participant, "occurred_at": format!("{}T12:00:00Z", period.starts_on),
                        "currency": "ZWG", "amount": "100"}),
                )
            } else {
                parse(
                    EventType::NetworkProfiled,
                    json!({"network": "n", "max_fee": {"currency": "ZWG", "amount": "100"}}),
                )
            };
            (event, None, "CurrencyNotCurrent")
        }
        7 if state.closed => (Event::OperationClosed, None, "AlreadyClosed"),
        8 if state.closed => (
            parse(EventType::CountryJoined, json!({"country": outsider})),
            None,
            "ClosedToJoins",
        ),
        _ if !state.closed => (
            parse(EventType::CountryJoined, json!({"country": participant})),
            None,
            "AlreadyParticipant",
        ),
        _ => (
            parse(EventType::CountryJoined, json!({"country": participant})),
            None,
            "ClosedToJoins",
        ),
    }
}

fn refusal_name(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::NotLaunched(_) => "NotLaunched",
        Refusal::AlreadyLaunched(_) => "AlreadyLaunched",
        Refusal::AlreadyClosed(_) => "AlreadyClosed",
        Refusal::ClosedToJoins(_) => "ClosedToJoins",
        Refusal::NotParticipant { .. } => "NotParticipant",
        Refusal::AlreadyParticipant { .. } => "AlreadyParticipant",
        Refusal::OutsidePeriod { .. } => "OutsidePeriod",
        Refusal::UnknownTarget(_) => "UnknownTarget",
        Refusal::TargetInOtherOperation { .. } => "TargetInOtherOperation",
        Refusal::TargetNotOutcome { .. } => "TargetNotOutcome",
        Refusal::AlreadyRetracted(_) => "AlreadyRetracted",
        Refusal::CurrencyNotCurrent { .. } => "CurrencyNotCurrent",
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Every generated valid history is accepted event by event, and
    /// replaying it (typed, or from the canonical JSON through the replay
    /// view, or in two parts merged) rebuilds the same state each time.
    #[test]
    fn valid_histories_are_accepted_and_replay_to_the_same_state(
        steps in history(),
        split in any::<Index>(),
    ) {
        let decided = accept_all(&steps)?;
        prop_assert_eq!(&replay(&steps), &decided);
        prop_assert_eq!(&replay(&steps), &decided);
        let mut viewed = Operation::new(slug());
        for step in &steps {
            let json = step.event.data_json();
            let view = EventView::decode(step.event.event_type(), &json).expect("decode");
            viewed.apply_view(&view);
        }
        prop_assert_eq!(&viewed, &decided);
        let k = split.index(steps.len() + 1);
        let mut merged = replay(&steps[..k]);
        merged.merge(replay(&steps[k..]));
        prop_assert_eq!(&merged, &decided);
        prop_assert_eq!(decided.version, steps.len() as u64);
    }

    /// Each rule refuses its generated violations with its own refusal, and
    /// the refusal changes no state: the history goes on as if the refused
    /// event had never been offered.
    #[test]
    fn each_rule_refuses_its_violations(
        steps in history(),
        rule in 0usize..11,
        pick in any::<Index>(),
        cut in any::<Index>(),
    ) {
        let k = 1 + cut.index(steps.len());
        let (before, after) = steps.split_at(k);
        let state = replay(before);
        let (event, target, expected) = violation(before, rule, pick);
        let refusal = state.decide(&event, target.as_ref());
        prop_assert_eq!(refusal.as_ref().map_err(refusal_name), Err(expected), "{:?}", event);
        prop_assert_eq!(&state, &replay(before));
        let mut state = state;
        for (i, step) in after.iter().enumerate() {
            let all: Vec<Step> = steps[..k + i].to_vec();
            let target = target_of(&all, &step.event);
            prop_assert_eq!(state.decide(&step.event, target.as_ref()), Ok(()));
            state.apply(&step.event);
        }
        prop_assert_eq!(&state, &replay(&steps));
    }

    /// Nothing but a launch starts an operation.
    #[test]
    fn only_a_launch_starts_an_operation((kind, data) in any_event()) {
        let event = Event::parse(kind.as_str(), &data.to_string()).expect("valid");
        let fresh = Operation::new(slug());
        let decided = fresh.decide(&event, None);
        if kind == EventType::OperationLaunched {
            prop_assert_eq!(decided, Ok(()));
        } else {
            prop_assert_eq!(decided, Err(Refusal::NotLaunched(slug())));
        }
    }
}

/// The generators reach the cases the laws are about.
#[test]
fn the_generators_are_not_vacuous() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let samples = 1000;
    for _ in 0..samples {
        let steps = history().new_tree(&mut runner).expect("tree").current();
        let types: Vec<EventType> = steps.iter().map(|s| s.event.event_type()).collect();
        let closed_at = types.iter().position(|t| *t == EventType::OperationClosed);
        let checks = [
            ("retraction", types.contains(&EventType::EventRetracted)),
            ("join", types.contains(&EventType::CountryJoined)),
            ("close", closed_at.is_some()),
            (
                "late report",
                closed_at.is_some_and(|c| types[c..].iter().any(|t| t.is_outcome())),
            ),
        ];
        for (name, hit) in checks {
            *seen.entry(name).or_default() += usize::from(hit);
        }
    }
    eprintln!("domain histories over {samples} samples: {seen:?}");
    assert!(seen["retraction"] * 100 >= 30 * samples, "{seen:?}");
    assert!(seen["late report"] * 100 >= 10 * samples, "{seen:?}");
    assert!(seen["join"] * 100 >= 30 * samples, "{seen:?}");
}

/// The agency registry against a plain model: a map of agency → (active,
/// token). Drawn from three agencies and four tokens, so that repeats,
/// revocations of unknown agencies and reused tokens are common.
mod registry_laws {
    use std::collections::{BTreeMap, BTreeSet};

    use domain::registry::{
        AgencyId, AgencyRegistered, AgencyRevoked, Grant, Registry, RegistryEvent, RegistryMeta,
        Role, TokenDigest,
    };
    use proptest::prelude::*;

    fn change() -> impl Strategy<Value = RegistryEvent> {
        let agency = prop::sample::select(vec!["rs-police", "al-police", "interpol"]);
        prop_oneof![
            (agency.clone(), 0u8..4).prop_map(|(agency, token)| {
                RegistryEvent::AgencyRegistered(AgencyRegistered {
                    grant: Grant::new(
                        AgencyId::parse(agency).expect("id"),
                        Role::Coordinator,
                        BTreeSet::new(),
                        BTreeSet::new(),
                    )
                    .expect("grant"),
                    token_sha256: TokenDigest([token; 32]),
                })
            }),
            agency.prop_map(|agency| {
                RegistryEvent::AgencyRevoked(AgencyRevoked {
                    agency: AgencyId::parse(agency).expect("id"),
                    reason: None,
                })
            }),
        ]
    }

    fn meta(position: u64) -> RegistryMeta<'static> {
        RegistryMeta {
            position,
            recorded_at: "2020-01-01T00:00:00Z",
            recorded_by: "admin",
        }
    }

    /// (active, token) per agency, ever registered.
    type Model = BTreeMap<String, (bool, u8)>;

    fn model_accepts(model: &Model, event: &RegistryEvent) -> bool {
        match event {
            RegistryEvent::AgencyRegistered(e) => {
                let id = e.grant.agency.as_str();
                let active = model.get(id).is_some_and(|(active, _)| *active);
                let reused = model
                    .values()
                    .any(|(_, token)| *token == e.token_sha256.0[0]);
                !active && !reused
            }
            RegistryEvent::AgencyRevoked(e) => model
                .get(e.agency.as_str())
                .is_some_and(|(active, _)| *active),
            // Signing keys have their own tests beside the registry.
            _ => false,
        }
    }

    fn model_apply(model: &mut Model, event: &RegistryEvent) {
        match event {
            RegistryEvent::AgencyRegistered(e) => {
                model.insert(
                    e.grant.agency.as_str().to_owned(),
                    (true, e.token_sha256.0[0]),
                );
            }
            RegistryEvent::AgencyRevoked(e) => {
                if let Some(entry) = model.get_mut(e.agency.as_str()) {
                    entry.0 = false;
                }
            }
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(super::config(256))]

        /// `decide` accepts exactly what the model accepts; a refused
        /// change leaves the registry unchanged; the accepted history's
        /// registry says of every agency what the model says.
        #[test]
        fn decide_agrees_with_the_model(changes in prop::collection::vec(change(), 0..24)) {
            let mut registry = Registry::default();
            let mut model = Model::new();
            let mut position = 0;
            for event in &changes {
                let before = registry.clone();
                let accepted = registry.decide(event).is_ok();
                prop_assert_eq!(accepted, model_accepts(&model, event), "{:?}", event);
                prop_assert_eq!(&registry, &before);
                if accepted {
                    position += 1;
                    registry.apply(&meta(position), event);
                    model_apply(&mut model, event);
                }
            }
            prop_assert_eq!(registry.version, position);
            for (id, (active, token)) in &model {
                let agency = registry.agency(&AgencyId::parse(id).expect("id")).expect("known");
                let registration = agency.active();
                prop_assert_eq!(registration.is_some(), *active);
                let registered = agency.registration.as_ref().expect("registered once");
                prop_assert_eq!(registered.token_sha256.0[0], *token);
            }
        }

        /// Folding a history in two parts and merging them equals folding it
        /// whole, wherever it is cut (what replay in parallel parts relies on).
        #[test]
        fn parts_merge_to_the_whole(changes in prop::collection::vec(change(), 0..24), cut in any::<prop::sample::Index>()) {
            let fold = |events: &[RegistryEvent], first: u64| {
                let mut registry = Registry::default();
                for (i, event) in events.iter().enumerate() {
                    registry.apply(&meta(first + i as u64), event);
                }
                registry
            };
            let cut = cut.index(changes.len() + 1);
            let mut merged = fold(&changes[..cut], 1);
            merged.merge(fold(&changes[cut..], 1 + cut as u64));
            prop_assert_eq!(merged, fold(&changes, 1));
        }

        /// Every change reads back from its canonical text.
        #[test]
        fn changes_round_trip(event in change()) {
            let text = event.data_json();
            let read = RegistryEvent::parse_canonical(event.event_type().as_str(), &text);
            prop_assert_eq!(read.ok(), Some(event));
        }
    }
}
