//! `theseus report`: rebuild a report by replaying the log.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use clap::Args;
use ledger::AsOf;
use projections::{Format, ReplayOptions, ReportKind};

use crate::exit::Failure;
use crate::progress;
use crate::store::StoreSpec;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// summary, countries, timeline, seizures or networks.
    #[arg(value_parser = parse_kind)]
    kind: ReportKind,
    /// Only this operation.
    #[arg(long)]
    operation: Option<String>,
    /// Replay only up to this position, or this RFC 3339 recorded_at time.
    #[arg(long, value_parser = AsOf::parse)]
    as_of: Option<AsOf>,
    /// table, json, csv or markdown.
    #[arg(long, default_value = "table", value_parser = parse_format)]
    format: Format,
    /// Ignore checkpoints: replay and chain-check every record from
    /// position 1 (a checkpoint covers the records before it as they were
    /// when it was made; this catches an edit made since under one).
    #[arg(long)]
    no_checkpoint: bool,
}

fn parse_kind(text: &str) -> Result<ReportKind, String> {
    text.parse()
}

fn parse_format(text: &str) -> Result<Format, String> {
    text.parse()
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
            args.kind,
            args.as_of.unwrap_or(AsOf::Head),
            args.operation.as_deref(),
            &options,
        );
        finished.store(true, Ordering::Relaxed);
        report
    })?;
    let generated_by = format!("theseus {}", env!("CARGO_PKG_VERSION"));
    out.write_all(projections::render(&report, args.format, &generated_by).as_bytes())?;
    Ok(())
}
