//! Finding the committed head, and torn-tail recovery.
//!
//! The committed log ends at the last record carrying `"batch_end":true`.
//! A crash can leave any byte prefix of a batch after it (and possibly an
//! empty new segment): that is a *torn tail*, as long as every complete line
//! in it decodes, continues the positions and chains from the head, and
//! none ends a batch; the partial last line (no newline) may be anything.
//! Anything else after the head is corruption. The same bytes are what a
//! reader sees of a batch a writer is still writing, which is why a torn
//! tail is only warned about when no writer holds the lock.
//!
//! The head is found by reading the last non-empty segment backwards from
//! its end: normally its last line ends a batch and one small read suffices.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::record::{decode_record, record_hash};
use crate::{Hash, Head, StoreError};

use super::segments::{location, open_read, LineReader, Segment, READ_CHUNK};

/// Bytes after the committed head that no commit finished: what a crash
/// mid-append leaves (or, seen by a reader, a batch being written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file holding it.
    pub segment: PathBuf,
    /// Where it starts in that file: the committed end.
    pub offset: u64,
    /// Its length in bytes (0 for an empty segment left by a crash).
    pub len: u64,
    /// How many complete records (newline-terminated lines) it holds.
    pub records: u64,
}

/// The committed log as of one look at the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogView {
    pub(crate) segments: Vec<Segment>,
    /// The segment holding the head (the last committed byte).
    pub(crate) end_segment: usize,
    /// The committed length of `end_segment`.
    pub(crate) end_offset: u64,
    pub(crate) head: Head,
    /// The head record's `recorded_at` as written (`None` for an empty log).
    pub(crate) head_recorded_at: Option<String>,
    pub(crate) torn: Option<TornTail>,
    /// The length of the last segment when looked at.
    pub(crate) last_len: u64,
}

/// The last batch-ending record found in a segment.
struct BatchEnd {
    /// The offset just after its newline.
    end: u64,
    head: Head,
    recorded_at: String,
}

/// Looks at the segments' tails and establishes the committed head.
pub(crate) fn detect(segments: Vec<Segment>) -> Result<LogView, StoreError> {
    let Some(last_index) = segments.len().checked_sub(1) else {
        return Err(StoreError::Corrupt {
            location: "store".into(),
            reason: "no segment".into(),
        });
    };
    let last = &segments[last_index];
    let last_file = open_read(&last.path)?;
    let last_len = file_len(&last_file, &last.path)?;
    let found = last_batch_end(&last_file, last, last_len)?;
    let (end_segment, end_offset, head, head_recorded_at) =
        match found {
            Some(found) => (last_index, found.end, found.head, Some(found.recorded_at)),
            None if last_index == 0 => (0, 0, Head::EMPTY, None),
            None => {
                // The last segment holds no batch end: it was started for a batch
                // that did not finish, and the previous segment must end with one
                // (a batch never spans segments).
                let previous = &segments[last_index - 1];
                let file = open_read(&previous.path)?;
                let len = file_len(&file, &previous.path)?;
                match last_batch_end(&file, previous, len)? {
                    Some(found) if found.end == len => {
                        (last_index - 1, len, found.head, Some(found.recorded_at))
                    }
                    _ => return Err(StoreError::Corrupt {
                        location: previous.name.clone(),
                        reason:
                            "the segment does not end with a complete batch but another follows it"
                                .into(),
                    }),
                }
            }
        };
    let torn = if end_segment == last_index && end_offset == last_len {
        None
    } else {
        let (start, segment_first) = if end_segment == last_index {
            (end_offset, None)
        } else {
            (0, Some(last.first))
        };
        if let Some(first) = segment_first {
            if first != head.position + 1 {
                return Err(StoreError::Corrupt {
                    location: last.name.clone(),
                    reason: format!(
                        "the segment's name says it starts at position {first} but the log ends at position {}",
                        head.position
                    ),
                });
            }
        }
        let records = check_tail(&last_file, last, start, last_len, head)?;
        Some(TornTail {
            segment: last.path.clone(),
            offset: start,
            len: last_len - start,
            records,
        })
    };
    Ok(LogView {
        segments,
        end_segment,
        end_offset,
        head,
        head_recorded_at,
        torn,
        last_len,
    })
}

fn file_len(file: &File, path: &Path) -> Result<u64, StoreError> {
    Ok(file
        .metadata()
        .map_err(|error| StoreError::io(path, error))?
        .len())
}

/// Walks `file[..len]` backwards line by line to the last record that ends
/// a batch. Complete lines after it must decode (else corruption); the
/// bytes after the last newline are ignored.
fn last_batch_end(
    file: &File,
    segment: &Segment,
    len: u64,
) -> Result<Option<BatchEnd>, StoreError> {
    let io_error = |error| StoreError::io(&segment.path, error);
    let mut window = Backward {
        file,
        start: len,
        bytes: Vec::new(),
    };
    let Some(last_newline) = window.newline_before(len).map_err(io_error)? else {
        return Ok(None);
    };
    // The current line is `[line_start, end - 1)`, its newline at `end - 1`.
    let mut end = last_newline + 1;
    loop {
        let line_start = window
            .newline_before(end - 1)
            .map_err(io_error)?
            .map_or(0, |newline| newline + 1);
        let line = window.slice(line_start, end - 1);
        if let Some(found) = batch_end_in(file, segment, line, line_start)? {
            return Ok(Some(BatchEnd { end, ..found }));
        }
        if line_start == 0 {
            return Ok(None);
        }
        end = line_start;
    }
}

/// A window on a file that grows backwards a chunk at a time and forgets
/// what lies after the line being looked at.
struct Backward<'f> {
    file: &'f File,
    /// File offset of `bytes[0]`.
    start: u64,
    bytes: Vec<u8>,
}

impl Backward<'_> {
    const CHUNK: u64 = 64 << 10;

    /// The offset of the last newline in `file[..before]` (`before` must lie
    /// within the window or at its end).
    fn newline_before(&mut self, before: u64) -> std::io::Result<Option<u64>> {
        loop {
            let relative = (before - self.start) as usize;
            if let Some(i) = memchr::memrchr(b'\n', &self.bytes[..relative]) {
                return Ok(Some(self.start + i as u64));
            }
            if self.start == 0 {
                return Ok(None);
            }
            self.bytes.truncate(relative);
            let read_start = self.start.saturating_sub(Self::CHUNK);
            let read_len = (self.start - read_start) as usize;
            let mut grown = vec![0; read_len + relative];
            self.file
                .read_exact_at(&mut grown[..read_len], read_start)?;
            grown[read_len..].copy_from_slice(&self.bytes);
            self.bytes = grown;
            self.start = read_start;
        }
    }

    fn slice(&self, from: u64, to: u64) -> &[u8] {
        &self.bytes[(from - self.start) as usize..(to - self.start) as usize]
    }
}

/// Decodes one complete line found by the backward walk: `Some` if it ends a
/// batch.
fn batch_end_in(
    file: &File,
    segment: &Segment,
    line: &[u8],
    offset: u64,
) -> Result<Option<BatchEnd>, StoreError> {
    match decode_record(line) {
        Ok(record) if record.batch_end => Ok(Some(BatchEnd {
            end: 0,
            head: Head {
                position: record.position,
                hash: record.hash,
            },
            recorded_at: record.recorded_at.to_owned(),
        })),
        Ok(_) => Ok(None),
        Err(reason) => {
            let line_number = line_number_at(file, segment, offset)?;
            Err(StoreError::Corrupt {
                location: location(segment, line_number, segment.first + line_number - 1),
                reason,
            })
        }
    }
}

/// The 1-based number of the line starting at `offset` (counts newlines;
/// only used to report corruption).
pub(crate) fn line_number_at(
    file: &File,
    segment: &Segment,
    offset: u64,
) -> Result<u64, StoreError> {
    let file = file
        .try_clone()
        .map_err(|error| StoreError::io(&segment.path, error))?;
    let mut reader = LineReader::new(file, 0, offset, READ_CHUNK);
    let mut lines = 1;
    while let Some(span) = reader
        .next_line()
        .map_err(|error| StoreError::io(&segment.path, error))?
    {
        if span.complete {
            lines += 1;
        }
    }
    Ok(lines)
}

/// Checks the bytes `file[start..len]` after the head: complete lines must
/// continue the log from `head` without ending a batch. Returns how many
/// complete records there are.
fn check_tail(
    file: &File,
    segment: &Segment,
    start: u64,
    len: u64,
    head: Head,
) -> Result<u64, StoreError> {
    let reader_file = file
        .try_clone()
        .map_err(|error| StoreError::io(&segment.path, error))?;
    let mut reader = LineReader::new(reader_file, start, len, READ_CHUNK);
    let mut previous: Hash = head.hash;
    let mut position = head.position;
    let mut records = 0;
    // Line numbers are only needed to report corruption: counting the
    // newlines before the tail reads the whole segment.
    let corrupt = |reason: String, records: u64, at: u64| -> StoreError {
        match line_number_at(file, segment, start) {
            Ok(first) => StoreError::Corrupt {
                location: location(segment, first + records, at),
                reason: format!("after the last complete batch: {reason}"),
            },
            Err(error) => error,
        }
    };
    while let Some(span) = reader
        .next_line()
        .map_err(|error| StoreError::io(&segment.path, error))?
    {
        if !span.complete {
            break;
        }
        let expected = position + 1;
        let line = reader.bytes(span);
        let record = decode_record(line).map_err(|reason| corrupt(reason, records, expected))?;
        if record.position != expected {
            return Err(corrupt(
                format!("position {} follows {}", record.position, position),
                records,
                record.position,
            ));
        }
        match record_hash(&previous, line) {
            Some((computed, stored)) if computed == stored => previous = stored,
            _ => return Err(corrupt("hash does not chain".into(), records, expected)),
        }
        position = expected;
        records += 1;
    }
    Ok(records)
}
