//! The derived-data key: what lets a store trust the files it derives from
//! its log (checkpoints, rule state, indexes) without trusting whoever can
//! write the store's directory or database.
//!
//! Derived data speeds reading and writing up; it must never decide a figure
//! or what gets written. Anyone who can write the store can also write its
//! derived files, so a digest alone proves nothing: they could recompute it.
//! A key that lives *outside* the store (by default in the user's
//! configuration directory, never beside the log) turns the digest into a
//! MAC (HMAC-SHA-256): a derived file that carries a valid tag was written by
//! a theseus that held this key. What the tag covers, and how each derived
//! file ties itself to the log it was derived from (a position and hash the
//! log must still agree with), is up to the file; this module only tags,
//! seals and opens.
//!
//! A user who has no key, or whose key cannot be read, gets none: the store
//! then works without derived data (slower, never wrong).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Where the key is looked for, in order: this variable's path, then
/// `$XDG_CONFIG_HOME/theseus/derived.key`, then
/// `$HOME/.config/theseus/derived.key`.
pub const KEY_FILE_VARIABLE: &str = "THESEUS_KEY_FILE";

/// The first bytes of a sealed artefact: names the format, so that a file
/// written before sealing existed (or by anything else) is told apart.
const SEAL_MAGIC: &[u8; 8] = b"THSEAL1\n";
const TAG_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Why no key could be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no place for the derived-data key: set {KEY_FILE_VARIABLE}, XDG_CONFIG_HOME or HOME")]
    NoLocation,
    #[error("derived-data key {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("derived-data key {path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("derived-data key: the system's random source failed: {0}")]
    Random(String),
}

/// A secret 32-byte key, and a short public name for it.
#[derive(Clone)]
pub struct DerivedKey {
    secret: [u8; 32],
    id: String,
}

impl fmt::Debug for DerivedKey {
    // Never print the secret, not even in a panic message.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DerivedKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl DerivedKey {
    /// A key from its secret bytes (tests, embedding).
    pub fn from_secret(secret: [u8; 32]) -> DerivedKey {
        let digest = Sha256::new()
            .chain_update(b"theseus derived key id\n")
            .chain_update(secret)
            .finalize();
        let id = digest[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        DerivedKey { secret, id }
    }

    /// A fresh random key, kept nowhere (a store that lives for one process).
    pub fn random() -> Result<DerivedKey, KeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|error| KeyError::Random(error.to_string()))?;
        Ok(DerivedKey::from_secret(secret))
    }

    /// The user's key from its usual place ([`KEY_FILE_VARIABLE`], then the
    /// configuration directory), created there (0600, in a 0700 folder) if
    /// there is none yet.
    pub fn load_or_create() -> Result<DerivedKey, KeyError> {
        DerivedKey::load_or_create_at(&default_path()?)
    }

    /// The key in `path`, created if the file does not exist. Two processes
    /// creating it at once agree on one key: the file appears whole (linked
    /// into place from a finished temporary file) or not at all.
    pub fn load_or_create_at(path: &Path) -> Result<DerivedKey, KeyError> {
        match read_key(path) {
            Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            other => return other,
        }
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            create_private_dirs(parent).map_err(io)?;
        }
        let key = DerivedKey::random()?;
        let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
        let written = write_private(&temporary, &key.secret);
        let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => Ok(key),
            // Another process made it first: theirs is the key.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => read_key(path),
            Err(error) => Err(io(error)),
        }
    }

    /// A short public name of the key (16 hex digits), for folder names and
    /// messages: it tells keys apart and reveals nothing of the secret.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The MAC of `parts` under this key, for the artefact kind `context`
    /// (for example `"checkpoint"` or `"ids-page"`): each part is
    /// length-prefixed, so no two different lists of parts share a tag.
    pub fn tag(&self, context: &str, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        self.mac(context, parts).finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of `parts` (compared in constant time).
    pub fn verify(&self, context: &str, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.mac(context, parts).verify_slice(tag).is_ok()
    }

    /// `bytes` with a tag in front that binds them to `context` (for a
    /// derived file, its name). Opened by [`DerivedKey::open`].
    pub fn seal(&self, context: &str, bytes: &[u8]) -> Vec<u8> {
        let tag = self.tag(context, &[bytes]);
        let mut sealed = Vec::with_capacity(SEAL_MAGIC.len() + TAG_LEN + bytes.len());
        sealed.extend_from_slice(SEAL_MAGIC);
        sealed.extend_from_slice(&tag);
        sealed.extend_from_slice(bytes);
        sealed
    }

    /// The bytes sealed under `context` by this key, or `None` for anything
    /// else: another key's seal, another context, an edited byte, a file
    /// that was never sealed.
    pub fn open<'a>(&self, context: &str, sealed: &'a [u8]) -> Option<&'a [u8]> {
        let rest = sealed.strip_prefix(SEAL_MAGIC.as_slice())?;
        if rest.len() < TAG_LEN {
            return None;
        }
        let (tag, bytes) = rest.split_at(TAG_LEN);
        self.verify(context, &[bytes], tag).then_some(bytes)
    }

    fn mac(&self, context: &str, parts: &[&[u8]]) -> HmacSha256 {
        // HMAC takes a key of any length; 32 bytes never fails.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(&(context.len() as u64).to_le_bytes());
        mac.update(context.as_bytes());
        for part in parts {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac
    }
}

/// Where [`DerivedKey::load_or_create`] keeps the key.
pub fn default_path() -> Result<PathBuf, KeyError> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(path) = non_empty(KEY_FILE_VARIABLE) {
        return Ok(PathBuf::from(path));
    }
    let config = non_empty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".config")))
        .ok_or(KeyError::NoLocation)?;
    Ok(config.join("theseus").join("derived.key"))
}

/// The file holds the secret as 64 hex digits and a newline.
fn read_key(path: &Path) -> Result<DerivedKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    let malformed = |reason: &str| KeyError::Malformed {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let hex = text.trim_end_matches('\n');
    if hex.len() != 64 {
        return Err(malformed("expected 64 hexadecimal digits"));
    }
    let mut secret = [0u8; 32];
    for (slot, pair) in secret.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| malformed("not hexadecimal"))?;
        *slot = u8::from_str_radix(pair, 16).map_err(|_| malformed("not hexadecimal"))?;
    }
    Ok(DerivedKey::from_secret(secret))
}

fn write_private(path: &Path, secret: &[u8; 32]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let hex: String = secret.iter().map(|byte| format!("{byte:02x}")).collect();
    file.write_all(format!("{hex}\n").as_bytes())?;
    // The key outlives the process: a crash must not leave an empty file
    // that would later be read as malformed.
    file.sync_all()
}

fn create_private_dirs(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_opens_only_with_its_key_and_context() {
        let key = DerivedKey::from_secret([7; 32]);
        let other = DerivedKey::from_secret([8; 32]);
        let sealed = key.seal("checkpoint-summary", b"{\"arrests\":236}");
        assert_eq!(
            key.open("checkpoint-summary", &sealed),
            Some(&b"{\"arrests\":236}"[..])
        );
        assert_eq!(other.open("checkpoint-summary", &sealed), None);
        assert_eq!(key.open("checkpoint-countries", &sealed), None);
        let mut edited = sealed.clone();
        let last = edited.len() - 2;
        edited[last] = b'7';
        assert_eq!(key.open("checkpoint-summary", &edited), None);
        assert_eq!(key.open("checkpoint-summary", b"{\"arrests\":236}"), None);
        assert_eq!(key.open("checkpoint-summary", &sealed[..20]), None);
    }

    #[test]
    fn parts_are_length_prefixed() {
        let key = DerivedKey::from_secret([1; 32]);
        assert_ne!(key.tag("x", &[b"ab", b"c"]), key.tag("x", &[b"a", b"bc"]));
        assert!(key.verify("x", &[b"ab", b"c"], &key.tag("x", &[b"ab", b"c"])));
    }

    #[test]
    fn the_key_file_is_created_once_private_and_read_back() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir
            .path()
            .join("config")
            .join("theseus")
            .join("derived.key");
        let made = DerivedKey::load_or_create_at(&path).expect("created");
        let read = DerivedKey::load_or_create_at(&path).expect("read back");
        assert_eq!(made.id(), read.id());
        assert_eq!(made.id().len(), 16);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key\n").expect("overwrite");
        assert!(matches!(
            DerivedKey::load_or_create_at(&path),
            Err(KeyError::Malformed { .. })
        ));
        assert!(!format!("{made:?}").contains(&"07".repeat(4)));
    }
}
