//! `theseus init`: create an empty store.

use std::io::Write;

use crate::exit::Failure;
use crate::store::StoreSpec;

pub fn run(spec: &StoreSpec, out: &mut dyn Write) -> Result<(), Failure> {
    spec.init()?;
    writeln!(out, "initialised an empty store in {}", spec.display())?;
    Ok(())
}
