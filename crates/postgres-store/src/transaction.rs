//! One batch = one PostgreSQL transaction, serialised on the head row.
//!
//! `begin` sends, in one round trip: `BEGIN` (READ COMMITTED, so that every
//! statement after the lock sees every batch committed before it),
//! `synchronous_commit` raised to `on` for this transaction if the server
//! runs with it `off`, `SELECT … FROM head FOR UPDATE` (which waits for the
//! writer before), and only then the server's `clock_timestamp()`: a time
//! read before the lock could be older than the batch committed while
//! waiting for it; and the operations' versions, so that a batch asks for
//! none of them on its own (statements after the lock see every batch
//! committed before it).
//!
//! Staging is the file store's [`Batch`]; its encoded lines go to
//! `events` with binary `COPY` whenever a megabyte has accumulated, and the
//! rest at commit (inline with the head's statement and `COMMIT`, one
//! round trip, when under 64 KiB), inside the transaction: other sessions never see them
//! before `COMMIT`, and not at all if the transaction ends any other way.
//! Lookups of ids and versions are statements in the same transaction;
//! [`AppendTransaction::prefetch`] answers a chunk's ids with one. One-off
//! statements go typed, not prepared: each CLI command is a new process,
//! where a prepared statement costs a round trip more.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;

use chrono::{DateTime, NaiveDateTime, Utc};
use event_store::backend::{resolve_stamp_at, Batch, CommittedLog, StagedRecord};
use event_store::{
    decode_record, format_recorded_at, AppendTransaction, Committed, Envelope, Head, NewEvent,
    Staged, Stamp, StoreError, SubjectKey,
};
use postgres::error::SqlState;
use postgres::types::Type;
use postgres::SimpleQueryMessage;
use uuid::Uuid;

use crate::binary::{write_event_row, write_header, write_trailer};
use crate::conn::{describe, server, Conn};
use crate::read::parse_head;
use crate::PostgresStore;

/// A staged record as a row: position, id, line.
type StagedRow<'a> = (i64, Uuid, &'a [u8]);

/// Staged bytes go to the server once they pass this size.
const FLUSH_BYTES: usize = 1 << 20;

pub(crate) struct PostgresTransaction<'s> {
    store: &'s PostgresStore,
    /// `None` once committed or given back. In a cell because lookups
    /// (`find`, `version`) take `&self` and still need the connection that
    /// holds the lock and sees the batch's own rows.
    conn: RefCell<Option<Conn>>,
    /// The head the batch started from.
    base: Head,
    batch: Batch,
    /// Records already sent with COPY.
    flushed: u64,
    /// The last prefetch's answers: id → its committed line, if any.
    prefetched: HashMap<Uuid, Option<Vec<u8>>>,
    /// Every operation's committed version, read under the lock with it
    /// (`None` when there are more than [`VERSIONS_AT_BEGIN`]: then each
    /// is asked for when needed).
    committed_versions: Option<HashMap<String, u64>>,
    /// Subject keys added and not yet written: they go in bulk (with the
    /// next chunk of rows, or inline with the commit), not one statement
    /// and one round trip each. Bounded by [`KEYS_AT_ONCE`].
    pending_keys: HashMap<[u8; 32], SubjectKey>,
    /// The last key prefetch's answers (lookup → key, if any), kept true
    /// to this transaction's own additions and removals.
    known_keys: HashMap<[u8; 32], Option<SubjectKey>>,
}

/// Subject keys held back at most before they are written.
const KEYS_AT_ONCE: usize = 4096;

/// The operations' versions are read with the head lock, in its round
/// trip, when there are at most this many operations (a ledger has tens):
/// a batch then asks for none of them on its own.
const VERSIONS_AT_BEGIN: usize = 1024;

fn bad_version(store: &PostgresStore) -> StoreError {
    StoreError::Corrupt {
        location: format!("{}.streams", store.sql.s.trim_matches('"')),
        reason: "a version that is not a whole number".into(),
    }
}

impl<'s> PostgresTransaction<'s> {
    pub(crate) fn begin(
        store: &'s PostgresStore,
        stamp: Stamp,
    ) -> Result<PostgresTransaction<'s>, StoreError> {
        let mut conn = store.pool.take()?;
        match PostgresTransaction::lock(store, &mut conn, stamp) {
            Ok((batch, committed_versions)) => Ok(PostgresTransaction {
                store,
                conn: RefCell::new(Some(conn)),
                base: batch.head(),
                batch,
                flushed: 0,
                prefetched: HashMap::new(),
                committed_versions,
                pending_keys: HashMap::new(),
                known_keys: HashMap::new(),
            }),
            Err(error) => {
                let ended = conn.client.batch_execute("ROLLBACK").is_ok();
                store.pool.give(conn, ended);
                Err(error)
            }
        }
    }

    /// Takes the head lock, then reads the clock and the operations'
    /// versions; returns the empty batch and the versions (see
    /// [`VERSIONS_AT_BEGIN`]).
    #[allow(clippy::type_complexity)]
    fn lock(
        store: &PostgresStore,
        conn: &mut Conn,
        stamp: Stamp,
    ) -> Result<(Batch, Option<HashMap<String, u64>>), StoreError> {
        let address = store.address();
        let s = &store.sql.s;
        let messages = conn
            .client
            .simple_query(&format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED; \
                 SELECT set_config('synchronous_commit', 'on', true) AS raised \
                   WHERE current_setting('synchronous_commit') = 'off'; \
                 SELECT position, hash, recorded_at FROM {s}.head FOR UPDATE; \
                 SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', \
                                'YYYY-MM-DD\"T\"HH24:MI:SS.US') AS server_clock; \
                 SELECT operation, version FROM {s}.streams LIMIT {}",
                VERSIONS_AT_BEGIN + 1
            ))
            .map_err(|e| server(address, &e))?;
        let mut head = None;
        let mut clock = None;
        let mut versions = HashMap::new();
        let unexpected = || StoreError::Corrupt {
            location: format!("{}.head", s.trim_matches('"')),
            reason: "the head row is missing".into(),
        };
        for message in &messages {
            let SimpleQueryMessage::Row(row) = message else {
                continue;
            };
            match row.columns().first().map(|c| c.name()) {
                Some("position") => head = Some((row.get(0), row.get(1), row.get(2))),
                Some("server_clock") => clock = row.get(0),
                Some("operation") => {
                    let (Some(operation), Some(version)) = (row.get(0), row.get(1)) else {
                        return Err(bad_version(store));
                    };
                    let version: u64 = version.parse().map_err(|_| bad_version(store))?;
                    versions.insert(operation.to_owned(), version);
                }
                _ => {}
            }
        }
        let versions = (versions.len() <= VERSIONS_AT_BEGIN).then_some(versions);
        let (position, hash, recorded_at) = head.ok_or_else(unexpected)?;
        let position: i64 = position
            .and_then(|p: &str| p.parse().ok())
            .ok_or_else(unexpected)?;
        let (head, head_recorded_at) = parse_head(
            store,
            position,
            hash.ok_or_else(unexpected)?,
            recorded_at.map(str::to_owned),
        )?;
        let now = match store.config.clock {
            Some(clock) => clock(),
            None => {
                let text = clock.ok_or_else(unexpected)?;
                NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .map(|t| t.and_utc())
                    .map_err(|error| {
                        crate::conn::fail(
                            address,
                            crate::PostgresError::Server(format!(
                                "the server's clock reads {text:?}: {error}"
                            )),
                        )
                    })?
            }
        };
        let recorded_at: DateTime<Utc> = resolve_stamp_at(stamp, now, head_recorded_at.as_deref())?;
        Ok((Batch::new(head, recorded_at, 0), versions))
    }

    /// Runs `work` on the transaction's connection.
    fn on_conn<T>(
        &self,
        work: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slot = self.conn.borrow_mut();
        let conn = slot
            .as_mut()
            .ok_or_else(|| StoreError::Invalid("the transaction has already ended".into()))?;
        work(conn)
    }

    /// The staged lines that are complete records, with their positions
    /// and ids, checked to follow on from the rows already sent.
    fn staged_rows(&self) -> Result<Vec<StagedRow<'_>>, StoreError> {
        let first = self.base.position + self.flushed + 1;
        let mut rows = Vec::new();
        for line in self
            .batch
            .output()
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
        {
            let position = first + rows.len() as u64;
            let record = decode_record(line).map_err(|reason| StoreError::Corrupt {
                location: "staged record".into(),
                reason,
            })?;
            if record.position != position {
                return Err(StoreError::Corrupt {
                    location: "staged record".into(),
                    reason: format!("position {} where {position} was due", record.position),
                });
            }
            rows.push((i64::try_from(position).unwrap_or(i64::MAX), record.id, line));
        }
        Ok(rows)
    }

    /// Sends the staged bytes that are complete records with one binary COPY.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.batch.output().is_empty() {
            return Ok(());
        }
        let payload_capacity = self.batch.output().len() + self.batch.output().len() / 8 + 64;
        let rows = self.staged_rows()?;
        let mut payload = Vec::with_capacity(payload_capacity);
        write_header(&mut payload);
        for (position, id, line) in &rows {
            write_event_row(&mut payload, *position, id.as_bytes(), line);
        }
        write_trailer(&mut payload);
        let sent = rows.len() as u64;
        drop(rows);
        let store = self.store;
        let copy = format!(
            "COPY {}.events (position, id, line) FROM STDIN (FORMAT binary)",
            store.sql.s
        );
        self.on_conn(|conn| {
            let mut writer = conn
                .client
                .copy_in(&copy)
                .map_err(|e| server(store.address(), &e))?;
            writer.write_all(&payload).map_err(|e| {
                crate::conn::fail(store.address(), crate::PostgresError::Server(e.to_string()))
            })?;
            writer.finish().map_err(|e| written(store, &e))
        })?;
        self.batch.drain_out();
        self.flushed += sent;
        Ok(())
    }

    /// Writes the subject keys added since the last write, in one
    /// statement (arrays of the three columns, unnested by the server).
    fn write_keys(&mut self) -> Result<(), StoreError> {
        if self.pending_keys.is_empty() {
            return Ok(());
        }
        let keys = self.pending_keys.values();
        let lookups: Vec<&[u8]> = keys.clone().map(|k| k.lookup.as_slice()).collect();
        let key_ids: Vec<&[u8]> = keys.clone().map(|k| k.key_id.as_slice()).collect();
        let secrets: Vec<&[u8]> = keys.map(|k| k.secret.as_slice()).collect();
        let store = self.store;
        let sql = format!(
            "INSERT INTO {}.subject_keys (lookup, key_id, secret) \
             SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[])",
            store.sql.s
        );
        let mut slot = self.conn.borrow_mut();
        let conn = slot
            .as_mut()
            .ok_or_else(|| StoreError::Invalid("the transaction has already ended".into()))?;
        conn.client
            .execute_typed(
                &sql,
                &[
                    (&lookups, Type::BYTEA_ARRAY),
                    (&key_ids, Type::BYTEA_ARRAY),
                    (&secrets, Type::BYTEA_ARRAY),
                ],
            )
            .map_err(|e| server(store.address(), &e))?;
        drop(slot);
        self.pending_keys.clear();
        Ok(())
    }

    /// Ends the transaction without writing, handing the connection back.
    fn abandon(&mut self) {
        if let Some(mut conn) = self.conn.get_mut().take() {
            let ended = conn.client.batch_execute("ROLLBACK").is_ok();
            self.store.pool.give(conn, ended);
        }
    }

    /// Writes what is left of the batch, moves the head and the versions
    /// and commits, in one round trip: the rows still staged (when they
    /// are few: a single append sends no `COPY`), the head and versions
    /// in one statement, and `COMMIT`, as one simple query. A statement
    /// that fails skips the rest (the server does not run the `COMMIT`),
    /// and the connection is then dropped, which rolls the batch back.
    fn finish_commit(&mut self, committed: &Committed) -> Result<(), StoreError> {
        if self.batch.output().len() > INLINE_BYTES {
            self.flush()?;
        }
        if self.pending_keys.len() > INLINE_KEYS {
            self.write_keys()?;
        }
        let store = self.store;
        let address = store.address();
        let rows = self.staged_rows()?;
        let sql = commit_sql(
            &store.sql.s,
            self.pending_keys.values(),
            &rows,
            committed.head,
            &format_recorded_at(&self.batch.recorded_at()),
            self.batch.versions(),
        );
        drop(rows);
        let mut slot = self.conn.borrow_mut();
        let conn = slot
            .as_mut()
            .ok_or_else(|| StoreError::Invalid("the transaction has already ended".into()))?;
        match conn.client.batch_execute(&sql) {
            Ok(()) => Ok(()),
            // The connection broke: the batch may or may not have
            // committed (the COMMIT may have been the statement running).
            // The chain says which.
            Err(error) if error.as_db_error().is_none() => {
                if committed_after_all(store, committed.head) {
                    Ok(())
                } else {
                    Err(server(address, &error))
                }
            }
            Err(error) => Err(written(store, &error)),
        }
    }
}

/// Up to this many added subject keys go inline with the commit's
/// statement instead of with a statement of their own.
const INLINE_KEYS: usize = 64;

/// Staged rows up to this size go inline with the commit's statement (as
/// hex: twice the bytes) instead of with a `COPY` of their own.
const INLINE_BYTES: usize = 64 << 10;

/// The statements that end a batch: insert `rows` (if any), move the head
/// to `head` and the operations to `versions`, commit. Every value is
/// written as a literal the server decodes (`decode(…, 'hex')`), so no
/// text from the input is ever quoted into the SQL: only hex digits,
/// integers and the record's own fixed-form hash and time.
fn commit_sql<'k>(
    s: &str,
    keys: impl ExactSizeIterator<Item = &'k SubjectKey>,
    rows: &[StagedRow<'_>],
    head: Head,
    recorded_at: &str,
    versions: &HashMap<String, u64>,
) -> String {
    use std::fmt::Write as _;
    let hex_len: usize = rows.iter().map(|(_, _, line)| line.len() * 2 + 96).sum();
    let mut sql = String::with_capacity(hex_len + 512 + versions.len() * 96 + keys.len() * 220);
    // The batch's subject keys first: a statement that fails skips the rest.
    if keys.len() > 0 {
        let _ = write!(
            sql,
            "INSERT INTO {s}.subject_keys (lookup, key_id, secret) VALUES "
        );
        for (n, key) in keys.enumerate() {
            if n > 0 {
                sql.push(',');
            }
            sql.push('(');
            push_bytes(&mut sql, &key.lookup);
            sql.push(',');
            push_bytes(&mut sql, &key.key_id);
            sql.push(',');
            push_bytes(&mut sql, &key.secret);
            sql.push(')');
        }
        sql.push_str("; ");
    }
    sql.push_str("WITH ");
    if !rows.is_empty() {
        let _ = write!(
            sql,
            "inserted AS (INSERT INTO {s}.events (position, id, line) VALUES "
        );
        for (n, (position, id, line)) in rows.iter().enumerate() {
            if n > 0 {
                sql.push(',');
            }
            let _ = write!(sql, "({position},'{}'::uuid,", id.as_hyphenated());
            push_bytes(&mut sql, line);
            sql.push(')');
        }
        sql.push_str("), ");
    }
    let position = i64::try_from(head.position).unwrap_or(i64::MAX);
    let _ = write!(
        sql,
        "moved AS (UPDATE {s}.head SET position = {position}, hash = '{}', recorded_at = ",
        head.hash
    );
    push_text(&mut sql, recorded_at);
    let (mut operations, mut numbers) = (String::new(), String::new());
    for (operation, version) in versions {
        if !numbers.is_empty() {
            operations.push(',');
            numbers.push(',');
        }
        push_text(&mut operations, operation);
        let _ = write!(numbers, "{}", i64::try_from(*version).unwrap_or(i64::MAX));
    }
    let _ = write!(
        sql,
        " WHERE singleton RETURNING 1) \
         INSERT INTO {s}.streams (operation, version) \
         SELECT * FROM unnest(ARRAY[{operations}]::text[], ARRAY[{numbers}]::bigint[]) \
         WHERE EXISTS (SELECT FROM moved) \
         ON CONFLICT (operation) DO UPDATE SET version = EXCLUDED.version; COMMIT"
    );
    sql
}

/// A `bytea` literal that does not depend on `standard_conforming_strings`.
fn push_bytes(out: &mut String, bytes: &[u8]) {
    out.push_str("decode('");
    push_hex(out, bytes);
    out.push_str("','hex')");
}

/// A `text` literal of any UTF-8, quoted by nothing but hex.
fn push_text(out: &mut String, text: &str) {
    out.push_str("convert_from(");
    push_bytes(out, text.as_bytes());
    out.push_str(",'UTF8')");
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 15)] as char);
    }
}

/// Whether the log's record at `head.position` is the one this batch
/// ended with (read over a new connection).
fn committed_after_all(store: &PostgresStore, head: Head) -> bool {
    store
        .pool
        .with(|conn| crate::read::get_at(store, conn, head.position))
        .ok()
        .flatten()
        .is_some_and(|record| record.hash == head.hash)
}

/// A failed write. A unique violation cannot come from a writer that holds
/// the head lock: it means rows were written without it.
fn written(store: &PostgresStore, error: &postgres::Error) -> StoreError {
    if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return StoreError::Corrupt {
            location: format!("{}.events", store.sql.s.trim_matches('"')),
            reason: format!(
                "{} (a row beyond the head, written without the head lock?)",
                describe(error)
            ),
        };
    }
    server(store.address(), error)
}

impl Drop for PostgresTransaction<'_> {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// The committed log as the lock holder sees it.
struct LockedLog<'a> {
    store: &'a PostgresStore,
    conn: &'a mut Conn,
    prefetched: &'a HashMap<Uuid, Option<Vec<u8>>>,
    versions: Option<&'a HashMap<String, u64>>,
}

impl CommittedLog for LockedLog<'_> {
    fn find_committed(&mut self, id: Uuid) -> Result<Option<Envelope>, StoreError> {
        let line = match self.prefetched.get(&id) {
            Some(known) => known.clone(),
            None => line_by_id(self.store, self.conn, id)?,
        };
        match line {
            None => Ok(None),
            Some(line) => Ok(Some(
                decode_record(&line)
                    .map_err(|reason| StoreError::Corrupt {
                        location: format!("{}.events id {id}", self.store.sql.s.trim_matches('"')),
                        reason,
                    })?
                    .to_owned_envelope()?,
            )),
        }
    }

    fn committed_version(&mut self, operation: &str) -> Result<u64, StoreError> {
        if let Some(versions) = self.versions {
            return Ok(versions.get(operation).copied().unwrap_or(0));
        }
        let store = self.store;
        // One round trip (no prepare): a batch asks once per operation.
        let row = self
            .conn
            .client
            .query_typed_opt(
                &format!(
                    "SELECT version FROM {}.streams WHERE operation = $1",
                    store.sql.s
                ),
                &[(&operation, Type::TEXT)],
            )
            .map_err(|e| server(store.address(), &e))?;
        Ok(row
            .map(|row| row.get::<_, i64>(0))
            .map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    }

    /// A staged row already sent: this transaction sees its own rows.
    fn staged_line(&mut self, id: Uuid, _offset: u64) -> Result<Option<Vec<u8>>, StoreError> {
        line_by_id(self.store, self.conn, id)
    }
}

/// The line with this id, as this transaction sees the table.
fn line_by_id(
    store: &PostgresStore,
    conn: &mut Conn,
    id: Uuid,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row = conn
        .client
        .query_typed_opt(
            &format!("SELECT line FROM {}.events WHERE id = $1", store.sql.s),
            &[(&id, Type::UUID)],
        )
        .map_err(|e| server(store.address(), &e))?;
    Ok(row.map(|row| row.get(0)))
}

impl AppendTransaction for PostgresTransaction<'_> {
    fn head(&self) -> Head {
        self.batch.head()
    }

    fn recorded_at(&self) -> DateTime<Utc> {
        self.batch.recorded_at()
    }

    fn find(&self, id: Uuid) -> Result<Option<Envelope>, StoreError> {
        let decode = |line: &[u8]| -> Result<Envelope, StoreError> {
            decode_record(line)
                .map_err(|reason| StoreError::Corrupt {
                    location: format!("{} id {id}", self.store.sql.location(0)),
                    reason,
                })?
                .to_owned_envelope()
        };
        match self.batch.find_staged(id) {
            Some(StagedRecord::Pending(envelope)) => Ok(Some(*envelope)),
            Some(StagedRecord::Encoded { offset }) if offset >= self.batch.out_base() => {
                let start = usize::try_from(offset - self.batch.out_base()).unwrap_or(usize::MAX);
                let bytes = self.batch.output().get(start..).unwrap_or_default();
                let end = bytes
                    .iter()
                    .position(|b| *b == b'\n')
                    .unwrap_or(bytes.len());
                Ok(Some(decode(&bytes[..end])?))
            }
            // Staged and already sent: this transaction sees its own rows.
            Some(StagedRecord::Encoded { .. }) => self
                .on_conn(|conn| line_by_id(self.store, conn, id))?
                .as_deref()
                .map(decode)
                .transpose(),
            None => {
                let line = match self.prefetched.get(&id) {
                    Some(known) => known.clone(),
                    None => self.on_conn(|conn| line_by_id(self.store, conn, id))?,
                };
                line.as_deref().map(decode).transpose()
            }
        }
    }

    fn version(&self, operation: &str) -> Result<u64, StoreError> {
        match self.batch.versions().get(operation) {
            Some(version) => Ok(*version),
            None => self.on_conn(|conn| {
                LockedLog {
                    store: self.store,
                    conn,
                    prefetched: &self.prefetched,
                    versions: self.committed_versions.as_ref(),
                }
                .committed_version(operation)
            }),
        }
    }

    fn prefetch(&mut self, ids: &[Uuid]) -> Result<(), StoreError> {
        let store = self.store;
        self.prefetched.clear();
        if ids.is_empty() {
            return Ok(());
        }
        // Typed, not prepared: one round trip, the first time as every time.
        let rows = self.on_conn(|conn| {
            conn.client
                .query_typed(
                    &format!(
                        "SELECT id, line FROM {}.events WHERE id = ANY($1)",
                        store.sql.s
                    ),
                    &[(&ids, Type::UUID_ARRAY)],
                )
                .map_err(|e| server(store.address(), &e))
        })?;
        let mut found: HashMap<Uuid, Option<Vec<u8>>> = ids.iter().map(|id| (*id, None)).collect();
        for row in rows {
            found.insert(row.get(0), Some(row.get(1)));
        }
        self.prefetched = found;
        Ok(())
    }

    fn stage(&mut self, event: NewEvent) -> Result<Staged, StoreError> {
        let store = self.store;
        let mut slot = self.conn.borrow_mut();
        let conn = slot
            .as_mut()
            .ok_or_else(|| StoreError::Invalid("the transaction has already ended".into()))?;
        let mut log = LockedLog {
            store,
            conn,
            prefetched: &self.prefetched,
            versions: self.committed_versions.as_ref(),
        };
        let staged = self.batch.stage(&mut log, event)?;
        drop(slot);
        if self.batch.output().len() >= FLUSH_BYTES {
            self.flush()?;
        }
        Ok(staged)
    }

    // The key table changes in the batch's own transaction: an added key
    // commits with the records that name it, a removed one with the
    // erasure's record, and neither if the transaction is dropped.
    fn find_subject_key(&mut self, lookup: &[u8; 32]) -> Result<Option<SubjectKey>, StoreError> {
        if let Some(key) = self.pending_keys.get(lookup) {
            return Ok(Some(key.clone()));
        }
        if let Some(known) = self.known_keys.get(lookup) {
            return Ok(known.clone());
        }
        let store = self.store;
        let row = self.on_conn(|conn| {
            conn.client
                .query_typed_opt(
                    &format!(
                        "SELECT key_id, secret FROM {}.subject_keys WHERE lookup = $1",
                        store.sql.s
                    ),
                    &[(&lookup.as_slice(), Type::BYTEA)],
                )
                .map_err(|e| server(store.address(), &e))
        })?;
        row.map(|row| crate::read::subject_key_of(store, *lookup, row.get(0), row.get(1)))
            .transpose()
    }

    fn prefetch_subject_keys(&mut self, lookups: &[[u8; 32]]) -> Result<(), StoreError> {
        let store = self.store;
        self.known_keys.clear();
        let wanted: Vec<&[u8]> = lookups
            .iter()
            .filter(|lookup| !self.pending_keys.contains_key(*lookup))
            .map(|lookup| lookup.as_slice())
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        // Typed, not prepared: one round trip for the whole chunk.
        let rows = self.on_conn(|conn| {
            conn.client
                .query_typed(
                    &format!(
                        "SELECT lookup, key_id, secret FROM {}.subject_keys WHERE lookup = ANY($1)",
                        store.sql.s
                    ),
                    &[(&wanted, Type::BYTEA_ARRAY)],
                )
                .map_err(|e| server(store.address(), &e))
        })?;
        let mut known: HashMap<[u8; 32], Option<SubjectKey>> = lookups
            .iter()
            .filter(|lookup| !self.pending_keys.contains_key(*lookup))
            .map(|lookup| (*lookup, None))
            .collect();
        for row in rows {
            let lookup: Vec<u8> = row.get(0);
            let lookup = <[u8; 32]>::try_from(lookup).map_err(|_| StoreError::Corrupt {
                location: format!("{}.subject_keys", store.sql.s.trim_matches('"')),
                reason: "a key row has the wrong length".into(),
            })?;
            let key = crate::read::subject_key_of(store, lookup, row.get(1), row.get(2))?;
            known.insert(lookup, Some(key));
        }
        self.known_keys = known;
        Ok(())
    }

    fn add_subject_key(&mut self, key: SubjectKey) -> Result<(), StoreError> {
        // Written in bulk before the commit (see `write_keys`); this
        // transaction's own finds answer from here meanwhile.
        self.known_keys.remove(&key.lookup);
        self.pending_keys.insert(key.lookup, key);
        if self.pending_keys.len() >= KEYS_AT_ONCE {
            self.write_keys()?;
        }
        Ok(())
    }

    fn remove_subject_key(&mut self, lookup: &[u8; 32]) -> Result<(), StoreError> {
        // A key added by this batch and not yet written is simply dropped;
        // the DELETE covers one already written or committed before.
        self.pending_keys.remove(lookup);
        self.known_keys.insert(*lookup, None);
        let store = self.store;
        self.on_conn(|conn| {
            conn.client
                .execute_typed(
                    &format!("DELETE FROM {}.subject_keys WHERE lookup = $1", store.sql.s),
                    &[(&lookup.as_slice(), Type::BYTEA)],
                )
                .map_err(|e| server(store.address(), &e))
        })?;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<Committed, StoreError> {
        self.batch.finish();
        let committed = self.batch.committed();
        if committed.appended == 0 {
            self.abandon();
            return Ok(committed);
        }
        let result = self.finish_commit(&committed);
        match result {
            Ok(()) => {
                if let Some(conn) = self.conn.get_mut().take() {
                    self.store.pool.give(conn, true);
                }
                Ok(committed)
            }
            Err(error) => {
                // Whatever state the connection is in, it is not reused.
                *self.conn.get_mut() = None;
                Err(error)
            }
        }
    }
}
