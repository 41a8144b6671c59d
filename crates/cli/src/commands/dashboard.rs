//! `theseus dashboard`: the briefing page that `theseus serve` shows at
//! `GET /`, as a file.

use std::io::Write;

use clap::Args;
use ledger::AsOf;
use projections::ReplayOptions;

use crate::commands::report::generated_by;
use crate::exit::Failure;
use crate::store::StoreSpec;

#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// Only this operation.
    #[arg(long)]
    operation: Option<String>,
    /// Replay only up to this position, or this RFC 3339 recorded_at time.
    #[arg(long, value_parser = AsOf::parse)]
    as_of: Option<AsOf>,
}

pub fn run(spec: &StoreSpec, args: DashboardArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let opened = spec.open()?;
    let options = ReplayOptions {
        parts: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        checkpoints: true,
        progress: None,
    };
    let (_, page) = ledger::dashboard::dashboard(
        opened.store(),
        args.as_of.unwrap_or(AsOf::Head),
        args.operation.as_deref(),
        &options,
        &generated_by(),
    )?;
    out.write_all(page.as_bytes())?;
    Ok(())
}
