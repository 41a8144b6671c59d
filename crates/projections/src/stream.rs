//! Outputs written as they are read: the events, a trace, a diff. Rows go
//! out one at a time in any [`Format`], so memory does not grow with the
//! log; a table lays out its columns at fixed widths (wrapping long text)
//! because it cannot see the rows to come.
//!
//! A document is a head (what it is and where it comes from), one or more
//! sections of rows, and a tail. JSON writes `{head…, "section": [rows…],
//! …, tail…}` with keys in that order; JSON Lines writes the head as its
//! first line and then one object per row; CSV writes one header and the
//! rows of every section (sections share their columns); tables, Markdown
//! and HTML give each section a heading.

use std::io::{self, Write};

use crate::html::{self, Card, Provenance};
use crate::json::Json;
use crate::render::{csv_line, human, is_numeric, plural, width, wrap, Format};
use crate::report::Cell;

/// A streamed document in one format.
pub struct Stream<'w> {
    out: &'w mut dyn Write,
    format: Format,
    /// JSON: whether a field has been written at the top level.
    fields: usize,
    columns: Vec<&'static str>,
    widths: Vec<usize>,
    right: Vec<bool>,
    rows: u64,
    /// CSV: the header is written once.
    csv_header: bool,
    noun: (&'static str, &'static str),
}

impl std::fmt::Debug for Stream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("format", &self.format)
            .field("rows", &self.rows)
            .finish()
    }
}

/// A section's columns, with the widths a table gives them.
#[derive(Clone, Debug)]
pub struct Columns {
    pub names: Vec<&'static str>,
    /// Display widths for tables; text wider than its column wraps.
    pub widths: Vec<usize>,
    /// Right-aligned (numeric) columns in tables.
    pub right: Vec<bool>,
}

impl Columns {
    /// Columns for people: `(name, width, right-aligned)`.
    pub fn people(spec: &[(&'static str, usize, bool)]) -> Columns {
        Columns {
            names: spec.iter().map(|(n, _, _)| *n).collect(),
            widths: spec.iter().map(|(_, w, _)| *w).collect(),
            right: spec.iter().map(|(_, _, r)| *r).collect(),
        }
    }

    /// Columns for machines (JSON, CSV), whose widths do not matter.
    pub fn plain(names: &[&'static str]) -> Columns {
        Columns {
            names: names.to_vec(),
            widths: vec![12; names.len()],
            right: vec![false; names.len()],
        }
    }
}

impl<'w> Stream<'w> {
    /// Starts a document: `title` and `subtitle` head the human formats;
    /// `head` is what JSON writes first (and JSON Lines as its first line).
    pub fn start(
        out: &'w mut dyn Write,
        format: Format,
        title: &str,
        subtitle: &str,
        head: Vec<(&str, Json)>,
    ) -> io::Result<Stream<'w>> {
        let mut stream = Stream {
            out,
            format,
            fields: 0,
            columns: Vec::new(),
            widths: Vec::new(),
            right: Vec::new(),
            rows: 0,
            csv_header: false,
            noun: ("row", "rows"),
        };
        match format {
            Format::Json => {
                stream.out.write_all(b"{")?;
                for (key, value) in head {
                    stream.field(key, &value)?;
                }
            }
            Format::Jsonl => {
                let mut line = Json::object(head).compact();
                line.push('\n');
                stream.out.write_all(line.as_bytes())?;
            }
            Format::Table => {
                writeln!(stream.out, "{title}\n{subtitle}\n")?;
            }
            Format::Markdown => {
                writeln!(stream.out, "## {}\n\n_{}_\n", md(title), md(subtitle))?;
            }
            Format::Html => {
                stream
                    .out
                    .write_all(html::page_start(title, subtitle).as_bytes())?;
            }
            Format::Csv => {}
        }
        Ok(stream)
    }

    /// What a table's row count calls a row (`event`, `events`).
    pub fn noun(&mut self, one: &'static str, many: &'static str) {
        self.noun = (one, many);
    }

    /// One top-level JSON field (other formats show it elsewhere or not).
    pub fn field(&mut self, key: &str, value: &Json) -> io::Result<()> {
        if self.format != Format::Json {
            return Ok(());
        }
        let separator = if self.fields == 0 { "\n  " } else { ",\n  " };
        self.fields += 1;
        let mut text = String::from(separator);
        crate::json::write_string(&mut text, key);
        text.push_str(": ");
        // Nested values indented one level, as the rest of the document.
        text.push_str(&value.pretty().replace('\n', "\n  "));
        self.out.write_all(text.as_bytes())
    }

    /// Headline figures: cards on a page, `label: value` lines in a table.
    pub fn cards(&mut self, operation: Option<&str>, cards: &[Card]) -> io::Result<()> {
        match self.format {
            Format::Html => self.out.write_all(html::cards(operation, cards).as_bytes()),
            Format::Table => {
                for card in cards {
                    writeln!(self.out, "{}: {}", card.label, card.shown)?;
                }
                writeln!(self.out)
            }
            Format::Markdown => {
                for card in cards {
                    writeln!(self.out, "- **{}**: {}", md(&card.label), md(&card.shown))?;
                }
                writeln!(self.out)
            }
            _ => Ok(()),
        }
    }

    /// Raw HTML for pages (charts); nothing in other formats.
    pub fn html(&mut self, fragment: &str) -> io::Result<()> {
        if self.format == Format::Html {
            self.out.write_all(fragment.as_bytes())?;
        }
        Ok(())
    }

    /// Opens a section of rows under `key` (JSON) or `title` (people).
    pub fn begin(&mut self, key: &str, title: &str, columns: &Columns) -> io::Result<()> {
        self.columns = columns.names.clone();
        self.widths = columns.widths.clone();
        self.right = columns.right.clone();
        self.rows = 0;
        let names: Vec<String> = columns.names.iter().map(|c| (*c).to_owned()).collect();
        match self.format {
            Format::Json => {
                let separator = if self.fields == 0 { "\n  " } else { ",\n  " };
                self.fields += 1;
                let mut text = String::from(separator);
                crate::json::write_string(&mut text, key);
                text.push_str(": [");
                self.out.write_all(text.as_bytes())?;
            }
            Format::Csv => {
                if !self.csv_header {
                    self.csv_header = true;
                    self.out.write_all(csv_line(&names).as_bytes())?;
                }
            }
            Format::Table => {
                writeln!(self.out, "{title}")?;
                let header: Vec<Cell> = names.iter().map(|n| Cell::text(n.as_str())).collect();
                self.table_line(&header, false)?;
                let rule: Vec<Cell> = self
                    .widths
                    .iter()
                    .map(|w| Cell::text("-".repeat(*w)))
                    .collect();
                self.table_line(&rule, false)?;
            }
            Format::Markdown => {
                writeln!(self.out, "### {}\n", md(title))?;
                writeln!(
                    self.out,
                    "| {} |",
                    names.iter().map(|n| md(n)).collect::<Vec<_>>().join(" | ")
                )?;
                let rule: Vec<&str> = self
                    .right
                    .iter()
                    .map(|r| if *r { "---:" } else { "---" })
                    .collect();
                writeln!(self.out, "|{}|", rule.join("|"))?;
            }
            Format::Html => {
                self.out
                    .write_all(html::heading(2, title, None).as_bytes())?;
                self.out
                    .write_all(html::table_start(&names, &self.right).as_bytes())?;
            }
            Format::Jsonl => {}
        }
        Ok(())
    }

    fn table_line(&mut self, cells: &[Cell], numbers_right: bool) -> io::Result<()> {
        let texts: Vec<Vec<String>> = cells
            .iter()
            .zip(&self.widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                let text = human(cell);
                if numbers_right && self.right.get(i).copied().unwrap_or(false) {
                    vec![text]
                } else {
                    wrap(&text, (*w).max(1))
                }
            })
            .collect();
        let height = texts.iter().map(Vec::len).max().unwrap_or(1);
        for k in 0..height {
            let mut line = String::new();
            for (i, lines) in texts.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let text = lines.get(k).map_or("", String::as_str);
                let fill = " ".repeat(self.widths[i].saturating_sub(width(text)));
                if numbers_right && self.right.get(i).copied().unwrap_or(false) {
                    line.push_str(&fill);
                    line.push_str(text);
                } else {
                    line.push_str(text);
                    line.push_str(&fill);
                }
            }
            writeln!(self.out, "{}", line.trim_end())?;
        }
        Ok(())
    }

    /// One row, its cells under the section's columns.
    pub fn row(&mut self, cells: &[Cell]) -> io::Result<()> {
        self.rows += 1;
        match self.format {
            Format::Json => {
                let separator = if self.rows == 1 { "\n    " } else { ",\n    " };
                let object = crate::render::row_json(&self.columns, cells).compact();
                self.out.write_all(separator.as_bytes())?;
                self.out.write_all(object.as_bytes())
            }
            Format::Jsonl => {
                let mut object = crate::render::row_json(&self.columns, cells).compact();
                object.push('\n');
                self.out.write_all(object.as_bytes())
            }
            Format::Csv => {
                let fields: Vec<String> = cells.iter().map(csv_text).collect();
                self.out.write_all(csv_line(&fields).as_bytes())
            }
            Format::Table => self.table_line(cells, true),
            Format::Markdown => {
                let texts: Vec<String> = cells.iter().map(|c| md(&human(c))).collect();
                writeln!(self.out, "| {} |", texts.join(" | "))
            }
            Format::Html => {
                let texts: Vec<String> = cells.iter().map(human).collect();
                let numeric: Vec<bool> = cells.iter().map(is_numeric).collect();
                let keys: Vec<String> = self.columns.iter().map(|c| (*c).to_owned()).collect();
                self.out
                    .write_all(html::table_row(&texts, &numeric, &keys).as_bytes())
            }
        }
    }

    /// Closes the section.
    pub fn end(&mut self) -> io::Result<()> {
        match self.format {
            Format::Json => {
                let close = if self.rows == 0 { "]" } else { "\n  ]" };
                self.out.write_all(close.as_bytes())
            }
            Format::Table => {
                let (one, many) = self.noun;
                writeln!(self.out, "({})\n", plural(i128::from(self.rows), one, many))
            }
            Format::Markdown => writeln!(self.out),
            Format::Html => {
                self.out.write_all(html::table_end().as_bytes())?;
                if self.rows == 0 {
                    self.out.write_all(b"<p>No rows.</p>\n")?;
                }
                Ok(())
            }
            Format::Csv | Format::Jsonl => Ok(()),
        }
    }

    /// Ends the document: `tail` fields (JSON), and the provenance line or
    /// footer (people).
    pub fn finish(
        mut self,
        tail: Vec<(&str, Json)>,
        provenance: &Provenance<'_>,
    ) -> io::Result<()> {
        match self.format {
            Format::Json => {
                for (key, value) in tail {
                    self.field(key, &value)?;
                }
                self.out.write_all(b"\n}\n")?;
            }
            Format::Table | Format::Markdown => {
                let mut line = format!(
                    "{} as of position {} (hash {})",
                    provenance.what, provenance.as_of.position, provenance.as_of.hash
                );
                for (label, value) in &provenance.extra {
                    line.push_str(&format!("; {label} {value}"));
                }
                if let Some(words) =
                    crate::render::filter_words(provenance.operation, provenance.filter)
                {
                    line.push_str(&format!("\nfiltered: {words}"));
                }
                if self.format == Format::Markdown {
                    writeln!(self.out, "_{}_", md(&line))?;
                } else {
                    writeln!(self.out, "{line}")?;
                }
            }
            Format::Html => self.out.write_all(html::page_end(provenance).as_bytes())?,
            Format::Csv | Format::Jsonl => {}
        }
        self.out.flush()
    }
}

/// A value as one CSV cell: nested values as their compact JSON.
fn csv_text(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Bool(flag) => flag.to_string(),
        Cell::Text(text) => text.clone(),
        Cell::Int(n) | Cell::Exact(n) => n.to_string(),
        Cell::Decimal(currency, minor) => domain::format_minor_units(*minor, *currency),
        other => crate::render::cell_json(other).compact(),
    }
}

fn md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Filter;
    use event_store::Head;

    fn document(format: Format) -> String {
        let mut out = Vec::new();
        let columns = Columns {
            names: vec!["position", "type"],
            widths: vec![8, 12],
            right: vec![true, false],
        };
        let filter = Filter::default();
        let mut stream = Stream::start(
            &mut out,
            format,
            "Events",
            "as of 2",
            vec![("report", Json::str("events"))],
        )
        .expect("start");
        stream.begin("rows", "Events", &columns).expect("begin");
        stream
            .row(&[Cell::Int(1), Cell::text("=cmd")])
            .expect("row");
        stream.row(&[Cell::Int(2), Cell::text("b")]).expect("row");
        stream.end().expect("end");
        stream
            .finish(
                vec![("as_of", crate::json::as_of(&Head::EMPTY))],
                &Provenance {
                    what: "events",
                    as_of: Head::EMPTY,
                    extra: vec![],
                    operation: None,
                    filter: &filter,
                    generated_by: "test",
                },
            )
            .expect("finish");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn a_streamed_document_is_valid_in_every_format() {
        let json: serde_json::Value = serde_json::from_str(&document(Format::Json)).expect("json");
        assert_eq!(json["report"], "events");
        assert_eq!(json["rows"][1]["type"], "b");
        assert_eq!(json["as_of"]["position"], 0);
        let jsonl = document(Format::Jsonl);
        let lines: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).expect("line"))
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["position"], 2);
        assert_eq!(document(Format::Csv), "position,type\n1,'=cmd\n2,b\n");
        let table = document(Format::Table);
        assert!(table.contains("       1  =cmd"), "{table}");
        assert!(table.contains("(2 rows)"), "{table}");
        assert!(document(Format::Html).ends_with("</html>\n"));
    }
}
