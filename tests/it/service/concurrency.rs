//! Eight clients posting batches at once (bounded: 8 × 10 batches of up to
//! 40 events, some sent twice, some refused by their last line): every
//! acknowledged event is in the log exactly once and at the positions its
//! answer gave, nothing of a refused batch is, positions run 1..N without
//! gaps, `verify` passes. The server commits concurrent batches in groups:
//! this shows that a refusal inside a group costs the others nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{arrest, Fixture, Server};

const CLIENTS: u32 = 8;
const BATCHES: u32 = 10;
const BAD_LINE: &str =
    r#"{"operation":"theseus","type":"AgentsDeployed","data":{"country":"RS","count":0}}"#;

fn event_id(client: u32, batch: u32, line: u32) -> String {
    format!("f{client:07x}-{batch:04x}-4000-8000-{line:012x}")
}

/// What one client was told.
#[derive(Default)]
struct Told {
    acknowledged: Vec<String>,
    refused: Vec<String>,
    /// Each acknowledged id with the position its answer implies.
    placed: Vec<(String, u64)>,
}

fn client(server: &Server, token: &str, client: u32) -> Told {
    let mut told = Told::default();
    for batch in 0..BATCHES {
        let size = 1 + (client * 7 + batch * 13) % 40;
        let ids: Vec<String> = (0..size)
            .map(|line| event_id(client, batch, line))
            .collect();
        let mut body: String = ids.iter().map(|id| arrest(id, "RS") + "\n").collect();
        if (client + batch) % 4 == 3 {
            // Refused by its last line: none of it may appear.
            body.push_str(BAD_LINE);
            let error = server.post(Some(token), &body).refused(400, "refused");
            assert_eq!(error["line"], size + 1);
            told.refused.extend(ids);
            continue;
        }
        let reply = server.post(Some(token), &body);
        assert_eq!(reply.status, 200, "{}", reply.text());
        let answer = reply.json();
        assert_eq!(answer["appended"], size);
        let first = answer["first_position"].as_u64().expect("first");
        let last = answer["last_position"].as_u64().expect("last");
        assert_eq!(last + 1 - first, u64::from(size));
        told.placed.extend(ids.iter().cloned().zip(first..=last));
        // Every third batch is sent again: all duplicates.
        if batch % 3 == 0 {
            let again = server.post(Some(token), &body);
            assert_eq!(again.status, 200, "{}", again.text());
            assert_eq!(again.json()["appended"], 0);
            assert_eq!(again.json()["duplicates"], size);
        }
        told.acknowledged.extend(ids);
    }
    told
}

#[test]
fn eight_clients_posting_at_once_each_event_once_where_told_positions_gap_free_verify_passes() {
    eight_clients_on(&Fixture::new());
}

#[test]
fn the_same_on_the_postgresql_store() {
    let Some(fixture) = Fixture::postgres() else {
        return;
    };
    eight_clients_on(&fixture);
}

fn eight_clients_on(fixture: &Fixture) {
    let mut server = Server::start(&fixture.store, &[]);
    let tokens = [fixture.rs.clone(), fixture.coordinator.clone()];
    let all = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for n in 0..CLIENTS {
            let (server, token, all) = (&server, &tokens[(n % 2) as usize], &all);
            scope.spawn(move || {
                let told = client(server, token, n);
                all.lock().expect("lock").push(told);
            });
        }
    });
    assert!(server.stop().success());
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut expected = 1;
    for (_, bytes) in fixture.store.log_bytes() {
        for line in String::from_utf8(bytes).expect("utf-8").lines() {
            let record: serde_json::Value = serde_json::from_str(line).expect("record");
            assert_eq!(record["position"], expected, "positions have a gap");
            if let Some(id) = record["id"].as_str() {
                seen.entry(id.to_owned()).or_default().push(expected);
            }
            expected += 1;
        }
    }
    let told = all.into_inner().expect("lock");
    assert_eq!(told.len(), CLIENTS as usize, "a client failed");
    let acknowledged: Vec<&String> = told.iter().flat_map(|t| &t.acknowledged).collect();
    assert!(acknowledged.len() > 100, "too few events to be a test");
    for id in acknowledged {
        assert_eq!(seen.get(id).map(Vec::len), Some(1), "{id} not exactly once");
    }
    let refused: Vec<&String> = told.iter().flat_map(|t| &t.refused).collect();
    assert!(refused.len() > 10, "too few refusals to be a test");
    for id in refused {
        assert!(
            !seen.contains_key(id),
            "{id} of a refused batch is in the log"
        );
    }
    for (id, position) in told.iter().flat_map(|t| &t.placed) {
        assert_eq!(
            seen.get(id),
            Some(&vec![*position]),
            "{id} is not where its answer said"
        );
    }
    fixture.store.run(&["verify"]).ok();
}
