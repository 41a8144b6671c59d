//! `theseus head`: print `POSITION:HASH` of the last record, or a head
//! signed by the ledger's key (`--signed`).

use std::io::Write;

use clap::Args;

use crate::exit::Failure;
use crate::ledger_key;
use crate::store::StoreSpec;

pub const EXAMPLES: &str = "Examples:
  theseus head
  theseus verify --expect-head \"$(theseus head)\"
  theseus head --signed > head.receipt && theseus verify --receipt head.receipt

Publish the head with a report: verify --expect-head later proves that the log
still holds that record, which catches a log cut short. A signed head is a
receipt: anyone can check later with verify --receipt that the log still holds
it, and that this ledger signed it. The first signed head of a log records the
ledger's public key in it.";

#[derive(Args, Debug)]
pub struct HeadArgs {
    /// Print the head as a signed note (a receipt) instead.
    #[arg(long)]
    signed: bool,
}

pub fn run(spec: &StoreSpec, args: HeadArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let opened = spec.open()?;
    if args.signed {
        let key = ledger_key::load()?;
        let receipt = ledger_key::receipt(opened.store(), &key)?;
        out.write_all(receipt.as_bytes())?;
        return Ok(());
    }
    writeln!(out, "{}", opened.store().head()?)?;
    Ok(())
}
