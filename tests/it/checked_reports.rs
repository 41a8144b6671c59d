//! Reports check what they read: every record a report folds is checked
//! against the hash chain, a retraction against the bytes it pinned, and a
//! report says what it checked and from where.
//!
//! Each test edits the sample log the way an attacker with write access to
//! the files would (one byte, no rechaining) and expects exit 4 with no
//! figures on stdout — or, for an edit under a checkpoint, the checkpoint's
//! honest figures with a provenance that says so, and `--no-checkpoint`
//! catching it.

use crate::support::{data, figures, root, Store};

/// Changes the byte just after the text `after` in the record at `position`
/// (1-based over the sample's one segment), keeping the length and the
/// JSON well-formed: a digit to another digit, anything else to `_`.
fn edit_record(store: &Store, position: usize, after: &str) {
    let path = store.path().join("00000000000000000001.jsonl");
    let bytes = std::fs::read(&path).expect("segment");
    let mut lines: Vec<Vec<u8>> = bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let line = &mut lines[position - 1];
    let text = String::from_utf8(line.clone()).expect("utf8");
    let at = text.find(after).expect("text to edit") + after.len();
    line[at] = match line[at] {
        b'9' => b'1',
        digit @ b'0'..=b'8' => digit + 1,
        _ => b'_',
    };
    std::fs::write(&path, lines.concat()).expect("write segment");
}

/// The position of the first record whose line contains all of `needles`.
fn position_of(store: &Store, needles: &[&str]) -> usize {
    let (_, bytes) = store.log_bytes().remove(0);
    String::from_utf8(bytes)
        .expect("utf8")
        .lines()
        .position(|line| needles.iter().all(|needle| line.contains(needle)))
        .expect("a matching record")
        + 1
}

fn refused_with_no_figures(store: &Store, args: &[&str], position: usize) {
    let run = store.run(args);
    assert_eq!(run.code, 4, "{args:?}: {run:?}");
    assert!(run.stdout.is_empty(), "{args:?} printed figures: {run:?}");
    assert!(
        run.stderr.contains(&format!("position {position}")),
        "{args:?} does not name position {position}: {}",
        run.stderr
    );
}

#[test]
fn a_report_over_an_edited_record_exits_4_and_prints_nothing() {
    let store = Store::sample();
    let position = position_of(&store, &["\"type\":\"ChecksPerformed\"", "\"count\":"]);
    edit_record(&store, position, "\"count\":");
    for kind in ["summary", "countries", "timeline", "seizures", "networks"] {
        for format in ["table", "json", "csv", "markdown"] {
            refused_with_no_figures(&store, &["report", kind, "--format", format], position);
        }
    }
}

#[test]
fn an_edit_after_the_checkpoint_is_caught() {
    let store = Store::sample();
    store.run(&["report", "summary"]).ok();
    store.append(&data("checked/late-batch.ndjson")).ok();
    let position = position_of(&store, &["\"count\":7777"]);
    assert!(position > 737, "the edited record is after the checkpoint");
    edit_record(&store, position, "\"count\":");
    refused_with_no_figures(&store, &["report", "summary"], position);
}

#[test]
fn an_edit_under_a_newer_checkpoint_keeps_the_checked_figures_and_no_checkpoint_catches_it() {
    let store = Store::sample();
    let clean = store
        .run(&["report", "summary", "--format", "json", "--no-checkpoint"])
        .json();
    assert_eq!(
        clean["as_of"]["verified"],
        serde_json::json!({"from": 1, "to": 737, "checkpoint": null})
    );
    let position = position_of(&store, &["\"type\":\"ChecksPerformed\"", "\"count\":"]);
    edit_record(&store, position, "\"count\":");
    let from_checkpoint = store.run(&["report", "summary", "--format", "json"]).json();
    assert_eq!(
        from_checkpoint["as_of"]["verified"]["checkpoint"]["position"], 737,
        "the report says it started from the checkpoint"
    );
    assert_eq!(
        figures(&from_checkpoint.to_string()),
        figures(&clean.to_string()),
        "the checkpoint's figures were checked when it was made"
    );
    refused_with_no_figures(&store, &["report", "summary", "--no-checkpoint"], position);
    assert_eq!(store.run(&["verify"]).code, 4);
}

#[test]
fn a_retraction_takes_out_exactly_the_bytes_it_pinned() {
    let store = Store::sample();
    let before = store.summary();
    // An arrest of the sample, retracted in a batch after the checkpoint.
    let target = position_of(&store, &["\"type\":\"ArrestMade\"", "\"country\":\"RS\""]);
    let (_, bytes) = store.log_bytes().remove(0);
    let line = String::from_utf8(bytes)
        .expect("utf8")
        .lines()
        .nth(target - 1)
        .expect("line")
        .to_owned();
    let id = line
        .split("\"id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("id");
    let retraction = format!(
        "{{\"operation\":\"theseus\",\"type\":\"EventRetracted\",\"data\":{{\"event_id\":\"{id}\",\"reason\":\"test\"}}}}\n"
    );
    store.append(&retraction).ok();
    let after = store.summary();
    let arrests = |summary: &serde_json::Value| {
        summary["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|row| row["operation"] == "theseus"))
            .map(|row| row["arrests"].as_i64().unwrap_or(-1))
            .unwrap_or(-1)
    };
    assert_eq!(arrests(&after), arrests(&before) - 1);
    // The retraction's record pins the target's position and hash.
    let (_, bytes) = store.log_bytes().remove(0);
    let last = String::from_utf8(bytes)
        .expect("utf8")
        .lines()
        .last()
        .expect("last")
        .to_owned();
    assert!(
        last.contains(&format!("\"refers_to\":{{\"position\":{target},")),
        "{last}"
    );
    // Again on a fresh copy, the target edited under the checkpoint before
    // it is retracted: the report that folds the retraction must not take
    // out bytes other than those the retraction pinned.
    // (Without the rule state's checkpoint the append itself would replay,
    // and refuse, the edited log: the late batch leaves one at the head.)
    let store = Store::sample();
    store.append(&data("checked/late-batch.ndjson")).ok();
    store.run(&["report", "summary"]).ok();
    // The suspect reference: not a figure, but not the record that was pinned.
    edit_record(&store, target, "\"suspect\":\"RS");
    store.append(&retraction).ok();
    refused_with_no_figures(&store, &["report", "summary"], target);
}

#[test]
fn a_log_of_the_first_record_format_still_replays_to_the_same_figures_and_verifies() {
    let old = Store::uninitialised();
    std::fs::copy(
        root().join("tests/data/fixtures/format-1/00000000000000000001.jsonl"),
        old.path().join("00000000000000000001.jsonl"),
    )
    .expect("copy the fixture");
    let text =
        std::fs::read_to_string(old.path().join("00000000000000000001.jsonl")).expect("fixture");
    assert!(
        !text.contains("refers_to"),
        "the fixture is of the first format"
    );
    assert!(old.run(&["verify"]).ok().starts_with("ok: 737 records"));
    let strip_hash = |mut summary: serde_json::Value| {
        summary["as_of"]["hash"] = serde_json::Value::Null;
        figures(&summary.to_string())
    };
    assert_eq!(
        strip_hash(old.summary()),
        strip_hash(Store::sample().summary()),
        "the same batches, in the old format and the new, give the same figures"
    );
}
