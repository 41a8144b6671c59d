//! The store conformance suite: laws every EventStore implementation must pass.
//!
//! Each law is written once, generically over [`StoreUnderTest`], and the
//! [`conformance!`] macro instantiates all of them for one implementation.
//! The memory, file and PostgreSQL stores are instantiated below, each with
//! an impl of [`StoreUnderTest`] and one `conformance!` line (PostgreSQL's
//! impl is in `postgres/`: every law's every case gets a schema of its own).
//!
//! The events come from the history generators (realistic, canonical data),
//! but the store sees only envelopes: these laws know nothing of the rules.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use event_store::{
    Envelope, EventStore, FileStore, FileStoreConfig, Head, MemoryStore, NewEvent, Range, Staged,
    Stamp, StoreError,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use crate::generators::{history, proptest_config, History, Line};

/// A store implementation as the suite drives it.
pub trait StoreUnderTest: Sized {
    /// A new, empty store.
    fn fresh() -> Self;

    fn store(&self) -> &dyn EventStore;

    /// The log as bytes: every record line in position order, newline
    /// included (segments, pages or rows concatenated).
    fn bytes(&self) -> Vec<u8>;

    /// Replaces the log with `bytes`, as if the store had written them (or a
    /// crash or an attacker had left them), and reopens it.
    fn replace_bytes(&mut self, bytes: Vec<u8>);

    /// False when the store cannot be had here (no PostgreSQL server): the
    /// laws then pass without running, after the store has said so once.
    fn available() -> bool {
        true
    }
}

/// The memory store; its bytes are its lines.
pub struct Memory(MemoryStore);

impl StoreUnderTest for Memory {
    fn fresh() -> Memory {
        Memory(MemoryStore::new())
    }

    fn store(&self) -> &dyn EventStore {
        &self.0
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.lines().concat()
    }

    fn replace_bytes(&mut self, bytes: Vec<u8>) {
        let lines = bytes
            .split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect();
        self.0 = MemoryStore::from_lines(lines);
    }
}

/// The file store in a temporary directory, with small segments so that
/// logs span several of them.
pub struct File {
    dir: tempfile::TempDir,
    store: FileStore,
}

const SEGMENT_BYTES: u64 = 4096;

impl File {
    fn path(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn segments(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.path())
            .expect("store dir")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        paths.sort();
        paths
    }
}

impl StoreUnderTest for File {
    fn fresh() -> File {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::init(
            dir.path().join("store"),
            FileStoreConfig {
                segment_bytes: SEGMENT_BYTES,
                ..FileStoreConfig::default()
            },
        )
        .expect("init");
        File { dir, store }
    }

    fn store(&self) -> &dyn EventStore {
        &self.store
    }

    fn bytes(&self) -> Vec<u8> {
        self.segments()
            .iter()
            .flat_map(|path| std::fs::read(path).expect("segment"))
            .collect()
    }

    fn replace_bytes(&mut self, bytes: Vec<u8>) {
        for path in self.segments() {
            std::fs::remove_file(path).expect("remove segment");
        }
        // Derived data describes the old bytes: a real edit would leave it
        // stale, which the store must notice; removing it is the easy case.
        let _ = std::fs::remove_dir_all(self.path().join(".theseus"));
        std::fs::write(self.path().join(format!("{:020}.jsonl", 1)), bytes).expect("write");
        self.store = FileStore::open(
            self.path(),
            FileStoreConfig {
                segment_bytes: SEGMENT_BYTES,
                ..FileStoreConfig::default()
            },
        )
        .expect("reopen");
    }
}

/// The time batch `n` is recorded at.
pub fn at(n: usize) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
        + Duration::seconds(n as i64)
}

pub fn new_event(line: &Line) -> NewEvent {
    NewEvent {
        id: line.id,
        operation: line.operation.clone(),
        event_type: line.event_type.to_string(),
        schema: 1,
        recorded_by: format!("unit-{}", line.operation),
        reported_at: None,
        data: line.canonical_data(),
        expected_version: line.expected_version,
        refers_to: None,
    }
}

/// Every committed record.
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

/// Appends one batch stamped at `time`, returning what each stage said.
fn append_batch(
    store: &dyn EventStore,
    time: DateTime<Utc>,
    events: &[NewEvent],
) -> Result<Vec<Result<Staged, StoreError>>, StoreError> {
    append_stamped(store, Stamp::At(time), events)
}

/// Appends one batch, returning what each stage said.
fn append_stamped(
    store: &dyn EventStore,
    stamp: Stamp,
    events: &[NewEvent],
) -> Result<Vec<Result<Staged, StoreError>>, StoreError> {
    let mut transaction = store.begin(stamp)?;
    let staged = events
        .iter()
        .map(|event| transaction.stage(event.clone()))
        .collect();
    transaction.commit()?;
    Ok(staged)
}

/// What the log should hold after `history`'s batches: the envelopes
/// without their hashes.
fn expected_records(history: &History) -> Vec<(u64, u64, NewEvent, DateTime<Utc>, bool)> {
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for (n, batch) in history.batches().into_iter().enumerate() {
        for (k, line) in batch.iter().enumerate() {
            let version = versions.entry(line.operation.clone()).or_default();
            *version += 1;
            out.push((
                out.len() as u64 + 1,
                *version,
                new_event(line),
                at(n),
                k + 1 == batch.len(),
            ));
        }
    }
    out
}

fn same_record(
    got: &Envelope,
    (position, version, event, time, batch_end): &(u64, u64, NewEvent, DateTime<Utc>, bool),
) -> bool {
    got.position == *position
        && got.version == *version
        && got.id == event.id
        && got.operation == event.operation
        && got.event_type == event.event_type
        && got.schema == event.schema
        && got.recorded_by == event.recorded_by
        && got.data == event.data
        && got.recorded_at == *time
        && got.batch_end == *batch_end
}

/// Appends every batch of `history`; returns the head after each.
fn append_history<S: StoreUnderTest>(subject: &S, history: &History) -> Vec<Head> {
    history
        .batches()
        .into_iter()
        .enumerate()
        .map(|(n, batch)| {
            let events: Vec<NewEvent> = batch.iter().map(new_event).collect();
            append_batch(subject.store(), at(n), &events).expect("append");
            subject.store().head().expect("head")
        })
        .collect()
}

/// Appending batches and reading them back yields the same envelopes, in
/// order, with positions 1..N and per-operation versions 1..n; each lookup
/// agrees with the scan, and the chain verifies.
pub fn appends_read_back<S: StoreUnderTest>(history: &History) -> Result<(), TestCaseError> {
    let subject = S::fresh();
    let store = subject.store();
    let expected = expected_records(history);
    let mut heads = Vec::new();
    for (n, batch) in history.batches().into_iter().enumerate() {
        let events: Vec<NewEvent> = batch.iter().map(new_event).collect();
        let mut transaction = store.begin(Stamp::At(at(n))).expect("begin");
        let before = transaction.head().position;
        for (k, event) in events.iter().enumerate() {
            let position = before + k as u64 + 1;
            let staged = transaction.stage(event.clone()).expect("stage");
            let version = expected[position as usize - 1].1;
            prop_assert_eq!(staged, Staged::New { position, version });
        }
        let committed = transaction.commit().expect("commit");
        prop_assert_eq!(committed.appended, events.len() as u64);
        prop_assert_eq!(committed.duplicates, 0);
        prop_assert_eq!(committed.first_position, Some(before + 1));
        prop_assert_eq!(committed.last_position, Some(before + events.len() as u64));
        prop_assert_eq!(store.head().expect("head"), committed.head);
        heads.push(committed.head);
    }
    let records = all(store);
    prop_assert_eq!(records.len(), expected.len());
    for (got, want) in records.iter().zip(&expected) {
        prop_assert!(same_record(got, want), "{got:?}\nis not {want:?}");
        let by_id = store.get(got.id).expect("get");
        prop_assert_eq!(by_id.as_ref(), Some(got));
        let by_position = store.get_at(got.position).expect("get_at");
        prop_assert_eq!(by_position.as_ref(), Some(got));
    }
    let head = store.head().expect("head");
    prop_assert_eq!(head.position, expected.len() as u64);
    if let Some(last) = records.last() {
        prop_assert_eq!(head.hash, last.hash);
    }
    let report = store
        .verify(Some((head.position, head.hash)))
        .expect("verify");
    prop_assert_eq!(report.records, expected.len() as u64);
    prop_assert_eq!(report.head, head);
    // Each batch is a consistent prefix in time.
    for (n, batch_head) in heads.iter().enumerate() {
        prop_assert_eq!(store.head_at(at(n)).expect("head_at"), *batch_head);
    }
    prop_assert_eq!(
        store
            .head_at(at(0) - Duration::seconds(1))
            .expect("head_at"),
        Head::EMPTY
    );
    // Partial scans see the same records.
    if !records.is_empty() {
        let from = records.len() as u64 / 2 + 1;
        let mut tail = Vec::new();
        store
            .scan(Range::new(from, u64::MAX), &mut |r| {
                tail.push(r.to_owned_envelope()?);
                Ok(())
            })
            .expect("scan");
        prop_assert_eq!(&tail[..], &records[from as usize - 1..]);
    }
    Ok(())
}

/// Appending any batch twice equals appending it once: the second time,
/// every event is a duplicate and the log's bytes do not change.
pub fn appending_twice_equals_once<S: StoreUnderTest>(
    history: &History,
) -> Result<(), TestCaseError> {
    let once = S::fresh();
    append_history(&once, history);
    let twice = S::fresh();
    for (n, batch) in history.batches().into_iter().enumerate() {
        let events: Vec<NewEvent> = batch.iter().map(new_event).collect();
        append_batch(twice.store(), at(n), &events).expect("first");
        let before = twice.bytes();
        let mut transaction = twice.store().begin(Stamp::At(at(n))).expect("begin");
        for event in &events {
            let staged = transaction.stage(event.clone()).expect("stage again");
            prop_assert!(
                matches!(staged, Staged::Duplicate { .. }),
                "{staged:?} for {event:?}"
            );
        }
        let committed = transaction.commit().expect("commit");
        prop_assert_eq!(committed.appended, 0);
        prop_assert_eq!(committed.duplicates, events.len() as u64);
        prop_assert_eq!(&twice.bytes(), &before);
    }
    prop_assert_eq!(twice.bytes(), once.bytes());
    prop_assert_eq!(all(twice.store()), all(once.store()));
    Ok(())
}

/// A wrong `expected_version` is refused with `Conflict`, stages nothing,
/// and the transaction goes on: the log equals the log of the other lines.
pub fn expected_version_conflicts<S: StoreUnderTest>(
    history: &History,
    wrong: &[(Index, u64)],
) -> Result<(), TestCaseError> {
    let subject = S::fresh();
    let store = subject.store();
    let mut events: Vec<NewEvent> = history.lines.iter().map(new_event).collect();
    let mut tampered = vec![false; events.len()];
    for (index, offset) in wrong {
        let i = index.index(events.len());
        tampered[i] = true;
        events[i].expected_version = Some(u64::MAX - offset);
    }
    // Versions the model gives, and the refusals it expects.
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    let mut conflicts = 0;
    let mut transaction = store.begin(Stamp::At(at(0))).expect("begin");
    for (event, bad) in events.iter().zip(&tampered) {
        let actual = versions.get(&event.operation).copied().unwrap_or(0);
        // Lines with the right expectation keep it right: the versions are
        // those of the untampered lines only.
        let mut event = event.clone();
        if !bad && event.expected_version.is_some() {
            event.expected_version = Some(actual);
        }
        match transaction.stage(event.clone()) {
            Err(StoreError::Conflict {
                operation,
                expected,
                actual: found,
            }) => {
                prop_assert!(*bad, "a right expectation was refused");
                prop_assert_eq!(operation, event.operation.clone());
                prop_assert_eq!(Some(expected), event.expected_version);
                prop_assert_eq!(found, actual);
                conflicts += 1;
            }
            Ok(Staged::New { version, .. }) => {
                prop_assert!(!*bad, "a wrong expectation was accepted");
                prop_assert_eq!(version, actual + 1);
                versions.insert(event.operation.clone(), actual + 1);
            }
            other => prop_assert!(false, "unexpected {other:?}"),
        }
        prop_assert_eq!(
            transaction.version(&event.operation).expect("version"),
            versions.get(&event.operation).copied().unwrap_or(0)
        );
    }
    transaction.commit().expect("commit");
    prop_assert_eq!(conflicts, tampered.iter().filter(|t| **t).count());
    prop_assert!(
        history.lines.is_empty() || conflicts > 0,
        "no conflict generated"
    );
    let kept: Vec<String> = all(store).iter().map(|r| r.id.to_string()).collect();
    let want: Vec<String> = events
        .iter()
        .zip(&tampered)
        .filter(|(_, bad)| !**bad)
        .map(|(e, _)| e.id.to_string())
        .collect();
    prop_assert_eq!(kept, want);
    Ok(())
}

/// Batches committed by concurrent writers stamped by the store's clock are
/// never refused and never interleave: each batch's records are contiguous
/// and in the order staged, positions and versions still run 1, 2, 3…,
/// `recorded_at` never goes back, and the chain verifies.
pub fn concurrent_batches_never_interleave<S: StoreUnderTest + Sync>(
    history: &History,
    writers: usize,
) -> Result<(), TestCaseError> {
    let subject = S::fresh();
    let events: Vec<NewEvent> = history
        .lines
        .iter()
        .map(|line| NewEvent {
            expected_version: None,
            ..new_event(line)
        })
        .collect();
    let size = events.len().div_ceil(writers).max(1);
    let batches: Vec<Vec<NewEvent>> = events.chunks(size).map(<[NewEvent]>::to_vec).collect();
    std::thread::scope(|scope| {
        for batch in &batches {
            let store = subject.store();
            scope.spawn(move || append_stamped(store, Stamp::Now, batch).expect("append"));
        }
    });
    let records = all(subject.store());
    prop_assert_eq!(records.len(), events.len());
    let mut versions: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        prop_assert_eq!(record.position, i as u64 + 1);
        if i > 0 {
            prop_assert!(record.recorded_at >= records[i - 1].recorded_at);
        }
        let version = versions.entry(&record.operation).or_default();
        *version += 1;
        prop_assert_eq!(record.version, *version);
    }
    // Find each batch by its first id; its records must follow in order.
    let mut start = 0;
    let mut seen = 0;
    while start < records.len() {
        let batch = batches
            .iter()
            .find(|b| b[0].id == records[start].id)
            .ok_or_else(|| TestCaseError::fail("a batch starts mid-batch"))?;
        for (k, event) in batch.iter().enumerate() {
            prop_assert_eq!(records[start + k].id, event.id, "batches interleave");
            prop_assert_eq!(records[start + k].batch_end, k + 1 == batch.len());
        }
        start += batch.len();
        seen += 1;
    }
    prop_assert_eq!(seen, batches.len());
    subject.store().verify(None).expect("verify");
    Ok(())
}

/// How a log is tampered with.
#[derive(Clone, Debug)]
pub enum Tamper {
    /// The byte at this index (of the whole log) is xor-ed with this mask.
    ChangeByte(Index, u8),
    RemoveRecord(Index),
    SwapRecords(Index, Index),
}

pub fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(i, mask)| Tamper::ChangeByte(i, mask)),
        any::<Index>().prop_map(Tamper::RemoveRecord),
        (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Tamper::SwapRecords(i, j)),
    ]
}

/// The hash chain verifies after any sequence of appends; any single
/// changed byte, removed record or swapped pair of records is reported by
/// verify (given the head the verifier last saw, as `verify --expect-head`
/// is, since a log cut after a batch is otherwise a valid shorter log), and
/// by a plain verify as well when the last record is untouched.
pub fn verify_catches_tampering<S: StoreUnderTest>(
    history: &History,
    how: &Tamper,
) -> Result<(), TestCaseError> {
    let mut subject = S::fresh();
    append_history(&subject, history);
    let head = subject.store().head().expect("head");
    subject
        .store()
        .verify(None)
        .expect("verify before tampering");
    let bytes = subject.bytes();
    let mut lines: Vec<Vec<u8>> = bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let n = lines.len();
    let last_start = bytes.len() - lines.last().map_or(0, Vec::len);
    let (tampered, touches_last) = match how {
        Tamper::ChangeByte(index, mask) => {
            let mut tampered = bytes.clone();
            let i = index.index(bytes.len());
            tampered[i] ^= mask;
            (tampered, i >= last_start)
        }
        Tamper::RemoveRecord(index) => {
            let i = index.index(n);
            lines.remove(i);
            (lines.concat(), i + 1 == n)
        }
        Tamper::SwapRecords(_, _) if n < 2 => {
            // Nothing to swap with: remove the only record instead.
            (Vec::new(), true)
        }
        Tamper::SwapRecords(a, b) => {
            let i = a.index(n);
            // A different record: an offset of 1..n from the first.
            let j = (i + 1 + b.index(n - 1)) % n;
            lines.swap(i, j);
            (lines.concat(), i.max(j) + 1 == n)
        }
    };
    subject.replace_bytes(tampered);
    let store = subject.store();
    match store.verify(Some((head.position, head.hash))) {
        Err(error) => prop_assert!(error.is_integrity(), "{error}"),
        Ok(report) => prop_assert!(false, "{how:?} went unnoticed: {report:?}"),
    }
    if !touches_last {
        match store.verify(None) {
            Err(error) => prop_assert!(error.is_integrity(), "{error}"),
            Ok(report) => prop_assert!(false, "{how:?} went unnoticed: {report:?}"),
        }
    }
    Ok(())
}

/// The byte offsets at which each batch ends (after its newline).
fn batch_ends(bytes: &[u8], history: &History) -> Vec<usize> {
    let newlines: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let mut ends = Vec::new();
    let mut lines = 0;
    for size in &history.batches {
        lines += size;
        ends.push(newlines[lines - 1]);
    }
    ends
}

/// Where to cut a log: anywhere, or within a byte of a batch's end (where
/// off-by-one mistakes live).
#[derive(Clone, Debug)]
pub enum CutAt {
    Anywhere(Index),
    NearBatchEnd(Index, i8),
}

pub fn cut_at() -> impl Strategy<Value = CutAt> {
    prop_oneof![
        any::<Index>().prop_map(CutAt::Anywhere),
        (any::<Index>(), -1i8..=1).prop_map(|(i, d)| CutAt::NearBatchEnd(i, d)),
    ]
}

impl CutAt {
    fn offset(&self, bytes: &[u8], history: &History) -> usize {
        match self {
            CutAt::Anywhere(index) => index.index(bytes.len() + 1),
            CutAt::NearBatchEnd(index, delta) => {
                let ends = batch_ends(bytes, history);
                let end = ends[index.index(ends.len())] as i64 + i64::from(*delta);
                end.clamp(0, bytes.len() as i64) as usize
            }
        }
    }
}

/// A log cut at any byte offset reopens to the longest prefix of whole
/// batches (a batch is whole when all its bytes, its last newline included,
/// are there).
pub fn a_cut_log_reopens_to_whole_batches<S: StoreUnderTest>(
    history: &History,
    offset: &CutAt,
) -> Result<(), TestCaseError> {
    let mut subject = S::fresh();
    append_history(&subject, history);
    let records = all(subject.store());
    let bytes = subject.bytes();
    let cut = offset.offset(&bytes, history);
    let whole = batch_ends(&bytes, history)
        .iter()
        .zip(history.batches.iter().scan(0, |n, size| {
            *n += size;
            Some(*n)
        }))
        .filter(|(end, _)| **end <= cut)
        .map(|(_, lines)| lines)
        .last()
        .unwrap_or(0);
    subject.replace_bytes(bytes[..cut].to_vec());
    let store = subject.store();
    let head = store.head().expect("head");
    prop_assert_eq!(
        head.position,
        whole as u64,
        "cut at byte {} of {}",
        cut,
        bytes.len()
    );
    prop_assert_eq!(&all(store)[..], &records[..whole]);
    Ok(())
}

/// After a cut, the next append continues from the whole batches: the log
/// then holds them plus the new batch, and verifies.
pub fn a_cut_log_takes_the_next_append<S: StoreUnderTest>(
    history: &History,
    offset: &CutAt,
) -> Result<(), TestCaseError> {
    let mut subject = S::fresh();
    append_history(&subject, history);
    let bytes = subject.bytes();
    let cut = offset.offset(&bytes, history);
    subject.replace_bytes(bytes[..cut].to_vec());
    let store = subject.store();
    let kept = all(store);
    let next = NewEvent {
        id: uuid::Uuid::from_u128(0xfeed),
        operation: "op-next".into(),
        event_type: "OperationClosed".into(),
        schema: 1,
        recorded_by: "after-the-cut".into(),
        reported_at: None,
        data: "{}".into(),
        expected_version: None,
        refers_to: None,
    };
    append_batch(
        store,
        at(history.batches.len()),
        std::slice::from_ref(&next),
    )
    .expect("append after the cut");
    let after = all(store);
    prop_assert_eq!(&after[..kept.len()], &kept[..]);
    prop_assert_eq!(after.len(), kept.len() + 1);
    prop_assert_eq!(after[kept.len()].id, next.id);
    prop_assert_eq!(after[kept.len()].position, kept.len() as u64 + 1);
    let report = store.verify(None);
    prop_assert!(report.is_ok(), "cut at {}: {:?}", cut, report);
    Ok(())
}

/// Wrong expectations: a few lines and offsets from u64::MAX.
/// The store decides `recorded_at` under its lock: a requested time before
/// the head's or too far ahead of the clock is refused and changes nothing
/// (and leaves the store usable), and the clock is clamped to the head's
/// time when it is behind it.
pub fn the_store_stamps_time<S: StoreUnderTest>() {
    let subject = S::fresh();
    let store = subject.store();
    let events: Vec<NewEvent> = (1..=2u128)
        .map(|n| NewEvent {
            id: uuid::Uuid::from_u128(n),
            operation: "stamps".into(),
            event_type: "Noted".into(),
            schema: 1,
            recorded_by: "unit".into(),
            reported_at: None,
            data: format!("{{\"n\":{n}}}"),
            expected_version: None,
            refers_to: None,
        })
        .collect();
    // Ahead of the clock, but within the tolerance.
    let ahead = Utc::now() + Duration::seconds(30);
    append_stamped(store, Stamp::At(ahead), &events[..1]).expect("within the tolerance");
    let before = subject.bytes();
    for refused in [
        Stamp::At(ahead - Duration::seconds(1)),
        Stamp::At(Utc::now() + Duration::hours(1)),
        Stamp::At(DateTime::<Utc>::MAX_UTC),
    ] {
        let result = store.begin(refused).map(|_| ());
        assert!(
            matches!(
                result,
                Err(StoreError::StampBehind { .. } | StoreError::StampAhead { .. })
            ),
            "{refused:?}: {result:?}"
        );
        assert_eq!(subject.bytes(), before, "a refused stamp changes nothing");
    }
    // The clock is behind the head's time: clamped, not refused.
    append_stamped(store, Stamp::Now, &events[1..2]).expect("clock stamp");
    let records = all(store);
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].recorded_at, ahead, "clamped to the head's time");
    let transaction = store.begin(Stamp::Now).expect("begin");
    assert!(transaction.recorded_at() >= ahead);
}

/// A record that refers to an earlier one by id carries that record's
/// position and final hash, whether the target is committed, encoded
/// earlier in the batch, or the event staged just before; an unknown target
/// is refused and stages nothing.
pub fn links_pin_the_record_they_name<S: StoreUnderTest>() {
    let subject = S::fresh();
    let store = subject.store();
    let event = |n: u128, refers_to: Option<u128>| NewEvent {
        id: uuid::Uuid::from_u128(n),
        operation: "links".into(),
        event_type: "Noted".into(),
        schema: 1,
        recorded_by: "unit".into(),
        reported_at: None,
        data: format!("{{\"n\":{n}}}"),
        expected_version: None,
        refers_to: refers_to.map(uuid::Uuid::from_u128),
    };
    append_batch(store, at(0), &[event(1, None)]).expect("first batch");
    let mut transaction = store.begin(Stamp::At(at(1))).expect("begin");
    for staged in [
        event(2, Some(1)), // committed
        event(3, None),
        event(4, Some(3)), // the event staged just before
        event(5, Some(2)), // encoded earlier in this batch
    ] {
        transaction.stage(staged).expect("stage");
    }
    assert!(matches!(
        transaction.stage(event(6, Some(99))),
        Err(StoreError::Invalid(_))
    ));
    transaction.commit().expect("commit");
    let records = all(store);
    assert_eq!(records.len(), 5, "the refused event staged nothing");
    let link = |position: usize| records[position - 1].refers_to;
    let pin = |position: usize| {
        Some(event_store::Link {
            position: position as u64,
            hash: records[position - 1].hash,
        })
    };
    assert_eq!(link(1), None);
    assert_eq!(link(2), pin(1));
    assert_eq!(link(4), pin(3));
    assert_eq!(link(5), pin(2));
    store.verify(None).expect("verify");
}

/// A record staged early in a big batch (its bytes already streamed out of
/// the batch's memory to the backend) still answers for its id: the same
/// event again is a duplicate, another event with its id a conflict, and a
/// reference to it pins its position and final hash.
pub fn big_batches_read_staged_records_back<S: StoreUnderTest>() {
    let subject = S::fresh();
    let store = subject.store();
    let filler = "x".repeat(1000);
    let event = |n: u128, refers_to: Option<u128>, data: String| NewEvent {
        id: uuid::Uuid::from_u128(n),
        operation: "big".into(),
        event_type: "Noted".into(),
        schema: 1,
        recorded_by: "unit".into(),
        reported_at: None,
        data,
        expected_version: None,
        refers_to: refers_to.map(uuid::Uuid::from_u128),
    };
    let data = |n: u128| format!("{{\"n\":{n},\"filler\":\"{filler}\"}}");
    let mut transaction = store.begin(Stamp::At(at(0))).expect("begin");
    // Past the file store's 1 MiB streaming threshold, twice.
    for n in 1..=2500 {
        transaction.stage(event(n, None, data(n))).expect("stage");
    }
    for n in [1, 2, 1200, 2499] {
        assert_eq!(
            transaction
                .stage(event(n, None, data(n)))
                .expect("duplicate"),
            Staged::Duplicate { position: n as u64 },
            "event {n} again"
        );
        assert!(
            matches!(
                transaction.stage(event(n, None, "{\"other\":true}".into())),
                Err(StoreError::IdConflict { position, .. }) if position == n as u64
            ),
            "another event with the id of {n}"
        );
    }
    for (n, target) in [(3001, 1), (3002, 1300), (3003, 3002)] {
        transaction
            .stage(event(n, Some(target), "{}".into()))
            .expect("stage a reference");
    }
    let committed = transaction.commit().expect("commit");
    assert_eq!(committed.appended, 2503);
    assert_eq!(committed.duplicates, 4);
    let records = all(store);
    let pin = |position: usize| {
        Some(event_store::Link {
            position: position as u64,
            hash: records[position - 1].hash,
        })
    };
    assert_eq!(records[2500].refers_to, pin(1));
    assert_eq!(records[2501].refers_to, pin(1300));
    assert_eq!(records[2502].refers_to, pin(2502));
    store.verify(None).expect("verify");
}

fn wrong_versions() -> impl Strategy<Value = Vec<(Index, u64)>> {
    proptest::collection::vec((any::<Index>(), 0u64..3), 1..4)
}

/// Instantiates every law for one store implementation.
#[macro_export]
macro_rules! conformance {
    ($module:ident, $subject:ty) => {
        conformance!($module, $subject, 48);
    };
    // With the number of cases per law (at PROPTEST_CASES=256), for stores
    // whose every case costs a round of DDL.
    ($module:ident, $subject:ty, $cases:expr) => {
        mod $module {
            use proptest::prelude::*;

            use super::*;

            #[test]
            fn the_store_stamps_time() {
                if !<$subject as StoreUnderTest>::available() {
                    return;
                }
                super::the_store_stamps_time::<$subject>();
            }

            #[test]
            fn links_pin_the_record_they_name() {
                super::links_pin_the_record_they_name::<$subject>();
            }

            #[test]
            fn big_batches_read_staged_records_back() {
                if !<$subject as StoreUnderTest>::available() {
                    return;
                }
                super::big_batches_read_staged_records_back::<$subject>();
            }

            proptest! {
                #![proptest_config(proptest_config($cases))]

                #[test]
                fn appends_read_back(history in history()) {
                    if !<$subject as StoreUnderTest>::available() {
                        return Ok(());
                    }
                    super::appends_read_back::<$subject>(&history)?;
                }

                #[test]
                fn appending_twice_equals_once(history in history()) {
                    if !<$subject as StoreUnderTest>::available() {
                        return Ok(());
                    }
                    super::appending_twice_equals_once::<$subject>(&history)?;
                }

                #[test]
                fn expected_version_conflicts(history in history(), wrong in wrong_versions()) {
                    if !<$subject as StoreUnderTest>::available() {
                        return Ok(());
                    }
                    super::expected_version_conflicts::<$subject>(&history, &wrong)?;
                }

                #[test]
                fn concurrent_batches_never_interleave(history in history(), writers in 2usize..5) {
                    if !<$subject as StoreUnderTest>::available() {
                        return Ok(());
                    }
                    super::concurrent_batches_never_interleave::<$subject>(&history, writers)?;
                }

                #[test]
                fn verify_catches_tampering(history in history(), how in tamper()) {
                    if !<$subject as StoreUnderTest>::available() {
                        return Ok(());
                    }
                    super::verify_catches_tampering::<$subject>(&history, &how)?;
                }

                #[test]
                fn a_cut_log_reopens_to_whole_batches(history in history(), offset in cut_at()) {
                    if !<$subject as StoreUnderTest>::available() {
                        return Ok(());
                    }
                    super::a_cut_log_reopens_to_whole_batches::<$subject>(&history, &offset)?;
                }

                #[test]
                fn a_cut_log_takes_the_next_append(history in history(), offset in cut_at()) {
                    if !<$subject as StoreUnderTest>::available() {
                        return Ok(());
                    }
                    super::a_cut_log_takes_the_next_append::<$subject>(&history, &offset)?;
                }
            }
        }
    };
}

conformance!(memory, Memory);
conformance!(file, File);
// Each case creates and drops a schema (about 0.15 s): a third of the cases.
conformance!(postgres, crate::postgres::Postgres, 16);
conformance!(postgres_heap_order, crate::postgres::PostgresHeapOrder, 16);
