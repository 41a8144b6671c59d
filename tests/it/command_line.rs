//! The command line as a daily user meets it: help with a purpose and
//! examples for every command, possible values and suggestions, completions
//! for each shell, the man page, a quiet broken pipe, `--quiet`, and the
//! documented exit codes for unreadable input and a terminal on stdin.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{data, theseus_bin, Store};

/// Every command, with its subcommand path.
const COMMANDS: [&[&str]; 19] = [
    &["init"],
    &["append"],
    &["import", "csv"],
    &["record"],
    &["record", "arrest"],
    &["report"],
    &["events"],
    &["trace"],
    &["diff"],
    &["follow"],
    &["verify"],
    &["head"],
    &["sign"],
    &["schema"],
    &["generate"],
    &["copy"],
    &["completions"],
    &["man"],
    &[],
];

fn help(path: &[&str]) -> String {
    let mut args: Vec<&str> = path.to_vec();
    args.push("--help");
    Store::uninitialised().run(&args).ok()
}

#[test]
fn every_command_has_a_purpose_and_examples_in_its_help_wrapped_to_100_columns() {
    for path in COMMANDS {
        let text = help(path);
        let first = text.lines().next().unwrap_or_default();
        assert!(
            !first.trim().is_empty() && !first.starts_with("Usage"),
            "{path:?}: {first:?}"
        );
        if *path != ["record", "arrest"] {
            let examples = text
                .split("Examples:")
                .nth(1)
                .unwrap_or_else(|| panic!("{path:?} has no examples:\n{text}"));
            let shown = examples
                .lines()
                .skip(1)
                .take_while(|line| !line.trim().is_empty())
                .filter(|line| line.contains("theseus "))
                .count();
            assert!(shown >= 2, "{path:?}: {shown} examples");
        }
        for line in text.lines().filter(|line| !line.starts_with("Usage:")) {
            assert!(
                line.chars().count() <= 100,
                "{path:?}: a line of {} columns: {line}",
                line.chars().count()
            );
        }
    }
    let top = help(&[]);
    assert!(
        top.starts_with("theseus is an event-sourced, hash-chained ledger"),
        "{top}"
    );
    assert!(top.contains("Exit codes:"), "{top}");
    let short = Store::uninitialised().run(&["-h"]).ok();
    assert!(
        !short.contains("theseus: the command-line shell"),
        "{short}"
    );
}

#[test]
fn value_names_say_what_options_take_and_enumerations_list_their_values() {
    let report = help(&["report"]);
    for shown in [
        "<KIND>",
        "<POSITION|TIME>",
        "<SLUG>",
        "summary:",
        "networks:",
        "markdown:",
    ] {
        assert!(
            report.contains(shown),
            "report --help lacks {shown}:\n{report}"
        );
    }
    assert!(help(&["verify"]).contains("--expect-head <POSITION:HASH>"));
    assert!(help(&["record", "arrest"]).contains("[possible values: border_crossing,"));
    let store = Store::uninitialised();
    let stderr = store.run(&["report", "sumary"]).fails(2);
    assert!(
        stderr.contains("similar value exists: 'summary'"),
        "{stderr}"
    );
    let stderr = store
        .run(&["report", "summary", "--format", "jsn"])
        .fails(2);
    assert!(stderr.contains("'json'"), "{stderr}");
}

#[test]
fn completions_are_printed_for_each_shell() {
    let store = Store::uninitialised();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef theseus"),
        ("fish", "complete -c theseus"),
    ] {
        let script = store.run(&["completions", shell]).ok();
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for command in ["append", "import", "record", "follow", "report", "schema"] {
            assert!(
                script.contains(command),
                "{shell} completions lack {command}"
            );
        }
    }
    let stderr = store.run(&["completions", "tcsh"]).fails(2);
    assert!(stderr.contains("possible values"), "{stderr}");
}

#[test]
fn the_man_page_is_roff_for_theseus_and_for_each_command() {
    let store = Store::uninitialised();
    let page = store.run(&["man"]).ok();
    assert!(
        page.contains(".TH theseus 1"),
        "{}",
        &page[..page.len().min(300)]
    );
    assert!(
        page.contains("append") && page.contains("Exit codes"),
        "the page lists commands and exit codes"
    );
    let page = store.run(&["man", "append"]).ok();
    assert!(
        page.contains(".TH theseus-append 1") && page.contains("dry\\-run"),
        "{page}"
    );
    store.run(&["man", "nosuch"]).fails(2);
}

/// Runs theseus with its standard output closed before it writes: it must
/// exit 0 and print nothing, as git and ripgrep do.
fn with_closed_stdout(store: &Store, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(theseus_bin())
        .arg("--store")
        .arg(store.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            return (status.code().unwrap_or(-1), stderr);
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("{args:?} did not stop when its reader went away");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_broken_pipe_exits_quietly_with_0() {
    let store = Store::sample();
    for args in [
        &["report", "timeline"][..],
        &["report", "countries", "--format", "json"],
        &["schema"],
        &["follow", "--after", "0"],
        &["--help"],
    ] {
        let (code, stderr) = with_closed_stdout(&store, args);
        assert_eq!((code, stderr.as_str()), (0, ""), "{args:?}");
    }
}

#[test]
fn an_input_file_that_cannot_be_read_is_refused_input_not_a_usage_error() {
    let store = Store::new();
    let stderr = store.run(&["append", "no-such-file.ndjson"]).fails(1);
    assert!(
        stderr.starts_with("error: cannot read no-such-file.ndjson: "),
        "{stderr}"
    );
    let dir = store.path().to_str().expect("utf-8").to_owned();
    let stderr = store.run(&["append", &dir]).fails(1);
    assert!(stderr.contains("it is a directory"), "{stderr}");
    let stderr = store
        .run(&[
            "import",
            "csv",
            &dir,
            "--type",
            "arrest",
            "--operation",
            "x",
        ])
        .fails(1);
    assert!(stderr.contains("it is a directory"), "{stderr}");
}

#[test]
fn a_terminal_on_stdin_with_no_file_gets_a_hint_and_exit_2() {
    // `script` runs the command on a pseudo-terminal (util-linux).
    let Ok(probe) = Command::new("script").arg("--version").output() else {
        println!("skipped: no `script` command to give theseus a terminal");
        return;
    };
    assert!(probe.status.success());
    let store = Store::new();
    let command = format!(
        "{} --store {} append",
        theseus_bin().display(),
        store.path().display()
    );
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{shown}");
    assert!(shown.contains("standard input is a terminal"), "{shown}");
}

#[test]
fn quiet_silences_warnings_but_not_results() {
    let store = Store::new();
    store.append(&data("cli/launch.ndjson")).ok();
    // Cut the last batch's last record short: the batch's first record is
    // left as a torn tail, which readers warn about.
    store.append(&data("cli/day1.ndjson")).ok();
    let segment = store.path().join("00000000000000000001.jsonl");
    let bytes = std::fs::read(&segment).expect("segment");
    std::fs::write(&segment, &bytes[..bytes.len() - 20]).expect("cut");
    let loud = store.run(&["report", "summary", "--no-checkpoint"]);
    assert!(loud.stderr.contains("warning:"), "{loud:?}");
    let quiet = store.run(&["-q", "report", "summary", "--no-checkpoint"]);
    assert_eq!(quiet.code, 0);
    assert_eq!(quiet.stderr, "", "--quiet prints no warning");
    assert_eq!(quiet.stdout, loud.stdout, "and the same result");
}
