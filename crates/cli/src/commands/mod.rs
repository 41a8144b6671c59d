//! One module per command: its arguments (clap) and what it does.

pub mod agency;
pub mod append;
pub mod completions;
pub mod copy;
pub mod dashboard;
pub mod diff;
pub mod erase;
pub mod events;
pub mod evidence_checks;
pub mod follow;
pub mod generate;
pub mod head;
pub mod import;
pub mod init;
pub mod man;
pub mod record;
pub mod report;
pub mod schema;
pub mod serve;
pub mod sign;
pub mod trace;
pub mod verify;
