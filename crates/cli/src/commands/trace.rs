//! `theseus trace`: the events behind one figure of the summary.

use std::io::Write;

use clap::Args;
use ledger::trace::TraceQuery;
use ledger::AsOf;
use projections::figure::Figure;

use crate::commands::report::{generated_by, unless_pipe_closed, FilterArgs};
use crate::exit::Failure;
use crate::store::StoreSpec;
use crate::values::FormatArg;

const EXAMPLES: &str = "Examples:
  theseus trace --operation theseus arrests
  theseus trace --operation theseus checks.passenger --country TR --format csv
  theseus trace --operation dunqett cash.EUR --as-of 2020-01-22T00:00:00Z --format json";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct TraceArgs {
    /// The operation whose figure is traced.
    #[arg(long, value_name = "SLUG")]
    operation: String,
    /// A figure of the summary as its JSON names it: arrests,
    /// victims_rescued, migrants_detected, agents_deployed,
    /// experts_deployed, checks.KIND, seizures.ITEM, drugs_grams,
    /// cash.CURRENCY, events or retracted.
    #[arg(value_name = "FIGURE", value_parser = Figure::parse)]
    figure: Figure,
    #[command(flatten)]
    filter: FilterArgs,
    /// Read only up to this position, or this RFC 3339 recorded_at time.
    #[arg(long, value_name = "POSITION|TIME", value_parser = AsOf::parse)]
    as_of: Option<AsOf>,
    /// How to print it.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
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
        args.format.into(),
        out,
        &generated_by(),
    ))
}
