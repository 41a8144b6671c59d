//! A minimal reader of JSON objects for replay: it walks an object's
//! top-level fields and hands out each value's raw text, parsing nothing it
//! is not asked for and allocating nothing.
//!
//! It trusts its input to be JSON (the log holds only what the domain wrote,
//! and the hash chain guards it) but never reads out of bounds or loops on
//! anything else: malformed text yields an error.

use std::borrow::Cow;

/// Iterates over the `(key, raw value)` pairs of a JSON object.
#[derive(Debug)]
pub struct Fields<'a> {
    text: &'a str,
    at: usize,
    done: bool,
}

/// The index of the first `"` or `\\` in `bytes` at or after `from`. Keys
/// and values are short (a country, a time, a count; the longest are a
/// sealed reference's 96 digits): eight bytes at a time (SWAR), inlined,
/// find their end sooner than a SIMD search pays for its setup.
/// `(x - 0x01…) & !x & 0x80…` marks the zero bytes of `x`; a mark above the
/// lowest true one can be false (a borrow), so only the lowest is used.
#[inline(always)]
fn find_quote_or_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = from;
    while let Some(word) = bytes.get(at..at + 8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let v = u64::from_le_bytes(eight);
        let quote = v ^ (ONES * u64::from(b'"'));
        let escape = v ^ (ONES * u64::from(b'\\'));
        let marks =
            ((quote.wrapping_sub(ONES) & !quote) | (escape.wrapping_sub(ONES) & !escape)) & HIGHS;
        if marks != 0 {
            return Some(at + (marks.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' || byte == b'\\' {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// The fields of the object `text`.
pub fn fields(text: &str) -> Fields<'_> {
    Fields {
        text,
        at: 0,
        done: false,
    }
}

impl<'a> Fields<'a> {
    /// Slices at ASCII delimiters, which are always character boundaries
    /// (unless the text is malformed: then an error, not a panic).
    fn slice(&self, start: usize, end: usize) -> Result<&'a str, String> {
        self.text
            .get(start..end)
            .ok_or_else(|| "malformed text".to_owned())
    }

    fn skip_space(&mut self) {
        while self.byte().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Skips a string starting at its opening quote; returns its inner text.
    fn skip_string(&mut self) -> Result<&'a str, String> {
        let bytes = self.text.as_bytes();
        let start = self.at + 1;
        let mut i = start;
        loop {
            match find_quote_or_escape(bytes, i) {
                Some(quote) if bytes[quote] == b'"' => {
                    i = quote;
                    break;
                }
                Some(escape) => i = escape + 2,
                None => return Err("unterminated string".into()),
            }
        }
        self.at = i + 1;
        self.slice(start, i)
    }

    /// Skips one value of any kind.
    fn skip_value(&mut self) -> Result<(), String> {
        match self.byte() {
            Some(b'"') => self.skip_string().map(|_| ()),
            Some(b'{') | Some(b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.byte() {
                        Some(b'"') => {
                            self.skip_string()?;
                            continue;
                        }
                        Some(b'{') | Some(b'[') => depth += 1,
                        Some(b'}') | Some(b']') => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Ok(());
                            }
                        }
                        Some(_) => {}
                        None => return Err("unterminated object or array".into()),
                    }
                    self.at += 1;
                }
            }
            Some(_) => {
                while self
                    .byte()
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.at += 1;
                }
                Ok(())
            }
            None => Err("missing value".into()),
        }
    }

    /// At the object's closing brace: the text must end there (whitespace
    /// aside). A record whose `data` is one object followed by more text is
    /// not JSON; read as its first object, a report would count what the
    /// strict reading (and so `verify`) refuses.
    fn end(&mut self) -> Result<Option<(&'a str, &'a str)>, String> {
        self.at += 1;
        self.skip_space();
        if self.at == self.text.len() {
            Ok(None)
        } else {
            Err("text after the object".into())
        }
    }

    fn next_field(&mut self) -> Result<Option<(&'a str, &'a str)>, String> {
        self.skip_space();
        if self.at == 0 {
            if self.byte() != Some(b'{') {
                return Err("not an object".into());
            }
            self.at += 1;
            self.skip_space();
            if self.byte() == Some(b'}') {
                return self.end();
            }
        } else {
            match self.byte() {
                Some(b',') => self.at += 1,
                Some(b'}') => return self.end(),
                _ => return Err("expected , or }".into()),
            }
            self.skip_space();
        }
        if self.byte() != Some(b'"') {
            return Err("expected a key".into());
        }
        let key = self.skip_string()?;
        self.skip_space();
        if self.byte() != Some(b':') {
            return Err("expected :".into());
        }
        self.at += 1;
        self.skip_space();
        let start = self.at;
        self.skip_value()?;
        let value = self.slice(start, self.at)?;
        Ok(Some((key, value)))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(&'a str, &'a str), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_field().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

/// The text of a raw JSON string value, borrowed unless it has escapes.
pub fn string(raw: &str) -> Result<Cow<'_, str>, String> {
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(|| format!("expected a string, found {raw}"))?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(raw)
            .map(Cow::Owned)
            .map_err(|e| e.to_string())
    } else {
        Ok(Cow::Borrowed(inner))
    }
}

/// A raw JSON whole number.
pub fn number(raw: &str) -> Result<u64, String> {
    raw.parse()
        .map_err(|_| format!("expected a whole number, found {raw}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Result<Vec<(&str, &str)>, String> {
        fields(text).collect()
    }

    #[test]
    fn fields_and_raw_values() {
        assert_eq!(
            all(r#"{"a":1,"b":"x\"y","c":{"d":[1,{"e":"}"}]},"f":true, "g" : null}"#),
            Ok(vec![
                ("a", "1"),
                ("b", r#""x\"y""#),
                ("c", r#"{"d":[1,{"e":"}"}]}"#),
                ("f", "true"),
                ("g", "null"),
            ])
        );
        assert_eq!(all("{}"), Ok(vec![]));
        assert_eq!(all("{\"a\":1} \n"), Ok(vec![("a", "1")]));
    }

    #[test]
    fn an_object_followed_by_more_text_is_refused() {
        // The record reader cuts `data` at the envelope's end, so a forged
        // record can hold `{...},"x":{...}` there: one object, then more.
        for text in [
            r#"{"a":1},"b":{"c":2}"#,
            r#"{},{}"#,
            r#"{"a":1}}"#,
            r#"{"a":1} x"#,
        ] {
            assert_eq!(all(text), Err("text after the object".to_owned()), "{text}");
        }
        assert_eq!(string(r#""x\"y""#).as_deref(), Ok("x\"y"));
        assert_eq!(string(r#""plain""#), Ok(Cow::Borrowed("plain")));
    }

    #[test]
    fn the_word_at_a_time_search_agrees_with_a_plain_one() {
        let plain = |bytes: &[u8]| bytes.iter().position(|b| matches!(b, b'"' | b'\\'));
        for len in 0..80 {
            for at in 0..=len {
                for special in [b'"', b'\\'] {
                    for filler in [b'a', 0x00, 0x21, 0x5b, 0x5d, 0x80, 0xff] {
                        let mut bytes = vec![filler; len];
                        if at < len {
                            bytes[at] = special;
                        }
                        bytes.extend_from_slice(b"\\\"");
                        assert_eq!(find_quote_or_escape(&bytes, 0), plain(&bytes));
                        assert_eq!(find_quote_or_escape(&bytes[..len], 0), plain(&bytes[..len]));
                        let from = at.min(3);
                        assert_eq!(
                            find_quote_or_escape(&bytes, from),
                            plain(&bytes[from..]).map(|found| from + found)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn malformed_text_is_an_error_not_a_hang() {
        for bad in [
            "",
            "[]",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":\"x",
            "{\"a\":1 \"b\":2}",
            "{\"a\":{",
            "{a:1}",
        ] {
            assert!(
                all(bad).is_err() || all(bad).is_ok_and(|v| v.is_empty()),
                "{bad}"
            );
            assert!(all(bad).is_err(), "{bad}");
        }
    }
}
