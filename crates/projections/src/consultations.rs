//! The consultations report: one row per consultation of personal
//! references (`events --reveal`), from the privacy records of the log
//! ([`domain::PRIVACY_STREAM`]): who, when, for what purpose, with which
//! query, and how many events' references were shown. Never a reference:
//! the records hold none.

use domain::privacy::PrivacyEvent;
use domain::registry::RegistryMeta;
use domain::EventView;
use serde::{Deserialize, Serialize};

use crate::{Cell, Meta, Projection, ReportKind, Tabular};

/// One consultation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consultation {
    pub position: u64,
    pub recorded_at: String,
    pub recorded_by: String,
    pub purpose: String,
    pub command: String,
    pub query: String,
    pub as_of_position: u64,
    pub events_shown: u64,
}

/// Every consultation, in log order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consultations {
    pub rows: Vec<Consultation>,
}

impl Projection for Consultations {
    const NAME: &'static str = "consultations-v1";
    const NEEDS_RETRACTED: bool = false;
    const READS_PRIVACY: bool = true;

    fn record(&mut self, _meta: &Meta<'_>, _event: &EventView<'_>) {}

    fn retract(&mut self, _meta: &Meta<'_>, _event: &EventView<'_>) {}

    fn merge(&mut self, later: Consultations) {
        self.rows.extend(later.rows);
    }

    fn privacy(&mut self, meta: &RegistryMeta<'_>, event: &PrivacyEvent) {
        if let PrivacyEvent::ReferencesConsulted(consulted) = event {
            self.rows.push(Consultation {
                position: meta.position,
                recorded_at: meta.recorded_at.to_owned(),
                recorded_by: meta.recorded_by.to_owned(),
                purpose: consulted.purpose.as_str().to_owned(),
                command: consulted.command.as_str().to_owned(),
                query: consulted.query.clone(),
                as_of_position: consulted.as_of_position,
                events_shown: consulted.events.len() as u64 + consulted.events_not_listed,
            });
        }
    }
}

/// The report's columns.
pub const COLUMNS: [&str; 8] = [
    "position",
    "recorded_at",
    "recorded_by",
    "purpose",
    "command",
    "query",
    "as_of_position",
    "events_shown",
];

impl Tabular for Consultations {
    /// `operation` keeps the consultations whose query named it.
    fn rows(
        &self,
        _kind: ReportKind,
        operation: Option<&str>,
    ) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
        let named = |query: &str| {
            operation.is_none_or(|operation| {
                serde_json::from_str::<serde_json::Value>(query)
                    .ok()
                    .is_some_and(|q| q["operation"] == operation)
            })
        };
        let rows = self
            .rows
            .iter()
            .filter(|row| named(&row.query))
            .map(|row| {
                vec![
                    Cell::Int(i128::from(row.position)),
                    Cell::text(row.recorded_at.as_str()),
                    Cell::text(row.recorded_by.as_str()),
                    Cell::text(row.purpose.as_str()),
                    Cell::text(row.command.as_str()),
                    Cell::Json(row.query.clone()),
                    Cell::Int(i128::from(row.as_of_position)),
                    Cell::Int(i128::from(row.events_shown)),
                ]
            })
            .collect();
        (COLUMNS.to_vec(), rows)
    }
}
