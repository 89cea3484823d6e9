//! Recognising an event: which adapter handles it. One variant per event source; a new
//! source is one variant here and one module of its own.

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

use crate::error::Error;
use crate::ingest::IngestStep;

/// The event sources the function serves.
#[derive(Debug)]
pub enum Invocation {
    /// An SQS event source mapping's batch of messages, each body a batch.
    Sqs(SqsEvent),
    /// A batch invoked directly, by a Step Functions wait loop or any caller.
    Direct(Value),
    /// A step of the ingest state machine (planning a manifest, recording a batch's
    /// outcome, summarising).
    Ingest(IngestStep),
}

impl Invocation {
    /// The `source` label of the metrics and the summary line.
    pub fn source(&self) -> &'static str {
        match self {
            Invocation::Sqs(_) => "sqs",
            Invocation::Direct(_) => "direct",
            Invocation::Ingest(_) => "ingest",
        }
    }
}

/// Picks the adapter. An SQS event is told by `Records[].eventSource == "aws:sqs"`, not by a
/// `Records` key alone (a batch's correlation fields may be called anything); an ingest step
/// by its `ingestStep` field; anything else is a direct batch, which its adapter validates.
pub fn recognise(event: Value) -> Result<Invocation, Error> {
    if is_sqs_event(&event) {
        return serde_json::from_value::<SqsEvent>(event)
            .map(Invocation::Sqs)
            .map_err(|e| {
                Error::validation("the SQS event", format!("is not shaped like one: {e}"))
            });
    }
    if event.get("ingestStep").is_some() {
        return IngestStep::parse(event).map(Invocation::Ingest);
    }
    Ok(Invocation::Direct(event))
}

fn is_sqs_event(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|records| {
            records
                .iter()
                .any(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(event: Value) -> &'static str {
        recognise(event).map_or("error", |i| i.source())
    }

    #[test]
    fn sqs_is_told_by_event_source_not_by_a_records_key() {
        let record = json!({"messageId": "m", "body": "{}", "eventSource": "aws:sqs"});
        assert_eq!(source(json!({"Records": [record]})), "sqs");
        assert_eq!(
            source(json!({"indexId": "x", "documents": ["a"], "Records": [{"any": "thing"}]})),
            "direct"
        );
        assert_eq!(source(json!({"Records": "correlation"})), "direct");
        assert_eq!(source(json!({"Records": []})), "direct");
        assert_eq!(source(json!({"documents": ["a"]})), "direct");
    }

    #[test]
    fn a_malformed_sqs_event_is_a_validation_error() {
        let event = json!({"Records": [{"eventSource": "aws:sqs", "messageId": 7}]});
        let error = recognise(event).unwrap_err();
        assert_eq!(error.error_type(), "ValidationError");
    }
}
