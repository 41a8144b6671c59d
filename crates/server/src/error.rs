//! The server's one error type: what stops it from starting, and every
//! refusal of a request, with the HTTP status and the JSON body it is
//! answered with.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use event_store::StoreError;
use ledger::{ErrorKind, LedgerError};
use projections::ProjectionError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// A TLS certificate or key that cannot be used.
    #[error("{}: {message}", path.display())]
    Tls { path: PathBuf, message: String },

    /// The access log could not be opened or written.
    #[error("access log {}: {source}", path.display())]
    AccessLog {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The runtime or a signal handler could not be set up.
    #[error("cannot start the server: {0}")]
    Start(std::io::Error),

    /// No usable token: missing, malformed, unknown or revoked (401).
    #[error("{message}")]
    Unauthenticated { message: String },

    /// An authenticated agency asking for what its role does not allow,
    /// before any input line is read (403).
    #[error("{message}")]
    Forbidden { message: String },

    /// A request that is not well formed: a query parameter, a header (400).
    #[error("{field}: {message}")]
    BadRequest { field: String, message: String },

    /// A token in the URL: tokens go in the `Authorization` header only,
    /// where they are not written to logs and browser histories (400).
    #[error("a token goes in the Authorization header (Bearer), never in the URL")]
    TokenInUrl,

    /// The server cannot do this now or at all (503): a receipt asked of
    /// a server without a ledger key.
    #[error("{0}")]
    Unavailable(String),

    /// No such resource (404).
    #[error("{0}")]
    NotFound(String),

    /// The route exists, the method does not (405).
    #[error("{method} is not allowed here")]
    MethodNotAllowed { method: String },

    /// The body is longer than the limit (413).
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },

    /// The body is not JSON Lines (415).
    #[error("{0}")]
    UnsupportedMediaType(String),

    /// The request did not arrive in time (408).
    #[error("the request body did not arrive within {seconds} s")]
    Timeout { seconds: u64 },

    /// What the ledger refused or failed at.
    #[error("{0}")]
    Ledger(#[from] LedgerError),

    /// A failure of the server itself (500).
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ServerError {
    fn from(error: StoreError) -> ServerError {
        ServerError::Ledger(LedgerError::Store(error))
    }
}

impl From<ProjectionError> for ServerError {
    fn from(error: ProjectionError) -> ServerError {
        ServerError::Ledger(LedgerError::Projection(error))
    }
}

/// The store error inside a ledger error, if it is one.
fn store_error(error: &LedgerError) -> Option<&StoreError> {
    match error {
        LedgerError::Store(error) => Some(error),
        LedgerError::Projection(ProjectionError::Store(error)) => Some(error),
        _ => None,
    }
}

/// What one refusal is answered with.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    pub code: &'static str,
    pub line: Option<u64>,
    pub field: Option<String>,
}

impl Answer {
    fn of(status: StatusCode, code: &'static str) -> Answer {
        Answer {
            status,
            code,
            line: None,
            field: None,
        }
    }

    fn at(mut self, line: u64, field: Option<&str>) -> Answer {
        self.line = Some(line);
        self.field = field.map(str::to_owned);
        self
    }
}

impl ServerError {
    /// The status, the error code and, for refused input, the line and
    /// field.
    pub fn answer(&self) -> Answer {
        match self {
            ServerError::Unauthenticated { .. } => {
                Answer::of(StatusCode::UNAUTHORIZED, "unauthenticated")
            }
            ServerError::Forbidden { .. } => Answer::of(StatusCode::FORBIDDEN, "forbidden"),
            ServerError::BadRequest { field, .. } => Answer {
                field: Some(field.clone()),
                ..Answer::of(StatusCode::BAD_REQUEST, "bad_request")
            },
            ServerError::TokenInUrl => Answer::of(StatusCode::BAD_REQUEST, "token_in_url"),
            ServerError::NotFound(_) => Answer::of(StatusCode::NOT_FOUND, "not_found"),
            ServerError::Unavailable(_) => {
                Answer::of(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ServerError::MethodNotAllowed { .. } => {
                Answer::of(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            ServerError::TooLarge { .. } => Answer::of(StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ServerError::UnsupportedMediaType(_) => {
                Answer::of(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ServerError::Timeout { .. } => Answer::of(StatusCode::REQUEST_TIMEOUT, "timeout"),
            ServerError::Ledger(error) => ledger_answer(error),
            ServerError::Bind { .. }
            | ServerError::Tls { .. }
            | ServerError::AccessLog { .. }
            | ServerError::Start(_)
            | ServerError::Internal(_) => Answer::of(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

fn ledger_answer(error: &LedgerError) -> Answer {
    let refused = Answer::of(StatusCode::BAD_REQUEST, "refused");
    match error {
        LedgerError::Refused { line, field, .. } => return refused.at(*line, Some(field)),
        LedgerError::Unreadable { line, .. } => return refused.at(*line, None),
        LedgerError::Conflict { line, field, .. } => {
            return Answer::of(StatusCode::CONFLICT, "conflict").at(*line, Some(field))
        }
        LedgerError::Forbidden { line, field, .. } => {
            return Answer::of(StatusCode::FORBIDDEN, "forbidden").at(*line, Some(field))
        }
        LedgerError::Signature { field, .. } => {
            return Answer {
                field: Some(field.clone()),
                ..Answer::of(StatusCode::BAD_REQUEST, "signature")
            }
        }
        LedgerError::RegistryChanged => {
            return Answer::of(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
        LedgerError::UnknownOperation { .. } => {
            return Answer {
                field: Some("operation".into()),
                ..Answer::of(StatusCode::NOT_FOUND, "not_found")
            }
        }
        LedgerError::Projection(ProjectionError::BeyondHead { .. }) => {
            return Answer {
                field: Some("as_of".into()),
                ..refused
            }
        }
        _ => {}
    }
    if let Some(store) = store_error(error) {
        match store {
            StoreError::Missing { .. }
            | StoreError::Io { .. }
            | StoreError::AlreadyExists { .. }
            | StoreError::NotADirectory { .. }
            | StoreError::NotEmpty { .. }
            | StoreError::Visitor(_) => {
                return Answer::of(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            StoreError::IdConflict { .. } => {
                return Answer {
                    field: Some("id".into()),
                    ..refused
                }
            }
            _ => {}
        }
    }
    match error.kind() {
        ErrorKind::Refused => refused,
        ErrorKind::Conflict => Answer::of(StatusCode::CONFLICT, "conflict"),
        ErrorKind::Forbidden => Answer::of(StatusCode::FORBIDDEN, "forbidden"),
        ErrorKind::Integrity => Answer::of(StatusCode::INTERNAL_SERVER_ERROR, "integrity"),
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let answer = self.answer();
        let message = match &self {
            // A failure inside the store may name files: the client gets
            // the kind of failure, the operator the detail (stderr).
            ServerError::Ledger(error) if answer.status == StatusCode::SERVICE_UNAVAILABLE => {
                if !matches!(error, LedgerError::RegistryChanged) {
                    eprintln!("error: {error}");
                }
                "the store is unavailable; try again later".to_owned()
            }
            ServerError::Internal(detail) => {
                eprintln!("error: {detail}");
                "internal error".to_owned()
            }
            other => other.to_string().trim_end_matches('.').to_owned(),
        };
        let body = Body {
            error: Inner {
                code: answer.code,
                message,
                line: answer.line,
                field: answer.field.as_deref(),
            },
        };
        let mut text = serde_json::to_string(&body).unwrap_or_default();
        text.push('\n');
        let mut response = (answer.status, text).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if answer.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"theseus\""),
            );
        }
        response
    }
}
