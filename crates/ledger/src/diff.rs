//! `theseus diff`: every summary figure that differs between two prefixes
//! of the log, before and after, and the records in between that changed
//! them (retractions included): how a coordinator explains why the
//! preliminary 239 arrests became the published 236.
//!
//! The two summaries are built by replay; the records in between are read
//! once, chain-checked from the first prefix's head, and written as they
//! are read.

use std::collections::BTreeSet;
use std::io::Write;

use domain::{Currency, EventView};
use event_store::EventStore;
use projections::figure::Figure;
use projections::html::{Card, Provenance};
use projections::json::{self, Json};
use projections::replay;
use projections::stream::{Columns, Stream};
use projections::summary::{OperationFigures, Summary};
use projections::{Cell, Filter, Format};

use crate::events::{people, Shown};
use crate::scan;
use crate::{AsOf, LedgerError};

/// What `theseus diff` compares.
#[derive(Clone, Debug, Default)]
pub struct DiffQuery {
    pub from: AsOf,
    pub to: AsOf,
    pub operation: Option<String>,
}

/// One figure that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub operation: String,
    /// A [`Figure`] name, or `status` or `countries`.
    pub figure: String,
    /// Exact decimal strings (text for `status` and `countries`).
    pub before: String,
    pub after: String,
    /// `after - before` as an exact decimal string; none for text.
    pub change: Option<String>,
}

/// The figures that differ between two summaries, per operation in name
/// order, figures in the summary's order.
pub fn changes(before: &Summary, after: &Summary, operation: Option<&str>) -> Vec<Change> {
    let empty = OperationFigures::default();
    let names: BTreeSet<&String> = before
        .operations
        .keys()
        .chain(after.operations.keys())
        .filter(|name| operation.is_none_or(|wanted| wanted == name.as_str()))
        .collect();
    let mut out = Vec::new();
    for name in names {
        let a = before.operations.get(name).unwrap_or(&empty);
        let b = after.operations.get(name).unwrap_or(&empty);
        let status = |f: &OperationFigures| {
            if f.closed {
                "closed"
            } else {
                "active"
            }
        };
        if status(a) != status(b) {
            out.push(Change {
                operation: name.clone(),
                figure: "status".into(),
                before: status(a).into(),
                after: status(b).into(),
                change: None,
            });
        }
        if a.countries != b.countries {
            let list = |f: &OperationFigures| {
                f.countries
                    .iter()
                    .map(|c| c.code())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            out.push(Change {
                operation: name.clone(),
                figure: "countries".into(),
                before: list(a),
                after: list(b),
                change: None,
            });
        }
        let currencies: BTreeSet<Currency> = a
            .tally
            .cash
            .keys()
            .chain(b.tally.cash.keys())
            .copied()
            .collect();
        let mut figures = Figure::fixed();
        let at = figures
            .iter()
            .position(|f| *f == Figure::Events)
            .unwrap_or(figures.len());
        figures.splice(at..at, currencies.into_iter().map(Figure::Cash));
        for figure in figures {
            let (x, y) = (figure.value(a), figure.value(b));
            if x != y {
                out.push(Change {
                    operation: name.clone(),
                    figure: figure.to_string(),
                    before: figure.exact(x),
                    after: figure.exact(y),
                    change: Some(figure.exact(y - x)),
                });
            }
        }
    }
    out
}

/// What a record in between changed: the figure, by how much (an exact
/// decimal string), and for a retraction the position of its target.
struct Changed {
    figure: Option<String>,
    contribution: Option<String>,
    retracts: Option<u64>,
}

/// The figure a record in between changed, and by how much: an outcome's
/// own figure, a retraction's target's figure taken back, `status` for a
/// close, `countries` for a launch or a join.
fn changed_by(
    store: &dyn EventStore,
    record: &event_store::EnvelopeRef<'_>,
    view: &EventView<'_>,
) -> Result<Changed, LedgerError> {
    let (figure, contribution, retracts) = match view {
        EventView::EventRetracted { event_id } => {
            let target = scan::target(store, record, *event_id)?;
            let target_view = target.view()?;
            match Figure::of(&target_view) {
                Some((figure, n)) => (
                    Some(figure.to_string()),
                    Some(figure.exact(-n)),
                    Some(target.position),
                ),
                None => (None, None, Some(target.position)),
            }
        }
        EventView::OperationClosed => (Some("status".into()), None, None),
        EventView::OperationLaunched { .. } | EventView::CountryJoined { .. } => {
            (Some("countries".into()), None, None)
        }
        other => match Figure::of(other) {
            Some((figure, n)) => (Some(figure.to_string()), Some(figure.exact(n)), None),
            None => (None, None, None),
        },
    };
    Ok(Changed {
        figure,
        contribution,
        retracts,
    })
}

const FIGURE_COLUMNS: [(&str, usize, bool); 5] = [
    ("operation", 12, false),
    ("figure", 28, false),
    ("before", 16, true),
    ("after", 16, true),
    ("change", 12, true),
];

const EVENT_COLUMNS: [&str; 13] = [
    "position",
    "id",
    "operation",
    "type",
    "figure",
    "contribution",
    "retracts",
    "occurred_at",
    "country",
    "location",
    "recorded_by",
    "recorded_at",
    "data",
];

const EVENT_PEOPLE: [(&str, usize, bool); 8] = [
    ("position", 8, true),
    ("operation", 12, false),
    ("type", 17, false),
    ("figure", 28, false),
    ("contribution", 12, true),
    ("retracts", 8, true),
    ("occurred_at", 25, false),
    ("recorded_by", 28, false),
];

/// CSV and JSON Lines have one set of columns: a row is a figure or an
/// event, as its `section` says.
const FLAT_COLUMNS: [&str; 17] = [
    "section",
    "operation",
    "figure",
    "before",
    "after",
    "change",
    "position",
    "id",
    "type",
    "contribution",
    "retracts",
    "occurred_at",
    "country",
    "location",
    "recorded_by",
    "recorded_at",
    "data",
];

/// Writes the diff of `query` in `format`; returns the changed figures.
pub fn diff(
    store: &dyn EventStore,
    query: &DiffQuery,
    format: Format,
    out: &mut dyn Write,
    generated_by: &str,
) -> Result<Vec<Change>, LedgerError> {
    let from = query.from.resolve(store)?;
    let to = query.to.resolve(store)?;
    if from.position > to.position {
        return Err(LedgerError::Request(format!(
            "--from (position {}) is after --to (position {})",
            from.position, to.position
        )));
    }
    let operation = query.operation.as_deref();
    if let Some(operation) = operation {
        crate::reports::require_operation(store, to, operation)?;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let options = replay::ReplayOptions::parts(threads);
    let (before, verified_before) = replay::build_with::<Summary>(store, from, &options)?;
    let (after, verified_after) = replay::build_with::<Summary>(store, to, &options)?;
    let (before, after) = (before.state, after.state);
    // The records in between are checked before anything is written, so
    // that an edit among them prints no figure (the summaries may have come
    // from checkpoints, which do not cover what came after them).
    scan::scan_checked(store, from, to, &mut |_| Ok(()))?;
    let changed = changes(&before, &after, operation);
    let changed_figures: BTreeSet<(&str, &str)> = changed
        .iter()
        .map(|c| (c.operation.as_str(), c.figure.as_str()))
        .collect();
    let flat = matches!(format, Format::Csv | Format::Jsonl);
    let filter = Filter::default();

    let mut stream = Stream::start(
        out,
        format,
        "theseus: what changed",
        &format!(
            "From log position {} to {}{}",
            from.position,
            to.position,
            operation
                .map(|o| format!(" · operation {o}"))
                .unwrap_or_default()
        ),
        vec![
            ("report", Json::str("diff")),
            ("from", json::as_of_verified(&from, &verified_before)),
            ("to", json::as_of_verified(&to, &verified_after)),
            ("filters", json::filters(operation, &filter)),
            ("generated_by", Json::str(generated_by)),
        ],
    )
    .map_err(LedgerError::Output)?;
    let cards: Vec<Card> = changed
        .iter()
        .filter(|c| c.change.is_some())
        .map(|c| Card {
            figure: c.figure.clone(),
            label: format!("{} ({}): {} → {}", c.figure, c.operation, c.before, c.after),
            value: c.change.clone().unwrap_or_default(),
            shown: c.change.clone().unwrap_or_default(),
        })
        .collect();
    stream.cards(None, &cards).map_err(LedgerError::Output)?;
    stream.noun("figure", "figures");
    let figure_columns = if flat {
        Columns::plain(&FLAT_COLUMNS)
    } else if people(format) {
        Columns::people(&FIGURE_COLUMNS)
    } else {
        Columns::plain(&FIGURE_COLUMNS.map(|(n, _, _)| n))
    };
    stream
        .begin("figures", "Figures that changed", &figure_columns)
        .map_err(LedgerError::Output)?;
    for c in &changed {
        let mut cells = vec![
            Cell::text(c.operation.as_str()),
            Cell::text(c.figure.as_str()),
            Cell::text(c.before.as_str()),
            Cell::text(c.after.as_str()),
            Cell::optional_text(c.change.clone()),
        ];
        if flat {
            cells.insert(0, Cell::text("figure"));
            cells.extend(std::iter::repeat_n(Cell::Null, FLAT_COLUMNS.len() - 6));
        }
        stream.row(&cells).map_err(LedgerError::Output)?;
    }
    stream.end().map_err(LedgerError::Output)?;

    let event_columns = if flat {
        Columns::plain(&FLAT_COLUMNS)
    } else if people(format) {
        Columns::people(&EVENT_PEOPLE)
    } else {
        Columns::plain(&EVENT_COLUMNS)
    };
    stream.noun("event", "events");
    stream
        .begin(
            "events",
            "Events in between that changed them",
            &event_columns,
        )
        .map_err(LedgerError::Output)?;
    scan::scan_checked(store, from, to, &mut |record| {
        if operation.is_some_and(|o| o != record.operation) {
            return Ok(());
        }
        let (_, view) = scan::view(record)?;
        let Changed {
            figure,
            contribution,
            retracts,
        } = changed_by(store, record, &view)?;
        let is_retraction = matches!(view, EventView::EventRetracted { .. });
        let relevant = figure
            .as_deref()
            .is_some_and(|f| changed_figures.contains(&(&*record.operation, f)));
        if !relevant && !is_retraction {
            return Ok(());
        }
        let shown = Shown::of(record, &view)?;
        let position = Cell::Int(i128::from(record.position));
        let retracts = retracts.map_or(Cell::Null, |p| Cell::Int(i128::from(p)));
        let cells = if flat {
            vec![
                Cell::text("event"),
                Cell::text(shown.operation.as_str()),
                Cell::optional_text(figure),
                Cell::Null,
                Cell::Null,
                Cell::Null,
                position,
                Cell::text(shown.id.as_str()),
                Cell::text(shown.event_type.as_str()),
                Cell::optional_text(contribution),
                retracts,
                Cell::optional_text(shown.occurred_at.clone()),
                Cell::optional_text(shown.country.clone()),
                Cell::optional_text(shown.location.clone()),
                Cell::text(shown.recorded_by.as_str()),
                Cell::text(shown.recorded_at.as_str()),
                Cell::Json(shown.data.clone()),
            ]
        } else if people(format) {
            vec![
                position,
                Cell::text(shown.operation.as_str()),
                Cell::text(shown.event_type.as_str()),
                Cell::optional_text(figure),
                Cell::optional_text(contribution),
                retracts,
                Cell::optional_text(shown.occurred_at.clone()),
                Cell::text(shown.recorded_by.as_str()),
            ]
        } else {
            vec![
                position,
                Cell::text(shown.id.as_str()),
                Cell::text(shown.operation.as_str()),
                Cell::text(shown.event_type.as_str()),
                Cell::optional_text(figure),
                Cell::optional_text(contribution),
                retracts,
                Cell::optional_text(shown.occurred_at.clone()),
                Cell::optional_text(shown.country.clone()),
                Cell::optional_text(shown.location.clone()),
                Cell::text(shown.recorded_by.as_str()),
                Cell::text(shown.recorded_at.as_str()),
                Cell::Json(shown.data.clone()),
            ]
        };
        stream.row(&cells).map_err(LedgerError::Output)?;
        Ok(())
    })?;
    stream.end().map_err(LedgerError::Output)?;
    stream
        .finish(
            Vec::new(),
            &Provenance {
                what: "diff",
                as_of: to,
                extra: vec![
                    ("from position".into(), from.position.to_string()),
                    ("from hash".into(), from.hash.to_string()),
                    (
                        "records".into(),
                        format!(
                            "{}..{} chain-checked (the events in between)",
                            from.position + 1,
                            to.position
                        ),
                    ),
                    (
                        "summaries".into(),
                        format!(
                            "before: {}; after: {}",
                            json::verified_text(&verified_before),
                            json::verified_text(&verified_after)
                        ),
                    ),
                ],
                operation,
                filter: &filter,
                generated_by,
            },
        )
        .map_err(LedgerError::Output)?;
    Ok(changed)
}
