//! Damage to the log is caught by `verify`, located by file, line and
//! position.

use event_store::{EventStore, Hash, Stamp, StoreError};

use crate::helpers::{append_numbered, at, corrupt_location, segment_path, TempStore};

/// A store with 4 batches of 3 records in one segment (`segment_bytes`
/// large) or in segments 1, 4, 7, 10 (`segment_bytes` 1).
fn twelve_records(segment_bytes: u64) -> TempStore {
    let (temp, store) = TempStore::new(segment_bytes);
    for batch in 0..4u128 {
        append_numbered(&store, at(batch as i64), batch * 3 + 1, 3);
    }
    temp
}

fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(|line| line.to_vec())
        .collect()
}

/// Rewrites the single segment with `edit` applied to its lines, then
/// returns the verify error's location and reason.
fn verify_after(edit: impl FnOnce(&mut Vec<Vec<u8>>)) -> (String, String) {
    let temp = twelve_records(64 << 20);
    let path = segment_path(&temp.path(), 1);
    let mut records = lines(&std::fs::read(&path).expect("read"));
    edit(&mut records);
    std::fs::write(&path, records.concat()).expect("write");
    match temp.reopen(64 << 20).verify(None) {
        Err(StoreError::Corrupt { location, reason }) => (location, reason),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn an_edited_byte_is_caught() {
    let (location, reason) = verify_after(|records| {
        let line = &mut records[6];
        let digit = line.windows(5).position(|w| w == b"\"n\":7").expect("data") + 4;
        line[digit] = b'8';
    });
    assert_eq!(location, "00000000000000000001.jsonl:7 (position 7)");
    assert_eq!(reason, "hash does not chain");
}

#[test]
fn a_byte_that_breaks_the_json_is_caught() {
    let (location, _) = verify_after(|records| records[3][0] = b'[');
    assert_eq!(location, "00000000000000000001.jsonl:4 (position 4)");
}

#[test]
fn a_removed_record_is_caught() {
    let (location, reason) = verify_after(|records| {
        records.remove(4);
    });
    assert_eq!(location, "00000000000000000001.jsonl:5 (position 6)");
    assert_eq!(reason, "position 6 follows 4");
}

#[test]
fn swapped_records_are_caught() {
    let (location, reason) = verify_after(|records| records.swap(7, 8));
    assert_eq!(location, "00000000000000000001.jsonl:8 (position 9)");
    assert_eq!(reason, "position 9 follows 7");
}

#[test]
fn a_removed_middle_segment_is_caught() {
    let temp = twelve_records(1);
    std::fs::remove_file(segment_path(&temp.path(), 4)).expect("remove");
    let location = corrupt_location(temp.reopen(1).verify(None));
    assert_eq!(location, "00000000000000000007.jsonl:1 (position 7)");
}

#[test]
fn segments_renamed_out_of_order_are_caught() {
    let temp = twelve_records(1);
    let (four, seven) = (segment_path(&temp.path(), 4), segment_path(&temp.path(), 7));
    let spare = temp.path().join("spare");
    std::fs::rename(&four, &spare).expect("rename");
    std::fs::rename(&seven, &four).expect("rename");
    std::fs::rename(&spare, &seven).expect("rename");
    let location = corrupt_location(temp.reopen(1).verify(None));
    assert_eq!(location, "00000000000000000004.jsonl:1 (position 7)");
}

#[test]
fn a_stray_jsonl_name_is_not_part_of_the_log_and_is_warned_about() {
    let temp = twelve_records(64 << 20);
    let before = temp.reopen(64 << 20).head().expect("head");
    std::fs::write(temp.path().join("notes.jsonl"), b"not a record\n").expect("write");
    let store = temp.reopen(64 << 20);
    assert_eq!(store.head().expect("head"), before);
    let report = store.verify(None).expect("verify");
    assert_eq!(report.records, before.position);
    assert!(store
        .stray_files_warning()
        .is_some_and(|warning| warning.contains("notes.jsonl")));
    assert!(store.begin(Stamp::At(at(10))).is_ok());
}

#[test]
fn a_log_cut_short_at_a_record_boundary_is_caught_with_the_expected_head() {
    let temp = twelve_records(64 << 20);
    let store = temp.reopen(64 << 20);
    let head = store.head().expect("head");
    assert_eq!(
        store
            .verify(Some((head.position, head.hash)))
            .expect("verify")
            .head,
        head
    );
    let path = segment_path(&temp.path(), 1);
    let records = lines(&std::fs::read(&path).expect("read"));
    // Cut the last batch off: what is left is a valid log.
    std::fs::write(&path, records[..9].concat()).expect("write");
    let cut = temp.reopen(64 << 20);
    assert_eq!(cut.verify(None).expect("verify").records, 9);
    match cut.verify(Some((head.position, head.hash))) {
        Err(StoreError::HeadMismatch { found, .. }) => {
            assert_eq!(found, "the log ends at position 9");
        }
        other => panic!("expected a head mismatch, got {other:?}"),
    }
    match cut.verify(Some((9, Hash::GENESIS))) {
        Err(StoreError::HeadMismatch { found, .. }) => {
            assert!(found.starts_with("position 9 has hash "), "{found}");
        }
        other => panic!("expected a head mismatch, got {other:?}"),
    }
}

#[test]
fn the_memory_store_catches_tampering_too() {
    let memory = event_store::MemoryStore::new();
    for batch in 0..4u128 {
        append_numbered(&memory, at(batch as i64), batch * 3 + 1, 3);
    }
    memory.verify(None).expect("verify");
    let mut lines = memory.lines();
    lines.swap(2, 3);
    let swapped = event_store::MemoryStore::from_lines(lines);
    assert_eq!(
        corrupt_location(swapped.verify(None)),
        "line 3 (position 4)"
    );
    let mut lines = memory.lines();
    let last = lines.len() - 1;
    lines[last][20] ^= 1;
    assert!(event_store::MemoryStore::from_lines(lines)
        .verify(None)
        .is_err());
}
