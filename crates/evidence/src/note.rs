//! Signed notes: a UTF-8 text that ends with a newline, a blank line, and
//! one or more signature lines:
//!
//! ```text
//! <body line>\n
//! …\n
//! \n
//! — <name> <base64(key id ‖ 64-byte Ed25519 signature of the body)>\n
//! ```
//!
//! The signature covers the body's exact bytes, final newline included.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::keys::{check_name, KeyId, SignerKey, VerifierKey};
use crate::EvidenceError;

/// The em dash and space that open a signature line.
const DASH: &str = "\u{2014} ";

/// The most bytes a note may have: a statement is a few lines.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// One signature line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: KeyId,
    pub signature: [u8; 64],
}

/// A note as read: its body and its signature lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    body: String,
    signatures: Vec<NoteSignature>,
}

fn malformed(line: usize, message: impl Into<String>) -> EvidenceError {
    EvidenceError::Malformed {
        line,
        message: message.into(),
    }
}

impl Note {
    /// Signs `body` (which must end with a newline and hold no blank line).
    pub fn sign(body: &str, key: &SignerKey) -> Result<Note, EvidenceError> {
        check_body(body)?;
        Ok(Note {
            body: body.to_owned(),
            signatures: vec![NoteSignature {
                name: key.name().to_owned(),
                key_id: key.id(),
                signature: key.sign(body.as_bytes()),
            }],
        })
    }

    /// Reads a note strictly: a body, one blank line, signature lines, and
    /// nothing else (no carriage returns, no trailing text).
    pub fn parse(text: &str) -> Result<Note, EvidenceError> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(malformed(1, format!("longer than {MAX_NOTE_BYTES} bytes")));
        }
        let split = text
            .rfind("\n\n")
            .ok_or_else(|| malformed(1, "no blank line before the signatures"))?;
        let body = &text[..split + 1];
        check_body(body)?;
        let first_signature_line = body.lines().count() + 2;
        let block = &text[split + 2..];
        if !block.ends_with('\n') {
            return Err(malformed(
                first_signature_line,
                "the last signature line does not end with a newline",
            ));
        }
        let mut signatures = Vec::new();
        for (i, line) in block[..block.len() - 1].split('\n').enumerate() {
            let number = first_signature_line + i;
            let rest = line
                .strip_prefix(DASH)
                .ok_or_else(|| malformed(number, "a signature line starts with \"— \""))?;
            let (name, encoded) = rest
                .split_once(' ')
                .ok_or_else(|| malformed(number, "expected \"— NAME SIGNATURE\""))?;
            check_name(name).map_err(|error| malformed(number, error.to_string()))?;
            let bytes = STANDARD
                .decode(encoded)
                .map_err(|_| malformed(number, "the signature is not base64"))?;
            if bytes.len() != 68 {
                return Err(malformed(
                    number,
                    "the signature is not a key id and an Ed25519 signature (68 bytes)",
                ));
            }
            let mut key_id = [0u8; 4];
            key_id.copy_from_slice(&bytes[..4]);
            let mut signature = [0u8; 64];
            signature.copy_from_slice(&bytes[4..]);
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: KeyId(key_id),
                signature,
            });
        }
        Ok(Note {
            body: body.to_owned(),
            signatures,
        })
    }

    /// The signed text.
    pub fn body(&self) -> &str {
        &self.body
    }

    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The signature line by `key` (its name and id), if it verifies.
    pub fn verify(&self, key: &VerifierKey) -> Result<(), EvidenceError> {
        let line = self
            .signatures
            .iter()
            .find(|s| s.name == key.name() && s.key_id == key.id())
            .ok_or_else(|| {
                EvidenceError::Signature(format!(
                    "no signature by {} key {} (signed by: {})",
                    key.name(),
                    key.id(),
                    self.signers()
                ))
            })?;
        if key.verify(self.body.as_bytes(), &line.signature) {
            Ok(())
        } else {
            Err(EvidenceError::Signature(format!(
                "the signature by {} key {} does not verify: the statement or the signature was changed",
                key.name(),
                key.id()
            )))
        }
    }

    fn signers(&self) -> String {
        let names: Vec<String> = self
            .signatures
            .iter()
            .map(|s| format!("{} key {}", s.name, s.key_id))
            .collect();
        names.join(", ")
    }

    /// The note's text.
    pub fn text(&self) -> String {
        let mut text = self.body.clone();
        text.push('\n');
        for line in &self.signatures {
            let mut bytes = Vec::with_capacity(68);
            bytes.extend_from_slice(&line.key_id.0);
            bytes.extend_from_slice(&line.signature);
            text.push_str(DASH);
            text.push_str(&line.name);
            text.push(' ');
            text.push_str(&STANDARD.encode(bytes));
            text.push('\n');
        }
        text
    }
}

fn check_body(body: &str) -> Result<(), EvidenceError> {
    if body.is_empty() || !body.ends_with('\n') {
        return Err(malformed(1, "the statement must end with a newline"));
    }
    for (i, line) in body[..body.len() - 1].split('\n').enumerate() {
        if line.is_empty() {
            return Err(malformed(i + 1, "a blank line inside the statement"));
        }
        if line.contains('\r') {
            return Err(malformed(i + 1, "a carriage return"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_round_trips_and_catches_an_edit() {
        let key = SignerKey::from_seed("rs-police", [3; 32]);
        let note = Note::sign("theseus batch v1\nlines 2\n", &key).expect("sign");
        let text = note.text();
        assert!(text.starts_with("theseus batch v1\nlines 2\n\n\u{2014} rs-police "));
        let read = Note::parse(&text).expect("parse");
        assert_eq!(read, note);
        assert!(read.verify(&key.verifier()).is_ok());
        let edited = Note::parse(&text.replace("lines 2", "lines 3")).expect("parse");
        assert!(edited.verify(&key.verifier()).is_err());
        let other = SignerKey::from_seed("rs-police", [4; 32]);
        assert!(read.verify(&other.verifier()).is_err());
        for bad in [
            "",
            "body\n",
            "body\n\nnot a signature\n",
            &text.replace('\n', "\r\n"),
        ] {
            assert!(Note::parse(bad).is_err(), "{bad:?}");
        }
    }
}
