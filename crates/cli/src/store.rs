//! Which store `--store` names, and opening it.
//!
//! A store is named by a directory path (the file store). Every command
//! opens its store through here, so that a new backend is one more variant
//! of [`StoreSpec`] and [`Opened`], not a change to each command.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

use event_store::{EventStore, FileStore, FileStoreConfig, Hash, VerifyReport};

use crate::exit::Failure;

/// What `--store` (or `THESEUS_STORE`) names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// A directory of `*.jsonl` segments.
    Directory(PathBuf),
}

impl StoreSpec {
    /// Reads a `--store` value.
    pub fn parse(text: &str) -> Result<StoreSpec, String> {
        if text.is_empty() {
            return Err("the store is empty: name a directory".into());
        }
        Ok(StoreSpec::Directory(PathBuf::from(text)))
    }

    /// How messages name the store.
    pub fn display(&self) -> String {
        match self {
            StoreSpec::Directory(dir) => dir.display().to_string(),
        }
    }

    /// Creates an empty store.
    pub fn init(&self) -> Result<Opened, Failure> {
        match self {
            StoreSpec::Directory(dir) => Ok(Opened::File(FileStore::init(
                dir,
                FileStoreConfig::default(),
            )?)),
        }
    }

    /// Opens an existing store (never creates one), warning on stderr about
    /// what a human should know (a torn tail left by a crash).
    pub fn open(&self) -> Result<Opened, Failure> {
        let opened = match self {
            StoreSpec::Directory(dir) => {
                Opened::File(FileStore::open(dir, FileStoreConfig::default())?)
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
            other => other,
        }
    }
}

/// An open store of any backend.
#[derive(Debug)]
pub enum Opened {
    File(FileStore),
}

impl Opened {
    /// The store behind the common trait.
    pub fn store(&self) -> &dyn EventStore {
        match self {
            Opened::File(store) => store,
        }
    }

    /// What a human should know about the store as opened.
    fn warnings(&self) -> Vec<String> {
        match self {
            Opened::File(store) => store.torn_tail_warning().into_iter().collect(),
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
        }
    }
}
