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
