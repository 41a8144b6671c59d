//! Which store `--store` names, and opening it.
//!
//! A store is named by a directory path (the file store) or by a
//! `postgres://` / `postgresql://` address (the PostgreSQL store, in the
//! schema `theseus` unless the address says `?schema=NAME`). Every command
//! opens its store through here, so that a backend is one variant of
//! [`StoreSpec`] and [`Opened`], not a change to each command.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use event_store::{EventStore, FileStore, FileStoreConfig, Hash, VerifyReport};
use postgres_store::{Address, PostgresConfig, PostgresStore};

use crate::exit::Failure;

/// What `--store` (or `THESEUS_STORE`) names.
#[derive(Clone, Debug)]
pub enum StoreSpec {
    /// A directory of `*.jsonl` segments.
    Directory(PathBuf),
    /// A schema of a PostgreSQL database (boxed: the client's settings
    /// are large beside a path).
    Postgres(Box<Address>),
}

/// What `init` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initialised {
    /// An empty store was created.
    Created,
    /// The store was already there, at the current layout: nothing changed.
    Unchanged,
    /// The store's layout was migrated.
    Migrated { from: i32, to: i32 },
}

impl StoreSpec {
    /// Reads a `--store` value.
    pub fn parse(text: &str) -> Result<StoreSpec, String> {
        if text.is_empty() {
            return Err("the store is empty: name a directory or a postgres:// address".into());
        }
        if Address::is_postgres(text) {
            return Address::parse(text)
                .map(|address| StoreSpec::Postgres(Box::new(address)))
                .map_err(|error| error.to_string());
        }
        Ok(StoreSpec::Directory(PathBuf::from(text)))
    }

    /// How messages name the store.
    pub fn display(&self) -> String {
        match self {
            StoreSpec::Directory(dir) => dir.display().to_string(),
            StoreSpec::Postgres(address) => address.to_string(),
        }
    }

    /// Creates an empty store. A directory that holds one is refused
    /// ([`event_store::StoreError::AlreadyExists`]); a PostgreSQL schema that
    /// holds one at the current layout is left as it is (init is a no-op
    /// there, so that a deployment script may run it every time).
    pub fn init(&self) -> Result<(Opened, Initialised), Failure> {
        match self {
            StoreSpec::Directory(dir) => Ok((
                Opened::File(FileStore::init(dir, file_config())?),
                Initialised::Created,
            )),
            StoreSpec::Postgres(address) => {
                let (store, done) = PostgresStore::init(address, PostgresConfig::default())?;
                let done = match done {
                    postgres_store::Initialised::Created { .. } => Initialised::Created,
                    postgres_store::Initialised::AlreadyCurrent { .. } => Initialised::Unchanged,
                    postgres_store::Initialised::Migrated { from, to } => {
                        Initialised::Migrated { from, to }
                    }
                };
                Ok((Opened::Postgres(store), done))
            }
        }
    }

    /// Opens an existing store (never creates one), warning on stderr about
    /// what a human should know (a torn tail left by a crash).
    pub fn open(&self) -> Result<Opened, Failure> {
        let opened = match self {
            StoreSpec::Directory(dir) => Opened::File(FileStore::open(dir, file_config())?),
            StoreSpec::Postgres(address) => {
                Opened::Postgres(PostgresStore::open(address, PostgresConfig::default())?)
            }
        };
        for warning in opened.warnings() {
            crate::output::warn(&warning);
        }
        Ok(opened)
    }

    /// Opens the store, creating it if there is none.
    pub fn open_or_init(&self) -> Result<Opened, Failure> {
        match self.init() {
            Err(Failure::Store(event_store::StoreError::AlreadyExists { .. })) => self.open(),
            other => other.map(|(opened, _)| opened),
        }
    }
}

/// The file store's configuration: its warnings (damaged or stale derived
/// data, an unusable key) go through [`crate::output::warn`], so that
/// `--quiet` silences them like every other warning.
///
/// `THESEUS_VERIFY_SPLIT=RECORDS:BYTES` sets where `verify` starts to read
/// a log in parallel and the bytes of one unit (the tests use it to run a
/// small log through the parallel pass); only the speed depends on it.
fn file_config() -> FileStoreConfig {
    let mut config = FileStoreConfig::warning_to(crate::output::warn);
    if let Some(text) = std::env::var_os("THESEUS_VERIFY_SPLIT") {
        match parse_verify_split(&text.to_string_lossy()) {
            Some(split) => config.verify_split = Some(split),
            None => crate::output::warn(&format!(
                "THESEUS_VERIFY_SPLIT={:?} is not RECORDS:BYTES (two whole numbers, BYTES at least 1); the defaults are used",
                text.to_string_lossy()
            )),
        }
    }
    config
}

fn parse_verify_split(text: &str) -> Option<event_store::VerifySplit> {
    let (records, bytes) = text.split_once(':')?;
    let split = event_store::VerifySplit {
        from_records: records.parse().ok()?,
        unit_bytes: bytes.parse().ok()?,
    };
    (split.unit_bytes > 0).then_some(split)
}

/// An open store of any backend.
#[derive(Debug)]
pub enum Opened {
    File(FileStore),
    Postgres(PostgresStore),
}

impl Opened {
    /// The store behind the common trait.
    pub fn store(&self) -> &dyn EventStore {
        match self {
            Opened::File(store) => store,
            Opened::Postgres(store) => store,
        }
    }

    /// The store, to share with threads (the server).
    pub fn into_shared(self) -> Arc<dyn EventStore> {
        match self {
            Opened::File(store) => Arc::new(store),
            Opened::Postgres(store) => Arc::new(store),
        }
    }

    /// What a human should know about the store as opened.
    fn warnings(&self) -> Vec<String> {
        match self {
            Opened::File(store) => store
                .stray_files_warning()
                .into_iter()
                .chain(store.torn_tail_warning())
                .collect(),
            // A transaction that did not commit leaves nothing behind.
            Opened::Postgres(_) => Vec::new(),
        }
    }

    /// `verify`, counting the records checked into `progress`.
    pub fn verify_counted(
        &self,
        expect_head: Option<(u64, Hash)>,
        progress: &AtomicU64,
    ) -> Result<VerifyReport, Failure> {
        match self {
            Opened::File(store) => Ok(store.verify_counted(expect_head, progress)?),
            Opened::Postgres(store) => Ok(store.verify_counted(expect_head, progress)?),
        }
    }
}
