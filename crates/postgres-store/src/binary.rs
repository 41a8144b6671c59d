//! PostgreSQL's binary `COPY` format, for the rows this store moves in bulk:
//! writing `(position, id, line)` rows into `events`, and reading rows back
//! field by field into one reused buffer (so that a scan allocates nothing
//! per record and holds one row at a time).

use std::io::{self, BufRead};
use std::ops::Range;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// The header of a binary COPY stream: signature, no flags, no extension.
pub(crate) fn write_header(out: &mut Vec<u8>) {
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
}

/// One `events` row: position (int8), id (uuid), line (bytea).
pub(crate) fn write_event_row(out: &mut Vec<u8>, position: i64, id: &[u8; 16], line: &[u8]) {
    out.extend_from_slice(&3i16.to_be_bytes());
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&position.to_be_bytes());
    out.extend_from_slice(&16i32.to_be_bytes());
    out.extend_from_slice(id);
    // A record line is at most a few MiB (input lines are capped at 1 MiB).
    out.extend_from_slice(&(line.len() as i32).to_be_bytes());
    out.extend_from_slice(line);
}

/// The trailer that ends a binary COPY stream.
pub(crate) fn write_trailer(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i16).to_be_bytes());
}

/// Rows of a binary `COPY … TO STDOUT`.
pub(crate) struct RowReader<R> {
    input: R,
    started: bool,
}

impl<R: BufRead> RowReader<R> {
    pub(crate) fn new(input: R) -> RowReader<R> {
        RowReader {
            input,
            started: false,
        }
    }

    /// Reads the next row's fields into `buffer` (cleared first), their
    /// ranges into `fields`; false at the end. A NULL field is an error:
    /// no column this store reads may be NULL.
    pub(crate) fn next_row(
        &mut self,
        buffer: &mut Vec<u8>,
        fields: &mut Vec<Range<usize>>,
    ) -> io::Result<bool> {
        if !self.started {
            let mut header = [0u8; 19];
            self.input.read_exact(&mut header)?;
            if &header[..11] != SIGNATURE {
                return Err(invalid("not a binary COPY stream"));
            }
            let extension = i32::from_be_bytes([header[15], header[16], header[17], header[18]]);
            let mut skip = vec![0u8; usize::try_from(extension).map_err(|_| invalid("header"))?];
            self.input.read_exact(&mut skip)?;
            self.started = true;
        }
        let mut count = [0u8; 2];
        self.input.read_exact(&mut count)?;
        let count = i16::from_be_bytes(count);
        if count == -1 {
            return Ok(false);
        }
        buffer.clear();
        fields.clear();
        for _ in 0..count {
            let mut length = [0u8; 4];
            self.input.read_exact(&mut length)?;
            let length =
                usize::try_from(i32::from_be_bytes(length)).map_err(|_| invalid("a NULL field"))?;
            let start = buffer.len();
            buffer.resize(start + length, 0);
            self.input.read_exact(&mut buffer[start..])?;
            fields.push(start..start + length);
        }
        Ok(true)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("COPY stream: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_are_rows_read() {
        let mut stream = Vec::new();
        write_header(&mut stream);
        write_event_row(&mut stream, 7, &[9; 16], b"{\"a\":1}");
        write_event_row(&mut stream, 8, &[1; 16], b"");
        write_trailer(&mut stream);
        let mut reader = RowReader::new(&stream[..]);
        let (mut buffer, mut fields) = (Vec::new(), Vec::new());
        assert!(reader.next_row(&mut buffer, &mut fields).expect("row"));
        assert_eq!(&buffer[fields[0].clone()], &7i64.to_be_bytes());
        assert_eq!(&buffer[fields[1].clone()], &[9; 16]);
        assert_eq!(&buffer[fields[2].clone()], b"{\"a\":1}");
        assert!(reader.next_row(&mut buffer, &mut fields).expect("row"));
        assert_eq!(fields[2].len(), 0);
        assert!(!reader.next_row(&mut buffer, &mut fields).expect("end"));
    }

    #[test]
    fn a_cut_stream_is_an_error_not_an_end() {
        let mut stream = Vec::new();
        write_header(&mut stream);
        write_event_row(&mut stream, 7, &[9; 16], b"{\"a\":1}");
        let cut = &stream[..stream.len() - 3];
        let mut reader = RowReader::new(cut);
        let (mut buffer, mut fields) = (Vec::new(), Vec::new());
        assert!(reader.next_row(&mut buffer, &mut fields).is_err());
    }
}
