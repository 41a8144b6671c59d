//! The ledger's own signing key, as the CLI and the server use it: kept in
//! a file outside the store ([`evidence::keys::ledger_key_path`]: the
//! `THESEUS_LEDGER_KEY_FILE` variable, else the user's configuration
//! directory), created on first use, and its public key recorded in the
//! log the first time it signs a receipt for that log.

use event_store::EventStore;
use evidence::SignerKey;

use crate::exit::Failure;
use crate::user;

/// The ledger's key, created if there is none yet.
pub fn load() -> Result<SignerKey, Failure> {
    let path = evidence::keys::ledger_key_path()
        .map_err(|error| Failure::Refused(format!("the ledger's key: {error}")))?;
    evidence::keys::load_or_create_ledger_key(&path)
        .map_err(|error| Failure::Refused(format!("the ledger's key: {error}")))
}

/// A receipt for the log's current head, the key recorded in the log
/// first if it is not there yet.
pub fn receipt(store: &dyn EventStore, key: &SignerKey) -> Result<String, Failure> {
    ledger::receipts::record_ledger_key(store, key, &user::account_name()?)?;
    let head = store.head()?;
    Ok(ledger::receipts::sign_head(key, head)?)
}
