//! The evidence checks `theseus verify` runs after the chain check: every
//! stored signature (`--require-signatures`: and no unsigned batch of an
//! agency with a key), and receipts (`--receipt FILE…`). Kept apart from
//! the body of `verify`, which only calls [`run`].

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use event_store::{EventStore, Head};
use ledger::LedgerError;

use crate::exit::{Failure, INTEGRITY, REFUSED};

#[derive(Args, Debug)]
pub struct EvidenceArgs {
    /// Fail on any record of an agency with a registered signing key that
    /// no signature covers.
    #[arg(long)]
    pub require_signatures: bool,
    /// Prove that the log still holds each receipted head (a receipt from
    /// `append --receipt`, the API, or `head --signed`), signed by this
    /// ledger.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub receipt: Vec<PathBuf>,
}

pub fn run(
    store: &dyn EventStore,
    head: Head,
    audit: &ledger::audit::AuditReport,
    args: &EvidenceArgs,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    // Called by `verify` once the store has verified the chain to `head`
    // and the audit read every record (`audit`): a log with no signature
    // record needs no second read to say so.
    let report = match ledger::signatures::report_without_evidence(audit, args.require_signatures) {
        Some(report) => report,
        None => {
            ledger::signatures::verify_signatures_of_verified(store, head, args.require_signatures)?
        }
    };
    writeln!(
        out,
        "ok: {} signed batches ({} records) verify with their agencies' keys{}",
        report.signed_batches,
        report.signed_records,
        if args.require_signatures {
            "; no agency with a key has an unsigned record"
        } else {
            ""
        }
    )?;
    for path in &args.receipt {
        let text = std::fs::read_to_string(path)
            .map_err(|error| Failure::Refused(format!("--receipt {}: {error}", path.display())))?;
        match ledger::receipts::check_receipt(store, &text) {
            Ok(held) => writeln!(
                out,
                "ok: receipt {}: the log holds head {held}",
                path.display()
            )?,
            Err(error) => {
                let code = match &error {
                    LedgerError::Request(_) => REFUSED,
                    _ => INTEGRITY,
                };
                return Err(Failure::Reported {
                    code,
                    message: format!("receipt {}: {error}", path.display()),
                });
            }
        }
    }
    Ok(())
}
