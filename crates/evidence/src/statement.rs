//! What theseus signs. A batch statement, signed by the submitting agency:
//!
//! ```text
//! theseus batch v1
//! agency rs-police
//! operations op-theseus op-other
//! lines 12
//! sha256 <hex of SHA-256 of the batch's exact bytes>
//! records <hex of the records digest (RecordsDigest) of its lines>
//! ```
//!
//! and a head statement, signed by the ledger (a receipt, or a head
//! published with a report):
//!
//! ```text
//! theseus head v1
//! position 123
//! hash <hex of the record's chain hash>
//! time 2026-12-01T12:00:00Z
//! ```
//!
//! Lines come in this order, once each; operations are sorted and
//! distinct.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::{hex, parse_hex, EvidenceError};

pub const BATCH_V1: &str = "theseus batch v1";
pub const HEAD_V1: &str = "theseus head v1";

fn malformed(line: usize, message: impl Into<String>) -> EvidenceError {
    EvidenceError::Malformed {
        line,
        message: message.into(),
    }
}

/// Reads `key value` lines in the order of `keys` after the first line
/// `kind`.
fn fields<'a>(body: &'a str, kind: &str, keys: &[&str]) -> Result<Vec<&'a str>, EvidenceError> {
    let mut lines = body.lines();
    match lines.next() {
        Some(first) if first == kind => {}
        Some(first) => {
            return Err(malformed(
                1,
                format!("{first:?} is not {kind:?} (the statement's kind and version)"),
            ))
        }
        None => return Err(malformed(1, "empty")),
    }
    let mut values = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let number = i + 2;
        let line = lines
            .next()
            .ok_or_else(|| malformed(number, format!("missing: expected \"{key} …\"")))?;
        let value = line
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| malformed(number, format!("{line:?}: expected \"{key} …\"")))?;
        values.push(value);
    }
    if lines.next().is_some() {
        return Err(malformed(
            keys.len() + 2,
            "a line after the statement's last",
        ));
    }
    Ok(values)
}

fn digest_field(line: usize, key: &str, text: &str) -> Result<[u8; 32], EvidenceError> {
    parse_hex::<32>(text).ok_or_else(|| {
        malformed(
            line,
            format!("{key}: not a SHA-256 digest (64 lower-case hex digits)"),
        )
    })
}

/// A signed batch's facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchStatement {
    pub agency: String,
    pub operations: BTreeSet<String>,
    pub lines: u64,
    /// SHA-256 of the batch's exact bytes.
    pub sha256: [u8; 32],
    /// [`RecordsDigest`] of its lines as the ledger records them.
    pub records: [u8; 32],
}

impl BatchStatement {
    pub fn body(&self) -> String {
        let operations: Vec<&str> = self.operations.iter().map(String::as_str).collect();
        format!(
            "{BATCH_V1}\nagency {}\noperations {}\nlines {}\nsha256 {}\nrecords {}\n",
            self.agency,
            operations.join(" "),
            self.lines,
            hex(&self.sha256),
            hex(&self.records)
        )
    }

    pub fn parse(body: &str) -> Result<BatchStatement, EvidenceError> {
        let values = fields(
            body,
            BATCH_V1,
            &["agency", "operations", "lines", "sha256", "records"],
        )?;
        let agency = values[0];
        if agency.is_empty() || agency.contains(' ') {
            return Err(malformed(2, "agency: one id"));
        }
        let mut operations = BTreeSet::new();
        let mut previous: Option<&str> = None;
        for operation in values[1].split(' ') {
            if operation.is_empty() || previous.is_some_and(|p| p >= operation) {
                return Err(malformed(
                    3,
                    "operations: names sorted, distinct, one space apart",
                ));
            }
            previous = Some(operation);
            operations.insert(operation.to_owned());
        }
        let lines = values[2]
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0 && values[2] == n.to_string())
            .ok_or_else(|| malformed(4, "lines: a whole number, at least 1"))?;
        Ok(BatchStatement {
            agency: agency.to_owned(),
            operations,
            lines,
            sha256: digest_field(5, "sha256", values[3])?,
            records: digest_field(6, "records", values[4])?,
        })
    }

    /// The first fact in which `other` (what the ledger found) differs.
    pub fn difference(&self, found: &BatchStatement) -> Option<String> {
        if self.agency != found.agency {
            return Some(format!(
                "the statement is agency {}'s, the batch is submitted by {}",
                self.agency, found.agency
            ));
        }
        if self.lines != found.lines {
            return Some(format!(
                "the statement says {} lines, the batch has {}",
                self.lines, found.lines
            ));
        }
        if self.sha256 != found.sha256 {
            return Some(
                "the batch's SHA-256 is not the statement's: the bytes were changed after signing"
                    .into(),
            );
        }
        if self.operations != found.operations {
            return Some("the batch's operations are not the statement's".into());
        }
        if self.records != found.records {
            return Some("the batch's records are not the ones signed".into());
        }
        None
    }
}

/// A head of the log, signed by the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadStatement {
    pub position: u64,
    pub hash: [u8; 32],
    /// When it was signed (RFC 3339, UTC).
    pub time: String,
}

impl HeadStatement {
    pub fn body(&self) -> String {
        format!(
            "{HEAD_V1}\nposition {}\nhash {}\ntime {}\n",
            self.position,
            hex(&self.hash),
            self.time
        )
    }

    pub fn parse(body: &str) -> Result<HeadStatement, EvidenceError> {
        let values = fields(body, HEAD_V1, &["position", "hash", "time"])?;
        let position = values[0]
            .parse::<u64>()
            .ok()
            .filter(|n| values[0] == n.to_string())
            .ok_or_else(|| malformed(2, "position: a whole number"))?;
        let time = values[2];
        if time.is_empty() || time.contains(' ') {
            return Err(malformed(4, "time: one RFC 3339 instant"));
        }
        Ok(HeadStatement {
            position,
            hash: digest_field(3, "hash", values[1])?,
            time: time.to_owned(),
        })
    }
}

/// The digest of a batch's records as a verifier can recompute them from
/// the log: SHA-256 over one JSON line per record, in order,
///
/// ```text
/// {"id":…,"operation":…,"type":…,"recorded_by":…,"reported_at":…,"data":<public data>}\n
/// ```
///
/// with `reported_at` left out when absent and `data` the event's public
/// data (its canonical data without personal references), so that the
/// digest survives the erasure of a reference.
#[derive(Clone, Debug, Default)]
pub struct RecordsDigest {
    hasher: Sha256,
    count: u64,
}

impl RecordsDigest {
    pub fn new() -> RecordsDigest {
        RecordsDigest::default()
    }

    /// Adds one record. `public_data` is JSON text, written as is.
    pub fn add(
        &mut self,
        id: &str,
        operation: &str,
        event_type: &str,
        recorded_by: &str,
        reported_at: Option<&str>,
        public_data: &str,
    ) {
        let text = |value: &str| serde_json::to_string(value).unwrap_or_default();
        let reported = reported_at
            .map(|at| format!(",\"reported_at\":{}", text(at)))
            .unwrap_or_default();
        let line = format!(
            "{{\"id\":{},\"operation\":{},\"type\":{},\"recorded_by\":{}{reported},\"data\":{public_data}}}\n",
            text(id),
            text(operation),
            text(event_type),
            text(recorded_by)
        );
        self.hasher.update(line.as_bytes());
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn finish(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_round_trip_and_are_read_strictly() {
        let batch = BatchStatement {
            agency: "rs-police".into(),
            operations: ["b-op".to_owned(), "a-op".to_owned()].into_iter().collect(),
            lines: 12,
            sha256: [0xab; 32],
            records: [0xcd; 32],
        };
        let body = batch.body();
        assert!(body.contains("\noperations a-op b-op\n"));
        assert_eq!(BatchStatement::parse(&body).expect("batch"), batch);
        for (from, to) in [
            ("theseus batch v1", "theseus batch v2"),
            ("lines 12", "lines 012"),
            ("lines 12", "lines 0"),
            ("a-op b-op", "b-op a-op"),
            ("agency rs-police\n", ""),
        ] {
            assert!(
                BatchStatement::parse(&body.replace(from, to)).is_err(),
                "{to}"
            );
        }
        assert!(BatchStatement::parse(&format!("{body}extra 1\n")).is_err());
        let head = HeadStatement {
            position: 7,
            hash: [1; 32],
            time: "2026-12-01T12:00:00Z".into(),
        };
        assert_eq!(HeadStatement::parse(&head.body()).expect("head"), head);
    }

    #[test]
    fn the_records_digest_changes_with_any_field_and_with_order() {
        let digest = |records: &[[&str; 6]]| {
            let mut d = RecordsDigest::new();
            for r in records {
                let reported = (!r[4].is_empty()).then_some(r[4]);
                d.add(r[0], r[1], r[2], r[3], reported, r[5]);
            }
            d.finish()
        };
        let a = ["id-1", "op", "ArrestMade", "rs", "", "{\"count\":1}"];
        let b = ["id-2", "op", "ArrestMade", "rs", "", "{\"count\":2}"];
        let base = digest(&[a, b]);
        assert_ne!(base, digest(&[b, a]));
        for field in 0..6 {
            let mut changed = a;
            changed[field] = "x";
            assert_ne!(base, digest(&[changed, b]), "field {field}");
        }
    }
}
