//! The strict reader's fast path: an event's `data` read straight from its
//! text into the typed [`Event`], with no [`Json`](crate::json::Json) tree,
//! no field path and no message built, and nothing allocated but what the
//! event keeps.
//!
//! It only ever says "accepted, and here is the event" or "refused": a
//! refusal carries no reason. The caller then reads the same text again
//! with the tree reader ([`Event::from_json`]), whose refusal names the
//! field and says why, byte for byte as before. So the messages, and which
//! of several faults is reported, stay the tree reader's by construction;
//! what this module must get right is only that it accepts exactly what the
//! tree reader accepts, as the same event. It is strict in the same ways:
//! a repeated key, an unknown field, a missing one, a null where a value is
//! required, a wrong type or an invalid value is a refusal, and so is
//! anything it does not expect (then the tree reader decides). A property
//! test (`tests::the_fast_path_agrees_with_the_tree_reader`) holds the two
//! to that.
//!
//! Valid input is the common case by far (every record `verify` reads,
//! nearly every line `append` reads), so the refused case may cost a second
//! reading.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use uuid::Uuid;

use crate::event::{
    AgentsDeployed, ArrestMade, CashSeized, ChecksPerformed, Count, CountryJoined, DrugsSeized,
    EventRetracted, ExpertsDeployed, ItemsSeized, MigrantsDetected, NetworkProfiled,
    OperationLaunched, VictimRescued,
};
use crate::{
    parse_instant, CheckKind, Country, Currency, Day, Event, EventType, Exploitation, Item,
    Location, Money, OccurredAt, Offence, Pseudonym, Reference, SealedReference, Slug, Text, Token,
};

/// Reads an event's data text on the fast path: `Some` exactly when the
/// tree reader accepts it, with the same event; `None` for any refusal.
pub(crate) fn read_data(event_type: EventType, data: &str) -> Option<Event> {
    let mut deserializer = serde_json::Deserializer::from_str(data);
    let event = DataSeed(event_type).deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(event)
}

/// A value the fast path can read. Every refusal is the same opaque error.
pub trait Strict: Sized {
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// Reads a `T` with its [`Strict`] reader: what a `MapAccess` or a
/// `SeqAccess` asks for.
#[derive(Debug)]
pub struct Read<T>(pub T);

impl<'de, T: Strict> de::Deserialize<'de> for Read<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Read<T>, D::Error> {
        T::read(deserializer).map(Read)
    }
}

/// The error of every refusal: it is never shown (the tree reader says
/// why), so it says nothing.
fn refused<E: de::Error>() -> E {
    E::custom("refused")
}

/// A string value, handed to `accept` without copying it.
struct StrVisitor<F>(F);

impl<'de, T, F: FnOnce(&str) -> Option<T>> Visitor<'de> for StrVisitor<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.0)(text).ok_or_else(refused)
    }
}

fn string<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    accept: impl FnOnce(&str) -> Option<T>,
) -> Result<T, D::Error> {
    deserializer.deserialize_str(StrVisitor(accept))
}

macro_rules! strict_strings {
    ($($ty:ty => $accept:expr),+ $(,)?) => {
        $(impl Strict for $ty {
            fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                string(deserializer, $accept)
            }
        })+
    };
}

strict_strings! {
    Country => Country::parse,
    Currency => Currency::parse,
    Day => Day::parse,
    OccurredAt => |text| parse_instant(text).ok().map(OccurredAt),
    Location => Location::parse,
    Offence => Offence::parse,
    Exploitation => Exploitation::parse,
    CheckKind => CheckKind::parse,
    Item => Item::parse,
    Text => Text::checked,
    Pseudonym => Pseudonym::checked,
    Token => Token::checked,
    Slug => |text| Slug::parse(text).ok(),
    EventType => EventType::parse,
    Uuid => uuid_checked,
}

/// What `Uuid::from_json` accepts: the hyphenated form, not nil.
fn uuid_checked(text: &str) -> Option<Uuid> {
    let hyphenated = text.len() == 36
        && text
            .bytes()
            .enumerate()
            .all(|(i, b)| matches!(i, 8 | 13 | 18 | 23) == (b == b'-'));
    if !hyphenated {
        return None;
    }
    Uuid::try_parse(text).ok().filter(|id| !id.is_nil())
}

/// A non-negative integer: what the tree keeps as `Json::Unsigned`.
struct UnsignedVisitor;

impl<'de> Visitor<'de> for UnsignedVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
        Ok(value)
    }

    // The tree reader's visitor keeps a non-negative i64 as unsigned too.
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
        u64::try_from(value).map_err(|_| refused())
    }
}

impl Strict for u64 {
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(UnsignedVisitor)
    }
}

impl Strict for Count {
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Count, D::Error> {
        let value = deserializer.deserialize_any(UnsignedVisitor)?;
        Count::new(value).ok_or_else(refused)
    }
}

struct BoolVisitor;

impl<'de> Visitor<'de> for BoolVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("true or false")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
        Ok(value)
    }
}

impl Strict for bool {
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(BoolVisitor)
    }
}

/// An optional field: null is absent, as in the tree reader.
impl<T: Strict> Strict for Option<T> {
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_option(OptionVisitor(PhantomData))
    }
}

struct OptionVisitor<T>(PhantomData<T>);

impl<'de, T: Strict> Visitor<'de> for OptionVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        T::read(deserializer).map(Some)
    }
}

impl<T: Strict> Strict for Vec<T> {
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_seq(VecVisitor(PhantomData))
    }
}

struct VecVisitor<T>(PhantomData<T>);

impl<'de, T: Strict> Visitor<'de> for VecVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        while let Some(Read(item)) = seq.next_element::<Read<T>>()? {
            items.push(item);
        }
        Ok(items)
    }
}

/// The index of a key among an object's field names, without copying it;
/// an unknown key is a refusal.
struct KeySeed<'f>(&'f [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        let names = self.0;
        string(deserializer, |key| {
            names.iter().position(|name| *name == key)
        })
    }
}

/// Reads the fields of an object: `$slot: $ty` for each allowed key, in
/// local `Option<$ty>` slots named after them. A repeated or unknown key is
/// a refusal. The caller then takes its required fields with [`need`] and
/// its optional ones (`$ty = Option<_>`) with `.flatten()`.
macro_rules! fields {
    ($map:expr, { $($slot:ident $(as $key:literal)?: $ty:ty),* $(,)? }) => {
        $(let mut $slot: Option<$ty> = None;)*
        {
            const NAMES: &[&str] = &[$(fields!(@name $slot $($key)?)),*];
            while let Some(index) = $map.next_key_seed(KeySeed(NAMES))? {
                let mut at = 0usize;
                $(
                    if index == at {
                        if $slot.is_some() {
                            return Err(refused());
                        }
                        $slot = Some($map.next_value::<Read<$ty>>()?.0);
                        continue;
                    }
                    at += 1;
                )*
                let _ = at;
                return Err(refused());
            }
        }
    };
    (@name $slot:ident $key:literal) => { $key };
    (@name $slot:ident) => { stringify!($slot) };
}

/// A required field's value.
fn need<T, E: de::Error>(slot: Option<T>) -> Result<T, E> {
    slot.ok_or_else(refused)
}

/// True when no two items are equal (the tree reader's `unique`).
fn all_distinct<T: PartialEq>(items: &[T]) -> bool {
    items
        .iter()
        .enumerate()
        .all(|(i, item)| !items[..i].contains(item))
}

impl Strict for Money {
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        deserializer.deserialize_map(MoneyVisitor)
    }
}

struct MoneyVisitor;

impl<'de> Visitor<'de> for MoneyVisitor {
    type Value = Money;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object {\"currency\", \"amount\"}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Money, A::Error> {
        fields!(map, { currency: Currency, amount: Owned });
        money(need(currency)?, need(amount)?)
    }
}

/// A string copied as it is: an amount, read before its currency may be
/// known. It is short.
struct Owned(String);

impl Strict for Owned {
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Owned, D::Error> {
        string(deserializer, |text| Some(Owned(text.to_owned())))
    }
}

fn money<E: de::Error>(currency: Currency, amount: Owned) -> Result<Money, E> {
    Money::parse(currency, &amount.0).map_err(|_| refused())
}

impl Strict for Reference {
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Reference, D::Error> {
        deserializer.deserialize_any(ReferenceVisitor)
    }
}

struct ReferenceVisitor;

impl<'de> Visitor<'de> for ReferenceVisitor {
    type Value = Reference;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a reference")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Reference, E> {
        Pseudonym::checked(text)
            .map(Reference::Clear)
            .ok_or_else(refused)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Reference, A::Error> {
        fields!(map, { key: HexBytes, sealed: HexBytes });
        let (key, sealed) = (need(key)?, need(sealed)?);
        SealedReference::checked(key.0, sealed.0)
            .map(Reference::Sealed)
            .ok_or_else(refused)
    }
}

/// The bytes of a lowercase hex string (a sealed reference's parts).
struct HexBytes(Vec<u8>);

impl Strict for HexBytes {
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<HexBytes, D::Error> {
        string(deserializer, |text| {
            crate::reference::from_hex(text).map(HexBytes)
        })
    }
}

/// Reads a data object of one event type.
struct DataSeed(EventType);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Event;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Event, D::Error> {
        deserializer.deserialize_map(DataVisitor(self.0))
    }
}

/// The seed that reads an event type's `data` on the fast path, for a
/// caller that reads the enclosing line itself.
pub fn data_seed(event_type: EventType) -> impl for<'de> DeserializeSeed<'de, Value = Event> {
    DataSeed(event_type)
}

struct DataVisitor(EventType);

impl<'de> Visitor<'de> for DataVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let event = match self.0 {
            EventType::OperationLaunched => {
                fields!(map, {
                    name: Text,
                    coordinator: Text,
                    countries: Vec<Country>,
                    starts_on: Day,
                    ends_on: Day,
                    funded_by: Option<Text>,
                    focus: Option<Vec<Token>>,
                });
                let countries = need(countries)?;
                let (starts_on, ends_on) = (need(starts_on)?, need(ends_on)?);
                let focus = focus.flatten();
                let focus_distinct = focus.as_deref().is_none_or(all_distinct);
                if countries.is_empty()
                    || !all_distinct(&countries)
                    || ends_on < starts_on
                    || !focus_distinct
                {
                    return Err(refused());
                }
                Event::OperationLaunched(OperationLaunched {
                    name: need(name)?,
                    coordinator: need(coordinator)?,
                    countries,
                    starts_on,
                    ends_on,
                    funded_by: funded_by.flatten(),
                    focus,
                })
            }
            EventType::CountryJoined => {
                fields!(map, { country: Country });
                Event::CountryJoined(CountryJoined {
                    country: need(country)?,
                })
            }
            EventType::AgentsDeployed => {
                fields!(map, { country: Country, count: Count });
                Event::AgentsDeployed(AgentsDeployed {
                    country: need(country)?,
                    count: need(count)?,
                })
            }
            EventType::ExpertsDeployed => {
                fields!(map, { organisation: Text, country: Country, count: Count });
                Event::ExpertsDeployed(ExpertsDeployed {
                    organisation: need(organisation)?,
                    country: need(country)?,
                    count: need(count)?,
                })
            }
            EventType::ArrestMade => {
                fields!(map, {
                    country: Country,
                    occurred_at: OccurredAt,
                    location: Location,
                    suspect: Reference,
                    network: Option<Text>,
                    offences: Option<Vec<Offence>>,
                });
                let offences = offences.flatten();
                if !offences.as_deref().is_none_or(all_distinct) {
                    return Err(refused());
                }
                Event::ArrestMade(ArrestMade {
                    country: need(country)?,
                    occurred_at: need(occurred_at)?,
                    location: need(location)?,
                    suspect: need(suspect)?,
                    network: network.flatten(),
                    offences,
                })
            }
            EventType::VictimRescued => {
                fields!(map, {
                    country: Country,
                    occurred_at: OccurredAt,
                    location: Location,
                    victim: Reference,
                    minor: Option<bool>,
                    nationality: Option<Country>,
                    exploitation: Option<Exploitation>,
                });
                Event::VictimRescued(VictimRescued {
                    country: need(country)?,
                    occurred_at: need(occurred_at)?,
                    location: need(location)?,
                    victim: need(victim)?,
                    minor: minor.flatten(),
                    nationality: nationality.flatten(),
                    exploitation: exploitation.flatten(),
                })
            }
            EventType::MigrantsDetected => {
                fields!(map, {
                    country: Country,
                    occurred_at: OccurredAt,
                    location: Location,
                    count: Count,
                });
                Event::MigrantsDetected(MigrantsDetected {
                    country: need(country)?,
                    occurred_at: need(occurred_at)?,
                    location: need(location)?,
                    count: need(count)?,
                })
            }
            EventType::ChecksPerformed => {
                fields!(map, {
                    country: Country,
                    occurred_at: OccurredAt,
                    kind: CheckKind,
                    count: Count,
                });
                Event::ChecksPerformed(ChecksPerformed {
                    country: need(country)?,
                    occurred_at: need(occurred_at)?,
                    kind: need(kind)?,
                    count: need(count)?,
                })
            }
            EventType::ItemsSeized => {
                fields!(map, {
                    country: Country,
                    occurred_at: OccurredAt,
                    location: Option<Location>,
                    item: Item,
                    count: Count,
                });
                Event::ItemsSeized(ItemsSeized {
                    country: need(country)?,
                    occurred_at: need(occurred_at)?,
                    location: location.flatten(),
                    item: need(item)?,
                    count: need(count)?,
                })
            }
            EventType::DrugsSeized => {
                fields!(map, {
                    country: Country,
                    occurred_at: OccurredAt,
                    substance: Option<Text>,
                    grams: Count,
                });
                Event::DrugsSeized(DrugsSeized {
                    country: need(country)?,
                    occurred_at: need(occurred_at)?,
                    substance: substance.flatten(),
                    grams: need(grams)?,
                })
            }
            EventType::CashSeized => {
                fields!(map, {
                    country: Country,
                    occurred_at: OccurredAt,
                    currency: Currency,
                    amount: Owned,
                });
                Event::CashSeized(CashSeized {
                    country: need(country)?,
                    occurred_at: need(occurred_at)?,
                    money: money(need(currency)?, need(amount)?)?,
                })
            }
            EventType::NetworkProfiled => {
                fields!(map, {
                    network: Text,
                    people_smuggled_estimate: Option<Count>,
                    max_fee: Option<Money>,
                    destination: Option<Country>,
                    method: Option<Text>,
                });
                Event::NetworkProfiled(NetworkProfiled {
                    network: need(network)?,
                    people_smuggled_estimate: people_smuggled_estimate.flatten(),
                    max_fee: max_fee.flatten(),
                    destination: destination.flatten(),
                    method: method.flatten(),
                })
            }
            EventType::OperationClosed => {
                if map.next_key_seed(KeySeed(&[]))?.is_some() {
                    return Err(refused());
                }
                Event::OperationClosed
            }
            EventType::EventRetracted => {
                fields!(map, { event_id: Uuid, reason: Text });
                Event::EventRetracted(EventRetracted {
                    event_id: need(event_id)?,
                    reason: need(reason)?,
                })
            }
        };
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const GOLDEN: &str = include_str!("../tests/golden/events-v1.jsonl");

    /// The golden file's `(type, data)` pairs, each data as its fields'
    /// `(key, raw value)` texts.
    fn golden() -> Vec<(EventType, Vec<(String, String)>)> {
        GOLDEN
            .lines()
            .map(|line| {
                let rest = line.strip_prefix("{\"type\":\"").expect("golden line");
                let (name, rest) = rest.split_once('"').expect("type");
                let data = rest
                    .strip_prefix(",\"data\":")
                    .and_then(|d| d.strip_suffix('}'))
                    .expect("data");
                let fields = crate::raw::fields(data)
                    .map(|field| {
                        let (key, value) = field.expect("field");
                        (key.to_owned(), value.to_owned())
                    })
                    .collect();
                (EventType::parse(name).expect("type"), fields)
            })
            .collect()
    }

    /// Values that are valid somewhere, invalid elsewhere, or on an edge of
    /// what the tree reader accepts.
    const VALUES: &[&str] = &[
        "null",
        "0",
        "-0",
        "1",
        "-1",
        "1.0",
        "1e3",
        "2",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "true",
        "false",
        "\"\"",
        "\" \"",
        "\"AL\"",
        "\"al\"",
        "\"XK\"",
        "\"\\u0041L\"",
        "\"EUR\"",
        "\"JPY\"",
        "\"USD\"",
        "\"1.5\"",
        "\"5\"",
        "\"007\"",
        "\"0\"",
        "\"200000.00\"",
        "\"2019-12-10\"",
        "\"2019-12-01\"",
        "\"2019-12-20\"",
        "\"2019-12-10T10:00:00Z\"",
        "\"2019-12-10T10:00:00+01:00\"",
        "\"2016-12-31T23:59:60Z\"",
        "\"road\"",
        "\"passenger\"",
        "\"boat\"",
        "\"labour\"",
        "\"migrant_smuggling\"",
        "\"document_fraud\"",
        "\"Migrant\"",
        "[]",
        "[\"AL\"]",
        "[\"AL\",\"AL\"]",
        "[\"AL\",\"TR\"]",
        "[\"migrant_smuggling\",\"migrant_smuggling\"]",
        "[\"migrant_smuggling\",null]",
        "[[]]",
        "[1]",
        "{}",
        r#"{"currency":"EUR","amount":"5"}"#,
        r#"{"currency":"EUR","amount":"5","x":1}"#,
        r#"{"currency":"EUR","currency":"EUR","amount":"5"}"#,
        r#"{"amount":"5.25","currency":"EUR"}"#,
        r#"{"currency":"EUR","amount":null}"#,
        r#"{"currency":"EUR"}"#,
        r#"{"key":"000102030405060708090a0b0c0d0e0f","sealed":"00112233445566778899aabbccddeeff00"}"#,
        r#"{"sealed":"00112233445566778899aabbccddeeff00","key":"000102030405060708090a0b0c0d0e0f"}"#,
        r#"{"key":"000102030405060708090A0B0C0D0E0F","sealed":"00112233445566778899aabbccddeeff00"}"#,
        r#"{"key":"000102030405060708090a0b0c0d0e0f","sealed":"0011"}"#,
        r#"{"key":"000102030405060708090a0b0c0d0e0f","key":"000102030405060708090a0b0c0d0e0f","sealed":"00112233445566778899aabbccddeeff00"}"#,
        "\"0190f8b2-7c1e-7a3b-9c2d-5e6f7a8b9c0d\"",
        "\"00000000-0000-0000-0000-000000000000\"",
        "\"0190f8b27c1e7a3b9c2d5e6f7a8b9c0d\"",
        "\"{0190f8b2-7c1e-7a3b-9c2d-5e6f7a8b9c0d}\"",
        "\"a\\u0000b\"",
        "\"a\\nb\"",
        "\"a\\u202eb\"",
        "\"\\u200b\"",
        "\"x\\ty\"",
        "\"caf\\u00e9\"",
        "\"x\\\"y\"",
        "\"AL-S-0001\"",
        "\"AL-S-\\\\0001\"",
        "\"a\\\"b\\\\c\"",
        "\"a\\/b\"",
        "\"2019-12-10T10:00:00.500Z\"",
        "\"2019-12-10T10:00:00.5Z\"",
        "\"2019-12-10T10:00:00.120+01:00\"",
        "\"2019-12-10T10:00:00.123456Z\"",
        "\"2019-12-10T10:00:00.123456000Z\"",
        "\"2019-12-10T10:00:00.123456789-05:30\"",
        "\"2019-12-10T10:00:00-00:00\"",
        "\"2019-12-10T10:00:00+00:00\"",
        "\"2016-12-31T23:59:60.250Z\"",
        "\"2016-12-31T23:59:60.25Z\"",
        "\"5.00\"",
        "\"5.0\"",
        "\"0.50\"",
        "\"0190F8B2-7C1E-7A3B-9C2D-5E6F7A8B9C0D\"",
        "01",
        "1 ",
        "\"net-1\"",
    ];

    /// One change to an event's fields.
    #[derive(Debug, Clone)]
    enum Change {
        Replace(usize, usize),
        Remove(usize),
        Repeat(usize, usize),
        Unknown(usize),
        Swap(usize, usize),
        EscapeKey(usize),
        LongText(usize, usize),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            4 => (any::<usize>(), 0..VALUES.len()).prop_map(|(f, v)| Change::Replace(f, v)),
            1 => any::<usize>().prop_map(Change::Remove),
            1 => (any::<usize>(), 0..VALUES.len()).prop_map(|(f, v)| Change::Repeat(f, v)),
            1 => (0..VALUES.len()).prop_map(Change::Unknown),
            1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Change::Swap(a, b)),
            1 => any::<usize>().prop_map(Change::EscapeKey),
            1 => (any::<usize>(), 126..1003usize).prop_map(|(f, n)| Change::LongText(f, n)),
        ]
    }

    fn apply(fields: &mut Vec<(String, String)>, change: &Change) {
        let n = fields.len();
        match *change {
            Change::Replace(f, v) if n > 0 => fields[f % n].1 = VALUES[v].to_owned(),
            Change::Remove(f) if n > 0 => {
                fields.remove(f % n);
            }
            Change::Repeat(f, v) if n > 0 => {
                let key = fields[f % n].0.clone();
                fields.push((key, VALUES[v].to_owned()));
            }
            Change::Unknown(v) => fields.push(("extra".to_owned(), VALUES[v].to_owned())),
            Change::Swap(a, b) if n > 0 => fields.swap(a % n, b % n),
            Change::EscapeKey(f) if n > 0 => {
                let key = &mut fields[f % n].0;
                if let Some(first) = key.chars().next() {
                    *key = format!("\\u{:04x}{}", u32::from(first), &key[first.len_utf8()..]);
                }
            }
            Change::LongText(f, len) if n > 0 => {
                fields[f % n].1 = format!("\"{}\"", "é".repeat(len))
            }
            _ => {}
        }
    }

    fn text(fields: &[(String, String)], spaced: bool) -> String {
        let gap = if spaced { " " } else { "" };
        let inner: Vec<String> = fields
            .iter()
            .map(|(key, value)| format!("\"{key}\":{gap}{value}"))
            .collect();
        format!("{{{gap}{}{gap}}}", inner.join(&format!(",{gap}")))
    }

    /// The law: the fast path accepts exactly what the tree reader accepts,
    /// as the same event.
    fn agree(kind: EventType, data: &str) -> Result<(), TestCaseError> {
        let tree = Event::parse_by_tree(kind, data).ok();
        let fast = read_data(kind, data);
        if let Some(event) = &fast {
            // And the canonical check that needs no string agrees with the
            // one that writes it.
            prop_assert_eq!(
                event.is_canonical(data),
                event.data_json() == data,
                "{}",
                data
            );
        }
        // The audit's canonical reader accepts exactly the canonical texts
        // of what the strict reader accepts (the old path is the oracle).
        let canonical = crate::canonical::read_canonical(kind, data);
        let expected = tree.clone().filter(|event| event.data_json() == data);
        prop_assert_eq!(&canonical, &expected, "canonical {} {}", kind, data);
        if let Some(event) = &tree {
            let written = event.data_json();
            let read = crate::canonical::read_canonical(kind, &written);
            prop_assert_eq!(read.as_ref(), Some(event), "{}", written);
        }
        prop_assert_eq!(fast, tree, "{} {}", kind, data);
        Ok(())
    }

    #[test]
    fn the_golden_events_read_the_same() {
        for (kind, fields) in golden() {
            let data = text(&fields, false);
            assert!(read_data(kind, &data).is_some(), "{data}");
            agree(kind, &data).expect("agree");
        }
    }

    #[test]
    fn every_value_in_every_field_agrees() {
        for (kind, fields) in golden() {
            for field in 0..fields.len() {
                for value in VALUES {
                    let mut changed = fields.clone();
                    changed[field].1 = (*value).to_owned();
                    agree(kind, &text(&changed, false)).expect("agree");
                }
            }
        }
    }

    #[test]
    fn edge_texts_agree() {
        for data in [
            "",
            "{",
            "{}",
            "{} x",
            " {} ",
            "[]",
            "null",
            "{\"a\":1",
            "{\"country\":\"AL\",}",
            "{\"country\":\"AL\"}\n",
            "{\"country\":\"AL\",\"country\":\"AL\"}",
        ] {
            for kind in EventType::ALL {
                agree(*kind, data).expect("agree");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        #[test]
        fn the_fast_path_agrees_with_the_tree_reader(
            event in 0..14usize,
            kind in 0..14usize,
            same_kind in any::<bool>(),
            changes in prop::collection::vec(change(), 0..4),
            spaced in any::<bool>(),
        ) {
            let events = golden();
            let (own, mut fields) = events[event % events.len()].clone();
            for change in &changes {
                apply(&mut fields, change);
            }
            let kind = if same_kind { own } else { EventType::ALL[kind] };
            agree(kind, &text(&fields, spaced))?;
        }
    }
}
