//! Eight clients posting batches at once (bounded: 8 × 10 batches of up to
//! 40 events, some sent twice): every acknowledged event is in the log
//! exactly once, positions run 1..N without gaps, `verify` passes.

use std::collections::BTreeMap;

use super::{arrest, Fixture, Server};

const CLIENTS: u32 = 8;
const BATCHES: u32 = 10;

fn event_id(client: u32, batch: u32, line: u32) -> String {
    format!("f{client:07x}-{batch:04x}-4000-8000-{line:012x}")
}

#[test]
fn eight_clients_posting_at_once_each_event_once_positions_gap_free_verify_passes() {
    let fixture = Fixture::new();
    let mut server = Server::start(&fixture.store, &[]);
    let tokens = [fixture.rs.clone(), fixture.coordinator.clone()];
    let acknowledged: Vec<Vec<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let server = &server;
                let token = &tokens[(client % 2) as usize];
                scope.spawn(move || {
                    let mut ids = Vec::new();
                    for batch in 0..BATCHES {
                        let size = 1 + (client * 7 + batch * 13) % 40;
                        let lines: Vec<String> = (0..size)
                            .map(|line| event_id(client, batch, line))
                            .collect();
                        let body: String = lines.iter().map(|id| arrest(id, "RS") + "\n").collect();
                        let reply = server.post(Some(token), &body);
                        assert_eq!(reply.status, 200, "{}", reply.text());
                        assert_eq!(reply.json()["appended"], size);
                        // Every third batch is sent again: all duplicates.
                        if batch % 3 == 0 {
                            let again = server.post(Some(token), &body);
                            assert_eq!(again.status, 200, "{}", again.text());
                            assert_eq!(again.json()["appended"], 0);
                            assert_eq!(again.json()["duplicates"], size);
                        }
                        ids.extend(lines);
                    }
                    ids
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("client"))
            .collect()
    });
    assert!(server.stop().success());
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut expected_position = 1;
    for (_, bytes) in fixture.store.log_bytes() {
        for line in String::from_utf8(bytes).expect("utf-8").lines() {
            let record: serde_json::Value = serde_json::from_str(line).expect("record");
            assert_eq!(
                record["position"], expected_position,
                "positions have a gap"
            );
            expected_position += 1;
            if let Some(id) = record["id"].as_str() {
                *seen.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    let all: Vec<&String> = acknowledged.iter().flatten().collect();
    assert!(all.len() > 100, "too few events to be a test");
    for id in all {
        assert_eq!(seen.get(id.as_str()), Some(&1), "{id} not exactly once");
    }
    fixture.store.run(&["verify"]).ok();
}
