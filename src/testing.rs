//! One copy of each test double, for the unit tests here and the black-box tests in `tests/`
//! (feature `test-util`): an in-memory Kendra, SQS, S3, Step Functions and EventBridge, and
//! the SQS record builder. Each fake records what it was asked and answers from a small
//! script, so a test can assert both.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::batch::DocumentKey;
use crate::checker::{CallError, StatusAnswer, StatusEntry, StatusSource};
use crate::completion::{CompletionEvent, EventSink};
use crate::publish::{DEFAULT_MAX_MESSAGE_BYTES, OutgoingMessage, PublishError, Publisher};
use crate::s3::{ChunkStream, PayloadStore, StoreError};
use crate::tasks::{TaskError, TaskNotifier};

/// An index id for tests, and one that [`FakeKendra`] refuses.
pub const INDEX: &str = "0123456789abcdef0123456789abcdef0123";
pub const REFUSED_INDEX: &str = "ffffffffffffffffffffffffffffffffffff";

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Kendra in memory. By document id: `done…` is `INDEXED`, `bad…` `FAILED`, `gone…`
/// `NOT_FOUND`, the rest `PROCESSING`; a call with a `reject…` id is refused whole with
/// `ValidationException`; [`REFUSED_INDEX`] is refused with `ResourceNotFoundException`.
/// Scripted whole-call errors come first, one per call. Answers can be made to take time
/// (on tokio's clock), and the calls in flight when each call started are recorded.
#[derive(Default)]
pub struct FakeKendra {
    script: Mutex<VecDeque<CallError>>,
    calls: Mutex<Vec<Vec<String>>>,
    latency: Mutex<Option<std::time::Duration>>,
    in_flight: Mutex<(usize, Vec<usize>)>,
}

impl FakeKendra {
    /// Every call from now on takes `latency` before it answers.
    pub fn answer_after(&self, latency: std::time::Duration) {
        *lock(&self.latency) = Some(latency);
    }

    /// For each call, in order, the calls in flight as it started (itself included).
    pub fn in_flight_at_each_start(&self) -> Vec<usize> {
        lock(&self.in_flight).1.clone()
    }

    /// The next `n` calls fail with `error`.
    pub fn fail_next(&self, n: usize, error: CallError) {
        lock(&self.script).extend(std::iter::repeat_n(error, n));
    }

    /// The document ids of every call, in order.
    pub fn calls(&self) -> Vec<Vec<String>> {
        lock(&self.calls).clone()
    }

    fn status_of(document_id: &str) -> &'static str {
        match document_id {
            id if id.starts_with("done") => "INDEXED",
            id if id.starts_with("bad") => "FAILED",
            id if id.starts_with("gone") => "NOT_FOUND",
            _ => "PROCESSING",
        }
    }
}

#[async_trait]
impl StatusSource for FakeKendra {
    async fn batch_get_document_status(
        &self,
        index_id: &str,
        documents: &[&DocumentKey],
    ) -> Result<StatusAnswer, CallError> {
        let ids: Vec<String> = documents.iter().map(|d| d.document_id.clone()).collect();
        lock(&self.calls).push(ids.clone());
        {
            let mut in_flight = lock(&self.in_flight);
            in_flight.0 += 1;
            let now = in_flight.0;
            in_flight.1.push(now);
        }
        // Counted out however the call ends, cancelled at the cutoff included.
        let _answered = InFlight(&self.in_flight);
        let latency = *lock(&self.latency);
        if let Some(latency) = latency {
            tokio::time::sleep(latency).await;
        }
        if let Some(error) = lock(&self.script).pop_front() {
            return Err(error);
        }
        if index_id == REFUSED_INDEX {
            return Err(CallError::Rejected {
                code: "ResourceNotFoundException".into(),
                message: "no such index".into(),
            });
        }
        if let Some(id) = ids.iter().find(|id| id.starts_with("reject")) {
            return Err(CallError::Invalid {
                message: format!("document {id} is not valid"),
            });
        }
        let statuses = ids
            .into_iter()
            .map(|id| StatusEntry {
                status: Some(Self::status_of(&id).into()),
                failure_code: None,
                failure_reason: None,
                document_id: id,
            })
            .collect();
        Ok(StatusAnswer {
            statuses,
            errors: Vec::new(),
        })
    }
}

/// A call of [`FakeKendra`] in flight until dropped.
struct InFlight<'a>(&'a Mutex<(usize, Vec<usize>)>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(self.0).0 -= 1;
    }
}

/// SQS in memory: records every message; sends to a URL containing "broken" fail; a
/// queue's `MaximumMessageSize` can be set; visibility changes are recorded.
#[derive(Default)]
pub struct RecordingPublisher {
    sent: Mutex<Vec<OutgoingMessage>>,
    /// Entries of each `send_message_batch` call.
    batches: Mutex<Vec<usize>>,
    max_sizes: Mutex<BTreeMap<String, usize>>,
    visibility: Mutex<Vec<(String, String, u32)>>,
}

impl RecordingPublisher {
    pub fn sent(&self) -> Vec<OutgoingMessage> {
        lock(&self.sent).clone()
    }

    pub fn batches(&self) -> Vec<usize> {
        lock(&self.batches).clone()
    }

    pub fn set_max_size(&self, queue_url: &str, bytes: usize) {
        lock(&self.max_sizes).insert(queue_url.to_string(), bytes);
    }

    /// (queue ARN, receipt handle, seconds) of every visibility change.
    pub fn visibility_changes(&self) -> Vec<(String, String, u32)> {
        lock(&self.visibility).clone()
    }
}

#[async_trait]
impl Publisher for RecordingPublisher {
    async fn send_message(&self, message: OutgoingMessage) -> Result<(), PublishError> {
        lock(&self.sent).push(message.clone());
        let limit = self.maximum_message_size(&message.queue_url).await;
        let reason = if message.queue_url.contains("broken") {
            "scripted failure".to_string()
        } else if message.body.len() > limit {
            format!(
                "body of {} bytes over the queue's {limit}",
                message.body.len()
            )
        } else {
            return Ok(());
        };
        Err(PublishError {
            queue_url: message.queue_url,
            reason,
        })
    }

    async fn send_message_batch(
        &self,
        messages: Vec<OutgoingMessage>,
    ) -> Vec<Result<(), PublishError>> {
        lock(&self.batches).push(messages.len());
        let mut results = Vec::new();
        for message in messages {
            results.push(self.send_message(message).await);
        }
        results
    }

    async fn maximum_message_size(&self, queue_url: &str) -> usize {
        lock(&self.max_sizes)
            .get(queue_url)
            .copied()
            .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES)
    }

    async fn change_message_visibility(
        &self,
        queue_arn: &str,
        receipt_handle: &str,
        seconds: u32,
    ) -> Result<(), PublishError> {
        lock(&self.visibility).push((queue_arn.into(), receipt_handle.into(), seconds));
        Ok(())
    }
}

/// S3 in memory, keyed `bucket/key`.
#[derive(Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    transient: Mutex<bool>,
}

impl MemoryStore {
    pub fn insert(&self, bucket: &str, key: &str, value: Value) {
        let body = serde_json::to_vec(&value).unwrap_or_default();
        self.insert_bytes(bucket, key, body);
    }

    pub fn insert_bytes(&self, bucket: &str, key: &str, body: Vec<u8>) {
        lock(&self.objects).insert(format!("{bucket}/{key}"), body);
    }

    /// Every object as `bucket/key`, sorted.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.objects).keys().cloned().collect()
    }

    /// The JSON of an object given as `s3://bucket/key`.
    pub fn json(&self, uri: &str) -> Option<Value> {
        let path = uri.strip_prefix("s3://")?;
        serde_json::from_slice(lock(&self.objects).get(path)?).ok()
    }

    /// While set, every request fails as a transient error would.
    pub fn fail_transiently(&self, on: bool) {
        *lock(&self.transient) = on;
    }

    fn check(&self) -> Result<(), StoreError> {
        if *lock(&self.transient) {
            return Err(StoreError::Transient("scripted SlowDown".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl PayloadStore for MemoryStore {
    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StoreError> {
        self.check()?;
        lock(&self.objects)
            .get(&format!("{bucket}/{key}"))
            .cloned()
            .ok_or_else(|| StoreError::Refused {
                code: "NoSuchKey".into(),
                message: format!("s3://{bucket}/{key} does not exist"),
            })
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.check()?;
        self.insert_bytes(bucket, key, body);
        Ok(())
    }

    async fn open(&self, bucket: &str, key: &str) -> Result<Box<dyn ChunkStream>, StoreError> {
        let body = self.get(bucket, key).await?;
        // Small chunks, so readers meet boundaries inside documents.
        let chunks: VecDeque<Vec<u8>> = body.chunks(7).map(<[u8]>::to_vec).collect();
        Ok(Box::new(MemoryChunks(chunks)))
    }
}

struct MemoryChunks(VecDeque<Vec<u8>>);

#[async_trait]
impl ChunkStream for MemoryChunks {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.pop_front())
    }
}

/// One call a [`RecordingTasks`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskCall {
    Heartbeat {
        token: String,
    },
    Success {
        token: String,
        output: String,
    },
    Failure {
        token: String,
        error: String,
        cause: String,
    },
}

/// Step Functions' task-token calls in memory. Tokens starting with "gone" answer
/// `TaskTimedOut`, tokens starting with "broken" fail otherwise.
#[derive(Default)]
pub struct RecordingTasks {
    calls: Mutex<Vec<TaskCall>>,
}

impl RecordingTasks {
    pub fn calls(&self) -> Vec<TaskCall> {
        lock(&self.calls).clone()
    }

    fn answer(&self, call: TaskCall) -> Result<(), TaskError> {
        let token = match &call {
            TaskCall::Heartbeat { token }
            | TaskCall::Success { token, .. }
            | TaskCall::Failure { token, .. } => token.clone(),
        };
        lock(&self.calls).push(call);
        if token.starts_with("gone") {
            return Err(TaskError::Gone {
                code: "TaskTimedOut".into(),
                message: "the task timed out".into(),
            });
        }
        if token.starts_with("broken") {
            return Err(TaskError::Failed("scripted failure".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl TaskNotifier for RecordingTasks {
    async fn heartbeat(&self, token: &str) -> Result<(), TaskError> {
        self.answer(TaskCall::Heartbeat {
            token: token.into(),
        })
    }

    async fn succeed(&self, token: &str, output: String) -> Result<(), TaskError> {
        self.answer(TaskCall::Success {
            token: token.into(),
            output,
        })
    }

    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), TaskError> {
        self.answer(TaskCall::Failure {
            token: token.into(),
            error: error.into(),
            cause: cause.into(),
        })
    }
}

/// EventBridge in memory: records every event; events on a bus containing "broken" fail.
#[derive(Default)]
pub struct RecordingEvents {
    events: Mutex<Vec<CompletionEvent>>,
}

impl RecordingEvents {
    pub fn events(&self) -> Vec<CompletionEvent> {
        lock(&self.events).clone()
    }
}

#[async_trait]
impl EventSink for RecordingEvents {
    async fn put_events(&self, events: Vec<CompletionEvent>) -> Vec<Result<(), String>> {
        let results = events
            .iter()
            .map(|e| {
                if e.bus.contains("broken") {
                    Err("scripted failure".to_string())
                } else {
                    Ok(())
                }
            })
            .collect();
        lock(&self.events).extend(events);
        results
    }
}

/// ARNs of a standard and a FIFO source queue.
pub const STANDARD_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:kendra-waiter-check";
pub const FIFO_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:kendra-waiter-check.fifo";

/// An SQS record as Lambda's event source mapping builds it; `group` makes it a FIFO
/// record (with `FIFO_ARN`).
pub fn sqs_record(message_id: &str, body: &str, receive_count: u32, group: Option<&str>) -> Value {
    let mut attributes = json!({
        "ApproximateReceiveCount": receive_count.to_string(),
        "SentTimestamp": "1700000000000",
        "SenderId": "AIDAEXAMPLE",
        "ApproximateFirstReceiveTimestamp": "1700000000001"
    });
    if let Some(group) = group {
        attributes["MessageGroupId"] = json!(group);
    }
    json!({
        "messageId": message_id,
        "receiptHandle": format!("handle-{message_id}"),
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": format!("{:x}", md5_stub(body)),
        "eventSource": "aws:sqs",
        "eventSourceARN": if group.is_some() { FIFO_ARN } else { STANDARD_ARN },
        "awsRegion": "us-east-1"
    })
}

/// Not MD5 (nothing reads it here): a stable stand-in so records look complete.
fn md5_stub(body: &str) -> u64 {
    body.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// An SQS event of `records`.
pub fn sqs_event(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}

/// The message ids a response reports in `batchItemFailures`.
pub fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A test keeps an `Arc` of each fake to read what it recorded, and hands the function a
/// clone: these forward every trait to the shared fake.
mod shared {
    use std::sync::Arc;

    use super::*;

    #[async_trait]
    impl<T: StatusSource + ?Sized> StatusSource for Arc<T> {
        async fn batch_get_document_status(
            &self,
            index_id: &str,
            documents: &[&DocumentKey],
        ) -> Result<StatusAnswer, CallError> {
            (**self)
                .batch_get_document_status(index_id, documents)
                .await
        }
    }

    #[async_trait]
    impl<T: Publisher + ?Sized> Publisher for Arc<T> {
        async fn send_message(&self, message: OutgoingMessage) -> Result<(), PublishError> {
            (**self).send_message(message).await
        }

        async fn send_message_batch(
            &self,
            messages: Vec<OutgoingMessage>,
        ) -> Vec<Result<(), PublishError>> {
            (**self).send_message_batch(messages).await
        }

        async fn maximum_message_size(&self, queue_url: &str) -> usize {
            (**self).maximum_message_size(queue_url).await
        }

        async fn change_message_visibility(
            &self,
            queue_arn: &str,
            receipt_handle: &str,
            seconds: u32,
        ) -> Result<(), PublishError> {
            (**self)
                .change_message_visibility(queue_arn, receipt_handle, seconds)
                .await
        }
    }

    #[async_trait]
    impl<T: PayloadStore + ?Sized> PayloadStore for Arc<T> {
        async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StoreError> {
            (**self).get(bucket, key).await
        }

        async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
            (**self).put(bucket, key, body).await
        }

        async fn open(&self, bucket: &str, key: &str) -> Result<Box<dyn ChunkStream>, StoreError> {
            (**self).open(bucket, key).await
        }
    }

    #[async_trait]
    impl<T: TaskNotifier + ?Sized> TaskNotifier for Arc<T> {
        async fn heartbeat(&self, token: &str) -> Result<(), TaskError> {
            (**self).heartbeat(token).await
        }

        async fn succeed(&self, token: &str, output: String) -> Result<(), TaskError> {
            (**self).succeed(token, output).await
        }

        async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), TaskError> {
            (**self).fail(token, error, cause).await
        }
    }

    #[async_trait]
    impl<T: EventSink + ?Sized> EventSink for Arc<T> {
        async fn put_events(&self, events: Vec<CompletionEvent>) -> Vec<Result<(), String>> {
            (**self).put_events(events).await
        }
    }
}
