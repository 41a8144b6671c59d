//! `theseus record TYPE`: one event from flags, for people at a terminal.
//!
//! The flags are made from the catalogue (`domain::catalogue`): each data
//! field becomes `--field-name` (kebab case; a nested field's parts become
//! `--max-fee-currency` and `--max-fee-amount`), required fields are
//! required flags, vocabularies list their words, lists take the flag
//! again or comma-separated values. The event then goes through the same
//! append as any batch.

use std::io::Write;

use chrono::{SecondsFormat, Utc};
use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches, Subcommand};
use domain::catalogue::{FieldKind, FieldSpec};
use domain::{EventType, Slug};
use ledger::import::{line_from_cells, Single};
use ledger::{LedgerError, Naming};

use crate::exit::Failure;
use crate::input::BatchArgs;
use crate::store::StoreSpec;
use crate::values::{short_name, SHORT_NAMES};

const EXAMPLES: &str = "Examples:
  theseus record arrest --operation theseus --country RS --location border_crossing \\
      --suspect RS-2019-0042 --occurred-at 2019-12-12T10:00:00+01:00
  theseus record checks --operation theseus --country AL --kind vehicle --count 1200
  theseus record retract --operation theseus --event-id 0196… --reason \"duplicate report\"

Event types (short name: full name):
  launch: OperationLaunched     join: CountryJoined          agents: AgentsDeployed
  experts: ExpertsDeployed      arrest: ArrestMade           rescue: VictimRescued
  migrants: MigrantsDetected    checks: ChecksPerformed      seizure: ItemsSeized
  drugs: DrugsSeized            cash: CashSeized             network: NetworkProfiled
  close: OperationClosed        retract: EventRetracted
`theseus record TYPE --help` lists a type's flags. --occurred-at defaults to now.";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES, subcommand_value_name = "TYPE")]
pub struct RecordArgs {
    #[command(subcommand)]
    event: RecordEvent,
}

/// The chosen type and its flags' values, as `(column, text)` pairs named as
/// a CSV import names its columns.
#[derive(Debug)]
pub struct RecordEvent {
    event_type: EventType,
    operation: Slug,
    cells: Vec<(String, String)>,
    dry_run: bool,
    batch: BatchArgs,
}

/// The flag of a data field (or of one part of a nested one).
fn flag(column: &str) -> String {
    column.replace(['.', '_'], "-")
}

/// The `(column, kind, about)` of each flag a type's data fields make.
fn columns(fields: &'static [FieldSpec]) -> Vec<(String, FieldKind, bool, String)> {
    let mut columns = Vec::new();
    for field in fields {
        if field.kind == FieldKind::Money {
            for (part, kind) in [
                ("currency", FieldKind::Currency),
                ("amount", FieldKind::Amount),
            ] {
                columns.push((
                    format!("{}.{part}", field.name),
                    kind,
                    field.required,
                    format!("{}: its {part}", field.about),
                ));
            }
        } else {
            columns.push((
                field.name.to_owned(),
                field.kind,
                field.required,
                field.about.to_owned(),
            ));
        }
    }
    columns
}

fn type_command(event_type: EventType) -> Command {
    let mut command = Command::new(short_name(event_type))
        .alias(event_type.as_str())
        .arg(
            Arg::new("operation")
                .long("operation")
                .value_name("SLUG")
                .required(true)
                .value_parser(super::import::parse_slug)
                .help("The operation the event belongs to"),
        );
    for (column, kind, required, about) in columns(event_type.fields()) {
        let defaulted = column == "occurred_at";
        let mut arg = Arg::new(column.clone())
            .long(flag(&column))
            .value_name(kind.value_name())
            .required(required && !defaulted)
            .help(capitalised(&if defaulted {
                format!("{about} [default: now]")
            } else {
                about
            }));
        if kind.is_list() {
            arg = arg.action(ArgAction::Append).value_delimiter(',');
        }
        if let Some(words) = kind.words() {
            arg = arg.value_parser(PossibleValuesParser::new(words));
        } else if kind == FieldKind::Bool {
            arg = arg.value_parser(PossibleValuesParser::new(["true", "false"]));
        }
        command = command.arg(arg);
    }
    for (name, value, about) in [
        ("id", "UUID", "The event's id (default: a new UUIDv7)"),
        (
            "reported_at",
            "TIME",
            "The reporting unit's own time of recording (never used for order)",
        ),
        (
            "expected_version",
            "N",
            "Refuse (exit 3) unless the operation has this many events",
        ),
    ] {
        command = command.arg(
            Arg::new(name)
                .long(flag(name))
                .value_name(value)
                .help(about),
        );
    }
    let command =
        BatchArgs::augment_args(command).about(format!("{}: {}", event_type, event_type.about()));
    // A single event has no batch to list ids for, nor lines to require them of.
    command
        .mut_arg("ids", |arg| arg.hide(true))
        .mut_arg("require_ids", |arg| arg.hide(true))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

impl Subcommand for RecordEvent {
    fn augment_subcommands(command: Command) -> Command {
        SHORT_NAMES
            .iter()
            .fold(command, |command, (_, event_type)| {
                command.subcommand(type_command(*event_type))
            })
            .subcommand_required(true)
    }

    fn augment_subcommands_for_update(command: Command) -> Command {
        RecordEvent::augment_subcommands(command)
    }

    fn has_subcommand(name: &str) -> bool {
        SHORT_NAMES
            .iter()
            .any(|(short, t)| *short == name || t.as_str() == name)
    }
}

impl FromArgMatches for RecordEvent {
    fn from_arg_matches(matches: &ArgMatches) -> Result<RecordEvent, clap::Error> {
        let Some((name, matches)) = matches.subcommand() else {
            return Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand));
        };
        let Some(event_type) = SHORT_NAMES
            .iter()
            .find(|(short, t)| *short == name || t.as_str() == name)
            .map(|(_, t)| *t)
        else {
            return Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand));
        };
        let operation = matches
            .get_one::<Slug>("operation")
            .cloned()
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::MissingRequiredArgument))?;
        let mut cells = Vec::new();
        for (column, _, _, _) in columns(event_type.fields()) {
            if let Some(values) = matches.get_many::<String>(&column) {
                let values: Vec<&str> = values.map(String::as_str).collect();
                cells.push((column, values.join(";")));
            } else if column == "occurred_at" {
                let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
                cells.push((column, now));
            }
        }
        for name in ["id", "reported_at", "expected_version"] {
            if let Some(value) = matches.get_one::<String>(name) {
                cells.push((name.to_owned(), value.clone()));
            }
        }
        let batch = BatchArgs::from_arg_matches(matches)?;
        Ok(RecordEvent {
            event_type,
            operation,
            cells,
            dry_run: batch.dry_run,
            batch,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = RecordEvent::from_arg_matches(matches)?;
        Ok(())
    }
}

pub fn run(spec: &StoreSpec, args: RecordArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let event = args.event;
    let opened = spec.open()?;
    let cells: Vec<(&str, &str)> = event
        .cells
        .iter()
        .map(|(column, value)| (column.as_str(), value.as_str()))
        .collect();
    let line = line_from_cells(event.event_type, &event.operation, &cells, 1);
    let outcome = ledger::append_batch(
        opened.store(),
        Single::new(line, Naming::Flags),
        &event.batch.append_options()?,
        &ledger::BatchOptions {
            dry_run: event.dry_run,
            require_ids: false,
            report_ids: true,
        },
    )
    .map_err(without_line)?;
    if let Some(report) = &outcome.dry_run {
        if let Some(error) = report.errors.first() {
            let field = error
                .field
                .as_deref()
                .map(|f| format!("{f}: "))
                .unwrap_or_default();
            let code = if report.only_conflicts() {
                crate::exit::CONFLICT
            } else {
                crate::exit::REFUSED
            };
            return Err(Failure::Reported {
                code,
                message: format!("{field}{}", error.message),
            });
        }
    }
    let Some(id) = outcome.ids.first() else {
        return Err(Failure::Refused("nothing was recorded".into()));
    };
    let verb = match (event.dry_run, id.duplicate) {
        (true, false) => "would record",
        (true, true) | (false, true) => "already recorded",
        (false, false) => "recorded",
    };
    writeln!(
        out,
        "{verb} {} as position {} (id {})",
        event.event_type, id.position, id.id
    )?;
    Ok(())
}

/// One event has no lines: its errors name only the flag.
fn without_line(error: LedgerError) -> Failure {
    match error {
        LedgerError::Refused { field, message, .. } => {
            Failure::Refused(format!("{field}: {message}"))
        }
        LedgerError::Conflict { field, message, .. } => Failure::Reported {
            code: crate::exit::CONFLICT,
            message: format!("{field}: {message}"),
        },
        other => Failure::Ledger(other),
    }
}
