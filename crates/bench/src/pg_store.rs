//! theseus on its PostgreSQL store (`--store postgres://…`), beside the
//! file store: the same workloads through the same binary, plus eight
//! concurrent single-event writers on both stores (events/s together, and
//! the latency of one append: median and p99).
//!
//! The big store is the file store's log copied in with `theseus copy`, so
//! that both hold the same records and their reports must be equal; it is
//! kept (schema `bench_theseus`) and reused while it holds that log.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{measure, median, repeat, Figure, Result};

/// Appends per writer in the concurrent-writers workload.
pub const CONCURRENT_APPENDS: usize = 25;
/// Writers at once.
pub const CONCURRENT_WRITERS: usize = 8;

/// What the PostgreSQL store measured.
#[derive(Debug)]
pub struct Figures {
    pub copied: Figure,
    pub cold: Figure,
    pub warm: Figure,
    pub verify: Figure,
    pub batches: Figure,
    pub single: Figure,
    pub concurrent: Concurrent,
}

/// Eight writers appending single events at once.
#[derive(Debug, Clone, Copy)]
pub struct Concurrent {
    pub events_per_second: f64,
    pub median: Duration,
    pub p99: Duration,
}

impl Concurrent {
    pub fn show(&self) -> String {
        format!(
            "{:.0} ev/s together; one append: median {:.1} ms, p99 {:.1} ms",
            self.events_per_second,
            self.median.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0
        )
    }
}

/// `base` with `?schema=NAME` (or `&schema=NAME`).
fn with_schema(base: &str, schema: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}schema={schema}")
}

/// A superuser-ish connection for setup: the address without our own
/// `schema` parameter.
fn admin(base: &str) -> Result<postgres::Client> {
    Ok(postgres::Client::connect(base, postgres::NoTls)?)
}

fn drop_schema(base: &str, schema: &str) -> Result<()> {
    admin(base)?.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE; \
         DROP ROLE IF EXISTS \"{schema}_writer\"; DROP ROLE IF EXISTS \"{schema}_reader\""
    ))?;
    Ok(())
}

fn head(theseus: &Path, store: &str) -> Option<String> {
    let output = std::process::Command::new(theseus)
        .args(["--store", store, "head"])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Runs every workload. `file_store` is the file store's directory, which
/// holds the log that the big PostgreSQL store copies.
#[allow(clippy::too_many_arguments)]
pub fn run(
    theseus: &Path,
    base: &str,
    file_store: &str,
    runs: usize,
    one_event: &str,
    batch_files: &[&str],
    expected_report: &[u8],
    events: u64,
) -> Result<Figures> {
    let big = with_schema(base, "bench_theseus");
    // (0) the same log, copied in.
    let wanted = head(theseus, file_store).ok_or("the file store has no head")?;
    // A store kept from an earlier run gets what it lacks (the few events
    // appended since); only a full copy is a figure.
    let copied = if head(theseus, &big).as_deref() == Some(wanted.as_str()) {
        eprintln!("bench: reusing the PostgreSQL store {big}");
        None
    } else if head(theseus, &big).is_some()
        && measure(theseus, &["copy", "--from", file_store, "--to", &big]).is_ok()
    {
        eprintln!("bench: reusing the PostgreSQL store {big}, topped up with theseus copy");
        None
    } else {
        drop_schema(base, "bench_theseus")?;
        eprintln!("bench: theseus copy of {events} events into {big}");
        Some(measure(
            theseus,
            &["copy", "--from", file_store, "--to", &big],
        )?)
    };
    let mut client = admin(base)?;
    let clear_checkpoints = |client: &mut postgres::Client| -> Result<()> {
        client.batch_execute("DELETE FROM bench_theseus.derived")?;
        Ok(())
    };
    let report_args = [
        "--store",
        big.as_str(),
        "report",
        "summary",
        "--format",
        "json",
    ];

    // (a) cold report.
    eprintln!("bench: PostgreSQL store: cold report summary ×{runs}");
    let cold = repeat(runs, || {
        clear_checkpoints(&mut client)?;
        measure(theseus, &report_args)
    })?;
    same_figures(&cold.stdout, expected_report)?;

    // (b) single append and the report after it.
    eprintln!("bench: PostgreSQL store: single append + warm report ×{runs}");
    measure(theseus, &["--store", &big, "append", one_event])?;
    measure(theseus, &report_args)?;
    let mut appends = Vec::new();
    let mut warm_reports = Vec::new();
    for _ in 0..runs {
        appends.push(measure(theseus, &["--store", &big, "append", one_event])?);
        warm_reports.push(measure(theseus, &report_args)?);
    }

    // (c) verify.
    eprintln!("bench: PostgreSQL store: verify ×{runs}");
    let verify = repeat(runs, || measure(theseus, &["--store", &big, "verify"]))?;
    let verified = head(theseus, &big)
        .and_then(|h| h.split(':').next()?.parse().ok())
        .unwrap_or(events);

    // (d) 10,000-event batches into a new store.
    eprintln!(
        "bench: PostgreSQL store: {} durable appends of 10,000 events",
        batch_files.len()
    );
    drop_schema(base, "bench_theseus_batches")?;
    let batches_store = with_schema(base, "bench_theseus_batches");
    measure(theseus, &["--store", &batches_store, "init"])?;
    let mut batch_runs = Vec::new();
    for file in batch_files {
        batch_runs.push(measure(
            theseus,
            &["--store", &batches_store, "append", file],
        )?);
    }
    drop_schema(base, "bench_theseus_batches")?;

    // (f) eight writers at once on the big store.
    eprintln!("bench: PostgreSQL store: {CONCURRENT_WRITERS} concurrent writers");
    let concurrent = concurrent(theseus, &big, one_event)?;

    Ok(Figures {
        copied: copied.map_or(
            Figure {
                seconds: f64::NAN,
                events,
                peak_kib: None,
            },
            |m| Figure::of(&m, events),
        ),
        cold: Figure::of(&cold, events),
        warm: Figure::of(&median(warm_reports), 1),
        verify: Figure::of(&verify, verified),
        batches: crate::total(&batch_runs),
        single: Figure::of(&median(appends), 1),
        concurrent,
    })
}

/// [`CONCURRENT_WRITERS`] threads, each running `theseus append` of one
/// event [`CONCURRENT_APPENDS`] times, all at once on `store` (a directory
/// or an address).
pub fn concurrent(theseus: &Path, store: &str, one_event: &str) -> Result<Concurrent> {
    let started = Instant::now();
    type Sendable<T> = std::result::Result<T, String>;
    let latencies: Vec<Sendable<Vec<Duration>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CONCURRENT_WRITERS)
            .map(|_| {
                scope.spawn(|| -> Sendable<Vec<Duration>> {
                    let mut mine = Vec::with_capacity(CONCURRENT_APPENDS);
                    for _ in 0..CONCURRENT_APPENDS {
                        // Not `measure`: its peak-RSS file is one per
                        // process, and these run at once.
                        let started = Instant::now();
                        let output = std::process::Command::new(theseus)
                            .args(["--store", store, "append", one_event])
                            .output()
                            .map_err(|error| error.to_string())?;
                        if !output.status.success() {
                            return Err(format!(
                                "a concurrent append failed: {}",
                                String::from_utf8_lossy(&output.stderr).trim()
                            ));
                        }
                        mine.push(started.elapsed());
                    }
                    Ok(mine)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a writer panicked".to_owned()))
            })
            .collect()
    });
    let wall = started.elapsed();
    let mut all = Vec::new();
    for writer in latencies {
        all.extend(writer?);
    }
    all.sort();
    let at = |fraction: f64| all[((all.len() as f64 - 1.0) * fraction).round() as usize];
    Ok(Concurrent {
        events_per_second: all.len() as f64 / wall.as_secs_f64(),
        median: at(0.5),
        p99: at(0.99),
    })
}

/// The cold report on PostgreSQL must give the file store's figures for the
/// same head (the reports differ only in how they were verified: from a
/// checkpoint or from the first record).
fn same_figures(got: &[u8], expected: &[u8]) -> Result<()> {
    let figures =
        |bytes: &[u8]| -> Result<(serde_json::Value, serde_json::Value, serde_json::Value)> {
            let report: serde_json::Value = serde_json::from_slice(bytes)?;
            Ok((
                report["rows"].clone(),
                report["as_of"]["position"].clone(),
                report["as_of"]["hash"].clone(),
            ))
        };
    if figures(got)? != figures(expected)? {
        return Err(format!(
            "theseus on PostgreSQL reports other figures than on files:\n{}\n---\n{}",
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(expected)
        )
        .into());
    }
    Ok(())
}
