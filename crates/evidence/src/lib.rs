//! Evidence: signed statements about a ledger, in the signed-note format
//! (C2SP `signed-note`, as Go's checksum database and the transparency logs
//! after Certificate Transparency write them), with Ed25519 keys.
//!
//! * [`keys`]: signer and verifier keys, their text forms and key ids, and
//!   key files kept private (0600) outside the store.
//! * [`note`]: a note (a text body, a blank line, signature lines) read
//!   strictly, written, signed and checked.
//! * [`statement`]: what theseus signs: a batch of input lines
//!   (`theseus batch v1`, signed by the submitting agency) and a head of the
//!   log (`theseus head v1`, signed by the ledger: a receipt), and the
//!   digest of a batch's records that a verifier recomputes from the log.
//!
//! This crate knows no store and no event: the ledger hands it texts and
//! digests. Formats are documented in `docs/signatures.md`.

#![forbid(unsafe_code)]

mod error;
pub mod keys;
pub mod note;
pub mod statement;

pub use error::EvidenceError;
pub use keys::{KeyId, SignerKey, VerifierKey};
pub use note::Note;
pub use statement::{BatchStatement, HeadStatement, RecordsDigest};

/// Lower-case hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// Exactly `N` bytes from lower-case hex.
pub fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != N * 2 {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}
