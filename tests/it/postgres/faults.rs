//! Faults mid-batch: a writer killed with SIGKILL while its rows are being
//! sent with COPY, and a writer whose server backend is terminated
//! (`pg_terminate_backend`) mid-batch. Each time: nothing of the batch is
//! visible, the head has not moved, the next append works and `verify`
//! passes. Bounded: three kills of each kind, each batch 40,000 events.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::crash::batch_lines;
use crate::support::{theseus_bin, Store};

const KILLS: u64 = 3;
const BATCH: u64 = 40_000;

/// Starts `theseus append FILE` on `store` with a batch of `BATCH` events.
fn start_append(store: &Store, batch: u64, dir: &std::path::Path) -> Child {
    let path = dir.join(format!("batch-{batch}.ndjson"));
    std::fs::write(&path, batch_lines(batch, BATCH)).expect("write the batch");
    Command::new(theseus_bin())
        .arg("--store")
        .arg(store.spec())
        .args(["append", "--recorded-by", "fault"])
        .arg(&path)
        .env_remove("THESEUS_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn theseus")
}

/// Waits (at most 60 s) until the store's writer session is running a
/// statement that matches `pattern`; its backend pid.
fn wait_for(store: &Store, pattern: &str) -> Option<i32> {
    let schema = store.schema().expect("postgres").name().to_owned();
    let mut admin = crate::postgres::admin();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let rows = admin
            .query(
                "SELECT pid FROM pg_stat_activity \
                 WHERE application_name = 'theseus' AND state = 'active' \
                   AND query LIKE $1 AND query LIKE $2",
                &[&pattern, &format!("%{schema}%")],
            )
            .expect("pg_stat_activity");
        if let Some(row) = rows.first() {
            return Some(row.get(0));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

/// Nothing of the interrupted batch is visible, the next append works and
/// the log verifies. True when the fault did interrupt the batch (rather
/// than land after its COMMIT).
fn check_after(store: &Store, head: &str, fault: &str, output: std::process::Output) -> bool {
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.success() {
        // The fault came after COMMIT: then the whole batch is there.
        assert!(
            stdout.contains(&format!("\"appended\":{BATCH}")),
            "{stdout}"
        );
    } else {
        assert_eq!(store.run(&["head"]).ok(), head, "{fault}: the head moved");
    }
    let rows = crate::crash::concat(store.log_bytes())
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64;
    let now = store.run(&["head"]).ok();
    let position: u64 = now
        .split(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("head");
    assert_eq!(rows, position, "{fault}: rows beyond the head");
    let more = r#"{"operation":"after","type":"OperationLaunched","data":{"name":"After","coordinator":"INTERPOL","countries":["AL"],"starts_on":"2020-01-01","ends_on":"2020-01-31"}}"#;
    let more = more.replace("\"after\"", &format!("\"after-{position}\""));
    store.run_with_input(&["append"], more.as_bytes()).ok();
    store.run(&["verify"]).ok();
    !output.status.success()
}

#[test]
fn a_writer_killed_mid_copy_leaves_nothing_and_the_next_append_works() {
    let Some(store) = Store::postgres() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut interrupted = 0;
    for kill in 0..KILLS {
        let head = store.run(&["head"]).ok();
        let mut child = start_append(&store, kill + 1, dir.path());
        let seen = wait_for(&store, "COPY%");
        let _ = child.kill(); // SIGKILL
        assert!(seen.is_some(), "the writer never reached COPY");
        let output = child.wait_with_output().expect("wait");
        interrupted += u64::from(check_after(&store, &head, "SIGKILL mid-COPY", output));
    }
    assert!(interrupted > 0, "no kill landed before COMMIT");
}

#[test]
fn a_writer_whose_backend_is_terminated_mid_batch_leaves_nothing() {
    let Some(store) = Store::postgres() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut admin = crate::postgres::admin();
    let mut interrupted = 0;
    for kill in 0..KILLS {
        let head = store.run(&["head"]).ok();
        let child = start_append(&store, 100 + kill, dir.path());
        let pid = wait_for(&store, "COPY%").expect("the writer never reached COPY");
        admin
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .expect("terminate");
        let output = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            assert!(stderr.starts_with("error: postgres://"), "{stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
        }
        interrupted += u64::from(check_after(&store, &head, "pg_terminate_backend", output));
    }
    assert!(interrupted > 0, "no termination landed before COMMIT");
}
