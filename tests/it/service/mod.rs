//! `theseus serve` over real HTTP on loopback, through the real binary:
//! the server is started on port 0 (the address it prints is read back),
//! requests are written byte for byte to a TCP socket, so that hostile ones
//! can be as malformed as a test needs.

#![allow(dead_code)]

mod agencies;
mod api;
mod concurrency;
mod dashboard;
mod events;
mod hostile;
mod operations;
mod signatures;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::{theseus_bin, Store};

/// How long any one read from the server may take before a test fails
/// rather than hangs.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `theseus serve`.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub address: SocketAddr,
    /// Holds the access log and the server's stderr.
    logs: tempfile::TempDir,
}

impl Server {
    /// Starts `theseus --store STORE serve --listen 127.0.0.1:0 ARGS…`,
    /// its access log in a file of its own.
    pub fn start(store: &Store, args: &[&str]) -> Server {
        Server::start_on(&store.spec().to_string_lossy(), args)
    }

    /// Starts a server on a store named by `--store` (a directory or an
    /// address).
    pub fn start_on(store: &str, args: &[&str]) -> Server {
        let logs = tempfile::tempdir().expect("log dir");
        let access = logs.path().join("access.jsonl");
        let stderr = std::fs::File::create(logs.path().join("stderr")).expect("stderr file");
        let mut child = Command::new(theseus_bin())
            .arg("--store")
            .arg(store)
            .args(["serve", "--listen", "127.0.0.1:0", "--access-log"])
            .arg(&access)
            .args(args)
            .env_remove("THESEUS_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn theseus serve");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let printed: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            let _ = child.wait();
            panic!(
                "the server did not start: stdout {line:?}, stderr {}",
                std::fs::read_to_string(logs.path().join("stderr")).unwrap_or_default()
            )
        });
        let address = printed["listening"]
            .as_str()
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server {
            child: Some(child),
            address,
            logs,
        }
    }

    /// Sends SIGTERM and waits for the server to exit (60 s at most). Its
    /// logs stay readable.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("the server did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_stop(&self) {
        let child = self.child.as_ref().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }

    /// Waits for a server told to stop.
    pub fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not stop within 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn access_log_path(&self) -> PathBuf {
        self.logs.path().join("access.jsonl")
    }

    /// The access log's entries so far.
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.access_log_path())
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("an access log line is JSON"))
            .collect()
    }

    /// What the server wrote to stderr.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.logs.path().join("stderr")).unwrap_or_default()
    }

    /// A request with `Connection: close`.
    pub fn request(&self, request: Request) -> Reply {
        send(self.address, &request.bytes())
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Request::get(path).token(token))
    }

    /// POSTs a batch as JSON Lines.
    pub fn post(&self, token: Option<&str>, batch: &str) -> Reply {
        self.request(Request::batch(batch).token(token))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A request to write.
#[derive(Clone, Debug)]
pub struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    pub fn get(path: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Request {
        Request {
            method: "POST".into(),
            path: path.into(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A POST of a JSON Lines batch to /v1/events.
    pub fn batch(body: impl Into<Vec<u8>>) -> Request {
        Request::post("/v1/events", body).header("Content-Type", "application/x-ndjson")
    }

    pub fn method(mut self, method: &str) -> Request {
        self.method = method.into();
        self
    }

    pub fn path(mut self, path: &str) -> Request {
        self.path = path.into();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn token(self, token: Option<&str>) -> Request {
        match token {
            Some(token) => self.header("Authorization", &format!("Bearer {token}")),
            None => self,
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
            self.method, self.path
        )
        .into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if self.method == "POST" || !self.body.is_empty() {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// A parsed response.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    /// Asserts the status and returns the body as text.
    pub fn expect(self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        self.text()
    }

    /// Asserts a JSON error with this status and code; returns the error
    /// object.
    pub fn refused(&self, status: u16, code: &str) -> serde_json::Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        let error = self.json()["error"].clone();
        assert_eq!(error["code"], code, "{}", self.text());
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{error}"
        );
        error
    }
}

/// Writes `raw` to a new connection and reads the response to the end
/// (the requests say `Connection: close`).
pub fn send(address: SocketAddr, raw: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    // The server may answer (413, 401…) before reading a whole body and
    // close: a failed write is not the test's concern, the answer is.
    let _ = stream.write_all(raw);
    read_reply(&mut stream).unwrap_or_else(|| panic!("no response to {:?}", preview(raw)))
}

fn preview(raw: &[u8]) -> String {
    String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned()
}

/// Reads one response (to the end of the connection), or `None` if the
/// server closed without answering.
pub fn read_reply(stream: &mut TcpStream) -> Option<Reply> {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 65536];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            // A reset after the answer was sent still leaves the answer.
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!("reading the response: {error}"),
        }
    }
    parse_reply(&raw)
}

pub fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Some(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&raw[start..(start + size).min(raw.len())]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    out
}

/// Registers an agency through the CLI; returns its token.
pub fn add_agency(store: &Store, args: &[&str]) -> String {
    let mut all = vec!["agency", "add"];
    all.extend_from_slice(args);
    let added = store.run(&all).json();
    added["token"].as_str().expect("a token").to_owned()
}

/// The sample store with the agencies most tests use.
#[derive(Debug)]
pub struct Fixture {
    pub store: Store,
    /// A reporter for RS in operation theseus.
    pub rs: String,
    /// A reporter for AL in any operation.
    pub al: String,
    /// An analyst.
    pub analyst: String,
    /// A coordinator of any operation.
    pub coordinator: String,
    /// A coordinator of operation dunqett only.
    pub dunqett: String,
}

impl Fixture {
    /// On a copy of the sample store.
    pub fn new() -> Fixture {
        Fixture::on(Store::sample())
    }

    /// On a PostgreSQL schema holding a copy of the sample, or `None` (after
    /// one line saying so) when no server is reachable.
    pub fn postgres() -> Option<Fixture> {
        let store = Store::postgres_uninitialised()?;
        let sample = Store::sample();
        crate::support::Store::run(
            &sample,
            &[
                "copy",
                "--from",
                &sample.path().display().to_string(),
                "--to",
                &store.spec().to_string_lossy(),
            ],
        )
        .ok();
        Some(Fixture::on(store))
    }

    fn on(store: Store) -> Fixture {
        let rs = add_agency(
            &store,
            &[
                "rs-police",
                "--role",
                "reporter",
                "--country",
                "RS",
                "--operation",
                "theseus",
            ],
        );
        let al = add_agency(
            &store,
            &["al-police", "--role", "reporter", "--country", "AL"],
        );
        let analyst = add_agency(&store, &["eu-analyst", "--role", "analyst"]);
        let coordinator = add_agency(&store, &["interpol", "--role", "coordinator"]);
        let dunqett = add_agency(
            &store,
            &["europol", "--role", "coordinator", "--operation", "dunqett"],
        );
        Fixture {
            store,
            rs,
            al,
            analyst,
            coordinator,
            dunqett,
        }
    }
}

/// An arrest in operation theseus, in `country`, with this id.
pub fn arrest(id: &str, country: &str) -> String {
    format!(
        r#"{{"id":"{id}","operation":"theseus","type":"ArrestMade","data":{{"country":"{country}","occurred_at":"2019-12-12T10:00:00+01:00","location":"border_crossing","suspect":"{country}-S-{id}"}}}}"#
    )
}

/// The committed records whose id is `id`, parsed.
pub fn records_with_id(store: &Store, id: &str) -> Vec<serde_json::Value> {
    store
        .log_bytes()
        .into_iter()
        .flat_map(|(_, bytes)| {
            String::from_utf8(bytes)
                .expect("utf-8")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|line| line.contains(id))
        .map(|line| serde_json::from_str(&line).expect("record"))
        .filter(|record: &serde_json::Value| record["id"] == id)
        .collect()
}
