//! The SQS edge: republishing unfinished batches and sending failure reports, behind a small
//! trait so the SQS adapter's rules can be tested without a queue.

use std::future::Future;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

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

pub trait Publisher: Sync {
    fn send_message(
        &self,
        message: OutgoingMessage,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
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
                reason: match &error {
                    SdkError::ServiceError(context) => format!(
                        "{}: {}",
                        context.err().code().unwrap_or("UnknownError"),
                        context.err().message().unwrap_or("no message")
                    ),
                    other => DisplayErrorContext(other).to_string(),
                },
            })
    }
}
