//! The dashboard: one self-contained page for a coordinator preparing a
//! press briefing. Per operation: headline cards (arrests, victims
//! rescued, migrants detected, checks, items seized, drugs, cash per
//! currency), a daily timeline and bars per country as inline SVG, and the
//! seizures table; a provenance footer names the log prefix (position,
//! hash) and the theseus version.
//!
//! Built from four reports of one log prefix (summary, timeline, countries,
//! seizures) with the page pieces of [`crate::html`], so that every figure
//! on it is a figure of those reports, each carrying its machine value in
//! `data-value` for a browser test to read back.

use crate::html::{self, Card, Chart, ChartKind, Provenance};
use crate::render::{grid, human};
use crate::report::{Cell, Report};

/// The four reports a dashboard shows, all of one log prefix.
#[derive(Clone, Copy, Debug)]
pub struct Reports<'a> {
    pub summary: &'a Report,
    pub timeline: &'a Report,
    pub countries: &'a Report,
    pub seizures: &'a Report,
}

fn column(report: &Report, name: &str) -> Option<usize> {
    report.columns.iter().position(|c| *c == name)
}

fn int(report: &Report, row: &[Cell], name: &str) -> i128 {
    match column(report, name).map(|i| &row[i]) {
        Some(Cell::Int(n)) => *n,
        Some(Cell::Counts(counts)) => counts.iter().map(|(_, n)| n).sum(),
        _ => 0,
    }
}

fn text(report: &Report, row: &[Cell], name: &str) -> String {
    match column(report, name).map(|i| &row[i]) {
        Some(Cell::Null) | None => String::new(),
        Some(cell) => human(cell),
    }
}

/// The rows of `report` that belong to `operation` (its first column).
fn rows_of<'r>(report: &'r Report, operation: &str) -> Vec<&'r Vec<Cell>> {
    report
        .rows
        .iter()
        .filter(|row| matches!(row.first(), Some(Cell::Text(o)) if o == operation))
        .collect()
}

/// The headline cards of one operation's summary row.
fn cards(summary: &Report, row: &[Cell]) -> Vec<Card> {
    let mut cards: Vec<Card> = [
        ("arrests", "arrests", "arrests"),
        ("victims_rescued", "victims_rescued", "victims rescued"),
        (
            "migrants_detected",
            "migrants_detected",
            "migrants detected",
        ),
        ("checks", "checks", "checks"),
        ("seizures", "items_seized", "items seized"),
        ("agents_deployed", "agents_deployed", "agents deployed"),
        ("drugs_grams", "drugs_grams", "drugs (grams)"),
    ]
    .into_iter()
    .map(|(column, figure, label)| Card {
        label: label.to_owned(),
        ..Card::count(figure, int(summary, row, column))
    })
    .collect();
    if let Some(Cell::Cash(amounts)) = column(summary, "cash").map(|i| &row[i]) {
        cards.extend(html::cash_cards(amounts));
    }
    cards
}

/// One figure charted over the rows' `key` column.
fn chart(
    report: &Report,
    rows: &[&Vec<Cell>],
    kind: ChartKind,
    operation: &str,
    key: &str,
    figure: &str,
    caption: &str,
) -> Option<String> {
    let key = column(report, key)?;
    let bars: Vec<(String, i128)> = rows
        .iter()
        .map(|row| (human(&row[key]), int(report, row, figure)))
        .collect();
    // A figure that is zero throughout says more as its card than as a
    // chart of empty bars.
    (bars.iter().any(|(_, value)| *value != 0)).then(|| {
        html::chart(&Chart {
            kind,
            operation: operation.to_owned(),
            figure: figure.to_owned(),
            caption: caption.to_owned(),
            bars,
        })
    })
}

/// The dashboard page.
pub fn page(reports: &Reports<'_>, generated_by: &str) -> String {
    let summary = reports.summary;
    let subtitle = format!(
        "Figures replayed from the ledger as of log position {}",
        summary.as_of.position
    );
    let mut out = html::page_start("theseus: operations dashboard", &subtitle);
    for row in &summary.rows {
        let Some(Cell::Text(operation)) = row.first() else {
            continue;
        };
        let name = text(summary, row, "name");
        let title = if name.is_empty() {
            operation.clone()
        } else {
            format!("{name} ({operation})")
        };
        out.push_str(&html::heading(2, &title, Some(operation)));
        let facts = [
            ("coordinator", text(summary, row, "coordinator")),
            ("status", text(summary, row, "status")),
            (
                "period",
                format!(
                    "{} to {}",
                    text(summary, row, "starts_on"),
                    text(summary, row, "ends_on")
                ),
            ),
            ("countries", text(summary, row, "countries")),
        ];
        let facts: Vec<String> = facts
            .iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(label, value)| format!("{label}: {value}"))
            .collect();
        out.push_str(&format!(
            "<p class=\"subtitle\">{}</p>\n",
            html::escape(&facts.join(" · "))
        ));
        out.push_str(&html::cards(Some(operation), &cards(summary, row)));
        let days = rows_of(reports.timeline, operation);
        let countries = rows_of(reports.countries, operation);
        let charts: Vec<String> = [
            chart(
                reports.timeline,
                &days,
                ChartKind::Timeline,
                operation,
                "day",
                "arrests",
                "arrests per day (UTC)",
            ),
            chart(
                reports.timeline,
                &days,
                ChartKind::Timeline,
                operation,
                "day",
                "migrants_detected",
                "migrants detected per day (UTC)",
            ),
            chart(
                reports.countries,
                &countries,
                ChartKind::Bars,
                operation,
                "country",
                "arrests",
                "arrests per country",
            ),
            chart(
                reports.countries,
                &countries,
                ChartKind::Bars,
                operation,
                "country",
                "victims_rescued",
                "victims rescued per country",
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !charts.is_empty() {
            out.push_str("<div class=\"charts\">\n");
            out.push_str(&charts.concat());
            out.push_str("</div>\n");
        }
        out.push_str(&html::heading(3, "Seizures", Some(operation)));
        let mut seizures = reports.seizures.clone();
        seizures
            .rows
            .retain(|row| matches!(row.first(), Some(Cell::Text(o)) if o == operation));
        out.push_str(&format!(
            "<div class=\"seizures\" data-operation=\"{}\">\n",
            html::escape(operation)
        ));
        out.push_str(&html::grid_table(&grid(&seizures)));
        out.push_str("</div>\n");
    }
    if summary.rows.is_empty() {
        out.push_str("<p>No operation has been reported yet.</p>\n");
    }
    out.push_str(&html::page_end(&Provenance {
        what: "the summary, timeline, countries and seizures reports",
        as_of: summary.as_of,
        extra: vec![(
            "verified".to_owned(),
            crate::json::verified_text(&summary.verified),
        )],
        operation: summary.operation.as_deref(),
        filter: &summary.filter,
        generated_by,
    }));
    out
}
