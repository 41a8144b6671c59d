//! `theseus schema`: the JSON Schema of one input line.

use std::io::Write;

use crate::exit::Failure;

pub const EXAMPLES: &str = "Examples:
  theseus schema > input-line.schema.json
  theseus schema | jq '.\"$defs\".ArrestMade'

JSON Schema draft 2020-12, generated from the event catalogue; the copy in
events/schema/input-line.schema.json is kept current by a test. A line that
validates may still be refused by the rules, which look at the log.";

pub fn run(out: &mut dyn Write) -> Result<(), Failure> {
    let schema = ledger::input::schema();
    let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    writeln!(out, "{text}")?;
    Ok(())
}
