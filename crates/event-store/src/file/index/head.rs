//! `head` and `streams`: the small index files, sealed with the derived-data
//! key and bound to the log prefix they cover.
//!
//! `head` is one JSON line, then the id table's per-page entry counts (one
//! byte per page), the whole sealed ([`DerivedKey::seal`]): the covered
//! prefix (position and hash, which the log must still agree with), the
//! store directory's identity, the id table's epoch, pages and entries.
//! `streams` is sealed JSON: each operation's version at the same covered
//! prefix and epoch. An edited byte, a file from another store or another
//! key, or a `streams` from another moment than `head` fails to open; a
//! `head` and `streams` copied back together from an older moment of this
//! store are simply an older consistent state, which the writer catches up
//! from the log.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{DerivedKey, Head, StoreError};

const FORMAT: u32 = 2;
const HEAD_CONTEXT: &str = "index-head";
const STREAMS_CONTEXT: &str = "index-streams";

/// What `head` says.
#[derive(Debug, Clone)]
pub(crate) struct IndexHead {
    pub(crate) covered: Head,
    pub(crate) epoch: [u8; 16],
    pub(crate) pages: u64,
    pub(crate) count: u64,
    pub(crate) counts: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct HeadLine {
    format: u32,
    position: u64,
    hash: String,
    store: String,
    epoch: String,
    pages: u64,
    count: u64,
}

#[derive(Serialize, Deserialize)]
struct StreamsFile {
    position: u64,
    hash: String,
    epoch: String,
    versions: BTreeMap<String, u64>,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex16(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (slot, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        *slot = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// Why `head` could not be used. `Missing` is no cause for a warning.
pub(crate) enum HeadProblem {
    Missing,
    Unusable(String),
}

pub(crate) fn read_head(
    dir: &Path,
    key: &DerivedKey,
    store: &[u8; 16],
) -> Result<IndexHead, HeadProblem> {
    let path = dir.join("head");
    let sealed = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(HeadProblem::Missing)
        }
        Err(error) => return Err(HeadProblem::Unusable(format!("head: {error}"))),
    };
    let unusable = |reason: &str| HeadProblem::Unusable(format!("head: {reason}"));
    let bytes = key
        .open(HEAD_CONTEXT, &sealed)
        .ok_or_else(|| unusable("fails its seal (edited, or not written with this key)"))?;
    let newline = memchr::memchr(b'\n', bytes).ok_or_else(|| unusable("malformed"))?;
    let line: HeadLine =
        serde_json::from_slice(&bytes[..newline]).map_err(|_| unusable("malformed"))?;
    if line.format != FORMAT {
        return Err(unusable("another format"));
    }
    if line.store != hex(store) {
        return Err(unusable("written for another store directory"));
    }
    let counts = bytes[newline + 1..].to_vec();
    if counts.len() as u64 != line.pages {
        return Err(unusable("malformed"));
    }
    Ok(IndexHead {
        covered: Head {
            position: line.position,
            hash: line.hash.parse().map_err(|_| unusable("malformed"))?,
        },
        epoch: unhex16(&line.epoch).ok_or_else(|| unusable("malformed"))?,
        pages: line.pages,
        count: line.count,
        counts,
    })
}

pub(crate) fn encode_head(key: &DerivedKey, store: &[u8; 16], head: &IndexHead) -> Vec<u8> {
    let line = HeadLine {
        format: FORMAT,
        position: head.covered.position,
        hash: head.covered.hash.to_string(),
        store: hex(store),
        epoch: hex(&head.epoch),
        pages: head.pages,
        count: head.count,
    };
    // Serialising plain integers and strings cannot fail.
    let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
    bytes.push(b'\n');
    bytes.extend_from_slice(&head.counts);
    key.seal(HEAD_CONTEXT, &bytes)
}

/// The versions in `streams`, if it is sealed by `key` for exactly this
/// covered prefix and epoch.
pub(crate) fn read_streams(
    dir: &Path,
    key: &DerivedKey,
    covered: Head,
    epoch: &[u8; 16],
) -> Result<BTreeMap<String, u64>, String> {
    let sealed = std::fs::read(dir.join("streams")).map_err(|error| format!("streams: {error}"))?;
    let bytes = key
        .open(STREAMS_CONTEXT, &sealed)
        .ok_or("streams: fails its seal (edited, or not written with this key)")?;
    let streams: StreamsFile =
        serde_json::from_slice(bytes).map_err(|_| "streams: malformed".to_owned())?;
    if streams.position != covered.position
        || streams.hash != covered.hash.to_string()
        || streams.epoch != hex(epoch)
    {
        return Err("streams: written for another moment than head".into());
    }
    Ok(streams.versions)
}

pub(crate) fn encode_streams(
    key: &DerivedKey,
    covered: Head,
    epoch: &[u8; 16],
    versions: BTreeMap<String, u64>,
) -> Result<Vec<u8>, StoreError> {
    let streams = StreamsFile {
        position: covered.position,
        hash: covered.hash.to_string(),
        epoch: hex(epoch),
        versions,
    };
    let bytes = serde_json::to_vec(&streams)
        .map_err(|error| StoreError::Invalid(format!("streams: {error}")))?;
    Ok(key.seal(STREAMS_CONTEXT, &bytes))
}
