//! Where a store lives: a `postgres://` or `postgresql://` address, the
//! schema that holds the store's tables, and the address as messages show it
//! (without its password).

use std::fmt;
use std::time::Duration;

use crate::PostgresError;

/// The schema a store's tables live in unless the address names another
/// with `?schema=NAME`.
pub const DEFAULT_SCHEMA: &str = "theseus";

/// How long a connection attempt may take before it is given up: a server
/// that does not answer fails the command instead of hanging it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed store address.
#[derive(Clone)]
pub struct Address {
    config: postgres::Config,
    schema: String,
    shown: String,
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password: the redacted form only.
        f.debug_struct("Address")
            .field("address", &self.shown)
            .field("schema", &self.schema)
            .finish()
    }
}

impl fmt::Display for Address {
    /// The address with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Address {
    /// True when `text` names a PostgreSQL store rather than a directory.
    pub fn is_postgres(text: &str) -> bool {
        text.starts_with("postgres://") || text.starts_with("postgresql://")
    }

    /// Parses `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?PARAMS]`. Besides
    /// the client's own parameters (`connect_timeout`, `sslmode`…), `schema`
    /// names the schema of the store's tables (default [`DEFAULT_SCHEMA`]).
    /// Without a user, the OS user's name is used (as `psql` does); without a
    /// password, `PGPASSWORD` when it is set.
    pub fn parse(text: &str) -> Result<Address, PostgresError> {
        let shown = redact(text);
        let invalid = |reason: String| PostgresError::Address {
            address: shown.clone(),
            reason,
        };
        if !Address::is_postgres(text) {
            return Err(invalid("not a postgres:// or postgresql:// address".into()));
        }
        let (base, query) = match text.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (text, None),
        };
        let mut schema = DEFAULT_SCHEMA.to_owned();
        let mut kept = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("schema", value)) => schema = value.to_owned(),
                _ => kept.push(pair),
            }
        }
        check_schema(&schema).map_err(invalid)?;
        let client_text = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: postgres::Config = client_text
            .parse()
            .map_err(|error: postgres::Error| invalid(error.to_string()))?;
        if config.get_user().is_none() {
            let user = std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .map_err(|_| invalid("no user in the address, and USER is not set".into()))?;
            config.user(&user);
        }
        if config.get_password().is_none() {
            if let Ok(password) = std::env::var("PGPASSWORD") {
                config.password(password);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            // Shows up in pg_stat_activity, so that a DBA can tell theseus
            // sessions (and a writer holding the head lock) apart.
            config.application_name("theseus");
        }
        Ok(Address {
            config,
            schema,
            shown,
        })
    }

    /// The same server and database with the store in another schema.
    pub fn with_schema(&self, schema: &str) -> Result<Address, PostgresError> {
        check_schema(schema).map_err(|reason| PostgresError::Address {
            address: self.shown.clone(),
            reason,
        })?;
        let (base, query) = self.shown.split_once('?').unwrap_or((&self.shown, ""));
        let own = format!("schema={schema}");
        let mut params: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.starts_with("schema="))
            .collect();
        params.push(&own);
        let shown = format!("{base}?{}", params.join("&"));
        Ok(Address {
            config: self.config.clone(),
            schema: schema.to_owned(),
            shown,
        })
    }

    /// The schema of the store's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The client's connection settings.
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }
}

/// Schema names are plain lower-case identifiers, short enough that the
/// roles named after them (`SCHEMA_writer`) fit PostgreSQL's 63 bytes.
fn check_schema(schema: &str) -> Result<(), String> {
    let mut bytes = schema.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !first_ok || !rest_ok || schema.len() > 48 || schema.starts_with("pg_") {
        return Err(format!(
            "schema `{schema}`: use a-z, 0-9 and `_`, at most 48 characters, not starting with a digit or `pg_`"
        ));
    }
    Ok(())
}

/// The address with the password (in the user part or a `password=`
/// parameter) replaced by `***`.
fn redact(text: &str) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some(parts) => parts,
        None => return text.to_owned(),
    };
    let (authority_end, _) = rest
        .char_indices()
        .find(|(_, c)| *c == '/' || *c == '?')
        .unwrap_or((rest.len(), ' '));
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_owned(),
    };
    let path = match path.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some(("password", _)) => "password=***".to_owned(),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => path.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_is_ours_and_the_rest_is_the_clients() {
        let address = Address::parse(
            "postgres://alice@db.example:6543/ledger?schema=staging&connect_timeout=2",
        )
        .expect("parses");
        assert_eq!(address.schema(), "staging");
        assert_eq!(address.config().get_dbname(), Some("ledger"));
        assert_eq!(address.config().get_ports(), &[6543]);
        assert_eq!(
            address.config().get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
        let plain = Address::parse("postgresql://alice@localhost/ledger").expect("parses");
        assert_eq!(plain.schema(), DEFAULT_SCHEMA);
        assert_eq!(plain.config().get_connect_timeout(), Some(&CONNECT_TIMEOUT));
    }

    #[test]
    fn passwords_never_show() {
        let address = Address::parse("postgres://alice:s3cret@localhost/ledger?password=other")
            .expect("parses");
        let shown = format!("{address} {address:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("other"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://alice:***@localhost/ledger"),
            "{shown}"
        );
    }

    #[test]
    fn bad_addresses_and_schemas_are_refused_naming_the_address() {
        for text in [
            "postgres://alice@localhost/ledger?schema=Bad-Name",
            "postgres://alice@localhost/ledger?schema=pg_catalog",
            "postgres://alice@localhost/ledger?frobnicate=1",
            "mysql://alice@localhost/ledger",
        ] {
            let error = Address::parse(text).expect_err(text).to_string();
            assert!(error.contains("alice@localhost"), "{error}");
        }
    }

    #[test]
    fn another_schema_keeps_the_server() {
        let address = Address::parse("postgres://alice@localhost/ledger?schema=a").expect("parses");
        let other = address.with_schema("b").expect("valid");
        assert_eq!(other.schema(), "b");
        assert_eq!(
            other.to_string(),
            "postgres://alice@localhost/ledger?schema=b"
        );
        let bare = Address::parse("postgres://alice@localhost/ledger").expect("parses");
        assert_eq!(
            bare.with_schema("c").expect("valid").to_string(),
            "postgres://alice@localhost/ledger?schema=c"
        );
    }
}
