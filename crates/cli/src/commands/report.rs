//! `theseus report`: rebuild a report by replaying the log, optionally
//! filtered by country, day and location. Also the filter options that
//! `events` and `trace` share with it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use clap::Args;
use domain::{Country, Day, Location};
use ledger::AsOf;
use projections::{Filter, ReplayOptions};

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
    #[command(flatten)]
    filter: FilterArgs,
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

/// What a report, `events` or `trace` counts: figures of these countries,
/// on these UTC days of occurred_at, at these locations.
#[derive(Args, Debug, Default)]
pub struct FilterArgs {
    /// Only figures reported by this country (ISO 3166-1 alpha-2, or XK);
    /// repeatable.
    #[arg(long = "country", value_name = "CC", value_parser = parse_country)]
    countries: Vec<Country>,
    /// Only figures whose occurred_at falls on this UTC day or later
    /// (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    from: Option<Day>,
    /// Only figures whose occurred_at falls on this UTC day or earlier
    /// (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    to: Option<Day>,
    /// Only figures at this kind of location (border_crossing, road…);
    /// repeatable.
    #[arg(long = "location", value_name = "LOC", value_parser = parse_location)]
    locations: Vec<Location>,
}

impl FilterArgs {
    /// The filter, refusing an empty period.
    pub fn filter(&self) -> Result<Filter, Failure> {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from > to {
                return Err(Failure::Usage(format!(
                    "--from {from} is after --to {to}: the period is empty"
                )));
            }
        }
        Ok(Filter {
            countries: self.countries.iter().copied().collect(),
            from: self.from,
            to: self.to,
            locations: self.locations.iter().copied().collect(),
        })
    }
}

fn parse_country(text: &str) -> Result<Country, String> {
    Country::parse(text).ok_or_else(|| {
        format!("{text:?} is not a country code (ISO 3166-1 alpha-2 in upper case, or XK)")
    })
}

fn parse_day(text: &str) -> Result<Day, String> {
    Day::parse(text).ok_or_else(|| format!("{text:?} is not a date (YYYY-MM-DD)"))
}

fn parse_location(text: &str) -> Result<Location, String> {
    Location::parse(text).ok_or_else(|| {
        let words: Vec<&str> = Location::ALL.iter().map(|l| l.as_str()).collect();
        format!("unknown location {text:?} (one of {})", words.join(", "))
    })
}

/// A streamed output whose reader went away (`theseus events | head`) is
/// not an error: the reader has what it wanted.
pub fn unless_pipe_closed<T>(result: Result<T, ledger::LedgerError>) -> Result<(), Failure> {
    match result {
        Ok(_) => Ok(()),
        Err(ledger::LedgerError::Output(error))
            if error.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// `theseus VERSION`, as every output names its maker.
pub fn generated_by() -> String {
    format!("theseus {}", env!("CARGO_PKG_VERSION"))
}

pub fn run(spec: &StoreSpec, args: ReportArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let filter = args.filter.filter()?;
    if matches!(args.kind, ReportKindArg::Consultations) && !filter.is_empty() {
        return Err(Failure::Usage(
            "report consultations takes no --country, --from, --to or --location: consultations have none".into(),
        ));
    }
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
        let report = ledger::reports::report_filtered(
            store,
            args.kind.into(),
            args.as_of.unwrap_or(AsOf::Head),
            args.operation.as_deref(),
            &filter,
            &options,
        );
        finished.store(true, Ordering::Relaxed);
        report
    })?;
    out.write_all(projections::render(&report, args.format.into(), &generated_by()).as_bytes())?;
    Ok(())
}
