//! Where a batch comes from: a file, or standard input, and how a batch's
//! outcome is printed (shared by `append` and `import`).

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use clap::Args;
use event_store::{EventStore, Stamp};
use ledger::import::{CsvOptions, CsvSource};
use ledger::{AppendOptions, BatchOptions, BatchOutcome, JsonLines, Source};

use crate::exit::{Failure, CONFLICT, REFUSED};
use crate::{progress, user};

// The options every batch command takes (a doc comment here would become
// the about text of every command that flattens them).
#[derive(Args, Debug)]
pub struct BatchArgs {
    /// Check the whole batch against the log as a real append would, write
    /// nothing, and print every refusal as JSON.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the id and position of every line with the summary.
    #[arg(long)]
    pub ids: bool,
    /// Refuse lines without an id (tools that re-send must send ids).
    #[arg(long)]
    pub require_ids: bool,
    /// Who recorded the lines that do not say, checked as a line's
    /// recorded_by is (default: the OS account's name).
    #[arg(long, value_name = "NAME")]
    pub recorded_by: Option<String>,
    /// Stamp the batch with this time instead of the store's clock (for
    /// reproducible builds): refused unless it lies between the log's last
    /// time and the clock plus 60 s.
    #[arg(long, value_name = "TIME", value_parser = crate::parse_time)]
    pub recorded_at: Option<DateTime<Utc>>,
}

impl BatchArgs {
    pub fn append_options(&self) -> Result<AppendOptions, Failure> {
        Ok(AppendOptions {
            recorded_by: user::recorded_by(self.recorded_by.as_deref())?,
            stamp: self.recorded_at.map_or(Stamp::Now, Stamp::At),
        })
    }

    pub fn batch_options(&self) -> BatchOptions {
        BatchOptions {
            dry_run: self.dry_run,
            require_ids: self.require_ids,
            report_ids: self.ids,
        }
    }
}

/// An opened input: a file (its size known, for the progress line) or
/// standard input.
pub enum Input {
    File(std::fs::File, u64),
    Stdin,
}

impl Input {
    /// Opens `FILE`, or standard input for `-` or nothing. A terminal on
    /// standard input with no FILE is a usage error with a hint, not a
    /// silent wait; a file that cannot be read is refused input (exit 1).
    pub fn open(file: Option<&Path>, example: &str) -> Result<Input, Failure> {
        match file {
            Some(path) if path.as_os_str() != "-" => {
                let metadata = std::fs::metadata(path)
                    .map_err(|error| Failure::Refused(format!("cannot read {}: {error}", path.display())))?;
                if metadata.is_dir() {
                    return Err(Failure::Refused(format!(
                        "cannot read {}: it is a directory",
                        path.display()
                    )));
                }
                let file = std::fs::File::open(path)
                    .map_err(|error| Failure::Refused(format!("cannot read {}: {error}", path.display())))?;
                Ok(Input::File(file, metadata.len()))
            }
            Some(_) => Ok(Input::Stdin),
            None if std::io::stdin().is_terminal() => Err(Failure::Usage(format!(
                "standard input is a terminal: name a FILE, or pipe the input in ({example}); `-` reads the terminal anyway"
            ))),
            None => Ok(Input::Stdin),
        }
    }
}

/// How a batch's input is read.
pub enum Reading {
    JsonLines,
    Csv(CsvOptions),
}

impl Reading {
    fn source<'r>(self, reader: Box<dyn BufRead + Send + 'r>) -> Box<dyn Source + 'r> {
        match self {
            Reading::JsonLines => Box::new(JsonLines::new(reader)),
            Reading::Csv(options) => Box::new(CsvSource::new(reader, options)),
        }
    }
}

/// Runs a batch from `input`, drawing a progress line for a file.
pub fn run_batch(
    store: &dyn EventStore,
    input: Input,
    reading: Reading,
    args: &BatchArgs,
) -> Result<BatchOutcome, Failure> {
    let source = |reader| reading.source(reader);
    let options = args.append_options()?;
    let batch = args.batch_options();
    match input {
        Input::File(file, total) => {
            let (read, finished) = (AtomicU64::new(0), AtomicBool::new(false));
            std::thread::scope(|scope| {
                scope.spawn(|| progress::watch("append (bytes)", total, &read, &finished));
                let counted = progress::Counted::new(file, &read);
                let reader: Box<dyn BufRead + Send + '_> = Box::new(BufReader::new(counted));
                let outcome = ledger::append_batch(store, source(reader), &options, &batch);
                finished.store(true, Ordering::Relaxed);
                outcome
            })
            .map_err(Failure::from)
        }
        Input::Stdin => {
            let stdin: Box<dyn Read + Send> = Box::new(std::io::stdin());
            let reader: Box<dyn BufRead + Send> =
                Box::new(BufReader::with_capacity(1 << 16, stdin));
            Ok(ledger::append_batch(
                store,
                source(reader),
                &options,
                &batch,
            )?)
        }
    }
}

/// Prints a batch's outcome: the summary (with the ids if asked), or the
/// dry run's report; a dry run that found refusals fails after printing.
pub fn print_outcome(
    outcome: &BatchOutcome,
    ids: bool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    /// The result, then the ids when asked for, in this order.
    #[derive(serde::Serialize)]
    struct Printed<'a, T: serde::Serialize> {
        #[serde(flatten)]
        result: &'a T,
        #[serde(skip_serializing_if = "Option::is_none")]
        ids: Option<&'a [ledger::LineId]>,
    }
    let ids = ids.then_some(outcome.ids.as_slice());
    let text = match &outcome.dry_run {
        Some(report) => serde_json::to_string(&Printed {
            result: report,
            ids,
        }),
        None => serde_json::to_string(&Printed {
            result: &outcome.summary,
            ids,
        }),
    };
    writeln!(out, "{}", text.unwrap_or_default())?;
    if let Some(report) = &outcome.dry_run {
        let refused = report.errors.len() as u64 + report.errors_not_listed;
        if refused > 0 {
            let code = if report.only_conflicts() && report.errors_not_listed == 0 {
                CONFLICT
            } else {
                REFUSED
            };
            let first = report.errors.first().map(|e| {
                let field = e
                    .field
                    .as_deref()
                    .map(|f| format!("{f}: "))
                    .unwrap_or_default();
                format!("line {}: {field}{}", e.line, e.message)
            });
            return Err(Failure::Reported {
                code,
                message: format!(
                    "the batch would be refused: {refused} line{} (listed on standard output; the first: {})",
                    if refused == 1 { "" } else { "s" },
                    first.unwrap_or_default()
                ),
            });
        }
    }
    Ok(())
}
