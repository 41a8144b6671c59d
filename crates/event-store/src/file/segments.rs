//! Segment files: their names, listing them, and reading their lines in
//! large chunks without per-line allocation.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::record::decode_record;
use crate::{EnvelopeRef, StoreError};

use super::tail::LogView;

/// Chunk size for sequential reads: large enough that syscalls vanish from
/// profiles, small enough not to matter for memory.
pub(crate) const READ_CHUNK: usize = 4 << 20;

/// Chunk size for a replay's sequential reads. Smaller than [`READ_CHUNK`]:
/// the records are decoded and hashed right after the copy out of the page
/// cache, and a buffer that stays in the core's L2 cache makes both the copy
/// and the reading after it cheaper (measured: see `docs/benchmarks.md`).
pub(crate) const REPLAY_CHUNK: usize = 256 << 10;

/// Chunk size for reading a single record.
pub(crate) const SMALL_CHUNK: usize = 16 << 10;

const SUFFIX: &str = ".jsonl";

/// One segment file: the log's records from position `first` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) first: u64,
    pub(crate) name: String,
    pub(crate) path: PathBuf,
}

/// The file name of the segment starting at `first`.
pub(crate) fn segment_name(first: u64) -> String {
    format!("{first:020}{SUFFIX}")
}

/// What a look at the store directory found.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// The segments, in name (= position) order.
    pub(crate) segments: Vec<Segment>,
    /// Names ending in `.jsonl` that are not segment names (`export.jsonl`,
    /// a segment someone renamed): not part of the log, but worth a
    /// warning, since they look like log data.
    pub(crate) strays: Vec<String>,
}

/// The segments of the store in `dir`, in name (= position) order. Only
/// names of the segment pattern ([`parse_segment_name`]) are the log;
/// anything else is ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<Segment>, StoreError> {
    list_dir(dir).map(|listing| listing.segments)
}

/// The segments of the store in `dir`, and the stray `*.jsonl` names.
///
/// A segment-named entry that is not a regular file (a symbolic link, a
/// FIFO, a directory, a device, a socket) is refused as corruption: the
/// log is never read through a link (appends would write into whatever it
/// points to) and never waited on (opening a FIFO blocks until someone
/// writes to it). The type comes from the directory entry, which does not
/// follow links; [`open_read`] and [`open_write`] check again on the open
/// file, for an entry swapped in after this look.
pub(crate) fn list_dir(dir: &Path) -> Result<Listing, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => StoreError::Missing {
            dir: dir.to_path_buf(),
        },
        io::ErrorKind::NotADirectory => StoreError::NotADirectory {
            path: dir.to_path_buf(),
        },
        _ => StoreError::io(dir, error),
    })?;
    let mut listing = Listing::default();
    for entry in entries {
        let entry = entry.map_err(|error| StoreError::io(dir, error))?;
        let file_name = entry.file_name();
        let Some(first) = file_name.to_str().and_then(parse_segment_name) else {
            if is_jsonl(&file_name) {
                listing
                    .strays
                    .push(file_name.to_string_lossy().into_owned());
            }
            continue;
        };
        let name = file_name.to_string_lossy().into_owned();
        let file_type = entry
            .file_type()
            .map_err(|error| StoreError::io(entry.path(), error))?;
        if !file_type.is_file() {
            return Err(not_regular(&name, file_type));
        }
        if first == 0 {
            return Err(StoreError::Corrupt {
                location: name,
                reason:
                    "a segment name gives the position of its first record, which is at least 1"
                        .into(),
            });
        }
        listing.segments.push(Segment {
            first,
            path: dir.join(&name),
            name,
        });
    }
    listing.segments.sort_by_key(|segment| segment.first);
    listing.strays.sort();
    Ok(listing)
}

/// True for any name ending in `.jsonl`, valid UTF-8 or not.
pub(crate) fn is_jsonl(name: &OsStr) -> bool {
    name.as_encoded_bytes().ends_with(SUFFIX.as_bytes())
}

/// The segment pattern: exactly 20 ASCII digits, then `.jsonl`
/// (`00000000000000000001.jsonl`). The digits are the position of the
/// segment's first record (0 is never one; the caller refuses it).
fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The refusal of a segment-named entry that is not a regular file.
fn not_regular(name: &str, file_type: std::fs::FileType) -> StoreError {
    use std::os::unix::fs::FileTypeExt;
    let kind = if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    StoreError::Corrupt {
        location: name.to_owned(),
        reason: format!(
            "has a segment's name but is {kind}: a segment must be a regular file (theseus never follows a link or waits on a pipe in the log)"
        ),
    }
}

/// The index of the segment holding `position` (the last one starting at or
/// before it).
pub(crate) fn segment_for(segments: &[Segment], position: u64) -> Option<usize> {
    segments
        .partition_point(|segment| segment.first <= position)
        .checked_sub(1)
}

/// Opens a segment for reading: never through a symbolic link
/// (`O_NOFOLLOW`), never waiting (`O_NONBLOCK`: opening a FIFO does not
/// block; on a regular file the flag changes nothing), and only if the open
/// file is a regular file (`fstat`), so that an entry swapped in after
/// [`list_dir`] looked is refused too.
pub(crate) fn open_read(path: &Path) -> Result<File, StoreError> {
    open_segment(path, OpenOptions::new().read(true))
}

/// Opens an existing segment for writing, with the checks of
/// [`open_read`] (a FIFO without a reader fails at once with `ENXIO`
/// instead of blocking).
pub(crate) fn open_write(path: &Path) -> Result<File, StoreError> {
    open_segment(path, OpenOptions::new().write(true))
}

fn open_segment(path: &Path, options: &mut OpenOptions) -> Result<File, StoreError> {
    let name = || {
        path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        )
    };
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| {
            // What O_NOFOLLOW answers for a link (ELOOP), or a FIFO opened
            // for writing without a reader (ENXIO): say what the entry is.
            match std::fs::symlink_metadata(path) {
                Ok(metadata) if !metadata.is_file() => not_regular(&name(), metadata.file_type()),
                _ => StoreError::io(path, error),
            }
        })?;
    let file_type = file
        .metadata()
        .map_err(|error| StoreError::io(path, error))?
        .file_type();
    if !file_type.is_file() {
        return Err(not_regular(&name(), file_type));
    }
    Ok(file)
}

/// Where a line sits in the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineSpan {
    /// File offset of the line's first byte.
    pub(crate) offset: u64,
    start: usize,
    end: usize,
    /// False for bytes at the limit that no newline ends.
    pub(crate) complete: bool,
}

/// Reads the lines of `file[offset..limit]` through one reusable buffer.
#[derive(Debug)]
pub(crate) struct LineReader {
    file: File,
    buffer: Vec<u8>,
    /// File offset of `buffer[0]`.
    buffer_offset: u64,
    start: usize,
    end: usize,
    limit: u64,
}

impl LineReader {
    pub(crate) fn new(file: File, offset: u64, limit: u64, chunk: usize) -> LineReader {
        LineReader {
            file,
            buffer: vec![0; chunk],
            buffer_offset: offset,
            start: 0,
            end: 0,
            limit,
        }
    }

    /// The next line (its span, valid until the next call), or `None` at the
    /// limit (or at the end of the file if it is shorter).
    pub(crate) fn next_line(&mut self) -> io::Result<Option<LineSpan>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buffer[self.start..self.end]) {
                let start = self.start;
                self.start += i + 1;
                return Ok(Some(LineSpan {
                    offset: self.buffer_offset + start as u64,
                    start,
                    end: start + i,
                    complete: true,
                }));
            }
            let file_position = self.buffer_offset + self.end as u64;
            if file_position >= self.limit {
                if self.start == self.end {
                    return Ok(None);
                }
                let start = self.start;
                self.start = self.end;
                return Ok(Some(LineSpan {
                    offset: self.buffer_offset + start as u64,
                    start,
                    end: self.end,
                    complete: false,
                }));
            }
            if self.start > 0 {
                self.buffer.copy_within(self.start..self.end, 0);
                self.buffer_offset += self.start as u64;
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buffer.len() {
                // A line longer than the buffer: grow for it alone.
                let grown = self.buffer.len() * 2;
                self.buffer.resize(grown, 0);
            }
            let room = self.buffer.len() - self.end;
            let want = usize::try_from(self.limit - file_position)
                .unwrap_or(usize::MAX)
                .min(room);
            let read = self
                .file
                .read_at(&mut self.buffer[self.end..self.end + want], file_position)?;
            if read == 0 {
                self.limit = file_position;
            }
            self.end += read;
        }
    }

    /// The bytes of a span returned by the last [`LineReader::next_line`].
    pub(crate) fn bytes(&self, span: LineSpan) -> &[u8] {
        &self.buffer[span.start..span.end]
    }
}

/// Reads the one line starting at `offset` (`None` if no newline ends it).
pub(crate) fn read_line_at(path: &Path, offset: u64) -> Result<Option<Vec<u8>>, StoreError> {
    let file = open_read(path)?;
    let mut reader = LineReader::new(file, offset, u64::MAX, SMALL_CHUNK);
    match reader
        .next_line()
        .map_err(|error| StoreError::io(path, error))?
    {
        Some(span) if span.complete => Ok(Some(reader.bytes(span).to_vec())),
        _ => Ok(None),
    }
}

/// `NAME:LINE (position P)`, how corruption is located.
pub(crate) fn location(segment: &Segment, line: u64, position: u64) -> String {
    format!("{}:{line} (position {position})", segment.name)
}

/// A record read by a [`RecordCursor`].
#[derive(Debug)]
pub(crate) struct CursorRecord<'a> {
    pub(crate) record: EnvelopeRef<'a>,
    pub(crate) line: &'a [u8],
    /// Index of the segment in the view.
    pub(crate) segment: usize,
    pub(crate) line_number: u64,
    /// Byte offset of the record within its segment.
    pub(crate) offset: u64,
}

/// Walks the committed records of a view in position order from a given
/// start, checking the structure as it goes: every line decodes, positions
/// run on without gaps, each segment starts at the position its name gives,
/// and no segment other than the last is empty or ends inside a batch.
#[derive(Debug)]
pub(crate) struct RecordCursor<'v> {
    view: &'v LogView,
    segment: usize,
    reader: Option<LineReader>,
    next_position: u64,
    line_number: u64,
    /// Records read from the current segment.
    in_segment: u64,
    last_batch_end: bool,
    chunk: usize,
    done: bool,
}

impl<'v> RecordCursor<'v> {
    /// Starts at the record `position` whose line begins at `offset` of
    /// segment `segment` (the caller located it).
    pub(crate) fn new(
        view: &'v LogView,
        segment: usize,
        offset: u64,
        position: u64,
        chunk: usize,
    ) -> Result<RecordCursor<'v>, StoreError> {
        let mut cursor = RecordCursor {
            view,
            segment,
            reader: None,
            next_position: position,
            line_number: 0,
            in_segment: 0,
            last_batch_end: true,
            chunk,
            done: position > view.head.position,
        };
        if !cursor.done {
            cursor.open_segment(offset)?;
            if let Some(found) = view.segments.get(segment) {
                cursor.line_number = position.saturating_sub(found.first);
            }
        }
        Ok(cursor)
    }

    fn open_segment(&mut self, offset: u64) -> Result<(), StoreError> {
        let segment = &self.view.segments[self.segment];
        let file = open_read(&segment.path)?;
        let limit = if self.segment == self.view.end_segment {
            self.view.end_offset
        } else {
            u64::MAX
        };
        self.reader = Some(LineReader::new(file, offset, limit, self.chunk));
        self.in_segment = 0;
        self.line_number = 0;
        Ok(())
    }

    /// The next record, or `None` after the snapshot's head.
    pub(crate) fn next_record(&mut self) -> Result<Option<CursorRecord<'_>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let span = loop {
            let segment = &self.view.segments[self.segment];
            let Some(reader) = self.reader.as_mut() else {
                return Ok(None);
            };
            let next = reader
                .next_line()
                .map_err(|error| StoreError::io(&segment.path, error))?;
            match next {
                Some(span) if span.complete => break span,
                Some(_) => {
                    return Err(StoreError::Corrupt {
                        location: location(segment, self.line_number + 1, self.next_position),
                        reason: "the segment ends inside a line".into(),
                    });
                }
                None => {
                    if self.segment >= self.view.end_segment {
                        return Err(StoreError::Corrupt {
                            location: location(segment, self.line_number + 1, self.next_position),
                            reason: format!(
                                "the log ends before position {}",
                                self.view.head.position
                            ),
                        });
                    }
                    if self.in_segment == 0 && self.line_number == 0 {
                        return Err(StoreError::Corrupt {
                            location: segment.name.clone(),
                            reason: "empty segment before the last".into(),
                        });
                    }
                    if !self.last_batch_end {
                        return Err(StoreError::Corrupt {
                            location: location(segment, self.line_number, self.next_position - 1),
                            reason: "the segment ends inside a batch".into(),
                        });
                    }
                    self.segment += 1;
                    self.open_segment(0)?;
                }
            }
        };
        let segment_index = self.segment;
        let segment = &self.view.segments[segment_index];
        self.line_number += 1;
        self.in_segment += 1;
        let line_number = self.line_number;
        let expected = self.next_position;
        let Some(reader) = self.reader.as_ref() else {
            return Ok(None);
        };
        let line = reader.bytes(span);
        let record = decode_record(line).map_err(|reason| StoreError::Corrupt {
            location: location(segment, line_number, expected),
            reason,
        })?;
        if line_number == 1 && record.position != segment.first {
            return Err(StoreError::Corrupt {
                location: location(segment, line_number, record.position),
                reason: format!(
                    "the segment's name says it starts at position {} but its first record is position {}",
                    segment.first, record.position
                ),
            });
        }
        if record.position != expected {
            return Err(StoreError::Corrupt {
                location: location(segment, line_number, record.position),
                reason: format!("position {} follows {}", record.position, expected - 1),
            });
        }
        self.last_batch_end = record.batch_end;
        self.next_position += 1;
        if expected >= self.view.head.position {
            self.done = true;
        }
        Ok(Some(CursorRecord {
            record,
            line,
            segment: segment_index,
            line_number,
            offset: span.offset,
        }))
    }
}

#[cfg(test)]
mod tests {
    //! The opens themselves, as a segment swapped in after the listing
    //! would meet them: they must refuse, and never block.

    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo");
        assert!(made.success());
    }

    /// Runs `open` on another thread; a hang fails the test instead of
    /// hanging it.
    fn bounded(path: PathBuf, open: fn(&Path) -> Result<File, StoreError>) -> StoreError {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(open(&path).map(|_| ()));
        });
        match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(Err(error)) => error,
            Ok(Ok(())) => panic!("opened a segment that is not a regular file"),
            Err(_) => panic!("the open blocked"),
        }
    }

    fn reason(error: StoreError) -> String {
        match error {
            StoreError::Corrupt { location, reason } => {
                assert_eq!(location, segment_name(2));
                reason
            }
            other => panic!("not corruption: {other}"),
        }
    }

    #[test]
    fn opening_a_fifo_for_reading_or_writing_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join(segment_name(2));
        mkfifo(&fifo);
        assert!(reason(bounded(fifo.clone(), open_read)).contains("FIFO"));
        assert!(reason(bounded(fifo, open_write)).contains("FIFO"));
    }

    #[test]
    fn opening_through_a_symlink_or_a_directory_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"x\n").expect("target");
        let link = dir.path().join(segment_name(2));
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(reason(bounded(link.clone(), open_read)).contains("symbolic link"));
        assert!(reason(bounded(link.clone(), open_write)).contains("symbolic link"));
        assert_eq!(std::fs::read(&target).expect("target"), b"x\n");
        std::fs::remove_file(&link).expect("remove");
        std::fs::create_dir(&link).expect("mkdir");
        assert!(reason(bounded(link, open_read)).contains("directory"));
    }

    #[test]
    fn only_the_segment_pattern_is_the_log_and_other_jsonl_names_are_strays() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in [
            segment_name(1),
            segment_name(40),
            "export.jsonl".to_owned(),
            "1.jsonl".to_owned(),
            "000000000000000000001.jsonl".to_owned(),
            "0000000000000000000a.jsonl".to_owned(),
            "notes.txt".to_owned(),
            format!("{}.bak", segment_name(1)),
        ] {
            std::fs::write(dir.path().join(name), b"").expect("file");
        }
        std::fs::create_dir(dir.path().join("batches")).expect("mkdir");
        let listing = list_dir(dir.path()).expect("listing");
        let firsts: Vec<u64> = listing.segments.iter().map(|s| s.first).collect();
        assert_eq!(firsts, [1, 40]);
        assert_eq!(
            listing.strays,
            [
                "000000000000000000001.jsonl",
                "0000000000000000000a.jsonl",
                "1.jsonl",
                "export.jsonl"
            ]
        );
        // Position 0 has the pattern's shape but starts no segment.
        std::fs::write(dir.path().join(segment_name(0)), b"").expect("file");
        assert!(matches!(
            list_dir(dir.path()),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_file_given_as_the_store_is_not_a_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("store");
        std::fs::write(&file, b"").expect("file");
        assert!(matches!(
            list_dir(&file),
            Err(StoreError::NotADirectory { .. })
        ));
    }
}
