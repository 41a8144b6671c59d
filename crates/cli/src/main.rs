//! `theseus`: the command-line shell over the ledger. It parses arguments,
//! opens the store, calls the ledger and maps errors to exit codes; the work
//! is done in the library crates. Each command lives in `commands/`.
//!
//! Exit codes (see `exit.rs`): 0 success; 1 refused input or other error;
//! 2 usage error; 3 conflict (expected_version); 4 integrity failure.

#![forbid(unsafe_code)]

mod commands;
mod exit;
mod input;
mod ledger_key;
mod output;
mod progress;
mod store;
mod user;
mod values;

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::exit::Failure;
use crate::store::StoreSpec;

const ABOUT: &str = "An event-sourced, hash-chained ledger for multinational police operations against human trafficking and migrant smuggling";

const LONG_ABOUT: &str = "theseus is an event-sourced, hash-chained ledger for multinational police operations against human trafficking and migrant smuggling.

Every reported fact (an arrest, a rescue, a seizure, a tally of checks) is an immutable event in an append-only log whose records are chained by SHA-256; every published figure is rebuilt by replaying the log, as of any earlier point. A wrong report is corrected by a retraction, never by an edit. Victims and suspects appear only as pseudonymous references, and no output prints them.";

const AFTER_HELP: &str = "Examples:
  theseus init --store ./store
  theseus append reports/2019-12-10-AL.ndjson
  theseus report summary --format json --as-of 2019-12-12T00:00:00Z

Exit codes:
  0  success, also when the reader of the output goes away (theseus report | head -1)
  1  refused input (the message names the line and the field), an input file that
     cannot be read, a missing store, or another error
  2  usage error: an unknown command, option or value; a terminal on standard input
  3  conflict: an expected_version did not match the operation's version
  4  integrity failure: the log is damaged, or --expect-head names a record it no
     longer holds";

#[derive(Parser, Debug)]
#[command(
    name = "theseus",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    max_term_width = 100
)]
struct Cli {
    /// The store: a directory of *.jsonl segments, or a PostgreSQL schema
    /// as postgres://USER@HOST:PORT/DB (postgresql:// too; `?schema=NAME`,
    /// default `theseus`).
    #[arg(
        long,
        global = true,
        env = "THESEUS_STORE",
        default_value = "events",
        value_name = "DIR",
        value_parser = StoreSpec::parse
    )]
    store: StoreSpec,

    /// Print no warnings and no progress lines (errors and results still are).
    #[arg(short, long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create an empty store.
    #[command(after_help = commands::init::EXAMPLES)]
    Init,
    /// Append events from JSON Lines, as one atomic batch.
    Append(commands::append::AppendArgs),
    /// Import a spreadsheet's rows as events, as one atomic batch.
    #[command(subcommand)]
    Import(commands::import::ImportCommand),
    /// Record one event from flags, for people at a terminal.
    Record(commands::record::RecordArgs),
    /// Rebuild a report by replaying the log.
    Report(commands::report::ReportArgs),
    /// List the events themselves, one row each (a suspect's or a victim's
    /// reference only with --reveal --purpose, which is recorded first).
    Events(commands::events::EventsArgs),
    /// Show the events behind one figure of the summary.
    Trace(commands::trace::TraceArgs),
    /// Show every summary figure that differs between two prefixes of the
    /// log, and the events in between that changed it.
    Diff(commands::diff::DiffArgs),
    /// Print each new committed event as a JSON line as it arrives.
    Follow(commands::follow::FollowArgs),
    /// Print the briefing page (HTML) that `serve` shows at GET /: per
    /// operation, headline figures, a daily timeline, bars per country and
    /// the seizures.
    Dashboard(commands::dashboard::DashboardArgs),
    /// Destroy a subject's key (its references can no longer be opened)
    /// and record the erasure; every figure stays as it was.
    Erase(commands::erase::EraseArgs),
    /// Check every record and the whole hash chain.
    Verify(commands::verify::VerifyArgs),
    /// Print POSITION:HASH of the last record (or, with --signed, a head
    /// signed by the ledger).
    #[command(after_help = commands::head::EXAMPLES)]
    Head(commands::head::HeadArgs),
    /// Sign a batch (JSON Lines) with an agency's key: prints the detached
    /// signature that `append --signature` and the API take.
    Sign(commands::sign::SignArgs),
    /// Print the JSON Schema of one input line.
    #[command(after_help = commands::schema::EXAMPLES)]
    Schema,
    /// Fill a new (or empty) store with a realistic synthetic log.
    #[command(
        long_about = "Fill a new (or empty) store with a realistic synthetic log, the same for the same seed, through the same append path and rules as real data (for benchmarks and demos)."
    )]
    Generate(commands::generate::GenerateArgs),
    /// Copy a log to another store (any backend to any backend), record for
    /// record: only what the target lacks; a target holding a different log
    /// is refused.
    Copy(commands::copy::CopyArgs),
    /// Register, list and revoke the agencies that may use the API.
    Agency(commands::agency::AgencyArgs),
    /// Serve the ledger as an HTTP API (agencies authenticate with their
    /// tokens), with an access log and a dashboard page.
    Serve(commands::serve::ServeArgs),
    /// Print a shell completion script.
    Completions(commands::completions::CompletionsArgs),
    /// Print the manual page (roff).
    Man(commands::man::ManArgs),
}

/// Parses an RFC 3339 time argument, as strictly as input lines are read.
pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    domain::parse_instant(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|error| format!("{text:?} {error} (such as 2019-12-12T00:00:00Z)"))
}

/// The whole command line, for completions and the man page.
pub(crate) fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version exit 0, usage errors 2; a closed pipe while
        // printing help is not worth a message.
        Err(error) => error.exit(),
    };
    output::set_quiet(cli.quiet);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.is_broken_pipe() => ExitCode::SUCCESS,
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
        Command::Import(command) => commands::import::run(spec, command, out),
        Command::Record(args) => commands::record::run(spec, args, out),
        Command::Report(args) => commands::report::run(spec, args, out),
        Command::Events(args) => commands::events::run(spec, args, out),
        Command::Trace(args) => commands::trace::run(spec, args, out),
        Command::Diff(args) => commands::diff::run(spec, args, out),
        Command::Follow(args) => commands::follow::run(spec, args, out),
        Command::Erase(args) => commands::erase::run(spec, args, out),
        Command::Verify(args) => commands::verify::run(spec, args, out),
        Command::Head(args) => commands::head::run(spec, args, out),
        Command::Sign(args) => commands::sign::run(args, out),
        Command::Schema => commands::schema::run(out),
        Command::Generate(args) => commands::generate::run(spec, args, out),
        Command::Copy(args) => commands::copy::run(args, out),
        Command::Completions(args) => commands::completions::run(args, out),
        Command::Man(args) => commands::man::run(args, out),
        Command::Dashboard(args) => commands::dashboard::run(spec, args, out),
        Command::Agency(args) => commands::agency::run(spec, args, out),
        Command::Serve(args) => commands::serve::run(spec, args, out),
    }
}
