//! The per-record checks of `verify`, shared by every backend: each record
//! decodes; it is exactly what the store's encoder writes for its fields
//! (so the rule of what a canonical record is lives in one place); its
//! `data` is JSON; positions run 1, 2, 3…; each operation's versions run
//! 1, 2, 3…; `recorded_at` is canonical and never decreases; the hash
//! chains; no id is used twice; the log ends a batch; and, with
//! `expect_head`, the log still holds that record.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::record::{
    decode_record, encode_content, format_recorded_at, parse_recorded_at, RecordFields,
    HASH_SUFFIX_LEN,
};
use crate::{EnvelopeRef, Hash, Head, StoreError, VerifyReport};

/// What only the record itself decides, whatever comes before it: `data`
/// is JSON, and the record's content is byte for byte what
/// [`crate::encode_record`] writes for its fields. `scratch` is reused
/// between calls (nothing is allocated per record).
pub(crate) fn check_content(
    record: &EnvelopeRef<'_>,
    line: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<(), String> {
    check_data(record)?;
    check_encoding(record, line, scratch)
}

/// [`check_content`] for a record decoded by
/// [`crate::record::decode_record_layout`], which says whether it was read
/// positionally. A record read positionally, whose strings were all
/// borrowed (no escape in them) and whose id is in lowercase, is byte for
/// byte what the encoder writes: the reader took the encoder's literals in
/// its order, numbers without leading zeros, hashes in lowercase (the only
/// form `Hash::from_hex` reads), `recorded_at`, `reported_at` and `data` as
/// they are; and the encoder writes a string with no `"`, `\` or control
/// character as it is. So the re-encoding is only done for anything else.
/// The law (tests): this accepts a record exactly when [`check_content`]
/// does.
pub(crate) fn check_content_read(
    record: &EnvelopeRef<'_>,
    line: &[u8],
    positional: bool,
    scratch: &mut Vec<u8>,
) -> Result<(), String> {
    check_data(record)?;
    if positional && is_encoded_form(record, line) {
        return Ok(());
    }
    check_encoding(record, line, scratch)
}

/// See [`check_content_read`]: for a record read positionally.
fn is_encoded_form(record: &EnvelopeRef<'_>, line: &[u8]) -> bool {
    let borrowed = matches!(record.operation, Cow::Borrowed(_))
        && matches!(record.event_type, Cow::Borrowed(_))
        && matches!(record.recorded_by, Cow::Borrowed(_));
    // `{"position":` then the position's digits, then `,"id":"`.
    let digits = record
        .position
        .checked_ilog10()
        .map_or(1, |d| d as usize + 1);
    let start = 12 + digits + 7;
    let lowercase_id = line
        .get(start..start + 36)
        .is_some_and(|id| !id.iter().any(u8::is_ascii_uppercase));
    borrowed && lowercase_id
}

/// `data` is JSON: surely so by [`surely_json`]'s walk, or else by
/// serde's reading (which says what is wrong).
fn check_data(record: &EnvelopeRef<'_>) -> Result<(), String> {
    if surely_json(record.data.as_bytes()) {
        return Ok(());
    }
    if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(record.data) {
        return Err(format!("data is not valid JSON: {error}"));
    }
    Ok(())
}

/// True only for a text serde_json reads as one JSON value (the law, in the
/// tests: never true for a text it refuses). A plain walk of the grammar,
/// strings skipped eight bytes at a time, nesting at most [`MAX_DEPTH`]
/// deep; false for anything it is not sure of, which serde then decides.
pub(crate) fn surely_json(text: &[u8]) -> bool {
    let mut walk = JsonWalk { text, at: 0 };
    walk.space();
    let valid = walk.value(0).is_some();
    walk.space();
    valid && walk.at == text.len()
}

/// Nesting deeper than this is left to serde (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

struct JsonWalk<'a> {
    text: &'a [u8],
    at: usize,
}

impl JsonWalk<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'{' => {
                if depth == MAX_DEPTH {
                    return None;
                }
                self.at += 1;
                self.space();
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.space();
                    self.string()?;
                    self.space();
                    self.eat(b':')?;
                    self.space();
                    self.value(depth + 1)?;
                    self.space();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                if depth == MAX_DEPTH {
                    return None;
                }
                self.at += 1;
                self.space();
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.space();
                    self.value(depth + 1)?;
                    self.space();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.text.get(self.at..end)? == word).then(|| self.at = end)
    }

    fn string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            self.at += json_scan::first_special(self.text.get(self.at..)?)?;
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => {
                    self.at += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                        b'u' => {
                            let digits = self.text.get(self.at + 1..self.at + 5)?;
                            if !digits.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.at += 5;
                        }
                        _ => return None,
                    }
                }
                // A control byte.
                _ => return None,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.').is_some() && self.digits() == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }
}

/// The record's content is byte for byte what the encoder writes for its
/// fields.
fn check_encoding(
    record: &EnvelopeRef<'_>,
    line: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<(), String> {
    scratch.clear();
    encode_content(
        scratch,
        &RecordFields {
            position: record.position,
            id: record.id,
            operation: &record.operation,
            version: record.version,
            event_type: &record.event_type,
            schema: record.schema,
            recorded_at: record.recorded_at,
            recorded_by: &record.recorded_by,
            reported_at: record.reported_at,
            refers_to: record.refers_to,
            data: record.data,
            batch_end: record.batch_end,
        },
    );
    let content = line.get(..line.len().saturating_sub(HASH_SUFFIX_LEN));
    if content != Some(scratch.as_slice()) {
        let at = content
            .unwrap_or_default()
            .iter()
            .zip(scratch.iter())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| scratch.len().min(content.map_or(0, <[u8]>::len)));
        return Err(format!(
            "the record is not in the form the store writes (it differs at byte {at}: {})",
            String::from_utf8_lossy(&scratch[at.min(scratch.len())..(at + 24).min(scratch.len())])
        ));
    }
    Ok(())
}

/// `recorded_at` must be the text the store writes for its instant (RFC
/// 3339 in UTC with `Z`, fractional seconds only when there are any).
pub(crate) fn check_time_text(text: &str) -> Result<(), String> {
    let canonical = parse_recorded_at(text)
        .map(|instant| format_recorded_at(&instant))
        .map_err(|error| format!("recorded_at {text:?} is not a time: {error}"))?;
    if canonical != text {
        return Err(format!(
            "recorded_at {text:?} is not in the form the store writes ({canonical:?})"
        ));
    }
    Ok(())
}

/// The first id used twice among `(id, position)` pairs, as the reason
/// `verify` gives and the later position. Sorts `ids`.
pub(crate) fn first_duplicate(ids: &mut [(u128, u64)]) -> Option<(u64, String)> {
    ids.sort_unstable();
    ids.windows(2)
        .filter(|pair| pair[0].0 == pair[1].0)
        .map(|pair| {
            (
                pair[1].1,
                format!(
                    "id {} is used twice: at position {} and at position {}",
                    uuid::Uuid::from_u128(pair[0].0),
                    pair[0].1,
                    pair[1].1
                ),
            )
        })
        .min_by_key(|(position, _)| *position)
}

/// Checks records one after another.
#[derive(Debug)]
pub struct LogChecker {
    pub(crate) previous: Hash,
    pub(crate) position: u64,
    pub(crate) versions: HashMap<String, u64>,
    pub(crate) last_time: String,
    pub(crate) last_batch_end: bool,
    /// The hash of the record at `expect_head`'s position, once seen.
    pub(crate) expected_at: Option<(u64, Option<Hash>)>,
    /// Every id with its position, for the uniqueness check at the end (16
    /// bytes an id plus its position: the one part of `verify` that grows
    /// with the log).
    ids: Vec<(u128, u64)>,
    scratch: Vec<u8>,
}

impl LogChecker {
    /// A checker for a log that, with `expect_head`, must hold that record.
    pub fn new(expect_head: Option<(u64, Hash)>) -> LogChecker {
        LogChecker {
            previous: Hash::GENESIS,
            position: 0,
            versions: HashMap::new(),
            last_time: String::new(),
            last_batch_end: true,
            expected_at: expect_head.map(|(position, _)| (position, None)),
            ids: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Checks the next line (without newline); `location` names it given the
    /// position to report.
    pub fn check_line(
        &mut self,
        line: &[u8],
        location: &dyn Fn(u64) -> String,
    ) -> Result<(), StoreError> {
        let expected = self.position + 1;
        let record = decode_record(line).map_err(|reason| StoreError::Corrupt {
            location: location(expected),
            reason,
        })?;
        self.check_record(&record, line, location)
    }

    /// Checks the next record, already decoded from `line` (the file store's
    /// cursor decodes each line once for all its checks).
    pub fn check_record(
        &mut self,
        record: &EnvelopeRef<'_>,
        line: &[u8],
        location: &dyn Fn(u64) -> String,
    ) -> Result<(), StoreError> {
        let expected = self.position + 1;
        let corrupt = |reason: String| StoreError::Corrupt {
            location: location(record.position),
            reason,
        };
        if record.position != expected {
            return Err(corrupt(format!(
                "position {} follows {}",
                record.position, self.position
            )));
        }
        // `decode_record` has checked the `"hash":"…"}` suffix and parsed
        // the stored hash: hash the content before it.
        let content = line
            .len()
            .checked_sub(HASH_SUFFIX_LEN)
            .and_then(|end| line.get(..end));
        match content {
            Some(content) if Hash::chain(&self.previous, content) == record.hash => {}
            _ => return Err(corrupt("hash does not chain".into())),
        }
        check_content(record, line, &mut self.scratch).map_err(corrupt)?;
        match self.versions.get_mut(record.operation.as_ref()) {
            Some(version) => {
                if record.version != *version + 1 {
                    return Err(corrupt(format!(
                        "operation {} version {} follows {}",
                        record.operation, record.version, version
                    )));
                }
                *version = record.version;
            }
            None => {
                if record.version != 1 {
                    return Err(corrupt(format!(
                        "operation {} starts at version {}",
                        record.operation, record.version
                    )));
                }
                self.versions
                    .insert(record.operation.clone().into_owned(), 1);
            }
        }
        if record.recorded_at != self.last_time {
            check_time_text(record.recorded_at).map_err(corrupt)?;
            if !self.last_time.is_empty()
                && compare_times(record.recorded_at, &self.last_time)? == std::cmp::Ordering::Less
            {
                return Err(corrupt(format!(
                    "recorded_at {} is before the previous record's {}",
                    record.recorded_at, self.last_time
                )));
            }
            self.last_time.clear();
            self.last_time.push_str(record.recorded_at);
        }
        if let Some((position, found)) = &mut self.expected_at {
            if *position == record.position {
                *found = Some(record.hash);
            }
        }
        self.ids.push((record.id.as_u128(), record.position));
        self.previous = record.hash;
        self.position = record.position;
        self.last_batch_end = record.batch_end;
        Ok(())
    }

    /// The report, after checking that the log ends a batch and, with
    /// `expect_head`, still holds that record with that hash.
    pub fn finish(
        &mut self,
        segments: u64,
        expect_head: Option<(u64, Hash)>,
    ) -> Result<VerifyReport, StoreError> {
        if let Some((position, reason)) = first_duplicate(&mut self.ids) {
            return Err(StoreError::Corrupt {
                location: format!("position {position}"),
                reason,
            });
        }
        self.ids = Vec::new();
        if !self.last_batch_end {
            return Err(StoreError::Corrupt {
                location: format!("position {}", self.position),
                reason: "the last record does not end a batch".into(),
            });
        }
        if let Some((position, hash)) = expect_head {
            let mismatch = |found: String| StoreError::HeadMismatch {
                expected_position: position,
                expected_hash: hash.to_string(),
                found,
            };
            if position > self.position {
                return Err(mismatch(format!(
                    "the log ends at position {}",
                    self.position
                )));
            }
            if position == 0 {
                if hash != Hash::GENESIS {
                    return Err(mismatch(format!("position 0 has hash {}", Hash::GENESIS)));
                }
            } else {
                match self.expected_at {
                    Some((watched, Some(found))) if watched == position => {
                        if found != hash {
                            return Err(mismatch(format!("position {position} has hash {found}")));
                        }
                    }
                    _ => return Err(mismatch(format!("position {position} was not checked"))),
                }
            }
        }
        Ok(VerifyReport {
            records: self.position,
            segments,
            head: Head {
                position: self.position,
                hash: self.previous,
            },
        })
    }
}

/// Orders two `recorded_at` texts. The canonical form
/// (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`) is compared without parsing; anything
/// else goes through chrono.
pub(crate) fn compare_times(a: &str, b: &str) -> Result<std::cmp::Ordering, StoreError> {
    match (canonical_time(a), canonical_time(b)) {
        (Some((a_seconds, a_nanos)), Some((b_seconds, b_nanos))) => {
            Ok(a_seconds.cmp(b_seconds).then(a_nanos.cmp(&b_nanos)))
        }
        _ => Ok(parse_recorded_at(a)?.cmp(&parse_recorded_at(b)?)),
    }
}

/// The seconds part (comparable as bytes) and the nanoseconds of a canonical
/// time.
fn canonical_time(text: &str) -> Option<(&[u8], u32)> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes.last() != Some(&b'Z') {
        return None;
    }
    let shape = b"0000-00-00T00:00:00";
    for (byte, pattern) in bytes[..19].iter().zip(shape) {
        let ok = if *pattern == b'0' {
            byte.is_ascii_digit()
        } else {
            byte == pattern
        };
        if !ok {
            return None;
        }
    }
    let rest = &bytes[19..bytes.len() - 1];
    let nanos = match rest {
        [] => 0,
        [b'.', digits @ ..] if !digits.is_empty() && digits.len() <= 9 => {
            let mut value = 0u32;
            for digit in digits {
                if !digit.is_ascii_digit() {
                    return None;
                }
                value = value * 10 + u32::from(digit - b'0');
            }
            value * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    Some((&bytes[..19], nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    use proptest::prelude::*;

    use crate::record::{decode_record_layout, encode_record};
    use crate::Link;

    /// Strings with nothing to escape, with escapes, and beyond ASCII.
    const TEXTS: &[&str] = &[
        "op",
        "ArrestMade",
        "interpol-ccc",
        "a\"b",
        "back\\slash",
        "tab\there",
        "caf\u{e9}",
        "line\u{2028}sep",
        "\u{7f}del",
        "",
    ];

    const DATA: &[&str] = &[
        "{}",
        r#"{"country":"AL","count":3}"#,
        r#"{"a":[1,2,{"b":null}],"c":"\u0041"}"#,
        r#"{ "spaced" : true }"#,
    ];

    /// One change to an encoded line's bytes (its hash is not recomputed:
    /// only the form is compared).
    #[derive(Debug, Clone)]
    enum Change {
        None,
        /// The id's hex digits in upper case.
        UpperId,
        /// The first occurrence of a literal replaced.
        Replace(&'static str, &'static str),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            3 => Just(Change::None),
            1 => Just(Change::UpperId),
            1 => Just(Change::Replace("\"operation\":\"o", "\"operation\":\"\\u006f")),
            1 => Just(Change::Replace("\"recorded_by\":\"", "\"recorded_by\":\"\\/")),
            1 => Just(Change::Replace("\"version\":", "\"version\": ")),
            1 => Just(Change::Replace("\"version\":", "\"version\":0")),
            1 => Just(Change::Replace("{\"position\":", "{ \"position\":")),
            1 => Just(Change::Replace("\"schema\":1,", "\"schema\":1.0,")),
            1 => Just(Change::Replace("\"type\":\"A", "\"type\":\"\\u0041")),
            1 => Just(Change::Replace(",\"batch_end\":true", ",\"batch_end\":false")),
            1 => Just(Change::Replace("\\\"", "\\u0022")),
            1 => Just(Change::Replace("\\t", "\\u0009")),
        ]
    }

    fn changed(line: &[u8], change: &Change, id: uuid::Uuid) -> Vec<u8> {
        let text = String::from_utf8(line.to_vec()).expect("UTF-8");
        match change {
            Change::None => text.into_bytes(),
            Change::UpperId => {
                let lower = id.hyphenated().to_string();
                text.replacen(&lower, &lower.to_uppercase(), 1).into_bytes()
            }
            Change::Replace(from, to) => text.replacen(from, to, 1).into_bytes(),
        }
    }

    /// Pieces of JSON texts, valid and not, to be strung together.
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        " ",
        "\n",
        "\"a\"",
        "\"\\u00e9\"",
        "\"\\x\"",
        "\"\\ud800\"",
        "\"\t\"",
        "\"\\\"\"",
        "\"",
        "0",
        "-0",
        "01",
        "1.5",
        "1.",
        ".5",
        "-",
        "1e5",
        "1E+5",
        "1e",
        "true",
        "tru",
        "null",
        "false",
        "nul",
        "\"k\":",
        "{\"k\":1}",
        "[1,2]",
        "[1,]",
        "é",
    ];

    #[test]
    fn the_walk_accepts_plain_data_and_deep_data_is_left_to_serde() {
        for data in DATA {
            assert!(surely_json(data.as_bytes()), "{data}");
        }
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(!surely_json(deep.as_bytes()));
        assert!(serde_json::from_str::<serde::de::IgnoredAny>(&deep).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        /// The law: the walk never accepts a text serde refuses, and
        /// accepts what serde writes.
        #[test]
        fn the_json_walk_accepts_only_what_serde_reads(
            pieces in proptest::collection::vec(0..PIECES.len(), 1..12),
            value in proptest::collection::vec(proptest::option::of("[a-z\"\\\\]{0,4}"), 0..4),
        ) {
            let text: String = pieces.iter().map(|&i| PIECES[i]).collect();
            if surely_json(text.as_bytes()) {
                prop_assert!(
                    serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok(),
                    "{}",
                    text
                );
            }
            let written = serde_json::to_string(&value).expect("writes");
            prop_assert!(surely_json(written.as_bytes()), "{}", written);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// The law: the check from how a record was read accepts exactly
        /// what the re-encoding check accepts.
        #[test]
        fn the_check_from_the_reading_agrees_with_the_reencoding(
            position in prop_oneof![Just(1u64), 1..20_000_000u64],
            id in any::<u128>(),
            texts in (0..TEXTS.len(), 0..TEXTS.len(), 0..TEXTS.len()),
            version in 1..1_000u64,
            reported_at in proptest::option::of(Just("2019-12-09T07:00:00+01:00")),
            refers_to in proptest::option::of(any::<[u8; 32]>()),
            data in 0..DATA.len(),
            batch_end in any::<bool>(),
            change in change(),
        ) {
            let id = uuid::Uuid::from_u128(id);
            let refers_to = refers_to
                .filter(|_| position > 1)
                .map(|bytes| Link { position: position - 1, hash: Hash(bytes) });
            let mut line = Vec::new();
            encode_record(
                &mut line,
                &Hash::GENESIS,
                &RecordFields {
                    position,
                    id,
                    operation: TEXTS[texts.0],
                    version,
                    event_type: TEXTS[texts.1],
                    schema: 1,
                    recorded_at: "2019-12-09T06:00:00Z",
                    recorded_by: TEXTS[texts.2],
                    reported_at,
                    refers_to,
                    data: DATA[data],
                    batch_end,
                },
            );
            line.pop();
            let line = changed(&line, &change, id);
            if let Ok((record, positional)) = decode_record_layout(&line) {
                let mut scratch = Vec::new();
                let fast = check_content_read(&record, &line, positional, &mut scratch).is_ok();
                let old = check_content(&record, &line, &mut scratch).is_ok();
                prop_assert_eq!(fast, old, "{}", String::from_utf8_lossy(&line));
            }
        }
    }

    #[test]
    fn canonical_times_compare_like_instants() -> Result<(), StoreError> {
        let cases = [
            (
                "2019-12-09T06:00:00Z",
                "2019-12-09T06:00:00.5Z",
                Ordering::Less,
            ),
            (
                "2019-12-09T06:00:00.5Z",
                "2019-12-09T06:00:00.25Z",
                Ordering::Greater,
            ),
            (
                "2019-12-09T06:00:01Z",
                "2019-12-09T06:00:00.999999999Z",
                Ordering::Greater,
            ),
            (
                "2019-12-09T06:00:00.100Z",
                "2019-12-09T06:00:00.1Z",
                Ordering::Equal,
            ),
            (
                "2020-01-01T00:00:00Z",
                "2019-12-31T23:59:59Z",
                Ordering::Greater,
            ),
        ];
        for (a, b, expected) in cases {
            assert_eq!(compare_times(a, b)?, expected, "{a} vs {b}");
        }
        Ok(())
    }
}
