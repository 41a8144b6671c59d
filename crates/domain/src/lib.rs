//! The operation model of theseus: value types, the event catalogue and the
//! rules that accept or refuse a new event given an operation's history.
//!
//! This crate is pure: it does no I/O, reads no clock and generates no ids.
//! Time and ids come in from the caller, and `Operation::apply` cannot fail.
//!
//! * [`json`]: strict reading of input JSON, with field paths in every error.
//! * [`Country`], [`Currency`], [`Money`], [`Day`], [`OccurredAt`], [`Slug`],
//!   [`Text`], [`Pseudonym`] and the closed vocabularies ([`Location`],
//!   [`CheckKind`], [`Item`], [`Offence`], [`Exploitation`]): values that are
//!   valid by construction.
//! * [`Event`] and [`EventType`]: the catalogue, read strictly and written
//!   canonically.
//! * [`Operation`]: the state the rules need, [`Operation::decide`] and
//!   [`Operation::apply`].
//! * [`catalogue`]: each event type's fields as data (kind, required), which
//!   the reader, [`schema`] (JSON Schema), CSV import and `theseus record`
//!   share.
//! * [`registry`]: the agencies that may submit over the network, their
//!   grants and what each may append, recorded in the reserved stream
//!   [`REGISTRY_STREAM`].
//! * [`mod@reference`]: a personal reference as stored, in clear or sealed;
//!   [`privacy`]: erasures and consultations, recorded in the reserved
//!   stream [`PRIVACY_STREAM`].

#![forbid(unsafe_code)]

pub mod canonical;
pub mod catalogue;
mod country;
mod currency;
mod event;
pub mod json;
mod money;
mod operation;
pub mod privacy;
mod raw;
pub mod reference;
pub mod registry;
pub mod schema;
pub mod strict;
mod text;
mod time;
mod view;
mod vocabulary;

pub use country::Country;
pub use currency::{Currency, Month};
pub use event::{
    AgentsDeployed, ArrestMade, CashSeized, ChecksPerformed, Count, CountryJoined, DrugsSeized,
    Event, EventRetracted, EventType, ExpertsDeployed, ItemsSeized, MigrantsDetected,
    NetworkProfiled, OperationLaunched, VictimRescued, SCHEMA_VERSION,
};
pub use money::{format_minor_units, Money};
pub use operation::{retracted_ids, Operation, Period, Refusal, RetractionTarget};
pub use privacy::{is_reserved_stream, PRIVACY_SCHEMA_VERSION, PRIVACY_STREAM};
pub use reference::{Reference, SealedReference, SEALED_SCHEMA_VERSION};
pub use registry::{EVIDENCE_STREAM, REGISTRY_STREAM};
pub use text::{is_invisible, Pseudonym, Slug, Text, Token, BIDI_CONTROLS, MAX_TEXT_CHARS};
pub use time::{parse_instant, Day, InstantError, OccurredAt, MAX_FRACTION_DIGITS};
pub use view::{utc_day_of, EventView};
pub use vocabulary::{CheckKind, Exploitation, Item, Location, Offence, OffenceSet};
