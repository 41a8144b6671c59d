//! `theseus serve`: the ledger as an HTTP API (see the `server` crate).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use server::{Limits, ServeConfig, TlsFiles};

use crate::exit::Failure;
use crate::store::StoreSpec;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on, IP:PORT (port 0: any free port; the
    /// address chosen is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's PEM private key.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Append the access log (JSON Lines) to this file instead of stderr.
    #[arg(long)]
    access_log: Option<PathBuf>,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Seconds a request's head, and then its body, may take to arrive.
    #[arg(long, default_value_t = Limits::default().request_timeout.as_secs())]
    request_timeout: u64,
    /// Connections open at once (more wait until one closes).
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Serve the dashboard (GET /) without a token: for a briefing screen
    /// on a trusted network.
    #[arg(long)]
    public_dashboard: bool,
    /// Refuse unsigned batches from this agency (403; repeat for several).
    #[arg(long = "require-signatures", value_name = "AGENCY")]
    require_signatures: Vec<String>,
}

pub fn run(spec: &StoreSpec, args: ServeArgs, out: &mut dyn Write) -> Result<(), Failure> {
    if args.request_timeout == 0 || args.max_connections == 0 || args.max_body_bytes == 0 {
        return Err(Failure::Usage(
            "--request-timeout, --max-connections and --max-body-bytes must be at least 1".into(),
        ));
    }
    for agency in &args.require_signatures {
        domain::registry::AgencyId::parse(agency)
            .map_err(|message| Failure::Usage(format!("--require-signatures: {message}")))?;
    }
    let opened = spec.open()?;
    let store = opened.into_shared();
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    let config = ServeConfig {
        listen: args.listen,
        tls,
        access_log: args.access_log,
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            request_timeout: Duration::from_secs(args.request_timeout),
            max_connections: args.max_connections,
            ..Limits::default()
        },
        public_dashboard: args.public_dashboard,
        parts: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        // The service's identity: receipts are signed with the same key as
        // the CLI's (recorded in the log at the first receipt).
        ledger_key: Some(crate::ledger_key::load()?),
        require_signatures: args.require_signatures.into_iter().collect(),
    };
    let mut printed = Ok(());
    server::serve(store, config, |listening| {
        let line = serde_json::json!({
            "listening": listening.address.to_string(),
            "tls": listening.tls,
        });
        printed = writeln!(out, "{line}").and_then(|()| out.flush());
    })
    .map_err(Failure::Server)?;
    printed?;
    Ok(())
}
