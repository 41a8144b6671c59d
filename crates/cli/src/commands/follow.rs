//! `theseus follow`: each newly committed event as a JSON line, as it
//! arrives, until interrupted.
//!
//! It polls the store's head (every [`POLL`]) and scans what is new: this
//! works for every backend and for appends by any process, and readers never
//! take the writers' lock. Only whole committed batches are ever seen.
//! Pseudonyms are left out (`domain::Event::public_data_json`).

use std::io::Write;
use std::time::Duration;

use clap::Args;
use event_store::{EnvelopeRef, Range, StoreError};

use crate::exit::Failure;
use crate::store::StoreSpec;

/// How often the head is read.
pub const POLL: Duration = Duration::from_millis(200);

const EXAMPLES: &str = "Examples:
  theseus follow
  theseus follow --operation theseus --after 0         # everything so far, then what comes
  theseus follow --after 737 | jq -c 'select(.type == \"ArrestMade\") | .data.country'

Each line: {\"position\",\"id\",\"operation\",\"version\",\"type\",\"recorded_at\",\"recorded_by\",
\"reported_at\"?,\"data\",\"hash\"}; data leaves out suspects and victims. Stop it with Ctrl-C.";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct FollowArgs {
    /// Only this operation's events.
    #[arg(long, value_name = "SLUG")]
    operation: Option<String>,
    /// First print the events after this position (0: all of them), then
    /// follow; without it, only events committed from now on are printed.
    #[arg(long, value_name = "POSITION")]
    after: Option<u64>,
}

pub fn run(spec: &StoreSpec, args: FollowArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let opened = spec.open()?;
    let store = opened.store();
    let head = store.head()?;
    let mut printed = match args.after {
        Some(after) if after > head.position => {
            return Err(Failure::Refused(format!(
                "--after {after} is beyond the log's head (position {})",
                head.position
            )))
        }
        Some(after) => after,
        None => head.position,
    };
    loop {
        let head = store.head()?;
        if head.position > printed {
            let mut failure = None;
            let scanned = store.scan(Range::new(printed + 1, head.position), &mut |record| {
                if args
                    .operation
                    .as_deref()
                    .is_none_or(|op| op == record.operation)
                {
                    if let Err(error) = print(record, out) {
                        failure = Some(error);
                        return Err(StoreError::Visitor("stopped".into()));
                    }
                }
                Ok(())
            });
            if let Some(failure) = failure {
                return Err(failure);
            }
            scanned?;
            out.flush()?;
            printed = head.position;
        }
        std::thread::sleep(POLL);
    }
}

/// One record as a line of JSON, its data without pseudonyms
/// (`ledger::feed`); the agency registry's records have none.
fn print(record: &EnvelopeRef<'_>, out: &mut dyn Write) -> Result<(), Failure> {
    if let Some(line) = ledger::feed::event_line(record)? {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
