//! `verify`: reading the whole log and checking every invariant it promises.
//!
//! The checks per record (in [`LogChecker`], shared by every backend):
//! the line decodes; it is exactly what the store's encoder writes for its
//! fields; its `data` is JSON; positions run 1, 2, 3…; each operation's
//! versions run 1, 2, 3…; `recorded_at` is canonical and never decreases;
//! the hash chains; no id is used twice. The file store adds the
//! structural checks of [`super::segments::RecordCursor`]: segment names
//! match their first records, only the last segment may be empty, a batch
//! never spans segments. Hashing dominates the cost, so nothing is
//! allocated per line (the per-operation map only allocates for a new
//! operation) except the ids kept for the uniqueness check: 16 bytes an id
//! (80 MB at 5M records), sorted in parallel in buckets at the end.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::check::LogChecker;
use crate::{EnvelopeRef, Hash, StoreError, VerifyReport};

use super::segments::{location, RecordCursor, READ_CHUNK};
use super::tail::LogView;
use super::VerifySplit;

/// Verifies the committed log of `view`: in parallel when the log is large
/// and there are cores to share the hashing; sequentially (and so with the
/// exact first error) otherwise or whenever the parallel pass finds
/// anything wrong.
///
/// `progress`, when given, counts the records checked so far (for a progress
/// line); a parallel pass that finds a fault is followed by a sequential one,
/// so the count can pass the number of records.
pub(crate) fn verify(
    view: &LogView,
    expect_head: Option<(u64, Hash)>,
    progress: Option<&AtomicU64>,
    split: Option<VerifySplit>,
) -> Result<VerifyReport, StoreError> {
    if let Some(report) = parallel::verify::<Nothing>(view, expect_head, progress, split, None)? {
        return Ok(report);
    }
    verify_sequentially(view, expect_head, progress)
}

/// Work a caller does on every record while the store's parallel pass reads
/// it ([`crate::FileStore::verify_visited`]), so that an audit of what the
/// records say needs no read of the log of its own: the store cannot know
/// the domain, its caller (the ledger's audit) can.
///
/// Each unit of the pass gets a [`Visitor::Part`], filled on a worker
/// thread by [`Visitor::visit`] with the unit's records in order (decoded,
/// not yet known to be valid); the parts of valid units are handed to the
/// caller in position order, on the calling thread, while later units are
/// read (a bounded window of units in flight, so memory does not grow with
/// the log).
pub trait Visitor: Sync {
    /// What a worker makes of one unit's records (consecutive positions).
    type Part: Send;

    /// An empty part, for a new unit.
    fn part(&self) -> Self::Part;

    /// Adds one record, the next of the unit, to `part`.
    fn visit(&self, part: &mut Self::Part, record: &EnvelopeRef<'_>);
}

/// What the store's pass did for a [`Visitor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visited {
    /// Every record `1..=head` was visited and handed over, in order.
    All,
    /// The parts handed over (if any) do not cover the log: the pass was
    /// sequential (a small log, one core, or a fault to name), and the
    /// caller must read the log itself.
    NotAll,
}

/// [`verify`] with `visitor` called on every record of the parallel pass,
/// and `take` given the parts in order. With [`Visited::NotAll`], `take`
/// may have been given some parts, but not all.
pub(crate) fn verify_visited<V: Visitor>(
    view: &LogView,
    expect_head: Option<(u64, Hash)>,
    progress: Option<&AtomicU64>,
    split: Option<VerifySplit>,
    visitor: &V,
    take: &mut dyn FnMut(V::Part),
) -> Result<(VerifyReport, Visited), StoreError> {
    if let Some(report) =
        parallel::verify(view, expect_head, progress, split, Some((visitor, take)))?
    {
        return Ok((report, Visited::All));
    }
    Ok((
        verify_sequentially(view, expect_head, progress)?,
        Visited::NotAll,
    ))
}

/// The visitor of a pass that visits nothing.
struct Nothing;

impl Visitor for Nothing {
    type Part = ();
    fn part(&self) {}
    fn visit(&self, _part: &mut (), _record: &EnvelopeRef<'_>) {}
}

/// Records are added to a progress counter in steps of this many.
const PROGRESS_STEP: u64 = 1 << 14;

fn verify_sequentially(
    view: &LogView,
    expect_head: Option<(u64, Hash)>,
    progress: Option<&AtomicU64>,
) -> Result<VerifyReport, StoreError> {
    let mut checker = LogChecker::new(expect_head);
    if view.head.position > 0 {
        let mut cursor = RecordCursor::new(view, 0, 0, 1, READ_CHUNK)?;
        let mut uncounted = 0;
        while let Some(found) = cursor.next_record()? {
            uncounted += 1;
            if uncounted == PROGRESS_STEP {
                if let Some(progress) = progress {
                    progress.fetch_add(uncounted, Ordering::Relaxed);
                }
                uncounted = 0;
            }
            let segment = &view.segments[found.segment];
            let line_number = found.line_number;
            checker.check_record(&found.record, found.line, &|position| {
                location(segment, line_number, position)
            })?;
        }
    } else if let Some(first) = view.segments.first() {
        if first.first != 1 {
            return Err(StoreError::Corrupt {
                location: first.name.clone(),
                reason: "the first segment must start at position 1".into(),
            });
        }
    }
    // The segments holding committed records (not one holding only a torn
    // tail).
    checker.finish(view.end_segment as u64 + 1, expect_head)
}

/// The parallel pass: the committed bytes are cut into units of a few
/// megabytes (at line boundaries), each checked on its own by a worker
/// thread (decoding, hashing, continuity within the unit), then the units'
/// summaries are joined in order (continuity across units and segments).
/// Every record's hash is still checked against its predecessor's: a unit's
/// first line is chained to the previous unit's last hash while joining.
mod parallel {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::{mpsc, Condvar, Mutex};

    use super::{VerifySplit, Visitor};

    use crate::check::{check_content_read, check_time_text, compare_times, LogChecker};
    use crate::file::segments::{open_read, LineReader, READ_CHUNK};
    use crate::file::tail::LogView;
    use crate::record::{decode_record_layout, HASH_SUFFIX_LEN};
    use crate::{Hash, StoreError, VerifyReport};

    /// Below this many records the sequential pass is fast enough.
    const MIN_RECORDS: u64 = 100_000;
    const UNIT_BYTES: u64 = 16 << 20;
    /// With a visitor, whose parts of the units in flight are held in
    /// memory until they are taken in order: a smaller unit.
    const VISITED_UNIT_BYTES: u64 = 4 << 20;
    /// Units read ahead of the one to be taken next, at most, per thread.
    const WINDOW_PER_THREAD: usize = 2;
    const MAX_THREADS: usize = 16;

    /// A visitor and what takes its parts in order.
    pub(super) type Visiting<'a, V> = (&'a V, &'a mut dyn FnMut(<V as Visitor>::Part));

    #[derive(Debug)]
    struct Unit {
        segment: usize,
        start: u64,
        end: u64,
        /// The committed length of the segment.
        limit: u64,
    }

    /// What a unit holds, for joining. Built only when everything inside
    /// the unit checked out.
    #[derive(Debug)]
    struct Summary {
        records: u64,
        first_position: u64,
        last_position: u64,
        /// The first record's content (the bytes its hash covers besides the
        /// previous hash) and stored hash.
        first_content: Vec<u8>,
        first_hash: Hash,
        last_hash: Hash,
        first_time: String,
        last_time: String,
        /// Per operation: the first and last version seen in the unit.
        versions: HashMap<String, (u64, u64)>,
        last_batch_end: bool,
        watched: Option<Hash>,
        /// The unit ends inside a line (only possible at a segment's end).
        partial_end: bool,
        /// The unit's ids, in [`ID_BUCKETS`] buckets by their low bits
        /// (random in every UUID version), for the uniqueness check.
        ids: Vec<Vec<u128>>,
    }

    /// Ids are checked for uniqueness bucket by bucket, in parallel.
    const ID_BUCKETS: usize = 16;

    /// `None` when the sequential pass must run (small log, one core, or
    /// something to report).
    pub(super) fn verify<V: Visitor>(
        view: &LogView,
        expect_head: Option<(u64, Hash)>,
        progress: Option<&AtomicU64>,
        split: Option<VerifySplit>,
        visiting: Option<Visiting<'_, V>>,
    ) -> Result<Option<VerifyReport>, StoreError> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(MAX_THREADS);
        let from_records = split.map_or(MIN_RECORDS, |split| split.from_records);
        if view.head.position < from_records {
            return Ok(None);
        }
        let unit_bytes = match (split, visiting.is_some()) {
            (Some(split), _) => split.unit_bytes.max(1),
            (None, true) => VISITED_UNIT_BYTES,
            (None, false) => UNIT_BYTES,
        };
        verify_with(view, expect_head, threads, unit_bytes, progress, visiting)
    }

    /// The parallel pass with `threads` workers and units of `unit_bytes`.
    pub(super) fn verify_with<V: Visitor>(
        view: &LogView,
        expect_head: Option<(u64, Hash)>,
        threads: usize,
        unit_bytes: u64,
        progress: Option<&AtomicU64>,
        visiting: Option<Visiting<'_, V>>,
    ) -> Result<Option<VerifyReport>, StoreError> {
        if threads < 2 {
            return Ok(None);
        }
        let mut units = Vec::new();
        for (index, segment) in view.segments[..=view.end_segment].iter().enumerate() {
            let limit = if index == view.end_segment {
                view.end_offset
            } else {
                std::fs::metadata(&segment.path)
                    .map_err(|error| StoreError::io(&segment.path, error))?
                    .len()
            };
            let mut start = 0;
            loop {
                let end = (start + unit_bytes).min(limit);
                units.push(Unit {
                    segment: index,
                    start,
                    end,
                    limit,
                });
                if end >= limit {
                    break;
                }
                start = end;
            }
        }
        let watch = expect_head.map(|(position, _)| position);
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Mutex<Vec<Option<Summary>>> =
            Mutex::new((0..units.len()).map(|_| None).collect());
        let (visitor, mut take) = match visiting {
            Some((visitor, take)) => (Some(visitor), Some(take)),
            None => (None, None),
        };
        // With a visitor, the parts are taken in unit order: workers wait
        // while they are a window ahead of the next unit to take (the
        // count of units taken, under the lock, with `failed`).
        let window = threads * WINDOW_PER_THREAD;
        let taken = (Mutex::new(0usize), Condvar::new());
        let stop = || {
            let (lock, ready) = &taken;
            if let Ok(_guard) = lock.lock() {
                failed.store(true, Ordering::Relaxed);
            }
            failed.store(true, Ordering::Relaxed);
            ready.notify_all();
        };
        let (sender, receiver) = mpsc::channel::<(usize, V::Part)>();
        std::thread::scope(|scope| {
            for _ in 0..threads.min(units.len()) {
                let sender = sender.clone();
                let (next, failed, results, taken, stop) =
                    (&next, &failed, &results, &taken, &stop);
                let units = &units;
                scope.spawn(move || loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= units.len() || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    if visitor.is_some() {
                        let (lock, ready) = taken;
                        let Ok(mut done) = lock.lock() else {
                            stop();
                            break;
                        };
                        while index >= *done + window && !failed.load(Ordering::Relaxed) {
                            let Ok(later) = ready.wait(done) else {
                                return;
                            };
                            done = later;
                        }
                        if failed.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    let mut part = visitor.map(|visitor| (visitor, visitor.part()));
                    match check_unit(view, &units[index], watch, part.as_mut()) {
                        Some(summary) => {
                            if let Some(progress) = progress {
                                progress.fetch_add(summary.records, Ordering::Relaxed);
                            }
                            if let Ok(mut results) = results.lock() {
                                results[index] = Some(summary);
                            }
                            if let Some((_, part)) = part {
                                if sender.send((index, part)).is_err() {
                                    stop();
                                    break;
                                }
                            }
                        }
                        None => {
                            stop();
                            break;
                        }
                    }
                });
            }
            drop(sender);
            let Some(take) = take.as_mut() else { return };
            // Taken in order as they come; a unit that fails stops the
            // workers, and the channel closes when the last one ends.
            let mut pending = BTreeMap::new();
            let mut next_taken = 0;
            while next_taken < units.len() {
                let Ok((index, part)) = receiver.recv() else {
                    break;
                };
                pending.insert(index, part);
                while let Some(part) = pending.remove(&next_taken) {
                    take(part);
                    next_taken += 1;
                    let (lock, ready) = &taken;
                    if let Ok(mut done) = lock.lock() {
                        *done = next_taken;
                    }
                    ready.notify_all();
                }
            }
            if next_taken < units.len() {
                stop();
            }
        });
        if failed.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let Ok(results) = results.into_inner() else {
            return Ok(None);
        };
        let mut summaries = Vec::with_capacity(results.len());
        for result in results {
            let Some(summary) = result else {
                return Ok(None);
            };
            summaries.push(summary);
        }
        Ok(join(view, &units, summaries, expect_head, threads))
    }

    /// Checks one unit; `None` if anything is wrong in it. Each record is
    /// also given to the visitor's part, when there is one.
    fn check_unit<V: Visitor>(
        view: &LogView,
        unit: &Unit,
        watch: Option<u64>,
        mut visiting: Option<&mut (&V, V::Part)>,
    ) -> Option<Summary> {
        let segment = &view.segments[unit.segment];
        let file = open_read(&segment.path).ok()?;
        // Start one byte early: the first "line" read ends at the first
        // newline at or after `start - 1`, so the next one starts the unit.
        let from = unit.start.saturating_sub(1);
        let chunk = usize::try_from((unit.end - unit.start).saturating_mul(2))
            .unwrap_or(READ_CHUNK)
            .clamp(4096, READ_CHUNK);
        let mut reader = LineReader::new(file, from, unit.limit, chunk);
        if unit.start > 0 {
            reader.next_line().ok()??;
        }
        let mut summary = Summary {
            records: 0,
            first_position: 0,
            last_position: 0,
            first_content: Vec::new(),
            first_hash: Hash::GENESIS,
            last_hash: Hash::GENESIS,
            first_time: String::new(),
            last_time: String::new(),
            versions: HashMap::new(),
            last_batch_end: false,
            watched: None,
            partial_end: false,
            ids: (0..ID_BUCKETS).map(|_| Vec::new()).collect(),
        };
        let mut previous = Hash::GENESIS;
        let mut scratch = Vec::new();
        while let Some(span) = reader.next_line().ok()? {
            if span.offset >= unit.end {
                break;
            }
            if !span.complete {
                summary.partial_end = true;
                break;
            }
            let line = reader.bytes(span);
            let (record, positional) = decode_record_layout(line).ok()?;
            let content = line.get(..line.len().checked_sub(HASH_SUFFIX_LEN)?)?;
            check_content_read(&record, line, positional, &mut scratch).ok()?;
            let id = record.id.as_u128();
            summary.ids[id as usize % ID_BUCKETS].push(id);
            if summary.records == 0 {
                check_time_text(record.recorded_at).ok()?;
                summary.first_position = record.position;
                summary.first_content = content.to_vec();
                summary.first_hash = record.hash;
                summary.first_time = record.recorded_at.to_owned();
                summary.last_time = record.recorded_at.to_owned();
            } else {
                if record.position != summary.last_position + 1
                    || Hash::chain(&previous, content) != record.hash
                {
                    return None;
                }
                if record.recorded_at != summary.last_time {
                    check_time_text(record.recorded_at).ok()?;
                    if compare_times(record.recorded_at, &summary.last_time).ok()?
                        == std::cmp::Ordering::Less
                    {
                        return None;
                    }
                    summary.last_time.clear();
                    summary.last_time.push_str(record.recorded_at);
                }
            }
            match summary.versions.get_mut(record.operation.as_ref()) {
                Some((_, last)) => {
                    if record.version != *last + 1 {
                        return None;
                    }
                    *last = record.version;
                }
                None => {
                    summary.versions.insert(
                        record.operation.clone().into_owned(),
                        (record.version, record.version),
                    );
                }
            }
            if watch == Some(record.position) {
                summary.watched = Some(record.hash);
            }
            if let Some((visitor, part)) = visiting.as_deref_mut() {
                visitor.visit(part, &record);
            }
            previous = record.hash;
            summary.last_hash = record.hash;
            summary.last_position = record.position;
            summary.last_batch_end = record.batch_end;
            summary.records += 1;
        }
        Some(summary)
    }

    /// Joins the units in order; `None` if they do not form a valid log.
    fn join(
        view: &LogView,
        units: &[Unit],
        summaries: Vec<Summary>,
        expect_head: Option<(u64, Hash)>,
        threads: usize,
    ) -> Option<VerifyReport> {
        let mut checker = LogChecker::new(expect_head);
        let mut segment_records = 0;
        let mut buckets: Vec<Vec<u128>> = (0..ID_BUCKETS).map(|_| Vec::new()).collect();
        for (index, (unit, mut summary)) in units.iter().zip(summaries).enumerate() {
            for (bucket, ids) in buckets.iter_mut().zip(summary.ids.drain(..)) {
                bucket.extend_from_slice(&ids);
            }
            let segment = &view.segments[unit.segment];
            if summary.partial_end {
                return None;
            }
            if summary.records > 0 {
                if segment_records == 0 && summary.first_position != segment.first {
                    return None;
                }
                if summary.first_position != checker.position + 1
                    || Hash::chain(&checker.previous, &summary.first_content) != summary.first_hash
                {
                    return None;
                }
                if !checker.last_time.is_empty()
                    && summary.first_time != checker.last_time
                    && compare_times(&summary.first_time, &checker.last_time).ok()?
                        == std::cmp::Ordering::Less
                {
                    return None;
                }
                for (operation, (first, last)) in summary.versions {
                    let known = checker.versions.get(&operation).copied().unwrap_or(0);
                    if first != known + 1 {
                        return None;
                    }
                    checker.versions.insert(operation, last);
                }
                if let (Some(hash), Some((position, found))) =
                    (summary.watched, checker.expected_at.as_mut())
                {
                    if *position <= summary.last_position && *position >= summary.first_position {
                        *found = Some(hash);
                    }
                }
                checker.position = summary.last_position;
                checker.previous = summary.last_hash;
                checker.last_time = summary.last_time;
                checker.last_batch_end = summary.last_batch_end;
                segment_records += summary.records;
            }
            let segment_ends = units
                .get(index + 1)
                .is_none_or(|next| next.segment != unit.segment);
            if segment_ends {
                // Only the head's segment may be empty (an empty log), and a
                // batch never spans segments.
                let is_last = unit.segment == view.end_segment;
                if (!is_last && segment_records == 0) || !checker.last_batch_end {
                    return None;
                }
                segment_records = 0;
            }
        }
        if checker.position != view.head.position || checker.previous != view.head.hash {
            return None;
        }
        if !all_unique(buckets, threads) {
            return None;
        }
        checker
            .finish(view.end_segment as u64 + 1, expect_head)
            .ok()
    }

    /// True when no bucket holds an id twice; buckets are sorted on
    /// `threads` threads. (A duplicate sends `verify` to the sequential
    /// pass, which names both positions.)
    pub(super) fn all_unique(buckets: Vec<Vec<u128>>, threads: usize) -> bool {
        let next = AtomicUsize::new(0);
        let duplicate = AtomicBool::new(false);
        let buckets: Vec<Mutex<Vec<u128>>> = buckets.into_iter().map(Mutex::new).collect();
        std::thread::scope(|scope| {
            for _ in 0..threads.min(buckets.len()) {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= buckets.len() || duplicate.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(mut ids) = buckets[index].lock() else {
                        duplicate.store(true, Ordering::Relaxed);
                        break;
                    };
                    ids.sort_unstable();
                    if ids.windows(2).any(|pair| pair[0] == pair[1]) {
                        duplicate.store(true, Ordering::Relaxed);
                    }
                    // Free the bucket as soon as it is checked.
                    *ids = Vec::new();
                });
            }
        });
        !duplicate.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stamp;

    #[test]
    fn an_id_twice_in_any_two_units_is_caught_by_the_buckets() {
        let unique: Vec<Vec<u128>> = (0..4u128)
            .map(|b| (0..100u128).map(|i| i * 64 + b).collect())
            .collect();
        assert!(parallel::all_unique(unique.clone(), 3));
        let mut twice = unique;
        // The same id in two units lands in one bucket after joining.
        twice[2].push(5 * 64 + 2);
        assert!(!parallel::all_unique(twice, 3));
    }

    /// The parallel pass agrees with the sequential one on valid logs and
    /// defers to it (returns `None`) on damaged ones.
    #[test]
    fn the_parallel_pass_agrees_with_the_sequential_one() -> Result<(), StoreError> {
        use crate::file::segments::list_segments;
        use crate::file::tail::detect;
        use crate::{EventStore, FileStore, FileStoreConfig, NewEvent};
        use chrono::{TimeZone, Utc};

        let temp = tempfile::tempdir().map_err(|error| StoreError::io("tempdir", error))?;
        let dir = temp.path().join("store");
        let store = FileStore::init(
            &dir,
            FileStoreConfig {
                segment_bytes: 20_000,
                ..FileStoreConfig::default()
            },
        )?;
        for batch in 0..40u64 {
            let time = Utc
                .timestamp_opt(1_600_000_000 + batch as i64, 0)
                .single()
                .ok_or_else(|| StoreError::Invalid("time".into()))?;
            let mut transaction = store.begin(Stamp::At(time))?;
            for i in 0..25u64 {
                let id = batch * 25 + i + 1;
                transaction.stage(NewEvent {
                    id: uuid::Uuid::from_u128(u128::from(id)),
                    operation: format!("op{}", id % 7),
                    event_type: "T".into(),
                    schema: 1,
                    recorded_by: "test".into(),
                    reported_at: None,
                    data: format!("{{\"n\":{id}}}"),
                    expected_version: None,
                    refers_to: None,
                })?;
            }
            transaction.commit()?;
        }
        let view = detect(list_segments(&dir)?)?;
        let sequential = verify_sequentially(&view, None, None)?;
        for unit_bytes in [100, 333, 4096, 1 << 20] {
            let parallel =
                parallel::verify_with::<Nothing>(&view, None, 3, unit_bytes, None, None)?;
            assert_eq!(
                parallel.as_ref(),
                Some(&sequential),
                "units of {unit_bytes}"
            );
            let head = Some((500, view.head.hash));
            assert!(
                parallel::verify_with::<Nothing>(&view, head, 3, unit_bytes, None, None)?.is_none()
            );
        }
        // A visitor sees every record once, its parts taken in order.
        struct Positions;
        impl Visitor for Positions {
            type Part = Vec<u64>;
            fn part(&self) -> Vec<u64> {
                Vec::new()
            }
            fn visit(&self, part: &mut Vec<u64>, record: &EnvelopeRef<'_>) {
                part.push(record.position);
            }
        }
        for unit_bytes in [100, 333, 4096, 1 << 20] {
            let mut seen = Vec::new();
            let mut take = |part: Vec<u64>| seen.extend(part);
            let parallel = parallel::verify_with(
                &view,
                None,
                3,
                unit_bytes,
                None,
                Some((&Positions, &mut take)),
            )?;
            assert_eq!(
                parallel.as_ref(),
                Some(&sequential),
                "units of {unit_bytes}"
            );
            assert_eq!(seen, (1..=view.head.position).collect::<Vec<_>>());
        }
        // A damaged log: every unit size defers to the sequential pass.
        let segment = &view.segments[1].path;
        let mut bytes = std::fs::read(segment).map_err(|error| StoreError::io(segment, error))?;
        let at = bytes.len() / 2;
        let digit = bytes[at..]
            .iter()
            .position(|b| b.is_ascii_digit())
            .map(|i| at + i)
            .ok_or_else(|| StoreError::Invalid("no digit".into()))?;
        bytes[digit] = if bytes[digit] == b'9' {
            b'8'
        } else {
            bytes[digit] + 1
        };
        std::fs::write(segment, &bytes).map_err(|error| StoreError::io(segment, error))?;
        for unit_bytes in [100, 333, 4096, 1 << 20] {
            assert!(
                parallel::verify_with::<Nothing>(&view, None, 3, unit_bytes, None, None)?.is_none()
            );
        }
        assert!(verify_sequentially(&view, None, None).is_err());
        Ok(())
    }
}
