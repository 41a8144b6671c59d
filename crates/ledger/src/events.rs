//! `theseus events`: the events of a log prefix themselves, one row each,
//! with what each adds to which figure and, for a retracted one, which
//! retraction took it back and why. Streamed: one pass notes the
//! retractions, a second writes the rows as it reads them, so memory does
//! not grow with the log.
//!
//! An event is shown through [`domain::Event::public_data_json`], which
//! leaves the suspects' and victims' references out. Only
//! [`events_revealed`] shows them, in a column of their own, and only
//! after a consultation record naming the purpose, the query and the
//! events shown is durable in the log ([`crate::privacy::consulted`]).

use std::collections::BTreeSet;
use std::io::Write;

use domain::{Event, EventType, EventView};
use event_store::{Envelope, EnvelopeRef, EventStore, Head};
use projections::figure::Figure;
use projections::filter::dimensions;
use projections::html::Provenance;
use projections::json::{self, Json};
use projections::stream::{Columns, Stream};
use projections::{Cell, Filter, Format};

use crate::scan::{self, checked_from_start, Retractions};
use crate::sealing::Opener;

/// What a consultation shows for a reference whose subject was erased.
pub const ERASED: &str = "(erased)";
use crate::{AsOf, LedgerError};

/// Which events, by whether a retraction has taken them back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Status {
    #[default]
    All,
    /// Not retracted (retractions themselves included): what reports count.
    Active,
    /// Retracted by a later record.
    Retracted,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::All => "all",
            Status::Active => "active",
            Status::Retracted => "retracted",
        }
    }
}

/// What `theseus events` lists.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub as_of: AsOf,
    pub operation: Option<String>,
    /// Only these types (none: every type).
    pub types: BTreeSet<EventType>,
    /// Countries, days, locations, as for reports: records without a figure
    /// are kept, a retraction is kept when its target is.
    pub filter: Filter,
    pub recorded_by: Option<String>,
    pub status: Status,
}

/// The columns machines get (JSON, JSON Lines, CSV).
pub const COLUMNS: [&str; 19] = [
    "position",
    "id",
    "operation",
    "type",
    "occurred_at",
    "country",
    "location",
    "figure",
    "count",
    "amount",
    "currency",
    "retracted",
    "retracted_by",
    "retraction_reason",
    "retracts",
    "recorded_by",
    "recorded_at",
    "reported_at",
    "data",
];

/// [`COLUMNS`] and the references, for a consultation.
const REVEALED_COLUMNS: [&str; 20] = with_last(COLUMNS, "reference");

/// [`PEOPLE`] and the references, for a consultation.
const REVEALED_PEOPLE: [(&str, usize, bool); 10] = with_last(PEOPLE, ("reference", 20, false));

/// `columns` with `last` after them: the revealing listings show every
/// ordinary column, in the same order, and one more.
const fn with_last<T: Copy, const N: usize, const M: usize>(columns: [T; N], last: T) -> [T; M] {
    assert!(M == N + 1);
    let mut out = [last; M];
    let mut i = 0;
    while i < N {
        out[i] = columns[i];
        i += 1;
    }
    out
}

/// The columns people get (table, Markdown, HTML), and their widths.
const PEOPLE: [(&str, usize, bool); 9] = [
    ("position", 8, true),
    ("operation", 12, false),
    ("type", 17, false),
    ("occurred_at", 25, false),
    ("country", 7, false),
    ("location", 22, false),
    ("figure", 20, false),
    ("quantity", 12, true),
    ("status", 36, false),
];

/// The fields of a record that [`Shown`] reads.
struct Parts<'a> {
    position: u64,
    id: uuid::Uuid,
    operation: &'a str,
    event_type: &'a str,
    data: &'a str,
    recorded_by: &'a str,
    recorded_at: String,
    reported_at: Option<&'a str>,
}

/// What one record shows, whatever the command.
#[derive(Clone, Debug)]
pub struct Shown {
    pub position: u64,
    pub id: String,
    pub operation: String,
    pub event_type: EventType,
    pub occurred_at: Option<String>,
    pub country: Option<String>,
    pub location: Option<String>,
    /// The outcome figure it adds to, and by how much.
    pub figure: Option<(Figure, i128)>,
    pub recorded_by: String,
    pub recorded_at: String,
    pub reported_at: Option<String>,
    /// [`Event::public_data_json`].
    pub data: String,
}

impl Shown {
    pub fn of(record: &EnvelopeRef<'_>, view: &EventView<'_>) -> Result<Shown, LedgerError> {
        Shown::from_parts(
            Parts {
                position: record.position,
                id: record.id,
                operation: &record.operation,
                event_type: &record.event_type,
                data: record.data,
                recorded_by: &record.recorded_by,
                recorded_at: record.recorded_at.to_owned(),
                reported_at: record.reported_at,
            },
            view,
        )
    }

    /// [`Shown::of`] for a record read on its own.
    pub fn of_envelope(record: &Envelope, view: &EventView<'_>) -> Result<Shown, LedgerError> {
        Shown::from_parts(
            Parts {
                position: record.position,
                id: record.id,
                operation: &record.operation,
                event_type: &record.event_type,
                data: &record.data,
                recorded_by: &record.recorded_by,
                recorded_at: event_store::format_recorded_at(&record.recorded_at),
                reported_at: record.reported_at.as_deref(),
            },
            view,
        )
    }

    fn from_parts(parts: Parts<'_>, view: &EventView<'_>) -> Result<Shown, LedgerError> {
        let event_type = EventType::parse(parts.event_type).ok_or_else(|| {
            LedgerError::Projection(projections::ProjectionError::Unreadable {
                position: parts.position,
                reason: format!("unknown event type {:?}", parts.event_type),
            })
        })?;
        let event: Event = scan::event(parts.position, event_type, parts.data)?;
        let dims = dimensions(view);
        Ok(Shown {
            position: parts.position,
            id: parts.id.to_string(),
            operation: parts.operation.to_owned(),
            event_type,
            occurred_at: event.occurred_at().map(|t| t.to_string()),
            country: event.country().map(|c| c.code().to_owned()),
            location: dims.and_then(|d| d.location).map(|l| l.as_str().to_owned()),
            figure: Figure::of(view),
            recorded_by: parts.recorded_by.to_owned(),
            recorded_at: parts.recorded_at,
            reported_at: parts.reported_at.map(str::to_owned),
            data: event.public_data_json(),
        })
    }

    /// The figure's name.
    pub fn figure_cell(&self) -> Cell {
        Cell::optional_text(self.figure.map(|(f, _)| f.to_string()))
    }

    /// `count`: the contribution of any figure but cash.
    pub fn count_cell(&self) -> Cell {
        match self.figure {
            Some((Figure::Cash(_), _)) | None => Cell::Null,
            Some((_, n)) => Cell::Int(n),
        }
    }

    /// `amount`: the contribution of a cash seizure, as a decimal string.
    pub fn amount_cell(&self) -> Cell {
        match self.figure {
            Some((figure @ Figure::Cash(_), n)) => figure.cell(n),
            _ => Cell::Null,
        }
    }

    /// `currency`: a cash seizure's currency.
    pub fn currency_cell(&self) -> Cell {
        match self.figure {
            Some((Figure::Cash(currency), _)) => Cell::text(currency.code()),
            _ => Cell::Null,
        }
    }

    /// The contribution as people read it.
    pub fn quantity_cell(&self) -> Cell {
        match self.figure {
            Some((figure, n)) => figure.cell(n),
            None => Cell::Null,
        }
    }
}

/// What an event's retraction status says to people.
fn status_words(retracted: Option<(u64, &str)>, retracts: Option<u64>) -> String {
    match (retracted, retracts) {
        (Some((position, reason)), _) => format!("retracted by {position}: {reason}"),
        (None, Some(target)) => format!("retracts {target}"),
        (None, None) => String::new(),
    }
}

/// The columns of the listing in `format`.
fn columns(format: Format, revealed: bool) -> Columns {
    match (people(format), revealed) {
        (true, false) => Columns::people(&PEOPLE),
        (true, true) => Columns::people(&REVEALED_PEOPLE),
        (false, false) => Columns::plain(&COLUMNS),
        (false, true) => Columns::plain(&REVEALED_COLUMNS),
    }
}

/// How a listing treats references.
enum Mode<'a> {
    /// Left out (every listing but a consultation).
    Public,
    /// Nothing is printed: the events with a reference are noted, for the
    /// consultation record.
    Collect(&'a mut Collected),
    /// Shown, opened with their subjects' keys.
    Reveal(&'a mut Opener),
}

/// The events a consultation will show.
#[derive(Default)]
struct Collected {
    ids: Vec<uuid::Uuid>,
    not_listed: u64,
}

/// Who consults references, and why.
#[derive(Clone, Copy, Debug)]
pub struct Reveal<'a> {
    pub purpose: &'a str,
    pub recorded_by: &'a str,
}

/// [`events`] with the references shown: the listing is first selected
/// without printing anything, a consultation record (purpose, query, head,
/// the events shown) is appended and made durable, and only then is the
/// listing printed, as of the same head. Returns the rows written and the
/// consultation record's position.
pub fn events_revealed(
    store: &dyn EventStore,
    query: &EventQuery,
    format: Format,
    out: &mut dyn Write,
    generated_by: &str,
    reveal: Reveal<'_>,
) -> Result<(u64, u64), LedgerError> {
    if reveal.purpose.trim().is_empty() {
        return Err(LedgerError::Request(
            "--purpose: must say why the references are consulted".into(),
        ));
    }
    let head = query.as_of.resolve(store)?;
    let mut collected = Collected::default();
    list(
        store,
        head,
        query,
        format,
        &mut std::io::sink(),
        generated_by,
        Mode::Collect(&mut collected),
    )?;
    let position = crate::privacy::consulted(
        store,
        crate::privacy::Consultation {
            purpose: reveal.purpose,
            command: "events",
            query: filters_json(query).compact(),
            as_of: head,
            events: collected.ids,
            events_not_listed: collected.not_listed,
        },
        reveal.recorded_by,
    )?;
    let mut opener = Opener::default();
    let rows = list(
        store,
        head,
        query,
        format,
        out,
        generated_by,
        Mode::Reveal(&mut opener),
    )?;
    Ok((rows, position))
}

pub(crate) fn people(format: Format) -> bool {
    matches!(format, Format::Table | Format::Markdown | Format::Html)
}

/// Lists the events `query` selects in `format`. Returns the number of
/// rows written.
pub fn events(
    store: &dyn EventStore,
    query: &EventQuery,
    format: Format,
    out: &mut dyn Write,
    generated_by: &str,
) -> Result<u64, LedgerError> {
    let head = query.as_of.resolve(store)?;
    list(store, head, query, format, out, generated_by, Mode::Public)
}

fn list(
    store: &dyn EventStore,
    head: Head,
    query: &EventQuery,
    format: Format,
    out: &mut dyn Write,
    generated_by: &str,
    mut mode: Mode<'_>,
) -> Result<u64, LedgerError> {
    let revealed = matches!(mode, Mode::Reveal(_));
    let operation = query.operation.as_deref();
    let retractions = Retractions::collect(store, head, operation)?;
    if let Some(operation) = operation {
        crate::reports::require_operation(store, head, operation)?;
    }
    let subtitle = format!(
        "As of log position {}{}",
        head.position,
        projections::render::filter_words(operation, &query.filter)
            .map(|w| format!(" · filtered: {w}"))
            .unwrap_or_default()
    );
    let mut stream = Stream::start(
        out,
        format,
        "theseus: events",
        &subtitle,
        vec![
            ("report", Json::str("events")),
            (
                "as_of",
                json::as_of_verified(&head, &checked_from_start(head)),
            ),
            ("filters", filters_json(query)),
            ("generated_by", Json::str(generated_by)),
        ],
    )
    .map_err(LedgerError::Output)?;
    stream.noun("event", "events");
    stream
        .begin("rows", "Events", &columns(format, revealed))
        .map_err(LedgerError::Output)?;
    let mut written = 0;
    scan::scan_checked(store, Head::EMPTY, head, &mut |record| {
        if operation.is_some_and(|o| o != record.operation) {
            return Ok(());
        }
        let (event_type, view) = scan::view(record)?;
        if !query.types.is_empty() && !query.types.contains(&event_type) {
            return Ok(());
        }
        if query
            .recorded_by
            .as_deref()
            .is_some_and(|who| who != record.recorded_by)
        {
            return Ok(());
        }
        let retracts = match &view {
            EventView::EventRetracted { event_id } => {
                let target = scan::target(store, record, *event_id)?;
                if !query.filter.keeps(&target.view()?) {
                    return Ok(());
                }
                Some(target.position)
            }
            other => {
                if !query.filter.keeps(other) {
                    return Ok(());
                }
                None
            }
        };
        let retracted_by = retractions.of(record.position);
        match (query.status, retracted_by) {
            (Status::Active, Some(_)) | (Status::Retracted, None) => return Ok(()),
            _ => {}
        }
        let reason = retracted_by
            .map(|position| scan::reason(store, position))
            .transpose()?;
        let shown = Shown::of(record, &view)?;
        let reference = match &mut mode {
            Mode::Public => None,
            Mode::Collect(collected) => {
                let event = scan::event(record.position, event_type, record.data)?;
                if event.reference().is_some() {
                    if collected.ids.len() < domain::privacy::MAX_LISTED_EVENTS {
                        collected.ids.push(record.id);
                    } else {
                        collected.not_listed += 1;
                    }
                }
                None
            }
            Mode::Reveal(opener) => {
                let event = scan::event(record.position, event_type, record.data)?;
                match event.reference() {
                    Some((field, reference)) => Some(
                        opener
                            .open(store, record.position, record.id, field, reference)?
                            .reference()
                            .map(str::to_owned)
                            .unwrap_or_else(|| ERASED.to_owned()),
                    ),
                    None => None,
                }
            }
        };
        let mut cells = if people(format) {
            vec![
                Cell::Int(i128::from(shown.position)),
                Cell::text(shown.operation.as_str()),
                Cell::text(shown.event_type.as_str()),
                Cell::optional_text(shown.occurred_at.clone()),
                Cell::optional_text(shown.country.clone()),
                Cell::optional_text(shown.location.clone()),
                shown.figure_cell(),
                shown.quantity_cell(),
                Cell::text(status_words(retracted_by.zip(reason.as_deref()), retracts)),
            ]
        } else {
            vec![
                Cell::Int(i128::from(shown.position)),
                Cell::text(shown.id.as_str()),
                Cell::text(shown.operation.as_str()),
                Cell::text(shown.event_type.as_str()),
                Cell::optional_text(shown.occurred_at.clone()),
                Cell::optional_text(shown.country.clone()),
                Cell::optional_text(shown.location.clone()),
                shown.figure_cell(),
                shown.count_cell(),
                shown.amount_cell(),
                shown.currency_cell(),
                Cell::Bool(retracted_by.is_some()),
                retracted_by.map_or(Cell::Null, |p| Cell::Int(i128::from(p))),
                Cell::optional_text(reason),
                retracts.map_or(Cell::Null, |p| Cell::Int(i128::from(p))),
                Cell::text(shown.recorded_by.as_str()),
                Cell::text(shown.recorded_at.as_str()),
                Cell::optional_text(shown.reported_at.clone()),
                Cell::Json(shown.data.clone()),
            ]
        };
        if revealed {
            cells.push(Cell::optional_text(reference));
        }
        stream.row(&cells).map_err(LedgerError::Output)?;
        written += 1;
        Ok(())
    })?;
    stream.end().map_err(LedgerError::Output)?;
    stream
        .finish(
            Vec::new(),
            &Provenance {
                what: "events",
                as_of: head,
                extra: vec![(
                    "records".into(),
                    format!("1..{} chain-checked", head.position),
                )],
                operation,
                filter: &query.filter,
                generated_by,
            },
        )
        .map_err(LedgerError::Output)?;
    Ok(written)
}

/// The listing's filters: a report's, plus types, recorder and status.
fn filters_json(query: &EventQuery) -> Json {
    let mut fields = match json::filters(query.operation.as_deref(), &query.filter) {
        Json::Object(fields) => fields,
        _ => Vec::new(),
    };
    fields.push((
        "types".into(),
        Json::Array(query.types.iter().map(|t| Json::str(t.as_str())).collect()),
    ));
    fields.push((
        "recorded_by".into(),
        Json::optional_str(query.recorded_by.clone()),
    ));
    fields.push(("status".into(), Json::str(query.status.as_str())));
    Json::Object(fields)
}
