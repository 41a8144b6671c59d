//! `bench service`: requests per second and latency percentiles of
//! `theseus serve` on loopback, with concurrent clients posting single
//! events and 1,000-event batches, beside the CLI's single-event append.
//!
//! ```text
//! cargo run --release -p bench -- service [--events N] [--clients 8] [--singles 400] [--batches 12]
//! ```
//!
//! The store is generated fresh (N events, default 100,000), an agency is
//! registered, the server started on port 0, and each client thread keeps
//! one HTTP/1.1 connection alive and sends its requests back to back,
//! timing each from the first byte written to the last byte read.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;

#[derive(Debug)]
struct Options {
    events: u64,
    clients: usize,
    singles: usize,
    batches: usize,
    cli_appends: usize,
    theseus: Option<PathBuf>,
    work: PathBuf,
    /// A PostgreSQL address: serve a store in its schema `bench_service`
    /// (dropped before and after) instead of a directory.
    postgres: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            events: 100_000,
            clients: 8,
            singles: 400,
            batches: 12,
            cli_appends: 100,
            theseus: None,
            postgres: None,
            work: crate::workspace_root()
                .join("target")
                .join("bench-store")
                .join("service"),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs a value"))
            };
            match arg.as_str() {
                "--events" => options.events = value()?.replace('_', "").parse()?,
                "--clients" => options.clients = value()?.parse()?,
                "--singles" => options.singles = value()?.parse()?,
                "--batches" => options.batches = value()?.parse()?,
                "--cli-appends" => options.cli_appends = value()?.parse()?,
                "--theseus" => options.theseus = Some(PathBuf::from(value()?)),
                "--postgres" => options.postgres = Some(value()?),
                "-h" | "--help" => {
                    println!(
                        "usage: bench service [--events N] [--clients C] [--singles S] [--batches B] [--cli-appends A] [--theseus PATH] [--postgres URL]\n\
                         Generates a store of N events, serves it on loopback, and measures C clients each\n\
                         posting S single events, then B batches of 1,000, and A single-event CLI appends."
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?} (try --help)").into()),
            }
        }
        options.clients = options.clients.max(1);
        Ok(options)
    }
}

/// Latencies of one workload, and its wall time.
struct Timings {
    latencies: Vec<Duration>,
    wall: Duration,
    events_per_request: u64,
}

impl Timings {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    fn row(&self, workload: &str, clients: usize) -> String {
        let requests = self.latencies.len() as f64;
        let seconds = self.wall.as_secs_f64();
        let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
        format!(
            "| {workload} | {clients} | {} | {:.0} | {:.0} | {} | {} | {} |",
            self.latencies.len(),
            requests / seconds,
            requests * self.events_per_request as f64 / seconds,
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0)),
            ms(self.percentile(100.0)),
        )
    }
}

fn theseus(binary: &Path, store: &str, args: &[&str], input: Option<&[u8]>) -> Result<String> {
    let mut child = Command::new(binary)
        .arg("--store")
        .arg(store)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.unwrap_or_default())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(format!(
            "theseus {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

const OPERATION: &str = "bench-service";

fn launch() -> String {
    format!(
        r#"{{"operation":"{OPERATION}","type":"OperationLaunched","data":{{"name":"Service benchmark","coordinator":"bench","countries":["AL","RS"],"starts_on":"2024-01-01","ends_on":"2024-12-31"}}}}"#
    ) + "\n"
}

fn event(client: usize, n: usize, line: usize) -> String {
    format!(
        r#"{{"id":"{client:08x}-{n:04x}-4000-8000-{line:012x}","operation":"{OPERATION}","type":"ChecksPerformed","data":{{"country":"RS","occurred_at":"2024-03-01T12:00:00Z","kind":"passenger","count":1}}}}"#
    ) + "\n"
}

/// A running server, stopped (SIGTERM) when dropped.
struct Served {
    child: Child,
    address: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn serve(binary: &Path, store: &str, access_log: &Path) -> Result<Served> {
    let mut child = Command::new(binary)
        .arg("--store")
        .arg(store)
        .args(["serve", "--listen", "127.0.0.1:0", "--access-log"])
        .arg(access_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let printed: serde_json::Value = serde_json::from_str(&line)?;
    let address = printed["listening"]
        .as_str()
        .ok_or("no address printed")?
        .parse()?;
    Ok(Served { child, address })
}

/// One keep-alive connection.
struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    fn connect(address: SocketAddr) -> Result<Client> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Client {
            stream,
            buffer: Vec::with_capacity(1 << 16),
        })
    }

    /// POSTs a batch; returns the time to the whole answer.
    fn post(&mut self, token: &str, body: &[u8]) -> Result<Duration> {
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let started = Instant::now();
        self.stream.write_all(head.as_bytes())?;
        self.stream.write_all(body)?;
        let (status, answer) = self.read_answer()?;
        let took = started.elapsed();
        if status != 200 {
            return Err(format!("status {status}: {}", String::from_utf8_lossy(&answer)).into());
        }
        Ok(took)
    }

    fn read_answer(&mut self) -> Result<(u16, Vec<u8>)> {
        self.buffer.clear();
        let mut chunk = [0u8; 8192];
        let (head_end, length) = loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse::<usize>().ok())
                    .ok_or("an answer without Content-Length")?;
                break (end + 4, length);
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        };
        while self.buffer.len() < head_end + length {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err("the server closed the connection mid-answer".into());
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
        let status = String::from_utf8_lossy(&self.buffer[..head_end])
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        Ok((status, self.buffer[head_end..head_end + length].to_vec()))
    }
}

/// `clients` threads, each sending `requests` batches of `lines` events.
fn load(
    address: SocketAddr,
    token: &str,
    clients: usize,
    requests: usize,
    lines: usize,
    round: usize,
) -> Result<Timings> {
    let started = Instant::now();
    // Errors cross the threads as text (a boxed error is not Send).
    let per_client: Vec<std::result::Result<Vec<Duration>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|client| {
                scope.spawn(move || {
                    let mut connection =
                        Client::connect(address).map_err(|error| error.to_string())?;
                    let mut latencies = Vec::with_capacity(requests);
                    for n in 0..requests {
                        let body: String = (0..lines)
                            .map(|line| event(client + round * clients, n, line))
                            .collect();
                        let took = connection
                            .post(token, body.as_bytes())
                            .map_err(|error| error.to_string())?;
                        latencies.push(took);
                    }
                    Ok(latencies)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("a client thread panicked".into()))
            })
            .collect()
    });
    let wall = started.elapsed();
    let mut latencies = Vec::new();
    for client in per_client {
        latencies.extend(client?);
    }
    Ok(Timings {
        latencies,
        wall,
        events_per_request: lines as u64,
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

pub fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let binary = match &options.theseus {
        Some(path) => path.clone(),
        None => crate::build_theseus()?,
    };
    let _ = std::fs::remove_dir_all(&options.work);
    std::fs::create_dir_all(&options.work)?;
    const SCHEMA: &str = "bench_service";
    let store = match &options.postgres {
        Some(base) => {
            crate::pg_store::drop_schema(base, SCHEMA)?;
            crate::pg_store::with_schema(base, SCHEMA)
        }
        None => options.work.join("store").display().to_string(),
    };
    let kind = if options.postgres.is_some() {
        "PostgreSQL store"
    } else {
        "file store"
    };
    let events = options.events.to_string();
    eprintln!("generating a store of {events} events…");
    theseus(&binary, &store, &["generate", "--events", &events], None)?;
    theseus(
        &binary,
        &store,
        &["append", "--recorded-by", "bench"],
        Some(launch().as_bytes()),
    )?;
    let added = theseus(
        &binary,
        &store,
        &[
            "agency",
            "add",
            "bench-coordinator",
            "--role",
            "coordinator",
        ],
        None,
    )?;
    let token = serde_json::from_str::<serde_json::Value>(&added)?["token"]
        .as_str()
        .ok_or("no token")?
        .to_owned();
    let load_before = load_average();
    let served = serve(&binary, &store, &options.work.join("access.jsonl"))?;
    eprintln!("server at {}", served.address);
    // Warm up: the first request reads the rule state's checkpoint.
    load(served.address, &token, 1, 5, 1, 1000)?;
    eprintln!(
        "single-event posts: {} clients × {}…",
        options.clients, options.singles
    );
    let singles = load(
        served.address,
        &token,
        options.clients,
        options.singles,
        1,
        0,
    )?;
    eprintln!(
        "1,000-event batches: {} clients × {}…",
        options.clients, options.batches
    );
    let batches = load(
        served.address,
        &token,
        options.clients,
        options.batches,
        1000,
        1,
    )?;
    drop(served);
    eprintln!("CLI single-event appends: {}…", options.cli_appends);
    let mut cli = Vec::with_capacity(options.cli_appends);
    let started = Instant::now();
    for n in 0..options.cli_appends {
        let line = event(9_999, n, 0);
        let one = Instant::now();
        theseus(
            &binary,
            &store,
            &["append", "--recorded-by", "bench"],
            Some(line.as_bytes()),
        )?;
        cli.push(one.elapsed());
    }
    let cli = Timings {
        latencies: cli,
        wall: started.elapsed(),
        events_per_request: 1,
    };
    let load_after = load_average();
    let head = theseus(&binary, &store, &["head"], None)?;
    println!(
        "store: {} generated events ({kind}), head {}; load average before {load_before}, after {load_after}; {} cores\n",
        options.events,
        head.trim(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| workload | clients | requests | requests/s | events/s | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "{}",
        singles.row("POST /v1/events, 1 event", options.clients)
    );
    println!(
        "{}",
        batches.row("POST /v1/events, 1,000 events", options.clients)
    );
    println!(
        "{}",
        cli.row("`theseus append`, 1 event (process start included)", 1)
    );
    theseus(&binary, &store, &["verify"], None)?;
    if let Some(base) = &options.postgres {
        crate::pg_store::drop_schema(base, SCHEMA)?;
    }
    Ok(())
}
