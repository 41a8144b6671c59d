//! `theseus trace`: the events behind one figure of the summary, each with
//! its contribution, and apart from them the retracted ones with the
//! retraction that took each back and why. The total is the sum of the
//! contributions that stand, and equals the summary's figure for the same
//! prefix and filters (a property test says so).
//!
//! Two passes over a chain-checked read: the first sums the figure and
//! notes the retractions (memory grows with them, not with the log); the
//! second writes the contributing events as it reads them.

use std::collections::BTreeMap;
use std::io::Write;

use domain::{Country, Day, EventView};
use event_store::{EventStore, Head};
use projections::figure::Figure;
use projections::filter::dimensions;
use projections::html::{self, Card, Chart, ChartKind, Provenance};
use projections::json::{self, Json};
use projections::stream::{Columns, Stream};
use projections::{Cell, Filter, Format};

use crate::events::{people, Shown};
use crate::scan::{self, checked_from_start, Retractions};
use crate::{AsOf, LedgerError};

/// What `theseus trace` explains.
#[derive(Clone, Debug)]
pub struct TraceQuery {
    pub as_of: AsOf,
    pub operation: String,
    pub figure: Figure,
    pub filter: Filter,
}

/// The figure as the trace found it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traced {
    pub total: i128,
    /// Contributing events that stand.
    pub rows: u64,
    /// Contributing events that were retracted.
    pub retracted: u64,
}

/// The columns machines get.
pub const COLUMNS: [&str; 14] = [
    "position",
    "id",
    "type",
    "occurred_at",
    "country",
    "location",
    "contribution",
    "counted",
    "retracted_by",
    "retraction_reason",
    "recorded_by",
    "recorded_at",
    "reported_at",
    "data",
];

const PEOPLE: [(&str, usize, bool); 8] = [
    ("position", 8, true),
    ("type", 17, false),
    ("occurred_at", 25, false),
    ("country", 7, false),
    ("location", 22, false),
    ("contribution", 12, true),
    ("retracted", 40, false),
    ("recorded_by", 28, false),
];

/// What a record adds to the traced figure (before any retraction), if
/// it counts under the filter at all. A retraction adds 1 to `retracted`
/// and a record 1 to `events`; the outcome figures come from
/// [`Figure::of`]. `retraction_target` is the view of the record a
/// retraction names.
fn contribution(
    figure: Figure,
    filter: &Filter,
    view: &EventView<'_>,
    retraction_target: Option<&EventView<'_>>,
) -> Option<i128> {
    let kept = match retraction_target {
        Some(target) => filter.keeps(target),
        None => filter.keeps(view),
    };
    if !kept {
        return None;
    }
    match figure {
        Figure::Events => Some(1),
        Figure::Retracted => retraction_target.map(|_| 1),
        wanted => match Figure::of(view) {
            Some((found, amount)) if found == wanted => Some(amount),
            _ => None,
        },
    }
}

/// Writes the trace of `query` in `format`.
pub fn trace(
    store: &dyn EventStore,
    query: &TraceQuery,
    format: Format,
    out: &mut dyn Write,
    generated_by: &str,
) -> Result<Traced, LedgerError> {
    let head = query.as_of.resolve(store)?;
    let operation = query.operation.as_str();
    crate::reports::require_operation(store, head, operation)?;
    let figure = query.figure;

    // Pass 1: the total, the retracted contributions, the charts' sums.
    let mut traced = Traced::default();
    let mut retracted = Retractions::default();
    let mut per_day: BTreeMap<Day, i128> = BTreeMap::new();
    let mut per_country: BTreeMap<Country, i128> = BTreeMap::new();
    let mut add = |view: &EventView<'_>, amount: i128| {
        if let Some(d) = dimensions(view) {
            if let Some(day) = d.day {
                *per_day.entry(day).or_default() += amount;
            }
            *per_country.entry(d.country).or_default() += amount;
        }
    };
    scan::scan_checked(store, Head::EMPTY, head, &mut |record| {
        if record.operation != operation {
            return Ok(());
        }
        let (_, view) = scan::view(record)?;
        if let EventView::EventRetracted { event_id } = view {
            let target = scan::target(store, record, event_id)?;
            let target_view = target.view()?;
            if let Some(amount) = contribution(figure, &query.filter, &view, Some(&target_view)) {
                // The retraction itself counts (`events`, `retracted`).
                traced.total += amount;
                traced.rows += 1;
            }
            if figure.is_outcome() {
                if let Some(amount) = contribution(figure, &query.filter, &target_view, None) {
                    traced.total -= amount;
                    traced.rows -= 1;
                    traced.retracted += 1;
                    add(&target_view, -amount);
                    retracted.insert(target.position, record.position);
                }
            }
        } else if let Some(amount) = contribution(figure, &query.filter, &view, None) {
            traced.total += amount;
            traced.rows += 1;
            add(&view, amount);
        }
        Ok(())
    })?;

    let total_cell = figure.cell(traced.total);
    let mut stream = Stream::start(
        out,
        format,
        &format!("theseus: trace of {figure} ({operation})"),
        &format!(
            "As of log position {}{}",
            head.position,
            projections::render::filter_words(Some(operation), &query.filter)
                .map(|w| format!(" · filtered: {w}"))
                .unwrap_or_default()
        ),
        vec![
            ("report", Json::str("trace")),
            ("figure", Json::str(figure.to_string())),
            ("total", projections::render::cell_json(&total_cell)),
        ],
    )
    .map_err(LedgerError::Output)?;
    stream
        .cards(
            Some(operation),
            &[
                Card {
                    figure: figure.to_string(),
                    label: format!("{figure} (total)"),
                    value: figure.exact(traced.total),
                    shown: projections::render::human(&total_cell),
                },
                Card::count("contributing_events", i128::from(traced.rows)),
                Card::count("retracted_events", i128::from(traced.retracted)),
            ],
        )
        .map_err(LedgerError::Output)?;
    if format == Format::Html {
        let mut charts = String::from("<div class=\"charts\">\n");
        if !per_day.is_empty() {
            charts.push_str(&html::chart(&Chart {
                kind: ChartKind::Timeline,
                operation: operation.to_owned(),
                figure: figure.to_string(),
                caption: format!("{figure} per day (UTC)"),
                bars: per_day.iter().map(|(d, n)| (d.to_string(), *n)).collect(),
            }));
        }
        if !per_country.is_empty() {
            charts.push_str(&html::chart(&Chart {
                kind: ChartKind::Bars,
                operation: operation.to_owned(),
                figure: figure.to_string(),
                caption: format!("{figure} per country"),
                bars: per_country
                    .iter()
                    .map(|(c, n)| (c.code().to_owned(), *n))
                    .collect(),
            }));
        }
        charts.push_str("</div>\n");
        stream.html(&charts).map_err(LedgerError::Output)?;
    }
    let columns = if people(format) {
        Columns::people(&PEOPLE)
    } else {
        Columns::plain(&COLUMNS)
    };
    let cells = |shown: &Shown, amount: i128, retraction: Option<(u64, String)>| -> Vec<Cell> {
        let counted = retraction.is_none();
        if people(format) {
            vec![
                Cell::Int(i128::from(shown.position)),
                Cell::text(shown.event_type.as_str()),
                Cell::optional_text(shown.occurred_at.clone()),
                Cell::optional_text(shown.country.clone()),
                Cell::optional_text(shown.location.clone()),
                figure.cell(amount),
                Cell::text(
                    retraction
                        .map(|(p, reason)| format!("by {p}: {reason}"))
                        .unwrap_or_default(),
                ),
                Cell::text(shown.recorded_by.as_str()),
            ]
        } else {
            let (by, reason) = match retraction {
                Some((p, reason)) => (Cell::Int(i128::from(p)), Cell::text(reason)),
                None => (Cell::Null, Cell::Null),
            };
            vec![
                Cell::Int(i128::from(shown.position)),
                Cell::text(shown.id.as_str()),
                Cell::text(shown.event_type.as_str()),
                Cell::optional_text(shown.occurred_at.clone()),
                Cell::optional_text(shown.country.clone()),
                Cell::optional_text(shown.location.clone()),
                figure.cell(amount),
                Cell::Bool(counted),
                by,
                reason,
                Cell::text(shown.recorded_by.as_str()),
                Cell::text(shown.recorded_at.as_str()),
                Cell::optional_text(shown.reported_at.clone()),
                Cell::Json(shown.data.clone()),
            ]
        }
    };

    // Pass 2: the events that stand, as they are read.
    stream.noun("event", "events");
    stream
        .begin("rows", "Contributing events", &columns)
        .map_err(LedgerError::Output)?;
    scan::scan_checked(store, Head::EMPTY, head, &mut |record| {
        if record.operation != operation || retracted.of(record.position).is_some() {
            return Ok(());
        }
        let (_, view) = scan::view(record)?;
        let target = match &view {
            EventView::EventRetracted { event_id } => Some(scan::target(store, record, *event_id)?),
            _ => None,
        };
        let target_view = target.as_ref().map(|t| t.view()).transpose()?;
        if let Some(amount) = contribution(figure, &query.filter, &view, target_view.as_ref()) {
            let shown = Shown::of(record, &view)?;
            stream
                .row(&cells(&shown, amount, None))
                .map_err(LedgerError::Output)?;
        }
        Ok(())
    })?;
    stream.end().map_err(LedgerError::Output)?;

    // The retracted ones, from the positions noted in pass 1.
    stream
        .begin("retracted", "Retracted events", &columns)
        .map_err(LedgerError::Output)?;
    for (target, retraction) in retracted.iter() {
        let record = store
            .get_at(target)?
            .ok_or_else(|| scan::unreadable(target, "the retracted record is missing"))?;
        let event_type = domain::EventType::parse(&record.event_type)
            .ok_or_else(|| scan::unreadable(target, "unknown event type"))?;
        let view = EventView::decode(event_type, &record.data)
            .map_err(|reason| scan::unreadable(target, format!("data: {reason}")))?;
        let amount = Figure::of(&view).map_or(0, |(_, n)| n);
        let shown = Shown::of_envelope(&record, &view)?;
        let reason = scan::reason(store, retraction)?;
        stream
            .row(&cells(&shown, amount, Some((retraction, reason))))
            .map_err(LedgerError::Output)?;
    }
    stream.end().map_err(LedgerError::Output)?;
    stream
        .finish(
            vec![
                (
                    "as_of",
                    json::as_of_verified(&head, &checked_from_start(head)),
                ),
                ("filters", json::filters(Some(operation), &query.filter)),
                ("generated_by", Json::str(generated_by)),
            ],
            &Provenance {
                what: &format!("trace of {figure}"),
                as_of: head,
                extra: vec![(
                    "records".into(),
                    format!("1..{} chain-checked", head.position),
                )],
                operation: Some(operation),
                filter: &query.filter,
                generated_by,
            },
        )
        .map_err(LedgerError::Output)?;
    Ok(traced)
}
