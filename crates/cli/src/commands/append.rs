//! `theseus append`: append JSON Lines as one atomic batch.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::exit::Failure;
use crate::input::{print_outcome, run_batch, BatchArgs, Input, Reading};
use crate::store::StoreSpec;

const EXAMPLES: &str = "Examples:
  theseus append reports/2019-12-10-AL.ndjson
  export-tool | theseus append - --recorded-by AL-state-police --ids
  theseus append --dry-run big-export.ndjson | jq '.errors[] | \"\\(.line) \\(.field): \\(.message)\"'

Prints {\"appended\":N,\"duplicates\":M,\"first_position\":P,\"last_position\":Q}, with
--ids also \"ids\":[{\"line\",\"id\",\"position\",\"duplicate\"}…]. A dry run prints
{\"valid\":N,\"duplicates\":M,\"errors\":[{\"line\",\"field\",\"message\",\"kind\"}…]} and exits 1
when a line would be refused (3 when every refusal is an expected_version conflict).
The input format: `theseus schema`.";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct AppendArgs {
    /// The JSON Lines input; `-` reads standard input (so does nothing,
    /// unless it is a terminal).
    #[arg(value_name = "FILE|-")]
    file: Option<PathBuf>,
    #[command(flatten)]
    batch: BatchArgs,
}

pub fn run(spec: &StoreSpec, args: AppendArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let input = Input::open(args.file.as_deref(), "export | theseus append")?;
    let opened = spec.open()?;
    let outcome = run_batch(opened.store(), input, Reading::JsonLines, &args.batch)?;
    print_outcome(&outcome, args.batch.ids, out)
}
