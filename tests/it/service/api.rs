//! Every status code the API documents, each refusal leaving the log
//! byte-identical; who may append what; `recorded_by` is the agency.

use super::{arrest, records_with_id, Fixture, Request, Server};

const ID_RS: &str = "a0000000-0000-4000-8000-000000000001";
const ID_AL: &str = "a0000000-0000-4000-8000-000000000002";

#[test]
fn a_reporter_for_rs_is_refused_an_al_event_and_accepted_for_an_rs_one_recorded_as_itself() {
    let fixture = Fixture::new();
    let mut server = Server::start(&fixture.store, &[]);
    let before = fixture.store.log_bytes();
    let error = server
        .post(Some(&fixture.rs), &arrest(ID_AL, "AL"))
        .refused(403, "forbidden");
    assert_eq!(error["line"], 1);
    assert_eq!(error["field"], "data.country");
    assert_eq!(
        fixture.store.log_bytes(),
        before,
        "a refusal wrote something"
    );

    let reply = server.post(Some(&fixture.rs), &arrest(ID_RS, "RS"));
    let summary = reply.json();
    assert_eq!(reply.status, 200, "{summary}");
    assert_eq!(summary["appended"], 1);
    let records = records_with_id(&fixture.store, ID_RS);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["recorded_by"], "rs-police");
    // Naming yourself is allowed; naming another agency is not.
    let own = arrest("a0000000-0000-4000-8000-000000000003", "RS").replacen(
        r#""type""#,
        r#""recorded_by":"rs-police","type""#,
        1,
    );
    assert_eq!(server.post(Some(&fixture.rs), &own).status, 200);
    let before = fixture.store.log_bytes();
    let other = arrest("a0000000-0000-4000-8000-000000000004", "RS").replacen(
        r#""type""#,
        r#""recorded_by":"AL-state-police","type""#,
        1,
    );
    let error = server
        .post(Some(&fixture.rs), &other)
        .refused(403, "forbidden");
    assert_eq!(error["field"], "recorded_by");
    assert_eq!(fixture.store.log_bytes(), before);
    assert!(server.stop().success());
}

/// One refused request: what it is, what it must be answered with.
struct Case {
    what: &'static str,
    request: Request,
    status: u16,
    code: &'static str,
    line: Option<u64>,
    field: Option<&'static str>,
}

#[test]
fn every_refusal_has_its_status_code_and_line_and_field_and_changes_no_byte() {
    let fixture = Fixture::new();
    let mut server = Server::start(&fixture.store, &["--max-body-bytes", "65536"]);
    let (rs, al, analyst, dunqett, coordinator) = (
        fixture.rs.as_str(),
        fixture.al.as_str(),
        fixture.analyst.as_str(),
        fixture.dunqett.as_str(),
        fixture.coordinator.as_str(),
    );
    // An event of AL's own, for retraction cases below.
    let al_id = "b0000000-0000-4000-8000-000000000001";
    assert_eq!(server.post(Some(al), &arrest(al_id, "AL")).status, 200);
    // Recorded by AL-state-police (the sample), not by agency al-police.
    let sample_al = "66675e77-dc37-5011-9fbe-88174b1f85bd";
    let retract = |id: &str| {
        format!(
            r#"{{"operation":"theseus","type":"EventRetracted","data":{{"event_id":"{id}","reason":"sent twice"}}}}"#
        )
    };
    let valid = arrest("b0000000-0000-4000-8000-000000000002", "RS");
    let bad_count = format!(
        "{valid}\n{}\n",
        r#"{"operation":"theseus","type":"AgentsDeployed","data":{"country":"RS","count":0}}"#
    );
    let stale = r#"{"operation":"theseus","type":"AgentsDeployed","expected_version":1,"data":{"country":"RS","count":3}}"#;
    let close = r#"{"operation":"theseus","type":"OperationClosed","data":{}}"#;
    let too_big = format!("{valid}\n").repeat(400);
    let unknown = format!("ths_{}", "0".repeat(64));
    let revoked = super::add_agency(&fixture.store, &["gone", "--role", "coordinator"]);
    fixture
        .store
        .run(&["agency", "revoke", "gone", "--reason", "left the operation"])
        .ok();
    let post = |body: &str| Request::batch(body);
    let cases = [
        Case {
            what: "a line that breaks a rule, after a valid one",
            request: post(&bad_count).token(Some(rs)),
            status: 400,
            code: "refused",
            line: Some(2),
            field: Some("data.count"),
        },
        Case {
            what: "a line that is not JSON",
            request: post("{\"operation\":").token(Some(rs)),
            status: 400,
            code: "refused",
            line: Some(1),
            field: Some("json"),
        },
        Case {
            what: "a body that is not UTF-8",
            request: Request::batch(&b"\xff\xfe\n"[..]).token(Some(rs)),
            status: 400,
            code: "refused",
            line: Some(1),
            field: None,
        },
        Case {
            what: "no token",
            request: post(&valid),
            status: 401,
            code: "unauthenticated",
            line: None,
            field: None,
        },
        Case {
            what: "an unknown token",
            request: post(&valid).token(Some(&unknown)),
            status: 401,
            code: "unauthenticated",
            line: None,
            field: None,
        },
        Case {
            what: "a revoked token",
            request: post(&valid).token(Some(&revoked)),
            status: 401,
            code: "unauthenticated",
            line: None,
            field: None,
        },
        Case {
            what: "not a bearer token",
            request: post(&valid).header("Authorization", &format!("Basic {rs}")),
            status: 401,
            code: "unauthenticated",
            line: None,
            field: None,
        },
        Case {
            what: "an analyst posting",
            request: post(&valid).token(Some(analyst)),
            status: 403,
            code: "forbidden",
            line: None,
            field: None,
        },
        Case {
            what: "a reporter closing an operation",
            request: post(close).token(Some(rs)),
            status: 403,
            code: "forbidden",
            line: Some(1),
            field: Some("type"),
        },
        Case {
            what: "a coordinator of another operation",
            request: post(close).token(Some(dunqett)),
            status: 403,
            code: "forbidden",
            line: Some(1),
            field: Some("operation"),
        },
        Case {
            what: "a reporter retracting another agency's event",
            request: post(&retract(sample_al)).token(Some(al)),
            status: 403,
            code: "forbidden",
            line: Some(1),
            field: Some("data.event_id"),
        },
        Case {
            what: "a stale expected_version",
            request: post(stale).token(Some(coordinator)),
            status: 409,
            code: "conflict",
            line: Some(1),
            field: Some("expected_version"),
        },
        Case {
            what: "a body over the limit",
            request: post(&too_big).token(Some(rs)),
            status: 413,
            code: "too_large",
            line: None,
            field: None,
        },
        Case {
            what: "a body that is not JSON Lines",
            request: Request::post("/v1/events", "operation=theseus")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .token(Some(rs)),
            status: 415,
            code: "unsupported_media_type",
            line: None,
            field: None,
        },
        Case {
            what: "a compressed body",
            request: Request::batch(&b"\x1f\x8b"[..])
                .header("Content-Encoding", "gzip")
                .token(Some(rs)),
            status: 415,
            code: "unsupported_media_type",
            line: None,
            field: None,
        },
        Case {
            what: "a token in the query string",
            request: post(&valid).path(&format!("/v1/events?token={rs}")),
            status: 400,
            code: "token_in_url",
            line: None,
            field: None,
        },
        Case {
            what: "an unknown query parameter",
            request: post(&valid).path("/v1/events?dry_run=1").token(Some(rs)),
            status: 400,
            code: "bad_request",
            line: None,
            field: Some("dry_run"),
        },
        Case {
            what: "a method the route does not have",
            request: Request::get("/v1/events")
                .method("DELETE")
                .token(Some(coordinator)),
            status: 405,
            code: "method_not_allowed",
            line: None,
            field: None,
        },
        Case {
            what: "an unknown route",
            request: Request::get("/v2/events").token(Some(coordinator)),
            status: 404,
            code: "not_found",
            line: None,
            field: None,
        },
    ];
    for case in cases {
        let before = fixture.store.log_bytes();
        let reply = server.request(case.request);
        let error = reply.refused(case.status, case.code);
        assert_eq!(
            error.get("line").and_then(|v| v.as_u64()),
            case.line,
            "{}: {error}",
            case.what
        );
        assert_eq!(
            error.get("field").and_then(|v| v.as_str()),
            case.field,
            "{}: {error}",
            case.what
        );
        if case.status == 401 {
            assert!(reply.header("www-authenticate").is_some(), "{}", case.what);
        }
        assert_eq!(
            fixture.store.log_bytes(),
            before,
            "{} changed the log",
            case.what
        );
    }
    // The same line-and-field message as the CLI's.
    let cli = fixture.store.run_with_input(
        &["append"],
        format!(
            "{valid}\n{}\n",
            r#"{"operation":"theseus","type":"AgentsDeployed","data":{"country":"RS","count":0}}"#
        )
        .as_bytes(),
    );
    let api = server.post(
        Some(rs),
        &format!(
            "{valid}\n{}\n",
            r#"{"operation":"theseus","type":"AgentsDeployed","data":{"country":"RS","count":0}}"#
        ),
    );
    assert_eq!(
        format!(
            "error: {}\n",
            api.json()["error"]["message"].as_str().expect("message")
        ),
        cli.fails(1)
    );
    // A reporter retracts its own event.
    let reply = server.post(Some(al), &retract(al_id));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(server.stop().success());
}

#[test]
fn the_store_unavailable_is_503_and_the_server_recovers() {
    let fixture = Fixture::new();
    let mut server = Server::start(&fixture.store, &[]);
    let moved = fixture.store.path().with_extension("moved");
    std::fs::rename(fixture.store.path(), &moved).expect("move the store away");
    let reply = server.get("/v1/head", Some(&fixture.analyst));
    std::fs::rename(&moved, fixture.store.path()).expect("move it back");
    reply.refused(503, "unavailable");
    assert_eq!(server.get("/v1/head", Some(&fixture.analyst)).status, 200);
    assert!(server.stop().success());
}

#[test]
fn healthz_needs_no_token_and_says_nothing_more() {
    let fixture = Fixture::new();
    let mut server = Server::start(&fixture.store, &[]);
    let reply = server.get("/healthz", None);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), serde_json::json!({"status": "ok"}));
    assert!(server.stop().success());
}
