//! The CLI end to end: append, idempotent re-append, expected_version,
//! retraction, as-of by position and by time, formats, head and verify.

use crate::support::{data, figures, Store};

fn append_at(store: &Store, file: &str, at: &str) -> serde_json::Value {
    store
        .run_with_input(
            &["append", "--recorded-by", "test", "--recorded-at", at],
            data(&format!("cli/{file}")).as_bytes(),
        )
        .json()
}

/// A store holding the three test batches, recorded on three days.
fn three_batches() -> Store {
    three_batches_in(Store::new())
}

/// `store` (new and empty) with the three test batches appended.
pub(crate) fn three_batches_in(store: Store) -> Store {
    three_batches_in_place(&store);
    store
}

/// Appends the three test batches to `store` (new and empty).
pub(crate) fn three_batches_in_place(store: &Store) {
    append_at(store, "launch.ndjson", "2019-12-09T06:00:00Z");
    append_at(store, "day1.ndjson", "2019-12-09T21:00:00Z");
    append_at(store, "day2.ndjson", "2019-12-10T21:00:00Z");
}

fn summary_row(store: &Store, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["report", "summary", "--format", "json"];
    args.extend_from_slice(extra);
    let report = store.run(&args).json();
    report["rows"][0].clone()
}

#[test]
fn append_prints_what_it_did_and_re_appending_changes_nothing() {
    append_prints_what_it_did_and_re_appending_changes_nothing_on(&Store::new());
}

/// The test above on any store (new and empty).
pub(crate) fn append_prints_what_it_did_and_re_appending_changes_nothing_on(store: &Store) {
    let first = append_at(store, "launch.ndjson", "2019-12-09T06:00:00Z");
    assert_eq!(
        first,
        serde_json::json!({"appended": 2, "duplicates": 0, "first_position": 1, "last_position": 2})
    );
    let before = store.log_bytes();
    let again = append_at(store, "launch.ndjson", "2019-12-09T07:00:00Z");
    assert_eq!(
        again,
        serde_json::json!({"appended": 0, "duplicates": 2, "first_position": null, "last_position": null})
    );
    assert_eq!(store.log_bytes(), before);
}

#[test]
fn a_retraction_takes_its_event_out_of_every_report() {
    a_retraction_takes_its_event_out_of_every_report_on(&three_batches());
}

/// The test above on any store (holding the three test batches).
pub(crate) fn a_retraction_takes_its_event_out_of_every_report_on(store: &Store) {
    let row = summary_row(store, &[]);
    assert_eq!(row["arrests"], 1, "two arrests, one retracted");
    assert_eq!(row["retracted"], 1);
    assert_eq!(row["events"], 9);
    assert_eq!(row["status"], "closed");
    assert_eq!(row["victims_rescued"], 1);
    assert_eq!(row["checks"]["passenger"], 12_500);
    assert_eq!(row["cash"], serde_json::json!({"EUR": "1500.50"}));
    let countries = store
        .run(&["report", "countries", "--format", "json"])
        .json();
    let rs = countries["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["country"] == "RS")
        .expect("RS row")
        .clone();
    assert_eq!(rs["arrests"], 0);
    let networks = store
        .run(&["report", "networks", "--format", "json"])
        .json();
    let unattributed: Vec<_> = networks["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["network"].is_null())
        .collect();
    assert!(
        unattributed.is_empty(),
        "the only unattributed arrest was retracted: {networks}"
    );
}

#[test]
fn as_of_a_position_or_a_time_replays_that_prefix() {
    as_of_a_position_or_a_time_replays_that_prefix_on(&three_batches());
}

/// The test above on any store (holding the three test batches).
pub(crate) fn as_of_a_position_or_a_time_replays_that_prefix_on(store: &Store) {
    let at_6 = summary_row(store, &["--as-of", "6"]);
    assert_eq!(at_6["arrests"], 2, "before the retraction");
    assert_eq!(at_6["status"], "active");
    assert_eq!(at_6["position"], 6);
    let by_time = summary_row(store, &["--as-of", "2019-12-10T00:00:00Z"]);
    assert_eq!(
        by_time, at_6,
        "the second batch was recorded before midnight"
    );
    let at_2 = store
        .run(&["report", "summary", "--format", "json", "--as-of", "2"])
        .json();
    assert_eq!(at_2["as_of"]["position"], 2);
    assert_eq!(at_2["rows"][0]["agents_deployed"], 100);
    assert_eq!(at_2["rows"][0]["arrests"], 0);
    let stderr = store.run(&["report", "summary", "--as-of", "99"]).fails(1);
    assert!(stderr.contains("position 99"), "{stderr}");
}

#[test]
fn json_reports_say_which_log_prefix_they_come_from() {
    json_reports_say_which_log_prefix_they_come_from_on(&three_batches());
}

/// The test above on any store (holding the three test batches).
pub(crate) fn json_reports_say_which_log_prefix_they_come_from_on(store: &Store) {
    let head = store.run(&["head"]).ok();
    let report = store
        .run(&["report", "timeline", "--format", "json"])
        .json();
    assert_eq!(report["report"], "timeline");
    assert_eq!(
        format!(
            "{}:{}\n",
            report["as_of"]["position"],
            report["as_of"]["hash"].as_str().expect("hash")
        ),
        head
    );
    assert!(report["generated_by"]
        .as_str()
        .expect("generated_by")
        .starts_with("theseus "));
}

#[test]
fn every_report_renders_in_every_format() {
    every_report_renders_in_every_format_on(&three_batches());
}

/// The test above on any store (holding the three test batches).
pub(crate) fn every_report_renders_in_every_format_on(store: &Store) {
    for kind in crate::support::REPORT_KINDS {
        for format in crate::support::FORMATS {
            let out = store.run(&["report", kind, "--format", format]).ok();
            assert!(out.contains("op-a"), "{kind} {format}: {out}");
        }
    }
    let table = store.run(&["report", "summary"]).ok();
    assert!(table.contains("12,500"), "thousands separators: {table}");
    let csv = store.run(&["report", "seizures", "--format", "csv"]).ok();
    assert!(
        csv.starts_with("operation,country,item,quantity,unit\n"),
        "{csv}"
    );
    assert!(csv.contains("op-a,AL,cash,1500.50,EUR"), "{csv}");
}

#[test]
fn an_unknown_operation_is_an_error_not_an_empty_report() {
    an_unknown_operation_is_an_error_not_an_empty_report_on(&three_batches());
}

/// The test above on any store (holding the three test batches).
pub(crate) fn an_unknown_operation_is_an_error_not_an_empty_report_on(store: &Store) {
    let stderr = store
        .run(&["report", "summary", "--operation", "op-b"])
        .fails(1);
    assert!(stderr.contains("no operation op-b"), "{stderr}");
    let only = store
        .run(&[
            "report",
            "countries",
            "--operation",
            "op-a",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(only["rows"].as_array().expect("rows").len(), 2);
}

#[test]
fn expected_version_is_checked_per_operation() {
    expected_version_is_checked_per_operation_on(&three_batches());
}

/// The test above on any store (holding the three test batches).
pub(crate) fn expected_version_is_checked_per_operation_on(store: &Store) {
    let good = r#"{"operation":"op-a","type":"MigrantsDetected","expected_version":9,"data":{"country":"AL","occurred_at":"2019-12-11T10:00:00Z","location":"road","count":4}}"#;
    store.append(good).ok();
    // Sent again (without an id), the same line now expects a stale version.
    let before = store.log_bytes();
    let stderr = store.append(good).fails(3);
    assert!(
        stderr.starts_with("error: line 1: expected_version:"),
        "{stderr}"
    );
    assert_eq!(store.log_bytes(), before);
}

#[test]
fn head_and_verify_agree_and_verify_catches_an_edit() {
    let store = three_batches();
    let head = store.run(&["head"]).ok();
    assert!(head.starts_with("9:"), "{head}");
    let expect = head.trim();
    let verified = store.run(&["verify", "--expect-head", expect]).ok();
    assert!(verified.contains("9 records"), "{verified}");
    let (name, bytes) = store.log_bytes().remove(0);
    let text = String::from_utf8(bytes)
        .expect("utf8")
        .replace("\"count\":12500", "\"count\":12501");
    std::fs::write(store.path().join(&name), text).expect("tamper");
    let stderr = store.run(&["verify"]).fails(4);
    assert!(stderr.contains(&name), "names the segment: {stderr}");
}

#[test]
fn recorded_by_comes_from_the_line_then_the_flag() {
    recorded_by_comes_from_the_line_then_the_flag_on(&Store::new());
}

/// The test above on any store (new and empty).
pub(crate) fn recorded_by_comes_from_the_line_then_the_flag_on(store: &Store) {
    let lines = data("cli/launch.ndjson").replacen(
        "\"operation\":\"op-a\",\"type\":\"AgentsDeployed\"",
        "\"operation\":\"op-a\",\"recorded_by\":\"AL-unit\",\"type\":\"AgentsDeployed\"",
        1,
    );
    store.append(&lines).ok();
    let log = String::from_utf8(store.log_bytes().remove(0).1).expect("utf8");
    let by: Vec<&str> = log
        .lines()
        .map(|l| {
            l.split("\"recorded_by\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
        })
        .collect();
    assert_eq!(by, ["test", "AL-unit"]);
}

#[test]
fn deleting_the_derived_folder_changes_no_output() {
    let store = three_batches();
    let reports = |store: &Store| -> Vec<String> {
        ["summary", "countries", "timeline", "seizures", "networks"]
            .iter()
            .flat_map(|kind| {
                [
                    figures(&store.run(&["report", kind, "--format", "json"]).ok()),
                    figures(
                        &store
                            .run(&["report", kind, "--format", "csv", "--as-of", "5"])
                            .ok(),
                    ),
                ]
            })
            .collect()
    };
    let warm = reports(&store);
    assert!(
        store.path().join(".theseus").exists(),
        "reports and appends keep derived data"
    );
    std::fs::remove_dir_all(store.path().join(".theseus")).expect("delete derived data");
    assert_eq!(reports(&store), warm);
    // Appends rebuild what they need too: the duplicate is still recognised.
    std::fs::remove_dir_all(store.path().join(".theseus")).expect("delete derived data");
    let again = append_at(&store, "day1.ndjson", "2019-12-11T00:00:00Z");
    assert_eq!(again["duplicates"], 4);
}

#[test]
fn a_checkpoint_that_no_longer_matches_the_log_is_ignored() {
    let store = three_batches();
    let before = store.run(&["report", "summary", "--format", "json"]).ok();
    // Replace the log by a different one of the same length: every checkpoint
    // now names a hash the log does not hold.
    let other = Store::new();
    append_at(&other, "launch.ndjson", "2019-12-09T06:00:00Z");
    let lines = data("cli/day1.ndjson").replace("12500", "500");
    other
        .run_with_input(
            &[
                "append",
                "--recorded-by",
                "test",
                "--recorded-at",
                "2019-12-09T21:00:00Z",
            ],
            lines.as_bytes(),
        )
        .ok();
    append_at(&other, "day2.ndjson", "2019-12-10T21:00:00Z");
    for (name, _) in store.log_bytes() {
        std::fs::remove_file(store.path().join(name)).expect("remove segment");
    }
    for (name, bytes) in other.log_bytes() {
        std::fs::write(store.path().join(name), bytes).expect("copy segment");
    }
    let after = store.run(&["report", "summary", "--format", "json"]).json();
    assert_ne!(after.to_string(), before);
    assert_eq!(after["rows"][0]["checks"]["passenger"], 500);
}
