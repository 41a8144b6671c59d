//! A lean, borrowed view of a stored event: what the projections read.
//!
//! Replay reads millions of events that the domain accepted when they were
//! appended, so it does not validate them again: it decodes only the fields a
//! report uses, borrows strings from the log's buffer, and reduces
//! `occurred_at` to its UTC day without a general timestamp parser. The
//! pseudonyms of suspects and victims are not even decoded: a projection
//! cannot print what it never sees. Property tests check that this view
//! agrees with the strict reading in [`crate::Event`].

use std::borrow::Cow;

use chrono::NaiveDate;
use uuid::Uuid;

use crate::raw;
use crate::{
    CheckKind, Country, Currency, Day, Event, EventType, Exploitation, Item, Location, Money,
    Offence, OffenceSet,
};

/// The fields of an event that reports use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventView<'a> {
    OperationLaunched {
        name: Cow<'a, str>,
        coordinator: Cow<'a, str>,
        countries: Vec<Country>,
        starts_on: Day,
        ends_on: Day,
        funded_by: Option<Cow<'a, str>>,
    },
    CountryJoined {
        country: Country,
    },
    AgentsDeployed {
        country: Country,
        count: u64,
    },
    ExpertsDeployed {
        country: Country,
        count: u64,
    },
    ArrestMade {
        country: Country,
        day: Day,
        location: Location,
        network: Option<Cow<'a, str>>,
        offences: OffenceSet,
    },
    /// The victim's reference is not decoded; what is known about the
    /// victim (minor, nationality, form of exploitation) is.
    VictimRescued {
        country: Country,
        day: Day,
        location: Location,
        minor: Option<bool>,
        nationality: Option<Country>,
        exploitation: Option<Exploitation>,
    },
    MigrantsDetected {
        country: Country,
        day: Day,
        location: Location,
        count: u64,
    },
    ChecksPerformed {
        country: Country,
        day: Day,
        kind: CheckKind,
        count: u64,
    },
    ItemsSeized {
        country: Country,
        day: Day,
        location: Option<Location>,
        item: Item,
        count: u64,
    },
    DrugsSeized {
        country: Country,
        day: Day,
        grams: u64,
    },
    CashSeized {
        country: Country,
        day: Day,
        money: Money,
    },
    NetworkProfiled {
        network: Cow<'a, str>,
        people_smuggled_estimate: Option<u64>,
        max_fee: Option<Money>,
        destination: Option<Country>,
        method: Option<Cow<'a, str>>,
    },
    OperationClosed,
    EventRetracted {
        event_id: Uuid,
    },
}

/// The UTC day of an RFC 3339 timestamp as the domain writes it
/// (`YYYY-MM-DDTHH:MM:SS[.f…](Z|±HH:MM)`), computed from its digits.
pub fn utc_day_of(text: &str) -> Option<Day> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let minutes_of_day = i64::from(num(11..13)?) * 60 + i64::from(num(14..16)?);
    let offset_minutes = match b[b.len() - 1] {
        b'Z' | b'z' => 0,
        _ => {
            let n = b.len();
            if n < 25 || b[n - 3] != b':' {
                return None;
            }
            let magnitude = i64::from(num(n - 5..n - 3)?) * 60 + i64::from(num(n - 2..n)?);
            match b[n - 6] {
                b'+' => magnitude,
                b'-' => -magnitude,
                _ => return None,
            }
        }
    };
    let utc_minutes = minutes_of_day - offset_minutes;
    let shift = utc_minutes.div_euclid(24 * 60);
    date.checked_add_signed(chrono::Duration::days(shift))
        .map(Day)
}

/// The raw values of the fields any event type has, as one pass over the
/// data object collects them.
#[derive(Default)]
struct RawFields<'a> {
    country: Option<&'a str>,
    occurred_at: Option<&'a str>,
    location: Option<&'a str>,
    count: Option<&'a str>,
    kind: Option<&'a str>,
    item: Option<&'a str>,
    grams: Option<&'a str>,
    currency: Option<&'a str>,
    amount: Option<&'a str>,
    network: Option<&'a str>,
    offences: Option<&'a str>,
    minor: Option<&'a str>,
    nationality: Option<&'a str>,
    exploitation: Option<&'a str>,
    name: Option<&'a str>,
    coordinator: Option<&'a str>,
    countries: Option<&'a str>,
    starts_on: Option<&'a str>,
    ends_on: Option<&'a str>,
    funded_by: Option<&'a str>,
    people_smuggled_estimate: Option<&'a str>,
    max_fee: Option<&'a str>,
    destination: Option<&'a str>,
    method: Option<&'a str>,
    event_id: Option<&'a str>,
}

impl<'a> RawFields<'a> {
    fn read(data: &'a str) -> Result<RawFields<'a>, String> {
        let mut raw = RawFields::default();
        let mut nulls: Vec<&str> = Vec::new();
        for field in raw::fields(data) {
            let (key, value) = field?;
            // null is how JSON spells "absent" for an optional field.
            let value = (value != "null").then_some(value);
            let slot = match key {
                "country" => &mut raw.country,
                "occurred_at" => &mut raw.occurred_at,
                "location" => &mut raw.location,
                "count" => &mut raw.count,
                "kind" => &mut raw.kind,
                "item" => &mut raw.item,
                "grams" => &mut raw.grams,
                "currency" => &mut raw.currency,
                "amount" => &mut raw.amount,
                "network" => &mut raw.network,
                "offences" => &mut raw.offences,
                "minor" => &mut raw.minor,
                "nationality" => &mut raw.nationality,
                "exploitation" => &mut raw.exploitation,
                "name" => &mut raw.name,
                "coordinator" => &mut raw.coordinator,
                "countries" => &mut raw.countries,
                "starts_on" => &mut raw.starts_on,
                "ends_on" => &mut raw.ends_on,
                "funded_by" => &mut raw.funded_by,
                "people_smuggled_estimate" => &mut raw.people_smuggled_estimate,
                "max_fee" => &mut raw.max_fee,
                "destination" => &mut raw.destination,
                "method" => &mut raw.method,
                "event_id" => &mut raw.event_id,
                // A key spelt with an escape is one of the above to serde
                // (`coun\u0074ry`), and the domain never writes one.
                _ if key.contains('\\') => return Err(format!("{key}: a key with an escape")),
                // Fields no report reads, pseudonyms among them.
                _ => continue,
            };
            // JSON leaves a repeated key's meaning open; the strict reading
            // (serde's, so `verify`'s) refuses it, and a report must not
            // count a figure from either copy.
            if slot.is_some() || nulls.contains(&key) {
                return Err(format!("{key}: given twice"));
            }
            if value.is_none() {
                // `null` leaves the slot empty, so such keys are kept to
                // be told apart from a later copy (rare: the domain omits
                // absent fields, and an empty Vec does not allocate).
                nulls.push(key);
            }
            *slot = value;
        }
        Ok(raw)
    }
}

fn required<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, String> {
    value.ok_or_else(|| format!("missing {name}"))
}

fn text<'a>(value: Option<&'a str>, name: &str) -> Result<Cow<'a, str>, String> {
    raw::string(required(value, name)?)
}

fn optional_text(value: Option<&str>) -> Result<Option<Cow<'_, str>>, String> {
    value.map(raw::string).transpose()
}

fn country(value: Option<&str>, name: &str) -> Result<Country, String> {
    let code = text(value, name)?;
    Country::parse(&code).ok_or_else(|| format!("{name}: unknown country {code:?}"))
}

fn count(value: Option<&str>, name: &str) -> Result<u64, String> {
    raw::number(required(value, name)?)
}

fn day(value: Option<&str>) -> Result<Day, String> {
    let occurred_at = text(value, "occurred_at")?;
    utc_day_of(&occurred_at).ok_or_else(|| format!("occurred_at {occurred_at:?} is not RFC 3339"))
}

fn word<T>(value: Option<&str>, name: &str, parse: fn(&str) -> Option<T>) -> Result<T, String> {
    let word = text(value, name)?;
    parse(&word).ok_or_else(|| format!("{name}: unknown {word:?}"))
}

/// A list of offence words, `["a","b"]`, read without allocating.
fn offences(value: Option<&str>) -> Result<OffenceSet, String> {
    let Some(raw) = value else {
        return Ok(OffenceSet::EMPTY);
    };
    let inner = raw
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| format!("offences: expected a list, found {raw}"))?;
    let mut set = OffenceSet::EMPTY;
    for word in inner.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let word = raw::string(word).map_err(|e| format!("offences: {e}"))?;
        let offence = Offence::parse(&word).ok_or_else(|| format!("offences: unknown {word:?}"))?;
        set = set.with(offence);
    }
    Ok(set)
}

fn flag(value: Option<&str>, name: &str) -> Result<Option<bool>, String> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(format!("{name}: expected true or false, found {other}")),
    }
}

fn date(value: Option<&str>, name: &str) -> Result<Day, String> {
    let text = text(value, name)?;
    Day::parse(&text).ok_or_else(|| format!("{name}: {text:?} is not a date"))
}

impl<'a> EventView<'a> {
    /// Decodes a stored event's data. The error is a reason for a corruption
    /// report: the log should only hold events the domain accepted.
    pub fn decode(event_type: EventType, data: &'a str) -> Result<EventView<'a>, String> {
        let f = RawFields::read(data)?;
        Ok(match event_type {
            EventType::OperationLaunched => EventView::OperationLaunched {
                name: text(f.name, "name")?,
                coordinator: text(f.coordinator, "coordinator")?,
                countries: serde_json::from_str(required(f.countries, "countries")?)
                    .map_err(|e| format!("countries: {e}"))?,
                starts_on: date(f.starts_on, "starts_on")?,
                ends_on: date(f.ends_on, "ends_on")?,
                funded_by: optional_text(f.funded_by)?,
            },
            EventType::CountryJoined => EventView::CountryJoined {
                country: country(f.country, "country")?,
            },
            EventType::AgentsDeployed => EventView::AgentsDeployed {
                country: country(f.country, "country")?,
                count: count(f.count, "count")?,
            },
            EventType::ExpertsDeployed => EventView::ExpertsDeployed {
                country: country(f.country, "country")?,
                count: count(f.count, "count")?,
            },
            EventType::ArrestMade => EventView::ArrestMade {
                country: country(f.country, "country")?,
                day: day(f.occurred_at)?,
                location: word(f.location, "location", Location::parse)?,
                network: optional_text(f.network)?,
                offences: offences(f.offences)?,
            },
            EventType::VictimRescued => EventView::VictimRescued {
                country: country(f.country, "country")?,
                day: day(f.occurred_at)?,
                location: word(f.location, "location", Location::parse)?,
                minor: flag(f.minor, "minor")?,
                nationality: f
                    .nationality
                    .map(|_| country(f.nationality, "nationality"))
                    .transpose()?,
                exploitation: f
                    .exploitation
                    .map(|_| word(f.exploitation, "exploitation", Exploitation::parse))
                    .transpose()?,
            },
            EventType::MigrantsDetected => EventView::MigrantsDetected {
                country: country(f.country, "country")?,
                day: day(f.occurred_at)?,
                location: word(f.location, "location", Location::parse)?,
                count: count(f.count, "count")?,
            },
            EventType::ChecksPerformed => EventView::ChecksPerformed {
                country: country(f.country, "country")?,
                day: day(f.occurred_at)?,
                kind: word(f.kind, "kind", CheckKind::parse)?,
                count: count(f.count, "count")?,
            },
            EventType::ItemsSeized => EventView::ItemsSeized {
                country: country(f.country, "country")?,
                day: day(f.occurred_at)?,
                location: f
                    .location
                    .map(|_| word(f.location, "location", Location::parse))
                    .transpose()?,
                item: word(f.item, "item", Item::parse)?,
                count: count(f.count, "count")?,
            },
            EventType::DrugsSeized => EventView::DrugsSeized {
                country: country(f.country, "country")?,
                day: day(f.occurred_at)?,
                grams: count(f.grams, "grams")?,
            },
            EventType::CashSeized => EventView::CashSeized {
                country: country(f.country, "country")?,
                day: day(f.occurred_at)?,
                money: Money::parse(
                    word(f.currency, "currency", Currency::parse)?,
                    &text(f.amount, "amount")?,
                )?,
            },
            EventType::NetworkProfiled => EventView::NetworkProfiled {
                network: text(f.network, "network")?,
                people_smuggled_estimate: f
                    .people_smuggled_estimate
                    .map(raw::number)
                    .transpose()?,
                max_fee: f
                    .max_fee
                    .map(|raw| {
                        serde_json::from_str::<Money>(raw).map_err(|e| format!("max_fee: {e}"))
                    })
                    .transpose()?,
                destination: f
                    .destination
                    .map(|_| country(f.destination, "destination"))
                    .transpose()?,
                method: optional_text(f.method)?,
            },
            EventType::OperationClosed => EventView::OperationClosed,
            EventType::EventRetracted => {
                let id = text(f.event_id, "event_id")?;
                EventView::EventRetracted {
                    event_id: Uuid::try_parse(&id).map_err(|e| format!("event_id: {e}"))?,
                }
            }
        })
    }

    /// The view of a typed event: what `decode` must agree with.
    pub fn of(event: &'a Event) -> EventView<'a> {
        match event {
            Event::OperationLaunched(e) => EventView::OperationLaunched {
                name: Cow::Borrowed(e.name.as_str()),
                coordinator: Cow::Borrowed(e.coordinator.as_str()),
                countries: e.countries.clone(),
                starts_on: e.starts_on,
                ends_on: e.ends_on,
                funded_by: e.funded_by.as_ref().map(|t| Cow::Borrowed(t.as_str())),
            },
            Event::CountryJoined(e) => EventView::CountryJoined { country: e.country },
            Event::AgentsDeployed(e) => EventView::AgentsDeployed {
                country: e.country,
                count: e.count.get(),
            },
            Event::ExpertsDeployed(e) => EventView::ExpertsDeployed {
                country: e.country,
                count: e.count.get(),
            },
            Event::ArrestMade(e) => EventView::ArrestMade {
                country: e.country,
                day: e.occurred_at.utc_day(),
                location: e.location,
                network: e.network.as_ref().map(|t| Cow::Borrowed(t.as_str())),
                offences: e.offences.iter().flatten().copied().collect(),
            },
            Event::VictimRescued(e) => EventView::VictimRescued {
                country: e.country,
                day: e.occurred_at.utc_day(),
                location: e.location,
                minor: e.minor,
                nationality: e.nationality,
                exploitation: e.exploitation,
            },
            Event::MigrantsDetected(e) => EventView::MigrantsDetected {
                country: e.country,
                day: e.occurred_at.utc_day(),
                location: e.location,
                count: e.count.get(),
            },
            Event::ChecksPerformed(e) => EventView::ChecksPerformed {
                country: e.country,
                day: e.occurred_at.utc_day(),
                kind: e.kind,
                count: e.count.get(),
            },
            Event::ItemsSeized(e) => EventView::ItemsSeized {
                country: e.country,
                day: e.occurred_at.utc_day(),
                location: e.location,
                item: e.item,
                count: e.count.get(),
            },
            Event::DrugsSeized(e) => EventView::DrugsSeized {
                country: e.country,
                day: e.occurred_at.utc_day(),
                grams: e.grams.get(),
            },
            Event::CashSeized(e) => EventView::CashSeized {
                country: e.country,
                day: e.occurred_at.utc_day(),
                money: e.money,
            },
            Event::NetworkProfiled(e) => EventView::NetworkProfiled {
                network: Cow::Borrowed(e.network.as_str()),
                people_smuggled_estimate: e.people_smuggled_estimate.map(|c| c.get()),
                max_fee: e.max_fee,
                destination: e.destination,
                method: e.method.as_ref().map(|t| Cow::Borrowed(t.as_str())),
            },
            Event::OperationClosed => EventView::OperationClosed,
            Event::EventRetracted(e) => EventView::EventRetracted {
                event_id: e.event_id,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OccurredAt;

    #[test]
    fn the_fast_utc_day_agrees_with_chrono() {
        for text in [
            "2019-12-09T00:30:00+02:00",
            "2019-12-16T23:30:00-02:00",
            "2019-12-31T23:59:59.999-00:01",
            "2019-12-10T14:30:00Z",
            "2020-02-29T00:00:00+14:00",
            "2019-12-10T14:30:00.123456789+05:45",
        ] {
            let expected = OccurredAt::parse(text).map(|t| t.utc_day());
            assert_eq!(utc_day_of(text), expected, "{text}");
        }
        assert_eq!(utc_day_of("not a time at all, no"), None);
    }

    #[test]
    fn decode_agrees_with_the_strict_reading() {
        let samples = [
            (
                "ArrestMade",
                r#"{"country":"AL","occurred_at":"2019-12-10T23:30:00-02:00","location":"road","suspect":"S-1","network":"net-1","offences":["migrant_smuggling"]}"#,
            ),
            (
                "ArrestMade",
                r#"{"country":"AL","occurred_at":"2019-12-10T10:00:00Z","location":"road","suspect":"S-2","offences":["trafficking_in_persons","firearms","document_fraud"]}"#,
            ),
            (
                "VictimRescued",
                r#"{"country":"AL","occurred_at":"2019-12-10T10:00:00Z","location":"road","victim":"V-1","minor":true,"nationality":"SY","exploitation":"forced_criminality"}"#,
            ),
            (
                "VictimRescued",
                r#"{"country":"AL","occurred_at":"2019-12-10T10:00:00Z","location":"road","victim":"V-2","minor":false}"#,
            ),
            (
                "CashSeized",
                r#"{"country":"AL","occurred_at":"2019-12-10T10:00:00Z","currency":"USD","amount":"200000.00"}"#,
            ),
            (
                "NetworkProfiled",
                r#"{"network":"n","people_smuggled_estimate":10000,"max_fee":{"currency":"EUR","amount":"7000.00"},"destination":"GB","method":"refrigerated trucks"}"#,
            ),
            (
                "OperationLaunched",
                r#"{"name":"Operation Theseus","coordinator":"INTERPOL","countries":["AL","TR"],"starts_on":"2019-12-09","ends_on":"2019-12-16","funded_by":"German Federal Foreign Office"}"#,
            ),
            (
                "ItemsSeized",
                r#"{"country":"AL","occurred_at":"2019-12-10T10:00:00Z","item":"boat","count":3}"#,
            ),
        ];
        for (event_type, data) in samples {
            let event = Event::parse(event_type, data).expect("valid");
            let canonical = event.data_json();
            let kind = EventType::parse(event_type).expect("type");
            assert_eq!(
                EventView::decode(kind, &canonical),
                Ok(EventView::of(&event)),
                "{event_type}"
            );
        }
    }

    /// Where `verify`'s strict reading refuses a record's data, so does the
    /// report's reading: otherwise a report would print a figure from a
    /// record that `verify` refuses, and from which copy of a field it liked.
    #[test]
    fn decode_refuses_what_the_strict_reading_refuses() {
        let arrest = r#"{"country":"AL","occurred_at":"2019-12-10T10:00:00Z","location":"road","suspect":"S-1","offences":["migrant_smuggling"]}"#;
        assert!(EventView::decode(EventType::ArrestMade, arrest).is_ok());
        let forged = [
            // One object, then more text: the envelope's reader cuts `data`
            // at the record's end, so this is what a forged record holds.
            format!(r#"{arrest},"country":"RS"}}"#),
            arrest.replacen(r#""country":"AL""#, r#""country":"AL","country":"RS""#, 1),
            arrest.replacen(
                r#""location":"road""#,
                r#""location":null,"location":"road""#,
                1,
            ),
            arrest.replacen(r#""country":"AL""#, r#""coun\u0074ry":"AL""#, 1),
        ];
        for data in &forged {
            // `verify` accepts only data the strict reading takes and that
            // is already in the canonical form the domain writes.
            let verify_accepts =
                Event::parse("ArrestMade", data).is_ok_and(|event| event.data_json() == *data);
            assert!(!verify_accepts, "verify refuses {data}");
            assert!(
                EventView::decode(EventType::ArrestMade, data).is_err(),
                "the report's reading refuses {data}"
            );
        }
    }
}
