//! The roles `init` creates: a login role in the writer role appends and
//! reports but cannot change history, by any statement; a login role in the
//! reader role reports and cannot append.

use crate::support::{theseus_bin, Run, Store};

/// Runs `theseus` with `--store` at `url`, `input` on stdin.
fn run_as(url: &str, args: &[&str], input: &str) -> Run {
    use std::io::Write;
    let mut child = std::process::Command::new(theseus_bin())
        .arg("--store")
        .arg(url)
        .args(args)
        .env_remove("THESEUS_STORE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn theseus");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    let output = child.wait_with_output().expect("wait");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The store's address, logged in as `user`.
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("url");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}

#[test]
fn the_writer_role_appends_but_cannot_change_history() {
    let Some(store) = Store::postgres() else {
        return;
    };
    let schema = store.schema().expect("postgres");
    let unit = format!("{}_unit", schema.name());
    schema.sql(&format!(
        "CREATE ROLE \"{unit}\" LOGIN IN ROLE \"{}_writer\"",
        schema.name()
    ));
    let url = as_user(schema.url(), &unit);
    let launch = crate::support::data("cli/launch.ndjson");
    run_as(
        &url,
        &["append", "--recorded-at", "2019-12-09T06:00:00Z"],
        &launch,
    )
    .ok();
    let day1 = crate::support::data("cli/day1.ndjson");
    run_as(
        &url,
        &["append", "--recorded-at", "2019-12-09T21:00:00Z"],
        &day1,
    )
    .ok();
    run_as(&url, &["report", "summary"], "").ok();
    let head = run_as(&url, &["head"], "").ok();
    let before = store.log_bytes();

    let mut client = postgres::Client::connect(
        &as_user(schema.url(), &unit).replace(&format!("?schema={}", schema.name()), ""),
        postgres::NoTls,
    )
    .expect("connect as the unit");
    let s = format!("\"{}\"", schema.name());
    for statement in [
        format!("UPDATE {s}.events SET line = line"),
        format!("DELETE FROM {s}.events"),
        format!("TRUNCATE {s}.events"),
        format!("ALTER TABLE {s}.events DISABLE TRIGGER append_only"),
        format!("DROP TABLE {s}.events"),
        format!("UPDATE {s}.head SET position = position - 1"),
        format!("DELETE FROM {s}.head"),
        format!("UPDATE {s}.streams SET version = version - 1"),
        format!("DELETE FROM {s}.streams"),
        format!("UPDATE {s}.layout SET version = 9"),
    ] {
        let result = client.batch_execute(&statement);
        assert!(result.is_err(), "the writer role could run {statement}");
    }
    assert_eq!(store.log_bytes(), before, "nothing changed");
    assert_eq!(run_as(&url, &["head"], "").ok(), head);
    run_as(&url, &["verify", "--expect-head", head.trim()], "").ok();
}

#[test]
fn the_reader_role_reports_but_cannot_append() {
    let Some(store) = Store::postgres() else {
        return;
    };
    let store = crate::cli::three_batches_in(store);
    let schema = store.schema().expect("postgres");
    let unit = format!("{}_unit", schema.name());
    schema.sql(&format!(
        "CREATE ROLE \"{unit}\" LOGIN IN ROLE \"{}_reader\"",
        schema.name()
    ));
    let url = as_user(schema.url(), &unit);
    // Reports work (their checkpoint cannot be saved, which costs only time).
    assert_eq!(
        run_as(&url, &["report", "summary", "--format", "json"], "").ok(),
        store.run(&["report", "summary", "--format", "json"]).ok()
    );
    run_as(&url, &["verify"], "").ok();
    let before = store.log_bytes();
    let more = r#"{"operation":"op-a","type":"AgentsDeployed","data":{"country":"AL","count":1}}"#;
    let stderr = run_as(&url, &["append"], more).fails(1);
    assert!(
        stderr.starts_with("error: postgres://") && stderr.contains("permission denied"),
        "{stderr}"
    );
    assert_eq!(store.log_bytes(), before);
}
