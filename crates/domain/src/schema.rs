//! JSON Schema (draft 2020-12) of the catalogue, generated from
//! [`crate::catalogue`]: one definition per value kind and per event type's
//! data, and the rules that tie a line's `type` to the shape of its `data`.
//!
//! The ledger wraps these into the schema of a whole input line
//! (`ledger::input::schema`). A schema says what a line looks like; it
//! cannot say what the rules decide against the log (participants, the
//! period, whether a currency was current on the event's date), so a line
//! that validates may still be refused, never the other way round.

use serde_json::{json, Map, Value};

use crate::catalogue::{FieldKind, FieldSpec};
use crate::{Country, Currency, EventType, MAX_TEXT_CHARS};

/// Characters no text may hold: controls (C0, DEL, C1) and the
/// bidirectional controls of [`crate::BIDI_CONTROLS`].
const TEXT_PATTERN: &str =
    "^[^\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$";

/// At least one character that is not white space nor one of the invisible
/// characters of [`crate::is_invisible`] in the Basic Multilingual Plane.
const VISIBLE_PATTERN: &str = "[^\\s\\u00AD\\u034F\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u115F\\u1160\\u17B4\\u17B5\\u180B-\\u180F\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u206F\\u2800\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0\\uFFF0-\\uFFFB]";

/// The shape of an instant: at most nine fractional digits, `T` and `Z` in
/// upper case, an offset always.
pub const INSTANT_PATTERN: &str =
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$";

/// A reference to one of the definitions below.
pub fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{name}") })
}

/// The definition name of a kind.
fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Pseudonym => "pseudonym",
        FieldKind::Country => "country",
        FieldKind::Countries => "countries",
        FieldKind::Day => "day",
        FieldKind::Instant => "instant",
        FieldKind::Count => "count",
        FieldKind::Bool => "bool",
        FieldKind::Currency => "currency",
        FieldKind::Amount => "amount",
        FieldKind::Money => "money",
        FieldKind::Location => "location",
        FieldKind::CheckKind => "check_kind",
        FieldKind::Item => "item",
        FieldKind::Exploitation => "exploitation",
        FieldKind::Offences => "offences",
        FieldKind::Tokens => "tokens",
        FieldKind::EventId => "event_id",
    }
}

/// Every kind, for the definitions.
const KINDS: [FieldKind; 18] = [
    FieldKind::Text,
    FieldKind::Pseudonym,
    FieldKind::Country,
    FieldKind::Countries,
    FieldKind::Day,
    FieldKind::Instant,
    FieldKind::Count,
    FieldKind::Bool,
    FieldKind::Currency,
    FieldKind::Amount,
    FieldKind::Money,
    FieldKind::Location,
    FieldKind::CheckKind,
    FieldKind::Item,
    FieldKind::Exploitation,
    FieldKind::Offences,
    FieldKind::Tokens,
    FieldKind::EventId,
];

fn text(max_chars: usize, about: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": max_chars,
        "allOf": [{ "pattern": TEXT_PATTERN }, { "pattern": VISIBLE_PATTERN }],
        "description": about,
    })
}

/// The pattern of an amount with at most `digits` decimals.
fn amount_pattern(digits: u8) -> String {
    match digits {
        0 => "^(0|[1-9][0-9]*)$".to_owned(),
        n => format!("^(0|[1-9][0-9]*)(\\.[0-9]{{1,{n}}})?$"),
    }
}

/// For an object with `currency` and `amount`: the amount may have at most
/// the currency's minor digits.
fn minor_digit_rules() -> Value {
    let mut by_digits: std::collections::BTreeMap<u8, Vec<&str>> = Default::default();
    let all: Vec<Currency> = Currency::all().collect();
    for currency in &all {
        by_digits
            .entry(currency.minor_digits())
            .or_default()
            .push(currency.code());
    }
    Value::Array(
        by_digits
            .into_iter()
            .map(|(digits, codes)| {
                json!({
                    "if": { "properties": { "currency": { "enum": codes } }, "required": ["currency"] },
                    "then": { "properties": { "amount": { "pattern": amount_pattern(digits) } } },
                })
            })
            .collect(),
    )
}

/// The schema of one kind of value.
pub fn kind_schema(kind: FieldKind) -> Value {
    let words =
        |about: &str| json!({ "enum": kind.words().unwrap_or_default(), "description": about });
    let unique_list = |items: Value, about: &str| json!({ "type": "array", "items": items, "uniqueItems": true, "description": about });
    match kind {
        FieldKind::Text => text(
            MAX_TEXT_CHARS,
            "free text: no control or bidirectional control characters, not only invisible ones",
        ),
        FieldKind::Pseudonym => text(
            128,
            "a pseudonymous case reference, never a name; no report prints it",
        ),
        FieldKind::Country => json!({
            "enum": Country::all().map(|c| c.code().to_owned()).collect::<Vec<_>>(),
            "description": "ISO 3166-1 alpha-2, upper case, or XK for Kosovo",
        }),
        FieldKind::Countries => {
            let mut list = unique_list(reference("country"), "countries, none twice");
            list["minItems"] = json!(1);
            list
        }
        FieldKind::Day => json!({
            "type": "string",
            "format": "date",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "description": "a calendar day, YYYY-MM-DD",
        }),
        FieldKind::Instant => json!({
            "type": "string",
            "format": "date-time",
            "pattern": INSTANT_PATTERN,
            "description": "RFC 3339 with an offset, at most 9 fractional digits; second 60 only as a real leap second (23:59:60 UTC)",
        }),
        FieldKind::Count => json!({
            "type": "integer",
            "minimum": 1,
            "maximum": u64::MAX,
            "description": "a whole number from 1 to 2^64 - 1 (drugs in grams)",
        }),
        FieldKind::Bool => json!({ "type": "boolean" }),
        FieldKind::Currency => json!({
            "enum": Currency::all().map(|c| c.code().to_owned()).collect::<Vec<_>>(),
            "description": "an ISO 4217 code with a minor unit; it must have been current on the event's date (HRK through 2023-01, EUR from 1999-01)",
        }),
        FieldKind::Amount => json!({
            "type": "string",
            "pattern": amount_pattern(4),
            "description": "a decimal string greater than zero with at most the currency's minor digits (EUR 2, JPY 0, BHD 3), never a number",
        }),
        FieldKind::Money => json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["currency", "amount"],
            "properties": { "currency": reference("currency"), "amount": reference("amount") },
            "allOf": minor_digit_rules(),
            "description": "an amount of one currency",
        }),
        FieldKind::Location => words("where it happened"),
        FieldKind::CheckKind => words("what was checked"),
        FieldKind::Item => words("what was seized"),
        FieldKind::Exploitation => words("the form of exploitation"),
        FieldKind::Offences => unique_list(
            json!({ "enum": kind.words().unwrap_or_default() }),
            "offences, none twice",
        ),
        FieldKind::Tokens => unique_list(
            json!({ "type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$" }),
            "snake_case tokens, none twice",
        ),
        FieldKind::EventId => json!({
            "type": "string",
            "format": "uuid",
            "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            "not": { "const": "00000000-0000-0000-0000-000000000000" },
            "description": "a UUID, hyphenated, not the nil UUID",
        }),
    }
}

/// A property: the kind's definition, or `null` as well when optional.
fn property(field: &FieldSpec) -> Value {
    let kind = reference(kind_name(field.kind));
    if field.required {
        json!({ "allOf": [kind], "description": field.about })
    } else {
        json!({ "anyOf": [kind, { "type": "null" }], "description": format!("{} (optional; null means absent)", field.about) })
    }
}

/// The schema of an event type's `data` object.
pub fn data_schema(event_type: EventType) -> Value {
    let fields = event_type.fields();
    let properties: Map<String, Value> = fields
        .iter()
        .map(|field| (field.name.to_owned(), property(field)))
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    let mut schema = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "required": required,
        "description": format!("{}: {}", event_type, event_type.about()),
    });
    if event_type == EventType::CashSeized {
        schema["allOf"] = minor_digit_rules();
    }
    schema
}

/// The definitions: every kind of value, and every event type's data.
pub fn definitions() -> Map<String, Value> {
    let mut defs = Map::new();
    for kind in KINDS {
        defs.insert(kind_name(kind).to_owned(), kind_schema(kind));
    }
    defs.insert(
        "slug".to_owned(),
        json!({
            "type": "string",
            "pattern": "^[a-z0-9][a-z0-9-]{0,63}$",
            "description": "an operation's slug",
        }),
    );
    for &event_type in EventType::ALL {
        defs.insert(event_type.as_str().to_owned(), data_schema(event_type));
    }
    defs
}

/// The event type names, for the line's `type`.
pub fn event_type_names() -> Vec<&'static str> {
    EventType::ALL.iter().map(EventType::as_str).collect()
}

/// For each event type: if `type` names it, `data` has its shape.
pub fn data_by_type() -> Vec<Value> {
    EventType::ALL
        .iter()
        .map(|event_type| {
            json!({
                "if": { "properties": { "type": { "const": event_type.as_str() } }, "required": ["type"] },
                "then": { "properties": { "data": reference(event_type.as_str()) } },
            })
        })
        .collect()
}
