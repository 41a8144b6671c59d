//! The agency registry: which national units and coordinators may submit to
//! the ledger over the network, with which role and grants, and what each
//! may append.
//!
//! The registry is recorded in the ledger itself, in the reserved stream
//! [`REGISTRY_STREAM`], so that every grant and revocation is chained,
//! timed and attributed like any event, and survives restarts. The stream's
//! name is not an operation slug (it holds a dot), so no input line can
//! name it and no operation can collide with it; reports never fold it.
//!
//! Like [`crate::Operation`], the [`Registry`] is a state with a pure
//! [`Registry::decide`] and an infallible [`Registry::apply`]. The rules of
//! what an agency may append are [`Grant::permits`]: pure, given what the
//! caller found in the log.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::json::{wrong_kind, FieldError, FromJson, Json, Object};
use crate::{Country, Event, EventType, Slug, Text};

/// The stream the registry is recorded in: not a slug, so never an
/// operation.
pub const REGISTRY_STREAM: &str = "theseus.registry";

/// The stream of the ledger's evidence: batch signatures (each written
/// just before the records it covers) and the ledger's own public keys.
/// Not a slug either: no input line can name it and reports never fold it.
pub const EVIDENCE_STREAM: &str = "theseus.evidence";

/// The schema version of the registry's event types.
pub const REGISTRY_SCHEMA_VERSION: u32 = 1;

/// An agency's id: the slug rule (`rs-police`), and what `recorded_by`
/// says on everything it submits.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
#[serde(transparent)]
pub struct AgencyId(String);

impl AgencyId {
    pub fn parse(text: &str) -> Result<AgencyId, String> {
        match Slug::parse(text) {
            Ok(slug) => Ok(AgencyId(slug.as_str().to_owned())),
            Err(_) => Err(format!(
                "{text:?} is not an agency id (1 to 64 of a-z, 0-9 and -, not starting with -, such as \"rs-police\")"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgencyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AgencyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<AgencyId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        AgencyId::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl FromJson for AgencyId {
    fn from_json(value: &Json, path: &str) -> Result<AgencyId, FieldError> {
        let Json::String(text) = value else {
            return Err(wrong_kind(path, "a string", value));
        };
        AgencyId::parse(text).map_err(|message| FieldError::new(path, message))
    }
}

/// What an agency may do.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Role {
    /// Reads: reports, the head, event listings without pseudonyms.
    Analyst,
    /// Reads, and appends outcome events for its countries and operations,
    /// and retracts events it recorded itself.
    Reporter,
    /// Reads, and appends every event type (launches, joins, closes, any
    /// retraction) for its operations.
    Coordinator,
}

impl Role {
    pub const ALL: &'static [Role] = &[Role::Analyst, Role::Reporter, Role::Coordinator];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Reporter => "reporter",
            Role::Coordinator => "coordinator",
        }
    }

    pub fn parse(word: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|role| role.as_str() == word)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Role, D::Error> {
        let word = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Role::parse(&word)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown role {word:?}")))
    }
}

impl FromJson for Role {
    fn from_json(value: &Json, path: &str) -> Result<Role, FieldError> {
        let Json::String(word) = value else {
            return Err(wrong_kind(path, "a role", value));
        };
        Role::parse(word).ok_or_else(|| {
            FieldError::new(
                path,
                format!("unknown role {word:?} (expected analyst, reporter or coordinator)"),
            )
        })
    }
}

/// The SHA-256 digest of an agency's access token: all the ledger keeps of
/// it. Written as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    pub fn parse(text: &str) -> Option<TokenDigest> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let digit = |b: u8| match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                _ => None,
            };
            out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(TokenDigest(out))
    }
}

impl fmt::Display for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({self})")
    }
}

impl Serialize for TokenDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TokenDigest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<TokenDigest, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        TokenDigest::parse(&text).ok_or_else(|| serde::de::Error::custom("not a SHA-256 digest"))
    }
}

impl FromJson for TokenDigest {
    fn from_json(value: &Json, path: &str) -> Result<TokenDigest, FieldError> {
        let Json::String(text) = value else {
            return Err(wrong_kind(path, "a string", value));
        };
        TokenDigest::parse(text).ok_or_else(|| {
            FieldError::new(path, "must be a SHA-256 digest (64 lower-case hex digits)")
        })
    }
}

/// What an agency is allowed: its role, and the countries and operations it
/// may report for (no operations: any operation).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Grant {
    pub agency: AgencyId,
    pub role: Role,
    /// A reporter's countries (at least one); empty for the other roles.
    pub countries: BTreeSet<Country>,
    /// The operations it may append to; empty means any (for a coordinator,
    /// new ones included).
    pub operations: BTreeSet<Slug>,
}

/// Why a grant is not consistent with its role.
fn check_grant(
    role: Role,
    countries: &BTreeSet<Country>,
    operations: &BTreeSet<Slug>,
) -> Result<(), FieldError> {
    match role {
        Role::Analyst if !countries.is_empty() => Err(FieldError::new(
            "countries",
            "an analyst appends nothing: country grants do not apply",
        )),
        Role::Analyst if !operations.is_empty() => Err(FieldError::new(
            "operations",
            "an analyst appends nothing: operation grants do not apply",
        )),
        Role::Reporter if countries.is_empty() => Err(FieldError::new(
            "countries",
            "a reporter needs at least one country it reports for",
        )),
        Role::Coordinator if !countries.is_empty() => Err(FieldError::new(
            "countries",
            "a coordinator appends for every country of its operations: country grants do not apply",
        )),
        _ => Ok(()),
    }
}

/// An input line as the grant rules see it: what the ledger read, plus what
/// it found in the log.
#[derive(Clone, Copy, Debug)]
pub struct Submission<'a> {
    pub operation: &'a Slug,
    pub event: &'a Event,
    /// The line's own `recorded_by`, if it names one.
    pub recorded_by: Option<&'a str>,
    /// For a retraction: who recorded the event it names, if the log (or
    /// the batch so far) holds it.
    pub target_recorded_by: Option<&'a str>,
}

/// A line an agency is not allowed to append: the field it is about, and
/// why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Forbidden {
    /// The input field the refusal is about, as a path from the line's root.
    pub field: &'static str,
    pub message: String,
}

fn forbidden(field: &'static str, message: String) -> Forbidden {
    Forbidden { field, message }
}

fn list<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|item| item.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Grant {
    /// A grant, checked against its role: an analyst has no grants, a
    /// reporter at least one country, a coordinator no countries.
    pub fn new(
        agency: AgencyId,
        role: Role,
        countries: BTreeSet<Country>,
        operations: BTreeSet<Slug>,
    ) -> Result<Grant, FieldError> {
        check_grant(role, &countries, &operations)?;
        Ok(Grant {
            agency,
            role,
            countries,
            operations,
        })
    }

    /// Whether the agency may append this line. Checked in this order, so
    /// that the message names the first field at fault: `recorded_by` (a
    /// line may name only its submitter), the role and `type`,
    /// `operation`, `data.country`, and a reporter's retraction of an event
    /// another agency recorded (`data.event_id`).
    pub fn permits(&self, line: &Submission<'_>) -> Result<(), Forbidden> {
        let agency = &self.agency;
        if let Some(named) = line.recorded_by {
            if named != agency.as_str() {
                return Err(forbidden(
                    "recorded_by",
                    format!(
                        "the line says recorded_by {named:?}, but agency {agency} submits it: a line may name only its submitter"
                    ),
                ));
            }
        }
        let event_type = line.event.event_type();
        match self.role {
            Role::Analyst => {
                return Err(forbidden(
                    "type",
                    format!("agency {agency} is an analyst: analysts read and append nothing"),
                ))
            }
            Role::Reporter
                if !(event_type.is_outcome() || event_type == EventType::EventRetracted) =>
            {
                return Err(forbidden(
                    "type",
                    format!(
                        "agency {agency} is a reporter: it appends outcome events and retracts its own, not {event_type}"
                    ),
                ))
            }
            Role::Reporter | Role::Coordinator => {}
        }
        if !self.operations.is_empty() && !self.operations.contains(line.operation) {
            return Err(forbidden(
                "operation",
                format!(
                    "agency {agency} may not append to operation {} (it may to: {})",
                    line.operation,
                    list(&self.operations)
                ),
            ));
        }
        if self.role == Role::Reporter {
            if let Some(country) = line.event.country() {
                if !self.countries.contains(&country) {
                    return Err(forbidden(
                        "data.country",
                        format!(
                            "agency {agency} reports for {} only, not {country}",
                            list(&self.countries)
                        ),
                    ));
                }
            }
            if let (Event::EventRetracted(retraction), Some(owner)) =
                (line.event, line.target_recorded_by)
            {
                if owner != agency.as_str() {
                    return Err(forbidden(
                        "data.event_id",
                        format!(
                            "event {} was recorded by {owner:?}: a reporter retracts only events it recorded itself",
                            retraction.event_id
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `AgencyRegistered`: an agency may submit with the token whose digest
/// this is, under this grant. Registering a revoked agency again issues it
/// a new token.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AgencyRegistered {
    pub grant: Grant,
    pub token_sha256: TokenDigest,
}

/// `AgencyRevoked`: the agency's token no longer opens anything.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AgencyRevoked {
    pub agency: AgencyId,
    pub reason: Option<Text>,
}

/// Fixed-size bytes written as lower-case hex (a signing key's id, a
/// public key).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HexBytes<const N: usize>(pub [u8; N]);

impl<const N: usize> HexBytes<N> {
    pub fn parse(text: &str) -> Option<HexBytes<N>> {
        let bytes = text.as_bytes();
        if bytes.len() != N * 2 {
            return None;
        }
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; N];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Some(HexBytes(out))
    }
}

impl<const N: usize> fmt::Display for HexBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for HexBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexBytes({self})")
    }
}

impl<const N: usize> Serialize for HexBytes<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de, const N: usize> Deserialize<'de> for HexBytes<N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<HexBytes<N>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        HexBytes::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("not hex of the right length"))
    }
}

impl<const N: usize> FromJson for HexBytes<N> {
    fn from_json(value: &Json, path: &str) -> Result<HexBytes<N>, FieldError> {
        let Json::String(text) = value else {
            return Err(wrong_kind(path, "a string", value));
        };
        HexBytes::parse(text).ok_or_else(|| {
            FieldError::new(path, format!("must be {} lower-case hex digits", N * 2))
        })
    }
}

/// A signing key's id (see the evidence crate: the first four bytes of a
/// digest of the agency's name and the public key).
pub type KeyId = HexBytes<4>;

/// An Ed25519 public key.
pub type PublicKey = HexBytes<32>;

/// `AgencyKeyRegistered`: the agency signs its batches with this key from
/// now on (it had none active).
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct AgencyKeyRegistered {
    pub agency: AgencyId,
    pub key_id: KeyId,
    pub public_key: PublicKey,
}

/// `AgencyKeyRotated`: the agency's active key `previous` is retired (the
/// batches signed with it before stay valid) and this one replaces it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct AgencyKeyRotated {
    pub agency: AgencyId,
    pub key_id: KeyId,
    pub public_key: PublicKey,
    pub previous: KeyId,
}

/// `AgencyKeyRevoked`: no batch signed with this key after this record is
/// valid (compromise, loss).
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct AgencyKeyRevoked {
    pub agency: AgencyId,
    pub key_id: KeyId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
}

/// The registry's event types, as written in the log's `type` field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RegistryEventType {
    AgencyRegistered,
    AgencyRevoked,
    AgencyKeyRegistered,
    AgencyKeyRotated,
    AgencyKeyRevoked,
}

impl RegistryEventType {
    pub fn as_str(&self) -> &'static str {
        match self {
            RegistryEventType::AgencyRegistered => "AgencyRegistered",
            RegistryEventType::AgencyRevoked => "AgencyRevoked",
            RegistryEventType::AgencyKeyRegistered => "AgencyKeyRegistered",
            RegistryEventType::AgencyKeyRotated => "AgencyKeyRotated",
            RegistryEventType::AgencyKeyRevoked => "AgencyKeyRevoked",
        }
    }

    pub fn parse(name: &str) -> Option<RegistryEventType> {
        match name {
            "AgencyRegistered" => Some(RegistryEventType::AgencyRegistered),
            "AgencyRevoked" => Some(RegistryEventType::AgencyRevoked),
            "AgencyKeyRegistered" => Some(RegistryEventType::AgencyKeyRegistered),
            "AgencyKeyRotated" => Some(RegistryEventType::AgencyKeyRotated),
            "AgencyKeyRevoked" => Some(RegistryEventType::AgencyKeyRevoked),
            _ => None,
        }
    }
}

/// One change to the registry.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RegistryEvent {
    AgencyRegistered(AgencyRegistered),
    AgencyRevoked(AgencyRevoked),
    AgencyKeyRegistered(AgencyKeyRegistered),
    AgencyKeyRotated(AgencyKeyRotated),
    AgencyKeyRevoked(AgencyKeyRevoked),
}

impl Serialize for AgencyRegistered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = serializer.serialize_struct("AgencyRegistered", 5)?;
        object.serialize_field("agency", &self.grant.agency)?;
        object.serialize_field("role", &self.grant.role)?;
        object.serialize_field("countries", &self.grant.countries)?;
        object.serialize_field("operations", &self.grant.operations)?;
        object.serialize_field("token_sha256", &self.token_sha256)?;
        object.end()
    }
}

impl Serialize for AgencyRevoked {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = serializer.serialize_struct("AgencyRevoked", 2)?;
        object.serialize_field("agency", &self.agency)?;
        if let Some(reason) = &self.reason {
            object.serialize_field("reason", reason)?;
        }
        object.end()
    }
}

/// A list with no repeats, read into a set.
fn unique_set<T: FromJson + Ord + fmt::Display>(
    object: &Object<'_>,
    key: &str,
) -> Result<BTreeSet<T>, FieldError> {
    let items: Vec<T> = object.required(key)?;
    let mut set = BTreeSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let shown = item.to_string();
        if !set.insert(item) {
            return Err(FieldError::new(
                format!("{}[{i}]", object.path_of(key)),
                format!("{shown} is listed twice"),
            ));
        }
    }
    Ok(set)
}

impl RegistryEvent {
    pub fn event_type(&self) -> RegistryEventType {
        match self {
            RegistryEvent::AgencyRegistered(_) => RegistryEventType::AgencyRegistered,
            RegistryEvent::AgencyRevoked(_) => RegistryEventType::AgencyRevoked,
            RegistryEvent::AgencyKeyRegistered(_) => RegistryEventType::AgencyKeyRegistered,
            RegistryEvent::AgencyKeyRotated(_) => RegistryEventType::AgencyKeyRotated,
            RegistryEvent::AgencyKeyRevoked(_) => RegistryEventType::AgencyKeyRevoked,
        }
    }

    /// The agency the event is about.
    pub fn agency(&self) -> &AgencyId {
        match self {
            RegistryEvent::AgencyRegistered(e) => &e.grant.agency,
            RegistryEvent::AgencyRevoked(e) => &e.agency,
            RegistryEvent::AgencyKeyRegistered(e) => &e.agency,
            RegistryEvent::AgencyKeyRotated(e) => &e.agency,
            RegistryEvent::AgencyKeyRevoked(e) => &e.agency,
        }
    }

    /// Reads a stored registry event strictly from its type name and data
    /// text: unknown, missing and mistyped fields are refused, and so is a
    /// grant that does not fit its role.
    pub fn parse(event_type: &str, data: &str) -> Result<RegistryEvent, FieldError> {
        let kind = RegistryEventType::parse(event_type).ok_or_else(|| {
            FieldError::new(
                "type",
                format!("unknown registry event type {event_type:?}"),
            )
        })?;
        let json = Json::parse(data).map_err(|message| FieldError::new("data", message))?;
        let path = "data";
        Ok(match kind {
            RegistryEventType::AgencyRegistered => {
                let o = Object::new(
                    &json,
                    path,
                    &["agency", "role", "countries", "operations", "token_sha256"],
                )?;
                let agency: AgencyId = o.required("agency")?;
                let role: Role = o.required("role")?;
                let countries = unique_set::<Country>(&o, "countries")?;
                let operations = unique_set::<Slug>(&o, "operations")?;
                let grant = Grant::new(agency, role, countries, operations)
                    .map_err(|error| FieldError::new(o.path_of(&error.path), error.message))?;
                RegistryEvent::AgencyRegistered(AgencyRegistered {
                    grant,
                    token_sha256: o.required("token_sha256")?,
                })
            }
            RegistryEventType::AgencyRevoked => {
                let o = Object::new(&json, path, &["agency", "reason"])?;
                RegistryEvent::AgencyRevoked(AgencyRevoked {
                    agency: o.required("agency")?,
                    reason: o.optional("reason")?,
                })
            }
            RegistryEventType::AgencyKeyRegistered => {
                let o = Object::new(&json, path, &["agency", "key_id", "public_key"])?;
                RegistryEvent::AgencyKeyRegistered(AgencyKeyRegistered {
                    agency: o.required("agency")?,
                    key_id: o.required("key_id")?,
                    public_key: o.required("public_key")?,
                })
            }
            RegistryEventType::AgencyKeyRotated => {
                let o = Object::new(&json, path, &["agency", "key_id", "public_key", "previous"])?;
                RegistryEvent::AgencyKeyRotated(AgencyKeyRotated {
                    agency: o.required("agency")?,
                    key_id: o.required("key_id")?,
                    public_key: o.required("public_key")?,
                    previous: o.required("previous")?,
                })
            }
            RegistryEventType::AgencyKeyRevoked => {
                let o = Object::new(&json, path, &["agency", "key_id", "reason"])?;
                RegistryEvent::AgencyKeyRevoked(AgencyKeyRevoked {
                    agency: o.required("agency")?,
                    key_id: o.required("key_id")?,
                    reason: o.optional("reason")?,
                })
            }
        })
    }

    /// [`RegistryEvent::parse`], and the data must be in canonical form
    /// (what [`RegistryEvent::data_json`] writes): what an audit of the
    /// log checks, since every registry record was written that way.
    pub fn parse_canonical(event_type: &str, data: &str) -> Result<RegistryEvent, FieldError> {
        let event = RegistryEvent::parse(event_type, data)?;
        if event.data_json() != data {
            return Err(FieldError::new(
                "data",
                "not in canonical form (fields in order, lists sorted, no spaces)",
            ));
        }
        Ok(event)
    }

    /// The canonical JSON text of the event's data: fields in this order,
    /// lists sorted, an absent reason left out.
    pub fn data_json(&self) -> String {
        let written = match self {
            RegistryEvent::AgencyRegistered(e) => serde_json::to_string(e),
            RegistryEvent::AgencyRevoked(e) => serde_json::to_string(e),
            RegistryEvent::AgencyKeyRegistered(e) => serde_json::to_string(e),
            RegistryEvent::AgencyKeyRotated(e) => serde_json::to_string(e),
            RegistryEvent::AgencyKeyRevoked(e) => serde_json::to_string(e),
        };
        // Strings, lists of strings and a digest: serialising cannot fail.
        written.unwrap_or_else(|_| "{}".to_owned())
    }
}

/// Where and by whom a registry change was recorded (from its record's
/// envelope).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistryMeta<'a> {
    pub position: u64,
    pub recorded_at: &'a str,
    pub recorded_by: &'a str,
}

/// A registry change as the state keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub position: u64,
    pub recorded_at: String,
    pub recorded_by: String,
}

impl From<&RegistryMeta<'_>> for Recorded {
    fn from(meta: &RegistryMeta<'_>) -> Recorded {
        Recorded {
            position: meta.position,
            recorded_at: meta.recorded_at.to_owned(),
            recorded_by: meta.recorded_by.to_owned(),
        }
    }
}

/// An agency's latest registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub grant: Grant,
    pub token_sha256: TokenDigest,
    pub recorded: Recorded,
}

/// The revocation that followed an agency's latest registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub reason: Option<String>,
    pub recorded: Recorded,
}

/// One agency as the registry knows it. Both parts are optional so that a
/// fold of a later part of the log (which may see a revocation without the
/// registration before it) can be merged onto an earlier one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agency {
    pub registration: Option<Registration>,
    /// Set when the latest change was a revocation.
    pub revocation: Option<Revocation>,
}

impl Agency {
    /// The grant, while the agency is registered and not revoked.
    pub fn active(&self) -> Option<&Registration> {
        match (&self.registration, &self.revocation) {
            (Some(registration), None) => Some(registration),
            _ => None,
        }
    }
}

/// One signing key of an agency as the registry knows it. Every part but
/// the ids is optional so that a fold of a later part of the log (which
/// may see a rotation or revocation without the registration before it)
/// can be merged onto an earlier one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyKey {
    pub agency: AgencyId,
    pub key_id: KeyId,
    pub public_key: Option<PublicKey>,
    pub registered: Option<Recorded>,
    /// When a rotation replaced it.
    pub retired: Option<Recorded>,
    pub revoked: Option<Revocation>,
}

impl AgencyKey {
    /// Whether a batch recorded at `position` may be signed with this key:
    /// registered before it, neither retired nor revoked by then.
    pub fn valid_at(&self, position: u64) -> bool {
        self.registered
            .as_ref()
            .is_some_and(|r| r.position < position)
            && self.retired.as_ref().is_none_or(|r| position < r.position)
            && self
                .revoked
                .as_ref()
                .is_none_or(|r| position < r.recorded.position)
    }

    /// Registered, and neither retired nor revoked.
    pub fn is_active(&self) -> bool {
        self.registered.is_some() && self.retired.is_none() && self.revoked.is_none()
    }

    fn merge(&mut self, later: AgencyKey) {
        if later.registered.is_some() {
            self.public_key = later.public_key;
            self.registered = later.registered;
        }
        if later.retired.is_some() {
            self.retired = later.retired;
        }
        if later.revoked.is_some() {
            self.revoked = later.revoked;
        }
    }
}

/// Why a registry change is refused. Each names the field it is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryRefusal {
    #[error("agency {0} is already registered (revoke it first to issue it a new token)")]
    AlreadyRegistered(AgencyId),
    #[error("no agency {0} is registered")]
    Unknown(AgencyId),
    #[error("agency {0} is already revoked")]
    AlreadyRevoked(AgencyId),
    #[error("this token digest is already registered, to agency {0}")]
    TokenReused(AgencyId),
    #[error("agency {0} is revoked: it cannot be given a signing key")]
    AgencyNotActive(AgencyId),
    #[error("agency {0} already has an active signing key {1} (rotate it instead)")]
    KeyAlreadyActive(AgencyId, KeyId),
    #[error("agency {0} has no active signing key to rotate")]
    NoActiveKey(AgencyId),
    #[error("agency {0}'s active signing key is {1}, not {2}")]
    NotActiveKey(AgencyId, KeyId, KeyId),
    #[error("key {0} is already registered (to agency {1}): a key is registered once")]
    KeyReused(KeyId, AgencyId),
    #[error("agency {0} has no signing key {1}")]
    UnknownKey(AgencyId, KeyId),
    #[error("agency {0}'s signing key {1} is already revoked")]
    KeyAlreadyRevoked(AgencyId, KeyId),
}

impl RegistryRefusal {
    pub fn field(&self) -> &'static str {
        match self {
            RegistryRefusal::TokenReused(_) => "token_sha256",
            RegistryRefusal::KeyReused(..) => "public_key",
            RegistryRefusal::NotActiveKey(..) => "previous",
            RegistryRefusal::UnknownKey(..) | RegistryRefusal::KeyAlreadyRevoked(..) => "key_id",
            _ => "agency",
        }
    }
}

/// Every agency the registry stream has named, and the stream's length.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    pub agencies: BTreeMap<AgencyId, Agency>,
    /// Every signing key ever registered, in order of registration.
    #[serde(default)]
    pub keys: Vec<AgencyKey>,
    /// The number of registry records folded: the registry stream's
    /// version, which lets a writer see under its lock whether the registry
    /// changed since a grant was read.
    pub version: u64,
}

impl Registry {
    /// The agency with this id, active or not.
    pub fn agency(&self, id: &AgencyId) -> Option<&Agency> {
        self.agencies.get(id)
    }

    /// The agency's key with this id, whatever its state.
    pub fn key(&self, agency: &str, key_id: &KeyId) -> Option<&AgencyKey> {
        self.keys
            .iter()
            .find(|k| k.agency.as_str() == agency && &k.key_id == key_id)
    }

    /// The agency's active signing key.
    pub fn active_key(&self, agency: &str) -> Option<&AgencyKey> {
        self.keys
            .iter()
            .find(|k| k.agency.as_str() == agency && k.is_active())
    }

    /// Whether the agency had a key valid at `position`: a batch it
    /// recorded there should have been signed.
    pub fn had_key_at(&self, agency: &str, position: u64) -> bool {
        self.keys
            .iter()
            .any(|k| k.agency.as_str() == agency && k.valid_at(position))
    }

    fn key_entry(&mut self, agency: &AgencyId, key_id: KeyId) -> &mut AgencyKey {
        let index = match self
            .keys
            .iter()
            .position(|k| &k.agency == agency && k.key_id == key_id)
        {
            Some(index) => index,
            None => {
                self.keys.push(AgencyKey {
                    agency: agency.clone(),
                    key_id,
                    public_key: None,
                    registered: None,
                    retired: None,
                    revoked: None,
                });
                self.keys.len() - 1
            }
        };
        &mut self.keys[index]
    }

    fn decide_new_key(
        &self,
        agency: &AgencyId,
        key_id: &KeyId,
        public_key: &PublicKey,
    ) -> Result<(), RegistryRefusal> {
        match self.agencies.get(agency) {
            None => return Err(RegistryRefusal::Unknown(agency.clone())),
            Some(entry) if entry.active().is_none() => {
                return Err(RegistryRefusal::AgencyNotActive(agency.clone()))
            }
            Some(_) => {}
        }
        if let Some(used) = self.keys.iter().find(|k| {
            k.public_key.as_ref() == Some(public_key)
                || (&k.agency == agency && &k.key_id == key_id)
        }) {
            return Err(RegistryRefusal::KeyReused(*key_id, used.agency.clone()));
        }
        Ok(())
    }

    /// Accepts or refuses a change given the registry so far.
    pub fn decide(&self, event: &RegistryEvent) -> Result<(), RegistryRefusal> {
        let agency = event.agency();
        let known = self.agencies.get(agency);
        match event {
            RegistryEvent::AgencyKeyRegistered(e) => {
                self.decide_new_key(agency, &e.key_id, &e.public_key)?;
                match self.active_key(agency.as_str()) {
                    Some(active) => Err(RegistryRefusal::KeyAlreadyActive(
                        agency.clone(),
                        active.key_id,
                    )),
                    None => Ok(()),
                }
            }
            RegistryEvent::AgencyKeyRotated(e) => {
                self.decide_new_key(agency, &e.key_id, &e.public_key)?;
                match self.active_key(agency.as_str()) {
                    None => Err(RegistryRefusal::NoActiveKey(agency.clone())),
                    Some(active) if active.key_id != e.previous => Err(
                        RegistryRefusal::NotActiveKey(agency.clone(), active.key_id, e.previous),
                    ),
                    Some(_) => Ok(()),
                }
            }
            RegistryEvent::AgencyKeyRevoked(e) => match self.key(agency.as_str(), &e.key_id) {
                None => Err(RegistryRefusal::UnknownKey(agency.clone(), e.key_id)),
                Some(key) if key.revoked.is_some() => {
                    Err(RegistryRefusal::KeyAlreadyRevoked(agency.clone(), e.key_id))
                }
                Some(_) => Ok(()),
            },
            RegistryEvent::AgencyRegistered(registered) => {
                if known.and_then(Agency::active).is_some() {
                    return Err(RegistryRefusal::AlreadyRegistered(agency.clone()));
                }
                let reused = self.agencies.iter().find(|(_, other)| {
                    other
                        .registration
                        .as_ref()
                        .is_some_and(|r| r.token_sha256 == registered.token_sha256)
                });
                if let Some((owner, _)) = reused {
                    return Err(RegistryRefusal::TokenReused(owner.clone()));
                }
                Ok(())
            }
            RegistryEvent::AgencyRevoked(_) => match known {
                None => Err(RegistryRefusal::Unknown(agency.clone())),
                Some(entry) if entry.revocation.is_some() => {
                    Err(RegistryRefusal::AlreadyRevoked(agency.clone()))
                }
                Some(_) => Ok(()),
            },
        }
    }

    /// Applies a change (decided before, or read from the log). Cannot fail.
    pub fn apply(&mut self, meta: &RegistryMeta<'_>, event: &RegistryEvent) {
        self.version += 1;
        match event {
            RegistryEvent::AgencyKeyRegistered(e) => {
                let key = self.key_entry(&e.agency, e.key_id);
                key.public_key = Some(e.public_key);
                key.registered = Some(meta.into());
                return;
            }
            RegistryEvent::AgencyKeyRotated(e) => {
                self.key_entry(&e.agency, e.previous).retired = Some(meta.into());
                let key = self.key_entry(&e.agency, e.key_id);
                key.public_key = Some(e.public_key);
                key.registered = Some(meta.into());
                return;
            }
            RegistryEvent::AgencyKeyRevoked(e) => {
                self.key_entry(&e.agency, e.key_id).revoked = Some(Revocation {
                    reason: e.reason.as_ref().map(|r| r.as_str().to_owned()),
                    recorded: meta.into(),
                });
                return;
            }
            _ => {}
        }
        let entry = self.agencies.entry(event.agency().clone()).or_default();
        match event {
            RegistryEvent::AgencyRegistered(registered) => {
                entry.registration = Some(Registration {
                    grant: registered.grant.clone(),
                    token_sha256: registered.token_sha256,
                    recorded: meta.into(),
                });
                entry.revocation = None;
            }
            RegistryEvent::AgencyRevoked(revoked) => {
                entry.revocation = Some(Revocation {
                    reason: revoked.reason.as_ref().map(|r| r.as_str().to_owned()),
                    recorded: meta.into(),
                });
            }
            // Handled above.
            RegistryEvent::AgencyKeyRegistered(_)
            | RegistryEvent::AgencyKeyRotated(_)
            | RegistryEvent::AgencyKeyRevoked(_) => {}
        }
    }

    /// Adds the fold of the registry records that follow this state's: a
    /// later registration replaces an agency's entry, a later revocation
    /// alone revokes the earlier registration.
    pub fn merge(&mut self, later: Registry) {
        self.version += later.version;
        for key in later.keys {
            let agency = key.agency.clone();
            self.key_entry(&agency, key.key_id).merge(key);
        }
        for (id, theirs) in later.agencies {
            let mine = self.agencies.entry(id).or_default();
            if theirs.registration.is_some() {
                *mine = theirs;
            } else if theirs.revocation.is_some() {
                mine.revocation = theirs.revocation;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> AgencyId {
        AgencyId::parse(text).expect("id")
    }

    fn countries(codes: &[&str]) -> BTreeSet<Country> {
        codes
            .iter()
            .map(|c| Country::parse(c).expect("code"))
            .collect()
    }

    fn operations(slugs: &[&str]) -> BTreeSet<Slug> {
        slugs
            .iter()
            .map(|s| Slug::parse(s).expect("slug"))
            .collect()
    }

    fn grant(agency: &str, role: Role, codes: &[&str], slugs: &[&str]) -> Grant {
        Grant::new(id(agency), role, countries(codes), operations(slugs)).expect("grant")
    }

    fn event(event_type: &str, data: &str) -> Event {
        Event::parse(event_type, data).expect("event")
    }

    fn check(grant: &Grant, line: Submission<'_>) -> Result<(), &'static str> {
        grant.permits(&line).map_err(|refusal| refusal.field)
    }

    const ARREST_RS: &str = r#"{"country":"RS","occurred_at":"2019-12-10T10:00:00Z","location":"road","suspect":"S-1"}"#;
    const ARREST_AL: &str = r#"{"country":"AL","occurred_at":"2019-12-10T10:00:00Z","location":"road","suspect":"S-1"}"#;

    #[test]
    fn a_reporter_appends_outcomes_for_its_countries_and_operations_only() {
        let theseus = Slug::parse("theseus").expect("slug");
        let other = Slug::parse("other").expect("slug");
        let rs = grant("rs-police", Role::Reporter, &["RS"], &["theseus"]);
        let arrest_rs = event("ArrestMade", ARREST_RS);
        let arrest_al = event("ArrestMade", ARREST_AL);
        let line = |operation, event, recorded_by| Submission {
            operation,
            event,
            recorded_by,
            target_recorded_by: None,
        };
        assert_eq!(check(&rs, line(&theseus, &arrest_rs, None)), Ok(()));
        assert_eq!(
            check(&rs, line(&theseus, &arrest_rs, Some("rs-police"))),
            Ok(())
        );
        assert_eq!(
            check(&rs, line(&theseus, &arrest_rs, Some("al-police"))),
            Err("recorded_by")
        );
        assert_eq!(
            check(&rs, line(&theseus, &arrest_al, None)),
            Err("data.country")
        );
        assert_eq!(check(&rs, line(&other, &arrest_rs, None)), Err("operation"));
        let close = event("OperationClosed", "{}");
        assert_eq!(check(&rs, line(&theseus, &close, None)), Err("type"));
        let profile = event("NetworkProfiled", r#"{"network":"net-1"}"#);
        assert_eq!(check(&rs, line(&theseus, &profile, None)), Ok(()));
    }

    #[test]
    fn a_reporter_retracts_only_what_it_recorded() {
        let theseus = Slug::parse("theseus").expect("slug");
        let rs = grant("rs-police", Role::Reporter, &["RS"], &[]);
        let retraction = event(
            "EventRetracted",
            r#"{"event_id":"0190b6f0-0000-7000-8000-000000000001","reason":"typo"}"#,
        );
        let line = |owner| Submission {
            operation: &theseus,
            event: &retraction,
            recorded_by: None,
            target_recorded_by: owner,
        };
        assert_eq!(check(&rs, line(Some("rs-police"))), Ok(()));
        assert_eq!(check(&rs, line(Some("al-police"))), Err("data.event_id"));
        // An unknown target is the rules' business (it is refused there).
        assert_eq!(check(&rs, line(None)), Ok(()));
        let coordinator = grant("interpol", Role::Coordinator, &[], &[]);
        assert_eq!(check(&coordinator, line(Some("al-police"))), Ok(()));
    }

    #[test]
    fn analysts_append_nothing_and_coordinators_everything_in_their_operations() {
        let theseus = Slug::parse("theseus").expect("slug");
        let new = Slug::parse("new-op").expect("slug");
        let launch = event(
            "OperationLaunched",
            r#"{"name":"N","coordinator":"C","countries":["AL"],"starts_on":"2019-12-09","ends_on":"2019-12-16"}"#,
        );
        let line = |operation| Submission {
            operation,
            event: &launch,
            recorded_by: None,
            target_recorded_by: None,
        };
        let analyst = grant("eu-analyst", Role::Analyst, &[], &[]);
        assert_eq!(check(&analyst, line(&theseus)), Err("type"));
        let any = grant("interpol", Role::Coordinator, &[], &[]);
        assert_eq!(check(&any, line(&new)), Ok(()));
        let scoped = grant("interpol", Role::Coordinator, &[], &["theseus"]);
        assert_eq!(check(&scoped, line(&theseus)), Ok(()));
        assert_eq!(check(&scoped, line(&new)), Err("operation"));
    }

    #[test]
    fn grants_must_fit_their_role() {
        let bad = [
            (Role::Analyst, &["RS"][..], &[][..], "countries"),
            (Role::Analyst, &[], &["theseus"], "operations"),
            (Role::Reporter, &[], &["theseus"], "countries"),
            (Role::Coordinator, &["RS"], &[], "countries"),
        ];
        for (role, codes, slugs, field) in bad {
            let error = Grant::new(id("x"), role, countries(codes), operations(slugs))
                .expect_err("refused");
            assert_eq!(error.path, field, "{role}");
        }
    }

    fn registered(agency: &str, digest: u8) -> RegistryEvent {
        RegistryEvent::AgencyRegistered(AgencyRegistered {
            grant: grant(agency, Role::Reporter, &["RS", "AL"], &[]),
            token_sha256: TokenDigest([digest; 32]),
        })
    }

    fn revoked(agency: &str) -> RegistryEvent {
        RegistryEvent::AgencyRevoked(AgencyRevoked {
            agency: id(agency),
            reason: Text::new("lost laptop").ok(),
        })
    }

    fn meta(position: u64) -> RegistryMeta<'static> {
        RegistryMeta {
            position,
            recorded_at: "2020-01-01T00:00:00Z",
            recorded_by: "admin",
        }
    }

    #[test]
    fn events_round_trip_through_their_canonical_form() {
        for event in [registered("rs-police", 7), revoked("rs-police")] {
            let text = event.data_json();
            let read = RegistryEvent::parse(event.event_type().as_str(), &text).expect("read");
            assert_eq!(read, event);
        }
        let text = registered("rs-police", 0xab).data_json();
        assert!(RegistryEvent::parse_canonical("AgencyRegistered", &text).is_ok());
        let spaced = text.replace(",", ", ");
        assert!(RegistryEvent::parse("AgencyRegistered", &spaced).is_ok());
        assert!(RegistryEvent::parse_canonical("AgencyRegistered", &spaced).is_err());
        assert_eq!(
            registered("rs-police", 0xab).data_json(),
            format!(
                r#"{{"agency":"rs-police","role":"reporter","countries":["AL","RS"],"operations":[],"token_sha256":"{}"}}"#,
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn stored_events_are_read_strictly() {
        let digest = "ab".repeat(32);
        let refused = |event_type: &str, data: &str| {
            RegistryEvent::parse(event_type, data)
                .expect_err(data)
                .to_string()
        };
        assert!(refused(
            "AgencyRegistered",
            &format!(r#"{{"agency":"x","role":"boss","countries":[],"operations":[],"token_sha256":"{digest}"}}"#)
        )
        .starts_with("data.role: unknown role"));
        assert!(refused(
            "AgencyRegistered",
            &format!(r#"{{"agency":"x","role":"reporter","countries":["RS","RS"],"operations":[],"token_sha256":"{digest}"}}"#)
        )
        .starts_with("data.countries[1]"));
        assert!(refused(
            "AgencyRegistered",
            &format!(r#"{{"agency":"x","role":"analyst","countries":["RS"],"operations":[],"token_sha256":"{digest}"}}"#)
        )
        .starts_with("data.countries: an analyst"));
        assert!(refused("AgencyRevoked", r#"{"agency":"X"}"#).starts_with("data.agency"));
        assert!(refused("AgencyRevoked", r#"{"agency":"x","extra":1}"#).starts_with("data.extra"));
        assert!(refused("AgencyGone", "{}").starts_with("type"));
        assert!(refused(
            "AgencyRegistered",
            r#"{"agency":"x","role":"coordinator","countries":[],"operations":[],"token_sha256":"AB"}"#
        )
        .starts_with("data.token_sha256"));
    }

    #[test]
    fn the_registry_refuses_what_does_not_follow_and_tracks_revocations() {
        let mut registry = Registry::default();
        assert_eq!(
            registry.decide(&revoked("rs-police")),
            Err(RegistryRefusal::Unknown(id("rs-police")))
        );
        registry.apply(&meta(1), &registered("rs-police", 1));
        assert!(registry
            .agency(&id("rs-police"))
            .and_then(Agency::active)
            .is_some());
        assert_eq!(
            registry.decide(&registered("rs-police", 2)),
            Err(RegistryRefusal::AlreadyRegistered(id("rs-police")))
        );
        assert_eq!(
            registry.decide(&registered("al-police", 1)),
            Err(RegistryRefusal::TokenReused(id("rs-police")))
        );
        registry.apply(&meta(2), &revoked("rs-police"));
        assert!(registry
            .agency(&id("rs-police"))
            .and_then(Agency::active)
            .is_none());
        assert_eq!(
            registry.decide(&revoked("rs-police")),
            Err(RegistryRefusal::AlreadyRevoked(id("rs-police")))
        );
        assert_eq!(registry.decide(&registered("rs-police", 3)), Ok(()));
        registry.apply(&meta(3), &registered("rs-police", 3));
        assert!(registry
            .agency(&id("rs-police"))
            .and_then(Agency::active)
            .is_some());
        assert_eq!(registry.version, 3);
    }

    #[test]
    fn folding_two_parts_and_merging_equals_folding_them_together() {
        let history = [
            registered("rs-police", 1),
            registered("al-police", 2),
            revoked("rs-police"),
            registered("rs-police", 3),
            revoked("al-police"),
            revoked("rs-police"),
        ];
        let fold = |events: &[RegistryEvent], first: u64| {
            let mut registry = Registry::default();
            for (i, event) in events.iter().enumerate() {
                registry.apply(&meta(first + i as u64), event);
            }
            registry
        };
        let whole = fold(&history, 1);
        for cut in 0..=history.len() {
            let mut merged = fold(&history[..cut], 1);
            merged.merge(fold(&history[cut..], 1 + cut as u64));
            assert_eq!(merged, whole, "cut at {cut}");
        }
    }

    fn key_event(kind: &str, agency: &str, key: u8, previous: u8) -> RegistryEvent {
        let (agency, key_id, public_key) = (id(agency), HexBytes([key; 4]), HexBytes([key; 32]));
        match kind {
            "register" => RegistryEvent::AgencyKeyRegistered(AgencyKeyRegistered {
                agency,
                key_id,
                public_key,
            }),
            "rotate" => RegistryEvent::AgencyKeyRotated(AgencyKeyRotated {
                agency,
                key_id,
                public_key,
                previous: HexBytes([previous; 4]),
            }),
            _ => RegistryEvent::AgencyKeyRevoked(AgencyKeyRevoked {
                agency,
                key_id,
                reason: None,
            }),
        }
    }

    #[test]
    fn signing_keys_are_registered_rotated_and_revoked_in_order_and_valid_between() {
        let mut registry = Registry::default();
        let mut position = 0;
        let mut step = |registry: &mut Registry, event: RegistryEvent| {
            position += 1;
            registry
                .decide(&event)
                .map(|()| registry.apply(&meta(position), &event))
        };
        assert_eq!(
            step(&mut registry, key_event("register", "rs-police", 1, 0)),
            Err(RegistryRefusal::Unknown(id("rs-police")))
        );
        step(&mut registry, registered("rs-police", 9)).expect("agency"); // 2
        step(&mut registry, key_event("register", "rs-police", 1, 0)).expect("key 1"); // 3
        assert!(matches!(
            step(&mut registry, key_event("register", "rs-police", 2, 0)),
            Err(RegistryRefusal::KeyAlreadyActive(..))
        ));
        assert!(matches!(
            step(&mut registry, key_event("rotate", "rs-police", 2, 7)),
            Err(RegistryRefusal::NotActiveKey(..))
        ));
        assert!(matches!(
            step(&mut registry, key_event("rotate", "rs-police", 1, 1)),
            Err(RegistryRefusal::KeyReused(..))
        ));
        step(&mut registry, key_event("rotate", "rs-police", 2, 1)).expect("rotate"); // 7
        step(&mut registry, key_event("revoke", "rs-police", 2, 0)).expect("revoke"); // 8
        assert!(matches!(
            step(&mut registry, key_event("revoke", "rs-police", 2, 0)),
            Err(RegistryRefusal::KeyAlreadyRevoked(..))
        ));
        let old = registry.key("rs-police", &HexBytes([1; 4])).expect("key 1");
        let new = registry.key("rs-police", &HexBytes([2; 4])).expect("key 2");
        // Key 1 signs from 4 up to the rotation at 7; key 2 from 8, but it
        // was revoked at 8.
        assert_eq!(
            (
                old.valid_at(3),
                old.valid_at(4),
                old.valid_at(6),
                old.valid_at(7)
            ),
            (false, true, true, false)
        );
        assert!(!new.valid_at(8) && !new.valid_at(100));
        assert!(registry.active_key("rs-police").is_none());
        assert!(registry.had_key_at("rs-police", 5) && !registry.had_key_at("rs-police", 9));
        step(&mut registry, key_event("register", "rs-police", 3, 0))
            .expect("a new key after revocation");
        for event in [
            key_event("rotate", "rs-police", 4, 3),
            key_event("revoke", "rs-police", 4, 0),
        ] {
            let text = event.data_json();
            assert_eq!(
                RegistryEvent::parse_canonical(event.event_type().as_str(), &text).expect("read"),
                event
            );
        }
    }

    #[test]
    fn keys_fold_in_two_parts_and_merge_to_the_whole() {
        let history = [
            registered("rs-police", 1),
            key_event("register", "rs-police", 1, 0),
            key_event("rotate", "rs-police", 2, 1),
            key_event("revoke", "rs-police", 1, 0),
            key_event("rotate", "rs-police", 3, 2),
            key_event("revoke", "rs-police", 3, 0),
        ];
        let fold = |events: &[RegistryEvent], first: u64| {
            let mut registry = Registry::default();
            for (i, event) in events.iter().enumerate() {
                registry.apply(&meta(first + i as u64), event);
            }
            registry
        };
        let whole = fold(&history, 1);
        for cut in 0..=history.len() {
            let mut merged = fold(&history[..cut], 1);
            merged.merge(fold(&history[cut..], 1 + cut as u64));
            assert_eq!(merged, whole, "cut at {cut}");
        }
    }
}
