//! The SQS edge: republishing unfinished batches and sending failure reports, behind a small
//! trait so the SQS adapter's rules can be tested without a queue.

use std::future::Future;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

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

pub trait Publisher: Sync {
    fn send_message(
        &self,
        message: OutgoingMessage,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// Sends up to [`MAX_BATCH_ENTRIES`] messages to one queue, at most [`MAX_BATCH_BYTES`]
    /// of bodies; one result per message, in order. The default sends them one by one.
    fn send_message_batch(
        &self,
        messages: Vec<OutgoingMessage>,
    ) -> impl Future<Output = Vec<Result<(), PublishError>>> + Send {
        async move {
            let mut results = Vec::with_capacity(messages.len());
            for message in messages {
                results.push(self.send_message(message).await);
            }
            results
        }
    }
}

/// SQS through the AWS SDK; `AWS_ENDPOINT_URL_SQS` points it at a local server.
#[derive(Clone, Debug)]
pub struct SqsPublisher {
    client: Client,
}

impl SqsPublisher {
    pub fn new(client: Client) -> SqsPublisher {
        SqsPublisher { client }
    }
}

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
        let entries = messages
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
            })
            .collect::<Result<Vec<_>, _>>();
        let entries = match entries {
            Ok(entries) => entries,
            Err(error) => return fail_all(error.to_string()),
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
        for entry in output.successful() {
            if let Some(result) = entry
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            {
                *result = Ok(());
            }
        }
        for entry in output.failed() {
            if let Some(result) = entry
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            {
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
