//! Erasure that keeps the chain: references are sealed at append, `erase`
//! destroys a subject's key and records it; afterwards every report is
//! byte for byte what it was, `verify` passes, and the reference is
//! nowhere (the store's files, derived data, every export, the API). Old
//! logs (format 1, format 2) hold their references in clear and still
//! replay and verify.

use crate::cli::three_batches_in_place;
use crate::support::{root, Store, FORMATS, REPORT_KINDS};

/// A reference of the test batches (day1.ndjson, operation op-a).
const ERASED: &str = "RS-S-1";
/// Another subject of the same batches, which must stay readable.
const KEPT: &str = "AL-S-1";

/// Every report in every format as of `position`, replayed from position
/// 1 (no checkpoint: what the log alone says).
fn every_report(store: &Store, position: u64) -> Vec<(String, String)> {
    let position = position.to_string();
    let mut out = Vec::new();
    for kind in REPORT_KINDS.iter().chain(&["consultations"]) {
        for format in FORMATS {
            let args = [
                "report",
                kind,
                "--format",
                format,
                "--as-of",
                position.as_str(),
                "--no-checkpoint",
            ];
            out.push((format!("{kind}/{format}"), store.run(&args).ok()));
        }
    }
    out
}

/// Everything the tool prints about the events, in every format.
fn every_export(store: &Store) -> String {
    let mut out = String::new();
    for format in FORMATS {
        out += &store.run(&["events", "--format", format]).ok();
        out += &store
            .run(&[
                "trace",
                "arrests",
                "--operation",
                "op-a",
                "--format",
                format,
            ])
            .ok();
        out += &store.run(&["diff", "--from", "1", "--format", format]).ok();
    }
    for kind in REPORT_KINDS {
        out += &store.run(&["report", kind, "--format", "json"]).ok();
    }
    out
}

/// Every file under `dir` (the store, its derived data, its key file).
fn every_file(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(every_file(&path));
        } else {
            files.push((path.clone(), std::fs::read(&path).expect("file")));
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn head_position(store: &Store) -> u64 {
    let head = store.run(&["head"]).ok();
    head.trim()
        .split(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("POSITION:HASH")
}

fn revealed(store: &Store) -> String {
    store
        .run(&[
            "events",
            "--reveal",
            "--purpose",
            "test",
            "--format",
            "jsonl",
        ])
        .ok()
}

#[test]
fn references_are_stored_sealed_and_open_only_through_a_consultation() {
    let store = Store::new();
    three_batches_in_place(&store);
    for (path, bytes) in every_file(store.path()) {
        for reference in [ERASED, KEPT, "RS-V-1"] {
            assert!(
                !contains(&bytes, reference),
                "{} holds {reference} in clear",
                path.display()
            );
        }
    }
    let key_file = store.path().join("subject-keys");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file)
            .expect("the key file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the key file is for the owner only");
    let shown = revealed(&store);
    for reference in [ERASED, KEPT, "RS-V-1"] {
        assert!(
            shown.contains(reference),
            "{reference} is not revealed: {shown}"
        );
    }
}

#[test]
fn after_erase_every_report_is_byte_identical_verify_passes_and_the_reference_is_nowhere() {
    let store = Store::new();
    three_batches_in_place(&store);
    let head = head_position(&store);
    let reports = every_report(&store, head);
    let summary = store.summary();
    // The test can fail: before the erasure, a consultation shows it.
    assert!(revealed(&store).contains(ERASED));
    let keys_before = std::fs::read(store.path().join("subject-keys")).expect("keys");

    let said = store
        .run(&[
            "erase",
            "--operation",
            "op-a",
            "--subject",
            ERASED,
            "--reason",
            "court order 2020/117",
        ])
        .ok();
    assert!(said.starts_with("erased:"), "{said}");
    assert!(!said.contains(ERASED), "erase echoes the reference: {said}");

    assert_eq!(every_report(&store, head), reports, "a report changed");
    let after = store.summary();
    assert_eq!(
        after["rows"], summary["rows"],
        "a figure changed at the new head"
    );
    assert!(store.run(&["verify"]).ok().starts_with("ok: "));
    // The key is gone from the key file (which shrank by one entry).
    let keys_after = std::fs::read(store.path().join("subject-keys")).expect("keys");
    assert_eq!(
        keys_after.len() + event_store::subject_keys::ENTRY_LEN,
        keys_before.len()
    );
    // Nowhere: no file of the store, no export, no consultation.
    for (path, bytes) in every_file(store.path()) {
        assert!(!contains(&bytes, ERASED), "{} holds it", path.display());
    }
    assert!(!every_export(&store).contains(ERASED));
    let shown = revealed(&store);
    assert!(!shown.contains(ERASED), "{shown}");
    assert!(shown.contains("(erased)"));
    assert!(shown.contains(KEPT), "another subject stays readable");
    // The erasure is recorded without the reference: who, why, which key.
    let log: String = store
        .log_bytes()
        .into_iter()
        .map(|(_, bytes)| String::from_utf8(bytes).expect("utf-8"))
        .collect();
    let erasure = log
        .lines()
        .find(|line| line.contains("\"type\":\"SubjectErased\""))
        .expect("the erasure's record");
    assert!(erasure.contains("\"reason\":\"court order 2020/117\""));
    assert!(erasure.contains("\"operation\":\"theseus.privacy\""));
    assert!(erasure.contains("\"sealed_records\":1"));
}

#[test]
fn erase_refuses_what_it_cannot_do_and_changes_nothing() {
    let store = Store::new();
    three_batches_in_place(&store);
    let log = store.log_bytes();
    let keys = std::fs::read(store.path().join("subject-keys")).expect("keys");
    let refusals = [
        (
            vec!["--operation", "nope", "--subject", ERASED, "--reason", "r"],
            1,
            "no operation nope",
        ),
        (
            vec![
                "--operation",
                "op-a",
                "--subject",
                "NOBODY",
                "--reason",
                "r",
            ],
            1,
            "no key for this subject",
        ),
        (
            vec!["--operation", "op-a", "--subject", ERASED, "--reason", " "],
            1,
            "--reason",
        ),
        (
            vec!["--operation", "Op A", "--subject", ERASED, "--reason", "r"],
            1,
            "--operation",
        ),
        (
            vec!["--operation", "op-a", "--subject", ERASED],
            2,
            "--reason",
        ),
    ];
    for (args, code, says) in refusals {
        let mut command = vec!["erase"];
        command.extend(args.iter().copied());
        let error = store.run(&command).fails(code);
        assert!(error.contains(says), "{command:?}: {error}");
        assert!(
            !error.contains(ERASED),
            "{command:?} echoes the reference: {error}"
        );
        assert_eq!(store.log_bytes(), log, "{command:?} wrote to the log");
        assert_eq!(
            std::fs::read(store.path().join("subject-keys")).expect("keys"),
            keys,
            "{command:?} changed the keys"
        );
    }
    // Once erased, a second erasure and a re-send of the erased event are
    // refused, and neither writes anything.
    store
        .run(&[
            "erase",
            "--operation",
            "op-a",
            "--subject",
            ERASED,
            "--reason",
            "r",
        ])
        .ok();
    let log = store.log_bytes();
    store
        .run(&[
            "erase",
            "--operation",
            "op-a",
            "--subject",
            ERASED,
            "--reason",
            "r",
        ])
        .fails(1);
    let error = store
        .run_with_input(
            &["append"],
            crate::support::data("cli/day1.ndjson").as_bytes(),
        )
        .fails(1);
    assert!(
        error.contains("already used by a different event"),
        "{error}"
    );
    assert_eq!(store.log_bytes(), log);
}

#[test]
fn a_re_sent_event_is_a_duplicate_because_sealing_is_deterministic_per_event() {
    let store = Store::new();
    three_batches_in_place(&store);
    let log = store.log_bytes();
    let again = store
        .append(&crate::support::data("cli/day1.ndjson"))
        .json();
    assert_eq!(again["appended"], 0);
    assert_eq!(again["duplicates"], 4);
    assert_eq!(store.log_bytes(), log);
}

#[test]
fn a_sealed_reference_in_input_is_refused() {
    let store = Store::new();
    store
        .append(&crate::support::data("cli/launch.ndjson"))
        .ok();
    let log = store.log_bytes();
    let line = r#"{"operation":"op-a","type":"ArrestMade","data":{"country":"AL","occurred_at":"2019-12-09T10:00:00Z","location":"road","suspect":{"key":"000102030405060708090a0b0c0d0e0f","sealed":"00112233445566778899aabbccddeeff00"}}}"#;
    let error = store.append(line).fails(1);
    assert!(
        error.contains("line 1: data.suspect: a sealed reference cannot be sent"),
        "{error}"
    );
    assert_eq!(store.log_bytes(), log);
}

/// A store of an earlier format: its segment copied into a new directory.
fn fixture(format: &str) -> Store {
    let old = Store::uninitialised();
    std::fs::copy(
        root().join(format!(
            "tests/data/fixtures/{format}/00000000000000000001.jsonl"
        )),
        old.path().join("00000000000000000001.jsonl"),
    )
    .expect("copy the fixture");
    old
}

#[test]
fn a_log_of_the_second_record_format_with_references_in_clear_replays_verifies_and_is_not_erased() {
    let old = fixture("format-2");
    let text = String::from_utf8(old.log_bytes().remove(0).1).expect("utf-8");
    assert!(
        text.contains("refers_to"),
        "the fixture is of the second format"
    );
    assert!(
        text.contains(&format!("\"suspect\":\"{ERASED}\"")),
        "written in clear"
    );
    assert!(old.run(&["verify"]).ok().starts_with("ok: 9 records"));
    // The same batches written today give the same figures.
    let new = Store::new();
    three_batches_in_place(&new);
    let rows = |store: &Store| store.summary()["rows"].clone();
    assert_eq!(rows(&old), rows(&new));
    for kind in REPORT_KINDS {
        let report =
            |store: &Store| store.run(&["report", kind, "--format", "json"]).json()["rows"].clone();
        assert_eq!(report(&old), report(&new), "{kind}");
    }
    // Listings leave the clear references out; a consultation shows them.
    assert!(!old
        .run(&["events", "--format", "jsonl"])
        .ok()
        .contains(ERASED));
    assert!(revealed(&old).contains(ERASED));
    // There is no key to destroy, and the chain cannot change: refused.
    let before = old.log_bytes();
    let error = old
        .run(&[
            "erase",
            "--operation",
            "op-a",
            "--subject",
            ERASED,
            "--reason",
            "r",
        ])
        .fails(1);
    assert!(error.contains("in clear in 1 records"), "{error}");
    assert_eq!(old.log_bytes(), before);
}

#[test]
fn a_log_of_the_first_record_format_replays_and_verifies_with_the_privacy_records_added() {
    let old = fixture("format-1");
    let summary = old.summary();
    revealed(&old);
    assert!(old.run(&["verify"]).ok().starts_with("ok: 738 records"));
    assert_eq!(old.summary()["rows"], summary["rows"]);
}

#[test]
fn erasure_on_postgresql_deletes_the_key_row_and_keeps_every_figure() {
    let Some(store) = Store::postgres() else {
        return;
    };
    three_batches_in_place(&store);
    let schema = store.schema().expect("a schema").name().to_owned();
    let keys = || -> i64 {
        crate::postgres::admin()
            .query_one(
                &format!("SELECT count(*) FROM \"{schema}\".subject_keys"),
                &[],
            )
            .expect("count keys")
            .get(0)
    };
    let before = keys();
    let head = head_position(&store);
    let reports = every_report(&store, head);
    assert!(revealed(&store).contains(ERASED));
    store
        .run(&[
            "erase",
            "--operation",
            "op-a",
            "--subject",
            ERASED,
            "--reason",
            "r",
        ])
        .ok();
    assert_eq!(keys(), before - 1);
    assert_eq!(every_report(&store, head), reports);
    assert!(store.run(&["verify"]).ok().starts_with("ok: "));
    let shown = revealed(&store);
    assert!(!shown.contains(ERASED) && shown.contains(KEPT), "{shown}");
    let log = String::from_utf8(store.log_bytes().remove(0).1).expect("utf-8");
    assert!(!log.contains(ERASED));
}

#[test]
fn after_erase_the_api_shows_the_reference_nowhere_and_serves_no_consultations() {
    let store = Store::new();
    three_batches_in_place(&store);
    let analyst = crate::service::add_agency(&store, &["eu-analyst", "--role", "analyst"]);
    store
        .run(&[
            "erase",
            "--operation",
            "op-a",
            "--subject",
            ERASED,
            "--reason",
            "r",
        ])
        .ok();
    revealed(&store);
    let server = crate::service::Server::start(&store, &[]);
    let token = Some(analyst.as_str());
    let mut seen = String::new();
    let events = server.get("/v1/events?after=0&limit=1000", token);
    assert_eq!(events.status, 200, "{}", events.text());
    seen += &events.text();
    for kind in REPORT_KINDS {
        for format in FORMATS {
            let reply = server.get(&format!("/v1/reports/{kind}?format={format}"), token);
            assert_eq!(reply.status, 200, "{kind}/{format}: {}", reply.text());
            seen += &reply.text();
        }
    }
    assert!(
        seen.contains("op-a"),
        "the listing holds the operation's events"
    );
    assert!(!seen.contains(ERASED));
    assert!(!seen.contains(KEPT), "the API never shows a reference");
    let consultations = server.get("/v1/reports/consultations", token);
    assert_eq!(consultations.status, 404, "{}", consultations.text());
}

#[test]
fn a_copy_takes_the_keys_of_the_references_it_copies_but_not_the_erased_ones() {
    let store = Store::new();
    three_batches_in_place(&store);
    store
        .run(&[
            "erase",
            "--operation",
            "op-a",
            "--subject",
            ERASED,
            "--reason",
            "r",
        ])
        .ok();
    let copy = Store::uninitialised();
    store
        .run(&[
            "copy",
            "--from",
            &store.spec().to_string_lossy(),
            "--to",
            &copy.spec().to_string_lossy(),
        ])
        .ok();
    assert_eq!(copy.log_bytes(), store.log_bytes());
    assert!(copy.run(&["verify"]).ok().starts_with("ok: "));
    let shown = revealed(&copy);
    assert!(
        shown.contains(KEPT),
        "the copy opens what the source opens: {shown}"
    );
    assert!(shown.contains("RS-V-1"));
    assert!(!shown.contains(ERASED), "an erased subject stays erased");
}

/// The key id each record's sealed suspect names, by event id.
fn suspect_keys(store: &Store) -> std::collections::BTreeMap<String, String> {
    let mut keys = std::collections::BTreeMap::new();
    for (_, bytes) in store.log_bytes() {
        for line in String::from_utf8(bytes).expect("utf8").lines() {
            let record: serde_json::Value = serde_json::from_str(line).expect("a record");
            if let Some(key) = record["data"]["suspect"]["key"].as_str() {
                let id = record["id"].as_str().expect("id").to_owned();
                keys.insert(id, key.to_owned());
            }
        }
    }
    keys
}

#[test]
fn one_subject_is_sealed_under_one_key_within_a_batch_and_across_batches() {
    // Erasing a subject destroys one key, so every reference to it must be
    // sealed under that key: met twice in one batch (the second find is
    // answered from the keys the batch has made) and met again later.
    let store = Store::new();
    three_batches_in_place(&store);
    let arrest = |id: u32, suspect: &str| {
        format!(
            r#"{{"id":"00000000-0000-4000-8000-0000000009{id:02}","operation":"op-a","type":"ArrestMade","data":{{"country":"RS","occurred_at":"2019-12-11T10:00:00+01:00","location":"road","suspect":"{suspect}"}}}}"#
        )
    };
    let batch = [
        arrest(1, "RS-S-9"),
        arrest(2, KEPT),
        arrest(3, "RS-S-9"),
        arrest(4, "RS-S-8"),
    ]
    .join("\n");
    let run = store.run_with_input(
        &["append", "--recorded-at", "2019-12-11T21:00:00Z"],
        batch.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let keys = suspect_keys(&store);
    let key = |id: &str| keys.get(id).cloned().expect("a sealed suspect");
    let new = |n: u32| key(&format!("00000000-0000-4000-8000-0000000009{n:02}"));
    assert_eq!(new(1), new(3), "RS-S-9 twice in one batch");
    assert_eq!(
        new(2),
        key("00000000-0000-4000-8000-000000000011"),
        "{KEPT} again, a batch later"
    );
    assert_ne!(new(1), new(4), "two subjects, two keys");
    assert_ne!(new(1), new(2));
}
