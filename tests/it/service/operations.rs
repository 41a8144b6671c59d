//! Running the service: the API's reports are the CLI's bytes, the access
//! log keeps what was consulted and never a token or a pseudonym, SIGTERM
//! lets a request in flight finish, and TLS.

use std::io::{Read, Write};
use std::sync::Arc;

use super::{arrest, parse_reply, Fixture, Reply, Request, Server};

#[test]
fn the_api_serves_the_same_report_bytes_as_the_cli() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    let mut server = Server::start(store, &[]);
    let token = Some(fixture.analyst.as_str());
    // Checkpoints are shared derived data: make them first, so that both
    // sides start from the same one and say so alike.
    store.run(&["report", "summary"]).ok();
    let same = |args: &[&str], query: &str| {
        // Run once before comparing, so that a checkpoint the first run
        // saves is there for both.
        store.run(args).ok();
        let api = server.get(query, token);
        let cli = store.run(args).ok();
        assert_eq!(api.status, 200, "{query}: {}", api.text());
        assert_eq!(api.text(), cli, "{query}");
    };
    let kinds = [
        "summary",
        "countries",
        "timeline",
        "seizures",
        "networks",
        "victims",
        "arrests",
        "locations",
    ];
    for kind in kinds {
        for format in ["json", "jsonl", "csv", "markdown", "table", "html"] {
            same(
                &["report", kind, "--format", format],
                &format!("/v1/reports/{kind}?format={format}"),
            );
        }
    }
    let cases: [(&[&str], &str); 8] = [
        (&["--operation", "theseus"], "&operation=theseus"),
        (&["--as-of", "400"], "&as_of=400"),
        (
            &["--as-of", "2019-12-12T00:00:00Z"],
            "&as_of=2019-12-12T00:00:00Z",
        ),
        (&["--no-checkpoint"], "&no_checkpoint=true"),
        (
            &["--operation", "dunqett", "--as-of", "737"],
            "&operation=dunqett&as_of=737",
        ),
        (
            &["--country", "RS", "--country", "AL"],
            "&country=RS&country=AL",
        ),
        (
            &["--from", "2019-12-11", "--to", "2019-12-12"],
            "&from=2019-12-11&to=2019-12-12",
        ),
        (
            &["--location", "border_crossing", "--country", "MK"],
            "&location=border_crossing&country=MK",
        ),
    ];
    for kind in ["summary", "countries", "timeline", "arrests"] {
        for format in ["json", "table"] {
            for (args, query) in &cases {
                let mut cli_args = vec!["report", kind, "--format", format];
                cli_args.extend_from_slice(args);
                same(
                    &cli_args,
                    &format!("/v1/reports/{kind}?format={format}{query}"),
                );
            }
        }
    }
    // Without a format the API answers JSON.
    let json = server.get("/v1/reports/summary", token);
    assert_eq!(json.header("content-type"), Some("application/json"));
    assert_eq!(
        json.text(),
        store.run(&["report", "summary", "--format", "json"]).ok()
    );
    let error = server
        .get("/v1/reports/summary?operation=nothing", token)
        .refused(404, "not_found");
    assert_eq!(error["field"], "operation");
    let error = server
        .get("/v1/reports/summary?as_of=99999", token)
        .refused(400, "refused");
    assert_eq!(error["field"], "as_of");
    let error = server
        .get("/v1/reports/summary?format=xml", token)
        .refused(400, "bad_request");
    assert_eq!(error["field"], "format");
    let error = server
        .get("/v1/reports/summary?country=rs", token)
        .refused(400, "bad_request");
    assert_eq!(error["field"], "country");
    let error = server
        .get("/v1/reports/summary?from=2019-12-12&to=2019-12-11", token)
        .refused(400, "bad_request");
    assert_eq!(error["field"], "from");
    assert!(server.stop().success());
}

#[test]
fn the_access_log_says_who_consulted_what_and_never_a_token_or_a_pseudonym() {
    let fixture = Fixture::new();
    let mut server = Server::start(&fixture.store, &[]);
    let id = "d0000000-0000-4000-8000-000000000001";
    let line = arrest(id, "RS");
    assert_eq!(server.post(Some(&fixture.rs), &line).status, 200);
    assert_eq!(
        server
            .get(
                "/v1/reports/countries?operation=theseus",
                Some(&fixture.analyst)
            )
            .status,
        200
    );
    assert_eq!(
        server
            .get("/v1/events?after=700&limit=50", Some(&fixture.analyst))
            .status,
        200
    );
    server
        .post(Some(&fixture.analyst), &line)
        .refused(403, "forbidden");
    server
        .get(&format!("/v1/head?access_token={}", fixture.rs), None)
        .refused(400, "token_in_url");
    server.get("/v1/head", Some(&format!("ths_{}", "1".repeat(64))));
    assert!(server.stop().success());

    let text = std::fs::read_to_string(server.access_log_path()).expect("access log");
    for token in [&fixture.rs, &fixture.analyst] {
        assert!(
            !text.contains(token.as_str()),
            "a token is in the access log"
        );
    }
    assert!(!text.contains("RS-S-"), "a pseudonym is in the access log");
    let entries = server.access_log();
    assert_eq!(entries.len(), 6, "{text}");
    for entry in &entries {
        for field in ["time", "remote", "method", "path", "status", "duration_ms"] {
            assert!(entry.get(field).is_some(), "{field} missing in {entry}");
        }
    }
    let (post, report, listing, refused, in_url, unknown) = (
        &entries[0],
        &entries[1],
        &entries[2],
        &entries[3],
        &entries[4],
        &entries[5],
    );
    assert_eq!(post["agency"], "rs-police");
    assert_eq!(post["method"], "POST");
    assert_eq!(post["status"], 200);
    assert_eq!(post["appended"], 1);
    let appended_at = post["last_position"].as_u64().expect("position");
    assert_eq!(report["agency"], "eu-analyst");
    assert_eq!(report["path"], "/v1/reports/countries");
    assert_eq!(report["consulted"]["report"], "countries");
    assert_eq!(report["consulted"]["operation"], "theseus");
    assert_eq!(report["consulted"]["as_of"]["position"], appended_at);
    assert_eq!(listing["consulted"]["events"]["after"], 700);
    assert_eq!(listing["consulted"]["events"]["first_position"], 701);
    assert_eq!(refused["status"], 403);
    assert_eq!(refused["error"], "forbidden");
    assert_eq!(in_url["status"], 400);
    assert_eq!(in_url["path"], "/v1/head");
    assert_eq!(unknown["status"], 401);
    assert_eq!(unknown["credential"], "unknown");
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_and_loses_nothing_acknowledged() {
    let fixture = Fixture::new();
    let mut server = Server::start(&fixture.store, &[]);
    let lines: String = (0..5_000u32)
        .map(|n| arrest(&format!("e0000000-0000-4000-8000-{n:012}"), "RS") + "\n")
        .collect();
    let raw = Request::batch(lines).token(Some(&fixture.rs)).bytes();
    let (first, rest) = raw.split_at(raw.len() / 2);
    let mut stream = std::net::TcpStream::connect(server.address).expect("connect");
    stream
        .set_read_timeout(Some(super::READ_TIMEOUT))
        .expect("timeout");
    stream.write_all(first).expect("first half");
    // Half the body is on its way when the server is told to stop.
    std::thread::sleep(std::time::Duration::from_millis(300));
    server.signal_stop();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        std::net::TcpStream::connect(server.address).is_err(),
        "a stopping server accepted a new connection"
    );
    stream.write_all(rest).expect("second half");
    let reply = super::read_reply(&mut stream).expect("an answer");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["appended"], 5_000);
    assert!(server.wait().success(), "{}", server.stderr());
    let log: String = fixture
        .store
        .log_bytes()
        .into_iter()
        .map(|(_, bytes)| String::from_utf8(bytes).expect("utf-8"))
        .collect();
    assert_eq!(log.matches(r#""recorded_by":"rs-police""#).count(), 5_000);
    fixture.store.run(&["verify"]).ok();
}

/// A GET over TLS, trusting only `cert`.
fn get_over_tls(server: &Server, cert: &rcgen::Certificate, path: &str) -> Reply {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(cert.der().clone())
        .expect("trust the test certificate");
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = "localhost".try_into().expect("server name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
    let tcp = std::net::TcpStream::connect(server.address).expect("connect");
    tcp.set_read_timeout(Some(super::READ_TIMEOUT))
        .expect("timeout");
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(&Request::get(path).bytes()).expect("write");
    let mut raw = Vec::new();
    // The server may close without close_notify once it has answered.
    let _ = tls.read_to_end(&mut raw);
    parse_reply(&raw).expect("a response over TLS")
}

#[test]
fn tls_serves_https_and_refuses_a_key_that_does_not_fit() {
    let fixture = Fixture::new();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("cert file");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("key file");
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let mut server = Server::start(
        &fixture.store,
        &["--tls-cert", &cert_arg, "--tls-key", &key_arg],
    );
    let reply = get_over_tls(&server, &made.cert, "/healthz");
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Plain HTTP to a TLS port gets no HTTP answer.
    let mut plain = std::net::TcpStream::connect(server.address).expect("connect");
    plain
        .set_read_timeout(Some(super::READ_TIMEOUT))
        .expect("timeout");
    let _ = plain.write_all(&Request::get("/healthz").bytes());
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 200"));
    assert!(server.stop().success());

    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    std::fs::write(&key, other.signing_key.serialize_pem()).expect("key file");
    let run = fixture.store.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &cert_arg,
        "--tls-key",
        &key_arg,
    ]);
    let stderr = run.fails(1);
    assert!(stderr.contains("does not fit the certificate"), "{stderr}");
    std::fs::write(&cert, "not a certificate").expect("cert file");
    let stderr = fixture
        .store
        .run(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert_arg,
            "--tls-key",
            &key_arg,
        ])
        .fails(1);
    assert!(stderr.contains(&cert_arg), "{stderr}");
}
