//! Days and instants: an operation's period and when an outcome occurred.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};
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

/// When an outcome occurred: an RFC 3339 timestamp with its UTC offset, as
/// the reporting unit gave it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct OccurredAt(pub DateTime<FixedOffset>);

impl OccurredAt {
    pub fn parse(text: &str) -> Option<OccurredAt> {
        DateTime::parse_from_rfc3339(text).ok().map(OccurredAt)
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
        OccurredAt::parse(text).ok_or_else(|| {
            FieldError::new(
                path,
                format!(
                    "{text:?} is not an RFC 3339 timestamp with offset, such as \"2019-12-10T14:30:00+01:00\""
                ),
            )
        })
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
    fn instants_are_written_canonically() {
        let t = OccurredAt::parse("2019-12-10T14:30:00.000+00:00").expect("valid");
        assert_eq!(t.to_string(), "2019-12-10T14:30:00Z");
        let t = OccurredAt::parse("2019-12-10T14:30:00+01:00").expect("valid");
        assert_eq!(t.to_string(), "2019-12-10T14:30:00+01:00");
    }
}
