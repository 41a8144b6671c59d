//! `theseus report`: rebuild a report by replaying the log.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use clap::Args;
use ledger::AsOf;
use projections::ReplayOptions;

use crate::exit::Failure;
use crate::progress;
use crate::store::StoreSpec;
use crate::values::{FormatArg, ReportKindArg};

const EXAMPLES: &str = "Examples:
  theseus report summary
  theseus report countries --operation theseus --format csv > countries.csv
  theseus report summary --format json --as-of 2019-12-12T00:00:00Z

--as-of 412 replays records 1..412; --as-of TIME the records recorded at or before
that time. The JSON report's as_of names the position and hash it was built from.";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ReportArgs {
    /// Which report.
    #[arg(value_name = "KIND", value_enum)]
    kind: ReportKindArg,
    /// Only this operation.
    #[arg(long, value_name = "SLUG")]
    operation: Option<String>,
    /// Replay only up to this position, or this RFC 3339 recorded_at time.
    #[arg(long, value_name = "POSITION|TIME", value_parser = AsOf::parse)]
    as_of: Option<AsOf>,
    /// How to print it.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Ignore checkpoints: replay and chain-check every record from
    /// position 1 (a checkpoint covers the records before it as they were
    /// when it was made; this catches an edit made since under one).
    #[arg(long)]
    no_checkpoint: bool,
}

pub fn run(spec: &StoreSpec, args: ReportArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let opened = spec.open()?;
    let store = opened.store();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let total = store.head()?.position;
    let (replayed, finished) = (AtomicU64::new(0), AtomicBool::new(false));
    let report = std::thread::scope(|scope| {
        scope.spawn(|| progress::watch("replay", total, &replayed, &finished));
        let options = ReplayOptions {
            parts: threads,
            checkpoints: !args.no_checkpoint,
            progress: Some(&replayed),
        };
        let report = ledger::report_with(
            store,
            args.kind.into(),
            args.as_of.unwrap_or(AsOf::Head),
            args.operation.as_deref(),
            &options,
        );
        finished.store(true, Ordering::Relaxed);
        report
    })?;
    let generated_by = format!("theseus {}", env!("CARGO_PKG_VERSION"));
    out.write_all(projections::render(&report, args.format.into(), &generated_by).as_bytes())?;
    Ok(())
}
