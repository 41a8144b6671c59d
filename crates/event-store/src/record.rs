//! The record format: one envelope as one line of JSON, and its hash.
//!
//! A record is written with its fields in a fixed order and the hash last:
//!
//! ```text
//! {"position":1,"id":"…","operation":"theseus","version":1,"type":"OperationLaunched","schema":1,"recorded_at":"2019-12-09T06:00:00Z","recorded_by":"interpol-ccc","data":{…},"batch_end":true,"hash":"…64 hex…"}
//! ```
//!
//! Two optional fields come between `recorded_by` and `data`, each only
//! when there is something to say: `"reported_at":"…"` (the unit's own time
//! of recording) and `"refers_to":{"position":P,"hash":"…"}` (an earlier
//! record this one is about, pinned; a retraction's target).
//!
//! `batch_end` appears (as `true`) only on the last record of an atomic batch.
//! The record's *content* is its bytes up to and including the comma before
//! `"hash"`; its hash is `SHA-256(previous hash as 64 hex digits ‖ content)`,
//! the previous hash of the first record being 64 zeros. Anyone can check a
//! log with a few lines of any language: strip the last 75 bytes
//! (`"hash":"…"}`), hash, compare.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::{EnvelopeRef, Hash, Link, StoreError};

/// The version of this record layout. Format 2 added the optional
/// `reported_at` and `refers_to` fields; a format-1 log is a format-2 log
/// without them, so every reader of format 2 reads both (a committed
/// fixture of format 1 is replayed and verified by the tests).
pub const RECORD_FORMAT: u32 = 2;

/// `"hash":"` + 64 hex digits + `"}`.
pub(crate) const HASH_SUFFIX_LEN: usize = 8 + 64 + 2;

/// The fields of one record, as [`encode_record`] writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFields<'a> {
    pub position: u64,
    pub id: Uuid,
    pub operation: &'a str,
    pub version: u64,
    pub event_type: &'a str,
    pub schema: u32,
    /// The canonical text of the commit time (see [`format_recorded_at`]).
    pub recorded_at: &'a str,
    pub recorded_by: &'a str,
    /// The reporting unit's own time of recording, when it gave one.
    pub reported_at: Option<&'a str>,
    /// The earlier record this one refers to, pinned.
    pub refers_to: Option<Link>,
    /// A JSON object on one line; the caller guarantees it (the store checks
    /// it when staging).
    pub data: &'a str,
    pub batch_end: bool,
}

/// `recorded_at` as records carry it: RFC 3339 in UTC with `Z`, fractional
/// seconds only when there are any.
pub fn format_recorded_at(recorded_at: &DateTime<Utc>) -> String {
    recorded_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Writes one record, newline included, and returns its hash.
pub fn encode_record(out: &mut Vec<u8>, previous: &Hash, fields: &RecordFields<'_>) -> Hash {
    let start = out.len();
    encode_content(out, fields);
    let hash = Hash::chain(previous, &out[start..]);
    out.extend_from_slice(b"\"hash\":\"");
    out.extend_from_slice(&hash.to_hex());
    out.extend_from_slice(b"\"}\n");
    hash
}

/// Writes a record's content: its bytes up to and including the comma
/// before `"hash"`. The writer ([`encode_record`]) and `verify` (which
/// re-encodes every record it reads and compares, so that the rule of what
/// a canonical record is lives in this one function) share it.
pub(crate) fn encode_content(out: &mut Vec<u8>, fields: &RecordFields<'_>) {
    out.extend_from_slice(b"{\"position\":");
    push_u64(out, fields.position);
    out.extend_from_slice(b",\"id\":\"");
    out.extend_from_slice(
        fields
            .id
            .hyphenated()
            .encode_lower(&mut Uuid::encode_buffer())
            .as_bytes(),
    );
    out.extend_from_slice(b"\",\"operation\":");
    push_json_string(out, fields.operation);
    out.extend_from_slice(b",\"version\":");
    push_u64(out, fields.version);
    out.extend_from_slice(b",\"type\":");
    push_json_string(out, fields.event_type);
    out.extend_from_slice(b",\"schema\":");
    push_u64(out, u64::from(fields.schema));
    out.extend_from_slice(b",\"recorded_at\":\"");
    out.extend_from_slice(fields.recorded_at.as_bytes());
    out.extend_from_slice(b"\",\"recorded_by\":");
    push_json_string(out, fields.recorded_by);
    if let Some(reported_at) = fields.reported_at {
        out.extend_from_slice(b",\"reported_at\":");
        push_json_string(out, reported_at);
    }
    if let Some(link) = fields.refers_to {
        out.extend_from_slice(b",\"refers_to\":{\"position\":");
        push_u64(out, link.position);
        out.extend_from_slice(b",\"hash\":\"");
        out.extend_from_slice(&link.hash.to_hex());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(fields.data.as_bytes());
    if fields.batch_end {
        out.extend_from_slice(b",\"batch_end\":true");
    }
    out.push(b',');
}

/// The hash a record line (without its newline) should carry given the
/// previous hash, and the hash it does carry. `None` when the line does not
/// end in the `"hash":"…"}` layout.
pub fn record_hash(previous: &Hash, line: &[u8]) -> Option<(Hash, Hash)> {
    let (content, stored) = split_hash(line)?;
    Some((Hash::chain(previous, content), stored))
}

/// One step of a reader walking the chain: [`record_hash`] with the
/// previous hash given as the 64 hex digits the hash is computed over (the
/// digits the previous record ends with), and the stored hash returned as
/// the digits the line carries. A replay then converts nothing between
/// digits and bytes but the one comparison it makes. `None` when the line
/// does not end in the `"hash":"…"}` layout.
pub fn chain_step<'l>(previous_hex: &[u8; 64], line: &'l [u8]) -> Option<(Hash, &'l [u8; 64])> {
    let (content, stored) = split_hash_hex(line)?;
    Some((Hash::chain_hex(previous_hex, content), stored))
}

fn split_hash(line: &[u8]) -> Option<(&[u8], Hash)> {
    let (content, digits) = split_hash_hex(line)?;
    Some((content, Hash::from_hex(digits)?))
}

/// The content and the stored hash's digits (not yet checked to be hex).
fn split_hash_hex(line: &[u8]) -> Option<(&[u8], &[u8; 64])> {
    if line.len() < HASH_SUFFIX_LEN + 2 {
        return None;
    }
    let (content, suffix) = line.split_at(line.len() - HASH_SUFFIX_LEN);
    if !content.ends_with(b",") || !suffix.starts_with(b"\"hash\":\"") || !suffix.ends_with(b"\"}")
    {
        return None;
    }
    let digits = suffix.get(8..8 + 64)?.try_into().ok()?;
    Some((content, digits))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    position: u64,
    id: Uuid,
    #[serde(borrow)]
    operation: Cow<'a, str>,
    version: u64,
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    schema: u32,
    recorded_at: &'a str,
    #[serde(borrow)]
    recorded_by: Cow<'a, str>,
    #[serde(default, borrow)]
    reported_at: Option<&'a str>,
    #[serde(default, borrow)]
    refers_to: Option<WireLink<'a>>,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
    #[serde(default)]
    batch_end: bool,
    #[allow(dead_code)]
    hash: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireLink<'a> {
    position: u64,
    hash: &'a str,
}

/// Parses one record line (without its newline). The error is a reason
/// suitable for [`StoreError::Corrupt`]; the caller adds the location.
///
/// Records written by [`encode_record`] are read positionally, without a
/// general JSON parser (replay reads millions of them); anything else that
/// is still a valid record (a log rewritten by another tool, say) is read by
/// serde. The two agree: see the tests.
pub fn decode_record(line: &[u8]) -> Result<EnvelopeRef<'_>, String> {
    let (content, hash) = split_hash(line).ok_or("the line does not end with a hash")?;
    if let Some(record) = decode_canonical(line, content.len(), hash) {
        return Ok(record);
    }
    decode_any(line, hash)
}

/// [`decode_record`], and whether the line was read positionally, in the
/// layout [`encode_record`] writes (`verify` then checks its form from how
/// it was read, not by writing it again: see `check::check_content_read`).
pub(crate) fn decode_record_layout(line: &[u8]) -> Result<(EnvelopeRef<'_>, bool), String> {
    let (content, hash) = split_hash(line).ok_or("the line does not end with a hash")?;
    if let Some(record) = decode_canonical(line, content.len(), hash) {
        return Ok((record, true));
    }
    decode_any(line, hash).map(|record| (record, false))
}

/// The serde reading of any JSON record.
fn decode_any(line: &[u8], hash: Hash) -> Result<EnvelopeRef<'_>, String> {
    let wire: Wire<'_> =
        serde_json::from_slice(line).map_err(|error| format!("not a record: {error}"))?;
    if wire.position == 0 || wire.version == 0 {
        return Err("position and version start at 1".into());
    }
    if !wire.data.get().starts_with('{') {
        return Err("data is not an object".into());
    }
    let refers_to = match wire.refers_to {
        None => None,
        Some(link) => {
            let hash = Hash::from_hex(link.hash.as_bytes())
                .ok_or("refers_to.hash is not 64 lowercase hex digits")?;
            if link.position == 0 || link.position >= wire.position {
                return Err("refers_to names no earlier record".into());
            }
            Some(Link {
                position: link.position,
                hash,
            })
        }
    };
    Ok(EnvelopeRef {
        position: wire.position,
        id: wire.id,
        operation: wire.operation,
        version: wire.version,
        event_type: wire.event_type,
        schema: wire.schema,
        recorded_at: wire.recorded_at,
        recorded_by: wire.recorded_by,
        reported_at: wire.reported_at,
        refers_to,
        data: wire.data.get(),
        batch_end: wire.batch_end,
        hash,
        line,
    })
}

/// Reads a record in exactly the layout `encode_record` writes; `None` for
/// anything else.
fn decode_canonical(line: &[u8], content_len: usize, hash: Hash) -> Option<EnvelopeRef<'_>> {
    // One UTF-8 check for the whole line; every field below is a slice of it.
    let line = line_text(line)?;
    let mut at = Cursor { line, at: 0 };
    at.expect(b"{\"position\":")?;
    let position = at.number()?;
    at.expect(b",\"id\":\"")?;
    let id = Uuid::try_parse_ascii(at.take(36)?).ok()?;
    at.expect(b"\",\"operation\":")?;
    let operation = at.string()?;
    at.expect(b",\"version\":")?;
    let version = at.number()?;
    at.expect(b",\"type\":")?;
    let event_type = at.string()?;
    at.expect(b",\"schema\":")?;
    let schema = u32::try_from(at.number()?).ok()?;
    at.expect(b",\"recorded_at\":\"")?;
    let recorded_at = at.plain_until_quote()?;
    at.expect(b"\",\"recorded_by\":")?;
    let recorded_by = at.string()?;
    let reported_at = if at.expect(b",\"reported_at\":\"").is_some() {
        let text = at.plain_until_quote()?;
        at.expect(b"\"")?;
        Some(text)
    } else {
        None
    };
    let refers_to = if at.expect(b",\"refers_to\":{\"position\":").is_some() {
        let position = at.number()?;
        at.expect(b",\"hash\":\"")?;
        let hash = Hash::from_hex(at.take(64)?)?;
        at.expect(b"\"}")?;
        Some(Link { position, hash })
    } else {
        None
    };
    at.expect(b",\"data\":")?;
    let rest = line.get(at.at..content_len)?;
    let (data, batch_end) = match rest.strip_suffix(",\"batch_end\":true,") {
        Some(data) => (data, true),
        None => (rest.strip_suffix(',')?, false),
    };
    if position == 0 || version == 0 || !data.starts_with('{') || !data.ends_with('}') {
        return None;
    }
    if refers_to.is_some_and(|link| link.position == 0 || link.position >= position) {
        return None;
    }
    Some(EnvelopeRef {
        position,
        id,
        operation,
        version,
        event_type,
        schema,
        recorded_at,
        recorded_by,
        reported_at,
        refers_to,
        data,
        batch_end,
        hash,
        line: line.as_bytes(),
    })
}

/// The line as text, if it is UTF-8. The store writes ASCII only in the
/// envelope and the domain's data is almost always ASCII too, so the common
/// case is settled by one OR over the bytes (which the compiler vectorises,
/// 16 bytes an instruction) instead of the general validator's walk (about
/// 330 instructions for a 540-byte record, 5% of a replay's work outside
/// SHA-256, measured with callgrind). Anything else goes to the validator.
fn line_text(line: &[u8]) -> Option<&str> {
    if line.iter().fold(0u8, |any, &byte| any | byte) < 0x80 {
        #[allow(unsafe_code)]
        // SAFETY: every byte is below 0x80, and a sequence of ASCII bytes is
        // valid UTF-8 (each byte one character).
        let text = unsafe { std::str::from_utf8_unchecked(line) };
        Some(text)
    } else {
        std::str::from_utf8(line).ok()
    }
}

/// A position in a record line, for the positional reading.
struct Cursor<'a> {
    line: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.line.as_bytes()
    }

    // Inlined so that each literal's length is known where it is compared:
    // a few word compares instead of a call to `memcmp` per field.
    #[inline(always)]
    fn expect(&mut self, literal: &[u8]) -> Option<()> {
        let end = self.at + literal.len();
        (self.bytes().get(self.at..end)? == literal).then(|| self.at = end)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes().get(self.at..self.at + n)?;
        self.at += n;
        Some(slice)
    }

    /// A decimal u64 without sign, leading zeros or overflow.
    fn number(&mut self) -> Option<u64> {
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(digit) = self.bytes().get(self.at).filter(|b| b.is_ascii_digit()) {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
            self.at += 1;
        }
        let len = self.at - start;
        (len > 0 && (len == 1 || self.bytes()[start] != b'0')).then_some(value)
    }

    /// The text up to the next quote, which must hold no escape and no
    /// control character. These fields are short (a name, a type, a time)
    /// and every record read has four of them: see [`json_scan::first_special`].
    fn plain_until_quote(&mut self) -> Option<&'a str> {
        let start = self.at;
        let rest = self.bytes().get(start..)?;
        let len = json_scan::first_special(rest)?;
        if rest[len] != b'"' {
            return None;
        }
        self.at = start + len;
        self.line.get(start..start + len)
    }

    /// A JSON string: borrowed when it has no escapes, decoded otherwise.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.expect(b"\"")?;
        let start = self.at;
        if let Some(text) = self.plain_until_quote() {
            self.at += 1;
            return Some(Cow::Borrowed(text));
        }
        // Has escapes: find the closing quote, skipping escaped characters.
        let mut i = start;
        loop {
            match *self.bytes().get(i)? {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        let text: String = serde_json::from_str(self.line.get(start - 1..=i)?).ok()?;
        self.at = i + 1;
        Some(Cow::Owned(text))
    }
}

fn push_u64(out: &mut Vec<u8>, value: u64) {
    let mut buffer = [0u8; 20];
    let mut i = buffer.len();
    let mut rest = value;
    loop {
        i -= 1;
        buffer[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&buffer[i..]);
}

fn push_json_string(out: &mut Vec<u8>, text: &str) {
    // serde_json escapes exactly what JSON requires; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// Parses a canonical `recorded_at`.
pub(crate) fn parse_recorded_at(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|error| StoreError::Corrupt {
            location: "recorded_at".into(),
            reason: error.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_with(batch_end: bool, reported_at: Option<&str>) -> (Vec<u8>, Hash) {
        sample_linked(batch_end, reported_at, None)
    }

    fn sample_linked(
        batch_end: bool,
        reported_at: Option<&str>,
        refers_to: Option<Link>,
    ) -> (Vec<u8>, Hash) {
        let mut out = Vec::new();
        let at = DateTime::parse_from_rfc3339("2019-12-09T06:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("valid time");
        let hash = encode_record(
            &mut out,
            &Hash::GENESIS,
            &RecordFields {
                position: 7,
                id: Uuid::from_u128(42),
                operation: "theseus",
                version: 3,
                event_type: "ArrestMade",
                schema: 1,
                recorded_at: &format_recorded_at(&at),
                recorded_by: "unit \"A\"",
                reported_at,
                refers_to,
                data: r#"{"country":"AL","count":1}"#,
                batch_end,
            },
        );
        (out, hash)
    }

    fn sample(batch_end: bool) -> (Vec<u8>, Hash) {
        sample_with(batch_end, None)
    }

    #[test]
    fn a_link_reads_back_the_same_both_ways_and_must_point_back() {
        let link = Link {
            position: 3,
            hash: Hash::chain(&Hash::GENESIS, b"x"),
        };
        let (bytes, hash) = sample_linked(false, Some("2019-12-08T23:10:00Z"), Some(link));
        let line = &bytes[..bytes.len() - 1];
        let text = String::from_utf8_lossy(line);
        assert!(text.contains(&format!(
            ",\"reported_at\":\"2019-12-08T23:10:00Z\",\"refers_to\":{{\"position\":3,\"hash\":\"{}\"}},\"data\":",
            link.hash
        )));
        let record = decode_record(line).expect("decodes");
        assert_eq!(record.refers_to, Some(link));
        let content_len = line.len() - HASH_SUFFIX_LEN;
        assert_eq!(
            decode_canonical(line, content_len, hash),
            decode_any(line, hash).ok()
        );
        // A link to itself or later is not a record (the sample is at 7).
        let (forward, _) = sample_linked(
            false,
            None,
            Some(Link {
                position: 7,
                ..link
            }),
        );
        assert!(decode_record(&forward[..forward.len() - 1]).is_err());
    }

    #[test]
    fn reported_at_is_written_only_when_given_and_reads_back() {
        let (without, _) = sample(true);
        assert!(!String::from_utf8_lossy(&without).contains("reported_at"));
        let (with, hash) = sample_with(true, Some("2019-12-08T23:10:00+01:00"));
        let line = &with[..with.len() - 1];
        let record = decode_record(line).expect("decodes");
        assert_eq!(record.reported_at, Some("2019-12-08T23:10:00+01:00"));
        assert_eq!(record.hash, hash);
        assert_eq!(record.line, line);
        let content_len = line.len() - HASH_SUFFIX_LEN;
        assert_eq!(
            decode_canonical(line, content_len, hash),
            decode_any(line, hash).ok()
        );
    }

    #[test]
    fn a_record_decodes_to_what_was_encoded() {
        for batch_end in [false, true] {
            let (bytes, hash) = sample(batch_end);
            assert_eq!(bytes.last(), Some(&b'\n'));
            let line = &bytes[..bytes.len() - 1];
            let record = decode_record(line).expect("decodes");
            assert_eq!(record.position, 7);
            assert_eq!(record.id, Uuid::from_u128(42));
            assert_eq!(record.operation, "theseus");
            assert_eq!(record.version, 3);
            assert_eq!(record.event_type, "ArrestMade");
            assert_eq!(record.recorded_at, "2019-12-09T06:00:00Z");
            assert_eq!(record.recorded_by, "unit \"A\"");
            assert_eq!(record.data, r#"{"country":"AL","count":1}"#);
            assert_eq!(record.batch_end, batch_end);
            assert_eq!(record.hash, hash);
            assert_eq!(record_hash(&Hash::GENESIS, line), Some((hash, hash)));
            assert_eq!(
                chain_step(&Hash::GENESIS.to_hex(), line),
                Some((hash, &hash.to_hex()))
            );
        }
    }

    #[test]
    fn any_changed_content_byte_changes_the_hash() {
        let (bytes, _) = sample(true);
        let line = &bytes[..bytes.len() - 1];
        let content_len = line.len() - HASH_SUFFIX_LEN;
        for i in 0..content_len {
            let mut tampered = line.to_vec();
            tampered[i] ^= 0x01;
            if let Some((computed, stored)) = record_hash(&Hash::GENESIS, &tampered) {
                assert_ne!(computed, stored, "byte {i} changed unnoticed");
            }
        }
    }

    #[test]
    fn the_positional_and_the_serde_readings_agree() {
        for batch_end in [false, true] {
            let (bytes, hash) = sample(batch_end);
            let line = &bytes[..bytes.len() - 1];
            let content_len = line.len() - HASH_SUFFIX_LEN;
            let fast = decode_canonical(line, content_len, hash).expect("canonical layout");
            assert_eq!(Ok(fast), decode_any(line, hash));
        }
        // Reformatted but still a record: only serde reads it.
        let (bytes, hash) = sample(true);
        let text = String::from_utf8(bytes).expect("utf8").replacen(
            "{\"position\":7",
            "{ \"position\": 7",
            1,
        );
        let line = text.trim_end().as_bytes();
        assert!(decode_canonical(line, line.len() - HASH_SUFFIX_LEN, hash).is_none());
        assert_eq!(decode_record(line).map(|r| r.position), Ok(7));
    }

    proptest::proptest! {
        /// The ASCII shortcut in front of the UTF-8 check answers as the
        /// check does, for any bytes.
        #[test]
        fn line_text_is_utf8_validation(bytes in proptest::collection::vec(
            proptest::prop_oneof![0x20u8..0x7f, proptest::num::u8::ANY], 0..300)
        ) {
            proptest::prop_assert_eq!(line_text(&bytes), std::str::from_utf8(&bytes).ok());
        }

        /// Records with any text in their fields (non-ASCII, escapes,
        /// controls) read the same positionally and by serde; and a line
        /// with one byte changed is either refused by the positional reading
        /// or read by it as serde reads it, unless its data is no longer
        /// one JSON object (the positional reading takes data as it finds
        /// it; the chain check and the data's reader guard that).
        #[test]
        fn the_positional_reading_is_serdes(
            operation in "\\PC{0,12}",
            recorded_by in ".{0,12}",
            reported_at in proptest::option::of("[0-9T:Z\u{e9}-]{1,20}"),
            value in ".{0,12}",
            batch_end in proptest::bool::ANY,
            position in 2u64..1_000_000,
            flip in (0usize..400, proptest::num::u8::ANY),
        ) {
            let data = serde_json::json!({ "note": value, "count": 3 }).to_string();
            let link = (position % 2 == 0).then(|| Link {
                position: position / 2,
                hash: Hash::chain(&Hash::GENESIS, value.as_bytes()),
            });
            let mut out = Vec::new();
            let hash = encode_record(&mut out, &Hash::GENESIS, &RecordFields {
                position,
                id: Uuid::from_u128(u128::from(position) * 7919),
                operation: &operation,
                version: 1,
                event_type: "ArrestMade",
                schema: 1,
                recorded_at: "2019-12-09T06:00:00Z",
                recorded_by: &recorded_by,
                reported_at: reported_at.as_deref(),
                refers_to: link,
                data: &data,
                batch_end,
            });
            let line = &out[..out.len() - 1];
            let content_len = line.len() - HASH_SUFFIX_LEN;
            let fast = decode_canonical(line, content_len, hash);
            proptest::prop_assert!(fast.is_some());
            proptest::prop_assert_eq!(fast, decode_any(line, hash).ok());
            let (at, byte) = flip;
            let mut changed = line.to_vec();
            let at = at % changed.len();
            changed[at] = byte;
            if let Some((content, stored)) = split_hash(&changed) {
                if let Some(fast) = decode_canonical(&changed, content.len(), stored) {
                    let data_is_one_object = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(fast.data).is_ok();
                    if data_is_one_object {
                        proptest::prop_assert_eq!(Ok(fast), decode_any(&changed, stored));
                    }
                }
            }
        }
    }

    #[test]
    fn malformed_lines_are_refused() {
        let (bytes, _) = sample(false);
        let line = &bytes[..bytes.len() - 1];
        assert!(decode_record(&line[..line.len() - 1]).is_err());
        assert!(decode_record(b"{}").is_err());
        assert!(decode_record(b"").is_err());
        let extra = String::from_utf8_lossy(line).replace("\"schema\":1", "\"schema\":1,\"x\":1");
        assert!(decode_record(extra.as_bytes()).is_err());
    }
}
