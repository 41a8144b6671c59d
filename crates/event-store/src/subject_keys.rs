//! Subject keys: the one mutable thing a store keeps beside its log.
//!
//! The ledger seals each personal reference under a key of its subject's
//! (see `ledger::sealing`); erasing the subject destroys the key, and the
//! references sealed under it can then be opened by no one, while the log,
//! which holds only their ciphertext, keeps its chain. A store keeps the
//! keys as opaque entries: a 32-byte lookup (what the ledger finds a
//! subject's key by, without the reference in clear), a 16-byte key id
//! (what a sealed reference names) and the 32-byte secret. Like the rest of
//! this crate, it interprets none of them.
//!
//! Entries change only inside an [`crate::AppendTransaction`], under the
//! writers' lock, so that two writers never make two keys for one subject:
//! an entry added is durable *before* the batch's records (a record must
//! never name a key that a crash lost), an entry removed is gone *after*
//! them (an erasure is recorded before its key is destroyed, and a crash
//! between the two leaves a key that `erase` destroys when run again).
//!
//! The file store keeps them in `DIR/subject-keys` (0600; not under
//! `.theseus`, which is derived and may be deleted), rewritten whole into a
//! temporary file, synced and renamed over the old one, and the directory
//! synced: once the rename is durable the old bytes are no longer reachable
//! through the file system. Copies elsewhere (backups, snapshots, blocks
//! the file system has not reused yet) are outside what the store can
//! reach.

use std::collections::HashMap;
use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// The file store's key file, beside the log's segments.
pub const KEY_FILE_NAME: &str = "subject-keys";

/// The first bytes of the key file: names the format.
const MAGIC: &[u8; 16] = b"theseus-keys v1\n";

/// Bytes of one entry in the key file.
pub const ENTRY_LEN: usize = 32 + 16 + 32;

/// One subject key.
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectKey {
    /// What the key is found by (the ledger's keyed digest of the subject).
    pub lookup: [u8; 32],
    /// What sealed references name.
    pub key_id: [u8; 16],
    pub secret: [u8; 32],
}

impl fmt::Debug for SubjectKey {
    // Never print the secret, not even in a panic message.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("SubjectKey").finish_non_exhaustive()
    }
}

/// The entries of a key store, by lookup.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyMap {
    pub(crate) by_lookup: HashMap<[u8; 32], SubjectKey>,
}

impl KeyMap {
    pub(crate) fn by_id(&self, key_id: &[u8; 16]) -> Option<SubjectKey> {
        self.by_lookup
            .values()
            .find(|key| key.key_id == *key_id)
            .cloned()
    }

    /// The file's bytes, entries sorted by lookup (so that the same keys
    /// always give the same file).
    fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<&SubjectKey> = self.by_lookup.values().collect();
        entries.sort_by_key(|key| key.lookup);
        let mut bytes = Vec::with_capacity(MAGIC.len() + entries.len() * ENTRY_LEN);
        bytes.extend_from_slice(MAGIC);
        for key in entries {
            bytes.extend_from_slice(&key.lookup);
            bytes.extend_from_slice(&key.key_id);
            bytes.extend_from_slice(&key.secret);
        }
        bytes
    }

    fn decode(path: &Path, bytes: &[u8]) -> Result<KeyMap, StoreError> {
        let corrupt = |reason: &str| StoreError::Corrupt {
            location: path.display().to_string(),
            reason: reason.to_owned(),
        };
        let body = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| corrupt("not a theseus key file"))?;
        if !body.len().is_multiple_of(ENTRY_LEN) {
            return Err(corrupt("its length is not a whole number of entries"));
        }
        let mut map = KeyMap::default();
        for entry in body.chunks_exact(ENTRY_LEN) {
            let mut key = SubjectKey {
                lookup: [0; 32],
                key_id: [0; 16],
                secret: [0; 32],
            };
            key.lookup.copy_from_slice(&entry[..32]);
            key.key_id.copy_from_slice(&entry[32..48]);
            key.secret.copy_from_slice(&entry[48..]);
            map.by_lookup.insert(key.lookup, key);
        }
        Ok(map)
    }
}

/// The key file of the store in `dir`.
pub(crate) fn key_file(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE_NAME)
}

/// Reads the key file; no file is no keys.
pub(crate) fn read_keys(dir: &Path) -> Result<KeyMap, StoreError> {
    let path = key_file(dir);
    match std::fs::read(&path) {
        Ok(bytes) => KeyMap::decode(&path, &bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(KeyMap::default()),
        Err(error) => Err(StoreError::io(&path, error)),
    }
}

/// The key file's entries by key id, as last read, and the file they were
/// read from (device, inode, length, modification time): reading a sealed
/// reference's key costs a `stat`, not a read of the whole file, while the
/// file is unchanged. The file is only ever replaced by a rename
/// ([`write_keys`]), so an erasure, in this process or another, gives it a
/// new inode, and the next lookup reads it again.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    read: std::sync::Mutex<Option<(FileStamp, KeysById)>>,
}

type FileStamp = (u64, u64, u64, i64, i64);
type KeysById = HashMap<[u8; 16], SubjectKey>;

impl KeyCache {
    /// The key whose id is `key_id`, from the key file of the store in
    /// `dir` as it is now.
    pub(crate) fn by_id(
        &self,
        dir: &Path,
        key_id: &[u8; 16],
    ) -> Result<Option<SubjectKey>, StoreError> {
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        let path = key_file(dir);
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(StoreError::io(&path, error)),
        };
        // The stamp of the file opened, so that what is read is what the
        // stamp names even if the file is replaced meanwhile.
        let meta = file
            .metadata()
            .map_err(|error| StoreError::io(&path, error))?;
        let stamp = (
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
        );
        let mut read = self
            .read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if read.as_ref().map(|(seen, _)| *seen) != Some(stamp) {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)
                .map_err(|error| StoreError::io(&path, error))?;
            let by_id = KeyMap::decode(&path, &bytes)?
                .by_lookup
                .into_values()
                .map(|key| (key.key_id, key))
                .collect();
            *read = Some((stamp, by_id));
        }
        Ok(read
            .as_ref()
            .and_then(|(_, by_id)| by_id.get(key_id).cloned()))
    }
}

/// Replaces the key file with `keys`, durably: a temporary file written and
/// synced, renamed over the old one, the directory synced.
pub(crate) fn write_keys(dir: &Path, keys: &KeyMap) -> Result<(), StoreError> {
    let path = key_file(dir);
    let temporary = dir.join(format!("{KEY_FILE_NAME}.new"));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(&keys.encode())?;
        file.sync_all()
    })();
    written.map_err(|error| StoreError::io(&temporary, error))?;
    std::fs::rename(&temporary, &path).map_err(|error| StoreError::io(&path, error))?;
    crate::file::sync_dir(dir)
}

/// A transaction's view of the keys: what was read, plus what it added and
/// removed, and when each must reach the disk.
#[derive(Debug, Default)]
pub(crate) struct StagedKeys {
    /// The committed keys, read on first use.
    pub(crate) committed: Option<KeyMap>,
    pub(crate) added: HashMap<[u8; 32], SubjectKey>,
    pub(crate) removed: Vec<[u8; 32]>,
}

impl StagedKeys {
    /// The key under `lookup` as the transaction sees it.
    pub(crate) fn get(
        &mut self,
        load: impl FnOnce() -> Result<KeyMap, StoreError>,
        lookup: &[u8; 32],
    ) -> Result<Option<SubjectKey>, StoreError> {
        if self.removed.contains(lookup) {
            return Ok(None);
        }
        if let Some(key) = self.added.get(lookup) {
            return Ok(Some(key.clone()));
        }
        if self.committed.is_none() {
            self.committed = Some(load()?);
        }
        Ok(self
            .committed
            .as_ref()
            .and_then(|keys| keys.by_lookup.get(lookup).cloned()))
    }

    /// Reads the committed keys if nothing has yet (before writing them).
    pub(crate) fn load_with(
        &mut self,
        load: impl FnOnce() -> Result<KeyMap, StoreError>,
    ) -> Result<(), StoreError> {
        if self.committed.is_none() && !(self.added.is_empty() && self.removed.is_empty()) {
            self.committed = Some(load()?);
        }
        Ok(())
    }

    pub(crate) fn add(&mut self, key: SubjectKey) {
        self.removed.retain(|lookup| *lookup != key.lookup);
        self.added.insert(key.lookup, key);
    }

    pub(crate) fn remove(&mut self, lookup: [u8; 32]) {
        self.added.remove(&lookup);
        if !self.removed.contains(&lookup) {
            self.removed.push(lookup);
        }
    }

    /// The keys to write before the records, if any were added: the
    /// committed ones with the additions (removals wait for the records).
    pub(crate) fn before_records(&self) -> Option<KeyMap> {
        if self.added.is_empty() {
            return None;
        }
        let mut keys = self.committed.clone().unwrap_or_default();
        for (lookup, key) in &self.added {
            keys.by_lookup.insert(*lookup, key.clone());
        }
        Some(keys)
    }

    /// The keys to write after the records, if any were removed.
    pub(crate) fn after_records(&self) -> Option<KeyMap> {
        if self.removed.is_empty() {
            return None;
        }
        let mut keys = self
            .before_records()
            .unwrap_or_else(|| self.committed.clone().unwrap_or_default());
        for lookup in &self.removed {
            keys.by_lookup.remove(lookup);
        }
        Some(keys)
    }
}
