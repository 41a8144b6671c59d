//! An operation's state and the rules that accept or refuse its next event.
//!
//! The state holds only what the rules need (period, participants, whether
//! it is closed, which events were retracted, how many events it has): the
//! figures of an operation are the projections' business. `apply` cannot
//! fail; `decide` is pure and is always called first.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Country, Day, Event, EventType, EventView, Slug};

/// What the caller knows about the event a retraction names: the caller
/// looks it up (in the log or earlier in the batch) and passes it in, so that
/// the rules stay free of I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetractionTarget {
    pub operation: Slug,
    pub event_type: EventType,
}

/// Why an event is refused. Each refusal names the input field it is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("operation {0} has not been launched: its first event must be OperationLaunched")]
    NotLaunched(Slug),
    #[error("operation {0} has already been launched")]
    AlreadyLaunched(Slug),
    #[error("operation {0} is already closed")]
    AlreadyClosed(Slug),
    #[error("operation {0} is closed: no country can join it")]
    ClosedToJoins(Slug),
    #[error("{country} does not take part in operation {operation} (launch it with the country or report CountryJoined first)")]
    NotParticipant { operation: Slug, country: Country },
    #[error("{country} already takes part in operation {operation}")]
    AlreadyParticipant { operation: Slug, country: Country },
    #[error("{day} (UTC) is outside the operation's period {starts_on}..{ends_on}")]
    OutsidePeriod {
        day: Day,
        starts_on: Day,
        ends_on: Day,
    },
    #[error("no earlier event has id {0}")]
    UnknownTarget(Uuid),
    #[error("event {id} belongs to operation {other}, not {operation}")]
    TargetInOtherOperation {
        id: Uuid,
        operation: Slug,
        other: Slug,
    },
    #[error("event {id} is {event_type}, which cannot be retracted (only outcome events can)")]
    TargetNotOutcome { id: Uuid, event_type: EventType },
    #[error("event {0} is already retracted")]
    AlreadyRetracted(Uuid),
    /// A currency that was not current when the money changed hands (see
    /// [`crate::Currency::current_on`]).
    #[error("{message}")]
    CurrencyNotCurrent {
        field: &'static str,
        message: String,
    },
}

impl Refusal {
    /// The input field the refusal is about, as a path from the line's root.
    pub fn field(&self) -> &'static str {
        match self {
            Refusal::NotLaunched(_) => "operation",
            Refusal::AlreadyLaunched(_) | Refusal::AlreadyClosed(_) | Refusal::ClosedToJoins(_) => {
                "type"
            }
            Refusal::NotParticipant { .. } | Refusal::AlreadyParticipant { .. } => "data.country",
            Refusal::OutsidePeriod { .. } => "data.occurred_at",
            Refusal::UnknownTarget(_)
            | Refusal::TargetInOtherOperation { .. }
            | Refusal::TargetNotOutcome { .. }
            | Refusal::AlreadyRetracted(_) => "data.event_id",
            Refusal::CurrencyNotCurrent { field, .. } => field,
        }
    }
}

/// A currency must have been current when the money changed hands: cash on
/// the UTC day of `occurred_at`; a network's fee, which has no date of its
/// own, on at least one day of the operation's period (the profile
/// describes the network as the operation found it).
fn currency_current(event: &Event, period: &Period) -> Result<(), Refusal> {
    match event {
        Event::CashSeized(cash) => match cash
            .money
            .currency
            .not_current_on(cash.occurred_at.utc_day())
        {
            Some(message) => Err(Refusal::CurrencyNotCurrent {
                field: "data.currency",
                message,
            }),
            None => Ok(()),
        },
        Event::NetworkProfiled(profile) => {
            let Some(fee) = &profile.max_fee else {
                return Ok(());
            };
            let currency = fee.currency;
            if currency.current_during(period.starts_on, period.ends_on) {
                return Ok(());
            }
            Err(Refusal::CurrencyNotCurrent {
                field: "data.max_fee.currency",
                message: format!(
                    "{currency} was not current on any day of the operation's period {}..{} ({})",
                    period.starts_on,
                    period.ends_on,
                    currency
                        .not_current_on(period.starts_on)
                        .unwrap_or_default()
                ),
            })
        }
        _ => Ok(()),
    }
}

/// The period fixed at launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub starts_on: Day,
    pub ends_on: Day,
}

/// One operation as the rules see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub slug: Slug,
    /// `None` until OperationLaunched.
    pub launched: Option<Period>,
    /// The countries launched with and those that joined.
    pub participants: BTreeSet<Country>,
    pub closed: bool,
    /// The number of events the operation has.
    pub version: u64,
    /// Ids of its retracted events. Saved as one base64 string of the
    /// sorted 16-byte ids ([`retracted_ids`]): the rule-state checkpoint
    /// holds every retracted id of the log, and one JSON string per id made
    /// it most of what an append read and wrote.
    #[serde(with = "retracted_ids")]
    pub retracted: BTreeSet<Uuid>,
}

/// The retracted ids as they are saved: their 16 bytes each, in order,
/// concatenated and written as one standard base64 string.
///
/// Read back, the string must decode to a whole number of ids in strictly
/// increasing order (what writing gives), so that a set is built from it in
/// one pass ([`BTreeSet`]'s bulk build from sorted input) rather than id by
/// id, and anything else is refused, not repaired.
pub mod retracted_ids {
    use std::collections::BTreeSet;

    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use uuid::Uuid;

    /// Writes the set as one base64 string.
    pub fn serialize<S: Serializer>(
        ids: &BTreeSet<Uuid>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::with_capacity(ids.len() * 16);
        for id in ids {
            bytes.extend_from_slice(id.as_bytes());
        }
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    /// Reads what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeSet<Uuid>, D::Error> {
        // Borrowed when the input has no escapes (what serde_json writes
        // for base64), owned otherwise.
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        decode(&text).map_err(D::Error::custom)
    }

    /// The ids in `text`, or why it is not what [`serialize`] writes.
    pub fn decode(text: &str) -> Result<BTreeSet<Uuid>, String> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|error| format!("retracted ids: {error}"))?;
        if bytes.len() % 16 != 0 {
            return Err(format!(
                "retracted ids: {} bytes, not a whole number of 16-byte ids",
                bytes.len()
            ));
        }
        let ids: Vec<Uuid> = bytes
            .chunks_exact(16)
            .map(|chunk| {
                let mut id = [0u8; 16];
                id.copy_from_slice(chunk);
                Uuid::from_bytes(id)
            })
            .collect();
        if ids.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err("retracted ids: not in strictly increasing order".to_owned());
        }
        Ok(ids.into_iter().collect())
    }
}

impl Operation {
    /// An operation nothing has been reported for yet.
    pub fn new(slug: Slug) -> Operation {
        Operation {
            slug,
            launched: None,
            participants: BTreeSet::new(),
            closed: false,
            version: 0,
            retracted: BTreeSet::new(),
        }
    }

    /// Accepts or refuses `event` as this operation's next event. For a
    /// retraction, `target` is what the caller found under its `event_id`
    /// (`None`: no such event).
    pub fn decide(&self, event: &Event, target: Option<&RetractionTarget>) -> Result<(), Refusal> {
        let slug = || self.slug.clone();
        let Some(launched) = &self.launched else {
            return match event {
                Event::OperationLaunched(_) => Ok(()),
                _ => Err(Refusal::NotLaunched(slug())),
            };
        };
        match event {
            Event::OperationLaunched(_) => return Err(Refusal::AlreadyLaunched(slug())),
            Event::OperationClosed if self.closed => return Err(Refusal::AlreadyClosed(slug())),
            Event::CountryJoined(_) if self.closed => return Err(Refusal::ClosedToJoins(slug())),
            Event::CountryJoined(joined) => {
                if self.participants.contains(&joined.country) {
                    return Err(Refusal::AlreadyParticipant {
                        operation: slug(),
                        country: joined.country,
                    });
                }
                return Ok(());
            }
            Event::EventRetracted(retraction) => {
                let id = retraction.event_id;
                let target = target.ok_or(Refusal::UnknownTarget(id))?;
                if target.operation != self.slug {
                    return Err(Refusal::TargetInOtherOperation {
                        id,
                        operation: slug(),
                        other: target.operation.clone(),
                    });
                }
                if !target.event_type.is_outcome() {
                    return Err(Refusal::TargetNotOutcome {
                        id,
                        event_type: target.event_type,
                    });
                }
                if self.retracted.contains(&id) {
                    return Err(Refusal::AlreadyRetracted(id));
                }
                return Ok(());
            }
            _ => {}
        }
        if let Some(country) = event.country() {
            if !self.participants.contains(&country) {
                return Err(Refusal::NotParticipant {
                    operation: slug(),
                    country,
                });
            }
        }
        if let Some(occurred_at) = event.occurred_at() {
            let day = occurred_at.utc_day();
            if day < launched.starts_on || day > launched.ends_on {
                return Err(Refusal::OutsidePeriod {
                    day,
                    starts_on: launched.starts_on,
                    ends_on: launched.ends_on,
                });
            }
        }
        currency_current(event, launched)
    }

    /// Records an accepted event. Never fails: `decide` has already said yes
    /// (or the event comes from the log, which holds only accepted events).
    pub fn apply(&mut self, event: &Event) {
        self.apply_view(&EventView::of(event));
    }

    /// Records an accepted event from its lean view, as replay reads it.
    pub fn apply_view(&mut self, event: &EventView<'_>) {
        self.version += 1;
        match event {
            EventView::OperationLaunched {
                countries,
                starts_on,
                ends_on,
                ..
            } => {
                self.launched = Some(Period {
                    starts_on: *starts_on,
                    ends_on: *ends_on,
                });
                self.participants.extend(countries.iter().copied());
            }
            EventView::CountryJoined { country } => {
                self.participants.insert(*country);
            }
            EventView::OperationClosed => self.closed = true,
            EventView::EventRetracted { event_id } => {
                self.retracted.insert(*event_id);
            }
            _ => {}
        }
    }

    /// Adds the state of the same operation's later events, folded apart.
    pub fn merge(&mut self, later: Operation) {
        self.version += later.version;
        self.launched = self.launched.or(later.launched);
        self.participants.extend(later.participants);
        self.closed |= later.closed;
        self.retracted.extend(later.retracted);
    }

    /// Records an event known only by its type, for replaying a log without
    /// reading the data of events that cannot change this state.
    pub fn count_event(&mut self) {
        self.version += 1;
    }

    /// True when events of this type change more of the state than its
    /// version: the others need not be parsed on replay.
    pub fn needs_data(event_type: EventType) -> bool {
        matches!(
            event_type,
            EventType::OperationLaunched
                | EventType::CountryJoined
                | EventType::OperationClosed
                | EventType::EventRetracted
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, data: &str) -> Event {
        Event::parse(event_type, data).expect("valid event")
    }

    fn launched() -> Operation {
        let mut operation = Operation::new(Slug::parse("op").expect("slug"));
        let launch = event(
            "OperationLaunched",
            r#"{"name":"Op","coordinator":"INTERPOL","countries":["AL","RS"],"starts_on":"2019-12-09","ends_on":"2019-12-16"}"#,
        );
        assert_eq!(operation.decide(&launch, None), Ok(()));
        operation.apply(&launch);
        operation
    }

    fn arrest(country: &str, at: &str) -> Event {
        event(
            "ArrestMade",
            &format!(
                r#"{{"country":"{country}","occurred_at":"{at}","location":"road","suspect":"S-1"}}"#
            ),
        )
    }

    fn field_of(result: Result<(), Refusal>) -> &'static str {
        result.expect_err("should be refused").field()
    }

    #[test]
    fn nothing_before_the_launch_and_no_second_launch() {
        let fresh = Operation::new(Slug::parse("op").expect("slug"));
        assert_eq!(
            field_of(fresh.decide(&arrest("AL", "2019-12-10T10:00:00Z"), None)),
            "operation"
        );
        let operation = launched();
        let again = event(
            "OperationLaunched",
            r#"{"name":"Op","coordinator":"X","countries":["AL"],"starts_on":"2019-12-09","ends_on":"2019-12-16"}"#,
        );
        assert_eq!(field_of(operation.decide(&again, None)), "type");
    }

    #[test]
    fn countries_must_take_part_and_dates_fall_in_the_period_in_utc() {
        let mut operation = launched();
        assert_eq!(
            operation.decide(&arrest("AL", "2019-12-16T23:59:59Z"), None),
            Ok(())
        );
        assert_eq!(
            field_of(operation.decide(&arrest("AL", "2019-12-17T01:30:00+01:00"), None)),
            "data.occurred_at"
        );
        assert_eq!(
            field_of(operation.decide(&arrest("AL", "2019-12-09T00:30:00+01:00"), None)),
            "data.occurred_at"
        );
        assert_eq!(
            field_of(operation.decide(&arrest("FR", "2019-12-10T10:00:00Z"), None)),
            "data.country"
        );
        let join = event("CountryJoined", r#"{"country":"FR"}"#);
        assert_eq!(operation.decide(&join, None), Ok(()));
        operation.apply(&join);
        assert_eq!(
            operation.decide(&arrest("FR", "2019-12-10T10:00:00Z"), None),
            Ok(())
        );
        assert_eq!(field_of(operation.decide(&join, None)), "data.country");
    }

    #[test]
    fn after_closing_only_late_outcomes_and_retractions() {
        let mut operation = launched();
        let close = event("OperationClosed", "{}");
        operation.apply(&close);
        assert_eq!(field_of(operation.decide(&close, None)), "type");
        assert_eq!(
            field_of(operation.decide(&event("CountryJoined", r#"{"country":"FR"}"#), None)),
            "type"
        );
        assert_eq!(
            operation.decide(&arrest("AL", "2019-12-12T10:00:00Z"), None),
            Ok(())
        );
    }

    #[test]
    fn retractions_name_an_earlier_outcome_of_the_same_operation_once() {
        let mut operation = launched();
        let id = Uuid::from_u128(7);
        let retract = event(
            "EventRetracted",
            &format!(r#"{{"event_id":"{id}","reason":"duplicate"}}"#),
        );
        let outcome = RetractionTarget {
            operation: operation.slug.clone(),
            event_type: EventType::ArrestMade,
        };
        assert_eq!(field_of(operation.decide(&retract, None)), "data.event_id");
        let elsewhere = RetractionTarget {
            operation: Slug::parse("other").expect("slug"),
            ..outcome.clone()
        };
        assert!(matches!(
            operation.decide(&retract, Some(&elsewhere)),
            Err(Refusal::TargetInOtherOperation { .. })
        ));
        let launch = RetractionTarget {
            event_type: EventType::OperationLaunched,
            ..outcome.clone()
        };
        assert!(matches!(
            operation.decide(&retract, Some(&launch)),
            Err(Refusal::TargetNotOutcome { .. })
        ));
        assert_eq!(operation.decide(&retract, Some(&outcome)), Ok(()));
        let before = operation.clone();
        operation.apply(&retract);
        assert_ne!(operation, before);
        assert!(matches!(
            operation.decide(&retract, Some(&outcome)),
            Err(Refusal::AlreadyRetracted(_))
        ));
    }

    #[test]
    fn retracted_ids_are_saved_sorted_in_one_string_and_read_back_exactly() {
        let mut operation = launched();
        operation.retracted = [9u128, 1, u128::MAX, 1 << 100]
            .into_iter()
            .map(Uuid::from_u128)
            .collect();
        let json = serde_json::to_string(&operation).expect("JSON");
        let back: Operation = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, operation);
        let none = Operation::new(Slug::parse("op").expect("slug"));
        let json = serde_json::to_string(&none).expect("JSON");
        assert!(json.contains(r#""retracted":"""#), "{json}");
        assert_eq!(
            serde_json::from_str::<Operation>(&json).expect("read"),
            none
        );
    }

    #[test]
    fn retracted_ids_out_of_order_repeated_or_cut_are_refused() {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine as _;
        let bytes = |ids: &[u128]| -> Vec<u8> {
            ids.iter()
                .flat_map(|id| Uuid::from_u128(*id).into_bytes())
                .collect()
        };
        assert_eq!(
            retracted_ids::decode(&STANDARD.encode(bytes(&[1, 2]))).map(|ids| ids.len()),
            Ok(2)
        );
        for bad in [
            bytes(&[2, 1]),
            bytes(&[1, 1]),
            bytes(&[1, 2])[..31].to_vec(),
        ] {
            assert!(retracted_ids::decode(&STANDARD.encode(bad)).is_err());
        }
        assert!(retracted_ids::decode("not base64!").is_err());
    }
}
