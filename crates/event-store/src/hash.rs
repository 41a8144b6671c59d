//! SHA-256 chain hashes: how a record's hash is computed and written.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The "previous hash" of the first record: 32 zero bytes.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// The chain step: SHA-256 over the previous hash (as its 64 hex digits)
    /// followed by the record's content bytes (see [`crate::record_hash`]).
    pub fn chain(previous: &Hash, content: &[u8]) -> Hash {
        Hash::chain_hex(&previous.to_hex(), content)
    }

    /// [`Hash::chain`] from the previous hash's 64 hex digits, as a reader
    /// finds them at the end of the previous record: no conversion needed.
    pub fn chain_hex(previous_hex: &[u8; 64], content: &[u8]) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(previous_hex);
        hasher.update(content);
        Hash(hasher.finalize().into())
    }

    /// The 64 lowercase hex digits.
    pub fn to_hex(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, byte) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(byte >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(byte & 0x0f)];
        }
        out
    }

    /// Parses exactly 64 lowercase hex digits. (Every record read passes
    /// through here, so it uses a table and checks validity once.)
    pub fn from_hex(text: &[u8]) -> Option<Hash> {
        const INVALID: u8 = 0x10;
        const VALUES: [u8; 256] = {
            let mut table = [INVALID; 256];
            let mut c = 0;
            while c < 10 {
                table[b'0' as usize + c] = c as u8;
                c += 1;
            }
            let mut c = 0;
            while c < 6 {
                table[b'a' as usize + c] = 10 + c as u8;
                c += 1;
            }
            table
        };
        let text: &[u8; 64] = text.try_into().ok()?;
        let mut out = [0u8; 32];
        let mut invalid = 0u8;
        for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            let (high, low) = (VALUES[usize::from(pair[0])], VALUES[usize::from(pair[1])]);
            invalid |= high | low;
            *byte = (high << 4) | (low & 0x0f);
        }
        (invalid & INVALID == 0).then_some(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        // The digits are ASCII by construction.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = String;

    fn from_str(text: &str) -> Result<Hash, String> {
        Hash::from_hex(text.as_bytes())
            .ok_or_else(|| format!("`{text}` is not 64 lowercase hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let hash = Hash::chain(&Hash::GENESIS, b"{\"position\":1,");
        let text = hash.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<Hash>(), Ok(hash));
        assert!("ABC".parse::<Hash>().is_err());
        assert!(text.to_uppercase().parse::<Hash>().is_err());
    }

    #[test]
    fn chain_depends_on_previous_and_content() {
        let a = Hash::chain(&Hash::GENESIS, b"x");
        assert_ne!(a, Hash::chain(&a, b"x"));
        assert_ne!(a, Hash::chain(&Hash::GENESIS, b"y"));
        // Known answer: sha256("0"*64 + "x").
        let mut input = vec![b'0'; 64];
        input.push(b'x');
        let expected: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(a.0, expected);
    }
}
