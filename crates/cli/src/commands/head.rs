//! `theseus head`: print `POSITION:HASH` of the last record.

use std::io::Write;

use crate::exit::Failure;
use crate::store::StoreSpec;

pub fn run(spec: &StoreSpec, out: &mut dyn Write) -> Result<(), Failure> {
    let opened = spec.open()?;
    writeln!(out, "{}", opened.store().head()?)?;
    Ok(())
}
