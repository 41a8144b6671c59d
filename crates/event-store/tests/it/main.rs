//! Integration tests of the event store: the real file store in temporary
//! directories, and the memory store held to the same behaviour.

mod corruption;
mod file_store;
mod helpers;
mod indexes;
mod memory_store;
mod model;
mod torn_tail;
