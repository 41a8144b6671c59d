//! The reader of stored data in its canonical form, for `verify`'s audit:
//! one pass that reads an event's `data` strictly *and* checks that it is
//! exactly the text [`Event::data_json`] writes for it.
//!
//! The log promises canonical data (fields in catalogue order, absent
//! optionals left out, amounts with their minor digits, no spaces), so the
//! audit reads every record with this first: it accepts only that text,
//! positionally, field after field, with the same value checks as the
//! strict reader, and writes nothing. Anything else (data that is not
//! canonical, or not valid at all) is `None`, and the caller reads it again
//! the old way, [`Event::parse`] then [`Event::is_canonical`], which says
//! what is wrong. The law, held by the tests beside the strict reader
//! (`strict::tests`): `read_canonical(kind, data)` is `Some(event)` exactly
//! when `Event::parse` accepts `data` as `event` and `event.is_canonical(data)`.

use std::borrow::Cow;

use chrono::{Offset, SecondsFormat, Timelike};

use crate::event::{
    AgentsDeployed, ArrestMade, CashSeized, ChecksPerformed, Count, CountryJoined, DrugsSeized,
    EventRetracted, ExpertsDeployed, ItemsSeized, MigrantsDetected, NetworkProfiled,
    OperationLaunched, VictimRescued,
};
use crate::{
    parse_instant, CheckKind, Country, Currency, Day, Event, EventType, Exploitation, Item,
    Location, Money, OccurredAt, Offence, Pseudonym, Reference, SealedReference, Text, Token,
};

/// `Some(event)` exactly when `data` is the canonical text of a valid
/// event of `event_type` (see the module's comment); `None` otherwise.
pub fn read_canonical(event_type: EventType, data: &str) -> Option<Event> {
    let mut at = Cursor { text: data, at: 0 };
    let event = read_event(event_type, &mut at)?;
    (at.at == data.len()).then_some(event)
}

/// A position in a data text.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    fn literal(&mut self, literal: &[u8]) -> Option<()> {
        let end = self.at + literal.len();
        (self.text.as_bytes().get(self.at..end)? == literal).then(|| self.at = end)
    }

    /// Consumes `literal` if the text goes on with it.
    #[inline(always)]
    fn next_is(&mut self, literal: &[u8]) -> bool {
        self.literal(literal).is_some()
    }

    /// A JSON string as the serializer writes it: no control character,
    /// and no escape but `\"` and `\\` (the only ones it writes for text
    /// without control characters). Borrowed when it has no escape.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.literal(b"\"")?;
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut i = start + json_scan::first_special(bytes.get(start..)?)?;
        let mut escaped = false;
        loop {
            match *bytes.get(i)? {
                b'"' => break,
                b'\\' => {
                    if !matches!(bytes.get(i + 1)?, b'"' | b'\\') {
                        return None;
                    }
                    escaped = true;
                    i += 2;
                }
                byte if byte < 0x20 => return None,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        let raw = self.text.get(start..i)?;
        if !escaped {
            return Some(Cow::Borrowed(raw));
        }
        let mut text = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(at) = rest.find('\\') {
            text.push_str(&rest[..at]);
            // Only `\"` and `\\` got here: the escaped byte is ASCII.
            text.push_str(rest.get(at + 1..at + 2)?);
            rest = rest.get(at + 2..)?;
        }
        text.push_str(rest);
        Some(Cow::Owned(text))
    }

    /// A whole number as the serializer writes a `u64`: digits, no sign,
    /// no leading zero, no fraction or exponent.
    fn unsigned(&mut self) -> Option<u64> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(digit) = bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
            self.at += 1;
        }
        let len = self.at - start;
        let plain = len == 1 || (len > 1 && bytes[start] != b'0');
        // `1.0`, `1e3` are floats to the strict reader, and refused.
        let float = matches!(bytes.get(self.at), Some(b'.' | b'e' | b'E'));
        (plain && !float).then_some(value)
    }
}

/// A value in its canonical text.
trait Canonical: Sized {
    fn read(at: &mut Cursor<'_>) -> Option<Self>;
}

/// String values whose reader accepts exactly the text their serializer
/// writes back (a code, a word, a day).
macro_rules! canonical_words {
    ($($ty:ty => $accept:expr),+ $(,)?) => {
        $(impl Canonical for $ty {
            fn read(at: &mut Cursor<'_>) -> Option<$ty> {
                match at.string()? {
                    Cow::Borrowed(text) => ($accept)(text),
                    // An escape is never in a word's text.
                    Cow::Owned(_) => None,
                }
            }
        })+
    };
}

canonical_words! {
    Country => Country::parse,
    Currency => Currency::parse,
    Day => canonical_day,
    Location => Location::parse,
    Offence => Offence::parse,
    Exploitation => Exploitation::parse,
    CheckKind => CheckKind::parse,
    Item => Item::parse,
    OccurredAt => canonical_instant,
    uuid::Uuid => canonical_uuid,
}

/// Text values: the serializer writes the text back with `"` and `\`
/// escaped, which [`Cursor::string`] reads.
macro_rules! canonical_texts {
    ($($ty:ty => $accept:expr),+ $(,)?) => {
        $(impl Canonical for $ty {
            fn read(at: &mut Cursor<'_>) -> Option<$ty> {
                ($accept)(at.string()?.as_ref())
            }
        })+
    };
}

canonical_texts! {
    Text => Text::checked,
    Pseudonym => Pseudonym::checked,
    Token => Token::checked,
}

/// A day the reader accepts is written back as it was (`%Y-%m-%d` of a
/// four-digit year), but for years past 9999, which `Day::parse` cannot
/// read anyway.
fn canonical_day(text: &str) -> Option<Day> {
    let day = Day::parse(text)?;
    (day.to_string() == text).then_some(day)
}

/// An instant as `OccurredAt` writes it: RFC 3339 with `Z` for a zero
/// offset and the fewest of 0, 3, 6 or 9 fractional digits that hold its
/// nanoseconds. Checked from the parsed instant and the text's shape, with
/// nothing written, but for a leap second (compared with its writing).
fn canonical_instant(text: &str) -> Option<OccurredAt> {
    let instant = parse_instant(text).ok()?;
    let nanos = instant.nanosecond();
    if nanos >= 1_000_000_000 {
        let written = instant.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        return (written == text).then_some(OccurredAt(instant));
    }
    let digits = if nanos == 0 {
        0
    } else if nanos % 1_000_000 == 0 {
        3
    } else if nanos % 1_000 == 0 {
        6
    } else {
        9
    };
    // `parse_instant` read `…:SS`, then `.` and 1 to 9 digits or none.
    let bytes = text.as_bytes();
    let written = match bytes.get(19) {
        Some(b'.') => bytes[20..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count(),
        _ => 0,
    };
    let fraction_end = if written == 0 { 19 } else { 20 + written };
    let fraction_ok = written == digits;
    let zero_offset = instant.offset().fix().local_minus_utc() == 0;
    let offset_ok = match bytes.get(fraction_end) {
        Some(b'Z') => zero_offset,
        Some(b'+' | b'-') => !zero_offset,
        _ => false,
    };
    (fraction_ok && offset_ok).then_some(OccurredAt(instant))
}

/// The hyphenated lowercase form the serializer writes, not nil.
fn canonical_uuid(text: &str) -> Option<uuid::Uuid> {
    let shape = text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    if !shape {
        return None;
    }
    uuid::Uuid::try_parse(text).ok().filter(|id| !id.is_nil())
}

impl Canonical for Count {
    fn read(at: &mut Cursor<'_>) -> Option<Count> {
        Count::new(at.unsigned()?)
    }
}

impl Canonical for bool {
    fn read(at: &mut Cursor<'_>) -> Option<bool> {
        if at.next_is(b"true") {
            Some(true)
        } else if at.next_is(b"false") {
            Some(false)
        } else {
            None
        }
    }
}

impl<T: Canonical> Canonical for Vec<T> {
    fn read(at: &mut Cursor<'_>) -> Option<Vec<T>> {
        at.literal(b"[")?;
        let mut items = Vec::new();
        if at.next_is(b"]") {
            return Some(items);
        }
        loop {
            items.push(T::read(at)?);
            if at.next_is(b"]") {
                return Some(items);
            }
            at.literal(b",")?;
        }
    }
}

/// `"currency":"…","amount":"…"`, the amount with exactly the currency's
/// minor digits (what `Money::amount` writes).
fn money_fields(at: &mut Cursor<'_>, first: bool) -> Option<Money> {
    let currency: Currency = field(at, first, b"currency")?;
    at.literal(b",\"amount\":")?;
    let Cow::Borrowed(amount) = at.string()? else {
        return None;
    };
    let money = Money::parse(currency, amount).ok()?;
    let digits = usize::from(currency.minor_digits());
    let fraction = amount.split_once('.').map(|(_, fraction)| fraction.len());
    let exact = match digits {
        0 => fraction.is_none(),
        _ => fraction == Some(digits),
    };
    exact.then_some(money)
}

impl Canonical for Money {
    fn read(at: &mut Cursor<'_>) -> Option<Money> {
        let money = money_fields(at, true)?;
        at.literal(b"}")?;
        Some(money)
    }
}

/// Lowercase hex digits, as bytes.
fn hex_bytes(at: &mut Cursor<'_>) -> Option<Vec<u8>> {
    match at.string()? {
        Cow::Borrowed(text) => crate::reference::from_hex(text),
        Cow::Owned(_) => None,
    }
}

impl Canonical for Reference {
    fn read(at: &mut Cursor<'_>) -> Option<Reference> {
        if at.next_is(b"{\"key\":") {
            let key = hex_bytes(at)?;
            at.literal(b",\"sealed\":")?;
            let sealed = hex_bytes(at)?;
            at.literal(b"}")?;
            return SealedReference::checked(key, sealed).map(Reference::Sealed);
        }
        Pseudonym::read(at).map(Reference::Clear)
    }
}

/// A required field: `{"name":value` for the first, `,"name":value` after.
#[inline(always)]
fn field<T: Canonical>(at: &mut Cursor<'_>, first: bool, name: &[u8]) -> Option<T> {
    at.literal(if first { b"{\"" } else { b",\"" })?;
    at.literal(name)?;
    at.literal(b"\":")?;
    T::read(at)
}

/// An optional field (never first): present exactly when the text goes
/// on with `,"name":` (an absent optional is left out, never `null`).
#[inline(always)]
fn optional<T: Canonical>(at: &mut Cursor<'_>, name: &[u8]) -> Option<Option<T>> {
    let start = at.at;
    if at.next_is(b",\"") && at.next_is(name) && at.next_is(b"\":") {
        return T::read(at).map(Some);
    }
    at.at = start;
    Some(None)
}

/// True when no two items are equal (the strict reader's check).
fn all_distinct<T: PartialEq>(items: &[T]) -> bool {
    items
        .iter()
        .enumerate()
        .all(|(i, item)| !items[..i].contains(item))
}

fn read_event(event_type: EventType, at: &mut Cursor<'_>) -> Option<Event> {
    let event = match event_type {
        EventType::OperationLaunched => {
            let name = field(at, true, b"name")?;
            let coordinator = field(at, false, b"coordinator")?;
            let countries: Vec<Country> = field(at, false, b"countries")?;
            let starts_on: Day = field(at, false, b"starts_on")?;
            let ends_on: Day = field(at, false, b"ends_on")?;
            let funded_by = optional(at, b"funded_by")?;
            let focus: Option<Vec<Token>> = optional(at, b"focus")?;
            if countries.is_empty()
                || !all_distinct(&countries)
                || ends_on < starts_on
                || !focus.as_deref().is_none_or(all_distinct)
            {
                return None;
            }
            Event::OperationLaunched(OperationLaunched {
                name,
                coordinator,
                countries,
                starts_on,
                ends_on,
                funded_by,
                focus,
            })
        }
        EventType::CountryJoined => Event::CountryJoined(CountryJoined {
            country: field(at, true, b"country")?,
        }),
        EventType::AgentsDeployed => Event::AgentsDeployed(AgentsDeployed {
            country: field(at, true, b"country")?,
            count: field(at, false, b"count")?,
        }),
        EventType::ExpertsDeployed => Event::ExpertsDeployed(ExpertsDeployed {
            organisation: field(at, true, b"organisation")?,
            country: field(at, false, b"country")?,
            count: field(at, false, b"count")?,
        }),
        EventType::ArrestMade => {
            let arrest = ArrestMade {
                country: field(at, true, b"country")?,
                occurred_at: field(at, false, b"occurred_at")?,
                location: field(at, false, b"location")?,
                suspect: field(at, false, b"suspect")?,
                network: optional(at, b"network")?,
                offences: optional(at, b"offences")?,
            };
            if !arrest.offences.as_deref().is_none_or(all_distinct) {
                return None;
            }
            Event::ArrestMade(arrest)
        }
        EventType::VictimRescued => Event::VictimRescued(VictimRescued {
            country: field(at, true, b"country")?,
            occurred_at: field(at, false, b"occurred_at")?,
            location: field(at, false, b"location")?,
            victim: field(at, false, b"victim")?,
            minor: optional(at, b"minor")?,
            nationality: optional(at, b"nationality")?,
            exploitation: optional(at, b"exploitation")?,
        }),
        EventType::MigrantsDetected => Event::MigrantsDetected(MigrantsDetected {
            country: field(at, true, b"country")?,
            occurred_at: field(at, false, b"occurred_at")?,
            location: field(at, false, b"location")?,
            count: field(at, false, b"count")?,
        }),
        EventType::ChecksPerformed => Event::ChecksPerformed(ChecksPerformed {
            country: field(at, true, b"country")?,
            occurred_at: field(at, false, b"occurred_at")?,
            kind: field(at, false, b"kind")?,
            count: field(at, false, b"count")?,
        }),
        EventType::ItemsSeized => Event::ItemsSeized(ItemsSeized {
            country: field(at, true, b"country")?,
            occurred_at: field(at, false, b"occurred_at")?,
            location: optional(at, b"location")?,
            item: field(at, false, b"item")?,
            count: field(at, false, b"count")?,
        }),
        EventType::DrugsSeized => Event::DrugsSeized(DrugsSeized {
            country: field(at, true, b"country")?,
            occurred_at: field(at, false, b"occurred_at")?,
            substance: optional(at, b"substance")?,
            grams: field(at, false, b"grams")?,
        }),
        EventType::CashSeized => Event::CashSeized(CashSeized {
            country: field(at, true, b"country")?,
            occurred_at: field(at, false, b"occurred_at")?,
            money: money_fields(at, false)?,
        }),
        EventType::NetworkProfiled => {
            let network = field(at, true, b"network")?;
            let people_smuggled_estimate = optional(at, b"people_smuggled_estimate")?;
            let max_fee = optional(at, b"max_fee")?;
            Event::NetworkProfiled(NetworkProfiled {
                network,
                people_smuggled_estimate,
                max_fee,
                destination: optional(at, b"destination")?,
                method: optional(at, b"method")?,
            })
        }
        EventType::OperationClosed => {
            at.literal(b"{")?;
            Event::OperationClosed
        }
        EventType::EventRetracted => Event::EventRetracted(EventRetracted {
            event_id: field(at, true, b"event_id")?,
            reason: field(at, false, b"reason")?,
        }),
    };
    at.literal(b"}")?;
    Some(event)
}
