//! The file store: the log as JSON-lines segment files in a directory.
//!
//! Layout of a store directory `DIR`:
//!
//! * `DIR/*.jsonl`: the segments, in name order. Each is named by the
//!   position of its first record in 20 digits
//!   (`00000000000000000001.jsonl`) and holds one record per line (see
//!   `record.rs`). A new segment is started before a batch when the current
//!   one has reached [`FileStoreConfig::segment_bytes`]; a batch never spans
//!   segments, so a segment can exceed the limit by at most one batch.
//!   Only names of exactly that pattern (20 ASCII digits, then `.jsonl`)
//!   are the log; anything else is ignored (other `*.jsonl` names with a
//!   warning). A segment-named entry that is not a regular file (a link, a
//!   FIFO, a directory, a device) is corruption: it is never followed or
//!   waited on (see `segments.rs`).
//! * `DIR/subject-keys`: the subject keys (see [`crate::subject_keys`]),
//!   the one file beside the log that changes in place; not derived.
//! * `DIR/.theseus/`: derived data only (indexes, callers' derived
//!   artefacts), rebuilt from the log whenever missing, stale or damaged; the indexes in
//!   `DIR/.theseus/<key id>/` (`index/`). Callers'
//!   artefacts (checkpoints) are sealed with the derived-data key and kept
//!   per key, in `DIR/.theseus/<key id>/derived/` (`derived.rs`).
//!
//! Files are created 0600 and directories 0700: the log holds pseudonymous
//! personal data.
//!
//! Writers take an exclusive OS lock on the directory `DIR` itself (not on a
//! derived file, which may vanish) for a whole transaction. Readers never
//! wait for it: they read the committed prefix (up to the last batch end)
//! and take the lock only with `try_lock`, to see whether a writer is active
//! or to catch the indexes up when nobody else is writing.
//!
//! Durability, what is synced when:
//!
//! * `init`: the empty first segment (`sync_all`), then `DIR`;
//! * `begin`, removing a torn tail: the truncated segment (`sync_all`), or
//!   `DIR` after deleting a segment that held only the tail;
//! * `commit`: the segment's data (`sync_data`), then `DIR` if the batch
//!   started a segment; the commit returns only after both. Then the index
//!   entries are written, and `streams` and `head` renamed into place, none
//!   of them synced: an index left behind or torn by a crash is caught by
//!   its checks and caught up or rebuilt (see `index/mod.rs`). A rebuild
//!   syncs `ids` and `positions` and the index folder before `head` names
//!   them;
//! * a batch that adds subject keys: its keys appended to the key file and
//!   the file synced (or, when the file is rewritten, written aside,
//!   synced, renamed, `DIR` synced) before the segment; one that removes
//!   keys: the key file rewritten that way after the segment is durable
//!   (see `subject_keys.rs`);
//! * a dropped transaction and `save_derived`: nothing.
//!
//! Codemap: `segments.rs` (names, chunked line reading), `seek.rs` (finding
//! a position by bisection, without derived files), `tail.rs` (the head
//! and torn tails), `index/` (derived indexes: `ids.rs`, `positions.rs`,
//! `head.rs`), `transaction.rs`
//! (appending, and what is synced when), `verify.rs`, `derived.rs`.

pub(crate) mod derived;
pub(crate) mod index;
mod seek;
pub(crate) mod segments;
pub(crate) mod tail;
pub(crate) mod transaction;
pub(crate) mod verify;

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::record::decode_record;
use crate::{
    system_clock, AppendTransaction, Clock, DerivedKey, Envelope, EnvelopeRef, EventStore, Hash,
    Head, Range, Stamp, StoreError, SubjectKey, VerifyReport,
};

use index::{hinted_line, Hint, IndexPlace, IndexReader, IndexWriter};
use segments::{
    list_dir, list_segments, open_read, read_line_at, segment_for, segment_name, LineReader,
    RecordCursor, READ_CHUNK, REPLAY_CHUNK, SMALL_CHUNK,
};
use tail::{detect, LogView};

pub use tail::TornTail;
pub use verify::{Visited, Visitor};

/// Settings of a [`FileStore`].
#[derive(Debug, Clone)]
pub struct FileStoreConfig {
    /// A new segment is started before a batch once the current segment has
    /// at least this many bytes (a segment exceeds it by at most one batch).
    pub segment_bytes: u64,
    /// The clock that stamps batches (read under the writers' lock).
    pub clock: Clock,
    /// The key that authenticates derived files ([`crate::key`]), kept
    /// outside the store. `None`: no derived file is trusted; the store
    /// works from the log alone (slower, never wrong).
    pub key: Option<DerivedKey>,
    /// Told, one line each, about derived data that was found damaged,
    /// stale or unusable and was rebuilt or done without. The default
    /// prints `warning: …` on stderr; an embedding may log it instead.
    pub warn: Warn,
    /// How `verify` cuts a long log for its parallel pass; `None`: the
    /// defaults ([`VerifySplit`]). Only the speed depends on it, never
    /// what `verify` finds or reports (tests set it small so that a small
    /// log goes through the parallel pass, joins and all).
    pub verify_split: Option<VerifySplit>,
}

/// Where `verify` starts to read a log in parallel, and in what units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifySplit {
    /// Logs of fewer records are verified by one sequential pass (default
    /// 100,000).
    pub from_records: u64,
    /// The bytes of one unit of work, cut at line boundaries (default 16
    /// MiB, or 4 MiB when an audit rides on the pass).
    pub unit_bytes: u64,
}

/// Receives one warning line (no trailing newline).
pub type Warn = fn(&str);

/// The default [`Warn`]: `warning: MESSAGE` on stderr.
pub fn warn_on_stderr(message: &str) {
    eprintln!("warning: {message}");
}

impl Default for FileStoreConfig {
    /// The user's derived-data key from its usual place
    /// ([`DerivedKey::load_or_create`]); if there is none and none can be
    /// made, a warning and no key.
    fn default() -> FileStoreConfig {
        FileStoreConfig::warning_to(warn_on_stderr)
    }
}

impl FileStoreConfig {
    /// The default configuration with warnings sent to `warn` instead of
    /// stderr, the key's own warning included (a command line's `--quiet`,
    /// an embedding's log).
    pub fn warning_to(warn: Warn) -> FileStoreConfig {
        let key = match DerivedKey::load_or_create() {
            Ok(key) => Some(key),
            Err(error) => {
                warn(&format!("{error}; derived data is not used"));
                None
            }
        };
        FileStoreConfig {
            segment_bytes: 64 << 20,
            clock: system_clock,
            key,
            warn,
            verify_split: None,
        }
    }
}

/// A log kept as JSON-lines segments in a directory.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    config: FileStoreConfig,
    /// The torn tail seen when the store was opened.
    torn_at_open: Option<TornTail>,
    /// `*.jsonl` names without a segment's name, seen when it was opened.
    strays_at_open: Vec<String>,
    /// The last view of the log, reused while the directory and the last
    /// segment's length are unchanged.
    view: Mutex<Option<Arc<LogView>>>,
    /// The view and index opened by an earlier `get`, reused for index hits
    /// (see [`FileStore::get_cached`]).
    lookups: Mutex<Option<(Arc<LogView>, IndexReader)>>,
    /// Callers' derived artefacts, sealed with the key (`derived.rs`).
    derived: derived::Derived,
    /// A problem with the derived indexes has been told (once a store).
    index_warned: AtomicBool,
    /// The subject keys by id, read again when the key file changes.
    subject_keys: crate::subject_keys::KeyCache,
}

/// The writers' exclusive lock on the store directory, released on drop.
#[derive(Debug)]
pub(crate) struct DirLock {
    file: File,
}

impl DirLock {
    /// Waits for the lock.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        let file = File::open(dir).map_err(|error| StoreError::io(dir, error))?;
        file.lock().map_err(|error| StoreError::io(dir, error))?;
        Ok(DirLock { file })
    }

    /// Takes the lock if nobody holds it.
    pub(crate) fn try_acquire(dir: &Path) -> Result<Option<DirLock>, StoreError> {
        let file = File::open(dir).map_err(|error| StoreError::io(dir, error))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(DirLock { file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(error)) => Err(StoreError::io(dir, error)),
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first just
        // makes the release not depend on other copies of the descriptor.
        let _ = self.file.unlock();
    }
}

/// Makes directory entries (created or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|file| file.sync_all())
        .map_err(|error| StoreError::io(dir, error))
}

/// Reads the record an index points at and checks it is the one expected:
/// at `position`, with `id` if given, within the view. `None` when the hint
/// was wrong.
pub(crate) fn read_checked(
    view: &LogView,
    position: u64,
    offset: u64,
    id: Option<Uuid>,
) -> Result<Option<Envelope>, StoreError> {
    if position == 0 || position > view.head.position {
        return Ok(None);
    }
    let Some(segment) = segment_for(&view.segments, position) else {
        return Ok(None);
    };
    let Some(line) = hinted_line(&view.segments[segment].path, offset)? else {
        return Ok(None);
    };
    match decode_record(&line) {
        Ok(record) if record.position == position && id.is_none_or(|id| id == record.id) => {
            Ok(Some(record.to_owned_envelope()?))
        }
        _ => Ok(None),
    }
}

impl FileStore {
    /// Creates a store in `dir` with an empty first segment. A missing
    /// directory is created (0700, and any missing parents); an existing
    /// empty one is used and made 0700. Refused: a directory that holds a
    /// store ([`StoreError::AlreadyExists`]), one that holds anything else
    /// ([`StoreError::NotEmpty`]: the log would share it with files that are
    /// not the log's, and a directory someone else made is not ours to
    /// chmod), and a path that is not a directory
    /// ([`StoreError::NotADirectory`]).
    pub fn init(dir: impl AsRef<Path>, config: FileStoreConfig) -> Result<FileStore, StoreError> {
        let dir = dir.as_ref();
        match std::fs::metadata(dir) {
            Ok(metadata) if !metadata.is_dir() => {
                return Err(StoreError::NotADirectory {
                    path: dir.to_path_buf(),
                })
            }
            Ok(_) => {
                let listing = list_dir(dir)?;
                if !listing.segments.is_empty() {
                    return Err(StoreError::AlreadyExists {
                        dir: dir.to_path_buf(),
                    });
                }
                let mut entries =
                    std::fs::read_dir(dir).map_err(|error| StoreError::io(dir, error))?;
                if entries.next().is_some() {
                    return Err(StoreError::NotEmpty {
                        dir: dir.to_path_buf(),
                    });
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|error| StoreError::io(dir, error))?;
            }
            Err(error) => return Err(StoreError::io(dir, error)),
        }
        // Whatever the umask, and for an existing empty directory (which
        // may have been made 0755): the log holds pseudonymous personal data.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|error| StoreError::io(dir, error))?;
        let path = dir.join(segment_name(1));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::AlreadyExists => StoreError::AlreadyExists {
                    dir: dir.to_path_buf(),
                },
                _ => StoreError::io(&path, error),
            })?;
        file.sync_all()
            .map_err(|error| StoreError::io(&path, error))?;
        sync_dir(dir)?;
        FileStore::open(dir, config)
    }

    /// Opens the store in `dir`; [`StoreError::Missing`] if there is none
    /// (a store is never created implicitly), [`StoreError::NotADirectory`]
    /// for a file. Opening succeeds on a damaged log; reads, appends and
    /// `verify` then report the damage.
    pub fn open(dir: impl AsRef<Path>, config: FileStoreConfig) -> Result<FileStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let mut strays_at_open = Vec::new();
        match list_dir(&dir) {
            Ok(listing) if listing.segments.is_empty() => return Err(StoreError::Missing { dir }),
            Ok(listing) => strays_at_open = listing.strays,
            Err(StoreError::Corrupt { .. }) => {}
            Err(error) => return Err(error),
        }
        let derived = derived::Derived::new(&dir, config.key.clone(), config.warn);
        let mut store = FileStore {
            dir,
            config,
            derived,
            torn_at_open: None,
            strays_at_open,
            view: Mutex::new(None),
            lookups: Mutex::new(None),
            index_warned: AtomicBool::new(false),
            subject_keys: Default::default(),
        };
        match store.current_view() {
            Ok(view) => store.torn_at_open = view.torn.clone(),
            Err(error) if error.is_integrity() => {}
            Err(error) => return Err(error),
        }
        Ok(store)
    }

    /// A message for humans about files in the store's directory that look
    /// like log data (`*.jsonl`) but do not have a segment's name, found
    /// when the store was opened: they are not part of the log.
    pub fn stray_files_warning(&self) -> Option<String> {
        if self.strays_at_open.is_empty() {
            return None;
        }
        Some(format!(
            "{}: ignoring {}: not a segment name (20 digits giving the first position, then .jsonl), so not part of the log",
            self.dir.display(),
            self.strays_at_open.join(", ")
        ))
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store's settings.
    pub fn config(&self) -> &FileStoreConfig {
        &self.config
    }

    /// Where this store's indexes live for the configured key
    /// (`DIR/.theseus/<key id>`); `None` without a key.
    pub fn index_dir(&self) -> Option<PathBuf> {
        self.index_place().map(|place| place.dir().to_path_buf())
    }

    pub(crate) fn index_place(&self) -> Option<IndexPlace> {
        IndexPlace::of(&self.dir, self.config.key.as_ref())
    }

    /// Tells the configured [`Warn`] about a problem with the derived
    /// indexes, the first time only: a damaged file is rebuilt and said
    /// once, not at every lookup.
    pub(crate) fn warn_once(&self, message: &str) {
        if !self.index_warned.swap(true, Ordering::Relaxed) {
            (self.config.warn)(message);
        }
    }

    /// Says once that `.theseus` is not a folder, for the indexes and the
    /// checkpoints together; no other index warning follows.
    pub(crate) fn warn_theseus_not_a_folder(&self) {
        self.index_warned.store(true, Ordering::Relaxed);
        self.derived.say_theseus_not_a_folder();
    }

    /// The torn tail found when the store was opened: bytes after the last
    /// committed batch, left by a crash (or, when another process is
    /// appending, its batch in progress). Readers never see it; the next
    /// append removes it.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn_at_open.as_ref()
    }

    /// A message for humans about a torn tail, only if there is one now and
    /// no writer holds the lock (a writer's batch in progress looks the same
    /// and is no reason to worry).
    /// [`EventStore::verify`], adding the number of records checked to
    /// `progress` as it goes (for a progress line on long logs).
    pub fn verify_counted(
        &self,
        expect_head: Option<(u64, Hash)>,
        progress: &std::sync::atomic::AtomicU64,
    ) -> Result<VerifyReport, StoreError> {
        let view = self.fresh_view()?;
        verify::verify(&view, expect_head, Some(progress), self.config.verify_split)
    }

    /// [`FileStore::verify_counted`] with `visitor` called on every record
    /// as the store's parallel pass reads it and `take` given its parts in
    /// position order (see [`verify::Visitor`]): for an audit that needs
    /// no read of its own. With [`verify::Visited::NotAll`] (a small log,
    /// one core, or a fault), the caller reads the log itself.
    pub fn verify_visited<V: verify::Visitor>(
        &self,
        expect_head: Option<(u64, Hash)>,
        progress: &std::sync::atomic::AtomicU64,
        visitor: &V,
        take: &mut dyn FnMut(V::Part),
    ) -> Result<(VerifyReport, verify::Visited), StoreError> {
        let view = self.fresh_view()?;
        verify::verify_visited(
            &view,
            expect_head,
            Some(progress),
            self.config.verify_split,
            visitor,
            take,
        )
    }

    pub fn torn_tail_warning(&self) -> Option<String> {
        let lock = DirLock::try_acquire(&self.dir).ok()??;
        let view = self.fresh_view().ok();
        drop(lock);
        let torn = view?.torn.clone()?;
        Some(format!(
            "{}: {} bytes after the last complete batch (position {}) were left by an interrupted append ({} complete records); they are not part of the log and the next append removes them",
            torn.segment.display(),
            torn.len,
            self.current_view().map(|view| view.head.position).unwrap_or(0),
            torn.records
        ))
    }

    /// Looks at the directory again, without the cached view.
    fn fresh_view(&self) -> Result<Arc<LogView>, StoreError> {
        let view = Arc::new(detect(list_segments(&self.dir)?)?);
        if let Ok(mut cached) = self.view.lock() {
            *cached = Some(view.clone());
        }
        Ok(view)
    }

    /// The committed log now. The cached view is reused when nothing could
    /// have changed: the same segments, the same length of the last one, and
    /// no torn tail (a tail can be truncated and rewritten to the same
    /// length).
    fn current_view(&self) -> Result<Arc<LogView>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_view() {
                // A writer truncating a tail or deleting a segment it created
                // can pull bytes from under a look at the tail: look again.
                Err(StoreError::Io { .. }) if attempt < 3 => continue,
                other => return other,
            }
        }
    }

    fn try_view(&self) -> Result<Arc<LogView>, StoreError> {
        let segments = list_segments(&self.dir)?;
        let Some(last) = segments.last() else {
            return Err(StoreError::Missing {
                dir: self.dir.clone(),
            });
        };
        let last_len = std::fs::metadata(&last.path)
            .map_err(|error| StoreError::io(&last.path, error))?
            .len();
        if let Ok(cached) = self.view.lock() {
            if let Some(view) = cached.as_ref() {
                if view.torn.is_none() && view.last_len == last_len && view.segments == segments {
                    return Ok(view.clone());
                }
            }
        }
        let view = Arc::new(detect(segments)?);
        if let Ok(mut cached) = self.view.lock() {
            *cached = Some(view.clone());
        }
        Ok(view)
    }

    /// Catches the indexes up (or rebuilds them with `rebuild`) if no writer
    /// holds the lock; `false` if one does (readers never wait for writers).
    fn try_refresh_index(&self, rebuild: Option<&str>) -> Result<bool, StoreError> {
        if self.config.key.is_none() {
            return Ok(false);
        }
        let Some(lock) = DirLock::try_acquire(&self.dir)? else {
            return Ok(false);
        };
        let view = detect(list_segments(&self.dir)?)?;
        let result = IndexWriter::load_files(self, &view, rebuild);
        drop(lock);
        if let Ok(mut cache) = self.lookups.lock() {
            *cache = None;
        }
        match result {
            Ok(Some(_)) => Ok(true),
            Ok(None) => Ok(false),
            // A reader that cannot write the indexes (a read-only copy, a
            // full disk) still answers, from the log.
            Err(StoreError::Io { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Finds a record by id reading the log from `from` (the index's blind
    /// spot, or everything).
    pub(crate) fn find_by_scan(
        &self,
        view: &LogView,
        id: Uuid,
        from: u64,
    ) -> Result<Option<Envelope>, StoreError> {
        let mut found = None;
        self.scan_view(view, Range::new(from, view.head.position), &mut |record| {
            if record.id == id {
                found = Some(record.to_owned_envelope()?);
                // Stop early: a marker error that is filtered below.
                return Err(StoreError::Visitor(Box::new(Found)));
            }
            Ok(())
        })
        .or_else(|error| match error {
            StoreError::Visitor(inner) if inner.is::<Found>() => Ok(()),
            other => Err(other),
        })?;
        Ok(found)
    }

    /// Where the record at `position` starts, found in the log itself (see
    /// `seek.rs`): reading never opens or builds the writers' indexes, so
    /// that a report over a store without derived data costs what one over
    /// a store with it does, and writes nothing.
    fn locate(view: &LogView, position: u64) -> Result<(usize, u64), StoreError> {
        let segment_index =
            segment_for(&view.segments, position).ok_or_else(|| StoreError::Corrupt {
                location: format!("position {position}"),
                reason: "no segment holds it".into(),
            })?;
        if view.segments[segment_index].first == position {
            return Ok((segment_index, 0));
        }
        count_to(view, segment_index, position).map(|offset| (segment_index, offset))
    }

    fn scan_view(
        &self,
        view: &LogView,
        range: Range,
        visit: &mut dyn FnMut(&EnvelopeRef<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let from = range.from.max(1);
        let to = range.to.min(view.head.position);
        if from > to {
            return Ok(());
        }
        let (segment, offset) = FileStore::locate(view, from)?;
        // A short range (the tail after a checkpoint, the records a server
        // has not seen yet) is read through a small buffer: zeroing 4 MiB
        // for a few records cost more than reading them. A long one through
        // a buffer that stays in the core's cache (`REPLAY_CHUNK`).
        let chunk = if to - from < SHORT_SCAN {
            SMALL_CHUNK
        } else {
            REPLAY_CHUNK
        };
        let mut cursor = RecordCursor::new(view, segment, offset, from, chunk)?;
        while let Some(found) = cursor.next_record()? {
            let position = found.record.position;
            visit(&found.record)?;
            if position >= to {
                break;
            }
        }
        Ok(())
    }

    /// The record at `position` of the view (which must hold it).
    fn record_at(&self, view: &LogView, position: u64) -> Result<Envelope, StoreError> {
        self.record_with_previous(view, position)
            .map(|(_, record)| record)
    }

    /// The record at `position` of the view (which must hold it) and the
    /// hash stored in the record before it ([`Hash::GENESIS`] before the
    /// first): what a reader needs to check the record against the chain.
    /// One read serves both, since the line before ends right where this
    /// one starts.
    fn record_with_previous(
        &self,
        view: &LogView,
        position: u64,
    ) -> Result<(Hash, Envelope), StoreError> {
        let missing = || StoreError::Corrupt {
            location: format!("position {position}"),
            reason: "missing".into(),
        };
        let (segment_index, offset) = FileStore::locate(view, position)?;
        let segment = &view.segments[segment_index];
        let file = open_read(&segment.path)?;
        let io = |error| StoreError::io(&segment.path, error);
        // The bytes from the previous line's hash on, in one read.
        let before = if offset > 0 { PREVIOUS_SUFFIX } else { 0 };
        // A line before this one is at least as long as its hash suffix.
        let window_start =
            offset
                .checked_sub(before as u64)
                .ok_or_else(|| StoreError::Corrupt {
                    location: format!("{} at byte {offset}", segment.name),
                    reason: "the record before it is too short to end with a hash".into(),
                })?;
        let mut window = vec![0u8; WINDOW_BYTES];
        let read = read_full(&file, &mut window, window_start).map_err(io)?;
        let window = &window[..read];
        let rest = window.get(before..).ok_or_else(missing)?;
        let line = match memchr::memchr(b'\n', rest) {
            Some(end) => rest[..end].to_vec(),
            // A line longer than the window: read it whole.
            None => read_line_at(&segment.path, offset)?.ok_or_else(missing)?,
        };
        let record = decode_record(&line).map_err(|reason| StoreError::Corrupt {
            location: format!("{} at byte {offset} (position {position})", segment.name),
            reason,
        })?;
        if record.position != position {
            return Err(StoreError::Corrupt {
                location: format!("{} at byte {offset}", segment.name),
                reason: format!("expected position {position}, found {}", record.position),
            });
        }
        let record = record.to_owned_envelope()?;
        let previous = if position == 1 {
            Hash::GENESIS
        } else if offset > 0 {
            previous_hash(&window[..before]).ok_or_else(|| StoreError::Corrupt {
                location: format!("position {}", position - 1),
                reason: "it does not end with a hash".into(),
            })?
        } else {
            // The record before is the last of the previous segment.
            let previous_segment = segment_index
                .checked_sub(1)
                .and_then(|index| view.segments.get(index))
                .ok_or_else(missing)?;
            let file = open_read(&previous_segment.path)?;
            let len = file
                .metadata()
                .map_err(|error| StoreError::io(&previous_segment.path, error))?
                .len();
            let mut tail = [0u8; PREVIOUS_SUFFIX];
            let start = len
                .checked_sub(PREVIOUS_SUFFIX as u64)
                .ok_or_else(missing)?;
            let read = read_full(&file, &mut tail, start)
                .map_err(|error| StoreError::io(&previous_segment.path, error))?;
            previous_hash(&tail[..read]).ok_or_else(|| StoreError::Corrupt {
                location: format!("position {}", position - 1),
                reason: "it does not end with a hash".into(),
            })?
        };
        Ok((previous, record))
    }

    /// The cached view if it holds `position` (the committed prefix never
    /// changes, so an older view answers for it without listing the
    /// directory again), else the current one.
    fn view_holding(&self, position: u64) -> Result<Arc<LogView>, StoreError> {
        if let Ok(cached) = self.view.lock() {
            if let Some(view) = cached.as_ref() {
                if view.torn.is_none() && position <= view.head.position {
                    return Ok(view.clone());
                }
            }
        }
        self.current_view()
    }

    /// An index hit, checked against the log's bytes, through the view and
    /// index an earlier lookup opened (reopening both for each lookup cost
    /// ~80 µs). Only hits are answered here, and only once the record at the
    /// indexed place is found to be that id at that position; anything else
    /// (a miss, a stale index, an error) goes the full way. Only lookups by
    /// id come here: reading by position never opens the id table.
    fn get_cached(&self, id: Uuid) -> Option<Envelope> {
        let mut cache = self.lookups.lock().ok()?;
        if cache.is_none() {
            let view = self.current_view().ok()?;
            let index = IndexReader::open(self.index_place().as_ref())?;
            *cache = Some((view, index));
        }
        let (view, index) = cache.as_ref()?;
        let Hint::Hit { position, offset } = index.lookup(&id) else {
            return None;
        };
        if position > view.head.position {
            return None;
        }
        read_checked(view, position, offset, Some(id))
            .ok()
            .flatten()
    }

    fn get_indexed(&self, view: &LogView, id: Uuid) -> Result<Lookup, StoreError> {
        let Some(index) = IndexReader::open(self.index_place().as_ref()) else {
            return Ok(Lookup::Unknown { from: 1 });
        };
        let hint = index.lookup(&id);
        if let Hint::Damaged = hint {
            return Ok(Lookup::Damaged);
        }
        if let Hint::Hit { position, offset } = hint {
            if position <= view.head.position {
                return match read_checked(view, position, offset, Some(id))? {
                    Some(found) => Ok(Lookup::Answer(Some(Box::new(found)))),
                    None => Ok(Lookup::Damaged),
                };
            }
            // Past this snapshot: a commit since (not visible here) if the
            // log now holds the record there, else a damaged index.
            let now = self.fresh_view()?;
            return match read_checked(&now, position, offset, Some(id))? {
                Some(_) => Ok(Lookup::Answer(None)),
                None => Ok(Lookup::Damaged),
            };
        }
        if !index.matches(view)? {
            return Ok(Lookup::Unknown { from: 1 });
        }
        let covered = index.covered().position;
        if covered >= view.head.position {
            Ok(Lookup::Answer(None))
        } else {
            Ok(Lookup::Unknown { from: covered + 1 })
        }
    }
}

/// Stops a scan early once the record is found.
#[derive(Debug)]
struct Found;

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("found")
    }
}

impl std::error::Error for Found {}

enum Lookup {
    Answer(Option<Box<Envelope>>),
    Unknown { from: u64 },
    Damaged,
}

/// The offset of the record at `position` in the view's segment
/// `segment_index`, without derived files: by interpolation and bisection
/// over the segment's bytes (see `seek.rs`), else by counting lines.
fn count_to(view: &LogView, segment_index: usize, position: u64) -> Result<u64, StoreError> {
    let segment = &view.segments[segment_index];
    let (len, end_position) = if segment_index == view.end_segment {
        (view.end_offset, view.head.position + 1)
    } else {
        let len = std::fs::metadata(&segment.path)
            .map_err(|error| StoreError::io(&segment.path, error))?
            .len();
        let next = view
            .segments
            .get(segment_index + 1)
            .map_or(view.head.position + 1, |next| next.first);
        (len, next)
    };
    if let Some(offset) = seek::seek_position(segment, len, position, Some(end_position))? {
        return Ok(offset);
    }
    let skip = position - segment.first;
    let file = open_read(&segment.path)?;
    let mut reader = LineReader::new(file, 0, u64::MAX, READ_CHUNK);
    let mut lines = 0;
    while let Some(span) = reader
        .next_line()
        .map_err(|error| StoreError::io(&segment.path, error))?
    {
        if lines == skip {
            return Ok(span.offset);
        }
        lines += 1;
    }
    Err(StoreError::Corrupt {
        location: segment.name.clone(),
        reason: format!("the segment ends before position {position}"),
    })
}

/// `"hash":"` + 64 hex digits + `"}` + the newline: how every record line
/// ends, so the bytes just before a record's start hold the hash of the
/// record before it.
const PREVIOUS_SUFFIX: usize = 8 + 64 + 2 + 1;

/// Bytes read to find one record (and the hash before it); longer records
/// are read whole in a second step.
const WINDOW_BYTES: usize = 4 << 10;

/// The hash in the 75 bytes that end a record line (its newline included).
fn previous_hash(bytes: &[u8]) -> Option<Hash> {
    let bytes = bytes.strip_suffix(b"\n")?;
    let hex = bytes.strip_prefix(b"\"hash\":\"")?.strip_suffix(b"\"}")?;
    Hash::from_hex(hex)
}

/// Reads from `offset` until `buffer` is full or the file ends; the number
/// of bytes read.
fn read_full(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buffer.len() {
        let read = file.read_at(&mut buffer[done..], offset + done as u64)?;
        if read == 0 {
            break;
        }
        done += read;
    }
    Ok(done)
}

/// Scans of fewer records than this use a small read buffer.
const SHORT_SCAN: u64 = 256;

impl EventStore for FileStore {
    fn head(&self) -> Result<Head, StoreError> {
        Ok(self.current_view()?.head)
    }

    fn scan(
        &self,
        range: Range,
        visit: &mut dyn FnMut(&EnvelopeRef<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let view = self.current_view()?;
        self.scan_view(&view, range, visit)
    }

    fn get(&self, id: Uuid) -> Result<Option<Envelope>, StoreError> {
        if let Some(found) = self.get_cached(id) {
            return Ok(Some(found));
        }
        let view = self.current_view()?;
        let mut from = 1;
        for attempt in 0..2 {
            match self.get_indexed(&view, id)? {
                Lookup::Answer(answer) => return Ok(answer.map(|found| *found)),
                Lookup::Unknown { from: start } => {
                    from = start;
                    if attempt == 0 && self.try_refresh_index(None)? {
                        continue;
                    }
                    break;
                }
                Lookup::Damaged => {
                    from = 1;
                    if attempt == 0
                        && self.try_refresh_index(Some(
                            "ids gave an answer the log does not confirm, or fails its check",
                        ))?
                    {
                        continue;
                    }
                    break;
                }
            }
        }
        self.find_by_scan(&view, id, from)
    }

    fn get_at(&self, position: u64) -> Result<Option<Envelope>, StoreError> {
        let view = self.view_holding(position)?;
        if position == 0 || position > view.head.position {
            return Ok(None);
        }
        self.record_at(&view, position).map(Some)
    }

    fn get_at_chained(&self, position: u64) -> Result<Option<(Hash, Envelope)>, StoreError> {
        let view = self.view_holding(position)?;
        if position == 0 || position > view.head.position {
            return Ok(None);
        }
        self.record_with_previous(&view, position).map(Some)
    }

    fn head_at(&self, instant: DateTime<Utc>) -> Result<Head, StoreError> {
        let view = self.current_view()?;
        // The first position whose record is after `instant`.
        let (mut low, mut high) = (1u64, view.head.position + 1);
        while low < high {
            let middle = low + (high - low) / 2;
            let record = self.record_at(&view, middle)?;
            if record.recorded_at <= instant {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        match low - 1 {
            0 => Ok(Head::EMPTY),
            position if position == view.head.position => Ok(view.head),
            position => {
                let record = self.record_at(&view, position)?;
                Ok(Head {
                    position,
                    hash: record.hash,
                })
            }
        }
    }

    fn begin(&self, stamp: Stamp) -> Result<Box<dyn AppendTransaction + '_>, StoreError> {
        Ok(Box::new(transaction::FileTransaction::begin(self, stamp)?))
    }

    fn verify(&self, expect_head: Option<(u64, Hash)>) -> Result<VerifyReport, StoreError> {
        let view = self.fresh_view()?;
        verify::verify(&view, expect_head, None, self.config.verify_split)
    }

    fn load_derived(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.derived.load(name)
    }

    fn save_derived(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.derived.save(name, bytes)
    }

    fn subject_key(&self, key_id: &[u8; 16]) -> Result<Option<SubjectKey>, StoreError> {
        self.subject_keys.by_id(&self.dir, key_id)
    }
}
