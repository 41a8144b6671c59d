//! `theseus`: the command-line shell over the ledger. It parses arguments,
//! opens the store, calls the ledger and maps errors to exit codes; the work
//! is done in the library crates. Each command lives in `commands/`.
//!
//! Exit codes: 0 success; 1 refused input or other error; 2 usage error;
//! 3 conflict (expected_version); 4 integrity failure.

#![forbid(unsafe_code)]

mod commands;
mod exit;
mod progress;
mod store;
mod user;

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::exit::Failure;
use crate::store::StoreSpec;

/// An event-sourced ledger for multinational police operations: every
/// reported fact is an immutable event in a hash-chained log, and every
/// figure is rebuilt by replaying it.
#[derive(Parser, Debug)]
#[command(name = "theseus", version, about, max_term_width = 100)]
struct Cli {
    /// The store: a directory of *.jsonl segments, or a PostgreSQL schema
    /// as postgres://USER@HOST:PORT/DB (postgresql:// too; `?schema=NAME`,
    /// default `theseus`).
    #[arg(
        long,
        global = true,
        env = "THESEUS_STORE",
        default_value = "events",
        value_parser = StoreSpec::parse
    )]
    store: StoreSpec,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create an empty store.
    Init,
    /// Append events from JSON Lines, as one atomic batch.
    Append(commands::append::AppendArgs),
    /// Rebuild a report by replaying the log.
    Report(commands::report::ReportArgs),
    /// List the events themselves, one row each (never a suspect's or a
    /// victim's reference).
    Events(commands::events::EventsArgs),
    /// Show the events behind one figure of the summary.
    Trace(commands::trace::TraceArgs),
    /// Show every summary figure that differs between two prefixes of the
    /// log, and the events in between that changed it.
    Diff(commands::diff::DiffArgs),
    /// Check the whole hash chain.
    Verify(commands::verify::VerifyArgs),
    /// Print POSITION:HASH of the last record.
    Head,
    /// Fill a new (or empty) store with a realistic synthetic log, the same
    /// for the same seed, through the same append path and rules as real
    /// data (for benchmarks and demos).
    Generate(commands::generate::GenerateArgs),
    /// Copy a log to another store (any backend to any backend), record for
    /// record: only what the target lacks; a target holding a different log
    /// is refused.
    Copy(commands::copy::CopyArgs),
    /// Print the briefing page (HTML) that `serve` shows at GET /: per
    /// operation, headline figures, a daily timeline, bars per country and
    /// the seizures.
    Dashboard(commands::dashboard::DashboardArgs),
    /// Register, list and revoke the agencies that may use the API.
    Agency(commands::agency::AgencyArgs),
    /// Serve the ledger as an HTTP API (agencies authenticate with their
    /// tokens), with an access log and a dashboard page.
    Serve(commands::serve::ServeArgs),
}

/// Parses an RFC 3339 time argument.
pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{text:?} is not an RFC 3339 timestamp"))
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

fn run(cli: Cli) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    let out = &mut stdout;
    let spec = &cli.store;
    match cli.command {
        Command::Init => commands::init::run(spec, out),
        Command::Append(args) => commands::append::run(spec, args, out),
        Command::Report(args) => commands::report::run(spec, args, out),
        Command::Events(args) => commands::events::run(spec, args, out),
        Command::Trace(args) => commands::trace::run(spec, args, out),
        Command::Diff(args) => commands::diff::run(spec, args, out),
        Command::Verify(args) => commands::verify::run(spec, args, out),
        Command::Head => commands::head::run(spec, out),
        Command::Generate(args) => commands::generate::run(spec, args, out),
        Command::Copy(args) => commands::copy::run(args, out),
        Command::Dashboard(args) => commands::dashboard::run(spec, args, out),
        Command::Agency(args) => commands::agency::run(spec, args, out),
        Command::Serve(args) => commands::serve::run(spec, args, out),
    }
}
