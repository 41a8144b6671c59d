//! The file store's basic behaviour: appending, reading, checks, segments,
//! modes, and the conformance suite shared with the memory store.

use std::os::unix::fs::PermissionsExt;

use event_store::{
    record_hash, EventStore, FileStore, FileStoreConfig, Hash, Range, Staged, Stamp, StoreError,
};
use uuid::Uuid;

use crate::helpers::{
    all, append, append_numbered, at, event, segment_path, segments, stage_one, TempStore,
};

/// Behaviour every backend must show (also run on the memory store).
pub fn conformance(store: &dyn EventStore) {
    assert_eq!(store.head().expect("head").position, 0);
    let first = append(
        store,
        at(0),
        vec![
            event(1, "alpha", "{\"a\":1}"),
            event(2, "beta", "{\"b\":1}"),
            event(3, "alpha", "{\"a\":2}"),
        ],
    )
    .expect("first batch");
    assert_eq!(first.appended, 3);
    assert_eq!(first.first_position, Some(1));
    assert_eq!(first.last_position, Some(3));
    append(store, at(10), vec![event(4, "beta", "{\"b\":2}")]).expect("second batch");
    append(
        store,
        at(10),
        vec![event(5, "gamma", "{}"), event(6, "alpha", "{\"a\":3}")],
    )
    .expect("third batch");

    let records = all(store);
    let positions: Vec<u64> = records.iter().map(|r| r.position).collect();
    assert_eq!(positions, vec![1, 2, 3, 4, 5, 6]);
    let versions: Vec<(String, u64)> = records
        .iter()
        .map(|r| (r.operation.clone(), r.version))
        .collect();
    let expected: Vec<(String, u64)> = [
        ("alpha", 1),
        ("beta", 1),
        ("alpha", 2),
        ("beta", 2),
        ("gamma", 1),
        ("alpha", 3),
    ]
    .iter()
    .map(|(op, v)| ((*op).to_owned(), *v))
    .collect();
    assert_eq!(versions, expected);
    let batch_ends: Vec<bool> = records.iter().map(|r| r.batch_end).collect();
    assert_eq!(batch_ends, vec![false, false, true, true, false, true]);
    let head = store.head().expect("head");
    assert_eq!(head.position, 6);
    assert_eq!(head.hash, records[5].hash);
    let report = store.verify(Some((6, head.hash))).expect("verify");
    assert_eq!(report.records, 6);
    assert_eq!(report.head, head);

    // A record read with the hash before it: the previous record's (the
    // genesis hash before the first), and its bytes chain from that hash.
    for (i, record) in records.iter().enumerate() {
        let (previous, found) = store
            .get_at_chained(record.position)
            .expect("get_at_chained")
            .expect("held");
        let expected = if i == 0 {
            Hash::GENESIS
        } else {
            records[i - 1].hash
        };
        assert_eq!((previous, &found), (expected, record));
        assert_eq!(
            record_hash(&previous, &found.line).map(|(computed, _)| computed),
            Some(record.hash)
        );
    }
    assert_eq!(store.get_at_chained(0).expect("get_at_chained"), None);
    assert_eq!(store.get_at_chained(7).expect("get_at_chained"), None);

    // Reads by id and position, partial scans.
    let fourth = store.get(Uuid::from_u128(4)).expect("get").expect("found");
    assert_eq!(fourth, records[3]);
    assert_eq!(store.get(Uuid::from_u128(99)).expect("get"), None);
    assert_eq!(store.get_at(5).expect("get_at"), Some(records[4].clone()));
    assert_eq!(store.get_at(7).expect("get_at"), None);
    assert_eq!(store.get_at(0).expect("get_at"), None);
    let mut middle = Vec::new();
    store
        .scan(Range::new(2, 4), &mut |record| {
            middle.push(record.position);
            Ok(())
        })
        .expect("scan");
    assert_eq!(middle, vec![2, 3, 4]);

    // head_at: before, at and after the batches' times.
    assert_eq!(store.head_at(at(-1)).expect("head_at").position, 0);
    assert_eq!(store.head_at(at(0)).expect("head_at").position, 3);
    assert_eq!(store.head_at(at(9)).expect("head_at").position, 3);
    assert_eq!(store.head_at(at(10)).expect("head_at"), head);
    assert_eq!(store.head_at(at(5)).expect("head_at").hash, records[2].hash);

    // Duplicates: same id and content is a no-op, in the log or the batch.
    let mut transaction = store.begin(Stamp::At(at(20))).expect("begin");
    assert_eq!(
        transaction
            .stage(event(2, "beta", "{\"b\":1}"))
            .expect("stage"),
        Staged::Duplicate { position: 2 }
    );
    assert_eq!(
        transaction.stage(event(7, "beta", "{}")).expect("stage"),
        Staged::New {
            position: 7,
            version: 3
        }
    );
    assert_eq!(
        transaction.stage(event(7, "beta", "{}")).expect("stage"),
        Staged::Duplicate { position: 7 }
    );
    // Another event under a used id is refused, staged or committed.
    assert!(matches!(
        transaction.stage(event(7, "beta", "{\"x\":1}")),
        Err(StoreError::IdConflict { position: 7, .. })
    ));
    assert!(matches!(
        transaction.stage(event(1, "alpha", "{\"a\":9}")),
        Err(StoreError::IdConflict { position: 1, .. })
    ));
    // expected_version counts staged events.
    let mut versioned = event(8, "beta", "{}");
    versioned.expected_version = Some(2);
    assert!(matches!(
        transaction.stage(versioned.clone()),
        Err(StoreError::Conflict {
            expected: 2,
            actual: 3,
            ..
        })
    ));
    versioned.expected_version = Some(3);
    assert_eq!(
        transaction.stage(versioned).expect("stage"),
        Staged::New {
            position: 8,
            version: 4
        }
    );
    assert_eq!(transaction.version("beta").expect("version"), 4);
    assert_eq!(transaction.version("nobody").expect("version"), 0);
    let staged_head = transaction.head();
    assert_eq!(staged_head.position, 8);
    let found = transaction
        .find(Uuid::from_u128(7))
        .expect("find")
        .expect("staged");
    assert_eq!(found.position, 7);
    let last = transaction
        .find(Uuid::from_u128(8))
        .expect("find")
        .expect("staged");
    assert_eq!(last.hash, staged_head.hash);
    assert_eq!(
        transaction
            .find(Uuid::from_u128(3))
            .expect("find")
            .map(|found| found.position),
        Some(3)
    );
    let committed = transaction.commit().expect("commit");
    assert_eq!(committed.appended, 2);
    assert_eq!(committed.duplicates, 2);
    assert_eq!(committed.head, staged_head);
    assert_eq!(store.head().expect("head"), staged_head);

    // A commit of nothing but duplicates writes nothing.
    let before = store.head().expect("head");
    let committed = append(store, at(30), vec![event(1, "alpha", "{\"a\":1}")]).expect("dup");
    assert_eq!(committed.appended, 0);
    assert_eq!(committed.duplicates, 1);
    assert_eq!(committed.head, before);
    assert_eq!(store.head().expect("head"), before);

    // The clock never goes back.
    assert!(matches!(
        store.begin(Stamp::At(at(19))).map(|_| ()),
        Err(StoreError::StampBehind { .. })
    ));
    // Invalid events are refused, nothing staged.
    let mut transaction = store.begin(Stamp::At(at(40))).expect("begin");
    for bad in [
        event(50, "", "{}"),
        event(51, "op", "[]"),
        event(52, "op", "{\"a\":\n1}"),
        event(53, "op", "{oops}"),
        event(0, "op", "{}"),
    ] {
        assert!(matches!(
            transaction.stage(bad),
            Err(StoreError::Invalid(_))
        ));
    }
    let mut untyped = event(54, "op", "{}");
    untyped.event_type.clear();
    assert!(matches!(
        transaction.stage(untyped),
        Err(StoreError::Invalid(_))
    ));
    drop(transaction);
    assert_eq!(store.head().expect("head"), before);
    store
        .verify(Some((before.position, before.hash)))
        .expect("verify");

    // Derived data.
    assert_eq!(store.load_derived("checkpoint").expect("load"), None);
    store.save_derived("checkpoint", b"one").expect("save");
    store.save_derived("checkpoint", b"two").expect("save");
    assert_eq!(
        store.load_derived("checkpoint").expect("load"),
        Some(b"two".to_vec())
    );
    for bad in ["", "../x", "A", ".hidden", "a/b"] {
        assert!(store.save_derived(bad, b"x").is_err(), "{bad}");
        assert!(store.load_derived(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_file_store_passes_the_conformance_suite() {
    let (_temp, store) = TempStore::new(64 << 20);
    conformance(&store);
}

#[test]
fn the_file_store_passes_the_conformance_suite_with_tiny_segments() {
    let (temp, store) = TempStore::new(1);
    conformance(&store);
    // Every batch but the first started a segment named by its first record.
    let names: Vec<String> = segments(&temp.path()).into_keys().collect();
    let expected: Vec<String> = [1, 4, 5, 7]
        .iter()
        .map(|first| format!("{first:020}.jsonl"))
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn records_chain_and_lines_end_batches_as_written() {
    let (temp, store) = TempStore::new(64 << 20);
    append_numbered(&store, at(0), 1, 3);
    append_numbered(&store, at(1), 4, 2);
    let bytes = std::fs::read(segment_path(&temp.path(), 1)).expect("read");
    let mut previous = Hash::GENESIS;
    let mut ends = Vec::new();
    for line in bytes.split(|b| *b == b'\n').filter(|line| !line.is_empty()) {
        let (computed, stored) = record_hash(&previous, line).expect("hash suffix");
        assert_eq!(computed, stored);
        previous = stored;
        ends.push(line.windows(16).any(|w| w == b"\"batch_end\":true"));
    }
    assert_eq!(ends, vec![false, false, true, false, true]);
    assert_eq!(store.head().expect("head").hash, previous);
}

#[test]
fn the_same_events_hash_the_same_in_memory_and_in_files() {
    let (temp, store) = TempStore::new(64 << 20);
    let memory = event_store::MemoryStore::new();
    for backend in [&store as &dyn EventStore, &memory] {
        append_numbered(backend, at(0), 1, 4);
        append_numbered(backend, at(3), 5, 1);
    }
    assert_eq!(store.head().expect("head"), memory.head().expect("head"));
    let file_bytes = std::fs::read(segment_path(&temp.path(), 1)).expect("read");
    assert_eq!(file_bytes, memory.lines().concat());
}

#[test]
fn a_dropped_transaction_leaves_the_files_byte_identical() {
    for segment_bytes in [64 << 20, 1] {
        let (temp, store) = TempStore::new(segment_bytes);
        append_numbered(&store, at(0), 1, 3);
        let before = segments(&temp.path());
        {
            let mut transaction = store.begin(Stamp::At(at(1))).expect("begin");
            // Enough to stream part of the batch to the segment file.
            let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(10_000));
            for id in 100..400 {
                transaction.stage(event(id, "op", &big)).expect("stage");
            }
            assert_ne!(segments(&temp.path()), before, "nothing was streamed");
        }
        assert_eq!(segments(&temp.path()), before);
        assert_eq!(store.head().expect("head").position, 3);
        store.verify(None).expect("verify");
        // The next batch goes where the dropped one would have.
        append_numbered(&store, at(2), 100, 1);
        assert_eq!(store.head().expect("head").position, 4);
        store.verify(None).expect("verify");
    }
}

#[test]
fn a_large_streamed_batch_commits_whole() {
    let (temp, store) = TempStore::new(64 << 20);
    let big = format!("{{\"pad\":\"{}\"}}", "y".repeat(5_000));
    let mut transaction = store.begin(Stamp::At(at(0))).expect("begin");
    for id in 1..=600 {
        transaction.stage(event(id, "op", &big)).expect("stage");
    }
    // Readers do not see a batch in progress.
    let reader = temp.reopen(64 << 20);
    assert_eq!(reader.head().expect("head").position, 0);
    assert!(reader.torn_tail().is_some());
    assert_eq!(reader.torn_tail_warning(), None);
    assert_eq!(reader.get(event_store_id(5)).expect("get"), None);
    let found = transaction
        .find(event_store_id(5))
        .expect("find")
        .expect("staged");
    assert_eq!(found.position, 5);
    transaction.commit().expect("commit");
    assert_eq!(reader.head().expect("head").position, 600);
    assert_eq!(
        reader
            .get(event_store_id(5))
            .expect("get")
            .map(|e| e.position),
        Some(5)
    );
    reader.verify(None).expect("verify");
}

fn event_store_id(id: u128) -> Uuid {
    Uuid::from_u128(id)
}

#[test]
fn segments_roll_and_reads_continue_across_them() {
    let (temp, store) = TempStore::new(700);
    for batch in 0..20u128 {
        append_numbered(&store, at(batch as i64), batch * 3 + 1, 3);
    }
    let files = segments(&temp.path());
    assert!(files.len() > 5, "only {} segments", files.len());
    for (name, bytes) in &files {
        let first_line = bytes.split(|b| *b == b'\n').next().expect("a line");
        let position: u64 = name[..20].parse().expect("digits");
        assert!(
            String::from_utf8_lossy(first_line).starts_with(&format!("{{\"position\":{position},")),
            "{name}"
        );
        // A segment exceeds the limit by at most one batch.
        assert!(
            bytes.len() < 700 + 3 * 300,
            "{name} has {} bytes",
            bytes.len()
        );
    }
    let report = store.verify(None).expect("verify");
    assert_eq!(report.records, 60);
    assert_eq!(report.segments, files.len() as u64);
    let positions: Vec<u64> = all(&store).iter().map(|r| r.position).collect();
    assert_eq!(positions, (1..=60).collect::<Vec<_>>());
    for from in [1, 2, 17, 33, 59, 60] {
        let mut seen = Vec::new();
        store
            .scan(Range::new(from, from + 4), &mut |record| {
                seen.push(record.position);
                Ok(())
            })
            .expect("scan");
        let expected: Vec<u64> = (from..=(from + 4).min(60)).collect();
        assert_eq!(seen, expected);
        assert_eq!(
            store.get_at(from).expect("get_at").map(|r| r.position),
            Some(from)
        );
    }
    for id in 1..=60u128 {
        let found = store.get(Uuid::from_u128(id)).expect("get").expect("found");
        assert_eq!(u128::from(found.position), id);
    }
    // And a fresh instance without indexes reads the same.
    std::fs::remove_dir_all(temp.path().join(".theseus")).expect("remove");
    let reopened = temp.reopen(700);
    assert_eq!(all(&reopened), all(&store));
    assert_eq!(
        reopened.get_at(44).expect("get_at"),
        store.get_at(44).expect("get_at")
    );
}

#[test]
fn files_are_private() {
    let (temp, store) = TempStore::new(300);
    append_numbered(&store, at(0), 1, 3);
    append_numbered(&store, at(0), 4, 3);
    store.save_derived("cache", b"x").expect("save");
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&temp.path()), 0o700);
    let mut checked = 0;
    let mut stack = vec![temp.path()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                stack.push(path);
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} entries");
    assert_eq!(
        std::fs::read(temp.path().join(".theseus/.gitignore")).expect("gitignore"),
        b"*\n"
    );
}

#[test]
fn init_and_open_never_mix_up_stores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let config = FileStoreConfig::default();
    assert!(matches!(
        FileStore::open(&path, config.clone()),
        Err(StoreError::Missing { .. })
    ));
    std::fs::create_dir(&path).expect("mkdir");
    std::fs::write(path.join("README"), b"hello").expect("write");
    assert!(matches!(
        FileStore::open(&path, config.clone()),
        Err(StoreError::Missing { .. })
    ));
    // A directory holding something else is not made into a store.
    assert!(matches!(
        FileStore::init(&path, config.clone()),
        Err(StoreError::NotEmpty { .. })
    ));
    assert_eq!(std::fs::read_dir(&path).expect("dir").count(), 1);
    std::fs::remove_file(path.join("README")).expect("remove");
    let store = FileStore::init(&path, config.clone()).expect("init");
    assert_eq!(store.head().expect("head").position, 0);
    store.verify(None).expect("verify empty");
    assert!(matches!(
        FileStore::init(&path, config.clone()),
        Err(StoreError::AlreadyExists { .. })
    ));
    append_numbered(&store, at(0), 1, 2);
    let reopened = FileStore::open(&path, config).expect("open");
    assert_eq!(reopened.head().expect("head").position, 2);
    assert_eq!(reopened.torn_tail(), None);
    assert_eq!(reopened.torn_tail_warning(), None);
}

#[test]
fn stores_in_one_directory_see_each_others_appends() {
    let (temp, store) = TempStore::new(400);
    let other = temp.reopen(400);
    append_numbered(&store, at(0), 1, 2);
    assert_eq!(other.head().expect("head").position, 2);
    append_numbered(&other, at(1), 3, 2);
    assert_eq!(store.head().expect("head").position, 4);
    assert!(matches!(
        stage_one(&store, event(3, "op-0", "{\"different\":1}")),
        Err(StoreError::IdConflict { position: 3, .. })
    ));
}

#[test]
fn concurrent_writers_serialise() {
    let (temp, store) = TempStore::new(2_000);
    let path = temp.path();
    std::thread::scope(|scope| {
        for writer in 0..4u128 {
            let path = path.clone();
            scope.spawn(move || {
                let store = FileStore::open(
                    &path,
                    FileStoreConfig {
                        segment_bytes: 2_000,
                        ..FileStoreConfig::default()
                    },
                )
                .expect("open");
                for batch in 0..10u128 {
                    let first = 1 + writer * 1_000 + batch * 2;
                    append_numbered(&store, at(0), first, 2);
                }
            });
        }
    });
    let report = store.verify(None).expect("verify");
    assert_eq!(report.records, 80);
    for writer in 0..4u128 {
        assert!(store
            .get(Uuid::from_u128(1 + writer * 1_000))
            .expect("get")
            .is_some());
    }
}

#[test]
fn readers_beside_writers_only_ever_see_whole_batches() {
    let (temp, store) = TempStore::new(3_000);
    let path = temp.path();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..2u128)
            .map(|writer| {
                let path = path.clone();
                scope.spawn(move || {
                    let store = FileStore::open(
                        &path,
                        FileStoreConfig {
                            segment_bytes: 3_000,
                            ..FileStoreConfig::default()
                        },
                    )
                    .expect("open");
                    for batch in 0..15u128 {
                        append_numbered(&store, at(0), 1 + writer * 1_000 + batch * 3, 3);
                    }
                })
            })
            .collect();
        scope.spawn(|| {
            let reader = FileStore::open(
                &path,
                FileStoreConfig {
                    segment_bytes: 3_000,
                    ..FileStoreConfig::default()
                },
            )
            .expect("open");
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let records = all(&reader);
                assert_eq!(records.len() % 3, 0);
                if let Some(last) = records.last() {
                    assert!(last.batch_end);
                }
                assert!(reader.head().expect("head").position >= records.len() as u64);
            }
        });
        for writer in writers {
            writer.join().expect("writer");
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(store.verify(None).expect("verify").records, 90);
}
