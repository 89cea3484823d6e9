//! The SQS edge: republishing unfinished batches, sending failure reports, learning a
//! queue's message size limit and setting a message's visibility timeout, behind a small
//! trait so the SQS adapter's rules can be tested without a queue.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};

/// One message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub queue_url: String,
    pub body: String,
    pub delay_seconds: Option<u32>,
    /// Required by FIFO queues.
    pub message_group_id: Option<String>,
    pub message_deduplication_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("sending to {queue_url} failed: {reason}")]
pub struct PublishError {
    pub queue_url: String,
    pub reason: String,
}

/// SQS's limits on one `SendMessageBatch` call: entries, and bytes of all bodies together.
pub const MAX_BATCH_ENTRIES: usize = 10;
pub const MAX_BATCH_BYTES: usize = 262_144;

/// A queue's `MaximumMessageSize` when it cannot be learned: the default of older queues,
/// which every queue accepts.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 262_144;

#[async_trait]
pub trait Publisher: Send + Sync {
    async fn send_message(&self, message: OutgoingMessage) -> Result<(), PublishError>;

    /// Sends up to [`MAX_BATCH_ENTRIES`] messages to one queue, at most [`MAX_BATCH_BYTES`]
    /// of bodies; one result per message, in order. The default sends them one by one.
    async fn send_message_batch(
        &self,
        messages: Vec<OutgoingMessage>,
    ) -> Vec<Result<(), PublishError>> {
        let mut results = Vec::with_capacity(messages.len());
        for message in messages {
            results.push(self.send_message(message).await);
        }
        results
    }

    /// The largest body `queue_url` accepts, in bytes.
    async fn maximum_message_size(&self, _queue_url: &str) -> usize {
        DEFAULT_MAX_MESSAGE_BYTES
    }

    /// Sets the visibility timeout of a received message, so SQS delivers it again after
    /// `seconds` (redelivery mode's backoff).
    async fn change_message_visibility(
        &self,
        queue_arn: &str,
        receipt_handle: &str,
        seconds: u32,
    ) -> Result<(), PublishError>;
}

/// SQS through the AWS SDK; `AWS_ENDPOINT_URL_SQS` points it at a local server.
/// Learned once per queue per process: `MaximumMessageSize` by queue URL, and queue URLs by
/// ARN (an SQS event names its queue by ARN; ChangeMessageVisibility wants the URL).
#[derive(Debug)]
pub struct SqsPublisher {
    client: Client,
    max_sizes: Mutex<HashMap<String, usize>>,
    urls: Mutex<HashMap<String, String>>,
}

impl SqsPublisher {
    /// The client for `sdk_config`, its calls traced.
    pub fn from_sdk_config(
        sdk_config: &aws_config::SdkConfig,
        tracer: &crate::xray::Tracer,
    ) -> SqsPublisher {
        let config =
            aws_sdk_sqs::config::Builder::from(sdk_config).interceptor(tracer.interceptor());
        SqsPublisher::new(Client::from_conf(config.build()))
    }

    pub fn new(client: Client) -> SqsPublisher {
        SqsPublisher {
            client,
            max_sizes: Mutex::new(HashMap::new()),
            urls: Mutex::new(HashMap::new()),
        }
    }

    fn cached<T: Clone>(map: &Mutex<HashMap<String, T>>, key: &str) -> Option<T> {
        map.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(key)
            .cloned()
    }

    fn remember<T>(map: &Mutex<HashMap<String, T>>, key: &str, value: T) {
        map.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(key.to_string(), value);
    }

    /// The URL of the queue `arn` names (`arn:aws:sqs:region:account:name`).
    async fn queue_url(&self, arn: &str) -> Result<String, PublishError> {
        if let Some(url) = Self::cached(&self.urls, arn) {
            return Ok(url);
        }
        let failed = |reason: String| PublishError {
            queue_url: arn.to_string(),
            reason,
        };
        let mut parts = arn.rsplitn(3, ':');
        let (Some(name), Some(account)) = (parts.next(), parts.next()) else {
            return Err(failed("not an SQS queue ARN".to_string()));
        };
        let output = self
            .client
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|error| failed(describe(&error)))?;
        let url = output
            .queue_url()
            .ok_or_else(|| failed("GetQueueUrl returned no URL".to_string()))?
            .to_string();
        Self::remember(&self.urls, arn, url.clone());
        Ok(url)
    }
}

#[async_trait]
impl Publisher for SqsPublisher {
    async fn send_message(&self, message: OutgoingMessage) -> Result<(), PublishError> {
        let delay = message
            .delay_seconds
            .map(|d| i32::try_from(d).unwrap_or(i32::MAX));
        self.client
            .send_message()
            .queue_url(&message.queue_url)
            .message_body(message.body)
            .set_delay_seconds(delay)
            .set_message_group_id(message.message_group_id)
            .set_message_deduplication_id(message.message_deduplication_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| PublishError {
                queue_url: message.queue_url,
                reason: describe(&error),
            })
    }

    /// One `SendMessageBatch` call: SQS answers per entry, so one bad entry fails alone.
    async fn send_message_batch(
        &self,
        messages: Vec<OutgoingMessage>,
    ) -> Vec<Result<(), PublishError>> {
        let Some(queue_url) = messages.first().map(|m| m.queue_url.clone()) else {
            return Vec::new();
        };
        let fail_all = |reason: String| {
            vec![
                Err(PublishError {
                    queue_url: queue_url.clone(),
                    reason,
                });
                messages.len()
            ]
        };
        let entries = match batch_entries(&messages) {
            Ok(entries) => entries,
            Err(error) => return fail_all(error),
        };
        let output = match self
            .client
            .send_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) => return fail_all(describe(&error)),
        };
        let mut results = fail_all("SQS did not report this entry".to_string());
        let slot = |id: &str| id.parse::<usize>().ok();
        for entry in output.successful() {
            if let Some(result) = slot(entry.id()).and_then(|i| results.get_mut(i)) {
                *result = Ok(());
            }
        }
        for entry in output.failed() {
            if let Some(result) = slot(entry.id()).and_then(|i| results.get_mut(i)) {
                *result = Err(PublishError {
                    queue_url: queue_url.clone(),
                    reason: format!(
                        "{}: {}",
                        entry.code(),
                        entry.message().unwrap_or("no message")
                    ),
                });
            }
        }
        results
    }

    /// `GetQueueAttributes` once per queue; where that is not allowed (no
    /// `sqs:GetQueueAttributes` on a queue of another stack) the default every queue
    /// accepts is remembered instead. A transient failure is not remembered.
    async fn maximum_message_size(&self, queue_url: &str) -> usize {
        if let Some(size) = Self::cached(&self.max_sizes, queue_url) {
            return size;
        }
        let answer = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::MaximumMessageSize)
            .send()
            .await;
        let size = match answer {
            Ok(output) => output
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::MaximumMessageSize))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES),
            Err(SdkError::ServiceError(context)) if context.raw().status().is_client_error() => {
                tracing::warn!(
                    queue_url,
                    code = context.err().code(),
                    "cannot read MaximumMessageSize; assuming 262144 bytes"
                );
                DEFAULT_MAX_MESSAGE_BYTES
            }
            Err(error) => {
                tracing::warn!(queue_url, error = %describe(&error), "cannot read MaximumMessageSize now; assuming 262144 bytes");
                return DEFAULT_MAX_MESSAGE_BYTES;
            }
        };
        Self::remember(&self.max_sizes, queue_url, size);
        size
    }

    async fn change_message_visibility(
        &self,
        queue_arn: &str,
        receipt_handle: &str,
        seconds: u32,
    ) -> Result<(), PublishError> {
        let queue_url = self.queue_url(queue_arn).await?;
        self.client
            .change_message_visibility()
            .queue_url(&queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(seconds).unwrap_or(i32::MAX))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| PublishError {
                queue_url,
                reason: describe(&error),
            })
    }
}

/// The entries of a `SendMessageBatch`, each with its position as id.
fn batch_entries(
    messages: &[OutgoingMessage],
) -> Result<Vec<SendMessageBatchRequestEntry>, String> {
    messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&message.body)
                .set_delay_seconds(
                    message
                        .delay_seconds
                        .map(|d| i32::try_from(d).unwrap_or(i32::MAX)),
                )
                .set_message_group_id(message.message_group_id.clone())
                .set_message_deduplication_id(message.message_deduplication_id.clone())
                .build()
                .map_err(|error| error.to_string())
        })
        .collect()
}

/// An SDK error as one line: SQS's code and message, or the cause of a failed request.
fn describe<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: &SdkError<E, R>,
) -> String {
    match error {
        SdkError::ServiceError(context) => format!(
            "{}: {}",
            context.err().code().unwrap_or("UnknownError"),
            context.err().message().unwrap_or("no message")
        ),
        other => DisplayErrorContext(other).to_string(),
    }
}
