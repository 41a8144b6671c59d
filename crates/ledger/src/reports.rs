//! Reports as of the head, a position or a time, optionally filtered.

use chrono::{DateTime, Utc};
use event_store::{EventStore, Head};
use std::sync::atomic::AtomicU64;

use projections::{
    build_filtered_report, build_report, replay::ReplayOptions, Filter, Report, ReportKind,
};

use crate::LedgerError;

/// Which prefix of the log a report is built from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AsOf {
    /// Everything committed.
    #[default]
    Head,
    /// The records up to and including this position.
    Position(u64),
    /// The records recorded at or before this instant.
    Time(DateTime<Utc>),
}

impl AsOf {
    /// Parses `--as-of`: a position, or an RFC 3339 timestamp.
    pub fn parse(text: &str) -> Result<AsOf, String> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(AsOf::Position)
                .map_err(|_| format!("position {text} is too large"));
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| AsOf::Time(t.with_timezone(&Utc)))
            .map_err(|_| {
                format!("{text:?} is neither a position nor an RFC 3339 timestamp such as 2019-12-12T00:00:00Z")
            })
    }

    /// The head of the prefix this names.
    pub fn resolve(&self, store: &dyn EventStore) -> Result<Head, LedgerError> {
        let head = store.head()?;
        match *self {
            AsOf::Head => Ok(head),
            AsOf::Position(0) => Ok(Head::EMPTY),
            AsOf::Position(position) if position > head.position => {
                Err(projections::ProjectionError::BeyondHead {
                    requested: position,
                    head: head.position,
                }
                .into())
            }
            AsOf::Position(position) => match store.get_at(position)? {
                Some(record) => Ok(Head {
                    position,
                    hash: record.hash,
                }),
                None => Err(projections::ProjectionError::BeyondHead {
                    requested: position,
                    head: head.position,
                }
                .into()),
            },
            AsOf::Time(instant) => Ok(store.head_at(instant)?),
        }
    }
}

/// Builds a report. `threads` bounds the parallel replay of a long tail.
pub fn report(
    store: &dyn EventStore,
    kind: ReportKind,
    as_of: AsOf,
    operation: Option<&str>,
    threads: u64,
) -> Result<Report, LedgerError> {
    report_counted(store, kind, as_of, operation, threads, None)
}

/// [`report`], counting the records replayed into `progress` as it goes.
pub fn report_counted(
    store: &dyn EventStore,
    kind: ReportKind,
    as_of: AsOf,
    operation: Option<&str>,
    threads: u64,
    progress: Option<&AtomicU64>,
) -> Result<Report, LedgerError> {
    let options = ReplayOptions {
        progress,
        ..ReplayOptions::parts(threads)
    };
    report_with(store, kind, as_of, operation, &options)
}

/// Builds a report with replay options (threads, whether to start from a
/// checkpoint, a progress counter).
pub fn report_with(
    store: &dyn EventStore,
    kind: ReportKind,
    as_of: AsOf,
    operation: Option<&str>,
    options: &ReplayOptions<'_>,
) -> Result<Report, LedgerError> {
    report_filtered(store, kind, as_of, operation, &Filter::default(), options)
}

/// [`report_with`] counting only what `filter` keeps. A filtered report
/// replays and chain-checks the whole prefix: checkpoints hold unfiltered
/// figures.
pub fn report_filtered(
    store: &dyn EventStore,
    kind: ReportKind,
    as_of: AsOf,
    operation: Option<&str>,
    filter: &Filter,
    options: &ReplayOptions<'_>,
) -> Result<Report, LedgerError> {
    let head = as_of.resolve(store)?;
    let report = build_filtered_report(store, kind, head, operation, filter, options)?;
    if let Some(operation) = operation {
        if report.rows.is_empty() {
            // An operation with no rows in a detailed (or filtered) report
            // may simply have nothing of that kind: ask the unfiltered
            // summary whether it exists.
            require_operation(store, head, operation)?;
        }
    }
    Ok(report)
}

/// Refuses an operation the log does not hold as of `head`.
pub fn require_operation(
    store: &dyn EventStore,
    head: Head,
    operation: &str,
) -> Result<(), LedgerError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let summary = build_report(store, ReportKind::Summary, head, Some(operation), threads)?;
    if summary.rows.is_empty() {
        return Err(LedgerError::UnknownOperation {
            operation: operation.to_owned(),
            position: head.position,
        });
    }
    Ok(())
}
