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
use serde::Deserialize;
use uuid::Uuid;

use crate::{CheckKind, Country, Currency, Day, Event, EventType, Item, Location, Money};

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
    },
    VictimRescued {
        country: Country,
        day: Day,
        location: Location,
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

fn day(occurred_at: &str) -> Result<Day, String> {
    utc_day_of(occurred_at).ok_or_else(|| format!("occurred_at {occurred_at:?} is not RFC 3339"))
}

#[derive(Deserialize)]
struct MoneyWire<'a> {
    currency: Currency,
    #[serde(borrow)]
    amount: Cow<'a, str>,
}

impl MoneyWire<'_> {
    fn money(&self) -> Result<Money, String> {
        Money::parse(self.currency, &self.amount)
    }
}

/// Declares the wire struct of an outcome that has a country and an
/// occurred_at, plus the given fields. (Not `#[serde(flatten)]`: that
/// buffers every field and costs a third of replay time.)
macro_rules! wire {
    ($name:ident { $($(#[$attr:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Deserialize)]
        struct $name<'a> {
            country: Country,
            #[serde(borrow)]
            occurred_at: Cow<'a, str>,
            $($(#[$attr])* $field: $ty,)*
        }
    };
}

impl<'a> EventView<'a> {
    /// Decodes a stored event's data. The error is a reason for a corruption
    /// report: the log should only hold events the domain accepted.
    pub fn decode(event_type: EventType, data: &'a str) -> Result<EventView<'a>, String> {
        fn parse<'a, T: Deserialize<'a>>(data: &'a str) -> Result<T, String> {
            serde_json::from_str(data).map_err(|error| error.to_string())
        }
        #[derive(Deserialize)]
        struct Launch<'a> {
            #[serde(borrow)]
            name: Cow<'a, str>,
            #[serde(borrow)]
            coordinator: Cow<'a, str>,
            countries: Vec<Country>,
            starts_on: Day,
            ends_on: Day,
            #[serde(borrow, default)]
            funded_by: Option<Cow<'a, str>>,
        }
        #[derive(Deserialize)]
        struct CountryCount {
            country: Country,
            #[serde(default)]
            count: u64,
        }
        #[derive(Deserialize)]
        struct Profile<'a> {
            #[serde(borrow)]
            network: Cow<'a, str>,
            people_smuggled_estimate: Option<u64>,
            #[serde(borrow)]
            max_fee: Option<MoneyWire<'a>>,
            destination: Option<Country>,
            #[serde(borrow, default)]
            method: Option<Cow<'a, str>>,
        }
        #[derive(Deserialize)]
        struct Retraction {
            event_id: Uuid,
        }
        wire!(Arrest { location: Location, #[serde(borrow, default)] network: Option<Cow<'a, str>> });
        Ok(match event_type {
            EventType::OperationLaunched => {
                let l: Launch<'a> = parse(data)?;
                EventView::OperationLaunched {
                    name: l.name,
                    coordinator: l.coordinator,
                    countries: l.countries,
                    starts_on: l.starts_on,
                    ends_on: l.ends_on,
                    funded_by: l.funded_by,
                }
            }
            EventType::CountryJoined => {
                let c: CountryCount = parse(data)?;
                EventView::CountryJoined { country: c.country }
            }
            EventType::AgentsDeployed => {
                let c: CountryCount = parse(data)?;
                EventView::AgentsDeployed {
                    country: c.country,
                    count: c.count,
                }
            }
            EventType::ExpertsDeployed => {
                let c: CountryCount = parse(data)?;
                EventView::ExpertsDeployed {
                    country: c.country,
                    count: c.count,
                }
            }
            EventType::ArrestMade => {
                let a: Arrest<'a> = parse(data)?;
                EventView::ArrestMade {
                    country: a.country,
                    day: day(&a.occurred_at)?,
                    location: a.location,
                    network: a.network,
                }
            }
            EventType::VictimRescued => {
                wire!(Rescue { location: Location });
                let r: Rescue<'a> = parse(data)?;
                EventView::VictimRescued {
                    country: r.country,
                    day: day(&r.occurred_at)?,
                    location: r.location,
                }
            }
            EventType::MigrantsDetected => {
                wire!(Detection {
                    location: Location,
                    count: u64
                });
                let d: Detection<'a> = parse(data)?;
                EventView::MigrantsDetected {
                    country: d.country,
                    day: day(&d.occurred_at)?,
                    location: d.location,
                    count: d.count,
                }
            }
            EventType::ChecksPerformed => {
                wire!(Checks {
                    kind: CheckKind,
                    count: u64
                });
                let c: Checks<'a> = parse(data)?;
                EventView::ChecksPerformed {
                    country: c.country,
                    day: day(&c.occurred_at)?,
                    kind: c.kind,
                    count: c.count,
                }
            }
            EventType::ItemsSeized => {
                wire!(Items { location: Option<Location>, item: Item, count: u64 });
                let i: Items<'a> = parse(data)?;
                EventView::ItemsSeized {
                    country: i.country,
                    day: day(&i.occurred_at)?,
                    location: i.location,
                    item: i.item,
                    count: i.count,
                }
            }
            EventType::DrugsSeized => {
                wire!(Drugs { grams: u64 });
                let d: Drugs<'a> = parse(data)?;
                EventView::DrugsSeized {
                    country: d.country,
                    day: day(&d.occurred_at)?,
                    grams: d.grams,
                }
            }
            EventType::CashSeized => {
                wire!(Cash { currency: Currency, #[serde(borrow)] amount: Cow<'a, str> });
                let c: Cash<'a> = parse(data)?;
                EventView::CashSeized {
                    country: c.country,
                    day: day(&c.occurred_at)?,
                    money: Money::parse(c.currency, &c.amount)?,
                }
            }
            EventType::NetworkProfiled => {
                let p: Profile<'a> = parse(data)?;
                EventView::NetworkProfiled {
                    network: p.network,
                    people_smuggled_estimate: p.people_smuggled_estimate,
                    max_fee: p.max_fee.map(|m| m.money()).transpose()?,
                    destination: p.destination,
                    method: p.method,
                }
            }
            EventType::OperationClosed => EventView::OperationClosed,
            EventType::EventRetracted => {
                let r: Retraction = parse(data)?;
                EventView::EventRetracted {
                    event_id: r.event_id,
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
            },
            Event::VictimRescued(e) => EventView::VictimRescued {
                country: e.country,
                day: e.occurred_at.utc_day(),
                location: e.location,
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
}
