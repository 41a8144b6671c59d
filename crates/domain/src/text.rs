//! Free text, pseudonymous references, operation slugs and tokens.

use std::fmt;

use serde::Serialize;

use crate::json::{wrong_kind, FieldError, FromJson, Json};

/// The longest free text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// The characters of Unicode's `Bidi_Control` property (PropList.txt):
/// ALM, LRM, RLM, the embeddings and overrides LRE…RLO, and the isolates
/// LRI…PDI. They make text display in another order than it is stored
/// (U+202E turns `exe.txt` into `txt.exe` on screen), so no text field may
/// hold one.
pub const BIDI_CONTROLS: [char; 12] = [
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// Code points that show nothing: Unicode 15.1's `Default_Ignorable_Code_Point`
/// (DerivedCoreProperties.txt) and the format characters (`Cf`) outside it,
/// as inclusive ranges. With white space, they are what a text may not
/// consist of alone.
const INVISIBLE: [(char, char); 26] = [
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{2800}', '\u{2800}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// True for a character that shows nothing on its own: white space, a
/// default-ignorable code point, a format character, or the blank Braille
/// pattern U+2800 (which renders as a space).
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || INVISIBLE
            .iter()
            .any(|&(low, high)| (low..=high).contains(&c))
}

/// The checks every text field shares, whatever its length limit.
pub(crate) fn check_text(text: &str) -> Result<(), String> {
    if text.chars().all(is_invisible) {
        return Err(if text.is_empty() {
            "must not be empty".to_owned()
        } else {
            "must not be empty or made only of invisible characters (spaces, zero-width and format characters)".to_owned()
        });
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    if let Some(c) = text.chars().find(|c| BIDI_CONTROLS.contains(c)) {
        return Err(format!(
            "must not contain the bidirectional control character U+{:04X}: it makes text display in another order than it is stored",
            u32::from(c)
        ));
    }
    Ok(())
}

fn read_text(value: &Json, path: &str, max_chars: usize) -> Result<String, FieldError> {
    let Json::String(text) = value else {
        return Err(wrong_kind(path, "a string", value));
    };
    check_text(text).map_err(|message| FieldError::new(path, message))?;
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(FieldError::new(
            path,
            format!("is {chars} characters long; at most {max_chars} are allowed"),
        ));
    }
    Ok(text.clone())
}

/// The strict reader's form of [`read_text`]: the text if every check
/// passes, else `None` (the tree reader then says why).
fn checked_text(text: &str, max_chars: usize) -> Option<String> {
    // The byte length bounds the character count: most texts are short.
    let short = text.len() <= max_chars || text.chars().count() <= max_chars;
    (short && check_text(text).is_ok()).then(|| text.to_owned())
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

impl Text {
    /// [`Text`] from a JSON string's text, or `None` if any check fails.
    pub(crate) fn checked(text: &str) -> Option<Text> {
        checked_text(text, MAX_TEXT_CHARS).map(Text)
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

    /// Checks a reference that does not come from JSON input (a command's
    /// `--subject`, a reference opened from its sealed form).
    pub fn new(text: &str) -> Result<Pseudonym, FieldError> {
        Pseudonym::from_json(&Json::String(text.to_owned()), "reference")
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonym(…)")
    }
}

impl Pseudonym {
    /// [`Pseudonym`] from a JSON string's text, or `None` if any check fails.
    pub(crate) fn checked(text: &str) -> Option<Pseudonym> {
        checked_text(text, 128).map(Pseudonym)
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

fn is_token(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

impl Token {
    /// [`Token`] from a JSON string's text, or `None` if it is not one.
    pub(crate) fn checked(text: &str) -> Option<Token> {
        is_token(text).then(|| Token(text.to_owned()))
    }
}

impl FromJson for Token {
    fn from_json(value: &Json, path: &str) -> Result<Token, FieldError> {
        let Json::String(text) = value else {
            return Err(wrong_kind(path, "a string", value));
        };
        if is_token(text) {
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
    fn text_made_only_of_invisible_characters_is_refused() {
        for blank in [
            "\u{200B}",
            " \u{200B}\u{FEFF} ",
            "\u{2060}\u{00AD}",
            "\u{3164}",
            "\u{2800}\u{2800}",
            "\u{E0041}",
            "\u{3000}",
        ] {
            let error = Text::new(blank).expect_err(blank).message;
            assert!(error.contains("invisible"), "{blank:?}: {error}");
        }
        assert!(
            Text::new("a\u{200B}b").is_ok(),
            "visible text may hold a zero-width space"
        );
        assert!(Text::new("Zoë").is_ok());
    }

    #[test]
    fn bidirectional_controls_are_refused_anywhere() {
        for c in BIDI_CONTROLS {
            let text = format!("net{c}work");
            let error = Text::new(&text).expect_err("bidi").message;
            assert!(
                error.contains(&format!("U+{:04X}", u32::from(c))),
                "{error}"
            );
        }
        let p = Pseudonym::from_json(&Json::String("AL-\u{202E}1000".into()), "data.suspect");
        assert!(p.is_err());
    }

    #[test]
    fn pseudonyms_do_not_show_in_debug_output() {
        let p =
            Pseudonym::from_json(&Json::String("AL-S-0001".into()), "data.suspect").expect("valid");
        assert!(!format!("{p:?}").contains("AL-S"));
        assert_eq!(p.reveal(), "AL-S-0001");
    }
}
