//! The access log: one JSON line per request, written before the response
//! leaves, to a file or standard error.
//!
//! Directive (EU) 2016/680, Art. 25 asks for logs of consultation and
//! disclosure: who (the agency, once authenticated), when, what was asked
//! (method and path; never the query string, which a careless client may
//! have put a token in), the outcome, what was appended, and for reads what
//! was consulted (the report, operation and log prefix; the positions
//! listed). Never a token, never a pseudonym: handlers put only what is
//! safe to keep into a [`Note`], and the log writes only notes.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use crate::app::{App, Remote};
use crate::ServerError;

/// What a handler says about its request, for the access log.
#[derive(Clone, Debug, Default)]
pub struct Note {
    /// The authenticated agency.
    pub agency: Option<String>,
    /// How the credential fared when none was accepted: `missing`,
    /// `malformed`, `unknown` or `revoked` (with the agency it belonged to).
    pub credential: Option<&'static str>,
    pub revoked_agency: Option<String>,
    /// Events appended, and skipped as duplicates.
    pub appended: Option<u64>,
    pub duplicates: Option<u64>,
    pub first_position: Option<u64>,
    pub last_position: Option<u64>,
    /// What a read consulted (report, operation, log prefix, positions).
    pub consulted: Option<Value>,
    /// The error code of a refused request.
    pub error: Option<&'static str>,
}

#[derive(Serialize)]
struct Entry<'a> {
    time: String,
    remote: Option<String>,
    agency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_agency: Option<&'a str>,
    method: &'a str,
    path: &'a str,
    status: u16,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    appended: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicates: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consulted: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Where entries go. Each entry is one `write` of one line, flushed, under
/// a lock: lines never interleave.
pub struct AccessLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessLog")
    }
}

impl AccessLog {
    /// Appends to `path` (created 0600), or writes to standard error.
    pub fn open(path: Option<&Path>) -> Result<AccessLog, ServerError> {
        let out: Box<dyn Write + Send> = match path {
            None => Box::new(std::io::stderr()),
            Some(path) => {
                use std::os::unix::fs::OpenOptionsExt;
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|source| ServerError::AccessLog {
                        path: path.to_owned(),
                        source,
                    })?;
                Box::new(file)
            }
        };
        Ok(AccessLog {
            out: Mutex::new(out),
        })
    }

    fn write(&self, entry: &Entry<'_>) {
        let mut line = serde_json::to_vec(entry).unwrap_or_default();
        line.push(b'\n');
        let mut out = match self.out.lock() {
            Ok(out) => out,
            Err(poisoned) => poisoned.into_inner(),
        };
        if out.write_all(&line).and_then(|()| out.flush()).is_err() {
            // The log cannot be written: say so where an operator looks,
            // once per request, without the entry's details.
            eprintln!("error: cannot write the access log");
        }
    }
}

/// The middleware that writes one entry per request, once the handler has
/// answered and before the answer is sent.
pub async fn record(
    State(app): State<std::sync::Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let remote = request
        .extensions()
        .get::<Remote>()
        .map(|Remote(address): &Remote| address.to_string());
    let mut response = next.run(request).await;
    let note = response
        .extensions_mut()
        .remove::<Note>()
        .unwrap_or_default();
    let entry = Entry {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        remote,
        agency: note.agency.as_deref(),
        credential: note.credential,
        revoked_agency: note.revoked_agency.as_deref(),
        method: &method,
        path: &path,
        status: response.status().as_u16(),
        duration_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        appended: note.appended,
        duplicates: note.duplicates,
        first_position: note.first_position,
        last_position: note.last_position,
        consulted: note.consulted.as_ref(),
        error: note.error,
    };
    app.access.write(&entry);
    response
}
