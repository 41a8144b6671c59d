//! Renderers: the same report as JSON (for machines and for re-deriving a
//! published figure), CSV, Markdown, or an aligned table for people.

use std::fmt;
use std::str::FromStr;

use domain::format_minor_units;
use serde_json::{Map, Value};

use crate::replay::Verified;
use crate::report::{decimal_with_separators, with_separators, Cell, Report, ReportKind};

/// How to print a report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Table,
    Json,
    Csv,
    Markdown,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Format, String> {
        match text {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "markdown" => Ok(Format::Markdown),
            _ => Err(format!(
                "unknown format {text:?} (one of table, json, csv, markdown)"
            )),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Markdown => "markdown",
        })
    }
}

/// Renders a report. `generated_by` names the program and its version.
pub fn render(report: &Report, format: Format, generated_by: &str) -> String {
    match format {
        Format::Json => json(report, generated_by),
        Format::Csv => csv(report),
        Format::Table => table(report),
        Format::Markdown => markdown(report),
    }
}

fn json_cell(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Bool(flag) => Value::Bool(*flag),
        Cell::Text(text) => Value::String(text.clone()),
        Cell::Int(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Cell::List(items) => Value::Array(items.iter().cloned().map(Value::String).collect()),
        Cell::Counts(counts) => Value::Object(
            counts
                .iter()
                .map(|(key, n)| {
                    (
                        (*key).to_owned(),
                        serde_json::to_value(n).unwrap_or(Value::Null),
                    )
                })
                .collect(),
        ),
        Cell::Cash(amounts) => Value::Object(
            amounts
                .iter()
                .map(|(currency, minor)| {
                    (
                        currency.code().to_owned(),
                        Value::String(format_minor_units(*minor, *currency)),
                    )
                })
                .collect(),
        ),
        Cell::Amount(currency, minor) => {
            let mut object = Map::new();
            object.insert("currency".into(), Value::String(currency.code().to_owned()));
            object.insert(
                "amount".into(),
                Value::String(format_minor_units(*minor, *currency)),
            );
            Value::Object(object)
        }
        Cell::Decimal(currency, minor) => Value::String(format_minor_units(*minor, *currency)),
    }
}

/// What the replay checked: `{"from", "to", "checkpoint"}`, the checkpoint
/// being `{"position", "hash"}` or `null` (checked from position 1).
fn verified_json(verified: &Verified) -> Value {
    let mut out = Map::new();
    out.insert("from".into(), Value::from(verified.from));
    out.insert("to".into(), Value::from(verified.to));
    out.insert(
        "checkpoint".into(),
        match verified.checkpoint {
            Some(head) => {
                let mut checkpoint = Map::new();
                checkpoint.insert("position".into(), Value::from(head.position));
                checkpoint.insert("hash".into(), Value::String(head.hash.to_string()));
                Value::Object(checkpoint)
            }
            None => Value::Null,
        },
    );
    Value::Object(out)
}

/// How the table and Markdown footers say what was checked.
fn verified_text(verified: &Verified) -> String {
    match verified.checkpoint {
        Some(head) if verified.from > verified.to => {
            format!("from a checkpoint at position {}", head.position)
        }
        Some(head) => format!(
            "from a checkpoint at position {}, records {}..{} chain-checked",
            head.position, verified.from, verified.to
        ),
        None => format!("records 1..{} chain-checked", verified.to),
    }
}

/// `{"report", "as_of": {"position", "hash", "verified"}, "generated_by", "rows"}`.
pub fn json(report: &Report, generated_by: &str) -> String {
    let rows: Vec<Value> = report
        .rows
        .iter()
        .map(|row| {
            Value::Object(
                report
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(column, cell)| ((*column).to_owned(), json_cell(cell)))
                    .collect(),
            )
        })
        .collect();
    let mut as_of = Map::new();
    as_of.insert("position".into(), Value::from(report.as_of.position));
    as_of.insert("hash".into(), Value::String(report.as_of.hash.to_string()));
    as_of.insert("verified".into(), verified_json(&report.verified));
    let mut top = Map::new();
    top.insert("report".into(), Value::String(report.kind.to_string()));
    top.insert("as_of".into(), Value::Object(as_of));
    top.insert(
        "generated_by".into(),
        Value::String(generated_by.to_owned()),
    );
    top.insert("rows".into(), Value::Array(rows));
    let mut out = serde_json::to_string_pretty(&Value::Object(top)).unwrap_or_default();
    out.push('\n');
    out
}

/// Flattens fixed-key counts into `column.key` columns, as CSV and the
/// transposed tables show them.
fn flat_columns(report: &Report) -> Vec<String> {
    let mut names = Vec::new();
    for (i, column) in report.columns.iter().enumerate() {
        match report.rows.first().map(|row| &row[i]) {
            Some(Cell::Counts(counts)) => {
                names.extend(counts.iter().map(|(key, _)| format!("{column}.{key}")));
            }
            _ => names.push((*column).to_owned()),
        }
    }
    names
}

fn flat_cells(row: &[Cell], human: bool) -> Vec<String> {
    let mut out = Vec::new();
    for cell in row {
        match cell {
            Cell::Counts(counts) => out.extend(counts.iter().map(|(_, n)| number(*n, human))),
            other => out.push(cell_text(other, human)),
        }
    }
    out
}

fn number(n: i128, human: bool) -> String {
    if human {
        with_separators(n)
    } else {
        n.to_string()
    }
}

fn cell_text(cell: &Cell, human: bool) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Bool(flag) => (if *flag { "yes" } else { "no" }).to_owned(),
        Cell::Text(text) => text.clone(),
        Cell::Int(n) => number(*n, human),
        Cell::List(items) => items.join(" "),
        Cell::Counts(counts) => counts
            .iter()
            .map(|(key, n)| format!("{key} {}", number(*n, human)))
            .collect::<Vec<_>>()
            .join("; "),
        Cell::Cash(amounts) => amounts
            .iter()
            .map(|(currency, minor)| format!("{} {currency}", amount(*minor, *currency, human)))
            .collect::<Vec<_>>()
            .join("; "),
        Cell::Amount(currency, minor) => format!("{} {currency}", amount(*minor, *currency, human)),
        Cell::Decimal(currency, minor) => amount(*minor, *currency, human),
    }
}

fn amount(minor: i128, currency: domain::Currency, human: bool) -> String {
    if human {
        decimal_with_separators(minor, currency)
    } else {
        format_minor_units(minor, currency)
    }
}

fn is_numeric(cell: &Cell) -> bool {
    matches!(
        cell,
        Cell::Int(_) | Cell::Counts(_) | Cell::Decimal(..) | Cell::Amount(..) | Cell::Cash(_)
    )
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// RFC 4180 CSV with a header row; counts are flattened into `column.key`.
pub fn csv(report: &Report) -> String {
    let mut out = String::new();
    let header: Vec<String> = flat_columns(report).iter().map(|c| csv_field(c)).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in &report.rows {
        let fields: Vec<String> = flat_cells(row, false)
            .iter()
            .map(|f| csv_field(f))
            .collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A grid of text. Cells are right-aligned where their column is numeric,
/// except in rows marked as text.
struct Grid {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
    text_rows: Vec<bool>,
}

impl Grid {
    fn right_aligned(&self, row: usize, column: usize) -> bool {
        !self.text_rows.get(row).copied().unwrap_or(false)
            && self.right.get(column).copied().unwrap_or(false)
    }

    fn widths(&self) -> Vec<usize> {
        (0..self.header.len())
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(i))
                    .chain(std::iter::once(&self.header[i]))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }
}

/// The summary has one row per operation and many columns: people read it
/// transposed, one line per figure and one column per operation.
fn grid(report: &Report) -> Grid {
    if report.kind == ReportKind::Summary {
        let names = flat_columns(report);
        let columns: Vec<Vec<String>> = report
            .rows
            .iter()
            .map(|row| flat_cells(row, true))
            .collect();
        let mut header = vec!["figure".to_owned()];
        header.extend(
            columns
                .iter()
                .map(|c| c.first().cloned().unwrap_or_default()),
        );
        let mut right = vec![false];
        right.extend(columns.iter().map(|_| true));
        let mut rows = Vec::new();
        let mut text_rows = Vec::new();
        for (i, name) in names.iter().enumerate().skip(1) {
            let mut line = vec![name.clone()];
            line.extend(
                columns
                    .iter()
                    .map(|c| c.get(i).cloned().unwrap_or_default()),
            );
            rows.push(line);
            let cells: Vec<&Cell> = report
                .rows
                .iter()
                .filter_map(|row| flat_cell(row, i))
                .collect();
            text_rows.push(cells.is_empty() || !cells.iter().all(|c| is_numeric(c)));
        }
        return Grid {
            header,
            rows,
            right,
            text_rows,
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
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|row| row.iter().map(|cell| cell_text(cell, true)).collect())
        .collect();
    let text_rows = vec![false; rows.len()];
    Grid {
        header,
        rows,
        right,
        text_rows,
    }
}

/// The cell behind flattened column `i` (for a Counts cell, the Counts cell).
fn flat_cell(row: &[Cell], i: usize) -> Option<&Cell> {
    let mut index = 0;
    for cell in row {
        let width = match cell {
            Cell::Counts(counts) => counts.len(),
            _ => 1,
        };
        if i < index + width {
            return Some(cell);
        }
        index += width;
    }
    None
}

fn pad(text: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(text.chars().count()));
    if right {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

/// An aligned table with thousands separators, and a line saying what log
/// prefix it was built from.
pub fn table(report: &Report) -> String {
    let grid = grid(report);
    let widths = grid.widths();
    let mut out = String::new();
    let line = |cells: &[String], row: Option<usize>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                pad(
                    cell,
                    widths[i],
                    row.is_some_and(|r| grid.right_aligned(r, i)),
                )
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    out.push_str(&line(&grid.header, None));
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    out.push('\n');
    for (r, row) in grid.rows.iter().enumerate() {
        out.push_str(&line(row, Some(r)));
        out.push('\n');
    }
    if grid.rows.is_empty() {
        out.push_str("(no rows)\n");
    }
    out.push_str(&format!(
        "\n{} as of position {} (hash {}); {}\n",
        report.kind,
        report.as_of.position,
        report.as_of.hash,
        verified_text(&report.verified)
    ));
    out
}

/// A GitHub-flavoured Markdown table.
pub fn markdown(report: &Report) -> String {
    let grid = grid(report);
    let escape = |s: &String| s.replace('|', "\\|");
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
        verified_text(&report.verified)
    ));
    out
}
