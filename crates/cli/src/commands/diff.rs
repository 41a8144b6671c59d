//! `theseus diff`: what changed between two prefixes of the log.

use std::io::Write;

use clap::Args;
use ledger::diff::DiffQuery;
use ledger::AsOf;

use crate::commands::report::{generated_by, unless_pipe_closed};
use crate::exit::Failure;
use crate::store::StoreSpec;
use crate::values::FormatArg;

const EXAMPLES: &str = "Examples:
  theseus diff --operation theseus --from 2019-12-21T00:00:00Z
  theseus diff --from 700 --to 737 --format json";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct DiffArgs {
    /// The earlier prefix: a position, or an RFC 3339 recorded_at time.
    #[arg(long, value_name = "POSITION|TIME", value_parser = AsOf::parse)]
    from: AsOf,
    /// The later prefix (default: the head).
    #[arg(long, value_name = "POSITION|TIME", value_parser = AsOf::parse)]
    to: Option<AsOf>,
    /// Only this operation.
    #[arg(long, value_name = "SLUG")]
    operation: Option<String>,
    /// How to print it.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
}

pub fn run(spec: &StoreSpec, args: DiffArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let query = DiffQuery {
        from: args.from,
        to: args.to.unwrap_or_default(),
        operation: args.operation,
    };
    let opened = spec.open()?;
    unless_pipe_closed(ledger::diff::diff(
        opened.store(),
        &query,
        args.format.into(),
        out,
        &generated_by(),
    ))
}
