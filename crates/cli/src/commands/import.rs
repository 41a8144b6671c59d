//! `theseus import csv`: a spreadsheet's rows as one atomic batch.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use domain::Slug;
use ledger::import::CsvOptions;

use crate::exit::Failure;
use crate::input::{print_outcome, run_batch, BatchArgs, Input, Reading};
use crate::store::StoreSpec;
use crate::values::TypeArg;

const EXAMPLES: &str = "Examples:
  theseus import csv arrests-RS.csv --type arrest --operation theseus
  theseus import csv checks.csv --type checks --operation theseus --delimiter ';' --dry-run
  theseus import csv fees.csv --type network --operation dunqett --ids

The first row names the columns: the type's data fields (`theseus record TYPE --help`
lists them), plus optional id, recorded_by, reported_at and expected_version; a nested
field is two columns (max_fee.currency, max_fee.amount). Lists are ;-separated in one
cell, and an empty cell means absent. A UTF-8 BOM and CRLF line ends are accepted.
Errors name the CSV line and the column: `line 7: column country: …`.";

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Import a CSV file: one event type per file, one event per row.
    #[command(after_help = EXAMPLES)]
    Csv(CsvArgs),
}

#[derive(Args, Debug)]
pub struct CsvArgs {
    /// The CSV file; `-` reads standard input.
    #[arg(value_name = "FILE|-")]
    file: Option<PathBuf>,
    /// The event type of every row.
    #[arg(long = "type", value_name = "TYPE", value_enum)]
    event_type: TypeArg,
    /// The operation every row belongs to.
    #[arg(long, value_name = "SLUG", value_parser = parse_slug)]
    operation: Slug,
    /// The field separator: one ASCII character (`;` for what many
    /// European spreadsheets export).
    #[arg(long, value_name = "CHAR", default_value = ",", value_parser = parse_delimiter)]
    delimiter: u8,
    #[command(flatten)]
    batch: BatchArgs,
}

pub(crate) fn parse_slug(text: &str) -> Result<Slug, String> {
    Slug::parse(text)
}

fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text.as_bytes() {
        [byte] if byte.is_ascii() && !matches!(byte, b'"' | b'\n' | b'\r') => Ok(*byte),
        _ if text == "\\t" || text == "tab" => Ok(b'\t'),
        _ => Err(format!(
            "{text:?} is not one ASCII character (such as , or ;) other than a quote or a line end"
        )),
    }
}

pub fn run(spec: &StoreSpec, command: ImportCommand, out: &mut dyn Write) -> Result<(), Failure> {
    let ImportCommand::Csv(args) = command;
    let input = Input::open(args.file.as_deref(), "cat rows.csv | theseus import csv -")?;
    let opened = spec.open()?;
    let options = CsvOptions {
        event_type: args.event_type.0,
        operation: args.operation,
        delimiter: args.delimiter,
    };
    let outcome = run_batch(opened.store(), input, Reading::Csv(options), &args.batch)?;
    print_outcome(&outcome, args.batch.ids, out)
}
