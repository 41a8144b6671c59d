//! The API's routes and their handlers. Handlers stay thin: they read the
//! request, authenticate, call the ledger on a blocking thread (as the CLI
//! calls it), and say what the access log should keep.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use domain::registry::Role;
use domain::{Country, Day, Location};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use ledger::{AsOf, LedgerError};
use projections::{Filter, Format, ReplayOptions, ReportKind};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use crate::access::{self, Note};
use crate::app::{bearer, App, Caller};
use crate::events;
use crate::query::{holds_token, Query};
use crate::ServerError;

/// The media types a batch may be sent as: JSON Lines under its common
/// names (and plain JSON, for a batch of one line).
const JSON_LINES: &[&str] = &[
    "application/x-ndjson",
    "application/jsonl",
    "application/json-lines",
    "application/x-jsonlines",
    "application/json",
];

/// The header that says which head a response was built from.
const HEAD_HEADER: HeaderName = HeaderName::from_static("theseus-head");
/// A batch's signature: the base64 of the signature file `theseus sign`
/// writes.
const SIGNATURE_HEADER: HeaderName = HeaderName::from_static("theseus-signature");
/// `yes` asks for the ledger's receipt in the response.
const RECEIPT_HEADER: HeaderName = HeaderName::from_static("theseus-receipt");

/// What reports and pages say made them.
pub fn generated_by() -> String {
    format!("theseus {}", env!("CARGO_PKG_VERSION"))
}

/// The API.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/", get(crate::dashboard::page))
        .route("/v1/head", get(head))
        .route("/v1/events", get(list_events).post(post_events))
        .route("/v1/reports/{kind}", get(report))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(refuse_tokens_in_url))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            access::record,
        ))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
        .with_state(app)
}

/// Attaches the note for the access log, and the error body of a refusal.
pub fn finish(mut note: Note, result: Result<Response, ServerError>) -> Response {
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            note.error = Some(error.answer().code);
            error.into_response()
        }
    };
    response.extensions_mut().insert(note);
    response
}

/// A body with its content type.
pub fn typed(content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_line(value: &impl serde::Serialize) -> Response {
    let mut text = serde_json::to_string(value).unwrap_or_default();
    text.push('\n');
    typed("application/json", text)
}

/// Authenticates the request's bearer token against the registry as of
/// the current head.
pub async fn authenticated(
    app: &Arc<App>,
    headers: &HeaderMap,
    note: &mut Note,
) -> Result<Caller, ServerError> {
    let token = bearer(headers, note)?;
    let (found, caller) = app
        .blocking(move |app| {
            let mut found = Note::default();
            let caller = app.authenticate(&token, &mut found);
            Ok((found, caller))
        })
        .await?;
    note.agency = found.agency;
    note.credential = found.credential;
    note.revoked_agency = found.revoked_agency;
    caller
}

async fn refuse_tokens_in_url(request: Request, next: Next) -> Response {
    if request.uri().query().is_some_and(holds_token) {
        return finish(Note::default(), Err(ServerError::TokenInUrl));
    }
    next.run(request).await
}

fn panicked(_detail: Box<dyn std::any::Any + Send + 'static>) -> Response {
    finish(
        Note::default(),
        Err(ServerError::Internal("a handler panicked".into())),
    )
}

async fn not_found(uri: Uri) -> Response {
    finish(
        Note::default(),
        Err(ServerError::NotFound(format!(
            "no route {} (see /v1/head, /v1/events, /v1/reports/KIND, /healthz)",
            uri.path()
        ))),
    )
}

async fn method_not_allowed(method: Method) -> Response {
    finish(
        Note::default(),
        Err(ServerError::MethodNotAllowed {
            method: method.to_string(),
        }),
    )
}

async fn healthz(uri: Uri) -> Response {
    let result = Query::parse(uri.query(), &[]).map(|_| json_line(&json!({"status": "ok"})));
    finish(Note::default(), result)
}

async fn head(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut note = Note::default();
    let result = async {
        authenticated(&app, &headers, &mut note).await?;
        Query::parse(uri.query(), &[])?;
        let head = app.blocking(|app| Ok(app.store.head()?)).await?;
        let value = json!({"position": head.position, "hash": head.hash.to_string()});
        note.consulted = Some(json!({"head": value}));
        Ok(json_line(&value))
    }
    .await;
    finish(note, result)
}

async fn report(
    State(app): State<Arc<App>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let mut note = Note::default();
    let result = async {
        authenticated(&app, &headers, &mut note).await?;
        let kind: ReportKind = kind.parse().map_err(|message: String| {
            ServerError::NotFound(format!("no report {kind:?}: {message}"))
        })?;
        // Who consulted personal references, and why, is for the ledger's
        // keepers (`theseus report consultations`), not for every agency.
        if kind == ReportKind::Consultations {
            return Err(ServerError::NotFound(
                "the consultations report is not served over the API: run theseus report consultations on the ledger's host".into(),
            ));
        }
        let query = Query::parse_repeatable(
            uri.query(),
            &[
                "operation",
                "as_of",
                "format",
                "no_checkpoint",
                "country",
                "from",
                "to",
                "location",
            ],
            &["country", "location"],
        )?;
        let filter = filter_of(&query)?;
        let operation = query.get("operation").map(str::to_owned);
        let as_of = query.read("as_of", AsOf::parse)?.unwrap_or(AsOf::Head);
        let format: Format = query
            .read("format", |text| text.parse())?
            .unwrap_or(Format::Json);
        let checkpoints = !query.flag("no_checkpoint")?;
        let consulted_operation = operation.clone();
        let consulted_filter = projections::render::filter_words(None, &filter);
        let (head, text) = app
            .blocking(move |app| {
                let options = ReplayOptions {
                    parts: app.parts,
                    checkpoints,
                    progress: None,
                };
                let report = ledger::reports::report_filtered(
                    app.store.as_ref(),
                    kind,
                    as_of,
                    operation.as_deref(),
                    &filter,
                    &options,
                )?;
                let text = projections::render(&report, format, &generated_by());
                Ok((report.as_of, text))
            })
            .await?;
        note.consulted = Some(json!({
            "report": kind.as_str(),
            "operation": consulted_operation,
            "filter": consulted_filter,
            "format": format.to_string(),
            "as_of": {"position": head.position, "hash": head.hash.to_string()},
        }));
        let content_type = match format {
            Format::Json => "application/json",
            Format::Jsonl => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Table => "text/plain; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
        };
        let mut response = typed(content_type, text);
        if let Ok(value) = HeaderValue::from_str(&head.to_string()) {
            response.headers_mut().insert(HEAD_HEADER, value);
        }
        Ok(response)
    }
    .await;
    finish(note, result)
}

/// The filter of a report's query: `country` and `location` (repeatable),
/// `from` and `to` (UTC days), as the CLI's `--country`, `--location`,
/// `--from` and `--to`.
fn filter_of(query: &Query) -> Result<Filter, ServerError> {
    let bad = |field: &str, message: String| ServerError::BadRequest {
        field: field.to_owned(),
        message,
    };
    let mut filter = Filter::default();
    for code in query.all("country") {
        let country = Country::parse(code).ok_or_else(|| {
            bad(
                "country",
                format!("{code:?} is not a country code (ISO 3166-1 alpha-2 in upper case, or XK)"),
            )
        })?;
        filter.countries.insert(country);
    }
    for word in query.all("location") {
        let location = Location::parse(word).ok_or_else(|| {
            let words: Vec<&str> = Location::ALL.iter().map(|l| l.as_str()).collect();
            bad(
                "location",
                format!("unknown location {word:?} (one of {})", words.join(", ")),
            )
        })?;
        filter.locations.insert(location);
    }
    let day =
        |text: &str| Day::parse(text).ok_or_else(|| format!("{text:?} is not a date (YYYY-MM-DD)"));
    filter.from = query.read("from", day)?;
    filter.to = query.read("to", day)?;
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if from > to {
            return Err(bad(
                "from",
                format!("{from} is after to {to}: the period is empty"),
            ));
        }
    }
    Ok(filter)
}

/// The longest long poll, in seconds.
const MAX_WAIT_SECONDS: u64 = 30;
/// The most events one listing returns.
const MAX_LIMIT: u64 = 10_000;

async fn list_events(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut note = Note::default();
    let result = async {
        authenticated(&app, &headers, &mut note).await?;
        let query = Query::parse(uri.query(), &["after", "limit", "wait"])?;
        let number = |text: &str| {
            text.parse::<u64>()
                .map_err(|_| format!("{text:?} is not a whole number"))
        };
        let after = query.read("after", number)?.unwrap_or(0);
        let limit = query.read("limit", number)?.unwrap_or(1000);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ServerError::BadRequest {
                field: "limit".into(),
                message: format!("must be from 1 to {MAX_LIMIT}"),
            });
        }
        let wait = query.read("wait", number)?.unwrap_or(0);
        if wait > MAX_WAIT_SECONDS {
            return Err(ServerError::BadRequest {
                field: "wait".into(),
                message: format!("must be at most {MAX_WAIT_SECONDS} (seconds)"),
            });
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        let listed = loop {
            // Registered before the check, so that an append in between
            // still wakes this poll.
            let appended = app.appended.notified();
            let listed = app
                .blocking(move |app| events::list(app.store.as_ref(), after, limit))
                .await?;
            let stopping = app.stopping.load(std::sync::atomic::Ordering::SeqCst);
            if listed.count > 0 || stopping || tokio::time::Instant::now() >= deadline {
                break listed;
            }
            // Other writers (the CLI, another server) do not wake us: look
            // again every quarter of a second.
            let tick = tokio::time::sleep(Duration::from_millis(250));
            tokio::select! {
                () = appended => {}
                () = tick => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        };
        note.consulted = Some(json!({
            "events": {
                "after": after,
                "count": listed.count,
                "first_position": listed.first,
                "last_position": listed.last,
            },
            "head": {"position": listed.head.position, "hash": listed.head.hash.to_string()},
        }));
        let mut response = typed("application/x-ndjson", listed.lines);
        if let Ok(value) = HeaderValue::from_str(&listed.head.to_string()) {
            response.headers_mut().insert(HEAD_HEADER, value);
        }
        Ok(response)
    }
    .await;
    finish(note, result)
}

/// Whether the body is declared as JSON Lines, uncompressed UTF-8.
fn check_media_type(headers: &HeaderMap) -> Result<(), ServerError> {
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        if !encoding.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(ServerError::UnsupportedMediaType(
                "the body must not be compressed (no Content-Encoding)".into(),
            ));
        }
    }
    let hint = "send JSON Lines as application/x-ndjson (or application/jsonl, application/json)";
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ServerError::UnsupportedMediaType(format!(
            "no Content-Type: {hint}"
        )));
    };
    let text = value.to_str().unwrap_or("").to_ascii_lowercase();
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or("").trim();
    if !JSON_LINES.contains(&essence) {
        return Err(ServerError::UnsupportedMediaType(format!(
            "Content-Type {essence:?} is not JSON Lines: {hint}"
        )));
    }
    for parameter in parts {
        if let Some((name, value)) = parameter.split_once('=') {
            let value = value.trim().trim_matches('"');
            if name.trim() == "charset" && value != "utf-8" && value != "utf8" {
                return Err(ServerError::UnsupportedMediaType(format!(
                    "charset {value:?}: the body must be UTF-8"
                )));
            }
        }
    }
    Ok(())
}

/// Reads the whole body (a batch is checked only once it is all here, so
/// that a slow sender never holds the writers' lock), within the size limit
/// and the request timeout.
async fn read_body(app: &App, headers: &HeaderMap, body: Body) -> Result<Bytes, ServerError> {
    let limit = app.limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ServerError::TooLarge { limit });
    }
    let reading = Limited::new(body, limit).collect();
    match tokio::time::timeout(app.limits.request_timeout, reading).await {
        Err(_) => Err(ServerError::Timeout {
            seconds: app.limits.request_timeout.as_secs(),
        }),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ServerError::TooLarge { limit })
        }
        Ok(Err(error)) => Err(ServerError::BadRequest {
            field: "body".into(),
            message: format!("the body could not be read: {error}"),
        }),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// How many times a batch is checked again when the registry changed
/// while it was on its way.
const REGISTRY_RETRIES: usize = 3;

async fn post_events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let mut note = Note::default();
    let result = async {
        let mut caller = authenticated(&app, &headers, &mut note).await?;
        Query::parse(uri.query(), &[])?;
        refuse_analyst(&caller)?;
        check_media_type(&headers)?;
        let signature = signature_of(&headers)?;
        let wants_receipt = receipt_asked(&headers)?;
        if wants_receipt && app.ledger_key.is_none() {
            return Err(ServerError::Unavailable(
                "this server has no ledger key: it cannot sign receipts".into(),
            ));
        }
        if signature.is_none() && app.require_signatures.contains(caller.grant.agency.as_str()) {
            return Err(ServerError::Forbidden {
                message: format!(
                    "agency {} must sign its batches: send the signature in the Theseus-Signature header",
                    caller.grant.agency
                ),
            });
        }
        let input = read_body(&app, &headers, body).await?;
        let mut attempt = 0;
        let summary = loop {
            let submitter = caller.submitter();
            let batch = input.clone();
            let signature = signature.clone();
            let appended = app
                .blocking(move |app| match signature {
                    Some(signature) => {
                        if let Err(error) = app.check_signature(&signature) {
                            return Ok(Err(error));
                        }
                        Ok(app
                            .appender
                            .append_signed(app.store.as_ref(), &batch[..], &submitter, signature)
                            .map_err(ServerError::from))
                    }
                    None => Ok(app
                        .appender
                        .append(app.store.as_ref(), &batch[..], &submitter)
                        .map_err(ServerError::from)),
                })
                .await?;
            match appended {
                Ok(summary) => break summary,
                Err(ServerError::Ledger(LedgerError::RegistryChanged))
                    if attempt < REGISTRY_RETRIES =>
                {
                    attempt += 1;
                    caller = authenticated(&app, &headers, &mut note).await?;
                    refuse_analyst(&caller)?;
                }
                Err(error) => return Err(error),
            }
        };
        if summary.appended > 0 {
            app.appended.notify_waiters();
        }
        note.appended = Some(summary.appended);
        note.duplicates = Some(summary.duplicates);
        note.first_position = summary.first_position;
        note.last_position = summary.last_position;
        if wants_receipt {
            let receipt = app
                .blocking(|app| {
                    let key = app.ledger_key.as_ref().ok_or_else(|| {
                        ServerError::Unavailable("no ledger key".into())
                    })?;
                    ledger::receipts::record_ledger_key(app.store.as_ref(), key, "theseus-serve")?;
                    let head = app.store.head()?;
                    Ok(ledger::receipts::sign_head(key, head)?)
                })
                .await?;
            #[derive(serde::Serialize)]
            struct WithReceipt<'a> {
                #[serde(flatten)]
                summary: &'a ledger::AppendSummary,
                receipt: String,
            }
            return Ok(json_line(&WithReceipt {
                summary: &summary,
                receipt,
            }));
        }
        Ok(json_line(&summary))
    }
    .await;
    finish(note, result)
}

fn refuse_analyst(caller: &Caller) -> Result<(), ServerError> {
    if caller.role() == Role::Analyst {
        return Err(ServerError::Forbidden {
            message: format!(
                "agency {} is an analyst: analysts read and append nothing",
                caller.grant.agency
            ),
        });
    }
    Ok(())
}

/// The batch's signature from its header, if it has one.
fn signature_of(headers: &HeaderMap) -> Result<Option<ledger::signatures::Signature>, ServerError> {
    use base64::Engine;
    let mut values = headers.get_all(SIGNATURE_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = |message: String| ServerError::BadRequest {
        field: "Theseus-Signature".into(),
        message,
    };
    if values.next().is_some() {
        return Err(bad("given twice".into()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|_| bad("not base64 (send base64 of the file `theseus sign` writes)".into()))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
    Ok(Some(ledger::signatures::Signature::parse(&text)?))
}

/// Whether the client asked for a receipt (`Theseus-Receipt: yes`).
fn receipt_asked(headers: &HeaderMap) -> Result<bool, ServerError> {
    match headers.get(RECEIPT_HEADER) {
        None => Ok(false),
        Some(value) if value.as_bytes().eq_ignore_ascii_case(b"yes") => Ok(true),
        Some(_) => Err(ServerError::BadRequest {
            field: "Theseus-Receipt".into(),
            message: "the only value is yes".into(),
        }),
    }
}
