//! kendra-local: a wire-compatible Amazon Kendra emulator (awsJson1_1) for tests, demos and
//! local development.
//!
//! Amazon Kendra has no local emulator, so code that calls it could only be tested against
//! the real service. This crate serves the Kendra document and index operations over HTTP on
//! 127.0.0.1 exactly as the AWS SDKs speak them, with a scriptable document lifecycle,
//! per-document failure rules (see [`simulate`]), injected faults ([`Faults`]) and a request
//! log ([`RequestRecord`]) for assertions. Its seeded generator ([`rng::SplitMix64`]) is
//! exported so randomized tests of its users replay from a seed too.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let kendra = kendra_local::start(kendra_local::Config {
//!     indexes: vec!["0123456789abcdef0123456789abcdef0123".into()],
//!     indexing_checks: Some(1),
//!     ..Default::default()
//! })
//! .await?;
//! // Point any AWS SDK at kendra.endpoint(), e.g. AWS_ENDPOINT_URL_KENDRA.
//! kendra.put_documents("0123456789abcdef0123456789abcdef0123", &["doc-1"]);
//! assert!(kendra.requests().is_empty());
//! kendra.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
mod faults;
mod log;
mod model;
mod ops;
mod protocol;
pub mod rng;
mod server;
pub mod simulate;

pub use faults::{FaultKind, Faults, FaultsError};
pub use log::{CLIENT_CLOSED, MAX_RECORDS as REQUEST_LOG_CAPACITY, RequestRecord};
pub use protocol::is_valid_index_id;

use model::{Lifecycle, Store};
use protocol::Operation;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the emulator behaves. The default has no indexes, no delays and no faults.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Indexes that exist from the start (36-character ids).
    pub indexes: Vec<String>,
    /// How long a put document stays `PROCESSING` before `INDEXED`/`UPDATED`.
    pub indexing_delay: Duration,
    /// How long a deleted document stays `PROCESSING` before `NOT_FOUND`.
    pub delete_delay: Duration,
    /// Uniform extra delay in `0..=delay_jitter` per document, seeded by `seed`.
    pub delay_jitter: Duration,
    /// Seed of the delay jitter and of generated index ids.
    pub seed: u64,
    /// Deterministic lifecycle for tests: when Some(n), a put document reports PROCESSING for
    /// its first n BatchGetDocumentStatus observations and is INDEXED/UPDATED from the (n+1)th
    /// on (delete likewise → NOT_FOUND), regardless of time.
    pub indexing_checks: Option<u32>,
    /// Injected faults; can be changed later with [`KendraLocal::set_faults`].
    pub faults: Faults,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "index id {0:?} is not a Kendra index id (36 characters matching [a-zA-Z0-9][a-zA-Z0-9-]*)"
    )]
    IndexId(String),
    #[error(transparent)]
    Faults(#[from] FaultsError),
}

impl Config {
    /// Checks the index ids and fault settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(bad) = self.indexes.iter().find(|id| !is_valid_index_id(id)) {
            return Err(ConfigError::IndexId(bad.clone()));
        }
        self.faults.validate()?;
        Ok(())
    }
}

/// State shared by the handle, the server and its connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Mutex<Store>,
    pub(crate) faults: Mutex<faults::FaultState>,
    pub(crate) log: log::RequestLog,
    request_ids: AtomicU64,
    /// Turns true when the server is told to stop; calls held by a [`FaultKind::Hang`] watch
    /// it so a stopping server is not kept waiting for clients that never give up.
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Shared {
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, faults::FaultState> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A uuid-shaped request id for `x-amzn-RequestId`; unique per server.
    pub(crate) fn next_request_id(&self) -> String {
        let n = self.request_ids.fetch_add(1, Ordering::Relaxed);
        format!("4b1d0c41-0000-4000-8000-{:012x}", n & 0xffff_ffff_ffff)
    }

    pub(crate) fn put_documents<'a>(&self, index_id: &str, ids: impl IntoIterator<Item = &'a str>) {
        let mut store = self.store();
        store.ensure_index(index_id);
        let _ = store.put(index_id, ids, Instant::now());
    }

    pub(crate) fn delete_documents<'a>(
        &self,
        index_id: &str,
        ids: impl IntoIterator<Item = &'a str>,
    ) {
        let mut store = self.store();
        store.ensure_index(index_id);
        let _ = store.delete(index_id, ids, Instant::now());
    }
}

#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    endpoint: String,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    /// Dropping the last handle stops the server (it stops accepting and closes idle
    /// connections), so a test that forgets `shutdown` does not leak a listener.
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// A running emulator. Cheap to clone; the server stops when the last clone is dropped or
/// when [`KendraLocal::shutdown`] is awaited.
#[derive(Debug, Clone)]
pub struct KendraLocal {
    inner: Arc<Handle>,
}

/// Starts an emulator on `127.0.0.1` with a free port, on the current tokio runtime.
pub async fn start(config: Config) -> std::io::Result<KendraLocal> {
    start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
}

/// Starts an emulator on `addr` (port 0 picks a free port), on the current tokio runtime.
pub async fn start_on(addr: SocketAddr, config: Config) -> std::io::Result<KendraLocal> {
    config
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let now = Instant::now();
    let mut store = Store::new(
        Lifecycle {
            indexing_delay: config.indexing_delay,
            delete_delay: config.delete_delay,
            delay_jitter: config.delay_jitter,
            indexing_checks: config.indexing_checks,
        },
        config.seed,
    );
    for id in &config.indexes {
        store.ensure_index(id);
    }
    let (tx, rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        faults: Mutex::new(faults::FaultState::new(config.faults, now)),
        log: log::RequestLog::new(now),
        request_ids: AtomicU64::new(0),
        shutdown: rx.clone(),
    });
    let task = tokio::spawn(server::serve(listener, shared.clone(), rx));
    Ok(KendraLocal {
        inner: Arc::new(Handle {
            shared,
            addr: local,
            endpoint: endpoint_for(local),
            shutdown: tx,
            task: Mutex::new(Some(task)),
        }),
    })
}

/// The URL clients should use: an unspecified bind address (`0.0.0.0`, `::`) is reached
/// through loopback.
fn endpoint_for(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        match addr {
            SocketAddr::V4(_) => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
            SocketAddr::V6(_) => addr.set_ip(std::net::Ipv6Addr::LOCALHOST.into()),
        }
    }
    format!("http://{addr}")
}

impl KendraLocal {
    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.inner.endpoint.clone()
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Every Kendra call since start (or the last [`clear_requests`](Self::clear_requests)),
    /// in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared().log.snapshot()
    }

    pub fn clear_requests(&self) {
        self.shared().log.clear();
    }

    /// Replaces the fault settings (re-seeding them). Rates are clamped to `0.0..=1.0`.
    pub fn set_faults(&self, faults: Faults) {
        self.shared().faults().set(faults, Instant::now());
    }

    /// Scripted faults: the next `n` calls of BatchGetDocumentStatus answer with this error,
    /// or, with [`FaultKind::Hang`], are never answered while later calls are.
    pub fn fail_next(&self, n: u32, kind: FaultKind) {
        self.shared()
            .faults()
            .fail_next(n, kind, Operation::BatchGetDocumentStatus);
    }

    /// Creates an index with this id (a no-op when it exists).
    pub fn create_index(&self, index_id: &str) {
        self.shared().store().ensure_index(index_id);
    }

    /// Same as BatchPutDocument, without HTTP: not logged, no faults, and the index is
    /// created when missing. The id-prefix rules of [`simulate`] apply to the lifecycle.
    pub fn put_documents(&self, index_id: &str, document_ids: &[&str]) {
        self.shared()
            .put_documents(index_id, document_ids.iter().copied());
    }

    /// Same as BatchDeleteDocument, without HTTP (see [`put_documents`](Self::put_documents)).
    pub fn delete_documents(&self, index_id: &str, document_ids: &[&str]) {
        self.shared()
            .delete_documents(index_id, document_ids.iter().copied());
    }

    /// Stops accepting, lets in-flight calls finish (up to a few seconds) and releases the
    /// port. Other clones become inert.
    pub async fn shutdown(self) {
        let _ = self.inner.shutdown.send(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
