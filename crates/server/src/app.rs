//! The server's shared state: the store, the agency registry as of the
//! latest head it has seen, the access log, the limits; and the one way
//! handlers reach the store, off the async runtime's threads.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderMap};
use domain::registry::{Grant, Role};
use event_store::EventStore;
use ledger::agencies::{self, AccessToken, Authenticated, RegistryState};
use ledger::group::Appender;
use ledger::Submitter;
use projections::Checkpointed;
use tokio::sync::{Notify, Semaphore};

use crate::access::{AccessLog, Note};
use crate::{Limits, ServerError};

/// The peer's address, put on each request by the connection it came on.
#[derive(Clone, Copy, Debug)]
pub struct Remote(pub SocketAddr);

/// Everything a handler needs.
pub struct App {
    pub store: Arc<dyn EventStore>,
    /// The registry as of the head it was last advanced to.
    registry: Mutex<Checkpointed<RegistryState>>,
    pub access: AccessLog,
    pub limits: Limits,
    /// Threads a report's replay may use.
    pub parts: u64,
    /// Whether `GET /` is served without a token.
    pub public_dashboard: bool,
    /// Bounds the store calls running at once (each on a blocking thread).
    store_calls: Semaphore,
    /// Woken after every append this server makes, for long polls.
    pub appended: Notify,
    /// Set when the server is stopping: long polls return at once.
    pub stopping: AtomicBool,
    /// The writer: batches posted at once are committed together.
    pub appender: Appender,
    /// The ledger's key, for receipts.
    pub ledger_key: Option<evidence::SignerKey>,
    /// Agencies whose unsigned batches are refused.
    pub require_signatures: std::collections::BTreeSet<String>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("limits", &self.limits).finish()
    }
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub grant: Grant,
    /// The registry stream's version the grant was read at.
    pub registry_version: u64,
}

impl Caller {
    pub fn submitter(&self) -> Submitter {
        Submitter {
            grant: self.grant.clone(),
            registry_version: self.registry_version,
        }
    }

    pub fn role(&self) -> Role {
        self.grant.role
    }
}

impl App {
    pub fn new(
        store: Arc<dyn EventStore>,
        registry: Checkpointed<RegistryState>,
        access: AccessLog,
        limits: Limits,
        parts: u64,
        public_dashboard: bool,
    ) -> App {
        App {
            store,
            registry: Mutex::new(registry),
            access,
            store_calls: Semaphore::new(limits.store_calls.max(1)),
            limits,
            parts,
            public_dashboard,
            appended: Notify::new(),
            stopping: AtomicBool::new(false),
            appender: Appender::new(),
            ledger_key: None,
            require_signatures: Default::default(),
        }
    }

    /// Sets the ledger's key and the agencies that must sign.
    pub fn with_evidence(
        mut self,
        ledger_key: Option<evidence::SignerKey>,
        require_signatures: std::collections::BTreeSet<String>,
    ) -> App {
        self.ledger_key = ledger_key;
        self.require_signatures = require_signatures;
        self
    }

    /// Checks a batch's signature against the agency's active key in the
    /// registry as last read (at least as new as the caller's grant: if it
    /// changed since, the writer refuses the batch and it is checked again
    /// with the new registry). Call it on a blocking thread.
    pub fn check_signature(
        &self,
        signature: &ledger::signatures::Signature,
    ) -> Result<(), ServerError> {
        let cached = match self.registry.lock() {
            Ok(cached) => cached,
            Err(poisoned) => poisoned.into_inner(),
        };
        // An active key is valid at every position after its registration.
        Ok(signature.check_key(&cached.state.0, u64::MAX)?)
    }

    /// Runs a store call on the blocking pool (the store's API is
    /// synchronous, and the PostgreSQL client runs a runtime of its own),
    /// at most [`Limits::store_calls`] at once.
    pub async fn blocking<T, F>(self: &Arc<Self>, call: F) -> Result<T, ServerError>
    where
        T: Send + 'static,
        F: FnOnce(&App) -> Result<T, ServerError> + Send + 'static,
    {
        let _slot = self
            .store_calls
            .acquire()
            .await
            .map_err(|_| ServerError::Internal("the store call pool is closed".into()))?;
        let app = Arc::clone(self);
        tokio::task::spawn_blocking(move || call(&app))
            .await
            .map_err(|error| ServerError::Internal(format!("a store call failed: {error}")))?
    }

    /// Checks a presented token against the registry as of the current
    /// head (advancing the cached registry by the records since it was
    /// last read): a revocation recorded by any writer is effective for
    /// the next request. Call it on a blocking thread.
    pub fn authenticate(
        &self,
        token: &AccessToken,
        note: &mut Note,
    ) -> Result<Caller, ServerError> {
        let mut cached = match self.registry.lock() {
            Ok(cached) => cached,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Read under the lock: a head read before another request advanced
        // the cache could be older than the cache, which is no damage.
        let head = self.store.head()?;
        if cached.head != head {
            let advanced = agencies::advance(self.store.as_ref(), cached.clone(), head)?;
            *cached = advanced;
        }
        let registry = &cached.state.0;
        match agencies::authenticate(registry, token) {
            Authenticated::Agency(registration) => {
                note.agency = Some(registration.grant.agency.to_string());
                Ok(Caller {
                    grant: registration.grant.clone(),
                    registry_version: registry.version,
                })
            }
            Authenticated::Revoked(agency) => {
                note.credential = Some("revoked");
                note.revoked_agency = Some(agency.to_string());
                Err(invalid_token())
            }
            Authenticated::Unknown => {
                note.credential = Some("unknown");
                Err(invalid_token())
            }
        }
    }
}

fn invalid_token() -> ServerError {
    ServerError::Unauthenticated {
        message: "the token is not valid (unknown or revoked)".into(),
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap, note: &mut Note) -> Result<AccessToken, ServerError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        note.credential = Some("missing");
        return Err(ServerError::Unauthenticated {
            message: "no token: send Authorization: Bearer TOKEN".into(),
        });
    };
    let malformed = |note: &mut Note| {
        note.credential = Some("malformed");
        ServerError::Unauthenticated {
            message: "the Authorization header is not Bearer and a theseus token".into(),
        }
    };
    if values.next().is_some() {
        return Err(malformed(note));
    }
    let Ok(text) = value.to_str() else {
        return Err(malformed(note));
    };
    let Some((scheme, token)) = text.split_once(' ') else {
        return Err(malformed(note));
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(malformed(note));
    }
    AccessToken::parse(token.trim()).ok_or_else(|| malformed(note))
}
