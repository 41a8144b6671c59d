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

  theseus verify --require-signatures --receipt week1.receipt week2.receipt

Exits 4 and names the file, line and position of the first record that does not
parse or chain, or when the log no longer holds the expected head. Every stored
signature is checked against the key its agency had at that position (exit 4
with the position); --require-signatures also fails on a record of an agency
with a signing key that no signature covers; each --receipt must be signed by
this ledger and its head still held (exit 4 naming the receipt).";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct VerifyArgs {
    /// Also prove that the log still holds this record: POSITION:HASH as
    /// printed by `theseus head`.
    #[arg(long, value_name = "POSITION:HASH", value_parser = parse_head)]
    expect_head: Option<(u64, Hash)>,
    #[command(flatten)]
    evidence: crate::commands::evidence_checks::EvidenceArgs,
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
    writeln!(
        out,
        "ok: {} records in {} segments chain to head {}",
        verified.records, verified.segments, verified.head
    )?;
    crate::commands::evidence_checks::run(opened.store(), verified.head, &args.evidence, out)
}
