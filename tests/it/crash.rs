//! Writers killed with SIGKILL in the middle of batches: acknowledged batches survive whole, nothing else is half-visible.
//!
//! Two tests. The kill loop runs real `theseus append` processes on large
//! batches and kills them (`Child::kill` is SIGKILL) after a random delay,
//! hundreds of times; after each kill it checks what readers see. The torn
//! tail test cuts a small store's final batch at every byte offset, as a
//! crash at that moment would leave it.
//!
//! The kill loop is bounded by a count and by wall time, both overridable
//! for longer local runs: `THESEUS_CRASH_KILLS` (default 200),
//! `THESEUS_CRASH_SECONDS` (default 50) and `THESEUS_CRASH_SEED` (default:
//! from the clock; printed, so a failure can be replayed).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::{data, theseus_bin, Store};

/// splitmix64: a tiny seeded generator, enough to vary sizes and delays.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub(crate) fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A seed from the environment or the clock.
pub(crate) fn seed(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// The id of line `line` of batch `batch`: deterministic, so that presence
/// can be checked without keeping what was sent.
pub(crate) fn event_id(batch: u64, line: u64) -> String {
    format!("{batch:08x}-0000-4000-8000-{line:012x}")
}

/// A batch of `n` events that is its own operation `crash-<batch>`: its
/// launch, then `n - 1` AgentsDeployed of 1. A report that shows the
/// operation with fewer than `n - 1` agents has seen part of the batch.
pub(crate) fn batch_lines(batch: u64, n: u64) -> String {
    let mut out = String::with_capacity(n as usize * 140);
    out.push_str(&format!(
        r#"{{"id":"{}","operation":"crash-{batch}","type":"OperationLaunched","data":{{"name":"Crash {batch}","coordinator":"INTERPOL","countries":["AL"],"starts_on":"2020-01-01","ends_on":"2020-01-31"}}}}"#,
        event_id(batch, 0)
    ));
    out.push('\n');
    for line in 1..n {
        out.push_str(&format!(
            r#"{{"id":"{}","operation":"crash-{batch}","type":"AgentsDeployed","data":{{"country":"AL","count":1}}}}"#,
            event_id(batch, line)
        ));
        out.push('\n');
    }
    out
}

/// The length of the committed log in `bytes` (the segments concatenated):
/// the end of the last complete line that ends a batch.
pub(crate) fn committed_len(bytes: &[u8]) -> usize {
    let mut end = 0;
    let mut start = 0;
    while let Some(newline) = bytes[start..].iter().position(|&b| b == b'\n') {
        let line = &bytes[start..start + newline];
        if line
            .windows(26)
            .any(|w| w == br#","batch_end":true,"hash":""#)
        {
            end = start + newline + 1;
        }
        start += newline + 1;
    }
    end
}

pub(crate) fn concat(segments: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    segments.into_iter().flat_map(|(_, bytes)| bytes).collect()
}

/// Runs `verify`, which must pass: its record count, head position and
/// stderr (`ok: R records in S segments chain to head P:HASH`).
pub(crate) fn verify(store: &Store) -> (u64, u64, String) {
    let run = store.run(&["verify"]);
    let stderr = run.stderr.clone();
    let out = run.ok();
    // The chain's line comes first; the audit's follows.
    let words: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let number = |text: Option<&&str>| -> u64 {
        text.and_then(|t| t.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("verify printed {out:?}"))
    };
    (number(words.get(1)), number(words.last()), stderr)
}

/// The crash operations a report shows, with their agents.
fn visible_batches(store: &Store) -> BTreeMap<u64, u64> {
    let summary = store.summary();
    summary["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| {
            let batch = row["operation"]
                .as_str()?
                .strip_prefix("crash-")?
                .parse()
                .ok()?;
            Some((batch, row["agents_deployed"].as_u64().unwrap_or(0)))
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

const RECORDED_AT: &str = "2020-02-01T00:00:00Z";

fn spawn_append(store: &Store, file: &Path) -> std::process::Child {
    Command::new(theseus_bin())
        .arg("--store")
        .arg(store.path())
        .args([
            "append",
            "--recorded-by",
            "crash",
            "--recorded-at",
            RECORDED_AT,
        ])
        .arg(file)
        .env_remove("THESEUS_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn theseus append")
}

/// What the test knows about one store's log.
struct Model {
    /// Batches the log holds, in order: (batch number, events).
    committed: Vec<(u64, u64)>,
    /// The committed bytes: must stay a prefix of the log forever.
    prefix: Vec<u8>,
    acknowledged: Vec<u64>,
}

impl Model {
    fn head(&self) -> u64 {
        self.committed.iter().map(|(_, n)| n).sum()
    }

    /// The full check: verify, reports, and every acknowledged batch whole.
    fn check_readers(&self, store: &Store, context: &str) {
        let (records, _, _) = verify(store);
        assert_eq!(records, self.head(), "{context}: verify counts");
        let visible = visible_batches(store);
        let expected: BTreeMap<u64, u64> =
            self.committed.iter().map(|&(b, n)| (b, n - 1)).collect();
        assert_eq!(
            visible, expected,
            "{context}: the report shows other batches than the head says"
        );
        for batch in &self.acknowledged {
            assert!(
                visible.contains_key(batch),
                "{context}: acknowledged batch {batch} is missing"
            );
        }
    }
}

/// `t(n) = fixed + per_event * n`, the time a whole append of `n` events
/// takes, measured on this machine so that kill delays span whole appends.
struct Timing {
    fixed: f64,
    per_event: f64,
}

fn calibrate(store: &Store, model: &mut Model, work: &Path, next_batch: &mut u64) -> Timing {
    let mut points = Vec::new();
    for n in [2_000, 20_000] {
        *next_batch += 1;
        let batch = *next_batch;
        let file = work.join(format!("batch-{batch}.ndjson"));
        std::fs::write(&file, batch_lines(batch, n)).expect("write batch");
        let started = Instant::now();
        let output = spawn_append(store, &file).wait_with_output().expect("wait");
        points.push((n as f64, started.elapsed().as_secs_f64()));
        assert!(output.status.success(), "calibration append: {output:?}");
        model.committed.push((batch, n));
        model.acknowledged.push(batch);
    }
    let per_event = ((points[1].1 - points[0].1) / (points[1].0 - points[0].0)).max(1e-6);
    let fixed = (points[0].1 - per_event * points[0].0).max(0.01);
    model.prefix = concat(store.log_bytes());
    Timing { fixed, per_event }
}

/// Shared by the kill loop's lanes.
struct Budget {
    kills_wanted: u64,
    deadline: Instant,
    kills: AtomicU64,
    torn: AtomicU64,
    committed_unacknowledged: AtomicU64,
    acknowledged: AtomicU64,
}

impl Budget {
    fn spent(&self) -> bool {
        self.kills.load(Ordering::SeqCst) >= self.kills_wanted || Instant::now() >= self.deadline
    }
}

#[test]
fn appends_killed_at_random_moments_leave_acknowledged_batches_whole_and_nothing_else_visible() {
    let seed = seed("THESEUS_CRASH_SEED");
    // Printed with the test's output when it fails.
    println!("crash seed: {seed} (THESEUS_CRASH_SEED={seed} to replay)");
    let started = Instant::now();
    let budget = Budget {
        kills_wanted: env_or("THESEUS_CRASH_KILLS", 300),
        deadline: started + Duration::from_secs(env_or("THESEUS_CRASH_SECONDS", 50)),
        kills: AtomicU64::new(0),
        torn: AtomicU64::new(0),
        committed_unacknowledged: AtomicU64::new(0),
        acknowledged: AtomicU64::new(0),
    };
    // Independent stores killed side by side: twice the kills per second
    // on two cores, since a writer mostly waits for one.
    let lanes = env_or("THESEUS_CRASH_LANES", 2);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..lanes)
            .map(|lane| {
                let budget = &budget;
                scope.spawn(move || kill_lane(seed, lane, budget))
            })
            .collect();
        for handle in handles {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    let kills = budget.kills.load(Ordering::SeqCst);
    println!(
        "{kills} kills over {:?}: {} left a torn tail, {} were acknowledged, {} committed but were killed before acknowledging",
        started.elapsed(),
        budget.torn.load(Ordering::SeqCst),
        budget.acknowledged.load(Ordering::SeqCst),
        budget.committed_unacknowledged.load(Ordering::SeqCst),
    );
    assert!(kills > 0);
}

/// Rounds of up to 25 kills, each on a fresh store (short replays keep the
/// checks cheap), until the budget is spent.
fn kill_lane(seed: u64, lane: u64, budget: &Budget) {
    let mut rng = Rng::new(seed ^ lane.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let work = tempfile::tempdir().expect("work dir");
    // Batch numbers are unique across lanes, so ids are too.
    let mut batch = lane << 24;
    let mut round = 0;
    let mut timing: Option<Timing> = None;
    while !budget.spent() {
        round += 1;
        let store = Store::new();
        let mut model = Model {
            committed: Vec::new(),
            prefix: Vec::new(),
            acknowledged: Vec::new(),
        };
        // Measured once per lane, on its first store.
        let timing_of_round = match timing.take() {
            Some(timing) => timing,
            None => calibrate(&store, &mut model, work.path(), &mut batch),
        };
        for kill in 1..=25 {
            if budget.spent() {
                break;
            }
            batch += 1;
            let context = format!("seed {seed}, lane {lane}, round {round}, batch {batch}");
            kill_one(
                &store,
                &mut model,
                &timing_of_round,
                &mut rng,
                work.path(),
                batch,
                budget,
                &context,
            );
            if kill % 5 == 0 {
                model.check_readers(&store, &context);
            }
        }
        finish_round(
            &store,
            &mut model,
            work.path(),
            &mut batch,
            &format!("seed {seed}, lane {lane}, end of round {round}"),
        );
        timing = Some(timing_of_round);
    }
}

/// One writer killed at a random moment, and what readers see after it.
#[allow(clippy::too_many_arguments)]
fn kill_one(
    store: &Store,
    model: &mut Model,
    timing: &Timing,
    rng: &mut Rng,
    work: &Path,
    batch: u64,
    budget: &Budget,
    context: &str,
) {
    // Log-uniform sizes from 2,000 to 20,000 events (0.6 to 6 MB): most
    // batches are streamed to the segment in several writes.
    let n = (2_000.0 * 10f64.powf(rng.unit())) as u64;
    let file = work.join(format!("batch-{batch}.ndjson"));
    std::fs::write(&file, batch_lines(batch, n)).expect("write batch");
    // From before the writer starts to a little after it would finish.
    let whole = timing.fixed + timing.per_event * n as f64;
    let delay = Duration::from_secs_f64(whole * 1.1 * rng.unit());
    let mut child = spawn_append(store, &file);
    std::thread::sleep(delay);
    let _ = child.kill();
    let output = child
        .wait_with_output()
        .expect("wait for the killed writer");
    let _ = std::fs::remove_file(&file);
    budget.kills.fetch_add(1, Ordering::SeqCst);
    let context = format!("{context} of {n} events killed after {delay:?}");
    let acknowledged = output.status.success();
    if acknowledged {
        let out: serde_json::Value = serde_json::from_slice(&output.stdout).expect("append's JSON");
        assert_eq!(out["appended"], n, "{context}");
        model.acknowledged.push(batch);
        budget.acknowledged.fetch_add(1, Ordering::SeqCst);
    } else {
        assert!(
            output.status.code().is_none(),
            "{context}: the writer failed by itself: {output:?}"
        );
    }

    // Complete records are never touched; only the tail may differ.
    let bytes = concat(store.log_bytes());
    assert!(
        bytes.starts_with(&model.prefix),
        "{context}: committed bytes changed"
    );
    let committed = committed_len(&bytes);
    let torn = bytes.len() > committed;
    budget.torn.fetch_add(u64::from(torn), Ordering::SeqCst);

    // What readers see: all of the batch or none of it, and a warning
    // exactly when a torn tail is left.
    let before = model.head();
    let (records, head, warning) = verify(store);
    assert_eq!(records, head, "{context}");
    if head == before + n {
        model.committed.push((batch, n));
        if !acknowledged {
            budget
                .committed_unacknowledged
                .fetch_add(1, Ordering::SeqCst);
        }
    } else {
        assert_eq!(
            head, before,
            "{context}: the head ({head}) shows part of the batch (before it: {before})"
        );
        assert!(
            !acknowledged,
            "{context}: an acknowledged batch is not in the log"
        );
    }
    assert_eq!(
        torn,
        warning.contains("warning:") && warning.contains("interrupted append"),
        "{context}: a torn tail ({} bytes) must be warned about, and only then: {warning:?}",
        bytes.len() - committed
    );
    model.prefix = bytes[..committed].to_vec();
}

/// Ends a round: the readers' full check, then an append that is not
/// killed, which must remove exactly the torn tail and nothing else.
fn finish_round(store: &Store, model: &mut Model, work: &Path, batch: &mut u64, context: &str) {
    model.check_readers(store, context);
    *batch += 1;
    let lines = batch_lines(*batch, 3);
    let file = work.join(format!("batch-{batch}.ndjson"));
    std::fs::write(&file, &lines).expect("write batch");
    let output = spawn_append(store, &file).wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{context}: the append after the kills failed: {output:?}"
    );
    let out: serde_json::Value = serde_json::from_slice(&output.stdout).expect("append's JSON");
    assert_eq!(out["first_position"], model.head() + 1, "{context}");
    model.committed.push((*batch, 3));
    let bytes = concat(store.log_bytes());
    assert!(
        bytes.starts_with(&model.prefix),
        "{context}: committed bytes changed"
    );
    let rest = &bytes[model.prefix.len()..];
    let new_lines: Vec<&[u8]> = rest
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        new_lines.len(),
        3,
        "{context}: the torn tail was not removed exactly"
    );
    for (line, record) in new_lines.iter().enumerate() {
        let record: serde_json::Value = serde_json::from_slice(record).expect("record JSON");
        assert_eq!(record["id"], event_id(*batch, line as u64), "{context}");
        assert_eq!(
            record["position"],
            model.head() - 2 + line as u64,
            "{context}"
        );
    }
    assert_eq!(
        committed_len(&bytes),
        bytes.len(),
        "{context}: a torn tail is left"
    );
    model.prefix = bytes;
    model.check_readers(store, context);
    let (_, _, warning) = verify(store);
    assert!(!warning.contains("warning"), "{context}: {warning}");
}

/// The tail test's stores: the prefix (base.ndjson, one batch) and the
/// whole log (plus clean.ndjson, a batch of two records), and what an
/// append after the crash must produce.
struct TornFixture {
    prefix_store: Store,
    prefix: Vec<u8>,
    whole: Vec<u8>,
    segment: String,
    prefix_summary: serde_json::Value,
    whole_summary: serde_json::Value,
    after_append: Vec<(String, Vec<u8>)>,
}

const NEXT_BATCH: &str = r#"{"id": "00000000-0000-4000-8000-0000000000d1", "operation": "theseus", "type": "AgentsDeployed", "data": {"country": "BG", "count": 400}}
"#;

fn torn_fixture() -> TornFixture {
    // Every store below seals under the same keys (those of every subject
    // of the three inputs), so that the same input gives the same bytes.
    let keys = Store::new();
    keys.append(&data("bad-input/base.ndjson")).ok();
    keys.append(&data("accepted-input/clean.ndjson")).ok();
    keys.append(NEXT_BATCH).ok();
    let prefix_store = Store::with_keys_of(&keys);
    prefix_store.append(&data("bad-input/base.ndjson")).ok();
    let whole_store = Store::with_keys_of(&keys);
    whole_store.append(&data("bad-input/base.ndjson")).ok();
    whole_store
        .append(&data("accepted-input/clean.ndjson"))
        .ok();
    let after = Store::with_keys_of(&keys);
    after.append(&data("bad-input/base.ndjson")).ok();
    after.append(NEXT_BATCH).ok();
    let segments = whole_store.log_bytes();
    assert_eq!(segments.len(), 1);
    let (segment, whole) = segments.into_iter().next().expect("segment");
    TornFixture {
        prefix: concat(prefix_store.log_bytes()),
        prefix_summary: prefix_store.summary(),
        whole_summary: whole_store.summary(),
        after_append: after.log_bytes(),
        prefix_store,
        whole,
        segment,
    }
}

/// A crash after `cut` bytes of the log were written, with the derived
/// files as the prefix's commit left them.
fn crashed_at(fixture: &TornFixture, cut: usize) -> Store {
    let store = Store::uninitialised();
    copy_dir(fixture.prefix_store.path(), store.path());
    std::fs::write(store.path().join(&fixture.segment), &fixture.whole[..cut])
        .expect("write segment");
    store
}

fn check_cut(fixture: &TornFixture, cut: usize) -> Result<(), String> {
    let store = crashed_at(fixture, cut);
    let torn = cut > fixture.prefix.len() && cut < fixture.whole.len();
    let report = store.run(&["report", "summary", "--format", "json"]);
    if report.code != 0 {
        return Err(format!("cut at {cut}: report failed: {report:?}"));
    }
    let warned = report.stderr.contains("warning:") && report.stderr.contains("interrupted append");
    if warned != torn {
        return Err(format!(
            "cut at {cut}: torn {torn} but stderr {:?}",
            report.stderr
        ));
    }
    let summary: serde_json::Value =
        serde_json::from_str(&report.stdout).map_err(|e| e.to_string())?;
    let expected = if cut == fixture.whole.len() {
        &fixture.whole_summary
    } else {
        &fixture.prefix_summary
    };
    if crate::support::figures(&summary.to_string())
        != crate::support::figures(&expected.to_string())
    {
        return Err(format!(
            "cut at {cut}: the report shows {summary} instead of {expected}"
        ));
    }
    let verify = store.run(&["verify"]);
    if verify.code != 0 {
        return Err(format!("cut at {cut}: verify failed: {verify:?}"));
    }
    if cut == fixture.whole.len() {
        return Ok(());
    }
    let append = store.append(NEXT_BATCH);
    if append.code != 0 {
        return Err(format!("cut at {cut}: the next append failed: {append:?}"));
    }
    if store.log_bytes() != fixture.after_append {
        return Err(format!(
            "cut at {cut}: the log after the next append is not the prefix plus the new batch"
        ));
    }
    Ok(())
}

/// Reports name the head they were built at; the figures are the rest.
fn strip_as_of(summary: &serde_json::Value) -> serde_json::Value {
    let mut summary = summary.clone();
    if let Some(object) = summary.as_object_mut() {
        object.remove("as_of");
    }
    summary
}

#[test]
fn a_final_batch_cut_at_every_byte_offset_is_ignored_by_readers_and_removed_by_the_next_append() {
    let fixture = torn_fixture();
    assert!(fixture.whole.starts_with(&fixture.prefix));
    assert_ne!(
        strip_as_of(&fixture.prefix_summary),
        strip_as_of(&fixture.whole_summary)
    );
    let cuts: Vec<usize> = (fixture.prefix.len()..=fixture.whole.len()).collect();
    let lanes = 4;
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..lanes)
            .map(|lane| {
                let fixture = &fixture;
                let cuts = &cuts;
                scope.spawn(move || {
                    cuts.iter()
                        .skip(lane)
                        .step_by(lanes)
                        .filter_map(|&cut| check_cut(fixture, cut).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("lane"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cuts failed:\n{}",
        failures.len(),
        cuts.len(),
        failures.join("\n")
    );
}

/// A batch's new keys are appended to the key file and synced before its
/// records: a crash between the two leaves whole keys no record names and,
/// at worst, a torn entry after them. Neither may change what is read, and
/// the next append cuts the torn entry and goes on.
#[test]
fn keys_left_by_a_batch_that_crashed_before_its_records_change_nothing() {
    let store = Store::new();
    store.append(&data("bad-input/base.ndjson")).ok();
    store.append(&data("accepted-input/clean.ndjson")).ok();
    let path = store.path().join("subject-keys");
    let mut keys = std::fs::read(&path).expect("the key file");
    // The crashed append: half an entry written, the rest never.
    keys.extend_from_slice(&[0x5a; 48]);
    keys.extend_from_slice(&[0; 30]);
    std::fs::write(&path, &keys).expect("tear the key file");
    // The next batch seals a new subject; its key follows the cut.
    store
        .append(r#"{"id": "00000000-0000-4000-8000-0000000000e1", "operation": "theseus", "type": "ArrestMade", "data": {"country": "BA", "occurred_at": "2019-12-15T10:00:00+01:00", "location": "border_crossing", "suspect": "BA-2019-S-0999"}}
"#)
        .ok();
    let grown = std::fs::read(&path).expect("the key file");
    assert_eq!(grown[..keys.len() - 78], keys[..keys.len() - 78]);
    assert_eq!(
        grown.len(),
        keys.len() - 78 + event_store::subject_keys::ENTRY_LEN
    );
    let shown = store
        .run(&[
            "events",
            "--reveal",
            "--purpose",
            "test",
            "--format",
            "jsonl",
        ])
        .ok();
    for reference in [
        "BA-2019-S-0999",
        "BA-2019-S-0001",
        "AL-2019-S-0001",
        "FR-2020-S-0001",
    ] {
        assert!(shown.contains(reference), "{reference}: {shown}");
    }
    verify(&store);
}
