//! The store's indexes cannot lie: a corruption corpus for each index file
//! (`ids`, `positions`, `streams`, `head` in `.theseus/<key id>/`).
//!
//! Each case builds a store from the sample (which holds retractions), adds
//! an operation in two batches, damages its index files in place, and runs
//! the same commands on it and on a fresh twin (the same log, no
//! `.theseus`): the reports must print the same figures, the next appends
//! (a re-sent id and a retraction, a used id with other content, a stale
//! and a current `expected_version`) must be accepted and refused alike,
//! and the logs afterwards must be byte-identical (`--recorded-at` fixes
//! the time). Damage may be told on stderr, one line a command at most.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{figures, root, theseus_bin, Run, Store};

const INDEX_FILES: [&str; 4] = ["ids", "positions", "streams", "head"];
const HEADER_LEN: usize = 64;
const PAGE_LEN: usize = 1024;
const SLOT_LEN: usize = 24;
/// The id that batch `c` sends again.
const RESENT: &str = "00000000-0000-4000-8000-0000000000b1";

fn batch(name: &str) -> PathBuf {
    root().join("tests/data/derived-indexes").join(name)
}

/// `theseus --store STORE ARGS…` with the derived-data key in `key`.
fn theseus(store: &Path, key: &Path, args: &[&str]) -> Run {
    let output = Command::new(theseus_bin())
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("THESEUS_STORE")
        .env("THESEUS_KEY_FILE", key)
        .stdin(Stdio::null())
        .output()
        .expect("run theseus");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn append(store: &Path, key: &Path, name: &str, day: u32) -> Run {
    let at = format!("2020-06-{day:02}T00:00:00Z");
    let file = batch(name);
    let file = file.to_str().expect("UTF-8 path");
    theseus(
        store,
        key,
        &[
            "append",
            "--recorded-by",
            "test",
            "--recorded-at",
            &at,
            file,
        ],
    )
}

/// The one index folder of the store (`.theseus/<key id>`).
fn index_dir(store: &Path) -> PathBuf {
    let folders: Vec<PathBuf> = std::fs::read_dir(store.join(".theseus"))
        .expect(".theseus")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.is_dir() && !path.ends_with("derived"))
        .collect();
    assert_eq!(folders.len(), 1, "one index folder: {folders:?}");
    folders[0].clone()
}

fn snapshot(dir: &Path) -> BTreeMap<&'static str, Vec<u8>> {
    INDEX_FILES
        .iter()
        .map(|name| (*name, std::fs::read(dir.join(name)).expect("index file")))
        .collect()
}

/// The sample, an operation launched (batch `a`), its index files then,
/// three more arrests (batch `b`).
fn build(key: &Path) -> (Store, BTreeMap<&'static str, Vec<u8>>) {
    let store = Store::sample();
    append(store.path(), key, "a-launch.ndjson", 1).ok();
    let older = snapshot(&index_dir(store.path()));
    append(store.path(), key, "b-arrests.ndjson", 2).ok();
    (store, older)
}

/// The same log without derived data.
fn twin(store: &Store) -> Store {
    let fresh = Store::uninitialised();
    for (name, bytes) in store.log_bytes() {
        std::fs::write(fresh.path().join(name), bytes).expect("segment");
    }
    // The subject keys are not derived: they travel with the log.
    let keys = store.path().join("subject-keys");
    if keys.exists() {
        std::fs::copy(&keys, fresh.path().join("subject-keys")).expect("subject keys");
    }
    fresh
}

/// Deterministic noise.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Where the slot holding `id` starts in an id table.
fn slot_of(ids: &[u8], id: &str) -> usize {
    let id = uuid::Uuid::parse_str(id).expect("uuid");
    ids[HEADER_LEN..]
        .chunks(PAGE_LEN)
        .enumerate()
        .find_map(|(page, bytes)| {
            bytes
                .chunks(SLOT_LEN)
                .take(PAGE_LEN / SLOT_LEN)
                .position(|slot| slot[..16] == *id.as_bytes())
                .map(|index| HEADER_LEN + page * PAGE_LEN + index * SLOT_LEN)
        })
        .expect("the id is in the table")
}

struct Files<'a> {
    dir: &'a Path,
    older: &'a BTreeMap<&'static str, Vec<u8>>,
    other: &'a BTreeMap<&'static str, Vec<u8>>,
}

impl Files<'_> {
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).expect("index file")
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.join(name), bytes).expect("write index file");
    }

    fn edit(&self, name: &str, change: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = self.read(name);
        change(&mut bytes);
        self.write(name, &bytes);
    }

    fn copy_older(&self, name: &str) {
        self.write(name, &self.older[name]);
    }

    fn copy_other(&self, name: &str) {
        self.write(name, &self.other[name]);
    }
}

type Damage = fn(&Files<'_>);

/// Every damage, by name.
fn corpus() -> Vec<(&'static str, Damage)> {
    vec![
        ("ids: random bytes after the header", |f| {
            f.edit("ids", |b| {
                let len = b.len() - HEADER_LEN;
                b[HEADER_LEN..].copy_from_slice(&noise(len, 1));
            })
        }),
        ("ids: truncated", |f| {
            f.edit("ids", |b| b.truncate(b.len() / 2))
        }),
        ("ids: empty", |f| f.write("ids", b"")),
        ("ids: the re-sent id's slot zeroed", |f| {
            f.edit("ids", |b| {
                let slot = slot_of(b, RESENT);
                b[slot..slot + SLOT_LEN].fill(0);
            })
        }),
        ("ids: the re-sent id's slot names another position", |f| {
            f.edit("ids", |b| {
                let slot = slot_of(b, RESENT);
                b[slot + 16..slot + SLOT_LEN].copy_from_slice(&1u64.to_le_bytes());
            })
        }),
        ("ids: the re-sent id's page from an older copy", |f| {
            let older = f.older["ids"].clone();
            f.edit("ids", |b| {
                let slot = slot_of(b, RESENT);
                let start = HEADER_LEN + (slot - HEADER_LEN) / PAGE_LEN * PAGE_LEN;
                b[start..start + PAGE_LEN].copy_from_slice(&older[start..start + PAGE_LEN]);
            })
        }),
        ("ids: the whole file from an older state", |f| {
            f.copy_older("ids")
        }),
        ("ids: from another store", |f| f.copy_other("ids")),
        ("positions: random bytes", |f| {
            f.edit("positions", |b| {
                let len = b.len();
                b.copy_from_slice(&noise(len, 2));
            })
        }),
        ("positions: truncated", |f| {
            f.edit("positions", |b| b.truncate(b.len() / 2))
        }),
        ("positions: zeroed", |f| f.edit("positions", |b| b.fill(0))),
        ("positions: two entries swapped", |f| {
            f.edit("positions", |b| {
                let len = b.len();
                let (first, last) = b.split_at_mut(len - 8);
                first[len - 16..].swap_with_slice(last);
            })
        }),
        ("positions: from an older state", |f| {
            f.copy_older("positions")
        }),
        ("positions: from another store", |f| {
            f.copy_other("positions")
        }),
        ("streams: random bytes", |f| {
            f.write("streams", &noise(200, 3))
        }),
        ("streams: the operation's version edited", |f| {
            f.edit("streams", |b| {
                let text = b"\"kestrel\":6";
                let at = b
                    .windows(text.len())
                    .position(|window| window == text)
                    .expect("kestrel's version");
                b[at + text.len() - 1] = b'9';
            })
        }),
        ("streams: truncated", |f| {
            f.edit("streams", |b| b.truncate(b.len() / 2))
        }),
        ("streams: from an older state", |f| f.copy_older("streams")),
        ("streams: from another store", |f| f.copy_other("streams")),
        ("head: random bytes", |f| f.write("head", &noise(300, 4))),
        ("head: the covered position edited", |f| {
            f.edit("head", |b| {
                let text = b"\"position\":743";
                let at = b
                    .windows(text.len())
                    .position(|window| window == text)
                    .expect("head's position");
                b[at + text.len() - 1] = b'0';
            })
        }),
        ("head: truncated", |f| {
            f.edit("head", |b| b.truncate(b.len() / 2))
        }),
        ("head: from an older state", |f| f.copy_older("head")),
        ("head: from another store", |f| f.copy_other("head")),
        ("head and streams from an older state", |f| {
            f.copy_older("head");
            f.copy_older("streams");
        }),
        ("every index file from an older state", |f| {
            for name in INDEX_FILES {
                f.copy_older(name);
            }
        }),
        ("every index file from another store", |f| {
            for name in INDEX_FILES {
                f.copy_other(name);
            }
        }),
        // What the README says is always safe: the first append then
        // rebuilds the indexes and the rule state, side by side.
        ("the whole derived folder deleted", |f| {
            let theseus = f.dir.parent().expect("the derived folder");
            std::fs::remove_dir_all(theseus).expect("remove .theseus");
        }),
        ("ids is a directory", |f| {
            std::fs::remove_file(f.dir.join("ids")).expect("remove");
            std::fs::create_dir(f.dir.join("ids")).expect("mkdir");
        }),
        ("head is a directory", |f| {
            std::fs::remove_file(f.dir.join("head")).expect("remove");
            std::fs::create_dir(f.dir.join("head")).expect("mkdir");
        }),
        ("the index folder is read-only", |f| {
            std::fs::set_permissions(f.dir, std::fs::Permissions::from_mode(0o500)).expect("chmod");
        }),
        ("the index folder cannot be read", |f| {
            std::fs::set_permissions(f.dir, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        }),
    ]
}

/// What the damaged store and its fresh twin must agree on; returns the
/// damaged store's warning lines.
fn same_as_fresh(case: &str, store: &Path, fresh: &Path, key: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut told = |run: &Run| {
        let lines: Vec<String> = run
            .stderr
            .lines()
            .filter(|line| line.starts_with("warning:"))
            .map(str::to_owned)
            .collect();
        assert!(lines.len() <= 1, "{case}: more than one warning: {lines:?}");
        warnings.extend(lines);
    };
    let without_warnings = |stderr: &str| -> String {
        stderr
            .lines()
            .filter(|line| !line.starts_with("warning:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for kind in ["summary", "countries", "networks"] {
        let damaged = theseus(store, key, &["report", kind, "--format", "json"]);
        told(&damaged);
        let expected = theseus(fresh, key, &["report", kind, "--format", "json"]);
        assert_eq!(
            figures(&damaged.ok()),
            figures(&expected.ok()),
            "{case}: report {kind}"
        );
    }
    for (name, day) in [
        ("c-resend-and-retract.ndjson", 3),
        ("d-used-id-other-content.ndjson", 4),
        ("e-stale-version.ndjson", 5),
        ("f-current-version.ndjson", 6),
    ] {
        let damaged = append(store, key, name, day);
        told(&damaged);
        let expected = append(fresh, key, name, day);
        assert_eq!(
            (
                damaged.code,
                &damaged.stdout,
                without_warnings(&damaged.stderr)
            ),
            (
                expected.code,
                &expected.stdout,
                without_warnings(&expected.stderr)
            ),
            "{case}: append {name}"
        );
    }
    warnings
}

#[test]
fn damaged_index_files_change_no_figure_and_no_append() {
    let keys = tempfile::tempdir().expect("temp dir");
    let key = keys.path().join("derived.key");
    let (other, _) = build(&key);
    let other_files = snapshot(&index_dir(other.path()));
    for (case, damage) in corpus() {
        let (store, older) = build(&key);
        let fresh = twin(&store);
        let dir = index_dir(store.path());
        damage(&Files {
            dir: &dir,
            older: &older,
            other: &other_files,
        });
        let warnings = same_as_fresh(case, store.path(), fresh.path(), &key);
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        assert_eq!(
            crate::support::segment_bytes(store.path()),
            crate::support::segment_bytes(fresh.path()),
            "{case}: the logs differ"
        );
        // The corpus's appends take the re-sent id, the retraction and the
        // expected version through the index: every case that breaks a
        // check must have said so.
        // An older consistent state is caught up without a word; the other
        // store has the same log, so its `positions` are right here too; as
        // root (CI) a chmod changes nothing.
        let silent = case.contains("older state")
            || case == "positions: from another store"
            || case.contains("index folder")
            || case.contains("derived folder deleted");
        if !silent {
            assert!(!warnings.is_empty(), "{case}: damage not told");
        }
        for warning in &warnings {
            assert!(warning.contains("derived index"), "{case}: {warning}");
        }
    }
}

#[test]
fn a_store_without_a_usable_key_still_answers() {
    let keys = tempfile::tempdir().expect("temp dir");
    let key = keys.path().join("derived.key");
    let unreadable_key = keys.path().join("not-a-key");
    std::fs::write(&unreadable_key, "not a key\n").expect("write");
    let (store, _) = build(&key);
    let fresh = twin(&store);
    same_as_fresh("no usable key", store.path(), fresh.path(), &unreadable_key);
    assert_eq!(
        crate::support::segment_bytes(store.path()),
        crate::support::segment_bytes(fresh.path())
    );
}

#[test]
fn quiet_silences_the_warnings_about_derived_data() {
    let keys = tempfile::tempdir().expect("temp dir");
    let key = keys.path().join("derived.key");
    let (store, _) = build(&key);
    let dir = index_dir(store.path());
    let report = ["report", "summary", "--format", "json", "--no-checkpoint"];
    let expected = theseus(store.path(), &key, &report);
    assert_eq!(expected.code, 0, "{}", expected.stderr);

    // A damaged id table: told without --quiet, silent with it, and the
    // figures are the same either way.
    let damage = |dir: &Path| {
        let mut ids = std::fs::read(dir.join("ids")).expect("ids");
        let len = ids.len() - HEADER_LEN;
        ids[HEADER_LEN..].copy_from_slice(&noise(len, 7));
        std::fs::write(dir.join("ids"), ids).expect("ids");
    };
    damage(&dir);
    let sent = append(store.path(), &key, "c-resend-and-retract.ndjson", 3);
    assert!(sent.stderr.contains("warning:"), "{}", sent.stderr);
    damage(&dir);
    let mut quiet = vec!["--quiet", "append", "--recorded-by", "test"];
    quiet.extend(["--recorded-at", "2020-06-04T00:00:00Z"]);
    let file = batch("c-resend-and-retract.ndjson");
    quiet.push(file.to_str().expect("UTF-8 path"));
    let resent = theseus(store.path(), &key, &quiet);
    assert_eq!(resent.code, 0, "{}", resent.stderr);
    assert_eq!(resent.stderr, "", "--quiet prints no warning");

    // A key that cannot be used: the same.
    let bad_key = keys.path().join("not-a-key");
    std::fs::write(&bad_key, "not a key\n").expect("write");
    let loud = theseus(store.path(), &bad_key, &report);
    assert!(loud.stderr.contains("warning:"), "{}", loud.stderr);
    let mut quiet_report = vec!["--quiet"];
    quiet_report.extend(report);
    let silent = theseus(store.path(), &bad_key, &quiet_report);
    assert_eq!(silent.code, 0, "{}", silent.stderr);
    assert_eq!(silent.stderr, "", "--quiet prints no warning");
    assert_eq!(silent.stdout, loud.stdout, "and the same figures");
}

#[test]
fn a_theseus_that_is_a_file_leaves_appends_to_the_log_in_memory() {
    let keys = tempfile::tempdir().expect("temp dir");
    let key = keys.path().join("derived.key");
    let (store, _) = build(&key);
    let fresh = twin(&store);
    let theseus_dir = store.path().join(".theseus");
    std::fs::remove_dir_all(&theseus_dir).expect("remove .theseus");
    std::fs::write(&theseus_dir, b"not a folder").expect("a file instead");
    let warnings = same_as_fresh(".theseus is a file", store.path(), fresh.path(), &key);
    assert_eq!(
        crate::support::segment_bytes(store.path()),
        crate::support::segment_bytes(fresh.path())
    );
    assert!(!warnings.is_empty(), "the file is told");
    for warning in &warnings {
        assert!(warning.contains("is not a folder"), "{warning}");
    }
    assert_eq!(
        std::fs::read(&theseus_dir).expect("still a file"),
        b"not a folder",
        "left as it was"
    );
}
