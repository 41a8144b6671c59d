//! CSV import: one event type per file, as national units' spreadsheets
//! export them, turned into input lines for the same atomic append.
//!
//! ```text
//! country;occurred_at;location;suspect;network;offences
//! RS;2019-12-12T10:00:00+01:00;border_crossing;RS-2019-0042;net-1;"migrant_smuggling;document_fraud"
//! ```
//!
//! * The header row names the data fields of the `--type`, plus optional
//!   `id`, `recorded_by`, `reported_at` and `expected_version`. Nested fields
//!   are two columns (`max_fee.currency`, `max_fee.amount`). A required field
//!   with no column is refused at the header; so are unknown and repeated
//!   columns. Header names are trimmed of surrounding spaces.
//! * A cell is the field's value as it would be written in JSON, without
//!   quotes: counts are digits (`2500`, not `2,500`), booleans are `true` or
//!   `false` (any case), lists are `;`-separated in one cell (items trimmed of
//!   surrounding spaces), and an empty cell means absent.
//! * A UTF-8 byte order mark, CRLF line ends, `;` as the delimiter
//!   (`--delimiter`), quoted cells and rows of empty cells (skipped, but
//!   counted) are accepted: that is what spreadsheets write.
//! * Errors name the CSV line (the header is line 1) and the column:
//!   `line 7: column country: unknown country code "XX"`.
//!
//! The rows then go through [`crate::append_batch`] like JSON lines do:
//! the same checks, the same all-or-nothing batch.

use std::io::{BufRead, Read};

use domain::catalogue::{FieldKind, FieldSpec};
use domain::json::{FieldError, FromJson, Json};
use domain::{Event, EventType, OccurredAt, Slug, Text};
use uuid::Uuid;

use crate::append::{refused, Naming, Source};
use crate::input::{InputLine, MAX_LINE_BYTES};
use crate::LedgerError;

/// The columns besides the data fields.
pub const LINE_COLUMNS: [&str; 4] = ["id", "recorded_by", "reported_at", "expected_version"];

/// What to import.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    pub event_type: EventType,
    pub operation: Slug,
    /// The field separator: `,` by default, `;` as many European
    /// spreadsheets write.
    pub delimiter: u8,
}

/// What a header column feeds.
#[derive(Clone, Copy, Debug)]
enum Column {
    /// A data field of a scalar or list kind.
    Field(&'static FieldSpec),
    /// One part (`currency` or `amount`) of a money field.
    MoneyPart(&'static FieldSpec, &'static str),
    /// `id`, `recorded_by`, `reported_at` or `expected_version`.
    Line(&'static str),
}

/// Rows of a CSV file as input lines.
#[derive(Debug)]
pub struct CsvSource<R: BufRead> {
    reader: csv::Reader<Physical<R>>,
    options: CsvOptions,
    columns: Vec<Column>,
    record: csv::StringRecord,
    /// A header error, reported as the first line.
    header_error: Option<LedgerError>,
    ended: bool,
}

impl<R: BufRead> CsvSource<R> {
    /// Reads the header row; its errors come out as the source's first line.
    pub fn new(input: R, options: CsvOptions) -> CsvSource<R> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(options.delimiter)
            .has_headers(false)
            .flexible(false)
            .from_reader(Physical::new(input));
        let mut header = csv::StringRecord::new();
        let (columns, header_error) = match reader.read_record(&mut header) {
            Ok(true) => match header_columns(&header, &options) {
                Ok(columns) => (columns, None),
                Err(error) => (Vec::new(), Some(error)),
            },
            Ok(false) => (
                Vec::new(),
                Some(LedgerError::Unreadable {
                    line: 1,
                    message: "the file is empty: its first row must name the columns".into(),
                }),
            ),
            Err(error) => (Vec::new(), Some(csv_error(&reader, error))),
        };
        CsvSource {
            reader,
            options,
            columns,
            record: csv::StringRecord::new(),
            header_error,
            ended: false,
        }
    }

    fn row(&self, line: u64) -> Result<InputLine, LedgerError> {
        build_line(
            self.options.event_type,
            &self.options.operation,
            line,
            self.columns.iter().copied().zip(self.record.iter()),
        )
    }
}

/// One input line from `(column, cell)` pairs (empty cells are absent).
fn build_line<'c>(
    event_type: EventType,
    operation: &Slug,
    line: u64,
    cells: impl Iterator<Item = (Column, &'c str)>,
) -> Result<InputLine, LedgerError> {
    let mut data: Vec<(String, Json)> = Vec::new();
    let mut id = None;
    let mut recorded_by = None;
    let mut reported_at = None;
    let mut expected_version = None;
    let field_error = |error: FieldError| refused(line, &error.path, error.message);
    for (column, cell) in cells {
        if cell.is_empty() {
            continue;
        }
        match column {
            Column::Field(field) => {
                let value = cell_value(field.kind, cell)
                    .map_err(|message| refused(line, &format!("data.{}", field.name), message))?;
                data.push((field.name.to_owned(), value));
            }
            Column::MoneyPart(field, part) => {
                let value = Json::String(cell.to_owned());
                match data.iter_mut().find(|(name, _)| name == field.name) {
                    Some((_, Json::Object(parts))) => parts.push((part.to_owned(), value)),
                    _ => data.push((
                        field.name.to_owned(),
                        Json::Object(vec![(part.to_owned(), value)]),
                    )),
                }
            }
            Column::Line(name) => {
                let text = Json::String(cell.to_owned());
                match name {
                    "id" => id = Some(Uuid::from_json(&text, "id").map_err(field_error)?),
                    "recorded_by" => {
                        recorded_by =
                            Some(Text::from_json(&text, "recorded_by").map_err(field_error)?)
                    }
                    "reported_at" => {
                        reported_at =
                            Some(OccurredAt::from_json(&text, "reported_at").map_err(field_error)?)
                    }
                    _ => {
                        let number = whole_number(cell)
                            .map_err(|message| refused(line, "expected_version", message))?;
                        expected_version =
                            Some(u64::from_json(&number, "expected_version").map_err(field_error)?)
                    }
                }
            }
        }
    }
    let event = Event::from_json(event_type, &Json::Object(data), "data").map_err(field_error)?;
    Ok(InputLine {
        id,
        operation: operation.clone(),
        event,
        recorded_by,
        reported_at,
        expected_version,
    })
}

/// The line of `(column, value)` pairs named as CSV columns are
/// (`country`, `max_fee.amount`, `id`…): what `theseus record` sends.
pub fn line_from_cells(
    event_type: EventType,
    operation: &Slug,
    cells: &[(&str, &str)],
    line: u64,
) -> Result<InputLine, LedgerError> {
    let mut resolved = Vec::with_capacity(cells.len());
    for (name, value) in cells {
        let column = column_named(event_type, name)
            .ok_or_else(|| refused(line, name, format!("not a field of {event_type}")))?;
        resolved.push((column, *value));
    }
    build_line(event_type, operation, line, resolved.into_iter())
}

/// A source of one line, already built.
#[derive(Debug)]
pub struct Single {
    line: Option<Result<InputLine, LedgerError>>,
    naming: Naming,
}

impl Single {
    pub fn new(line: Result<InputLine, LedgerError>, naming: Naming) -> Single {
        Single {
            line: Some(line),
            naming,
        }
    }
}

impl Source for Single {
    fn next_line(&mut self) -> Option<Result<(u64, InputLine), LedgerError>> {
        self.line.take().map(|line| line.map(|line| (1, line)))
    }

    fn naming(&self) -> Naming {
        self.naming
    }
}

/// The column of an event type's file named `name`.
fn column_named(event_type: EventType, name: &str) -> Option<Column> {
    if let Some(line) = LINE_COLUMNS.iter().find(|c| **c == name) {
        return Some(Column::Line(line));
    }
    if let Some(field) = event_type
        .fields()
        .iter()
        .find(|f| f.name == name && f.kind != FieldKind::Money)
    {
        return Some(Column::Field(field));
    }
    let (field, part) = name.split_once('.')?;
    let field = event_type
        .fields()
        .iter()
        .find(|f| f.name == field && f.kind == FieldKind::Money)?;
    let part = ["currency", "amount"].into_iter().find(|p| *p == part)?;
    Some(Column::MoneyPart(field, part))
}

impl<R: BufRead + Send> Source for CsvSource<R> {
    fn next_line(&mut self) -> Option<Result<(u64, InputLine), LedgerError>> {
        if let Some(error) = self.header_error.take() {
            // Without a usable header no row can be read.
            self.ended = true;
            return Some(Err(error));
        }
        loop {
            if self.ended {
                return None;
            }
            match self.reader.read_record(&mut self.record) {
                Ok(false) => {
                    self.ended = true;
                    return None;
                }
                Ok(true) => {
                    let line = self.record.position().map_or(0, |p| p.line());
                    if self.record.iter().all(str::is_empty) {
                        continue;
                    }
                    return Some(self.row(line).map(|row| (line, row)));
                }
                Err(error) => {
                    let error = csv_error(&self.reader, error);
                    if matches!(error, LedgerError::Input(_)) {
                        self.ended = true;
                    }
                    return Some(Err(error));
                }
            }
        }
    }

    fn naming(&self) -> Naming {
        Naming::Csv
    }
}

/// The header's columns, checked against the event type.
fn header_columns(
    header: &csv::StringRecord,
    options: &CsvOptions,
) -> Result<Vec<Column>, LedgerError> {
    let event_type = options.event_type;
    let mut columns = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let column_error = |name: &str, message: String| LedgerError::Refused {
        line: 1,
        field: format!("column {name}"),
        message,
    };
    for name in header.iter().map(str::trim) {
        if seen.contains(&name) {
            return Err(column_error(name, "appears twice in the header".into()));
        }
        seen.push(name);
        let Some(column) = column_named(event_type, name) else {
            let hint = if header.len() == 1 && (name.contains(';') || name.contains(',')) {
                format!(
                    "; the header has a single column: is the delimiter {}?",
                    if name.contains(';') {
                        "';' (--delimiter ';')"
                    } else {
                        "','"
                    }
                )
            } else {
                String::new()
            };
            return Err(column_error(
                name,
                format!(
                    "unknown column for {event_type} (expected {}){hint}",
                    expected_columns(event_type).join(", ")
                ),
            ));
        };
        columns.push(column);
    }
    for field in event_type.fields().iter().filter(|f| f.required) {
        let present = columns.iter().any(|column| match column {
            Column::Field(f) | Column::MoneyPart(f, _) => f.name == field.name,
            Column::Line(_) => false,
        });
        if !present {
            return Err(column_error(
                field.name,
                format!("missing: {event_type} requires it"),
            ));
        }
    }
    Ok(columns)
}

/// The columns an event type's file may have.
pub fn expected_columns(event_type: EventType) -> Vec<String> {
    let mut names = Vec::new();
    for field in event_type.fields() {
        if field.kind == FieldKind::Money {
            names.push(format!("{}.currency", field.name));
            names.push(format!("{}.amount", field.name));
        } else {
            names.push(field.name.to_owned());
        }
    }
    names.extend(LINE_COLUMNS.iter().map(|c| (*c).to_owned()));
    names
}

/// A cell as the JSON value of its field's kind.
fn cell_value(kind: FieldKind, cell: &str) -> Result<Json, String> {
    if kind.is_list() {
        return Ok(Json::Array(
            cell.split(';')
                .map(|item| Json::String(item.trim_matches(' ').to_owned()))
                .collect(),
        ));
    }
    match kind {
        FieldKind::Count => whole_number(cell),
        FieldKind::Bool => match cell.to_ascii_lowercase().as_str() {
            "true" => Ok(Json::Bool(true)),
            "false" => Ok(Json::Bool(false)),
            _ => Err(format!("{cell:?} is not true or false")),
        },
        _ => Ok(Json::String(cell.to_owned())),
    }
}

/// A cell that must hold a number: digits as JSON reads them, so that `0`,
/// `-3` and `1.5` get the domain's own messages, and anything else (`2,500`,
/// `3 `) is refused here.
fn whole_number(cell: &str) -> Result<Json, String> {
    let numeric = !cell.is_empty()
        && cell
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'e' | b'E' | b'+'));
    match numeric.then(|| Json::parse(cell).ok()).flatten() {
        Some(number @ (Json::Unsigned(_) | Json::Negative(_) | Json::Float(_))) => Ok(number),
        _ => Err(format!("{cell:?} is not a whole number")),
    }
}

/// A CSV reading error, with its line.
fn csv_error<R: BufRead>(reader: &csv::Reader<Physical<R>>, error: csv::Error) -> LedgerError {
    let physical = reader.get_ref();
    let line = error
        .position()
        .map_or(physical.lines + 1, |position| position.line());
    match error.into_kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => LedgerError::Unreadable {
            line,
            message: format!(
                "{len} cells, but the header has {expected_len} (a cell holding the delimiter must be quoted)"
            ),
        },
        csv::ErrorKind::Utf8 { err, .. } => LedgerError::Unreadable {
            line,
            message: format!("not valid UTF-8 (in cell {})", err.field() + 1),
        },
        csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            LedgerError::Unreadable {
                line: physical.lines + 1,
                message: io.to_string(),
            }
        }
        csv::ErrorKind::Io(io) => LedgerError::Input(io),
        other => LedgerError::Unreadable {
            line,
            message: format!("{other:?}"),
        },
    }
}

/// The input as the CSV reader sees it: CRLF turned into LF (the CSV
/// reader miscounts lines after a CR; no cell may hold a CR anyway, since
/// text refuses control characters) and physical lines limited to
/// [`MAX_LINE_BYTES`], so that memory does not follow a runaway quoted cell.
#[derive(Debug)]
struct Physical<R> {
    inner: R,
    /// A CR at the end of the last buffer, not yet known to start a CRLF.
    pending_cr: bool,
    line_bytes: usize,
    /// Newlines passed so far.
    lines: u64,
}

impl<R: BufRead> Physical<R> {
    fn new(inner: R) -> Physical<R> {
        Physical {
            inner,
            pending_cr: false,
            line_bytes: 0,
            lines: 0,
        }
    }

    fn count(&mut self, byte: u8) -> std::io::Result<()> {
        if byte == b'\n' {
            self.lines += 1;
            self.line_bytes = 0;
            return Ok(());
        }
        self.line_bytes += 1;
        if self.line_bytes > MAX_LINE_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the line is longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Physical<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written == 0 && !out.is_empty() {
            let buffer = self.inner.fill_buf()?;
            if buffer.is_empty() {
                if std::mem::take(&mut self.pending_cr) {
                    out[0] = b'\r';
                    return Ok(1);
                }
                return Ok(0);
            }
            let mut used = 0;
            let mut bytes = Vec::with_capacity(buffer.len().min(out.len()));
            if self.pending_cr {
                self.pending_cr = false;
                if buffer[0] != b'\n' {
                    bytes.push(b'\r');
                }
            }
            while used < buffer.len() && bytes.len() < out.len() {
                let byte = buffer[used];
                used += 1;
                if byte == b'\r' {
                    match buffer.get(used) {
                        Some(b'\n') => continue,
                        None => {
                            self.pending_cr = true;
                            break;
                        }
                        Some(_) => {}
                    }
                }
                bytes.push(byte);
            }
            self.inner.consume(used);
            for &byte in &bytes {
                self.count(byte)?;
            }
            out[..bytes.len()].copy_from_slice(&bytes);
            written = bytes.len();
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn physical(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut reader = Physical::new(std::io::BufReader::with_capacity(3, input));
        reader.read_to_end(&mut out).expect("read");
        out
    }

    #[test]
    fn crlf_becomes_lf_across_buffer_ends_and_lone_crs_stay() {
        assert_eq!(physical(b"ab\r\ncd\r\n"), b"ab\ncd\n");
        assert_eq!(physical(b"a\r\nb\rc\r"), b"a\nb\rc\r");
        assert_eq!(physical(b"\r\r\n\r"), b"\r\n\r");
    }

    #[test]
    fn cells_become_values_of_their_kind() {
        assert_eq!(
            cell_value(FieldKind::Count, "2500"),
            Ok(Json::Unsigned(2500))
        );
        assert!(cell_value(FieldKind::Count, "2,500").is_err());
        assert!(cell_value(FieldKind::Count, "3 ").is_err());
        assert_eq!(cell_value(FieldKind::Bool, "TRUE"), Ok(Json::Bool(true)));
        assert!(cell_value(FieldKind::Bool, "yes").is_err());
        assert_eq!(
            cell_value(FieldKind::Countries, "AL; RS"),
            Ok(Json::Array(vec![
                Json::String("AL".into()),
                Json::String("RS".into())
            ]))
        );
    }

    #[test]
    fn paths_become_columns() {
        let csv = Naming::Csv;
        assert_eq!(csv.name("data.country"), "column country");
        assert_eq!(csv.name("data.max_fee.amount"), "column max_fee.amount");
        assert_eq!(csv.name("data.countries[1]"), "column countries, item 2");
        assert_eq!(csv.name("id"), "column id");
        assert_eq!(csv.name("operation"), "--operation");
    }
}
