//! The `kendra-local` binary: parses flags into a [`kendra_local::Config`], starts the
//! emulator, prints its endpoint and stops cleanly on SIGINT/SIGTERM.

use kendra_local::{Config, Faults};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
kendra-local: a local, wire-compatible Amazon Kendra emulator

USAGE: kendra-local [OPTIONS]

OPTIONS:
  --port <PORT>                 port to listen on; 0 picks a free one [default: 8566]
  --host <IP>                   address to bind [default: 127.0.0.1]
  --index <ID>                  create this 36-character index at start (repeatable)
  --indexing-delay-ms <MS>      PROCESSING -> INDEXED/UPDATED after this long [default: 0]
  --delete-delay-ms <MS>        deleted documents become NOT_FOUND after this long [default: 0]
  --delay-jitter-ms <MS>        uniform extra delay per document, seeded [default: 0]
  --indexing-checks <N>         deterministic lifecycle: PROCESSING for the first N status
                                observations, regardless of time
  --seed <N>                    seed of delays, generated ids and faults [default: 0]
  --latency-ms <MS>             added latency on faulted operations [default: 0]
  --latency-jitter-ms <MS>      uniform extra latency, seeded [default: 0]
  --max-rps <R>                 whole-server rate cap; calls above it get ThrottlingException
  --internal-error-rate <P>     probability 0..1 of InternalServerException (HTTP 500)
  --throttle-rate <P>           probability 0..1 of ThrottlingException
  --fault-operations <A,B>      operations the faults apply to, or * for all
                                [default: BatchGetDocumentStatus]
  -h, --help                    print this help
  -V, --version                 print the version

It prints `kendra-local listening on http://HOST:PORT` as its first line of stdout.
Point an SDK at it with AWS_ENDPOINT_URL_KENDRA=http://HOST:PORT.
";

struct Args {
    host: IpAddr,
    port: u16,
    config: Config,
}

enum Parsed {
    Run(Args),
    Exit(&'static str),
}

fn millis(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn parse_args() -> Result<Parsed, lexopt::Error> {
    use lexopt::prelude::*;
    let mut host = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut port: u16 = 8566;
    let mut config = Config::default();
    let mut faults = Faults::default();
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("port") => port = parser.value()?.parse()?,
            Long("host") => host = parser.value()?.parse()?,
            Long("index") => config.indexes.push(parser.value()?.string()?),
            Long("indexing-delay-ms") => config.indexing_delay = millis(parser.value()?.parse()?),
            Long("delete-delay-ms") => config.delete_delay = millis(parser.value()?.parse()?),
            Long("delay-jitter-ms") => config.delay_jitter = millis(parser.value()?.parse()?),
            Long("indexing-checks") => config.indexing_checks = Some(parser.value()?.parse()?),
            Long("seed") => config.seed = parser.value()?.parse()?,
            Long("latency-ms") => faults.latency = millis(parser.value()?.parse()?),
            Long("latency-jitter-ms") => faults.latency_jitter = millis(parser.value()?.parse()?),
            Long("max-rps") => faults.max_rps = Some(parser.value()?.parse()?),
            Long("internal-error-rate") => faults.internal_error_rate = parser.value()?.parse()?,
            Long("throttle-rate") => faults.throttle_rate = parser.value()?.parse()?,
            Long("fault-operations") => {
                faults.operations = parser
                    .value()?
                    .string()?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            Short('h') | Long("help") => return Ok(Parsed::Exit(USAGE)),
            Short('V') | Long("version") => {
                return Ok(Parsed::Exit(concat!(
                    "kendra-local ",
                    env!("CARGO_PKG_VERSION"),
                    "\n"
                )));
            }
            _ => return Err(arg.unexpected()),
        }
    }
    faults.seed = config.seed;
    config.faults = faults;
    Ok(Parsed::Run(Args { host, port, config }))
}

/// SIGINT and SIGTERM, registered before the endpoint is printed so a script that signals
/// right after reading the line does not kill the process before it can shut down cleanly.
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn register() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    async fn wait(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Exit(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kendra-local: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = args.config.validate() {
        eprintln!("kendra-local: {e}");
        return ExitCode::from(2);
    }
    let mut signals = match StopSignals::register() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kendra-local: cannot listen for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = SocketAddr::new(args.host, args.port);
    let server = match kendra_local::start_on(addr, args.config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("kendra-local: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    // Scripts wait for this exact first line.
    if writeln!(out, "kendra-local listening on {}", server.endpoint())
        .and_then(|()| out.flush())
        .is_err()
    {
        // Stdout closed: keep serving; the endpoint is whatever was asked for.
    }
    drop(out);
    signals.wait().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
