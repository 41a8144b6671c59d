//! The event catalogue, version 1: what a national unit or a coordinator can
//! report, how it is read from input and how it is written to the log.
//!
//! Each event has a type name and a `data` object. Reading is strict (unknown
//! fields, missing fields and wrong types are refused with their path);
//! writing is canonical (fields in catalogue order, optional fields left out
//! when absent, amounts with exactly their currency's digits, instants in
//! RFC 3339), so that the same event always has the same bytes in the log and
//! a re-sent event is recognised as a duplicate.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::json::{FieldError, FromJson, Json, Object};
use crate::{
    CheckKind, Country, Day, Exploitation, Item, Location, Money, OccurredAt, Offence, Reference,
    Text, Token, SEALED_SCHEMA_VERSION,
};

/// The schema version of every event type in this catalogue, but for
/// `ArrestMade` and `VictimRescued` written with a sealed reference
/// ([`crate::SEALED_SCHEMA_VERSION`]).
pub const SCHEMA_VERSION: u32 = 1;

macro_rules! event_types {
    ($($variant:ident: outcome = $outcome:literal),+ $(,)?) => {
        /// The type of an event, as written in the log's `type` field.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub enum EventType {
            $($variant),+
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self {
                    $(EventType::$variant => stringify!($variant)),+
                }
            }

            pub fn parse(name: &str) -> Option<EventType> {
                match name {
                    $(stringify!($variant) => Some(EventType::$variant),)+
                    _ => None,
                }
            }

            /// Outcome events are the facts an operation reports; only they
            /// can be retracted.
            pub fn is_outcome(&self) -> bool {
                match self {
                    $(EventType::$variant => $outcome),+
                }
            }
        }
    };
}

event_types! {
    OperationLaunched: outcome = false,
    CountryJoined: outcome = false,
    AgentsDeployed: outcome = true,
    ExpertsDeployed: outcome = true,
    ArrestMade: outcome = true,
    VictimRescued: outcome = true,
    MigrantsDetected: outcome = true,
    ChecksPerformed: outcome = true,
    ItemsSeized: outcome = true,
    DrugsSeized: outcome = true,
    CashSeized: outcome = true,
    NetworkProfiled: outcome = true,
    OperationClosed: outcome = false,
    EventRetracted: outcome = false,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromJson for EventType {
    fn from_json(value: &Json, path: &str) -> Result<EventType, FieldError> {
        let name = String::from_json(value, path)?;
        EventType::parse(&name)
            .ok_or_else(|| FieldError::new(path, format!("unknown event type {name:?}")))
    }
}

/// An event count or a quantity: an integer of at least 1 that fits in u64.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
#[serde(transparent)]
pub struct Count(u64);

impl Count {
    pub fn new(value: u64) -> Option<Count> {
        (value >= 1).then_some(Count(value))
    }

    pub fn get(&self) -> u64 {
        self.0
    }
}

impl FromJson for Count {
    fn from_json(value: &Json, path: &str) -> Result<Count, FieldError> {
        match value {
            Json::Unsigned(0) | Json::Negative(_) => {
                Err(FieldError::new(path, "must be at least 1"))
            }
            Json::Unsigned(n) => Ok(Count(*n)),
            Json::Float(_) => Err(FieldError::new(
                path,
                "must be a whole number from 1 to 18446744073709551615",
            )),
            other => Err(crate::json::wrong_kind(path, "a whole number", other)),
        }
    }
}

impl FromJson for Uuid {
    fn from_json(value: &Json, path: &str) -> Result<Uuid, FieldError> {
        let text = String::from_json(value, path)?;
        // Only the hyphenated form: the braced, URN and plain-hex spellings
        // that `Uuid` also reads would give one id several spellings.
        let hyphenated = text.len() == 36
            && text
                .bytes()
                .enumerate()
                .all(|(i, b)| matches!(i, 8 | 13 | 18 | 23) == (b == b'-'));
        if !hyphenated {
            return Err(FieldError::new(
                path,
                format!("{text:?} is not a UUID in its hyphenated form (8-4-4-4-12 hex digits)"),
            ));
        }
        match Uuid::try_parse(&text) {
            Ok(id) if id.is_nil() => Err(FieldError::new(path, "the nil UUID is not an event id")),
            Ok(id) => Ok(id),
            Err(_) => Err(FieldError::new(path, format!("{text:?} is not a UUID"))),
        }
    }
}

fn unique<T: PartialEq + fmt::Display>(items: &[T], path: &str) -> Result<(), FieldError> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(FieldError::new(
                format!("{path}[{i}]"),
                format!("{item} is listed twice"),
            ));
        }
    }
    Ok(())
}

/// An operation starts: who leads it, with which countries, over which days.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct OperationLaunched {
    pub name: Text,
    pub coordinator: Text,
    pub countries: Vec<Country>,
    pub starts_on: Day,
    pub ends_on: Day,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funded_by: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub focus: Option<Vec<Token>>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct CountryJoined {
    pub country: Country,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct AgentsDeployed {
    pub country: Country,
    pub count: Count,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct ExpertsDeployed {
    pub organisation: Text,
    pub country: Country,
    pub count: Count,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct ArrestMade {
    pub country: Country,
    pub occurred_at: OccurredAt,
    pub location: Location,
    pub suspect: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offences: Option<Vec<Offence>>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct VictimRescued {
    pub country: Country,
    pub occurred_at: OccurredAt,
    pub location: Location,
    pub victim: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minor: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nationality: Option<Country>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exploitation: Option<Exploitation>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct MigrantsDetected {
    pub country: Country,
    pub occurred_at: OccurredAt,
    pub location: Location,
    pub count: Count,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct ChecksPerformed {
    pub country: Country,
    pub occurred_at: OccurredAt,
    pub kind: CheckKind,
    pub count: Count,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct ItemsSeized {
    pub country: Country,
    pub occurred_at: OccurredAt,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    pub item: Item,
    pub count: Count,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct DrugsSeized {
    pub country: Country,
    pub occurred_at: OccurredAt,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub substance: Option<Text>,
    pub grams: Count,
}

/// Cash seized: written as `currency` and a decimal `amount` string.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CashSeized {
    pub country: Country,
    pub occurred_at: OccurredAt,
    pub money: Money,
}

impl Serialize for CashSeized {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = serializer.serialize_struct("CashSeized", 4)?;
        object.serialize_field("country", &self.country)?;
        object.serialize_field("occurred_at", &self.occurred_at)?;
        object.serialize_field("currency", &self.money.currency)?;
        object.serialize_field("amount", &self.money.amount())?;
        object.end()
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct NetworkProfiled {
    pub network: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub people_smuggled_estimate: Option<Count>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_fee: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<Country>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Text>,
}

/// A correction: the named earlier outcome event no longer counts.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct EventRetracted {
    pub event_id: Uuid,
    pub reason: Text,
}

/// One event of the catalogue.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    OperationLaunched(OperationLaunched),
    CountryJoined(CountryJoined),
    AgentsDeployed(AgentsDeployed),
    ExpertsDeployed(ExpertsDeployed),
    ArrestMade(ArrestMade),
    VictimRescued(VictimRescued),
    MigrantsDetected(MigrantsDetected),
    ChecksPerformed(ChecksPerformed),
    ItemsSeized(ItemsSeized),
    DrugsSeized(DrugsSeized),
    CashSeized(CashSeized),
    NetworkProfiled(NetworkProfiled),
    OperationClosed,
    EventRetracted(EventRetracted),
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self {
            Event::OperationLaunched(_) => EventType::OperationLaunched,
            Event::CountryJoined(_) => EventType::CountryJoined,
            Event::AgentsDeployed(_) => EventType::AgentsDeployed,
            Event::ExpertsDeployed(_) => EventType::ExpertsDeployed,
            Event::ArrestMade(_) => EventType::ArrestMade,
            Event::VictimRescued(_) => EventType::VictimRescued,
            Event::MigrantsDetected(_) => EventType::MigrantsDetected,
            Event::ChecksPerformed(_) => EventType::ChecksPerformed,
            Event::ItemsSeized(_) => EventType::ItemsSeized,
            Event::DrugsSeized(_) => EventType::DrugsSeized,
            Event::CashSeized(_) => EventType::CashSeized,
            Event::NetworkProfiled(_) => EventType::NetworkProfiled,
            Event::OperationClosed => EventType::OperationClosed,
            Event::EventRetracted(_) => EventType::EventRetracted,
        }
    }

    /// The participating country the event is reported by, if it has one.
    pub fn country(&self) -> Option<Country> {
        match self {
            Event::CountryJoined(e) => Some(e.country),
            Event::AgentsDeployed(e) => Some(e.country),
            Event::ExpertsDeployed(e) => Some(e.country),
            Event::ArrestMade(e) => Some(e.country),
            Event::VictimRescued(e) => Some(e.country),
            Event::MigrantsDetected(e) => Some(e.country),
            Event::ChecksPerformed(e) => Some(e.country),
            Event::ItemsSeized(e) => Some(e.country),
            Event::DrugsSeized(e) => Some(e.country),
            Event::CashSeized(e) => Some(e.country),
            Event::OperationLaunched(_)
            | Event::NetworkProfiled(_)
            | Event::OperationClosed
            | Event::EventRetracted(_) => None,
        }
    }

    /// When the outcome occurred, for the events that say.
    pub fn occurred_at(&self) -> Option<OccurredAt> {
        match self {
            Event::ArrestMade(e) => Some(e.occurred_at),
            Event::VictimRescued(e) => Some(e.occurred_at),
            Event::MigrantsDetected(e) => Some(e.occurred_at),
            Event::ChecksPerformed(e) => Some(e.occurred_at),
            Event::ItemsSeized(e) => Some(e.occurred_at),
            Event::DrugsSeized(e) => Some(e.occurred_at),
            Event::CashSeized(e) => Some(e.occurred_at),
            _ => None,
        }
    }

    /// The event's personal reference, if it has one, and the name of its
    /// field (`suspect`, `victim`).
    pub fn reference(&self) -> Option<(&'static str, &Reference)> {
        match self {
            Event::ArrestMade(e) => Some(("suspect", &e.suspect)),
            Event::VictimRescued(e) => Some(("victim", &e.victim)),
            _ => None,
        }
    }

    /// The event with its personal reference replaced (no change for an
    /// event without one).
    pub fn with_reference(self, reference: Reference) -> Event {
        match self {
            Event::ArrestMade(e) => Event::ArrestMade(ArrestMade {
                suspect: reference,
                ..e
            }),
            Event::VictimRescued(e) => Event::VictimRescued(VictimRescued {
                victim: reference,
                ..e
            }),
            other => other,
        }
    }

    /// The schema version the event is written in: 2 for a sealed
    /// reference, 1 for everything else.
    pub fn schema(&self) -> u32 {
        match self.reference() {
            Some((_, Reference::Sealed(_))) => SEALED_SCHEMA_VERSION,
            _ => SCHEMA_VERSION,
        }
    }

    /// Reads an event's `data` object. `path` is where the object sits in
    /// the input (`data`), so that errors name the full field path.
    pub fn from_json(event_type: EventType, data: &Json, path: &str) -> Result<Event, FieldError> {
        let event = match event_type {
            EventType::OperationLaunched => {
                let o = Object::new(data, path, event_type.fields())?;
                let countries: Vec<Country> = o.required("countries")?;
                if countries.is_empty() {
                    return Err(FieldError::new(
                        o.path_of("countries"),
                        "must list at least one country",
                    ));
                }
                unique(&countries, &o.path_of("countries"))?;
                let starts_on: Day = o.required("starts_on")?;
                let ends_on: Day = o.required("ends_on")?;
                if ends_on < starts_on {
                    return Err(FieldError::new(
                        o.path_of("ends_on"),
                        format!("{ends_on} is before starts_on {starts_on}"),
                    ));
                }
                let focus: Option<Vec<Token>> = o.optional("focus")?;
                if let Some(focus) = &focus {
                    unique(
                        focus
                            .iter()
                            .map(Token::as_str)
                            .collect::<Vec<_>>()
                            .as_slice(),
                        &o.path_of("focus"),
                    )?;
                }
                Event::OperationLaunched(OperationLaunched {
                    name: o.required("name")?,
                    coordinator: o.required("coordinator")?,
                    countries,
                    starts_on,
                    ends_on,
                    funded_by: o.optional("funded_by")?,
                    focus,
                })
            }
            EventType::CountryJoined => {
                let o = Object::new(data, path, event_type.fields())?;
                Event::CountryJoined(CountryJoined {
                    country: o.required("country")?,
                })
            }
            EventType::AgentsDeployed => {
                let o = Object::new(data, path, event_type.fields())?;
                Event::AgentsDeployed(AgentsDeployed {
                    country: o.required("country")?,
                    count: o.required("count")?,
                })
            }
            EventType::ExpertsDeployed => {
                let o = Object::new(data, path, event_type.fields())?;
                Event::ExpertsDeployed(ExpertsDeployed {
                    organisation: o.required("organisation")?,
                    country: o.required("country")?,
                    count: o.required("count")?,
                })
            }
            EventType::ArrestMade => {
                let o = Object::new(data, path, event_type.fields())?;
                let offences: Option<Vec<Offence>> = o.optional("offences")?;
                if let Some(offences) = &offences {
                    unique(offences, &o.path_of("offences"))?;
                }
                Event::ArrestMade(ArrestMade {
                    country: o.required("country")?,
                    occurred_at: o.required("occurred_at")?,
                    location: o.required("location")?,
                    suspect: o.required("suspect")?,
                    network: o.optional("network")?,
                    offences,
                })
            }
            EventType::VictimRescued => {
                let o = Object::new(data, path, event_type.fields())?;
                Event::VictimRescued(VictimRescued {
                    country: o.required("country")?,
                    occurred_at: o.required("occurred_at")?,
                    location: o.required("location")?,
                    victim: o.required("victim")?,
                    minor: o.optional("minor")?,
                    nationality: o.optional("nationality")?,
                    exploitation: o.optional("exploitation")?,
                })
            }
            EventType::MigrantsDetected => {
                let o = Object::new(data, path, event_type.fields())?;
                Event::MigrantsDetected(MigrantsDetected {
                    country: o.required("country")?,
                    occurred_at: o.required("occurred_at")?,
                    location: o.required("location")?,
                    count: o.required("count")?,
                })
            }
            EventType::ChecksPerformed => {
                let o = Object::new(data, path, event_type.fields())?;
                Event::ChecksPerformed(ChecksPerformed {
                    country: o.required("country")?,
                    occurred_at: o.required("occurred_at")?,
                    kind: o.required("kind")?,
                    count: o.required("count")?,
                })
            }
            EventType::ItemsSeized => {
                let o = Object::new(data, path, event_type.fields())?;
                Event::ItemsSeized(ItemsSeized {
                    country: o.required("country")?,
                    occurred_at: o.required("occurred_at")?,
                    location: o.optional("location")?,
                    item: o.required("item")?,
                    count: o.required("count")?,
                })
            }
            EventType::DrugsSeized => {
                let o = Object::new(data, path, event_type.fields())?;
                Event::DrugsSeized(DrugsSeized {
                    country: o.required("country")?,
                    occurred_at: o.required("occurred_at")?,
                    substance: o.optional("substance")?,
                    grams: o.required("grams")?,
                })
            }
            EventType::CashSeized => {
                let o = Object::new(data, path, event_type.fields())?;
                let country = o.required("country")?;
                let occurred_at = o.required("occurred_at")?;
                Event::CashSeized(CashSeized {
                    country,
                    occurred_at,
                    money: Money::from_fields(&o)?,
                })
            }
            EventType::NetworkProfiled => {
                let o = Object::new(data, path, event_type.fields())?;
                Event::NetworkProfiled(NetworkProfiled {
                    network: o.required("network")?,
                    people_smuggled_estimate: o.optional("people_smuggled_estimate")?,
                    max_fee: o.optional("max_fee")?,
                    destination: o.optional("destination")?,
                    method: o.optional("method")?,
                })
            }
            EventType::OperationClosed => {
                Object::new(data, path, event_type.fields())?;
                Event::OperationClosed
            }
            EventType::EventRetracted => {
                let o = Object::new(data, path, event_type.fields())?;
                Event::EventRetracted(EventRetracted {
                    event_id: o.required("event_id")?,
                    reason: o.required("reason")?,
                })
            }
        };
        Ok(event)
    }

    /// Reads a stored event from its type name and data text.
    ///
    /// Valid data is read on the fast path ([`crate::strict`]), with no
    /// tree; data it refuses is read again by [`Event::from_json`], whose
    /// refusal names the field.
    pub fn parse(event_type: &str, data: &str) -> Result<Event, FieldError> {
        let kind = EventType::parse(event_type)
            .ok_or_else(|| FieldError::new("type", format!("unknown event type {event_type:?}")))?;
        match crate::strict::read_data(kind, data) {
            Some(event) => Ok(event),
            None => Event::parse_by_tree(kind, data),
        }
    }

    /// Reads the data text through the [`Json`] tree: the reference reader,
    /// and the one that says why data is refused.
    pub fn parse_by_tree(kind: EventType, data: &str) -> Result<Event, FieldError> {
        let json = Json::parse(data).map_err(|message| FieldError::new("data", message))?;
        Event::from_json(kind, &json, "data")
    }

    /// The canonical JSON text of the event's data object.
    pub fn data_json(&self) -> String {
        let written = match self {
            Event::OperationLaunched(e) => serde_json::to_string(e),
            Event::CountryJoined(e) => serde_json::to_string(e),
            Event::AgentsDeployed(e) => serde_json::to_string(e),
            Event::ExpertsDeployed(e) => serde_json::to_string(e),
            Event::ArrestMade(e) => serde_json::to_string(e),
            Event::VictimRescued(e) => serde_json::to_string(e),
            Event::MigrantsDetected(e) => serde_json::to_string(e),
            Event::ChecksPerformed(e) => serde_json::to_string(e),
            Event::ItemsSeized(e) => serde_json::to_string(e),
            Event::DrugsSeized(e) => serde_json::to_string(e),
            Event::CashSeized(e) => serde_json::to_string(e),
            Event::NetworkProfiled(e) => serde_json::to_string(e),
            Event::OperationClosed => Ok("{}".to_owned()),
            Event::EventRetracted(e) => serde_json::to_string(e),
        };
        // Serialising these plain structs into a String cannot fail: every
        // field is a string, number, bool, list or struct of those.
        written.unwrap_or_else(|_| "{}".to_owned())
    }
}

/// An `io::Write` that compares what is written with an expected text,
/// so that a canonical check needs no new string.
struct Compare<'a> {
    rest: &'a [u8],
    same: bool,
}

impl std::io::Write for Compare<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self.rest.strip_prefix(bytes) {
            Some(rest) if self.same => self.rest = rest,
            _ => self.same = false,
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Event {
    /// True when `text` is exactly [`Event::data_json`], without writing it.
    pub fn is_canonical(&self, text: &str) -> bool {
        let mut compare = Compare {
            rest: text.as_bytes(),
            same: true,
        };
        let written = match self {
            Event::OperationLaunched(e) => serde_json::to_writer(&mut compare, e),
            Event::CountryJoined(e) => serde_json::to_writer(&mut compare, e),
            Event::AgentsDeployed(e) => serde_json::to_writer(&mut compare, e),
            Event::ExpertsDeployed(e) => serde_json::to_writer(&mut compare, e),
            Event::ArrestMade(e) => serde_json::to_writer(&mut compare, e),
            Event::VictimRescued(e) => serde_json::to_writer(&mut compare, e),
            Event::MigrantsDetected(e) => serde_json::to_writer(&mut compare, e),
            Event::ChecksPerformed(e) => serde_json::to_writer(&mut compare, e),
            Event::ItemsSeized(e) => serde_json::to_writer(&mut compare, e),
            Event::DrugsSeized(e) => serde_json::to_writer(&mut compare, e),
            Event::CashSeized(e) => serde_json::to_writer(&mut compare, e),
            Event::NetworkProfiled(e) => serde_json::to_writer(&mut compare, e),
            Event::OperationClosed => return text == "{}",
            Event::EventRetracted(e) => serde_json::to_writer(&mut compare, e),
        };
        // As in `data_json`, a failed writing is the text "{}".
        match written {
            Ok(()) => compare.same && compare.rest.is_empty(),
            Err(_) => text == "{}",
        }
    }

    /// The canonical JSON text of the event's data with its pseudonymous
    /// references (`suspect`, `victim`) left out: what any output that shows
    /// events (listings, feeds, the API) prints. Every other field is kept,
    /// in canonical order.
    pub fn public_data_json(&self) -> String {
        let written = match self {
            Event::ArrestMade(e) => serde_json::to_string(&PublicArrest(e)),
            Event::VictimRescued(e) => serde_json::to_string(&PublicRescue(e)),
            other => return other.data_json(),
        };
        written.unwrap_or_else(|_| "{}".to_owned())
    }
}

/// [`ArrestMade`] without its suspect.
struct PublicArrest<'a>(&'a ArrestMade);

impl Serialize for PublicArrest<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut object = serializer.serialize_struct("ArrestMade", 5)?;
        object.serialize_field("country", &e.country)?;
        object.serialize_field("occurred_at", &e.occurred_at)?;
        object.serialize_field("location", &e.location)?;
        if let Some(network) = &e.network {
            object.serialize_field("network", network)?;
        }
        if let Some(offences) = &e.offences {
            object.serialize_field("offences", offences)?;
        }
        object.end()
    }
}

/// [`VictimRescued`] without its victim.
struct PublicRescue<'a>(&'a VictimRescued);

impl Serialize for PublicRescue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut object = serializer.serialize_struct("VictimRescued", 6)?;
        object.serialize_field("country", &e.country)?;
        object.serialize_field("occurred_at", &e.occurred_at)?;
        object.serialize_field("location", &e.location)?;
        if let Some(minor) = &e.minor {
            object.serialize_field("minor", minor)?;
        }
        if let Some(nationality) = &e.nationality {
            object.serialize_field("nationality", nationality)?;
        }
        if let Some(exploitation) = &e.exploitation {
            object.serialize_field("exploitation", exploitation)?;
        }
        object.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_form_leaves_out_pseudonyms_and_nothing_else() {
        let arrest = parse(
            "ArrestMade",
            r#"{"country":"RS","occurred_at":"2019-12-12T10:00:00+01:00","location":"border_crossing","suspect":"RS-2019-0042","network":"net-1","offences":["migrant_smuggling"]}"#,
        )
        .expect("valid");
        assert_eq!(
            arrest.public_data_json(),
            r#"{"country":"RS","occurred_at":"2019-12-12T10:00:00+01:00","location":"border_crossing","network":"net-1","offences":["migrant_smuggling"]}"#
        );
        let rescue = parse(
            "VictimRescued",
            r#"{"country":"AL","occurred_at":"2019-12-12T10:00:00Z","location":"road","victim":"AL-V-7","minor":true}"#,
        )
        .expect("valid");
        assert_eq!(
            rescue.public_data_json(),
            r#"{"country":"AL","occurred_at":"2019-12-12T10:00:00Z","location":"road","minor":true}"#
        );
        let cash = parse(
            "CashSeized",
            r#"{"country":"AL","occurred_at":"2019-12-12T10:00:00Z","currency":"EUR","amount":"5"}"#,
        )
        .expect("valid");
        assert_eq!(cash.public_data_json(), cash.data_json());
    }

    fn parse(event_type: &str, data: &str) -> Result<Event, FieldError> {
        Event::parse(event_type, data)
    }

    fn refusal(event_type: &str, data: &str) -> String {
        parse(event_type, data)
            .expect_err("should be refused")
            .to_string()
    }

    #[test]
    fn canonical_form_orders_fields_and_normalises_values() {
        let event = parse(
            "CashSeized",
            r#"{"amount":"200000","currency":"USD","occurred_at":"2019-12-12T10:00:00+00:00","country":"AL"}"#,
        )
        .expect("valid");
        assert_eq!(
            event.data_json(),
            r#"{"country":"AL","occurred_at":"2019-12-12T10:00:00Z","currency":"USD","amount":"200000.00"}"#
        );
        assert_eq!(parse("CashSeized", &event.data_json()), Ok(event.clone()));
        assert!(event.is_canonical(&event.data_json()));
        for other in [
            "",
            "{}",
            r#"{"country":"AL","occurred_at":"2019-12-12T10:00:00Z","currency":"USD","amount":"200000.00"} "#,
            r#"{"country":"AL","occurred_at":"2019-12-12T10:00:00Z","currency":"USD","amount":"200000.0"}"#,
            r#"{"country":"AL","occurred_at":"2019-12-12T10:00:00Z","currency":"USD","amount":"200000.000"}"#,
        ] {
            assert!(!event.is_canonical(other), "{other}");
        }
        assert!(Event::OperationClosed.is_canonical("{}"));
        assert!(!Event::OperationClosed.is_canonical("{ }"));
    }

    #[test]
    fn refusals_name_the_field() {
        assert_eq!(
            refusal(
                "MigrantsDetected",
                r#"{"country":"AL","occurred_at":"2019-12-10T10:00:00Z","location":"road","count":0}"#
            ),
            "data.count: must be at least 1"
        );
        assert_eq!(
            refusal("AgentsDeployed", r#"{"country":"AL"}"#),
            "data.count: missing"
        );
        assert!(
            refusal("AgentsDeployed", r#"{"country":"AL","count":1,"extra":2}"#)
                .starts_with("data.extra: unknown field")
        );
        assert!(refusal("AgentsDeployed", r#"{"country":"AL","count":"5"}"#)
            .starts_with("data.count: expected a whole number"));
        assert!(refusal("AgentsDeployed", r#"{"country":"AL","count":1.5}"#)
            .starts_with("data.count: must be a whole number"));
        assert!(refusal(
            "AgentsDeployed",
            r#"{"country":"AL","count":18446744073709551616}"#
        )
        .starts_with("data.count: must be a whole number"));
        assert!(refusal("CashSeized", r#"{"country":"AL","occurred_at":"2019-12-10T10:00:00Z","currency":"JPY","amount":"1.5"}"#).starts_with("data.amount:"));
        assert!(refusal(
            "NetworkProfiled",
            r#"{"network":"x","max_fee":{"currency":"EUR","amount":"7000.001"}}"#
        )
        .starts_with("data.max_fee.amount:"));
        assert!(refusal("OperationLaunched", r#"{"name":"x","coordinator":"y","countries":["AL","AL"],"starts_on":"2019-12-09","ends_on":"2019-12-16"}"#).starts_with("data.countries[1]:"));
        assert!(refusal("OperationLaunched", r#"{"name":"x","coordinator":"y","countries":["AL"],"starts_on":"2019-12-09","ends_on":"2019-12-01"}"#).starts_with("data.ends_on:"));
        assert!(refusal("OperationClosed", r#"{"x":1}"#).starts_with("data.x: unknown field"));
        assert!(refusal(
            "EventRetracted",
            r#"{"event_id":"00000000-0000-0000-0000-000000000000","reason":"x"}"#
        )
        .starts_with("data.event_id:"));
        assert!(refusal("Nope", "{}").starts_with("type: unknown event type"));
    }

    #[test]
    fn optional_fields_may_be_null_and_are_left_out() {
        let event = parse(
            "ItemsSeized",
            r#"{"country":"AL","occurred_at":"2019-12-10T10:00:00Z","location":null,"item":"boat","count":3}"#,
        )
        .expect("valid");
        assert_eq!(
            event.data_json(),
            r#"{"country":"AL","occurred_at":"2019-12-10T10:00:00Z","item":"boat","count":3}"#
        );
    }

    #[test]
    fn only_outcomes_are_retractable() {
        let outcomes: Vec<&str> = EventType::ALL
            .iter()
            .filter(|t| t.is_outcome())
            .map(|t| t.as_str())
            .collect();
        assert_eq!(outcomes.len(), 10);
        assert!(!EventType::EventRetracted.is_outcome());
        assert!(!EventType::OperationLaunched.is_outcome());
    }
}
