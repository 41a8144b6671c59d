//! `theseus record TYPE` and `theseus follow` through the binary: one event
//! from flags, validated like a batch; and a follower that sees what another
//! process appends, without pseudonyms.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::bad_input::base_store;
use crate::support::{theseus_bin, Store};

fn record(store: &Store, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["record"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--recorded-by",
        "test",
        "--recorded-at",
        "2020-02-01T00:00:00Z",
    ]);
    store.run(&all)
}

#[test]
fn record_appends_one_event_from_flags_and_prints_its_position() {
    let store = base_store();
    let out = record(
        &store,
        &[
            "arrest",
            "--operation",
            "theseus",
            "--country",
            "RS",
            "--location",
            "border_crossing",
            "--suspect",
            "RS-2019-0042",
            "--occurred-at",
            "2019-12-12T10:00:00+01:00",
            "--offences",
            "migrant_smuggling,document_fraud",
        ],
    )
    .ok();
    assert!(
        out.starts_with("recorded ArrestMade as position 9 (id "),
        "{out}"
    );
    let summary = store.summary();
    let theseus = summary["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["operation"] == "theseus")
        .cloned()
        .expect("theseus");
    assert_eq!(
        theseus["arrests"], 2,
        "one in the base, one recorded: {theseus}"
    );
    // The full type name works too, and a money field is two flags.
    let out = record(
        &store,
        &[
            "NetworkProfiled",
            "--operation",
            "theseus",
            "--network",
            "net-1",
            "--max-fee-currency",
            "EUR",
            "--max-fee-amount",
            "7000",
        ],
    )
    .ok();
    assert!(
        out.starts_with("recorded NetworkProfiled as position 10"),
        "{out}"
    );
}

#[test]
fn a_refused_flag_is_named_and_nothing_is_written() {
    let store = base_store();
    let before = store.log_bytes();
    let stderr = record(
        &store,
        &[
            "agents",
            "--operation",
            "theseus",
            "--country",
            "FR",
            "--count",
            "5",
        ],
    )
    .fails(1);
    assert!(
        stderr.starts_with("error: --country: FR does not take part"),
        "{stderr}"
    );
    let stderr = record(
        &store,
        &[
            "checks",
            "--operation",
            "theseus",
            "--country",
            "BA",
            "--kind",
            "vehicle",
            "--count",
            "2,500",
        ],
    )
    .fails(1);
    assert!(
        stderr.starts_with("error: --count: \"2,500\" is not a whole number"),
        "{stderr}"
    );
    // --occurred-at defaults to now, which is outside a 2019 operation.
    let stderr = record(
        &store,
        &[
            "migrants",
            "--operation",
            "theseus",
            "--country",
            "BA",
            "--location",
            "road",
            "--count",
            "3",
        ],
    )
    .fails(1);
    assert!(stderr.starts_with("error: --occurred-at: "), "{stderr}");
    assert!(
        stderr.contains("outside the operation's period"),
        "{stderr}"
    );
    // A typo in a vocabulary gets a suggestion (clap, exit 2).
    let stderr = record(
        &store,
        &[
            "checks",
            "--operation",
            "theseus",
            "--country",
            "BA",
            "--kind",
            "vehicl",
            "--count",
            "1",
        ],
    )
    .fails(2);
    assert!(
        stderr.contains("similar value exists: 'vehicle'"),
        "{stderr}"
    );
    assert_eq!(store.log_bytes(), before);
}

#[test]
fn record_with_expected_version_exits_3_on_a_conflict() {
    let store = base_store();
    let stderr = record(
        &store,
        &[
            "agents",
            "--operation",
            "theseus",
            "--country",
            "BA",
            "--count",
            "5",
            "--expected-version",
            "2",
        ],
    )
    .fails(3);
    assert!(
        stderr.starts_with("error: --expected-version: operation theseus is at version 5, not 2"),
        "{stderr}"
    );
}

/// Reads lines from a child's stdout on a thread, so that a test can wait
/// for them with a timeout instead of hanging.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

#[test]
fn follow_prints_what_it_missed_then_what_another_process_appends_without_pseudonyms() {
    let store = base_store();
    let mut follower = Command::new(theseus_bin())
        .arg("--store")
        .arg(store.path())
        .args(["follow", "--operation", "theseus", "--after", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn follow");
    let lines = lines_of(&mut follower);
    let next = || {
        lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a line within 20 s")
    };
    // What it missed: positions 3, 4, 5 of theseus (6..8 are dunqett's).
    let missed: Vec<Value> = (0..3)
        .map(|_| serde_json::from_str(&next()).expect("json"))
        .collect();
    let positions: Vec<u64> = missed
        .iter()
        .map(|e| e["position"].as_u64().expect("position"))
        .collect();
    assert_eq!(positions, [3, 4, 5]);
    assert_eq!(missed[0]["type"], "ArrestMade");
    assert!(missed[0]["data"].get("suspect").is_none(), "{}", missed[0]);
    assert_eq!(missed[0]["data"]["country"], "AL");
    // Another process appends: the follower prints it.
    record(
        &store,
        &[
            "rescue",
            "--operation",
            "theseus",
            "--country",
            "BA",
            "--location",
            "road",
            "--victim",
            "BA-2019-V-0001",
            "--occurred-at",
            "2019-12-12T10:00:00Z",
            "--minor",
            "true",
        ],
    )
    .ok();
    store.append(r#"{"operation": "dunqett", "type": "ArrestMade", "data": {"country": "FR", "occurred_at": "2020-01-21T06:00:00+01:00", "location": "other", "suspect": "FR-2020-S-0002"}}"#).ok();
    let arrived: Value = serde_json::from_str(&next()).expect("json");
    assert_eq!(arrived["position"], 9);
    assert_eq!(arrived["type"], "VictimRescued");
    assert_eq!(arrived["data"]["minor"], true);
    assert!(arrived["data"].get("victim").is_none(), "{arrived}");
    let text = arrived.to_string();
    assert!(
        !text.contains("BA-2019-V-0001"),
        "no pseudonym anywhere: {text}"
    );
    assert_eq!(arrived["hash"].as_str().map(str::len), Some(64));
    // The dunqett arrest is not this follower's.
    assert!(lines.recv_timeout(Duration::from_millis(800)).is_err());
    let _ = follower.kill();
    let _ = follower.wait();
}

#[test]
fn follow_refuses_a_position_beyond_the_head() {
    let store = base_store();
    let stderr = store.run(&["follow", "--after", "99"]).fails(1);
    assert!(
        stderr.contains("beyond the log's head (position 8)"),
        "{stderr}"
    );
}
