//! `theseus verify`: the audit of the whole history. The store checks what
//! the log is (every record and the whole hash chain); the ledger's audit
//! then replays every record through the domain's rules as they stood.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use clap::Args;
use event_store::{Hash, Visited};

use crate::exit::{Failure, INTEGRITY};
use crate::progress;
use crate::store::{Opened, StoreSpec};

const EXAMPLES: &str = "Examples:
  theseus verify
  theseus verify --expect-head 737:b889c0…   # the head published with a report
  theseus verify --no-checkpoints            # the log only: skip re-deriving the checkpoints

Checks every record and the whole hash chain (positions, per-operation
versions, canonical records, JSON data, unique ids), then replays every event
in order through the domain's rules as they stood (and the agency registry's
records through the registry's), then compares every checkpoint (reports',
rule state, registry) with a re-derivation at the head it states: one that
disagrees is named in a warning and rebuilt.

  theseus verify --require-signatures --receipt week1.receipt week2.receipt

Exits 4 and names the file, line and position of the first record that does not
parse or chain, or when the log no longer holds the expected head; exits 4 and
prints one `error: position P: FIELD: REASON` line per record that breaks the
rules or is not in canonical form. Every stored
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
    /// Skip comparing the checkpoints (reports', rule state, registry)
    /// with a re-derivation from the log at the head each states, which
    /// `verify` does by default (about one more replay when there are any).
    #[arg(long)]
    no_checkpoints: bool,
    /// The default; kept so that scripts written when the comparison was
    /// asked for still run.
    #[arg(long, hide = true, conflicts_with = "no_checkpoints")]
    checkpoints: bool,
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
    let store = opened.store();
    let head = store.head()?;
    let total = head.position;
    // The checkpoints (derived data) are compared with a re-derivation
    // from the log, folded in the audit's own pass.
    let plan = |head| -> Result<_, Failure> {
        Ok(if args.no_checkpoints {
            None
        } else {
            Some(ledger::checkpoints::Plan::load(store, head)?)
        })
    };
    let mut checkpoints = plan(head)?;
    let (checked, finished) = (AtomicU64::new(0), AtomicBool::new(false));
    // The file store's pass hands every record it reads to the audit's
    // reader, so that the log is read once; a store that cannot (or a
    // pass that did not cover the log: a small log, one core, a fault)
    // is audited by a pass of its own below.
    let combined = std::thread::scope(|scope| {
        scope.spawn(|| progress::watch("verify", total, &checked, &finished));
        let done = match &opened {
            Opened::File(file) => {
                let reader = ledger::audit::Reader::new(store, checkpoints.as_ref());
                let mut decider = ledger::audit::Decider::new(checkpoints.as_mut(), None);
                file.verify_visited(args.expect_head, &checked, &reader, &mut |part| {
                    decider.take(part)
                })
                .map_err(Failure::from)
                .and_then(|(verified, visited)| match visited {
                    Visited::All => {
                        let audit = decider.finish(verified.head)?;
                        Ok((verified, Some(audit)))
                    }
                    Visited::NotAll => Ok((verified, None)),
                })
            }
            Opened::Postgres(_) => opened
                .verify_counted(args.expect_head, &checked)
                .map(|verified| (verified, None)),
        };
        finished.store(true, Ordering::Relaxed);
        done
    });
    let (verified, audit) = combined?;
    let audit = match audit {
        Some(audit) => audit,
        None => {
            // Folded from the start again: whatever a partial pass compared
            // is forgotten.
            checkpoints = plan(verified.head)?;
            let (audited, finished) = (AtomicU64::new(0), AtomicBool::new(false));
            std::thread::scope(|scope| {
                scope.spawn(|| progress::watch("audit", verified.records, &audited, &finished));
                let audit = ledger::audit::audit(
                    store,
                    verified.head,
                    Some(&audited),
                    checkpoints.as_mut(),
                );
                finished.store(true, Ordering::Relaxed);
                audit
            })?
        }
    };
    if audit.findings_total > 0 {
        let mut lines: Vec<String> = audit.findings.iter().map(ToString::to_string).collect();
        let shown = if audit.findings_total > audit.findings.len() as u64 {
            format!(" (the first {} shown)", audit.findings.len())
        } else {
            String::new()
        };
        lines.push(format!(
            "the log holds {} finding{} the rules or the canonical form refuse{shown}: the records chain, but the history is not one the ledger would have written",
            audit.findings_total,
            if audit.findings_total == 1 { "" } else { "s" },
        ));
        return Err(Failure::Reported {
            code: INTEGRITY,
            message: lines.join("\nerror: "),
        });
    }
    // A checkpoint that disagrees with the re-derivation is named and
    // rebuilt. The log is what counts, so a finding is a warning, not a
    // failure.
    if let Some(checkpoints) = checkpoints {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        let findings = checkpoints.finish(store, verified.head, threads)?;
        for finding in &findings {
            crate::output::warn(&finding.to_string());
        }
    }
    writeln!(
        out,
        "ok: {} records in {} segments chain to head {}",
        verified.records, verified.segments, verified.head
    )?;
    writeln!(
        out,
        "ok: {} events of {} operations ({} retractions) and {} registry records pass the rules as they stood",
        audit.events, audit.operations, audit.retractions, audit.registry
    )?;
    crate::commands::evidence_checks::run(
        opened.store(),
        verified.head,
        &audit,
        &args.evidence,
        out,
    )
}
