//! Currencies: ISO 4217 codes, their minor units, and when each was
//! current (a withdrawn currency is valid for an event that occurred while
//! it was current: HRK for 2019, not for 2024).

use std::fmt;

use chrono::Datelike;

use crate::Day;

use serde::{Serialize, Serializer};

use crate::json::{wrong_kind, FieldError, FromJson, Json};

/// A month, for when a currency began or stopped being current.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    const fn new(year: i32, month: u32) -> Month {
        Month { year, month }
    }

    fn of(day: Day) -> Month {
        Month::new(day.0.year(), day.0.month())
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One code of the table: its minor digits while it was current, and the
/// months it was current from and through (`None`: since before 1999, or
/// still).
#[derive(Clone, Copy, Debug)]
struct Entry {
    code: &'static str,
    minor_digits: u8,
    from: Option<Month>,
    through: Option<Month>,
}

impl Entry {
    const fn new(
        code: &'static str,
        minor_digits: u8,
        from: Option<Month>,
        through: Option<Month>,
    ) -> Entry {
        Entry {
            code,
            minor_digits,
            from,
            through,
        }
    }
}

/// ISO 4217 codes with a minor unit: those of List One (2025), and the
/// national currencies withdrawn since the euro's start in 1999 (List
/// Three), each with the number of digits of its minor unit while it was
/// current. Codes without a minor unit (precious metals, XDR, test codes)
/// are left out: cash is never counted in them. Sorted for binary search.
///
/// `through` is ISO's withdrawal month: a code is current through the last
/// day of it (ISO gives months, not days; the month of a changeover is
/// accepted because notes of both currencies circulate then, such as HRK
/// beside EUR until 14 January 2023). `from` is the month a code introduced
/// since 1999 became current (EUR 1999-01, TRY 2005-01, ZWG 2024-04…).
const CURRENCIES: [Entry; 206] = [
    Entry::new("AED", 2, None, None),
    Entry::new("AFN", 2, None, None),
    Entry::new("ALL", 2, None, None),
    Entry::new("AMD", 2, None, None),
    Entry::new("ANG", 2, None, Some(Month::new(2025, 6))),
    Entry::new("AOA", 2, None, None),
    Entry::new("ARS", 2, None, None),
    Entry::new("ATS", 2, None, Some(Month::new(2002, 3))),
    Entry::new("AUD", 2, None, None),
    Entry::new("AWG", 2, None, None),
    Entry::new("AZM", 2, None, Some(Month::new(2005, 12))),
    Entry::new("AZN", 2, Some(Month::new(2006, 1)), None),
    Entry::new("BAM", 2, None, None),
    Entry::new("BBD", 2, None, None),
    Entry::new("BDT", 2, None, None),
    Entry::new("BEF", 0, None, Some(Month::new(2002, 3))),
    Entry::new("BGN", 2, None, Some(Month::new(2026, 1))),
    Entry::new("BHD", 3, None, None),
    Entry::new("BIF", 0, None, None),
    Entry::new("BMD", 2, None, None),
    Entry::new("BND", 2, None, None),
    Entry::new("BOB", 2, None, None),
    Entry::new("BOV", 2, None, None),
    Entry::new("BRL", 2, None, None),
    Entry::new("BSD", 2, None, None),
    Entry::new("BTN", 2, None, None),
    Entry::new("BWP", 2, None, None),
    Entry::new("BYN", 2, Some(Month::new(2016, 7)), None),
    Entry::new("BYR", 0, None, Some(Month::new(2017, 1))),
    Entry::new("BZD", 2, None, None),
    Entry::new("CAD", 2, None, None),
    Entry::new("CDF", 2, None, None),
    Entry::new("CHE", 2, None, None),
    Entry::new("CHF", 2, None, None),
    Entry::new("CHW", 2, None, None),
    Entry::new("CLF", 4, None, None),
    Entry::new("CLP", 0, None, None),
    Entry::new("CNY", 2, None, None),
    Entry::new("COP", 2, None, None),
    Entry::new("COU", 2, None, None),
    Entry::new("CRC", 2, None, None),
    Entry::new("CSD", 2, None, Some(Month::new(2006, 10))),
    Entry::new("CUP", 2, None, None),
    Entry::new("CVE", 2, None, None),
    Entry::new("CYP", 2, None, Some(Month::new(2008, 1))),
    Entry::new("CZK", 2, None, None),
    Entry::new("DEM", 2, None, Some(Month::new(2002, 3))),
    Entry::new("DJF", 0, None, None),
    Entry::new("DKK", 2, None, None),
    Entry::new("DOP", 2, None, None),
    Entry::new("DZD", 2, None, None),
    Entry::new("EEK", 2, None, Some(Month::new(2011, 1))),
    Entry::new("EGP", 2, None, None),
    Entry::new("ERN", 2, None, None),
    Entry::new("ESP", 0, None, Some(Month::new(2002, 3))),
    Entry::new("ETB", 2, None, None),
    Entry::new("EUR", 2, Some(Month::new(1999, 1)), None),
    Entry::new("FIM", 2, None, Some(Month::new(2002, 3))),
    Entry::new("FJD", 2, None, None),
    Entry::new("FKP", 2, None, None),
    Entry::new("FRF", 2, None, Some(Month::new(2002, 3))),
    Entry::new("GBP", 2, None, None),
    Entry::new("GEL", 2, None, None),
    Entry::new("GHC", 2, None, Some(Month::new(2008, 1))),
    Entry::new("GHS", 2, Some(Month::new(2007, 7)), None),
    Entry::new("GIP", 2, None, None),
    Entry::new("GMD", 2, None, None),
    Entry::new("GNF", 0, None, None),
    Entry::new("GRD", 0, None, Some(Month::new(2002, 3))),
    Entry::new("GTQ", 2, None, None),
    Entry::new("GYD", 2, None, None),
    Entry::new("HKD", 2, None, None),
    Entry::new("HNL", 2, None, None),
    Entry::new("HRK", 2, None, Some(Month::new(2023, 1))),
    Entry::new("HTG", 2, None, None),
    Entry::new("HUF", 2, None, None),
    Entry::new("IDR", 2, None, None),
    Entry::new("IEP", 2, None, Some(Month::new(2002, 3))),
    Entry::new("ILS", 2, None, None),
    Entry::new("INR", 2, None, None),
    Entry::new("IQD", 3, None, None),
    Entry::new("IRR", 2, None, None),
    Entry::new("ISK", 0, None, None),
    Entry::new("ITL", 0, None, Some(Month::new(2002, 3))),
    Entry::new("JMD", 2, None, None),
    Entry::new("JOD", 3, None, None),
    Entry::new("JPY", 0, None, None),
    Entry::new("KES", 2, None, None),
    Entry::new("KGS", 2, None, None),
    Entry::new("KHR", 2, None, None),
    Entry::new("KMF", 0, None, None),
    Entry::new("KPW", 2, None, None),
    Entry::new("KRW", 0, None, None),
    Entry::new("KWD", 3, None, None),
    Entry::new("KYD", 2, None, None),
    Entry::new("KZT", 2, None, None),
    Entry::new("LAK", 2, None, None),
    Entry::new("LBP", 2, None, None),
    Entry::new("LKR", 2, None, None),
    Entry::new("LRD", 2, None, None),
    Entry::new("LSL", 2, None, None),
    Entry::new("LTL", 2, None, Some(Month::new(2014, 12))),
    Entry::new("LUF", 0, None, Some(Month::new(2002, 3))),
    Entry::new("LVL", 2, None, Some(Month::new(2014, 1))),
    Entry::new("LYD", 3, None, None),
    Entry::new("MAD", 2, None, None),
    Entry::new("MDL", 2, None, None),
    Entry::new("MGA", 2, None, None),
    Entry::new("MGF", 0, None, Some(Month::new(2004, 12))),
    Entry::new("MKD", 2, None, None),
    Entry::new("MMK", 2, None, None),
    Entry::new("MNT", 2, None, None),
    Entry::new("MOP", 2, None, None),
    Entry::new("MRO", 2, None, Some(Month::new(2017, 12))),
    Entry::new("MRU", 2, Some(Month::new(2018, 1)), None),
    Entry::new("MTL", 2, None, Some(Month::new(2008, 1))),
    Entry::new("MUR", 2, None, None),
    Entry::new("MVR", 2, None, None),
    Entry::new("MWK", 2, None, None),
    Entry::new("MXN", 2, None, None),
    Entry::new("MXV", 2, None, None),
    Entry::new("MYR", 2, None, None),
    Entry::new("MZM", 2, None, Some(Month::new(2006, 6))),
    Entry::new("MZN", 2, Some(Month::new(2006, 7)), None),
    Entry::new("NAD", 2, None, None),
    Entry::new("NGN", 2, None, None),
    Entry::new("NIO", 2, None, None),
    Entry::new("NLG", 2, None, Some(Month::new(2002, 3))),
    Entry::new("NOK", 2, None, None),
    Entry::new("NPR", 2, None, None),
    Entry::new("NZD", 2, None, None),
    Entry::new("OMR", 3, None, None),
    Entry::new("PAB", 2, None, None),
    Entry::new("PEN", 2, None, None),
    Entry::new("PGK", 2, None, None),
    Entry::new("PHP", 2, None, None),
    Entry::new("PKR", 2, None, None),
    Entry::new("PLN", 2, None, None),
    Entry::new("PTE", 0, None, Some(Month::new(2002, 3))),
    Entry::new("PYG", 0, None, None),
    Entry::new("QAR", 2, None, None),
    Entry::new("ROL", 0, None, Some(Month::new(2005, 6))),
    Entry::new("RON", 2, Some(Month::new(2005, 7)), None),
    Entry::new("RSD", 2, Some(Month::new(2006, 10)), None),
    Entry::new("RUB", 2, None, None),
    Entry::new("RWF", 0, None, None),
    Entry::new("SAR", 2, None, None),
    Entry::new("SBD", 2, None, None),
    Entry::new("SCR", 2, None, None),
    Entry::new("SDD", 2, None, Some(Month::new(2007, 7))),
    Entry::new("SDG", 2, None, None),
    Entry::new("SEK", 2, None, None),
    Entry::new("SGD", 2, None, None),
    Entry::new("SHP", 2, None, None),
    Entry::new("SIT", 2, None, Some(Month::new(2007, 1))),
    Entry::new("SKK", 2, None, Some(Month::new(2009, 1))),
    Entry::new("SLE", 2, None, None),
    Entry::new("SOS", 2, None, None),
    Entry::new("SRD", 2, None, None),
    Entry::new("SRG", 2, None, Some(Month::new(2003, 12))),
    Entry::new("SSP", 2, Some(Month::new(2011, 7)), None),
    Entry::new("STD", 2, None, Some(Month::new(2017, 12))),
    Entry::new("STN", 2, Some(Month::new(2018, 1)), None),
    Entry::new("SVC", 2, None, None),
    Entry::new("SYP", 2, None, None),
    Entry::new("SZL", 2, None, None),
    Entry::new("THB", 2, None, None),
    Entry::new("TJS", 2, None, None),
    Entry::new("TMM", 2, None, Some(Month::new(2009, 1))),
    Entry::new("TMT", 2, Some(Month::new(2009, 1)), None),
    Entry::new("TND", 3, None, None),
    Entry::new("TOP", 2, None, None),
    Entry::new("TRL", 0, None, Some(Month::new(2005, 12))),
    Entry::new("TRY", 2, Some(Month::new(2005, 1)), None),
    Entry::new("TTD", 2, None, None),
    Entry::new("TWD", 2, None, None),
    Entry::new("TZS", 2, None, None),
    Entry::new("UAH", 2, None, None),
    Entry::new("UGX", 0, None, None),
    Entry::new("USD", 2, None, None),
    Entry::new("USN", 2, None, None),
    Entry::new("UYI", 0, None, None),
    Entry::new("UYU", 2, None, None),
    Entry::new("UYW", 4, None, None),
    Entry::new("UZS", 2, None, None),
    Entry::new("VEB", 2, None, Some(Month::new(2008, 1))),
    Entry::new("VED", 2, Some(Month::new(2021, 10)), None),
    Entry::new("VEF", 2, None, Some(Month::new(2018, 8))),
    Entry::new("VES", 2, Some(Month::new(2018, 8)), None),
    Entry::new("VND", 0, None, None),
    Entry::new("VUV", 0, None, None),
    Entry::new("WST", 2, None, None),
    Entry::new("XAF", 0, None, None),
    Entry::new("XCD", 2, None, None),
    Entry::new("XCG", 2, Some(Month::new(2025, 3)), None),
    Entry::new("XOF", 0, None, None),
    Entry::new("XPF", 0, None, None),
    Entry::new("YER", 2, None, None),
    Entry::new("YUM", 2, None, Some(Month::new(2003, 7))),
    Entry::new("ZAR", 2, None, None),
    Entry::new("ZMK", 2, None, Some(Month::new(2012, 12))),
    Entry::new("ZMW", 2, Some(Month::new(2013, 1)), None),
    Entry::new("ZWD", 2, None, Some(Month::new(2008, 8))),
    Entry::new("ZWG", 2, Some(Month::new(2024, 4)), None),
    Entry::new("ZWL", 2, None, Some(Month::new(2024, 9))),
    Entry::new("ZWR", 2, None, Some(Month::new(2009, 6))),
];

/// A currency, by its three-letter code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency {
    code: [u8; 3],
    minor_digits: u8,
}

impl Currency {
    /// Every known currency (current or withdrawn), in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES
            .iter()
            .filter_map(|entry| Currency::parse(entry.code))
    }

    /// The currency with this upper-case code, current or withdrawn: the
    /// log keeps events in currencies withdrawn since, and reads them back.
    /// Whether a code may be used for a given day is [`Currency::current_on`].
    pub fn parse(code: &str) -> Option<Currency> {
        let entry = entry(code)?;
        Some(Currency {
            code: entry.code.as_bytes().try_into().ok()?,
            minor_digits: entry.minor_digits,
        })
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for BHD.
    pub fn minor_digits(&self) -> u8 {
        self.minor_digits
    }

    /// Whether the currency was current on `day` (see the table's comment
    /// for how ISO's months are read).
    pub fn current_on(&self, day: Day) -> bool {
        self.not_current_on(day).is_none()
    }

    /// Why the currency was not current on `day`, or `None` if it was.
    pub fn not_current_on(&self, day: Day) -> Option<String> {
        let entry = entry(self.code())?;
        let month = Month::of(day);
        if let Some(through) = entry.through {
            if month > through {
                return Some(format!(
                    "{self} was withdrawn (ISO 4217: current through {through}), so it was not current on {day}"
                ));
            }
        }
        if let Some(from) = entry.from {
            if month < from {
                return Some(format!(
                    "{self} was not yet current on {day} (ISO 4217: current from {from})"
                ));
            }
        }
        None
    }

    /// Whether the currency was current on at least one day of
    /// `first..=last`.
    pub fn current_during(&self, first: Day, last: Day) -> bool {
        let Some(entry) = entry(self.code()) else {
            return false;
        };
        entry.from.is_none_or(|from| Month::of(last) >= from)
            && entry
                .through
                .is_none_or(|through| Month::of(first) <= through)
    }

    /// The first and last months the currency was current, where the table
    /// knows them.
    pub fn current_months(&self) -> (Option<Month>, Option<Month>) {
        entry(self.code()).map_or((None, None), |entry| (entry.from, entry.through))
    }
}

fn entry(code: &str) -> Option<&'static Entry> {
    let index = CURRENCIES
        .binary_search_by(|entry| entry.code.cmp(code))
        .ok()?;
    Some(&CURRENCIES[index])
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Currency, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Currency::parse(&code)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown currency {code:?}")))
    }
}

impl FromJson for Currency {
    fn from_json(value: &Json, path: &str) -> Result<Currency, FieldError> {
        let Json::String(code) = value else {
            return Err(wrong_kind(path, "a currency code such as \"EUR\"", value));
        };
        Currency::parse(code).ok_or_else(|| {
            FieldError::new(
                path,
                format!(
                    "unknown currency {code:?} (an ISO 4217 code with a minor unit, upper case)"
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted() {
        assert!(CURRENCIES
            .windows(2)
            .all(|pair| pair[0].code < pair[1].code));
        assert!(CURRENCIES.iter().all(
            |entry| entry.code.len() == 3 && entry.code.bytes().all(|b| b.is_ascii_uppercase())
        ));
        assert!(CURRENCIES
            .iter()
            .all(|entry| match (entry.from, entry.through) {
                (Some(from), Some(through)) => from <= through,
                _ => true,
            }));
    }

    fn day(text: &str) -> Day {
        Day::parse(text).expect("day")
    }

    #[test]
    fn a_withdrawn_currency_is_current_through_its_withdrawal_month() {
        let hrk = Currency::parse("HRK").expect("HRK is known");
        assert_eq!(hrk.minor_digits(), 2);
        assert!(hrk.current_on(day("2019-12-10")));
        assert!(hrk.current_on(day("2023-01-31")));
        assert!(!hrk.current_on(day("2023-02-01")));
        assert!(!hrk.current_on(day("2024-03-01")));
        let message = hrk.not_current_on(day("2024-03-01")).expect("withdrawn");
        assert!(message.contains("2023-01"), "{message}");
        let itl = Currency::parse("ITL").expect("ITL");
        assert_eq!(itl.minor_digits(), 0, "the lira had no minor unit in use");
        assert!(itl.current_on(day("2002-03-31")));
        assert!(!itl.current_on(day("2002-04-01")));
        let bgn = Currency::parse("BGN").expect("BGN");
        assert!(bgn.current_on(day("2019-12-10")));
        assert!(
            !bgn.current_on(day("2026-02-01")),
            "Bulgaria adopted the euro in 2026"
        );
    }

    #[test]
    fn a_new_currency_is_current_from_its_first_month() {
        let eur = Currency::parse("EUR").expect("EUR");
        assert!(!eur.current_on(day("1998-12-31")));
        assert!(eur.current_on(day("1999-01-01")));
        let zwg = Currency::parse("ZWG").expect("ZWG");
        assert!(!zwg.current_on(day("2019-12-10")));
        assert!(zwg.current_on(day("2024-04-05")));
        assert!(zwg.current_during(day("2024-03-20"), day("2024-04-02")));
        assert!(!zwg.current_during(day("2024-03-01"), day("2024-03-31")));
        let usd = Currency::parse("USD").expect("USD");
        assert!(usd.current_on(day("1990-01-01")) && usd.current_on(day("2099-01-01")));
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        let digits = |code| Currency::parse(code).map(|c| c.minor_digits());
        assert_eq!(digits("EUR"), Some(2));
        assert_eq!(digits("USD"), Some(2));
        assert_eq!(digits("JPY"), Some(0));
        assert_eq!(digits("BHD"), Some(3));
        assert_eq!(digits("CLF"), Some(4));
        assert_eq!(digits("XAU"), None);
        assert_eq!(digits("eur"), None);
        assert_eq!(
            digits("HRK"),
            Some(2),
            "withdrawn in 2023, known for older events"
        );
        assert_eq!(digits("ZZZ"), None);
    }
}
