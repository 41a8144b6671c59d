//! `GET /`: the dashboard page.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use crate::access::Note;
use crate::app::App;
use crate::query::Query;
use crate::routes::{authenticated, finish};
use crate::ServerError;

pub async fn page(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut note = Note::default();
    let result = async {
        if !app.public_dashboard {
            authenticated(&app, &headers, &mut note).await?;
        }
        Query::parse(uri.query(), &["operation"])?;
        Err(ServerError::NotFound(
            "the dashboard is not built yet".into(),
        ))
    }
    .await;
    finish(note, result)
}
