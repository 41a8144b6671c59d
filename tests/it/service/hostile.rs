//! Hostile requests: oversized and slow bodies, slow and malformed heads,
//! tokens in the URL, path traversal. Each gets a clean status (or a
//! closed connection), nothing panics, the log is unchanged, and the
//! server goes on serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{arrest, send, Fixture, Request, Server};

#[test]
fn hostile_requests_get_a_clean_status_and_change_nothing() {
    let fixture = Fixture::new();
    let mut server = Server::start(
        &fixture.store,
        &["--max-body-bytes", "100000", "--request-timeout", "2"],
    );
    let rs = fixture.rs.as_str();
    let before = fixture.store.log_bytes();
    let status = |raw: &[u8]| send(server.address, raw).status;
    let line = arrest("a2000000-0000-4000-8000-000000000001", "RS");

    // Oversized: declared, and undeclared (chunked).
    let declared = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {rs}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 10000000000\r\n\r\n{line}"
    );
    assert_eq!(status(declared.as_bytes()), 413);
    let mut chunked = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {rs}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let chunk = format!("{line}\n").repeat(100);
    for _ in 0..5 {
        chunked.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(status(&chunked), 413);

    // A body that stops coming: 408 once the timeout is over.
    let mut slow = TcpStream::connect(server.address).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {rs}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{{\"operation\":"
    );
    slow.write_all(head.as_bytes()).expect("write");
    let reply = super::read_reply(&mut slow).expect("an answer to a slow body");
    assert_eq!(reply.status, 408, "{}", reply.text());

    // A head that stops coming: the connection is closed.
    let mut slow = TcpStream::connect(server.address).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    slow.write_all(b"GET /v1/head HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a slow head kept its connection"
    );
    assert!(!rest.starts_with(b"HTTP/1.1 200"));

    // A connection that says nothing, or nothing more after an answer, is
    // closed: idle clients cannot hold the connection slots.
    for first in [&b""[..], b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"] {
        let mut idle = TcpStream::connect(server.address).expect("connect");
        idle.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        idle.write_all(first).expect("write");
        let started = Instant::now();
        let mut rest = Vec::new();
        let _ = idle.read_to_end(&mut rest);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "an idle connection stayed open"
        );
    }

    // Malformed heads.
    for raw in [
        &b"GET /v1/head HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n"[..],
        b"GET /v1/head HTTP/1.1\r\nHost: x\r\nBad\x01Name: y\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
        b"GET\r\n\r\n",
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
    ] {
        let mut stream = TcpStream::connect(server.address).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let _ = stream.write_all(raw);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        if !answer.is_empty() {
            let reply = super::parse_reply(&answer).expect("an HTTP answer");
            assert_eq!(reply.status, 400, "{:?}: {}", String::from_utf8_lossy(raw), reply.text());
        }
    }
    let huge = format!(
        "GET /v1/head HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let mut stream = TcpStream::connect(server.address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let _ = stream.write_all(huge.as_bytes());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    if let Some(reply) = super::parse_reply(&answer) {
        assert_eq!(reply.status, 431);
    }
    // Two Authorization headers, or a token that is almost one.
    let twice = Request::get("/v1/head")
        .token(Some(rs))
        .token(Some(&fixture.analyst));
    server.request(twice).refused(401, "unauthenticated");
    let almost = format!("{}X", &rs[..rs.len() - 1]);
    server
        .get("/v1/head", Some(&almost))
        .refused(401, "unauthenticated");

    // Tokens in the URL are refused on every route, before anything else.
    for path in [
        format!("/v1/head?token={rs}"),
        format!("/healthz?x={rs}"),
        format!("/v1/reports/summary?format=json&access_token={rs}"),
        "/nowhere?bearer=1".to_owned(),
    ] {
        server.get(&path, Some(rs)).refused(400, "token_in_url");
    }

    // Path traversal in {kind}: no report of that name, nothing read.
    for path in [
        "/v1/reports/..%2F..%2Fetc%2Fpasswd",
        "/v1/reports/%2e%2e",
        "/v1/reports/summary%00",
        "/v1/reports/../../etc/passwd",
        "/v1/reports/summary/..",
    ] {
        let reply = server.get(path, Some(rs));
        reply.refused(404, "not_found");
        assert!(!reply.text().contains("root:"), "{path}");
    }

    assert_eq!(fixture.store.log_bytes(), before, "a hostile request wrote");
    assert_eq!(server.get("/healthz", None).status, 200);
    assert_eq!(server.post(Some(rs), &line).status, 200);
    let status = server.stop();
    assert!(status.success(), "{}", server.stderr());
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}
