//! Reading the log: the head, scans streamed with binary `COPY … TO STDOUT`
//! (one row in memory at a time), lookups, `head_at`, `verify` and derived
//! data. Every read that needs more than one statement runs them in one
//! REPEATABLE READ snapshot, and reads only `position <= head`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use event_store::backend::LogChecker;
use event_store::{
    decode_record, Envelope, EnvelopeRef, Hash, Head, Range, StoreError, SubjectKey, VerifyReport,
};
use postgres::types::Type;
use uuid::Uuid;

use crate::binary::RowReader;
use crate::conn::{server, Conn};
use crate::PostgresStore;

/// The statements, for one schema.
pub(crate) struct Sql {
    /// The quoted schema name.
    pub(crate) s: String,
}

impl Sql {
    pub(crate) fn new(schema: &str) -> Sql {
        Sql {
            s: format!("\"{schema}\""),
        }
    }

    pub(crate) fn head(&self) -> String {
        format!("SELECT position, hash, recorded_at FROM {}.head", self.s)
    }

    fn line_by_id(&self) -> String {
        format!(
            "SELECT e.line FROM {s}.events e, {s}.head h WHERE e.id = $1 AND e.position <= h.position",
            s = self.s
        )
    }

    fn line_at(&self) -> String {
        format!(
            "SELECT e.line FROM {s}.events e, {s}.head h WHERE e.position = $1 AND e.position <= h.position",
            s = self.s
        )
    }

    fn scan(&self, from: u64, to: u64) -> String {
        // COPY takes no parameters; the bounds are integers we format.
        format!(
            "COPY (SELECT line FROM {}.events WHERE position BETWEEN {from} AND {to} ORDER BY position) TO STDOUT (FORMAT binary)",
            self.s
        )
    }

    /// The head's position beside each line at `$1..=min($2, head)`, in
    /// order (one row with no line when there is none). The positions are
    /// a list, not a range, and the head one row: a range past the
    /// table's statistics (a tail) is estimated at tens of thousands of
    /// rows, and the head row at 800, which put this plan past
    /// `jit_above_cost` (150 ms compiling it); a list is estimated by its
    /// length, and no statement here runs long enough for JIT to pay.
    fn scan_short(&self) -> String {
        format!(
            "SELECT h.position, e.line FROM (SELECT position FROM {s}.head LIMIT 1) h \
             LEFT JOIN {s}.events e \
             ON e.position = ANY(ARRAY(SELECT generate_series($1::bigint, $2::bigint))) \
             AND e.position <= h.position ORDER BY e.position",
            s = self.s
        )
    }

    /// The rows of `from..=to` in the heap's blocks before `high` (a TID
    /// range scan; a sequential one without a bound), in the heap's order.
    fn scan_unordered(&self, from: u64, to: u64, high: Option<i64>) -> String {
        let high = high.map_or(String::new(), |high| {
            format!("ctid < '({high},0)'::tid AND ")
        });
        format!(
            "COPY (SELECT position, line FROM {}.events WHERE {high}position BETWEEN {from} AND {to}) \
             TO STDOUT (FORMAT binary)",
            self.s
        )
    }

    /// The last heap block holding a row at positions `$1..=$2` (NULL if
    /// there is none).
    fn last_block(&self) -> String {
        format!(
            "SELECT max((ctid::text::point)[0])::bigint FROM {}.events WHERE position BETWEEN $1 AND $2",
            self.s
        )
    }

    fn verify_rows(&self, to: u64) -> String {
        format!(
            "COPY (SELECT position, id, line FROM {}.events WHERE position <= {to} ORDER BY position) TO STDOUT (FORMAT binary)",
            self.s
        )
    }

    /// The lines at `$1` and `$2` that the committed log reaches, in
    /// order. Two equalities, not a range: a planner without statistics
    /// guesses a range's rows high and scans the table in parallel.
    fn lines_at_two(&self) -> String {
        format!(
            "SELECT e.line FROM {s}.events e, {s}.head h \
             WHERE e.position IN ($1, $2) AND e.position <= h.position ORDER BY e.position",
            s = self.s
        )
    }

    /// Where a record is, for messages.
    pub(crate) fn location(&self, position: u64) -> String {
        format!("{}.events position {position}", self.s.trim_matches('"'))
    }
}

/// Positions are `bigint`: the log never reaches 2^63.
fn to_sql_position(position: u64) -> i64 {
    i64::try_from(position).unwrap_or(i64::MAX)
}

/// The head row: the last committed record and its `recorded_at`.
pub(crate) fn head_row(
    store: &PostgresStore,
    conn: &mut Conn,
) -> Result<(Head, Option<String>), StoreError> {
    let address = store.address();
    let row = conn
        .client
        .query_typed_one(&store.sql.head(), &[])
        .map_err(|e| server(address, &e))?;
    parse_head(
        store,
        row.get::<_, i64>(0),
        row.get::<_, &str>(1),
        row.get::<_, Option<String>>(2),
    )
}

/// Reads the head row's columns.
pub(crate) fn parse_head(
    store: &PostgresStore,
    position: i64,
    hash: &str,
    recorded_at: Option<String>,
) -> Result<(Head, Option<String>), StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        location: format!("{}.head", store.sql.s.trim_matches('"')),
        reason,
    };
    let position = u64::try_from(position).map_err(|_| corrupt(format!("position {position}")))?;
    let hash: Hash = hash.parse().map_err(corrupt)?;
    Ok((Head { position, hash }, recorded_at))
}

pub(crate) fn head(store: &PostgresStore, conn: &mut Conn) -> Result<Head, StoreError> {
    Ok(head_row(store, conn)?.0)
}

/// Decodes a line read back for `position` (or for the record with `id`),
/// checking that it is that record.
fn decode_at<'a>(
    store: &PostgresStore,
    line: &'a [u8],
    position: Option<u64>,
    id: Option<Uuid>,
) -> Result<EnvelopeRef<'a>, StoreError> {
    // The location is formatted only on failure: this runs for every row.
    let record = decode_record(line).map_err(|reason| StoreError::Corrupt {
        location: store.sql.location(position.unwrap_or(0)),
        reason,
    })?;
    if position.is_some_and(|p| p != record.position) || id.is_some_and(|i| i != record.id) {
        return Err(StoreError::Corrupt {
            location: store.sql.location(record.position),
            reason: "the row's position or id is not its record's".into(),
        });
    }
    Ok(record)
}

pub(crate) fn get(
    store: &PostgresStore,
    conn: &mut Conn,
    id: Uuid,
) -> Result<Option<Envelope>, StoreError> {
    let address = store.address();
    let row = conn
        .client
        .query_typed_opt(&store.sql.line_by_id(), &[(&id, Type::UUID)])
        .map_err(|e| server(address, &e))?;
    match row {
        None => Ok(None),
        Some(row) => {
            let line: &[u8] = row.get(0);
            Ok(Some(
                decode_at(store, line, None, Some(id))?.to_owned_envelope()?,
            ))
        }
    }
}

/// The line at `position`, if the committed log reaches it.
fn line_at(
    store: &PostgresStore,
    conn: &mut Conn,
    position: u64,
) -> Result<Option<Vec<u8>>, StoreError> {
    let address = store.address();
    let row = conn
        .client
        .query_typed_opt(
            &store.sql.line_at(),
            &[(&to_sql_position(position), Type::INT8)],
        )
        .map_err(|e| server(address, &e))?;
    Ok(row.map(|row| row.get::<_, Vec<u8>>(0)))
}

pub(crate) fn get_at(
    store: &PostgresStore,
    conn: &mut Conn,
    position: u64,
) -> Result<Option<Envelope>, StoreError> {
    if position == 0 {
        return Ok(None);
    }
    match line_at(store, conn, position)? {
        None => Ok(None),
        Some(line) => Ok(Some(
            decode_at(store, &line, Some(position), None)?.to_owned_envelope()?,
        )),
    }
}

/// The record at `position` and the hash of the one before it, read in
/// one statement (one round trip: a cold report asks this for every
/// retraction's pinned target).
pub(crate) fn get_at_chained(
    store: &PostgresStore,
    conn: &mut Conn,
    position: u64,
) -> Result<Option<(Hash, Envelope)>, StoreError> {
    if position == 0 {
        return Ok(None);
    }
    let address = store.address();
    // Prepared, unlike the other lookups: a cold report asks this once per
    // retraction (10,000 times on a 2M log), and each typed statement was
    // parsed and planned again by the server.
    let statement = conn
        .statement("lines_at_two", &|| store.sql.lines_at_two())
        .map_err(|e| server(address, &e))?;
    let rows = conn
        .client
        .query(
            &statement,
            &[&to_sql_position(position - 1), &to_sql_position(position)],
        )
        .map_err(|e| server(address, &e))?;
    let (previous, target) = match rows.as_slice() {
        [] => return Ok(None),
        [only] if position == 1 => (Hash::GENESIS, only),
        [before, target] if position > 1 => {
            let line: &[u8] = before.get(0);
            (
                decode_at(store, line, Some(position - 1), None)?.hash,
                target,
            )
        }
        [only] => {
            // One row: the target alone (the one before is missing) or
            // the one before alone (the log ends before `position`).
            let line: &[u8] = only.get(0);
            let record = decode_at(store, line, None, None)?;
            if record.position == position - 1 {
                return Ok(None);
            }
            return Err(StoreError::Corrupt {
                location: store.sql.location(position - 1),
                reason: "missing".into(),
            });
        }
        _ => {
            return Err(StoreError::Corrupt {
                location: store.sql.location(position),
                reason: "read twice (a position that is not unique?)".into(),
            })
        }
    };
    let line: &[u8] = target.get(0);
    let record = decode_at(store, line, Some(position), None)?.to_owned_envelope()?;
    Ok(Some((previous, record)))
}

/// Binary search over positions: `recorded_at` never decreases along the
/// log, and a lookup by position is one index probe (about twenty for two
/// million records), so no time index is kept.
pub(crate) fn head_at(
    store: &PostgresStore,
    conn: &mut Conn,
    instant: DateTime<Utc>,
) -> Result<Head, StoreError> {
    let head = head(store, conn)?;
    let (mut low, mut high) = (1u64, head.position + 1);
    let mut found = Head::EMPTY;
    while low < high {
        let middle = low + (high - low) / 2;
        let line = line_at(store, conn, middle)?.ok_or_else(|| StoreError::Corrupt {
            location: store.sql.location(middle),
            reason: format!("missing (the head is at {})", head.position),
        })?;
        let record = decode_at(store, &line, Some(middle), None)?;
        let at = DateTime::parse_from_rfc3339(record.recorded_at).map_err(|error| {
            StoreError::Corrupt {
                location: store.sql.location(middle),
                reason: format!("recorded_at: {error}"),
            }
        })?;
        if at <= instant {
            found = Head {
                position: middle,
                hash: record.hash,
            };
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Ok(found)
}

/// The most line bytes held back, waiting for an earlier position, while
/// reading in the heap's order; past it the scan falls back to the key.
const REORDER_BYTES: usize = 16 << 20;

/// Heap blocks read past the last of the [`AFTER_ROWS`] rows that follow a
/// range (8 MiB, some 16,000 rows of 457 bytes).
const BLOCK_MARGIN: i64 = 1024;

/// The rows after a range whose blocks bound its scan: one of them may
/// itself lie out of order, not all of them.
const AFTER_ROWS: u64 = 4096;

/// Ranges of at most this many records are read in one statement
/// ([`scan_short`]): an append's catch-up from its checkpoint (under
/// `ledger::state::SAVE_AFTER_RECORDS`, 64) and a report's tail after
/// one.
const SHORT_SCAN: u64 = 1024;

/// Streams `range` (clamped to the head) to `visit`.
pub(crate) fn scan(
    store: &PostgresStore,
    range: Range,
    visit: &mut dyn FnMut(&EnvelopeRef<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut range = range;
    let from = range.from.max(1);
    // Short, or open-ended (an append's catch-up from its checkpoint to
    // wherever the log ends): one statement first, the rest (if the log
    // reaches further) read on as a long scan, in a later snapshot, which
    // holds every record the first one saw.
    if range.to >= from && (range.to - from < SHORT_SCAN || range.to == u64::MAX) {
        let short = Range::new(from, range.to.min(from.saturating_add(SHORT_SCAN - 1)));
        let (head, next) = store
            .pool
            .with(|conn| scan_short(store, conn, short, visit))?;
        if short.to == range.to || head <= short.to {
            return Ok(());
        }
        range = Range::new(next, range.to);
    }
    store.pool.snapshot(|conn| {
        let head = head(store, conn)?;
        let from = range.from.max(1);
        let to = range.to.min(head.position);
        if from > to {
            return Ok(());
        }
        let mut expected = from;
        // Long ranges in the heap's order ([`scan_sequential`]), unless
        // most of what the server would read lies before the range (a
        // tail after a checkpoint): short ones, and those, by the key.
        let length = to - from + 1;
        if length >= store.config.sequential_from.max(1) && from - 1 <= 3 * length {
            expected = scan_sequential(store, conn, from, to, visit)?;
        }
        if expected <= to {
            expected = scan_by_key(store, conn, expected, to, visit)?;
        }
        if expected <= to {
            return Err(StoreError::Corrupt {
                location: store.sql.location(expected),
                reason: format!("missing (the head is at {})", head.position),
            });
        }
        Ok(())
    })
}

/// Streams a short `range` (clamped to the head) to `visit` with one
/// statement: one round trip where a snapshot transaction, the head and a
/// `COPY` take six. One statement sees one snapshot, so the head row it
/// joins is the one its rows are read under, as in [`scan`]'s snapshot;
/// the rows stream (the client holds one at a time), each checked to be at
/// its position, and a gap is reported as [`scan`] reports it. Returns the
/// head's position and the position after the last one visited.
fn scan_short(
    store: &PostgresStore,
    conn: &mut Conn,
    range: Range,
    visit: &mut dyn FnMut(&EnvelopeRef<'_>) -> Result<(), StoreError>,
) -> Result<(u64, u64), StoreError> {
    use postgres::fallible_iterator::FallibleIterator;
    let address = store.address();
    let from = range.from.max(1);
    let mut rows = conn
        .client
        .query_typed_raw(
            &store.sql.scan_short(),
            [
                (to_sql_position(from), Type::INT8),
                (to_sql_position(range.to), Type::INT8),
            ],
        )
        .map_err(|e| server(address, &e))?;
    let mut head = None::<u64>;
    let mut expected = from;
    while let Some(row) = rows.next().map_err(|e| server(address, &e))? {
        let at: i64 = row.get(0);
        head = Some(u64::try_from(at).map_err(|_| StoreError::Corrupt {
            location: format!("{}.head", store.sql.s.trim_matches('"')),
            reason: format!("position {at}"),
        })?);
        let Some(line) = row.get::<_, Option<&[u8]>>(1) else {
            continue;
        };
        visit(&decode_at(store, line, Some(expected), None)?)?;
        expected += 1;
    }
    let head = head.ok_or_else(|| StoreError::Corrupt {
        location: format!("{}.head", store.sql.s.trim_matches('"')),
        reason: "the head row is missing".into(),
    })?;
    if expected <= range.to.min(head) {
        return Err(StoreError::Corrupt {
            location: store.sql.location(expected),
            reason: format!("missing (the head is at {head})"),
        });
    }
    Ok((head, expected))
}

/// Visits `from..=to` in position order, reading the rows by the primary
/// key; returns the position after the last one visited.
fn scan_by_key(
    store: &PostgresStore,
    conn: &mut Conn,
    from: u64,
    to: u64,
    visit: &mut dyn FnMut(&EnvelopeRef<'_>) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let reader = conn
        .client
        .copy_out(&store.sql.scan(from, to))
        .map_err(|e| server(store.address(), &e))?;
    let mut rows = RowReader::new(reader);
    let (mut buffer, mut fields) = (Vec::new(), Vec::new());
    let mut expected = from;
    while rows
        .next_row(&mut buffer, &mut fields)
        .map_err(|e| io_error(store, e))?
    {
        let line = &buffer[fields[0].clone()];
        visit(&decode_at(store, line, Some(expected), None)?)?;
        expected += 1;
    }
    Ok(expected)
}

/// Visits `from..=to` in position order, reading the rows in the order the
/// heap holds them (a sequential scan, about three times cheaper for the
/// server than walking the key: 1.7 s against 4.9 s for a million rows).
/// The heap is nearly in position order (the log only grows; a new batch
/// may fill space left in earlier pages), so a row that comes early waits
/// in a buffer of at most [`REORDER_BYTES`] until its turn. Nothing but the
/// order of arrival differs from [`scan_by_key`]: the same snapshot, the
/// same rows, visited in the same order, each checked to be at its
/// position. Returns the position after the last one visited: short of
/// `to` when the buffer would overflow (the caller reads the rest by the
/// key) or when rows are missing (which the caller reports).
fn scan_sequential(
    store: &PostgresStore,
    conn: &mut Conn,
    from: u64,
    to: u64,
    visit: &mut dyn FnMut(&EnvelopeRef<'_>) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let address = store.address();
    // Where the rows after the range lie in the heap: the scan stops a
    // margin past them. A row placed out of order goes into free space
    // in an earlier page, so the range's rows lie before its successors;
    // one that does not shows up as missing, and the caller reads on by
    // the key from there. (A lower bound is not safe in the same way: a
    // row may have gone into any earlier page; reading from the start
    // costs the server the filter on the rows before the range.)
    let high = conn
        .client
        .query_typed_one(
            &store.sql.last_block(),
            &[
                (&to_sql_position(to + 1), Type::INT8),
                (&to_sql_position(to + AFTER_ROWS), Type::INT8),
            ],
        )
        .map_err(|e| server(address, &e))?
        .get::<_, Option<i64>>(0)
        .map(|block| block + BLOCK_MARGIN);
    // Local to the read-only snapshot transaction, which ends after the
    // scan: the heap in its order, never the key, and one process reading
    // it (a parallel scan's workers interleave their pages); no JIT for a
    // filter on one column.
    conn.client
        .batch_execute(
            "SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; \
             SET LOCAL enable_bitmapscan = off; SET LOCAL max_parallel_workers_per_gather = 0; \
             SET LOCAL jit = off",
        )
        .map_err(|e| server(address, &e))?;
    let reader = conn
        .client
        .copy_out(&store.sql.scan_unordered(from, to, high))
        .map_err(|e| server(address, &e))?;
    let mut rows = RowReader::new(reader);
    let (mut buffer, mut fields) = (Vec::new(), Vec::new());
    let mut waiting: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut waiting_bytes = 0usize;
    let mut expected = from;
    while rows
        .next_row(&mut buffer, &mut fields)
        .map_err(|e| io_error(store, e))?
    {
        let position = row_position(store, &buffer[fields[0].clone()])?;
        let line = &buffer[fields[1].clone()];
        if position == expected {
            visit(&decode_at(store, line, Some(expected), None)?)?;
            expected += 1;
            while let Some(line) = waiting.remove(&expected) {
                waiting_bytes -= line.len();
                visit(&decode_at(store, &line, Some(expected), None)?)?;
                expected += 1;
            }
        } else if position > expected && waiting_bytes + line.len() <= REORDER_BYTES {
            waiting_bytes += line.len();
            waiting.insert(position, line.to_vec());
        } else if position > expected {
            // Too far out of order: read the rest by the key. The COPY is
            // read to its end so that the snapshot's transaction goes on.
            while rows
                .next_row(&mut buffer, &mut fields)
                .map_err(|e| io_error(store, e))?
            {}
            return Ok(expected);
        } else {
            return Err(StoreError::Corrupt {
                location: store.sql.location(position),
                reason: "read twice (a position that is not unique?)".into(),
            });
        }
    }
    Ok(expected)
}

/// A `bigint` position column.
fn row_position(store: &PostgresStore, bytes: &[u8]) -> Result<u64, StoreError> {
    let position = <[u8; 8]>::try_from(bytes)
        .map(i64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            location: store.sql.location(0),
            reason: "a position that is not a bigint".into(),
        })?;
    u64::try_from(position).map_err(|_| StoreError::Corrupt {
        location: store.sql.location(0),
        reason: format!("position {position}"),
    })
}

fn io_error(store: &PostgresStore, error: std::io::Error) -> StoreError {
    StoreError::Io {
        path: store.address().to_string().into(),
        source: error,
    }
}

/// Checks every record with the file store's checker, then what only this
/// store has: each row's position and id columns, the head row, rows
/// beyond the head, and the operations' versions.
pub(crate) fn verify(
    store: &PostgresStore,
    expect_head: Option<(u64, Hash)>,
    progress: Option<&AtomicU64>,
) -> Result<VerifyReport, StoreError> {
    let address = store.address();
    let sql = &store.sql;
    store.pool.snapshot(|conn| {
        let (head, head_recorded_at) = head_row(store, conn)?;
        let mut checker = LogChecker::new(expect_head);
        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut last_recorded_at = None::<String>;
        {
            let reader = conn
                .client
                .copy_out(&sql.verify_rows(head.position))
                .map_err(|e| server(address, &e))?;
            let mut rows = RowReader::new(reader);
            let (mut buffer, mut fields) = (Vec::new(), Vec::new());
            while rows
                .next_row(&mut buffer, &mut fields)
                .map_err(|e| io_error(store, e))?
            {
                let position = i64::from_be_bytes(
                    buffer[fields[0].clone()]
                        .try_into()
                        .map_err(|_| StoreError::Corrupt {
                            location: sql.location(0),
                            reason: "a position that is not a bigint".into(),
                        })?,
                );
                let id = Uuid::from_slice(&buffer[fields[1].clone()]).map_err(|_| {
                    StoreError::Corrupt {
                        location: sql.location(position as u64),
                        reason: "an id that is not a uuid".into(),
                    }
                })?;
                let line = &buffer[fields[2].clone()];
                let row_position = position as u64;
                let location = |_: u64| sql.location(row_position);
                let record = decode_record(line).map_err(|reason| StoreError::Corrupt {
                    location: location(0),
                    reason,
                })?;
                checker.check_record(&record, line, &location)?;
                if record.position != row_position || record.id != id {
                    return Err(StoreError::Corrupt {
                        location: location(0),
                        reason: format!(
                            "the row's columns (position {row_position}, id {id}) are not its record's (position {}, id {})",
                            record.position, record.id
                        ),
                    });
                }
                match versions.get_mut(record.operation.as_ref()) {
                    Some(version) => *version = record.version,
                    None => {
                        versions.insert(record.operation.clone().into_owned(), record.version);
                    }
                }
                if record.batch_end {
                    last_recorded_at = Some(record.recorded_at.to_owned());
                }
                if let Some(progress) = progress {
                    progress.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let table = |name: &str| format!("{}.{name}", sql.s.trim_matches('"'));
        let report = checker.finish(1, None)?;
        if report.head != head || last_recorded_at != head_recorded_at {
            return Err(StoreError::Corrupt {
                location: table("head"),
                reason: format!(
                    "the head row says {head} (recorded_at {}) but the records end at {} (recorded_at {})",
                    head_recorded_at.as_deref().unwrap_or("none"),
                    report.head,
                    last_recorded_at.as_deref().unwrap_or("none"),
                ),
            });
        }
        let beyond: i64 = conn
            .client
            .query_one(
                &format!("SELECT count(*) FROM {}.events WHERE position > $1", sql.s),
                &[&to_sql_position(head.position)],
            )
            .map_err(|e| server(address, &e))?
            .get(0);
        if beyond > 0 {
            return Err(StoreError::Corrupt {
                location: table("events"),
                reason: format!(
                    "{beyond} rows lie beyond the head (position {}): written without the head lock",
                    head.position
                ),
            });
        }
        let streams = conn
            .client
            .query(&format!("SELECT operation, version FROM {}.streams", sql.s), &[])
            .map_err(|e| server(address, &e))?;
        let mut listed = 0;
        for row in &streams {
            let operation: &str = row.get(0);
            let version: i64 = row.get(1);
            let actual = versions.get(operation).copied().unwrap_or(0);
            if u64::try_from(version).ok() != Some(actual) {
                return Err(StoreError::Corrupt {
                    location: table("streams"),
                    reason: format!(
                        "operation {operation} is listed at version {version}, but its records reach {actual}"
                    ),
                });
            }
            listed += 1;
        }
        if listed != versions.len() {
            return Err(StoreError::Corrupt {
                location: table("streams"),
                reason: format!(
                    "{} operations have records but only {listed} are listed",
                    versions.len()
                ),
            });
        }
        checker.finish(1, expect_head)
    })
}

pub(crate) fn load_derived(
    store: &PostgresStore,
    conn: &mut Conn,
    name: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row = conn
        .client
        .query_typed_opt(
            &format!("SELECT bytes FROM {}.derived WHERE name = $1", store.sql.s),
            &[(&name, Type::TEXT)],
        )
        .map_err(|e| server(store.address(), &e))?;
    Ok(row.map(|row| row.get(0)))
}

/// The subject key with this id (see `event_store::subject_keys`).
pub(crate) fn subject_key(
    store: &PostgresStore,
    conn: &mut Conn,
    key_id: &[u8; 16],
) -> Result<Option<SubjectKey>, StoreError> {
    let address = store.address();
    let statement = conn
        .statement("subject_key", &|| {
            format!(
                "SELECT lookup, secret FROM {}.subject_keys WHERE key_id = $1",
                store.sql.s
            )
        })
        .map_err(|e| server(address, &e))?;
    let row = conn
        .client
        .query_opt(&statement, &[&key_id.as_slice()])
        .map_err(|e| server(address, &e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let lookup: Vec<u8> = row.get(0);
    let lookup = <[u8; 32]>::try_from(lookup).map_err(|_| bad_key(store))?;
    subject_key_of(store, lookup, key_id.to_vec(), row.get(1)).map(Some)
}

/// A key row's bytes as a key, refusing lengths the table's checks forbid.
pub(crate) fn subject_key_of(
    store: &PostgresStore,
    lookup: [u8; 32],
    key_id: Vec<u8>,
    secret: Vec<u8>,
) -> Result<SubjectKey, StoreError> {
    Ok(SubjectKey {
        lookup,
        key_id: <[u8; 16]>::try_from(key_id).map_err(|_| bad_key(store))?,
        secret: <[u8; 32]>::try_from(secret).map_err(|_| bad_key(store))?,
    })
}

fn bad_key(store: &PostgresStore) -> StoreError {
    StoreError::Corrupt {
        location: format!("{}.subject_keys", store.sql.s.trim_matches('"')),
        reason: "a key row has the wrong length".into(),
    }
}

/// Upserts in one statement and one round trip: a reader sees the old
/// bytes or the new ones. Its commit does not wait for the WAL to reach the
/// disk: the statement itself sets `synchronous_commit` off for its own
/// (implicit) transaction, which the server reads when that transaction
/// commits. Derived data can always be rebuilt, and the rule-state
/// checkpoint is written after every append. A reader role, or a replica,
/// cannot save derived data: callers treat that as a missed cache.
pub(crate) fn save_derived(
    store: &PostgresStore,
    conn: &mut Conn,
    name: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    conn.client
        .execute_typed(
            &format!(
                "WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true)) \
                 INSERT INTO {}.derived (name, bytes) SELECT $1, $2 FROM unflushed \
                 ON CONFLICT (name) DO UPDATE SET bytes = EXCLUDED.bytes",
                store.sql.s
            ),
            &[(&name, Type::TEXT), (&bytes, Type::BYTEA)],
        )
        .map_err(|e| server(store.address(), &e))?;
    Ok(())
}
