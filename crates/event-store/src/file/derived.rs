//! Derived artefacts (checkpoints, caches) saved by callers, sealed with the
//! derived-data key and kept in `DIR/.theseus/<key id>/derived/`: never
//! synced, replaced atomically by rename, and never trusted unless their
//! seal opens.
//!
//! Anyone who can write the store's directory can write these files, so
//! what a reader gets back is only ever bytes that a theseus holding the
//! same key saved under the same name ([`crate::key`]): random bytes, a
//! truncation, an edit that keeps the JSON valid, a file sealed under
//! another name or by another key all open to nothing, and the caller
//! rebuilds. What the seal cannot tell (a file copied from another store, or
//! an older state of this one, sealed by the same key) is for the caller to
//! check against the log: a checkpoint names the head it covers.
//!
//! Each key has a folder of its own, so that users with different keys (on
//! a shared store) do not overwrite each other's files. Nothing here ever
//! fails a command: a folder that cannot be read or written, a `.theseus`
//! or `derived` that is a regular file, a derived file that is a FIFO or a
//! symbolic link, all mean "no derived data", said once on stderr through
//! the store's [`Warn`] hook.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::{DerivedKey, StoreError};

use super::index::{create_private_dir, ensure_theseus_dir, open_private, THESEUS_DIR};
use super::Warn;

/// Tells temporary files of one process apart.
static TEMPORARY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Derived names are plain file names: `[a-z0-9._-]`, not starting with a
/// dot (which keeps them apart from temporary files, `.` and `..`).
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let allowed = |byte: u8| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-');
    if name.is_empty() || name.starts_with('.') || !name.bytes().all(allowed) {
        return Err(StoreError::Invalid(format!(
            "derived name `{name}`: use a-z, 0-9, `.`, `_`, `-`, not starting with `.`"
        )));
    }
    Ok(())
}

/// What the seal of the derived artefact `name` binds it to: the store
/// kind and the name, so that a file renamed, or a row moved between
/// backends, does not open.
pub fn seal_context(store_kind: &str, name: &str) -> String {
    format!("theseus derived v1\n{store_kind}\n{name}")
}

/// Warnings about derived data, each said once per store: a report that
/// cannot read the derived folder would otherwise also say that it cannot
/// write it.
#[derive(Debug)]
pub struct WarnOnce {
    warn: Warn,
    said: Mutex<BTreeSet<String>>,
}

impl WarnOnce {
    /// Warnings through `warn`.
    pub fn new(warn: Warn) -> WarnOnce {
        WarnOnce {
            warn,
            said: Mutex::new(BTreeSet::new()),
        }
    }

    /// Says `message` unless something was already said about `topic`.
    pub fn say(&self, topic: &str, message: &str) {
        let mut said = self
            .said
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if said.insert(topic.to_owned()) {
            (self.warn)(message);
        }
    }
}

/// The file store's derived artefacts: where they live, the key that seals
/// them, and where problems are told.
#[derive(Debug)]
pub(crate) struct Derived {
    store_dir: PathBuf,
    key: Option<DerivedKey>,
    warnings: WarnOnce,
}

const STORE_KIND: &str = "file";

impl Derived {
    pub(crate) fn new(store_dir: &Path, key: Option<DerivedKey>, warn: Warn) -> Derived {
        Derived {
            store_dir: store_dir.to_owned(),
            key,
            warnings: WarnOnce::new(warn),
        }
    }

    /// `DIR/.theseus/<key id>/derived`.
    fn dir(&self, key: &DerivedKey) -> PathBuf {
        self.store_dir
            .join(THESEUS_DIR)
            .join(key.id())
            .join("derived")
    }

    /// Says once that `.theseus` is not a folder (the indexes say it
    /// through here too, so that a command says it once, not once for each
    /// kind of derived data).
    pub(crate) fn say_theseus_not_a_folder(&self) {
        self.warnings.say(
            "theseus",
            &format!(
                "{} is not a folder: derived data (indexes, checkpoints) is neither read nor \
                 saved, commands work from the log",
                self.store_dir.join(THESEUS_DIR).display()
            ),
        );
    }

    fn unusable(&self, error: &StoreError) {
        if theseus_not_a_folder(&self.store_dir) {
            self.say_theseus_not_a_folder();
            return;
        }
        self.warnings.say(
            "folder",
            &format!("{error}; derived data (checkpoints) is not read or saved here, reports replay the log"),
        );
    }

    /// The bytes last saved under `name` with this store's key, or `None`:
    /// none saved, no key, or a file that is not what this key sealed
    /// (damaged, edited, another key's, not a regular file), which is said
    /// once and then treated as missing.
    pub(crate) fn load(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_name(name)?;
        let Some(key) = &self.key else {
            // Said once when the key could not be had (FileStoreConfig).
            return Ok(None);
        };
        let path = self.dir(key).join(name);
        let sealed = match read_regular(&path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(error) => {
                self.unusable(&error);
                return Ok(None);
            }
        };
        match key.open(&seal_context(STORE_KIND, name), &sealed) {
            Some(bytes) => Ok(Some(bytes.to_vec())),
            None => {
                self.warnings.say(
                    name,
                    &format!(
                        "{}: not sealed by this user's derived-data key (damaged, edited or \
                         copied in); ignored and rebuilt from the log",
                        path.display()
                    ),
                );
                Ok(None)
            }
        }
    }

    /// Seals `bytes` and saves them under `name`. A store whose derived
    /// folder cannot be written (or no key) saves nothing and says so once:
    /// derived data only ever saves time.
    pub(crate) fn save(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        check_name(name)?;
        let Some(key) = &self.key else {
            return Ok(());
        };
        let sealed = key.seal(&seal_context(STORE_KIND, name), bytes);
        if let Err(error) = self.write(key, name, &sealed) {
            self.unusable(&error);
        }
        Ok(())
    }

    fn write(&self, key: &DerivedKey, name: &str, sealed: &[u8]) -> Result<(), StoreError> {
        let theseus = ensure_theseus_dir(&self.store_dir)?;
        create_private_dir(&theseus.join(key.id()))?;
        let dir = self.dir(key);
        create_private_dir(&dir)?;
        let counter = TEMPORARY_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temporary = dir.join(format!(".{name}.{}.{counter}.tmp", std::process::id()));
        let result = open_private(&temporary, true).and_then(|mut file| {
            file.write_all(sealed)
                .map_err(|error| StoreError::io(&temporary, error))
        });
        let result = result.and_then(|()| {
            let target = dir.join(name);
            std::fs::rename(&temporary, &target).map_err(|error| StoreError::io(target, error))
        });
        if result.is_err() {
            // Best effort: a stray temporary file is harmless but untidy.
            let _ = std::fs::remove_file(&temporary);
        }
        result
    }
}

/// Whether something other than a folder (a file, a link) is where the
/// store's `.theseus` folder belongs.
pub(crate) fn theseus_not_a_folder(store_dir: &Path) -> bool {
    std::fs::symlink_metadata(store_dir.join(THESEUS_DIR)).is_ok_and(|meta| !meta.is_dir())
}

/// The bytes of `path` if it is a regular file, `None` if there is nothing
/// there. Anything else there (a FIFO that would block the read for ever, a
/// symbolic link that points out of the store, a directory) is an error,
/// as is a file swapped between looking and opening.
fn read_regular(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let io = |error| StoreError::io(path, error);
    let before = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io(error)),
    };
    let not_regular = || {
        StoreError::io(
            path,
            std::io::Error::other("not a regular file (a link, FIFO, device or directory)"),
        )
    };
    if !before.file_type().is_file() {
        return Err(not_regular());
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let after = file.metadata().map_err(io)?;
    if !after.file_type().is_file() || after.dev() != before.dev() || after.ino() != before.ino() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok(Some(bytes))
}
