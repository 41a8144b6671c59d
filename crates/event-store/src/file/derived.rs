//! Derived artefacts (checkpoints, caches) saved by callers in
//! `DIR/.theseus/derived/`: never synced, replaced atomically by rename.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StoreError;

use super::index::{create_private_dir, ensure_theseus_dir, open_private, THESEUS_DIR};

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

pub(crate) fn load(store_dir: &Path, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    check_name(name)?;
    let path = store_dir.join(THESEUS_DIR).join("derived").join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(StoreError::io(path, error)),
    }
}

pub(crate) fn save(store_dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    check_name(name)?;
    let dir = ensure_theseus_dir(store_dir)?.join("derived");
    create_private_dir(&dir)?;
    let counter = TEMPORARY_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temporary = dir.join(format!(".{name}.{}.{counter}.tmp", std::process::id()));
    let result = open_private(&temporary, true).and_then(|mut file| {
        file.write_all(bytes)
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
