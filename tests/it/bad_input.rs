//! A corpus of bad input: each case is refused with its exit code and a message naming the line, and leaves the log byte-identical.
//!
//! The cases are files under `tests/data/bad-input/`, listed with their
//! expected exit code and message in its `MANIFEST`. The documented
//! acceptances (a BOM at the start, CRLF line ends, blank lines) are under
//! `tests/data/accepted-input/`: each must append exactly what the clean
//! input appends, byte for byte.

use std::path::PathBuf;

use crate::support::{data, root, Store};

/// The input appended before each case (see the MANIFEST's header).
pub(crate) fn base_store() -> Store {
    base_store_in(Store::new())
}

/// `store` (new and empty) with the base input appended.
pub(crate) fn base_store_in(store: Store) -> Store {
    store.append(&data("bad-input/base.ndjson")).ok();
    store
}

fn corpus_dir() -> PathBuf {
    root().join("tests/data/bad-input")
}

#[derive(Debug)]
pub(crate) struct Case {
    pub file: String,
    pub code: i32,
    /// What stderr must start with after `error: `.
    pub message: String,
}

pub(crate) fn manifest() -> Vec<Case> {
    data("bad-input/MANIFEST")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (file, rest) = line
                .trim()
                .split_once(char::is_whitespace)
                .expect("file and code");
            let (code, message) = rest
                .trim_start()
                .split_once(char::is_whitespace)
                .expect("code and message");
            Case {
                file: file.to_owned(),
                code: code
                    .parse()
                    .unwrap_or_else(|_| panic!("exit code in {line:?}")),
                message: message.trim().to_owned(),
            }
        })
        .collect()
}

/// Appends `input` to `store` and checks the refusal: the exit code, a
/// message starting with `error: <message>`, and the log unchanged. Returns
/// a description of what went wrong, if anything.
fn check_refused(
    store: &Store,
    name: &str,
    input: &[u8],
    code: i32,
    message: &str,
) -> Option<String> {
    let before = store.log_bytes();
    let run = store.run_with_input(
        &[
            "append",
            "--recorded-by",
            "test",
            "--recorded-at",
            "2020-02-01T00:00:00Z",
        ],
        input,
    );
    let mut problems = Vec::new();
    if run.code != code {
        problems.push(format!("exit {} instead of {code}", run.code));
    }
    let expected = format!("error: {message}");
    if !run.stderr.starts_with(&expected) {
        problems.push(format!(
            "stderr {:?} does not start with {expected:?}",
            run.stderr
        ));
    }
    if run.stderr.contains("panicked") {
        problems.push("panicked".to_owned());
    }
    if store.log_bytes() != before {
        problems.push("the log changed".to_owned());
    }
    (!problems.is_empty()).then(|| format!("{name}: {}", problems.join("; ")))
}

#[test]
fn the_corpus_has_at_least_30_cases_each_naming_its_line_and_every_file_is_listed() {
    let cases = manifest();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    for case in &cases {
        assert!(
            case.message.starts_with("line ") && case.message.contains(": "),
            "{}: the expected message must name the line: {:?}",
            case.file,
            case.message
        );
        assert!(
            matches!(case.code, 1 | 3),
            "{}: exit {}",
            case.file,
            case.code
        );
    }
    let mut listed: Vec<&str> = cases.iter().map(|case| case.file.as_str()).collect();
    listed.sort_unstable();
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".ndjson") && name != "base.ndjson")
        .collect();
    files.sort_unstable();
    assert_eq!(listed, files, "MANIFEST and the case files differ");
}

#[test]
fn every_bad_input_case_is_refused_naming_its_line_and_leaves_the_log_byte_identical() {
    every_bad_input_case_is_refused_on(&base_store());
}

/// The corpus against `store` (holding the base input).
pub(crate) fn every_bad_input_case_is_refused_on(store: &Store) {
    let base_log = store.log_bytes();
    let mut failures = Vec::new();
    for case in manifest() {
        let input = std::fs::read(corpus_dir().join(&case.file)).expect("case file");
        failures.extend(check_refused(
            store,
            &case.file,
            &input,
            case.code,
            &case.message,
        ));
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(store.log_bytes(), base_log);
    store.run(&["verify"]).ok();
}

/// A line is valid JSON padded with spaces, so only its length is wrong.
fn padded_line(len: usize) -> Vec<u8> {
    let mut line = br#"{"operation": "theseus", "type": "AgentsDeployed", "data": {"country": "BA", "count": 270}"#.to_vec();
    line.resize(len - 1, b' ');
    line.push(b'}');
    line
}

#[test]
fn a_line_longer_than_1_mib_is_refused_with_its_line_number() {
    let store = base_store();
    let valid = br#"{"operation": "theseus", "type": "AgentsDeployed", "data": {"country": "BG", "count": 400}}"#;
    for (name, len) in [("one byte over", (1 << 20) + 1), ("far over", 3 << 20)] {
        let mut input = valid.to_vec();
        input.push(b'\n');
        input.extend(padded_line(len));
        input.push(b'\n');
        let failure = check_refused(
            &store,
            name,
            &input,
            1,
            "line 2: the line is longer than 1048576 bytes",
        );
        assert!(failure.is_none(), "{failure:?}");
    }
    // Without a final newline, the reader must not wait for one forever.
    let failure = check_refused(
        &store,
        "unterminated",
        &padded_line(2 << 20),
        1,
        "line 1: the line is longer",
    );
    assert!(failure.is_none(), "{failure:?}");
}

#[test]
fn a_line_of_exactly_1_mib_is_accepted() {
    let store = base_store();
    let mut input = padded_line(1 << 20);
    input.extend_from_slice(b"\r\n");
    let out = store
        .run_with_input(&["append", "--recorded-at", "2020-02-01T00:00:00Z"], &input)
        .json();
    assert_eq!(out["appended"], 1);
}

#[test]
fn a_bom_at_the_start_crlf_and_blank_lines_are_accepted_and_append_what_the_clean_input_does() {
    let clean = base_store();
    clean.append(&data("accepted-input/clean.ndjson")).ok();
    let expected = clean.log_bytes();
    let keys = clean;
    for name in [
        "bom-at-start",
        "crlf",
        "blank-lines",
        "all-together-no-final-newline",
        "duplicate-line-is-a-no-op",
    ] {
        let store = base_store_in(Store::with_keys_of(&keys));
        let input = std::fs::read(root().join(format!("tests/data/accepted-input/{name}.ndjson")))
            .expect("input");
        let run = store.run_with_input(
            &[
                "append",
                "--recorded-by",
                "test",
                "--recorded-at",
                "2020-02-01T00:00:00Z",
            ],
            &input,
        );
        assert_eq!(run.code, 0, "{name}: {run:?}");
        assert!(run.stderr.is_empty(), "{name}: {}", run.stderr);
        assert_eq!(
            store.log_bytes(),
            expected,
            "{name} appended something else than clean.ndjson"
        );
    }
}

#[test]
fn sending_a_batch_again_appends_nothing_and_changes_no_byte() {
    let store = base_store();
    let before = store.log_bytes();
    let out = store.append(&data("bad-input/base.ndjson")).json();
    assert_eq!(out["appended"], 0);
    assert_eq!(out["duplicates"], 8);
    assert_eq!(store.log_bytes(), before);
}
