//! `theseus erase`: destroy a subject's key, so that the references sealed
//! under it open for no one, and record the erasure in the log.

use std::io::Write;

use clap::Args;

use crate::exit::Failure;
use crate::output;
use crate::store::StoreSpec;
use crate::user;

pub const EXAMPLES: &str = "Examples:
  theseus erase --operation theseus --subject AL-2019-S-0164 --reason \"court order 2020/117\"

Every report and figure stays as it was and verify still passes: the log holds
only the reference's ciphertext, and no figure reads it. The erasure is recorded
(who, when, why, which key; never the reference) in the ledger's privacy stream
before the key is destroyed. References written before sealing (logs of earlier
versions) are in clear and stay so: erase refuses a subject that has only such
records (exit 1, nothing changed).";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct EraseArgs {
    /// The operation the subject's references belong to.
    #[arg(long, value_name = "SLUG")]
    operation: String,
    /// The subject's reference, as it was reported.
    #[arg(long, value_name = "REF")]
    subject: String,
    /// Why (a court order, a retention limit…): kept in the erasure's record.
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

pub fn run(spec: &StoreSpec, args: EraseArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let opened = spec.open()?;
    let erased = ledger::privacy::erase(
        opened.store(),
        &args.operation,
        &args.subject,
        &args.reason,
        &user::account_name()?,
    )?;
    writeln!(
        out,
        "erased: the subject's key in {} is destroyed (records it sealed: {}); recorded at position {}",
        args.operation, erased.sealed_records, erased.position
    )?;
    if erased.clear_records > 0 {
        output::warn(&format!(
            "{} records of {} were written before references were sealed and hold this one in clear: the chain cannot be changed, they remain",
            erased.clear_records, args.operation
        ));
    }
    Ok(())
}
