//! Finding the record at a position without any derived file: bisection
//! over a segment's bytes.
//!
//! Every record is one line that starts with `{"position":N`, and positions
//! rise by one per line. So the record at a position can be found like a
//! word in a dictionary: read a little at a byte offset, skip to the next
//! line start, read that record's position, and halve the range. A 64 MiB
//! segment takes about 14 reads of a few KiB instead of reading it whole.
//!
//! What is found is a hint like any index answer: the caller decodes the
//! line at the offset and checks that it is the record asked for (and the
//! hash chain, where it matters). Bytes that do not look like a record (a
//! damaged or non-canonical log) make the bisection give up, and the caller
//! falls back to counting lines.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::StoreError;

use super::segments::{open_read, Segment};

/// Below this many bytes the rest is read in one piece and walked in memory.
const LINEAR_BYTES: u64 = 16 << 10;

/// Bytes read per probe; a record is usually well under this.
const PROBE_BYTES: usize = 4 << 10;

/// Probes aimed by interpolation before plain halving takes over: records
/// are of similar length, so an estimate from the positions at both ends
/// usually lands within a record or two (two or three probes instead of
/// fourteen); halving afterwards bounds the worst case.
const INTERPOLATED_PROBES: u32 = 4;

const PREFIX: &[u8] = b"{\"position\":";

/// The byte offset in `segment` (of committed length `len`) where the record
/// at `position` starts, by interpolation and bisection; `None` when the
/// bytes do not allow it (the caller then counts lines). `end_position` is
/// the position of the first record after the segment's `len` bytes (the
/// next segment's first, or the head's plus one), when the caller knows it:
/// it lets the first probes be aimed rather than halved.
pub(crate) fn seek_position(
    segment: &Segment,
    len: u64,
    position: u64,
    end_position: Option<u64>,
) -> Result<Option<u64>, StoreError> {
    if position < segment.first || end_position.is_some_and(|end| position >= end) {
        return Ok(None);
    }
    if position == segment.first {
        return Ok(Some(0));
    }
    let file = open_read(&segment.path)?;
    let io = |error| StoreError::io(&segment.path, error);
    // `low` is a line start whose record is at or before `position`; no line
    // at or after `high` holds it; the first line at or after `high` holds
    // `high_position`, when known.
    let (mut low, mut low_position, mut high) = (0u64, segment.first, len);
    let mut high_position = end_position;
    let mut probes = 0;
    while high - low > LINEAR_BYTES {
        let middle = match high_position {
            Some(end) if probes < INTERPOLATED_PROBES && end > low_position => {
                let span = u128::from(high - low);
                let records = u128::from(end - low_position);
                let estimate = u128::from(position - low_position) * span / records;
                // Aim half a record early, so that the line found after the
                // probe is the one asked for rather than the next.
                let early = span / records / 2;
                let offset = u64::try_from(estimate.saturating_sub(early)).unwrap_or(0);
                (low + offset).clamp(low + 1, high - 1)
            }
            _ => low + (high - low) / 2,
        };
        probes += 1;
        match line_after(&file, middle, high).map_err(io)? {
            Probe::Unreadable => return Ok(None),
            Probe::NoLine => high = middle,
            Probe::Line {
                start,
                position: found,
            } => {
                if found == position {
                    return Ok(Some(start));
                }
                if found < position {
                    if found <= low_position {
                        return Ok(None);
                    }
                    low = start;
                    low_position = found;
                } else {
                    high = start.max(low + 1);
                    high_position = Some(found);
                }
            }
        }
    }
    // The last stretch, read once and walked in memory: the record is the
    // `position - low_position`-th line after the one at `low`.
    let skip = position - low_position;
    let want = usize::try_from(high - low).unwrap_or(0) + PREFIX.len() + 20;
    let mut buffer = vec![0u8; want];
    let read = read_full(&file, &mut buffer, low).map_err(io)?;
    let bytes = &buffer[..read];
    let mut start = 0usize;
    for _ in 0..skip {
        match memchr::memchr(b'\n', &bytes[start..]) {
            Some(newline) => start += newline + 1,
            None => return Ok(None),
        }
    }
    let found = bytes.get(start..).and_then(head_position);
    Ok((found == Some(position)).then_some(low + start as u64))
}

/// Reads from `offset` until `buffer` is full or the file ends; the bytes
/// read.
fn read_full(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buffer.len() {
        let read = file.read_at(&mut buffer[done..], offset + done as u64)?;
        if read == 0 {
            break;
        }
        done += read;
    }
    Ok(done)
}

enum Probe {
    /// A line starts at `start` (before the end) with this record position.
    Line { start: u64, position: u64 },
    /// No line starts in `from..end`.
    NoLine,
    /// The bytes there are not a record line.
    Unreadable,
}

/// The first line that starts at or after `from` (that is, right after a
/// newline at `from - 1` or later) and before `end`, with its position.
///
/// The line's start is almost always within the bytes read to find the
/// newline before it (a record is well under [`PROBE_BYTES`]), so its
/// position is read from them; a second read is made only for a line that
/// starts too near their end. A report over a store without derived data
/// seeks once per retraction (25,000 at 5M events): the read saved is a
/// third of each probe's system calls.
fn line_after(file: &File, from: u64, end: u64) -> std::io::Result<Probe> {
    let mut buffer = [0u8; PROBE_BYTES];
    let mut at = from.saturating_sub(1);
    // Find the newline that ends the line `from - 1` is in.
    let (start, read, newline) = loop {
        if at >= end {
            return Ok(Probe::NoLine);
        }
        let want = usize::try_from((end - at).min(PROBE_BYTES as u64)).unwrap_or(PROBE_BYTES);
        let read = file.read_at(&mut buffer[..want], at)?;
        if read == 0 {
            return Ok(Probe::NoLine);
        }
        if let Some(newline) = memchr::memchr(b'\n', &buffer[..read]) {
            break (at + newline as u64 + 1, read, newline);
        }
        at += read as u64;
    };
    if start >= end {
        return Ok(Probe::NoLine);
    }
    let mut own = [0u8; HEAD_BYTES];
    let head = match buffer.get(newline + 1..read) {
        Some(head) if head.len() >= HEAD_BYTES => &head[..HEAD_BYTES],
        _ => {
            let read = file.read_at(&mut own, start)?;
            &own[..read]
        }
    };
    Ok(match head_position(head) {
        Some(position) => Probe::Line { start, position },
        None => Probe::Unreadable,
    })
}

/// Bytes that hold a line's `{"position":N` for any u64 `N`.
const HEAD_BYTES: usize = 32;

/// The position a record line starts with, from its first bytes.
fn head_position(head: &[u8]) -> Option<u64> {
    let digits = head.strip_prefix(PREFIX)?;
    let count = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..count]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment_of(lines: &[String]) -> (tempfile::TempDir, Segment, u64) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("00000000000000000005.jsonl");
        let bytes: Vec<u8> = lines
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect();
        std::fs::write(&path, &bytes).expect("write");
        let segment = Segment {
            first: 5,
            name: "00000000000000000005.jsonl".into(),
            path,
        };
        (dir, segment, bytes.len() as u64)
    }

    #[test]
    fn every_position_is_found_at_its_line_start() {
        // Lines of varied length, some longer than a probe.
        let lines: Vec<String> = (5..2_000u64)
            .map(|p| {
                let pad = "x".repeat(((p * 37) % 6_000) as usize);
                format!("{{\"position\":{p},\"pad\":\"{pad}\"}}")
            })
            .collect();
        let (_dir, segment, len) = segment_of(&lines);
        // Halving only, and aimed by interpolation from the end's position;
        // either way a line's start falls anywhere in a probe's bytes,
        // within a position's digits of its end too.
        for end_position in [None, Some(2_000)] {
            let mut offset = 0u64;
            for (i, line) in lines.iter().enumerate() {
                let position = 5 + i as u64;
                assert_eq!(
                    seek_position(&segment, len, position, end_position).expect("seek"),
                    Some(offset),
                    "position {position}, end {end_position:?}"
                );
                offset += line.len() as u64 + 1;
            }
        }
        assert_eq!(
            seek_position(&segment, len, 2_000, None).expect("seek"),
            None
        );
        assert_eq!(seek_position(&segment, len, 4, None).expect("seek"), None);
    }

    #[test]
    fn bytes_that_are_not_records_give_up_instead_of_guessing() {
        let mut lines: Vec<String> = (5..500u64)
            .map(|p| format!("{{\"position\":{p},\"pad\":\"{}\"}}", "y".repeat(100)))
            .collect();
        lines[250] = "garbage".into();
        lines[300] = "{\"position\":12,\"out\":\"of order\"}".into();
        let (_dir, segment, len) = segment_of(&lines);
        for position in [255u64, 305, 400] {
            let found = seek_position(&segment, len, position, None).expect("seek");
            if let Some(offset) = found {
                let bytes = std::fs::read(&segment.path).expect("read");
                let text = String::from_utf8_lossy(&bytes[offset as usize..]);
                assert!(
                    text.starts_with(&format!("{{\"position\":{position},")),
                    "a wrong offset for {position}"
                );
            }
        }
    }
}
