//! A batch appended to the file store under the writers' lock.
//!
//! `begin` takes the lock, re-reads the head (another process may have
//! appended), removes a torn tail, catches the indexes up and only then
//! reads the clock (see [`crate::Stamp`]): a time read before the lock
//! could be older than a batch committed while waiting for it. Staged records are streamed into the segment once a megabyte has
//! accumulated: readers ignore records after the last batch end and the lock
//! keeps them from warning about them. Dropping the transaction truncates
//! the segment back (or deletes the segment it created), leaving the log
//! byte-identical.
//!
//! What is synced, and when:
//! * removing a torn tail: the truncated segment is synced (`sync_all`), or,
//!   for a deleted segment, the directory;
//! * `commit`: the segment's data (`sync_data`), then the directory if the
//!   batch created a segment; only then is the batch committed. The derived
//!   indexes are updated afterwards (see `index.rs`); a failure there does
//!   not fail the commit, since they are caught up from the log next time.
//! * a dropped transaction syncs nothing: what it leaves behind after a
//!   crash is a torn tail.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::batch::{resolve_stamp, Batch, CommittedLog, StagedRecord};
use crate::record::decode_record;
use crate::subject_keys::{add_keys, rewrite_keys, KeyReader, StagedKeys};
use crate::{
    AppendTransaction, Committed, Envelope, Head, NewEvent, Staged, Stamp, StoreError, SubjectKey,
};

use super::index::IndexWriter;
use super::segments::{list_segments, open_write, read_line_at, segment_name};
use super::tail::{detect, LogView};
use super::{read_checked, sync_dir, DirLock, FileStore};

/// Staged bytes are written out once they pass this size.
const STREAM_THRESHOLD: usize = 1 << 20;

/// The segment a batch goes to.
struct Target {
    path: PathBuf,
    /// The batch starts a new segment.
    create: bool,
    /// The segment's length before the batch.
    start_len: u64,
}

pub(crate) struct FileTransaction<'s> {
    store: &'s FileStore,
    _lock: DirLock,
    log: LockedLog<'s>,
    batch: Batch,
    target: Target,
    file: Option<File>,
    committed: bool,
    keys: StagedKeys,
    /// The key file, opened at the first lookup.
    key_reader: Option<KeyReader>,
}

/// The committed log as the lock holder sees it.
struct LockedLog<'s> {
    store: &'s FileStore,
    dir: PathBuf,
    view: LogView,
    index: IndexWriter,
    /// The segment the batch goes to, where its streamed records are read
    /// back from.
    segment: PathBuf,
}

impl<'s> FileTransaction<'s> {
    pub(crate) fn begin(
        store: &'s FileStore,
        stamp: Stamp,
    ) -> Result<FileTransaction<'s>, StoreError> {
        let dir = store.dir();
        let lock = DirLock::acquire(dir)?;
        let mut view = detect(list_segments(dir)?)?;
        if view.torn.is_some() {
            remove_torn_tail(dir, &view)?;
            view = detect(list_segments(dir)?)?;
        }
        let index = IndexWriter::load(store, &view, None)?;
        let recorded_at = resolve_stamp(
            stamp,
            store.config().clock,
            view.head_recorded_at.as_deref(),
        )?;
        let current = &view.segments[view.end_segment];
        let target = if view.end_offset > 0 && view.end_offset >= store.config().segment_bytes {
            Target {
                path: dir.join(segment_name(view.head.position + 1)),
                create: true,
                start_len: 0,
            }
        } else {
            Target {
                path: current.path.clone(),
                create: false,
                start_len: view.end_offset,
            }
        };
        let batch = Batch::new(view.head, recorded_at, target.start_len);
        Ok(FileTransaction {
            store,
            _lock: lock,
            log: LockedLog {
                store,
                dir: dir.to_path_buf(),
                view,
                index,
                segment: target.path.clone(),
            },
            batch,
            target,
            file: None,
            committed: false,
            keys: StagedKeys::default(),
            key_reader: None,
        })
    }

    /// Writes out the staged bytes accumulated so far.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.batch.out.is_empty() {
            return Ok(());
        }
        let path = &self.target.path;
        if self.file.is_none() {
            // A new segment: create_new never follows a link. An existing
            // one: never through a link, never waiting on a FIFO.
            let file = if self.target.create {
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|error| StoreError::io(path, error))?
            } else {
                open_write(path)?
            };
            self.file = Some(file);
        }
        if let Some(file) = &self.file {
            file.write_all_at(&self.batch.out, self.batch.out_base())
                .map_err(|error| StoreError::io(path, error))?;
        }
        self.batch.drain_out();
        Ok(())
    }
}

/// Cuts the torn tail off: truncates the segment to the committed end, or
/// deletes a segment that holds nothing else (unless it is the only one).
fn remove_torn_tail(dir: &Path, view: &LogView) -> Result<(), StoreError> {
    let Some(torn) = &view.torn else {
        return Ok(());
    };
    let last = view.segments.len() - 1;
    if view.end_segment == last || last == 0 {
        let path = &torn.segment;
        let file = open_write(path)?;
        file.set_len(torn.offset)
            .and_then(|()| file.sync_all())
            .map_err(|error| StoreError::io(path, error))?;
    } else {
        std::fs::remove_file(&torn.segment)
            .map_err(|error| StoreError::io(&torn.segment, error))?;
        sync_dir(dir)?;
    }
    Ok(())
}

impl CommittedLog for LockedLog<'_> {
    fn find_committed(&mut self, id: Uuid) -> Result<Option<Envelope>, StoreError> {
        for attempt in 0..2 {
            let reason = match self.index.lookup(&id) {
                Ok(None) => return Ok(None),
                Ok(Some((position, offset))) => {
                    if let Some(found) = read_checked(&self.view, position, offset, Some(id))? {
                        return Ok(Some(found));
                    }
                    format!("ids places id {id} at position {position}, which holds another record")
                }
                Err(reason) => reason,
            };
            if attempt == 0 {
                // The index cannot be trusted: rebuilt from the log.
                self.index = IndexWriter::load(self.store, &self.view, Some(&reason))?;
            }
        }
        // Even a rebuilt index disagrees (it could not be written, or the
        // log changed under the lock): the log decides.
        self.index = IndexWriter::in_memory(&self.view)?;
        match self.index.lookup(&id) {
            Ok(None) => Ok(None),
            Ok(Some((position, offset))) => {
                match read_checked(&self.view, position, offset, Some(id))? {
                    Some(found) => Ok(Some(found)),
                    None => self.store.find_by_scan(&self.view, id, 1),
                }
            }
            Err(_) => self.store.find_by_scan(&self.view, id, 1),
        }
    }

    fn committed_version(&mut self, operation: &str) -> Result<u64, StoreError> {
        Ok(self.index.version(operation))
    }

    fn staged_line(&mut self, _id: Uuid, offset: u64) -> Result<Option<Vec<u8>>, StoreError> {
        read_line_at(&self.segment, offset)
    }
}

impl AppendTransaction for FileTransaction<'_> {
    fn head(&self) -> Head {
        self.batch.head()
    }

    fn recorded_at(&self) -> DateTime<Utc> {
        self.batch.recorded_at()
    }

    fn find(&self, id: Uuid) -> Result<Option<Envelope>, StoreError> {
        match self.batch.find_staged(id) {
            Some(StagedRecord::Pending(envelope)) => Ok(Some(*envelope)),
            Some(StagedRecord::Encoded { offset }) => {
                let line = if offset >= self.batch.out_base() {
                    let start =
                        usize::try_from(offset - self.batch.out_base()).unwrap_or(usize::MAX);
                    let bytes = self.batch.out.get(start..).unwrap_or_default();
                    let end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
                    bytes[..end].to_vec()
                } else {
                    read_line_at(&self.target.path, offset)?.unwrap_or_default()
                };
                let record = decode_record(&line).map_err(|reason| StoreError::Corrupt {
                    location: format!("staged record in {}", self.target.path.display()),
                    reason,
                })?;
                Ok(Some(record.to_owned_envelope()?))
            }
            None => {
                let (position, offset) = match self.log.index.lookup(&id) {
                    Ok(Some(hint)) => hint,
                    Ok(None) => return Ok(None),
                    Err(reason) => {
                        // `find` cannot repair the index (`&self`): told,
                        // answered from the log; staging rebuilds it.
                        self.store
                            .warn_once(&format!("derived index: {reason}; answered from the log"));
                        return self.store.find_by_scan(&self.log.view, id, 1);
                    }
                };
                // `find` cannot repair the index (`&self`); a bad hint falls
                // back to the store's read path.
                match read_checked(&self.log.view, position, offset, Some(id))? {
                    Some(found) => Ok(Some(found)),
                    None => self.store.find_by_scan(&self.log.view, id, 1),
                }
            }
        }
    }

    fn version(&self, operation: &str) -> Result<u64, StoreError> {
        let committed = self.log.index.version(operation);
        Ok(self
            .batch
            .versions()
            .get(operation)
            .copied()
            .unwrap_or(committed))
    }

    fn stage(&mut self, event: NewEvent) -> Result<Staged, StoreError> {
        let staged = self.batch.stage(&mut self.log, event)?;
        if self.batch.out.len() >= STREAM_THRESHOLD {
            self.flush()?;
        }
        Ok(staged)
    }

    fn find_subject_key(&mut self, lookup: &[u8; 32]) -> Result<Option<SubjectKey>, StoreError> {
        let dir = &self.log.dir;
        let reader = &mut self.key_reader;
        self.keys.get(
            |lookup| {
                if reader.is_none() {
                    *reader = Some(KeyReader::open(dir)?);
                }
                match reader {
                    Some(reader) => reader.find(lookup),
                    None => Ok(None),
                }
            },
            lookup,
        )
    }

    fn add_subject_key(&mut self, key: SubjectKey) -> Result<(), StoreError> {
        self.keys.add(key);
        Ok(())
    }

    fn remove_subject_key(&mut self, lookup: &[u8; 32]) -> Result<(), StoreError> {
        self.keys.remove(*lookup);
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<Committed, StoreError> {
        if self.batch.is_empty() {
            return Ok(self.batch.committed());
        }
        let dir = self.log.dir.clone();
        // A record must never name a key a crash could lose: added keys
        // are durable before the records are.
        let added = self.keys.take_added_sorted();
        add_keys(&dir, self.key_reader.take(), added)?;
        self.batch.finish();
        self.flush()?;
        let path = self.target.path.clone();
        if let Some(file) = &self.file {
            file.sync_data()
                .map_err(|error| StoreError::io(&path, error))?;
        }
        if self.target.create {
            sync_dir(&self.log.dir)?;
        }
        self.committed = true;
        let committed = self.batch.committed();
        // An erasure is recorded before its key is destroyed: a failure
        // here leaves the key, which `erase` destroys when run again.
        if self.keys.rewrite_after_records() {
            rewrite_keys(&dir, Vec::new(), &self.keys.removed)?;
        }
        let first_position = self.log.view.head.position + 1;
        // The batch is durable: an index failure must not report it as
        // failed. The next writer or reader catches the index up from the log.
        let _ = self.log.index.append(
            self.batch.staged_ids(),
            first_position,
            self.batch.offsets(),
            self.batch.versions(),
            committed.head,
        );
        Ok(committed)
    }
}

impl Drop for FileTransaction<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let Some(file) = self.file.take() else {
            return;
        };
        // Best effort, errors ignored: whatever stays behind is a torn tail
        // that the next `begin` removes.
        if self.target.create {
            drop(file);
            let _ = std::fs::remove_file(&self.target.path);
        } else {
            let _ = file.set_len(self.target.start_len);
        }
    }
}
