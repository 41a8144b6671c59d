//! The derived indexes are only hints: deleting, staling or garbling them
//! changes no answer, and appends still find duplicates.

use std::path::Path;

use event_store::{Envelope, EventStore, FileStore, Head, Range, Stamp, StoreError};
use uuid::Uuid;

use crate::helpers::{all, append_numbered, at, event, stage_one, TempStore};

/// Everything a reader can ask, to compare before and after.
#[derive(Debug, PartialEq)]
struct Answers {
    head: Head,
    records: Vec<Envelope>,
    by_id: Vec<Option<Envelope>>,
    by_position: Vec<Option<Envelope>>,
    chained: Vec<Option<(event_store::Hash, Envelope)>>,
    middle: Vec<u64>,
    heads_at: Vec<Head>,
}

fn answers(store: &FileStore, ids: u128) -> Answers {
    let mut middle = Vec::new();
    store
        .scan(
            Range::new(ids as u64 / 2, ids as u64 / 2 + 5),
            &mut |record| {
                middle.push(record.position);
                Ok(())
            },
        )
        .expect("scan");
    Answers {
        head: store.head().expect("head"),
        records: all(store),
        by_id: (1..=ids + 1)
            .map(|id| store.get(Uuid::from_u128(id)).expect("get"))
            .collect(),
        by_position: (0..=ids as u64 + 1)
            .map(|position| store.get_at(position).expect("get_at"))
            .collect(),
        chained: (0..=ids as u64 + 1)
            .map(|position| store.get_at_chained(position).expect("get_at_chained"))
            .collect(),
        middle,
        heads_at: (-1..12)
            .map(|second| store.head_at(at(second)).expect("head_at"))
            .collect(),
    }
}

/// 10 batches of 30 events over a few segments.
fn populated() -> (TempStore, FileStore) {
    let (temp, store) = TempStore::new(8_000);
    for batch in 0..10u128 {
        append_numbered(&store, at(batch as i64), batch * 30 + 1, 30);
    }
    (temp, store)
}

/// The store's index folder for the test key (`.theseus/<key id>`).
fn theseus(store: &TempStore) -> std::path::PathBuf {
    store.reopen(8_000).index_dir().expect("a derived-data key")
}

fn assert_duplicates_detected(store: &FileStore) {
    assert!(matches!(
        stage_one(store, event(17, "op-2", "{\"n\":17}")),
        Ok(event_store::Staged::Duplicate { position: 17 })
    ));
    assert!(matches!(
        stage_one(store, event(250, "op-1", "{\"other\":1}")),
        Err(StoreError::IdConflict { position: 250, .. })
    ));
}

#[test]
fn deleting_the_indexes_changes_no_answer() {
    let (temp, store) = populated();
    let before = answers(&store, 300);
    let index = theseus(&temp);
    std::fs::remove_dir_all(temp.path().join(".theseus")).expect("remove");
    assert_eq!(answers(&store, 300), before);
    std::fs::remove_dir_all(temp.path().join(".theseus")).expect("remove");
    assert_eq!(answers(&temp.reopen(8_000), 300), before);
    std::fs::remove_dir_all(temp.path().join(".theseus")).expect("remove");
    assert_duplicates_detected(&store);
    assert!(index.join("ids").exists());
}

fn overwrite(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn garbage_indexes_are_rebuilt() {
    let (temp, store) = populated();
    let before = answers(&store, 300);
    let dir = theseus(&temp);
    let ids = std::fs::read(dir.join("ids")).expect("ids");
    let positions = std::fs::read(dir.join("positions")).expect("positions");
    let head = std::fs::read(dir.join("head")).expect("head");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("head", b"not json".to_vec()),
        ("ids", b"short".to_vec()),
        ("ids", ids.iter().map(|b| b ^ 0x5a).collect()),
        // Keep the header, point every slot at offset 0 of its segment.
        ("ids", {
            let mut bent = ids.clone();
            for slot in bent[64..].chunks_exact_mut(32) {
                if slot[..16] != [0u8; 16] {
                    slot[24..].copy_from_slice(&0u64.to_le_bytes());
                }
            }
            bent
        }),
        ("positions", vec![0; positions.len()]),
        ("positions", positions[..positions.len() / 2].to_vec()),
        ("streams", b"{}".to_vec()),
    ];
    for (name, bytes) in cases {
        overwrite(&dir.join("ids"), &ids);
        overwrite(&dir.join("positions"), &positions);
        overwrite(&dir.join("head"), &head);
        overwrite(&dir.join(name), &bytes);
        assert_eq!(answers(&store, 300), before, "{name}");
        assert_eq!(answers(&temp.reopen(8_000), 300), before, "{name}");
    }
    for (name, bytes) in [("ids", &ids), ("positions", &positions), ("head", &head)] {
        overwrite(&dir.join(name), &[]);
        let _ = bytes;
    }
    assert_duplicates_detected(&store);
    assert_eq!(answers(&store, 300).records.len(), 300);
}

#[test]
fn stale_indexes_catch_up_or_rebuild() {
    let (temp, store) = populated();
    let dir = theseus(&temp);
    let saved = temp.dir.path().join("saved");
    std::fs::create_dir(&saved).expect("mkdir");
    for name in ["ids", "positions", "streams", "head"] {
        std::fs::copy(dir.join(name), saved.join(name)).expect("copy");
    }
    // Behind: the log grew since.
    for batch in 10..12u128 {
        append_numbered(&store, at(batch as i64), batch * 30 + 1, 30);
    }
    let before = answers(&store, 360);
    for name in ["ids", "positions", "streams", "head"] {
        std::fs::copy(saved.join(name), dir.join(name)).expect("restore");
    }
    assert_eq!(answers(&store, 360), before);
    for name in ["ids", "positions", "streams", "head"] {
        std::fs::copy(saved.join(name), dir.join(name)).expect("restore");
    }
    assert_duplicates_detected(&store);
    let transaction = store.begin(Stamp::At(at(20))).expect("begin");
    assert_eq!(transaction.version("op-0").expect("version"), 120);
    drop(transaction);

    // Ahead of or beside the log: another store's indexes.
    let (other_temp, other) = TempStore::new(8_000);
    append_numbered(&other, at(0), 1, 400);
    for name in ["ids", "positions", "streams", "head"] {
        std::fs::copy(theseus(&other_temp).join(name), dir.join(name)).expect("copy");
    }
    assert_eq!(answers(&store, 360), before);
    for name in ["ids", "positions", "streams", "head"] {
        std::fs::copy(theseus(&other_temp).join(name), dir.join(name)).expect("copy");
    }
    assert_duplicates_detected(&store);
}

#[test]
fn the_id_table_grows_and_keeps_every_id() {
    // More ids than the smallest table takes (16384 slots, load 0.7).
    let (temp, store) = TempStore::new(64 << 20);
    let ids_len = || {
        std::fs::metadata(theseus(&temp).join("ids"))
            .expect("ids")
            .len()
    };
    append_numbered(&store, at(0), 1, 1);
    let small = ids_len();
    for batch in 0..12u128 {
        append_numbered(&store, at(0), batch * 1000 + 2, 1000);
    }
    assert!(ids_len() > small, "the table did not grow");
    for id in (1..=12_001u128).step_by(7) {
        let found = store.get(Uuid::from_u128(id)).expect("get").expect("found");
        assert_eq!(u128::from(found.position), id);
    }
    assert!(matches!(
        stage_one(&store, event(11_999, "op-2", "{\"n\":11999}")),
        Ok(event_store::Staged::Duplicate { position: 11_999 })
    ));
}

#[test]
fn readers_beside_a_writer_read_past_a_stale_index_without_waiting() {
    let (temp, store) = populated();
    let dir = theseus(&temp);
    let saved = temp.dir.path().join("saved");
    std::fs::create_dir(&saved).expect("mkdir");
    for name in ["ids", "positions", "streams", "head"] {
        std::fs::copy(dir.join(name), saved.join(name)).expect("copy");
    }
    append_numbered(&store, at(10), 301, 30);
    let before = answers(&store, 330);
    for name in ["ids", "positions", "streams", "head"] {
        std::fs::copy(saved.join(name), dir.join(name)).expect("restore");
    }
    // Another store holds the writers' lock: the reader cannot catch the
    // index up and must answer from the log.
    let writer = temp.reopen(8_000);
    let transaction = writer.begin(Stamp::At(at(20))).expect("begin");
    for name in ["ids", "positions", "streams", "head"] {
        std::fs::copy(saved.join(name), dir.join(name)).expect("restore");
    }
    let reader = temp.reopen(8_000);
    assert_eq!(answers(&reader, 330), before);
    drop(transaction);
}

#[test]
fn a_record_is_read_with_the_hash_before_it_across_segment_boundaries() {
    let (temp, store) = populated();
    assert!(
        crate::helpers::segments(&temp.path()).len() > 2,
        "the store spans several segments"
    );
    std::fs::remove_dir_all(theseus(&temp)).ok();
    let records = all(&store);
    for (i, record) in records.iter().enumerate() {
        let (previous, found) = store
            .get_at_chained(record.position)
            .expect("get_at_chained")
            .expect("held");
        let expected = match i {
            0 => event_store::Hash::GENESIS,
            _ => records[i - 1].hash,
        };
        assert_eq!(previous, expected, "position {}", record.position);
        assert_eq!(&found, record);
    }
    assert!(
        !theseus(&temp).join("ids").exists(),
        "reading by position opened or built the id table"
    );
}
