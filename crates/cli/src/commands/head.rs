//! `theseus head`: print `POSITION:HASH` of the last record.

use std::io::Write;

use crate::exit::Failure;
use crate::store::StoreSpec;

pub const EXAMPLES: &str = "Examples:
  theseus head
  theseus verify --expect-head \"$(theseus head)\"

Publish the head with a report: verify --expect-head later proves that the log
still holds that record, which catches a log cut short.";

pub fn run(spec: &StoreSpec, out: &mut dyn Write) -> Result<(), Failure> {
    let opened = spec.open()?;
    writeln!(out, "{}", opened.store().head()?)?;
    Ok(())
}
