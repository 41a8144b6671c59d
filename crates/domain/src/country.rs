//! Countries: ISO 3166-1 alpha-2 codes, plus XK for Kosovo.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::json::{wrong_kind, FieldError, FromJson, Json};

/// The officially assigned ISO 3166-1 alpha-2 codes, plus the user-assigned
/// XK that INTERPOL, Europol and the EU use for Kosovo. Sorted, so that a
/// binary search checks a code.
const CODES: [&str; 250] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Whether each of the 26 × 26 upper-case pairs is in CODES: replay checks
/// millions of codes, and a table lookup beats a search.
const ASSIGNED: [bool; 676] = {
    let mut table = [false; 676];
    let mut i = 0;
    while i < CODES.len() {
        let code = CODES[i].as_bytes();
        table[(code[0] - b'A') as usize * 26 + (code[1] - b'A') as usize] = true;
        i += 1;
    }
    table
};

fn table_index(code: [u8; 2]) -> Option<usize> {
    (code[0].is_ascii_uppercase() && code[1].is_ascii_uppercase())
        .then(|| usize::from(code[0] - b'A') * 26 + usize::from(code[1] - b'A'))
}

/// A country or territory, by its two-letter code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country([u8; 2]);

impl Country {
    /// Every known code, in order.
    pub fn all() -> impl Iterator<Item = Country> {
        CODES.iter().filter_map(|code| Country::parse(code))
    }

    /// The country with this upper-case code, if it is assigned.
    pub fn parse(code: &str) -> Option<Country> {
        let bytes: [u8; 2] = code.as_bytes().try_into().ok()?;
        let index = table_index(bytes)?;
        ASSIGNED[index].then_some(Country(bytes))
    }

    pub fn code(&self) -> &str {
        // Built only from entries of CODES, which are ASCII.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Country, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Country::parse(&code)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown country code {code:?}")))
    }
}

impl FromJson for Country {
    fn from_json(value: &Json, path: &str) -> Result<Country, FieldError> {
        let Json::String(code) = value else {
            return Err(wrong_kind(path, "a country code such as \"AL\"", value));
        };
        Country::parse(code).ok_or_else(|| {
            let hint = if Country::parse(&code.to_ascii_uppercase()).is_some() {
                format!(" (codes are upper case: \"{}\")", code.to_ascii_uppercase())
            } else {
                " (ISO 3166-1 alpha-2, or XK for Kosovo)".to_owned()
            };
            FieldError::new(path, format!("unknown country code {code:?}{hint}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_complete() {
        assert!(CODES.windows(2).all(|pair| pair[0] < pair[1]));
        // 249 officially assigned codes plus XK.
        assert_eq!(Country::all().count(), 250);
    }

    #[test]
    fn codes_are_checked() {
        for code in [
            "AL", "BA", "BG", "MD", "MK", "RO", "RS", "TR", "XK", "FR", "NL", "GB",
        ] {
            assert_eq!(
                Country::parse(code).map(|c| c.to_string()),
                Some(code.to_owned())
            );
        }
        for code in ["al", "UK", "XX", "A", "ALB", ""] {
            assert_eq!(Country::parse(code), None, "{code}");
        }
        let error =
            Country::from_json(&Json::String("al".into()), "data.country").expect_err("lower case");
        assert!(error.message.contains("upper case"), "{error}");
    }
}
