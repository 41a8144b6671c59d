//! `positions`: the byte offset of each record within its segment (u64,
//! little-endian, at index `position - 1`; the segment is found from the
//! segment names).
//!
//! Not authenticated: every answer is a hint that the caller checks against
//! the line it points at (a record with that position), and falls back to
//! the bisection seek (`seek.rs`) when it is wrong. An offset no file can
//! have (random bytes) is a wrong hint like any other.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The offsets, in a file of the derived folder or (for a store that keeps
/// no derived files) in memory.
#[derive(Debug)]
pub(crate) enum Positions {
    File(File),
    Memory(Vec<u64>),
}

impl Positions {
    /// The offset recorded for `position` (1-based), if there is one.
    pub(crate) fn get(&self, position: u64) -> Option<u64> {
        let index = position.checked_sub(1)?;
        match self {
            Positions::File(file) => {
                let mut bytes = [0u8; 8];
                file.read_exact_at(&mut bytes, index.checked_mul(8)?).ok()?;
                Some(u64::from_le_bytes(bytes))
            }
            Positions::Memory(offsets) => offsets.get(usize::try_from(index).ok()?).copied(),
        }
    }

    /// Records the offsets of the records from `first_position` on.
    pub(crate) fn put(&mut self, first_position: u64, offsets: &[u64]) -> io::Result<()> {
        match self {
            Positions::File(file) => {
                let mut bytes = Vec::with_capacity(offsets.len() * 8);
                for offset in offsets {
                    bytes.extend_from_slice(&offset.to_le_bytes());
                }
                file.write_all_at(&bytes, (first_position - 1) * 8)
            }
            Positions::Memory(memory) => {
                let start = usize::try_from(first_position - 1).map_err(io::Error::other)?;
                if memory.len() < start {
                    memory.resize(start, u64::MAX);
                }
                memory.truncate(start);
                memory.extend_from_slice(offsets);
                Ok(())
            }
        }
    }

    /// How many positions the file holds at least (a truncated file covers
    /// less than its head says).
    pub(crate) fn len(&self) -> u64 {
        match self {
            Positions::File(file) => file.metadata().map(|meta| meta.len() / 8).unwrap_or(0),
            Positions::Memory(offsets) => offsets.len() as u64,
        }
    }
}
