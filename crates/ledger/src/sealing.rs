//! Sealing personal references: each subject's reference (an arrest's
//! `suspect`, a rescue's `victim`) is stored encrypted under a key of that
//! subject's own, so that erasing the subject is destroying one key, and
//! the log, which only ever held ciphertext, keeps its chain.
//!
//! * **A key per (operation, subject reference)**: 32 random bytes and a
//!   random 16-byte id, kept in the store's subject key store
//!   ([`event_store::subject_keys`]), found at append by
//!   `HMAC-SHA-256(store secret, operation ‖ 0 ‖ reference)`, so that the key
//!   store never holds a reference in clear. The store secret is itself an
//!   entry of the key store, under a lookup no subject can have.
//! * **XChaCha20-Poly1305** with associated data binding the event id and
//!   the field: a sealed reference copied into another event, or into the
//!   other field, does not open.
//! * **A derived nonce**: `HMAC(nonce key, event id ‖ field)`. Sealing is
//!   then deterministic for one event, so a re-sent event has the same
//!   bytes as the stored one and is recognised as a duplicate. Nonce reuse
//!   is harmless here: a key only ever seals one plaintext (its subject's
//!   reference), so the same key and nonce always seal the same bytes.
//! * **Padding** to a multiple of 32 bytes (ISO/IEC 7816-4: `0x80`, then
//!   zeros), so that the ciphertext does not tell a reference's length.
//!
//! After an erasure the subject has no key: a new event about the same
//! reference gets a new key (a new subject as far as the key store knows),
//! and a re-send of an event stored before the erasure no longer seals to
//! the stored bytes, so it is refused as another event under a used id.

use std::collections::HashMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use domain::{Event, Pseudonym, Reference, SealedReference};
use event_store::{AppendTransaction, EventStore, StoreError, SubjectKey};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::LedgerError;

type HmacSha256 = Hmac<Sha256>;

/// Plaintexts are padded to a multiple of this many bytes.
const PAD_TO: usize = 32;

/// The lookup under which the store secret is kept: a digest of a fixed
/// text, which no HMAC of a subject will equal.
fn secret_lookup() -> [u8; 32] {
    Sha256::digest(b"theseus subject key store: the lookup secret").into()
}

/// Where keys are found and added: a transaction, or a dry run's.
pub(crate) trait KeyAccess {
    fn find_key(&mut self, lookup: &[u8; 32]) -> Result<Option<SubjectKey>, StoreError>;
    fn add_key(&mut self, key: SubjectKey) -> Result<(), StoreError>;
    /// See [`AppendTransaction::prefetch_subject_keys`].
    fn prefetch_keys(&mut self, lookups: &[[u8; 32]]) -> Result<(), StoreError> {
        let _ = lookups;
        Ok(())
    }
}

impl KeyAccess for Box<dyn AppendTransaction + '_> {
    fn find_key(&mut self, lookup: &[u8; 32]) -> Result<Option<SubjectKey>, StoreError> {
        self.find_subject_key(lookup)
    }

    fn add_key(&mut self, key: SubjectKey) -> Result<(), StoreError> {
        self.add_subject_key(key)
    }

    fn prefetch_keys(&mut self, lookups: &[[u8; 32]]) -> Result<(), StoreError> {
        self.prefetch_subject_keys(lookups)
    }
}

fn random<const N: usize>() -> Result<[u8; N], LedgerError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| {
        LedgerError::Internal(format!("the system's random source failed: {error}"))
    })?;
    Ok(bytes)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length: `new_from_slice` cannot fail.
    let mut mac = match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The store secret, made (and staged with the batch) on first use.
pub(crate) fn store_secret(
    keys: &mut dyn KeyAccess,
    create: bool,
) -> Result<Option<[u8; 32]>, LedgerError> {
    let lookup = secret_lookup();
    if let Some(found) = keys.find_key(&lookup)? {
        return Ok(Some(found.secret));
    }
    if !create {
        return Ok(None);
    }
    let secret = random::<32>()?;
    keys.add_key(SubjectKey {
        lookup,
        key_id: [0; 16],
        secret,
    })?;
    Ok(Some(secret))
}

/// What a subject's key is found by.
pub(crate) fn subject_lookup(
    secret: &[u8; 32],
    operation: &str,
    reference: &Pseudonym,
) -> [u8; 32] {
    hmac(
        secret,
        &[operation.as_bytes(), &[0], reference.reveal().as_bytes()],
    )
}

/// Seals the references of one batch's events.
///
/// It keeps no keys of its own: the transaction already holds every key
/// the batch made (it writes them before the records) and answers a find
/// from them without I/O, and a key of an earlier batch is one lookup in
/// the store's key file (or in what `prefetch` fetched). A copy here held
/// each new subject's key twice: without it, a one-million-event import
/// (378,458 new subjects) peaks at 116 MB instead of 190 MB (maximum
/// resident set, same input).
#[derive(Default)]
pub(crate) struct Sealer {
    secret: Option<[u8; 32]>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl Sealer {
    /// Tells the store which keys the next `seal`s will look up, so that a store
    /// whose lookups cost a round trip answers them with one. Changes no
    /// answer: `seal` asks the store as before.
    pub(crate) fn prefetch<'a>(
        &mut self,
        keys: &mut dyn KeyAccess,
        events: impl Iterator<Item = (&'a str, &'a Event)>,
    ) -> Result<(), LedgerError> {
        let mut lookups = Vec::new();
        for (operation, event) in events {
            let Some((_, Reference::Clear(reference))) = event.reference() else {
                continue;
            };
            let secret = self.secret(keys)?;
            lookups.push(subject_lookup(&secret, operation, reference));
        }
        if !lookups.is_empty() {
            keys.prefetch_keys(&lookups)?;
        }
        Ok(())
    }

    /// The store's subject-lookup secret, read (or made) at the first
    /// reference of the batch and kept for the rest.
    fn secret(&mut self, keys: &mut dyn KeyAccess) -> Result<[u8; 32], LedgerError> {
        if let Some(secret) = self.secret {
            return Ok(secret);
        }
        let secret = store_secret(keys, true)?.unwrap_or_default();
        self.secret = Some(secret);
        Ok(secret)
    }

    /// `event` with its reference sealed (`None` for an event without one).
    /// A line that sends a sealed reference itself is refused: only the
    /// ledger seals, so a stored reference always opens with its key.
    pub(crate) fn seal(
        &mut self,
        keys: &mut dyn KeyAccess,
        line: u64,
        operation: &str,
        id: Uuid,
        event: &Event,
    ) -> Result<Option<Event>, LedgerError> {
        let (field, reference) = match event.reference() {
            None => return Ok(None),
            Some((field, Reference::Sealed(_))) => return Err(crate::append::refused(
                line,
                &format!("data.{field}"),
                "a sealed reference cannot be sent: send the reference itself, the ledger seals it",
            )),
            Some((field, Reference::Clear(reference))) => (field, reference.clone()),
        };
        let secret = self.secret(keys)?;
        let lookup = subject_lookup(&secret, operation, &reference);
        let key = match keys.find_key(&lookup)? {
            Some(key) => key,
            None => {
                let key = SubjectKey {
                    lookup,
                    key_id: random::<16>()?,
                    secret: random::<32>()?,
                };
                keys.add_key(key.clone())?;
                key
            }
        };
        let sealed = seal_with(&key, id, field, &reference)?;
        Ok(Some(
            event.clone().with_reference(Reference::Sealed(sealed)),
        ))
    }
}

/// The associated data: what a sealed reference is bound to.
fn associated_data(id: Uuid, field: &str) -> Vec<u8> {
    let mut aad = b"theseus sealed reference v1\0".to_vec();
    aad.extend_from_slice(id.as_bytes());
    aad.extend_from_slice(field.as_bytes());
    aad
}

fn cipher_and_nonce(key: &SubjectKey, id: Uuid, field: &str) -> (XChaCha20Poly1305, XNonce) {
    let encryption = hmac(&key.secret, &[b"encryption"]);
    let nonce_key = hmac(&key.secret, &[b"nonce"]);
    let nonce = hmac(&nonce_key, &[id.as_bytes(), field.as_bytes()]);
    let cipher = XChaCha20Poly1305::new(&encryption.into());
    (cipher, *XNonce::from_slice(&nonce[..24]))
}

/// Seals `reference` under `key` for field `field` of event `id`.
pub(crate) fn seal_with(
    key: &SubjectKey,
    id: Uuid,
    field: &str,
    reference: &Pseudonym,
) -> Result<SealedReference, LedgerError> {
    let mut plain = reference.reveal().as_bytes().to_vec();
    plain.push(0x80);
    while !plain.len().is_multiple_of(PAD_TO) {
        plain.push(0);
    }
    let (cipher, nonce) = cipher_and_nonce(key, id, field);
    let aad = associated_data(id, field);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .map_err(|_| LedgerError::Internal("sealing a reference failed".into()))?;
    Ok(SealedReference {
        key_id: key.key_id,
        sealed,
    })
}

/// Opens a sealed reference with its key; `None` if it does not open
/// (another event's, another field's, a damaged one).
pub(crate) fn open_with(
    key: &SubjectKey,
    id: Uuid,
    field: &str,
    sealed: &SealedReference,
) -> Option<Pseudonym> {
    let (cipher, nonce) = cipher_and_nonce(key, id, field);
    let aad = associated_data(id, field);
    let mut plain = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &sealed.sealed,
                aad: &aad,
            },
        )
        .ok()?;
    let end = plain.iter().rposition(|byte| *byte != 0)?;
    if plain[end] != 0x80 {
        return None;
    }
    plain.truncate(end);
    Pseudonym::new(std::str::from_utf8(&plain).ok()?).ok()
}

/// A reference as a consultation shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// Written before references were sealed.
    Clear(Pseudonym),
    /// Opened with its subject's key.
    Opened(Pseudonym),
    /// Its subject was erased: the key is gone.
    Erased,
}

impl Opened {
    /// What a listing prints: the reference, or `null` once erased.
    pub fn reference(&self) -> Option<&str> {
        match self {
            Opened::Clear(reference) | Opened::Opened(reference) => Some(reference.reveal()),
            Opened::Erased => None,
        }
    }
}

/// Opens stored references for a consultation, keeping the keys it read.
#[derive(Default)]
pub struct Opener {
    keys: HashMap<[u8; 16], Option<SubjectKey>>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener").finish_non_exhaustive()
    }
}

impl Opener {
    /// The reference of event `id`, opened. A sealed reference whose key is
    /// in the store but does not open it is damage, not an erasure.
    pub fn open(
        &mut self,
        store: &dyn EventStore,
        position: u64,
        id: Uuid,
        field: &str,
        reference: &Reference,
    ) -> Result<Opened, LedgerError> {
        let sealed = match reference {
            Reference::Clear(reference) => return Ok(Opened::Clear(reference.clone())),
            Reference::Sealed(sealed) => sealed,
        };
        let key = match self.keys.get(&sealed.key_id) {
            Some(key) => key.clone(),
            None => {
                let key = store.subject_key(&sealed.key_id)?;
                self.keys.insert(sealed.key_id, key.clone());
                key
            }
        };
        let Some(key) = key else {
            return Ok(Opened::Erased);
        };
        open_with(&key, id, field, sealed)
            .map(Opened::Opened)
            .ok_or_else(|| {
                LedgerError::Store(StoreError::Corrupt {
                    location: format!("position {position}"),
                    reason: format!(
                        "data.{field}: the sealed reference does not open with its key"
                    ),
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SubjectKey {
        SubjectKey {
            lookup: [byte; 32],
            key_id: [byte; 16],
            secret: [byte; 32],
        }
    }

    #[test]
    fn a_sealed_reference_opens_only_for_its_event_and_field() {
        let reference = Pseudonym::new("AL-2019-S-0001").expect("valid");
        let (one, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let sealed = seal_with(&key(1), one, "suspect", &reference).expect("sealed");
        assert_eq!(
            open_with(&key(1), one, "suspect", &sealed),
            Some(reference.clone())
        );
        assert_eq!(open_with(&key(1), other, "suspect", &sealed), None);
        assert_eq!(open_with(&key(1), one, "victim", &sealed), None);
        assert_eq!(open_with(&key(2), one, "suspect", &sealed), None);
        // Deterministic for one event (a re-send compares equal), and
        // different across events (ciphertexts do not link them).
        assert_eq!(
            seal_with(&key(1), one, "suspect", &reference).expect("again"),
            sealed
        );
        assert_ne!(
            seal_with(&key(1), other, "suspect", &reference)
                .expect("other")
                .sealed,
            sealed.sealed
        );
    }

    #[test]
    fn the_ciphertext_does_not_tell_short_references_apart_by_length() {
        let short = Pseudonym::new("A").expect("valid");
        let longer = Pseudonym::new("AL-2019-S-0001-XYZ").expect("valid");
        let id = Uuid::from_u128(7);
        let a = seal_with(&key(3), id, "victim", &short).expect("sealed");
        let b = seal_with(&key(3), id, "victim", &longer).expect("sealed");
        assert_eq!(a.sealed.len(), b.sealed.len());
        assert_eq!(open_with(&key(3), id, "victim", &b), Some(longer));
    }
}
