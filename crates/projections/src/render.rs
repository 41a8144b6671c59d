//! Renderers: the same report as JSON or JSON Lines (for machines and for
//! re-deriving a published figure), CSV (for spreadsheets), Markdown, an
//! aligned table for people, or a self-contained HTML page.
//!
//! What tools can rely on: JSON keys come in the documented column order and
//! each column holds one type of value (or null) in every row; CSV has LF
//! line ends, one value per cell (nested figures are flattened into
//! `column.key` columns) and no cell that a spreadsheet would run as a
//! formula. Tables align by display width, so wide and combining characters
//! keep the columns straight.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use domain::format_minor_units;
use unicode_width::UnicodeWidthStr;

use crate::json::{self, Json};
use crate::report::{decimal_with_separators, with_separators, Cell, Report, ReportKind};

/// How to print a report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Table,
    Json,
    /// JSON Lines: a first line saying what the rows are, then one row per
    /// line.
    Jsonl,
    Csv,
    Markdown,
    /// One self-contained HTML page.
    Html,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Table,
        Format::Json,
        Format::Jsonl,
        Format::Csv,
        Format::Markdown,
        Format::Html,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Markdown => "markdown",
            Format::Html => "html",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|format| format.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
                format!("unknown format {text:?} (one of {})", names.join(", "))
            })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Renders a report. `generated_by` names the program and its version.
pub fn render(report: &Report, format: Format, generated_by: &str) -> String {
    match format {
        Format::Json => json(report, generated_by),
        Format::Jsonl => jsonl(report, generated_by),
        Format::Csv => csv(report),
        Format::Table => table(report),
        Format::Markdown => markdown(report),
        Format::Html => crate::html::report_page(report, generated_by),
    }
}

/// A cell as JSON.
pub fn cell_json(cell: &Cell) -> Json {
    match cell {
        Cell::Null => Json::Null,
        Cell::Bool(flag) => Json::Bool(*flag),
        Cell::Text(text) => Json::str(text.as_str()),
        Cell::Int(n) => Json::Int(*n),
        Cell::Exact(n) => Json::str(n.to_string()),
        Cell::List(items) => Json::Array(items.iter().map(|i| Json::str(i.as_str())).collect()),
        Cell::Counts(counts) => Json::object(counts.iter().map(|(k, n)| (*k, Json::Int(*n)))),
        Cell::Breakdown(counts) => {
            Json::object(counts.iter().map(|(k, n)| (k.as_str(), Json::Int(*n))))
        }
        Cell::Cash(amounts) => Json::object(
            amounts
                .iter()
                .map(|(currency, minor)| (currency.code(), Json::amount(*minor, *currency))),
        ),
        Cell::Amount(currency, minor) => Json::object([
            ("currency", Json::str(currency.code())),
            ("amount", Json::amount(*minor, *currency)),
        ]),
        Cell::Decimal(currency, minor) => Json::amount(*minor, *currency),
        Cell::Json(text) => Json::Raw(text.clone()),
    }
}

/// One row as a JSON object, its keys in column order.
pub fn row_json(columns: &[&str], row: &[Cell]) -> Json {
    Json::object(
        columns
            .iter()
            .zip(row)
            .map(|(column, cell)| (*column, cell_json(cell))),
    )
}

/// What a report's JSON says before its rows: kind, log prefix, filters and
/// the program that built it.
fn provenance(report: &Report, generated_by: &str) -> Vec<(&'static str, Json)> {
    vec![
        ("report", Json::str(report.kind.as_str())),
        (
            "as_of",
            json::as_of_verified(&report.as_of, &report.verified),
        ),
        (
            "filters",
            json::filters(report.operation.as_deref(), &report.filter),
        ),
        ("generated_by", Json::str(generated_by)),
    ]
}

/// `{"report", "as_of": {"position", "hash", "verified"}, "filters",
/// "generated_by", "rows"}`.
pub fn json(report: &Report, generated_by: &str) -> String {
    let mut top = provenance(report, generated_by);
    top.push((
        "rows",
        Json::Array(
            report
                .rows
                .iter()
                .map(|row| row_json(&report.columns, row))
                .collect(),
        ),
    ));
    let mut out = Json::object(top).pretty();
    out.push('\n');
    out
}

/// JSON Lines: a first line `{"report", "as_of", "filters", "generated_by",
/// "columns"}`, then one object per row.
pub fn jsonl(report: &Report, generated_by: &str) -> String {
    let mut head = provenance(report, generated_by);
    head.push((
        "columns",
        Json::Array(report.columns.iter().map(|c| Json::str(*c)).collect()),
    ));
    let mut out = Json::object(head).compact();
    out.push('\n');
    for row in &report.rows {
        out.push_str(&row_json(&report.columns, row).compact());
        out.push('\n');
    }
    out
}

/// How one report column is flattened into CSV columns.
enum Shape {
    /// One value.
    Single,
    /// One column per key (fixed counts, breakdowns, cash per currency),
    /// with the value to write where a row lacks the key.
    Keys(Vec<(String, String)>),
    /// One column per listed value: true where the row's list holds it.
    Members(Vec<String>),
    /// `column.currency` and `column.amount`.
    Money,
}

fn shapes(report: &Report) -> Vec<Shape> {
    (0..report.columns.len())
        .map(|i| {
            let cells: Vec<&Cell> = report.rows.iter().map(|row| &row[i]).collect();
            let mut keys: BTreeSet<(u8, String, String)> = BTreeSet::new();
            let mut members: BTreeSet<String> = BTreeSet::new();
            let mut fixed: Option<Vec<(String, String)>> = None;
            let mut money = false;
            for cell in &cells {
                match cell {
                    Cell::Counts(counts) => {
                        fixed.get_or_insert_with(|| {
                            counts
                                .iter()
                                .map(|(k, _)| ((*k).to_owned(), "0".to_owned()))
                                .collect()
                        });
                    }
                    Cell::Breakdown(counts) => {
                        for (key, _) in counts {
                            // "not_stated" after the real keys.
                            let rank = u8::from(key == crate::victims::NOT_STATED);
                            keys.insert((rank, key.clone(), "0".to_owned()));
                        }
                    }
                    Cell::Cash(amounts) => {
                        for (currency, _) in amounts {
                            keys.insert((
                                0,
                                currency.code().to_owned(),
                                format_minor_units(0, *currency),
                            ));
                        }
                    }
                    Cell::List(items) => members.extend(items.iter().cloned()),
                    Cell::Amount(..) => money = true,
                    _ => {}
                }
            }
            if let Some(fixed) = fixed {
                Shape::Keys(fixed)
            } else if !keys.is_empty() {
                Shape::Keys(keys.into_iter().map(|(_, k, zero)| (k, zero)).collect())
            } else if cells
                .iter()
                .any(|c| matches!(c, Cell::Cash(_) | Cell::Breakdown(_)))
            {
                // Nothing under any key in any row: no column to write.
                Shape::Keys(Vec::new())
            } else if !members.is_empty() || cells.iter().any(|c| matches!(c, Cell::List(_))) {
                Shape::Members(members.into_iter().collect())
            } else if money {
                Shape::Money
            } else {
                Shape::Single
            }
        })
        .collect()
}

fn csv_header(columns: &[&str], shapes: &[Shape]) -> Vec<String> {
    let mut names = Vec::new();
    for (column, shape) in columns.iter().zip(shapes) {
        match shape {
            Shape::Single => names.push((*column).to_owned()),
            Shape::Keys(keys) => names.extend(keys.iter().map(|(k, _)| format!("{column}.{k}"))),
            Shape::Members(values) => names.extend(values.iter().map(|v| format!("{column}.{v}"))),
            Shape::Money => {
                names.push(format!("{column}.currency"));
                names.push(format!("{column}.amount"));
            }
        }
    }
    names
}

/// The machine text of a single value (no separators).
fn plain(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Bool(flag) => flag.to_string(),
        Cell::Text(text) => text.clone(),
        Cell::Int(n) | Cell::Exact(n) => n.to_string(),
        Cell::Decimal(currency, minor) | Cell::Amount(currency, minor) => {
            format_minor_units(*minor, *currency)
        }
        Cell::List(items) => items.join(" "),
        Cell::Json(text) => text.clone(),
        Cell::Counts(_) | Cell::Breakdown(_) | Cell::Cash(_) => json_text(cell),
    }
}

fn json_text(cell: &Cell) -> String {
    cell_json(cell).compact()
}

fn csv_cells(row: &[Cell], shapes: &[Shape]) -> Vec<String> {
    let mut out = Vec::new();
    for (cell, shape) in row.iter().zip(shapes) {
        match shape {
            Shape::Single => out.push(plain(cell)),
            Shape::Keys(keys) => {
                let value = |key: &str| -> Option<String> {
                    match cell {
                        Cell::Counts(counts) => counts
                            .iter()
                            .find(|(k, _)| *k == key)
                            .map(|(_, n)| n.to_string()),
                        Cell::Breakdown(counts) => counts
                            .iter()
                            .find(|(k, _)| k == key)
                            .map(|(_, n)| n.to_string()),
                        Cell::Cash(amounts) => amounts
                            .iter()
                            .find(|(c, _)| c.code() == key)
                            .map(|(c, minor)| format_minor_units(*minor, *c)),
                        _ => None,
                    }
                };
                out.extend(
                    keys.iter()
                        .map(|(key, zero)| value(key).unwrap_or_else(|| zero.clone())),
                );
            }
            Shape::Members(values) => {
                let items: &[String] = match cell {
                    Cell::List(items) => items,
                    _ => &[],
                };
                out.extend(values.iter().map(|v| items.contains(v).to_string()));
            }
            Shape::Money => match cell {
                Cell::Amount(currency, minor) => {
                    out.push(currency.code().to_owned());
                    out.push(format_minor_units(*minor, *currency));
                }
                _ => {
                    out.push(String::new());
                    out.push(String::new());
                }
            },
        }
    }
    out
}

/// True for text a spreadsheet reads as a number, not a formula.
fn is_plain_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// One CSV field: quoted when it holds a separator, a quote or a line end
/// (RFC 4180), and prefixed with `'` when it starts like a formula (`=`,
/// `+`, `-`, `@`, a tab or a carriage return) and is not a plain number,
/// so that a spreadsheet shows it instead of running it.
pub fn csv_field(text: &str) -> String {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(text);
    let text = if risky {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// One CSV record, LF-terminated.
pub fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line = fields
        .iter()
        .map(|f| csv_field(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// CSV with a header row: nested figures flattened into `column.key`
/// columns (cash into one column per currency in the report, lists into one
/// true/false column per value), LF line ends.
pub fn csv(report: &Report) -> String {
    let shapes = shapes(report);
    let mut out = csv_line(&csv_header(&report.columns, &shapes));
    for row in &report.rows {
        out.push_str(&csv_line(&csv_cells(row, &shapes)));
    }
    out
}

/// `1 item`, `2 items`.
pub fn plural(count: i128, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        with_separators(count),
        if count == 1 { one } else { many }
    )
}

fn amount(minor: i128, currency: domain::Currency) -> String {
    decimal_with_separators(minor, currency)
}

/// The text people read for a cell: thousands separators, nested counts as
/// `key n` (non-zero only), and `0` where there is nothing to list.
pub fn human(cell: &Cell) -> String {
    let nonzero = |pairs: Vec<(String, i128)>| -> String {
        let shown: Vec<String> = pairs
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|(k, n)| format!("{k} {}", with_separators(n)))
            .collect();
        if shown.is_empty() {
            "0".to_owned()
        } else {
            shown.join(", ")
        }
    };
    match cell {
        Cell::Null => String::new(),
        Cell::Bool(flag) => (if *flag { "yes" } else { "no" }).to_owned(),
        Cell::Text(text) => text.clone(),
        Cell::Int(n) | Cell::Exact(n) => with_separators(*n),
        Cell::List(items) => items.join(" "),
        Cell::Counts(counts) => {
            nonzero(counts.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect())
        }
        Cell::Breakdown(counts) => nonzero(counts.clone()),
        Cell::Cash(amounts) if amounts.is_empty() => "0".to_owned(),
        Cell::Cash(amounts) => amounts
            .iter()
            .map(|(currency, minor)| format!("{} {currency}", amount(*minor, *currency)))
            .collect::<Vec<_>>()
            .join(", "),
        Cell::Amount(currency, minor) => format!("{} {currency}", amount(*minor, *currency)),
        Cell::Decimal(currency, minor) => amount(*minor, *currency),
        Cell::Json(text) => text.clone(),
    }
}

/// Whether people read the cell as a number (right-aligned). Nested
/// counts read as text (`sexual 7, labour 2`).
pub fn is_numeric(cell: &Cell) -> bool {
    matches!(
        cell,
        Cell::Int(_) | Cell::Exact(_) | Cell::Decimal(..) | Cell::Amount(..) | Cell::Cash(_)
    )
}

/// A grid of text, as tables, Markdown and HTML show a report.
#[derive(Debug)]
pub struct Grid {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Right-aligned (numeric) columns.
    pub right: Vec<bool>,
    /// Rows whose cells are text even in a numeric column (the transposed
    /// summary's name, status… lines).
    pub text_rows: Vec<bool>,
    /// For each row, the report column each cell comes from (the figure's
    /// name in the transposed summary), for pages that mark their cells.
    pub keys: Vec<String>,
}

impl Grid {
    pub fn right_aligned(&self, row: usize, column: usize) -> bool {
        !self.text_rows.get(row).copied().unwrap_or(false)
            && self.right.get(column).copied().unwrap_or(false)
    }
}

/// The summary's figures one per line: fixed counts as `checks.passenger`,
/// cash as `cash.USD` (or one `cash` line of 0).
fn transposed_lines(report: &Report) -> Vec<(String, Vec<Cell>)> {
    let mut lines: Vec<(String, Vec<Cell>)> = Vec::new();
    for (i, column) in report.columns.iter().enumerate().skip(1) {
        let cells: Vec<&Cell> = report.rows.iter().map(|row| &row[i]).collect();
        match cells.first() {
            Some(Cell::Counts(counts)) => {
                for (k, (key, _)) in counts.iter().enumerate() {
                    let values = cells
                        .iter()
                        .map(|c| match c {
                            Cell::Counts(counts) => {
                                counts.get(k).map_or(Cell::Int(0), |(_, n)| Cell::Int(*n))
                            }
                            _ => Cell::Null,
                        })
                        .collect();
                    lines.push((format!("{column}.{key}"), values));
                }
            }
            Some(Cell::Cash(_)) => {
                let currencies: BTreeSet<domain::Currency> = cells
                    .iter()
                    .flat_map(|c| match c {
                        Cell::Cash(amounts) => amounts.iter().map(|(c, _)| *c).collect(),
                        _ => Vec::new(),
                    })
                    .collect();
                if currencies.is_empty() {
                    lines.push(((*column).to_owned(), vec![Cell::Int(0); cells.len()]));
                }
                for currency in currencies {
                    let values = cells
                        .iter()
                        .map(|c| match c {
                            Cell::Cash(amounts) => {
                                let minor = amounts
                                    .iter()
                                    .find(|(x, _)| *x == currency)
                                    .map_or(0, |(_, m)| *m);
                                Cell::Decimal(currency, minor)
                            }
                            _ => Cell::Null,
                        })
                        .collect();
                    lines.push((format!("{column}.{currency}"), values));
                }
            }
            _ => lines.push(((*column).to_owned(), cells.into_iter().cloned().collect())),
        }
    }
    lines
}

/// The report as a grid of human text. The summary has one row per
/// operation and many columns: people read it transposed, one line per
/// figure and one column per operation.
pub fn grid(report: &Report) -> Grid {
    if report.kind == ReportKind::Summary {
        let mut header = vec!["figure".to_owned()];
        header.extend(report.rows.iter().map(|row| human(&row[0])));
        let mut right = vec![false];
        right.extend(report.rows.iter().map(|_| true));
        let mut rows = Vec::new();
        let mut text_rows = Vec::new();
        let mut keys = Vec::new();
        for (name, cells) in transposed_lines(report) {
            let mut line = vec![name.clone()];
            line.extend(cells.iter().map(human));
            rows.push(line);
            text_rows.push(cells.is_empty() || !cells.iter().all(is_numeric));
            keys.push(name);
        }
        return Grid {
            header,
            rows,
            right,
            text_rows,
            keys,
        };
    }
    let header: Vec<String> = report.columns.iter().map(|c| (*c).to_owned()).collect();
    let right = (0..report.columns.len())
        .map(|i| {
            let cells: Vec<&Cell> = report
                .rows
                .iter()
                .map(|row| &row[i])
                .filter(|c| **c != Cell::Null)
                .collect();
            !cells.is_empty() && cells.iter().all(|c| is_numeric(c))
        })
        .collect();
    let quantity = report.columns.iter().position(|c| *c == "quantity");
    let unit = report.columns.iter().position(|c| *c == "unit");
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|row| {
            let mut cells: Vec<String> = row.iter().map(human).collect();
            // "1 item", not "1 items".
            if let (Some(q), Some(u)) = (quantity, unit) {
                if matches!(row[q], Cell::Int(1) | Cell::Exact(1)) {
                    cells[u] = singular(&cells[u]);
                }
            }
            cells
        })
        .collect();
    let text_rows = vec![false; rows.len()];
    Grid {
        header,
        keys: report.columns.iter().map(|c| (*c).to_owned()).collect(),
        rows,
        right,
        text_rows,
    }
}

fn singular(unit: &str) -> String {
    match unit {
        "items" => "item".to_owned(),
        "grams" => "gram".to_owned(),
        other => other.to_owned(),
    }
}

/// The widest a text cell grows in a table before it wraps.
pub const MAX_CELL_WIDTH: usize = 40;

/// Display width: wide characters count two columns, combining marks none.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Splits text into lines of at most `max` display columns, at spaces where
/// it can.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    if width(text) <= max {
        return vec![text.to_owned()];
    }
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_owned();
        loop {
            let gap = usize::from(!line.is_empty());
            if width(&line) + gap + width(&word) <= max {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than a line: cut it at the width.
            let mut head = String::new();
            let mut rest = String::new();
            for c in word.chars() {
                if rest.is_empty() && width(&head) + width(c.encode_utf8(&mut [0; 4])) <= max {
                    head.push(c);
                } else {
                    rest.push(c);
                }
            }
            if head.is_empty() {
                // One character wider than the line: it stands alone.
                let mut chars = rest.chars();
                head.extend(chars.next());
                rest = chars.collect();
            }
            lines.push(head);
            word = rest;
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn pad(text: &str, width_wanted: usize, right: bool) -> String {
    let fill = " ".repeat(width_wanted.saturating_sub(width(text)));
    if right {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

/// Lays out a grid as aligned text: columns two spaces apart, numbers to
/// the right, long text wrapped onto further lines of its row.
pub fn layout(grid: &Grid) -> String {
    let wrapped: Vec<Vec<Vec<String>>> = grid
        .rows
        .iter()
        .enumerate()
        .map(|(r, row)| {
            row.iter()
                .enumerate()
                .map(|(c, cell)| {
                    if grid.right_aligned(r, c) {
                        vec![cell.clone()]
                    } else {
                        wrap(cell, MAX_CELL_WIDTH)
                    }
                })
                .collect()
        })
        .collect();
    let header: Vec<Vec<String>> = grid
        .header
        .iter()
        .map(|h| wrap(h, MAX_CELL_WIDTH))
        .collect();
    let widths: Vec<usize> = (0..grid.header.len())
        .map(|i| {
            wrapped
                .iter()
                .filter_map(|row| row.get(i))
                .chain(std::iter::once(&header[i]))
                .flatten()
                .map(|line| width(line))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut emit = |cells: &[Vec<String>], row: Option<usize>| {
        let height = cells.iter().map(Vec::len).max().unwrap_or(1);
        for k in 0..height {
            let line = cells
                .iter()
                .enumerate()
                .map(|(i, lines)| {
                    let text = lines.get(k).map_or("", String::as_str);
                    pad(
                        text,
                        widths[i],
                        row.is_some_and(|r| grid.right_aligned(r, i)),
                    )
                })
                .collect::<Vec<_>>()
                .join("  ");
            out.push_str(line.trim_end());
            out.push('\n');
        }
    };
    emit(&header, None);
    let rule: Vec<Vec<String>> = widths.iter().map(|w| vec!["-".repeat(*w)]).collect();
    emit(&rule, None);
    for (r, row) in wrapped.iter().enumerate() {
        emit(row, Some(r));
    }
    out
}

/// What a filtered output counts, in words: `countries RS; from 2019-12-12`.
pub fn filter_words(operation: Option<&str>, filter: &crate::Filter) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(operation) = operation {
        parts.push(format!("operation {operation}"));
    }
    if !filter.countries.is_empty() {
        let codes: Vec<&str> = filter.countries.iter().map(|c| c.code()).collect();
        parts.push(format!("countries {}", codes.join(" ")));
    }
    if let Some(from) = filter.from {
        parts.push(format!("from {from}"));
    }
    if let Some(to) = filter.to {
        parts.push(format!("to {to}"));
    }
    if !filter.locations.is_empty() {
        let names: Vec<&str> = filter.locations.iter().map(|l| l.as_str()).collect();
        parts.push(format!("locations {}", names.join(" ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// An aligned table with thousands separators, and a last line saying what
/// log prefix (and what filter) it was built from.
pub fn table(report: &Report) -> String {
    let grid = grid(report);
    let mut out = layout(&grid);
    if grid.rows.is_empty() {
        out.push_str("(no rows)\n");
    }
    out.push_str(&format!(
        "\n{} as of position {} (hash {}); {}\n",
        report.kind,
        report.as_of.position,
        report.as_of.hash,
        json::verified_text(&report.verified)
    ));
    if let Some(words) = filter_words(report.operation.as_deref(), &report.filter) {
        out.push_str(&format!("filtered: {words}\n"));
    }
    out
}

/// A GitHub-flavoured Markdown table.
pub fn markdown(report: &Report) -> String {
    let grid = grid(report);
    let escape = |s: &String| s.replace('|', "\\|").replace('\n', " ");
    let mut out = String::new();
    let header: Vec<String> = grid.header.iter().map(escape).collect();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    let rule: Vec<&str> = (0..grid.header.len())
        .map(|i| {
            if grid.right.get(i).copied().unwrap_or(false) {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    out.push_str(&format!("|{}|\n", rule.join("|")));
    for row in &grid.rows {
        let cells: Vec<String> = row.iter().map(escape).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push_str(&format!(
        "\n_{} as of position {} (hash `{}`); {}_\n",
        report.kind,
        report.as_of.position,
        report.as_of.hash,
        json::verified_text(&report.verified)
    ));
    if let Some(words) = filter_words(report.operation.as_deref(), &report.filter) {
        out.push_str(&format!("\n_filtered: {}_\n", words.replace('|', "\\|")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_cells_are_neutralised_and_numbers_are_not() {
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for risky in ["+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx", "-", "=1"] {
            assert!(
                csv_field(risky).trim_start_matches('"').starts_with('\''),
                "{risky}"
            );
        }
        for number in ["-3", "-0.05", "12", "0"] {
            assert_eq!(csv_field(number), number);
        }
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_line(&["a", "b"]), "a,b\n");
    }

    #[test]
    fn wide_and_combining_characters_align_by_display_width() {
        assert_eq!(width("東京"), 4);
        assert_eq!(width("e\u{301}"), 1);
        let grid = Grid {
            header: vec!["name".into(), "n".into()],
            rows: vec![
                vec!["東京".into(), "1".into()],
                vec!["Cafe\u{301}".into(), "22".into()],
            ],
            right: vec![false, true],
            text_rows: vec![false, false],
            keys: vec![],
        };
        let text = layout(&grid);
        let ends: Vec<usize> = text.lines().map(width).collect();
        // The header line is trimmed; the rule and the rows line up.
        assert_eq!(ends, vec![7, 8, 8, 8], "{text}");
    }

    #[test]
    fn long_text_wraps_within_its_column() {
        let lines = wrap("Operation with a rather long name that goes on and on", 20);
        assert!(lines.iter().all(|l| width(l) <= 20), "{lines:?}");
        assert_eq!(
            lines.join(" "),
            "Operation with a rather long name that goes on and on"
        );
        let cut = wrap(&"x".repeat(45), 20);
        assert_eq!(
            cut.iter().map(|l| l.len()).collect::<Vec<_>>(),
            vec![20, 20, 5]
        );
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "item", "items"), "1 item");
        assert_eq!(plural(0, "item", "items"), "0 items");
        assert_eq!(plural(1200, "event", "events"), "1,200 events");
    }
}
