//! `theseus sign`: an agency's detached signature over a batch's exact
//! bytes (a signed note whose body is a `theseus batch v1` statement; see
//! docs/signatures.md).

use std::io::{BufReader, Write};
use std::path::PathBuf;

use clap::Args;

use crate::exit::Failure;

const EXAMPLES: &str = "Examples:
  theseus sign batch.ndjson --key rs-police.key > batch.sig
  theseus append batch.ndjson --signature batch.sig
  curl -H \"Theseus-Signature: $(base64 -w0 batch.sig)\" --data-binary @batch.ndjson …

Every line must carry an id and name no recorded_by but the key's agency; the
store is not read. Exits 1 (naming the line and field) for a line append would
refuse as unreadable.";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct SignArgs {
    /// The batch (JSON Lines), exactly as it will be sent.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The agency's private key (from `agency key generate`).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Write the signature here instead of standard output.
    #[arg(long, value_name = "SIG")]
    out: Option<PathBuf>,
}

pub fn run(args: SignArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let key = evidence::keys::read_signer(&args.key)
        .map_err(|error| Failure::Refused(format!("--key: {error}")))?;
    let file = std::fs::File::open(&args.file).map_err(|error| {
        Failure::Refused(format!("cannot read {}: {error}", args.file.display()))
    })?;
    let statement = ledger::signatures::statement_of(BufReader::new(file), key.name())?;
    let note = evidence::Note::sign(&statement.body(), &key)
        .map_err(|error| Failure::Refused(error.to_string()))?;
    match args.out {
        Some(path) => std::fs::write(&path, note.text())
            .map_err(|error| Failure::Refused(format!("--out {}: {error}", path.display())))?,
        None => out.write_all(note.text().as_bytes())?,
    }
    Ok(())
}
