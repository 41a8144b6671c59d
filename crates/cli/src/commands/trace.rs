//! `theseus trace`: the events behind one figure of the summary.

use std::io::Write;

use clap::Args;
use ledger::trace::TraceQuery;
use ledger::AsOf;
use projections::figure::Figure;
use projections::Format;

use crate::commands::report::{generated_by, parse_format, unless_pipe_closed, FilterArgs};
use crate::exit::Failure;
use crate::store::StoreSpec;

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// The operation whose figure is traced.
    #[arg(long)]
    operation: String,
    /// A figure of the summary as its JSON names it: arrests,
    /// victims_rescued, migrants_detected, agents_deployed,
    /// experts_deployed, checks.KIND, seizures.ITEM, drugs_grams,
    /// cash.CURRENCY, events or retracted.
    #[arg(value_parser = Figure::parse)]
    figure: Figure,
    #[command(flatten)]
    filter: FilterArgs,
    /// Read only up to this position, or this RFC 3339 recorded_at time.
    #[arg(long, value_parser = AsOf::parse)]
    as_of: Option<AsOf>,
    /// table, json, jsonl, csv, markdown or html.
    #[arg(long, default_value = "table", value_parser = parse_format)]
    format: Format,
}

pub fn run(spec: &StoreSpec, args: TraceArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let query = TraceQuery {
        as_of: args.as_of.unwrap_or_default(),
        operation: args.operation,
        figure: args.figure,
        filter: args.filter.filter()?,
    };
    let opened = spec.open()?;
    unless_pipe_closed(ledger::trace::trace(
        opened.store(),
        &query,
        args.format,
        out,
        &generated_by(),
    ))
}
