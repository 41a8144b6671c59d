//! Victims rescued per operation and country: how many were minors, of
//! which nationality, exploited how. Only what the replay view reads: the
//! victims' references are never decoded.

use std::collections::BTreeMap;

use domain::{Country, EventView, Exploitation};
use serde::{Deserialize, Serialize};

use crate::keyed::{self, Figures, Keyed};
use crate::report::{Cell, ReportKind};
use crate::{Meta, Projection, Tabular};

/// The key under which rescues that do not state a nationality or a form
/// of exploitation are counted, so that each breakdown adds up to the
/// rescues.
pub const NOT_STATED: &str = "not_stated";

/// One operation's rescues in one country.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VictimFigures {
    pub rescued: i128,
    pub minors: i128,
    pub nationality: BTreeMap<Country, i128>,
    pub nationality_not_stated: i128,
    /// Indexed like `Exploitation::ALL`, then one for "not stated".
    pub exploitation: [i128; 6],
}

impl VictimFigures {
    fn add(
        &mut self,
        minor: Option<bool>,
        nationality: Option<Country>,
        exploitation: Option<Exploitation>,
        sign: i128,
    ) {
        self.rescued += sign;
        if minor == Some(true) {
            self.minors += sign;
        }
        match nationality {
            Some(country) => {
                let n = self.nationality.entry(country).or_insert(0);
                *n += sign;
                if *n == 0 {
                    self.nationality.remove(&country);
                }
            }
            None => self.nationality_not_stated += sign,
        }
        let index = exploitation
            .and_then(|e| Exploitation::ALL.iter().position(|x| *x == e))
            .unwrap_or(Exploitation::ALL.len());
        self.exploitation[index] += sign;
    }
}

impl Figures for VictimFigures {
    fn merge(&mut self, other: &VictimFigures) {
        self.rescued += other.rescued;
        self.minors += other.minors;
        for (country, n) in &other.nationality {
            let mine = self.nationality.entry(*country).or_insert(0);
            *mine += n;
            if *mine == 0 {
                self.nationality.remove(country);
            }
        }
        self.nationality_not_stated += other.nationality_not_stated;
        for (mine, theirs) in self.exploitation.iter_mut().zip(other.exploitation) {
            *mine += theirs;
        }
    }
}

/// Operation → country → rescues.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Victims {
    pub operations: Keyed<Country, VictimFigures>,
}

impl Victims {
    fn add(&mut self, operation: &str, event: &EventView<'_>, sign: i128) {
        if let EventView::VictimRescued {
            country,
            minor,
            nationality,
            exploitation,
            ..
        } = event
        {
            keyed::update(&mut self.operations, operation, *country, |f| {
                f.add(*minor, *nationality, *exploitation, sign)
            });
        }
    }
}

impl Projection for Victims {
    const NAME: &'static str = "victims-v1";

    fn record(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        self.add(meta.operation, event, 1);
    }

    fn retract(&mut self, meta: &Meta<'_>, event: &EventView<'_>) {
        self.add(meta.operation, event, -1);
    }

    fn merge(&mut self, later: Victims) {
        keyed::merge(&mut self.operations, later.operations);
    }
}

/// The columns of the victims report.
pub const COLUMNS: [&str; 6] = [
    "operation",
    "country",
    "victims_rescued",
    "minors",
    "nationality",
    "exploitation",
];

impl Tabular for Victims {
    fn rows(
        &self,
        _kind: ReportKind,
        operation: Option<&str>,
    ) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
        let mut exploitation_keys: Vec<&'static str> =
            Exploitation::ALL.iter().map(|e| e.as_str()).collect();
        exploitation_keys.push(NOT_STATED);
        let rows = self
            .operations
            .iter()
            .filter(|(slug, _)| operation.is_none_or(|wanted| wanted == slug.as_str()))
            .flat_map(|(slug, countries)| {
                let keys = exploitation_keys.clone();
                countries.iter().map(move |(country, f)| {
                    let mut nationality: Vec<(String, i128)> = f
                        .nationality
                        .iter()
                        .map(|(c, n)| (c.code().to_owned(), *n))
                        .collect();
                    if f.nationality_not_stated != 0 {
                        nationality.push((NOT_STATED.to_owned(), f.nationality_not_stated));
                    }
                    vec![
                        Cell::text(slug.as_str()),
                        Cell::text(country.code()),
                        Cell::Int(f.rescued),
                        Cell::Int(f.minors),
                        Cell::Breakdown(nationality),
                        Cell::Counts(keys.iter().copied().zip(f.exploitation).collect()),
                    ]
                })
            })
            .collect();
        (COLUMNS.to_vec(), rows)
    }
}
