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
//! `.theseus`, which is derived and may be deleted). What a batch costs is
//! proportional to the keys it touches, not to the file:
//!
//! * **Format 2** (`theseus-keys v2`): a 32-byte header (magic, the number
//!   of sorted entries, a random file id), a *body* of entries sorted by
//!   lookup, then a *tail* of entries appended unsorted. Each entry is 96
//!   bytes: lookup, key id, secret and a 16-byte check (a digest of the
//!   other 80), so that a torn append is recognised, not read as a key.
//! * **Finding** a subject's key reads the tail (at most
//!   `max(MIN_TAIL, body / TAIL_FRACTION)` entries) once per transaction and
//!   searches the body through a read-only mapping (`pread` if it cannot
//!   be mapped): lookups are keyed digests, uniform, so an interpolation
//!   search finds the entry in two or three probes.
//! * **Adding** keys appends them to the tail and syncs the file (its data
//!   and length) before the batch's records are written. Once the tail
//!   would pass its bound, the file is instead rewritten whole, tail merged
//!   into the body (every `body / TAIL_FRACTION` keys: amortised
//!   `TAIL_FRACTION` entries copied per key added).
//! * **Torn appends**: reading stops at the first tail entry whose check
//!   fails (a crash in an append, whose batch was therefore never
//!   committed); the next append cuts the file there first. Entries before
//!   it are whole keys that no record names yet: harmless, and found again
//!   by their lookup.
//! * **Removing** (erasure) rewrites the file whole into a temporary file,
//!   synced, renamed over the old one, the directory synced: once the
//!   rename is durable the old bytes are no longer reachable through the
//!   file system. Copies elsewhere (backups, snapshots, blocks the file
//!   system has not reused yet) are outside what the store can reach.
//! * **Format 1** (`theseus-keys v1`: 80-byte entries, all sorted) is still
//!   read; the first change to such a store rewrites it in format 2.
//!
//! In the file, a later entry for a lookup wins over an earlier one (an
//! erased subject given a new key in the same batch), and rewrites keep
//! only the winner.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::StoreError;

/// The file store's key file, beside the log's segments.
pub const KEY_FILE_NAME: &str = "subject-keys";

/// The first bytes of a format-1 key file.
const MAGIC_V1: &[u8; 16] = b"theseus-keys v1\n";

/// The first bytes of a format-2 key file.
const MAGIC_V2: &[u8; 16] = b"theseus-keys v2\n";

/// Bytes of a format-2 header: magic, sorted entries (u64, little-endian),
/// file id (8 random bytes, new at each rewrite).
const HEADER_V2: u64 = 32;

/// Bytes of one entry in a format-1 key file.
const ENTRY_LEN_V1: usize = 32 + 16 + 32;

/// Bytes of one entry in the key file (format 2): lookup, key id, secret,
/// check.
pub const ENTRY_LEN: usize = ENTRY_LEN_V1 + 16;

/// The tail may hold this many entries however small the body is.
const MIN_TAIL: u64 = 4096;

/// The tail may hold one entry per this many of the body's.
const TAIL_FRACTION: u64 = 16;

/// Entries read at once when searching the body.
const WINDOW: u64 = 64;

/// Entries read by the first, interpolated, read of a search.
const PROBE: u64 = 2;

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
}

/// The key file of the store in `dir`.
pub(crate) fn key_file(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE_NAME)
}

fn corrupt(path: &Path, reason: &str) -> StoreError {
    StoreError::Corrupt {
        location: path.display().to_string(),
        reason: reason.to_owned(),
    }
}

/// The check of a format-2 entry: what tells a whole entry from a torn one.
fn check(entry: &[u8]) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(b"theseus-keys v2 entry\0")
        .chain_update(&entry[..ENTRY_LEN_V1])
        .finalize();
    let mut check = [0; 16];
    check.copy_from_slice(&digest[..16]);
    check
}

fn encode_entry(key: &SubjectKey, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&key.lookup);
    out.extend_from_slice(&key.key_id);
    out.extend_from_slice(&key.secret);
    let check = check(&out[start..]);
    out.extend_from_slice(&check);
}

/// An entry's key; `None` for a format-2 entry whose check fails.
fn decode_entry(entry: &[u8], checked: bool) -> Option<SubjectKey> {
    if checked && entry[ENTRY_LEN_V1..ENTRY_LEN] != check(entry) {
        return None;
    }
    let mut key = SubjectKey {
        lookup: [0; 32],
        key_id: [0; 16],
        secret: [0; 32],
    };
    key.lookup.copy_from_slice(&entry[..32]);
    key.key_id.copy_from_slice(&entry[32..48]);
    key.secret.copy_from_slice(&entry[48..80]);
    Some(key)
}

/// Sorts keys by lookup, a later one for a lookup winning; in place.
fn sort_last_wins(keys: &mut Vec<SubjectKey>) {
    // Reversed, a stable sort puts the last of equal lookups first, and
    // `dedup` keeps the first of each run.
    keys.reverse();
    keys.sort_by_key(|key| key.lookup);
    keys.dedup_by_key(|key| key.lookup);
}

/// How the entries of an open key file are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    /// Format 2 (checked entries, a tail) or format 1.
    v2: bool,
    /// Where the body starts.
    start: u64,
    entry_len: u64,
    /// Entries in the body.
    sorted: u64,
    /// The file id (format 2).
    id: [u8; 8],
}

impl Layout {
    fn read(path: &Path, file: &File, len: u64) -> Result<Layout, StoreError> {
        let mut header = [0u8; HEADER_V2 as usize];
        let got = read_at_most(path, file, &mut header, 0)?;
        if got >= 16 && header[..16] == MAGIC_V1[..] {
            let body = len - 16;
            if !body.is_multiple_of(ENTRY_LEN_V1 as u64) {
                return Err(corrupt(path, "its length is not a whole number of entries"));
            }
            return Ok(Layout {
                v2: false,
                start: 16,
                entry_len: ENTRY_LEN_V1 as u64,
                sorted: body / ENTRY_LEN_V1 as u64,
                id: [0; 8],
            });
        }
        if got < HEADER_V2 as usize || header[..16] != MAGIC_V2[..] {
            return Err(corrupt(path, "not a theseus key file"));
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(&header[16..24]);
        let sorted = u64::from_le_bytes(count);
        let mut id = [0u8; 8];
        id.copy_from_slice(&header[24..32]);
        let body_end = sorted
            .checked_mul(ENTRY_LEN as u64)
            .and_then(|bytes| bytes.checked_add(HEADER_V2));
        if body_end.is_none_or(|end| end > len) {
            return Err(corrupt(path, "it is shorter than its sorted entries"));
        }
        Ok(Layout {
            v2: true,
            start: HEADER_V2,
            entry_len: ENTRY_LEN as u64,
            sorted,
            id,
        })
    }

    fn body_end(&self) -> u64 {
        self.start + self.sorted * self.entry_len
    }
}

fn read_at_most(
    path: &Path,
    file: &File,
    buffer: &mut [u8],
    offset: u64,
) -> Result<usize, StoreError> {
    let mut got = 0;
    while got < buffer.len() {
        match file.read_at(&mut buffer[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(read) => got += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(StoreError::io(path, error)),
        }
    }
    Ok(got)
}

/// The key file mapped read-only, for a transaction's searches.
#[allow(unsafe_code)]
fn map_file(file: &File) -> Option<memmap2::Mmap> {
    // SAFETY: the key file is 0600 and changed only by theseus writers
    // holding the store's exclusive lock, which the transaction that owns
    // this reader holds for the mapping's whole life; the reader is dropped
    // before its own transaction appends to the file or cuts a torn append
    // (`add_keys`), and a rewrite renames a new file over the old, which
    // leaves this mapping valid. Someone outside theseus truncating the
    // file meanwhile would fault the process (SIGBUS); editing it is what
    // the entries' checks catch.
    let map = unsafe { memmap2::MmapOptions::new().map(file).ok()? };
    // A search touches two or three pages: without this hint each fault
    // also maps the pages around it, and the process's resident memory
    // would follow the file's size.
    let _ = map.advise(memmap2::Advice::Random);
    Some(map)
}

/// Hands a mapping's pages back (they stay in the page cache).
#[allow(unsafe_code)]
fn release(map: &memmap2::Mmap) {
    // SAFETY: a read-only mapping of a file: after `DontNeed` the next
    // access reads the file's pages again, unchanged.
    let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
}

fn read_exact_at(
    path: &Path,
    file: &File,
    buffer: &mut [u8],
    offset: u64,
) -> Result<(), StoreError> {
    if read_at_most(path, file, buffer, offset)? < buffer.len() {
        return Err(corrupt(path, "it ended inside its sorted entries"));
    }
    Ok(())
}

/// Reads whole checked entries from `offset` to `len`, stopping at the
/// first torn one; gives them and where the whole ones end.
fn read_tail(
    path: &Path,
    file: &File,
    offset: u64,
    len: u64,
    mut each: impl FnMut(SubjectKey),
) -> Result<u64, StoreError> {
    let mut at = offset;
    let mut buffer = vec![0u8; ENTRY_LEN * 1024];
    while at + ENTRY_LEN as u64 <= len {
        let want = ((len - at) / ENTRY_LEN as u64).min(1024) as usize * ENTRY_LEN;
        let got = read_at_most(path, file, &mut buffer[..want], at)?;
        let whole = got - got % ENTRY_LEN;
        for entry in buffer[..whole].chunks_exact(ENTRY_LEN) {
            match decode_entry(entry, true) {
                Some(key) => each(key),
                None => return Ok(at),
            }
            at += ENTRY_LEN as u64;
        }
        if whole < want {
            break;
        }
    }
    Ok(at)
}

/// An open key file as a transaction searches it: the body on disk, the
/// tail in memory (bounded: see the module doc).
#[derive(Debug)]
pub(crate) struct KeyReader {
    path: PathBuf,
    /// `None`: there is no key file.
    file: Option<(File, Layout)>,
    /// The tail, sorted, a later entry for a lookup winning.
    tail: Vec<SubjectKey>,
    /// Where the whole entries end (a torn append is cut here).
    end: u64,
    /// The file mapped, for the body's search: a lookup then costs a
    /// memory access, not two `pread`s (about 2 µs each); `None` for an
    /// empty file or when it cannot be mapped (the search reads instead).
    map: Option<memmap2::Mmap>,
    /// Searches since the mapped pages were last handed back.
    searches: AtomicU64,
}

/// The mapped pages are handed back to the page cache after this many
/// searches, so that resident memory follows the batch, not the file.
const RELEASE_EVERY: u64 = 4096;

impl KeyReader {
    /// Opens the key file of the store in `dir`; no file is no keys.
    pub(crate) fn open(dir: &Path) -> Result<KeyReader, StoreError> {
        let path = key_file(dir);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(KeyReader {
                    path,
                    file: None,
                    tail: Vec::new(),
                    end: 0,
                    map: None,
                    searches: AtomicU64::new(0),
                })
            }
            Err(error) => return Err(StoreError::io(&path, error)),
        };
        let len = file
            .metadata()
            .map_err(|error| StoreError::io(&path, error))?
            .len();
        let layout = Layout::read(&path, &file, len)?;
        let mut tail = Vec::new();
        let end = if layout.v2 {
            read_tail(&path, &file, layout.body_end(), len, |key| tail.push(key))?
        } else {
            len
        };
        sort_last_wins(&mut tail);
        let map = if len > 0 { map_file(&file) } else { None };
        Ok(KeyReader {
            path,
            file: Some((file, layout)),
            tail,
            end,
            map,
            searches: AtomicU64::new(0),
        })
    }

    /// The key under `lookup`.
    pub(crate) fn find(&self, lookup: &[u8; 32]) -> Result<Option<SubjectKey>, StoreError> {
        if let Ok(at) = self.tail.binary_search_by(|key| key.lookup.cmp(lookup)) {
            return Ok(Some(self.tail[at].clone()));
        }
        let Some((file, layout)) = &self.file else {
            return Ok(None);
        };
        if let Some(map) = &self.map {
            if self.searches.fetch_add(1, Ordering::Relaxed) % RELEASE_EVERY == RELEASE_EVERY - 1 {
                release(map);
            }
        }
        self.search_body(file, layout, lookup)
    }

    /// Interpolation search: lookups are uniform digests, so the entry's
    /// place is close to what its first bytes predict; each miss narrows
    /// the range and the bounds' keys, and after a few the search bisects.
    fn search_body(
        &self,
        file: &File,
        layout: &Layout,
        lookup: &[u8; 32],
    ) -> Result<Option<SubjectKey>, StoreError> {
        let prefix = |bytes: &[u8]| {
            let mut first = [0u8; 8];
            first.copy_from_slice(&bytes[..8]);
            u128::from(u64::from_be_bytes(first))
        };
        let target = prefix(lookup);
        let (mut low, mut high) = (0u64, layout.sorted);
        let (mut low_key, mut high_key) = (0u128, 1u128 << 64);
        let entry_len = layout.entry_len as usize;
        let mut buffer = match self.map {
            Some(_) => Vec::new(),
            None => vec![0u8; WINDOW as usize * entry_len],
        };
        let mut tries = 0;
        while low < high {
            let (from, to) = if high - low <= WINDOW {
                (low, high)
            } else {
                let span = high - low;
                let guess = if tries < 4 && high_key > low_key {
                    let offset =
                        target.saturating_sub(low_key) * u128::from(span) / (high_key - low_key);
                    low + (offset as u64).min(span - 1)
                } else {
                    low + span / 2
                };
                // The first read only learns how far off the guess is (a
                // few entries); the next, a window, mostly finds the entry.
                let window = if tries == 0 { PROBE } else { WINDOW };
                let from = guess.saturating_sub(window / 2).max(low);
                let to = (from + window).min(high);
                (to - window.min(to - low), to)
            };
            tries += 1;
            let offset = layout.start + from * layout.entry_len;
            let len = (to - from) as usize * entry_len;
            let bytes: &[u8] = match &self.map {
                Some(map) => usize::try_from(offset)
                    .ok()
                    .and_then(|start| map.get(start..start.checked_add(len)?))
                    .ok_or_else(|| corrupt(&self.path, "it ended inside its sorted entries"))?,
                None => {
                    let bytes = &mut buffer[..len];
                    read_exact_at(&self.path, file, bytes, offset)?;
                    bytes
                }
            };
            let entries: Vec<&[u8]> = bytes.chunks_exact(entry_len).collect();
            let (first, last) = (entries[0], entries[entries.len() - 1]);
            if lookup[..] < first[..32] {
                high = from;
                high_key = prefix(first);
                continue;
            }
            if lookup[..] > last[..32] {
                low = to;
                low_key = prefix(last);
                continue;
            }
            return match entries.binary_search_by(|entry| entry[..32].cmp(&lookup[..])) {
                Ok(at) => decode_entry(entries[at], layout.v2)
                    .map(Some)
                    .ok_or_else(|| corrupt(&self.path, "an entry's check fails")),
                Err(_) => Ok(None),
            };
        }
        Ok(None)
    }

    /// Entries the tail may hold before the file is rewritten.
    fn tail_bound(&self) -> u64 {
        let sorted = self.file.as_ref().map_or(0, |(_, layout)| layout.sorted);
        MIN_TAIL.max(sorted / TAIL_FRACTION)
    }
}

/// Makes `added` (sorted by lookup) durable in the key file of the store in
/// `dir`: appended to the tail, or, for a file of format 1, a missing file
/// or a tail past its bound, by a rewrite. `reader` is the transaction's
/// (opened now if it has none).
pub(crate) fn add_keys(
    dir: &Path,
    reader: Option<KeyReader>,
    added: Vec<SubjectKey>,
) -> Result<(), StoreError> {
    if added.is_empty() {
        return Ok(());
    }
    let reader = match reader {
        Some(reader) => reader,
        None => KeyReader::open(dir)?,
    };
    let appendable = match &reader.file {
        Some((_, layout)) => {
            layout.v2 && reader.tail.len() as u64 + added.len() as u64 <= reader.tail_bound()
        }
        None => false,
    };
    if !appendable {
        drop(reader);
        return rewrite_keys(dir, added, &[]);
    }
    let path = reader.path.clone();
    let end = reader.end;
    drop(reader);
    let mut bytes = Vec::with_capacity(added.len() * ENTRY_LEN);
    for key in &added {
        encode_entry(key, &mut bytes);
    }
    let appended = (|| {
        let file = OpenOptions::new().write(true).open(&path)?;
        // Cut a torn append (a crashed batch's) before appending.
        if file.metadata()?.len() != end {
            file.set_len(end)?;
        }
        file.write_all_at(&bytes, end)?;
        // Data and length: the records that follow may name these keys.
        file.sync_data()
    })();
    appended.map_err(|error| StoreError::io(&path, error))
}

/// Rewrites the key file of the store in `dir` whole, in format 2: its
/// entries with `added` (which win), without `removed`, all in the body.
/// Durably: a temporary file written and synced, renamed over the old one,
/// the directory synced. Memory: the tail, `added` and a buffer; the body
/// is streamed.
pub(crate) fn rewrite_keys(
    dir: &Path,
    added: Vec<SubjectKey>,
    removed: &[[u8; 32]],
) -> Result<(), StoreError> {
    let mut reader = KeyReader::open(dir)?;
    let mut extra = if reader.tail.is_empty() {
        added
    } else {
        let mut extra = std::mem::take(&mut reader.tail);
        extra.extend(added);
        extra
    };
    sort_last_wins(&mut extra);
    let removed: std::collections::HashSet<[u8; 32]> = removed.iter().copied().collect();
    let path = key_file(dir);
    let temporary = dir.join(format!("{KEY_FILE_NAME}.new"));
    let mut id = [0u8; 8];
    getrandom::fill(&mut id)
        .map_err(|error| StoreError::io(&temporary, std::io::Error::other(error.to_string())))?;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(|error| StoreError::io(&temporary, error))?;
    let io = |error| StoreError::io(&temporary, error);
    let mut out = BufWriter::with_capacity(1 << 16, file);
    // The count is written once known.
    out.write_all(MAGIC_V2).map_err(io)?;
    out.write_all(&[0; 8]).map_err(io)?;
    out.write_all(&id).map_err(io)?;
    let mut written = 0u64;
    let mut entry = Vec::with_capacity(ENTRY_LEN);
    // `raw`: the entry as the old file holds it, checked already and in
    // format 2, copied as it is (its check is a digest of its other bytes,
    // so encoding it again would only compute the same check twice more).
    let mut emit = |key: &SubjectKey,
                    raw: Option<&[u8]>,
                    out: &mut BufWriter<File>|
     -> Result<(), StoreError> {
        if !removed.is_empty() && removed.contains(&key.lookup) {
            return Ok(());
        }
        written += 1;
        match raw {
            Some(raw) => out.write_all(raw).map_err(io),
            None => {
                entry.clear();
                encode_entry(key, &mut entry);
                out.write_all(&entry).map_err(io)
            }
        }
    };
    let mut next = extra.iter().peekable();
    if let Some((file, layout)) = &reader.file {
        let entry_len = layout.entry_len as usize;
        let mut buffer = vec![0u8; 1024 * entry_len];
        let mut previous: Option<[u8; 32]> = None;
        let mut at = 0u64;
        while at < layout.sorted {
            let count = (layout.sorted - at).min(1024);
            let bytes = &mut buffer[..count as usize * entry_len];
            read_exact_at(
                &reader.path,
                file,
                bytes,
                layout.start + at * layout.entry_len,
            )?;
            for raw in bytes.chunks_exact(entry_len) {
                let key = decode_entry(raw, layout.v2)
                    .ok_or_else(|| corrupt(&reader.path, "an entry's check fails"))?;
                if previous.is_some_and(|previous| previous >= key.lookup) {
                    return Err(corrupt(&reader.path, "its entries are not sorted"));
                }
                previous = Some(key.lookup);
                while let Some(later) = next.next_if(|later| later.lookup < key.lookup) {
                    emit(later, None, &mut out)?;
                }
                match next.next_if(|later| later.lookup == key.lookup) {
                    Some(later) => emit(later, None, &mut out)?,
                    None => emit(&key, layout.v2.then_some(raw), &mut out)?,
                }
            }
            at += count;
        }
    }
    for later in next {
        emit(later, None, &mut out)?;
    }
    drop(reader);
    let file = out.into_inner().map_err(|error| io(error.into_error()))?;
    let finished = (|| {
        file.write_all_at(&written.to_le_bytes(), 16)?;
        file.sync_all()
    })();
    finished.map_err(io)?;
    drop(file);
    std::fs::rename(&temporary, &path).map_err(|error| StoreError::io(&path, error))?;
    crate::file::sync_dir(dir)
}

/// The key file's entries by key id, as last read, and the file they were
/// read from: reading a sealed reference's key costs a `stat`, not a read
/// of the whole file, while the file is unchanged. A file grown by appends
/// (same device, inode and file id, longer) is read from where the last
/// read stopped; a rewrite (a rename: a new inode and a new file id, in
/// this process or another) is read again whole.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    // Boxed: a store that never reads a key carries a pointer, not a stamp.
    read: std::sync::Mutex<Option<Box<(FileStamp, KeysById)>>>,
}

/// Device, inode, length, modification time, layout, and where the whole
/// entries read end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    layout: Layout,
    end: u64,
}

type KeysById = HashMap<[u8; 16], SubjectKey>;

impl KeyCache {
    /// The key whose id is `key_id`, from the key file of the store in
    /// `dir` as it is now.
    pub(crate) fn by_id(
        &self,
        dir: &Path,
        key_id: &[u8; 16],
    ) -> Result<Option<SubjectKey>, StoreError> {
        use std::os::unix::fs::MetadataExt;
        let path = key_file(dir);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(StoreError::io(&path, error)),
        };
        // The stamp of the file opened, so that what is read is what the
        // stamp names even if the file is replaced meanwhile.
        let meta = file
            .metadata()
            .map_err(|error| StoreError::io(&path, error))?;
        let (dev, ino, len, mtime) = (
            meta.dev(),
            meta.ino(),
            meta.len(),
            (meta.mtime(), meta.mtime_nsec()),
        );
        let mut read = self
            .read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let unchanged = read.as_deref().is_some_and(|(seen, _)| {
            (seen.dev, seen.ino, seen.len, seen.mtime) == (dev, ino, len, mtime)
        });
        if !unchanged {
            let layout = Layout::read(&path, &file, len)?;
            let grown = read.as_deref_mut().filter(|(seen, _)| {
                (seen.dev, seen.ino) == (dev, ino)
                    && seen.layout == layout
                    && layout.v2
                    && seen.end <= len
            });
            let (from, mut by_id) = match grown {
                Some((seen, by_id)) => (seen.end, std::mem::take(by_id)),
                None => (layout.start, KeysById::new()),
            };
            let end = if layout.v2 {
                // Body and tail alike: entries with their checks.
                let body_end = layout.body_end();
                if from < body_end {
                    let ended = read_tail(&path, &file, from, body_end, |key| {
                        by_id.insert(key.key_id, key);
                    })?;
                    if ended < body_end {
                        return Err(corrupt(&path, "an entry's check fails"));
                    }
                }
                read_tail(&path, &file, from.max(body_end), len, |key| {
                    by_id.insert(key.key_id, key);
                })?
            } else {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)
                    .map_err(|error| StoreError::io(&path, error))?;
                for entry in bytes[16..].chunks_exact(ENTRY_LEN_V1) {
                    if let Some(key) = decode_entry(entry, false) {
                        by_id.insert(key.key_id, key);
                    }
                }
                len
            };
            let stamp = FileStamp {
                dev,
                ino,
                len,
                mtime,
                layout,
                end,
            };
            *read = Some(Box::new((stamp, by_id)));
        }
        Ok(read
            .as_deref()
            .and_then(|(_, by_id)| by_id.get(key_id).cloned()))
    }
}

/// A transaction's keys: what it added and removed, and when each must
/// reach the disk. Committed keys stay in the store: a transaction holds
/// only the ones it touches.
#[derive(Debug, Default)]
pub(crate) struct StagedKeys {
    /// By lookup, without repeating it in the value: a one-million-event
    /// import adds a key per new subject (378,458 in the benchmark's), and
    /// 48 bytes a value instead of 80 is about 12 MB less for its table
    /// (half a million buckets; computed, not measured apart).
    added: HashMap<[u8; 32], StagedKey>,
    pub(crate) removed: Vec<[u8; 32]>,
    /// A key removed, then added again: the old entry must go after the
    /// records, by a rewrite (in which the later entry wins).
    pub(crate) replaced: bool,
}

/// An added key's value in [`StagedKeys`]; its lookup is the map's key.
#[derive(Clone, Copy)]
struct StagedKey {
    key_id: [u8; 16],
    secret: [u8; 32],
}

impl fmt::Debug for StagedKey {
    // Never print the secret.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("StagedKey").finish_non_exhaustive()
    }
}

fn unstaged(lookup: [u8; 32], staged: StagedKey) -> SubjectKey {
    SubjectKey {
        lookup,
        key_id: staged.key_id,
        secret: staged.secret,
    }
}

impl StagedKeys {
    /// The key under `lookup` as the transaction sees it; `committed`
    /// finds it among the store's.
    pub(crate) fn get(
        &self,
        committed: impl FnOnce(&[u8; 32]) -> Result<Option<SubjectKey>, StoreError>,
        lookup: &[u8; 32],
    ) -> Result<Option<SubjectKey>, StoreError> {
        if self.removed.contains(lookup) {
            return Ok(None);
        }
        if let Some(staged) = self.added.get(lookup) {
            return Ok(Some(unstaged(*lookup, *staged)));
        }
        committed(lookup)
    }

    pub(crate) fn add(&mut self, key: SubjectKey) {
        self.replaced |= self.removed.contains(&key.lookup);
        self.removed.retain(|lookup| *lookup != key.lookup);
        self.added.insert(
            key.lookup,
            StagedKey {
                key_id: key.key_id,
                secret: key.secret,
            },
        );
    }

    pub(crate) fn remove(&mut self, lookup: [u8; 32]) {
        self.added.remove(&lookup);
        if !self.removed.contains(&lookup) {
            self.removed.push(lookup);
        }
    }

    /// Whether the file must be rewritten after the records.
    pub(crate) fn rewrite_after_records(&self) -> bool {
        self.replaced || !self.removed.is_empty()
    }

    /// The keys added, sorted by lookup, taken from the transaction.
    pub(crate) fn take_added_sorted(&mut self) -> Vec<SubjectKey> {
        let mut added = Vec::with_capacity(self.added.len());
        added.extend(
            std::mem::take(&mut self.added)
                .into_iter()
                .map(|(lookup, staged)| unstaged(lookup, staged)),
        );
        added.sort_unstable_by_key(|key| key.lookup);
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u64) -> SubjectKey {
        // Lookups spread like the ledger's digests.
        let digest = |label: &[u8]| {
            Sha256::new()
                .chain_update(label)
                .chain_update(seed.to_le_bytes())
                .finalize()
        };
        let mut key = SubjectKey {
            lookup: [0; 32],
            key_id: [0; 16],
            secret: [0; 32],
        };
        key.lookup.copy_from_slice(&digest(b"lookup"));
        key.key_id.copy_from_slice(&digest(b"id")[..16]);
        key.secret.copy_from_slice(&digest(b"secret"));
        key
    }

    fn sorted(keys: impl IntoIterator<Item = SubjectKey>) -> Vec<SubjectKey> {
        let mut keys: Vec<SubjectKey> = keys.into_iter().collect();
        keys.sort_by_key(|key| key.lookup);
        keys
    }

    fn find(dir: &Path, lookup: &[u8; 32]) -> Option<SubjectKey> {
        KeyReader::open(dir)
            .expect("open")
            .find(lookup)
            .expect("find")
    }

    #[test]
    fn keys_added_by_appends_and_rewrites_are_all_found_and_absent_ones_are_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Past the tail's bound: rewrites and appends both happen.
        let batches = 12u64;
        let per_batch = 1500u64;
        for batch in 0..batches {
            let added = sorted((0..per_batch).map(|n| key(batch * per_batch + n)));
            add_keys(dir.path(), None, added).expect("add");
        }
        let reader = KeyReader::open(dir.path()).expect("open");
        let (_, layout) = reader.file.as_ref().expect("a file");
        assert!(
            layout.v2 && layout.sorted > 0 && !reader.tail.is_empty(),
            "{layout:?}"
        );
        for n in 0..batches * per_batch {
            let wanted = key(n);
            assert_eq!(reader.find(&wanted.lookup).expect("find"), Some(wanted));
        }
        for n in batches * per_batch..batches * per_batch + 500 {
            assert_eq!(reader.find(&key(n).lookup).expect("find"), None);
        }
        let cache = KeyCache::default();
        assert_eq!(
            cache.by_id(dir.path(), &key(7).key_id).expect("by id"),
            Some(key(7))
        );
    }

    #[test]
    fn a_torn_append_is_not_read_and_the_next_append_cuts_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        add_keys(dir.path(), None, sorted((0..10).map(key))).expect("first");
        add_keys(dir.path(), None, sorted((10..20).map(key))).expect("second");
        let path = key_file(dir.path());
        let whole = std::fs::read(&path).expect("read");
        // A crash inside an append: an entry with its lookup but not the rest.
        let mut torn = whole.clone();
        let mut entry = Vec::new();
        encode_entry(&key(20), &mut entry);
        torn.extend_from_slice(&entry[..40]);
        torn.extend_from_slice(&[0; ENTRY_LEN - 40]);
        std::fs::write(&path, &torn).expect("tear");
        assert_eq!(find(dir.path(), &key(20).lookup), None);
        assert_eq!(find(dir.path(), &key(19).lookup), Some(key(19)));
        let cache = KeyCache::default();
        assert_eq!(cache.by_id(dir.path(), &key(20).key_id).expect("id"), None);
        add_keys(dir.path(), None, vec![key(21)]).expect("after the tear");
        let after = std::fs::read(&path).expect("read");
        assert_eq!(after[..whole.len()], whole[..]);
        assert_eq!(after.len(), whole.len() + ENTRY_LEN);
        assert_eq!(find(dir.path(), &key(21).lookup), Some(key(21)));
        // The cache reads the appended entry after the cut.
        assert_eq!(
            cache.by_id(dir.path(), &key(21).key_id).expect("id"),
            Some(key(21))
        );
    }

    #[test]
    fn a_format_1_file_is_read_and_rewritten_as_format_2_at_its_first_change() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = sorted((0..300).map(key));
        let mut bytes = MAGIC_V1.to_vec();
        for key in &old {
            bytes.extend_from_slice(&key.lookup);
            bytes.extend_from_slice(&key.key_id);
            bytes.extend_from_slice(&key.secret);
        }
        std::fs::write(key_file(dir.path()), &bytes).expect("write v1");
        for key in &old {
            assert_eq!(find(dir.path(), &key.lookup), Some(key.clone()));
        }
        assert_eq!(find(dir.path(), &key(300).lookup), None);
        let cache = KeyCache::default();
        assert_eq!(
            cache.by_id(dir.path(), &key(5).key_id).expect("id"),
            Some(key(5))
        );
        add_keys(dir.path(), None, vec![key(300)]).expect("add");
        let now = std::fs::read(key_file(dir.path())).expect("read");
        assert_eq!(&now[..16], MAGIC_V2);
        assert_eq!(now.len(), HEADER_V2 as usize + 301 * ENTRY_LEN);
        for n in 0..=300 {
            assert_eq!(find(dir.path(), &key(n).lookup), Some(key(n)));
        }
        assert_eq!(
            cache.by_id(dir.path(), &key(300).key_id).expect("id"),
            Some(key(300))
        );
    }

    #[test]
    fn removing_rewrites_without_the_secret_and_a_later_entry_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        add_keys(dir.path(), None, sorted((0..50).map(key))).expect("body");
        add_keys(dir.path(), None, sorted((50..60).map(key))).expect("tail");
        // A new key under an existing lookup (erased, then a new subject).
        let mut replacement = key(1000);
        replacement.lookup = key(3).lookup;
        add_keys(dir.path(), None, vec![replacement.clone()]).expect("replace");
        assert_eq!(find(dir.path(), &key(3).lookup), Some(replacement.clone()));
        let cache = KeyCache::default();
        assert!(cache
            .by_id(dir.path(), &key(55).key_id)
            .expect("id")
            .is_some());
        rewrite_keys(dir.path(), Vec::new(), &[key(55).lookup, key(10).lookup]).expect("remove");
        let bytes = std::fs::read(key_file(dir.path())).expect("read");
        let holds = |secret: &[u8; 32]| bytes.windows(32).any(|window| window == secret);
        assert!(!holds(&key(55).secret) && !holds(&key(10).secret));
        assert!(!holds(&key(3).secret), "the replaced key stays");
        assert!(holds(&replacement.secret));
        assert_eq!(bytes.len(), HEADER_V2 as usize + 58 * ENTRY_LEN);
        assert_eq!(find(dir.path(), &key(55).lookup), None);
        assert_eq!(find(dir.path(), &key(3).lookup), Some(replacement));
        assert_eq!(cache.by_id(dir.path(), &key(55).key_id).expect("id"), None);
        assert_eq!(
            cache.by_id(dir.path(), &key(56).key_id).expect("id"),
            Some(key(56))
        );
    }
}
