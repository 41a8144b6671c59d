//! Model-based property test: random sequences of batches (with duplicates,
//! reused ids, expected versions, dropped transactions), index deletions
//! and reopenings, applied to the file store and to the memory store, must
//! give the same answers and the same bytes, and pass `verify`.

use event_store::{
    EventStore, FileStore, FileStoreConfig, MemoryStore, NewEvent, Stamp, StoreError,
};
use proptest::prelude::*;
use uuid::Uuid;

use crate::helpers::{all, at};

#[derive(Debug, Clone)]
enum Step {
    Batch {
        events: Vec<(u8, u8, u8, Option<u8>)>,
        commit: bool,
    },
    DeleteIndexes,
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (
            prop::collection::vec((1u8..25, 0u8..3, 0u8..2, prop::option::weighted(0.2, 0u8..6)), 0..6),
            prop::bool::weighted(0.8),
        )
            .prop_map(|(events, commit)| Step::Batch { events, commit }),
        1 => Just(Step::DeleteIndexes),
        1 => Just(Step::Reopen),
    ]
}

fn new_event((id, operation, data, expected): (u8, u8, u8, Option<u8>)) -> NewEvent {
    NewEvent {
        id: Uuid::from_u128(u128::from(id)),
        operation: format!("op{operation}"),
        event_type: "Noted".into(),
        schema: 1,
        recorded_by: "model".into(),
        reported_at: None,
        data: format!("{{\"v\":{data}}}"),
        expected_version: expected.map(u64::from),
        refers_to: None,
    }
}

/// An outcome comparable across backends (errors by kind).
fn outcome<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> String {
    match result {
        Ok(value) => format!("{value:?}"),
        Err(StoreError::IdConflict { position, .. }) => format!("IdConflict at {position}"),
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => format!("Conflict {expected} {actual}"),
        Err(other) => format!("unexpected {other}"),
    }
}

fn run(steps: Vec<Step>, segment_bytes: u64) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let path = dir.path().join("store");
    let config = FileStoreConfig {
        segment_bytes,
        ..FileStoreConfig::default()
    };
    let mut file =
        FileStore::init(&path, config.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let memory = MemoryStore::new();
    for (number, step) in steps.into_iter().enumerate() {
        match step {
            Step::Batch { events, commit } => {
                let time = at(number as i64);
                let mut file_tx = file
                    .begin(Stamp::At(time))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let mut memory_tx = memory
                    .begin(Stamp::At(time))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                for spec in events {
                    let event = new_event(spec);
                    let from_file = outcome(&file_tx.stage(event.clone()));
                    let from_memory = outcome(&memory_tx.stage(event));
                    prop_assert!(!from_file.starts_with("unexpected"), "{}", from_file);
                    prop_assert_eq!(from_file, from_memory);
                    prop_assert_eq!(file_tx.head(), memory_tx.head());
                }
                if commit {
                    let from_file = outcome(&file_tx.commit());
                    let from_memory = outcome(&memory_tx.commit());
                    prop_assert_eq!(from_file, from_memory);
                }
            }
            Step::DeleteIndexes => {
                let _ = std::fs::remove_dir_all(path.join(".theseus"));
            }
            Step::Reopen => {
                file = FileStore::open(&path, config.clone())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
        prop_assert_eq!(file.head().ok(), memory.head().ok());
    }
    prop_assert_eq!(all(&file), all(&memory));
    for id in 1..25u128 {
        prop_assert_eq!(
            file.get(Uuid::from_u128(id)).ok(),
            memory.get(Uuid::from_u128(id)).ok()
        );
    }
    let file_report = file
        .verify(None)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let memory_report = memory
        .verify(None)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(file_report.head, memory_report.head);
    let mut segments: Vec<_> = std::fs::read_dir(&path)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    segments.sort();
    let mut bytes = Vec::new();
    for segment in segments {
        bytes.extend(std::fs::read(segment).map_err(|e| TestCaseError::fail(e.to_string()))?);
    }
    prop_assert_eq!(bytes, memory.lines().concat());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_file_store_behaves_like_the_memory_store(
        steps in prop::collection::vec(step(), 1..12),
        tiny_segments in any::<bool>(),
    ) {
        run(steps, if tiny_segments { 1 } else { 64 << 20 })?;
    }
}
