//! Derived indexes: how an append or a lookup avoids replaying the log or
//! holding every id in memory, without ever trusting them for an answer the
//! log would not give.
//!
//! They live in `DIR/.theseus/<key id>/`, one folder per derived-data key
//! ([`crate::key`]): two users of a shared store, each with a key of their
//! own, never fight over one set of files, and a user without a key (or who
//! cannot write `.theseus`) works from the log alone, with the indexes built
//! in memory (slower, never wrong). All files are rebuilt from the log when
//! missing, damaged or stale; deleting them changes no output.
//!
//! * `ids` (`ids.rs`): id → position, an open-addressing table in 1 KiB
//!   pages, each tagged with the key. A hit is checked against the record
//!   it names; a miss is trusted only from pages whose tags verify and that
//!   hold at least as many entries as `head` counts for them.
//! * `positions` (`positions.rs`): position → byte offset; every answer is
//!   checked against the line it points at.
//! * `head`, `streams` (`head.rs`): sealed with the key and bound to the
//!   covered prefix (position and hash, which the log must still hold), the
//!   store directory's identity and the id table's epoch (random per build).
//!
//! What each kind of damage does: random bytes, truncation, a zeroed or
//! edited slot, an edit that keeps position and hash, a file from another
//! store or another key, or a page, file or `head` from an older moment
//! than the rest, either fails a check (a tag, a seal, a count, the covered
//! record, an answer's record) and is said once on stderr and rebuilt, or
//! is an older consistent state that the writer catches up from the log. A
//! file that cannot be read or written is worked around the same way.
//!
//! Why the tags and not a digest: anyone who can write the store can
//! recompute a digest; they cannot compute a tag without the key, which
//! lives outside the store.
//!
//! A commit writes the log and syncs it first; then the id entries and
//! offsets, then `streams` and `head` (each via a temporary file and a
//! rename). The index files are not synced on commit: a crash or power cut
//! that leaves them behind or torn is caught by the same checks (a stale
//! `head` is caught up from the log; a torn page fails its tag) and costs a
//! rebuild, never a wrong answer.

mod head;
mod ids;
mod positions;

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::record::decode_record;
use crate::{DerivedKey, Head, StoreError};

use super::segments::{read_line_at, segment_for, RecordCursor, READ_CHUNK};
use super::tail::LogView;
use super::FileStore;

use head::{encode_head, encode_streams, read_head, read_streams, HeadProblem, IndexHead};
use ids::{
    needs_growth, random_bytes, random_slot_key, BuildOrder, IdTable, Inserted, PageAuth,
    TableError,
};
use positions::Positions;

/// The store-owned folder for derived files.
pub(crate) const THESEUS_DIR: &str = ".theseus";

/// The files of the format before keyed indexes, removed at a rebuild.
const LEGACY_FILES: [&str; 4] = ["ids", "positions", "streams", "head"];

/// Creates `DIR/.theseus` (0700, with a `.gitignore` of `*`) if missing.
pub(crate) fn ensure_theseus_dir(store_dir: &Path) -> Result<PathBuf, StoreError> {
    let dir = store_dir.join(THESEUS_DIR);
    create_private_dir(&dir)?;
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists() {
        write_private_file(&gitignore, b"*\n")?;
    }
    Ok(dir)
}

/// Creates a directory with mode 0700 (the store holds personal data);
/// something else of that name is an error.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            if std::fs::metadata(dir).is_ok_and(|meta| meta.is_dir()) {
                Ok(())
            } else {
                Err(StoreError::io(
                    dir,
                    io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                ))
            }
        }
        Err(error) => Err(StoreError::io(dir, error)),
    }
}

/// Opens a file for writing with mode 0600 if it is created.
pub(crate) fn open_private(path: &Path, truncate: bool) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .mode(0o600)
        .open(path)
        .map_err(|error| StoreError::io(path, error))
}

fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = open_private(path, true)?;
    file.write_all(bytes)
        .map_err(|error| StoreError::io(path, error))
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename, so
/// readers see the old or the new content.
fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let temporary = dir.join(format!("{name}.tmp"));
    write_private_file(&temporary, bytes)?;
    let target = dir.join(name);
    std::fs::rename(&temporary, &target).map_err(|error| StoreError::io(&target, error))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|file| file.sync_all())
        .map_err(|error| StoreError::io(dir, error))
}

/// Where a store's indexes live and what they are bound to.
#[derive(Debug, Clone)]
pub(crate) struct IndexPlace {
    store_dir: PathBuf,
    dir: PathBuf,
    key: DerivedKey,
    /// The store directory's device and inode: a copy of the store (or of
    /// its derived folder into another store) is another store.
    store: [u8; 16],
}

impl IndexPlace {
    /// The place for this key, `None` without one (or without a directory).
    pub(crate) fn of(store_dir: &Path, key: Option<&DerivedKey>) -> Option<IndexPlace> {
        let key = key?.clone();
        let meta = std::fs::metadata(store_dir).ok()?;
        let mut store = [0u8; 16];
        store[..8].copy_from_slice(&meta.dev().to_le_bytes());
        store[8..].copy_from_slice(&meta.ino().to_le_bytes());
        Some(IndexPlace {
            store_dir: store_dir.to_path_buf(),
            dir: store_dir.join(THESEUS_DIR).join(key.id()),
            key,
            store,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn auth(&self, epoch: [u8; 16]) -> PageAuth {
        PageAuth::new(self.key.clone(), epoch, self.store)
    }
}

/// Why the indexes could not be brought up to date.
enum Fault {
    /// The log itself (reading it failed, or it is damaged): the caller
    /// must hear of it.
    Log(StoreError),
    /// The index files: rebuilt, or done without.
    Index(String),
}

fn index_fault(error: impl std::fmt::Display) -> Fault {
    Fault::Index(error.to_string())
}

fn table_fault(error: TableError) -> Fault {
    match error {
        TableError::Io(error) => Fault::Index(format!("ids: {error}")),
        TableError::Damaged(reason) => Fault::Index(format!("ids: {reason}")),
    }
}

/// The indexes as a writer (holding the store's lock) uses them.
#[derive(Debug)]
pub(crate) struct IndexWriter {
    /// `None`: kept in memory only, for this transaction.
    place: Option<IndexPlace>,
    ids: IdTable,
    positions: Positions,
    versions: HashMap<String, u64>,
    covered: Head,
}

impl IndexWriter {
    /// The store's index files for the committed log `view`, caught up with
    /// the log or rebuilt (after saying why, when `rebuild` gives a reason
    /// or the files are found damaged). `None` when the store has no key or
    /// its derived folder cannot be used (said once on stderr).
    pub(crate) fn load_files(
        store: &FileStore,
        view: &LogView,
        rebuild: Option<&str>,
    ) -> Result<Option<IndexWriter>, StoreError> {
        let Some(place) = store.index_place() else {
            return Ok(None);
        };
        if super::derived::theseus_not_a_folder(&place.store_dir) {
            // Nothing can be read or written there: the log in memory.
            store.warn_theseus_not_a_folder();
            return Ok(None);
        }
        let warn = |reason: &str, then: &str| {
            store.warn_once(&format!(
                "derived index {}: {reason}; {then}",
                place.dir.display()
            ));
        };
        match rebuild {
            Some(reason) => warn(reason, "rebuilt from the log"),
            None => match IndexWriter::open_existing(&place, view) {
                Ok(Some((mut writer, covered_end))) => match writer.catch_up(view, covered_end) {
                    Ok(()) => return Ok(Some(writer)),
                    Err(Fault::Log(error)) => return Err(error),
                    Err(Fault::Index(reason)) => warn(&reason, "rebuilt from the log"),
                },
                Ok(None) => {}
                Err(Fault::Log(error)) => return Err(error),
                Err(Fault::Index(reason)) => warn(&reason, "rebuilt from the log"),
            },
        }
        match IndexWriter::rebuild(Some(place.clone()), view) {
            Ok(writer) => Ok(Some(writer)),
            Err(Fault::Log(error)) => Err(error),
            Err(Fault::Index(reason)) => {
                warn(
                    &format!("cannot be written ({reason})"),
                    "working from the log without it",
                );
                Ok(None)
            }
        }
    }

    /// [`IndexWriter::load_files`], else the indexes built in memory from the
    /// log (for a writer, which needs them).
    pub(crate) fn load(
        store: &FileStore,
        view: &LogView,
        rebuild: Option<&str>,
    ) -> Result<IndexWriter, StoreError> {
        match IndexWriter::load_files(store, view, rebuild)? {
            Some(writer) => Ok(writer),
            None => IndexWriter::in_memory(view),
        }
    }

    /// The indexes of `view` built in memory, used by nobody else.
    pub(crate) fn in_memory(view: &LogView) -> Result<IndexWriter, StoreError> {
        match IndexWriter::rebuild(None, view) {
            Ok(writer) => Ok(writer),
            Err(Fault::Log(error)) => Err(error),
            Err(Fault::Index(reason)) => Err(StoreError::Invalid(reason)),
        }
    }

    /// The existing index files if they are whole and cover a prefix of
    /// this log, with the end offset of the last covered record; `None` if
    /// there are none.
    fn open_existing(
        place: &IndexPlace,
        view: &LogView,
    ) -> Result<Option<(IndexWriter, u64)>, Fault> {
        let dir = &place.dir;
        let head = match read_head(dir, &place.key, &place.store) {
            Ok(head) => head,
            Err(HeadProblem::Missing) => return Ok(None),
            Err(HeadProblem::Unusable(reason)) => return Err(Fault::Index(reason)),
        };
        if head.covered.position > view.head.position {
            return Err(Fault::Index(format!(
                "head covers position {}, past the log's head {}",
                head.covered.position, view.head.position
            )));
        }
        if head.count != head.covered.position {
            return Err(Fault::Index("head counts another number of ids".into()));
        }
        let positions_path = dir.join("positions");
        let positions = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&positions_path)
            .map(Positions::File)
            .map_err(|error| Fault::Index(format!("positions: {error}")))?;
        if positions.len() < head.covered.position {
            return Err(Fault::Index("positions is shorter than head says".into()));
        }
        let versions =
            read_streams(dir, &place.key, head.covered, &head.epoch).map_err(Fault::Index)?;
        let ids_path = dir.join("ids");
        if let Err(error) = OpenOptions::new().read(true).write(true).open(&ids_path) {
            return Err(Fault::Index(format!("ids: {error}")));
        }
        let ids = IdTable::open(
            &ids_path,
            true,
            place.auth(head.epoch),
            head.count,
            head.counts,
            head.epoch,
        )
        .ok_or_else(|| Fault::Index("ids does not match head".into()))?;
        let covered_end = check_covered(view, &positions, head.covered)
            .map_err(Fault::Log)?
            .ok_or_else(|| {
                Fault::Index(format!(
                    "the log does not hold the record head names (position {})",
                    head.covered.position
                ))
            })?;
        Ok(Some((
            IndexWriter {
                place: Some(place.clone()),
                ids,
                positions,
                versions: versions.into_iter().collect(),
                covered: head.covered,
            },
            covered_end,
        )))
    }

    /// Indexes the records after the covered head.
    fn catch_up(&mut self, view: &LogView, covered_end: u64) -> Result<(), Fault> {
        if self.covered.position == view.head.position {
            return Ok(());
        }
        let start = self.covered.position + 1;
        let Some(segment) = segment_for(&view.segments, start) else {
            return Err(Fault::Index(
                "no segment holds the first record to index".into(),
            ));
        };
        let offset = if view.segments[segment].first == start {
            0
        } else {
            covered_end
        };
        let new = view.head.position - self.covered.position;
        self.grow_for(self.ids.count + new)?;
        let mut cursor =
            RecordCursor::new(view, segment, offset, start, READ_CHUNK).map_err(Fault::Log)?;
        let mut offsets = Vec::with_capacity(8192);
        let mut offsets_start = start;
        while let Some(found) = cursor.next_record().map_err(Fault::Log)? {
            let record = &found.record;
            match self
                .ids
                .insert(&record.id, record.position)
                .map_err(table_fault)?
            {
                Inserted::Added => {}
                // Indexed by a commit whose `head` was not written (a crash,
                // or an older `head` copied back): the same entry.
                Inserted::Present { position } if position == record.position => {
                    self.ids.count += 1;
                }
                Inserted::Present { position } => {
                    return Err(Fault::Index(format!(
                        "ids places id {} at position {position}, the log at {}",
                        record.id, record.position
                    )))
                }
            }
            match self.versions.get_mut(record.operation.as_ref()) {
                Some(version) => *version = record.version,
                None => {
                    self.versions
                        .insert(record.operation.clone().into_owned(), record.version);
                }
            }
            offsets.push(found.offset);
            if offsets.len() >= 8192 {
                self.positions
                    .put(offsets_start, &offsets)
                    .map_err(|error| Fault::Index(format!("positions: {error}")))?;
                offsets_start += offsets.len() as u64;
                offsets.clear();
            }
        }
        self.positions
            .put(offsets_start, &offsets)
            .map_err(|error| Fault::Index(format!("positions: {error}")))?;
        self.finish(view.head)
    }

    /// Rebuilds every index from the log: into the files of `place`, or in
    /// memory.
    fn rebuild(place: Option<IndexPlace>, view: &LogView) -> Result<IndexWriter, Fault> {
        let records = view.head.position;
        let epoch = random_bytes();
        let dir = place.as_ref().map(|place| place.dir.clone());
        if let Some(place) = &place {
            ensure_theseus_dir(&place.store_dir).map_err(index_fault)?;
            create_private_dir(&place.dir).map_err(index_fault)?;
        }
        let ids_tmp = dir.as_ref().map(|dir| dir.join("ids.tmp"));
        let positions_tmp = dir.as_ref().map(|dir| dir.join("positions.tmp"));
        let (slot_key, auth) = match &place {
            Some(place) => {
                let auth = place.auth(epoch);
                (auth.slot_key(), Some(auth))
            }
            None => (random_slot_key(), None),
        };
        let mut ids = IdTable::create(
            ids_tmp.as_deref(),
            BuildOrder::FromLog,
            records,
            epoch,
            slot_key,
            auth,
        )
        .map_err(index_fault)?;
        let mut positions_file = match &positions_tmp {
            Some(path) => Some(io::BufWriter::with_capacity(
                1 << 20,
                open_private(path, true).map_err(index_fault)?,
            )),
            None => None,
        };
        let mut offsets_in_memory = Vec::new();
        let mut versions: HashMap<String, u64> = HashMap::new();
        // The ids go into the table a chunk at a time, each chunk in the
        // order of the ids' home slots, so that the table is swept once a
        // chunk instead of touched at random (one page fault an entry when
        // it is mapped); each id's record (segment, line) is kept to name a
        // duplicate.
        let mut chunk = RebuildChunk::default();
        if records > 0 {
            let mut cursor = RecordCursor::new(view, 0, 0, 1, READ_CHUNK).map_err(Fault::Log)?;
            while let Some(found) = cursor.next_record().map_err(Fault::Log)? {
                let record = &found.record;
                if chunk.ids.is_empty() {
                    chunk.first_position = record.position;
                }
                chunk.ids.push(record.id);
                chunk.places.push((found.segment, found.line_number));
                if chunk.ids.len() == REBUILD_CHUNK {
                    chunk.insert(&mut ids, view)?;
                }
                match versions.get_mut(record.operation.as_ref()) {
                    Some(version) => *version = record.version,
                    None => {
                        versions.insert(record.operation.clone().into_owned(), record.version);
                    }
                }
                match &mut positions_file {
                    Some(file) => file
                        .write_all(&found.offset.to_le_bytes())
                        .map_err(|error| Fault::Index(format!("positions: {error}")))?,
                    None => offsets_in_memory.push(found.offset),
                }
            }
        }
        chunk.insert(&mut ids, view)?;
        let (ids, positions) = match (place.as_ref(), ids_tmp, positions_tmp, positions_file) {
            (Some(place), Some(ids_tmp), Some(positions_tmp), Some(positions_file)) => {
                let positions_file = positions_file
                    .into_inner()
                    .map_err(|error| Fault::Index(format!("positions: {}", error.error())))?;
                positions_file
                    .sync_data()
                    .map_err(|error| Fault::Index(format!("positions: {error}")))?;
                ids.seal()
                    .map_err(|error| Fault::Index(format!("ids: {error}")))?;
                let ids = ids.persist(&ids_tmp).map_err(index_fault)?;
                std::fs::rename(&ids_tmp, place.dir.join("ids")).map_err(index_fault)?;
                std::fs::rename(&positions_tmp, place.dir.join("positions"))
                    .map_err(index_fault)?;
                // The renamed files must be in place before `head` says they
                // cover the log.
                sync_dir(&place.dir).map_err(index_fault)?;
                let legacy = place.store_dir.join(THESEUS_DIR);
                for name in LEGACY_FILES {
                    let _ = std::fs::remove_file(legacy.join(name));
                }
                (ids, Positions::File(positions_file))
            }
            _ => (ids, Positions::Memory(offsets_in_memory)),
        };
        let mut writer = IndexWriter {
            place,
            ids,
            positions,
            versions,
            covered: Head::EMPTY,
        };
        writer.finish(view.head)?;
        Ok(writer)
    }

    /// Grows the id table (a new table, with a new epoch, renamed over the
    /// old) when `entries` would pass the load limit.
    fn grow_for(&mut self, entries: u64) -> Result<(), Fault> {
        if !needs_growth(self.ids.pages(), entries) {
            return Ok(());
        }
        let epoch = random_bytes();
        let tmp = self.place.as_ref().map(|place| place.dir.join("ids.tmp"));
        let (slot_key, auth) = match &self.place {
            Some(place) => {
                let auth = place.auth(epoch);
                (auth.slot_key(), Some(auth))
            }
            None => (random_slot_key(), None),
        };
        let mut grown = IdTable::create(
            tmp.as_deref(),
            BuildOrder::FromTable,
            entries,
            epoch,
            slot_key,
            auth,
        )
        .map_err(index_fault)?;
        self.ids
            .for_each(|id, position| grown.insert(&id, position).map(|_| ()))
            .map_err(table_fault)?;
        grown
            .seal()
            .map_err(|error| Fault::Index(format!("ids: {error}")))?;
        if let (Some(place), Some(tmp)) = (&self.place, tmp) {
            let grown_on_disk = grown.persist(&tmp).map_err(index_fault)?;
            std::fs::rename(&tmp, place.dir.join("ids")).map_err(index_fault)?;
            sync_dir(&place.dir).map_err(index_fault)?;
            self.ids = grown_on_disk;
            // The epoch changed: `head` must name the new one at once.
            self.finish(self.covered)?;
        } else {
            self.ids = grown;
        }
        Ok(())
    }

    /// Tags the changed pages and records, in sealed `streams` and `head`,
    /// that the indexes cover `head`.
    fn finish(&mut self, head: Head) -> Result<(), Fault> {
        self.ids
            .seal()
            .map_err(|error| Fault::Index(format!("ids: {error}")))?;
        self.covered = head;
        let Some(place) = &self.place else {
            return Ok(());
        };
        let versions: BTreeMap<String, u64> = self
            .versions
            .iter()
            .map(|(operation, version)| (operation.clone(), *version))
            .collect();
        let streams =
            encode_streams(&place.key, head, &self.ids.epoch, versions).map_err(index_fault)?;
        replace_file(&place.dir, "streams", &streams).map_err(index_fault)?;
        let sealed = encode_head(
            &place.key,
            &place.store,
            &IndexHead {
                covered: head,
                epoch: self.ids.epoch,
                pages: self.ids.pages(),
                count: self.ids.count,
                counts: self.ids.counts().to_vec(),
            },
        );
        replace_file(&place.dir, "head", &sealed).map_err(index_fault)?;
        Ok(())
    }

    /// The committed version of an operation.
    pub(crate) fn version(&self, operation: &str) -> u64 {
        self.versions.get(operation).copied().unwrap_or(0)
    }

    /// Where the index says the record with this id is: its position and
    /// byte offset, a hint to check against the log (`u64::MAX` for an
    /// offset the index does not know). `Err` says why the index cannot
    /// answer (it must be rebuilt).
    pub(crate) fn lookup(&self, id: &Uuid) -> Result<Option<(u64, u64)>, String> {
        match self.ids.lookup(id) {
            Ok(Some(position)) => Ok(Some((
                position,
                self.positions.get(position).unwrap_or(u64::MAX),
            ))),
            Ok(None) => Ok(None),
            Err(error) => Err(match table_fault(error) {
                Fault::Index(reason) => reason,
                Fault::Log(error) => error.to_string(),
            }),
        }
    }

    /// Records a committed batch: its ids and their offsets in position
    /// order from `first_position`, and the
    /// operations' new versions; `head` is the new head.
    pub(crate) fn append(
        &mut self,
        ids: &[Uuid],
        first_position: u64,
        offsets: &[u64],
        versions: &HashMap<String, u64>,
        head: Head,
    ) -> Result<(), StoreError> {
        let fault = |fault: Fault| match fault {
            Fault::Log(error) => error,
            Fault::Index(reason) => StoreError::Invalid(reason),
        };
        self.grow_for(self.ids.count + offsets.len() as u64)
            .map_err(fault)?;
        self.ids
            .insert_sorted(ids, first_position)
            .map_err(table_fault)
            .map_err(fault)?;
        self.positions
            .put(first_position, offsets)
            .map_err(|error| StoreError::io("positions", error))?;
        for (operation, version) in versions {
            self.versions.insert(operation.clone(), *version);
        }
        self.finish(head).map_err(fault)
    }
}

/// The line at `offset` of `path`, for an offset an index gave: an offset
/// no file can have is a wrong hint, not an error.
pub(crate) fn hinted_line(path: &Path, offset: u64) -> Result<Option<Vec<u8>>, StoreError> {
    if i64::try_from(offset).is_err() {
        return Ok(None);
    }
    read_line_at(path, offset)
}

/// Checks that the record the indexes say they cover is in the log with
/// that hash; returns the offset just after it (0 for an empty prefix).
fn check_covered(
    view: &LogView,
    positions: &Positions,
    covered: Head,
) -> Result<Option<u64>, StoreError> {
    if covered.position == 0 {
        return Ok(Some(0));
    }
    let Some(offset) = positions.get(covered.position) else {
        return Ok(None);
    };
    let Some(segment) = segment_for(&view.segments, covered.position) else {
        return Ok(None);
    };
    let Some(line) = hinted_line(&view.segments[segment].path, offset)? else {
        return Ok(None);
    };
    match decode_record(&line) {
        Ok(record) if record.position == covered.position && record.hash == covered.hash => {
            Ok(Some(offset + line.len() as u64 + 1))
        }
        _ => Ok(None),
    }
}

/// What the id table says about an id, for a reader.
pub(crate) enum Hint {
    /// A position and offset to check against the log.
    Hit { position: u64, offset: u64 },
    /// Not in the covered prefix (an answer only if the prefix matches).
    Miss,
    /// The table cannot answer: a page fails its check.
    Damaged,
}

/// The indexes as a reader (without the lock) uses them: every answer is a
/// hint the caller checks against the log.
#[derive(Debug)]
pub(crate) struct IndexReader {
    covered: Head,
    ids: IdTable,
    positions: Positions,
}

impl IndexReader {
    /// The store's indexes, if it has a key and they exist and look whole.
    pub(crate) fn open(place: Option<&IndexPlace>) -> Option<IndexReader> {
        let place = place?;
        let head = read_head(&place.dir, &place.key, &place.store).ok()?;
        let ids = IdTable::open(
            &place.dir.join("ids"),
            false,
            place.auth(head.epoch),
            head.count,
            head.counts,
            head.epoch,
        )?;
        let positions = Positions::File(File::open(place.dir.join("positions")).ok()?);
        Some(IndexReader {
            covered: head.covered,
            ids,
            positions,
        })
    }

    /// The log prefix the indexes claim to cover.
    pub(crate) fn covered(&self) -> Head {
        self.covered
    }

    /// True when the claimed prefix is in the log as claimed: only then is
    /// a miss an answer.
    pub(crate) fn matches(&self, view: &LogView) -> Result<bool, StoreError> {
        if self.covered.position > view.head.position {
            // Written by a commit newer than this snapshot; the covered
            // record still has to be there.
            return Ok(false);
        }
        Ok(check_covered(view, &self.positions, self.covered)?.is_some())
    }

    /// Where the record with this id is, as far as the table knows.
    pub(crate) fn lookup(&self, id: &Uuid) -> Hint {
        match self.ids.lookup(id) {
            Ok(Some(position)) => Hint::Hit {
                position,
                offset: self.positions.get(position).unwrap_or(u64::MAX),
            },
            Ok(None) => Hint::Miss,
            Err(_) => Hint::Damaged,
        }
    }
}

/// Ids inserted into a rebuilt table at a time: 16 + 16 bytes each while
/// they wait (16 MiB), few enough sweeps of the table (one per chunk).
const REBUILD_CHUNK: usize = 1 << 19;

/// The ids of consecutive records waiting to go into a rebuilt table, with
/// where each record is (its segment and line), to name a duplicate.
#[derive(Default)]
struct RebuildChunk {
    first_position: u64,
    ids: Vec<Uuid>,
    places: Vec<(usize, u64)>,
}

impl RebuildChunk {
    /// Inserts the waiting ids in the order of their homes; an id the table
    /// already holds is the log's fault: the first such record, in log
    /// order, is named.
    fn insert(&mut self, ids: &mut IdTable, view: &LogView) -> Result<(), Fault> {
        let present = ids
            .insert_sorted_new(&self.ids, self.first_position)
            .map_err(table_fault)?;
        if let Some((index, position)) = present {
            let (segment, line_number) = self.places[index];
            return Err(Fault::Log(StoreError::Corrupt {
                location: super::segments::location(
                    &view.segments[segment],
                    line_number,
                    self.first_position + index as u64,
                ),
                reason: format!(
                    "id {} is already used at position {position}",
                    self.ids[index]
                ),
            }));
        }
        self.ids.clear();
        self.places.clear();
        Ok(())
    }
}
