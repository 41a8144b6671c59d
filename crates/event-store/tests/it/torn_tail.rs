//! Torn tails: a crash at any byte of a batch leaves a log that opens at the
//! previous batch, and the next append removes exactly the torn bytes.

use std::fs::OpenOptions;

use event_store::{EventStore, Head, Stamp, StoreError};

use crate::helpers::{
    all, append, append_numbered, at, corrupt_location, event, segment_path, segments, TempStore,
};

/// Builds a store with two batches, then a final two-record batch; returns
/// the head before the final batch, the committed bytes before it and the
/// full bytes of the last segment.
fn prepared(segment_bytes: u64) -> (TempStore, Head, u64) {
    let (temp, store) = TempStore::new(segment_bytes);
    append_numbered(&store, at(0), 1, 3);
    append_numbered(&store, at(1), 4, 2);
    let head = store.head().expect("head");
    append(
        &store,
        at(2),
        vec![
            event(10, "op-1", "{\"last\":1}"),
            event(11, "op-2", "{\"last\":2}"),
        ],
    )
    .expect("final batch");
    (temp, head, 6)
}

fn truncate(path: &std::path::Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.set_len(len))
        .expect("truncate");
}

#[test]
fn a_crash_at_every_byte_of_the_last_batch_is_recovered() {
    let (temp, _, _) = prepared(64 << 20);
    let segment = segment_path(&temp.path(), 1);
    let full = std::fs::read(&segment).expect("read");
    // The final batch starts after the fifth line.
    let batch_start = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(4)
        .map(|(i, _)| i as u64 + 1)
        .expect("five lines");
    let first_record_end = full[batch_start as usize..]
        .iter()
        .position(|b| *b == b'\n')
        .map(|i| batch_start + i as u64 + 1)
        .expect("a line");
    let backup = temp.dir.path().join("backup");
    std::fs::copy(&segment, &backup).expect("backup");
    for cut in batch_start..full.len() as u64 {
        std::fs::copy(&backup, &segment).expect("restore");
        // Drop the indexes' memory of the final batch too, half the time.
        if cut % 2 == 0 {
            let _ = std::fs::remove_dir_all(temp.path().join(".theseus"));
        }
        truncate(&segment, cut);
        let store = temp.reopen(64 << 20);
        let head = store.head().expect("head");
        assert_eq!(head.position, 5, "cut at {cut}");
        match store.torn_tail() {
            None => assert_eq!(cut, batch_start),
            Some(torn) => {
                assert!(cut > batch_start);
                assert_eq!(torn.offset, batch_start);
                assert_eq!(torn.len, cut - batch_start);
                assert_eq!(torn.records, u64::from(cut >= first_record_end));
                assert_eq!(torn.segment, segment);
                assert!(store.torn_tail_warning().is_some(), "cut at {cut}");
            }
        }
        assert_eq!(all(&store).len(), 5);
        assert_eq!(store.get(uuid::Uuid::from_u128(10)).expect("get"), None);
        store.verify(None).expect("verify");
        // The next append removes exactly the tail.
        append(&store, at(3), vec![event(10, "op-1", "{\"again\":1}")]).expect("append");
        let bytes = std::fs::read(&segment).expect("read");
        assert_eq!(
            &bytes[..batch_start as usize],
            &full[..batch_start as usize]
        );
        let report = store.verify(None).expect("verify after append");
        assert_eq!(report.records, 6);
        assert_eq!(store.torn_tail_warning(), None);
        let reopened = temp.reopen(64 << 20);
        assert_eq!(reopened.torn_tail(), None);
    }
}

#[test]
fn a_crash_in_a_new_segment_is_recovered() {
    let (temp, head, _) = prepared(1);
    let segment = segment_path(&temp.path(), 6);
    let full = std::fs::read(&segment).expect("read");
    let backup = temp.dir.path().join("backup");
    std::fs::copy(&segment, &backup).expect("backup");
    let before: Vec<_> = segments(&temp.path())
        .into_iter()
        .filter(|(name, _)| !name.starts_with("00000000000000000006"))
        .collect();
    for cut in 0..full.len() as u64 {
        std::fs::copy(&backup, &segment).expect("restore");
        truncate(&segment, cut);
        let store = temp.reopen(1);
        assert_eq!(store.head().expect("head"), head, "cut at {cut}");
        let torn = store.torn_tail().expect("a torn tail");
        assert_eq!((torn.offset, torn.len), (0, cut));
        store.verify(None).expect("verify");
        append(&store, at(3), vec![event(20, "op-1", "{}")]).expect("append");
        // The old segments are untouched; the new batch went into a segment
        // named by its first position.
        let after = segments(&temp.path());
        for (name, bytes) in &before {
            assert_eq!(after.get(name), Some(bytes), "{name}");
        }
        assert_eq!(store.verify(None).expect("verify").records, 6);
        assert!(segment_path(&temp.path(), 6).exists());
    }
}

#[test]
fn an_empty_segment_left_by_a_crash_is_deleted_by_the_next_append() {
    let (temp, store) = TempStore::new(64 << 20);
    append_numbered(&store, at(0), 1, 2);
    let stray = segment_path(&temp.path(), 3);
    std::fs::write(&stray, b"").expect("empty segment");
    let reopened = temp.reopen(64 << 20);
    assert_eq!(reopened.head().expect("head").position, 2);
    assert_eq!(reopened.torn_tail().map(|torn| torn.len), Some(0));
    reopened.verify(None).expect("verify");
    append_numbered(&reopened, at(1), 3, 1);
    // The append (below the segment limit) went to the first segment and
    // removed the empty one.
    assert!(!stray.exists());
    assert_eq!(reopened.verify(None).expect("verify").records, 3);
}

#[test]
fn bytes_after_the_head_that_do_not_chain_are_corruption() {
    let (temp, store) = TempStore::new(64 << 20);
    append_numbered(&store, at(0), 1, 2);
    let segment = segment_path(&temp.path(), 1);
    let good = std::fs::read(&segment).expect("read");
    // A complete line that is no record.
    let mut bad = good.clone();
    bad.extend_from_slice(b"garbage\n");
    std::fs::write(&segment, &bad).expect("write");
    let reopened = temp.reopen(64 << 20);
    assert_eq!(
        corrupt_location(reopened.head()),
        "00000000000000000001.jsonl:3 (position 3)"
    );
    assert!(corrupt_location(reopened.begin(Stamp::At(at(5))).map(|_| ())).contains(":3"));
    // A copy of the first record: decodes but does not continue the log.
    let first_line = good.split(|b| *b == b'\n').next().expect("a line").to_vec();
    let mut repeated = good.clone();
    repeated.extend_from_slice(&first_line[..]);
    repeated.push(b'\n');
    std::fs::write(&segment, &repeated).expect("write");
    let reopened = temp.reopen(64 << 20);
    assert!(reopened.verify(None).is_err());
    assert!(matches!(reopened.head(), Err(StoreError::Corrupt { .. })));
}
