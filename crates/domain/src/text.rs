//! Free text, pseudonymous references, operation slugs and tokens.

use std::fmt;

use serde::Serialize;

use crate::json::{wrong_kind, FieldError, FromJson, Json};

/// The longest free text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

fn read_text(value: &Json, path: &str, max_chars: usize) -> Result<String, FieldError> {
    let Json::String(text) = value else {
        return Err(wrong_kind(path, "a string", value));
    };
    if text.trim().is_empty() {
        return Err(FieldError::new(path, "must not be empty"));
    }
    if text.chars().any(char::is_control) {
        return Err(FieldError::new(path, "must not contain control characters"));
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(FieldError::new(
            path,
            format!("is {chars} characters long; at most {max_chars} are allowed"),
        ));
    }
    Ok(text.clone())
}

/// Non-empty free text without control characters (a name, a reason).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
#[serde(transparent)]
pub struct Text(String);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks text that does not come from JSON input.
    pub fn new(text: &str) -> Result<Text, FieldError> {
        Text::from_json(&Json::String(text.to_owned()), "text")
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromJson for Text {
    fn from_json(value: &Json, path: &str) -> Result<Text, FieldError> {
        read_text(value, path, MAX_TEXT_CHARS).map(Text)
    }
}

/// A pseudonymous reference to a suspect or a victim, as the national case
/// system issued it. Reports never print it; `Debug` hides it so that it does
/// not leak into logs either.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Pseudonym(String);

impl Pseudonym {
    /// The reference itself: for storage and matching only, never for display.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonym(…)")
    }
}

impl FromJson for Pseudonym {
    fn from_json(value: &Json, path: &str) -> Result<Pseudonym, FieldError> {
        read_text(value, path, 128).map(Pseudonym)
    }
}

/// An operation's slug: `^[a-z0-9][a-z0-9-]{0,63}$`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl<'de> serde::Deserialize<'de> for Slug {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Slug, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Slug::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Slug {
    pub fn parse(text: &str) -> Result<Slug, String> {
        let bytes = text.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= 64
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if valid {
            Ok(Slug(text.to_owned()))
        } else {
            Err(format!(
                "{text:?} is not an operation slug (1 to 64 of a-z, 0-9 and -, not starting with -)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromJson for Slug {
    fn from_json(value: &Json, path: &str) -> Result<Slug, FieldError> {
        let Json::String(text) = value else {
            return Err(wrong_kind(path, "a string", value));
        };
        Slug::parse(text).map_err(|message| FieldError::new(path, message))
    }
}

/// A lower-case token from an open vocabulary, such as a focus
/// (`human_trafficking`): `^[a-z][a-z0-9_]{0,63}$`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromJson for Token {
    fn from_json(value: &Json, path: &str) -> Result<Token, FieldError> {
        let Json::String(text) = value else {
            return Err(wrong_kind(path, "a string", value));
        };
        let bytes = text.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= 64
            && bytes[0].is_ascii_lowercase()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
        if valid {
            Ok(Token(text.clone()))
        } else {
            Err(FieldError::new(
                path,
                format!("{text:?} is not a token such as \"migrant_smuggling\" (a-z, 0-9, _)"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_pattern() {
        for ok in ["theseus", "dunqett", "op-2019-12", "0day", &"a".repeat(64)] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "Theseus", "op_1", "op 1", &"a".repeat(65), "é"] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_refuses_blank_and_control_characters() {
        assert!(Text::new("Operation Theseus").is_ok());
        assert!(Text::new("   ").is_err());
        assert!(Text::new("a\u{0}b").is_err());
        assert!(Text::new("a\nb").is_err());
        assert!(Text::new(&"x".repeat(MAX_TEXT_CHARS + 1)).is_err());
    }

    #[test]
    fn pseudonyms_do_not_show_in_debug_output() {
        let p =
            Pseudonym::from_json(&Json::String("AL-S-0001".into()), "data.suspect").expect("valid");
        assert!(!format!("{p:?}").contains("AL-S"));
        assert_eq!(p.reveal(), "AL-S-0001");
    }
}
