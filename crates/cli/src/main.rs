//! `theseus`: the command-line shell over the ledger. It parses arguments,
//! opens the store, calls the ledger and maps errors to exit codes; the work
//! is done in the library crates.
//!
//! Exit codes: 0 success; 1 refused input or other error; 2 usage error;
//! 3 conflict (expected_version); 4 integrity failure.

#![forbid(unsafe_code)]

mod exit;
mod progress;
mod user;

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use event_store::{EventStore, FileStore, FileStoreConfig, Hash};
use ledger::{AppendOptions, AsOf};
use projections::{Format, ReportKind};

use crate::exit::Failure;

/// An event-sourced ledger for multinational police operations: every
/// reported fact is an immutable event in a hash-chained log, and every
/// figure is rebuilt by replaying it.
#[derive(Parser, Debug)]
#[command(name = "theseus", version, about, max_term_width = 100)]
struct Cli {
    /// The store (a directory of *.jsonl segments).
    #[arg(long, global = true, env = "THESEUS_STORE", default_value = "events")]
    store: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create an empty store.
    Init,
    /// Append events from JSON Lines, as one atomic batch.
    Append {
        /// The input file; `-` or nothing reads standard input.
        file: Option<PathBuf>,
        /// Who recorded the lines that do not say (default: the OS user).
        #[arg(long)]
        recorded_by: Option<String>,
        /// Stamp the batch with this RFC 3339 time instead of the clock (for
        /// imports and reproducible builds; never earlier than the log's last).
        #[arg(long, value_parser = parse_time)]
        recorded_at: Option<DateTime<Utc>>,
    },
    /// Rebuild a report by replaying the log.
    Report {
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
    },
    /// Check the whole hash chain.
    Verify {
        /// Also prove that the log still holds this record: POSITION:HASH as
        /// printed by `theseus head`.
        #[arg(long, value_parser = parse_head)]
        expect_head: Option<(u64, Hash)>,
    },
    /// Print POSITION:HASH of the last record.
    Head,
    /// Fill a new (or empty) store with a realistic synthetic log, the same
    /// for the same seed, through the same append path and rules as real
    /// data (for benchmarks and demos).
    Generate {
        /// The number of events to write.
        #[arg(long)]
        events: u64,
        /// Another seed gives another log.
        #[arg(long, default_value_t = ledger::generate::DEFAULT_SEED)]
        seed: u64,
        /// The number of operations the events are spread over.
        #[arg(long, default_value_t = ledger::generate::DEFAULT_OPERATIONS)]
        operations: u64,
    },
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{text:?} is not an RFC 3339 timestamp"))
}

fn parse_kind(text: &str) -> Result<ReportKind, String> {
    text.parse()
}

fn parse_format(text: &str) -> Result<Format, String> {
    text.parse()
}

fn parse_head(text: &str) -> Result<(u64, Hash), String> {
    let (position, hash) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not POSITION:HASH"))?;
    let position = position
        .parse()
        .map_err(|_| format!("{position:?} is not a position"))?;
    Ok((position, hash.parse()?))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let message = failure.to_string();
            eprintln!("error: {}", message.trim_end_matches('.'));
            ExitCode::from(failure.code())
        }
    }
}

fn open(dir: &std::path::Path) -> Result<FileStore, Failure> {
    let store = FileStore::open(dir, FileStoreConfig::default())?;
    if let Some(warning) = store.torn_tail_warning() {
        eprintln!("warning: {warning}");
    }
    Ok(store)
}

fn run(cli: Cli) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Init => {
            FileStore::init(&cli.store, FileStoreConfig::default())?;
            writeln!(
                stdout,
                "initialised an empty store in {}",
                cli.store.display()
            )?;
        }
        Command::Append {
            file,
            recorded_by,
            recorded_at,
        } => {
            let store = open(&cli.store)?;
            let options = AppendOptions {
                recorded_by: recorded_by.unwrap_or_else(user::name),
                recorded_at: recorded_at.unwrap_or_else(Utc::now),
            };
            let summary = match file.filter(|path| path.as_os_str() != "-") {
                Some(path) => {
                    let input = std::fs::File::open(&path).map_err(|error| {
                        Failure::Usage(format!("cannot read {}: {error}", path.display()))
                    })?;
                    let total = input.metadata().map_or(0, |m| m.len());
                    let (read, finished) = (AtomicU64::new(0), AtomicBool::new(false));
                    std::thread::scope(|scope| {
                        scope.spawn(|| progress::watch("append (bytes)", total, &read, &finished));
                        let counted = progress::Counted::new(input, &read);
                        let summary = ledger::append(&store, BufReader::new(counted), &options);
                        finished.store(true, Ordering::Relaxed);
                        summary
                    })?
                }
                None => ledger::append(
                    &store,
                    BufReader::with_capacity(1 << 16, std::io::stdin()),
                    &options,
                )?,
            };
            writeln!(
                stdout,
                "{}",
                serde_json::to_string(&summary).unwrap_or_default()
            )?;
        }
        Command::Report {
            kind,
            operation,
            as_of,
            format,
        } => {
            let store = open(&cli.store)?;
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
            let total = store.head()?.position;
            let (replayed, finished) = (AtomicU64::new(0), AtomicBool::new(false));
            let report = std::thread::scope(|scope| {
                scope.spawn(|| progress::watch("replay", total, &replayed, &finished));
                let report = ledger::report_counted(
                    &store,
                    kind,
                    as_of.unwrap_or(AsOf::Head),
                    operation.as_deref(),
                    threads,
                    Some(&replayed),
                );
                finished.store(true, Ordering::Relaxed);
                report
            })?;
            let generated_by = format!("theseus {}", env!("CARGO_PKG_VERSION"));
            stdout.write_all(projections::render(&report, format, &generated_by).as_bytes())?;
        }
        Command::Verify { expect_head } => {
            let store = open(&cli.store)?;
            let total = store.head()?.position;
            let (checked, finished) = (AtomicU64::new(0), AtomicBool::new(false));
            let verified = std::thread::scope(|scope| {
                scope.spawn(|| progress::watch("verify", total, &checked, &finished));
                let verified = store.verify_counted(expect_head, &checked);
                finished.store(true, Ordering::Relaxed);
                verified
            })?;
            writeln!(
                stdout,
                "ok: {} records in {} segments chain to head {}",
                verified.records, verified.segments, verified.head
            )?;
        }
        Command::Head => {
            let store = open(&cli.store)?;
            writeln!(stdout, "{}", store.head()?)?;
        }
        Command::Generate {
            events,
            seed,
            operations,
        } => {
            let store = match FileStore::init(&cli.store, FileStoreConfig::default()) {
                Err(event_store::StoreError::AlreadyExists { .. }) => open(&cli.store)?,
                other => other?,
            };
            let options = ledger::generate::GenerateOptions {
                events,
                seed,
                operations,
                batch_lines: ledger::generate::BATCH_LINES,
            };
            let mut progress = progress::Progress::new("generate", events);
            let stats = ledger::generate::generate_with_progress(&store, &options, &mut |stats| {
                progress.update(stats.events)
            })?;
            progress.finish();
            writeln!(
                stdout,
                "generated {} events ({} operations, {} retractions, {} late reports) in {} batches; head {}",
                stats.events,
                stats.operations,
                stats.retractions,
                stats.late_reports,
                stats.batches,
                stats.head
            )?;
        }
    }
    Ok(())
}
