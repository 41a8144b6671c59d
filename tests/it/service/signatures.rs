//! Signed batches and receipts over the API, on both stores: the
//! `Theseus-Signature` header (valid, edited batch, another agency's
//! signature, rotated and revoked keys), the per-agency setting that
//! refuses unsigned batches, and the receipt a `Theseus-Receipt: yes`
//! post returns, checked by `verify --receipt`.

use base64::Engine;

use super::{Request, Server};
use crate::evidence::{agents, Desk, LAUNCH};
use crate::support::Store;

fn token(store: &Store, args: &[&str]) -> String {
    let mut all = vec!["agency", "add"];
    all.extend_from_slice(args);
    store.run(&all).json()["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

fn signed(server: &Server, token: &str, batch: &str, signature: &str) -> super::Reply {
    let header = base64::engine::general_purpose::STANDARD.encode(signature);
    server.request(
        Request::batch(batch)
            .token(Some(token))
            .header("Theseus-Signature", &header)
            .header("Theseus-Receipt", "yes"),
    )
}

fn posts(store: Store) {
    let desk = Desk::new();
    let rs = token(&store, &["rs-police", "--role", "coordinator"]);
    let al = token(&store, &["al-police", "--role", "coordinator"]);
    store
        .run(&[
            "agency",
            "key",
            "generate",
            "rs-police",
            "--out",
            &desk.p("rs1.key"),
        ])
        .json();
    let server = Server::start(&store, &["--require-signatures", "rs-police"]);
    let before = store.log_bytes();

    // rs-police must sign; al-police need not.
    let b1 = format!("{LAUNCH}\n{}", agents(1, 2));
    server.post(Some(&rs), &b1).refused(403, "forbidden");
    assert_eq!(store.log_bytes(), before, "a refused post writes nothing");

    desk.write("b1.ndjson", &b1);
    let sig1 = desk.sign("b1.ndjson", "rs1.key");
    // Another agency posting rs-police's signed batch.
    let error = signed(&server, &al, &b1, &sig1).refused(400, "signature");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or("")
            .contains("rs-police"),
        "{error}"
    );
    // The batch edited after signing.
    let edited = b1.replace(r#""count":2"#, r#""count":20"#);
    signed(&server, &rs, &edited, &sig1).refused(400, "signature");
    // Not a signature at all.
    server
        .request(
            Request::batch(b1.as_str())
                .token(Some(&rs))
                .header("Theseus-Signature", "not base64!"),
        )
        .refused(400, "bad_request");
    assert_eq!(store.log_bytes(), before);

    // Valid: appended, recorded by rs-police, with a receipt that holds.
    let reply = signed(&server, &rs, &b1, &sig1);
    let answer = reply.json();
    assert_eq!(reply.status, 200, "{answer}");
    assert_eq!(answer["appended"], 3);
    let receipt = desk.write("r1.receipt", answer["receipt"].as_str().expect("receipt"));
    store
        .run(&["verify", "--require-signatures", "--receipt", &receipt])
        .ok();

    // Rotated: the old key signs nothing new; the new one does; the first
    // batch still verifies.
    store
        .run(&[
            "agency",
            "key",
            "rotate",
            "rs-police",
            "--out",
            &desk.p("rs2.key"),
        ])
        .json();
    desk.write("b2.ndjson", &agents(10, 2));
    let old = desk.sign("b2.ndjson", "rs1.key");
    let error = signed(&server, &rs, &agents(10, 2), &old).refused(400, "signature");
    assert!(
        error["message"].as_str().unwrap_or("").contains("retired"),
        "{error}"
    );
    let new = desk.sign("b2.ndjson", "rs2.key");
    assert_eq!(signed(&server, &rs, &agents(10, 2), &new).status, 200);

    // Revoked: refused from the next request on.
    let rs2 = desk.read("rs2.key");
    let rs2_id = rs2.split('+').nth(3).expect("id").to_owned();
    store
        .run(&["agency", "key", "revoke", "rs-police", "--key-id", &rs2_id])
        .json();
    desk.write("b3.ndjson", &agents(20, 1));
    let revoked = desk.sign("b3.ndjson", "rs2.key");
    let error = signed(&server, &rs, &agents(20, 1), &revoked).refused(400, "signature");
    assert!(
        error["message"].as_str().unwrap_or("").contains("revoked"),
        "{error}"
    );

    let out = store
        .run(&["verify", "--require-signatures", "--receipt", &receipt])
        .ok();
    assert!(out.contains("2 signed batches (5 records)"), "{out}");
}

#[test]
fn signed_posts_on_the_file_store() {
    posts(Store::new());
}

#[test]
fn signed_posts_on_postgres() {
    if let Some(store) = Store::postgres() {
        posts(store);
    }
}
