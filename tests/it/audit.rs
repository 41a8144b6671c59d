//! `verify` is an audit of the whole history: besides the chain, every
//! record is canonical with JSON data, ids are unique, versions run 1..n,
//! and every event passes the domain's rules as they stood.
//!
//! Each test edits the sample log as an attacker with write access to the
//! files would, then *rechains* it (recomputes every hash from the edit on,
//! and the pins of later retractions), so that the chain alone no longer
//! tells: `verify` must still exit 4 and name the position and the reason.

use std::collections::BTreeSet;

use event_store::Hash;

use crate::support::{theseus_bin, Store};

const SEGMENT: &str = "00000000000000000001.jsonl";

/// The sample's one segment as lines, to edit and rechain.
struct Log {
    lines: Vec<String>,
}

impl Log {
    fn of(store: &Store) -> Log {
        let bytes = std::fs::read(store.path().join(SEGMENT)).expect("segment");
        let text = String::from_utf8(bytes).expect("utf8");
        Log {
            lines: text.lines().map(str::to_owned).collect(),
        }
    }

    /// The record at `position` (1-based).
    fn line(&self, position: usize) -> &str {
        &self.lines[position - 1]
    }

    /// The first position whose record contains all of `needles`.
    fn find(&self, needles: &[&str]) -> usize {
        self.lines
            .iter()
            .position(|line| needles.iter().all(|needle| line.contains(needle)))
            .expect("a matching record")
            + 1
    }

    /// Replaces the one occurrence of `from` in the record at `position`.
    fn edit(&mut self, position: usize, from: &str, to: &str) {
        let line = &mut self.lines[position - 1];
        assert_eq!(line.matches(from).count(), 1, "{from:?} in {line}");
        *line = line.replacen(from, to, 1);
    }

    /// Recomputes every hash in order, and every retraction's pin to the
    /// hash its target now has: what someone who edits the log and wants
    /// it to chain again does.
    fn rechain(&mut self) {
        let mut previous = Hash::GENESIS;
        let mut hashes: Vec<String> = Vec::new();
        for line in &mut self.lines {
            const PIN: &str = "\"refers_to\":{\"position\":";
            if let Some(at) = line.find(PIN) {
                let rest = &line[at + PIN.len()..];
                let digits = rest.find(',').expect("pin position");
                let target: usize = rest[..digits].parse().expect("pin position");
                let hash_at = at + PIN.len() + digits + ",\"hash\":\"".len();
                line.replace_range(hash_at..hash_at + 64, &hashes[target - 1]);
            }
            let content = &line[..line.len() - 74];
            assert!(content.ends_with(','), "a record line: {line}");
            let hash = Hash::chain(&previous, content.as_bytes());
            let hex = String::from_utf8(hash.to_hex().to_vec()).expect("hex");
            *line = format!("{content}\"hash\":\"{hex}\"}}");
            hashes.push(hex);
            previous = hash;
        }
    }

    fn rechain_into(mut self, store: &Store) {
        self.rechain();
        let mut text = self.lines.join("\n");
        text.push('\n');
        std::fs::write(store.path().join(SEGMENT), text).expect("write segment");
    }
}

/// `verify`'s parallel pass in units of about 4 KiB from the first record:
/// the sample (737 records) is read as some eighty units on two threads,
/// so that the audit riding on the store's pass, its joins across units
/// and its in-order decisions are what these tests check, not only the
/// sequential pass that a log of fewer than 100,000 records gets.
const SPLIT: (&str, &str) = ("THESEUS_VERIFY_SPLIT", "1:4096");

/// `verify` exits 4 and names `position` with `reason` on one line, and
/// says exactly the same when the log is read by the parallel pass.
fn caught(store: &Store, position: usize, reason: &str) {
    let run = store.run(&["verify"]);
    let split = store.run_with_env(&["verify"], b"", &[SPLIT]);
    assert_eq!(
        (split.code, &split.stdout, &split.stderr),
        (run.code, &run.stdout, &run.stderr),
        "the parallel pass differs from the sequential one"
    );
    assert_eq!(run.code, 4, "{run:?}");
    let named = format!("position {position}");
    assert!(
        run.stderr.lines().any(|line| line.starts_with("error: ")
            && line.contains(&named)
            && line.contains(reason)),
        "no line names {named} and {reason:?}: {}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "verify printed ok: {run:?}");
}

/// A store holding the sample log after `edit` and rechaining; the
/// rechained log still chains, so only the audit can tell.
fn rechained(edit: impl FnOnce(&mut Log)) -> Store {
    let store = Store::sample();
    let mut log = Log::of(&store);
    edit(&mut log);
    log.rechain_into(&store);
    store
}

/// The sample with the data of its deployment of 300 agents in AL
/// replaced by `data` and rechained, and that record's position.
fn agents_data_rewritten(data: &str) -> (Store, usize) {
    const AGENTS: &str = "{\"country\":\"AL\",\"count\":300}";
    let mut position = 0;
    let store = rechained(|log| {
        position = log.find(&[&format!("\"data\":{AGENTS}")]);
        log.edit(position, AGENTS, data);
    });
    (store, position)
}

#[test]
fn a_rechained_copy_of_the_sample_is_the_sample() {
    // The helper itself changes nothing when nothing is edited.
    let store = Store::sample();
    let before = std::fs::read(store.path().join(SEGMENT)).expect("segment");
    Log::of(&store).rechain_into(&store);
    assert_eq!(
        std::fs::read(store.path().join(SEGMENT)).expect("segment"),
        before
    );
}

#[test]
fn the_clean_sample_passes_with_the_audits_counts() {
    let store = Store::sample();
    let log = Log::of(&store);
    let records = log.lines.len();
    let retractions = log
        .lines
        .iter()
        .filter(|line| line.contains("\"type\":\"EventRetracted\""))
        .count();
    let operations: BTreeSet<String> = log
        .lines
        .iter()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).expect("json");
            record["operation"].as_str().expect("operation").to_owned()
        })
        .collect();
    let out = store.run(&["verify"]).ok();
    assert_eq!(
        store.run_with_env(&["verify"], b"", &[SPLIT]).ok(),
        out,
        "the parallel pass differs from the sequential one"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "ok: {records} records in 1 segments chain to head"
        )),
        "{out}"
    );
    assert_eq!(
        lines[1],
        format!(
            "ok: {records} events of {} operations ({retractions} retractions) and 0 registry records pass the rules as they stood",
            operations.len()
        )
    );
}

#[test]
fn data_that_is_not_json_is_caught_though_it_chains() {
    let store = rechained(|log| {
        let position = log.find(&["\"type\":\"AgentsDeployed\""]);
        let data = &log.line(position)[log.line(position).find("\"data\":").expect("data") + 7..];
        let data = data[..data.find('}').expect("end") + 1].to_owned();
        log.edit(position, &data, "{this is not json}");
    });
    let position = Log::of(&store).find(&["{this is not json}"]);
    caught(&store, position, "data is not valid JSON");
}

#[test]
fn an_unquoted_pseudonym_is_caught_though_it_chains() {
    let mut suspect = String::new();
    let store = rechained(|log| {
        let position = log.find(&["\"type\":\"ArrestMade\"", "\"suspect\":\""]);
        let line = log.line(position);
        let at = line.find("\"suspect\":\"").expect("suspect") + 11;
        suspect = line[at..at + line[at..].find('"').expect("end")].to_owned();
        log.edit(
            position,
            &format!("\"suspect\":\"{suspect}\""),
            &format!("\"suspect\":{suspect}"),
        );
    });
    let position = Log::of(&store).find(&[&format!("\"suspect\":{suspect}")]);
    caught(&store, position, "data is not valid JSON");
}

#[test]
fn a_data_object_out_of_canonical_form_is_caught() {
    // Valid JSON, the same event, its fields in another order: not what the
    // domain writes, so a re-sent event would not be recognised byte for byte.
    let (store, position) = agents_data_rewritten("{\"count\":300,\"country\":\"AL\"}");
    caught(&store, position, "data: not in the canonical form");
}

#[test]
fn a_duplicate_id_is_caught() {
    let (mut first, mut second) = (0, 0);
    let store = rechained(|log| {
        first = log.find(&["\"type\":\"ArrestMade\""]);
        second = first + 1;
        let id_of = |line: &str| {
            let at = line.find("\"id\":\"").expect("id") + 6;
            line[at..at + 36].to_owned()
        };
        let (kept, replaced) = (id_of(log.line(first)), id_of(log.line(second)));
        log.edit(second, &replaced, &kept);
    });
    caught(
        &store,
        second,
        &format!("is used twice: at position {first} and at position {second}"),
    );
    // A writer rebuilding its id index from this log refuses it too, and
    // names the second record (exit 4), whatever order the rebuild inserts
    // ids in; the log is left as it is.
    let _ = std::fs::remove_dir_all(store.path().join(".theseus"));
    let before = store.log_bytes();
    // The launch sent again: a duplicate, which only the id index answers.
    let launch = std::fs::read_to_string(
        crate::support::root().join("events/batches/001-theseus-launch.ndjson"),
    )
    .expect("the sample's first batch");
    let appended = store.append(&launch);
    assert_eq!(appended.code, 4, "{appended:?}");
    let named = format!("(position {second})");
    assert!(
        appended.stderr.contains(&named)
            && appended
                .stderr
                .contains(&format!("is already used at position {first}")),
        "{appended:?}"
    );
    assert_eq!(store.log_bytes(), before, "nothing written");
}

#[test]
fn a_version_gap_is_caught() {
    let position = 10;
    let store = rechained(|log| {
        assert!(log
            .line(position)
            .contains("\"operation\":\"theseus\",\"version\":10,"));
        log.edit(position, "\"version\":10,", "\"version\":11,");
    });
    caught(&store, position, "operation theseus version 11 follows 9");
}

/// Appends a copy of a retraction the rules accepted as a new last
/// record of its own batch (same target, same pin, a new id); returns its
/// position.
fn second_retraction(log: &mut Log) -> usize {
    // A copy of a retraction the rules accepted, as a new last record
    // of its own batch: same target, same pin, a new id.
    let original = log.find(&["\"type\":\"EventRetracted\""]);
    let last = log.lines.len();
    let version = log
        .lines
        .iter()
        .filter(|line| line.contains("\"operation\":\"theseus\""))
        .count();
    let field_of = |line: &str, name: &str, end: char| {
        let key = format!("\"{name}\":");
        let at = line.find(&key).expect("field") + key.len();
        line[at..at + line[at..].find(end).expect("end")].to_owned()
    };
    let time_of = |line: &str| field_of(line, "recorded_at", ',');
    let mut copy = log.line(original).to_owned();
    let (id_at, time) = (
        copy.find("\"id\":\"").expect("id") + 6,
        time_of(log.line(last)),
    );
    copy.replace_range(id_at..id_at + 36, "0b0b0b0b-0000-4000-8000-000000000001");
    copy = copy
        .replacen(
            &format!("\"position\":{},", field_of(&copy, "position", ',')),
            &format!("\"position\":{},", last + 1),
            1,
        )
        .replacen(
            &format!("\"version\":{},", field_of(&copy, "version", ',')),
            &format!("\"version\":{},", version + 1),
            1,
        )
        .replacen(&time_of(&copy), &time, 1);
    if !copy.contains(",\"batch_end\":true,") {
        let at = copy.rfind(",\"hash\":").expect("hash");
        copy.insert_str(at, ",\"batch_end\":true");
    }
    log.lines.push(copy);
    last + 1
}

#[test]
fn a_second_retraction_of_the_same_event_slipped_in_is_caught() {
    let mut added = 0;
    let store = rechained(|log| added = second_retraction(log));
    caught(&store, added, "data.event_id: the rules refuse it: event");
    caught(&store, added, "is already retracted");
}

/// `theseus copy` from one store to another (it copies records, not
/// rules: a rechained log that chains is copied as it is).
fn copy(from: &Store, to: &Store) {
    let output = std::process::Command::new(theseus_bin())
        .arg("copy")
        .arg("--from")
        .arg(from.spec())
        .arg("--to")
        .arg(to.spec())
        .env_remove("THESEUS_STORE")
        .output()
        .expect("run copy");
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn the_postgresql_store_is_audited_the_same() {
    // The clean sample, and a rechained one with a second retraction,
    // copied into PostgreSQL: the same lines, the same finding.
    let Some(clean) = Store::postgres_uninitialised() else {
        return;
    };
    let sample = Store::sample();
    copy(&sample, &clean);
    let ours = sample.run(&["verify"]).ok();
    let theirs = clean.run(&["verify"]).ok();
    assert_eq!(
        ours.lines().nth(1),
        theirs.lines().nth(1),
        "the audit's counts"
    );
    let Some(shared) = Store::postgres_uninitialised() else {
        return;
    };
    let mut added = 0;
    let forged = rechained(|log| added = second_retraction(log));
    copy(&forged, &shared);
    caught(&shared, added, "is already retracted");
}

#[test]
fn an_arrest_outside_the_operations_period_is_caught() {
    let mut position = 0;
    let store = rechained(|log| {
        position = log.find(&["\"type\":\"ArrestMade\"", "\"occurred_at\":\"2019-12-"]);
        log.edit(
            position,
            "\"occurred_at\":\"2019-12-",
            "\"occurred_at\":\"2019-11-",
        );
    });
    caught(&store, position, "data.occurred_at: the rules refuse it:");
    caught(
        &store,
        position,
        "is outside the operation's period 2019-12-09..2019-12-16",
    );
}

#[test]
fn an_event_in_an_undeclared_country_is_caught() {
    let mut position = 0;
    let store = rechained(|log| {
        position = log.find(&[
            "\"operation\":\"theseus\"",
            "\"type\":\"ArrestMade\"",
            "\"country\":\"AL\"",
        ]);
        log.edit(position, "\"country\":\"AL\"", "\"country\":\"JP\"");
    });
    caught(
        &store,
        position,
        "data.country: the rules refuse it: JP does not take part in operation theseus",
    );
}

#[test]
fn data_that_is_one_object_followed_by_more_text_is_refused_by_reports_too() {
    // The record's reader cuts `data` at the envelope's end, so a forged
    // record can hold an object and then more fields there. Read as its
    // first object, a report would count 300 agents where the strict
    // reading (and so `verify`) refuses the record; both must refuse it.
    let (store, position) =
        agents_data_rewritten("{\"country\":\"AL\",\"count\":300},\"count\":9000}");
    let _ = std::fs::remove_dir_all(store.path().join(".theseus"));
    let report = store.run(&["report", "summary", "--no-checkpoint"]);
    assert_eq!(report.code, 4, "{report:?}");
    assert!(report.stdout.is_empty(), "figures printed: {report:?}");
    assert!(
        report.stderr.contains(&format!("position {position}")),
        "{report:?}"
    );
    let run = store.run(&["verify"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains(&format!("position {position}")),
        "{run:?}"
    );
}
