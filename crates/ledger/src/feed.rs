//! One committed event as a line of JSON, its data without pseudonyms: the
//! format `theseus follow` prints and `GET /v1/events` serves, so that a
//! client reads both alike.
//!
//! ```text
//! {"position","id","operation","version","type","recorded_at","recorded_by","reported_at"?,"data","hash"}
//! ```
//!
//! `data` is [`domain::Event::public_data_json`]. Records of the agency
//! registry, of the evidence stream and the privacy records are no
//! operation's events: they have no line.

use domain::{is_reserved_stream, Event};
use event_store::{EnvelopeRef, StoreError};

use crate::LedgerError;

/// The record's line (without a newline), or `None` for a registry or
/// privacy record.
pub fn event_line(record: &EnvelopeRef<'_>) -> Result<Option<String>, LedgerError> {
    if is_reserved_stream(&record.operation) {
        return Ok(None);
    }
    let event = Event::parse(&record.event_type, record.data).map_err(|error| {
        LedgerError::Store(StoreError::Corrupt {
            location: format!("position {}", record.position),
            reason: format!("its event does not read: {error}"),
        })
    })?;
    let text = |value: &str| serde_json::to_string(value).unwrap_or_default();
    let reported_at = record
        .reported_at
        .map(|at| format!(",\"reported_at\":{}", text(at)))
        .unwrap_or_default();
    Ok(Some(format!(
        "{{\"position\":{},\"id\":\"{}\",\"operation\":{},\"version\":{},\"type\":{},\"recorded_at\":{},\"recorded_by\":{}{reported_at},\"data\":{},\"hash\":\"{}\"}}",
        record.position,
        record.id,
        text(&record.operation),
        record.version,
        text(&record.event_type),
        text(record.recorded_at),
        text(&record.recorded_by),
        event.public_data_json(),
        record.hash,
    )))
}
