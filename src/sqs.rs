//! The SQS adapter (event source mapping with `ReportBatchItemFailures`). Each message body is
//! one batch. The adapter checks every message's documents in one go, decides each message's
//! outcome (`sqs_outcome.rs`), settles it (`settle.rs`) and answers with the messages to
//! deliver again.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::{Value, json};

use crate::batch::Batch;
use crate::checker::{CheckReport, Placement, check, coalesce};
use crate::classify::fold_round;
use crate::config::is_fifo;
use crate::error::Error;
use crate::handler::Context;
use crate::settle::{MessageRef, SEND_RESERVE, Settler, log_failures};
use crate::sqs_outcome::{MessageFacts, MessageOutcome, Plan, decide};
use crate::telemetry::InvocationStats;

/// One message as read: its facts, and its batch or why it is not one.
struct Message {
    facts: MessageFacts,
    batch: Result<Batch, Error>,
}

/// Handles an SQS event. The error is only for an event that is not a valid SQS event; bad
/// messages are reported one by one.
pub async fn handle(event: SqsEvent, ctx: &Context<'_>) -> (Result<Value, Error>, InvocationStats) {
    let mut stats = InvocationStats::default();
    if let Err(error) = validate_records(&event) {
        return (Err(error), stats);
    }
    let fifo = event
        .records
        .iter()
        .any(|r| r.event_source_arn.as_deref().is_some_and(is_fifo));
    let mut messages = Vec::with_capacity(event.records.len());
    for record in &event.records {
        messages.push(read_message(record, fifo, ctx).await);
    }
    let (report, placements) = check_all(&messages, ctx).await;
    stats.kendra_calls = report.calls;
    stats.kendra_throttled = report.throttled;
    let index_ids: Vec<Option<String>> = messages
        .iter()
        .map(|m| m.batch.as_ref().ok().map(|b| b.index_id.clone()))
        .collect();
    let plans = decide_all(
        &event.records,
        messages,
        placements,
        &report,
        ctx,
        &mut stats,
    );
    let refs: Vec<MessageRef<'_>> = event
        .records
        .iter()
        .zip(&index_ids)
        .map(|(record, index_id)| message_ref(record, index_id.as_deref()))
        .collect();
    let settler = Settler {
        config: ctx.config,
        sqs: ctx.edges.sqs.as_ref(),
        tasks: ctx.edges.tasks.as_ref(),
        events: ctx.edges.events.as_ref(),
        claim_check: &ctx.claim_check(),
        until: ctx
            .budget
            .deadline
            .map(|d| d.checked_sub(SEND_RESERVE).unwrap_or(d)),
    };
    let reported = settler.settle(&refs, plans, fifo).await;
    (Ok(response(&event.records, &reported)), stats)
}

/// Checks every record before anything is processed: a record that is not from SQS, or
/// that has no messageId, fails the whole invocation (an empty `itemIdentifier` would make
/// Lambda fail the whole batch anyway, and silently).
fn validate_records(event: &SqsEvent) -> Result<(), Error> {
    for (i, record) in event.records.iter().enumerate() {
        if record.event_source.as_deref() != Some("aws:sqs") {
            return Err(Error::validation(
                format!("Records[{i}].eventSource"),
                format!(
                    "is {:?}: an event with SQS records must have only SQS records (\"aws:sqs\")",
                    record.event_source.as_deref().unwrap_or("missing")
                ),
            ));
        }
        if record.message_id.as_deref().is_none_or(str::is_empty) {
            return Err(Error::validation(
                format!("Records[{i}].messageId"),
                "is missing: SQS always sends one, and batchItemFailures needs it",
            ));
        }
    }
    Ok(())
}

/// Parses a message's body as a batch (claim-check references read), with the attempt
/// number counting SQS's own redeliveries (`ApproximateReceiveCount - 1`).
async fn read_message(record: &SqsMessage, fifo: bool, ctx: &Context<'_>) -> Message {
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    let body: Result<Value, Error> = record
        .body
        .as_deref()
        .ok_or_else(|| Error::validation("the message", "has no body"))
        .and_then(|body| {
            serde_json::from_str(body)
                .map_err(|e| Error::validation("the message body", format!("is not JSON: {e}")))
        });
    let task_token = body
        .as_ref()
        .ok()
        .and_then(|b| b.get("taskToken"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let batch = match body {
        Ok(body) => ctx.parse_batch(body).await,
        Err(error) => Err(error),
    }
    .map(|mut batch| {
        batch.attempt = batch.attempt.saturating_add(receive_count - 1);
        batch
    });
    let attempt_before = batch.as_ref().map_or(0, |b| b.attempt);
    Message {
        facts: MessageFacts {
            message_id: record.message_id.clone().unwrap_or_default(),
            fifo,
            task_token,
            attempt_before,
        },
        batch,
    }
}

/// One check for every message's documents together; where each message's documents sit.
async fn check_all(
    messages: &[Message],
    ctx: &Context<'_>,
) -> (CheckReport, Vec<Option<Placement>>) {
    let coalesced = coalesce(messages.iter().map(|m| m.batch.as_ref().ok()));
    let report = check(
        ctx.edges.kendra.as_ref(),
        ctx.pacer,
        &ctx.budget,
        &coalesced.groups,
    )
    .await;
    (report, coalesced.placements)
}

fn decide_all(
    records: &[SqsMessage],
    messages: Vec<Message>,
    placements: Vec<Option<Placement>>,
    report: &CheckReport,
    ctx: &Context<'_>,
    stats: &mut InvocationStats,
) -> Vec<Plan> {
    let mut plans = Vec::with_capacity(messages.len());
    for ((record, message), placement) in records.iter().zip(messages).zip(placements) {
        let outcome = outcome_of(message.batch, placement, report, stats);
        log_outcome(record.message_id.as_deref().unwrap_or_default(), &outcome);
        plans.push(decide(&message.facts, outcome, ctx.config));
    }
    plans
}

fn outcome_of(
    batch: Result<Batch, Error>,
    placement: Option<Placement>,
    report: &CheckReport,
    stats: &mut InvocationStats,
) -> MessageOutcome {
    let (batch, placement) = match (batch, placement) {
        (Ok(batch), Some(placement)) => (batch, placement),
        (Err(error), _) if error.is_retryable() => return MessageOutcome::Unavailable(error),
        (Err(error), _) => return MessageOutcome::Invalid(error),
        (Ok(_), None) => {
            return MessageOutcome::Invalid(Error::validation(
                "the message",
                "was not placed in the check",
            ));
        }
    };
    let group = &report.groups[placement.group];
    if let Some((code, message)) = &group.rejection {
        stats.documents_pending += batch.documents.len() as u64;
        return MessageOutcome::Refused(Error::KendraRequest {
            index_id: batch.index_id,
            code: code.clone(),
            message: message.clone(),
        });
    }
    let round = fold_round(batch, &group.observations_of(&placement));
    stats.documents_succeeded += round.succeeded;
    stats.documents_failed += round.failed;
    stats.documents_pending += round.pending;
    MessageOutcome::Checked(round)
}

fn log_outcome(message_id: &str, outcome: &MessageOutcome) {
    match outcome {
        MessageOutcome::Invalid(error) => tracing::error!(
            message_id,
            error = %error,
            "message body is not a valid batch; reported as a batch item failure so the queue's redrive policy moves it to the dead-letter queue (or its task is failed at once)"
        ),
        MessageOutcome::Unavailable(error) => tracing::warn!(
            message_id,
            error = %error,
            "the message's claim-check objects cannot be read now; reported so SQS delivers it again"
        ),
        MessageOutcome::Refused(error) => tracing::error!(
            message_id,
            error = %error,
            "Kendra refused the index; the message is reported as a batch item failure and ends in the dead-letter queue after maxReceiveCount until the configuration is fixed (or its task is failed at once)"
        ),
        MessageOutcome::Checked(round) if round.is_finished() && round.has_failures => {
            log_failures(message_id, &round.result)
        }
        MessageOutcome::Checked(_) => {}
    }
}

fn message_ref<'e>(record: &'e SqsMessage, index_id: Option<&'e str>) -> MessageRef<'e> {
    MessageRef {
        message_id: record.message_id.as_deref().unwrap_or_default(),
        message_group_id: record.attributes.get("MessageGroupId").map(String::as_str),
        receipt_handle: record.receipt_handle.as_deref(),
        source_arn: record.event_source_arn.as_deref(),
        index_id,
    }
}

/// `{"batchItemFailures": [...]}`, each reported message once.
fn response(records: &[SqsMessage], reported: &[bool]) -> Value {
    let mut seen = std::collections::HashSet::new();
    let failures: Vec<Value> = records
        .iter()
        .zip(reported)
        .filter(|(_, reported)| **reported)
        .filter_map(|(record, _)| record.message_id.as_deref())
        .filter(|id| seen.insert(*id))
        .map(|id| json!({"itemIdentifier": id}))
        .collect();
    json!({ "batchItemFailures": failures })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use crate::config::Config;
    use crate::handler::{App, Edges, Request};
    use crate::testing::*;

    struct Fakes {
        app: App,
        sqs: Arc<RecordingPublisher>,
        s3: Arc<MemoryStore>,
        tasks: Arc<RecordingTasks>,
        events: Arc<RecordingEvents>,
    }

    fn fakes(config: Config) -> Fakes {
        let sqs = Arc::new(RecordingPublisher::default());
        let s3 = Arc::new(MemoryStore::default());
        let tasks = Arc::new(RecordingTasks::default());
        let events = Arc::new(RecordingEvents::default());
        let edges = Edges {
            kendra: Box::new(FakeKendra::default()),
            sqs: Box::new(sqs.clone()),
            s3: Box::new(s3.clone()),
            tasks: Box::new(tasks.clone()),
            events: Box::new(events.clone()),
        };
        Fakes {
            app: App::new(config, edges),
            sqs,
            s3,
            tasks,
            events,
        }
    }

    impl Fakes {
        async fn run(&self, records: Vec<Value>) -> Vec<String> {
            let response = self
                .app
                .handle(sqs_event(records), &Request::unbounded("req-1"))
                .await
                .unwrap();
            failures(&response)
        }
    }

    fn batch(documents: Value, extra: Value) -> String {
        let mut batch = json!({"indexId": INDEX, "documents": documents});
        if let (Value::Object(b), Value::Object(e)) = (&mut batch, extra) {
            b.extend(e);
        }
        batch.to_string()
    }

    fn queues() -> Config {
        Config {
            retry_queue_url: Some("retry".into()),
            failure_queue_url: Some("failures".into()),
            ..Config::default()
        }
    }

    fn bodies(sent: &[crate::publish::OutgoingMessage], queue: &str) -> Vec<Value> {
        sent.iter()
            .filter(|m| m.queue_url == queue)
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn outcome_rules_for_a_standard_queue() {
        let f = fakes(queues());
        let reported = f
            .run(vec![
                sqs_record("done", &batch(json!(["done-1"]), json!({})), 1, None),
                sqs_record(
                    "pending",
                    &batch(json!(["done-2", "wait-1"]), json!({})),
                    3,
                    None,
                ),
                sqs_record(
                    "failed",
                    &batch(json!(["bad-1", "done-3"]), json!({})),
                    1,
                    None,
                ),
                sqs_record("poison", "not json", 1, None),
                sqs_record(
                    "refused",
                    &json!({"indexId": REFUSED_INDEX, "documents": ["x"]}).to_string(),
                    1,
                    None,
                ),
            ])
            .await;
        assert_eq!(reported, ["poison", "refused"]);
        let sent = f.sqs.sent();
        let retry = &sent.iter().find(|m| m.queue_url == "retry").unwrap();
        assert_eq!(
            retry.delay_seconds,
            Some(120),
            "attempt before the round: 0 + (3 - 1) = 2"
        );
        let body: Value = serde_json::from_str(&retry.body).unwrap();
        assert_eq!(
            (body["attempt"].clone(), body["documents"].clone()),
            (json!(3), json!(["wait-1"]))
        );
        assert_eq!(body["batchId"], "pending");
        let report = &bodies(&sent, "failures")[0];
        assert_eq!(
            (report["status"].clone(), report["sourceMessageId"].clone()),
            (json!("FAILED"), json!("failed"))
        );
        assert_eq!(report["batchId"], "failed");
    }

    #[tokio::test]
    async fn a_bad_attribute_fails_its_document_and_no_healthy_message_is_reported() {
        let f = fakes(queues());
        let reported = f
            .run(vec![
                sqs_record("bad-attr", &batch(json!([{"documentId": "done-1", "attributes": {"colour": "red"}}, "done-2"]), json!({})), 1, None),
                sqs_record("healthy", &batch(json!(["done-3"]), json!({})), 1, None),
            ])
            .await;
        assert!(reported.is_empty(), "{reported:?}");
        let report = &bodies(&f.sqs.sent(), "failures")[0];
        assert_eq!(report["sourceMessageId"], "bad-attr");
        assert_eq!(report["failed"][0]["status"], "INVALID_REQUEST");
        assert_eq!(report["failed"][0]["code"], "InvalidAttributes");
        assert_eq!(report["succeeded"], 1);
    }

    #[tokio::test]
    async fn a_republish_larger_than_the_queue_allows_is_split_into_parts_that_fit() {
        let f = fakes(queues());
        f.sqs.set_max_size("retry", 1024);
        let ids: Vec<String> = (0..150).map(|i| format!("wait-{i:04}")).collect();
        let reported = f
            .run(vec![sqs_record(
                "big",
                &batch(json!(ids), json!({"ref": "r-9"})),
                1,
                None,
            )])
            .await;
        assert!(reported.is_empty());
        let parts = bodies(&f.sqs.sent(), "retry");
        assert!(parts.len() > 1);
        assert!(f.sqs.sent().iter().all(|m| m.body.len() <= 1024));
        let mut seen: Vec<String> = parts
            .iter()
            .flat_map(|p| p["documents"].as_array().unwrap().clone())
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        seen.sort();
        assert_eq!(seen, ids, "each pending document exactly once");
        for (n, part) in parts.iter().enumerate() {
            assert_eq!(part["batchId"], format!("big#{}", n + 1));
            assert_eq!(part["ref"], "r-9");
        }
    }

    #[tokio::test]
    async fn with_a_bucket_a_large_republish_is_claim_checked_instead() {
        let f = fakes(Config {
            payload_bucket: Some("bucket".into()),
            ..queues()
        });
        f.sqs.set_max_size("retry", 1024);
        let ids: Vec<String> = (0..150).map(|i| format!("wait-{i:04}")).collect();
        f.run(vec![sqs_record(
            "big",
            &batch(json!(ids), json!({})),
            1,
            None,
        )])
        .await;
        let parts = bodies(&f.sqs.sent(), "retry");
        assert_eq!(parts.len(), 1);
        let reference = parts[0]["documentsRef"]["s3Uri"].as_str().unwrap();
        assert_eq!(f.s3.json(reference).unwrap(), json!(ids));
        // The next round reads it back.
        let next = sqs_record("next", &parts[0].to_string(), 1, None);
        f.run(vec![next]).await;
        assert_eq!(bodies(&f.sqs.sent(), "retry").len(), 2);
    }

    #[tokio::test]
    async fn redelivery_mode_sets_the_visibility_timeout_to_the_backoff() {
        let f = fakes(Config::default());
        let reported = f
            .run(vec![sqs_record(
                "m",
                &batch(json!(["wait-1"]), json!({})),
                3,
                None,
            )])
            .await;
        assert_eq!(reported, ["m"]);
        assert_eq!(
            f.sqs.visibility_changes(),
            vec![(STANDARD_ARN.to_string(), "handle-m".to_string(), 120)]
        );
    }

    #[tokio::test]
    async fn redelivery_mode_sets_the_visibility_timeout_for_fifo_sources_too() {
        // FIFO sources are always in redelivery mode (RETRY_QUEUE_URL is not used for them),
        // and they settle in order, message by message: the reported message must still get
        // its backoff, and the message behind it in its group is reported untouched.
        let f = fakes(queues());
        let reported = f
            .run(vec![
                sqs_record("f1", &batch(json!(["wait-1"]), json!({})), 2, Some("g1")),
                sqs_record("f2", &batch(json!(["done-1"]), json!({})), 1, Some("g1")),
            ])
            .await;
        assert_eq!(reported, ["f1", "f2"]);
        assert_eq!(
            f.sqs.visibility_changes(),
            vec![(FIFO_ARN.to_string(), "handle-f1".to_string(), 60)]
        );
        assert!(bodies(&f.sqs.sent(), "retry").is_empty());
    }

    #[tokio::test]
    async fn callback_batches_tell_their_execution() {
        let f = fakes(queues());
        let reported = f
            .run(vec![
                sqs_record(
                    "ok",
                    &batch(json!(["done-1"]), json!({"taskToken": "t-ok"})),
                    1,
                    None,
                ),
                sqs_record(
                    "bad",
                    &batch(json!(["bad-1"]), json!({"taskToken": "t-bad"})),
                    1,
                    None,
                ),
                sqs_record(
                    "wait",
                    &batch(json!(["wait-1"]), json!({"taskToken": "t-wait"})),
                    1,
                    None,
                ),
                sqs_record(
                    "invalid",
                    &json!({"taskToken": "t-invalid", "documents": []}).to_string(),
                    1,
                    None,
                ),
                sqs_record(
                    "gone",
                    &batch(json!(["wait-2"]), json!({"taskToken": "gone-1"})),
                    1,
                    None,
                ),
                sqs_record(
                    "broken",
                    &batch(json!(["wait-3"]), json!({"taskToken": "broken-1"})),
                    1,
                    None,
                ),
            ])
            .await;
        assert_eq!(
            reported,
            ["broken"],
            "only a failed task call reports its message"
        );
        let calls = f.tasks.calls();
        let of = |token: &str| {
            calls
                .iter()
                .filter(|c| format!("{c:?}").contains(&format!("\"{token}\"")))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert!(
            matches!(&of("t-ok")[..], [TaskCall::Heartbeat { .. }, TaskCall::Success { output, .. }] if output.contains("\"SUCCEEDED\"") && output.contains("\"batchId\":\"ok\"") && !output.contains("t-ok"))
        );
        assert!(
            matches!(&of("t-bad")[..], [TaskCall::Heartbeat { .. }, TaskCall::Failure { error, cause, .. }] if error == "DocumentsFailed" && cause.contains("bad-1"))
        );
        assert!(matches!(&of("t-wait")[..], [TaskCall::Heartbeat { .. }]));
        assert!(
            matches!(&of("t-invalid")[..], [TaskCall::Failure { error, .. }] if error == "ValidationError")
        );
        let retried: Vec<Value> = bodies(&f.sqs.sent(), "retry");
        assert_eq!(
            retried.len(),
            1,
            "the waiting batch is republished; the gone one is not"
        );
        assert_eq!(retried[0]["taskToken"], "t-wait");
    }

    #[tokio::test]
    async fn finished_batches_put_one_completion_event() {
        let f = fakes(Config {
            event_bus_name: Some("bus".into()),
            ..queues()
        });
        f.run(vec![
            sqs_record("a", &batch(json!(["done-1"]), json!({"ref": 1})), 1, None),
            sqs_record("b", &batch(json!(["bad-1"]), json!({})), 1, None),
            sqs_record("c", &batch(json!(["wait-1"]), json!({})), 1, None),
        ])
        .await;
        let events = f.events.events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].detail_type, "Kendra Documents Indexed");
        assert_eq!(events[1].detail_type, "Kendra Documents Failed");
        let detail: Value = serde_json::from_str(&events[0].detail).unwrap();
        assert!(detail.get("documents").is_none());
        assert_eq!(
            (
                detail["ref"].clone(),
                detail["batchId"].clone(),
                detail["sourceMessageId"].clone()
            ),
            (json!(1), json!("a"), json!("a"))
        );
    }

    #[tokio::test]
    async fn a_failed_completion_event_reports_its_message() {
        let f = fakes(Config {
            event_bus_name: Some("broken-bus".into()),
            ..Config::default()
        });
        let reported = f
            .run(vec![sqs_record(
                "a",
                &batch(json!(["done-1"]), json!({})),
                1,
                None,
            )])
            .await;
        assert_eq!(reported, ["a"]);
    }
}
