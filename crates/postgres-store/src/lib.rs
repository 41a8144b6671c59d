//! The theseus event store on PostgreSQL: one ledger that many national
//! units write to at once, with the same contract, the same record bytes and
//! the same hash chain as the file store.
//!
//! # How it keeps the contract
//!
//! * **Gap-free order in commit order.** One row (`S.head`) holds the last
//!   committed record's position and hash. A writer locks it `FOR UPDATE`
//!   when its batch begins and holds it until `COMMIT`; positions are
//!   assigned from it, never from a sequence. So batches commit one after
//!   another, each at the positions after the previous one. A reader reads
//!   the head and then `position <= head` in one REPEATABLE READ snapshot:
//!   it sees exactly the batches committed before its snapshot, whole, and
//!   never position N+1 without N (long scans read the heap in its order
//!   and put the rows back in position order in a bounded buffer, within
//!   that snapshot, falling back to the key) (see `docs/postgres.md` for why the
//!   sequence-and-high-water-mark design loses events and this one cannot).
//! * **Durable and atomic.** A batch is one transaction. Its rows go in with
//!   binary `COPY` (a chunk whenever a megabyte is staged, so that memory
//!   does not follow the batch's size; a last rest under 64 KiB goes
//!   inline with the statement that moves the head); the head and the
//!   operations' versions move in the same transaction, and `COMMIT` is
//!   sent in the same simple query, which the server skips if any
//!   statement before it failed; `commit` returns once `COMMIT` has
//!   returned, with `synchronous_commit` raised to `on` for it when the
//!   server has it `off`. A writer killed or cut off mid-batch leaves
//!   nothing: the server rolls the transaction back.
//! * **The same bytes.** Records are staged by [`event_store::backend::Batch`],
//!   the file store's own staging code, and each row keeps its record's
//!   exact line; scans return those bytes, and `verify` runs the file
//!   store's [`event_store::backend::LogChecker`] over them.
//! * **Append-only in the database.** Triggers refuse `UPDATE`, `DELETE`
//!   and `TRUNCATE` on `S.events`, moving the head back and lowering a
//!   version; the writer role may only insert records and move the head
//!   forward, the reader role may only select. The unique constraint on
//!   the event id is a second line of defence behind the check made under
//!   the head lock.
//! * **The store's clock is the database server's.** `Stamp::Now` reads
//!   `clock_timestamp()` after the head lock is taken: one clock for every
//!   writer, however far apart the national units' own clocks are (see
//!   [`PostgresConfig::clock`]).

#![forbid(unsafe_code)]

mod address;
mod binary;
mod conn;
mod read;
mod schema;
mod transaction;

use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use event_store::backend::WarnOnce;
use event_store::{
    warn_on_stderr, AppendTransaction, Clock, DerivedKey, Envelope, EnvelopeRef, EventStore, Hash,
    Head, Range, Stamp, StoreError, SubjectKey, VerifyReport, Warn,
};
use uuid::Uuid;

pub use address::{Address, CONNECT_TIMEOUT, DEFAULT_SCHEMA};
pub use schema::{init_sql, reader_role, writer_role, Initialised, LAYOUT_VERSION};

use conn::{fail, Conn, Pool};

/// What can go wrong talking to PostgreSQL, before it becomes a
/// [`StoreError`] naming the address (an `Io` error whose path is the
/// address, so that every failure is one line saying where it happened).
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// The address does not parse.
    #[error("{address}: {reason}")]
    Address { address: String, reason: String },
    /// No connection could be made (refused, timed out, authentication…).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// A statement failed.
    #[error("{0}")]
    Server(String),
    /// The schema holds no store this code can use as it is.
    #[error("{0}")]
    Layout(String),
}

/// Settings of a [`PostgresStore`].
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// The store's clock for [`Stamp::Now`] and the tolerance of
    /// [`Stamp::At`]. `None` (the default) reads the database server's clock
    /// under the head lock: many machines write to one ledger, and only the
    /// server's clock is the same for all of them and kept by its operators.
    /// A function is for tests.
    pub clock: Option<Clock>,
    /// The key that seals the rows of `S.derived` (checkpoints), kept
    /// outside the database ([`event_store::key`]): anyone who may write
    /// the table can write a row, only a holder of the key can seal one.
    /// Rows are named by the key's id, so that users with different keys
    /// do not overwrite each other's. `None`: no derived row is read or
    /// written.
    pub key: Option<DerivedKey>,
    /// Told, once each, about derived rows that were damaged or could not
    /// be read or written (the default prints `warning: …` on stderr).
    pub warn: Warn,
    /// Scans of at least this many records are read in the heap's order
    /// with a bounded reorder buffer instead of by the primary key (see
    /// `read::scan_sequential`): a third of the server's work for a cold
    /// report. Default 20,000; tests set 1 to read every scan that way.
    pub sequential_from: u64,
}

/// The default of [`PostgresConfig::sequential_from`].
pub const SEQUENTIAL_FROM: u64 = 20_000;

impl Default for PostgresConfig {
    /// The database server's clock, and the user's derived-data key from
    /// its usual place ([`DerivedKey::load_or_create`]); if there is none
    /// and none can be made, a warning and no key.
    fn default() -> PostgresConfig {
        let key = match DerivedKey::load_or_create() {
            Ok(key) => Some(key),
            Err(error) => {
                warn_on_stderr(&format!("{error}; derived data is not used"));
                None
            }
        };
        PostgresConfig {
            clock: None,
            key,
            warn: warn_on_stderr,
            sequential_from: SEQUENTIAL_FROM,
        }
    }
}

/// An event store in one schema of a PostgreSQL database.
pub struct PostgresStore {
    pool: Pool,
    config: PostgresConfig,
    sql: read::Sql,
    warnings: WarnOnce,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("address", self.pool.address())
            .finish()
    }
}

impl PostgresStore {
    /// Creates the store's schema and tables at `address`, or migrates them
    /// to [`LAYOUT_VERSION`]; on a current store, changes nothing. A schema
    /// that holds a newer or unknown layout, or other tables, is refused.
    pub fn init(
        address: &Address,
        config: PostgresConfig,
    ) -> Result<(PostgresStore, Initialised), StoreError> {
        let mut conn = Conn::open(address)?;
        let done =
            schema::init(&mut conn.client, address.schema()).map_err(|e| fail(address, e))?;
        Ok((PostgresStore::with(address, config, conn), done))
    }

    /// Opens the store at `address`; never creates one.
    pub fn open(address: &Address, config: PostgresConfig) -> Result<PostgresStore, StoreError> {
        let mut conn = Conn::open(address)?;
        let exists =
            schema::check(&mut conn.client, address.schema()).map_err(|e| fail(address, e))?;
        if !exists {
            return Err(StoreError::Missing {
                dir: address.to_string().into(),
            });
        }
        Ok(PostgresStore::with(address, config, conn))
    }

    fn with(address: &Address, config: PostgresConfig, conn: Conn) -> PostgresStore {
        PostgresStore {
            sql: read::Sql::new(address.schema()),
            pool: Pool::new(address.clone(), conn),
            warnings: WarnOnce::new(config.warn),
            config,
        }
    }

    /// Where the store is.
    pub fn address(&self) -> &Address {
        self.pool.address()
    }

    /// [`EventStore::verify`], counting the records checked into `progress`.
    pub fn verify_counted(
        &self,
        expect_head: Option<(u64, Hash)>,
        progress: &AtomicU64,
    ) -> Result<VerifyReport, StoreError> {
        read::verify(self, expect_head, Some(progress))
    }
}

/// What the seals of this store's derived rows name as their store kind.
const STORE_KIND: &str = "postgres";

/// The row of `S.derived` that holds `name` for `key`: each key its own.
fn derived_row(key: &DerivedKey, name: &str) -> String {
    format!("{}.{name}", key.id())
}

impl PostgresStore {
    fn derived_unusable(&self, error: &StoreError) {
        self.warnings.say(
            "table",
            &format!("{error}; derived data (checkpoints) is not read or saved here, reports replay the log"),
        );
    }
}

impl EventStore for PostgresStore {
    fn head(&self) -> Result<Head, StoreError> {
        self.pool.with(|conn| read::head(self, conn))
    }

    fn scan(
        &self,
        range: Range,
        visit: &mut dyn FnMut(&EnvelopeRef<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        read::scan(self, range, visit)
    }

    fn get(&self, id: Uuid) -> Result<Option<Envelope>, StoreError> {
        self.pool.with(|conn| read::get(self, conn, id))
    }

    fn get_at(&self, position: u64) -> Result<Option<Envelope>, StoreError> {
        self.pool.with(|conn| read::get_at(self, conn, position))
    }

    fn get_at_chained(&self, position: u64) -> Result<Option<(Hash, Envelope)>, StoreError> {
        self.pool
            .with(|conn| read::get_at_chained(self, conn, position))
    }

    fn head_at(&self, instant: DateTime<Utc>) -> Result<Head, StoreError> {
        self.pool
            .snapshot(|conn| read::head_at(self, conn, instant))
    }

    /// One connection does for an append: reading the rule state's
    /// checkpoint beside `begin` cost a second connection (its startup
    /// and authentication, about 3 ms) to overlap one round trip.
    fn reads_beside_begin(&self) -> bool {
        false
    }

    fn begin(&self, stamp: Stamp) -> Result<Box<dyn AppendTransaction + '_>, StoreError> {
        Ok(Box::new(transaction::PostgresTransaction::begin(
            self, stamp,
        )?))
    }

    fn verify(&self, expect_head: Option<(u64, Hash)>) -> Result<VerifyReport, StoreError> {
        read::verify(self, expect_head, None)
    }

    fn load_derived(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        event_store::backend::check_derived_name(name)?;
        let Some(key) = &self.config.key else {
            return Ok(None);
        };
        let row = derived_row(key, name);
        let sealed = match self.pool.with(|conn| read::load_derived(self, conn, &row)) {
            Ok(Some(sealed)) => sealed,
            Ok(None) => return Ok(None),
            Err(error) => {
                self.derived_unusable(&error);
                return Ok(None);
            }
        };
        let context = event_store::backend::seal_context(STORE_KIND, name);
        match key.open(&context, &sealed) {
            Some(bytes) => Ok(Some(bytes.to_vec())),
            None => {
                self.warnings.say(
                    name,
                    &format!(
                        "{}: derived row {row} is not sealed by this user's derived-data key \
                         (damaged, edited or copied in); ignored and rebuilt from the log",
                        self.address()
                    ),
                );
                Ok(None)
            }
        }
    }

    fn save_derived(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        event_store::backend::check_derived_name(name)?;
        let Some(key) = &self.config.key else {
            return Ok(());
        };
        let row = derived_row(key, name);
        let sealed = key.seal(&event_store::backend::seal_context(STORE_KIND, name), bytes);
        if let Err(error) = self
            .pool
            .with(|conn| read::save_derived(self, conn, &row, &sealed))
        {
            // A reader role, or a replica, cannot save: a missed cache.
            self.derived_unusable(&error);
        }
        Ok(())
    }

    fn subject_key(&self, key_id: &[u8; 16]) -> Result<Option<SubjectKey>, StoreError> {
        self.pool.with(|conn| read::subject_key(self, conn, key_id))
    }
}
