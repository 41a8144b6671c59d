//! The per-record checks of `verify`, shared by every backend: each record
//! decodes; it is exactly what the store's encoder writes for its fields
//! (so the rule of what a canonical record is lives in one place); its
//! `data` is JSON; positions run 1, 2, 3…; each operation's versions run
//! 1, 2, 3…; `recorded_at` is canonical and never decreases; the hash
//! chains; no id is used twice; the log ends a batch; and, with
//! `expect_head`, the log still holds that record.

use std::collections::HashMap;

use crate::record::{
    decode_record, encode_content, format_recorded_at, parse_recorded_at, RecordFields,
    HASH_SUFFIX_LEN,
};
use crate::{EnvelopeRef, Hash, Head, StoreError, VerifyReport};

/// What only the record itself decides, whatever comes before it: `data`
/// is JSON, and the record's content is byte for byte what
/// [`crate::encode_record`] writes for its fields. `scratch` is reused
/// between calls (nothing is allocated per record).
pub(crate) fn check_content(
    record: &EnvelopeRef<'_>,
    line: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<(), String> {
    if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(record.data) {
        return Err(format!("data is not valid JSON: {error}"));
    }
    scratch.clear();
    encode_content(
        scratch,
        &RecordFields {
            position: record.position,
            id: record.id,
            operation: &record.operation,
            version: record.version,
            event_type: &record.event_type,
            schema: record.schema,
            recorded_at: record.recorded_at,
            recorded_by: &record.recorded_by,
            reported_at: record.reported_at,
            refers_to: record.refers_to,
            data: record.data,
            batch_end: record.batch_end,
        },
    );
    let content = line.get(..line.len().saturating_sub(HASH_SUFFIX_LEN));
    if content != Some(scratch.as_slice()) {
        let at = content
            .unwrap_or_default()
            .iter()
            .zip(scratch.iter())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| scratch.len().min(content.map_or(0, <[u8]>::len)));
        return Err(format!(
            "the record is not in the form the store writes (it differs at byte {at}: {})",
            String::from_utf8_lossy(&scratch[at.min(scratch.len())..(at + 24).min(scratch.len())])
        ));
    }
    Ok(())
}

/// `recorded_at` must be the text the store writes for its instant (RFC
/// 3339 in UTC with `Z`, fractional seconds only when there are any).
pub(crate) fn check_time_text(text: &str) -> Result<(), String> {
    let canonical = parse_recorded_at(text)
        .map(|instant| format_recorded_at(&instant))
        .map_err(|error| format!("recorded_at {text:?} is not a time: {error}"))?;
    if canonical != text {
        return Err(format!(
            "recorded_at {text:?} is not in the form the store writes ({canonical:?})"
        ));
    }
    Ok(())
}

/// The first id used twice among `(id, position)` pairs, as the reason
/// `verify` gives and the later position. Sorts `ids`.
pub(crate) fn first_duplicate(ids: &mut [(u128, u64)]) -> Option<(u64, String)> {
    ids.sort_unstable();
    ids.windows(2)
        .filter(|pair| pair[0].0 == pair[1].0)
        .map(|pair| {
            (
                pair[1].1,
                format!(
                    "id {} is used twice: at position {} and at position {}",
                    uuid::Uuid::from_u128(pair[0].0),
                    pair[0].1,
                    pair[1].1
                ),
            )
        })
        .min_by_key(|(position, _)| *position)
}

/// Checks records one after another.
#[derive(Debug)]
pub struct LogChecker {
    pub(crate) previous: Hash,
    pub(crate) position: u64,
    pub(crate) versions: HashMap<String, u64>,
    pub(crate) last_time: String,
    pub(crate) last_batch_end: bool,
    /// The hash of the record at `expect_head`'s position, once seen.
    pub(crate) expected_at: Option<(u64, Option<Hash>)>,
    /// Every id with its position, for the uniqueness check at the end (16
    /// bytes an id plus its position: the one part of `verify` that grows
    /// with the log).
    ids: Vec<(u128, u64)>,
    scratch: Vec<u8>,
}

impl LogChecker {
    /// A checker for a log that, with `expect_head`, must hold that record.
    pub fn new(expect_head: Option<(u64, Hash)>) -> LogChecker {
        LogChecker {
            previous: Hash::GENESIS,
            position: 0,
            versions: HashMap::new(),
            last_time: String::new(),
            last_batch_end: true,
            expected_at: expect_head.map(|(position, _)| (position, None)),
            ids: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Checks the next line (without newline); `location` names it given the
    /// position to report.
    pub fn check_line(
        &mut self,
        line: &[u8],
        location: &dyn Fn(u64) -> String,
    ) -> Result<(), StoreError> {
        let expected = self.position + 1;
        let record = decode_record(line).map_err(|reason| StoreError::Corrupt {
            location: location(expected),
            reason,
        })?;
        self.check_record(&record, line, location)
    }

    /// Checks the next record, already decoded from `line` (the file store's
    /// cursor decodes each line once for all its checks).
    pub fn check_record(
        &mut self,
        record: &EnvelopeRef<'_>,
        line: &[u8],
        location: &dyn Fn(u64) -> String,
    ) -> Result<(), StoreError> {
        let expected = self.position + 1;
        let corrupt = |reason: String| StoreError::Corrupt {
            location: location(record.position),
            reason,
        };
        if record.position != expected {
            return Err(corrupt(format!(
                "position {} follows {}",
                record.position, self.position
            )));
        }
        // `decode_record` has checked the `"hash":"…"}` suffix and parsed
        // the stored hash: hash the content before it.
        let content = line
            .len()
            .checked_sub(HASH_SUFFIX_LEN)
            .and_then(|end| line.get(..end));
        match content {
            Some(content) if Hash::chain(&self.previous, content) == record.hash => {}
            _ => return Err(corrupt("hash does not chain".into())),
        }
        check_content(record, line, &mut self.scratch).map_err(corrupt)?;
        match self.versions.get_mut(record.operation.as_ref()) {
            Some(version) => {
                if record.version != *version + 1 {
                    return Err(corrupt(format!(
                        "operation {} version {} follows {}",
                        record.operation, record.version, version
                    )));
                }
                *version = record.version;
            }
            None => {
                if record.version != 1 {
                    return Err(corrupt(format!(
                        "operation {} starts at version {}",
                        record.operation, record.version
                    )));
                }
                self.versions
                    .insert(record.operation.clone().into_owned(), 1);
            }
        }
        if record.recorded_at != self.last_time {
            check_time_text(record.recorded_at).map_err(corrupt)?;
            if !self.last_time.is_empty()
                && compare_times(record.recorded_at, &self.last_time)? == std::cmp::Ordering::Less
            {
                return Err(corrupt(format!(
                    "recorded_at {} is before the previous record's {}",
                    record.recorded_at, self.last_time
                )));
            }
            self.last_time.clear();
            self.last_time.push_str(record.recorded_at);
        }
        if let Some((position, found)) = &mut self.expected_at {
            if *position == record.position {
                *found = Some(record.hash);
            }
        }
        self.ids.push((record.id.as_u128(), record.position));
        self.previous = record.hash;
        self.position = record.position;
        self.last_batch_end = record.batch_end;
        Ok(())
    }

    /// The report, after checking that the log ends a batch and, with
    /// `expect_head`, still holds that record with that hash.
    pub fn finish(
        &mut self,
        segments: u64,
        expect_head: Option<(u64, Hash)>,
    ) -> Result<VerifyReport, StoreError> {
        if let Some((position, reason)) = first_duplicate(&mut self.ids) {
            return Err(StoreError::Corrupt {
                location: format!("position {position}"),
                reason,
            });
        }
        self.ids = Vec::new();
        if !self.last_batch_end {
            return Err(StoreError::Corrupt {
                location: format!("position {}", self.position),
                reason: "the last record does not end a batch".into(),
            });
        }
        if let Some((position, hash)) = expect_head {
            let mismatch = |found: String| StoreError::HeadMismatch {
                expected_position: position,
                expected_hash: hash.to_string(),
                found,
            };
            if position > self.position {
                return Err(mismatch(format!(
                    "the log ends at position {}",
                    self.position
                )));
            }
            if position == 0 {
                if hash != Hash::GENESIS {
                    return Err(mismatch(format!("position 0 has hash {}", Hash::GENESIS)));
                }
            } else {
                match self.expected_at {
                    Some((watched, Some(found))) if watched == position => {
                        if found != hash {
                            return Err(mismatch(format!("position {position} has hash {found}")));
                        }
                    }
                    _ => return Err(mismatch(format!("position {position} was not checked"))),
                }
            }
        }
        Ok(VerifyReport {
            records: self.position,
            segments,
            head: Head {
                position: self.position,
                hash: self.previous,
            },
        })
    }
}

/// Orders two `recorded_at` texts. The canonical form
/// (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`) is compared without parsing; anything
/// else goes through chrono.
pub(crate) fn compare_times(a: &str, b: &str) -> Result<std::cmp::Ordering, StoreError> {
    match (canonical_time(a), canonical_time(b)) {
        (Some((a_seconds, a_nanos)), Some((b_seconds, b_nanos))) => {
            Ok(a_seconds.cmp(b_seconds).then(a_nanos.cmp(&b_nanos)))
        }
        _ => Ok(parse_recorded_at(a)?.cmp(&parse_recorded_at(b)?)),
    }
}

/// The seconds part (comparable as bytes) and the nanoseconds of a canonical
/// time.
fn canonical_time(text: &str) -> Option<(&[u8], u32)> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes.last() != Some(&b'Z') {
        return None;
    }
    let shape = b"0000-00-00T00:00:00";
    for (byte, pattern) in bytes[..19].iter().zip(shape) {
        let ok = if *pattern == b'0' {
            byte.is_ascii_digit()
        } else {
            byte == pattern
        };
        if !ok {
            return None;
        }
    }
    let rest = &bytes[19..bytes.len() - 1];
    let nanos = match rest {
        [] => 0,
        [b'.', digits @ ..] if !digits.is_empty() && digits.len() <= 9 => {
            let mut value = 0u32;
            for digit in digits {
                if !digit.is_ascii_digit() {
                    return None;
                }
                value = value * 10 + u32::from(digit - b'0');
            }
            value * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    Some((&bytes[..19], nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn canonical_times_compare_like_instants() -> Result<(), StoreError> {
        let cases = [
            (
                "2019-12-09T06:00:00Z",
                "2019-12-09T06:00:00.5Z",
                Ordering::Less,
            ),
            (
                "2019-12-09T06:00:00.5Z",
                "2019-12-09T06:00:00.25Z",
                Ordering::Greater,
            ),
            (
                "2019-12-09T06:00:01Z",
                "2019-12-09T06:00:00.999999999Z",
                Ordering::Greater,
            ),
            (
                "2019-12-09T06:00:00.100Z",
                "2019-12-09T06:00:00.1Z",
                Ordering::Equal,
            ),
            (
                "2020-01-01T00:00:00Z",
                "2019-12-31T23:59:59Z",
                Ordering::Greater,
            ),
        ];
        for (a, b, expected) in cases {
            assert_eq!(compare_times(a, b)?, expected, "{a} vs {b}");
        }
        Ok(())
    }
}
