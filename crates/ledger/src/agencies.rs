//! The agency registry as the ledger keeps it: registering and revoking
//! agencies (records of the reserved stream [`REGISTRY_STREAM`], appended
//! under the writers' lock like any batch), reading the registry as of a
//! head, access tokens and checking them.
//!
//! A token is 32 random bytes from the operating system, shown once as
//! `ths_` and 64 hex digits; the log keeps only its SHA-256 digest. A
//! presented token is hashed and compared with every registered digest in
//! constant time, so that how long a refusal takes says nothing about how
//! close a guess was.

use std::fmt;

use domain::registry::{
    AgencyId, AgencyKeyRegistered, AgencyKeyRevoked, AgencyKeyRotated, AgencyRegistered,
    AgencyRevoked, Grant, HexBytes, KeyId, PublicKey, Registration, Registry, RegistryEvent,
    RegistryMeta, TokenDigest, REGISTRY_SCHEMA_VERSION,
};
use domain::{EventView, Text, REGISTRY_STREAM};
use event_store::{EventStore, Head, NewEvent, Stamp};
use projections::replay::{self, Checkpointed, ReplayOptions};
use projections::{Meta, Projection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::LedgerError;

/// The prefix of every access token, so that one found in a file or a log
/// is recognised for what it is.
pub const TOKEN_PREFIX: &str = "ths_";

/// An access token: the secret an agency presents. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// A new token of 32 bytes from the operating system's random source.
    pub fn generate() -> Result<AccessToken, LedgerError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| LedgerError::Registry {
            field: "token".into(),
            message: format!("no random bytes from the operating system: {error}"),
        })?;
        Ok(AccessToken::from_bytes(bytes))
    }

    /// The token made of these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> AccessToken {
        let mut text = String::with_capacity(TOKEN_PREFIX.len() + 64);
        text.push_str(TOKEN_PREFIX);
        for byte in bytes {
            text.push_str(&format!("{byte:02x}"));
        }
        AccessToken(text)
    }

    /// A presented token: `ths_` and 64 lower-case hex digits.
    pub fn parse(text: &str) -> Option<AccessToken> {
        let digits = text.strip_prefix(TOKEN_PREFIX)?;
        (digits.len() == 64
            && digits
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| AccessToken(text.to_owned()))
    }

    /// The token itself: to show once, to whoever registered the agency.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// What the log keeps of it.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(…)")
    }
}

/// What a presented token opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authenticated<'a> {
    /// A registered agency that is not revoked.
    Agency(&'a Registration),
    /// The token of an agency that has been revoked since.
    Revoked(&'a AgencyId),
    /// No agency was ever registered with it.
    Unknown,
}

/// Finds the agency whose token this is. Every registered digest is
/// compared, in constant time each, whatever matches.
pub fn authenticate<'a>(registry: &'a Registry, token: &AccessToken) -> Authenticated<'a> {
    let digest = token.digest();
    let mut found = None;
    for (id, agency) in &registry.agencies {
        if let Some(registration) = &agency.registration {
            let same: bool = registration.token_sha256.0.ct_eq(&digest.0).into();
            if same {
                found = Some((id, agency));
            }
        }
    }
    match found {
        Some((id, agency)) => match agency.active() {
            Some(registration) => Authenticated::Agency(registration),
            None => Authenticated::Revoked(id),
        },
        None => Authenticated::Unknown,
    }
}

/// An authenticated agency as the ledger's append checks it: its grant,
/// and the registry stream's version the grant was read at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitter {
    pub grant: Grant,
    pub registry_version: u64,
}

impl Submitter {
    /// The submitter an active registration makes, read from `registry`.
    pub fn new(registry: &Registry, registration: &Registration) -> Submitter {
        Submitter {
            grant: registration.grant.clone(),
            registry_version: registry.version,
        }
    }
}

/// The registry as a projection of the log: it reads only the registry
/// stream's records, and is checkpointed like the reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegistryState(pub Registry);

impl Projection for RegistryState {
    const NAME: &'static str = "registry-v1";
    const NEEDS_RETRACTED: bool = false;
    const READS_REGISTRY: bool = true;

    fn record(&mut self, _meta: &Meta<'_>, _event: &EventView<'_>) {}

    fn retract(&mut self, _meta: &Meta<'_>, _event: &EventView<'_>) {}

    fn registry(&mut self, meta: &RegistryMeta<'_>, event: &RegistryEvent) {
        self.0.apply(meta, event);
    }

    fn merge(&mut self, later: RegistryState) {
        self.0.merge(later.0);
    }
}

/// The registry as of `head`: from its checkpoint plus the records after
/// it, chain-checked, on `parts` threads for a long tail.
pub fn load(
    store: &dyn EventStore,
    head: Head,
    parts: u64,
) -> Result<Checkpointed<RegistryState>, LedgerError> {
    let options = ReplayOptions::parts(parts);
    Ok(replay::build_with::<RegistryState>(store, head, &options)?.0)
}

/// The registry advanced from a state already read to `head` (what a
/// running server does on each request: only the records since are read).
pub fn advance(
    store: &dyn EventStore,
    from: Checkpointed<RegistryState>,
    head: Head,
) -> Result<Checkpointed<RegistryState>, LedgerError> {
    Ok(replay::advance(store, from, head)?)
}

/// A registry change as made: where it was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub position: u64,
    pub head: Head,
}

/// Records one registry change under the writers' lock: decided against the
/// registry as of the lock's head, written as one batch, durable before
/// this returns.
fn record(
    store: &dyn EventStore,
    event: &RegistryEvent,
    recorded_by: &str,
) -> Result<Recorded, LedgerError> {
    let mut transaction = store.begin(Stamp::Now)?;
    let head = transaction.head();
    let mut registry = load(store, head, 1)?;
    registry
        .state
        .0
        .decide(event)
        .map_err(|refusal| LedgerError::Registry {
            field: refusal.field().to_owned(),
            message: refusal.to_string(),
        })?;
    let recorded_at = transaction.recorded_at();
    transaction.stage(NewEvent {
        id: Uuid::now_v7(),
        operation: REGISTRY_STREAM.to_owned(),
        event_type: event.event_type().as_str().to_owned(),
        schema: REGISTRY_SCHEMA_VERSION,
        recorded_by: recorded_by.to_owned(),
        reported_at: None,
        data: event.data_json(),
        // The store checks it too: the stream is where the registry says.
        expected_version: Some(registry.state.0.version),
        refers_to: None,
    })?;
    let committed = transaction.commit()?;
    let position = committed.last_position.unwrap_or(committed.head.position);
    let stamp = event_store::format_recorded_at(&recorded_at);
    registry.state.0.apply(
        &RegistryMeta {
            position,
            recorded_at: &stamp,
            recorded_by,
        },
        event,
    );
    registry.head = committed.head;
    // Derived data: a failure costs only time on the next read.
    let _ = replay::save(store, &registry);
    Ok(Recorded {
        position,
        head: committed.head,
    })
}

/// Registers an agency under `grant` with a new token: the token is
/// returned to be shown once; the log keeps its digest.
pub fn register(
    store: &dyn EventStore,
    grant: Grant,
    recorded_by: &str,
) -> Result<(AccessToken, Recorded), LedgerError> {
    let token = AccessToken::generate()?;
    let event = RegistryEvent::AgencyRegistered(AgencyRegistered {
        grant,
        token_sha256: token.digest(),
    });
    let recorded = record(store, &event, recorded_by)?;
    Ok((token, recorded))
}

/// Revokes an agency's token, effective for every request checked after
/// this returns.
pub fn revoke(
    store: &dyn EventStore,
    agency: AgencyId,
    reason: Option<Text>,
    recorded_by: &str,
) -> Result<Recorded, LedgerError> {
    let event = RegistryEvent::AgencyRevoked(AgencyRevoked { agency, reason });
    record(store, &event, recorded_by)
}

/// Registers `key` (named by the agency's id) as the agency's signing key;
/// refused if it already has an active one (rotate it instead).
pub fn register_key(
    store: &dyn EventStore,
    agency: AgencyId,
    key: &evidence::VerifierKey,
    recorded_by: &str,
) -> Result<Recorded, LedgerError> {
    let (key_id, public_key) = key_parts(&agency, key)?;
    let event = RegistryEvent::AgencyKeyRegistered(AgencyKeyRegistered {
        agency,
        key_id,
        public_key,
    });
    record(store, &event, recorded_by)
}

/// Replaces the agency's active signing key by `key`: batches signed with
/// the old key before this stay valid, later ones are refused.
pub fn rotate_key(
    store: &dyn EventStore,
    agency: AgencyId,
    key: &evidence::VerifierKey,
    recorded_by: &str,
) -> Result<Recorded, LedgerError> {
    let (key_id, public_key) = key_parts(&agency, key)?;
    let head = store.head()?;
    let registry = load(store, head, 1)?;
    let previous = registry
        .state
        .0
        .active_key(agency.as_str())
        .map(|active| active.key_id)
        .ok_or_else(|| LedgerError::Registry {
            field: "agency".into(),
            message: format!("agency {agency} has no active signing key to rotate (generate one)"),
        })?;
    // Decided again under the lock: a rotation in between is refused there.
    let event = RegistryEvent::AgencyKeyRotated(AgencyKeyRotated {
        agency,
        key_id,
        public_key,
        previous,
    });
    record(store, &event, recorded_by)
}

/// Revokes one of the agency's signing keys: no batch signed with it is
/// valid after this record.
pub fn revoke_key(
    store: &dyn EventStore,
    agency: AgencyId,
    key_id: KeyId,
    reason: Option<Text>,
    recorded_by: &str,
) -> Result<Recorded, LedgerError> {
    let event = RegistryEvent::AgencyKeyRevoked(AgencyKeyRevoked {
        agency,
        key_id,
        reason,
    });
    record(store, &event, recorded_by)
}

fn key_parts(
    agency: &AgencyId,
    key: &evidence::VerifierKey,
) -> Result<(KeyId, PublicKey), LedgerError> {
    if key.name() != agency.as_str() {
        return Err(LedgerError::Registry {
            field: "key".into(),
            message: format!("the key is named {:?}, not {agency}", key.name()),
        });
    }
    Ok((HexBytes(key.id().0), HexBytes(*key.public())))
}

/// Checks the registry stream of the log up to `head` record by record in
/// order: each change must follow from the registry before it (the hook
/// an audit calls; replay alone applies changes without deciding them).
/// Returns the registry, or an integrity error naming the first position
/// that does not follow. (That each record's data is in canonical form is
/// for a reader of the raw records to check, with
/// `domain::registry::RegistryEvent::parse_canonical`.)
pub fn audit(store: &dyn EventStore, head: Head) -> Result<Registry, LedgerError> {
    let options = ReplayOptions {
        parts: 1,
        checkpoints: false,
        progress: None,
    };
    let (built, _) = replay::build_with::<Audited>(store, head, &options)?;
    match built.state.violation {
        Some((position, reason)) => Err(LedgerError::Store(event_store::StoreError::Corrupt {
            location: format!("position {position}"),
            reason: format!("registry: {reason}"),
        })),
        None => Ok(built.state.registry),
    }
}

/// The registry folded in order with every change decided first.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Audited {
    registry: Registry,
    violation: Option<(u64, String)>,
}

impl Projection for Audited {
    // Never saved: `audit` reads no checkpoint and the state is only
    // meaningful folded in one part.
    const NAME: &'static str = "registry-audit";
    const NEEDS_RETRACTED: bool = false;
    const READS_REGISTRY: bool = true;

    fn record(&mut self, _meta: &Meta<'_>, _event: &EventView<'_>) {}

    fn retract(&mut self, _meta: &Meta<'_>, _event: &EventView<'_>) {}

    fn registry(&mut self, meta: &RegistryMeta<'_>, event: &RegistryEvent) {
        if self.violation.is_none() {
            if let Err(refusal) = self.registry.decide(event) {
                self.violation = Some((meta.position, refusal.to_string()));
            }
        }
        self.registry.apply(meta, event);
    }

    fn merge(&mut self, later: Audited) {
        self.violation = self.violation.take().or(later.violation);
        self.registry.merge(later.registry);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use domain::registry::Role;
    use event_store::MemoryStore;

    use super::*;

    #[test]
    fn tokens_are_prefixed_hex_and_only_their_digest_is_kept() {
        let token = AccessToken::from_bytes([0xab; 32]);
        assert_eq!(token.reveal(), format!("ths_{}", "ab".repeat(32)));
        assert_eq!(AccessToken::parse(token.reveal()), Some(token.clone()));
        assert!(!format!("{token:?}").contains("abab"));
        for bad in ["", "ths_", "abab", &format!("ths_{}", "AB".repeat(32))] {
            assert_eq!(AccessToken::parse(bad), None, "{bad}");
        }
        assert_ne!(token.digest().to_string(), token.reveal());
        let other = AccessToken::generate().expect("random");
        assert_ne!(other, AccessToken::generate().expect("random"));
    }

    fn grant(agency: &str, role: Role) -> Grant {
        Grant::new(
            AgencyId::parse(agency).expect("id"),
            role,
            BTreeSet::new(),
            BTreeSet::new(),
        )
        .expect("grant")
    }

    /// Writes a registry record straight to the store, past the ledger's
    /// checks, as a forger with write access to the store could.
    fn forge(store: &MemoryStore, event: &RegistryEvent) {
        let mut transaction = store.begin(Stamp::Now).expect("begin");
        transaction
            .stage(NewEvent {
                id: Uuid::now_v7(),
                operation: REGISTRY_STREAM.to_owned(),
                event_type: event.event_type().as_str().to_owned(),
                schema: REGISTRY_SCHEMA_VERSION,
                recorded_by: "forger".into(),
                reported_at: None,
                data: event.data_json(),
                expected_version: None,
                refers_to: None,
            })
            .expect("stage");
        transaction.commit().expect("commit");
    }

    #[test]
    fn the_registry_is_read_back_as_recorded_and_an_audit_catches_a_change_that_does_not_follow() {
        let store = MemoryStore::new();
        let (token, first) =
            register(&store, grant("interpol", Role::Coordinator), "admin").expect("register");
        let registry = load(&store, store.head().expect("head"), 1).expect("load");
        let found = authenticate(&registry.state.0, &token);
        assert!(matches!(found, Authenticated::Agency(r) if r.recorded.position == first.position));
        let refused = register(&store, grant("interpol", Role::Analyst), "admin");
        assert!(matches!(refused, Err(LedgerError::Registry { .. })));
        revoke(
            &store,
            AgencyId::parse("interpol").expect("id"),
            None,
            "admin",
        )
        .expect("revoke");
        let registry = load(&store, store.head().expect("head"), 1).expect("load");
        assert!(matches!(
            authenticate(&registry.state.0, &token),
            Authenticated::Revoked(_)
        ));
        assert_eq!(
            authenticate(&registry.state.0, &AccessToken::from_bytes([7; 32])),
            Authenticated::Unknown
        );
        assert!(audit(&store, store.head().expect("head")).is_ok());

        // A second revocation written past the ledger: replay applies it,
        // the audit names it.
        forge(
            &store,
            &RegistryEvent::AgencyRevoked(AgencyRevoked {
                agency: AgencyId::parse("interpol").expect("id"),
                reason: None,
            }),
        );
        let head = store.head().expect("head");
        match audit(&store, head) {
            Err(LedgerError::Store(event_store::StoreError::Corrupt { location, reason })) => {
                assert_eq!(location, format!("position {}", head.position));
                assert!(reason.contains("already revoked"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
