//! The sample store replays to the seed article's figures, and rebuilding it
//! from its batches gives the same log, but for the references, which the
//! committed sample (written before sealing) holds in clear and a rebuild
//! seals.

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
fn the_sample_store_verifies_and_rebuilds_from_its_batches_with_its_references_sealed() {
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
    let records = |store: &Store| -> Vec<serde_json::Value> {
        String::from_utf8(store.log_bytes().concat_bytes())
            .expect("utf8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a record"))
            .collect()
    };
    let (old, new) = (records(&committed), records(&rebuilt));
    assert_eq!(new.len(), old.len());
    // What a consultation of the rebuilt store opens, by position.
    let opened: std::collections::HashMap<u64, String> = rebuilt
        .run(&[
            "events",
            "--reveal",
            "--purpose",
            "test",
            "--format",
            "jsonl",
        ])
        .ok()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("a row");
            Some((
                row["position"].as_u64()?,
                row["reference"].as_str()?.to_owned(),
            ))
        })
        .collect();
    // Hashes differ (the bytes do); everything else is the same once a
    // sealed reference is replaced by what it opens to.
    let plain = |mut record: serde_json::Value, sealed: bool| {
        record.as_object_mut().expect("object").remove("hash");
        if let Some(link) = record.get_mut("refers_to") {
            link.as_object_mut().expect("object").remove("hash");
        }
        if sealed {
            let position = record["position"].as_u64().expect("position");
            for field in ["suspect", "victim"] {
                if record["data"].get(field).is_some() {
                    assert!(record["data"][field].is_object(), "stored sealed");
                    assert_eq!(record["schema"], 2);
                    record["data"][field] = opened[&position].clone().into();
                    record["schema"] = 1.into();
                }
            }
        }
        record
    };
    let sealed = new
        .iter()
        .filter(|r| r["data"]["suspect"].is_object() || r["data"]["victim"].is_object())
        .count();
    assert!(sealed >= 300, "the sample's arrests and rescues are sealed");
    for (old, new) in old.into_iter().zip(new) {
        assert_eq!(plain(new, true), plain(old, false));
    }
    assert_eq!(
        crate::support::figures(
            &rebuilt
                .run(&["report", "summary", "--format", "json", "--as-of", "737"])
                .ok()
        )
        .replace(&head_hash(&rebuilt, 737), "H"),
        crate::support::figures(
            &committed
                .run(&["report", "summary", "--format", "json"])
                .ok()
        )
        .replace(&head_hash(&committed, 737), "H"),
    );
}

/// The hash of the record at `position`.
fn head_hash(store: &Store, position: u64) -> String {
    let out = store
        .run(&[
            "events",
            "--as-of",
            &position.to_string(),
            "--format",
            "json",
        ])
        .json();
    out["as_of"]["hash"].as_str().expect("hash").to_owned()
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
