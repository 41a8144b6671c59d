//! One module per command: its arguments (clap) and what it does.

pub mod append;
pub mod copy;
pub mod diff;
pub mod events;
pub mod generate;
pub mod head;
pub mod init;
pub mod report;
pub mod trace;
pub mod verify;
