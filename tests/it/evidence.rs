//! Signed submissions and receipts through the real binary, on the file
//! store and on PostgreSQL: agencies' keys (generate, rotate, revoke),
//! `sign`, `append --signature`, `verify --require-signatures`, receipts
//! (`append --receipt`, `head --signed`, `verify --receipt`), and logs
//! edited, re-attributed, cut or rebuilt after the fact.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use event_store::{EventStore, FileStore, FileStoreConfig, NewEvent, Range, Stamp};
use postgres_store::{PostgresConfig, PostgresStore};

use crate::support::{theseus_bin, Store};

pub const LAUNCH: &str = r#"{"id":"00000000-0000-4000-8000-e00000000000","operation":"op","type":"OperationLaunched","data":{"name":"Op","coordinator":"C","countries":["AL","RS"],"starts_on":"2020-01-01","ends_on":"2020-01-31"}}"#;

/// A batch of `n` AgentsDeployed lines for RS, ids from `first`.
pub fn agents(first: u32, n: u32) -> String {
    (first..first + n)
        .map(|i| {
            format!(
                r#"{{"id":"00000000-0000-4000-8000-e{i:011}","operation":"op","type":"AgentsDeployed","data":{{"country":"RS","count":{i}}}}}"#
            ) + "\n"
        })
        .collect()
}

/// A folder for the agency's key files, batches and receipts.
pub struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    pub fn new() -> Desk {
        Desk {
            dir: tempfile::tempdir().expect("dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write");
        path.to_string_lossy().into_owned()
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read")
    }

    /// `theseus sign NAME --key KEY`: the signature's text.
    pub fn sign(&self, batch: &str, key: &str) -> String {
        let out = run(&["sign", &self.p(batch), "--key", &self.p(key)], None);
        assert_eq!(out.0, 0, "sign: {}", out.2);
        out.1
    }

    pub fn p(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }
}

/// Runs the binary outside any store, optionally with its own ledger key
/// file: (code, stdout, stderr).
fn run(args: &[&str], ledger_key: Option<&Path>) -> (i32, String, String) {
    let mut command = Command::new(theseus_bin());
    command.args(args).env_remove("THESEUS_STORE");
    if let Some(path) = ledger_key {
        command.env("THESEUS_LEDGER_KEY_FILE", path);
    }
    let output = command.stdin(Stdio::null()).output().expect("run theseus");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn with_store(store: &Store, args: &[&str]) -> Vec<String> {
    let mut all = vec![
        "--store".to_owned(),
        store.spec().to_string_lossy().into_owned(),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    all
}

/// Runs `theseus --store STORE ARGS…` with a ledger key file of its own.
fn run_keyed(store: &Store, args: &[&str], ledger_key: &Path) -> (i32, String, String) {
    let all = with_store(store, args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run(&all, Some(ledger_key))
}

/// Registers the agencies and rs-police's first key.
fn setup(store: &Store, desk: &Desk) -> serde_json::Value {
    store
        .run(&["agency", "add", "rs-police", "--role", "coordinator"])
        .ok();
    store
        .run(&[
            "agency",
            "add",
            "al-police",
            "--role",
            "reporter",
            "--country",
            "AL",
        ])
        .ok();
    store
        .run(&[
            "agency",
            "key",
            "generate",
            "rs-police",
            "--out",
            &desk.p("rs1.key"),
        ])
        .json()
}

/// Appends batch NAME with signature SIG (files on the desk).
fn append_signed(store: &Store, desk: &Desk, batch: &str, sig: &str) -> crate::support::Run {
    store.run(&["append", &desk.p(batch), "--signature", &desk.p(sig)])
}

/// Opens the store behind `store` through the library.
fn open(store: &Store) -> Box<dyn EventStore> {
    match store.schema() {
        Some(schema) => Box::new(
            PostgresStore::open(&schema.address(), PostgresConfig::default()).expect("open"),
        ),
        None => Box::new(FileStore::open(store.path(), FileStoreConfig::default()).expect("open")),
    }
}

/// A new store of the same backend holding `from`'s records, each passed
/// through `change` (`None` drops it), written as one batch: a log rebuilt
/// by someone with write access, chained anew.
fn rebuilt(from: &Store, change: impl Fn(&mut NewEvent, u64) -> bool) -> Store {
    let target = match from.schema() {
        Some(_) => Store::postgres().expect("a server"),
        None => Store::new(),
    };
    let source = open(from);
    let mut events = Vec::new();
    source
        .scan(Range::ALL, &mut |record| {
            let mut event = NewEvent {
                id: record.id,
                operation: record.operation.to_string(),
                event_type: record.event_type.to_string(),
                schema: record.schema,
                recorded_by: record.recorded_by.to_string(),
                reported_at: record.reported_at.map(str::to_owned),
                data: record.data.to_owned(),
                expected_version: None,
                refers_to: None,
            };
            if change(&mut event, record.position) {
                events.push(event);
            }
            Ok(())
        })
        .expect("scan");
    let store = open(&target);
    let mut transaction = store.begin(Stamp::Now).expect("begin");
    for event in events {
        transaction.stage(event).expect("stage");
    }
    transaction.commit().expect("commit");
    target
}

fn signatures(store: Store) {
    let desk = Desk::new();
    let key = setup(&store, &desk);
    assert_eq!(key["agency"], "rs-police");
    let key_id = key["key_id"].as_str().expect("key id").to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(desk.path("rs1.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is the agency's alone");
    }
    // A second key while one is active is refused: rotate instead.
    let stderr = store
        .run(&[
            "agency",
            "key",
            "generate",
            "rs-police",
            "--out",
            &desk.p("other.key"),
        ])
        .fails(1);
    assert!(stderr.contains("rotate"), "{stderr}");
    assert!(
        !desk.path("other.key").exists(),
        "no key file is left for a refused key"
    );

    // Valid: the batch is recorded by the signing agency.
    desk.write("b1.ndjson", &format!("{LAUNCH}\n{}", agents(1, 2)));
    desk.write("b1.sig", &desk.sign("b1.ndjson", "rs1.key"));
    let appended = append_signed(&store, &desk, "b1.ndjson", "b1.sig").json();
    assert_eq!(appended["appended"], 3);
    let listed = store.run(&["events", "--format", "jsonl"]).ok();
    let events: Vec<&str> = listed
        .lines()
        .filter(|l| l.starts_with(r#"{"position""#))
        .collect();
    let positions: Vec<&str> = events.iter().map(|l| &l[12..13]).collect();
    assert_eq!(
        positions,
        ["5", "6", "7"],
        "the signature (4) is no event: {listed}"
    );
    assert!(
        events
            .iter()
            .all(|line| line.contains(r#""recorded_by":"rs-police""#)),
        "{listed}"
    );
    let verified = store.run(&["verify", "--require-signatures"]).ok();
    assert!(
        verified.contains("1 signed batches (3 records)"),
        "{verified}"
    );
    // Sent again whole: skipped whole, nothing written.
    let before = store.log_bytes();
    let again = append_signed(&store, &desk, "b1.ndjson", "b1.sig").json();
    assert_eq!(
        (again["appended"].clone(), again["duplicates"].clone()),
        (0.into(), 3.into())
    );
    assert_eq!(store.log_bytes(), before);

    // Edited batch: the bytes no longer match what was signed.
    desk.write("b2.ndjson", &agents(10, 2));
    desk.write("b2.sig", &desk.sign("b2.ndjson", "rs1.key"));
    desk.write(
        "b2.ndjson",
        &agents(10, 2).replace(r#""count":11"#, r#""count":99"#),
    );
    let stderr = append_signed(&store, &desk, "b2.ndjson", "b2.sig").fails(1);
    assert!(stderr.contains("SHA-256"), "{stderr}");
    // Edited statement: the signature no longer verifies.
    let sig = desk.read("b2.sig").replace("lines 2", "lines 3");
    desk.write("b2-forged.sig", &sig);
    desk.write("b2.ndjson", &agents(10, 2));
    let stderr = append_signed(&store, &desk, "b2.ndjson", "b2-forged.sig").fails(1);
    assert!(stderr.contains("does not verify"), "{stderr}");
    // Wrong agency: a statement re-attributed to al-police (which has no
    // key), or a line naming another recorded_by.
    let sig = desk.read("b2.sig").replace("rs-police", "al-police");
    desk.write("b2-al.sig", &sig);
    let stderr = append_signed(&store, &desk, "b2.ndjson", "b2-al.sig").fails(1);
    assert!(
        stderr.contains("al-police has no registered signing key"),
        "{stderr}"
    );
    desk.write(
        "b2-named.ndjson",
        &agents(10, 2).replace(r#""type""#, r#""recorded_by":"al-police","type""#),
    );
    let (code, _, stderr) = run(
        &[
            "sign",
            &desk.p("b2-named.ndjson"),
            "--key",
            &desk.p("rs1.key"),
        ],
        None,
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("line 1: recorded_by"), "{stderr}");
    assert_eq!(store.log_bytes(), before, "every refusal wrote nothing");

    // Rotated: old batches still verify; the old key signs nothing new.
    store
        .run(&[
            "agency",
            "key",
            "rotate",
            "rs-police",
            "--out",
            &desk.p("rs2.key"),
        ])
        .json();
    let stderr = append_signed(&store, &desk, "b2.ndjson", "b2.sig").fails(1);
    assert!(stderr.contains("retired"), "{stderr}");
    desk.write("b2.sig", &desk.sign("b2.ndjson", "rs2.key"));
    append_signed(&store, &desk, "b2.ndjson", "b2.sig").json();
    let verified = store.run(&["verify", "--require-signatures"]).ok();
    assert!(
        verified.contains("2 signed batches (5 records)"),
        "{verified}"
    );

    // Revoked: refused after the revocation, earlier batches still verify.
    let rs2 = std::fs::read_to_string(desk.path("rs2.key")).expect("key");
    let rs2_id = rs2.split('+').nth(3).expect("id").to_owned();
    assert_ne!(rs2_id, key_id);
    store
        .run(&[
            "agency",
            "key",
            "revoke",
            "rs-police",
            "--key-id",
            &rs2_id,
            "--reason",
            "laptop lost",
        ])
        .json();
    desk.write("b3.ndjson", &agents(20, 1));
    desk.write("b3.sig", &desk.sign("b3.ndjson", "rs2.key"));
    let stderr = append_signed(&store, &desk, "b3.ndjson", "b3.sig").fails(1);
    assert!(stderr.contains("revoked"), "{stderr}");
    store.run(&["verify", "--require-signatures"]).ok();

    // Unsigned, from an agency with a key: verify passes, but not with
    // --require-signatures, which names the record.
    store
        .run(&[
            "agency",
            "key",
            "generate",
            "rs-police",
            "--out",
            &desk.p("rs3.key"),
        ])
        .json();
    let unsigned = store
        .run_with_input(
            &["append", "--recorded-by", "rs-police"],
            agents(30, 1).as_bytes(),
        )
        .json();
    let position = unsigned["first_position"].as_u64().expect("position");
    store.run(&["verify"]).ok();
    let stderr = store.run(&["verify", "--require-signatures"]).fails(4);
    assert!(
        stderr.contains(&format!("position {position}: unsigned")),
        "{stderr}"
    );

    // A log rebuilt with a signed record edited (its data) or re-attributed
    // (its recorded_by): the chain holds, the signature catches it.
    let signed_at = 4; // after the registry: 2 agencies and 1 key.
    let reattributed = rebuilt(&store, |event, position| {
        if position == signed_at + 1 {
            event.recorded_by = "al-police".into();
        }
        true
    });
    let stderr = reattributed.run(&["verify"]).fails(4);
    assert!(
        stderr.contains(&format!("position {}", signed_at + 1)) && stderr.contains("recorded_by"),
        "{stderr}"
    );
    let forged = rebuilt(&store, |event, position| {
        if position == signed_at + 2 {
            event.data = event.data.replace(r#""count":1"#, r#""count":7"#);
        }
        true
    });
    let stderr = forged.run(&["verify"]).fails(4);
    assert!(
        stderr.contains(&format!("position {signed_at}")) && stderr.contains("not the ones signed"),
        "{stderr}"
    );
}

fn receipts(store: Store, cut_file: bool) {
    let desk = Desk::new();
    let r1 = desk.p("r1.receipt");
    let r2 = desk.p("r2.receipt");
    store
        .run_with_input(
            &["append", "--recorded-by", "rs-police", "--receipt", &r1],
            format!("{LAUNCH}\n").as_bytes(),
        )
        .json();
    let receipt = desk.read("r1.receipt");
    assert!(
        receipt.starts_with("theseus head v1\nposition "),
        "{receipt}"
    );
    store.run(&["verify", "--receipt", &r1]).ok();
    // The log grew: both receipts hold.
    store
        .run_with_input(
            &["append", "--recorded-by", "rs-police", "--receipt", &r2],
            agents(1, 3).as_bytes(),
        )
        .json();
    let signed_head = store.run(&["head", "--signed"]).ok();
    let r3 = desk.write("r3.receipt", &signed_head);
    let out = store.run(&["verify", "--receipt", &r1, &r2, &r3]).ok();
    assert_eq!(out.matches("ok: receipt").count(), 3, "{out}");
    // A receipt with an edited head is not the ledger's signature.
    let forged = desk.write(
        "forged.receipt",
        &receipt.replace("position ", "position 1"),
    );
    let stderr = store.run(&["verify", "--receipt", &forged]).fails(4);
    assert!(
        stderr.contains("forged.receipt") && stderr.contains("does not verify"),
        "{stderr}"
    );
    // A receipt signed by another ledger's key.
    let other_key = desk.path("other-ledger.key");
    let other = Store::new();
    let (code, text, stderr) = run_keyed(&other, &["head", "--signed"], &other_key);
    assert_eq!(code, 0, "{stderr}");
    let foreign = desk.write("foreign.receipt", &text);
    let stderr = store.run(&["verify", "--receipt", &foreign]).fails(4);
    assert!(stderr.contains("records no ledger key"), "{stderr}");

    // Rebuilt with one early record edited: the chain holds, the receipts
    // do not.
    let edited = rebuilt(&store, |event, position| {
        if position == 1 {
            event.data = event.data.replace(r#""name":"Op""#, r#""name":"Oq""#);
        }
        true
    });
    edited.run(&["verify"]).ok();
    let stderr = edited.run(&["verify", "--receipt", &r1]).fails(4);
    assert!(
        stderr.contains("r1.receipt") && stderr.contains("was changed"),
        "{stderr}"
    );
    // Rebuilt from a prefix: cut before the second receipt.
    let first: u64 = receipt
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("position "))
        .and_then(|p| p.parse().ok())
        .expect("position");
    let cut = rebuilt(&store, |_, position| position <= first);
    let stderr = cut.run(&["verify", "--receipt", &r2]).fails(4);
    assert!(stderr.contains("r2.receipt"), "{stderr}");

    if cut_file {
        // Cut in place at the first receipt's head (a record boundary):
        // the log alone still verifies; the later receipt fails.
        let segments: Vec<PathBuf> = {
            let mut all: Vec<PathBuf> = std::fs::read_dir(store.path())
                .expect("dir")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect();
            all.sort();
            all
        };
        assert_eq!(segments.len(), 1);
        let text = std::fs::read_to_string(&segments[0]).expect("segment");
        let kept: String = text.split_inclusive('\n').take(first as usize).collect();
        std::fs::write(&segments[0], kept).expect("cut");
        let _ = std::fs::remove_dir_all(store.path().join(".theseus"));
        store.run(&["verify", "--receipt", &r1]).ok();
        let stderr = store.run(&["verify", "--receipt", &r1, &r2]).fails(4);
        assert!(
            stderr.contains("r2.receipt") && stderr.contains("cut"),
            "{stderr}"
        );
    }
}

#[test]
fn signatures_valid_edited_wrong_agency_rotated_revoked_and_required_on_the_file_store() {
    signatures(Store::new());
}

#[test]
fn signatures_valid_edited_wrong_agency_rotated_revoked_and_required_on_postgres() {
    if let Some(store) = Store::postgres() {
        signatures(store);
    }
}

#[test]
fn receipts_hold_while_the_log_grows_and_fail_once_it_is_cut_edited_or_rebuilt_on_the_file_store() {
    receipts(Store::new(), true);
}

#[test]
fn receipts_hold_while_the_log_grows_and_fail_once_it_is_cut_edited_or_rebuilt_on_postgres() {
    if let Some(store) = Store::postgres() {
        receipts(store, false);
    }
}
