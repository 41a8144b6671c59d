//! The PostgreSQL store: its conformance-suite subject, and end-to-end tests
//! through the binary with `--store postgres://…` (one module per concern).
//!
//! Every test gets a schema of its own in the test database
//! (`THESEUS_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`)
//! and drops it, with the roles named after it, when it ends; so the tests
//! run in parallel. Without a reachable server every test here passes
//! without running, after one line on stderr saying so.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use event_store::{decode_record, EventStore};
use postgres_store::{Address, PostgresConfig, PostgresStore};

use crate::conformance::StoreUnderTest;

mod cli;
mod concurrency;
mod copy;
mod faults;
mod roles;

/// The test server's address (without a schema), when it answers.
fn server() -> Option<&'static str> {
    static SERVER: OnceLock<Option<String>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let url = std::env::var("THESEUS_TEST_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let mut config: postgres::Config = match url.parse() {
                Ok(config) => config,
                Err(error) => panic!("THESEUS_TEST_POSTGRES={url}: {error}"),
            };
            config.connect_timeout(std::time::Duration::from_secs(3));
            match config.connect(postgres::NoTls) {
                Ok(_) => Some(url),
                Err(error) => {
                    // Straight to the terminal: the test harness captures
                    // println! of passing tests, and this must be seen.
                    let _ = writeln!(
                        std::io::stderr(),
                        "postgres: SKIPPED every PostgreSQL test: no server at {url} ({error}); set THESEUS_TEST_POSTGRES"
                    );
                    None
                }
            }
        })
        .as_deref()
}

/// A superuser connection to the test database.
pub fn admin() -> postgres::Client {
    let url = server().expect("a server");
    postgres::Client::connect(url, postgres::NoTls).expect("admin connection")
}

/// A schema of this test's own; dropped (with its roles) on drop.
#[derive(Debug)]
pub struct TestSchema {
    name: String,
    url: String,
}

impl TestSchema {
    /// A fresh schema name on the test server, or `None` without a server.
    pub fn new() -> Option<TestSchema> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = server()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "it_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}schema={name}");
        Some(TestSchema { name, url })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store's address, as `--store` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn address(&self) -> Address {
        Address::parse(&self.url).expect("test address")
    }

    /// Every row's line, newline included, in position order.
    pub fn log_bytes(&self) -> Vec<u8> {
        let mut client = admin();
        let sql = format!(
            "SELECT line FROM \"{}\".events ORDER BY position",
            self.name
        );
        let rows = match client.query(&sql, &[]) {
            Ok(rows) => rows,
            // No store (yet): no bytes.
            Err(_) => return Vec::new(),
        };
        let mut out = Vec::new();
        for row in rows {
            out.extend_from_slice(row.get::<_, &[u8]>(0));
            out.push(b'\n');
        }
        out
    }

    /// Runs SQL as the superuser.
    pub fn sql(&self, sql: &str) {
        admin()
            .batch_execute(&sql.replace("{s}", &format!("\"{}\"", self.name)))
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    fn drop_all(&self) {
        let mut client = admin();
        let name = &self.name;
        let _ = client.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS \"{name}\" CASCADE; \
             DROP ROLE IF EXISTS \"{name}_unit\"; \
             DROP ROLE IF EXISTS \"{name}_writer\"; \
             DROP ROLE IF EXISTS \"{name}_reader\";"
        ));
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        self.drop_all();
    }
}

/// The conformance suite's subject: a store in a schema of its own.
pub struct Postgres {
    schema: TestSchema,
    store: PostgresStore,
}

impl StoreUnderTest for Postgres {
    fn fresh() -> Postgres {
        let schema = TestSchema::new().expect("a server (checked by available)");
        let (store, _) =
            PostgresStore::init(&schema.address(), PostgresConfig::default()).expect("init");
        Postgres { schema, store }
    }

    fn store(&self) -> &dyn EventStore {
        &self.store
    }

    fn bytes(&self) -> Vec<u8> {
        self.schema.log_bytes()
    }

    /// The rows become the given lines, as a superuser could make them.
    /// What a crash can leave differs from the file store: a transaction
    /// that did not commit leaves no row, so a cut log keeps its whole
    /// lines up to the last batch end, and the head row points there.
    fn replace_bytes(&mut self, bytes: Vec<u8>) {
        self.schema.drop_all();
        let address = self.schema.address();
        PostgresStore::init(&address, PostgresConfig::default()).expect("init again");
        let lines: Vec<&[u8]> = bytes
            .split_inclusive(|b| *b == b'\n')
            .take_while(|line| line.ends_with(b"\n"))
            .map(|line| &line[..line.len() - 1])
            .collect();
        let committed = lines
            .iter()
            .rposition(|line| decode_record(line).is_ok_and(|record| record.batch_end))
            .map_or(0, |index| index + 1);
        let mut client = admin();
        let s = format!("\"{}\"", self.schema.name());
        let mut versions = std::collections::BTreeMap::new();
        for (index, line) in lines[..committed].iter().enumerate() {
            // A line that no longer decodes keeps a made-up id, as an
            // attacker's edit would leave the id column.
            let id = decode_record(line).map_or_else(
                |_| uuid::Uuid::from_u128(u128::MAX - index as u128),
                |record| {
                    versions.insert(record.operation.to_string(), record.version as i64);
                    record.id
                },
            );
            client
                .execute(
                    &format!("INSERT INTO {s}.events (position, id, line) VALUES ($1, $2, $3)"),
                    &[&(index as i64 + 1), &id, line],
                )
                .expect("insert row");
        }
        if committed > 0 {
            let head = decode_record(lines[committed - 1]).expect("the last batch end decodes");
            client
                .execute(
                    &format!("UPDATE {s}.head SET position = $1, hash = $2, recorded_at = $3"),
                    &[
                        &(committed as i64),
                        &head.hash.to_string(),
                        &head.recorded_at,
                    ],
                )
                .expect("move the head");
        }
        for (operation, version) in versions {
            client
                .execute(
                    &format!("INSERT INTO {s}.streams (operation, version) VALUES ($1, $2)"),
                    &[&operation, &version],
                )
                .expect("streams");
        }
        self.store = PostgresStore::open(&address, PostgresConfig::default()).expect("reopen");
    }

    fn available() -> bool {
        server().is_some()
    }
}

/// The same subject with every scan read in the heap's order (the reorder
/// buffer and its fall-back to the key), which only long scans take
/// otherwise.
pub struct PostgresHeapOrder(Postgres);

fn heap_order() -> PostgresConfig {
    PostgresConfig {
        sequential_from: 1,
        ..PostgresConfig::default()
    }
}

impl StoreUnderTest for PostgresHeapOrder {
    fn fresh() -> PostgresHeapOrder {
        let mut subject = Postgres::fresh();
        subject.store =
            PostgresStore::open(&subject.schema.address(), heap_order()).expect("reopen");
        PostgresHeapOrder(subject)
    }

    fn store(&self) -> &dyn EventStore {
        &self.0.store
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.bytes()
    }

    fn replace_bytes(&mut self, bytes: Vec<u8>) {
        self.0.replace_bytes(bytes);
        self.0.store = PostgresStore::open(&self.0.schema.address(), heap_order()).expect("reopen");
    }

    fn available() -> bool {
        Postgres::available()
    }
}
