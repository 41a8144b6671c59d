//! `GET /`: the dashboard needs a token unless the server was told
//! otherwise, has the bytes of `theseus dashboard`, and, rendered in
//! headless Chromium, shows exactly the figures of the JSON reports.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Fixture, Server};
use crate::analyst::{attribute, rendered_dom, tags};

fn rows(json: &Value) -> &Vec<Value> {
    json["rows"].as_array().expect("rows")
}

#[test]
fn the_dashboard_needs_a_token_and_is_the_page_theseus_dashboard_prints() {
    let fixture = Fixture::new();
    let mut server = Server::start(&fixture.store, &[]);
    server.get("/", None).refused(401, "unauthenticated");
    fixture.store.run(&["dashboard"]).ok();
    let page = server.get("/", Some(&fixture.analyst));
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.header("content-security-policy").is_some());
    assert_eq!(page.text(), fixture.store.run(&["dashboard"]).ok());
    let one = server.get("/?operation=dunqett&as_of=737", Some(&fixture.analyst));
    assert_eq!(
        one.text(),
        fixture
            .store
            .run(&["dashboard", "--operation", "dunqett", "--as-of", "737"])
            .ok()
    );
    assert!(!one.text().contains("Operation Theseus"));
    server
        .get("/?operation=nothing", Some(&fixture.analyst))
        .refused(404, "not_found");
    let entries = server.access_log();
    assert_eq!(entries[1]["consulted"]["as_of"]["position"], 742);
    assert!(server.stop().success());
}

#[test]
fn the_dashboard_in_chromium_shows_the_figures_of_the_json_reports() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    let mut server = Server::start(store, &["--public-dashboard"]);
    let page = server.get("/", None);
    assert_eq!(page.status, 200, "{}", page.text());
    let Some(dom) = rendered_dom(&page.text()) else {
        return;
    };
    assert!(server.stop().success());
    let json = |kind: &str| store.run(&["report", kind, "--format", "json"]).json();
    let (summary, timeline, countries, seizures) = (
        json("summary"),
        json("timeline"),
        json("countries"),
        json("seizures"),
    );

    // Cards: each operation's headline figures.
    let cards = tags(&dom, "<div class=\"card\"");
    let mut seen = 0;
    for (tag, after) in &cards {
        let operation = attribute(tag, "data-operation").expect("operation");
        let figure = attribute(tag, "data-figure").expect("figure");
        let value = attribute(tag, "data-value").expect("value");
        let row = rows(&summary)
            .iter()
            .find(|r| r["operation"] == operation.as_str())
            .expect("the operation's row");
        let total = |field: &str| -> String {
            row[field]
                .as_object()
                .expect("counts")
                .values()
                .map(|n| n.as_i64().expect("count"))
                .sum::<i64>()
                .to_string()
        };
        let expected = match figure.as_str() {
            "checks" => total("checks"),
            "items_seized" => total("seizures"),
            cash if cash.starts_with("cash.") => {
                row["cash"][&cash[5..]].as_str().expect("amount").to_owned()
            }
            other => row[other].to_string(),
        };
        assert_eq!(value, expected, "{operation} {figure}");
        let shown = after
            .split("<span class=\"value\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .expect("shown value");
        assert_eq!(
            shown.split(' ').next().unwrap_or("").replace(',', ""),
            value
        );
        seen += 1;
    }
    assert!(seen >= 15, "{seen} cards");
    let theseus_arrests = cards
        .iter()
        .find(|(t, _)| {
            t.contains("data-operation=\"theseus\"") && t.contains("data-figure=\"arrests\"")
        })
        .expect("the arrests card");
    assert!(theseus_arrests.1.contains(">236<"));

    // Charts: the timeline per day and the bars per country.
    let charts: Vec<&str> = dom.split("<figure class=\"chart\"").skip(1).collect();
    let mut bars = 0;
    for chart in &charts {
        let tag = &chart[..chart.find('>').expect("tag")];
        let kind = attribute(tag, "data-chart").expect("kind");
        let operation = attribute(tag, "data-operation").expect("operation");
        let figure = attribute(tag, "data-figure").expect("figure");
        let body = &chart[..chart.find("</figure>").expect("end of chart")];
        let shown: BTreeMap<String, i64> = tags(body, "<g class=\"bar\"")
            .into_iter()
            .map(|(tag, _)| {
                let key = attribute(tag, "data-key").expect("key");
                let value = attribute(tag, "data-value").expect("value");
                (key, value.parse().expect("a number"))
            })
            .collect();
        let (report, key) = match kind.as_str() {
            "timeline" => (&timeline, "day"),
            _ => (&countries, "country"),
        };
        let expected: BTreeMap<String, i64> = rows(report)
            .iter()
            .filter(|r| r["operation"] == operation.as_str())
            .map(|r| {
                let key = r[key].as_str().expect("key").to_owned();
                (key, r[figure.as_str()].as_i64().expect("figure"))
            })
            .collect();
        assert_eq!(shown, expected, "{kind} {operation} {figure}");
        bars += shown.len();
    }
    assert!(
        charts.len() >= 6 && bars >= 30,
        "{} charts, {bars} bars",
        charts.len()
    );

    // The seizures table of each operation: its rows, in order.
    for section in dom.split("<div class=\"seizures\"").skip(1) {
        let tag = &section[..section.find('>').expect("tag")];
        let operation = attribute(tag, "data-operation").expect("operation");
        let table = &section[..section.find("</table>").expect("table")];
        let shown: Vec<(String, String, String)> = table
            .split("<tr>")
            .skip(2)
            .map(|row| {
                let cell = |column: &str| -> String {
                    let marker = format!("data-column=\"{column}\">");
                    let start = row.find(&marker).expect("cell") + marker.len();
                    row[start..row[start..].find('<').expect("end") + start].to_owned()
                };
                (
                    cell("item"),
                    cell("quantity").replace(',', ""),
                    cell("country"),
                )
            })
            .collect();
        let expected: Vec<(String, String, String)> = rows(&seizures)
            .iter()
            .filter(|r| r["operation"] == operation.as_str())
            .map(|r| {
                (
                    r["item"].as_str().expect("item").to_owned(),
                    r["quantity"].as_str().expect("quantity").to_owned(),
                    r["country"].as_str().expect("country").to_owned(),
                )
            })
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(shown, expected, "{operation}");
    }

    // The footer names the prefix and the version; nothing is loaded.
    let head = store.run(&["head"]).ok();
    let hash = head.trim().split(':').nth(1).expect("hash");
    assert!(
        dom.contains(&format!("data-provenance=\"hash\">{hash}<")),
        "{dom}"
    );
    assert!(dom.contains(&format!("theseus {}", env!("CARGO_PKG_VERSION"))));
    assert!(!dom.contains("<script") && !dom.contains("src=\"http"));
}
