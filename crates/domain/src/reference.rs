//! A personal reference (an arrest's `suspect`, a rescue's `victim`) as the
//! log stores it: in clear (written before references were sealed), or
//! sealed under a key of its own that the ledger keeps outside the log.
//!
//! The domain does no cryptography: it only reads and writes the two forms
//! canonically, so that a stored event still reads, and writes back to the
//! same bytes, whichever form it holds. Sealing and opening are the
//! ledger's (`ledger::sealing`).
//!
//! The sealed form is an object, so that it can never be mistaken for a
//! reference someone typed:
//!
//! ```text
//! "suspect":{"key":"<32 hex digits>","sealed":"<hex of the ciphertext and tag>"}
//! ```
//!
//! `key` names the subject's key (random, meaningless without the key
//! store); `sealed` is the XChaCha20-Poly1305 ciphertext of the padded
//! reference, with its tag.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::json::{wrong_kind, FieldError, FromJson, Json, Object};
use crate::Pseudonym;

/// The schema version of `ArrestMade` and `VictimRescued` events whose
/// reference is sealed; those written in clear carry
/// [`crate::SCHEMA_VERSION`] (1).
pub const SEALED_SCHEMA_VERSION: u32 = 2;

/// The length of a subject key's id, in bytes.
pub const KEY_ID_LEN: usize = 16;

/// The most bytes a sealed reference's ciphertext may have: a reference of
/// 128 characters of 4 bytes each, padded, and its tag.
const MAX_SEALED_LEN: usize = 4 * 128 + 32 + 16;

/// A personal reference as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Reference {
    /// The reference itself: what input carries, and what events written
    /// before sealing hold.
    Clear(Pseudonym),
    /// Sealed under the subject's key.
    Sealed(SealedReference),
}

impl Reference {
    /// The reference in clear, if it is stored so.
    pub fn clear(&self) -> Option<&Pseudonym> {
        match self {
            Reference::Clear(pseudonym) => Some(pseudonym),
            Reference::Sealed(_) => None,
        }
    }
}

/// A reference sealed under the key `key_id` names.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedReference {
    pub key_id: [u8; KEY_ID_LEN],
    /// The ciphertext with its tag.
    pub sealed: Vec<u8>,
}

impl fmt::Debug for SealedReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedReference({})", hex(&self.key_id))
    }
}

impl SealedReference {
    /// The key id as its 32 lowercase hex digits.
    pub fn key_hex(&self) -> String {
        hex(&self.key_id)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        text.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    text
}

/// Bytes from lowercase hex (the only spelling written, so the only one
/// read: one value, one text).
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    // Every sealed reference the audit reads comes through here: a table
    // of digit values (16 for a byte that is not a lowercase hex digit),
    // the high bits of every value ORed together and tested once at the
    // end, with no branch per byte.
    let mut out = vec![0u8; bytes.len() / 2];
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (high, low) = (
            HEX_DIGITS[usize::from(pair[0])],
            HEX_DIGITS[usize::from(pair[1])],
        );
        bad |= high | low;
        *byte = (high & 15) << 4 | (low & 15);
    }
    (bad & 0xF0 == 0).then_some(out)
}

/// The value of each lowercase hex digit; 16 for every other byte.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [16u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Lowercase hex of bytes, written as a JSON string without building it
/// first (the bytes are those of [`hex`]).
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buffer = [0u8; 128];
        for chunk in self.0.chunks(buffer.len() / 2) {
            for (i, byte) in chunk.iter().enumerate() {
                buffer[2 * i] = b"0123456789abcdef"[usize::from(byte >> 4)];
                buffer[2 * i + 1] = b"0123456789abcdef"[usize::from(byte & 15)];
            }
            let written = &buffer[..2 * chunk.len()];
            // Hex digits are ASCII, so always UTF-8.
            f.write_str(std::str::from_utf8(written).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Reference::Clear(pseudonym) => pseudonym.serialize(serializer),
            Reference::Sealed(sealed) => {
                let mut object = serializer.serialize_struct("SealedReference", 2)?;
                object.serialize_field("key", &Hex(&sealed.key_id))?;
                object.serialize_field("sealed", &Hex(&sealed.sealed))?;
                object.end()
            }
        }
    }
}

impl SealedReference {
    /// The sealed form from the bytes of its two hex texts, or `None` if
    /// either is not what [`Reference::from_json`] accepts.
    pub(crate) fn checked(key: Vec<u8>, sealed: Vec<u8>) -> Option<SealedReference> {
        let key_id = <[u8; KEY_ID_LEN]>::try_from(key).ok()?;
        (17..=MAX_SEALED_LEN)
            .contains(&sealed.len())
            .then_some(SealedReference { key_id, sealed })
    }
}

impl FromJson for Reference {
    fn from_json(value: &Json, path: &str) -> Result<Reference, FieldError> {
        match value {
            Json::String(_) => Pseudonym::from_json(value, path).map(Reference::Clear),
            Json::Object(_) => {
                let o = Object::new(value, path, &["key", "sealed"])?;
                let key: String = o.required("key")?;
                let key_id = from_hex(&key)
                    .and_then(|bytes| <[u8; KEY_ID_LEN]>::try_from(bytes).ok())
                    .ok_or_else(|| {
                        FieldError::new(o.path_of("key"), "expected 32 lowercase hex digits")
                    })?;
                let text: String = o.required("sealed")?;
                let sealed = from_hex(&text)
                    .filter(|bytes| (17..=MAX_SEALED_LEN).contains(&bytes.len()))
                    .ok_or_else(|| {
                        FieldError::new(
                            o.path_of("sealed"),
                            format!(
                                "expected lowercase hex of 17 to {MAX_SEALED_LEN} bytes (a sealed reference)"
                            ),
                        )
                    })?;
                Ok(Reference::Sealed(SealedReference { key_id, sealed }))
            }
            other => Err(wrong_kind(path, "a string (a reference)", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_reads_exactly_lowercase_pairs() {
        // Every two-byte text: read as a digit pair iff both are lowercase
        // hex digits, to the byte they spell.
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        for first in 0..=127u8 {
            for second in 0..=127u8 {
                let text = String::from_utf8(vec![first, second]).expect("ASCII");
                let expected = digit(first)
                    .zip(digit(second))
                    .map(|(h, l)| vec![h << 4 | l]);
                assert_eq!(from_hex(&text), expected, "{text:?}");
            }
        }
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&hex(&bytes)), Some(bytes));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("é0"), None);
    }

    #[test]
    fn both_forms_write_back_to_the_bytes_they_were_read_from() {
        for text in [
            r#""AL-2019-S-0001""#,
            r#"{"key":"000102030405060708090a0b0c0d0e0f","sealed":"00112233445566778899aabbccddeeff00"}"#,
        ] {
            let json = Json::parse(text).expect("json");
            let reference = Reference::from_json(&json, "data.suspect").expect("reads");
            assert_eq!(serde_json::to_string(&reference).expect("writes"), text);
        }
    }

    #[test]
    fn a_sealed_form_is_read_strictly() {
        for (text, field) in [
            (
                r#"{"key":"00","sealed":"00112233445566778899aabbccddeeff00"}"#,
                "data.suspect.key",
            ),
            (
                r#"{"key":"000102030405060708090A0B0C0D0E0F","sealed":"00112233445566778899aabbccddeeff00"}"#,
                "data.suspect.key",
            ),
            (
                r#"{"key":"000102030405060708090a0b0c0d0e0f","sealed":"0011"}"#,
                "data.suspect.sealed",
            ),
            (
                r#"{"key":"000102030405060708090a0b0c0d0e0f"}"#,
                "data.suspect.sealed",
            ),
            (
                r#"{"key":"000102030405060708090a0b0c0d0e0f","sealed":"00112233445566778899aabbccddeeff00","x":1}"#,
                "data.suspect.x",
            ),
        ] {
            let json = Json::parse(text).expect("json");
            let error = Reference::from_json(&json, "data.suspect").expect_err(text);
            assert_eq!(error.path, field, "{text}");
        }
    }

    #[test]
    fn hex_written_in_place_is_hex() {
        let bytes: Vec<u8> = (0..=255).chain(0..=255).collect();
        assert_eq!(Hex(&bytes).to_string(), hex(&bytes));
        assert_eq!(Hex(&[]).to_string(), "");
    }

    #[test]
    fn hex_round_trips_and_refuses_other_spellings() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&hex(&bytes)), Some(bytes));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("AB"), None);
        assert_eq!(from_hex("g0"), None);
    }
}
