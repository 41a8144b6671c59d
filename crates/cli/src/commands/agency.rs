//! `theseus agency`: register, list and revoke the agencies that may use
//! the API, and manage their signing keys (`agency key`). Every change is a record of the registry stream in the log,
//! attributed to whoever ran the command (the OS user) and timed by the
//! store; a running server sees it on its next request.

use std::collections::BTreeSet;
use std::io::Write;

use clap::{Args, Subcommand};
use domain::registry::{Agency, AgencyId, Grant, Role};
use domain::{Country, Slug, Text};
use ledger::agencies;
use ledger::LedgerError;
use serde::Serialize;

use crate::exit::Failure;
use crate::store::StoreSpec;
use crate::user;

#[derive(Args, Debug)]
pub struct AgencyArgs {
    #[command(subcommand)]
    command: AgencyCommand,
}

#[derive(Subcommand, Debug)]
enum AgencyCommand {
    /// Register an agency and print its token (shown this once; the log
    /// keeps only its SHA-256 digest).
    Add(AddArgs),
    /// List the agencies, active and revoked (never a token).
    List(ListArgs),
    /// Revoke an agency's token, at once for a running server.
    Revoke(RevokeArgs),
    /// Manage an agency's Ed25519 signing key (for signed submissions).
    #[command(subcommand, after_help = KEY_EXAMPLES)]
    Key(KeyCommand),
}

const KEY_EXAMPLES: &str = "Examples:
  theseus agency key generate rs-police --out rs-police.key
  theseus sign batch.ndjson --key rs-police.key > batch.sig
  theseus agency key rotate rs-police --out rs-police-2026.key
  theseus agency key revoke rs-police --key-id 1a2b3c4d --reason \"laptop lost\"

The private key goes to --out (created 0600, never replaced) for the agency to
keep; the log records the public key, who registered it and when.";

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Create a signing key for an agency that has none active: the private
    /// key is written to --out, the public key recorded in the log.
    Generate(KeyOutArgs),
    /// Replace the agency's active key with a new one (batches signed with
    /// the old one before stay valid).
    Rotate(KeyOutArgs),
    /// Revoke one of the agency's keys: batches signed with it after this
    /// are refused, and flagged by verify.
    Revoke(KeyRevokeArgs),
}

#[derive(Args, Debug)]
struct KeyOutArgs {
    /// The agency's id.
    id: String,
    /// Where to write the private key (a new file, 0600).
    #[arg(long, value_name = "FILE")]
    out: std::path::PathBuf,
}

#[derive(Args, Debug)]
struct KeyRevokeArgs {
    /// The agency's id.
    id: String,
    /// The key's id (8 hex digits, as `agency key generate` printed it).
    #[arg(long, value_name = "HEX")]
    key_id: String,
    /// Why, for the record.
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Args, Debug)]
struct AddArgs {
    /// The agency's id, such as rs-police (a-z, 0-9 and -): what
    /// `recorded_by` says on everything it submits.
    id: String,
    /// analyst (reads), reporter (outcome events for its countries) or
    /// coordinator (every event type).
    #[arg(long)]
    role: String,
    /// A country a reporter reports for (repeat for several).
    #[arg(long = "country")]
    countries: Vec<String>,
    /// An operation it may append to (repeat; none: any operation).
    #[arg(long = "operation")]
    operations: Vec<String>,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// table or json.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

#[derive(Args, Debug)]
struct RevokeArgs {
    /// The agency's id.
    id: String,
    /// Why, for the record.
    #[arg(long)]
    reason: Option<String>,
}

fn refused(field: &str, message: impl Into<String>) -> Failure {
    Failure::Ledger(LedgerError::Registry {
        field: field.to_owned(),
        message: message.into(),
    })
}

fn agency_id(text: &str) -> Result<AgencyId, Failure> {
    AgencyId::parse(text).map_err(|message| refused("agency", message))
}

/// Reads repeated option values into a set, refusing bad and repeated ones.
fn set_of<T: Ord>(
    option: &str,
    values: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<BTreeSet<T>, Failure> {
    let mut set = BTreeSet::new();
    for value in values {
        let item =
            parse(value).map_err(|message| refused(option, format!("{option}: {message}")))?;
        if !set.insert(item) {
            return Err(refused(option, format!("{option}: {value} is given twice")));
        }
    }
    Ok(set)
}

pub fn run(spec: &StoreSpec, args: AgencyArgs, out: &mut dyn Write) -> Result<(), Failure> {
    match args.command {
        AgencyCommand::Add(args) => add(spec, args, out),
        AgencyCommand::List(args) => list(spec, args, out),
        AgencyCommand::Revoke(args) => revoke(spec, args, out),
        AgencyCommand::Key(KeyCommand::Generate(args)) => new_key(spec, args, false, out),
        AgencyCommand::Key(KeyCommand::Rotate(args)) => new_key(spec, args, true, out),
        AgencyCommand::Key(KeyCommand::Revoke(args)) => revoke_key(spec, args, out),
    }
}

/// `agency key generate` and `agency key rotate`: the private key is
/// written first (a file that already exists is refused before anything
/// is recorded); if recording then fails, the file is removed again.
fn new_key(
    spec: &StoreSpec,
    args: KeyOutArgs,
    rotate: bool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let agency = agency_id(&args.id)?;
    let opened = spec.open()?;
    let key = evidence::SignerKey::generate(agency.as_str())
        .map_err(|error| Failure::Refused(error.to_string()))?;
    evidence::keys::write_private(&args.out, &key.encode())
        .map_err(|error| Failure::Refused(format!("--out: {error}")))?;
    let verifier = key.verifier();
    let recorded = if rotate {
        agencies::rotate_key(
            opened.store(),
            agency.clone(),
            &verifier,
            &user::account_name()?,
        )
    } else {
        agencies::register_key(
            opened.store(),
            agency.clone(),
            &verifier,
            &user::account_name()?,
        )
    };
    let recorded = match recorded {
        Ok(recorded) => recorded,
        Err(error) => {
            let _ = std::fs::remove_file(&args.out);
            return Err(error.into());
        }
    };
    let line = serde_json::json!({
        "agency": agency.as_str(),
        "key_id": verifier.id().to_string(),
        "public_key": verifier.encode(),
        "position": recorded.position,
        "rotated": rotate,
    });
    writeln!(out, "{line}")?;
    Ok(())
}

fn revoke_key(spec: &StoreSpec, args: KeyRevokeArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let agency = agency_id(&args.id)?;
    let key_id = domain::registry::KeyId::parse(&args.key_id).ok_or_else(|| {
        refused(
            "key_id",
            format!(
                "--key-id: {:?} is not a key id (8 lower-case hex digits)",
                args.key_id
            ),
        )
    })?;
    let reason = args
        .reason
        .as_deref()
        .map(Text::new)
        .transpose()
        .map_err(|error| refused("reason", format!("--reason: {}", error.message)))?;
    let opened = spec.open()?;
    let recorded = agencies::revoke_key(
        opened.store(),
        agency.clone(),
        key_id,
        reason,
        &user::account_name()?,
    )?;
    let line = serde_json::json!({
        "agency": agency.as_str(),
        "key_id": key_id.to_string(),
        "revoked": true,
        "position": recorded.position,
    });
    writeln!(out, "{line}")?;
    Ok(())
}

fn add(spec: &StoreSpec, args: AddArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let agency = agency_id(&args.id)?;
    let role = Role::parse(&args.role).ok_or_else(|| {
        refused(
            "role",
            format!(
                "--role: unknown role {:?} (expected analyst, reporter or coordinator)",
                args.role
            ),
        )
    })?;
    let countries = set_of("--country", &args.countries, |code| {
        Country::parse(code).ok_or_else(|| {
            format!("unknown country code {code:?} (ISO 3166-1 alpha-2 in upper case, or XK)")
        })
    })?;
    let operations = set_of("--operation", &args.operations, Slug::parse)?;
    let grant = Grant::new(agency.clone(), role, countries, operations).map_err(|error| {
        let option = match error.path.as_str() {
            "countries" => "--country",
            _ => "--operation",
        };
        refused(option, format!("{option}: {}", error.message))
    })?;
    let opened = spec.open()?;
    let (token, _) = agencies::register(opened.store(), grant, &user::account_name()?)?;
    #[derive(Serialize)]
    struct Added<'a> {
        agency: &'a str,
        token: &'a str,
    }
    let added = Added {
        agency: agency.as_str(),
        token: token.reveal(),
    };
    writeln!(out, "{}", serde_json::to_string(&added).unwrap_or_default())?;
    Ok(())
}

fn revoke(spec: &StoreSpec, args: RevokeArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let agency = agency_id(&args.id)?;
    let reason = args
        .reason
        .as_deref()
        .map(Text::new)
        .transpose()
        .map_err(|error| refused("reason", format!("--reason: {}", error.message)))?;
    let opened = spec.open()?;
    let recorded = agencies::revoke(
        opened.store(),
        agency.clone(),
        reason,
        &user::account_name()?,
    )?;
    #[derive(Serialize)]
    struct Revoked<'a> {
        agency: &'a str,
        revoked: bool,
        position: u64,
    }
    let revoked = Revoked {
        agency: agency.as_str(),
        revoked: true,
        position: recorded.position,
    };
    writeln!(
        out,
        "{}",
        serde_json::to_string(&revoked).unwrap_or_default()
    )?;
    Ok(())
}

/// One agency as listed.
#[derive(Serialize)]
struct Listed<'a> {
    agency: &'a str,
    role: &'a str,
    countries: Vec<&'a str>,
    operations: Vec<&'a str>,
    status: &'static str,
    registered_at: &'a str,
    registered_by: &'a str,
    registered_position: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

fn listed(agency: &Agency) -> Option<Listed<'_>> {
    let registration = agency.registration.as_ref()?;
    let grant = &registration.grant;
    let revocation = agency.revocation.as_ref();
    Some(Listed {
        agency: grant.agency.as_str(),
        role: grant.role.as_str(),
        countries: grant.countries.iter().map(Country::code).collect(),
        operations: grant.operations.iter().map(Slug::as_str).collect(),
        status: if revocation.is_some() {
            "revoked"
        } else {
            "active"
        },
        registered_at: &registration.recorded.recorded_at,
        registered_by: &registration.recorded.recorded_by,
        registered_position: registration.recorded.position,
        revoked_at: revocation.map(|r| r.recorded.recorded_at.as_str()),
        revoked_by: revocation.map(|r| r.recorded.recorded_by.as_str()),
        revoked_position: revocation.map(|r| r.recorded.position),
        reason: revocation.and_then(|r| r.reason.as_deref()),
    })
}

fn list(spec: &StoreSpec, args: ListArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let opened = spec.open()?;
    let store = opened.store();
    let head = store.head()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let registry = agencies::load(store, head, threads)?;
    let rows: Vec<Listed<'_>> = registry
        .state
        .0
        .agencies
        .values()
        .filter_map(listed)
        .collect();
    if args.format == "json" {
        #[derive(Serialize)]
        struct AsOf {
            position: u64,
            hash: String,
        }
        #[derive(Serialize)]
        struct Listing<'a> {
            as_of: AsOf,
            agencies: &'a [Listed<'a>],
        }
        let listing = Listing {
            as_of: AsOf {
                position: head.position,
                hash: head.hash.to_string(),
            },
            agencies: &rows,
        };
        writeln!(
            out,
            "{}",
            serde_json::to_string(&listing).unwrap_or_default()
        )?;
        return Ok(());
    }
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            let revoked = match (row.revoked_at, row.revoked_by) {
                (Some(at), Some(by)) => format!("{at} by {by}"),
                _ => String::new(),
            };
            [
                row.agency.to_owned(),
                row.role.to_owned(),
                row.countries.join(",").to_owned(),
                if row.operations.is_empty() {
                    "(any)".to_owned()
                } else {
                    row.operations.join(",")
                },
                format!("{} by {}", row.registered_at, row.registered_by),
                revoked,
            ]
        })
        .collect();
    let header = [
        "agency",
        "role",
        "countries",
        "operations",
        "registered",
        "revoked",
    ];
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(&header))?;
    for row in &cells {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    writeln!(
        out,
        "{} agencies as of position {} ({})",
        rows.len(),
        head.position,
        head.hash
    )?;
    Ok(())
}
