//! Money: integer minor units with their currency, never a float.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::json::{wrong_kind, FieldError, FromJson, Json, Object};
use crate::Currency;

/// An amount of one currency, in minor units (cents for EUR, yen for JPY).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Money {
    pub currency: Currency,
    pub minor_units: u64,
}

impl Money {
    /// Parses a decimal string such as `"7000"` or `"200000.00"`: digits, an
    /// optional point and at most the currency's minor digits after it, no
    /// sign, no exponent, no leading zeros, greater than zero, and at most
    /// 2^64 − 1 minor units.
    pub fn parse(currency: Currency, text: &str) -> Result<Money, String> {
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !is_digits(whole) || fraction.is_some_and(|f| !is_digits(f)) {
            return Err(format!(
                "{text:?} is not a decimal amount such as \"7000\" or \"200000.00\""
            ));
        }
        if whole.len() > 1 && whole.starts_with('0') {
            return Err(format!("{text:?} has leading zeros"));
        }
        let digits = usize::from(currency.minor_digits());
        let fraction = fraction.unwrap_or("");
        if fraction.len() > digits {
            return Err(format!(
                "{text:?} has {} decimal places but {currency} has {digits}",
                fraction.len()
            ));
        }
        let too_large = || format!("{text:?} is too large (at most 2^64 - 1 minor units)");
        let mut minor: u64 = 0;
        for byte in whole.bytes().chain(fraction.bytes()) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(byte - b'0')))
                .ok_or_else(too_large)?;
        }
        for _ in fraction.len()..digits {
            minor = minor.checked_mul(10).ok_or_else(too_large)?;
        }
        if minor == 0 {
            return Err("must be greater than zero".to_owned());
        }
        Ok(Money {
            currency,
            minor_units: minor,
        })
    }

    /// The amount with exactly the currency's minor digits: `"200000.00"`,
    /// `"7000"` for JPY.
    pub fn amount(&self) -> String {
        format_minor_units(i128::from(self.minor_units), self.currency)
    }

    /// Reads the `currency` and `amount` fields of an object.
    pub(crate) fn from_fields(object: &Object<'_>) -> Result<Money, FieldError> {
        let currency: Currency = object.required("currency")?;
        let amount: String = object.required("amount")?;
        Money::parse(currency, &amount)
            .map_err(|message| FieldError::new(object.path_of("amount"), message))
    }
}

/// Formats a (possibly negative, possibly summed) number of minor units with
/// exactly the currency's minor digits.
pub fn format_minor_units(minor_units: i128, currency: Currency) -> String {
    let digits = u32::from(currency.minor_digits());
    let sign = if minor_units < 0 { "-" } else { "" };
    let magnitude = minor_units.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10u128.pow(digits);
    format!(
        "{sign}{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = digits as usize
    )
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount(), self.currency)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = serializer.serialize_struct("Money", 2)?;
        object.serialize_field("currency", &self.currency)?;
        object.serialize_field("amount", &self.amount())?;
        object.end()
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        #[derive(serde::Deserialize)]
        struct Wire<'a> {
            currency: Currency,
            #[serde(borrow)]
            amount: std::borrow::Cow<'a, str>,
        }
        let wire = Wire::deserialize(deserializer)?;
        Money::parse(wire.currency, &wire.amount).map_err(serde::de::Error::custom)
    }
}

impl FromJson for Money {
    fn from_json(value: &Json, path: &str) -> Result<Money, FieldError> {
        if !matches!(value, Json::Object(_)) {
            return Err(wrong_kind(
                path,
                "an object {\"currency\", \"amount\"}",
                value,
            ));
        }
        let object = Object::new(value, path, &["currency", "amount"])?;
        Money::from_fields(&object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(code: &str, text: &str) -> Result<u64, String> {
        let currency = Currency::parse(code).ok_or("currency")?;
        Money::parse(currency, text).map(|m| m.minor_units)
    }

    #[test]
    fn amounts_become_minor_units() {
        assert_eq!(money("USD", "200000.00"), Ok(20_000_000));
        assert_eq!(money("USD", "200000"), Ok(20_000_000));
        assert_eq!(money("USD", "0.5"), Ok(50));
        assert_eq!(money("EUR", "7000"), Ok(700_000));
        assert_eq!(money("JPY", "7000"), Ok(7000));
        assert_eq!(money("BHD", "1.234"), Ok(1234));
    }

    #[test]
    fn bad_amounts_are_refused() {
        for text in [
            "", "-5", "+5", "5.", ".5", "1e3", "1,000", " 5", "007", "0", "0.00", "NaN",
        ] {
            assert!(money("EUR", text).is_err(), "{text:?}");
        }
        assert!(money("JPY", "1.5").is_err());
        assert!(money("EUR", "1.234").is_err());
        assert!(
            money("USD", "184467440737095516.16").is_err(),
            "overflows u64"
        );
        assert_eq!(money("USD", "184467440737095516.15"), Ok(u64::MAX));
    }

    #[test]
    fn formatting_uses_the_currency_digits() {
        let usd = Currency::parse("USD").expect("USD");
        let jpy = Currency::parse("JPY").expect("JPY");
        assert_eq!(format_minor_units(20_000_000, usd), "200000.00");
        assert_eq!(format_minor_units(5, usd), "0.05");
        assert_eq!(format_minor_units(-5, usd), "-0.05");
        assert_eq!(format_minor_units(7000, jpy), "7000");
    }
}
