//! `theseus copy` between stores: file → PostgreSQL → file gives the same
//! bytes (the sample store, and a generated one, which `generate` also
//! writes identically on both); only what the target lacks is copied; a
//! target holding a different log is refused and left as it was.

use crate::support::{theseus_bin, Run, Store};

fn copy(from: &Store, to: &Store) -> Run {
    let output = std::process::Command::new(theseus_bin())
        .arg("copy")
        .arg("--from")
        .arg(from.spec())
        .arg("--to")
        .arg(to.spec())
        .env_remove("THESEUS_STORE")
        .output()
        .expect("run copy");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn bytes(store: &Store) -> Vec<u8> {
    crate::crash::concat(store.log_bytes())
}

/// file → PostgreSQL → file, byte for byte, with heads equal and both
/// copies verifying.
fn round_trip(source: &Store) {
    let Some(shared) = Store::postgres_uninitialised() else {
        return;
    };
    let out = copy(source, &shared).ok();
    assert!(out.starts_with("copied "), "{out}");
    let back = Store::uninitialised();
    copy(&shared, &back).ok();
    assert_eq!(
        bytes(&shared),
        bytes(source),
        "PostgreSQL holds the source's lines"
    );
    assert_eq!(
        bytes(&back),
        bytes(source),
        "the copy back is byte-identical"
    );
    let head = source.run(&["head"]).ok();
    for store in [&shared, &back] {
        assert_eq!(store.run(&["head"]).ok(), head);
        store.run(&["verify", "--expect-head", head.trim()]).ok();
    }
}

#[test]
fn the_sample_store_goes_to_postgres_and_back_byte_for_byte() {
    round_trip(&Store::sample());
}

#[test]
fn a_generated_store_goes_to_postgres_and_back_and_generate_writes_the_same_on_both() {
    let Some(shared) = Store::postgres_uninitialised() else {
        return;
    };
    let files = Store::uninitialised();
    let args = ["generate", "--events", "3000", "--seed", "7"];
    let on_files = files.run(&args).ok();
    // The same keys on both (an initialised, empty store), so the same bytes.
    shared.run(&["init"]).ok();
    shared.take_keys_of(&files);
    let on_postgres = shared.run(&args).ok();
    assert_eq!(on_postgres, on_files, "generate says the same");
    assert_eq!(bytes(&shared), bytes(&files), "and writes the same bytes");
    round_trip(&files);
}

#[test]
fn copy_sends_only_what_the_target_lacks_and_refuses_a_different_log() {
    let Some(shared) = Store::postgres() else {
        return;
    };
    let local = crate::cli::three_batches_in(Store::new());
    copy(&local, &shared).ok();
    let again = copy(&local, &shared).ok();
    assert!(again.starts_with("copied 0 records"), "{again}");
    // The unit appends more locally: the next copy sends just that batch.
    let more = r#"{"operation":"op-a","type":"AgentsDeployed","data":{"country":"AL","count":5}}"#;
    local
        .run_with_input(
            &["append", "--recorded-at", "2019-12-11T08:00:00Z"],
            more.as_bytes(),
        )
        .ok();
    let out = copy(&local, &shared).ok();
    assert!(out.starts_with("copied 1 records in 1 batches"), "{out}");
    assert_eq!(bytes(&shared), bytes(&local));

    // Another unit's log with a different history is refused, unchanged.
    let other = Store::new();
    other
        .run_with_input(
            &["append", "--recorded-at", "2019-12-09T06:00:00Z"],
            crate::support::data("cli/launch.ndjson").as_bytes(),
        )
        .ok();
    other
        .run_with_input(
            &["append", "--recorded-at", "2019-12-09T07:00:00Z"],
            more.as_bytes(),
        )
        .ok();
    let before = bytes(&shared);
    let stderr = copy(&other, &shared).fails(1);
    assert!(stderr.contains("holds a different log"), "{stderr}");
    let stderr = copy(&shared, &other).fails(1);
    assert!(stderr.contains("holds a different log"), "{stderr}");
    assert_eq!(bytes(&shared), before);
}

#[test]
fn the_same_input_appended_to_either_store_gives_the_same_bytes() {
    let Some(shared) = Store::postgres() else {
        return;
    };
    // Files first, then PostgreSQL with the same keys: the same bytes.
    let files = Store::new();
    let reported = r#"{"id":"00000000-0000-4000-8000-0000000000aa","operation":"op-a","type":"AgentsDeployed","reported_at":"2019-12-09T22:15:00+01:00","data":{"country":"RS","count":40}}"#;
    for store in [&files, &shared] {
        if std::ptr::eq(store, &shared) {
            shared.take_keys_of(&files);
        }
        crate::cli::three_batches_in_place(store);
        store
            .run_with_input(
                &[
                    "append",
                    "--recorded-by",
                    "unit-rs",
                    "--recorded-at",
                    "2019-12-11T09:30:00.123456789Z",
                ],
                reported.as_bytes(),
            )
            .ok();
    }
    let (pg, file) = (bytes(&shared), bytes(&files));
    assert!(
        String::from_utf8_lossy(&pg).contains(r#""reported_at":"2019-12-09T22:15:00+01:00""#),
        "reported_at is kept"
    );
    assert_eq!(pg, file, "PostgreSQL and files hold the same records");
}
