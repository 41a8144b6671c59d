//! `theseus agency`: registering, listing and revoking agencies through the
//! CLI, recorded in the log; a revocation is effective at once for a
//! running server, and the registry survives restarts.

use super::{add_agency, arrest, Fixture, Server};
use crate::support::Store;

#[test]
fn bad_roles_countries_and_slugs_are_refused_with_exit_1_and_change_nothing() {
    let store = Store::sample();
    let before = store.log_bytes();
    let cases: [(&[&str], &str); 9] = [
        (
            &["rs-police", "--role", "chief"],
            "--role: unknown role \"chief\"",
        ),
        (&["RS-police", "--role", "analyst"], "is not an agency id"),
        (
            &["rs-police", "--role", "reporter", "--country", "rs"],
            "--country: unknown country code \"rs\"",
        ),
        (
            &[
                "rs-police",
                "--role",
                "reporter",
                "--country",
                "RS",
                "--country",
                "RS",
            ],
            "--country: RS is given twice",
        ),
        (
            &["rs-police", "--role", "reporter"],
            "--country: a reporter needs at least one country",
        ),
        (
            &[
                "rs-police",
                "--role",
                "reporter",
                "--country",
                "RS",
                "--operation",
                "Theseus",
            ],
            "--operation: \"Theseus\" is not an operation slug",
        ),
        (
            &["eu", "--role", "analyst", "--operation", "theseus"],
            "--operation: an analyst appends nothing",
        ),
        (
            &["interpol", "--role", "coordinator", "--country", "AL"],
            "--country: a coordinator appends for every country",
        ),
        (
            &["theseus.registry", "--role", "analyst"],
            "is not an agency id",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["agency", "add"];
        all.extend_from_slice(args);
        let stderr = store.run(&all).fails(1);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(store.log_bytes(), before, "{args:?} wrote something");
    }
    add_agency(
        &store,
        &["rs-police", "--role", "reporter", "--country", "RS"],
    );
    let after = store.log_bytes();
    let stderr = store
        .run(&["agency", "add", "rs-police", "--role", "analyst"])
        .fails(1);
    assert!(stderr.contains("already registered"), "{stderr}");
    let stderr = store.run(&["agency", "revoke", "nobody"]).fails(1);
    assert!(stderr.contains("no agency nobody"), "{stderr}");
    assert_eq!(store.log_bytes(), after);
}

#[test]
fn the_registry_is_in_the_log_chained_and_attributed_and_lists_no_token() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    store
        .run(&["agency", "revoke", "europol", "--reason", "case closed"])
        .ok();
    let listing = store.run(&["agency", "list", "--format", "json"]).json();
    let agencies = listing["agencies"].as_array().expect("agencies");
    assert_eq!(agencies.len(), 5);
    let europol = agencies
        .iter()
        .find(|a| a["agency"] == "europol")
        .expect("europol");
    assert_eq!(europol["status"], "revoked");
    assert_eq!(europol["reason"], "case closed");
    assert_eq!(europol["operations"], serde_json::json!(["dunqett"]));
    let user = europol["revoked_by"].as_str().expect("revoked_by");
    assert!(!user.is_empty());
    let rs = agencies
        .iter()
        .find(|a| a["agency"] == "rs-police")
        .expect("rs");
    assert_eq!(rs["status"], "active");
    assert_eq!(rs["countries"], serde_json::json!(["RS"]));
    let table = store.run(&["agency", "list"]).ok();
    let log: String = store
        .log_bytes()
        .into_iter()
        .map(|(_, bytes)| String::from_utf8(bytes).expect("utf-8"))
        .collect();
    for token in [
        &fixture.rs,
        &fixture.al,
        &fixture.analyst,
        &fixture.coordinator,
    ] {
        assert!(!listing.to_string().contains(token.as_str()));
        assert!(!table.contains(token.as_str()));
        assert!(!log.contains(token.as_str()), "a token is in the log");
    }
    assert_eq!(log.matches(r#""operation":"theseus.registry""#).count(), 6);
    // Reports fold no registry record: the same rows as without it; the
    // listings read past the registry's records and show none.
    let plain = Store::sample();
    assert_eq!(store.summary()["rows"], plain.summary()["rows"]);
    for args in [
        &["events", "--format", "jsonl"][..],
        &[
            "trace",
            "--operation",
            "theseus",
            "arrests",
            "--format",
            "jsonl",
        ],
        &["diff", "--from", "1", "--format", "jsonl"],
    ] {
        let out = store.run(args).ok();
        assert!(!out.contains("Agency"), "{args:?}");
        assert!(!out.contains("theseus.registry"), "{args:?}");
    }
    let mut follow = std::process::Command::new(crate::support::theseus_bin())
        .arg("--store")
        .arg(store.spec())
        .args(["follow", "--after", "730"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("follow");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        follow.stdout.take().expect("stdout"),
    ));
    let followed: Vec<String> = (0..7)
        .map(|_| lines.next().expect("a line").expect("text"))
        .collect();
    let _ = follow.kill();
    let stderr = follow.wait_with_output().expect("wait").stderr;
    assert!(stderr.is_empty(), "{}", String::from_utf8_lossy(&stderr));
    assert!(followed
        .last()
        .is_some_and(|l| l.starts_with(r#"{"position":737,"#)));
    assert!(followed.iter().all(|l| !l.contains("theseus.registry")));
    store.run(&["verify"]).ok();
}

#[test]
fn a_revoked_token_is_refused_at_once_and_the_registry_survives_a_restart() {
    let fixture = Fixture::new();
    let mut server = Server::start(&fixture.store, &[]);
    let id = |n: u32| format!("c0000000-0000-4000-8000-{n:012}");
    assert_eq!(
        server.post(Some(&fixture.rs), &arrest(&id(1), "RS")).status,
        200
    );
    // Revoked by the CLI while the server runs: the very next request
    // is refused, and writes nothing.
    fixture
        .store
        .run(&["agency", "revoke", "rs-police", "--reason", "token leaked"])
        .ok();
    let before = fixture.store.log_bytes();
    server
        .post(Some(&fixture.rs), &arrest(&id(2), "RS"))
        .refused(401, "unauthenticated");
    server
        .get("/v1/head", Some(&fixture.rs))
        .refused(401, "unauthenticated");
    assert_eq!(fixture.store.log_bytes(), before);
    // A new registration issues a new token; the old one stays refused.
    let renewed = add_agency(
        &fixture.store,
        &["rs-police", "--role", "reporter", "--country", "RS"],
    );
    assert_eq!(
        server.post(Some(&renewed), &arrest(&id(3), "RS")).status,
        200
    );
    assert!(server.stop().success());

    let mut server = Server::start(&fixture.store, &[]);
    server
        .get("/v1/head", Some(&fixture.rs))
        .refused(401, "unauthenticated");
    assert_eq!(server.get("/v1/head", Some(&renewed)).status, 200);
    assert_eq!(server.get("/v1/head", Some(&fixture.al)).status, 200);
    let entries = server.access_log();
    assert!(server.stop().success());
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["credential"], "unknown");
    assert_eq!(entries[0]["agency"], serde_json::Value::Null);
    assert_eq!(entries[1]["agency"], "rs-police");
}
