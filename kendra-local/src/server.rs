//! The HTTP server: accepts connections on the listener, serves HTTP/1.1 with keep-alive,
//! routes `/_kendra_local/*` to the admin interface and everything else to the Kendra
//! operations, applies faults, and records each call in the request log.

use crate::Shared;
use crate::faults::Injected;
use crate::log::{InFlight, RequestRecord};
use crate::ops::Request as ApiRequest;
use crate::protocol::{self, ApiError, ErrorCode, Operation, TARGET_PREFIX};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Largest request body accepted: a full batch of ten 5 MB documents, base64-encoded, with
/// room to spare (Kendra's own limit per BatchPutDocument call is 50 MB of content).
pub(crate) const MAX_BODY_BYTES: usize = 80 * 1024 * 1024;

/// How long `shutdown` waits for in-flight calls before cutting connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves when shutdown is requested (or every handle is gone).
async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    // `wait_for` fails only when the sender is dropped, which also means "stop".
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Serves until shutdown, then drains connections.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Small request/response pairs: don't let Nagle delay them.
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, shared.clone(), shutdown.clone()));
                }
                Err(_) => {
                    // Out of file descriptors or a connection reset before accept: back off
                    // briefly instead of spinning.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = shutdown_requested(&mut shutdown) => break,
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(route(req, &shared).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown_requested(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn route(req: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    if req.uri().path().starts_with(crate::admin::PREFIX) {
        return crate::admin::handle(req, shared).await;
    }
    kendra_call(req, shared).await
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| {
            ApiError::new(
                ErrorCode::Serialization,
                format!("Unable to read the request body: {e}"),
            )
        })
}

/// One Kendra operation call: log, faults, then the operation itself.
async fn kendra_call(req: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    // In flight from arrival until this function returns or is dropped (client gone).
    let arrival = shared.log.arrive();
    let request_id = shared.next_request_id();
    if req.method() != Method::POST {
        return method_not_allowed(&request_id);
    }
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let op = Operation::from_target(target.as_deref());
    let body = read_body(req.into_body()).await;
    let parsed = match (&op, &body) {
        (Ok(op), Ok(body)) => ApiRequest::parse(*op, body).map(|r| (*op, r)),
        (Err(e), _) | (Ok(_), Err(e)) => Err(e.clone()),
    };
    // Logged before faults and the operation run, so a call that is never answered shows up.
    let operation = operation_name(&op, target.as_deref());
    let pending = shared.log.begin(record(&arrival, operation, &parsed));
    let result = match parsed {
        Err(e) => Err(e),
        Ok((op, request)) => answer(op, &request, shared).await,
    };
    match result {
        Ok(body) => {
            pending.finish(None);
            protocol::success(body, &request_id)
        }
        Err(e) => {
            pending.finish(Some(e.code.as_str()));
            protocol::failure(&e, &request_id)
        }
    }
}

fn method_not_allowed(request_id: &str) -> Response<Full<Bytes>> {
    let err = ApiError::new(
        ErrorCode::UnknownOperation,
        "Kendra operations are POST / with X-Amz-Target",
    );
    let mut resp = protocol::failure(&err, request_id);
    *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    resp
}

/// The operation as the log names it: for an unknown target, whatever followed the service
/// prefix (or the whole header), so a test can see what the client asked for.
fn operation_name(op: &Result<Operation, ApiError>, target: Option<&str>) -> String {
    match op {
        Ok(op) => op.name().to_owned(),
        Err(_) => {
            let t = target.unwrap_or_default();
            t.strip_prefix(TARGET_PREFIX).unwrap_or(t).to_owned()
        }
    }
}

fn record(
    arrival: &InFlight<'_>,
    operation: String,
    parsed: &Result<(Operation, ApiRequest<'_>), ApiError>,
) -> RequestRecord {
    let (index_id, document_ids) = match parsed {
        Ok((_, r)) => (r.index_id().map(str::to_owned), r.document_ids()),
        Err(_) => (None, Vec::new()),
    };
    RequestRecord {
        operation,
        index_id,
        document_ids,
        arrived: arrival.arrived,
        in_flight: arrival.count,
        error: None,
    }
}

/// Applies the faults decided for this call, then (unless a fault answered) the operation.
async fn answer(
    op: Operation,
    request: &ApiRequest<'_>,
    shared: &Shared,
) -> Result<Vec<u8>, ApiError> {
    let decision = shared.faults().decide(op, Instant::now());
    if !decision.latency.is_zero() {
        sleep_precisely(decision.latency).await;
    }
    match decision.fault {
        Some(Injected::Error(e)) => Err(e),
        Some(Injected::Hang) => Err(hang(shared).await),
        None => request.execute(&shared.store, Instant::now()),
    }
}

/// Holds a call without answering: only its own connection waits. It ends when the client
/// gives up (hyper then drops this future, and the log records the call as closed by the
/// client) or when the server stops, so shutdown does not wait on clients without timeouts.
async fn hang(shared: &Shared) -> ApiError {
    let mut stop = shared.shutdown.clone();
    shutdown_requested(&mut stop).await;
    ApiError::new(
        ErrorCode::InternalServer,
        "kendra-local stopped while holding this call (scripted Hang)",
    )
}

/// Waits `duration` to within tens of microseconds. tokio's timer has millisecond granularity
/// and rounds up, which turns an added latency of 20 ms into about 21 ms: a 5 % error in any
/// throughput measured against the emulator. So the bulk is slept on the timer and the last
/// stretch on a blocking thread, where `std::thread::sleep` is precise (sleeping, not spinning).
async fn sleep_precisely(duration: Duration) {
    const TIMER_SLACK: Duration = Duration::from_millis(2);
    let deadline = std::time::Instant::now() + duration;
    if duration > TIMER_SLACK {
        tokio::time::sleep(duration - TIMER_SLACK).await;
    }
    let rest = deadline.saturating_duration_since(std::time::Instant::now());
    if !rest.is_zero() {
        // A failed join only means the runtime is shutting down; the answer no longer matters.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}
