//! The store's own files, through the binary: which entries are the log
//! (only segment-named regular files), what `init` does to a directory,
//! a file given as a store, and who a record says recorded it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::crash::batch_lines;
use crate::support::{theseus_bin, Run, Store};

/// How long a command may take before the test calls it hung: far beyond
/// what any of these takes on a loaded machine, far below for ever.
const HANG: Duration = Duration::from_secs(60);

/// Runs `theseus --store STORE ARGS…` with `input` on stdin, killing it
/// (and failing the test) if it has not exited within [`HANG`].
fn run_bounded(store: &Path, args: &[&str], input: &[u8]) -> Run {
    let mut child = Command::new(theseus_bin())
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("THESEUS_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn theseus");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(input);
    }
    let started = Instant::now();
    while child.try_wait().expect("wait for theseus").is_none() {
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("theseus {args:?} was still running after {HANG:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output of theseus");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A store holding one committed batch (three records).
fn small_store() -> Store {
    let store = Store::new();
    store.append(&batch_lines(1, 3)).ok();
    store
}

const SECOND: &str = "00000000000000000004.jsonl";

/// Every kind of command a user runs on a store: reading, checking,
/// appending.
fn every_kind_of_command(input: &str) -> Vec<(Vec<&'static str>, Vec<u8>)> {
    vec![
        (vec!["head"], Vec::new()),
        (vec!["report", "summary", "--format", "json"], Vec::new()),
        (vec!["verify"], Vec::new()),
        (vec!["events"], Vec::new()),
        (
            vec!["append", "--recorded-by", "test"],
            input.as_bytes().to_vec(),
        ),
    ]
}

/// Each command exits 4 at once, naming `name` and saying what it is.
fn assert_refused_naming(store: &Store, name: &str, kind: &str) {
    for (args, input) in every_kind_of_command(&batch_lines(2, 2)) {
        let run = run_bounded(store.path(), &args, &input);
        assert_eq!(run.code, 4, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(name) && run.stderr.contains(kind),
            "{args:?} must name {name} as {kind}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{args:?} printed {}", run.stdout);
    }
}

#[test]
fn a_fifo_named_like_a_segment_is_refused_with_exit_4_and_no_command_waits_on_it() {
    let store = small_store();
    let before = store.log_bytes();
    let fifo = store.path().join(SECOND);
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    assert_refused_naming(&store, SECOND, "FIFO");
    // The FIFO is still a FIFO (nothing wrote into it or replaced it).
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::symlink_metadata(&fifo).expect("fifo").file_type();
    assert!(kind.is_fifo());
    std::fs::remove_file(&fifo).expect("remove the fifo");
    assert_eq!(
        store.log_bytes(),
        before,
        "a refused command changed the log"
    );
}

#[test]
fn a_segment_that_is_a_symlink_is_refused_and_the_file_it_points_to_is_unchanged() {
    let store = small_store();
    let outside = tempfile::tempdir().expect("temp dir");
    // The whole first segment moved out and linked back: before, appends
    // wrote into the file the link points to.
    let first = store.path().join("00000000000000000001.jsonl");
    let target = outside.path().join("elsewhere.jsonl");
    std::fs::copy(&first, &target).expect("copy");
    std::fs::remove_file(&first).expect("remove");
    std::os::unix::fs::symlink(&target, &first).expect("symlink");
    let before = std::fs::read(&target).expect("target");
    assert_refused_naming(&store, "00000000000000000001.jsonl", "symbolic link");
    assert_eq!(
        std::fs::read(&target).expect("target"),
        before,
        "the file the link points to was written"
    );
}

#[test]
fn a_directory_named_like_a_segment_is_refused_with_exit_4() {
    let store = small_store();
    std::fs::create_dir(store.path().join(SECOND)).expect("mkdir");
    assert_refused_naming(&store, SECOND, "directory");
}

#[test]
fn stray_files_in_the_store_are_ignored_with_one_warning_and_change_no_figure() {
    let store = Store::sample();
    let summary = store.run(&["report", "summary", "--format", "json"]).ok();
    let head = store.run(&["head"]).ok();
    // A file someone exported next to the log, and notes.
    let export = store.run(&["events", "--format", "jsonl"]).ok();
    std::fs::write(store.path().join("export.jsonl"), &export).expect("export");
    std::fs::write(store.path().join("notes.txt"), "to do\n").expect("notes");

    let run = store.run(&["report", "summary", "--format", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        crate::support::figures(&run.stdout),
        crate::support::figures(&summary),
        "a stray file changed the figures"
    );
    assert_eq!(
        run.stderr.matches("export.jsonl").count(),
        1,
        "one warning per command, naming the file: {}",
        run.stderr
    );
    assert!(run.stderr.starts_with("warning: "), "{}", run.stderr);
    assert!(!run.stderr.contains("notes.txt"), "{}", run.stderr);
    assert_eq!(store.run(&["head"]).ok(), head);
    let verified = store.run(&["verify"]);
    assert_eq!(verified.code, 0, "{verified:?}");
    assert!(
        verified.stdout.contains("chain to head"),
        "{}",
        verified.stdout
    );

    // Appends still go to the log, and the stray file is left alone.
    let appended = store.append(&batch_lines(7, 2)).json();
    assert_eq!(appended["appended"], 2);
    assert_eq!(
        std::fs::read(store.path().join("export.jsonl")).expect("export"),
        export.as_bytes()
    );
    // With --quiet, no warning.
    let quiet = store.run(&["--quiet", "head"]);
    assert_eq!(quiet.code, 0);
    assert!(quiet.stderr.is_empty(), "{}", quiet.stderr);
}

/// The names in `dir` with their modes, to show that nothing changed.
fn listing(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|entry| {
            let entry = entry.expect("entry");
            let metadata = entry.metadata().expect("metadata");
            let bytes = if metadata.is_file() {
                std::fs::read(entry.path()).expect("read")
            } else {
                Vec::new()
            };
            (
                entry.file_name().to_string_lossy().into_owned(),
                metadata.permissions().mode(),
                bytes,
            )
        })
        .collect();
    entries.sort();
    entries
}

#[test]
fn init_refuses_a_directory_that_is_not_empty_and_changes_nothing_in_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("notes.txt"), "mine\n").expect("notes");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let before = listing(dir.path());
    let run = run_bounded(dir.path(), &["init"], b"");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("is not empty"), "{}", run.stderr);
    assert_eq!(listing(dir.path()), before);
    let mode = std::fs::metadata(dir.path())
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o755,
        "a refused init changed the directory's mode"
    );
    // And the commands that read a store still say there is none.
    let run = run_bounded(dir.path(), &["report", "summary"], b"");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no store at"), "{}", run.stderr);
}

#[test]
fn init_creates_the_directory_0700_and_makes_an_empty_existing_one_0700() {
    let parent = tempfile::tempdir().expect("temp dir");
    let new = parent.path().join("new");
    run_bounded(&new, &["init"], b"").ok();
    let existing = parent.path().join("existing");
    std::fs::create_dir(&existing).expect("mkdir");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    run_bounded(&existing, &["init"], b"").ok();
    for dir in [&new, &existing] {
        let mode = std::fs::metadata(dir).expect("store").permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
        let segment = dir.join("00000000000000000001.jsonl");
        let mode = std::fs::metadata(&segment)
            .expect("segment")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A store that works.
        run_bounded(dir, &["head"], b"").ok();
    }
    // A second init finds the store and leaves it as it is.
    let before = listing(&new);
    let run = run_bounded(&new, &["init"], b"");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("already holds a store"),
        "{}",
        run.stderr
    );
    assert_eq!(listing(&new), before);
}

#[test]
fn a_regular_file_given_as_the_store_is_named_as_a_file_by_every_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("store.jsonl");
    let content = batch_lines(1, 2);
    std::fs::write(&file, &content).expect("file");
    for (args, input) in [(vec!["init"], Vec::new())]
        .into_iter()
        .chain(every_kind_of_command(&batch_lines(2, 2)))
    {
        let run = run_bounded(&file, &args, &input);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("is a file, not a store directory"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(&file).expect("file"), content);
}

#[test]
fn recorded_by_is_refused_empty_or_with_a_newline_or_an_escape_naming_the_option_and_nothing_is_written(
) {
    let store = small_store();
    let before = store.log_bytes();
    for name in [
        "",
        "   ",
        "police\nadmin",
        "police\u{1b}[2Jadmin",
        "a\u{202e}b",
    ] {
        let lines = batch_lines(9, 2);
        let commands: [(Vec<&str>, &[u8]); 2] = [
            (vec!["append", "--recorded-by", name], lines.as_bytes()),
            (
                vec![
                    "record",
                    "launch",
                    "--operation",
                    "op-x",
                    "--name",
                    "X",
                    "--coordinator",
                    "INTERPOL",
                    "--countries",
                    "AL",
                    "--starts-on",
                    "2020-01-01",
                    "--ends-on",
                    "2020-01-31",
                    "--recorded-by",
                    name,
                ],
                b"",
            ),
        ];
        for (args, input) in commands {
            let run = run_bounded(store.path(), &args, input);
            assert_eq!(run.code, 2, "{name:?} {args:?}: {run:?}");
            assert!(
                run.stderr
                    .starts_with("error: invalid value for --recorded-by: must not"),
                "{name:?}: {}",
                run.stderr
            );
            assert!(
                !run.stderr.contains('\u{1b}'),
                "the refusal echoes the escape sequence"
            );
        }
    }
    assert_eq!(store.log_bytes(), before);
    // What the line's field accepts, the option accepts.
    let run = store.run_with_input(
        &["append", "--recorded-by", "AL-state-police"],
        batch_lines(9, 2).as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
}

/// The `recorded_by` of every record in the store.
fn recorded_by(store: &Store) -> Vec<String> {
    crate::crash::concat(store.log_bytes())
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let record: serde_json::Value = serde_json::from_slice(line).expect("record");
            record["recorded_by"]
                .as_str()
                .expect("recorded_by")
                .to_owned()
        })
        .collect()
}

#[test]
fn the_default_recorded_by_is_the_os_account_not_what_user_says() {
    let id = Command::new("id").arg("-un").output().expect("id -un");
    assert!(id.status.success());
    let account = String::from_utf8(id.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let store = Store::new();
    let run = store.run_with_input(&["append"], batch_lines(1, 2).as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    // $USER and $LOGNAME can say anything; the uid is what the OS vouches for.
    let mut child = Command::new(theseus_bin())
        .arg("--store")
        .arg(store.path())
        .args(["append", "-"])
        .env("USER", "someone-else")
        .env("LOGNAME", "someone-else")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(batch_lines(2, 1).as_bytes())
            .expect("write");
    }
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(recorded_by(&store), vec![account; 3]);
}
