//! JSON written in the order the documentation gives, not sorted: a small
//! value tree whose objects keep their keys in insertion order, and its
//! compact and pretty writers. (serde_json's own map sorts its keys unless a
//! crate-wide feature is switched on, which would also change how every
//! other crate of the workspace writes JSON.)

use std::fmt::Write;

use domain::{format_minor_units, Currency};
use event_store::Head;

use crate::filter::Filter;
use crate::replay::Verified;

/// A JSON value whose objects keep their key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i128),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
    /// JSON text written as given (it must be valid JSON).
    Raw(String),
}

impl Json {
    pub fn str(text: impl Into<String>) -> Json {
        Json::Str(text.into())
    }

    /// A string, or null when absent.
    pub fn optional_str(text: Option<impl Into<String>>) -> Json {
        text.map_or(Json::Null, |t| Json::Str(t.into()))
    }

    /// An object from `(key, value)` pairs, in their order.
    pub fn object<K: Into<String>>(fields: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// An amount of money as its exact decimal string.
    pub fn amount(minor_units: i128, currency: Currency) -> Json {
        Json::Str(format_minor_units(minor_units, currency))
    }

    /// One line, no spaces.
    pub fn compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None);
        out
    }

    /// Indented by two spaces per level, as serde_json's pretty printer.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(0));
        out
    }

    fn write(&self, out: &mut String, indent: Option<usize>) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Str(text) => write_string(out, text),
            Json::Raw(text) => out.push_str(text),
            Json::Array(items) => {
                write_sequence(out, indent, '[', ']', items.len(), |out, i, inner| {
                    items[i].write(out, inner)
                })
            }
            Json::Object(fields) => {
                write_sequence(out, indent, '{', '}', fields.len(), |out, i, inner| {
                    write_string(out, &fields[i].0);
                    out.push(':');
                    if inner.is_some() {
                        out.push(' ');
                    }
                    fields[i].1.write(out, inner);
                })
            }
        }
    }
}

fn write_sequence(
    out: &mut String,
    indent: Option<usize>,
    open: char,
    close: char,
    len: usize,
    mut item: impl FnMut(&mut String, usize, Option<usize>),
) {
    out.push(open);
    if len == 0 {
        out.push(close);
        return;
    }
    let inner = indent.map(|level| level + 1);
    for i in 0..len {
        if i > 0 {
            out.push(',');
        }
        if let Some(level) = inner {
            out.push('\n');
            out.push_str(&"  ".repeat(level));
        }
        item(out, i, inner);
    }
    if let Some(level) = indent {
        out.push('\n');
        out.push_str(&"  ".repeat(level));
    }
    out.push(close);
}

/// A JSON string literal, escaped as serde_json escapes it.
pub fn write_string(out: &mut String, text: &str) {
    match serde_json::to_string(text) {
        Ok(quoted) => out.push_str(&quoted),
        // Serialising a str cannot fail; an empty string is the safe answer.
        Err(_) => out.push_str("\"\""),
    }
}

/// `{"position", "hash"}`: the log prefix an output was built from.
pub fn as_of(head: &Head) -> Json {
    Json::object([
        ("position", Json::Int(i128::from(head.position))),
        ("hash", Json::str(head.hash.to_string())),
    ])
}

/// `{"position", "hash", "verified": {"from", "to", "checkpoint"}}`: the
/// log prefix a report was built from and what its replay checked against
/// the chain (`checkpoint` is `{"position", "hash"}`, or null when every
/// record was checked from position 1).
pub fn as_of_verified(head: &Head, verified: &Verified) -> Json {
    Json::object([
        ("position", Json::Int(i128::from(head.position))),
        ("hash", Json::str(head.hash.to_string())),
        (
            "verified",
            Json::object([
                ("from", Json::Int(i128::from(verified.from))),
                ("to", Json::Int(i128::from(verified.to))),
                (
                    "checkpoint",
                    verified.checkpoint.as_ref().map_or(Json::Null, as_of),
                ),
            ]),
        ),
    ])
}

/// How tables and pages say what a replay checked.
pub fn verified_text(verified: &Verified) -> String {
    match verified.checkpoint {
        Some(head) if verified.from > verified.to => {
            format!("from a checkpoint at position {}", head.position)
        }
        Some(head) => format!(
            "from a checkpoint at position {}, records {}..{} chain-checked",
            head.position, verified.from, verified.to
        ),
        None => format!("records 1..{} chain-checked", verified.to),
    }
}

/// `{"operation", "countries", "from", "to", "locations"}`: what an output
/// counts. Every key is present; an unused one is null or empty.
pub fn filters(operation: Option<&str>, filter: &Filter) -> Json {
    Json::object([
        ("operation", Json::optional_str(operation)),
        (
            "countries",
            Json::Array(
                filter
                    .countries
                    .iter()
                    .map(|c| Json::str(c.code()))
                    .collect(),
            ),
        ),
        (
            "from",
            Json::optional_str(filter.from.map(|d| d.to_string())),
        ),
        ("to", Json::optional_str(filter.to.map(|d| d.to_string()))),
        (
            "locations",
            Json::Array(
                filter
                    .locations
                    .iter()
                    .map(|l| Json::str(l.as_str()))
                    .collect(),
            ),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_their_key_order_in_both_layouts() {
        let value = Json::object([
            ("report", Json::str("summary")),
            ("as_of", Json::object([("position", Json::Int(7))])),
            ("rows", Json::Array(vec![])),
            ("z\"\n", Json::Array(vec![Json::Null, Json::Bool(true)])),
        ]);
        assert_eq!(
            value.compact(),
            r#"{"report":"summary","as_of":{"position":7},"rows":[],"z\"\n":[null,true]}"#
        );
        let pretty = value.pretty();
        let reparsed: serde_json::Value = serde_json::from_str(&pretty).expect("json");
        assert_eq!(
            reparsed,
            serde_json::from_str::<serde_json::Value>(&value.compact()).expect("json")
        );
        assert!(pretty.starts_with(
            "{\n  \"report\": \"summary\",\n  \"as_of\": {\n    \"position\": 7\n  },"
        ));
    }
}
