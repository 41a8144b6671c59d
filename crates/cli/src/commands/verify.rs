//! `theseus verify`: check every record and the whole hash chain.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use clap::Args;
use event_store::Hash;

use crate::exit::Failure;
use crate::progress;
use crate::store::StoreSpec;

const EXAMPLES: &str = "Examples:
  theseus verify
  theseus verify --expect-head 737:b889c0…   # the head published with a report
  theseus verify --checkpoints               # and re-derive every checkpoint

Exits 4 and names the file, line and position of the first record that does not
parse or chain, or when the log no longer holds the expected head.";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct VerifyArgs {
    /// Also prove that the log still holds this record: POSITION:HASH as
    /// printed by `theseus head`.
    #[arg(long, value_name = "POSITION:HASH", value_parser = parse_head)]
    expect_head: Option<(u64, Hash)>,
    /// Also compare every checkpoint (reports', rule state, registry) with
    /// a re-derivation from the log at the head it states; one that
    /// disagrees is named in a warning and rebuilt (about one more replay).
    #[arg(long)]
    checkpoints: bool,
}

fn parse_head(text: &str) -> Result<(u64, Hash), String> {
    let (position, hash) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not POSITION:HASH"))?;
    let position = position
        .parse()
        .map_err(|_| format!("{position:?} is not a position"))?;
    Ok((position, hash.parse()?))
}

pub fn run(spec: &StoreSpec, args: VerifyArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let opened = spec.open()?;
    let total = opened.store().head()?.position;
    let (checked, finished) = (AtomicU64::new(0), AtomicBool::new(false));
    let verified = std::thread::scope(|scope| {
        scope.spawn(|| progress::watch("verify", total, &checked, &finished));
        let verified = opened.verify_counted(args.expect_head, &checked);
        finished.store(true, Ordering::Relaxed);
        verified
    })?;
    // The checkpoints (derived data) against a re-derivation from the log
    // just verified: one that disagrees is named and rebuilt. The log is
    // what counts, so a finding is a warning, not a failure.
    if args.checkpoints {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        let findings = ledger::checkpoints::audit(opened.store(), verified.head, threads)?;
        for finding in &findings {
            crate::output::warn(&finding.to_string());
        }
    }
    writeln!(
        out,
        "ok: {} records in {} segments chain to head {}",
        verified.records, verified.segments, verified.head
    )?;
    Ok(())
}
