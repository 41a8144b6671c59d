//! The input format: JSON Lines, one event per line, as national units'
//! tools send them.
//!
//! ```text
//! {"id": UUID?, "operation": slug, "type": EventType, "recorded_by": text?, "reported_at": RFC 3339?, "expected_version": n?, "data": {...}}
//! ```
//!
//! What is accepted beyond strict JSON, and why:
//! * a UTF-8 byte order mark before the first line (Windows tools write one);
//! * CRLF line ends (the `\r` is dropped);
//! * blank lines, which are skipped but still counted, so that line numbers
//!   in messages match what an editor shows.
//!
//! What is refused, naming the line: a line longer than [`MAX_LINE_BYTES`],
//! bytes that are not UTF-8, JSON that does not parse (NUL bytes, nesting
//! deeper than 128 levels, duplicate keys), and any field that is unknown,
//! missing, of the wrong type or invalid.

use std::io::BufRead;

use domain::json::{FieldError, Json, Object};
use domain::{Event, EventType, OccurredAt, Slug, Text};
use uuid::Uuid;

use crate::LedgerError;

/// The longest input line accepted, newline excluded: 1 MiB.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One parsed input line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputLine {
    pub id: Option<Uuid>,
    pub operation: Slug,
    pub event: Event,
    pub recorded_by: Option<Text>,
    /// The reporting unit's own time of recording (it may be years old): kept
    /// with the event, shown where events are listed, never used for order.
    pub reported_at: Option<OccurredAt>,
    pub expected_version: Option<u64>,
}

/// The fields of an input line, in the order the schema lists them.
pub const LINE_FIELDS: [&str; 7] = [
    "id",
    "operation",
    "type",
    "recorded_by",
    "reported_at",
    "expected_version",
    "data",
];

/// The JSON Schema (draft 2020-12) of one input line, generated from the
/// catalogue (`theseus schema` prints it; `events/schema/` holds a copy
/// that a test keeps current).
pub fn schema() -> serde_json::Value {
    use domain::schema::{data_by_type, definitions, event_type_names, reference};
    use serde_json::json;
    let optional = |schema: serde_json::Value, about: &str| json!({ "anyOf": [schema, { "type": "null" }], "description": format!("{about} (optional; null means absent)") });
    let properties = json!({
        "id": optional(reference("event_id"), "the event's id: a line sent again with the same id and content is skipped as a duplicate; without one, theseus generates a UUIDv7, and the line cannot be re-sent safely"),
        "operation": { "allOf": [reference("slug")], "description": "the operation the event belongs to" },
        "type": { "enum": event_type_names(), "description": "the event type; it decides the shape of data" },
        "recorded_by": optional(reference("text"), "who recorded the line (default: the --recorded-by option, else the OS user)"),
        "reported_at": optional(reference("instant"), "the reporting unit's own time of recording; kept with the event, never used for ordering"),
        "expected_version": optional(json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX }), "the operation's number of events before this line; a mismatch refuses the batch as a conflict (exit 3)"),
        "data": { "type": "object", "description": "the event's fields, as its type defines them" },
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:theseus:input-line:1",
        "title": "theseus input line",
        "description": format!(
            "One line of theseus's JSON Lines input (event schema version {}): one UTF-8 JSON object on one line of at most {} bytes, no key twice. A line that validates may still be refused by the rules, which look at the log: the operation launched first, participants, the UTC date of occurred_at within the period, retraction targets, and whether a currency was current on the event's date.",
            domain::SCHEMA_VERSION,
            MAX_LINE_BYTES
        ),
        "type": "object",
        "additionalProperties": false,
        "required": ["operation", "type", "data"],
        "properties": properties,
        "allOf": data_by_type(),
        "$defs": definitions(),
    })
}

/// Parses one line's JSON text.
///
/// A valid line is read on the fast path (`fast::read_line`), with no
/// tree and no field paths; a line it refuses is read again through the
/// [`Json`] tree ([`parse_line_by_tree`]), which names the field and says
/// why, exactly as before.
pub fn parse_line(text: &str) -> Result<InputLine, FieldError> {
    match fast::read_line(text) {
        Some(line) => Ok(line),
        None => parse_line_by_tree(text),
    }
}

/// Parses one line's JSON text through the [`Json`] tree: the reference
/// reader, and the one whose refusals are reported.
pub fn parse_line_by_tree(text: &str) -> Result<InputLine, FieldError> {
    let json = Json::parse(text).map_err(|message| FieldError::new("json", message))?;
    let line = Object::new(&json, "", &LINE_FIELDS)?;
    let operation: Slug = line.required("operation")?;
    let event_type: EventType = line.required("type")?;
    let id: Option<Uuid> = line.optional("id")?;
    let recorded_by: Option<Text> = line.optional("recorded_by")?;
    let reported_at: Option<OccurredAt> = line.optional("reported_at")?;
    let expected_version: Option<u64> = line.optional("expected_version")?;
    let event = match &json {
        Json::Object(entries) => match entries.iter().find(|(key, _)| key == "data") {
            Some((_, data)) => Event::from_json(event_type, data, "data")?,
            None => return Err(FieldError::new("data", "missing")),
        },
        _ => return Err(FieldError::new("line", "expected an object")),
    };
    Ok(InputLine {
        id,
        operation,
        event,
        recorded_by,
        reported_at,
        expected_version,
    })
}

/// The line's fast path: the line's own fields read straight into their
/// types and `data` by [`domain::strict::data_seed`] once the type is known.
/// `Some` exactly when [`parse_line_by_tree`] accepts the line, with the
/// same result; `None` for any refusal, whose reason it leaves to the tree
/// reader.
mod fast {
    use std::fmt;

    use domain::strict::{data_seed, Read, Strict};
    use domain::{Event, EventType, OccurredAt, Slug, Text};
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;
    use uuid::Uuid;

    use super::{InputLine, LINE_FIELDS};

    pub(super) fn read_line(text: &str) -> Option<InputLine> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let line = deserializer.deserialize_map(LineVisitor).ok()?;
        deserializer.end().ok()?;
        Some(line)
    }

    fn refused<E: de::Error>() -> E {
        E::custom("refused")
    }

    /// A key's index in [`LINE_FIELDS`], without copying it.
    struct Key;

    impl<'de> DeserializeSeed<'de> for Key {
        type Value = usize;

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
            deserializer.deserialize_str(self)
        }
    }

    impl Visitor<'_> for Key {
        type Value = usize;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a field name")
        }

        fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
            LINE_FIELDS
                .iter()
                .position(|name| *name == key)
                .ok_or_else(refused)
        }
    }

    /// Where `data` is, as the line's other fields are read: read already
    /// (the type came first, as tools write it), or kept as raw text until
    /// the type is known.
    enum Data<'de> {
        Read(Event),
        Raw(&'de RawValue),
    }

    struct LineVisitor;

    fn put<'de, A: MapAccess<'de>, T: Strict>(
        map: &mut A,
        slot: &mut Option<T>,
    ) -> Result<(), A::Error> {
        if slot.is_some() {
            return Err(refused());
        }
        *slot = Some(map.next_value::<Read<T>>()?.0);
        Ok(())
    }

    impl<'de> Visitor<'de> for LineVisitor {
        type Value = InputLine;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InputLine, A::Error> {
            let mut id: Option<Option<Uuid>> = None;
            let mut operation: Option<Slug> = None;
            let mut event_type: Option<EventType> = None;
            let mut recorded_by: Option<Option<Text>> = None;
            let mut reported_at: Option<Option<OccurredAt>> = None;
            let mut expected_version: Option<Option<u64>> = None;
            let mut data: Option<Data<'de>> = None;
            while let Some(index) = map.next_key_seed(Key)? {
                match index {
                    0 => put(&mut map, &mut id)?,
                    1 => put(&mut map, &mut operation)?,
                    2 => put(&mut map, &mut event_type)?,
                    3 => put(&mut map, &mut recorded_by)?,
                    4 => put(&mut map, &mut reported_at)?,
                    5 => put(&mut map, &mut expected_version)?,
                    _ => {
                        if data.is_some() {
                            return Err(refused());
                        }
                        data = Some(match event_type {
                            Some(kind) => Data::Read(map.next_value_seed(data_seed(kind))?),
                            None => Data::Raw(map.next_value::<&'de RawValue>()?),
                        });
                    }
                }
            }
            let event_type = event_type.ok_or_else(refused)?;
            let event = match data.ok_or_else(refused)? {
                Data::Read(event) => event,
                Data::Raw(raw) => {
                    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
                    data_seed(event_type)
                        .deserialize(&mut deserializer)
                        .map_err(|_| refused::<A::Error>())?
                }
            };
            Ok(InputLine {
                id: id.flatten(),
                operation: operation.ok_or_else(refused)?,
                event,
                recorded_by: recorded_by.flatten(),
                reported_at: reported_at.flatten(),
                expected_version: expected_version.flatten(),
            })
        }
    }
}

/// Reads input lines one at a time with the limits above.
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
    number: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R) -> Lines<R> {
        Lines {
            reader,
            number: 0,
            buffer: Vec::new(),
        }
    }

    /// The next non-blank line as `(line number, text)`, or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<(u64, &str)>, LedgerError> {
        let Some((number, start, end)) = self.fetch()? else {
            return Ok(None);
        };
        // `fetch` has checked that these bytes are UTF-8.
        let text = std::str::from_utf8(&self.buffer[start..end]).unwrap_or_default();
        Ok(Some((number, text)))
    }

    /// Reads the next non-blank line into the buffer: its number and where
    /// its text lies in the buffer.
    fn fetch(&mut self) -> Result<Option<(u64, usize, usize)>, LedgerError> {
        loop {
            self.buffer.clear();
            self.number += 1;
            let limit = (MAX_LINE_BYTES + 2) as u64;
            let read = std::io::Read::take(&mut self.reader, limit)
                .read_until(b'\n', &mut self.buffer)
                .map_err(LedgerError::Input)?;
            if read == 0 {
                return Ok(None);
            }
            let line_number = self.number;
            let (mut start, mut end) = (0, self.buffer.len());
            let terminated = self.buffer.last() == Some(&b'\n');
            if terminated {
                end -= 1;
            }
            if self.buffer[start..end].ends_with(b"\r") {
                end -= 1;
            }
            if end - start > MAX_LINE_BYTES || (!terminated && read as u64 == limit) {
                if !terminated {
                    // Skip the rest of the line, so that a caller that goes
                    // on (a dry run) reads the next one with its number.
                    self.reader.skip_until(b'\n').map_err(LedgerError::Input)?;
                }
                return Err(LedgerError::Unreadable {
                    line: line_number,
                    message: format!("the line is longer than {MAX_LINE_BYTES} bytes"),
                });
            }
            if line_number == 1 && self.buffer[start..end].starts_with(b"\xEF\xBB\xBF") {
                start += 3;
            }
            let text = std::str::from_utf8(&self.buffer[start..end]).map_err(|error| {
                LedgerError::Unreadable {
                    line: line_number,
                    message: format!("not valid UTF-8 (at byte {})", error.valid_up_to()),
                }
            })?;
            if text.trim().is_empty() {
                continue;
            }
            return Ok(Some((line_number, start, end)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Result<(u64, String), String>> {
        let mut reader = Lines::new(input);
        let mut out = Vec::new();
        loop {
            match reader.next_line() {
                Ok(Some((n, text))) => out.push(Ok((n, text.to_owned()))),
                Ok(None) => break,
                Err(error) => {
                    out.push(Err(error.to_string()));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn bom_crlf_and_blank_lines_are_accepted_and_counted() {
        let got = lines(b"\xEF\xBB\xBF{\"a\":1}\r\n\r\n  \n{\"b\":2}");
        assert_eq!(
            got,
            vec![
                Ok((1, "{\"a\":1}".to_owned())),
                Ok((4, "{\"b\":2}".to_owned()))
            ]
        );
    }

    #[test]
    fn invalid_utf8_and_long_lines_name_the_line() {
        let got = lines(b"{}\n{\"a\":\"\xff\"}\n");
        assert_eq!(
            got.last(),
            Some(&Err("line 2: not valid UTF-8 (at byte 6)".to_owned()))
        );
        let mut long = b"{}\n".to_vec();
        long.extend(std::iter::repeat_n(b' ', MAX_LINE_BYTES + 10));
        long.push(b'\n');
        let got = lines(&long);
        assert!(
            matches!(got.last(), Some(Err(message)) if message.starts_with("line 2: the line is longer"))
        );
    }

    #[test]
    fn reading_goes_on_after_an_overlong_line() {
        let mut input = b"{}\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES * 2 + 7));
        input.extend_from_slice(b"\n{\"c\":3}\n");
        let mut reader = Lines::new(&input[..]);
        assert!(matches!(reader.next_line(), Ok(Some((1, _)))));
        assert!(reader.next_line().is_err());
        assert!(matches!(reader.next_line(), Ok(Some((3, "{\"c\":3}")))));
    }

    #[test]
    fn the_schema_lists_exactly_the_fields_a_line_may_have() {
        let schema = schema();
        let mut properties: Vec<&str> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        properties.sort_unstable();
        let mut fields = LINE_FIELDS.to_vec();
        fields.sort_unstable();
        assert_eq!(properties, fields);
    }

    #[test]
    fn a_line_exactly_at_the_limit_is_read() {
        let mut input = vec![b' '; MAX_LINE_BYTES - 2];
        input.splice(0..0, b"{}".iter().copied());
        input.truncate(MAX_LINE_BYTES);
        input.extend_from_slice(b"\r\n");
        let got = lines(&input);
        assert!(
            matches!(got.first(), Some(Ok((1, _)))),
            "{:?}",
            got.first().map(|r| r.as_ref().map(|(n, _)| *n))
        );
    }

    #[test]
    fn fields_are_checked_with_their_paths() {
        let check = |text: &str, expected: &str| {
            assert_eq!(parse_line(text).expect_err(text).to_string(), expected);
        };
        check(
            r#"{"operation":"theseus","type":"OperationClosed"}"#,
            "data: missing",
        );
        check(r#"{"operation":"Theseus","type":"OperationClosed","data":{}}"#,
              "operation: \"Theseus\" is not an operation slug (1 to 64 of a-z, 0-9 and -, not starting with -)");
        check(r#"{"operation":"t","type":"OperationClosed","data":{},"extra":1}"#,
              "extra: unknown field (expected one of id, operation, type, recorded_by, reported_at, expected_version, data)");
        check(
            r#"{"operation":"t","type":"OperationClosed","data":{},"reported_at":"2019-12-10"}"#,
            "reported_at: \"2019-12-10\" is not an RFC 3339 timestamp with offset, such as \"2019-12-10T14:30:00+01:00\"",
        );
        check(
            r#"{"operation":"t","type":"OperationClosed","data":{},"expected_version":-1}"#,
            "expected_version: must not be negative",
        );
        check(
            r#"{"operation":"t","type":"OperationClosed","data":{},"id":"nope"}"#,
            "id: \"nope\" is not a UUID in its hyphenated form (8-4-4-4-12 hex digits)",
        );
        check(
            r#"{"operation":"t","type":"Closed","data":{}}"#,
            "type: unknown event type \"Closed\"",
        );
        check("[1]", "line: expected an object, found an array");
        assert!(parse_line("{\"operation\":")
            .expect_err("syntax")
            .to_string()
            .starts_with("json: EOF"));
    }

    /// The generator's lines (both reference forms, every event type) as
    /// `(key, raw value)` fields in schema order.
    fn generated_lines() -> Vec<Vec<(String, String)>> {
        let mut generator = crate::generate::Generator::new(&crate::generate::GenerateOptions {
            events: 400,
            seed: 7,
            operations: 2,
            batch_lines: 400,
        });
        let batch = generator.next_batch().expect("a batch").to_owned();
        batch
            .lines()
            .map(|line| {
                let map: std::collections::HashMap<String, &serde_json::value::RawValue> =
                    serde_json::from_str(line).expect("generated line");
                LINE_FIELDS
                    .iter()
                    .filter_map(|key| {
                        map.get(*key)
                            .map(|v| ((*key).to_owned(), v.get().to_owned()))
                    })
                    .collect()
            })
            .collect()
    }

    const VALUES: &[&str] = &[
        "null",
        "0",
        "-0",
        "-1",
        "1.0",
        "7",
        "18446744073709551615",
        "18446744073709551616",
        "true",
        "\"\"",
        "\" \"",
        "\"theseus\"",
        "\"Theseus\"",
        "\"op-1\"",
        "\"-x\"",
        "\"OperationClosed\"",
        "\"CountryJoined\"",
        "\"AgentsDeployed\"",
        "\"Closed\"",
        "\"2019-12-10\"",
        "\"2019-12-10T10:00:00Z\"",
        "\"2019-12-10T10:00:00+01:00\"",
        "\"0190f8b2-7c1e-7a3b-9c2d-5e6f7a8b9c0d\"",
        "\"00000000-0000-0000-0000-000000000000\"",
        "\"nope\"",
        "\"a\\u0000b\"",
        "\"J. Doe\"",
        "{}",
        "[]",
        r#"{"country":"AL"}"#,
        r#"{"country":"AL","count":3}"#,
        r#"{"country":"AL","country":"AL"}"#,
        r#"{"country":"AL","count":3,"x":1}"#,
        "[1,2]",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, ..Default::default() })]

        /// The fast path accepts exactly the lines the tree reader accepts,
        /// with the same result.
        #[test]
        fn the_fast_path_agrees_with_the_tree_reader(
            line in 0..400usize,
            changes in proptest::collection::vec((0..6u8, 0..16usize, 0..16usize, 0..VALUES.len()), 0..3),
            spaced in proptest::prelude::any::<bool>(),
        ) {
            let lines = generated_lines();
            let mut fields = lines[line % lines.len()].clone();
            for (what, a, b, v) in changes {
                let n = fields.len();
                match what {
                    0 if n > 0 => fields[a % n].1 = VALUES[v].to_owned(),
                    1 if n > 0 => { fields.remove(a % n); }
                    2 if n > 0 => { let key = fields[a % n].0.clone(); fields.push((key, VALUES[v].to_owned())); }
                    3 => fields.push(("extra".to_owned(), VALUES[v].to_owned())),
                    4 if n > 0 => fields.swap(a % n, b % n),
                    5 if n > 0 => { let other = &lines[(line + a + 1) % lines.len()]; if let Some(data) = other.iter().find(|(k, _)| k == "data") { fields[a % n].1 = data.1.clone(); } }
                    _ => {}
                }
            }
            let gap = if spaced { " " } else { "" };
            let inner: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{gap}{v}")).collect();
            let text = format!("{{{}}}", inner.join(&format!(",{gap}")));
            proptest::prop_assert_eq!(fast::read_line(&text), parse_line_by_tree(&text).ok(), "{}", text);
        }
    }

    #[test]
    fn generated_lines_take_the_fast_path() {
        for fields in generated_lines() {
            let inner: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let text = format!("{{{}}}", inner.join(","));
            assert!(fast::read_line(&text).is_some(), "{text}");
        }
    }
}
