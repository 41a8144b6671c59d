//! `theseus generate`: fill a new store with a synthetic log.

use std::io::Write;

use clap::Args;

use crate::exit::Failure;
use crate::progress;
use crate::store::StoreSpec;

const EXAMPLES: &str = "Examples:
  theseus generate --store /tmp/big --events 1000000
  theseus generate --store /tmp/demo --events 5000 --seed 7 --operations 3";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct GenerateArgs {
    /// The number of events to write.
    #[arg(long, value_name = "N")]
    events: u64,
    /// Another seed gives another log.
    #[arg(long, value_name = "N", default_value_t = ledger::generate::DEFAULT_SEED)]
    seed: u64,
    /// The number of operations the events are spread over.
    #[arg(long, value_name = "N", default_value_t = ledger::generate::DEFAULT_OPERATIONS)]
    operations: u64,
}

pub fn run(spec: &StoreSpec, args: GenerateArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let opened = spec.open_or_init()?;
    let options = ledger::generate::GenerateOptions {
        events: args.events,
        seed: args.seed,
        operations: args.operations,
        batch_lines: ledger::generate::BATCH_LINES,
    };
    let mut progress = progress::Progress::new("generate", args.events);
    let stats = ledger::generate::generate_with_progress(opened.store(), &options, &mut |stats| {
        progress.update(stats.events)
    })?;
    progress.finish();
    writeln!(
        out,
        "generated {} events ({} operations, {} retractions, {} late reports) in {} batches; head {}",
        stats.events,
        stats.operations,
        stats.retractions,
        stats.late_reports,
        stats.batches,
        stats.head
    )?;
    Ok(())
}
