//! Usage errors exit with 2 and say what is wrong. (Its presence also makes
//! `cargo test --workspace` build the `theseus` binary that the cross-crate
//! tests in `tests/` run.)

use std::process::Command;

fn theseus(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_theseus"))
        .args(args)
        .output()
        .expect("run theseus");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &["report", "sumary"][..],
        &["report", "summary", "--format", "xml"],
        &["report", "summary", "--as-of", "yesterday"],
        &["verify", "--expect-head", "12"],
        &["frobnicate"],
        &[],
    ] {
        let (code, stderr) = theseus(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("error") || stderr.contains("Usage"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_missing_store_is_refused_with_a_hint() {
    let dir = std::env::temp_dir().join(format!("theseus-missing-{}", std::process::id()));
    let (code, stderr) = theseus(&["--store", dir.to_str().expect("utf8"), "report", "summary"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("theseus init"), "{stderr}");
    assert!(!dir.exists(), "a report must not create a store");
}
