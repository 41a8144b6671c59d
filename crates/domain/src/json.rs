//! Strict JSON input: a value tree that refuses duplicate keys and keeps
//! integers exact, and helpers that read typed fields with their paths.
//!
//! Input from national tools is parsed here rather than with serde derive so
//! that every refusal names its field (`data.count: must be at least 1`) and
//! nothing is coerced silently: `1.0` is not a count, `"5"` is not a number,
//! a repeated key is an error rather than "last one wins".

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A refusal of one input field: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    /// Dotted path from the line's root, e.g. `data.max_fee.amount`.
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A parsed JSON value. Objects keep their keys in input order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// A non-negative integer that fits in u64.
    Unsigned(u64),
    /// A negative integer that fits in i64.
    Negative(i64),
    /// Any other number: a fraction, an exponent, or an integer too large.
    Float(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses one JSON text. The error message names the column.
    pub fn parse(text: &str) -> Result<Json, String> {
        serde_json::from_str(text).map_err(|error| {
            let message = error.to_string();
            // serde_json appends " at line L column C"; the input is one line,
            // so only the column is worth keeping.
            match message.rfind(" at line ") {
                Some(cut) => format!("{} (column {})", &message[..cut], error.column()),
                None => message,
            }
        })
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Unsigned(_) | Json::Negative(_) | Json::Float(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json, E> {
        Ok(Json::Bool(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        Ok(Json::Unsigned(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
        Ok(if value >= 0 {
            Json::Unsigned(value.unsigned_abs())
        } else {
            Json::Negative(value)
        })
    }

    fn visit_f64<E>(self, value: f64) -> Result<Json, E> {
        Ok(Json::Float(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if entries.iter().any(|(seen, _)| *seen == key) {
                return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
            }
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

/// The path of a child field.
pub fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A type that can be read from one JSON value at a path.
pub trait FromJson: Sized {
    fn from_json(value: &Json, path: &str) -> Result<Self, FieldError>;
}

/// Reads the fields of one JSON object, refusing unknown and missing ones.
#[derive(Debug)]
pub struct Object<'a> {
    path: &'a str,
    entries: &'a [(String, Json)],
}

impl<'a> Object<'a> {
    /// `value` must be an object whose keys are all in `allowed`.
    pub fn new<S: AsRef<str>>(
        value: &'a Json,
        path: &'a str,
        allowed: &[S],
    ) -> Result<Object<'a>, FieldError> {
        let Json::Object(entries) = value else {
            return Err(FieldError::new(
                display_path(path),
                format!("expected an object, found {}", value.kind()),
            ));
        };
        if let Some((key, _)) = entries
            .iter()
            .find(|(key, _)| !allowed.iter().any(|name| name.as_ref() == key))
        {
            let expected = if allowed.is_empty() {
                "no fields are allowed here".to_owned()
            } else {
                let names: Vec<&str> = allowed.iter().map(AsRef::as_ref).collect();
                format!("expected one of {}", names.join(", "))
            };
            return Err(FieldError::new(
                child(path, key),
                format!("unknown field ({expected})"),
            ));
        }
        Ok(Object { path, entries })
    }

    fn get(&self, key: &str) -> Option<&'a Json> {
        self.entries
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// A field that must be present and not null.
    pub fn required<T: FromJson>(&self, key: &str) -> Result<T, FieldError> {
        match self.get(key) {
            None => Err(FieldError::new(child(self.path, key), "missing")),
            Some(Json::Null) => Err(FieldError::new(child(self.path, key), "must not be null")),
            Some(value) => T::from_json(value, &child(self.path, key)),
        }
    }

    /// A field that may be absent or null.
    pub fn optional<T: FromJson>(&self, key: &str) -> Result<Option<T>, FieldError> {
        match self.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(value) => T::from_json(value, &child(self.path, key)).map(Some),
        }
    }

    /// The path of a field of this object.
    pub fn path_of(&self, key: &str) -> String {
        child(self.path, key)
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "line"
    } else {
        path
    }
}

/// The error for a value of the wrong JSON kind.
pub fn wrong_kind(path: &str, expected: &str, found: &Json) -> FieldError {
    FieldError::new(path, format!("expected {expected}, found {}", found.kind()))
}

impl FromJson for String {
    fn from_json(value: &Json, path: &str) -> Result<String, FieldError> {
        match value {
            Json::String(text) => Ok(text.clone()),
            other => Err(wrong_kind(path, "a string", other)),
        }
    }
}

impl FromJson for bool {
    fn from_json(value: &Json, path: &str) -> Result<bool, FieldError> {
        match value {
            Json::Bool(flag) => Ok(*flag),
            other => Err(wrong_kind(path, "true or false", other)),
        }
    }
}

impl FromJson for u64 {
    fn from_json(value: &Json, path: &str) -> Result<u64, FieldError> {
        match value {
            Json::Unsigned(n) => Ok(*n),
            Json::Negative(_) => Err(FieldError::new(path, "must not be negative")),
            Json::Float(_) => Err(FieldError::new(
                path,
                "must be a whole number from 0 to 18446744073709551615",
            )),
            other => Err(wrong_kind(path, "a number", other)),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: &Json, path: &str) -> Result<Vec<T>, FieldError> {
        match value {
            Json::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| T::from_json(item, &format!("{path}[{i}]")))
                .collect(),
            other => Err(wrong_kind(path, "an array", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused() {
        let error = Json::parse(r#"{"count":1,"count":5}"#).expect_err("duplicate");
        assert!(error.contains("duplicate key \"count\""), "{error}");
    }

    #[test]
    fn numbers_keep_their_kind() {
        assert_eq!(
            Json::parse("18446744073709551615"),
            Ok(Json::Unsigned(u64::MAX))
        );
        assert!(matches!(
            Json::parse("18446744073709551616"),
            Ok(Json::Float(_))
        ));
        assert_eq!(Json::parse("-3"), Ok(Json::Negative(-3)));
        assert!(matches!(Json::parse("1.0"), Ok(Json::Float(_))));
    }

    #[test]
    fn syntax_errors_name_the_column() {
        let error = Json::parse(r#"{"a": }"#).expect_err("syntax");
        assert!(error.contains("column 7"), "{error}");
    }

    #[test]
    fn objects_refuse_unknown_and_missing_fields() {
        let value = Json::parse(r#"{"a":1,"b":2}"#).expect("json");
        let error = Object::new(&value, "data", &["a"]).expect_err("unknown");
        assert_eq!(error.path, "data.b");
        let object = Object::new(&value, "data", &["a", "b", "c"]).expect("object");
        assert_eq!(
            object
                .required::<u64>("c")
                .expect_err("missing")
                .to_string(),
            "data.c: missing"
        );
        assert_eq!(object.optional::<u64>("c"), Ok(None));
        assert_eq!(object.required::<u64>("a"), Ok(1));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(Json::parse(&deep).is_err());
    }
}
