//! `theseus append`: append JSON Lines as one atomic batch.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::exit::Failure;
use crate::input::{print_outcome, run_batch, BatchArgs, Input, Reading};
use crate::ledger_key;
use crate::store::StoreSpec;

const EXAMPLES: &str = "Examples:
  theseus append reports/2019-12-10-AL.ndjson
  export-tool | theseus append - --recorded-by AL-state-police --ids
  theseus append --dry-run big-export.ndjson | jq '.errors[] | \"\\(.line) \\(.field): \\(.message)\"'

Prints {\"appended\":N,\"duplicates\":M,\"first_position\":P,\"last_position\":Q}, with
--ids also \"ids\":[{\"line\",\"id\",\"position\",\"duplicate\"}…]. A dry run prints
{\"valid\":N,\"duplicates\":M,\"errors\":[{\"line\",\"field\",\"message\",\"kind\"}…]} and exits 1
when a line would be refused (3 when every refusal is an expected_version conflict).
The input format: `theseus schema`.
  theseus append batch.ndjson --signature batch.sig --receipt batch.receipt

With --signature (from `theseus sign`) the batch is recorded by the signing
agency, and refused (exit 1) unless the signature verifies with its active key
and states this batch. --receipt writes the ledger's signed head once the batch
is durable, for `verify --receipt`.";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct AppendArgs {
    /// The JSON Lines input; `-` reads standard input (so does nothing,
    /// unless it is a terminal).
    #[arg(value_name = "FILE|-")]
    file: Option<PathBuf>,
    #[command(flatten)]
    batch: BatchArgs,
    /// The agency's signature over the batch (from `theseus sign`): the
    /// batch is recorded by the signing agency, only if the signature
    /// verifies with its active key and states this batch; it is stored
    /// with the batch.
    #[arg(long, value_name = "SIG")]
    signature: Option<PathBuf>,
    /// Write the ledger's receipt (the new head, signed) to this file once
    /// the batch is durable.
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,
}

pub fn run(spec: &StoreSpec, args: AppendArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let signature = match &args.signature {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| {
                Failure::Refused(format!("--signature {}: {error}", path.display()))
            })?;
            if args.batch.recorded_by.is_some() {
                return Err(Failure::Usage(
                    "--recorded-by and --signature: a signed batch is recorded by its signing agency".into(),
                ));
            }
            Some(ledger::signatures::Signature::parse(&text)?)
        }
        None => None,
    };
    let receipt_key = args
        .receipt
        .as_ref()
        .map(|_| ledger_key::load())
        .transpose()?;
    let input = Input::open(args.file.as_deref(), "export | theseus append")?;
    let opened = spec.open()?;
    let outcome = match &signature {
        Some(signature) => run_signed(opened.store(), input, &args.batch, signature)?,
        None => run_batch(opened.store(), input, Reading::JsonLines, &args.batch)?,
    };
    if let (Some(path), Some(key)) = (&args.receipt, &receipt_key) {
        if outcome.dry_run.is_none() {
            let receipt = ledger_key::receipt(opened.store(), key)?;
            std::fs::write(path, receipt).map_err(|error| {
                Failure::Refused(format!(
                    "the batch is appended, but the receipt could not be written to {}: {error}",
                    path.display()
                ))
            })?;
        }
    }
    print_outcome(&outcome, args.batch.ids, out)
}

/// A signed batch, read from a file or standard input.
fn run_signed(
    store: &dyn event_store::EventStore,
    input: Input,
    args: &crate::input::BatchArgs,
    signature: &ledger::signatures::Signature,
) -> Result<ledger::BatchOutcome, Failure> {
    let options = args.append_options()?;
    let batch = args.batch_options();
    let reader: Box<dyn std::io::BufRead + Send> = match input {
        Input::File(file, _) => Box::new(std::io::BufReader::new(file)),
        Input::Stdin => Box::new(std::io::BufReader::with_capacity(1 << 16, std::io::stdin())),
    };
    Ok(ledger::append::append_signed(
        store,
        reader,
        options.stamp,
        &batch,
        signature,
    )?)
}
