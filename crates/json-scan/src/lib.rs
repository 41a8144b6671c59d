//! Where a plain JSON string ends, eight bytes at a time.
//!
//! The store's record reader and the domain's canonical reader both walk
//! millions of short strings (names, times, countries) and want the index
//! of the first byte that ends a plain string or shows it is not plain: a
//! quote, a backslash, or a control character (which JSON strings may not
//! hold raw). Neither crate may know the other, so the search lives here,
//! in a crate that knows nothing of ours.

/// The index of the first `"`, `\\` or control character (below 0x20) in
/// `bytes`: where a plain string ends, or shows it is not plain.
/// Eight bytes at a time (SWAR): `(x - 0x01…) & !x & 0x80…` marks the zero
/// bytes of `x` and `(v - 0x20…) & !v & 0x80…` the bytes of `v` below 0x20;
/// a mark above the lowest true one can be false (a borrow), so only the
/// lowest mark is used, and it is exact.
#[inline]
pub fn first_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let v = u64::from_le_bytes(eight);
        let quote = v ^ (ONES * u64::from(b'"'));
        let escape = v ^ (ONES * u64::from(b'\\'));
        let marks = ((quote.wrapping_sub(ONES) & !quote)
            | (escape.wrapping_sub(ONES) & !escape)
            | (v.wrapping_sub(ONES * 0x20) & !v))
            & HIGHS;
        if marks != 0 {
            return Some(at + (marks.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|found| at + found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_at_a_time_search_agrees_with_a_plain_one() {
        let plain = |bytes: &[u8]| {
            bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        };
        let specials = [b'"', b'\\', 0x00, 0x1f, b'\n'];
        let ordinary = [
            b'a', b' ', b'!', b'#', b'[', b']', 0x20, 0x7f, 0x80, 0xff, 0x21, 0x5d,
        ];
        for len in 0..20 {
            for at in 0..=len {
                for special in specials {
                    for filler in ordinary {
                        let mut bytes = vec![filler; len];
                        if at < len {
                            bytes[at] = special;
                        }
                        // Specials after the first must not move the answer.
                        bytes.extend_from_slice(&[0x00, b'"', b'\\', 0x01]);
                        assert_eq!(first_special(&bytes), plain(&bytes), "{bytes:?}");
                        assert_eq!(
                            first_special(&bytes[..len]),
                            plain(&bytes[..len]),
                            "{bytes:?}"
                        );
                    }
                }
            }
        }
    }
}
