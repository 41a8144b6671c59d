//! The memory store shows the file store's behaviour.

use event_store::{EventStore, MemoryStore};

use crate::file_store::conformance;
use crate::helpers::{append_numbered, at};

#[test]
fn the_memory_store_passes_the_conformance_suite() {
    conformance(&MemoryStore::new());
}

#[test]
fn lines_round_trip_through_from_lines() {
    let memory = MemoryStore::new();
    append_numbered(&memory, at(0), 1, 3);
    append_numbered(&memory, at(1), 4, 2);
    let copy = MemoryStore::from_lines(memory.lines());
    assert_eq!(copy.head().expect("head"), memory.head().expect("head"));
    assert_eq!(copy.verify(None).expect("verify").records, 5);
    append_numbered(&copy, at(2), 6, 1);
    assert_eq!(copy.verify(None).expect("verify").records, 6);
}
