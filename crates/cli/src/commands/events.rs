//! `theseus events`: the events themselves, one row each, streamed.

use std::io::Write;

use clap::Args;
use ledger::events::{EventQuery, Reveal, Status};
use ledger::AsOf;

use crate::commands::report::{generated_by, unless_pipe_closed, FilterArgs};
use crate::exit::Failure;
use crate::store::StoreSpec;
use crate::user;
use crate::values::{FormatArg, TypeArg};

const EXAMPLES: &str = "Examples:
  theseus events --operation theseus --type arrest --country RS
  theseus events --retracted --format json
  theseus events --operation dunqett --from 2020-01-21 --to 2020-01-21 --format csv > day.csv

Suspects' and victims' references are printed only with --reveal, which needs
--purpose: the consultation (who, when, purpose, the query and the events shown,
never the references) is appended to the log and made durable before anything
is printed; `theseus report consultations` lists them. A reference whose subject
was erased shows as (erased).
  theseus events --operation theseus --type arrest --reveal --purpose \"case 2020/41\"";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct EventsArgs {
    /// Only this operation.
    #[arg(long, value_name = "SLUG")]
    operation: Option<String>,
    /// Only events of this type (a short or full name: arrest or
    /// ArrestMade); repeatable.
    #[arg(long = "type", value_name = "TYPE", value_enum)]
    types: Vec<TypeArg>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Only events recorded by this unit.
    #[arg(long, value_name = "ID")]
    recorded_by: Option<String>,
    /// Only events a later retraction took back.
    #[arg(long, conflicts_with = "active")]
    retracted: bool,
    /// Only events no retraction took back: what the reports count.
    #[arg(long)]
    active: bool,
    /// Read only up to this position, or this RFC 3339 recorded_at time.
    #[arg(long, value_name = "POSITION|TIME", value_parser = AsOf::parse)]
    as_of: Option<AsOf>,
    /// How to print it.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Show the suspects' and victims' references (needs --purpose; the
    /// consultation is recorded in the log before anything is printed).
    #[arg(long, requires = "purpose")]
    reveal: bool,
    /// Why the references are consulted (kept in the consultation record).
    #[arg(long, value_name = "TEXT", requires = "reveal")]
    purpose: Option<String>,
}

pub fn run(spec: &StoreSpec, args: EventsArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let query = EventQuery {
        as_of: args.as_of.unwrap_or_default(),
        operation: args.operation,
        types: args.types.into_iter().map(|t| t.0).collect(),
        filter: args.filter.filter()?,
        recorded_by: args.recorded_by,
        status: match (args.active, args.retracted) {
            (true, _) => Status::Active,
            (_, true) => Status::Retracted,
            _ => Status::All,
        },
    };
    if args.purpose.as_deref().is_some_and(|p| p.trim().is_empty()) {
        return Err(Failure::Usage(
            "--purpose: must say why the references are consulted".into(),
        ));
    }
    let opened = spec.open()?;
    if let (true, Some(purpose)) = (args.reveal, args.purpose.as_deref()) {
        return unless_pipe_closed(ledger::events::events_revealed(
            opened.store(),
            &query,
            args.format.into(),
            out,
            &generated_by(),
            Reveal {
                purpose,
                recorded_by: &user::account_name()?,
            },
        ));
    }
    unless_pipe_closed(ledger::events::events(
        opened.store(),
        &query,
        args.format.into(),
        out,
        &generated_by(),
    ))
}
