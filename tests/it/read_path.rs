//! The reading path needs no derived data and builds none: a report over a
//! store whose `.theseus` was deleted gives the figures it gives with
//! derived data, finds every retraction's target by the position it pins,
//! and leaves no id table or positions index behind (only the writers
//! build those).

use crate::support::Store;

/// A generated store (retractions included, each pinned to its target).
fn generated(events: &str) -> Store {
    let store = Store::uninitialised();
    store
        .run(&["generate", "--events", events, "--seed", "5"])
        .ok();
    store
}

/// Whether `.theseus` holds an index file of that name, in any key's
/// folder (`.theseus/<key id>/NAME`).
fn holds_index(derived: &std::path::Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(derived) else {
        return false;
    };
    entries
        .filter_map(Result::ok)
        .any(|entry| entry.path().join(name).exists())
}

fn summary_without_checkpoint(store: &Store) -> serde_json::Value {
    store
        .run(&["report", "summary", "--no-checkpoint", "--format", "json"])
        .json()
}

#[test]
fn a_report_without_derived_data_gives_the_same_figures_and_builds_no_index() {
    let store = generated("30000");
    let derived = store.path().join(".theseus");
    assert!(
        holds_index(&derived, "ids"),
        "the writers built their id table while generating"
    );
    let with_derived = summary_without_checkpoint(&store);
    std::fs::remove_dir_all(&derived).expect("remove .theseus");
    let without = summary_without_checkpoint(&store);
    assert_eq!(without, with_derived);
    for kind in ["countries", "timeline", "networks"] {
        std::fs::remove_dir_all(&derived).ok();
        store.run(&["report", kind, "--format", "json"]).ok();
    }
    for index in ["ids", "positions", "streams"] {
        assert!(
            !holds_index(&derived, index),
            "reading built the writers' {index} file"
        );
    }
    // The generated store has retractions: the figures above took them out.
    let retractions = store
        .log_bytes()
        .iter()
        .map(|(_, bytes)| {
            String::from_utf8_lossy(bytes)
                .matches("\"type\":\"EventRetracted\"")
                .count()
        })
        .sum::<usize>();
    assert!(retractions > 0, "the generated store has retractions");
}
