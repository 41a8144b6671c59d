//! `theseus import csv` through the binary: a `;`-delimited spreadsheet
//! export with a BOM and CRLF appends exactly what the equivalent JSON lines
//! append, and every error names the CSV line and the column.

use serde_json::Value;

use crate::bad_input::base_store;
use crate::support::{data, root, Store};

const AT: &str = "2020-02-01T00:00:00Z";

fn import(store: &Store, file: &str, kind: &str, extra: &[&str]) -> crate::support::Run {
    let path = root().join("tests/data/import").join(file);
    let path = path.to_str().expect("utf-8 path");
    let mut args = vec![
        "import",
        "csv",
        path,
        "--type",
        kind,
        "--operation",
        "theseus",
        "--recorded-by",
        "test",
        "--recorded-at",
        AT,
    ];
    args.extend_from_slice(extra);
    store.run(&args)
}

#[test]
fn a_semicolon_delimited_file_with_a_bom_appends_what_the_same_json_lines_append() {
    let from_csv = base_store();
    let summary = import(
        &from_csv,
        "arrests-semicolon-bom.csv",
        "arrest",
        &["--delimiter", ";"],
    )
    .json();
    assert_eq!(
        summary["appended"], 2,
        "the row of empty cells is skipped: {summary}"
    );
    let from_json = crate::bad_input::base_store_in(Store::with_keys_of(&from_csv));
    from_json
        .append(&data("import/arrests-equivalent.ndjson"))
        .ok();
    assert_eq!(
        from_csv.log_bytes(),
        from_json.log_bytes(),
        "the same records, byte for byte"
    );
    // Importing the file again changes nothing: its rows carry ids.
    let again = import(
        &from_csv,
        "arrests-semicolon-bom.csv",
        "ArrestMade",
        &["--delimiter", ";"],
    )
    .json();
    assert_eq!(again["appended"], 0);
    assert_eq!(again["duplicates"], 2);
}

#[test]
fn errors_name_the_csv_line_and_the_column_and_write_nothing() {
    let store = base_store();
    let before = store.log_bytes();
    let stderr = import(&store, "checks-errors.csv", "checks", &[]).fails(1);
    assert_eq!(
        stderr.trim_end(),
        r#"error: line 3: column count: "2,500" is not a whole number"#
    );
    assert_eq!(store.log_bytes(), before);
    let run = import(&store, "checks-errors.csv", "checks", &["--dry-run"]);
    assert_eq!(run.code, 1);
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(report["valid"], 1);
    let errors: Vec<String> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            format!(
                "line {}: {}: {}",
                e["line"],
                e["field"].as_str().unwrap_or("-"),
                e["message"].as_str().expect("message")
            )
        })
        .collect();
    let expected = [
        "line 3: column count: \"2,500\" is not a whole number",
        "line 4: column country: unknown country code \"XX\"",
        "line 5: column kind: unknown kind of check \"vehicles\"",
        "line 6: column count: must be at least 1",
        "line 7: column country: FR does not take part in operation theseus",
        "line 8: -: 3 cells, but the header has 4",
    ];
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for (got, want) in errors.iter().zip(expected) {
        assert!(
            got.starts_with(want),
            "{got:?} does not start with {want:?}"
        );
    }
    assert_eq!(store.log_bytes(), before);
}

#[test]
fn the_header_is_checked_against_the_event_type() {
    let store = base_store();
    let stderr = import(&store, "unknown-column.csv", "agents", &[]).fails(1);
    assert!(
        stderr.starts_with("error: line 1: column unit: unknown column for AgentsDeployed (expected country, count, id,"),
        "{stderr}"
    );
    let stderr = import(&store, "missing-column.csv", "agents", &[]).fails(1);
    assert!(
        stderr.starts_with("error: line 1: column count: missing: AgentsDeployed requires it"),
        "{stderr}"
    );
    let stderr = import(&store, "semicolons-read-with-commas.csv", "agents", &[]).fails(1);
    assert!(
        stderr.contains("--delimiter ';'"),
        "a hint at the delimiter: {stderr}"
    );
    let stderr = import(&store, "missing-column.csv", "agent", &[]).fails(2);
    assert!(stderr.contains("agents"), "a suggestion: {stderr}");
}

#[test]
fn nested_fields_are_two_columns_and_empty_cells_are_absent() {
    let store = base_store();
    let summary = import(&store, "network-fee.csv", "network", &["--ids"]).json();
    assert_eq!(summary["appended"], 2);
    let networks = store
        .run(&[
            "report",
            "networks",
            "--operation",
            "theseus",
            "--format",
            "json",
        ])
        .json();
    let profiled = networks["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["network"] == "net-fr-nl-uk-lorry-route")
        .cloned()
        .expect("the profiled network");
    let text = profiled.to_string();
    assert!(
        text.contains("7000.00") && text.contains("EUR") && text.contains("10000"),
        "{text}"
    );
}
