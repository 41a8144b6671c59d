//! Connections: opening one (with a timeout), the statements each one has
//! prepared, a small pool so that parallel replays and nested calls get
//! their own, and how server errors are worded.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use event_store::StoreError;
use postgres::{Client, NoTls, Statement};

use crate::{Address, PostgresError};

/// Idle connections kept for reuse; more may be open while in use.
const IDLE: usize = 4;

/// One connection and the statements prepared on it.
pub(crate) struct Conn {
    pub(crate) client: Client,
    prepared: HashMap<&'static str, Statement>,
}

impl Conn {
    /// Connects, giving up after the address's connect timeout. The
    /// client's own timeout covers only the TCP connect; a server that
    /// accepts and then never answers the startup would hang it, so the
    /// whole handshake runs on a thread that is waited for no longer.
    pub(crate) fn open(address: &Address) -> Result<Conn, StoreError> {
        let config = address.config().clone();
        let limit = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(crate::CONNECT_TIMEOUT);
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("theseus-connect".into())
            .spawn(move || {
                let _ = sender.send(config.connect(NoTls));
            })
            .map_err(|error| fail(address, PostgresError::Connect(error.to_string())))?;
        // The thread's own timeout fires first for a refused or silent
        // TCP connect; this one catches a silent server.
        let client = match receiver.recv_timeout(limit + Duration::from_millis(500)) {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => return Err(fail(address, PostgresError::Connect(describe(&error)))),
            Err(_) => {
                return Err(fail(
                    address,
                    PostgresError::Connect(format!("no answer within {} s", limit.as_secs_f64())),
                ))
            }
        };
        Ok(Conn {
            client,
            prepared: HashMap::new(),
        })
    }

    /// The statement `name`, prepared from `sql` the first time.
    pub(crate) fn statement(
        &mut self,
        name: &'static str,
        sql: &dyn Fn() -> String,
    ) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.prepared.get(name) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(&sql())?;
        self.prepared.insert(name, statement.clone());
        Ok(statement)
    }
}

/// Connections to one address, opened when asked for: a second one only
/// when two are in use at once (a parallel replay's parts, a read during
/// an append's transaction). It used to be opened in the background as
/// the store opened, to take its connect time off a parallel replay's
/// path; but most commands (an append, a report from its checkpoint)
/// never use it, and its start and authentication cost the server about
/// 3 ms of CPU each time, on the machine the writers share.
pub(crate) struct Pool {
    address: Address,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    pub(crate) fn new(address: Address, first: Conn) -> Pool {
        Pool {
            address,
            idle: Mutex::new(vec![first]),
        }
    }

    pub(crate) fn address(&self) -> &Address {
        &self.address
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Conn>> {
        // The vector is only pushed to and popped from: a panic elsewhere
        // cannot leave it half-changed.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An idle connection, or a new one.
    pub(crate) fn take(&self) -> Result<Conn, StoreError> {
        let idle = self.lock().pop();
        if let Some(conn) = idle.filter(|conn| !conn.client.is_closed()) {
            return Ok(conn);
        }
        Conn::open(&self.address)
    }

    /// Hands a connection back. One that failed mid-statement may be in an
    /// unknown state and is dropped instead (`healthy` false).
    pub(crate) fn give(&self, conn: Conn, healthy: bool) {
        if !healthy || conn.client.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < IDLE {
            idle.push(conn);
        }
    }

    /// Runs `work` on a connection outside any transaction.
    pub(crate) fn with<T>(
        &self,
        work: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.take()?;
        let result = work(&mut conn);
        self.give(conn, result.is_ok());
        result
    }

    /// Runs `work` in a read-only REPEATABLE READ transaction: every
    /// statement in it sees one snapshot (the head and the rows it covers).
    ///
    /// Without JIT: every read in a snapshot streams rows by a key range
    /// or the heap (the fold is ours), where compiled expressions save
    /// nothing, while a plan the planner overestimates (a short tail past
    /// the table's statistics: 61 rows estimated at 68,975 on a 2M store)
    /// crosses `jit_above_cost` and spent 22 ms compiling before its first
    /// row. `SET LOCAL` goes in the same simple query as `BEGIN` and ends
    /// with the transaction.
    pub(crate) fn snapshot<T>(
        &self,
        work: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.take()?;
        let address = self.address.clone();
        let result = conn
            .client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL jit = off")
            .map_err(|error| server(&address, &error))
            .and_then(|()| work(&mut conn));
        // A read-only transaction has nothing to commit. After a failure
        // (a visitor that stopped a scan, say) the connection may still be
        // streaming rows: dropping it ends the query on the server sooner
        // than draining it would.
        if result.is_ok() {
            let ended = conn.client.batch_execute("ROLLBACK").is_ok();
            self.give(conn, ended);
        }
        result
    }
}

/// A store error for a failure at `address`: one line, naming the address.
pub(crate) fn fail(address: &Address, error: PostgresError) -> StoreError {
    StoreError::Io {
        path: address.to_string().into(),
        source: std::io::Error::other(error),
    }
}

/// A store error for a failed statement.
pub(crate) fn server(address: &Address, error: &postgres::Error) -> StoreError {
    fail(address, PostgresError::Server(describe(error)))
}

/// A server error as one line: its message, detail and hint; other errors
/// (a closed connection, a refused connect) as the client words them.
pub(crate) fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_owned();
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text.replace('\n', " ")
        }
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.contains(&cause_text) {
                    text.push_str(&format!(": {cause_text}"));
                }
                source = cause.source();
            }
            text.replace('\n', " ")
        }
    }
}
