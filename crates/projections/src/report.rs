//! A report as data: named columns and typed cells, rendered later as JSON,
//! CSV, Markdown or an aligned table.

use std::fmt;
use std::str::FromStr;

use domain::{format_minor_units, Currency};
use event_store::Head;

use crate::filter::Filter;
use crate::replay::Verified;

/// The kinds of report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReportKind {
    /// One row per operation.
    Summary,
    /// One row per operation and country.
    Countries,
    /// One row per operation and UTC day of occurred_at.
    Timeline,
    /// One row per operation, country and kind of seizure (items, drugs, cash).
    Seizures,
    /// One row per operation and network (arrests and profiles).
    Networks,
    /// One row per operation and country: rescues, minors, nationality,
    /// exploitation.
    Victims,
    /// One row per operation and country: arrests by offence, by location,
    /// with and without a network.
    Arrests,
    /// One row per operation and location: arrests, rescues, detections,
    /// items seized.
    Locations,
    /// One row per consultation of personal references (who, when, why,
    /// which query): from the privacy records, not a figure.
    Consultations,
}

impl ReportKind {
    pub const ALL: [ReportKind; 9] = [
        ReportKind::Summary,
        ReportKind::Countries,
        ReportKind::Timeline,
        ReportKind::Seizures,
        ReportKind::Networks,
        ReportKind::Victims,
        ReportKind::Arrests,
        ReportKind::Locations,
        ReportKind::Consultations,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ReportKind::Summary => "summary",
            ReportKind::Countries => "countries",
            ReportKind::Timeline => "timeline",
            ReportKind::Seizures => "seizures",
            ReportKind::Networks => "networks",
            ReportKind::Victims => "victims",
            ReportKind::Arrests => "arrests",
            ReportKind::Locations => "locations",
            ReportKind::Consultations => "consultations",
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportKind {
    type Err = String;

    fn from_str(text: &str) -> Result<ReportKind, String> {
        ReportKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                let kinds: Vec<&str> = ReportKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown report {text:?} (one of {})", kinds.join(", "))
            })
    }
}

/// One value of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Null,
    Bool(bool),
    Text(String),
    Int(i128),
    /// A whole number written as a decimal string, in a column whose other
    /// rows hold amounts of money (so that the column has one type).
    Exact(i128),
    List(Vec<String>),
    /// Counts under fixed keys (every key present, zeros included).
    Counts(Vec<(&'static str, i128)>),
    /// Counts under keys that depend on the data (non-zero only), such as
    /// nationalities.
    Breakdown(Vec<(String, i128)>),
    /// Amounts of money per currency (non-zero only), in minor units.
    Cash(Vec<(Currency, i128)>),
    /// One amount of money, written as a decimal string.
    Amount(Currency, i128),
    /// A decimal amount without its currency (the currency is in another
    /// column).
    Decimal(Currency, i128),
    /// A JSON value written as given: an event's public data, which the
    /// domain writes (without pseudonyms) in its canonical field order.
    Json(String),
}

impl Cell {
    pub fn text(value: impl Into<String>) -> Cell {
        Cell::Text(value.into())
    }

    pub fn optional_text(value: Option<impl Into<String>>) -> Cell {
        value.map_or(Cell::Null, |v| Cell::Text(v.into()))
    }
}

/// Rows of cells under named columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub kind: ReportKind,
    /// The last record replayed.
    pub as_of: Head,
    /// What the replay checked against the hash chain, and from where.
    pub verified: Verified,
    /// The operation the rows were limited to, if any.
    pub operation: Option<String>,
    /// What the figures count (empty: everything).
    pub filter: Filter,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// `1234567` as `1,234,567`.
pub fn with_separators(value: i128) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0 {
        out.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// An amount with separators in its whole part: `200,000.00`.
pub fn decimal_with_separators(minor_units: i128, currency: Currency) -> String {
    let plain = format_minor_units(minor_units, currency);
    let (whole, fraction) = match plain.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (plain.as_str(), None),
    };
    let negative = whole.starts_with('-');
    let magnitude: i128 = whole.trim_start_matches('-').parse().unwrap_or(0);
    let mut out = with_separators(if negative { -magnitude } else { magnitude });
    if negative && magnitude == 0 {
        out.insert(0, '-');
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_group_thousands() {
        assert_eq!(with_separators(0), "0");
        assert_eq!(with_separators(999), "999");
        assert_eq!(with_separators(1000), "1,000");
        assert_eq!(with_separators(2_500_000), "2,500,000");
        assert_eq!(with_separators(-54_000), "-54,000");
        let usd = Currency::parse("USD").expect("USD");
        assert_eq!(decimal_with_separators(20_000_000, usd), "200,000.00");
        assert_eq!(decimal_with_separators(-5, usd), "-0.05");
    }

    #[test]
    fn kinds_parse() {
        for kind in ReportKind::ALL {
            assert_eq!(kind.as_str().parse::<ReportKind>(), Ok(kind));
        }
        assert!("sumary".parse::<ReportKind>().is_err());
    }
}
