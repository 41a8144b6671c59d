//! A report as one self-contained HTML page, for a briefing: headline
//! cards, inline SVG charts (a daily timeline, bars per country or
//! location), the table, and a footer saying which log prefix and filters
//! it was built from.
//!
//! Pure functions returning strings, so that the CLI writes them to a file
//! and a network service can serve the same page. The page needs no script
//! and loads nothing: its Content-Security-Policy forbids both, every style
//! is inline, and all text (labels inside the SVG included) is escaped.
//! Figures carry their machine value in `data-value` attributes, so that a
//! test can read them back from a browser's DOM.

use std::collections::BTreeMap;

use event_store::Head;

use crate::filter::Filter;
use crate::render::{filter_words, grid, human, Grid};
use crate::report::{with_separators, Cell, Report, ReportKind};

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

const STYLE: &str = "
:root { color-scheme: light; --ink: #1d2733; --muted: #5b6b7c; --line: #d5dde6; --bar: #2f6f9f; --card: #f3f6f9; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem 2rem 3rem; font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; color: var(--ink); background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1rem; margin: 1.25rem 0 .25rem; color: var(--muted); font-weight: 600; }
p.subtitle { margin: 0 0 1rem; color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; margin: .75rem 0 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .9rem; min-width: 9rem; }
.card .value { display: block; font-size: 1.6rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.card .label { display: block; color: var(--muted); font-size: .85rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: .5rem 0; }
figcaption { font-weight: 600; font-size: .9rem; margin-bottom: .25rem; }
svg text { font: 11px system-ui, 'DejaVu Sans', sans-serif; fill: var(--ink); }
svg .bar rect { fill: var(--bar); }
svg .axis { stroke: var(--line); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .85rem; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: var(--card); position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.wrap { max-width: 28rem; overflow-wrap: break-word; }
footer { margin-top: 2rem; padding-top: .75rem; border-top: 1px solid var(--line); color: var(--muted); font-size: .8rem; }
footer dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0; }
footer dt { font-weight: 600; }
footer dd { margin: 0; overflow-wrap: anywhere; font-family: ui-monospace, 'DejaVu Sans Mono', monospace; }
@media print { body { max-width: none; padding: 0; } th { position: static; } }
";

/// The opening of a page: doctype, head (no script, nothing loaded), the
/// title and a subtitle.
pub fn page_start(title: &str, subtitle: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n\
         <h1>{title}</h1>\n<p class=\"subtitle\">{subtitle}</p>\n</header>\n<main>\n",
        title = escape(title),
        subtitle = escape(subtitle),
    )
}

/// A section heading.
pub fn heading(level: u8, text: &str, operation: Option<&str>) -> String {
    let level = level.clamp(2, 3);
    match operation {
        Some(operation) => format!(
            "<h{level} data-operation=\"{}\">{}</h{level}>\n",
            escape(operation),
            escape(text)
        ),
        None => format!("<h{level}>{}</h{level}>\n", escape(text)),
    }
}

/// One headline figure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Card {
    /// The figure's name as the JSON names it (`arrests`).
    pub figure: String,
    /// What people read under the number.
    pub label: String,
    /// The machine value (`236`, `200000.00`).
    pub value: String,
    /// What people read (`236`, `200,000.00 USD`).
    pub shown: String,
}

impl Card {
    /// A whole-number figure.
    pub fn count(figure: &str, value: i128) -> Card {
        Card {
            figure: figure.to_owned(),
            label: figure.replace('_', " "),
            value: value.to_string(),
            shown: with_separators(value),
        }
    }
}

/// A row of cards, each marked with its operation and figure.
pub fn cards(operation: Option<&str>, cards: &[Card]) -> String {
    let mut out = String::from("<div class=\"cards\">\n");
    for card in cards {
        out.push_str(&format!(
            "<div class=\"card\"{} data-figure=\"{}\" data-value=\"{}\"><span class=\"value\">{}</span><span class=\"label\">{}</span></div>\n",
            operation
                .map(|o| format!(" data-operation=\"{}\"", escape(o)))
                .unwrap_or_default(),
            escape(&card.figure),
            escape(&card.value),
            escape(&card.shown),
            escape(&card.label),
        ));
    }
    out.push_str("</div>\n");
    out
}

/// A bar chart of one figure over labelled keys (days, countries…).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chart {
    /// `timeline` (vertical bars over days) or `bars` (horizontal bars).
    pub kind: ChartKind,
    pub operation: String,
    /// The figure charted, as the JSON names it.
    pub figure: String,
    pub caption: String,
    /// `(key, value)` in display order.
    pub bars: Vec<(String, i128)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartKind {
    Timeline,
    Bars,
}

impl ChartKind {
    fn as_str(&self) -> &'static str {
        match self {
            ChartKind::Timeline => "timeline",
            ChartKind::Bars => "bars",
        }
    }
}

/// The chart as inline SVG inside a `<figure>`.
pub fn chart(chart: &Chart) -> String {
    let max = chart.bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let scale = |value: i128, length: f64| -> f64 {
        // Display geometry only: no figure is computed from it.
        #[allow(clippy::cast_precision_loss)]
        let ratio = value.max(0) as f64 / max as f64;
        (ratio * length).round()
    };
    let mut body = String::new();
    let (width, height) = match chart.kind {
        ChartKind::Timeline => {
            let (bar, gap, top, plot) = (34.0, 10.0, 18.0, 150.0);
            let width = 20.0 + (bar + gap) * chart.bars.len() as f64;
            body.push_str(&format!(
                "<line class=\"axis\" x1=\"10\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\"/>\n",
                y = top + plot,
                x2 = width - 10.0
            ));
            for (i, (key, value)) in chart.bars.iter().enumerate() {
                let h = scale(*value, plot);
                let x = 15.0 + (bar + gap) * i as f64;
                let label = key.get(5..).unwrap_or(key);
                body.push_str(&format!(
                    "<g class=\"bar\" data-key=\"{k}\" data-value=\"{v}\"><title>{k}: {shown}</title>\
                     <rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\"/>\
                     <text x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\">{shown}</text>\
                     <text x=\"{cx}\" y=\"{ly}\" text-anchor=\"middle\">{label}</text></g>\n",
                    k = escape(key),
                    v = value,
                    shown = with_separators(*value),
                    y = top + plot - h,
                    cx = x + bar / 2.0,
                    ty = top + plot - h - 4.0,
                    ly = top + plot + 14.0,
                    label = escape(label),
                ));
            }
            (width.max(120.0), top + plot + 24.0)
        }
        ChartKind::Bars => {
            let (row, label_width, plot) = (20.0, 150.0, 320.0);
            for (i, (key, value)) in chart.bars.iter().enumerate() {
                let w = scale(*value, plot);
                let y = 4.0 + row * i as f64;
                body.push_str(&format!(
                    "<g class=\"bar\" data-key=\"{k}\" data-value=\"{v}\"><title>{k}: {shown}</title>\
                     <text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{k}</text>\
                     <rect x=\"{label_width}\" y=\"{y}\" width=\"{w}\" height=\"{h}\"/>\
                     <text x=\"{vx}\" y=\"{ty}\">{shown}</text></g>\n",
                    k = escape(key),
                    v = value,
                    shown = with_separators(*value),
                    lx = label_width - 6.0,
                    ty = y + 12.0,
                    h = row - 6.0,
                    vx = label_width + w + 4.0,
                ));
            }
            (
                label_width + plot + 70.0,
                8.0 + row * chart.bars.len() as f64,
            )
        }
    };
    format!(
        "<figure class=\"chart\" data-chart=\"{kind}\" data-operation=\"{op}\" data-figure=\"{fig}\">\
         <figcaption>{caption}</figcaption>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{caption}\">\n{body}</svg></figure>\n",
        kind = chart.kind.as_str(),
        op = escape(&chart.operation),
        fig = escape(&chart.figure),
        caption = escape(&chart.caption),
    )
}

/// The opening of a table with its header row.
pub fn table_start(columns: &[String], numeric: &[bool]) -> String {
    let mut out = String::from("<div class=\"table-wrap\"><table>\n<thead><tr>");
    for (i, column) in columns.iter().enumerate() {
        let class = if numeric.get(i).copied().unwrap_or(false) {
            " class=\"num\""
        } else {
            ""
        };
        out.push_str(&format!("<th{class}>{}</th>", escape(column)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    out
}

/// One table row; `keys` names each cell's column in `data-column`.
pub fn table_row(cells: &[String], numeric: &[bool], keys: &[String]) -> String {
    let mut out = String::from("<tr>");
    for (i, cell) in cells.iter().enumerate() {
        let class = if numeric.get(i).copied().unwrap_or(false) {
            "num"
        } else {
            "wrap"
        };
        out.push_str(&format!(
            "<td class=\"{class}\" data-column=\"{}\">{}</td>",
            escape(keys.get(i).map_or("", String::as_str)),
            escape(cell)
        ));
    }
    out.push_str("</tr>\n");
    out
}

pub fn table_end() -> String {
    "</tbody></table></div>\n".to_owned()
}

/// What a page was built from.
#[derive(Clone, Debug)]
pub struct Provenance<'a> {
    /// `summary report`, `events`…
    pub what: &'a str,
    pub as_of: Head,
    /// Further facts about the prefix (the start of a diff, what was
    /// verified), as `(label, value)`.
    pub extra: Vec<(String, String)>,
    pub operation: Option<&'a str>,
    pub filter: &'a Filter,
    pub generated_by: &'a str,
}

/// The footer and the end of the page.
pub fn page_end(provenance: &Provenance<'_>) -> String {
    let mut facts = vec![
        ("built from".to_owned(), provenance.what.to_owned()),
        (
            "as of position".to_owned(),
            provenance.as_of.position.to_string(),
        ),
        ("hash".to_owned(), provenance.as_of.hash.to_string()),
    ];
    facts.extend(provenance.extra.iter().cloned());
    facts.push((
        "filters".to_owned(),
        filter_words(provenance.operation, provenance.filter).unwrap_or_else(|| "none".into()),
    ));
    facts.push((
        "generated by".to_owned(),
        provenance.generated_by.to_owned(),
    ));
    let mut out = String::from(
        "</main>\n<footer>\n<p>Every figure on this page is a projection of the log prefix below; \
         replaying the same prefix with the same filters gives the same page. \
         Suspects and victims appear in no output.</p>\n<dl class=\"provenance\">\n",
    );
    for (label, value) in facts {
        let key = label.replace(' ', "-");
        out.push_str(&format!(
            "<dt>{}</dt><dd data-provenance=\"{}\">{}</dd>\n",
            escape(&label),
            escape(&key),
            escape(&value)
        ));
    }
    out.push_str("</dl>\n</footer>\n</body>\n</html>\n");
    out
}

/// The whole grid as a table.
pub fn grid_table(grid: &Grid) -> String {
    let numeric: Vec<bool> = (0..grid.header.len())
        .map(|i| grid.right.get(i).copied().unwrap_or(false))
        .collect();
    let mut out = table_start(&grid.header, &numeric);
    for (r, row) in grid.rows.iter().enumerate() {
        let cells_numeric: Vec<bool> = (0..row.len()).map(|c| grid.right_aligned(r, c)).collect();
        // The transposed summary names each line's figure in its first
        // cell; other tables name each cell's column.
        let keys: Vec<String> = if grid.header.first().is_some_and(|h| h == "figure") {
            let mut keys = vec!["figure".to_owned()];
            keys.extend(
                grid.header
                    .iter()
                    .skip(1)
                    .map(|_| grid.keys.get(r).cloned().unwrap_or_default()),
            );
            keys
        } else {
            grid.keys.clone()
        };
        out.push_str(&table_row(row, &cells_numeric, &keys));
    }
    out.push_str(&table_end());
    if grid.rows.is_empty() {
        out.push_str("<p>No rows.</p>\n");
    }
    out
}

/// The headline figures of each kind of report: its whole-number columns
/// that add up across rows.
fn card_columns(kind: ReportKind) -> &'static [&'static str] {
    match kind {
        ReportKind::Summary => &[
            "arrests",
            "victims_rescued",
            "migrants_detected",
            "agents_deployed",
            "experts_deployed",
            "drugs_grams",
        ],
        ReportKind::Countries | ReportKind::Timeline => &[
            "arrests",
            "victims_rescued",
            "migrants_detected",
            "checks",
            "items_seized",
            "drugs_grams",
        ],
        ReportKind::Victims => &["victims_rescued", "minors"],
        ReportKind::Arrests => &["arrests", "with_network", "without_network"],
        ReportKind::Locations => &[
            "arrests",
            "victims_rescued",
            "migrants_detected",
            "items_seized",
        ],
        ReportKind::Networks => &["arrests"],
        ReportKind::Seizures | ReportKind::Consultations => &[],
    }
}

/// The figures charted, and over which column: days for the timeline,
/// countries, locations or networks for the others.
fn chart_columns(kind: ReportKind) -> (ChartKind, &'static str, &'static [&'static str]) {
    match kind {
        ReportKind::Timeline => (
            ChartKind::Timeline,
            "day",
            &["arrests", "victims_rescued", "migrants_detected"],
        ),
        ReportKind::Countries => (
            ChartKind::Bars,
            "country",
            &["arrests", "victims_rescued", "migrants_detected"],
        ),
        ReportKind::Victims => (ChartKind::Bars, "country", &["victims_rescued", "minors"]),
        ReportKind::Arrests => (ChartKind::Bars, "country", &["arrests"]),
        ReportKind::Locations => (
            ChartKind::Bars,
            "location",
            &["arrests", "migrants_detected"],
        ),
        ReportKind::Networks => (ChartKind::Bars, "network", &["arrests"]),
        ReportKind::Summary | ReportKind::Seizures | ReportKind::Consultations => {
            (ChartKind::Bars, "", &[])
        }
    }
}

fn column(report: &Report, name: &str) -> Option<usize> {
    report.columns.iter().position(|c| *c == name)
}

/// The cards of a summary row: its headline counts, then cash per
/// currency.
fn summary_cards(report: &Report, row: &[Cell]) -> Vec<Card> {
    let mut out: Vec<Card> = card_columns(ReportKind::Summary)
        .iter()
        .filter_map(|name| match column(report, name).map(|i| &row[i]) {
            Some(Cell::Int(n)) => Some(Card::count(name, *n)),
            _ => None,
        })
        .collect();
    if let Some(Cell::Cash(amounts)) = column(report, "cash").map(|i| &row[i]) {
        out.extend(cash_cards(amounts));
    }
    out
}

/// One card per currency of a cash cell.
pub fn cash_cards(amounts: &[(domain::Currency, i128)]) -> Vec<Card> {
    amounts
        .iter()
        .map(|(currency, minor)| Card {
            figure: format!("cash.{currency}"),
            label: format!("cash seized ({currency})"),
            value: domain::format_minor_units(*minor, *currency),
            shown: human(&Cell::Amount(*currency, *minor)),
        })
        .collect()
}

/// The whole page for a report.
pub fn report_page(report: &Report, generated_by: &str) -> String {
    let title = format!("theseus: {} report", report.kind);
    let mut subtitle = format!("As of log position {}", report.as_of.position);
    if let Some(words) = filter_words(report.operation.as_deref(), &report.filter) {
        subtitle.push_str(&format!(" · filtered: {words}"));
    }
    let mut out = page_start(&title, &subtitle);
    // Rows grouped by operation, in report order.
    let mut operations: BTreeMap<String, Vec<&Vec<Cell>>> = BTreeMap::new();
    for row in &report.rows {
        if let Some(Cell::Text(operation)) = row.first() {
            operations.entry(operation.clone()).or_default().push(row);
        }
    }
    let (chart_kind, key_column, charted) = chart_columns(report.kind);
    for (operation, rows) in &operations {
        let name = match (report.kind, column(report, "name")) {
            (ReportKind::Summary, Some(i)) => match &rows[0][i] {
                Cell::Text(name) => format!("{name} ({operation})"),
                _ => operation.clone(),
            },
            _ => operation.clone(),
        };
        out.push_str(&heading(2, &name, Some(operation)));
        let cards_shown = if report.kind == ReportKind::Summary {
            summary_cards(report, rows[0])
        } else {
            card_columns(report.kind)
                .iter()
                .filter_map(|name| {
                    let i = column(report, name)?;
                    let total = rows
                        .iter()
                        .map(|row| match &row[i] {
                            Cell::Int(n) => *n,
                            _ => 0,
                        })
                        .sum();
                    Some(Card::count(name, total))
                })
                .collect()
        };
        if !cards_shown.is_empty() {
            out.push_str(&cards(Some(operation), &cards_shown));
        }
        if let Some(key) = column(report, key_column) {
            let mut charts = String::new();
            for figure in charted {
                let Some(i) = column(report, figure) else {
                    continue;
                };
                let bars: Vec<(String, i128)> = rows
                    .iter()
                    .map(|row| {
                        let label = match &row[key] {
                            Cell::Null => "(none)".to_owned(),
                            other => human(other),
                        };
                        let value = match &row[i] {
                            Cell::Int(n) => *n,
                            _ => 0,
                        };
                        (label, value)
                    })
                    .collect();
                if bars.is_empty() {
                    continue;
                }
                let per = match chart_kind {
                    ChartKind::Timeline => "per day (UTC)".to_owned(),
                    ChartKind::Bars => format!("per {key_column}"),
                };
                charts.push_str(&chart(&Chart {
                    kind: chart_kind,
                    operation: operation.clone(),
                    figure: (*figure).to_owned(),
                    caption: format!("{} {per}", figure.replace('_', " ")),
                    bars,
                }));
            }
            if !charts.is_empty() {
                out.push_str("<div class=\"charts\">\n");
                out.push_str(&charts);
                out.push_str("</div>\n");
            }
        }
    }
    out.push_str(&heading(2, "Table", None));
    out.push_str(&grid_table(&grid(report)));
    out.push_str(&page_end(&Provenance {
        what: &format!("{} report", report.kind),
        as_of: report.as_of,
        extra: vec![(
            "verified".to_owned(),
            crate::json::verified_text(&report.verified),
        )],
        operation: report.operation.as_deref(),
        filter: &report.filter,
        generated_by,
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_everywhere() {
        assert_eq!(escape("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
        let svg = chart(&Chart {
            kind: ChartKind::Bars,
            operation: "op\"x".into(),
            figure: "arrests".into(),
            caption: "<b>".into(),
            bars: vec![("<i>".into(), 3)],
        });
        assert!(!svg.contains("<i>") && !svg.contains("<b>") && !svg.contains("op\"x"));
        assert!(svg.contains("data-value=\"3\""));
    }
}
