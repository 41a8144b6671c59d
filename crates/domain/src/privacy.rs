//! The privacy records: erasures of a subject's key and consultations of
//! personal references, kept in the reserved stream [`PRIVACY_STREAM`].
//!
//! Like the agency registry, the stream shares the log's chain (so every
//! erasure and every consultation is timed, attributed and tamper-evident)
//! but is no operation: its name holds a dot, so no input line can name
//! it, and no report folds it except the one that lists consultations.
//! Neither record ever holds a reference: an erasure names the key it
//! destroyed (a random id), a consultation the query and the events shown.
//!
//! Reading is strict and writing canonical, as for the catalogue, so that
//! a stored record reads back to the same bytes.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::json::{FieldError, FromJson, Json, Object};
use crate::reference::{from_hex, hex, KEY_ID_LEN};
use crate::{Slug, Text};

/// The stream privacy records are kept in: not a slug, so never an
/// operation.
pub const PRIVACY_STREAM: &str = "theseus.privacy";

/// The schema version of the privacy records.
pub const PRIVACY_SCHEMA_VERSION: u32 = 1;

/// Whether a stream is one the ledger reserves for itself (the registry,
/// the privacy records) rather than an operation: reserved names hold a
/// dot, which no slug does.
pub fn is_reserved_stream(stream: &str) -> bool {
    stream.starts_with("theseus.")
}

/// A subject's key was destroyed: the references sealed under it can no
/// longer be opened by anyone.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SubjectErased {
    pub operation: Slug,
    /// The destroyed key's id (what the sealed references name).
    pub key_id: [u8; KEY_ID_LEN],
    pub reason: Text,
    /// How many of the operation's records were sealed under the key.
    pub sealed_records: u64,
    /// How many of the operation's records (written before references were
    /// sealed) hold the reference in clear: the chain cannot be changed, so
    /// those remain readable.
    pub clear_records: u64,
}

/// Personal references were shown to someone, for a stated purpose.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReferencesConsulted {
    pub purpose: Text,
    /// The command that showed them (`events`).
    pub command: Text,
    /// The query as the command's JSON output names its filters.
    pub query: String,
    /// The head the listing was read at.
    pub as_of_position: u64,
    /// The events whose references were shown, at most [`MAX_LISTED_EVENTS`].
    pub events: Vec<Uuid>,
    /// Events shown beyond those listed (the query and head name them all:
    /// the same query at the same head selects the same events).
    pub events_not_listed: u64,
}

/// The most event ids a consultation record lists.
pub const MAX_LISTED_EVENTS: usize = 10_000;

/// One privacy record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PrivacyEvent {
    SubjectErased(SubjectErased),
    ReferencesConsulted(ReferencesConsulted),
}

impl PrivacyEvent {
    pub fn type_name(&self) -> &'static str {
        match self {
            PrivacyEvent::SubjectErased(_) => "SubjectErased",
            PrivacyEvent::ReferencesConsulted(_) => "ReferencesConsulted",
        }
    }

    /// Reads a stored record from its type name and data text.
    pub fn parse(event_type: &str, data: &str) -> Result<PrivacyEvent, FieldError> {
        let json = Json::parse(data).map_err(|message| FieldError::new("data", message))?;
        match event_type {
            "SubjectErased" => {
                let o = Object::new(
                    &json,
                    "data",
                    &[
                        "operation",
                        "key",
                        "reason",
                        "sealed_records",
                        "clear_records",
                    ],
                )?;
                let operation: String = o.required("operation")?;
                let operation = Slug::parse(&operation)
                    .map_err(|message| FieldError::new(o.path_of("operation"), message))?;
                let key: String = o.required("key")?;
                let key_id = from_hex(&key)
                    .and_then(|bytes| <[u8; KEY_ID_LEN]>::try_from(bytes).ok())
                    .ok_or_else(|| {
                        FieldError::new(o.path_of("key"), "expected 32 lowercase hex digits")
                    })?;
                Ok(PrivacyEvent::SubjectErased(SubjectErased {
                    operation,
                    key_id,
                    reason: o.required("reason")?,
                    sealed_records: count(&o, "sealed_records")?,
                    clear_records: count(&o, "clear_records")?,
                }))
            }
            "ReferencesConsulted" => {
                let o = Object::new(
                    &json,
                    "data",
                    &[
                        "purpose",
                        "command",
                        "query",
                        "as_of_position",
                        "events",
                        "events_not_listed",
                    ],
                )?;
                let query = match o.required::<Json>("query")? {
                    query @ Json::Object(_) => query,
                    other => {
                        return Err(crate::json::wrong_kind(
                            &o.path_of("query"),
                            "an object",
                            &other,
                        ))
                    }
                };
                Ok(PrivacyEvent::ReferencesConsulted(ReferencesConsulted {
                    purpose: o.required("purpose")?,
                    command: o.required("command")?,
                    query: json_text(&query),
                    as_of_position: count(&o, "as_of_position")?,
                    events: o.required("events")?,
                    events_not_listed: count(&o, "events_not_listed")?,
                }))
            }
            other => Err(FieldError::new(
                "type",
                format!("unknown privacy record type {other:?}"),
            )),
        }
    }

    /// The canonical JSON text of the record's data.
    pub fn data_json(&self) -> String {
        let written = match self {
            PrivacyEvent::SubjectErased(e) => serde_json::to_string(e),
            PrivacyEvent::ReferencesConsulted(e) => serde_json::to_string(e),
        };
        // Plain strings, numbers and lists: serialising cannot fail.
        written.unwrap_or_else(|_| "{}".to_owned())
    }
}

fn count(o: &Object<'_>, key: &str) -> Result<u64, FieldError> {
    o.required::<u64>(key)
}

impl FromJson for Json {
    fn from_json(value: &Json, _path: &str) -> Result<Json, FieldError> {
        Ok(value.clone())
    }
}

/// A JSON value written back as compact text (object keys in the order read).
fn json_text(value: &Json) -> String {
    fn write(value: &Json, out: &mut String) {
        match value {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Unsigned(n) => out.push_str(&n.to_string()),
            Json::Negative(n) => out.push_str(&n.to_string()),
            Json::Float(f) => out.push_str(&serde_json::to_string(f).unwrap_or_default()),
            Json::String(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (key, item)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(key).unwrap_or_default());
                    out.push(':');
                    write(item, out);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

impl Serialize for SubjectErased {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = serializer.serialize_struct("SubjectErased", 5)?;
        object.serialize_field("operation", &self.operation)?;
        object.serialize_field("key", &hex(&self.key_id))?;
        object.serialize_field("reason", &self.reason)?;
        object.serialize_field("sealed_records", &self.sealed_records)?;
        object.serialize_field("clear_records", &self.clear_records)?;
        object.end()
    }
}

impl Serialize for ReferencesConsulted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = serializer.serialize_struct("ReferencesConsulted", 6)?;
        object.serialize_field("purpose", &self.purpose)?;
        object.serialize_field("command", &self.command)?;
        let query: Box<serde_json::value::RawValue> =
            serde_json::value::RawValue::from_string(self.query.clone())
                .map_err(serde::ser::Error::custom)?;
        object.serialize_field("query", &query)?;
        object.serialize_field("as_of_position", &self.as_of_position)?;
        object.serialize_field("events", &self.events)?;
        object.serialize_field("events_not_listed", &self.events_not_listed)?;
        object.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privacy_records_read_back_to_their_canonical_bytes() {
        for (kind, data) in [
            (
                "SubjectErased",
                r#"{"operation":"theseus","key":"000102030405060708090a0b0c0d0e0f","reason":"court order 12/2020","sealed_records":2,"clear_records":0}"#,
            ),
            (
                "ReferencesConsulted",
                r#"{"purpose":"case 7","command":"events","query":{"operation":"theseus","types":["ArrestMade"]},"as_of_position":12,"events":["0190c5a2-0000-7000-8000-000000000001"],"events_not_listed":0}"#,
            ),
        ] {
            let event = PrivacyEvent::parse(kind, data).expect(kind);
            assert_eq!(event.type_name(), kind);
            assert_eq!(event.data_json(), data);
        }
    }

    #[test]
    fn privacy_records_are_read_strictly() {
        let refused = |kind: &str, data: &str| {
            PrivacyEvent::parse(kind, data)
                .expect_err(data)
                .path
                .to_string()
        };
        assert_eq!(
            refused(
                "SubjectErased",
                r#"{"operation":"theseus","key":"00","reason":"r","sealed_records":1,"clear_records":0}"#
            ),
            "data.key"
        );
        assert_eq!(
            refused(
                "SubjectErased",
                r#"{"operation":"theseus","key":"000102030405060708090a0b0c0d0e0f","reason":"r","sealed_records":1,"clear_records":0,"suspect":"x"}"#
            ),
            "data.suspect"
        );
        assert_eq!(refused("Nope", "{}"), "type");
        assert!(is_reserved_stream(PRIVACY_STREAM));
        assert!(is_reserved_stream(crate::REGISTRY_STREAM));
        assert!(!is_reserved_stream("theseus"));
    }
}
