//! Shared set-up for the black-box tests: kendra-local in-process, an SDK client pointed at
//! it, the function's `App`, and (for SQS) a moto server.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_kendra::config::retry::RetryConfig;
use aws_sdk_kendra::config::{BehaviorVersion, Credentials, Region};
use kendra_local::KendraLocal;
use kendra_waiter::App;
use kendra_waiter::config::Config;
use kendra_waiter::kendra::KendraStatusSource;
use kendra_waiter::publish::{OutgoingMessage, PublishError, Publisher, SqsPublisher};
use serde_json::{Value, json};

pub const INDEX: &str = "0123456789abcdef0123456789abcdef0123";
pub const OTHER_INDEX: &str = "abcdefabcdefabcdefabcdefabcdefabcdef";

/// The SDK's standard retry mode, with a short backoff so retry tests stay quick.
fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(20))
}

pub fn kendra_client(endpoint: &str) -> aws_sdk_kendra::Client {
    let config = aws_sdk_kendra::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .retry_config(retry_config())
        .build();
    aws_sdk_kendra::Client::from_conf(config)
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

pub fn app<P: Publisher>(
    kendra: &KendraLocal,
    config: Config,
    publisher: P,
) -> App<KendraStatusSource, P> {
    App::new(
        config,
        KendraStatusSource::new(kendra_client(&kendra.endpoint())),
        publisher,
    )
}

/// A publisher that records every message and answers from a script: messages to a queue
/// URL containing "broken" fail.
#[derive(Default)]
pub struct RecordingPublisher {
    pub sent: Mutex<Vec<OutgoingMessage>>,
    /// Entries of each `send_message_batch` call.
    pub batches: Mutex<Vec<usize>>,
}

impl RecordingPublisher {
    pub fn sent(&self) -> Vec<OutgoingMessage> {
        self.sent.lock().unwrap().clone()
    }
}

impl Publisher for RecordingPublisher {
    async fn send_message(&self, message: OutgoingMessage) -> Result<(), PublishError> {
        self.sent.lock().unwrap().push(message.clone());
        if message.queue_url.contains("broken") {
            return Err(PublishError {
                queue_url: message.queue_url,
                reason: "scripted failure".into(),
            });
        }
        Ok(())
    }

    async fn send_message_batch(
        &self,
        messages: Vec<OutgoingMessage>,
    ) -> Vec<Result<(), PublishError>> {
        self.batches.lock().unwrap().push(messages.len());
        let mut results = Vec::new();
        for message in messages {
            results.push(self.send_message(message).await);
        }
        results
    }
}

/// Records what is sent, then really sends it (to moto), so tests can assert both the
/// requested `DelaySeconds` and what a consumer receives.
pub struct RecordingSqs {
    pub inner: SqsPublisher,
    pub sent: Mutex<Vec<OutgoingMessage>>,
}

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
}

pub fn config() -> Config {
    Config::default()
}

/// An SQS record as Lambda's event source mapping builds it.
pub fn sqs_record(message_id: &str, body: &str, receive_count: u32, arn: &str) -> Value {
    json!({
        "messageId": message_id,
        "receiptHandle": format!("handle-{message_id}"),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": receive_count.to_string(),
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1700000000001"
        },
        "messageAttributes": {},
        "md5OfBody": "0",
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": "us-east-1"
    })
}

pub const STANDARD_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:kendra-waiter-check";
pub const FIFO_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:kendra-waiter-check.fifo";

pub fn sqs_event(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}

pub fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures is a list")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

/// Runs a direct batch through rounds until it is no longer PENDING; returns the last
/// result and the number of rounds.
pub async fn run_to_end<P: Publisher>(
    app: &App<KendraStatusSource, P>,
    mut batch: Value,
    max_rounds: usize,
) -> (Value, usize) {
    for round in 1..=max_rounds {
        let result = app.handle(batch, None).await.expect("round succeeds");
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

/// A small seeded generator (splitmix64) so randomized tests are reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
