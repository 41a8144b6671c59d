//! `GET /v1/events`: the ledger followed page by page, without pseudonyms
//! or registry records; a long poll returns when something is appended.

use std::time::{Duration, Instant};

use super::{arrest, Fixture, Server};

#[test]
fn a_client_follows_the_ledger_page_by_page_and_sees_no_pseudonym() {
    let fixture = Fixture::new();
    let mut server = Server::start(&fixture.store, &[]);
    let token = Some(fixture.analyst.as_str());
    let log: String = fixture
        .store
        .log_bytes()
        .into_iter()
        .map(|(_, bytes)| String::from_utf8(bytes).expect("utf-8"))
        .collect();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).expect("record"))
        .collect();
    let pseudonyms: Vec<String> = records
        .iter()
        .flat_map(|r| [r["data"]["suspect"].as_str(), r["data"]["victim"].as_str()])
        .flatten()
        .map(str::to_owned)
        .collect();
    assert!(pseudonyms.len() > 100);
    let mut after = 0;
    let mut listed = Vec::new();
    loop {
        let reply = server.get(&format!("/v1/events?after={after}&limit=100"), token);
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.header("content-type"), Some("application/x-ndjson"));
        let text = reply.text();
        for pseudonym in &pseudonyms {
            assert!(!text.contains(pseudonym.as_str()), "{pseudonym} is listed");
        }
        let page: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("a listed event is JSON"))
            .collect();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 100);
        after = page
            .last()
            .and_then(|e| e["position"].as_u64())
            .expect("position");
        listed.extend(page);
    }
    let events: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["operation"] != "theseus.registry")
        .collect();
    assert_eq!(listed.len(), events.len());
    for (shown, record) in listed.iter().zip(events) {
        for field in [
            "position",
            "id",
            "operation",
            "version",
            "type",
            "recorded_at",
            "recorded_by",
            "hash",
        ] {
            assert_eq!(shown[field], record[field], "{field}");
        }
        let mut data = record["data"].clone();
        if let Some(object) = data.as_object_mut() {
            object.remove("suspect");
            object.remove("victim");
        }
        assert_eq!(shown["data"], data);
    }
    server
        .get("/v1/events?limit=0", token)
        .refused(400, "bad_request");
    server
        .get("/v1/events?after=-1", token)
        .refused(400, "bad_request");
    assert!(server.stop().success());
}

#[test]
fn a_long_poll_returns_as_soon_as_an_event_is_appended() {
    let fixture = Fixture::new();
    let mut server = Server::start(&fixture.store, &[]);
    let head = fixture.store.run(&["head"]).ok();
    let position: u64 = head
        .split(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("head");
    let started = Instant::now();
    let reply = std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            server.get(
                &format!("/v1/events?after={position}&wait=30"),
                Some(&fixture.analyst),
            )
        });
        std::thread::sleep(Duration::from_millis(500));
        let posted = server.post(
            Some(&fixture.rs),
            &arrest("a1000000-0000-4000-8000-000000000001", "RS"),
        );
        assert_eq!(posted.status, 200, "{}", posted.text());
        waiting.join().expect("waiting client")
    });
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the poll waited its whole time"
    );
    assert_eq!(reply.status, 200);
    let event: serde_json::Value = serde_json::from_str(reply.text().trim()).expect("one event");
    assert_eq!(event["position"], position + 1);
    assert_eq!(event["recorded_by"], "rs-police");
    // Nothing new: the poll returns empty once its wait is over.
    let empty = server.get(
        &format!("/v1/events?after={}&wait=1", position + 1),
        Some(&fixture.analyst),
    );
    assert_eq!(empty.status, 200);
    assert!(empty.body.is_empty());
    assert!(server.stop().success());
}
