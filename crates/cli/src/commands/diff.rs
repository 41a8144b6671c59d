//! `theseus diff`: what changed between two prefixes of the log.

use std::io::Write;

use clap::Args;
use ledger::diff::DiffQuery;
use ledger::AsOf;
use projections::Format;

use crate::commands::report::{generated_by, parse_format, unless_pipe_closed};
use crate::exit::Failure;
use crate::store::StoreSpec;

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The earlier prefix: a position, or an RFC 3339 recorded_at time.
    #[arg(long, value_parser = AsOf::parse)]
    from: AsOf,
    /// The later prefix (default: the head).
    #[arg(long, value_parser = AsOf::parse)]
    to: Option<AsOf>,
    /// Only this operation.
    #[arg(long)]
    operation: Option<String>,
    /// table, json, jsonl, csv, markdown or html.
    #[arg(long, default_value = "table", value_parser = parse_format)]
    format: Format,
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
        args.format,
        out,
        &generated_by(),
    ))
}
