//! Throughput of `BatchGetDocumentStatus` (10 documents per call, no added latency).
//!
//! Not a test: it prints calls per second. Two load generators, both with many concurrent
//! keep-alive connections:
//! - `raw`: a hand-written HTTP/1.1 client over tokio `TcpStream` that replays one
//!   pre-built request, so nearly all CPU left over goes to the emulator;
//! - `sdk`: the real `aws-sdk-kendra` client (SigV4 signing, retries, response parsing),
//!   which shows what a real caller sees on the same 2 cores.
//!
//! ```text
//! cargo bench -p kendra-local --bench throughput                      # both, in-process server
//! cargo bench -p kendra-local --bench throughput -- --seconds 10 --connections 32 --mode raw
//! cargo bench -p kendra-local --bench throughput -- --endpoint http://127.0.0.1:8566  # a running binary
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const INDEX: &str = "0123456789abcdef0123456789abcdef0123";

struct Options {
    seconds: f64,
    connections: usize,
    modes: Vec<String>,
    endpoint: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 5.0,
        connections: 16,
        modes: vec!["raw".into(), "sdk".into()],
        endpoint: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => o.seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(5.0),
            "--connections" => {
                o.connections = args.next().and_then(|v| v.parse().ok()).unwrap_or(16)
            }
            "--mode" => o.modes = args.next().into_iter().collect(),
            "--endpoint" => o.endpoint = args.next(),
            // `cargo bench` passes --bench; anything else is ignored too.
            _ => {}
        }
    }
    o
}

fn doc_ids() -> Vec<String> {
    (0..10).map(|i| format!("bench-doc-{i}")).collect()
}

fn status_body() -> String {
    let infos: Vec<String> = doc_ids()
        .iter()
        .map(|id| format!(r#"{{"DocumentId":"{id}"}}"#))
        .collect();
    format!(
        r#"{{"IndexId":"{INDEX}","DocumentInfoList":[{}]}}"#,
        infos.join(",")
    )
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns its status code.
async fn read_response(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).unwrap_or_default();
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let len: usize = head
                .split("\r\n")
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())
                        .flatten()
                })
                .unwrap_or(0);
            let total = end + 4 + len;
            while buf.len() < total {
                let mut chunk = [0u8; 8192];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
}

async fn raw_load(addr: SocketAddr, opts: &Options) -> (u64, u64, Duration) {
    let body = status_body();
    let request = Arc::new(
        format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: AWSKendraFrontendService.BatchGetDocumentStatus\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    );
    run(opts, move |stop, counts| {
        let request = request.clone();
        async move {
            let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let _ = stream.set_nodelay(true);
            let mut buf = Vec::with_capacity(16 * 1024);
            while !stop.load(Ordering::Relaxed) {
                if stream.write_all(&request).await.is_err() {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                match read_response(&mut stream, &mut buf).await {
                    Ok(200) => counts.ok.fetch_add(1, Ordering::Relaxed),
                    Ok(_) => counts.failed.fetch_add(1, Ordering::Relaxed),
                    Err(_) => {
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                };
            }
        }
    })
    .await
}

async fn sdk_load(endpoint: &str, opts: &Options) -> (u64, u64, Duration) {
    use aws_sdk_kendra::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_kendra::types::DocumentInfo;
    let conf = aws_sdk_kendra::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("a", "b", None, None, "bench"))
        .endpoint_url(endpoint)
        .build();
    let client = aws_sdk_kendra::Client::from_conf(conf);
    let infos: Vec<DocumentInfo> = doc_ids()
        .iter()
        .filter_map(|id| DocumentInfo::builder().document_id(id).build().ok())
        .collect();
    run(opts, move |stop, counts| {
        let client = client.clone();
        let infos = infos.clone();
        async move {
            while !stop.load(Ordering::Relaxed) {
                let r = client
                    .batch_get_document_status()
                    .index_id(INDEX)
                    .set_document_info_list(Some(infos.clone()))
                    .send()
                    .await;
                match r {
                    Ok(out) if out.document_status_list().len() == 10 => {
                        counts.ok.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => counts.failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }
    })
    .await
}

/// Runs `connections` workers for a one-second warm-up, then measures for `seconds`.
async fn run<F, Fut>(opts: &Options, worker: F) -> (u64, u64, Duration)
where
    F: Fn(Arc<AtomicBool>, Arc<Counts>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts {
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let tasks: Vec<_> = (0..opts.connections)
        .map(|_| tokio::spawn(worker(stop.clone(), counts.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (ok0, failed0) = (
        counts.ok.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(opts.seconds)).await;
    let elapsed = started.elapsed();
    let ok = counts.ok.load(Ordering::Relaxed) - ok0;
    let failed = counts.failed.load(Ordering::Relaxed) - failed0;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    (ok, failed, elapsed)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn parse_endpoint(endpoint: &str) -> Result<SocketAddr, BoxError> {
    endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("endpoint {endpoint:?} must be http://IP:PORT: {e}").into())
}

/// A running binary: create the index and documents through the admin interface.
async fn admin_setup(endpoint: &str) -> Result<(), BoxError> {
    let addr = parse_endpoint(endpoint)?;
    let ids: Vec<String> = doc_ids().iter().map(|i| format!("\"{i}\"")).collect();
    for (path, body) in [
        (format!("/_kendra_local/indexes/{INDEX}"), String::new()),
        (
            "/_kendra_local/documents".to_owned(),
            format!(r#"{{"indexId":"{INDEX}","put":[{}]}}"#, ids.join(",")),
        ),
    ] {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        let status = read_response(&mut s, &mut buf).await?;
        if status != 200 {
            return Err(format!("admin {path} answered {status}").into());
        }
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let opts = options();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (server, endpoint) = match &opts.endpoint {
            Some(e) => {
                admin_setup(e).await?;
                (None, e.clone())
            }
            None => {
                let server = kendra_local::start(kendra_local::Config {
                    indexes: vec![INDEX.into()],
                    ..Default::default()
                })
                .await?;
                let ids = doc_ids();
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                server.put_documents(INDEX, &refs);
                let endpoint = server.endpoint();
                (Some(server), endpoint)
            }
        };
        let addr = parse_endpoint(&endpoint)?;
        println!(
            "kendra-local throughput: BatchGetDocumentStatus, 10 documents per call, {} connections, {}s, {} cores, server {}",
            opts.connections,
            opts.seconds,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            if server.is_some() { "in-process" } else { "external" },
        );
        for mode in &opts.modes {
            if let Some(server) = &server {
                server.clear_requests();
            }
            let (ok, failed, elapsed) = match mode.as_str() {
                "raw" => raw_load(addr, &opts).await,
                "sdk" => sdk_load(&endpoint, &opts).await,
                other => return Err(format!("unknown --mode {other}; use raw or sdk").into()),
            };
            println!(
                "{mode:>4}: {:>9.0} calls/s  ({ok} ok, {failed} failed in {:.2}s)",
                ok as f64 / elapsed.as_secs_f64(),
                elapsed.as_secs_f64()
            );
            // How many calls the server was handling at once: with a slow client it stays
            // near 1 (the client is the bottleneck), with a fast one it nears --connections.
            if let Some(server) = &server {
                let log = server.requests();
                if !log.is_empty() {
                    let max = log.iter().map(|r| r.in_flight).max().unwrap_or(0);
                    let mean =
                        log.iter().map(|r| r.in_flight).sum::<usize>() as f64 / log.len() as f64;
                    println!(
                        "      calls in flight at arrival (last {} calls): mean {mean:.1}, max {max}",
                        log.len()
                    );
                }
            }
        }
        if let Some(server) = server {
            server.shutdown().await;
        }
        Ok(())
    })
}
