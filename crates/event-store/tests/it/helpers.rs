//! Small helpers shared by the tests: events, times, appends, snapshots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use event_store::{
    Committed, Envelope, EventStore, FileStore, FileStoreConfig, NewEvent, Range, Staged, Stamp,
    StoreError,
};
use uuid::Uuid;

pub fn event(id: u128, operation: &str, data: &str) -> NewEvent {
    NewEvent {
        id: Uuid::from_u128(id),
        operation: operation.to_owned(),
        event_type: "Noted".to_owned(),
        schema: 1,
        recorded_by: "tester".to_owned(),
        reported_at: None,
        data: data.to_owned(),
        expected_version: None,
        refers_to: None,
    }
}

/// `seconds` after 2019-12-09T06:00:00Z.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_575_871_200 + seconds, 0)
        .single()
        .expect("valid time")
}

/// Appends one batch.
pub fn append(
    store: &dyn EventStore,
    time: DateTime<Utc>,
    events: Vec<NewEvent>,
) -> Result<Committed, StoreError> {
    let mut transaction = store.begin(Stamp::At(time))?;
    for event in events {
        transaction.stage(event)?;
    }
    transaction.commit()
}

/// Appends one batch of `count` events with ids `first..`, each in operation
/// `op-(id % 3)`.
pub fn append_numbered(store: &dyn EventStore, time: DateTime<Utc>, first: u128, count: u128) {
    let events = (first..first + count)
        .map(|id| event(id, &format!("op-{}", id % 3), &format!("{{\"n\":{id}}}")))
        .collect();
    append(store, time, events).expect("append");
}

/// Every committed record, owned.
pub fn all(store: &dyn EventStore) -> Vec<Envelope> {
    let mut records = Vec::new();
    store
        .scan(Range::ALL, &mut |record| {
            records.push(record.to_owned_envelope()?);
            Ok(())
        })
        .expect("scan");
    records
}

pub fn stage_one(store: &dyn EventStore, event: NewEvent) -> Result<Staged, StoreError> {
    let mut transaction = store.begin(Stamp::At(at(1000)))?;
    let staged = transaction.stage(event)?;
    transaction.commit()?;
    Ok(staged)
}

pub struct TempStore {
    pub dir: tempfile::TempDir,
}

impl TempStore {
    pub fn new(segment_bytes: u64) -> (TempStore, FileStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::init(
            dir.path().join("store"),
            FileStoreConfig {
                segment_bytes,
                ..FileStoreConfig::default()
            },
        )
        .expect("init");
        (TempStore { dir }, store)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn reopen(&self, segment_bytes: u64) -> FileStore {
        FileStore::open(
            self.path(),
            FileStoreConfig {
                segment_bytes,
                ..FileStoreConfig::default()
            },
        )
        .expect("open")
    }
}

/// The segment files' names and bytes.
pub fn segments(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".jsonl") {
            files.insert(name, std::fs::read(entry.path()).expect("read segment"));
        }
    }
    files
}

pub fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.jsonl"))
}

/// The location of a `Corrupt` error, or a panic message naming what came.
pub fn corrupt_location(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::Corrupt { location, .. }) => location,
        other => panic!("expected corruption, got {other:?}"),
    }
}
