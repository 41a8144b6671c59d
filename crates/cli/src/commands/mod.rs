//! One module per command: its arguments (clap) and what it does.

pub mod agency;
pub mod append;
pub mod copy;
pub mod dashboard;
pub mod diff;
pub mod events;
pub mod generate;
pub mod head;
pub mod init;
pub mod report;
pub mod serve;
pub mod trace;
pub mod verify;
