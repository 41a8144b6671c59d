//! `append --dry-run`, `--ids` and `--require-ids` through the binary: a dry
//! run reports every refusal with its line and field, treats a refused line
//! as absent, predicts what a real append does, and leaves the log
//! byte-identical.

use serde_json::{json, Value};

use crate::bad_input::{base_store, manifest};
use crate::support::{data, root, Store};

const AT: &str = "2020-02-01T00:00:00Z";

fn append(store: &Store, extra: &[&str], input: &str) -> crate::support::Run {
    let mut args = vec!["append", "--recorded-by", "test", "--recorded-at", AT];
    args.extend_from_slice(extra);
    store.run_with_input(&args, input.as_bytes())
}

/// `(line, field, kind)` of each error a dry run listed.
fn listed(report: &Value) -> Vec<(u64, Value, String)> {
    report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().expect("line"),
                e["field"].clone(),
                e["kind"].as_str().expect("kind").to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_dry_run_reports_every_refusal_with_its_line_and_field_and_writes_nothing() {
    let store = base_store();
    let before = store.log_bytes();
    let run = append(
        &store,
        &["--dry-run"],
        &data("dry-run/several-errors.ndjson"),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: the batch would be refused: 6 lines"),
        "{}",
        run.stderr
    );
    let report: Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(report["valid"], 2, "{report}");
    assert_eq!(report["duplicates"], 1, "{report}");
    assert_eq!(
        listed(&report),
        vec![
            (2, json!("data.count"), "refused".to_owned()),
            (3, json!("data.country"), "refused".to_owned()),
            (5, json!("data.occurred_at"), "refused".to_owned()),
            (6, json!("json"), "refused".to_owned()),
            // Line 7 retracts line 2's event, which was refused: it is absent.
            (7, json!("data.event_id"), "refused".to_owned()),
            // Versions count only the lines that would be appended (5 + 2).
            (10, json!("expected_version"), "conflict".to_owned()),
        ]
    );
    assert!(report["errors"][5]["message"]
        .as_str()
        .expect("message")
        .contains("at version 7, not 99"));
    assert_eq!(store.log_bytes(), before, "a dry run writes nothing");
    store.run(&["verify"]).ok();
}

#[test]
fn a_dry_run_with_only_conflicts_exits_3_and_a_clean_one_exits_0() {
    let store = base_store();
    let before = store.log_bytes();
    let run = append(
        &store,
        &["--dry-run"],
        &data("dry-run/only-conflicts.ndjson"),
    );
    assert_eq!(run.code, 3, "{run:?}");
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(report["valid"], 1, "the first line matches version 5");
    assert_eq!(
        listed(&report),
        vec![(2, json!("expected_version"), "conflict".to_owned())]
    );
    let run = append(&store, &["--dry-run"], &data("dry-run/valid.ndjson"));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).expect("json"),
        json!({"valid": 3, "duplicates": 1, "errors": []})
    );
    assert_eq!(store.log_bytes(), before);
}

#[test]
fn a_dry_run_predicts_the_positions_and_duplicates_of_the_real_append() {
    let store = base_store();
    let input = data("dry-run/valid.ndjson");
    let dry = append(&store, &["--dry-run", "--ids"], &input).json();
    let real = append(&store, &["--ids"], &input).json();
    assert_eq!(real["appended"], 3);
    assert_eq!(real["duplicates"], 1);
    let positions = |value: &Value| -> Vec<(u64, u64, bool)> {
        value["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|id| {
                (
                    id["line"].as_u64().expect("line"),
                    id["position"].as_u64().expect("position"),
                    id["duplicate"].as_bool().expect("duplicate"),
                )
            })
            .collect()
    };
    assert_eq!(positions(&dry), positions(&real));
    assert_eq!(
        positions(&real),
        vec![(1, 9, false), (2, 10, false), (3, 11, false), (4, 2, true)]
    );
    // The ids of lines that gave one are theirs; the others are generated.
    assert_eq!(real["ids"][0]["id"], "00000000-0000-4000-8000-0000000000e1");
    assert_eq!(real["ids"][3]["id"], "00000000-0000-4000-8000-000000000002");
    let generated = real["ids"][1]["id"].as_str().expect("id");
    assert_eq!(generated.len(), 36);
    let head = store.run(&["head"]).ok();
    assert!(head.starts_with("11:"), "{head}");
}

#[test]
fn a_dry_run_finds_the_first_error_of_every_bad_input_case_as_append_does() {
    let store = base_store();
    let before = store.log_bytes();
    for case in manifest() {
        let input =
            std::fs::read(root().join("tests/data/bad-input").join(&case.file)).expect("case file");
        let run = store.run_with_input(
            &[
                "append",
                "--dry-run",
                "--recorded-by",
                "test",
                "--recorded-at",
                AT,
            ],
            &input,
        );
        assert_eq!(run.code, case.code, "{}: {run:?}", case.file);
        let report: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}: {}", case.file, run.stdout));
        let first = &report["errors"][0];
        let field = first["field"]
            .as_str()
            .map(|f| format!("{f}: "))
            .unwrap_or_default();
        let shown = format!(
            "line {}: {field}{}",
            first["line"],
            first["message"].as_str().expect("message")
        );
        assert!(
            shown.starts_with(&case.message),
            "{}: {shown:?} does not start with {:?}",
            case.file,
            case.message
        );
    }
    assert_eq!(store.log_bytes(), before);
}

#[test]
fn a_dry_run_goes_on_past_a_line_longer_than_1_mib() {
    let store = base_store();
    let mut input = "x".repeat((1 << 20) + 10);
    input.push('\n');
    input.push_str(r#"{"operation": "theseus", "type": "AgentsDeployed", "data": {"country": "BA", "count": 0}}"#);
    input.push('\n');
    let run = append(&store, &["--dry-run"], &input);
    assert_eq!(run.code, 1);
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(
        listed(&report),
        vec![
            (1, Value::Null, "unreadable".to_owned()),
            (2, json!("data.count"), "refused".to_owned())
        ]
    );
}

#[test]
fn require_ids_refuses_a_line_without_an_id_and_writes_nothing() {
    let store = base_store();
    let before = store.log_bytes();
    let stderr = append(&store, &["--require-ids"], &data("dry-run/valid.ndjson")).fails(1);
    assert!(
        stderr.starts_with("error: line 2: id: missing: --require-ids refuses lines without an id"),
        "{stderr}"
    );
    assert_eq!(store.log_bytes(), before);
    let with_ids: String = data("dry-run/valid.ndjson")
        .lines()
        .filter(|line| line.contains("\"id\""))
        .map(|line| format!("{line}\n"))
        .collect();
    let summary = append(&store, &["--require-ids"], &with_ids).json();
    assert_eq!(summary["appended"], 2);
}

#[test]
fn sending_ids_makes_a_batch_safe_to_send_again_and_id_less_lines_count_twice() {
    let store = base_store();
    let input = data("dry-run/valid.ndjson");
    append(&store, &[], &input).ok();
    let again = append(&store, &["--ids"], &input).json();
    // Three lines carry ids and are skipped; the id-less one is new again.
    assert_eq!(again["appended"], 1);
    assert_eq!(again["duplicates"], 3);
    assert_eq!(again["ids"][1]["duplicate"], false);
}
