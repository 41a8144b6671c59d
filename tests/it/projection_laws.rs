//! Laws of the projections: determinism, checkpoint plus tail, retraction cancels, independence, merge.
//!
//! Logs are built through the ledger (the real input pipeline) into memory
//! stores. The rule state (`ledger::state::Operations`) is a projection too,
//! so the laws of the rules as the ledger applies them live here as well:
//! valid histories are accepted line by line and replay to the same state,
//! and every rule refuses its violations without changing anything.

use std::fmt::Debug;
use std::io::Cursor;

use event_store::{EventStore, Head, MemoryStore, Range, Stamp};
use ledger::state::Operations;
use ledger::{AppendOptions, AsOf, LedgerError};
use projections::arrests::Arrests;
use projections::countries::Countries;
use projections::locations::Locations;
use projections::networks::Networks;
use projections::replay::{self, Checkpointed};
use projections::summary::Summary;
use projections::timeline::Timeline;
use projections::victims::Victims;
use projections::{render, Cell, Format, Projection, ReportKind};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use crate::conformance::at;
use crate::generators::{
    any_outcome, history, history_sized, input, interleave, invalid, operation_history,
    outcome_and_retraction, proptest_config, History, Invalid, Line, Rule,
};

fn options(batch: usize) -> AppendOptions {
    AppendOptions {
        recorded_by: "laws".into(),
        stamp: Stamp::At(at(batch)),
    }
}

/// A memory store holding `history`, appended batch by batch.
fn log_of(history: &History) -> MemoryStore {
    let store = MemoryStore::new();
    for (n, batch) in history.batches().into_iter().enumerate() {
        ledger::append(&store, Cursor::new(input(batch)), &options(n))
            .unwrap_or_else(|error| panic!("a valid batch was refused: {error}\n{history:#?}"));
    }
    store
}

/// A memory store holding `lines` as one batch.
fn log_of_lines(lines: &[Line]) -> MemoryStore {
    log_of(&History {
        lines: lines.to_vec(),
        batches: if lines.is_empty() {
            Vec::new()
        } else {
            vec![lines.len()]
        },
    })
}

/// The rows of a report without the columns that count records rather than
/// facts (events, retractions and the log position in the summary).
fn figures(store: &dyn EventStore, kind: ReportKind, operation: Option<&str>) -> Vec<Vec<Cell>> {
    let report = ledger::report(store, kind, AsOf::Head, operation, 1);
    let report = match report {
        Ok(report) => report,
        Err(LedgerError::UnknownOperation { .. }) => return Vec::new(),
        Err(error) => panic!("report {kind}: {error}"),
    };
    let skip: Vec<usize> = report
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(**c, "events" | "retracted" | "position"))
        .map(|(i, _)| i)
        .collect();
    report
        .rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .enumerate()
                .filter(|(i, _)| !skip.contains(i))
                .map(|(_, cell)| cell)
                .collect()
        })
        .collect()
}

fn fold_range<P: Projection>(store: &dyn EventStore, state: &mut P, from: u64, to: u64) {
    if from <= to {
        replay::fold(store, state, Range::new(from, to)).expect("fold");
    }
}

fn full<P: Projection>(store: &dyn EventStore) -> P {
    let mut state = P::default();
    fold_range(store, &mut state, 1, store.head().expect("head").position);
    state
}

fn head_at(store: &dyn EventStore, position: u64) -> Head {
    match position {
        0 => Head::EMPTY,
        p => {
            let record = store.get_at(p).expect("get_at").expect("record");
            Head {
                position: p,
                hash: record.hash,
            }
        }
    }
}

/// A state folded to `k`, then the rest, equals the full fold; and a
/// checkpoint saved at `k` plus the tail, as `build` does it, too.
fn checkpoint_law<P: Projection + PartialEq + Debug>(
    store: &MemoryStore,
    k: u64,
) -> Result<(), TestCaseError> {
    let n = store.head().expect("head").position;
    let whole: P = full(store);
    let mut state = P::default();
    fold_range(store, &mut state, 1, k);
    let at_k = state.clone();
    fold_range(store, &mut state, k + 1, n);
    prop_assert_eq!(&state, &whole, "{} folded to {} then on", P::NAME, k);

    let fresh = MemoryStore::from_lines(store.lines());
    replay::save(
        &fresh,
        &Checkpointed {
            state: at_k,
            head: head_at(&fresh, k),
        },
    )
    .expect("save");
    let built = replay::build::<P>(&fresh, fresh.head().expect("head"), 1).expect("build");
    prop_assert_eq!(
        &built.state,
        &whole,
        "{} from a checkpoint at {}",
        P::NAME,
        k
    );
    Ok(())
}

/// Parts folded apart and merged in order equal the whole fold.
fn merge_law<P: Projection + PartialEq + Debug>(
    store: &MemoryStore,
    cuts: &[u64],
) -> Result<(), TestCaseError> {
    let n = store.head().expect("head").position;
    let whole: P = full(store);
    let mut bounds: Vec<u64> = cuts.iter().map(|c| c % (n + 1)).collect();
    bounds.push(0);
    bounds.push(n);
    bounds.sort_unstable();
    bounds.dedup();
    let mut merged = P::default();
    for pair in bounds.windows(2) {
        let mut part = P::default();
        fold_range(store, &mut part, pair[0] + 1, pair[1]);
        merged.merge(part);
    }
    prop_assert_eq!(&merged, &whole, "{} merged at {:?}", P::NAME, bounds);
    Ok(())
}

fn rendered(store: &dyn EventStore) -> Vec<String> {
    let mut out = Vec::new();
    for kind in ReportKind::ALL {
        let report = ledger::report(store, kind, AsOf::Head, None, 1).expect("report");
        for format in [Format::Json, Format::Csv, Format::Table, Format::Markdown] {
            out.push(crate::support::figures(&render(
                &report,
                format,
                "theseus laws",
            )));
        }
    }
    out
}

/// Applies the domain's rules to the lines directly: the reference state.
fn reference_state(lines: &[Line]) -> Operations {
    let mut state = Operations::default();
    for line in lines {
        let slug = domain::Slug::parse(&line.operation).expect("slug");
        state.entry(&slug).apply(&line.event());
    }
    state
}

proptest! {
    #![proptest_config(proptest_config(48))]

    /// The same log gives byte-identical output in every format, whether
    /// built from scratch, from checkpoints, or in another store holding the
    /// same bytes. (Another store given the same input seals its references
    /// under keys of its own: the same figures, other bytes and hashes.)
    #[test]
    fn replay_is_deterministic(history in history()) {
        let store = log_of(&history);
        let first = rendered(&store);
        let again = rendered(&store); // now from the checkpoints just saved
        prop_assert_eq!(&first, &again);
        let copy = MemoryStore::from_lines(store.lines());
        prop_assert_eq!(&rendered(&copy), &first);
    }

    /// A checkpoint taken at any position plus a replay of the tail equals a
    /// full replay, for every projection and for the rule state.
    #[test]
    fn checkpoint_plus_tail_equals_full_replay(history in history(), k in any::<Index>()) {
        let store = log_of(&history);
        let k = k.index(history.lines.len() + 1) as u64;
        checkpoint_law::<Summary>(&store, k)?;
        checkpoint_law::<Countries>(&store, k)?;
        checkpoint_law::<Timeline>(&store, k)?;
        checkpoint_law::<Networks>(&store, k)?;
        checkpoint_law::<Victims>(&store, k)?;
        checkpoint_law::<Arrests>(&store, k)?;
        checkpoint_law::<Locations>(&store, k)?;
        checkpoint_law::<Operations>(&store, k)?;
    }

    /// Parts of the log folded apart and merged in order equal the fold of
    /// the whole (what parallel replay relies on).
    #[test]
    fn merged_parts_equal_the_whole(
        history in history(),
        cuts in proptest::collection::vec(any::<u64>(), 1..4),
    ) {
        let store = log_of(&history);
        merge_law::<Summary>(&store, &cuts)?;
        merge_law::<Countries>(&store, &cuts)?;
        merge_law::<Timeline>(&store, &cuts)?;
        merge_law::<Networks>(&store, &cuts)?;
        merge_law::<Victims>(&store, &cuts)?;
        merge_law::<Arrests>(&store, &cuts)?;
        merge_law::<Locations>(&store, &cuts)?;
        merge_law::<Operations>(&store, &cuts)?;
    }

    /// Any history plus an outcome and its retraction reports the same
    /// figures as the history alone (event counts aside).
    #[test]
    fn retraction_cancels(history in history(), outcome in any_outcome(), which in any::<Index>()) {
        let alone = log_of(&history);
        let extra = outcome_and_retraction(&history, &outcome, which);
        prop_assert_eq!(extra.len(), 2, "an outcome and its retraction, no join: {:?}", extra);
        let mut with = history.clone();
        with.lines.extend(extra);
        with.batches.push(2);
        let retracted = log_of(&with);
        for kind in ReportKind::ALL {
            prop_assert_eq!(
                figures(&retracted, kind, None),
                figures(&alone, kind, None),
                "{} report", kind
            );
        }
    }

    /// Interleaving two operations' events in any order leaves each
    /// operation's figures unchanged.
    #[test]
    fn operations_are_independent(
        a in operation_history(0, 24),
        b in operation_history(1, 24),
        schedule in proptest::collection::vec(0usize..2, 0..60),
    ) {
        let mixed = log_of_lines(&interleave(vec![a.clone(), b.clone()], &schedule));
        let only_a = log_of_lines(&a);
        let only_b = log_of_lines(&b);
        for kind in ReportKind::ALL {
            prop_assert_eq!(
                figures(&mixed, kind, Some("op-a")), figures(&only_a, kind, Some("op-a")),
                "{} report of op-a", kind
            );
            prop_assert_eq!(
                figures(&mixed, kind, Some("op-b")), figures(&only_b, kind, Some("op-b")),
                "{} report of op-b", kind
            );
        }
        let mixed_state: Operations = full(&mixed);
        let state_a: Operations = full(&only_a);
        prop_assert_eq!(mixed_state.operations.get("op-a"), state_a.operations.get("op-a"));
    }

    /// Every generated valid history is accepted line by line (one batch
    /// per line); the rule state replayed from the log equals the domain's
    /// fold of the lines, every time it is rebuilt.
    #[test]
    fn valid_histories_are_accepted_line_by_line(history in history()) {
        let store = MemoryStore::new();
        for (n, line) in history.lines.iter().enumerate() {
            let summary = ledger::append(&store, Cursor::new(input(std::slice::from_ref(line))), &options(n));
            prop_assert!(summary.is_ok(), "line {} refused: {:?}", n + 1, summary);
            prop_assert_eq!(summary.map(|s| s.appended).unwrap_or(0), 1);
        }
        let reference = reference_state(&history.lines);
        let head = store.head().expect("head");
        prop_assert_eq!(&ledger::state::load(&store, head).expect("state"), &reference);
        prop_assert_eq!(&full::<Operations>(&store), &reference);
        prop_assert_eq!(&full::<Operations>(&store), &reference);
        let copy = MemoryStore::from_lines(store.lines());
        prop_assert_eq!(&ledger::state::load(&copy, head).expect("state"), &reference);
    }

    /// Each rule refuses its generated violations, naming the offending line
    /// and field; the refused batch changes nothing (log bytes, head, rule
    /// state and reports).
    #[test]
    fn each_rule_refuses_its_violations(case in invalid()) {
        check_refused(&case)?;
    }
}

fn check_refused(case: &Invalid) -> Result<(), TestCaseError> {
    let store = log_of(&case.history);
    let lines = store.lines();
    let head = store.head().expect("head");
    let state = ledger::state::load(&store, head).expect("state");
    let reports = rendered(&store);
    let refused = ledger::append(
        &store,
        Cursor::new(input(&case.batch)),
        &options(case.history.batches.len()),
    );
    let line = case.batch.len() as u64;
    match (&refused, case.rule) {
        (Err(LedgerError::Conflict { line: at, .. }), Rule::VersionConflict) => {
            prop_assert_eq!(*at, line)
        }
        (
            Err(LedgerError::Refused {
                line: at, field, ..
            }),
            rule,
        ) => {
            prop_assert_eq!(*at, line, "{:?}", refused);
            prop_assert_eq!(field.as_str(), rule.field(), "{:?}", refused);
        }
        _ => prop_assert!(false, "{:?} was not refused as {:?}", refused, case.rule),
    }
    prop_assert_eq!(store.lines(), lines);
    prop_assert_eq!(store.head().expect("head"), head);
    prop_assert_eq!(ledger::state::load(&store, head).expect("state"), state);
    prop_assert_eq!(rendered(&store), reports);
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config(4))]

    /// Parallel replay (which only splits logs of thousands of records)
    /// equals the sequential fold.
    #[test]
    fn parallel_replay_equals_sequential(
        history in history_sized(3..=3, 1000, 1200),
        parts in 2u64..4,
    ) {
        let store = log_of(&history);
        let n = store.head().expect("head").position;
        // Long enough that fold_parallel really splits (it folds shorter
        // ranges sequentially): at least 1024 records per part.
        let parts = parts.min(n / 1024);
        prop_assert!(parts >= 2, "only {} records", n);
        let range = Range::new(1, n);
        let parallel: Summary = replay::fold_parallel(&store, range, parts).expect("fold");
        prop_assert_eq!(parallel, full::<Summary>(&store));
        let parallel: Countries = replay::fold_parallel(&store, range, parts).expect("fold");
        prop_assert_eq!(parallel, full::<Countries>(&store));
        let parallel: Timeline = replay::fold_parallel(&store, range, parts).expect("fold");
        prop_assert_eq!(parallel, full::<Timeline>(&store));
        let parallel: Networks = replay::fold_parallel(&store, range, parts).expect("fold");
        prop_assert_eq!(parallel, full::<Networks>(&store));
        let parallel: Victims = replay::fold_parallel(&store, range, parts).expect("fold");
        prop_assert_eq!(parallel, full::<Victims>(&store));
        let parallel: Arrests = replay::fold_parallel(&store, range, parts).expect("fold");
        prop_assert_eq!(parallel, full::<Arrests>(&store));
        let parallel: Locations = replay::fold_parallel(&store, range, parts).expect("fold");
        prop_assert_eq!(parallel, full::<Locations>(&store));
        // A filtered fold, which starts each part from the filter, too.
        let filter = projections::Filter {
            countries: [domain::Country::parse("AL").expect("AL"), domain::Country::parse("TR").expect("TR")].into(),
            ..projections::Filter::default()
        };
        let head = store.head().expect("head");
        let init = || projections::filter::Filtered::<Summary>::new(filter.clone());
        let options = |parts| projections::ReplayOptions { parts, checkpoints: false, progress: None };
        let (split, _) = replay::fold_from(&store, head, &options(parts), &init).expect("fold");
        let (whole, _) = replay::fold_from(&store, head, &options(1), &init).expect("fold");
        prop_assert_eq!(split.inner, whole.inner);
    }
}
