//! The analyst's side end to end: the five questions of issue 11 answered on the sample store with the README's own commands, no pseudonym in any output, outputs tools can rely on, refusals, and the HTML pages checked in a real browser.

use std::collections::{BTreeMap, BTreeSet};

use chrono::DateTime;
use serde_json::Value;

use crate::support::{root, Run, Store, FORMATS, REPORT_KINDS};

/// The README's text: every command a test runs here must appear in it, so
/// that the README shows exactly what answers each question.
fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// Runs a command as the README writes it (`theseus …`, maybe with a
/// redirection at the end), after checking that the README writes it so.
fn as_documented(store: &Store, command: &str) -> Run {
    assert!(
        readme().contains(command),
        "the README does not show `{command}`"
    );
    let command = command.split(" > ").next().unwrap_or(command);
    let args: Vec<&str> = command
        .strip_prefix("theseus ")
        .expect("a theseus command")
        .split(' ')
        .collect();
    store.run(&args)
}

/// One record of the sample log, read as plain JSON: the reference the
/// answers are checked against (no code of theseus involved).
struct Raw {
    id: String,
    event_type: String,
    data: Value,
}

fn raw_log() -> Vec<Raw> {
    let text = std::fs::read_to_string(root().join("events/00000000000000000001.jsonl"))
        .expect("sample segment");
    text.lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).expect("record");
            Raw {
                id: record["id"].as_str().expect("id").to_owned(),
                event_type: record["type"].as_str().expect("type").to_owned(),
                data: record["data"].clone(),
            }
        })
        .collect()
}

/// The Theseus records that stand (not retracted), retractions left out.
fn standing() -> Vec<Raw> {
    let log = raw_log();
    let retracted: BTreeSet<String> = log
        .iter()
        .filter(|r| r.event_type == "EventRetracted")
        .map(|r| r.data["event_id"].as_str().expect("event_id").to_owned())
        .collect();
    log.into_iter()
        .filter(|r| !retracted.contains(&r.id) && r.event_type != "EventRetracted")
        .filter(|r| r.data.get("occurred_at").is_none() || theseus_period(&r.data))
        .collect()
}

fn theseus_period(data: &Value) -> bool {
    utc_day(data).as_str() <= "2019-12-16"
}

fn utc_day(data: &Value) -> String {
    let at = data["occurred_at"].as_str().expect("occurred_at");
    DateTime::parse_from_rfc3339(at)
        .expect("rfc 3339")
        .with_timezone(&chrono::Utc)
        .date_naive()
        .to_string()
}

fn rows(json: &Value) -> &Vec<Value> {
    json["rows"].as_array().expect("rows")
}

fn sum(rows: &[Value], field: &str) -> i64 {
    rows.iter()
        .map(|r| r[field].as_i64().expect("number"))
        .sum()
}

#[test]
fn how_many_arrests_did_serbia_make_on_12_december() {
    let store = Store::sample();
    let report = as_documented(
        &store,
        "theseus report arrests --operation theseus --country RS --from 2019-12-12 --to 2019-12-12 --format json",
    )
    .json();
    let reference = standing()
        .iter()
        .filter(|r| r.event_type == "ArrestMade" && r.data["country"] == "RS")
        .filter(|r| utc_day(&r.data) == "2019-12-12")
        .count();
    assert_eq!(reference, 4, "the issue's answer");
    assert_eq!(rows(&report).len(), 1);
    assert_eq!(rows(&report)[0]["arrests"], 4);
    assert_eq!(
        report["filters"],
        serde_json::json!({"operation": "theseus", "countries": ["RS"], "from": "2019-12-12", "to": "2019-12-12", "locations": []})
    );
    let summary = store
        .run(&[
            "report",
            "summary",
            "--country",
            "RS",
            "--from",
            "2019-12-12",
            "--to",
            "2019-12-12",
            "--format",
            "json",
        ])
        .json();
    let theseus = rows(&summary)
        .iter()
        .find(|r| r["operation"] == "theseus")
        .expect("theseus");
    assert_eq!(theseus["arrests"], 4, "the summary agrees");
}

#[test]
fn which_events_make_up_the_236_arrests_and_which_were_retracted_and_why() {
    let store = Store::sample();
    let trace = as_documented(
        &store,
        "theseus trace --operation theseus arrests --format json",
    )
    .json();
    assert_eq!(trace["figure"], "arrests");
    assert_eq!(trace["total"], 236);
    assert_eq!(rows(&trace).len(), 236);
    assert!(rows(&trace)
        .iter()
        .all(|r| r["type"] == "ArrestMade" && r["contribution"] == 1));
    let retracted = trace["retracted"].as_array().expect("retracted");
    assert_eq!(retracted.len(), 3);
    for event in retracted {
        assert!(
            event["retraction_reason"]
                .as_str()
                .expect("reason")
                .starts_with("duplicate report: same suspect reported by two units"),
            "{event}"
        );
        assert!(event["retracted_by"].as_u64().expect("position") > 700);
    }
    let listed = as_documented(&store, "theseus events --operation theseus --retracted").ok();
    assert!(listed.contains("duplicate report"), "{listed}");
    assert!(listed.contains("typing error"), "{listed}");
    assert!(listed.contains("(5 events)"), "{listed}");
}

#[test]
fn what_changed_between_the_preliminary_and_the_final_figures() {
    let store = Store::sample();
    let diff = as_documented(
        &store,
        "theseus diff --operation theseus --from 2019-12-21T00:00:00Z --format json",
    )
    .json();
    let arrests = diff["figures"]
        .as_array()
        .expect("figures")
        .iter()
        .find(|f| f["figure"] == "arrests")
        .expect("arrests changed");
    assert_eq!(arrests["before"], "239");
    assert_eq!(arrests["after"], "236");
    assert_eq!(arrests["change"], "-3");
    let events = diff["events"].as_array().expect("events");
    let behind: Vec<&Value> = events.iter().filter(|e| e["figure"] == "arrests").collect();
    assert_eq!(behind.len(), 3);
    assert!(behind.iter().all(|e| e["type"] == "EventRetracted"
        && e["contribution"] == "-1"
        && e["retracts"].is_u64()));
}

#[test]
fn a_chart_for_the_briefing() {
    let store = Store::sample();
    let page = as_documented(
        &store,
        "theseus report timeline --operation theseus --format html > briefing.html",
    )
    .ok();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<svg"), "an inline chart");
    assert!(
        page.contains("data-provenance=\"hash\""),
        "a provenance footer"
    );
    for needle in ["<script", " src=", " href=", "url("] {
        assert!(
            !page.contains(needle),
            "the page loads or runs nothing: {needle}"
        );
    }
}

#[test]
fn seizures_at_border_crossings_minors_by_nationality_and_arrests_by_offence() {
    let store = Store::sample();
    let standing = standing();
    let seizures = as_documented(
        &store,
        "theseus report seizures --operation theseus --location border_crossing --format json",
    )
    .json();
    let mut reference: BTreeMap<String, i64> = BTreeMap::new();
    for r in standing.iter().filter(|r| r.event_type == "ItemsSeized") {
        if r.data["location"] == "border_crossing" {
            *reference
                .entry(r.data["item"].as_str().expect("item").to_owned())
                .or_default() += r.data["count"].as_i64().expect("count");
        }
    }
    let mut reported: BTreeMap<String, i64> = BTreeMap::new();
    for row in rows(&seizures) {
        assert_eq!(
            row["unit"], "items",
            "drugs and cash have no location: {row}"
        );
        *reported
            .entry(row["item"].as_str().expect("item").to_owned())
            .or_default() += row["quantity"]
            .as_str()
            .expect("exact")
            .parse::<i64>()
            .expect("n");
    }
    assert!(!reference.is_empty());
    assert_eq!(reported, reference);

    let victims = as_documented(
        &store,
        "theseus report victims --operation theseus --format json",
    )
    .json();
    let rescues: Vec<&Raw> = standing
        .iter()
        .filter(|r| r.event_type == "VictimRescued")
        .collect();
    assert_eq!(sum(rows(&victims), "victims_rescued"), 89);
    let minors = rescues.iter().filter(|r| r.data["minor"] == true).count();
    assert_eq!(sum(rows(&victims), "minors") as usize, minors);
    let mut by_nationality: BTreeMap<String, i64> = BTreeMap::new();
    for r in &rescues {
        let key = r.data["nationality"]
            .as_str()
            .unwrap_or("not_stated")
            .to_owned();
        *by_nationality.entry(key).or_default() += 1;
    }
    let mut reported: BTreeMap<String, i64> = BTreeMap::new();
    for row in rows(&victims) {
        for (key, n) in row["nationality"].as_object().expect("breakdown") {
            *reported.entry(key.clone()).or_default() += n.as_i64().expect("n");
        }
        let exploitation: i64 = row["exploitation"]
            .as_object()
            .expect("counts")
            .values()
            .map(|n| n.as_i64().expect("n"))
            .sum();
        assert_eq!(exploitation, row["victims_rescued"].as_i64().expect("n"));
    }
    assert_eq!(reported, by_nationality);

    let arrests = as_documented(
        &store,
        "theseus report arrests --operation theseus --format json",
    )
    .json();
    let offence = |name: &str| -> i64 {
        rows(&arrests)
            .iter()
            .map(|r| r["offences"][name].as_i64().expect("n"))
            .sum()
    };
    // The sample's README: 71 for trafficking and 165 for smuggling.
    assert_eq!(offence("trafficking_in_persons"), 71);
    assert_eq!(offence("migrant_smuggling"), 165);
    assert_eq!(sum(rows(&arrests), "arrests"), 236);
    assert_eq!(
        sum(rows(&arrests), "with_network") + sum(rows(&arrests), "without_network"),
        236
    );
    let locations = as_documented(
        &store,
        "theseus report locations --operation theseus --format json",
    )
    .json();
    assert_eq!(sum(rows(&locations), "arrests"), 236);
    assert_eq!(sum(rows(&locations), "victims_rescued"), 89);
    assert_eq!(sum(rows(&locations), "migrants_detected"), 2000);
}

/// The suspects' and victims' references a log holds in clear (a log
/// written before references were sealed, such as the sample).
fn pseudonyms(store: &Store) -> Vec<String> {
    let log = String::from_utf8(
        store
            .log_bytes()
            .into_iter()
            .flat_map(|(_, bytes)| bytes)
            .collect(),
    )
    .expect("utf8");
    references_in(&log)
}

/// The references written in clear in `text` (a log, input lines).
fn references_in(log: &str) -> Vec<String> {
    log.split("\"suspect\":\"")
        .skip(1)
        .chain(log.split("\"victim\":\"").skip(1))
        .map(|rest| rest.split('"').next().expect("ref").to_owned())
        .collect()
}

/// Every output of every analyst's command and report, in every format.
fn every_output(store: &Store, operation: &str, from: &str) -> Vec<(String, String)> {
    let mut runs: Vec<Vec<String>> = Vec::new();
    let strings = |args: &[&str]| args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    for format in FORMATS {
        for kind in REPORT_KINDS {
            runs.push(strings(&["report", kind, "--format", format]));
        }
        runs.push(strings(&[
            "report",
            "victims",
            "--location",
            "road",
            "--format",
            format,
        ]));
        runs.push(strings(&["events", "--format", format]));
        runs.push(strings(&["events", "--retracted", "--format", format]));
        for figure in ["arrests", "victims_rescued", "events"] {
            runs.push(strings(&[
                "trace",
                "--operation",
                operation,
                figure,
                "--format",
                format,
            ]));
        }
        runs.push(strings(&["diff", "--from", from, "--format", format]));
    }
    runs.into_iter()
        .map(|args| {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            (args.join(" "), store.run(&refs).ok())
        })
        .collect()
}

fn assert_no_pseudonym(store: &Store, operation: &str, from: &str) {
    assert_none_printed(store, &pseudonyms(store), operation, from);
}

fn assert_none_printed(store: &Store, references: &[String], operation: &str, from: &str) {
    assert!(!references.is_empty(), "the log names suspects or victims");
    for (command, out) in every_output(store, operation, from) {
        for reference in references {
            assert!(
                !out.contains(reference.as_str()),
                "`{command}` prints {reference}"
            );
        }
    }
}

#[test]
fn no_output_of_the_sample_prints_a_pseudonym() {
    let store = Store::sample();
    assert!(pseudonyms(&store).len() >= 300);
    assert_no_pseudonym(&store, "theseus", "2019-12-21T00:00:00Z");
}

proptest::proptest! {
    #![proptest_config(crate::generators::proptest_config(3))]

    /// The same over generated histories, whose references (`S-…`, `V-…`)
    /// the generators chose.
    #[test]
    fn no_output_of_a_generated_history_prints_a_pseudonym(
        history in crate::generators::history_sized(1..=2, 8, 16),
    ) {
        let store = Store::new();
        let input = crate::generators::input(&history.lines);
        store.append(&input).ok();
        let operation = history.lines[0].operation.clone();
        // The log holds them sealed: they are taken from the input.
        let references = references_in(&input);
        proptest::prop_assume!(!references.is_empty());
        assert!(pseudonyms(&store).is_empty(), "a reference is stored in clear");
        assert_none_printed(&store, &references, &operation, "1");
    }
}

/// A JSON object's keys in the order they are written.
fn keys_in_order(text: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_str::<Keys>(text).expect("object").0
}

/// A CSV text's records, quotes undone (RFC 4180).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (other, _) => field.push(other),
        }
    }
    records
}

#[test]
fn json_keys_come_in_column_order_and_each_column_holds_one_type() {
    let store = Store::sample();
    let summary = store.run(&["report", "summary", "--format", "jsonl"]).ok();
    let mut lines = summary.lines();
    assert_eq!(
        keys_in_order(lines.next().expect("head")),
        ["report", "as_of", "filters", "generated_by", "columns"]
    );
    let columns = [
        "operation",
        "name",
        "coordinator",
        "funded_by",
        "status",
        "starts_on",
        "ends_on",
        "countries",
        "agents_deployed",
        "experts_deployed",
        "arrests",
        "victims_rescued",
        "migrants_detected",
        "checks",
        "seizures",
        "drugs_grams",
        "cash",
        "events",
        "retracted",
        "position",
    ];
    assert_eq!(keys_in_order(lines.next().expect("row")), columns);
    let json = store.run(&["report", "summary", "--format", "json"]).ok();
    assert_eq!(
        keys_in_order(&json),
        ["report", "as_of", "filters", "generated_by", "rows"]
    );
    for kind in REPORT_KINDS.iter().chain(&["events"]) {
        let out = if *kind == "events" {
            store.run(&["events", "--format", "jsonl"]).ok()
        } else {
            store.run(&["report", kind, "--format", "jsonl"]).ok()
        };
        let mut types: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
        for line in out.lines().skip(1) {
            let row: Value = serde_json::from_str(line).expect("row");
            for (column, value) in row.as_object().expect("object") {
                let kind = match value {
                    Value::Null => continue,
                    Value::Bool(_) => "bool",
                    Value::Number(_) => "number",
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                };
                types.entry(column.clone()).or_default().insert(kind);
            }
        }
        for (column, kinds) in types {
            assert_eq!(kinds.len(), 1, "{kind}.{column} holds {kinds:?}");
        }
    }
}

#[test]
fn csv_has_lf_line_ends_one_value_per_cell_and_no_formula() {
    let store = Store::new();
    store
        .append(&crate::support::data("analyst/hostile.ndjson"))
        .ok();
    for kind in REPORT_KINDS {
        let out = store.run(&["report", kind, "--format", "csv"]).ok();
        assert!(!out.contains('\r'), "{kind}: {out:?}");
        let records = csv_records(&out);
        let width = records[0].len();
        assert!(
            records.iter().all(|r| r.len() == width),
            "{kind}: {records:?}"
        );
    }
    let summary = store.run(&["report", "summary", "--format", "csv"]).ok();
    let records = csv_records(&summary);
    let header = &records[0];
    let row: BTreeMap<&str, &str> = header
        .iter()
        .map(String::as_str)
        .zip(records[1].iter().map(String::as_str))
        .collect();
    assert_eq!(
        row["coordinator"],
        "'=HYPERLINK(\"http://example.invalid\",\"open\")"
    );
    assert_eq!(
        row["name"],
        "'@SUM(1+1) <script>alert(1)</script> 東京 Cafe\u{301}"
    );
    assert_eq!(row["countries.FR"], "true");
    assert_eq!(row["countries.NL"], "true");
    assert_eq!(row["cash.EUR"], "12.50");
    assert_eq!(row["cash.JPY"], "5000");
    assert_eq!(row["checks.passenger"], "1");
    let seizures = store.run(&["report", "seizures", "--format", "csv"]).ok();
    assert!(seizures.contains("op-x,FR,cash,12.50,EUR\n"), "{seizures}");
}

#[test]
fn tables_align_by_display_width_with_plurals_right_and_long_names_wrapped() {
    let store = Store::new();
    store
        .append(&crate::support::data("analyst/hostile.ndjson"))
        .ok();
    let table = store.run(&["report", "summary"]).ok();
    // Every figure's value ends in the same display column.
    let ends: BTreeSet<usize> = table
        .lines()
        .filter(|l| l.starts_with("arrests") || l.starts_with("checks.") || l.starts_with("events"))
        .map(unicode_width::UnicodeWidthStr::width)
        .collect();
    assert_eq!(ends.len(), 1, "{table}");
    let grid = table.split("\n\n").next().unwrap_or_default();
    assert!(
        grid.lines()
            .all(|l| unicode_width::UnicodeWidthStr::width(l) <= 80),
        "a long name wraps: {table}"
    );
    assert!(grid.contains("Cafe\u{301}"), "{table}");
    assert!(table
        .lines()
        .any(|l| l.starts_with("checks.passenger") && l.ends_with(" 1")));
    let seizures = store.run(&["report", "seizures"]).ok();
    assert!(
        seizures.contains("1  item\n") || seizures.contains(" 1  item"),
        "{seizures}"
    );
    assert!(!seizures.contains("1  items"), "{seizures}");
}

#[test]
fn bad_requests_are_refused_with_their_exit_code() {
    let store = Store::sample();
    let refused = |args: &[&str], code: i32, says: &str| {
        let stderr = store.run(args).fails(code);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    refused(
        &["trace", "--operation", "theseus", "arrets"],
        2,
        "unknown figure",
    );
    refused(
        &["trace", "--operation", "theseus", "cash.XYZ"],
        2,
        "unknown figure",
    );
    refused(
        &["trace", "--operation", "nope", "arrests"],
        1,
        "no operation nope",
    );
    refused(
        &["report", "summary", "--country", "XX"],
        2,
        "not a country",
    );
    refused(
        &["report", "summary", "--location", "beach"],
        2,
        "unknown location",
    );
    refused(
        &[
            "report",
            "summary",
            "--from",
            "2019-12-13",
            "--to",
            "2019-12-12",
        ],
        2,
        "empty",
    );
    refused(
        &["events", "--active", "--retracted"],
        2,
        "cannot be used with",
    );
    refused(
        &["events", "--type", "Arrest"],
        2,
        "invalid value 'Arrest' for '--type <TYPE>'",
    );
    refused(
        &["diff", "--from", "700", "--to", "600"],
        1,
        "is after --to",
    );
    refused(&["diff", "--from", "9999"], 1, "position 9999");
    refused(
        &["report", "summary", "--format", "pdf"],
        2,
        "[possible values: table, json, jsonl, csv, markdown, html]",
    );
}

#[test]
fn a_listing_streams_and_a_closed_pipe_is_not_an_error() {
    let store = Store::sample();
    let mut child = std::process::Command::new(crate::support::theseus_bin())
        .args(["--store"])
        .arg(store.path())
        .args(["events", "--format", "jsonl"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("the first bytes");
    drop(stdout);
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_listing_over_an_edited_record_exits_4_and_prints_nothing() {
    let store = Store::sample();
    let path = store.path().join("00000000000000000001.jsonl");
    let text = std::fs::read_to_string(&path).expect("segment");
    let position = text
        .lines()
        .position(|l| l.contains("\"type\":\"ChecksPerformed\"") && l.contains("\"count\":3"))
        .expect("a check tally")
        + 1;
    let line = text.lines().nth(position - 1).expect("line");
    let edited = line.replacen("\"count\":3", "\"count\":4", 1);
    std::fs::write(&path, text.replacen(line, &edited, 1)).expect("write");
    for format in FORMATS {
        for args in [
            vec!["events", "--format", format],
            vec![
                "events",
                "--operation",
                "theseus",
                "--active",
                "--format",
                format,
            ],
            vec![
                "trace",
                "--operation",
                "theseus",
                "checks.passenger",
                "--format",
                format,
            ],
            vec![
                "trace",
                "--operation",
                "theseus",
                "arrests",
                "--format",
                format,
            ],
            vec!["diff", "--from", "1", "--format", format],
            vec!["report", "summary", "--country", "AL", "--format", format],
        ] {
            let run = store.run(&args);
            assert_eq!(run.code, 4, "{args:?}: {run:?}");
            assert!(run.stdout.is_empty(), "{args:?} printed: {}", run.stdout);
            assert!(
                run.stderr.contains(&format!("position {position}")),
                "{args:?}: {}",
                run.stderr
            );
        }
    }
}

/// `name="value"` from an HTML tag's text, entities undone.
pub(crate) fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

/// The opening tags in `dom` that start with `prefix`, each with the text
/// that follows it up to the next tag of the same kind.
pub(crate) fn tags<'a>(dom: &'a str, prefix: &str) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    let parts: Vec<&str> = dom.split(prefix).skip(1).collect();
    for part in parts {
        let end = part.find('>').unwrap_or(part.len());
        out.push((&part[..end], &part[end..]));
    }
    out
}

/// The DOM of `page` as headless Chromium renders it, or `None` (with one
/// line on stderr) when no Chromium is installed.
pub(crate) fn rendered_dom(page: &str) -> Option<String> {
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|name| {
        std::process::Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(chromium) = chromium else {
        // Written to the handle, not through eprintln!, so that the test
        // harness does not capture it: one visible line, once.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"skipped: the HTML pages in a browser (no chromium; CI installs it: apt-get install chromium)\n",
            );
        });
        return None;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("page.html");
    std::fs::write(&file, page).expect("write page");
    let output = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("run chromium");
    assert!(output.status.success(), "{output:?}");
    Some(String::from_utf8(output.stdout).expect("utf8 DOM"))
}

#[test]
fn the_pages_show_in_chromium_the_figures_of_the_json_reports() {
    let store = Store::sample();
    let summary_json = store.run(&["report", "summary", "--format", "json"]).json();
    let Some(dom) = rendered_dom(&store.run(&["report", "summary", "--format", "html"]).ok())
    else {
        return;
    };
    let cards = tags(&dom, "<div class=\"card\"");
    assert!(cards.len() >= 12, "{dom}");
    for (tag, after) in &cards {
        let operation = attribute(tag, "data-operation").expect("operation");
        let figure = attribute(tag, "data-figure").expect("figure");
        let value = attribute(tag, "data-value").expect("value");
        let row = rows(&summary_json)
            .iter()
            .find(|r| r["operation"] == operation.as_str())
            .expect("the operation's row");
        let expected = match figure.split_once('.') {
            Some(("cash", currency)) => row["cash"][currency].as_str().expect("amount").to_owned(),
            _ => row[figure.as_str()].to_string(),
        };
        assert_eq!(value, expected, "{operation} {figure}");
        // What people read is the same number, with separators.
        let shown = after
            .split("<span class=\"value\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .expect("shown value");
        assert_eq!(
            shown.split(' ').next().unwrap_or("").replace(',', ""),
            value
        );
    }
    let arrests_card = cards
        .iter()
        .find(|(t, _)| {
            t.contains("data-operation=\"theseus\"") && t.contains("data-figure=\"arrests\"")
        })
        .expect("the arrests card");
    assert!(arrests_card.1.contains(">236<"));
    assert!(dom.contains("data-provenance=\"hash\""));

    let timeline_json = store
        .run(&["report", "timeline", "--format", "json"])
        .json();
    let dom = rendered_dom(&store.run(&["report", "timeline", "--format", "html"]).ok())
        .expect("chromium was found above");
    let charts: Vec<&str> = dom.split("<figure class=\"chart\"").skip(1).collect();
    let mut bars = 0;
    for chart in &charts {
        let tag = &chart[..chart.find('>').expect("tag")];
        assert_eq!(attribute(tag, "data-chart").as_deref(), Some("timeline"));
        let operation = attribute(tag, "data-operation").expect("operation");
        let figure = attribute(tag, "data-figure").expect("figure");
        let body = &chart[..chart.find("</figure>").expect("end of chart")];
        let days: BTreeMap<String, i64> = tags(body, "<g class=\"bar\"")
            .into_iter()
            .map(|(tag, _)| {
                (
                    attribute(tag, "data-key").expect("day"),
                    attribute(tag, "data-value")
                        .expect("value")
                        .parse()
                        .expect("n"),
                )
            })
            .collect();
        let expected: BTreeMap<String, i64> = rows(&timeline_json)
            .iter()
            .filter(|r| r["operation"] == operation.as_str())
            .map(|r| {
                (
                    r["day"].as_str().expect("day").to_owned(),
                    r[figure.as_str()].as_i64().expect("n"),
                )
            })
            .collect();
        assert_eq!(days, expected, "{operation} {figure}");
        bars += days.len();
    }
    assert!(
        charts.len() >= 6 && bars >= 24,
        "{} charts, {bars} bars",
        charts.len()
    );
    assert!(!dom.contains("<script"));
}

#[test]
fn a_hostile_name_stays_text_in_the_rendered_page() {
    let store = Store::new();
    store
        .append(&crate::support::data("analyst/hostile.ndjson"))
        .ok();
    let page = store.run(&["report", "summary", "--format", "html"]).ok();
    let Some(dom) = rendered_dom(&page) else {
        return;
    };
    assert!(!dom.contains("<script"), "no script element: {dom}");
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt; 東京 Cafe\u{301}"),
        "{dom}"
    );
    assert!(dom.contains("=HYPERLINK(\"http://example.invalid\",\"open\")"));
}
