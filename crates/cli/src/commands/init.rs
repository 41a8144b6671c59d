//! `theseus init`: create an empty store.

use std::io::Write;

use crate::exit::Failure;
use crate::store::{Initialised, StoreSpec};

pub const EXAMPLES: &str = "Examples:
  theseus init --store ./store
  THESEUS_STORE=/srv/theseus theseus init

A new directory is created 0700 (an existing empty one is made 0700), its files
0600; a directory that holds anything is refused (exit 1) and left as it is. Every
other command refuses a directory that holds no store instead of creating one.";

pub fn run(spec: &StoreSpec, out: &mut dyn Write) -> Result<(), Failure> {
    let (_, done) = spec.init()?;
    let store = spec.display();
    match done {
        Initialised::Created => writeln!(out, "initialised an empty store in {store}")?,
        Initialised::Unchanged => writeln!(out, "{store} already holds a store: nothing to do")?,
        Initialised::Migrated { from, to } => writeln!(
            out,
            "migrated the store in {store} from layout {from} to {to}"
        )?,
    }
    Ok(())
}
