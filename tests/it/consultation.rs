//! The consultation log (Directive (EU) 2016/680, Art. 25): references are
//! shown only with `events --reveal --purpose`, and the consultation (who,
//! when, why, the query and the events shown; never the references) is
//! durable in the log before the first line is printed; `report
//! consultations` lists them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::cli::three_batches_in_place;
use crate::support::{theseus_bin, Store, FORMATS};

const REFERENCES: [&str; 3] = ["AL-S-1", "RS-S-1", "RS-V-1"];

fn consultations(store: &Store) -> Vec<serde_json::Value> {
    store
        .run(&["report", "consultations", "--format", "json"])
        .json()["rows"]
        .as_array()
        .expect("rows")
        .clone()
}

#[test]
fn reveal_without_a_purpose_is_refused_prints_nothing_and_appends_nothing() {
    let store = Store::new();
    three_batches_in_place(&store);
    let log = store.log_bytes();
    for args in [
        vec!["events", "--reveal"],
        vec!["events", "--reveal", "--purpose", ""],
        vec!["events", "--reveal", "--purpose", "  "],
        vec!["events", "--purpose", "case 7"],
    ] {
        let run = store.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?} printed something");
        assert!(
            run.stderr.contains("--purpose") || run.stderr.contains("--reveal"),
            "{run:?}"
        );
        assert_eq!(store.log_bytes(), log, "{args:?} appended something");
    }
    assert!(consultations(&store).is_empty());
}

#[test]
fn the_consultation_is_in_the_log_before_the_first_line_is_printed() {
    let store = Store::new();
    three_batches_in_place(&store);
    let mut child = Command::new(theseus_bin())
        .arg("--store")
        .arg(store.spec())
        .args([
            "events",
            "--reveal",
            "--purpose",
            "investigation 2020/41",
            "--format",
            "jsonl",
        ])
        .env_remove("THESEUS_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn theseus");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("the first line");
    // The reader stops the process as soon as anything was printed.
    child.kill().ok();
    child.wait().ok();
    assert!(first.starts_with("{\"report\":\"events\""), "{first}");
    let log: String = store
        .log_bytes()
        .into_iter()
        .map(|(_, bytes)| String::from_utf8(bytes).expect("utf-8"))
        .collect();
    let record = log
        .lines()
        .find(|line| line.contains("\"type\":\"ReferencesConsulted\""))
        .expect("the consultation was recorded before the output began");
    assert!(record.contains("\"purpose\":\"investigation 2020/41\""));
    assert!(record.contains("\"operation\":\"theseus.privacy\""));
    for reference in REFERENCES {
        assert!(!record.contains(reference), "the record holds {reference}");
    }
}

#[test]
fn report_consultations_says_who_why_what_and_how_many_in_every_format() {
    let store = Store::new();
    three_batches_in_place(&store);
    let arrests = store
        .run(&[
            "events",
            "--reveal",
            "--purpose",
            "case 7",
            "--type",
            "arrest",
            "--operation",
            "op-a",
            "--format",
            "jsonl",
        ])
        .ok();
    let shown: Vec<serde_json::Value> = arrests
        .lines()
        .skip(1)
        .map(|line| serde_json::from_str(line).expect("a row"))
        .collect();
    assert_eq!(shown.len(), 2);
    assert!(shown.iter().all(|row| row["reference"].is_string()));
    store
        .run(&[
            "events",
            "--reveal",
            "--purpose",
            "audit",
            "--format",
            "csv",
        ])
        .ok();
    let rows = consultations(&store);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["purpose"], "case 7");
    assert_eq!(rows[0]["command"], "events");
    assert_eq!(rows[0]["events_shown"], 2);
    assert_eq!(rows[0]["query"]["operation"], "op-a");
    assert_eq!(rows[0]["query"]["types"], serde_json::json!(["ArrestMade"]));
    assert_eq!(rows[1]["purpose"], "audit");
    assert_eq!(rows[1]["events_shown"], 3, "every arrest and rescue");
    assert!(rows[1]["recorded_by"]
        .as_str()
        .is_some_and(|who| !who.is_empty()));
    // --operation keeps the consultations whose query named it.
    let of_op = store
        .run(&[
            "report",
            "consultations",
            "--operation",
            "op-a",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(of_op["rows"].as_array().map(Vec::len), Some(1));
    for format in FORMATS {
        let out = store
            .run(&["report", "consultations", "--format", format])
            .ok();
        assert!(out.contains("case 7"), "{format}: {out}");
        for reference in REFERENCES {
            assert!(!out.contains(reference), "{format} prints {reference}");
        }
    }
    let error = store
        .run(&["report", "consultations", "--country", "AL"])
        .fails(2);
    assert!(error.contains("takes no --country"), "{error}");
    // Consultations are not figures: the summary is what it was.
    assert!(store.run(&["verify"]).ok().starts_with("ok: 11 records"));
}

#[test]
fn consultations_are_recorded_on_postgresql_too() {
    let Some(store) = Store::postgres() else {
        return;
    };
    three_batches_in_place(&store);
    let log = store.log_bytes();
    store.run(&["events", "--reveal"]).fails(2);
    assert_eq!(store.log_bytes(), log);
    let shown = store
        .run(&[
            "events",
            "--reveal",
            "--purpose",
            "case 9",
            "--format",
            "jsonl",
        ])
        .ok();
    for reference in REFERENCES {
        assert!(shown.contains(reference), "{reference} is not shown");
    }
    let rows = consultations(&store);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["purpose"], "case 9");
    assert_eq!(rows[0]["events_shown"], 3);
}
