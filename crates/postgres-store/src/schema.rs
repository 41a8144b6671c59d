//! The store's tables, as versioned migrations: `init` applies the ones a
//! database lacks (once, under an advisory lock), `open` refuses a layout it
//! does not know.
//!
//! Layout 1, in schema `S` (default `theseus`):
//!
//! * `S.events (position bigint PRIMARY KEY, id uuid UNIQUE, line bytea)`:
//!   one row per record; `line` is the record's exact bytes (the JSON line
//!   the file store would write, without its newline), so that scans return
//!   them byte for byte and the hash chain is the file store's.
//! * `S.head`: one row, the last committed record's position, hash and
//!   `recorded_at`. Writers lock it `FOR UPDATE`; positions come from it.
//! * `S.streams (operation, version)`: each operation's version, moved in
//!   the same transaction as the head.
//! * `S.derived (name, bytes)`: checkpoints and caches, never needed for a
//!   correct answer.
//! * `S.layout (version, description, applied_at)`: the migrations applied.
//!
//! Layout 2 adds `S.subject_keys (lookup, key_id, secret)`: the keys
//! personal references are sealed under (see `event_store::subject_keys`),
//! outside the append-only triggers (erasure deletes a row), changed in
//! the batch's own transaction, readable by the writer role only.
//! * Triggers that refuse `UPDATE`, `DELETE` and `TRUNCATE` on `events`,
//!   moving the head back, lowering a version, and deleting either.
//! * Roles `S_writer` (insert records, move the head and versions, save
//!   derived data) and `S_reader` (select only), both `NOLOGIN`: grant them
//!   to login roles.

use postgres::{Client, GenericClient};

use crate::conn::describe;
use crate::PostgresError;

/// The newest layout this code writes and reads.
pub const LAYOUT_VERSION: i32 = 2;

struct Migration {
    version: i32,
    description: &'static str,
    /// SQL with `{s}` for the quoted schema, `{writer}`/`{reader}` for the
    /// quoted role names and `{writer_name}`/`{reader_name}` for the bare
    /// ones.
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description:
            "events, head, streams, derived; append-only triggers; writer and reader roles",
        sql: r#"
CREATE TABLE {s}.layout (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {s}.events (
    position bigint PRIMARY KEY CHECK (position > 0),
    id uuid NOT NULL UNIQUE,
    line bytea NOT NULL
);
COMMENT ON TABLE {s}.events IS
    'theseus: the log, one record per row. line holds the record''s exact bytes (one JSON object, no newline); its hash chains to the previous row''s. Append-only.';
CREATE TABLE {s}.head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position bigint NOT NULL CHECK (position >= 0),
    hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    recorded_at text
);
COMMENT ON TABLE {s}.head IS
    'theseus: the last committed record. Writers lock this row FOR UPDATE for their whole batch; positions are assigned from it; readers read position <= head in one snapshot.';
INSERT INTO {s}.head (position, hash, recorded_at) VALUES (0, repeat('0', 64), NULL);
CREATE TABLE {s}.streams (
    operation text PRIMARY KEY,
    version bigint NOT NULL CHECK (version > 0)
);
CREATE TABLE {s}.derived (
    name text PRIMARY KEY,
    bytes bytea NOT NULL
);
-- Checkpoints are rewritten after every append: not compressed, which
-- would cost more CPU than the WAL it saves.
ALTER TABLE {s}.derived ALTER COLUMN bytes SET STORAGE EXTERNAL;

CREATE FUNCTION {s}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'theseus: % on %.% is refused: the log is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME;
END $$;
CREATE FUNCTION {s}.head_moves_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.position <= OLD.position THEN
        RAISE EXCEPTION 'theseus: the head only moves forward (not from % to %)', OLD.position, NEW.position;
    END IF;
    RETURN NEW;
END $$;
CREATE FUNCTION {s}.versions_go_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.operation <> OLD.operation OR NEW.version <= OLD.version THEN
        RAISE EXCEPTION 'theseus: the version of % only goes up (not from % to %)', OLD.operation, OLD.version, NEW.version;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {s}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse();
CREATE TRIGGER kept BEFORE DELETE OR TRUNCATE ON {s}.head
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse();
CREATE TRIGGER moves_forward BEFORE UPDATE ON {s}.head
    FOR EACH ROW EXECUTE FUNCTION {s}.head_moves_forward();
CREATE TRIGGER kept BEFORE DELETE OR TRUNCATE ON {s}.streams
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse();
CREATE TRIGGER goes_up BEFORE UPDATE ON {s}.streams
    FOR EACH ROW EXECUTE FUNCTION {s}.versions_go_up();

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{writer_name}') THEN
        CREATE ROLE {writer} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created meanwhile by a concurrent init of another database
END $$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{reader_name}') THEN
        CREATE ROLE {reader} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;
GRANT USAGE ON SCHEMA {s} TO {writer}, {reader};
GRANT SELECT ON {s}.layout, {s}.events, {s}.head, {s}.streams, {s}.derived TO {writer}, {reader};
GRANT INSERT ON {s}.events TO {writer};
GRANT UPDATE ON {s}.head TO {writer};
GRANT INSERT, UPDATE ON {s}.streams, {s}.derived TO {writer};
"#,
    },
    Migration {
        version: 2,
        description:
            "subject_keys: the keys personal references are sealed under; mutable, writer only",
        sql: r#"
CREATE TABLE {s}.subject_keys (
    lookup bytea PRIMARY KEY CHECK (length(lookup) = 32),
    key_id bytea NOT NULL UNIQUE CHECK (length(key_id) = 16),
    secret bytea NOT NULL CHECK (length(secret) = 32)
);
COMMENT ON TABLE {s}.subject_keys IS
    'theseus: the keys personal references are sealed under, one per subject. Not append-only: erasing a subject deletes its row, and the references sealed under it can no longer be opened. Readers have no access.';
GRANT SELECT, INSERT, DELETE ON {s}.subject_keys TO {writer};
"#,
    },
];

/// What `init` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initialised {
    /// The schema held no store: it now holds an empty one.
    Created { layout: i32 },
    /// The store was at an older layout and has been migrated.
    Migrated { from: i32, to: i32 },
    /// The store was already at this layout: nothing was changed.
    AlreadyCurrent { layout: i32 },
}

fn quoted(name: &str) -> String {
    // Schema names are checked to be [a-z_][a-z0-9_]*: quoting cannot be
    // escaped, and keeps reserved words usable.
    format!("\"{name}\"")
}

/// The role that may append (`SCHEMA_writer`).
pub fn writer_role(schema: &str) -> String {
    format!("{schema}_writer")
}

/// The role that may only read (`SCHEMA_reader`).
pub fn reader_role(schema: &str) -> String {
    format!("{schema}_reader")
}

fn expand(sql: &str, schema: &str) -> String {
    let writer = writer_role(schema);
    let reader = reader_role(schema);
    sql.replace("{s}", &quoted(schema))
        .replace("{writer_name}", &writer)
        .replace("{reader_name}", &reader)
        .replace("{writer}", &quoted(&writer))
        .replace("{reader}", &quoted(&reader))
}

/// The SQL that `init` runs for a new store in `schema`, for a DBA who
/// would rather read it first (or run it as another role).
pub fn init_sql(schema: &str) -> String {
    let mut out = format!("CREATE SCHEMA IF NOT EXISTS {};\n", quoted(schema));
    for migration in MIGRATIONS {
        out.push_str(&expand(migration.sql, schema));
        out.push_str(&format!(
            "INSERT INTO {}.layout (version, description) VALUES ({}, '{}');\n",
            quoted(schema),
            migration.version,
            migration.description
        ));
    }
    out
}

/// The layout versions a schema holds: `None` when it holds no store. One
/// round trip when the store is there (every command's first statement).
///
/// `in_transaction`: a failed statement would abort the caller's
/// transaction, so the table's existence is asked first instead of tried.
fn applied(
    client: &mut impl GenericClient,
    schema: &str,
    in_transaction: bool,
) -> Result<Option<Vec<(i32, String)>>, PostgresError> {
    let server = |error: postgres::Error| PostgresError::Server(describe(&error));
    if in_transaction {
        let exists: bool = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&format!("{}.layout", quoted(schema))],
            )
            .map_err(server)?
            .get(0);
        if !exists {
            return no_layout(client, schema);
        }
    }
    // The schema name is a checked identifier: safe to quote into the text.
    let listed = client.simple_query(&format!(
        "SELECT version::text, description FROM {}.layout ORDER BY version",
        quoted(schema)
    ));
    match listed {
        Ok(messages) => {
            let mut versions = Vec::new();
            for message in messages {
                if let postgres::SimpleQueryMessage::Row(row) = message {
                    let version = row.get(0).and_then(|v| v.parse().ok()).unwrap_or(0);
                    versions.push((version, row.get(1).unwrap_or_default().to_owned()));
                }
            }
            return Ok(Some(versions));
        }
        Err(error)
            if error.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE)
                || error.code() == Some(&postgres::error::SqlState::INVALID_SCHEMA_NAME) => {}
        Err(error) => return Err(server(error)),
    }
    no_layout(client, schema)
}

/// `None` for a schema that is missing or empty; refused if it holds
/// something else.
fn no_layout(
    client: &mut impl GenericClient,
    schema: &str,
) -> Result<Option<Vec<(i32, String)>>, PostgresError> {
    let server = |error: postgres::Error| PostgresError::Server(describe(&error));
    let relations: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1",
            &[&schema],
        )
        .map_err(server)?
        .get(0);
    if relations > 0 {
        return Err(PostgresError::Layout(format!(
            "schema {schema} holds {relations} tables or other relations but no theseus layout: it is not a theseus store, and init will not touch it"
        )));
    }
    Ok(None)
}

/// Checks that the applied migrations are ours, in order; returns the
/// layout version.
fn check_known(schema: &str, versions: &[(i32, String)]) -> Result<i32, PostgresError> {
    let mut current = 0;
    for (version, description) in versions {
        if *version > LAYOUT_VERSION {
            return Err(PostgresError::Layout(format!(
                "schema {schema} holds store layout {version}, newer than this theseus knows ({LAYOUT_VERSION}): use a newer theseus"
            )));
        }
        let known = MIGRATIONS
            .iter()
            .find(|m| m.version == *version)
            .is_some_and(|m| m.description == description);
        if *version != current + 1 || !known {
            return Err(PostgresError::Layout(format!(
                "schema {schema} holds a store layout this theseus does not know (version {version}: {description:?}): refusing to use it"
            )));
        }
        current = *version;
    }
    if current == 0 {
        return Err(PostgresError::Layout(format!(
            "schema {schema} has an empty layout table: refusing to use it"
        )));
    }
    Ok(current)
}

/// Creates the store in `schema`, or migrates it to [`LAYOUT_VERSION`], in
/// one transaction; a second init (even a concurrent one) changes nothing.
pub(crate) fn init(client: &mut Client, schema: &str) -> Result<Initialised, PostgresError> {
    let server = |error: postgres::Error| PostgresError::Server(describe(&error));
    let mut transaction = client.transaction().map_err(server)?;
    // Concurrent inits of one schema queue here instead of racing on
    // CREATE TABLE.
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('theseus init ' || $1, 0))",
            &[&schema],
        )
        .map_err(server)?;
    let from = match applied(&mut transaction, schema, true)? {
        None => 0,
        Some(versions) => check_known(schema, &versions)?,
    };
    if from == LAYOUT_VERSION {
        transaction.rollback().map_err(server)?;
        return Ok(Initialised::AlreadyCurrent { layout: from });
    }
    transaction
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quoted(schema)))
        .map_err(server)?;
    for migration in MIGRATIONS.iter().filter(|m| m.version > from) {
        transaction
            .batch_execute(&expand(migration.sql, schema))
            .map_err(|error| match error.code() {
                Some(code) if *code == postgres::error::SqlState::INSUFFICIENT_PRIVILEGE => {
                    PostgresError::Layout(format!(
                        "{}: run init as a role that may create schemas and roles (CREATEROLE), \
                         or have a DBA run `theseus init` once (or create the roles {} and {} first)",
                        describe(&error),
                        writer_role(schema),
                        reader_role(schema)
                    ))
                }
                _ => server(error),
            })?;
        transaction
            .execute(
                &format!(
                    "INSERT INTO {}.layout (version, description) VALUES ($1, $2)",
                    quoted(schema)
                ),
                &[&migration.version, &migration.description],
            )
            .map_err(server)?;
    }
    transaction.commit().map_err(server)?;
    Ok(if from == 0 {
        Initialised::Created {
            layout: LAYOUT_VERSION,
        }
    } else {
        Initialised::Migrated {
            from,
            to: LAYOUT_VERSION,
        }
    })
}

/// Whether `schema` holds a store this code can use: `Ok(false)` when it
/// holds none.
pub(crate) fn check(client: &mut Client, schema: &str) -> Result<bool, PostgresError> {
    match applied(client, schema, false)? {
        None => Ok(false),
        Some(versions) => {
            let layout = check_known(schema, &versions)?;
            if layout < LAYOUT_VERSION {
                return Err(PostgresError::Layout(format!(
                    "schema {schema} holds store layout {layout}; this theseus needs {LAYOUT_VERSION}: run `theseus init` to migrate it"
                )));
            }
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_sql_names_only_the_given_schema() {
        let sql = init_sql("ledger_a");
        assert!(sql.contains("CREATE TABLE \"ledger_a\".events"));
        assert!(sql.contains("CREATE ROLE \"ledger_a_writer\" NOLOGIN"));
        assert!(!sql.contains("{s}") && !sql.contains("theseus\".") && !sql.contains("{writer"));
    }

    #[test]
    fn layouts_newer_unknown_or_out_of_order_are_refused() {
        let ours = (1, MIGRATIONS[0].description.to_owned());
        assert_eq!(check_known("s", std::slice::from_ref(&ours)).ok(), Some(1));
        for versions in [
            vec![ours.clone(), (2, "from the future".to_owned())],
            vec![(1, "someone else's".to_owned())],
            vec![],
            vec![(0, "zero".to_owned())],
        ] {
            assert!(check_known("s", &versions).is_err(), "{versions:?}");
        }
    }
}
