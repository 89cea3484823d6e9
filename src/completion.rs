//! The EventBridge edge: one completion event per batch that finishes on the SQS path
//! (`EVENT_BUS_NAME`), so consumers learn of successes too, not only of failures.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::aws::describe_error;

/// `Source` of every event.
pub const SOURCE: &str = "kendra-waiter";
/// `DetailType` of a batch that finished `SUCCEEDED` / `FAILED`.
pub const DETAIL_TYPE_INDEXED: &str = "Kendra Documents Indexed";
pub const DETAIL_TYPE_FAILED: &str = "Kendra Documents Failed";
/// EventBridge's limit on one entry (and on one `PutEvents` call), in bytes.
pub const MAX_EVENT_BYTES: usize = 262_144;
/// Entries in one `PutEvents` call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionEvent {
    pub bus: String,
    pub detail_type: &'static str,
    /// JSON text of the detail.
    pub detail: String,
}

#[async_trait]
pub trait EventSink: Send + Sync {
    /// Puts up to [`MAX_ENTRIES_PER_CALL`] events; one result per event, in order.
    async fn put_events(&self, events: Vec<CompletionEvent>) -> Vec<Result<(), String>>;
}

/// EventBridge through the AWS SDK; `AWS_ENDPOINT_URL_EVENTBRIDGE` points it at moto.
#[derive(Clone, Debug)]
pub struct EventBridgeSink {
    client: Client,
}

impl EventBridgeSink {
    pub fn new(
        sdk_config: &aws_config::SdkConfig,
        tracer: &crate::xray::Tracer,
    ) -> EventBridgeSink {
        let config = aws_sdk_eventbridge::config::Builder::from(sdk_config)
            .interceptor(tracer.interceptor());
        EventBridgeSink {
            client: Client::from_conf(config.build()),
        }
    }
}

#[async_trait]
impl EventSink for EventBridgeSink {
    /// EventBridge answers per entry, so one rejected event fails alone.
    async fn put_events(&self, events: Vec<CompletionEvent>) -> Vec<Result<(), String>> {
        let entries = events
            .iter()
            .map(|event| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&event.bus)
                    .source(SOURCE)
                    .detail_type(event.detail_type)
                    .detail(&event.detail)
                    .build()
            })
            .collect();
        let output = match self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) => return vec![Err(describe_error(&error)); events.len()],
        };
        let mut results =
            vec![Err("EventBridge did not report this entry".to_string()); events.len()];
        for (result, entry) in results.iter_mut().zip(output.entries()) {
            *result = match entry.error_code() {
                Some(code) => Err(format!(
                    "{code}: {}",
                    entry.error_message().unwrap_or("no message")
                )),
                None => Ok(()),
            };
        }
        results
    }
}

#[async_trait]
impl<T: EventSink> EventSink for crate::aws::OnFirstUse<T> {
    async fn put_events(&self, events: Vec<CompletionEvent>) -> Vec<Result<(), String>> {
        self.get().put_events(events).await
    }
}
