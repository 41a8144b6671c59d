//! The command line's closed value lists, as clap `ValueEnum`s, so that
//! `--help` lists the possible values and a typo gets a suggestion.
//!
//! The projections crate knows no clap (nothing below the CLI parses command
//! lines), so its enums are mirrored here by `mirror!`, which converts both
//! ways with exhaustive matches: a variant added on either side without its
//! mirror does not compile. To add a report kind or a format, add one line
//! to the list below.

use clap::builder::PossibleValue;
use clap::ValueEnum;
use domain::EventType;

/// Declares a `ValueEnum` mirroring `$target`, with `From` both ways.
macro_rules! mirror {
    ($(#[$meta:meta])* $name:ident => $target:path {
        $($variant:ident = $value:literal: $help:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
        pub enum $name {
            $(#[value(name = $value, help = $help)] $variant),+
        }

        impl From<$name> for $target {
            fn from(value: $name) -> $target {
                match value {
                    $($name::$variant => <$target>::$variant),+
                }
            }
        }

        impl From<$target> for $name {
            fn from(value: $target) -> $name {
                match value {
                    $(<$target>::$variant => $name::$variant),+
                }
            }
        }
    };
}

mirror! {
    /// `theseus report KIND`.
    ReportKindArg => projections::ReportKind {
        Summary = "summary": "one row per operation: every figure",
        Countries = "countries": "one row per operation and country",
        Timeline = "timeline": "one row per operation and UTC day of occurred_at",
        Seizures = "seizures": "one row per operation, country and kind of seizure",
        Networks = "networks": "one row per operation and network: arrests and the latest profile",
        Victims = "victims": "one row per operation and country: rescues, minors, nationality, exploitation",
        Arrests = "arrests": "one row per operation and country: arrests by offence, by location, by network",
        Locations = "locations": "one row per operation and location: arrests, rescues, detections, seizures",
        Consultations = "consultations": "one row per consultation of personal references: who, when, why, which query",
    }
}

mirror! {
    /// `--format`.
    FormatArg => projections::Format {
        Table = "table": "aligned, for people, with the position and hash it was built from",
        Json = "json": "one object with as_of, generated_by and rows",
        Jsonl = "jsonl": "JSON Lines: a first line saying what the rows are, then one row per line",
        Csv = "csv": "RFC 4180, nested counts flattened into columns",
        Markdown = "markdown": "a GitHub table",
        Html = "html": "one self-contained HTML page",
    }
}

/// The short names people type for event types (`theseus record arrest`,
/// `import csv --type arrest`); the full names are accepted too.
pub const SHORT_NAMES: [(&str, EventType); 14] = [
    ("launch", EventType::OperationLaunched),
    ("join", EventType::CountryJoined),
    ("agents", EventType::AgentsDeployed),
    ("experts", EventType::ExpertsDeployed),
    ("arrest", EventType::ArrestMade),
    ("rescue", EventType::VictimRescued),
    ("migrants", EventType::MigrantsDetected),
    ("checks", EventType::ChecksPerformed),
    ("seizure", EventType::ItemsSeized),
    ("drugs", EventType::DrugsSeized),
    ("cash", EventType::CashSeized),
    ("network", EventType::NetworkProfiled),
    ("close", EventType::OperationClosed),
    ("retract", EventType::EventRetracted),
];

/// The short name of an event type.
pub fn short_name(event_type: EventType) -> &'static str {
    SHORT_NAMES
        .iter()
        .find(|(_, t)| *t == event_type)
        .map_or("", |(name, _)| name)
}

/// An event type on the command line: its short name or its full name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeArg(pub EventType);

const TYPE_ARGS: [TypeArg; 14] = {
    let mut all = [TypeArg(EventType::OperationLaunched); 14];
    let mut i = 0;
    while i < 14 {
        all[i] = TypeArg(SHORT_NAMES[i].1);
        i += 1;
    }
    all
};

impl ValueEnum for TypeArg {
    fn value_variants<'a>() -> &'a [Self] {
        &TYPE_ARGS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let name = short_name(self.0);
        Some(
            PossibleValue::new(name)
                .alias(self.0.as_str())
                .help(format!("{}: {}", self.0, self.0.about())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_kind_is_mirrored_under_its_own_name() {
        for kind in projections::ReportKind::ALL {
            let arg = ReportKindArg::from(kind);
            let value = arg.to_possible_value().expect("value");
            assert_eq!(value.get_name(), kind.as_str());
            assert_eq!(projections::ReportKind::from(arg), kind);
        }
    }

    #[test]
    fn every_format_is_mirrored_under_its_own_name() {
        for arg in FormatArg::value_variants() {
            let name = arg
                .to_possible_value()
                .expect("value")
                .get_name()
                .to_owned();
            let format: projections::Format = name.parse().expect("projections knows it");
            assert_eq!(projections::Format::from(*arg), format);
            assert_eq!(format.to_string(), name);
        }
    }

    #[test]
    fn every_event_type_has_one_short_name() {
        for &event_type in EventType::ALL {
            let names = SHORT_NAMES.iter().filter(|(_, t)| *t == event_type).count();
            assert_eq!(names, 1, "{event_type}");
        }
    }
}
