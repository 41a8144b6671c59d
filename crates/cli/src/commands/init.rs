//! `theseus init`: create an empty store.

use std::io::Write;

use crate::exit::Failure;
use crate::store::StoreSpec;

pub const EXAMPLES: &str = "Examples:
  theseus init --store ./store
  THESEUS_STORE=/srv/theseus theseus init

The directory is created 0700 and its files 0600. Every other command refuses a
directory that holds no store instead of creating one.";

pub fn run(spec: &StoreSpec, out: &mut dyn Write) -> Result<(), Failure> {
    spec.init()?;
    writeln!(out, "initialised an empty store in {}", spec.display())?;
    Ok(())
}
