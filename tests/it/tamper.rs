//! Tampering with the log is detected by verify.
//!
//! The sample store is re-split into three segments at batch ends (named by
//! their first positions, as the store names them), which must verify;
//! then each test changes one thing and expects exit 4 with a message that
//! names the segment file, the line and the position. The last test checks
//! the permissions of what the store creates.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::crash::{committed_len, verify};
use crate::support::Store;

/// The sample log in three segments, and each segment's name and lines.
struct Split {
    store: Store,
    segments: Vec<(String, Vec<Vec<u8>>)>,
    head: String,
}

fn segment_name(first: usize) -> String {
    format!("{first:020}.jsonl")
}

fn split_sample() -> Split {
    let sample = Store::sample();
    let head = sample.run(&["head"]).ok().trim().to_owned();
    let log: Vec<u8> = sample
        .log_bytes()
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    let lines: Vec<Vec<u8>> = log
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let batch_ends: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| committed_len(line) == line.len())
        .map(|(index, _)| index + 1)
        .collect();
    // Cut after the batch ends nearest to a third and two thirds.
    let near = |target: usize| {
        *batch_ends
            .iter()
            .min_by_key(|&&end| end.abs_diff(target))
            .expect("batch ends")
    };
    let cuts = [
        0,
        near(lines.len() / 3),
        near(2 * lines.len() / 3),
        lines.len(),
    ];
    let store = Store::uninitialised();
    let mut segments = Vec::new();
    for pair in cuts.windows(2) {
        let name = segment_name(pair[0] + 1);
        let part = lines[pair[0]..pair[1]].to_vec();
        std::fs::write(store.path().join(&name), part.concat()).expect("write segment");
        segments.push((name, part));
    }
    let split = Split {
        store,
        segments,
        head,
    };
    let (records, _, _) = verify(&split.store);
    assert_eq!(records as usize, lines.len());
    assert!(split.store.run(&["verify"]).ok().contains("in 3 segments"));
    assert_eq!(split.store.run(&["head"]).ok().trim(), split.head);
    split
}

impl Split {
    fn write(&self, segment: usize, lines: &[Vec<u8>]) {
        std::fs::write(
            self.store.path().join(&self.segments[segment].0),
            lines.concat(),
        )
        .expect("write");
    }

    /// The first position of a segment.
    fn first(&self, segment: usize) -> usize {
        self.segments[..segment]
            .iter()
            .map(|(_, lines)| lines.len())
            .sum::<usize>()
            + 1
    }

    /// Expects `verify` to fail with exit 4 naming all of `fragments`.
    fn refused(&self, args: &[&str], fragments: &[&str]) -> String {
        let stderr = self.store.run(args).fails(4);
        assert!(stderr.starts_with("error: "), "{stderr}");
        for fragment in fragments {
            assert!(
                stderr.contains(fragment),
                "{args:?}: {stderr:?} does not name {fragment:?}"
            );
        }
        stderr
    }
}

/// The 0-based line of the middle segment the tamper tests change.
const LINE: usize = 9;

#[test]
fn an_edited_byte_is_caught_naming_the_file_line_and_position() {
    let split = split_sample();
    let mut lines = split.segments[1].1.clone();
    let line = &mut lines[LINE];
    let at = line
        .windows(15)
        .position(|w| w == br#""recorded_by":""#)
        .expect("recorded_by")
        + 15;
    line[at] = if line[at] == b'x' { b'y' } else { b'x' };
    split.write(1, &lines);
    let position = split.first(1) + LINE;
    split.refused(
        &["verify"],
        &[
            &split.segments[1].0,
            &format!(":{}", LINE + 1),
            &format!("position {position}"),
        ],
    );
}

#[test]
fn a_removed_record_is_caught() {
    let split = split_sample();
    let mut lines = split.segments[1].1.clone();
    lines.remove(LINE);
    split.write(1, &lines);
    let next = split.first(1) + LINE + 1;
    split.refused(
        &["verify"],
        &[
            &split.segments[1].0,
            &format!(":{}", LINE + 1),
            &format!("position {next}"),
        ],
    );
}

#[test]
fn two_swapped_records_are_caught() {
    let split = split_sample();
    let mut lines = split.segments[1].1.clone();
    lines.swap(LINE, LINE + 1);
    split.write(1, &lines);
    split.refused(
        &["verify"],
        &[&split.segments[1].0, &format!(":{}", LINE + 1), "position "],
    );
}

#[test]
fn a_removed_middle_segment_is_caught() {
    let split = split_sample();
    std::fs::remove_file(split.store.path().join(&split.segments[1].0)).expect("remove");
    split.refused(
        &["verify"],
        &[
            &split.segments[2].0,
            ":1",
            &format!("position {}", split.first(2)),
        ],
    );
}

#[test]
fn segments_renamed_out_of_order_are_caught() {
    let split = split_sample();
    let path = |segment: usize| split.store.path().join(&split.segments[segment].0);
    let scratch = split.store.path().join("scratch");
    std::fs::rename(path(1), &scratch).expect("rename");
    std::fs::rename(path(2), path(1)).expect("rename");
    std::fs::rename(&scratch, path(2)).expect("rename");
    split.refused(&["verify"], &[".jsonl:1", "position "]);
}

#[test]
fn a_log_cut_short_at_a_record_boundary_passes_alone_but_not_with_expect_head() {
    let split = split_sample();
    let mut lines = split.segments[2].1.clone();
    let keep = lines.len() / 2;
    // Cut at a batch end, so that nothing is torn: the log looks whole.
    let keep = (1..=keep)
        .rev()
        .find(|&n| committed_len(&lines[n - 1]) == lines[n - 1].len())
        .expect("a batch end");
    lines.truncate(keep);
    split.write(2, &lines);
    let (records, head, warning) = verify(&split.store);
    assert_eq!(head, records);
    assert!(warning.is_empty(), "{warning}");
    assert!((head as usize) < split.first(2) + split.segments[2].1.len() - 1);
    let stderr = split.refused(
        &["verify", "--expect-head", &split.head],
        &[&split.head, &format!("position {head}")],
    );
    assert!(stderr.contains("expected head"), "{stderr}");
    // The head as it is still verifies.
    let now = split.store.run(&["head"]).ok();
    split
        .store
        .run(&["verify", "--expect-head", now.trim()])
        .ok();
}

#[test]
fn a_corrupted_log_refuses_reports_and_appends_and_append_changes_nothing() {
    let split = split_sample();
    let mut lines = split.segments[1].1.clone();
    lines.remove(LINE);
    split.write(1, &lines);
    let before = split.store.log_bytes();
    let name = split.segments[1].0.as_str();
    split.refused(&["report", "summary"], &[name]);
    split.refused(&["report", "countries", "--format", "json"], &[name]);
    let stderr = split
        .store
        .append(r#"{"operation": "dunqett", "type": "EventRetracted", "data": {"event_id": "00000000-0000-4000-8000-000000000001", "reason": "x"}}"#)
        .fails(4);
    assert!(stderr.contains(name), "{stderr}");
    assert_eq!(split.store.log_bytes(), before);
}

fn check_modes(dir: &Path, found: &mut usize) {
    let mode = std::fs::metadata(dir)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        let metadata = std::fs::metadata(&path).expect("metadata");
        if metadata.is_dir() {
            check_modes(&path, found);
        } else {
            let mode = metadata.permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
        }
        *found += 1;
    }
}

#[test]
fn the_store_creates_files_0600_and_directories_0700() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("new-store");
    let run = |args: &[&str]| {
        std::process::Command::new(crate::support::theseus_bin())
            .arg("--store")
            .arg(&dir)
            .args(args)
            .env_remove("THESEUS_STORE")
            .output()
            .expect("run theseus")
    };
    assert!(run(&["init"]).status.success());
    let mut found = 0;
    check_modes(&dir, &mut found);
    assert!(found >= 1);
    let batch = parent.path().join("batch.ndjson");
    std::fs::write(&batch, crate::support::data("bad-input/base.ndjson")).expect("write batch");
    let out = run(&[
        "append",
        batch.to_str().expect("path"),
        "--recorded-at",
        "2020-02-01T00:00:00Z",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(run(&["report", "summary"]).status.success());
    let mut found = 0;
    check_modes(&dir, &mut found);
    assert!(
        found >= 3,
        "expected the segment and the derived indexes, found {found} entries"
    );
}
