//! `theseus append`: append JSON Lines as one atomic batch.

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use clap::Args;
use event_store::Stamp;
use ledger::AppendOptions;

use crate::exit::Failure;
use crate::store::StoreSpec;
use crate::{progress, user};

#[derive(Args, Debug)]
pub struct AppendArgs {
    /// The input file; `-` or nothing reads standard input.
    file: Option<PathBuf>,
    /// Who recorded the lines that do not say (default: the OS user).
    #[arg(long)]
    recorded_by: Option<String>,
    /// Stamp the batch with this RFC 3339 time instead of the store's clock
    /// (for reproducible builds): refused unless it lies between the log's
    /// last time and the clock plus 60 s.
    #[arg(long, value_parser = crate::parse_time)]
    recorded_at: Option<DateTime<Utc>>,
}

pub fn run(spec: &StoreSpec, args: AppendArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let opened = spec.open()?;
    let store = opened.store();
    let options = AppendOptions {
        recorded_by: args.recorded_by.unwrap_or_else(user::name),
        stamp: args.recorded_at.map_or(Stamp::Now, Stamp::At),
    };
    let summary = match args.file.filter(|path| path.as_os_str() != "-") {
        Some(path) => {
            let input = std::fs::File::open(&path).map_err(|error| {
                Failure::Usage(format!("cannot read {}: {error}", path.display()))
            })?;
            let total = input.metadata().map_or(0, |m| m.len());
            let (read, finished) = (AtomicU64::new(0), AtomicBool::new(false));
            std::thread::scope(|scope| {
                scope.spawn(|| progress::watch("append (bytes)", total, &read, &finished));
                let counted = progress::Counted::new(input, &read);
                let summary = ledger::append(store, BufReader::new(counted), &options);
                finished.store(true, Ordering::Relaxed);
                summary
            })?
        }
        None => ledger::append(
            store,
            BufReader::with_capacity(1 << 16, std::io::stdin()),
            &options,
        )?,
    };
    writeln!(
        out,
        "{}",
        serde_json::to_string(&summary).unwrap_or_default()
    )?;
    Ok(())
}
