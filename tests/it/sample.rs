//! The sample store replays to the seed article's figures, and rebuilding it
//! from its batches gives the same log byte for byte.

use crate::support::{root, theseus_bin, Store};

fn row<'a>(summary: &'a serde_json::Value, operation: &str) -> &'a serde_json::Value {
    summary["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["operation"] == operation)
        .unwrap_or_else(|| panic!("no row for {operation}"))
}

#[test]
fn the_sample_store_replays_to_the_articles_figures() {
    let store = Store::sample();
    let summary = store.summary();
    let theseus = row(&summary, "theseus");
    assert_eq!(theseus["name"], "Operation Theseus");
    assert_eq!(theseus["coordinator"], "INTERPOL");
    assert_eq!(theseus["funded_by"], "German Federal Foreign Office");
    assert_eq!(
        theseus["countries"],
        serde_json::json!(["AL", "BA", "BG", "MD", "MK", "RO", "RS", "TR"])
    );
    assert_eq!(theseus["agents_deployed"], 3000);
    assert_eq!(theseus["arrests"], 236);
    assert_eq!(theseus["victims_rescued"], 89);
    assert_eq!(theseus["migrants_detected"], 2000);
    assert_eq!(theseus["checks"]["passenger"], 2_500_000);
    assert_eq!(theseus["checks"]["vehicle"], 54_000);
    assert_eq!(theseus["checks"]["flight"], 1500);
    assert_eq!(theseus["seizures"]["counterfeit_document"], 1500);
    assert_eq!(theseus["seizures"]["boat"], 30);
    assert_eq!(theseus["seizures"]["inflatable_boat_or_buoy"], 200);
    assert_eq!(theseus["seizures"]["firearm"], 10);
    assert_eq!(theseus["drugs_grams"], 60_000);
    assert_eq!(theseus["cash"], serde_json::json!({"USD": "200000.00"}));

    let dunqett = row(&summary, "dunqett");
    assert_eq!(dunqett["coordinator"], "EUROPOL");
    assert_eq!(dunqett["countries"], serde_json::json!(["FR", "NL"]));
    assert_eq!(dunqett["arrests"], 23);
    assert_eq!(dunqett["experts_deployed"], 2);

    let networks = store
        .run(&[
            "report",
            "networks",
            "--operation",
            "dunqett",
            "--format",
            "json",
        ])
        .json();
    let profiled: Vec<&serde_json::Value> = networks["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["profiled"] == true)
        .collect();
    assert_eq!(profiled.len(), 1);
    assert_eq!(profiled[0]["people_smuggled_estimate"], 10_000);
    assert_eq!(
        profiled[0]["max_fee"],
        serde_json::json!({"currency": "EUR", "amount": "7000.00"})
    );
    assert_eq!(profiled[0]["destination"], "GB");
}

#[test]
fn the_sample_store_verifies_and_rebuilds_byte_for_byte_from_its_batches() {
    let committed = Store::sample();
    committed.run(&["verify"]).ok();
    let rebuilt = Store::uninitialised();
    let status = std::process::Command::new("bash")
        .arg(root().join("events/batches/build.sh"))
        .arg(rebuilt.path())
        .env("THESEUS", theseus_bin())
        .status()
        .expect("run build.sh");
    assert!(status.success());
    assert_eq!(rebuilt.log_bytes(), committed.log_bytes());
}

#[test]
fn no_report_prints_a_pseudonym() {
    let store = Store::sample();
    let log = String::from_utf8(store.log_bytes().concat_bytes()).expect("utf8");
    let suspects: Vec<String> = log
        .split("\"suspect\":\"")
        .skip(1)
        .chain(log.split("\"victim\":\"").skip(1))
        .map(|rest| rest.split('"').next().expect("ref").to_owned())
        .collect();
    assert!(
        suspects.len() >= 300,
        "expected the sample's arrests and rescues"
    );
    for kind in ["summary", "countries", "timeline", "seizures", "networks"] {
        for format in ["table", "json", "csv", "markdown"] {
            let out = store.run(&["report", kind, "--format", format]).ok();
            for reference in &suspects {
                assert!(
                    !out.contains(reference.as_str()),
                    "{kind}/{format} prints {reference}"
                );
            }
        }
    }
}

trait ConcatBytes {
    fn concat_bytes(self) -> Vec<u8>;
}

impl ConcatBytes for Vec<(String, Vec<u8>)> {
    fn concat_bytes(self) -> Vec<u8> {
        self.into_iter().flat_map(|(_, bytes)| bytes).collect()
    }
}
