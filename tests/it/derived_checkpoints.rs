//! Checkpoints cannot lie: whatever is done to a derived checkpoint (every
//! report's, the rule state `operations-v2`, the registry's), reports print
//! exactly the figures of a fresh replay, appends accept and refuse exactly
//! what a fresh store does, and the log written is the fresh store's, byte
//! for byte.
//!
//! The store under test is the sample store after a retraction, every
//! report, an agency's registration and a second retraction, so that every
//! kind of checkpoint exists (and an older sealed one was kept aside). Each
//! case damages one checkpoint (or the folder) and then runs the same
//! commands on it and on a fresh copy of its log (no `.theseus`): the
//! outputs, exit codes and resulting logs must be equal.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::support::{figures, root, theseus_bin, Run, REPORT_KINDS};

/// The first bytes of a sealed file: the format's magic and the tag.
const SEAL_LEN: usize = 8 + 32;

/// Every checkpoint a store of the sample keeps, by name.
const CHECKPOINTS: [&str; 9] = [
    "checkpoint-arrests-v1.json",
    "checkpoint-countries-v1.json",
    "checkpoint-locations-v1.json",
    "checkpoint-networks-v1.json",
    "checkpoint-operations-v2.json",
    "checkpoint-registry-v1.json",
    "checkpoint-summary-v1.json",
    "checkpoint-timeline-v1.json",
    "checkpoint-victims-v1.json",
];

/// Retracted in the prepared store, before the older checkpoints were kept.
const FIRST_RETRACTED: &str = "66675e77-dc37-5011-9fbe-88174b1f85bd";
/// Retracted in the prepared store after them (absent from the older rule
/// state: only the records after it tell that it is retracted).
const SECOND_RETRACTED: &str = "e1cf9007-d4ec-5566-b548-9b2cbb851928";
/// Retracted in the sample itself (the measured attack: passenger checks
/// 2,500,000 → 2,134,550 when a second retraction of it got in).
const SAMPLE_RETRACTED: &str = "5f2f3bab-d808-5a24-94e6-b6c42f75a7d1";
/// Not retracted anywhere: the probe's accepted retraction.
const STILL_ACTIVE: &str = "cd8efd01-5a36-576b-9a62-7097a9c6473f";

/// Runs `theseus --store STORE ARGS…` with the key file `key`, after
/// `prefix` (a command that runs it as another user).
fn run_as(
    prefix: &[&str],
    store: impl AsRef<std::ffi::OsStr>,
    key: &Path,
    args: &[&str],
    input: &[u8],
) -> Run {
    use std::io::Write;
    let mut command = match prefix.split_first() {
        Some((program, rest)) => {
            let mut command = Command::new(program);
            command.args(rest).arg(theseus_bin());
            command
        }
        None => Command::new(theseus_bin()),
    };
    let mut child = command
        .arg("--store")
        .arg(store.as_ref())
        .args(args)
        .env_remove("THESEUS_STORE")
        .env("THESEUS_KEY_FILE", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn theseus");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(input);
    drop(stdin);
    let output = child.wait_with_output().expect("wait for theseus");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn run(store: impl AsRef<std::ffi::OsStr>, key: &Path, args: &[&str], input: &[u8]) -> Run {
    run_as(&[], store, key, args, input)
}

fn retraction(id: &str, of: &str) -> String {
    format!(
        "{{\"id\":\"{id}\",\"operation\":\"theseus\",\"type\":\"EventRetracted\",\"data\":{{\"event_id\":\"{of}\",\"reason\":\"test\"}}}}\n"
    )
}

/// The segments of `from` copied into a new directory `to` (no `.theseus`).
fn copy_log(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("store dir");
    for entry in std::fs::read_dir(from).expect("store") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The one derived folder of the (one) key under `store/.theseus/`.
fn derived_dir(store: &Path) -> PathBuf {
    let keys: Vec<PathBuf> = std::fs::read_dir(store.join(".theseus"))
        .expect(".theseus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("derived").is_dir())
        .collect();
    assert_eq!(keys.len(), 1, "one key folder in {}", store.display());
    keys[0].join("derived")
}

/// The sample store prepared so that every kind of checkpoint exists, an
/// older sealed copy of each, and the same checkpoints of a different log;
/// all sealed with one key.
struct Prepared {
    _temp: tempfile::TempDir,
    store: PathBuf,
    key: PathBuf,
    /// The derived folder as it was before the registration and the
    /// second retraction.
    older: PathBuf,
    /// The derived folder of a store with another log, same key.
    other: PathBuf,
    /// The `--recorded-at` of the probes' appends.
    at: String,
}

fn all_reports(store: &Path, key: &Path) {
    for kind in REPORT_KINDS {
        run(store, key, &["report", kind, "--format", "json"], b"").ok();
    }
}

fn prepared() -> &'static Prepared {
    static PREPARED: OnceLock<Prepared> = OnceLock::new();
    PREPARED.get_or_init(|| {
        let temp = tempfile::tempdir().expect("temp dir");
        let key = temp.path().join("derived.key");
        let store = temp.path().join("store");
        copy_log(&root().join("events"), &store);
        let append_at = |store: &Path, input: &str, at: &str| {
            run(
                store,
                &key,
                &["append", "--recorded-by", "test", "--recorded-at", at],
                input.as_bytes(),
            )
            .ok()
        };
        append_at(
            &store,
            &retraction("00000000-0000-4000-8000-000000000001", FIRST_RETRACTED),
            "2020-02-01T00:00:00Z",
        );
        all_reports(&store, &key);
        run(&store, &key, &["agency", "list"], b"").ok();
        let older = temp.path().join("older");
        copy_tree(&derived_dir(&store), &older);
        run(
            &store,
            &key,
            &[
                "agency",
                "add",
                "rs-police",
                "--role",
                "reporter",
                "--country",
                "RS",
            ],
            b"",
        )
        .ok();
        run(
            &store,
            &key,
            &["append", "--recorded-by", "test"],
            retraction("00000000-0000-4000-8000-000000000002", SECOND_RETRACTED).as_bytes(),
        )
        .ok();
        all_reports(&store, &key);
        run(&store, &key, &["agency", "list"], b"").ok();
        let mut names: Vec<String> = std::fs::read_dir(derived_dir(&store))
            .expect("derived")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, CHECKPOINTS, "the checkpoints a used store keeps");

        // Another log: the sample's first two batches, recorded at another
        // time (so every hash differs), with every checkpoint of its own.
        let another = temp.path().join("another");
        run(&another, &key, &["init"], b"").ok();
        for batch in [
            "001-theseus-launch.ndjson",
            "002-theseus-2019-12-09-10-AL.ndjson",
        ] {
            let input = std::fs::read(root().join("events/batches").join(batch)).expect("batch");
            run(
                &another,
                &key,
                &[
                    "append",
                    "--recorded-by",
                    "other",
                    "--recorded-at",
                    "2021-01-01T00:00:00Z",
                ],
                &input,
            )
            .ok();
        }
        all_reports(&another, &key);
        run(
            &another,
            &key,
            &[
                "agency",
                "add",
                "rs-police",
                "--role",
                "reporter",
                "--country",
                "RS",
            ],
            b"",
        )
        .ok();
        run(
            &another,
            &key,
            &["append", "--recorded-by", "other"],
            retraction("00000000-0000-4000-8000-000000000003", STILL_ACTIVE).as_bytes(),
        );
        all_reports(&another, &key);
        let other = temp.path().join("other");
        copy_tree(&derived_dir(&another), &other);

        // Later than every record, and within the store's tolerance of its
        // clock for the rest of the test run.
        let at = (chrono::Utc::now() + chrono::Duration::seconds(2))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        Prepared {
            _temp: temp,
            store,
            key,
            older,
            other,
            at,
        }
    })
}

/// What a user sees of a store, through a fixed sequence of commands.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Every report kind's JSON, without what its replay started from.
    reports: Vec<String>,
    /// Exit code and stderr of each probe append (two refused: second
    /// retractions; one accepted).
    appends: Vec<(i32, String, String)>,
    /// Every report kind after the appends.
    after: Vec<String>,
    /// Re-registering an agency (refused), and the registry's listing.
    agencies: Vec<(i32, String, String)>,
    log: Vec<(String, Vec<u8>)>,
}

/// Warning lines are not part of what must be equal; each command may say
/// at most one.
fn without_warnings(run: &Run, warnings: &mut Vec<String>) -> String {
    // The store's indexes speak for themselves (a copied store's index is
    // bound to the directory it was written for, so a copy rebuilds it with
    // a warning of its own, tested in `derived_indexes`); these tests are
    // about the checkpoints.
    let said: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| {
            line.starts_with("warning: ") && !line.starts_with("warning: derived index ")
        })
        .collect();
    assert!(said.len() <= 1, "more than one warning line: {run:?}");
    warnings.extend(said.iter().map(|line| (*line).to_owned()));
    run.stderr
        .lines()
        .filter(|line| !line.starts_with("warning: "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn outcome(store: &Path, key: &Path, at: &str, warnings: &mut Vec<String>) -> Outcome {
    let reports = |warnings: &mut Vec<String>| -> Vec<String> {
        REPORT_KINDS
            .iter()
            .map(|kind| {
                let done = run(store, key, &["report", kind, "--format", "json"], b"");
                without_warnings(&done, warnings);
                figures(&done.ok())
            })
            .collect()
    };
    let before = reports(warnings);
    let mut appends = Vec::new();
    for input in [
        retraction("00000000-0000-4000-8000-000000000010", SAMPLE_RETRACTED),
        retraction("00000000-0000-4000-8000-000000000011", SECOND_RETRACTED),
        retraction("00000000-0000-4000-8000-000000000012", STILL_ACTIVE),
    ] {
        let done = run(
            store,
            key,
            &["append", "--recorded-by", "test", "--recorded-at", at],
            input.as_bytes(),
        );
        let stderr = without_warnings(&done, warnings);
        appends.push((done.code, done.stdout, stderr));
    }
    let after = reports(warnings);
    let mut agencies = Vec::new();
    for args in [
        &[
            "agency",
            "add",
            "rs-police",
            "--role",
            "reporter",
            "--country",
            "RS",
        ][..],
        &["agency", "list"][..],
    ] {
        let done = run(store, key, args, b"");
        let stderr = without_warnings(&done, warnings);
        agencies.push((done.code, done.stdout, stderr));
    }
    Outcome {
        reports: before,
        appends,
        after,
        agencies,
        log: crate::support::segment_bytes(store),
    }
}

/// The outcome on a fresh copy of the prepared log (no derived data).
fn reference() -> &'static Outcome {
    static REFERENCE: OnceLock<Outcome> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let prepared = prepared();
        let temp = tempfile::tempdir().expect("temp dir");
        let fresh = temp.path().join("fresh");
        copy_log(&prepared.store, &fresh);
        let key = temp.path().join("fresh.key");
        let outcome = outcome(&fresh, &key, &prepared.at, &mut Vec::new());
        // The probes do what the rules say: the second retractions are
        // refused, naming the field; the third is accepted.
        assert_eq!(outcome.appends[0].0, 1, "{:?}", outcome.appends);
        assert!(outcome.appends[0].2.contains("data.event_id"));
        assert!(outcome.appends[0].2.contains("already retracted"));
        assert_eq!(outcome.appends[1].0, 1, "{:?}", outcome.appends);
        assert!(outcome.appends[1].2.contains("already retracted"));
        assert_eq!(outcome.appends[2].0, 0, "{:?}", outcome.appends);
        assert_ne!(outcome.agencies[0].0, 0, "{:?}", outcome.agencies);
        assert_ne!(outcome.reports, outcome.after);
        outcome
    })
}

/// A damage done to one derived file (`path`), knowing its name.
type Damage = fn(&Prepared, &str, &Path);

/// The rule state's checkpoint JSON with `id` taken out of the retracted
/// ids of its operation (each operation's are one base64 string of their
/// sorted 16-byte values), the JSON and the encoding still valid.
fn without_retracted(body: &str, id: &str) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let id = uuid::Uuid::parse_str(id).expect("an id");
    let mut checkpoint: serde_json::Value = serde_json::from_str(body).expect("checkpoint JSON");
    let operations = checkpoint["state"]["operations"]
        .as_object_mut()
        .expect("the operations");
    let mut found = false;
    for operation in operations.values_mut() {
        let encoded = operation["retracted"].as_str().expect("retracted ids");
        let bytes = STANDARD.decode(encoded).expect("base64");
        let kept: Vec<u8> = bytes
            .chunks_exact(16)
            .filter(|chunk| *chunk != id.as_bytes())
            .flatten()
            .copied()
            .collect();
        if kept.len() < bytes.len() {
            found = true;
            operation["retracted"] = serde_json::Value::String(STANDARD.encode(kept));
        }
    }
    assert!(found, "the rule state lists the retracted id {id}");
    serde_json::to_string(&checkpoint).expect("JSON")
}

/// The file's bytes with one figure changed, the JSON still valid: the
/// measured attacks where they apply (arrests 234 → 12 in the summary, an
/// id removed from the rule state's retracted ones), else the first digit
/// of the state changed.
fn edited_body(name: &str, body: &str) -> String {
    if name == "checkpoint-summary-v1.json" {
        let edited = body.replacen("\"arrests\":234", "\"arrests\":12", 1);
        assert_ne!(edited, body, "the summary holds 234 arrests");
        return edited;
    }
    if name == "checkpoint-operations-v2.json" {
        return without_retracted(body, SECOND_RETRACTED);
    }
    let state = body.find("\"state\"").expect("a state");
    let at = state
        + body[state..]
            .find(|c: char| c.is_ascii_digit())
            .expect("a digit in the state");
    let mut bytes = body.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'9' {
        b'1'
    } else {
        bytes[at] + 1
    };
    String::from_utf8(bytes).expect("utf8")
}

fn sealed_body(path: &Path) -> (Vec<u8>, String) {
    let bytes = std::fs::read(path).expect("checkpoint");
    let body = String::from_utf8(bytes[SEAL_LEN..].to_vec()).expect("utf8 body");
    (bytes[..SEAL_LEN].to_vec(), body)
}

fn random_bytes(_: &Prepared, _: &str, path: &Path) {
    let length = std::fs::metadata(path).expect("checkpoint").len();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ length;
    let bytes: Vec<u8> = (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(path, bytes).expect("write");
}

fn truncated(_: &Prepared, _: &str, path: &Path) {
    let bytes = std::fs::read(path).expect("checkpoint");
    std::fs::write(path, &bytes[..bytes.len() / 2]).expect("write");
}

fn emptied(_: &Prepared, _: &str, path: &Path) {
    std::fs::write(path, b"").expect("write");
}

fn edited_in_place(_: &Prepared, name: &str, path: &Path) {
    let (seal, body) = sealed_body(path);
    let edited = edited_body(name, &body);
    std::fs::write(path, [seal, edited.into_bytes()].concat()).expect("write");
}

fn edited_without_seal(_: &Prepared, name: &str, path: &Path) {
    let (_, body) = sealed_body(path);
    std::fs::write(path, edited_body(name, &body)).expect("write");
}

fn from_another_log(prepared: &Prepared, name: &str, path: &Path) {
    std::fs::copy(prepared.other.join(name), path).expect("copy");
}

fn from_an_older_state(prepared: &Prepared, name: &str, path: &Path) {
    std::fs::copy(prepared.older.join(name), path).expect("copy");
}

fn renamed_from_another_checkpoint(prepared: &Prepared, name: &str, path: &Path) {
    let other = if name == "checkpoint-summary-v1.json" {
        "checkpoint-countries-v1.json"
    } else {
        "checkpoint-summary-v1.json"
    };
    std::fs::copy(derived_dir(&prepared.store).join(other), path).expect("copy");
}

fn a_directory(_: &Prepared, _: &str, path: &Path) {
    std::fs::remove_file(path).expect("remove");
    std::fs::create_dir(path).expect("directory");
}

fn a_fifo(_: &Prepared, _: &str, path: &Path) {
    std::fs::remove_file(path).expect("remove");
    let made = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(made.success());
}

fn a_link_to_an_older_state(prepared: &Prepared, name: &str, path: &Path) {
    std::fs::remove_file(path).expect("remove");
    std::os::unix::fs::symlink(prepared.older.join(name), path).expect("symlink");
}

/// Damages each checkpoint in turn on a copy of the prepared store and
/// checks that the outcome is the fresh store's. `sealed` says whether the
/// damaged file still carries a valid seal (then no warning is due; else
/// one naming the file).
fn corpus(damage: Damage, sealed: bool) {
    let prepared = prepared();
    let reference = reference();
    for name in CHECKPOINTS {
        let temp = tempfile::tempdir().expect("temp dir");
        let store = temp.path().join("store");
        copy_tree(&prepared.store, &store);
        damage(prepared, name, &derived_dir(&store).join(name));
        let mut warnings = Vec::new();
        let outcome = outcome(&store, &prepared.key, &prepared.at, &mut warnings);
        assert_eq!(&outcome, reference, "{name}: not what a fresh store gives");
        if sealed {
            assert_eq!(warnings, Vec::<String>::new(), "{name}");
        } else {
            assert!(
                warnings.iter().any(|line| line.contains(name)),
                "{name}: no warning names it: {warnings:?}"
            );
        }
    }
}

#[test]
fn random_bytes_in_a_checkpoint_are_ignored_and_rebuilt() {
    corpus(random_bytes, false);
}

#[test]
fn a_truncated_or_empty_checkpoint_is_ignored_and_rebuilt() {
    corpus(truncated, false);
    corpus(emptied, false);
}

#[test]
fn an_edited_figure_under_the_genuine_head_is_never_printed() {
    corpus(edited_in_place, false);
}

#[test]
fn an_unsealed_checkpoint_is_never_trusted() {
    corpus(edited_without_seal, false);
}

#[test]
fn a_checkpoint_sealed_under_another_name_does_not_open() {
    corpus(renamed_from_another_checkpoint, false);
}

#[test]
fn a_sealed_checkpoint_of_another_log_is_refused_by_the_head_check() {
    corpus(from_another_log, true);
}

#[test]
fn an_older_sealed_checkpoint_of_this_log_gives_the_same_figures() {
    corpus(from_an_older_state, true);
}

#[test]
fn a_directory_fifo_or_link_in_place_of_a_checkpoint_is_not_followed() {
    corpus(a_directory, false);
    corpus(a_fifo, false);
    corpus(a_link_to_an_older_state, false);
}

/// Runs the outcome on a copy of the prepared store after `damage` to its
/// folders; reports must work and give the fresh store's figures.
fn folder_case(damage: impl Fn(&Path), appends_work: bool) {
    let prepared = prepared();
    let reference = reference();
    let temp = tempfile::tempdir().expect("temp dir");
    let store = temp.path().join("store");
    copy_tree(&prepared.store, &store);
    damage(&store);
    let mut warnings = Vec::new();
    if appends_work {
        let outcome = outcome(&store, &prepared.key, &prepared.at, &mut warnings);
        assert_eq!(&outcome, reference);
    } else {
        for (kind, expected) in REPORT_KINDS.iter().zip(&reference.reports) {
            let done = run(
                &store,
                &prepared.key,
                &["report", kind, "--format", "json"],
                b"",
            );
            without_warnings(&done, &mut warnings);
            assert_eq!(&figures(&done.ok()), expected, "{kind}");
        }
    }
    assert!(!warnings.is_empty(), "the damage is said");
}

#[test]
fn a_derived_folder_that_is_a_file_is_worked_around() {
    folder_case(
        |store| {
            let dir = derived_dir(store);
            std::fs::remove_dir_all(&dir).expect("remove");
            std::fs::write(&dir, b"not a folder").expect("file");
        },
        true,
    );
    folder_case(
        |store| {
            let dir = derived_dir(store);
            let key_dir = dir.parent().expect("key folder").to_owned();
            std::fs::remove_dir_all(&key_dir).expect("remove");
            std::fs::write(&key_dir, b"not a folder").expect("file");
        },
        true,
    );
}

#[test]
fn a_theseus_folder_that_is_a_file_does_not_fail_a_report() {
    // Appends need the store's indexes under `.theseus` (not checkpoints):
    // only reports are checked here.
    folder_case(
        |store| {
            std::fs::remove_dir_all(store.join(".theseus")).expect("remove");
            std::fs::write(store.join(".theseus"), b"not a folder").expect("file");
        },
        false,
    );
}

#[test]
fn a_reader_who_may_not_read_or_write_the_derived_folder_gets_the_figures() {
    let prepared = prepared();
    let reference = reference();
    let temp = tempfile::tempdir().expect("temp dir");
    let store = temp.path().join("store");
    copy_tree(&prepared.store, &store);
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    let (prefix, key): (Vec<&str>, PathBuf) = if is_root {
        // Root may read anything: the reader is another user, who may read
        // the log but not the owner's `.theseus` (0700).
        if Command::new("setpriv").arg("--version").output().is_err() {
            eprintln!("skipped: running as root without setpriv to run as another user");
            return;
        }
        mode(temp.path(), 0o755);
        mode(&store, 0o755);
        for (name, _) in crate::support::segment_bytes(&store) {
            mode(&store.join(name), 0o644);
        }
        let home = temp.path().join("nobody");
        std::fs::create_dir(&home).expect("home");
        mode(&home, 0o777);
        (
            vec![
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ],
            home.join("derived.key"),
        )
    } else {
        mode(&store.join(".theseus"), 0o000);
        (Vec::new(), prepared.key.clone())
    };
    for (kind, expected) in REPORT_KINDS.iter().zip(&reference.reports) {
        let done = run_as(
            &prefix,
            &store,
            &key,
            &["report", kind, "--format", "json"],
            b"",
        );
        let mut warnings = Vec::new();
        without_warnings(&done, &mut warnings);
        assert_eq!(&figures(&done.ok()), expected, "{kind}");
    }
    if !is_root {
        mode(&store.join(".theseus"), 0o700);
    }
}

/// With no usable key, commands work from the log alone: the same figures
/// and the same refusals, one warning per command, and no derived file.
fn without_a_key(key: &Path) {
    let prepared = prepared();
    let reference = reference();
    let temp = tempfile::tempdir().expect("temp dir");
    let store = temp.path().join("store");
    copy_log(&prepared.store, &store);
    let mut warnings = Vec::new();
    let outcome = outcome(&store, key, &prepared.at, &mut warnings);
    assert_eq!(&outcome, reference);
    // Every command said it once: 8 reports twice, 3 appends, 2 agency
    // commands.
    assert_eq!(
        warnings.len(),
        2 * REPORT_KINDS.len() + 3 + 2,
        "{warnings:?}"
    );
    assert!(warnings
        .iter()
        .all(|line| line.contains("derived-data key")));
    let derived: Vec<PathBuf> = std::fs::read_dir(store.join(".theseus"))
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").path())
                .filter(|p| p.join("derived").exists())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(derived, Vec::<PathBuf>::new(), "no derived data was saved");
}

#[test]
fn a_key_that_cannot_be_made_leaves_commands_working_with_one_warning() {
    let temp = tempfile::tempdir().expect("temp dir");
    let blocker = temp.path().join("a-file");
    std::fs::write(&blocker, b"not a folder").expect("file");
    without_a_key(&blocker.join("theseus").join("derived.key"));
}

#[test]
fn a_malformed_key_leaves_commands_working_with_one_warning() {
    let temp = tempfile::tempdir().expect("temp dir");
    let key = temp.path().join("derived.key");
    std::fs::write(&key, b"not a key\n").expect("key");
    without_a_key(&key);
}

#[test]
fn verify_names_and_rebuilds_a_checkpoint_that_disagrees_with_the_log() {
    // A checkpoint of another log, sealed by the same key, is never used
    // (the head check); verify names it and rebuilds it.
    let prepared = prepared();
    let temp = tempfile::tempdir().expect("temp dir");
    let store = temp.path().join("store");
    copy_tree(&prepared.store, &store);
    let clean = run(&store, &prepared.key, &["verify"], b"");
    assert_eq!(clean.code, 0, "{clean:?}");
    assert!(!clean.stderr.contains("warning"), "{clean:?}");
    let name = "checkpoint-summary-v1.json";
    from_another_log(prepared, name, &derived_dir(&store).join(name));
    let found = run(&store, &prepared.key, &["verify"], b"");
    assert_eq!(found.code, 0, "{found:?}");
    let lines: Vec<&str> = found.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{found:?}");
    assert!(
        lines[0].contains(name) && lines[0].contains("rebuilt"),
        "{found:?}"
    );
    let again = run(&store, &prepared.key, &["verify"], b"");
    assert!(again.stderr.is_empty(), "rebuilt: {again:?}");
}

#[test]
fn verify_catches_a_forgery_sealed_with_the_key() {
    a_forgery_sealed_with_the_key_is_caught(&[]);
}

#[test]
fn verify_catches_a_forgery_sealed_with_the_key_in_its_parallel_pass() {
    // The checkpoints' re-derivation rides on the store's parallel pass
    // for long logs: split the sample into 4 KiB units so that it does.
    a_forgery_sealed_with_the_key_is_caught(&["env", "THESEUS_VERIFY_SPLIT=1:4096"]);
}

/// Whoever holds the key can seal anything: verify (run after `prefix`)
/// does not trust the seal, it folds the log again.
fn a_forgery_sealed_with_the_key_is_caught(prefix: &[&str]) {
    let prepared = prepared();
    let reference = reference();
    let temp = tempfile::tempdir().expect("temp dir");
    let store = temp.path().join("store");
    copy_tree(&prepared.store, &store);
    let hex = std::fs::read_to_string(&prepared.key).expect("key file");
    let mut secret = [0u8; 32];
    for (slot, pair) in secret.iter_mut().zip(hex.trim().as_bytes().chunks(2)) {
        *slot = u8::from_str_radix(std::str::from_utf8(pair).expect("hex"), 16).expect("hex");
    }
    let key = event_store::DerivedKey::from_secret(secret);
    let name = "checkpoint-summary-v1.json";
    let path = derived_dir(&store).join(name);
    let (_, body) = sealed_body(&path);
    let forged = edited_body(name, &body);
    let context = event_store::backend::seal_context("file", name);
    std::fs::write(&path, key.seal(&context, forged.as_bytes())).expect("write");

    let found = run_as(prefix, &store, &prepared.key, &["verify"], b"");
    assert_eq!(found.code, 0, "{found:?}");
    let lines: Vec<&str> = found.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{found:?}");
    assert!(
        lines[0].contains(name) && lines[0].contains("differs") && lines[0].contains("rebuilt"),
        "{found:?}"
    );
    let again = run_as(prefix, &store, &prepared.key, &["verify"], b"");
    assert!(again.stderr.is_empty(), "rebuilt: {again:?}");
    let summary = run(
        &store,
        &prepared.key,
        &["report", "summary", "--format", "json"],
        b"",
    );
    assert_eq!(figures(&summary.ok()), reference.reports[0]);
}

#[test]
fn on_postgres_an_edited_derived_row_is_ignored_and_rebuilt() {
    let Some(store) = crate::support::Store::postgres() else {
        return;
    };
    let sample = crate::support::Store::sample();
    let copied = Command::new(theseus_bin())
        .arg("copy")
        .arg("--from")
        .arg(sample.path())
        .arg("--to")
        .arg(store.spec())
        .output()
        .expect("run copy");
    assert!(copied.status.success(), "{copied:?}");
    let schema = store.schema().expect("a PostgreSQL store");
    let temp = tempfile::tempdir().expect("temp dir");
    let key = temp.path().join("derived.key");
    let url = store.spec();
    let summary = || run(&url, &key, &["report", "summary", "--format", "json"], b"");
    let fresh = summary();
    assert!(fresh.stderr.is_empty(), "{fresh:?}");
    let fresh = figures(&fresh.ok());
    let second = |id: &str| {
        run(
            &url,
            &key,
            &["append", "--recorded-by", "test"],
            retraction(id, SAMPLE_RETRACTED).as_bytes(),
        )
    };
    let refused = second("00000000-0000-4000-8000-000000000020");
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("already retracted"), "{refused:?}");
    let head = run(&url, &key, &["head"], b"").ok();

    // The measured attacks, on the rows: the figure edited (seal kept, and
    // seal dropped), the retracted id removed from the rule state.
    let body = "convert_from(substring(bytes from 41), 'UTF8')";
    schema.sql(&format!(
        "UPDATE {{s}}.derived SET bytes = substring(bytes from 1 for 40) || \
         convert_to(replace({body}, '\"arrests\":236', '\"arrests\":12'), 'UTF8') \
         WHERE name LIKE '%.checkpoint-summary-v1.json';"
    ));
    // The retracted id is taken out of its base64 string here, and the
    // row written back without its seal.
    let mut admin = crate::postgres::admin();
    let table = format!("\"{}\".derived", schema.name());
    let rows = admin
        .query(
            &format!(
                "SELECT name, bytes FROM {table} WHERE name LIKE '%.checkpoint-operations-v2.json'"
            ),
            &[],
        )
        .expect("the rule state's rows");
    assert!(!rows.is_empty(), "a rule-state checkpoint");
    for row in rows {
        let (name, bytes): (String, Vec<u8>) = (row.get(0), row.get(1));
        let sealed = std::str::from_utf8(&bytes[SEAL_LEN..]).expect("UTF-8");
        let edited = without_retracted(sealed, SAMPLE_RETRACTED);
        admin
            .execute(
                &format!("UPDATE {table} SET bytes = $1 WHERE name = $2"),
                &[&edited.as_bytes(), &name],
            )
            .expect("write the edited row");
    }
    let forged = summary();
    assert_eq!(figures(&forged.stdout), fresh, "{forged:?}");
    assert!(
        forged.stderr.contains("checkpoint-summary-v1.json"),
        "{forged:?}"
    );
    assert_eq!(forged.stderr.lines().count(), 1, "{forged:?}");
    let refused = second("00000000-0000-4000-8000-000000000021");
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("already retracted"), "{refused:?}");
    assert!(
        refused.stderr.contains("checkpoint-operations-v2.json"),
        "{refused:?}"
    );
    assert_eq!(
        run(&url, &key, &["head"], b"").ok(),
        head,
        "nothing was written"
    );
    // Each key's rows are its own.
    let other = temp.path().join("other.key");
    let theirs = run(
        &url,
        &other,
        &["report", "summary", "--format", "json"],
        b"",
    );
    assert_eq!(figures(&theirs.ok()), fresh);
    assert!(summary().stderr.is_empty(), "my rows were not overwritten");
}
