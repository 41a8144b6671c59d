//! The JSON Schema of an input line (`theseus schema`): the committed copy is
//! current, every line theseus accepts validates, and every error of shape in
//! the bad-input corpus fails it (checked with a JSON Schema validator).

use std::path::Path;

use serde_json::Value;

use crate::support::{data, root, Store};

const COMMITTED: &str = "events/schema/input-line.schema.json";

fn printed_schema() -> String {
    Store::uninitialised().run(&["schema"]).ok()
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&printed_schema()).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("a valid draft 2020-12 schema")
}

/// The lines of a JSON Lines file, as JSON values (blank lines skipped).
fn lines_of(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("readable");
    text.trim_start_matches('\u{feff}')
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

fn errors(validator: &jsonschema::Validator, line: &Value) -> Vec<String> {
    validator
        .iter_errors(line)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

#[test]
fn the_committed_schema_is_the_one_theseus_prints() {
    let committed = std::fs::read_to_string(root().join(COMMITTED)).expect("committed schema");
    assert!(
        committed == printed_schema(),
        "{COMMITTED} is stale: run `cargo run -p cli -- schema > {COMMITTED}` and commit it"
    );
}

#[test]
fn every_line_of_the_sample_batches_validates() {
    let validator = validator();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("events/batches")).expect("batches") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "ndjson") {
            continue;
        }
        for (i, line) in lines_of(&path).iter().enumerate() {
            let problems = errors(&validator, line);
            assert!(
                problems.is_empty(),
                "{}:{}: {problems:?}",
                path.display(),
                i + 1
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 737, "every event of the sample store");
}

#[test]
fn every_event_of_the_golden_file_and_the_accepted_inputs_validates() {
    let validator = validator();
    // The golden file holds `{"type", "data"}`: one event of each type.
    let golden = lines_of(&root().join("crates/domain/tests/golden/events-v1.jsonl"));
    assert_eq!(golden.len(), domain::EventType::ALL.len());
    for mut line in golden {
        line["operation"] = Value::from("golden");
        let problems = errors(&validator, &line);
        assert!(problems.is_empty(), "{line}: {problems:?}");
    }
    for entry in std::fs::read_dir(root().join("tests/data/accepted-input")).expect("dir") {
        let path = entry.expect("entry").path();
        for line in lines_of(&path) {
            let problems = errors(&validator, &line);
            assert!(
                problems.is_empty(),
                "{}: {line}: {problems:?}",
                path.display()
            );
        }
    }
}

#[test]
fn every_error_of_shape_in_the_bad_input_corpus_fails_the_schema() {
    let validator = validator();
    let cases: Vec<String> = data("bad-input/SCHEMA")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert!(cases.len() >= 25, "{} cases", cases.len());
    for case in cases {
        let lines = lines_of(&root().join("tests/data/bad-input").join(&case));
        let failing = lines
            .iter()
            .filter(|line| !validator.is_valid(line))
            .count();
        assert!(
            failing > 0,
            "{case}: every line validates, but theseus refuses it"
        );
    }
}

#[test]
fn the_schema_describes_each_type_and_its_enumerations() {
    let schema: Value = serde_json::from_str(&printed_schema()).expect("json");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let defs = &schema["$defs"];
    for event_type in domain::EventType::ALL {
        let def = &defs[event_type.as_str()];
        assert_eq!(def["additionalProperties"], false, "{event_type}");
        let names: Vec<&str> = event_type.fields().iter().map(|f| f.name).collect();
        let mut properties: Vec<&str> = def["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        properties.sort_unstable();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(properties, sorted, "{event_type}");
    }
    let locations = defs["location"]["enum"].as_array().expect("enum").len();
    assert_eq!(locations, domain::Location::ALL.len());
    let currencies = defs["currency"]["enum"].as_array().expect("currencies");
    assert!(
        currencies.contains(&Value::from("HRK")),
        "withdrawn codes are listed"
    );
    assert_eq!(defs["count"]["maximum"], u64::MAX);
}
