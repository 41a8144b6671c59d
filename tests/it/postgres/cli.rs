//! The CLI on a PostgreSQL store: the end-to-end tests of the file store
//! that make sense on a server, run unchanged; the sample store's reports
//! equal the file store's byte for byte; `init` is idempotent and refuses
//! layouts it does not know; an unreachable server fails in one line; and
//! `verify` catches a row edited by a superuser who disabled the trigger.

use std::net::TcpListener;

use crate::support::{theseus_bin, Store};

/// Runs a file-store CLI test on a new PostgreSQL store.
macro_rules! on_postgres {
    ($($name:ident($setup:path)),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let Some(store) = Store::postgres() else { return };
                crate::cli::$name(&($setup)(store));
            }
        )*
    };
}

fn empty(store: Store) -> Store {
    store
}

on_postgres!(
    append_prints_what_it_did_and_re_appending_changes_nothing_on(empty),
    recorded_by_comes_from_the_line_then_the_flag_on(empty),
    a_retraction_takes_its_event_out_of_every_report_on(crate::cli::three_batches_in),
    as_of_a_position_or_a_time_replays_that_prefix_on(crate::cli::three_batches_in),
    json_reports_say_which_log_prefix_they_come_from_on(crate::cli::three_batches_in),
    every_report_renders_in_every_format_on(crate::cli::three_batches_in),
    an_unknown_operation_is_an_error_not_an_empty_report_on(crate::cli::three_batches_in),
    expected_version_is_checked_per_operation_on(crate::cli::three_batches_in),
);

/// The sample store, copied into a new PostgreSQL store.
pub fn sample() -> Option<Store> {
    let store = Store::postgres()?;
    let source = Store::sample();
    let run = std::process::Command::new(theseus_bin())
        .arg("copy")
        .arg("--from")
        .arg(source.path())
        .arg("--to")
        .arg(store.spec())
        .output()
        .expect("run copy");
    assert!(run.status.success(), "{run:?}");
    Some(store)
}

#[test]
fn the_sample_store_on_postgres_prints_the_file_stores_reports_byte_for_byte() {
    let Some(store) = sample() else { return };
    let file = Store::sample();
    for args in [
        &["head"][..],
        &["verify", "--expect-head", file.run(&["head"]).ok().trim()],
    ] {
        let (on_postgres, on_files) = (store.run(args).ok(), file.run(args).ok());
        let on_postgres = on_postgres.replace(" 1 segments", " S segments");
        let on_files = on_files
            .split_whitespace()
            .enumerate()
            .map(|(i, word)| if i == 4 { "S" } else { word })
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            on_postgres.split_whitespace().collect::<Vec<_>>().join(" "),
            on_files
        );
    }
    for kind in ["summary", "countries", "timeline", "seizures", "networks"] {
        for format in ["table", "json", "csv", "markdown"] {
            for as_of in [None, Some("412"), Some("2019-12-12T00:00:00Z")] {
                let mut args = vec!["report", kind, "--format", format];
                if let Some(as_of) = as_of {
                    args.extend(["--as-of", as_of]);
                }
                assert_eq!(
                    store.run(&args).ok(),
                    file.run(&args).ok(),
                    "{args:?} differs between PostgreSQL and files"
                );
            }
        }
    }
    // The figures themselves: the sample test's checks, on PostgreSQL.
    let summary = store.summary();
    let theseus = summary["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["operation"] == "theseus")
        .expect("theseus");
    assert_eq!(theseus["arrests"], 236);
    assert_eq!(theseus["victims_rescued"], 89);
    assert_eq!(theseus["checks"]["passenger"], 2_500_000);
}

#[test]
fn every_bad_input_case_is_refused_on_postgres_and_the_head_does_not_move() {
    let Some(store) = Store::postgres() else {
        return;
    };
    let store = crate::bad_input::base_store_in(store);
    let head = store.run(&["head"]).ok();
    crate::bad_input::every_bad_input_case_is_refused_on(&store);
    assert_eq!(store.run(&["head"]).ok(), head);
}

#[test]
fn init_twice_changes_nothing_and_unknown_layouts_are_refused() {
    let Some(store) = Store::postgres_uninitialised() else {
        return;
    };
    let first = store.run(&["init"]).ok();
    assert!(
        first.starts_with("initialised an empty store in postgres://"),
        "{first}"
    );
    let store = crate::cli::three_batches_in(store);
    let before = store.log_bytes();
    let again = store.run(&["init"]).ok();
    assert!(
        again.contains("already holds a store: nothing to do"),
        "{again}"
    );
    assert_eq!(store.log_bytes(), before);
    store.run(&["verify"]).ok();

    let schema = store.schema().expect("postgres");
    schema.sql("INSERT INTO {s}.layout (version, description) VALUES (3, 'from a later theseus')");
    for args in [&["head"][..], &["init"], &["report", "summary"]] {
        let stderr = store.run(args).fails(1);
        assert!(
            stderr.starts_with("error: postgres://")
                && stderr.contains("layout 3, newer than this theseus knows (2)")
                && stderr.lines().count() == 1,
            "{args:?}: {stderr}"
        );
    }

    // A schema holding someone else's tables is not taken over.
    let Some(foreign) = Store::postgres_uninitialised() else {
        return;
    };
    let schema = foreign.schema().expect("postgres");
    schema.sql("CREATE SCHEMA {s}; CREATE TABLE {s}.invoices (id int)");
    let stderr = foreign.run(&["init"]).fails(1);
    assert!(stderr.contains("not a theseus store"), "{stderr}");
    let stderr = foreign.run(&["head"]).fails(1);
    assert!(stderr.contains("not a theseus store"), "{stderr}");
}

#[test]
fn a_missing_store_is_refused_with_the_init_hint() {
    let Some(store) = Store::postgres_uninitialised() else {
        return;
    };
    let stderr = store.run(&["report", "summary"]).fails(1);
    assert!(
        stderr.starts_with("error: no store at postgres://")
            && stderr.contains("theseus init --store postgres://"),
        "{stderr}"
    );
}

/// Runs `theseus --store URL head` (no server needed).
fn head_at(url: &str) -> crate::support::Run {
    let output = std::process::Command::new(theseus_bin())
        .args(["--store", url, "head"])
        .env_remove("THESEUS_STORE")
        .output()
        .expect("run theseus");
    crate::support::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn an_unreachable_or_silent_server_fails_in_one_line_naming_the_address() {
    // A port nobody listens on: refused at once.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let refused = format!("postgres://nobody:secret@127.0.0.1:{port}/ledger");
    let stderr = head_at(&refused).fails(1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: postgres://nobody:***@127.0.0.1:{port}/ledger: cannot connect:"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
    // A server that accepts the connection and then says nothing: the
    // connect timeout ends the wait.
    let silent = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = silent.local_addr().expect("address").port();
    let url = format!("postgres://nobody@127.0.0.1:{port}/ledger?connect_timeout=1");
    let stderr = head_at(&url).fails(1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no answer within 1 s"), "{stderr}");
    drop(silent);
    // And an address that does not parse is a usage error.
    let stderr = head_at("postgres://nobody@127.0.0.1/ledger?schema=Not-A-Name").fails(2);
    assert!(stderr.contains("schema `Not-A-Name`"), "{stderr}");
}

#[test]
fn verify_catches_a_row_edited_by_a_superuser_who_disabled_the_trigger() {
    let Some(store) = Store::postgres() else {
        return;
    };
    let store = crate::cli::three_batches_in(store);
    let head = store.run(&["head"]).ok();
    let schema = store.schema().expect("postgres");
    let edit = "UPDATE {s}.events \
                SET line = convert_to(replace(convert_from(line, 'UTF8'), '\"count\":12500', '\"count\":12501'), 'UTF8') \
                WHERE convert_from(line, 'UTF8') LIKE '%\"count\":12500%'";
    // With the trigger in place, not even a superuser can edit a row.
    let refused = std::panic::catch_unwind(|| schema.sql(edit));
    assert!(refused.is_err(), "the trigger let an UPDATE through");
    assert_eq!(store.run(&["head"]).ok(), head);
    schema.sql(&format!(
        "ALTER TABLE {{s}}.events DISABLE TRIGGER append_only; {edit}; \
         ALTER TABLE {{s}}.events ENABLE TRIGGER append_only"
    ));
    let stderr = store.run(&["verify"]).fails(4);
    assert!(
        stderr.contains(&format!("{}.events position", schema.name()))
            && stderr.contains("hash does not chain"),
        "names the row: {stderr}"
    );
    let stderr = store
        .run(&["verify", "--expect-head", head.trim()])
        .fails(4);
    assert!(stderr.contains("hash does not chain"), "{stderr}");
}
