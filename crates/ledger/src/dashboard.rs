//! The dashboard page of a log prefix: the four reports it shows, built
//! at one head so that every figure on the page comes from the same prefix.

use event_store::{EventStore, Head};
use projections::dashboard::{page, Reports};
use projections::{ReplayOptions, ReportKind};

use crate::{report_with, AsOf, LedgerError};

/// The dashboard as of `as_of` (optionally one operation's), as HTML, and
/// the head it was built from.
pub fn dashboard(
    store: &dyn EventStore,
    as_of: AsOf,
    operation: Option<&str>,
    options: &ReplayOptions<'_>,
    generated_by: &str,
) -> Result<(Head, String), LedgerError> {
    let head = as_of.resolve(store)?;
    let at = AsOf::Position(head.position);
    let build = |kind| report_with(store, kind, at, operation, options);
    let summary = build(ReportKind::Summary)?;
    let timeline = build(ReportKind::Timeline)?;
    let countries = build(ReportKind::Countries)?;
    let seizures = build(ReportKind::Seizures)?;
    let reports = Reports {
        summary: &summary,
        timeline: &timeline,
        countries: &countries,
        seizures: &seizures,
    };
    Ok((head, page(&reports, generated_by)))
}
