//! Test helpers: a temporary store directory and a `theseus` command runner.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `theseus` binary built by cargo for this test run. Cargo builds the
/// workspace's binaries before integration tests only for the binary's own
/// package, so locate it next to the test executable.
pub fn theseus_bin() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_theseus") {
        return PathBuf::from(path);
    }
    let mut dir = std::env::current_exe().expect("test executable path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("theseus");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so that the cli package is built",
        bin.display()
    );
    bin
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Every kind of report.
pub const REPORT_KINDS: [&str; 8] = [
    "summary",
    "countries",
    "timeline",
    "seizures",
    "networks",
    "victims",
    "arrests",
    "locations",
];

/// Every output format.
pub const FORMATS: [&str; 6] = ["table", "json", "jsonl", "csv", "markdown", "html"];

/// The result of one `theseus` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "expected success, got {self:?}");
        self.stdout
    }

    /// Asserts failure with `code` and returns stderr.
    pub fn fails(self, code: i32) -> String {
        assert_eq!(self.code, code, "expected exit {code}, got {self:?}");
        self.stderr
    }

    /// Parses stdout as JSON.
    pub fn json(self) -> serde_json::Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}"))
    }
}

/// One store for a test: a temporary directory, or a schema of its own in
/// the test PostgreSQL database (dropped with the `Store`).
#[derive(Debug)]
pub struct Store {
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Directory(tempfile::TempDir),
    Postgres(crate::postgres::TestSchema),
}

impl Store {
    /// A new, initialised, empty store.
    pub fn new() -> Store {
        let store = Store::uninitialised();
        store.run(&["init"]).ok();
        store
    }

    /// A temporary directory with no store in it.
    pub fn uninitialised() -> Store {
        Store {
            backend: Backend::Directory(tempfile::tempdir().expect("temp dir")),
        }
    }

    /// A new, initialised, empty store in a schema of its own, or `None`
    /// (after one line saying so) when no PostgreSQL server is reachable.
    pub fn postgres() -> Option<Store> {
        let store = Store::postgres_uninitialised()?;
        store.run(&["init"]).ok();
        Some(store)
    }

    /// A PostgreSQL address whose schema holds nothing yet.
    pub fn postgres_uninitialised() -> Option<Store> {
        Some(Store {
            backend: Backend::Postgres(crate::postgres::TestSchema::new()?),
        })
    }

    /// The PostgreSQL schema behind this store, if it is one.
    pub fn schema(&self) -> Option<&crate::postgres::TestSchema> {
        match &self.backend {
            Backend::Postgres(schema) => Some(schema),
            Backend::Directory(_) => None,
        }
    }

    /// What `--store` names.
    pub fn spec(&self) -> std::ffi::OsString {
        match &self.backend {
            Backend::Directory(dir) => dir.path().as_os_str().to_owned(),
            Backend::Postgres(schema) => schema.url().into(),
        }
    }

    /// A copy of the committed sample store (its segments only).
    pub fn sample() -> Store {
        let store = Store::uninitialised();
        for entry in std::fs::read_dir(root().join("events")).expect("events/") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                std::fs::copy(&path, store.path().join(path.file_name().expect("name")))
                    .expect("copy");
            }
        }
        store
    }

    /// The store's directory (file stores only).
    pub fn path(&self) -> &Path {
        match &self.backend {
            Backend::Directory(dir) => dir.path(),
            Backend::Postgres(schema) => panic!("{} is not a directory", schema.url()),
        }
    }

    /// Runs `theseus --store DIR ARGS…` with empty stdin.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, b"")
    }

    /// Runs `theseus --store DIR ARGS…` with `input` on stdin.
    pub fn run_with_input(&self, args: &[&str], input: &[u8]) -> Run {
        self.run_with_env(args, input, &[])
    }

    /// [`Store::run_with_input`] with the variables `env` set.
    pub fn run_with_env(&self, args: &[&str], input: &[u8], env: &[(&str, &str)]) -> Run {
        let mut child = Command::new(theseus_bin())
            .arg("--store")
            .arg(self.spec())
            .args(args)
            .env_remove("THESEUS_STORE")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn theseus");
        let mut stdin = child.stdin.take().expect("stdin");
        // A refused batch may exit before reading all of its input.
        let _ = stdin.write_all(input);
        drop(stdin);
        Run::from(child.wait_with_output().expect("wait for theseus"))
    }

    /// Appends JSON lines at a fixed time (so logs are reproducible).
    pub fn append(&self, lines: &str) -> Run {
        self.run_with_input(
            &[
                "append",
                "--recorded-by",
                "test",
                "--recorded-at",
                "2020-02-01T00:00:00Z",
            ],
            lines.as_bytes(),
        )
    }

    /// The bytes of every segment, in name order (of a PostgreSQL store: its
    /// rows' lines, in position order): to show a refused command changed
    /// nothing.
    pub fn log_bytes(&self) -> Vec<(String, Vec<u8>)> {
        if let Backend::Postgres(schema) = &self.backend {
            return vec![("events".to_owned(), schema.log_bytes())];
        }
        segment_bytes(self.path())
    }

    /// A new store holding no events and the subject keys of `keys` (a
    /// file store): references are sealed under a store's own random keys,
    /// so two stores write the same bytes for the same input only when
    /// they hold the same keys.
    pub fn with_keys_of(keys: &Store) -> Store {
        let store = Store::new();
        store.take_keys_of(keys);
        store
    }

    /// Gives this store (holding no sealed reference yet) the subject keys
    /// of `from` (a file store).
    pub fn take_keys_of(&self, from: &Store) {
        let file = from.path().join("subject-keys");
        let Ok(bytes) = std::fs::read(&file) else {
            return;
        };
        match &self.backend {
            Backend::Directory(dir) => {
                std::fs::copy(&file, dir.path().join("subject-keys")).expect("copy the keys");
            }
            Backend::Postgres(schema) => {
                // Format 1: a 16-byte header, then entries (lookup 32, id 16,
                // secret 32). Format 2: a 32-byte header, then the same
                // entries with a 16-byte check after each.
                let (header, entry_len) = if bytes.starts_with(b"theseus-keys v1\n") {
                    (16, 80)
                } else {
                    (32, event_store::subject_keys::ENTRY_LEN)
                };
                let mut client = crate::postgres::admin();
                for entry in bytes[header..].chunks_exact(entry_len) {
                    client
                        .execute(
                            &format!(
                                "INSERT INTO \"{}\".subject_keys (lookup, key_id, secret) VALUES ($1, $2, $3)",
                                schema.name()
                            ),
                            &[&&entry[..32], &&entry[32..48], &&entry[48..80]],
                        )
                        .expect("insert a key");
                }
            }
        }
    }

    /// The summary report as JSON.
    pub fn summary(&self) -> serde_json::Value {
        self.run(&["report", "summary", "--format", "json"]).json()
    }
}

/// A test data file under `tests/data`.
pub fn data(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/data").join(name)).expect("test data file")
}

/// A rendered report without what its replay checked (`as_of.verified` in
/// JSON, the footer's "; …" in tables and Markdown): a report from a
/// checkpoint says so, and the figures and the head are what must not change.
pub fn figures(rendered: &str) -> String {
    if let Ok(mut json) = serde_json::from_str::<serde_json::Value>(rendered) {
        if let Some(as_of) = json.get_mut("as_of").and_then(|v| v.as_object_mut()) {
            as_of.remove("verified");
        }
        return json.to_string();
    }
    rendered
        .lines()
        .map(|line| match line.find(" as of position ") {
            Some(at) => match line[at..].find("; ") {
                Some(cut) => line[..at + cut].to_owned(),
                None => line.to_owned(),
            },
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The bytes of every segment (`*.jsonl`) in the store directory `dir`, in
/// name order.
pub fn segment_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut segments: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("store dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("segment"))
        })
        .collect();
    segments.sort();
    segments
}
