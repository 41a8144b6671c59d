//! Days and instants: an operation's period and when an outcome occurred.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Timelike, Utc};
use serde::{Serialize, Serializer};

use crate::json::{wrong_kind, FieldError, FromJson, Json};

/// A calendar day, written `YYYY-MM-DD`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Day(pub NaiveDate);

impl Day {
    /// Parses exactly `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Day> {
        let shape_ok = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        if !shape_ok {
            return None;
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(Day)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Day, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Day::parse(&text).ok_or_else(|| serde::de::Error::custom(format_args!("bad day {text:?}")))
    }
}

impl FromJson for Day {
    fn from_json(value: &Json, path: &str) -> Result<Day, FieldError> {
        let Json::String(text) = value else {
            return Err(wrong_kind(path, "a date such as \"2019-12-09\"", value));
        };
        Day::parse(text).ok_or_else(|| {
            FieldError::new(
                path,
                format!("{text:?} is not a date in the form YYYY-MM-DD"),
            )
        })
    }
}

/// The UTC days at whose end IERS inserted a leap second (23:59:60 UTC),
/// from the first in 1972 to the last, so far, in 2016. No negative leap
/// second has ever been made.
const LEAP_SECOND_DAYS: [(i32, u32, u32); 27] = [
    (1972, 6, 30),
    (1972, 12, 31),
    (1973, 12, 31),
    (1974, 12, 31),
    (1975, 12, 31),
    (1976, 12, 31),
    (1977, 12, 31),
    (1978, 12, 31),
    (1979, 12, 31),
    (1981, 6, 30),
    (1982, 6, 30),
    (1983, 6, 30),
    (1985, 6, 30),
    (1987, 12, 31),
    (1989, 12, 31),
    (1990, 12, 31),
    (1992, 6, 30),
    (1993, 6, 30),
    (1994, 6, 30),
    (1995, 12, 31),
    (1997, 6, 30),
    (1998, 12, 31),
    (2005, 12, 31),
    (2008, 12, 31),
    (2012, 6, 30),
    (2015, 6, 30),
    (2016, 12, 31),
];

/// The most fractional digits an instant may have: nanoseconds.
pub const MAX_FRACTION_DIGITS: usize = 9;

/// Why a text is not an instant as theseus accepts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstantError {
    /// Not `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, or not a real time.
    Shape,
    /// More than [`MAX_FRACTION_DIGITS`] fractional digits: they would be cut.
    TooPrecise { digits: usize },
    /// Second 60 anywhere but a real leap second.
    NotALeapSecond,
}

impl fmt::Display for InstantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstantError::Shape => f.write_str("is not an RFC 3339 timestamp with offset"),
            InstantError::TooPrecise { digits } => write!(
                f,
                "has {digits} fractional digits; at most {MAX_FRACTION_DIGITS} (nanoseconds) are kept, so more are refused rather than cut"
            ),
            InstantError::NotALeapSecond => f.write_str(
                "has second 60, which only a leap second has: 23:59:60 UTC at the end of a day IERS inserted one (the last was 2016-12-31)",
            ),
        }
    }
}

/// Parses an instant strictly: `YYYY-MM-DDTHH:MM:SS`, an optional fraction
/// of 1 to 9 digits, then `Z` or `±HH:MM`. Upper-case `T` and `Z` only
/// (RFC 3339 allows lower case and a space, which tools rarely mean and
/// which would let two spellings of one instant in). Second 60 is accepted
/// only as a real leap second, 23:59:60 UTC on a day one was inserted.
pub fn parse_instant(text: &str) -> Result<DateTime<FixedOffset>, InstantError> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, b: u8| bytes.get(i) == Some(&b);
    let fixed = digits(0..4)
        && at(4, b'-')
        && digits(5..7)
        && at(7, b'-')
        && digits(8..10)
        && at(10, b'T')
        && digits(11..13)
        && at(13, b':')
        && digits(14..16)
        && at(16, b':')
        && digits(17..19);
    if !fixed {
        return Err(InstantError::Shape);
    }
    let mut end = 19;
    if at(end, b'.') {
        let fraction = bytes[end + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if fraction == 0 {
            return Err(InstantError::Shape);
        }
        if fraction > MAX_FRACTION_DIGITS {
            return Err(InstantError::TooPrecise { digits: fraction });
        }
        end += 1 + fraction;
    }
    let offset_ok = match bytes.get(end) {
        Some(b'Z') => bytes.len() == end + 1,
        Some(b'+' | b'-') => {
            bytes.len() == end + 6
                && digits(end + 1..end + 3)
                && at(end + 3, b':')
                && digits(end + 4..end + 6)
        }
        _ => false,
    };
    if !offset_ok {
        return Err(InstantError::Shape);
    }
    let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| InstantError::Shape)?;
    if &text[17..19] == "60" {
        let utc = parsed.with_timezone(&Utc);
        let day = utc.date_naive();
        let leap_day = LEAP_SECOND_DAYS
            .iter()
            .any(|&(y, m, d)| NaiveDate::from_ymd_opt(y, m, d) == Some(day));
        let time = utc.time();
        if !(leap_day
            && time.hour() == 23
            && time.minute() == 59
            && time.nanosecond() >= 1_000_000_000)
        {
            return Err(InstantError::NotALeapSecond);
        }
    }
    Ok(parsed)
}

/// When an outcome occurred: an RFC 3339 timestamp with its UTC offset, as
/// the reporting unit gave it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct OccurredAt(pub DateTime<FixedOffset>);

impl OccurredAt {
    /// Parses an instant strictly (see [`parse_instant`]).
    pub fn parse(text: &str) -> Option<OccurredAt> {
        parse_instant(text).ok().map(OccurredAt)
    }

    /// The UTC calendar day: what the period rule and the timeline use.
    pub fn utc_day(&self) -> Day {
        Day(self.0.with_timezone(&Utc).date_naive())
    }
}

impl fmt::Display for OccurredAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl Serialize for OccurredAt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromJson for OccurredAt {
    fn from_json(value: &Json, path: &str) -> Result<OccurredAt, FieldError> {
        let Json::String(text) = value else {
            return Err(wrong_kind(path, "an RFC 3339 timestamp", value));
        };
        match parse_instant(text) {
            Ok(instant) => Ok(OccurredAt(instant)),
            Err(InstantError::Shape) => Err(FieldError::new(
                path,
                format!(
                    "{text:?} is not an RFC 3339 timestamp with offset, such as \"2019-12-10T14:30:00+01:00\""
                ),
            )),
            Err(error) => Err(FieldError::new(path, format!("{text:?} {error}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_strict() {
        assert!(Day::parse("2019-12-09").is_some());
        for bad in [
            "2019-12-9",
            "2019-13-01",
            "2019-02-30",
            "20191209",
            "2019-12-09T00:00:00Z",
        ] {
            assert!(Day::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_utc_day_follows_the_offset() {
        let late_evening = OccurredAt::parse("2019-12-16T23:30:00-02:00").expect("valid");
        assert_eq!(late_evening.utc_day().to_string(), "2019-12-17");
        let early = OccurredAt::parse("2019-12-09T00:30:00+02:00").expect("valid");
        assert_eq!(early.utc_day().to_string(), "2019-12-08");
        assert!(
            OccurredAt::parse("2019-12-09T10:00:00").is_none(),
            "offset required"
        );
    }

    #[test]
    fn instants_are_strict() {
        for ok in [
            "2019-12-10T14:30:00Z",
            "2019-12-10T14:30:00.5+01:00",
            "2019-12-10T14:30:00.123456789-05:45",
            "2016-12-31T23:59:60Z",
            "2017-01-01T00:59:60+01:00",
            "2016-12-31T23:59:60.5Z",
            "2015-06-30T23:59:60Z",
        ] {
            assert!(parse_instant(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("2019-12-10t14:30:00Z", InstantError::Shape),
            ("2019-12-10 14:30:00Z", InstantError::Shape),
            ("2019-12-10T14:30:00z", InstantError::Shape),
            ("2019-12-10T14:30:00", InstantError::Shape),
            ("2019-12-10T14:30Z", InstantError::Shape),
            ("2019-12-10T14:30:00.Z", InstantError::Shape),
            ("2019-12-10T14:30:00+0100", InstantError::Shape),
            ("2019-12-10T14:30:00+24:00", InstantError::Shape),
            ("2019-02-30T14:30:00Z", InstantError::Shape),
            ("2019-12-10T14:30:00Z ", InstantError::Shape),
            (
                "2019-12-10T14:30:00.1234567891Z",
                InstantError::TooPrecise { digits: 10 },
            ),
            ("2019-12-10T14:30:60Z", InstantError::NotALeapSecond),
            ("2019-12-31T23:59:60Z", InstantError::NotALeapSecond),
            ("2016-12-31T23:59:60+01:00", InstantError::NotALeapSecond),
            ("2016-12-31T22:59:60Z", InstantError::NotALeapSecond),
        ] {
            assert_eq!(parse_instant(bad), Err(why), "{bad}");
        }
    }

    #[test]
    fn a_leap_second_is_written_as_given() {
        let t = OccurredAt::parse("2017-01-01T00:59:60+01:00").expect("leap second");
        assert_eq!(t.to_string(), "2017-01-01T00:59:60+01:00");
        assert_eq!(t.utc_day().to_string(), "2016-12-31");
    }

    #[test]
    fn instants_are_written_canonically() {
        let t = OccurredAt::parse("2019-12-10T14:30:00.000+00:00").expect("valid");
        assert_eq!(t.to_string(), "2019-12-10T14:30:00Z");
        let t = OccurredAt::parse("2019-12-10T14:30:00+01:00").expect("valid");
        assert_eq!(t.to_string(), "2019-12-10T14:30:00+01:00");
    }
}
