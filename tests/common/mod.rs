//! Shared set-up for the black-box tests: kendra-local in-process, an SDK client pointed at
//! it, the function's `App`, and (for SQS) a moto server.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_kendra::config::retry::RetryConfig;
use aws_sdk_kendra::config::{BehaviorVersion, Credentials, Region};
use kendra_local::KendraLocal;
use kendra_waiter::config::Config;
use kendra_waiter::kendra::KendraStatusSource;
use kendra_waiter::publish::{OutgoingMessage, PublishError, Publisher, SqsPublisher};
use kendra_waiter::testing::{MemoryStore, RecordingEvents, RecordingPublisher, RecordingTasks};
use kendra_waiter::{App, Edges, Error, Request};
use serde_json::Value;
use std::sync::Arc;

#[allow(unused_imports)]
pub use kendra_waiter::testing::{failures, sqs_event};

pub const INDEX: &str = "0123456789abcdef0123456789abcdef0123";
pub const OTHER_INDEX: &str = "abcdefabcdefabcdefabcdefabcdefabcdef";

/// The SDK's standard retry mode, with a short backoff so retry tests stay quick.
fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(20))
}

/// A Kendra client configuration for `endpoint` with quick retries; tests add to it.
pub fn kendra_config(endpoint: &str) -> aws_sdk_kendra::config::Builder {
    aws_sdk_kendra::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .retry_config(retry_config())
}

/// The function's Kendra edge, pointed at `endpoint` with quick retries.
pub fn kendra_source(endpoint: &str) -> KendraStatusSource {
    KendraStatusSource::from_conf(kendra_config(endpoint))
}

pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// kendra-local with both test indexes and a deterministic lifecycle: a put document is
/// `PROCESSING` for its first `checks` status checks.
pub async fn kendra_local(checks: u32) -> KendraLocal {
    kendra_local::start(kendra_local::Config {
        indexes: vec![INDEX.to_string(), OTHER_INDEX.to_string()],
        indexing_checks: Some(checks),
        ..kendra_local::Config::default()
    })
    .await
    .expect("kendra-local starts")
}

/// The function wired to kendra-local, with in-memory SQS, S3, Step Functions and
/// EventBridge that record what they are asked (`sqs` may be replaced by a real client).
pub struct Harness {
    pub app: App,
    pub sqs: Arc<RecordingPublisher>,
    pub s3: Arc<MemoryStore>,
    pub tasks: Arc<RecordingTasks>,
    pub events: Arc<RecordingEvents>,
}

impl Harness {
    /// One invocation without a deadline.
    pub async fn handle(&self, event: Value) -> Result<Value, Error> {
        self.app
            .handle(event, &Request::unbounded("test-request"))
            .await
    }

    /// One invocation whose deadline is `deadline_ms` (milliseconds since the epoch).
    pub async fn handle_until(&self, event: Value, deadline_ms: u64) -> Result<Value, Error> {
        let request = Request {
            request_id: "test-request".to_string(),
            deadline_ms: Some(deadline_ms),
            xray_trace_id: None,
        };
        self.app.handle(event, &request).await
    }
}

/// Wall-clock milliseconds since the epoch, the unit of Lambda's deadline.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub fn app(kendra: &KendraLocal, config: Config) -> Harness {
    app_with_sqs(kendra, config, None)
}

/// Like [`app`], with a Kendra edge built by the test.
pub fn app_with_kendra(source: KendraStatusSource, config: Config) -> Harness {
    harness(Box::new(source), config, None)
}

/// Like [`app`], with `sqs` in place of the recording queue.
pub fn app_with_sqs(
    kendra: &KendraLocal,
    config: Config,
    sqs: Option<Box<dyn Publisher>>,
) -> Harness {
    harness(Box::new(kendra_source(&kendra.endpoint())), config, sqs)
}

fn harness(
    kendra: Box<dyn kendra_waiter::checker::StatusSource>,
    config: Config,
    sqs: Option<Box<dyn Publisher>>,
) -> Harness {
    let recording = Arc::new(RecordingPublisher::default());
    let s3 = Arc::new(MemoryStore::default());
    let tasks = Arc::new(RecordingTasks::default());
    let events = Arc::new(RecordingEvents::default());
    let edges = Edges {
        kendra,
        sqs: sqs.unwrap_or_else(|| Box::new(recording.clone())),
        s3: Box::new(s3.clone()),
        tasks: Box::new(tasks.clone()),
        events: Box::new(events.clone()),
    };
    Harness {
        app: App::new(config, edges),
        sqs: recording,
        s3,
        tasks,
        events,
    }
}

/// Records what is sent, then really sends it (to moto), so tests can assert both the
/// requested `DelaySeconds` and what a consumer receives.
pub struct RecordingSqs {
    pub inner: SqsPublisher,
    pub sent: std::sync::Mutex<Vec<OutgoingMessage>>,
}

#[async_trait::async_trait]
impl Publisher for RecordingSqs {
    async fn send_message(&self, message: OutgoingMessage) -> Result<(), PublishError> {
        self.sent.lock().unwrap().push(message.clone());
        self.inner.send_message(message).await
    }

    async fn send_message_batch(
        &self,
        messages: Vec<OutgoingMessage>,
    ) -> Vec<Result<(), PublishError>> {
        self.sent.lock().unwrap().extend(messages.iter().cloned());
        self.inner.send_message_batch(messages).await
    }

    async fn maximum_message_size(&self, queue_url: &str) -> usize {
        self.inner.maximum_message_size(queue_url).await
    }

    async fn change_message_visibility(
        &self,
        queue_arn: &str,
        receipt_handle: &str,
        seconds: u32,
    ) -> Result<(), PublishError> {
        self.inner
            .change_message_visibility(queue_arn, receipt_handle, seconds)
            .await
    }
}

pub fn config() -> Config {
    Config::default()
}

/// An SQS record of a standard queue (`group` None) or of a FIFO queue's message group.
pub fn sqs_record(message_id: &str, body: &str, receive_count: u32, group: Option<&str>) -> Value {
    kendra_waiter::testing::sqs_record(message_id, body, receive_count, group)
}

/// Runs a direct batch through rounds until it is no longer PENDING; returns the last
/// result and the number of rounds.
pub async fn run_to_end(app: &Harness, mut batch: Value, max_rounds: usize) -> (Value, usize) {
    for round in 1..=max_rounds {
        let result = app.handle(batch).await.expect("round succeeds");
        if result["status"] != "PENDING" {
            return (result, round);
        }
        batch = result;
    }
    panic!("still PENDING after {max_rounds} rounds");
}

/// A moto server on a free loopback port, stopped on drop. The test command installs moto
/// into `.venv`; `MOTO_SERVER` may name another `moto_server` executable.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let executable = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
            });
        assert!(
            executable.exists(),
            "moto_server not found at {}: run the README's test command (it creates .venv), or set MOTO_SERVER",
            executable.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&executable)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto_server starts");
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return moto;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = moto.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                panic!("moto_server exited ({status}) before listening: {stderr}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto_server did not listen on port {port} within 30 s");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
