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

    /// The 64 lowercase hex digits. (A replay converts one hash a record:
    /// branch-free arithmetic per byte, which the compiler vectorises.)
    pub fn to_hex(&self) -> [u8; 64] {
        let digit = |n: u8| n + b'0' + u8::from(n > 9) * (b'a' - b'0' - 10);
        let mut out = [0u8; 64];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = digit(byte >> 4);
            pair[1] = digit(byte & 0x0f);
        }
        out
    }

    /// Parses exactly 64 lowercase hex digits. (Every record read passes
    /// through here.) The digits are converted by arithmetic without a
    /// check, `'0'..='9'` and `'a'..='f'` both being their value in the low
    /// four bits plus 9 for a letter, which bit 6 marks; then the result is
    /// written back as digits and compared with the text. Only 64 lowercase
    /// hex digits are the digits of what they convert to (any other byte
    /// changes on the way back), so the comparison is the whole check, and
    /// the conversion takes eight digits at a time.
    pub fn from_hex(text: &[u8]) -> Option<Hash> {
        let text: &[u8; 64] = text.try_into().ok()?;
        const LOW_NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;
        const ONES: u64 = 0x0101_0101_0101_0101;
        let mut out = [0u8; 32];
        // Eight digits at a time (SWAR), byte k of the word being digit k.
        for (digits, bytes) in text.chunks_exact(8).zip(out.chunks_exact_mut(4)) {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(digits);
            let v = u64::from_le_bytes(eight);
            // Each digit's value in its byte (at most 0x0f + 9, no carry).
            let n = ((v & LOW_NIBBLES) + 9 * ((v >> 6) & ONES)) & LOW_NIBBLES;
            // Byte 2j: digit 2j's value as the high nibble, 2j+1's as the low.
            let pairs = ((n << 4) | (n >> 8)) & 0x00ff_00ff_00ff_00ff;
            // Gather the even bytes into the low four.
            let packed = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
            let packed = (packed | (packed >> 16)) & 0xffff_ffff;
            bytes.copy_from_slice(&(packed as u32).to_le_bytes());
        }
        let hash = Hash(out);
        (hash.to_hex() == *text).then_some(hash)
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
    fn hex_agrees_with_the_definition_for_every_byte_and_digit() {
        for value in 0..=255u8 {
            let hash = Hash([value; 32]);
            let expected: String = hash.0.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hash.to_hex().as_slice(), expected.as_bytes());
            assert_eq!(Hash::from_hex(expected.as_bytes()), Some(hash));
        }
        let good = Hash::chain(&Hash::GENESIS, b"x").to_hex();
        for at in [0, 1, 31, 62, 63] {
            for c in 0..=255u8 {
                let mut text = good;
                text[at] = c;
                let is_digit = c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
                assert_eq!(Hash::from_hex(&text).is_some(), is_digit, "{c:#x} at {at}");
                if let Some(parsed) = Hash::from_hex(&text) {
                    assert_eq!(parsed.to_hex(), text);
                }
            }
        }
        assert_eq!(Hash::from_hex(&good[..63]), None);
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
