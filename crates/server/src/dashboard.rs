//! `GET /`: the dashboard, the same page as `theseus dashboard` prints
//! (`ledger::dashboard`), built as of the current head (or `as_of`), for
//! every operation (or `operation`). It needs a token like any read,
//! unless the server was started with `--public-dashboard`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::Response;
use ledger::AsOf;
use projections::ReplayOptions;
use serde_json::json;

use crate::access::Note;
use crate::app::App;
use crate::query::Query;
use crate::routes::{authenticated, finish, generated_by, typed};

pub async fn page(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut note = Note::default();
    let result = async {
        if !app.public_dashboard {
            authenticated(&app, &headers, &mut note).await?;
        }
        let query = Query::parse(uri.query(), &["operation", "as_of"])?;
        let operation = query.get("operation").map(str::to_owned);
        let as_of = query.read("as_of", AsOf::parse)?.unwrap_or(AsOf::Head);
        let consulted_operation = operation.clone();
        let (head, page) = app
            .blocking(move |app| {
                let options = ReplayOptions {
                    parts: app.parts,
                    checkpoints: true,
                    progress: None,
                };
                Ok(ledger::dashboard::dashboard(
                    app.store.as_ref(),
                    as_of,
                    operation.as_deref(),
                    &options,
                    &generated_by(),
                )?)
            })
            .await?;
        note.consulted = Some(json!({
            "dashboard": {"operation": consulted_operation},
            "as_of": {"position": head.position, "hash": head.hash.to_string()},
        }));
        let mut response = typed("text/html; charset=utf-8", page);
        // The page loads nothing and runs nothing; say so to the browser too.
        response.headers_mut().insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
        );
        Ok(response)
    }
    .await;
    finish(note, result)
}
