//! `bench`: measures theseus at scale and runs the same workloads on SQLite
//! and PostgreSQL in the same run, so that each comparison is a ratio that
//! holds on any machine. Results are printed as a Markdown table
//! (docs/benchmarks.md explains them).
//!
//! ```text
//! cargo run --release -p bench -- --events 1000000
//! cargo run --release -p bench -- service      # the HTTP API (service.rs)
//! ```
//!
//! Every measured workload runs as a child process (`theseus …`, or this
//! binary's hidden `child …` mode for SQLite and PostgreSQL), timed by wall
//! clock with process start included, and run under `/usr/bin/time -f %M`
//! when it exists to read the child's peak resident memory.

#![forbid(unsafe_code)]

mod pg_store;
mod service;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use domain::{EventType, EventView};
use event_store::{EventStore, FileStore, FileStoreConfig, Head, Range};
use ledger::generate::{GenerateOptions, Generator};
use projections::summary::Summary;
use projections::{Format, Meta, Projection, Report, ReportKind, Tabular};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Events appended in the durable-batch workload: 20 batches of 10,000.
const BATCHES: u64 = 20;
const BATCH_EVENTS: u64 = 10_000;
/// Events in the one-batch import workload.
const IMPORT_EVENTS: u64 = 1_000_000;
const TABLE: &str = "theseus_bench_events";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("child") {
        child(&args[1..])
    } else if args.first().map(String::as_str) == Some("service") {
        service::run(&args[1..])
    } else {
        Options::parse(&args).and_then(|options| run(&options))
    };
    if let Err(error) = result {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

#[derive(Debug)]
struct Options {
    events: u64,
    runs: usize,
    store: PathBuf,
    work: PathBuf,
    theseus: Option<PathBuf>,
    postgres: String,
    sql: bool,
    /// The server for theseus's own PostgreSQL store (`None`: skipped).
    pg_store: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let root = workspace_root();
        let mut events = 1_000_000;
        let mut runs = 3;
        let mut store = None;
        let mut theseus = None;
        let mut postgres = "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned();
        let mut sql = true;
        let mut pg_store = Some("postgres://postgres@127.0.0.1:5432/test".to_owned());
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs a value"))
            };
            match arg.as_str() {
                "--events" => events = value()?.replace('_', "").parse()?,
                "--runs" => runs = value()?.parse()?,
                "--store" => store = Some(PathBuf::from(value()?)),
                "--theseus" => theseus = Some(PathBuf::from(value()?)),
                "--postgres" => postgres = value()?,
                "--no-sql" => sql = false,
                "--pg-store" => pg_store = Some(value()?),
                "--no-pg-store" => pg_store = None,
                "-h" | "--help" => {
                    println!(
                        "usage: bench [--events N] [--runs R] [--store DIR] [--theseus PATH] [--postgres CONNINFO] [--no-sql]\n\
                         \x20            [--pg-store postgres://USER@HOST:PORT/DB | --no-pg-store]\n\
                         Generates (or reuses) a store of N events in DIR (default target/bench-store/N),\n\
                         measures theseus on it, runs the same workloads on SQLite and PostgreSQL\n\
                         (skipped when unreachable), the same workloads on theseus's own PostgreSQL\n\
                         store (schema bench_theseus, kept for reuse), and prints Markdown tables."
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?} (try --help)").into()),
            }
        }
        let base = root.join("target").join("bench-store");
        Ok(Options {
            events,
            runs: runs.max(1),
            store: store.unwrap_or_else(|| base.join(events.to_string())),
            work: base.join("work"),
            theseus,
            postgres,
            sql,
            pg_store,
        })
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// One timed child process.
#[derive(Debug)]
struct Measured {
    wall: Duration,
    peak_kib: Option<u64>,
    stdout: Vec<u8>,
}

fn have_time() -> bool {
    Path::new("/usr/bin/time").exists()
}

/// Runs `program args…` to completion, timed, and under `/usr/bin/time` for
/// its peak RSS when available. Fails if the child fails.
fn measure(program: &Path, args: &[&str]) -> Result<Measured> {
    let rss_file = std::env::temp_dir().join(format!("bench-rss-{}", std::process::id()));
    let mut command = if have_time() {
        let mut command = Command::new("/usr/bin/time");
        command
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss_file)
            .arg(program);
        command
    } else {
        Command::new(program)
    };
    command.args(args);
    let started = Instant::now();
    let output = command.output()?;
    let wall = started.elapsed();
    if !output.status.success() {
        return Err(format!(
            "{} {} failed ({}): {}",
            program.display(),
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    let peak_kib = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|text| text.trim().lines().last()?.trim().parse().ok());
    let _ = std::fs::remove_file(&rss_file);
    Ok(Measured {
        wall,
        peak_kib,
        stdout: output.stdout,
    })
}

/// The median of several runs by wall time, with the largest peak RSS.
fn median(mut runs: Vec<Measured>) -> Measured {
    let peak_kib = runs.iter().filter_map(|run| run.peak_kib).max();
    runs.sort_by_key(|run| run.wall);
    let middle = runs.len() / 2;
    let mut chosen = runs.swap_remove(middle);
    chosen.peak_kib = peak_kib;
    chosen
}

fn repeat(runs: usize, mut one: impl FnMut() -> Result<Measured>) -> Result<Measured> {
    let mut all = Vec::new();
    for _ in 0..runs {
        all.push(one()?);
    }
    Ok(median(all))
}

/// A figure for the table: seconds for a workload over `events` events.
#[derive(Clone, Copy, Debug)]
struct Figure {
    seconds: f64,
    events: u64,
    peak_kib: Option<u64>,
}

impl Figure {
    fn of(measured: &Measured, events: u64) -> Figure {
        Figure {
            seconds: measured.wall.as_secs_f64(),
            events,
            peak_kib: measured.peak_kib,
        }
    }

    fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    /// `1.23 M/s (0.81 s)` for throughput, `12.3 ms` for one event.
    fn show(&self) -> String {
        let memory = self.peak_kib.map_or(String::from(", RSS n/a"), |kib| {
            format!(", {:.1} MB", kib as f64 / 1024.0)
        });
        if self.events <= 1 {
            format!("{:.1} ms{memory}", self.seconds * 1000.0)
        } else {
            format!(
                "{} ev/s ({:.2} s{memory})",
                human(self.rate()),
                self.seconds
            )
        }
    }
}

fn human(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2} M", rate / 1e6)
    } else {
        format!("{:.0} k", rate / 1e3)
    }
}

/// A table row: a workload, theseus's figure, the baselines', the target.
#[derive(Debug)]
struct Row {
    workload: String,
    theseus: Option<Figure>,
    sqlite: Option<Figure>,
    postgres: Option<Figure>,
    /// theseus on its PostgreSQL store.
    pg_store: Option<Figure>,
    target: String,
}

/// `other time / theseus time` per event: above 1, theseus is faster.
fn ratio(theseus: Option<Figure>, other: Option<Figure>) -> String {
    match (theseus, other) {
        (Some(t), Some(o)) => format!(
            "{:.2}",
            (o.seconds / o.events as f64) / (t.seconds / t.events as f64)
        ),
        _ => "n/a".to_owned(),
    }
}

fn show(figure: Option<Figure>) -> String {
    figure.map_or("n/a".to_owned(), |f| f.show())
}

fn run(options: &Options) -> Result<()> {
    let theseus = match &options.theseus {
        Some(path) => path.clone(),
        None => build_theseus()?,
    };
    let store = &options.store;
    let store_arg = store.to_str().ok_or("the store path is not UTF-8")?;
    eprintln!("bench: theseus at {}", theseus.display());

    // The store: reused when it already holds the events (the runs below add
    // a few).
    let head = head_position(&theseus, store_arg);
    let mut generated = None;
    if !matches!(head, Some(position) if position >= options.events && position <= options.events + 1000)
    {
        if store.exists() {
            std::fs::remove_dir_all(store)?;
        }
        if let Some(parent) = store.parent() {
            std::fs::create_dir_all(parent)?;
        }
        eprintln!(
            "bench: generating {} events in {}",
            options.events,
            store.display()
        );
        let events = options.events.to_string();
        let measured = measure(
            &theseus,
            &["--store", store_arg, "generate", "--events", &events],
        )?;
        generated = Some(Figure::of(&measured, options.events));
    } else {
        eprintln!("bench: reusing {}", store.display());
    }
    let events = head_position(&theseus, store_arg).ok_or("the store has no head")?;
    let bytes: u64 = std::fs::read_dir(store)?
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .sum();

    // (a) cold report: derived data (the writers' indexes) present, no
    // checkpoint; then with no derived data at all (`.theseus` deleted), as
    // after a fresh copy of the log. Reading must not build the writers'
    // indexes: checked after the runs.
    eprintln!("bench: cold report summary ×{}", options.runs);
    let report_args = [
        "--store", store_arg, "report", "summary", "--format", "json",
    ];
    let cold = repeat(options.runs, || {
        remove_checkpoints(store)?;
        measure(&theseus, &report_args)
    })?;
    eprintln!(
        "bench: report summary with no derived data ×{}",
        options.runs
    );
    let bare = repeat(options.runs, || {
        remove_derived(store)?;
        measure(&theseus, &report_args)
    })?;
    let index_built = ["ids", "positions", "streams"].iter().any(|name| {
        key_folders(store)
            .iter()
            .any(|folder| folder.join(name).exists())
    });

    // (b) and (e): append one event to the big store, then report from the
    // warm checkpoint.
    eprintln!("bench: single append + warm report ×{}", options.runs);
    measure(&theseus, &report_args)?;
    let line = one_event_line(store)?;
    let one_event = options.work.join("one-event.jsonl");
    std::fs::create_dir_all(&options.work)?;
    std::fs::write(&one_event, line)?;
    let one_event_arg = one_event.to_str().ok_or("path is not UTF-8")?;
    // The first append after `.theseus` is deleted rebuilds the writers'
    // indexes and the rule state from the log. Measured on its own; then
    // the derived data's size against the log's.
    remove_derived(store)?;
    let first_append = measure(&theseus, &["--store", store_arg, "append", one_event_arg])?;
    let derived_bytes = tree_bytes(&store.join(".theseus"));
    let mut appends = Vec::new();
    let mut warm_reports = Vec::new();
    for _ in 0..options.runs {
        appends.push(measure(
            &theseus,
            &["--store", store_arg, "append", one_event_arg],
        )?);
        warm_reports.push(measure(&theseus, &report_args)?);
    }
    let single_append = median(appends);
    let warm = median(warm_reports);
    let events_now = head_position(&theseus, store_arg).ok_or("the store has no head")?;

    // (c) verify.
    eprintln!("bench: verify ×{}", options.runs);
    let verify = repeat(options.runs, || {
        measure(&theseus, &["--store", store_arg, "verify"])
    })?;

    // (d) durable appends of 10,000-event batches into a new store.
    eprintln!("bench: {BATCHES} durable appends of {BATCH_EVENTS} events");
    let batch_files = write_batches(&options.work)?;
    let append_store = options.work.join("append-store");
    if append_store.exists() {
        std::fs::remove_dir_all(&append_store)?;
    }
    let append_store_arg = append_store.to_str().ok_or("path is not UTF-8")?;
    measure(&theseus, &["--store", append_store_arg, "init"])?;
    let mut batch_runs = Vec::new();
    for file in &batch_files {
        let file = file.to_str().ok_or("path is not UTF-8")?;
        batch_runs.push(measure(
            &theseus,
            &["--store", append_store_arg, "append", file],
        )?);
    }
    let batches = total(&batch_runs);

    // (f) one batch of a million events (an import) into a new store: the
    // batch is streamed to the segment, memory must stay flat.
    eprintln!("bench: one append of {IMPORT_EVENTS} events");
    let import_file = write_import(&options.work)?;
    let import_store = options.work.join("import-store");
    if import_store.exists() {
        std::fs::remove_dir_all(&import_store)?;
    }
    let import_store_arg = import_store.to_str().ok_or("path is not UTF-8")?;
    measure(&theseus, &["--store", import_store_arg, "init"])?;
    let import_arg = import_file.to_str().ok_or("path is not UTF-8")?;
    let import = measure(
        &theseus,
        &["--store", import_store_arg, "append", import_arg],
    )?;
    std::fs::remove_dir_all(&import_store)?;
    std::fs::remove_file(&import_file)?;

    let mut rows = vec![
        Row {
            workload: format!("generate {events} events (10,000-line batches through the append rules, in-process)"),
            theseus: generated,
            sqlite: None,
            postgres: None,
            pg_store: None,
            target: "≥ 400 k ev/s, ≤ 128 MB".into(),
        },
        Row {
            workload: format!("cold `report summary`, derived data present, no checkpoint ({events} events, every record chain-checked)"),
            theseus: Some(Figure::of(&cold, events)),
            sqlite: None,
            postgres: None,
            pg_store: None,
            target: "≥ 3 M ev/s (PostgreSQL store: ≥ 1 M ev/s, ≤ 64 MB)".into(),
        },
        Row {
            workload: "`report summary` after appending one event".into(),
            theseus: Some(Figure::of(&warm, 1)),
            sqlite: None,
            postgres: None,
            pg_store: None,
            target: "≤ 50 ms".into(),
        },
        Row {
            workload: format!("`verify` ({events_now} events)"),
            theseus: Some(Figure::of(&verify, events_now)),
            sqlite: None,
            postgres: None,
            pg_store: None,
            target: "≥ 1.5 M ev/s".into(),
        },
        Row {
            workload: format!("durable append, {BATCHES} batches of {BATCH_EVENTS} events (one process or transaction each)"),
            theseus: Some(batches),
            sqlite: None,
            postgres: None,
            pg_store: None,
            target: "≥ 400 k ev/s (PostgreSQL store: ≥ 100 k ev/s)".into(),
        },
        Row {
            workload: format!("single-event append on the {events}-event store (one process)"),
            theseus: Some(Figure::of(&single_append, 1)),
            sqlite: None,
            postgres: None,
            pg_store: None,
            target: "≤ 10 ms".into(),
        },
        Row {
            workload: "single-event append after `.theseus` was deleted (rebuilds the writers' indexes and the rule state)".into(),
            theseus: Some(Figure::of(&first_append, 1)),
            sqlite: None,
            postgres: None,
            pg_store: None,
            target: "≤ 2 s, ≤ 128 MB".into(),
        },
        Row {
            workload: "SQL GROUP BY report over all rows (count and sum per operation and type); theseus: the cold `report summary`".into(),
            theseus: Some(Figure::of(&cold, events)),
            sqlite: None,
            postgres: None,
            pg_store: None,
            target: "-".into(),
        },
    ];
    rows.push(Row {
        workload: format!(
            "cold `report summary` with no derived data (`.theseus` deleted; {events} events, every record chain-checked; {})",
            if index_built { "reading BUILT the writers' indexes" } else { "reading built no index" }
        ),
        theseus: Some(Figure::of(&bare, events)),
        sqlite: None,
        postgres: None,
        pg_store: None,
        target: "≥ 2 M ev/s, ≤ 64 MB".into(),
    });
    rows.push(Row {
        workload: format!("one append of a {IMPORT_EVENTS}-event batch (an import) into a new store (one process)"),
        theseus: Some(Figure::of(&import, IMPORT_EVENTS)),
        sqlite: None,
        postgres: None,
        pg_store: None,
        target: "≥ 400 k ev/s, ≤ 128 MB".into(),
    });
    let derived_note = format!(
        "Derived data after the first append that rebuilt it: {:.1} MB, {:.1}% of the log's {:.1} MB (target ≤ 25%).",
        derived_bytes as f64 / 1e6,
        100.0 * derived_bytes as f64 / bytes.max(1) as f64,
        bytes as f64 / 1e6
    );
    // What the baselines must print: the summary over the log as it is now,
    // replayed from position 1 as theirs are (a report from a checkpoint
    // says so in `as_of.verified`).
    let mut full_replay = report_args.to_vec();
    full_replay.push("--no-checkpoint");
    let expected_report = measure(&theseus, &full_replay)?.stdout;

    let mut notes = Vec::new();
    if options.sql {
        let me = std::env::current_exe()?;
        let me_arg = me.to_str().ok_or("path is not UTF-8")?;
        let files: Vec<&str> = batch_files.iter().filter_map(|f| f.to_str()).collect();
        sqlite_side(
            me_arg,
            options,
            store_arg,
            events,
            &files,
            &expected_report,
            &mut rows,
        )?;
        match postgres_side(
            me_arg,
            options,
            store_arg,
            events,
            &files,
            &expected_report,
            &mut rows,
        ) {
            Ok(()) => {}
            Err(error) => {
                let message = format!("PostgreSQL skipped: {error}");
                eprintln!("bench: {message}");
                notes.push(message);
            }
        }
    }

    // theseus on its PostgreSQL store, then eight writers at once on each
    // store (last: they add events to the file store).
    let one_event_arg = one_event.to_str().ok_or("path is not UTF-8")?;
    let mut concurrent = Vec::new();
    if let Some(base) = &options.pg_store {
        let files: Vec<&str> = batch_files.iter().filter_map(|f| f.to_str()).collect();
        match pg_store::run(
            &theseus,
            base,
            store_arg,
            options.runs,
            one_event_arg,
            &files,
            &expected_report,
            events_now,
        ) {
            Ok(figures) => {
                if !figures.copied.seconds.is_nan() {
                    rows[0].pg_store = Some(figures.copied);
                    rows[0].workload +=
                        "; theseus on PostgreSQL: `theseus copy` of the file store's log";
                }
                rows[1].pg_store = Some(figures.cold);
                rows[2].pg_store = Some(figures.warm);
                rows[3].pg_store = Some(figures.verify);
                rows[4].pg_store = Some(figures.batches);
                rows[5].pg_store = Some(figures.single);
                concurrent.push(("PostgreSQL store", figures.concurrent));
            }
            Err(error) => {
                let message = format!("theseus on PostgreSQL skipped: {error}");
                eprintln!("bench: {message}");
                notes.push(message);
            }
        }
    }
    eprintln!(
        "bench: file store: {} concurrent writers",
        pg_store::CONCURRENT_WRITERS
    );
    concurrent.insert(
        0,
        (
            "file store",
            pg_store::concurrent(&theseus, store_arg, one_event_arg)?,
        ),
    );

    println!(
        "\n{events} events ({:.2} GB, {:.0} bytes an event), {} runs per figure (median), {} cores\n",
        bytes as f64 / 1e9,
        bytes as f64 / events as f64,
        options.runs,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| workload | theseus | theseus on PostgreSQL | SQLite | PostgreSQL | SQLite ÷ theseus time | PostgreSQL ÷ theseus time | target |");
    println!("|---|---|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.workload,
            show(row.theseus),
            show(row.pg_store),
            show(row.sqlite),
            show(row.postgres),
            ratio(row.theseus, row.sqlite),
            ratio(row.theseus, row.postgres),
            row.target
        );
    }
    println!(
        "\n| {} writers at once, {} single-event `theseus append` processes each | result |",
        pg_store::CONCURRENT_WRITERS,
        pg_store::CONCURRENT_APPENDS
    );
    println!("|---|---|");
    for (store, figures) in &concurrent {
        println!("| {store} | {} |", figures.show());
    }
    println!("\nRatios compare time per event: above 1, theseus is faster. Figures include process start.");
    if !have_time() {
        println!("Peak RSS: n/a (/usr/bin/time is not installed).");
    }
    println!("{derived_note}");
    for note in notes {
        println!("{note}");
    }
    Ok(())
}

/// Builds the `theseus` binary next to this one (same profile, same target
/// directory) and returns its path.
fn build_theseus() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["build", "--release", "-p", "cli", "--bin", "theseus"])
        .status()?;
    if !status.success() {
        return Err("building theseus failed".into());
    }
    let me = std::env::current_exe()?;
    let dir = me.parent().ok_or("no directory for this binary")?;
    Ok(dir.join("theseus"))
}

fn head_position(theseus: &Path, store: &str) -> Option<u64> {
    let output = Command::new(theseus)
        .args(["--store", store, "head"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout)
        .split(':')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Deletes the store's derived folder, as a user may at any time.
fn remove_derived(store: &Path) -> Result<()> {
    match std::fs::remove_dir_all(store.join(".theseus")) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
        _ => Ok(()),
    }
}

/// The bytes of the regular files under `dir`, recursively (0 if none).
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok())
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => tree_bytes(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |meta| meta.len()),
            _ => 0,
        })
        .sum()
}

fn remove_checkpoints(store: &Path) -> Result<()> {
    for folder in key_folders(store) {
        let Ok(entries) = std::fs::read_dir(folder.join("derived")) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("checkpoint-")
            {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}

/// The store's derived folders, one per derived-data key
/// (`.theseus/<key id>/`, holding the indexes and `derived/`).
fn key_folders(store: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(store.join(".theseus")) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect()
}

/// A valid new event for the store's first operation: a late passenger
/// check on its first day, by one of its countries.
fn one_event_line(store: &Path) -> Result<String> {
    let store = FileStore::open(store, FileStoreConfig::default())?;
    let mut line = None;
    store.scan(Range::new(1, 1000), &mut |record| {
        if line.is_none() && record.event_type == "OperationLaunched" {
            let data: serde_json::Value = serde_json::from_str(record.data)
                .map_err(|error| event_store::StoreError::Visitor(error.into()))?;
            let country = data["countries"][0].as_str().unwrap_or("AL").to_owned();
            let day = data["starts_on"].as_str().unwrap_or("2021-01-04").to_owned();
            line = Some(format!(
                r#"{{"operation":"{}","type":"ChecksPerformed","recorded_by":"bench","data":{{"country":"{country}","occurred_at":"{day}T12:00:00Z","kind":"passenger","count":1}}}}"#,
                record.operation
            ));
        }
        Ok(())
    })?;
    line.map(|line| line + "\n")
        .ok_or_else(|| "no OperationLaunched in the first 1000 records".into())
}

/// Writes the durable-append workload's input: the generator's lines (seed
/// 2), one file per batch.
fn write_batches(work: &Path) -> Result<Vec<PathBuf>> {
    let dir = work.join("batches");
    std::fs::create_dir_all(&dir)?;
    let mut generator = Generator::new(&GenerateOptions {
        events: BATCHES * BATCH_EVENTS,
        seed: 2,
        operations: 8,
        batch_lines: BATCH_EVENTS,
    });
    let mut files = Vec::new();
    while let Some(batch) = generator.next_batch() {
        let path = dir.join(format!("{:03}.jsonl", files.len() + 1));
        std::fs::write(&path, batch)?;
        files.push(path);
    }
    Ok(files)
}

/// Writes the import workload's input: one batch of the generator's lines
/// (seed 3), into a file of its own.
fn write_import(work: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(work)?;
    let path = work.join("import.jsonl");
    let mut generator = Generator::new(&GenerateOptions {
        events: IMPORT_EVENTS,
        seed: 3,
        operations: 8,
        batch_lines: IMPORT_EVENTS,
    });
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    while let Some(batch) = generator.next_batch() {
        std::io::Write::write_all(&mut file, batch.as_bytes())?;
    }
    std::io::Write::flush(&mut file)?;
    Ok(path)
}

fn total(runs: &[Measured]) -> Figure {
    Figure {
        seconds: runs.iter().map(|run| run.wall.as_secs_f64()).sum(),
        events: BATCHES * BATCH_EVENTS,
        peak_kib: runs.iter().filter_map(|run| run.peak_kib).max(),
    }
}

fn check_same_report(system: &str, got: &[u8], expected: &[u8]) -> Result<()> {
    if got != expected {
        return Err(format!(
            "{system}'s summary differs from theseus's:\n{}\n---\n{}",
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(expected)
        )
        .into());
    }
    Ok(())
}

/// Fills in the SQLite columns.
fn sqlite_side(
    me: &str,
    options: &Options,
    store: &str,
    events: u64,
    batch_files: &[&str],
    expected_report: &[u8],
    rows: &mut [Row],
) -> Result<()> {
    let db = options.work.join("sqlite.db");
    let db_arg = db.to_str().ok_or("path is not UTF-8")?;
    eprintln!("bench: SQLite load of {events} events");
    let loaded = measure(Path::new(me), &["child", "sqlite-load", db_arg, store])?;
    eprintln!("bench: SQLite scan + fold ×{}", options.runs);
    let fold = repeat(options.runs, || {
        measure(Path::new(me), &["child", "sqlite-fold", db_arg])
    })?;
    check_same_report("SQLite", &fold.stdout, expected_report)?;
    let group = repeat(options.runs, || {
        measure(Path::new(me), &["child", "sqlite-group", db_arg])
    })?;
    let single = repeat(options.runs, || {
        measure(Path::new(me), &["child", "sqlite-single", db_arg])
    })?;
    let batch_db = options.work.join("sqlite-batches.db");
    let batch_db_arg = batch_db.to_str().ok_or("path is not UTF-8")?;
    let mut args = vec!["child", "sqlite-batches", batch_db_arg];
    args.extend_from_slice(batch_files);
    let batches = measure(Path::new(me), &args)?;
    let _ = std::fs::remove_file(&db);
    let _ = std::fs::remove_file(&batch_db);
    rows[0].sqlite = Some(Figure::of(&loaded, events));
    rows[0].workload +=
        "; SQLite/PostgreSQL: bulk load of the same records, one transaction / one COPY";
    rows[1].sqlite = Some(Figure::of(&fold, events));
    rows[4].sqlite = Some(Figure::of(&batches, BATCHES * BATCH_EVENTS));
    rows[5].sqlite = Some(Figure::of(&single, 1));
    push_group_row(rows, "SQLite", Figure::of(&group, events));
    Ok(())
}

/// The GROUP BY rows live in one extra row, filled by both baselines.
fn push_group_row(rows: &mut [Row], system: &str, figure: Figure) {
    if let Some(row) = rows
        .iter_mut()
        .find(|row| row.workload.starts_with("SQL GROUP BY"))
    {
        match system {
            "SQLite" => row.sqlite = Some(figure),
            _ => row.postgres = Some(figure),
        }
    }
}

/// Fills in the PostgreSQL columns, or fails with why it cannot.
fn postgres_side(
    me: &str,
    options: &Options,
    store: &str,
    events: u64,
    batch_files: &[&str],
    expected_report: &[u8],
    rows: &mut [Row],
) -> Result<()> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], 5432));
    if options.postgres.contains("127.0.0.1")
        && std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_err()
    {
        return Err("no server reachable at 127.0.0.1:5432".into());
    }
    postgres::Client::connect(&options.postgres, postgres::NoTls)
        .map_err(|error| format!("cannot connect with {:?}: {error}", options.postgres))?;
    let conn = options.postgres.as_str();
    eprintln!("bench: PostgreSQL COPY of {events} events");
    let loaded = measure(Path::new(me), &["child", "pg-load", conn, store])?;
    eprintln!("bench: PostgreSQL read back + fold ×{}", options.runs);
    let fold = repeat(options.runs, || {
        measure(Path::new(me), &["child", "pg-fold", conn])
    })?;
    check_same_report("PostgreSQL", &fold.stdout, expected_report)?;
    let group = repeat(options.runs, || {
        measure(Path::new(me), &["child", "pg-group", conn])
    })?;
    let single = repeat(options.runs, || {
        measure(Path::new(me), &["child", "pg-single", conn])
    })?;
    let mut args = vec!["child", "pg-batches", conn];
    args.extend_from_slice(batch_files);
    let batches = measure(Path::new(me), &args)?;
    let mut client = postgres::Client::connect(conn, postgres::NoTls)?;
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS {TABLE}; DROP TABLE IF EXISTS {TABLE}_batches"
    ))?;
    rows[0].postgres = Some(Figure::of(&loaded, events));
    rows[1].postgres = Some(Figure::of(&fold, events));
    rows[4].postgres = Some(Figure::of(&batches, BATCHES * BATCH_EVENTS));
    rows[5].postgres = Some(Figure::of(&single, 1));
    push_group_row(rows, "PostgreSQL", Figure::of(&group, events));
    Ok(())
}

// ---------------------------------------------------------------------------
// Child workloads: each runs in its own process so that its wall time and
// peak RSS are its own.

fn child(args: &[String]) -> Result<()> {
    let arg = |i: usize| -> Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| "missing argument".into())
    };
    let rest: Vec<&str> = args.iter().skip(2).map(String::as_str).collect();
    match arg(0)? {
        "sqlite-load" => sqlite_load(arg(1)?, arg(2)?),
        "sqlite-fold" => sqlite_fold(arg(1)?),
        "sqlite-group" => sqlite_group(arg(1)?),
        "sqlite-single" => sqlite_single(arg(1)?),
        "sqlite-batches" => sqlite_batches(arg(1)?, &rest),
        "pg-load" => pg_load(arg(1)?, arg(2)?),
        "pg-fold" => pg_fold(arg(1)?),
        "pg-group" => pg_group(arg(1)?),
        "pg-single" => pg_single(arg(1)?),
        "pg-batches" => pg_batches(arg(1)?, &rest),
        other => Err(format!("unknown child workload {other}").into()),
    }
}

/// A row as the projections see it.
fn decode_row<'a>(
    position: u64,
    operation: &'a str,
    event_type: &str,
    data: &'a str,
) -> Result<(Meta<'a>, EventView<'a>)> {
    let event_type =
        EventType::parse(event_type).ok_or_else(|| format!("unknown type {event_type}"))?;
    let view = EventView::decode(event_type, data)
        .map_err(|error| format!("position {position}: {error}"))?;
    let meta = Meta {
        operation,
        position,
        event_type,
    };
    Ok((meta, view))
}

/// Folds one row into the summary, noting retraction targets for later.
fn fold_row(
    summary: &mut Summary,
    retracted: &mut Vec<String>,
    position: u64,
    operation: &str,
    event_type: &str,
    data: &str,
) -> Result<()> {
    let (meta, view) = decode_row(position, operation, event_type, data)?;
    summary.record(&meta, &view);
    if let EventView::EventRetracted { event_id } = view {
        retracted.push(event_id.to_string());
    }
    Ok(())
}

/// Takes a retracted row back out of the summary.
fn retract_row(
    summary: &mut Summary,
    position: u64,
    operation: &str,
    event_type: &str,
    data: &str,
) -> Result<()> {
    let (meta, view) = decode_row(position, operation, event_type, data)?;
    summary.retract(&meta, &view);
    Ok(())
}

/// Prints the summary exactly as `theseus report summary --format json`.
fn print_summary(summary: &Summary, position: u64, hash: &str) -> Result<()> {
    let (columns, rows) = summary.rows(ReportKind::Summary, None);
    let report = Report {
        kind: ReportKind::Summary,
        as_of: Head {
            position,
            hash: hash.parse()?,
        },
        // Shaped like `report --no-checkpoint`, whose output it is compared
        // with; the SQL folds themselves check no chain.
        verified: projections::Verified {
            from: 1,
            to: position,
            checkpoint: None,
        },
        operation: None,
        filter: projections::Filter::default(),
        columns,
        rows,
    };
    let generated_by = format!("theseus {}", env!("CARGO_PKG_VERSION"));
    print!(
        "{}",
        projections::render(&report, Format::Json, &generated_by)
    );
    Ok(())
}

fn sqlite_open(path: &str) -> Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(path)?;
    // WAL with synchronous=FULL: every commit is durable, as theseus's are.
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    Ok(connection)
}

const SQLITE_SCHEMA: &str = "CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    operation TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    schema INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    data TEXT NOT NULL,
    hash TEXT NOT NULL
)";

/// Loads every record of the theseus store in one transaction.
fn sqlite_load(path: &str, store: &str) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let mut connection = sqlite_open(path)?;
    connection.execute(SQLITE_SCHEMA, [])?;
    let transaction = connection.transaction()?;
    {
        let mut insert = transaction
            .prepare("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?;
        let store = FileStore::open(store, FileStoreConfig::default())?;
        store.scan(Range::ALL, &mut |record| {
            insert
                .execute(rusqlite::params![
                    record.position as i64,
                    record.id.to_string(),
                    record.operation.as_ref(),
                    record.version as i64,
                    record.event_type.as_ref(),
                    record.schema,
                    record.recorded_at,
                    record.recorded_by.as_ref(),
                    record.data,
                    record.hash.to_string(),
                ])
                .map_err(|error| event_store::StoreError::Visitor(error.into()))?;
            Ok(())
        })?;
    }
    transaction.commit()?;
    Ok(())
}

/// Reads every row back in position order and folds the same summary.
fn sqlite_fold(path: &str) -> Result<()> {
    let connection = rusqlite::Connection::open(path)?;
    let mut summary = Summary::default();
    let mut retracted = Vec::new();
    {
        let mut select = connection
            .prepare("SELECT position, operation, type, data FROM events ORDER BY position")?;
        let mut rows = select.query([])?;
        while let Some(row) = rows.next()? {
            let position = row.get_ref(0)?.as_i64()? as u64;
            fold_row(
                &mut summary,
                &mut retracted,
                position,
                row.get_ref(1)?.as_str()?,
                row.get_ref(2)?.as_str()?,
                row.get_ref(3)?.as_str()?,
            )?;
        }
    }
    let last: (i64, String) = connection.query_row(
        "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let mut target =
        connection.prepare("SELECT position, operation, type, data FROM events WHERE id = ?1")?;
    for id in &retracted {
        let mut rows = target.query([id])?;
        let row = rows.next()?.ok_or("a retraction's target is missing")?;
        retract_row(
            &mut summary,
            row.get_ref(0)?.as_i64()? as u64,
            row.get_ref(1)?.as_str()?,
            row.get_ref(2)?.as_str()?,
            row.get_ref(3)?.as_str()?,
        )?;
    }
    print_summary(&summary, last.0 as u64, &last.1)
}

fn sqlite_group(path: &str) -> Result<()> {
    let connection = rusqlite::Connection::open(path)?;
    let mut select = connection.prepare(
        "SELECT operation, type, count(*), sum(json_extract(data, '$.count')) FROM events GROUP BY operation, type",
    )?;
    let mut rows = select.query([])?;
    let mut groups = 0;
    while rows.next()?.is_some() {
        groups += 1;
    }
    println!("{groups} groups");
    Ok(())
}

fn sqlite_single(path: &str) -> Result<()> {
    let connection = sqlite_open(path)?;
    let position: i64 = connection.query_row(
        "SELECT coalesce(max(position), 0) + 1 FROM events",
        [],
        |row| row.get(0),
    )?;
    connection.execute(
        "INSERT INTO events VALUES (?1, ?2, 'bench', 1, 'ChecksPerformed', 1, '2024-01-01T00:00:00Z', 'bench', ?3, ?4)",
        rusqlite::params![
            position,
            format!("single-{position}-{}", std::process::id()),
            r#"{"country":"AL","occurred_at":"2021-01-04T12:00:00Z","kind":"passenger","count":1}"#,
            "0".repeat(64)
        ],
    )?;
    Ok(())
}

/// One input line's columns, as the baselines store them (no rules, no
/// chain: the positions are counted and the hash column is left empty).
struct InputRow {
    id: String,
    operation: String,
    event_type: String,
    recorded_by: String,
    data: String,
}

fn input_rows(file: &str) -> Result<Vec<InputRow>> {
    let text = std::fs::read_to_string(file)?;
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)?;
            let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
            Ok(InputRow {
                id: field("id"),
                operation: field("operation"),
                event_type: field("type"),
                recorded_by: field("recorded_by"),
                data: value["data"].to_string(),
            })
        })
        .collect()
}

/// Appends each file as one durable transaction.
fn sqlite_batches(path: &str, files: &[&str]) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let mut connection = sqlite_open(path)?;
    connection.execute(SQLITE_SCHEMA, [])?;
    let mut position = 0i64;
    for file in files {
        let rows = input_rows(file)?;
        let transaction = connection.transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO events VALUES (?1, ?2, ?3, 0, ?4, 1, '2024-01-01T00:00:00Z', ?5, ?6, '')",
            )?;
            for row in rows {
                position += 1;
                insert.execute(rusqlite::params![
                    position,
                    row.id,
                    row.operation,
                    row.event_type,
                    row.recorded_by,
                    row.data
                ])?;
            }
        }
        transaction.commit()?;
    }
    Ok(())
}

fn pg_schema(table: &str) -> String {
    format!(
        "DROP TABLE IF EXISTS {table};
         CREATE TABLE {table} (
             position bigint PRIMARY KEY,
             id text NOT NULL UNIQUE,
             operation text NOT NULL,
             version bigint NOT NULL,
             type text NOT NULL,
             schema integer NOT NULL,
             recorded_at timestamptz NOT NULL,
             recorded_by text NOT NULL,
             data jsonb NOT NULL,
             hash text NOT NULL
         )"
    )
}

/// COPY's text format: backslash, tab, newline and carriage return escaped.
fn copy_field(out: &mut Vec<u8>, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

/// Loads every record of the theseus store with one COPY.
fn pg_load(conn: &str, store: &str) -> Result<()> {
    use std::io::Write;
    let mut client = postgres::Client::connect(conn, postgres::NoTls)?;
    client.batch_execute(&pg_schema(TABLE))?;
    let mut writer = client.copy_in(
        format!("COPY {TABLE} (position, id, operation, version, type, schema, recorded_at, recorded_by, data, hash) FROM STDIN").as_str(),
    )?;
    let store = FileStore::open(store, FileStoreConfig::default())?;
    let mut buffer = Vec::with_capacity(1 << 20);
    let mut failure = None;
    store.scan(Range::ALL, &mut |record| {
        buffer.extend_from_slice(format!("{}\t{}\t", record.position, record.id).as_bytes());
        copy_field(&mut buffer, &record.operation);
        buffer.extend_from_slice(format!("\t{}\t", record.version).as_bytes());
        copy_field(&mut buffer, &record.event_type);
        buffer
            .extend_from_slice(format!("\t{}\t{}\t", record.schema, record.recorded_at).as_bytes());
        copy_field(&mut buffer, &record.recorded_by);
        buffer.push(b'\t');
        copy_field(&mut buffer, record.data);
        buffer.extend_from_slice(format!("\t{}\n", record.hash).as_bytes());
        if buffer.len() >= 1 << 20 {
            if let Err(error) = writer.write_all(&buffer) {
                failure = Some(error);
                return Err(event_store::StoreError::Visitor("COPY failed".into()));
            }
            buffer.clear();
        }
        Ok(())
    })?;
    if let Some(error) = failure {
        return Err(error.into());
    }
    writer.write_all(&buffer)?;
    writer.finish()?;
    Ok(())
}

/// Reads every row back in position order (streamed) and folds the same
/// summary.
fn pg_fold(conn: &str) -> Result<()> {
    use postgres::fallible_iterator::FallibleIterator;
    let mut client = postgres::Client::connect(conn, postgres::NoTls)?;
    let mut summary = Summary::default();
    let mut retracted = Vec::new();
    {
        let mut rows = client.query_raw(
            format!("SELECT position, operation, type, data::text FROM {TABLE} ORDER BY position")
                .as_str(),
            std::iter::empty::<&str>(),
        )?;
        while let Some(row) = rows.next()? {
            let position = row.get::<_, i64>(0) as u64;
            fold_row(
                &mut summary,
                &mut retracted,
                position,
                row.get(1),
                row.get(2),
                row.get(3),
            )?;
        }
    }
    let last = client.query_one(
        format!("SELECT position, hash FROM {TABLE} ORDER BY position DESC LIMIT 1").as_str(),
        &[],
    )?;
    let last = (last.get::<_, i64>(0) as u64, last.get::<_, String>(1));
    let targets = client.query(
        format!("SELECT position, operation, type, data::text FROM {TABLE} WHERE id = ANY($1)")
            .as_str(),
        &[&retracted],
    )?;
    for row in targets {
        retract_row(
            &mut summary,
            row.get::<_, i64>(0) as u64,
            row.get(1),
            row.get(2),
            row.get(3),
        )?;
    }
    print_summary(&summary, last.0, &last.1)
}

fn pg_group(conn: &str) -> Result<()> {
    let mut client = postgres::Client::connect(conn, postgres::NoTls)?;
    let rows = client.query(
        format!("SELECT operation, type, count(*), sum((data->>'count')::bigint) FROM {TABLE} GROUP BY operation, type").as_str(),
        &[],
    )?;
    println!("{} groups", rows.len());
    Ok(())
}

fn pg_single(conn: &str) -> Result<()> {
    let mut client = postgres::Client::connect(conn, postgres::NoTls)?;
    client.execute(
        format!(
            "INSERT INTO {TABLE} SELECT coalesce(max(position), 0) + 1, 'single-' || (coalesce(max(position), 0) + 1), 'bench', 1, 'ChecksPerformed', 1, now(), 'bench', $1::text::jsonb, ''  FROM {TABLE}"
        )
        .as_str(),
        &[&r#"{"country":"AL","occurred_at":"2021-01-04T12:00:00Z","kind":"passenger","count":1}"#],
    )?;
    Ok(())
}

/// Appends each file as one COPY in its own (durable) transaction.
fn pg_batches(conn: &str, files: &[&str]) -> Result<()> {
    use std::io::Write;
    let table = format!("{TABLE}_batches");
    let mut client = postgres::Client::connect(conn, postgres::NoTls)?;
    client.batch_execute(&pg_schema(&table))?;
    let mut position = 0u64;
    for file in files {
        let rows = input_rows(file)?;
        let mut buffer = Vec::with_capacity(rows.len() * 512);
        for row in rows {
            position += 1;
            buffer.extend_from_slice(format!("{position}\t").as_bytes());
            copy_field(&mut buffer, &row.id);
            buffer.push(b'\t');
            copy_field(&mut buffer, &row.operation);
            buffer.extend_from_slice(b"\t0\t");
            copy_field(&mut buffer, &row.event_type);
            buffer.extend_from_slice(b"\t1\t2024-01-01T00:00:00Z\t");
            copy_field(&mut buffer, &row.recorded_by);
            buffer.push(b'\t');
            copy_field(&mut buffer, &row.data);
            buffer.extend_from_slice(b"\t\n");
        }
        let mut transaction = client.transaction()?;
        let mut writer = transaction.copy_in(
            format!("COPY {table} (position, id, operation, version, type, schema, recorded_at, recorded_by, data, hash) FROM STDIN").as_str(),
        )?;
        writer.write_all(&buffer)?;
        writer.finish()?;
        transaction.commit()?;
    }
    Ok(())
}
