//! The catalogue's fields as data: for each event type, its data fields in
//! canonical order, what kind of value each takes and whether it is
//! required.
//!
//! The strict reader ([`crate::Event::from_json`]) takes its lists of
//! allowed fields from here, and the laws below check that it reads each
//! field as the kind says (required fields missing are refused, optional
//! ones may be absent or null, a value of another JSON type is refused), so
//! that what is derived from this table cannot drift from what is accepted:
//! the JSON Schema of an input line ([`crate::schema`]), the columns of a
//! CSV import and the flags of `theseus record`.

use crate::{CheckKind, EventType, Exploitation, Item, Location, Offence};

/// What one data field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text: 1 to [`crate::MAX_TEXT_CHARS`] characters.
    Text,
    /// A pseudonymous reference to a person: 1 to 128 characters.
    Pseudonym,
    /// An ISO 3166-1 alpha-2 code, or XK.
    Country,
    /// A non-empty list of countries, none twice.
    Countries,
    /// `YYYY-MM-DD`.
    Day,
    /// RFC 3339 with an offset.
    Instant,
    /// A whole number from 1 to 2^64 − 1.
    Count,
    /// `true` or `false`.
    Bool,
    /// An ISO 4217 code.
    Currency,
    /// A decimal amount as a string, with at most the currency's minor digits.
    Amount,
    /// An object `{"currency", "amount"}`.
    Money,
    /// One of [`Location`].
    Location,
    /// One of [`CheckKind`].
    CheckKind,
    /// One of [`Item`].
    Item,
    /// One of [`Exploitation`].
    Exploitation,
    /// A list of [`Offence`], none twice.
    Offences,
    /// A list of lower-case tokens (`^[a-z][a-z0-9_]{0,63}$`), none twice.
    Tokens,
    /// The UUID of an earlier event, hyphenated.
    EventId,
}

impl FieldKind {
    /// The words a vocabulary field takes (for a list: its items).
    pub fn words(&self) -> Option<Vec<&'static str>> {
        fn all<T: Copy>(items: &[T], word: fn(&T) -> &'static str) -> Option<Vec<&'static str>> {
            Some(items.iter().map(word).collect())
        }
        match self {
            FieldKind::Location => all(Location::ALL, Location::as_str),
            FieldKind::CheckKind => all(CheckKind::ALL, CheckKind::as_str),
            FieldKind::Item => all(Item::ALL, Item::as_str),
            FieldKind::Exploitation => all(Exploitation::ALL, Exploitation::as_str),
            FieldKind::Offences => all(Offence::ALL, Offence::as_str),
            _ => None,
        }
    }

    /// True for the kinds written as a JSON array.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            FieldKind::Countries | FieldKind::Offences | FieldKind::Tokens
        )
    }

    /// What a value of this kind looks like, for help texts (`<COUNTRY>`).
    pub fn value_name(&self) -> &'static str {
        match self {
            FieldKind::Text => "TEXT",
            FieldKind::Pseudonym => "REFERENCE",
            FieldKind::Country => "COUNTRY",
            FieldKind::Countries => "COUNTRY",
            FieldKind::Day => "YYYY-MM-DD",
            FieldKind::Instant => "TIME",
            FieldKind::Count => "N",
            FieldKind::Bool => "true|false",
            FieldKind::Currency => "CURRENCY",
            FieldKind::Amount => "AMOUNT",
            FieldKind::Money => "CURRENCY AMOUNT",
            FieldKind::Location => "LOCATION",
            FieldKind::CheckKind => "KIND",
            FieldKind::Item => "ITEM",
            FieldKind::Exploitation => "EXPLOITATION",
            FieldKind::Offences => "OFFENCE",
            FieldKind::Tokens => "TOKEN",
            FieldKind::EventId => "UUID",
        }
    }
}

/// One data field of an event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    /// One line for people (schema descriptions, `--help`).
    pub about: &'static str,
}

impl AsRef<str> for FieldSpec {
    fn as_ref(&self) -> &str {
        self.name
    }
}

const fn required(name: &'static str, kind: FieldKind, about: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: true,
        about,
    }
}

const fn optional(name: &'static str, kind: FieldKind, about: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: false,
        about,
    }
}

use FieldKind as K;

const COUNTRY: FieldSpec = required("country", K::Country, "the reporting participant country");
const OCCURRED_AT: FieldSpec = required(
    "occurred_at",
    K::Instant,
    "when it happened (its UTC date must fall in the operation's period)",
);
const LOCATION: FieldSpec = required("location", K::Location, "the kind of place");

const OPERATION_LAUNCHED: [FieldSpec; 7] = [
    required("name", K::Text, "the operation's name"),
    required(
        "coordinator",
        K::Text,
        "who coordinates it (INTERPOL, EUROPOL…)",
    ),
    required("countries", K::Countries, "the participating countries"),
    required("starts_on", K::Day, "the first day of the period"),
    required("ends_on", K::Day, "the last day of the period (inclusive)"),
    optional("funded_by", K::Text, "who funds it"),
    optional("focus", K::Tokens, "what it targets, as snake_case tokens"),
];
const COUNTRY_JOINED: [FieldSpec; 1] = [required(
    "country",
    K::Country,
    "the country joining the operation",
)];
const AGENTS_DEPLOYED: [FieldSpec; 2] =
    [COUNTRY, required("count", K::Count, "the number of agents")];
const EXPERTS_DEPLOYED: [FieldSpec; 3] = [
    required("organisation", K::Text, "whose experts"),
    required("country", K::Country, "where they were deployed"),
    required("count", K::Count, "the number of experts"),
];
const ARREST_MADE: [FieldSpec; 6] = [
    COUNTRY,
    OCCURRED_AT,
    LOCATION,
    required(
        "suspect",
        K::Pseudonym,
        "the suspect's pseudonymous case reference (never printed)",
    ),
    optional("network", K::Text, "the network the suspect belongs to"),
    optional("offences", K::Offences, "what the arrest is for"),
];
const VICTIM_RESCUED: [FieldSpec; 7] = [
    COUNTRY,
    OCCURRED_AT,
    LOCATION,
    required(
        "victim",
        K::Pseudonym,
        "the victim's pseudonymous case reference (never printed)",
    ),
    optional("minor", K::Bool, "whether the victim is a minor"),
    optional("nationality", K::Country, "the victim's nationality"),
    optional("exploitation", K::Exploitation, "the form of exploitation"),
];
const MIGRANTS_DETECTED: [FieldSpec; 4] = [
    COUNTRY,
    OCCURRED_AT,
    LOCATION,
    required("count", K::Count, "the number of migrants"),
];
const CHECKS_PERFORMED: [FieldSpec; 4] = [
    COUNTRY,
    OCCURRED_AT,
    required("kind", K::CheckKind, "what was checked"),
    required("count", K::Count, "the number of checks"),
];
const ITEMS_SEIZED: [FieldSpec; 5] = [
    COUNTRY,
    OCCURRED_AT,
    optional("location", K::Location, "the kind of place"),
    required("item", K::Item, "what was seized"),
    required("count", K::Count, "how many"),
];
const DRUGS_SEIZED: [FieldSpec; 4] = [
    COUNTRY,
    OCCURRED_AT,
    optional("substance", K::Text, "which drug"),
    required("grams", K::Count, "the weight in grams"),
];
const CASH_SEIZED: [FieldSpec; 4] = [
    COUNTRY,
    OCCURRED_AT,
    required(
        "currency",
        K::Currency,
        "an ISO 4217 code current on the UTC date of occurred_at",
    ),
    required(
        "amount",
        K::Amount,
        "a decimal string with at most the currency's minor digits",
    ),
];
const NETWORK_PROFILED: [FieldSpec; 5] = [
    required("network", K::Text, "the network's reference"),
    optional(
        "people_smuggled_estimate",
        K::Count,
        "how many people it smuggled, as estimated",
    ),
    optional(
        "max_fee",
        K::Money,
        "the highest fee it charged (a currency current on some day of the operation's period)",
    ),
    optional("destination", K::Country, "where it took people"),
    optional("method", K::Text, "how"),
];
const EVENT_RETRACTED: [FieldSpec; 2] = [
    required(
        "event_id",
        K::EventId,
        "the earlier outcome event of the same operation that no longer counts",
    ),
    required("reason", K::Text, "why"),
];

impl EventType {
    /// The type's data fields, in canonical order.
    pub fn fields(&self) -> &'static [FieldSpec] {
        match self {
            EventType::OperationLaunched => &OPERATION_LAUNCHED,
            EventType::CountryJoined => &COUNTRY_JOINED,
            EventType::AgentsDeployed => &AGENTS_DEPLOYED,
            EventType::ExpertsDeployed => &EXPERTS_DEPLOYED,
            EventType::ArrestMade => &ARREST_MADE,
            EventType::VictimRescued => &VICTIM_RESCUED,
            EventType::MigrantsDetected => &MIGRANTS_DETECTED,
            EventType::ChecksPerformed => &CHECKS_PERFORMED,
            EventType::ItemsSeized => &ITEMS_SEIZED,
            EventType::DrugsSeized => &DRUGS_SEIZED,
            EventType::CashSeized => &CASH_SEIZED,
            EventType::NetworkProfiled => &NETWORK_PROFILED,
            EventType::OperationClosed => &[],
            EventType::EventRetracted => &EVENT_RETRACTED,
        }
    }

    /// The field of this type named `name`.
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields().iter().find(|field| field.name == name)
    }

    /// One line saying what the event reports.
    pub fn about(&self) -> &'static str {
        match self {
            EventType::OperationLaunched => "an operation starts: its first event",
            EventType::CountryJoined => "a country joins a running operation",
            EventType::AgentsDeployed => "a country deploys agents",
            EventType::ExpertsDeployed => "an organisation deploys experts to a country",
            EventType::ArrestMade => "a suspect is arrested",
            EventType::VictimRescued => "a victim is rescued",
            EventType::MigrantsDetected => "migrants are detected",
            EventType::ChecksPerformed => "a tally of checks (passengers, vehicles, flights…)",
            EventType::ItemsSeized => "items are seized (documents, boats, firearms…)",
            EventType::DrugsSeized => "drugs are seized, in grams",
            EventType::CashSeized => "cash is seized",
            EventType::NetworkProfiled => "what is known of a network",
            EventType::OperationClosed => "the operation ends (late reports are still accepted)",
            EventType::EventRetracted => "an earlier outcome event no longer counts",
        }
    }
}

#[cfg(test)]
mod tests {
    //! Laws tying the table to the strict reader: each field is read as its
    //! kind says.

    use serde_json::{json, Map, Value};

    use super::*;
    use crate::Event;

    /// A valid value of each kind (for an event in the period 2019-12-09..16).
    fn sample(kind: FieldKind) -> Value {
        match kind {
            K::Text => json!("net-1"),
            K::Pseudonym => json!("AL-2019-S-0001"),
            K::Country => json!("AL"),
            K::Countries => json!(["AL", "RS"]),
            K::Day => json!("2019-12-09"),
            K::Instant => json!("2019-12-10T14:30:00+01:00"),
            K::Count => json!(3),
            K::Bool => json!(true),
            K::Currency => json!("EUR"),
            K::Amount => json!("12.50"),
            K::Money => json!({"currency": "EUR", "amount": "7000"}),
            K::Location => json!("road"),
            K::CheckKind => json!("vehicle"),
            K::Item => json!("boat"),
            K::Exploitation => json!("labour"),
            K::Offences => json!(["drugs"]),
            K::Tokens => json!(["migrant_smuggling"]),
            K::EventId => json!("00000000-0000-4000-8000-000000000001"),
        }
    }

    /// A value of the wrong JSON type for each kind.
    fn wrong_type(kind: FieldKind) -> Value {
        match kind {
            K::Count => json!("3"),
            K::Bool => json!("true"),
            K::Money => json!("EUR 7000"),
            K::Amount => json!(12.5),
            kind if kind.is_list() => json!("AL"),
            _ => json!(7),
        }
    }

    fn full(event_type: EventType) -> Map<String, Value> {
        let mut data = Map::new();
        for field in event_type.fields() {
            data.insert(field.name.to_owned(), sample(field.kind));
        }
        // The launch's period must not end before it starts.
        if event_type == EventType::OperationLaunched {
            data.insert("ends_on".into(), json!("2019-12-16"));
        }
        data
    }

    fn read(event_type: EventType, data: &Map<String, Value>) -> Result<Event, String> {
        let text = Value::Object(data.clone()).to_string();
        Event::parse(event_type.as_str(), &text).map_err(|error| error.to_string())
    }

    #[test]
    fn every_field_is_read_as_its_kind_says() {
        for &event_type in EventType::ALL {
            let data = full(event_type);
            let event = read(event_type, &data).unwrap_or_else(|e| panic!("{event_type}: {e}"));
            // The canonical form lists the fields in the table's order.
            let written = event.data_json();
            let at: Vec<usize> = event_type
                .fields()
                .iter()
                .map(|f| written.find(&format!("\"{}\":", f.name)).expect(f.name))
                .collect();
            assert!(
                at.windows(2).all(|w| w[0] < w[1]),
                "{event_type}: {written}"
            );
            for field in event_type.fields() {
                let mut without = data.clone();
                without.remove(field.name);
                let mut null = data.clone();
                null.insert(field.name.to_owned(), Value::Null);
                if field.required {
                    let error = read(event_type, &without).expect_err(field.name);
                    assert_eq!(error, format!("data.{}: missing", field.name));
                    assert!(read(event_type, &null).is_err(), "{}", field.name);
                } else {
                    assert!(read(event_type, &without).is_ok(), "{}", field.name);
                    assert!(read(event_type, &null).is_ok(), "{}", field.name);
                }
                let mut wrong = data.clone();
                wrong.insert(field.name.to_owned(), wrong_type(field.kind));
                let error = read(event_type, &wrong).expect_err(field.name);
                assert!(
                    error.starts_with(&format!("data.{}", field.name)),
                    "{event_type}.{}: {error}",
                    field.name
                );
            }
            let mut extra = data.clone();
            extra.insert("unit".into(), json!("x"));
            assert!(read(event_type, &extra)
                .expect_err("unknown field")
                .starts_with("data.unit: unknown field"));
        }
    }

    #[test]
    fn vocabulary_fields_take_exactly_their_words() {
        for &event_type in EventType::ALL {
            for field in event_type.fields() {
                let Some(words) = field.kind.words() else {
                    continue;
                };
                for word in words {
                    let mut data = full(event_type);
                    let value = if field.kind.is_list() {
                        json!([word])
                    } else {
                        json!(word)
                    };
                    data.insert(field.name.to_owned(), value);
                    assert!(
                        read(event_type, &data).is_ok(),
                        "{event_type}.{}={word}",
                        field.name
                    );
                }
            }
        }
    }
}
