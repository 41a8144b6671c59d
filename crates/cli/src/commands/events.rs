//! `theseus events`: the events themselves, one row each, streamed.

use std::io::Write;

use clap::Args;
use domain::EventType;
use ledger::events::{EventQuery, Status};
use ledger::AsOf;
use projections::Format;

use crate::commands::report::{generated_by, parse_format, unless_pipe_closed, FilterArgs};
use crate::exit::Failure;
use crate::store::StoreSpec;

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Only this operation.
    #[arg(long)]
    operation: Option<String>,
    /// Only events of this type (ArrestMade, EventRetracted…); repeatable.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_type)]
    types: Vec<EventType>,
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
    #[arg(long, value_parser = AsOf::parse)]
    as_of: Option<AsOf>,
    /// table, json, jsonl, csv, markdown or html.
    #[arg(long, default_value = "table", value_parser = parse_format)]
    format: Format,
}

fn parse_type(text: &str) -> Result<EventType, String> {
    EventType::parse(text).ok_or_else(|| {
        format!("unknown event type {text:?} (a type of the catalogue, such as ArrestMade)")
    })
}

pub fn run(spec: &StoreSpec, args: EventsArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let query = EventQuery {
        as_of: args.as_of.unwrap_or_default(),
        operation: args.operation,
        types: args.types.into_iter().collect(),
        filter: args.filter.filter()?,
        recorded_by: args.recorded_by,
        status: match (args.active, args.retracted) {
            (true, _) => Status::Active,
            (_, true) => Status::Retracted,
            _ => Status::All,
        },
    };
    let opened = spec.open()?;
    unless_pipe_closed(ledger::events::events(
        opened.store(),
        &query,
        args.format,
        out,
        &generated_by(),
    ))
}
